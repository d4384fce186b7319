//! Session timers (RFC 4028), UPDATE (RFC 3311), PRACK (RFC 3262) and route sets through
//! the engine, with a hand-moved clock.

use super::*;

/// An INVITE from the test peer through one record-routing proxy, with `extra` headers.
fn invite_with(extra: &str) -> String {
    invite_of("session-test", extra)
}

/// As [`invite_with`], for the call `call_id` (its own branch too).
fn invite_of(call_id: &str, extra: &str) -> String {
    let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    format!(
        "INVITE sip:95588@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK{call_id};rport\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKua\nRecord-Route: <sip:127.0.0.1:5099;lr;ftag=a1>\nMax-Forwards: 70\nFrom: <sip:1001@10.0.0.1>;tag=a1\nTo: <sip:95588@127.0.0.1>\nCall-ID: {call_id}\nCSeq: 1 INVITE\nContact: <sip:1001@10.0.0.1:5060>\n{extra}Content-Type: application/sdp\nContent-Length: {}\n\n{}",
        body.len(),
        body.replace("\r\n", "\n")
    )
}

/// An in-dialog request from the peer (through the proxy).
fn in_dialog(method: &str, cseq: u32, tag: &str, extra: &str) -> String {
    format!(
        "{method} sip:mediagw@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKd{cseq}{method}\nMax-Forwards: 70\nFrom: <sip:1001@10.0.0.1>;tag=a1\nTo: <sip:95588@127.0.0.1>;tag={tag}\nCall-ID: session-test\nCSeq: {cseq} {method}\nContact: <sip:1001@10.0.0.1:5060>\n{extra}Content-Length: 0\n\n"
    )
}

/// Offer, answer and ACK an inbound call; returns its res_id and our tag.
fn answered(h: &mut Harness, extra: &str) -> (String, Message) {
    h.sip_in(&invite_with(extra));
    let id = h.event("on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    h.api(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 3600}),
    );
    let ok = h.sip_status(200);
    let tag = ok.to_tag().unwrap();
    h.sip_in(&in_dialog("ACK", 1, &tag, ""));
    assert_eq!(h.event("on_answer_completed")["error"], Value::Null);
    (id, ok)
}

fn no_request(h: &Harness) -> bool {
    h.sip.iter().all(|(_, m)| m.method().is_none())
}

