//! SIP behaviour at the edges, through the real binary and raw UDP on loopback:
//! OPTIONS, unsupported methods, unknown extensions, malformed and torture messages,
//! the peer allow-list, codecs we cannot answer, and re-INVITE hold/unhold.

use mediagw_testkit::{Client, Peer, start_gateway};
use serde_json::json;

fn sdp(port: u16, codecs: &str, dir: &str) -> String {
    let rtpmaps = codecs
        .split(' ')
        .map(|pt| match pt {
            "0" => "a=rtpmap:0 PCMU/8000\n".to_string(),
            "8" => "a=rtpmap:8 PCMA/8000\n".to_string(),
            "18" => "a=rtpmap:18 G729/8000\n".to_string(),
            _ => String::new(),
        })
        .collect::<String>();
    format!(
        "v=0\no=peer 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio {port} RTP/AVP {codecs}\n{rtpmaps}a={dir}\n"
    )
}

#[test]
fn options_unsupported_methods_and_extensions() {
    let gw = start_gateway!("");
    let p = Peer::new(gw.sip);
    p.send(&p.request("OPTIONS", "opt1", "", ""));
    let r = p.expect("SIP/2.0");
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    assert!(
        r.contains("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, PRACK"),
        "{r}"
    );
    p.send(&p.request("REGISTER", "reg1", "", ""));
    let r = p.expect("SIP/2.0");
    assert!(r.starts_with("SIP/2.0 405"), "{r}");
    assert!(r.contains("Allow:"), "{r}");
    p.send(&p.request("FROBNICATE", "frob1", "", ""));
    assert!(p.expect("SIP/2.0").starts_with("SIP/2.0 501"));
    p.send(&p.request("INVITE", "req1", "Require: 100rel, foo\n", ""));
    let r = p.expect("SIP/2.0 4");
    assert!(r.starts_with("SIP/2.0 420"), "{r}");
    // 100rel and timer are supported: only the unknown extension is named.
    assert!(r.contains("Unsupported: foo\r\n"), "{r}");
    p.send(
        &p.request("BYE", "nodialog", "", "")
            .replace("\nCall-ID", ";tag=zz\nCall-ID"),
    );
    let r = p.expect("SIP/2.0");
    assert!(r.starts_with("SIP/2.0 481"), "{r}");
}

#[test]
fn malformed_and_torture_messages_never_stop_the_gateway() {
    let gw = start_gateway!("");
    let p = Peer::new(gw.sip);
    // A request missing mandatory headers gets a 400 naming the problem.
    p.send(&format!(
        "INVITE sip:1@{} SIP/2.0\nVia: SIP/2.0/UDP {};branch=z9hG4bKbad1\nCall-ID: bad1\nCSeq: 1 INVITE\nContent-Length: 0\n\n",
        gw.sip,
        p.addr()
    ));
    let r = p.expect("SIP/2.0");
    assert!(r.starts_with("SIP/2.0 400"), "{r}");
    // Every RFC 4475 message, then random bytes: the gateway keeps answering.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "dat") {
            p.send_bytes(&std::fs::read(e.path()).unwrap());
            n += 1;
        }
    }
    assert!(n >= 40, "torture messages found: {n}");
    let mut seed = 0x1234_5678_u64;
    for _ in 0..300 {
        let len = (seed % 1400) as usize;
        let mut junk = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            junk.push(seed as u8);
        }
        p.send_bytes(&junk);
    }
    let q = Peer::new(gw.sip);
    q.send(&q.request("OPTIONS", "alive", "", ""));
    assert!(q.expect("SIP/2.0").starts_with("SIP/2.0 200"));
}

