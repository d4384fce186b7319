//! End-to-end signalling through the real binary: real SIPp on one side, a real
//! WebSocket JSON-RPC client on the other (issue 2's scenarios).

use mediagw_testkit::calls::res_id;
use mediagw_testkit::{Client, Sipp, start_gateway};
use serde_json::{Value, json};

/// Every on_released carries every field of the seed.
fn check_released(rel: &Value, dir: &str, dropped_by: &str, cause: i64, answered: bool) {
    for k in [
        "res_id",
        "call_dir",
        "from_uri",
        "to_uri",
        "begin_time",
        "answer_time",
        "end_time",
        "dropped_by",
        "cause",
        "user_data",
        "ipsc_info",
    ] {
        assert!(rel.get(k).is_some(), "on_released lacks {k}: {rel}");
    }
    assert_eq!(rel["call_dir"], dir, "{rel}");
    assert_eq!(rel["dropped_by"], dropped_by, "{rel}");
    assert_eq!(rel["cause"], cause, "{rel}");
    assert_eq!(rel["answer_time"].is_u64(), answered, "{rel}");
    assert!(
        rel["end_time"].as_u64() >= rel["begin_time"].as_u64(),
        "{rel}"
    );
    assert!(rel["ipsc_info"]["process_id"].is_u64(), "{rel}");
    assert!(
        rel["ipsc_info"]["call_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{rel}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_answer_then_caller_hangs_up() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("uac", gw.sip, "95588", &["-d", "300"]);
    let inc = app.event("on_incoming").await;
    let id = res_id(&inc);
    assert!(id.contains("sys.call"), "{inc}");
    assert!(inc["to_uri"].as_str().unwrap().contains("95588"), "{inc}");
    assert!(
        inc["from_uri"].as_str().unwrap().starts_with("sip:"),
        "{inc}"
    );
    assert!(inc["begin_time"].is_u64(), "{inc}");
    assert!(inc["ipsc_info"]["process_id"].is_u64(), "{inc}");
    assert_eq!(inc["user_data"], Value::Null);
    assert_eq!(
        app.ok("sys.call.exists", json!({"res_id": id})).await,
        json!(true)
    );
    let r = app
        .ok(
            "sys.call.answer",
            json!({"res_id": id, "max_answer_seconds": 60, "user_data": "cdr-1"}),
        )
        .await;
    assert_eq!(r, Value::Null);
    let done = app.event_of("on_answer_completed", &id).await;
    assert_eq!(done["error"], Value::Null, "{done}");
    assert_eq!(done["user_data"], "cdr-1");
    let rel = app.event_of("on_released", &id).await;
    check_released(&rel, "inbound", "usr", 200, true);
    assert_eq!(rel["user_data"], "cdr-1");
    sipp.succeeded().await;
    assert_eq!(app.ok("sys.call.exists", json!([id])).await, json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_answer_then_app_drops_with_reason() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("uac_wait_bye", gw.sip, "1000", &[]);
    let id = res_id(&app.event("on_incoming").await);
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    )
    .await;
    app.event_of("on_answer_completed", &id).await;
    app.ok("sys.call.drop", json!({"res_id": id, "cause": 603}))
        .await;
    let rel = app.event_of("on_released", &id).await;
    check_released(&rel, "inbound", "sys", 603, true);
    let r = sipp.succeeded().await;
    assert!(
        r.logs.contains("cause 603"),
        "BYE lacked Reason cause=603:\n{}",
        r.logs
    );
    app.err("sys.call.drop", json!({"res_id": id}), -32001)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_reject_486() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("uac_expect_486", gw.sip, "1000", &[]);
    let id = res_id(&app.event("on_incoming").await);
    app.ok(
        "sys.call.reject",
        json!({"res_id": id, "cause": 486, "user_data": "busy"}),
    )
    .await;
    let rel = app.event_of("on_released", &id).await;
    check_released(&rel, "inbound", "sys", 486, false);
    assert_eq!(rel["user_data"], "busy");
    sipp.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_reject_default_cause_is_603() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("uac_expect_603", gw.sip, "1000", &[]);
    let id = res_id(&app.event("on_incoming").await);
    app.ok("sys.call.reject", json!([id])).await;
    let rel = app.event_of("on_released", &id).await;
    check_released(&rel, "inbound", "sys", 603, false);
    sipp.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_redirect_302_with_contact() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("uac_expect_302", gw.sip, "1000", &[]);
    let id = res_id(&app.event("on_incoming").await);
    app.ok(
        "sys.call.redirect",
        json!({"res_id": id, "redirect_uri": "sip:ipsc2@127.0.0.2:5070"}),
    )
    .await;
    let rel = app.event_of("on_released", &id).await;
    check_released(&rel, "inbound", "sys", 302, false);
    let r = sipp.succeeded().await;
    assert!(
        r.logs.contains("target ipsc2@127.0.0.2:5070"),
        "302 Contact not the redirect target:\n{}",
        r.logs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_without_client_gets_480_and_leaves_nothing() {
    let gw = start_gateway!("");
    // A client that opted out of incoming calls does not count.
    let mut watcher = Client::connect(&format!("{}?incoming=false", gw.ws_url())).await;
    let sipp = Sipp::uac("uac_expect_480", gw.sip, "1000", &[]);
    sipp.succeeded().await;
    let metrics = mediagw_testkit::http::get(gw.api, "/metrics").await;
    assert!(metrics.contains("mediagw_calls 0"), "{metrics}");
    assert!(watcher.queued().is_empty());
    watcher
        .ok("sys.call.exists", json!({"res_id": "0.0.1-sys.call-1"}))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_caller_cancels_before_answer() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    // SIPp's built-in uac cannot cancel; a CANCEL-ing scenario lives in loadtest/sipp.
    let sipp = Sipp::uac("uac_cancel", gw.sip, "1000", &[]);
    let id = res_id(&app.event("on_incoming").await);
    let rel = app.event_of("on_released", &id).await;
    check_released(&rel, "inbound", "usr", 487, false);
    sipp.succeeded().await;
    app.err(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 5}),
        -32001,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_answer_seconds_sends_bye() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("uac_wait_bye", gw.sip, "1000", &[]);
    let id = res_id(&app.event("on_incoming").await);
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 1}),
    )
    .await;
    app.event_of("on_answer_completed", &id).await;
    let rel = app.event_of("on_released", &id).await;
    check_released(&rel, "inbound", "sys", 408, true);
    let r = sipp.succeeded().await;
    assert!(r.logs.contains("cause 408"), "{}", r.logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_answered_by_sipp_uas_then_dropped() {
    let uas = Sipp::uas("uas_answer_wait_bye", &[]);
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let to = format!("sip:13800138000@{}", uas.addr());
    let r = app
        .ok(
            "sys.call.construct",
            json!({"to_uri": to, "max_answer_seconds": 60, "from_uri": "sip:95588@127.0.0.1", "user_data": "u1"}),
        )
        .await;
    let id = res_id(&r);
    assert_eq!(r["to_uri"], to);
    assert_eq!(r["user_data"], "u1");
    assert!(r["ipsc_info"]["process_id"].is_u64(), "{r}");
    let ring = app.event_of("on_ringing", &id).await;
    assert!(ring["ring_time"].is_u64());
    let dial = app.event_of("on_dial_completed", &id).await;
    assert_eq!(dial["error"], Value::Null, "{dial}");
    assert!(dial["answer_time"].is_u64(), "{dial}");
    assert_eq!(dial["user_data"], "u1");
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    let rel = app.event_of("on_released", &id).await;
    check_released(&rel, "outbound", "sys", 603, true);
    let r = uas.succeeded().await;
    assert!(r.logs.contains("cause 603"), "{}", r.logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_busy_reports_dial_error() {
    let uas = Sipp::uas("uas_busy", &[]);
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let to = format!("sip:1@{}", uas.addr());
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": to, "max_answer_seconds": 60}),
        )
        .await,
    );
    let dial = app.event_of("on_dial_completed", &id).await;
    assert!(dial["error"].as_str().unwrap().contains("486"), "{dial}");
    assert_eq!(dial["answer_time"], Value::Null);
    let rel = app.event_of("on_released", &id).await;
    check_released(&rel, "outbound", "usr", 486, false);
    uas.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_list_falls_through_a_full_gateway() {
    let a = Sipp::uas("uas_answer_wait_bye", &[]);
    let b = Sipp::uas("uas_answer_wait_bye", &[]);
    let cfg = format!(
        "[[gateways]]\naddress = \"{}\"\nmax_concurrent = 1\n[[gateways]]\naddress = \"{}\"\nmax_concurrent = 1\n",
        a.addr(),
        b.addr()
    );
    let gw = start_gateway!(&cfg);
    let mut app = Client::connect(&gw.ws_url()).await;
    let list = json!([
        format!("sip:100@{}", a.addr()),
        format!("sip:100@{}", b.addr())
    ]);
    let first = app
        .ok(
            "sys.call.construct",
            json!({"to_uri": list, "max_answer_seconds": 60}),
        )
        .await;
    assert_eq!(first["to_uri"], list[0]);
    let second = app
        .ok(
            "sys.call.construct",
            json!({"to_uri": list, "max_answer_seconds": 60}),
        )
        .await;
    assert_eq!(
        second["to_uri"], list[1],
        "first gateway is full, second must be used"
    );
    let e = app
        .err(
            "sys.call.construct",
            json!({"to_uri": list, "max_answer_seconds": 60}),
            -32004,
        )
        .await;
    assert!(e["data"]["reason"].as_str().is_some(), "{e}");
    for r in [&first, &second] {
        let id = res_id(r);
        let d = app.event_of("on_dial_completed", &id).await;
        assert_eq!(d["error"], Value::Null, "{d}");
        app.ok("sys.call.drop", json!({"res_id": id})).await;
        app.event_of("on_released", &id).await;
    }
    a.succeeded().await;
    b.succeeded().await;
    // Slots are free again: a new call to the first gateway is accepted.
    let c = Sipp::uas("uas_busy", &[]);
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_ring_seconds_sends_cancel() {
    let uas = Sipp::uas("uas_ring_until_cancel", &[]);
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let to = format!("sip:1@{}", uas.addr());
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": to, "max_answer_seconds": 60, "max_ring_seconds": 1}),
        )
        .await,
    );
    app.event_of("on_ringing", &id).await;
    let dial = app.event_of("on_dial_completed", &id).await;
    assert!(
        dial["error"].as_str().unwrap().contains("max_ring_seconds"),
        "{dial}"
    );
    let rel = app.event_of("on_released", &id).await;
    check_released(&rel, "outbound", "sys", 408, false);
    uas.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_before_answer_sends_cancel() {
    let uas = Sipp::uas("uas_ring_until_cancel", &[]);
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let to = format!("sip:1@{}", uas.addr());
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": to, "max_answer_seconds": 60}),
        )
        .await,
    );
    app.event_of("on_ringing", &id).await;
    app.ok("sys.call.drop", json!({"res_id": id, "cause": 487}))
        .await;
    let dial = app.event_of("on_dial_completed", &id).await;
    assert!(dial["error"].as_str().unwrap().contains("drop"), "{dial}");
    let rel = app.event_of("on_released", &id).await;
    check_released(&rel, "outbound", "sys", 487, false);
    let r = uas.succeeded().await;
    assert!(r.logs.contains("cause 487"), "{}", r.logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_timer_b_when_nobody_answers() {
    // A UDP socket that never answers; T1 = 50 ms makes Timer B 3.2 s.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let gw = start_gateway!("[sip]\nt1_ms = 50\n");
    let mut app = Client::connect(&gw.ws_url()).await;
    let to = format!("sip:1@{}", silent.local_addr().unwrap());
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": to, "max_answer_seconds": 60}),
        )
        .await,
    );
    let dial = app.event_of("on_dial_completed", &id).await;
    assert!(
        dial["error"].as_str().unwrap().contains("Timer B"),
        "{dial}"
    );
    let rel = app.event_of("on_released", &id).await;
    check_released(&rel, "outbound", "sys", 408, false);
    // The INVITE was retransmitted (Timer A) while waiting.
    silent.set_nonblocking(true).unwrap();
    let mut n = 0;
    let mut buf = [0u8; 4096];
    while silent.recv(&mut buf).is_ok() {
        n += 1;
    }
    assert!(n >= 5, "expected INVITE retransmissions, got {n} datagrams");
}
