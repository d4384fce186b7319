//! Graceful drain on SIGTERM, through the real binary: `/healthz` turns 503 at once, new
//! INVITEs and OPTIONS get 503 with `Retry-After` and `construct` -32004, while the live
//! calls (real SIPp calls, each being recorded) run on for `sip.drain_seconds`; then
//! they are hung up, every recording is finished and valid, every `on_released` reaches
//! the application and every call record is written, and the process exits 0. A second
//! SIGTERM ends the drain at once, with the same guarantees.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mediagw_testkit::http::{body, try_get};
use mediagw_testkit::sipp::SippCommand;
use mediagw_testkit::{Client, Gateway, Peer, Sipp, start_gateway};
use serde_json::{Value, json};

/// A gateway with `drain_seconds` and call records in `cdr`.
fn gateway(drain_seconds: u64, cdr: &std::path::Path) -> Gateway {
    start_gateway!(&format!(
        "[sip]\ndrain_seconds = {drain_seconds}\n[cdr]\npath = \"{}\"\n",
        cdr.display()
    ))
}

/// `n` SIPp calls that wait for the gateway's BYE, answered and being recorded; returns
/// SIPp, and each call's res_id with its recording's path.
async fn recorded_calls(gw: &Gateway, app: &mut Client, n: u64) -> (Sipp, HashMap<String, String>) {
    let sipp = SippCommand::new("uac_wait_bye")
        .calls(n)
        .args([
            gw.sip.to_string().as_str(),
            "-s",
            "100",
            "-r",
            "10",
            "-timeout",
            "120s",
        ])
        .spawn()
        .expect("sipp");
    let mut calls = HashMap::new();
    for _ in 0..n {
        let id = app.event("on_incoming").await["res_id"]
            .as_str()
            .unwrap()
            .to_string();
        app.ok(
            "sys.call.answer",
            json!({"res_id": id, "max_answer_seconds": 300}),
        )
        .await;
        app.event_of("on_answer_completed", &id).await;
        let path = app
            .ok(
                "sys.call.record_start",
                json!({"res_id": id, "max_seconds": 300, "beep": false, "record_format": 16}),
            )
            .await;
        calls.insert(id, path.as_str().unwrap().to_string());
    }
    (sipp, calls)
}

/// Waits until `/healthz` answers 503.
async fn healthz_turns_503(gw: &Gateway) -> Duration {
    let t0 = Instant::now();
    loop {
        let r = try_get(gw.api, "/healthz").await.unwrap_or_default();
        if r.starts_with("HTTP/1.1 503") {
            assert_eq!(body(&r), "draining\n");
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "/healthz still says {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The recording is a complete, valid WAV file: its header's sizes agree with the file.
fn valid_recording(path: &str) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let riff = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    assert_eq!(riff, bytes.len() - 8, "{path}: RIFF size");
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let n = r.len() as usize;
    assert_eq!(
        r.samples::<i16>().filter_map(Result::ok).count(),
        n,
        "{path}"
    );
}

/// Every on_released and on_record_completed of `calls`, in arrival order.
async fn ends(app: &mut Client, calls: &HashMap<String, String>) -> (Vec<Value>, Instant) {
    let mut released = Vec::new();
    let mut first = None;
    for id in calls.keys() {
        let done = app
            .event_of_within("on_record_completed", id, Duration::from_secs(90))
            .await;
        assert_eq!(done["record_file"], calls[id].as_str());
        let rel = app
            .event_of_within("on_released", id, Duration::from_secs(90))
            .await;
        first.get_or_insert_with(Instant::now);
        released.push(rel);
    }
    (released, first.expect("calls"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_refuses_new_calls_lets_live_ones_run_on_then_hangs_up_and_exits_0() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cdr = tmp.path().join("cdr.jsonl");
    let mut gw = gateway(3, &cdr);
    let mut app = Client::connect(&gw.ws_url()).await;
    let (sipp, calls) = recorded_calls(&gw, &mut app, 2).await;

    let sigterm = Instant::now();
    gw.signal(libc::SIGTERM);
    let took = healthz_turns_503(&gw).await;
    assert!(took < Duration::from_secs(2), "/healthz took {took:?}");
    // New calls are refused, and a dispatcher's OPTIONS probe says so.
    let p = Peer::new(gw.sip);
    p.send(&p.request("INVITE", "during-drain", "", ""));
    let r = tokio::task::block_in_place(|| p.final_response());
    assert!(
        r.starts_with("SIP/2.0 503") && r.contains("\r\nRetry-After: "),
        "{r}"
    );
    p.send(&p.request("OPTIONS", "probe", "", ""));
    let r = tokio::task::block_in_place(|| p.final_response());
    assert!(
        r.starts_with("SIP/2.0 503") && r.contains("\r\nRetry-After: "),
        "{r}"
    );
    app.err(
        "sys.call.construct",
        json!({"to_uri": format!("sip:1@{}", p.addr()), "max_answer_seconds": 60}),
        -32004,
    )
    .await;

    // The live calls run on until drain_seconds, then end with their records.
    let (released, first_end) = ends(&mut app, &calls).await;
    let ran_on = first_end - sigterm;
    assert!(
        ran_on >= Duration::from_millis(2900),
        "calls ended {ran_on:?} after SIGTERM"
    );
    for rel in &released {
        assert_eq!(
            (rel["dropped_by"].as_str(), rel["cause"].as_u64()),
            (Some("sys"), Some(503))
        );
    }
    let status = tokio::task::block_in_place(|| gw.wait_exit(Duration::from_secs(60)))
        .unwrap_or_else(|| panic!("still running after the drain:\n{}", gw.log_text()));
    assert!(status.success(), "{status:?}\n{}", gw.log_text());
    for path in calls.values() {
        valid_recording(path);
    }
    let lines: Vec<Value> = std::fs::read_to_string(&cdr)
        .expect("cdr")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for rel in &released {
        assert!(lines.contains(rel), "{rel} not in the CDR file");
    }
    let r = tokio::task::block_in_place(|| sipp.wait_for(Duration::from_secs(30)));
    assert!(r.success(), "SIPp got its BYEs: {}\n{}", r.stdout, r.logs);
    assert_eq!(
        r.logs.matches("BYE reason Reason: SIP;cause=503").count(),
        2,
        "{}",
        r.logs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_ends_the_drain_at_once_still_writing_everything() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cdr = tmp.path().join("cdr.jsonl");
    let mut gw = gateway(600, &cdr);
    let mut app = Client::connect(&gw.ws_url()).await;
    let (sipp, calls) = recorded_calls(&gw, &mut app, 1).await;
    gw.signal(libc::SIGTERM);
    healthz_turns_503(&gw).await;
    let second = Instant::now();
    gw.signal(libc::SIGTERM);
    let (released, first_end) = ends(&mut app, &calls).await;
    assert!(
        first_end - second < Duration::from_secs(20),
        "the drain of 600 s ended {:?} after the second SIGTERM",
        first_end - second
    );
    let status = tokio::task::block_in_place(|| gw.wait_exit(Duration::from_secs(60)))
        .unwrap_or_else(|| panic!("still running:\n{}", gw.log_text()));
    assert!(status.success(), "{status:?}\n{}", gw.log_text());
    valid_recording(calls.values().next().unwrap());
    let text = std::fs::read_to_string(&cdr).expect("cdr");
    let line: Value = serde_json::from_str(text.trim()).expect("one JSON line");
    assert_eq!(line, released[0]);
    let r = tokio::task::block_in_place(|| sipp.wait_for(Duration::from_secs(30)));
    assert!(r.success(), "{}\n{}", r.stdout, r.logs);
}