#[test]
fn ringing_and_the_2xx_carry_the_record_route() {
    let mut h = Harness::new();
    h.sip_in(&invite_with(""));
    let ringing = h.sip_status(180);
    assert_eq!(
        ringing.header("Record-Route"),
        Some("<sip:127.0.0.1:5099;lr;ftag=a1>")
    );
    assert!(ringing.to_tag().is_some());
    assert!(
        ringing.header("RSeq").is_none(),
        "unreliable without Require: 100rel"
    );
    let id = h.event("on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    h.api(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    );
    let ok = h.sip_status(200);
    assert_eq!(
        ok.header("Record-Route"),
        Some("<sip:127.0.0.1:5099;lr;ftag=a1>")
    );
    assert_eq!(ok.to_tag(), ringing.to_tag(), "one dialog");
    // Our BYE follows the route set: Request-URI the caller's Contact, Route the proxy.
    let tag = ok.to_tag().unwrap();
    h.sip_in(&in_dialog("ACK", 1, &tag, ""));
    h.api("sys.call.drop", json!({"res_id": id}));
    let (to, bye) = h.sip_request("BYE");
    assert_eq!(to, PEER.parse::<SocketAddr>().unwrap());
    assert_eq!(bye.request_uri(), Some("sip:1001@10.0.0.1:5060"));
    assert_eq!(bye.header("Route"), Some("<sip:127.0.0.1:5099;lr;ftag=a1>"));
}

#[test]
fn peer_refreshes_restart_the_timer_and_silence_ends_the_call() {
    let mut h = Harness::new();
    let timer = "Supported: timer\nSession-Expires: 90;refresher=uac\n";
    let (_, ok) = answered(&mut h, timer);
    assert_eq!(ok.header("Session-Expires"), Some("90;refresher=uac"));
    assert!(ok.option_tags("Require").contains(&"timer"));
    let tag = ok.to_tag().unwrap();
    // Refresh by UPDATE at 50 s.
    h.advance(Duration::from_secs(50));
    h.sip_in(&in_dialog("UPDATE", 2, &tag, timer));
    let r = h.sip_status(200);
    assert_eq!(r.header("Session-Expires"), Some("90;refresher=uac"));
    assert!(r.header("Contact").is_some());
    // Without the restart the session would end at 60 s.
    h.advance(Duration::from_secs(58));
    assert!(no_request(&h), "{:?}", h.sip);
    // Refresh by re-INVITE (no body: our 200 offers, the ACK answers) at 108 s.
    h.sip_in(&in_dialog("INVITE", 3, &tag, timer));
    let r = h.sip_status(200);
    assert_eq!(r.header("Session-Expires"), Some("90;refresher=uac"));
    h.sip_in(&in_dialog("ACK", 3, &tag, ""));
    h.advance(Duration::from_secs(59));
    assert!(no_request(&h), "{:?}", h.sip);
    h.advance(Duration::from_secs(2));
    let (_, bye) = h.sip_request("BYE");
    assert!(bye.header("Reason").unwrap().contains("cause=408"));
    let rel = h.event("on_released");
    assert_eq!(rel["dropped_by"], "sys");
    assert_eq!(rel["cause"], 408);
}

#[test]
fn we_refresh_by_update_when_allowed_and_end_the_call_when_it_fails() {
    let mut h = Harness::new();
    let (_, ok) = answered(
        &mut h,
        "Supported: timer\nSession-Expires: 120;refresher=uas\nAllow: INVITE, ACK, BYE, UPDATE\n",
    );
    assert_eq!(ok.header("Session-Expires"), Some("120;refresher=uas"));
    h.advance(Duration::from_secs(59));
    assert!(no_request(&h));
    h.advance(Duration::from_secs(2));
    let (to, update) = h.sip_request("UPDATE");
    assert_eq!(to, PEER.parse::<SocketAddr>().unwrap());
    assert_eq!(update.header("Session-Expires"), Some("120;refresher=uac"));
    assert_eq!(
        update.header("Route"),
        Some("<sip:127.0.0.1:5099;lr;ftag=a1>")
    );
    // The peer answers 481: the dialog is gone, so is the call.
    let mut resp = Message::response_to(&update, 481, "Call Does Not Exist");
    resp.set_to_tag("a1");
    h.gw.handle_sip(&resp.to_bytes(), PEER.parse().unwrap(), h.now);
    h.pump();
    h.sip_request("BYE");
    let rel = h.event("on_released");
    assert_eq!(rel["dropped_by"], "sys");
}

#[test]
fn we_refresh_by_reinvite_without_update_and_ack_the_answer() {
    let mut h = Harness::new();
    let (_, ok) = answered(
        &mut h,
        "Supported: timer\nSession-Expires: 90;refresher=uas\nAllow: INVITE, ACK, BYE\n",
    );
    let our_sdp = ok.body.clone();
    h.advance(Duration::from_secs(46));
    let (_, reinvite) = h.sip_request("INVITE");
    assert_eq!(reinvite.header("Session-Expires"), Some("90;refresher=uac"));
    assert_eq!(reinvite.body, our_sdp, "a refresh offers the unchanged SDP");
    let mut resp = Message::response_to(&reinvite, 200, "OK");
    resp.set_to_tag("a1");
    resp.add_header("Contact", "<sip:1001@10.0.0.1:5060>");
    resp.add_header("Session-Expires", "90;refresher=uac");
    resp.add_header("Content-Type", "application/sdp");
    resp.body = b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8\r\n".to_vec();
    h.gw.handle_sip(&resp.to_bytes(), PEER.parse().unwrap(), h.now);
    h.pump();
    let (_, ack) = h.sip_request("ACK");
    assert_eq!(
        ack.cseq(),
        reinvite.cseq().map(|(n, _)| (n, crate::sip::Method::Ack))
    );
    assert_eq!(ack.header("Route"), Some("<sip:127.0.0.1:5099;lr;ftag=a1>"));
    // (Timer A retransmitted the re-INVITE once before its 200 came.)
    h.sip.clear();
    // The next refresh comes 45 s after this one, and no BYE meanwhile.
    h.advance(Duration::from_secs(44));
    assert!(no_request(&h), "{:?}", h.sip);
    h.advance(Duration::from_secs(2));
    h.sip_request("INVITE");
}

#[test]
fn too_small_interval_is_refused_with_422_in_and_out_of_a_dialog() {
    let mut h = Harness::with(|c| c.sip.min_se = 120);
    h.sip_in(&invite_of("refused", "Session-Expires: 100\n"));
    let r = h.sip_status(422);
    assert_eq!(r.header("Min-SE"), Some("120"));
    assert!(h.client.is_empty(), "no call offered");
    assert_eq!(h.gw.live_calls(), 0);
    let (_, ok) = answered(&mut h, "");
    assert!(
        ok.header("Session-Expires").is_none(),
        "no timer asked, none granted"
    );
    let tag = ok.to_tag().unwrap();
    h.sip_in(&in_dialog("UPDATE", 2, &tag, "Session-Expires: 100\n"));
    assert_eq!(h.sip_status(422).header("Min-SE"), Some("120"));
    assert_eq!(h.gw.live_calls(), 1, "the call lives on");
}

#[test]
fn reliable_180_is_retransmitted_until_prack() {
    let mut h = Harness::new();
    h.sip_in(&invite_with("Require: 100rel\n"));
    let ringing = h.sip_status(180);
    let rseq: u32 = ringing.header("RSeq").unwrap().parse().unwrap();
    assert!(ringing.option_tags("Require").contains(&"100rel"));
    h.advance(Duration::from_millis(600));
    assert_eq!(
        h.sip_status(180).header("RSeq"),
        Some(rseq.to_string().as_str())
    );
    let tag = ringing.to_tag().unwrap();
    // A PRACK for another RSeq is 481; the right one is 200 and stops the 180s.
    h.sip_in(&in_dialog(
        "PRACK",
        2,
        &tag,
        &format!("RAck: {} 1 INVITE\n", rseq + 7),
    ));
    h.sip_status(481);
    h.sip_in(&in_dialog(
        "PRACK",
        3,
        &tag,
        &format!("RAck: {rseq} 1 INVITE\n"),
    ));
    h.sip_status(200);
    h.advance(Duration::from_secs(40));
    assert!(
        h.sip.iter().all(|(_, m)| m.status() != Some(180)),
        "{:?}",
        h.sip
    );
    assert_eq!(h.gw.live_calls(), 1);
}

/// The peer's 2xx to our INVITE `inv`, with `extra` headers and an SDP answer.
fn answer_to(inv: &Message, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut resp = Message::response_to(inv, 200, "OK");
    resp.set_to_tag("callee");
    resp.add_header("Contact", "<sip:callee@127.0.0.1:5099>");
    resp.add_header("Record-Route", "<sip:127.0.0.1:5099;lr>");
    for (k, v) in extra {
        resp.add_header(k, v);
    }
    resp.add_header("Content-Type", "application/sdp");
    resp.body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n".to_vec();
    resp.to_bytes()
}

#[test]
fn outbound_refresh_uses_reinvite_unless_the_2xx_allows_update() {
    for (allow, method) in [
        ("INVITE, ACK, BYE, CANCEL", "INVITE"),
        ("INVITE, ACK, BYE, CANCEL, UPDATE", "UPDATE"),
    ] {
        let mut h = Harness::new();
        let r = h.api(
            "sys.call.construct",
            json!({"to_uri": "sip:callee@127.0.0.1:5099", "max_answer_seconds": 600}),
        );
        assert!(r["result"]["res_id"].is_string(), "{r}");
        let (_, inv) = h.sip_request("INVITE");
        assert_eq!(inv.header("Session-Expires"), Some("1800"));
        assert!(inv.option_tags("Supported").contains(&"timer"));
        let resp = answer_to(
            &inv,
            &[
                ("Session-Expires", "90;refresher=uac"),
                ("Allow", allow),
                ("Require", "timer"),
            ],
        );
        h.gw.handle_sip(&resp, PEER.parse().unwrap(), h.now);
        h.pump();
        let (_, ack) = h.sip_request("ACK");
        assert_eq!(ack.request_uri(), Some("sip:callee@127.0.0.1:5099"));
        assert_eq!(ack.header("Route"), Some("<sip:127.0.0.1:5099;lr>"));
        h.sip.clear();
        h.advance(Duration::from_secs(44));
        assert!(no_request(&h), "{:?}", h.sip);
        h.advance(Duration::from_secs(2));
        let (_, refresh) = h.sip_request(method);
        assert_eq!(refresh.header("Session-Expires"), Some("90;refresher=uac"));
        assert_eq!(refresh.header("Route"), Some("<sip:127.0.0.1:5099;lr>"));
    }
}
