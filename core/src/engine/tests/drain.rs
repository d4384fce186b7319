//! The drain with a hand-moved clock: new calls are refused at once, live ones run on
//! for `sip.drain_seconds` and are then hung up; `end_drain` ends it early.

use super::media::answered_call;
use super::*;

fn options() -> String {
    "OPTIONS sip:mediagw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKopt\nMax-Forwards: 70\nFrom: <sip:p@127.0.0.1>;tag=o1\nTo: <sip:mediagw@127.0.0.1>\nCall-ID: opt-1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n".into()
}

#[test]
fn live_calls_run_on_for_drain_seconds_and_new_ones_are_refused() {
    let mut h = Harness::with(|c| c.sip.drain_seconds = 10);
    let (_, id, _) = answered_call(&mut h);
    h.gw.start_drain(h.now);
    assert!(!h.gw.is_drained(), "a call is up");
    h.sip_in(&options());
    let r = h.sip_status(503);
    assert!(r.header("Retry-After").is_some());
    let e = h.api(
        "sys.call.construct",
        json!({"to_uri": "sip:1@127.0.0.1:5099", "max_answer_seconds": 60}),
    );
    assert_eq!(e["error"]["code"], -32004);
    h.advance(Duration::from_secs(9));
    assert!(
        h.client
            .iter()
            .all(|v| v["method"] != "sys.call.on_released")
    );
    assert_eq!(h.gw.live_calls(), 1);
    h.advance(Duration::from_secs(2));
    let (_, bye) = h.sip_request("BYE");
    assert!(bye.header("Reason").unwrap().contains("cause=503"));
    let rel = h.event("on_released");
    assert_eq!(
        (rel["res_id"].as_str(), rel["cause"].as_u64()),
        (Some(id.as_str()), Some(503))
    );
    assert!(h.gw.is_drained());
    assert_eq!(h.cdr.len(), 1);
}

#[test]
fn end_drain_hangs_up_at_once() {
    let mut h = Harness::with(|c| c.sip.drain_seconds = 600);
    answered_call(&mut h);
    h.gw.start_drain(h.now);
    h.gw.end_drain(h.now);
    h.pump();
    h.sip_request("BYE");
    h.event("on_released");
    assert!(h.gw.is_drained());
}
