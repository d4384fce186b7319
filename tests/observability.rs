//! What an operator sees, through the real binary: the call detail record (`cdr.path`,
//! one JSON line per released call, the same object as its `on_released`, with the media
//! figures measured on SIPp's real RTP), `/metrics` (calls by state and direction, setups
//! and failures by cause, RTP histograms), and JSON log lines that name the call they
//! are about by res_id and Call-ID.

use std::time::Duration;

use mediagw_testkit::calls::res_id;
use mediagw_testkit::http::{metrics, series, wait_metric};
use mediagw_testkit::{Client, Launch, Peer, Sipp};
use serde_json::{Value, json};

fn cdr_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("CDR line {l:?}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_call_leaves_one_cdr_line_equal_to_its_on_released() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cdr = tmp.path().join("calls.jsonl");
    let gw = mediagw_testkit::start_gateway!(&format!("[cdr]\npath = \"{}\"\n", cdr.display()));
    let mut app = Client::connect(&gw.ws_url()).await;

    // An answered call: SIPp sends all of g711a.pcap (236 packets) and hangs up.
    let sipp = Sipp::uac("uac_pcap_or_503", gw.sip, "100", &["-timeout", "60s"]);
    let id = res_id(&app.event("on_incoming").await);
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    )
    .await;
    app.event_of("on_answer_completed", &id).await;
    wait_metric(
        gw.api,
        "mediagw_calls_by_state{direction=\"inbound\",state=\"Idle\"}",
        |v| v == 1.0,
    )
    .await;
    let rel = app
        .event_of_within("on_released", &id, Duration::from_secs(60))
        .await;
    tokio::task::block_in_place(|| sipp.expect_success());
    assert_eq!(
        (rel["dropped_by"].as_str(), rel["cause"].as_u64()),
        (Some("usr"), Some(200))
    );
    assert_eq!(rel["codec"], "PCMA", "{rel}");
    assert_eq!(rel["packets_in"], 236, "every packet of the pcap: {rel}");
    assert_eq!(rel["packets_lost"], 0, "{rel}");
    assert_eq!(rel["loss_percent"], 0.0, "{rel}");
    assert!(rel["jitter_ms"].as_u64().unwrap() < 30, "{rel}");
    assert!(rel["mos"].as_f64().unwrap() > 4.0, "{rel}");

    // A refused call: a failure by cause, a record without media.
    let p = Peer::new(gw.sip);
    p.send(&p.request("INVITE", "refused-1", "", ""));
    let id2 = res_id(&app.event("on_incoming").await);
    app.ok("sys.call.reject", json!({"res_id": id2, "cause": 486}))
        .await;
    let rel2 = app.event_of("on_released", &id2).await;
    assert_eq!(rel2["codec"], Value::Null);

    // The file has both, each equal to its event, in the order the calls ended.
    assert_eq!(cdr_lines(&cdr), vec![rel.clone(), rel2.clone()]);
    wait_metric(
        gw.api,
        "mediagw_calls_released_total{direction=\"inbound\"}",
        |v| v == 2.0,
    )
    .await;
    let m = metrics(gw.api).await;
    for (s, want) in [
        ("mediagw_call_setups_total{direction=\"inbound\"}", 1.0),
        (
            "mediagw_call_failures_total{direction=\"inbound\",cause=\"486\"}",
            1.0,
        ),
        (
            "mediagw_calls_by_state{direction=\"inbound\",state=\"Idle\"}",
            0.0,
        ),
        ("mediagw_rtp_loss_percent_bucket{le=\"0\"}", 1.0),
        ("mediagw_rtp_loss_percent_count", 1.0),
        ("mediagw_rtp_jitter_ms_count", 1.0),
        ("mediagw_call_mos_bucket{le=\"4\"}", 0.0),
        ("mediagw_call_mos_count", 1.0),
        ("mediagw_api_connections", 1.0),
    ] {
        assert_eq!(series(&m, s), Some(want), "{s} in\n{m}");
    }
    assert!(
        m.contains("mediagw_queue_depth{queue=\"engine_input\"}"),
        "{m}"
    );
    assert!(
        m.contains("mediagw_worker_backend{"),
        "per-core figures: {m}"
    );
    assert!(m.trim_end().ends_with("# EOF"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_log_line_about_a_call_names_its_res_id_and_call_id() {
    let gw = Launch::new(env!("CARGO_BIN_EXE_mediagw"))
        .arg("--log-format")
        .arg("json")
        .log_filter("info,mediagw=debug,mediagw_core=debug")
        .start()
        .unwrap_or_else(|e| panic!("{e:#}"));
    // The pool's first port is taken: the call's media binds the next one, and the
    // gateway warns about the first, a line about this call.
    let (first, _) = gw.rtp_ports();
    let _taken = std::net::UdpSocket::bind(("127.0.0.1", first)).expect("RTP port");
    let mut app = Client::connect(&gw.ws_url()).await;
    let p = Peer::new(gw.sip);
    p.send(&p.request("INVITE", "logged-call-1", "", ""));
    let id = res_id(&app.event("on_incoming").await);
    // The answer waits for the call's port (after the first one failed), then it ends.
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    )
    .await;
    app.ok("sys.call.drop", json!({"res_id": id, "cause": 603}))
        .await;
    app.event_of("on_released", &id).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !gw
        .log_text()
        .contains(&format!("RTP port {first} unusable"))
    {
        assert!(std::time::Instant::now() < deadline, "{}", gw.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let field = |v: &Value, k: &str| {
        v.get(k)
            .or_else(|| v.get("span").and_then(|s| s.get(k)))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut about = 0;
    for line in gw.log_text().lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if !(line.contains(&id) || line.contains("logged-call-1")) {
            continue;
        }
        about += 1;
        assert_eq!(field(&v, "res_id").as_deref(), Some(id.as_str()), "{line}");
        assert_eq!(
            field(&v, "call_id").as_deref(),
            Some("logged-call-1"),
            "{line}"
        );
    }
    assert!(
        about >= 2,
        "lines about the call: {about}\n{}",
        gw.log_text()
    );
}
