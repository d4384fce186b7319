//! RFC 4028 session timers and RFC 3262 reliable provisionals against SIPp, through a
//! real Kamailio record-routing proxy where the dialog has one: refreshes by UPDATE and
//! by re-INVITE with mediagw as the refresher and with the peer as the refresher, in
//! both call directions; a call whose refreshes stop is ended by mediagw; 422 in both
//! directions; a caller that requires 100rel gets a reliable 180 and PRACKs it; a callee
//! whose 180 is reliable is PRACKed.

use std::time::{Duration, Instant};

use mediagw_testkit::calls::{answer_next, res_id};
use mediagw_testkit::{Client, Gateway, Kamailio, Sipp, start_gateway};
use serde_json::{Value, json};

/// Session timers of 90 s (the RFC's minimum) make these scenarios run for up to two minutes.
const LONG: Duration = Duration::from_secs(170);

fn gateway_behind(proxy: &Kamailio, extra: &str) -> Gateway {
    start_gateway!(&format!(
        "[sip]\noutbound_proxy = \"{}\"\n{extra}",
        proxy.addr
    ))
}

/// The caller refreshes once after 50 s (by `method`), then goes silent: mediagw must
/// hang up 60 s after that refresh, not 60 s after the answer.
async fn peer_refreshes_once_then_mediagw_ends_the_call(scenario: &str) {
    // SIPp sends no RTP: the RTP timeout (60 s by default) must not end the call first.
    let gw = start_gateway!("[media]\nrtp_timeout_seconds = 0\n");
    let proxy = Kamailio::start(Some(gw.sip));
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac(scenario, proxy.addr, "95588", &["-timeout", "160s"]);
    let id = answer_next(&mut app, 600).await;
    let rel = app.event_of_within("on_released", &id, LONG).await;
    assert_eq!(rel["dropped_by"], "sys", "{rel}");
    assert_eq!(rel["cause"], 408, "{rel}");
    let talk = rel["end_time"].as_u64().unwrap() - rel["answer_time"].as_u64().unwrap();
    assert!(
        (105..=120).contains(&talk),
        "the BYE came {talk} s after the answer, expected 50 s + 60 s: {rel}"
    );
    let r = sipp.succeeded_within(LONG).await;
    assert!(
        r.logs.contains("cause 408 text session timer expired"),
        "{}",
        r.logs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_refreshes_by_update_then_a_silent_session_is_ended() {
    peer_refreshes_once_then_mediagw_ends_the_call("st_uac_refresh_update_then_silence").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_refreshes_by_reinvite_then_a_silent_session_is_ended() {
    peer_refreshes_once_then_mediagw_ends_the_call("st_uac_refresh_invite_then_silence").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediagw_refreshes_an_inbound_call_by_update() {
    let gw = start_gateway!("[media]\nrtp_timeout_seconds = 0\n");
    let proxy = Kamailio::start(Some(gw.sip));
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac(
        "st_uac_mediagw_refreshes_update",
        proxy.addr,
        "95588",
        &["-timeout", "120s"],
    );
    let id = answer_next(&mut app, 600).await;
    let rel = app.event_of_within("on_released", &id, LONG).await;
    assert_eq!(rel["dropped_by"], "usr", "{rel}");
    sipp.succeeded_within(LONG).await;
    assert_eq!(
        proxy.routed("proxy: UPDATE sip:sipp@"),
        1,
        "{}",
        proxy.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediagw_refreshes_an_outbound_call_by_reinvite() {
    let proxy = Kamailio::start(None);
    let uas = Sipp::uas("st_uas_mediagw_refreshes_reinvite", &["-timeout", "120s"]);
    let gw = gateway_behind(&proxy, "[media]\nrtp_timeout_seconds = 0\n");
    let mut app = Client::connect(&gw.ws_url()).await;
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": format!("sip:1@{}", uas.addr()), "max_answer_seconds": 600}),
        )
        .await,
    );
    assert_eq!(
        app.event_of("on_dial_completed", &id).await["error"],
        Value::Null
    );
    let rel = app.event_of_within("on_released", &id, LONG).await;
    assert_eq!(rel["dropped_by"], "usr", "{rel}");
    uas.succeeded_within(LONG).await;
    // The initial INVITE goes to the to_uri, the refresh to the callee's Contact.
    assert_eq!(
        proxy.routed("proxy: INVITE sip:sipp@"),
        1,
        "{}",
        proxy.log_text()
    );
    assert_eq!(
        proxy.routed("proxy: ACK sip:sipp@"),
        2,
        "{}",
        proxy.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_refreshes_an_outbound_call_by_update() {
    let proxy = Kamailio::start(None);
    let uas = Sipp::uas("st_uas_peer_refreshes_update", &[]);
    let gw = gateway_behind(&proxy, "");
    let mut app = Client::connect(&gw.ws_url()).await;
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": format!("sip:1@{}", uas.addr()), "max_answer_seconds": 600}),
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
    assert_eq!(
        proxy.routed("proxy: UPDATE sip:mediagw@"),
        1,
        "{}",
        proxy.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_small_a_session_interval_gets_422_and_no_call() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("st_uac_too_small", gw.sip, "95588", &[]);
    let r = sipp.succeeded().await;
    assert!(r.logs.contains("min_se Min-SE: 90"), "{}", r.logs);
    // A reply on the same connection comes after any event sent before it.
    assert_eq!(
        app.ok("sys.call.exists", json!(["0.0.1-sys.call-1"])).await,
        json!(false)
    );
    assert!(
        app.queued()
            .iter()
            .all(|e| e["method"] != "sys.call.on_incoming"),
        "{:?}",
        app.queued()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_422_is_retried_with_the_callees_min_se() {
    let uas = Sipp::uas("st_uas_422_then_answer", &[]);
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": format!("sip:1@{}", uas.addr()), "max_answer_seconds": 600}),
        )
        .await,
    );
    let dial = app.event_of("on_dial_completed", &id).await;
    assert_eq!(dial["error"], Value::Null, "{dial}");
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    app.event_of("on_released", &id).await;
    uas.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_requiring_100rel_gets_a_reliable_180_and_prack_works() {
    let gw = start_gateway!("");
    let proxy = Kamailio::start(Some(gw.sip));
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("rel_uac_prack", proxy.addr, "95588", &[]);
    let id = res_id(&app.event("on_incoming").await);
    // Answer once the PRACK has been answered (the proxy relayed its 200), so the
    // caller sees the PRACK's 200 before the INVITE's.
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.routed("proxy: reply 200 2 PRACK") == 0 {
        assert!(
            Instant::now() < deadline,
            "no PRACK answered: {}",
            proxy.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 600}),
    )
    .await;
    assert_eq!(
        app.event_of("on_answer_completed", &id).await["error"],
        Value::Null
    );
    let rel = app.event_of("on_released", &id).await;
    assert_eq!(rel["dropped_by"], "usr", "{rel}");
    let r = sipp.succeeded().await;
    assert!(r.logs.contains("require Require: 100rel"), "{}", r.logs);
    assert_eq!(
        proxy.routed("proxy: PRACK sip:mediagw@"),
        1,
        "{}",
        proxy.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reliable_180_without_prack_ends_in_504() {
    // 64*T1 with T1 = 50 ms: 3.2 s.
    let gw = start_gateway!("[sip]\nt1_ms = 50\n");
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("rel_uac_no_prack", gw.sip, "95588", &[]);
    let id = res_id(&app.event("on_incoming").await);
    let rel = app.event_of("on_released", &id).await;
    assert_eq!(rel["dropped_by"], "sys", "{rel}");
    assert_eq!(rel["cause"], 504, "{rel}");
    sipp.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callees_reliable_180_is_pracked() {
    let proxy = Kamailio::start(None);
    let uas = Sipp::uas("rel_uas_reliable_180", &[]);
    let gw = gateway_behind(&proxy, "");
    let mut app = Client::connect(&gw.ws_url()).await;
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": format!("sip:1@{}", uas.addr()), "max_answer_seconds": 600}),
        )
        .await,
    );
    app.event_of("on_ringing", &id).await;
    assert_eq!(
        app.event_of("on_dial_completed", &id).await["error"],
        Value::Null
    );
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    app.event_of("on_released", &id).await;
    uas.succeeded().await;
    assert_eq!(
        proxy.routed("proxy: PRACK sip:sipp@"),
        1,
        "{}",
        proxy.log_text()
    );
}
