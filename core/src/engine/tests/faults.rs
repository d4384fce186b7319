//! Faults contained by the engine: a panic injected into one call's API request or SIP
//! message releases that call with cause 500 and an error reply, and leaves the other
//! call and the engine working.

use super::media::answered_call;
use super::*;
use crate::engine::faults::FAULT_MARKER;

/// The test INVITE under another Call-ID (and branch).
fn invite_as(call_id: &str) -> String {
    invite()
        .replace("Call-ID: engine-test-1", &format!("Call-ID: {call_id}"))
        .replace("branch=z9hG4bKe1", &format!("branch=z9hG4bK{call_id}"))
}

#[test]
fn a_panicking_request_releases_its_call_only() {
    let mut h = Harness::new();
    h.gw.inject_faults();
    // Call B, answered and up.
    let (_, idb, _) = answered_call(&mut h);
    // Call A, offered; its answer panics half-way (its state already moved).
    h.sip_in(&invite_as("faulty-a"));
    let ida = h.event("on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = h.api(
        "sys.call.answer",
        json!({"res_id": ida, "max_answer_seconds": 60, "user_data": FAULT_MARKER}),
    );
    assert_eq!(r["error"]["code"], -32603, "{r}");
    // A gets a final 500, and its on_released says so; B is untouched.
    let resp = h.sip_status(500);
    assert_eq!(resp.call_id(), Some("faulty-a"));
    let rel = h.event("on_released");
    assert_eq!(
        (rel["res_id"].as_str(), rel["cause"].as_u64()),
        (Some(ida.as_str()), Some(500))
    );
    assert_eq!(rel["dropped_by"], "sys");
    assert_eq!(h.gw.figures().panics, 1);
    assert_eq!(h.gw.live_calls(), 1);
    let r = h.api("sys.call.exists", json!({"res_id": idb}));
    assert_eq!(r["result"], true);

    // A SIP request in B's dialog that panics: B is hung up (BYE, cause 500).
    let tag =
        h.gw.calls
            .values()
            .find(|c| c.res_id == idb)
            .unwrap()
            .leg
            .dialog
            .local_tag
            .clone();
    h.sip_in(&format!(
        "INFO sip:mediagw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKinfo\nMax-Forwards: 70\nFrom: <sip:1001@127.0.0.1>;tag=a1\nTo: <sip:95588@127.0.0.1>;tag={tag}\nCall-ID: engine-test-1\nCSeq: 2 INFO\nX-Mediagw-Test: {FAULT_MARKER}\nContent-Length: 0\n\n"
    ));
    let (_, bye) = h.sip_request("BYE");
    assert!(bye.header("Reason").unwrap().contains("cause=500"));
    let rel = h.event("on_released");
    assert_eq!(
        (rel["res_id"].as_str(), rel["cause"].as_u64()),
        (Some(idb.as_str()), Some(500))
    );
    assert_eq!(h.gw.figures().panics, 2);

    // The engine goes on: a new call is offered and answered as usual.
    h.sip_in(&invite_as("after-faults"));
    let idc = h.event("on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = h.api(
        "sys.call.answer",
        json!({"res_id": idc, "max_answer_seconds": 60}),
    );
    assert_eq!(r["result"], Value::Null, "{r}");
    h.sip_status(200);
}

#[test]
fn a_panic_while_a_reply_waits_for_the_media_still_answers_it_first() {
    let mut h = Harness::new();
    h.gw.inject_faults();
    h.auto_open = false;
    h.sip_in(&invite_as("late-open"));
    let id = h.event("on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    let serial = h.gw.by_res[&id];
    // The answer waits for the port; it panics once the port is bound.
    h.api_send(
        5,
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60, "user_data": FAULT_MARKER}),
    );
    assert!(h.reply(5).is_none(), "waits for the port");
    let local = "127.0.0.1:20000".parse().unwrap();
    h.media_event(MediaEvent::Opened {
        call: serial,
        local,
    });
    let names: Vec<String> = h
        .client
        .iter()
        .map(|v| v["method"].as_str().unwrap_or("reply").to_string())
        .collect();
    let reply = names.iter().position(|n| n == "reply").expect("the reply");
    let released = names
        .iter()
        .position(|n| n == "sys.call.on_released")
        .expect("on_released");
    assert!(reply < released, "{names:?}");
    assert_eq!(h.reply(5).unwrap()["error"]["code"], -32603);
    h.sip_status(500);
}