#[test]
fn peers_outside_the_allow_list_get_403() {
    let gw = start_gateway!("[sip]\nallow = [\"127.0.0.1/32\"]\n");
    let p = Peer::bind("127.0.0.2:0", gw.sip);
    p.send(&p.request("OPTIONS", "deny1", "", ""));
    assert!(p.expect("SIP/2.0").starts_with("SIP/2.0 403"));
    let ok = Peer::new(gw.sip);
    ok.send(&ok.request("OPTIONS", "allow1", "", ""));
    assert!(ok.expect("SIP/2.0").starts_with("SIP/2.0 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_common_codec_is_488_and_reinvite_hold_is_answered() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let p = Peer::new(gw.sip);
    let s = sdp(40000, "18", "sendrecv");
    p.send(&p.request("INVITE", "g729", "Content-Type: application/sdp\n", &s));
    let r = tokio::task::block_in_place(|| p.expect("SIP/2.0 4"));
    assert!(r.starts_with("SIP/2.0 488"), "{r}");

    // A call we answer, then hold (sendonly) and unhold with re-INVITEs.
    let s = sdp(40002, "8 0", "sendrecv");
    p.send(&p.request("INVITE", "hold1", "Content-Type: application/sdp\n", &s));
    let inc = app.event("on_incoming").await;
    let id = inc["res_id"].as_str().unwrap().to_string();
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    )
    .await;
    let ok = tokio::task::block_in_place(|| p.expect("SIP/2.0 200"));
    assert!(ok.contains("m=audio "), "{ok}");
    assert!(
        ok.contains("RTP/AVP 8"),
        "offerer's first codec (PCMA) chosen: {ok}"
    );
    let to_tag = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split("tag=").nth(1))
        .unwrap()
        .trim()
        .to_string();
    let in_dialog = |method: &str, cseq: u32, extra: &str, body: &str| {
        p.request(method, "hold1", extra, body)
            .replace(
                &format!("To: <sip:100@{}>", gw.sip),
                &format!("To: <sip:100@{}>;tag={to_tag}", gw.sip),
            )
            .replace(
                &format!("CSeq: 1 {method}"),
                &format!("CSeq: {cseq} {method}"),
            )
            .replace(
                &format!("branch=z9hG4bKhold1{method}"),
                &format!("branch=z9hG4bKhold1{method}{cseq}"),
            )
    };
    p.send(&in_dialog("ACK", 1, "", ""));
    app.event_of("on_answer_completed", &id).await;
    p.send(&in_dialog(
        "INVITE",
        2,
        "Content-Type: application/sdp\n",
        &sdp(40002, "8 0", "sendonly"),
    ));
    let held = tokio::task::block_in_place(|| p.expect("SIP/2.0 200"));
    assert!(
        held.contains("a=recvonly"),
        "hold answered recvonly: {held}"
    );
    p.send(&in_dialog("ACK", 2, "", ""));
    p.send(&in_dialog(
        "INVITE",
        3,
        "Content-Type: application/sdp\n",
        &sdp(40002, "8 0", "sendrecv"),
    ));
    let resumed = tokio::task::block_in_place(|| p.expect("SIP/2.0 200"));
    assert!(
        resumed.contains("a=sendrecv"),
        "unhold answered sendrecv: {resumed}"
    );
    p.send(&in_dialog("ACK", 3, "", ""));
    assert_eq!(app.ok("sys.call.exists", json!([id])).await, true);
    p.send(&in_dialog("BYE", 4, "", ""));
    let bye_ok = tokio::task::block_in_place(|| p.expect("SIP/2.0 200"));
    assert!(bye_ok.contains("CSeq: 4 BYE"), "{bye_ok}");
    let rel = app.event_of("on_released", &id).await;
    assert_eq!(rel["dropped_by"], "usr");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_without_ack_fails_the_answer_and_releases() {
    // T1 = 50 ms: the 200 OK is retransmitted, then given up after 64*T1 = 3.2 s.
    let gw = start_gateway!("[sip]\nt1_ms = 50\n");
    let mut app = Client::connect(&gw.ws_url()).await;
    let p = Peer::new(gw.sip);
    p.send(&p.request(
        "INVITE",
        "noack",
        "Content-Type: application/sdp\n",
        &sdp(40010, "0", "sendrecv"),
    ));
    let id = app.event("on_incoming").await["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    )
    .await;
    // Never ACK: the answer fails, the gateway hangs up with BYE, the call is released.
    let done = app.event_of("on_answer_completed", &id).await;
    assert!(done["error"].as_str().unwrap().contains("ACK"), "{done}");
    let rel = app.event_of("on_released", &id).await;
    assert_eq!(rel["dropped_by"], "sys");
    assert_eq!(rel["cause"], 408);
    let bye = tokio::task::block_in_place(|| p.expect("BYE "));
    assert!(bye.contains("Reason: SIP;cause=408"), "{bye}");
    assert_eq!(app.ok("sys.call.exists", json!([id])).await, false);
}
