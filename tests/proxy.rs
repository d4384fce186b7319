//! Calls through the topology carriers run: a real Kamailio record-routing proxy (and a
//! chain of two) between SIPp and mediagw, in both directions. Inbound, SIPp calls the
//! proxy, which record-routes and relays to mediagw; its ACK, BYE, re-INVITE and INFO
//! follow the route set, so they only arrive if mediagw's responses copied the
//! Record-Route. Outbound, mediagw sends through `sip.outbound_proxy` to a SIPp UAS that
//! copies the Record-Route; mediagw's ACK, BYE and CANCEL must follow it.

use mediagw_testkit::calls::{answer_next, res_id};
use mediagw_testkit::{Client, Gateway, Kamailio, Sipp, start_gateway};
use serde_json::{Value, json};

/// A gateway that sends its out-of-dialog requests through `proxy`.
fn gateway_behind(proxy: &Kamailio) -> Gateway {
    start_gateway!(&format!("[sip]\noutbound_proxy = \"{}\"\n", proxy.addr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_through_proxy_caller_hangs_up() {
    let gw = start_gateway!("");
    let proxy = Kamailio::start(Some(gw.sip));
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("proxy_uac_caller_bye", proxy.addr, "95588", &[]);
    let id = answer_next(&mut app, 120).await;
    let rel = app.event_of("on_released", &id).await;
    assert_eq!(rel["dropped_by"], "usr", "{rel}");
    let r = sipp.succeeded().await;
    assert!(
        r.logs
            .contains(&format!("rr Record-Route: <sip:{};lr;", proxy.addr)),
        "the 200 OK did not carry the proxy's Record-Route:\n{}",
        r.logs
    );
    assert_eq!(
        proxy.routed("proxy: ACK sip:mediagw@"),
        1,
        "{}",
        proxy.log_text()
    );
    assert_eq!(
        proxy.routed("proxy: BYE sip:mediagw@"),
        1,
        "{}",
        proxy.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_through_proxy_application_hangs_up() {
    let gw = start_gateway!("");
    let proxy = Kamailio::start(Some(gw.sip));
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("proxy_uac_wait_bye", proxy.addr, "95588", &[]);
    let id = answer_next(&mut app, 120).await;
    app.ok("sys.call.drop", json!({"res_id": id, "cause": 603}))
        .await;
    let rel = app.event_of("on_released", &id).await;
    assert_eq!(rel["dropped_by"], "sys", "{rel}");
    let r = sipp.succeeded().await;
    assert!(r.logs.contains("cause 603"), "{}", r.logs);
    // mediagw's BYE went to the proxy (Route) with the caller's Contact as Request-URI.
    assert_eq!(
        proxy.routed("proxy: BYE sip:sipp@"),
        1,
        "{}",
        proxy.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_through_proxy_hold_and_info_dtmf() {
    let gw = start_gateway!("");
    let proxy = Kamailio::start(Some(gw.sip));
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("proxy_uac_hold_info_wait_bye", proxy.addr, "95588", &[]);
    let id = answer_next(&mut app, 120).await;
    app.ok(
        "sys.call.receive_dtmf_start",
        json!({"res_id": id, "max_keys": 1, "first_key_timeout": 30}),
    )
    .await;
    let got = app.event_of("on_receive_dtmf_completed", &id).await;
    assert_eq!(got["keys"], "5", "{got}");
    assert_eq!(got["error"], Value::Null, "{got}");
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    app.event_of("on_released", &id).await;
    sipp.succeeded().await;
    assert_eq!(proxy.routed("proxy: INVITE sip:mediagw@"), 1, "re-INVITE");
    assert_eq!(proxy.routed("proxy: INFO sip:mediagw@"), 1, "INFO");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_through_proxy_application_hangs_up() {
    let proxy = Kamailio::start(None);
    let uas = Sipp::uas("proxy_uas_wait_bye", &[]);
    let gw = gateway_behind(&proxy);
    let mut app = Client::connect(&gw.ws_url()).await;
    let to = format!("sip:13800138000@{}", uas.addr());
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": to, "max_answer_seconds": 60}),
        )
        .await,
    );
    let dial = app.event_of("on_dial_completed", &id).await;
    assert_eq!(dial["error"], Value::Null, "{dial}");
    app.ok("sys.call.drop", json!({"res_id": id, "cause": 200}))
        .await;
    let rel = app.event_of("on_released", &id).await;
    assert_eq!(rel["dropped_by"], "sys", "{rel}");
    let r = uas.succeeded().await;
    assert!(r.logs.contains("cause 200"), "{}", r.logs);
    // The INVITE kept the to_uri as Request-URI; ACK and BYE followed the route set.
    assert_eq!(
        proxy.routed(&format!("proxy: INVITE {to} from {}", gw.sip)),
        1,
        "{}",
        proxy.log_text()
    );
    assert_eq!(
        proxy.routed("proxy: ACK sip:sipp@"),
        1,
        "{}",
        proxy.log_text()
    );
    assert_eq!(
        proxy.routed("proxy: BYE sip:sipp@"),
        1,
        "{}",
        proxy.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_through_proxy_callee_hangs_up() {
    let proxy = Kamailio::start(None);
    let uas = Sipp::uas("proxy_uas_hangs_up", &[]);
    let gw = gateway_behind(&proxy);
    let mut app = Client::connect(&gw.ws_url()).await;
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": format!("sip:1@{}", uas.addr()), "max_answer_seconds": 60}),
        )
        .await,
    );
    let dial = app.event_of("on_dial_completed", &id).await;
    assert_eq!(dial["error"], Value::Null, "{dial}");
    let rel = app.event_of("on_released", &id).await;
    assert_eq!(rel["dropped_by"], "usr", "{rel}");
    uas.succeeded().await;
    assert_eq!(
        proxy.routed("proxy: BYE sip:mediagw@"),
        1,
        "{}",
        proxy.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_through_proxy_cancelled_before_answer() {
    let proxy = Kamailio::start(None);
    let uas = Sipp::uas("proxy_uas_ring_cancel", &[]);
    let gw = gateway_behind(&proxy);
    let mut app = Client::connect(&gw.ws_url()).await;
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": format!("sip:1@{}", uas.addr()), "max_answer_seconds": 60}),
        )
        .await,
    );
    app.event_of("on_ringing", &id).await;
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    let dial = app.event_of("on_dial_completed", &id).await;
    assert!(dial["error"].is_string(), "{dial}");
    app.event_of("on_released", &id).await;
    let r = uas.succeeded().await;
    assert!(
        r.logs.contains("reason Reason: SIP;cause=603"),
        "{}",
        r.logs
    );
    // The 487 carried mediagw's Via under the proxy's, so the proxy could relay it back.
    let after = r
        .logs
        .split("SIP/2.0 487 Request Terminated")
        .nth(1)
        .unwrap_or_default();
    let vias = after.split("From:").next().unwrap_or_default();
    assert!(
        vias.contains(&format!("Via: SIP/2.0/UDP {};", gw.sip)),
        "{vias}"
    );
    assert_eq!(proxy.routed("proxy: CANCEL"), 1, "{}", proxy.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_in_a_chain_both_directions() {
    // Inbound: SIPp -> p1 -> p2 -> mediagw; both proxies record-route.
    let gw = start_gateway!("");
    let p2 = Kamailio::start(Some(gw.sip));
    let p1 = Kamailio::start(Some(p2.addr));
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("proxy_uac_wait_bye", p1.addr, "95588", &[]);
    let id = answer_next(&mut app, 120).await;
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    app.event_of("on_released", &id).await;
    sipp.succeeded().await;
    for p in [&p1, &p2] {
        assert_eq!(p.routed("proxy: ACK sip:mediagw@"), 1, "{}", p.log_text());
        assert_eq!(p.routed("proxy: BYE sip:sipp@"), 1, "{}", p.log_text());
    }

    // Outbound: mediagw -> q1 (outbound proxy) -> q2 -> SIPp UAS, and the UAS hangs up.
    let q2 = Kamailio::start(None);
    let q1 = Kamailio::start(Some(q2.addr));
    let uas = Sipp::uas("proxy_uas_hangs_up", &[]);
    let gw = gateway_behind(&q1);
    let mut app = Client::connect(&gw.ws_url()).await;
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": format!("sip:2@{}", uas.addr()), "max_answer_seconds": 60}),
        )
        .await,
    );
    assert_eq!(
        app.event_of("on_dial_completed", &id).await["error"],
        Value::Null
    );
    let rel = app.event_of("on_released", &id).await;
    assert_eq!(rel["dropped_by"], "usr", "{rel}");
    uas.succeeded().await;
    for p in [&q1, &q2] {
        assert_eq!(p.routed("proxy: ACK sip:sipp@"), 1, "{}", p.log_text());
        assert_eq!(p.routed("proxy: BYE sip:mediagw@"), 1, "{}", p.log_text());
    }
}
