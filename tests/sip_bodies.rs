//! Bodies and bytes the RFC 4475 torture style found answered wrongly, through the real
//! binary and raw UDP on loopback: a `multipart/mixed` INVITE is answered from its SDP
//! part (RFC 5621), an unknown body type or encoding gets 415 with `Accept` /
//! `Accept-Encoding` (RFC 3261 §8.2.3), and NUL bytes in a header value get 400.

use mediagw_testkit::{Client, Peer, start_gateway};
use serde_json::json;

fn sdp(port: u16, pt: u8) -> String {
    let name = if pt == 8 { "PCMA" } else { "PCMU" };
    format!(
        "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {name}/8000\r\n"
    )
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_invite_is_answered_from_its_sdp_part() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let p = Peer::new(gw.sip);
    let body = format!(
        "preamble to be ignored\r\n--(odd) boundary=?\r\nContent-Type: text/plain\r\n\r\nan attached note\r\n--(odd) boundary=?\r\nContent-Type: application/sdp\r\nContent-Disposition: session\r\n\r\n{}\r\n--(odd) boundary=?--\r\nepilogue\r\n",
        sdp(40100, 8)
    );
    p.send_bytes(&p.request_bytes(
        "INVITE",
        "mpart1",
        "Content-Type: multipart/mixed; boundary=\"(odd) boundary=?\"\r\n",
        body.as_bytes(),
    ));
    let inc = app.event("on_incoming").await;
    let id = inc["res_id"].as_str().unwrap().to_string();
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    )
    .await;
    let ok = tokio::task::block_in_place(|| p.final_response());
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert!(
        ok.contains("m=audio ") && ok.contains("RTP/AVP 8"),
        "answered the SDP part's only codec, PCMA: {ok}"
    );
    let to = header(&ok, "To").unwrap().to_string();
    let a = p.addr();
    let ack = format!(
        "ACK sip:100@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKmpart1ack\r\nMax-Forwards: 70\r\nFrom: <sip:peer@{a}>;tag=p1\r\nTo: {to}\r\nCall-ID: mpart1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        gw = gw.sip
    );
    p.send_bytes(ack.as_bytes());
    app.event_of("on_answer_completed", &id).await;
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    app.event_of("on_released", &id).await;
}

#[test]
fn unknown_body_type_or_encoding_is_415() {
    let gw = start_gateway!("");
    let p = Peer::new(gw.sip);
    p.send_bytes(&p.request_bytes(
        "INVITE",
        "weird1",
        "Content-Type: application/x-weird\r\n",
        b"not a session description",
    ));
    let r = p.final_response();
    assert!(r.starts_with("SIP/2.0 415"), "{r}");
    let accept = header(&r, "Accept").unwrap_or_else(|| panic!("no Accept: {r}"));
    assert!(accept.contains("application/sdp"), "{r}");
    assert!(header(&r, "To").unwrap().contains("tag="), "{r}");

    p.send_bytes(&p.request_bytes(
        "INVITE",
        "gzip1",
        "Content-Type: application/sdp\r\nContent-Encoding: gzip\r\n",
        b"\x1f\x8b\x08\x00compressed",
    ));
    let r = p.final_response();
    assert!(r.starts_with("SIP/2.0 415"), "{r}");
    assert_eq!(header(&r, "Accept-Encoding"), Some("identity"), "{r}");
}

#[test]
fn nul_bytes_in_a_header_value_are_400() {
    let gw = start_gateway!("");
    let p = Peer::new(gw.sip);
    p.send_bytes(&p.request_bytes("OPTIONS", "nul1", "Subject: before\0after\r\n", b""));
    let r = p.final_response();
    assert!(r.starts_with("SIP/2.0 400"), "{r}");
    // The same request without the NUL is fine.
    p.send_bytes(&p.request_bytes("OPTIONS", "nul2", "Subject: before after\r\n", b""));
    let r = p.final_response();
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
}
