//! Reply before event, as a guarantee (API.md: "on the connection that made a request, the
//! reply to that request arrives before any event it causes"), shown under load: one API
//! connection drives 30 outbound calls (to a SIPp UAS that rings and answers at once) and
//! 30 inbound calls (from a SIPp UAC) at the same time, pipelining its requests, while
//! two threads keep both cores of the machine busy. Every request is sent in reaction to
//! an event, so each event has one request that caused it; the test records, in the
//! order the connection delivered them, every reply and every event, and checks that
//! `construct`'s reply precedes its `on_ringing` and `on_dial_completed`, `answer`'s
//! precedes `on_answer_completed`, `play_start`'s precedes `on_play_completed` (a 60 ms
//! prompt: the completion races the reply) and `drop`'s precedes `on_released`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mediagw_testkit::client::is_event;
use mediagw_testkit::sipp::SippCommand;
use mediagw_testkit::{Client, start_gateway};
use serde_json::{Value, json};

const OUTBOUND: u64 = 30;
const INBOUND: u64 = 30;

/// Threads spinning on every core until dropped: the machine is loaded while the
/// calls run (bounded by the test's own deadline).
struct Burn {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Burn {
    fn start(n: usize) -> Burn {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 1u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..10_000 {
                            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                        }
                        std::hint::black_box(x);
                    }
                })
            })
            .collect();
        Burn { stop, threads }
    }
}

impl Drop for Burn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A 60 ms PCM prompt.
fn short_prompt(path: &std::path::Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for i in 0..480 {
        w.write_sample(((i % 16) as i16 - 8) * 500).expect("sample");
    }
    w.finalize().expect("wav");
}

/// What a request was, and the call it was about (None for a construct until its reply).
#[derive(Debug, Clone)]
struct Sent {
    method: &'static str,
    res_id: Option<String>,
}

/// Sends a request without waiting for its reply, and notes what it was.
async fn request(
    app: &mut Client,
    sent: &mut HashMap<u64, Sent>,
    method: &'static str,
    params: Value,
) {
    let res_id = params["res_id"].as_str().map(str::to_string);
    let id = app
        .request(&format!("sys.call.{method}"), params)
        .await
        .expect("send");
    sent.insert(id, Sent { method, res_id });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reply_precedes_the_events_its_request_caused() {
    let gw = start_gateway!("[media]\nworkers = 2\n");
    short_prompt(&gw.media_root().join("short.wav"));
    let mut app = Client::connect(&gw.ws_url()).await;
    let _load = Burn::start(2);

    let uas = SippCommand::new("uas_answer_wait_bye")
        .calls(OUTBOUND)
        .traces(false)
        .args(["-timeout", "120s"])
        .spawn()
        .expect("sipp uas");
    let uac = SippCommand::new("uac_wait_bye")
        .calls(INBOUND)
        .traces(false)
        .args([
            gw.sip.to_string().as_str(),
            "-s",
            "100",
            "-r",
            "60",
            "-l",
            "60",
            "-timeout",
            "120s",
        ])
        .spawn()
        .expect("sipp uac");

    // Everything the connection delivered, in order; the requests by id.
    let mut stream: Vec<Value> = Vec::new();
    let mut sent: HashMap<u64, Sent> = HashMap::new();
    for i in 0..OUTBOUND {
        let to = format!("sip:{i}@{}", uas.addr());
        request(
            &mut app,
            &mut sent,
            "construct",
            json!({"to_uri": to, "max_answer_seconds": 60, "max_ring_seconds": 60}),
        )
        .await;
    }
    let mut released = 0;
    let mut replies = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while released < OUTBOUND + INBOUND || replies < sent.len() {
        let v = tokio::time::timeout_at(deadline, app.recv())
            .await
            .unwrap_or_else(|_| panic!("{released} calls released within 120 s"))
            .expect("connection");
        stream.push(v.clone());
        if !is_event(&v) {
            let id = v["id"].as_u64().expect("id");
            let s = sent.get_mut(&id).expect("a reply to a request we sent");
            replies += 1;
            assert!(v.get("error").is_none(), "{} failed: {v}", s.method);
            if s.method == "construct" {
                s.res_id = Some(v["result"]["res_id"].as_str().expect("res_id").into());
            }
            continue;
        }
        let p = &v["params"];
        let res_id = p["res_id"].as_str().expect("res_id").to_string();
        match v["method"].as_str().expect("method") {
            "sys.call.on_incoming" => {
                request(
                    &mut app,
                    &mut sent,
                    "answer",
                    json!({"res_id": res_id, "max_answer_seconds": 60}),
                )
                .await
            }
            "sys.call.on_dial_completed" | "sys.call.on_answer_completed" => {
                assert_eq!(p["error"], Value::Null, "{v}");
                request(
                    &mut app,
                    &mut sent,
                    "play_start",
                    json!({"res_id": res_id, "content": "short.wav"}),
                )
                .await
            }
            "sys.call.on_play_completed" => {
                request(
                    &mut app,
                    &mut sent,
                    "drop",
                    json!({"res_id": res_id, "cause": 200}),
                )
                .await
            }
            "sys.call.on_released" => released += 1,
            _ => {}
        }
    }
    drop(_load);
    let r = uas.wait_for(Duration::from_secs(60));
    assert!(r.success(), "SIPp UAS: {}\n{}", r.stdout, r.logs);
    let r = uac.wait_for(Duration::from_secs(60));
    assert!(r.success(), "SIPp UAC: {}\n{}", r.stdout, r.logs);

    // Where each reply sits in the stream, and which request each event answers to.
    let mut reply_at: HashMap<u64, usize> = HashMap::new();
    for (i, v) in stream.iter().enumerate() {
        if !is_event(v) {
            reply_at.insert(v["id"].as_u64().expect("id"), i);
        }
    }
    let cause_of = |event: &str| match event {
        "sys.call.on_ringing" | "sys.call.on_dial_completed" => Some("construct"),
        "sys.call.on_answer_completed" => Some("answer"),
        "sys.call.on_play_completed" => Some("play_start"),
        "sys.call.on_released" => Some("drop"),
        _ => None,
    };
    let mut checked: HashMap<&str, usize> = HashMap::new();
    let mut wrong = Vec::new();
    for (i, v) in stream.iter().enumerate().filter(|(_, v)| is_event(v)) {
        let name = v["method"].as_str().expect("method");
        let Some(method) = cause_of(name) else {
            continue;
        };
        let res_id = v["params"]["res_id"].as_str().expect("res_id");
        let (id, _) = sent
            .iter()
            .find(|(_, s)| s.method == method && s.res_id.as_deref() == Some(res_id))
            .unwrap_or_else(|| panic!("no {method} of {res_id} before {name}"));
        let at = reply_at.get(id).copied().unwrap_or(usize::MAX);
        if at > i {
            wrong.push(format!(
                "{name} of {res_id} at {i} before the {method} reply at {at}"
            ));
        }
        *checked.entry(name).or_default() += 1;
    }
    assert!(wrong.is_empty(), "events before their replies: {wrong:#?}");
    let n = |name: &str| checked.get(name).copied().unwrap_or(0) as u64;
    assert_eq!(n("sys.call.on_ringing"), OUTBOUND, "{checked:?}");
    assert_eq!(n("sys.call.on_dial_completed"), OUTBOUND);
    assert_eq!(n("sys.call.on_answer_completed"), INBOUND);
    assert_eq!(n("sys.call.on_play_completed"), OUTBOUND + INBOUND);
    assert_eq!(n("sys.call.on_released"), OUTBOUND + INBOUND);
}
