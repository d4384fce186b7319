//! The end of a call: `on_released` waits for the media plane's `Closed` and carries the
//! call's media figures; the same record goes out for the CDR; the counters for
//! `/metrics` follow; a media plane that never answers delays it by `RELEASE_FLUSH` only.

use super::media::answered_call;
use super::*;
use crate::media_msg::CallStats;
use crate::rtp::quality::g711_mos;

#[test]
fn on_released_waits_for_closed_and_carries_the_media_figures() {
    let mut h = Harness::new();
    h.auto_close = false;
    let (serial, id, _) = answered_call(&mut h);
    let r = h.api("sys.call.drop", json!({"res_id": id, "cause": 200}));
    assert_eq!(r["result"], Value::Null, "{r}");
    assert!(
        h.client
            .iter()
            .all(|v| v["method"] != "sys.call.on_released"),
        "on_released waits for the media's figures"
    );
    assert!(h.cdr.is_empty());
    let stats = CallStats {
        packets_in: 990,
        packets_out: 1000,
        lost: 10,
        jitter_ms: 3,
        remote_lost: Some(0),
        remote_jitter_ms: Some(2),
        rtt_ms: Some(40),
        ..Default::default()
    };
    h.media_event(MediaEvent::Closed {
        call: serial,
        stats,
    });
    let rel = h.event("on_released");
    assert_eq!(rel["res_id"], id.as_str());
    assert_eq!(rel["cause"], 200, "the seed's fields stay: {rel}");
    assert_eq!(rel["codec"], "PCMA");
    assert_eq!(rel["packets_in"], 990);
    assert_eq!(rel["packets_out"], 1000);
    assert_eq!(rel["packets_lost"], 10);
    assert_eq!(rel["loss_percent"], 1.0);
    assert_eq!(rel["jitter_ms"], 3);
    assert_eq!(rel["remote_packets_lost"], 0);
    assert_eq!(rel["remote_jitter_ms"], 2);
    assert_eq!(rel["rtt_ms"], 40);
    // The worse direction: ours, 1 % lost; one-way delay 20 (half the round trip) + 20
    // (one packet) + 2 × 3 ms of jitter.
    let mos = (g711_mos(1.0, 46.0) * 100.0).round() / 100.0;
    assert_eq!(rel["mos"], mos, "{rel}");
    assert!((3.5..4.0).contains(&mos), "{mos}");
    // The call record is the same object.
    assert_eq!(h.cdr, vec![rel.clone()]);
    let f = h.gw.figures();
    assert_eq!(f.setups.get("inbound"), Some(&1));
    assert_eq!(f.released.get("inbound"), Some(&1));
    assert!(f.failures.is_empty(), "{:?}", f.failures);
    assert_eq!(
        (f.mos.count, f.rtp_loss_pct.count, f.rtp_jitter_ms.count),
        (1, 1, 1)
    );
}

#[test]
fn a_silent_media_plane_delays_on_released_by_the_flush_time_only() {
    let mut h = Harness::new();
    h.auto_close = false;
    let (_, id, _) = answered_call(&mut h);
    h.api("sys.call.drop", json!({"res_id": id, "cause": 200}));
    h.advance(Duration::from_millis(4900));
    assert!(
        h.client
            .iter()
            .all(|v| v["method"] != "sys.call.on_released")
    );
    h.advance(Duration::from_millis(200));
    let rel = h.event("on_released");
    assert_eq!(rel["codec"], "PCMA");
    assert_eq!(rel["packets_in"], 0);
    assert_eq!(rel["mos"], Value::Null);
    assert_eq!(h.cdr.len(), 1);
}

#[test]
fn an_unanswered_call_is_a_failure_by_cause_and_has_no_media_figures() {
    let mut h = Harness::new();
    h.sip_in(&invite());
    let id = h.event("on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    h.api("sys.call.reject", json!({"res_id": id, "cause": 486}));
    h.sip_status(486);
    let rel = h.event("on_released");
    assert_eq!(rel["codec"], Value::Null);
    assert_eq!(rel["loss_percent"], Value::Null);
    let f = h.gw.figures();
    assert_eq!(f.failures.get(&("inbound", 486)), Some(&1));
    assert!(f.setups.is_empty());
    assert_eq!(h.cdr[0]["cause"], 486);
}
