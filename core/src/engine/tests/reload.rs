//! A configuration reloaded under a live call: the call keeps its gateway's count across
//! a reordered `[[gateways]]`, the new limits apply at once, and a configuration that
//! cannot be used changes nothing.

use super::*;
use crate::config::GatewayConfig;

fn gateways(list: &[(&str, usize)]) -> Vec<GatewayConfig> {
    list.iter()
        .map(|(a, m)| GatewayConfig {
            address: a.to_string(),
            max_concurrent: *m,
        })
        .collect()
}

fn construct(h: &mut Harness) -> Value {
    h.api(
        "sys.call.construct",
        json!({"to_uri": format!("sip:1@{PEER}"), "max_answer_seconds": 60}),
    )
}

#[test]
fn a_live_call_keeps_its_gateway_count_across_a_reload() {
    let mut h = Harness::with(|c| {
        c.gateways = gateways(&[("127.0.0.1:5098", 0), (PEER, 1)]);
    });
    let r = construct(&mut h);
    assert!(r["result"]["res_id"].is_string(), "{r}");
    assert_eq!(
        construct(&mut h)["error"]["code"],
        -32004,
        "the gateway is full"
    );

    // Reordered, the other gateway gone, the limit raised to 2: one more call fits.
    let mut cfg = h.gw.cfg.clone();
    cfg.gateways = gateways(&[(PEER, 2)]);
    cfg.sip.allow = vec!["10.0.0.0/8".parse().unwrap()];
    let done = h.gw.reload(&cfg).expect("reloaded");
    assert_eq!(done.changed, vec!["gateways", "sip.allow"]);
    assert!(done.need_restart.is_empty());
    assert_eq!(h.gw.gateways[0].active, 1, "the live call still counts");
    assert!(construct(&mut h)["result"]["res_id"].is_string());
    assert_eq!(construct(&mut h)["error"]["code"], -32004);
    assert!(!h.gw.allowed("127.0.0.1".parse().unwrap()));

    // A key that needs a restart is reported and not applied.
    let mut later = h.gw.cfg.clone();
    later.media.rtp_timeout_seconds = 5;
    later.sip.max_calls = 7;
    let done = h.gw.reload(&later).expect("reloaded");
    assert_eq!(done.changed, vec!["sip.max_calls"]);
    assert_eq!(done.need_restart, vec!["media"]);
    assert_eq!(h.gw.cfg.media.rtp_timeout_seconds, 60);
    assert_eq!(h.gw.cfg.sip.max_calls, 7);

    // Unusable: refused whole.
    let mut bad = h.gw.cfg.clone();
    bad.sip.max_calls = 1;
    bad.gateways = gateways(&[("", 1)]);
    assert!(h.gw.reload(&bad).is_err());
    assert_eq!(h.gw.cfg.sip.max_calls, 7);
    assert_eq!(h.gw.gateways.len(), 1);
}
