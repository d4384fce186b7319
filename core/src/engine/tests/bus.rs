//! The control bus as the engine sees it: offered every call first, falling back to a
//! WebSocket client or 480; the hold-until-reply rule on its connection; its orphan
//! timer; res_ids naming the node.

use super::*;
use crate::engine::res_id;

fn bus_harness() -> Harness {
    let mut h = Harness::with(|c| {
        c.api.nats.url = Some("nats://127.0.0.1:4222".into());
        c.api.nats.node = Some("gw-a".into());
    });
    h.gw.connect_bus(BUS);
    h
}

fn bus_event(h: &mut Harness, name: &str) -> Value {
    let full = format!("sys.call.{name}");
    let i = h
        .bus
        .iter()
        .position(|v| v["method"] == json!(full))
        .unwrap_or_else(|| panic!("no {full} on the bus: {:?}", h.bus));
    h.bus.remove(i)["params"].clone()
}

fn bus_request(h: &mut Harness, id: u64, method: &str, params: Value) {
    let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    h.gw.handle_frame(BUS, parse_frame(&req.to_string()), h.now);
    h.pump();
}

#[test]
fn the_bus_is_offered_first_and_its_res_ids_name_the_node() {
    let mut h = bus_harness();
    h.sip_in(&invite());
    let offer = bus_event(&mut h, "on_incoming");
    let id = offer["res_id"].as_str().unwrap().to_string();
    assert_eq!(id, "0.0.1-sys.call-7-gw-a");
    assert_eq!(res_id::node_of(&id), Some("gw-a"));
    assert!(
        h.client.is_empty(),
        "the WebSocket client is not offered it"
    );
    // Claimed (a request came): a late "declined" changes nothing.
    bus_request(&mut h, 1, "sys.call.exists", json!({"res_id": id}));
    assert_eq!(h.bus.remove(0)["result"], true);
    h.gw.bus_offer_declined(&id, h.now);
    h.pump();
    assert!(h.client.is_empty());
    assert_eq!(h.gw.live_calls(), 1);
}

#[test]
fn an_unclaimed_offer_goes_to_the_websocket_client_then_480() {
    let mut h = bus_harness();
    h.sip_in(&invite());
    let id = bus_event(&mut h, "on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    h.gw.bus_offer_declined(&id, h.now);
    h.pump();
    assert_eq!(h.event("on_incoming")["res_id"], json!(id), "offered to ws");
    // The WebSocket client owns it now: its events go there.
    h.api("sys.call.reject", json!({"res_id": id, "cause": 486}));
    h.sip_status(486);
    assert_eq!(h.event("on_released")["res_id"], json!(id));
    assert!(h.bus.is_empty(), "{:?}", h.bus);
    // No WebSocket client: 480, the release on the bus.
    h.gw.disconnect(1, h.now);
    h.sip_in(
        &invite()
            .replace("engine-test-1", "engine-test-2")
            .replace("z9hG4bKe1", "z9hG4bKe9"),
    );
    let id = bus_event(&mut h, "on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    h.gw.bus_offer_declined(&id, h.now);
    h.pump();
    h.sip_status(480);
    let rel = bus_event(&mut h, "on_released");
    assert_eq!(
        (rel["res_id"].clone(), rel["cause"].clone()),
        (json!(id), json!(480))
    );
    assert_eq!(h.gw.live_calls(), 0);
}

#[test]
fn unacknowledged_calls_are_orphans_until_a_bus_request() {
    let mut h = bus_harness();
    h.sip_in(&invite());
    let id = bus_event(&mut h, "on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    bus_request(&mut h, 5, "sys.call.exists", json!({"res_id": id}));
    assert_eq!(h.bus.remove(0)["id"], 5);
    assert_eq!(h.gw.live_call_ids(), vec![id.clone()]);
    // Events went unacknowledged: after api.orphan_timeout_seconds the call goes...
    h.gw.bus_unacked(&id, h.now);
    h.advance(Duration::from_secs(30));
    // ...unless a request over the bus comes first.
    bus_request(&mut h, 6, "sys.call.exists", json!({"res_id": id}));
    h.advance(Duration::from_secs(40));
    assert_eq!(h.gw.live_calls(), 1, "the request renewed the claim");
    h.gw.bus_unacked(&id, h.now);
    h.advance(Duration::from_secs(61));
    h.sip_status(480);
    assert_eq!(h.gw.live_calls(), 0, "released as an orphan");
    assert!(h.gw.live_call_ids().is_empty());
}

#[test]
fn a_bus_that_fell_behind_is_off_and_its_calls_are_orphans() {
    let mut h = bus_harness();
    h.sip_in(&invite());
    let id = bus_event(&mut h, "on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    bus_request(&mut h, 1, "sys.call.exists", json!({"res_id": id}));
    h.gw.disconnect(BUS, h.now);
    // New calls go to the WebSocket client.
    h.sip_in(
        &invite()
            .replace("engine-test-1", "engine-test-2")
            .replace("z9hG4bKe1", "z9hG4bKe9"),
    );
    assert!(h.event("on_incoming")["res_id"].as_str().is_some());
    // The bus's call is released after api.orphan_timeout_seconds.
    h.advance(Duration::from_secs(61));
    assert_eq!(
        h.gw.live_calls(),
        1,
        "only the WebSocket client's call is left"
    );
    assert!(!h.gw.live_call_ids().contains(&id));
}
