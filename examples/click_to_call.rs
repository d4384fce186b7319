//! Click-to-call over the sys.call API: dial A, then dial B on A's behalf (A hears a
//! ring-back while B rings), bridge the two and record the conversation.
//!
//! 1. `sys.call.construct` to `--a`; when it answers (`on_dial_completed` without error):
//! 2. `sys.call.construct` to `--b` with `parent_call_res_id` = A, `ring_play_file` and
//!    `ring_play_mode` 1 (the file until B's early media; A hears B's ringing itself when B
//!    sends it);
//! 3. when B answers, `sys.call.connect_start` joins A with B, recorded to `--record`
//!    (stereo: A left, B right) and limited to `--max-seconds`;
//! 4. when either side hangs up, or the connection ends, the other is hung up; the program
//!    exits once both calls are released, printing `bridged SECONDS RECORD_PATH` if they
//!    talked.
//!
//! Every event is printed as it arrives. Exit status 0 when A and B were bridged, 1 if the
//! call never got that far (A or B did not answer).
//!
//! ```text
//! cargo run --example click_to_call -- --a sip:1001@10.0.0.5 --b sip:13800138000@trunk \
//!     --ring-file ring.wav --record call.wav
//! ```

use std::collections::HashMap;
use std::process::ExitCode;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async_with_config;
use tokio_tungstenite::tungstenite::Message;

/// Click-to-call: dial A, dial B with ring-back to A, bridge them, record.
#[derive(clap::Parser, Debug)]
#[command(name = "click_to_call")]
struct Args {
    /// The gateway's JSON-RPC WebSocket.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:8088/rpc")]
    url: String,
    /// The first party (called first; hears the ring-back).
    #[arg(long, value_name = "URI")]
    a: String,
    /// The second party.
    #[arg(long, value_name = "URI")]
    b: String,
    /// Ring-back file A hears while B rings (under the gateway's media root). Without it
    /// A hears B's own ringing or early media, if any.
    #[arg(long, value_name = "FILE")]
    ring_file: Option<String>,
    /// Record the conversation to this file (under the gateway's record root), stereo.
    #[arg(long, value_name = "FILE")]
    record: Option<String>,
    /// Longest conversation, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    max_seconds: u64,
    /// How long each party may ring, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    ring_seconds: u64,
}

/// What the program waits for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    DialA,
    DialB,
    Connect,
    Talking,
    Ending,
}

/// Numbers our requests and remembers each one's method, to explain its response.
#[derive(Default)]
struct Rpc {
    next_id: u64,
    pending: HashMap<u64, &'static str>,
}

impl Rpc {
    fn request(&mut self, method: &'static str, params: Value) -> String {
        self.next_id += 1;
        self.pending.insert(self.next_id, method);
        json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
            .to_string()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = <Args as clap::Parser>::parse();
    let (ws, _) = match connect_async_with_config(args.url.as_str(), None, true).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("cannot connect to {}: {e}", args.url);
            return ExitCode::from(2);
        }
    };
    let (mut tx, mut rx) = ws.split();
    let mut rpc = Rpc::default();

    let mut step = Step::DialA;
    let mut a: Option<String> = None;
    let mut b: Option<String> = None;
    let mut live = 0u32;
    let mut bridged: Option<f64> = None;
    let mut record_path = String::new();
    let first = rpc.request(
        "sys.call.construct",
        json!({"to_uri": args.a, "max_answer_seconds": args.ring_seconds, "user_data": "A"}),
    );
    if tx.send(Message::Text(first.into())).await.is_err() {
        eprintln!("the gateway closed the connection");
        return ExitCode::from(2);
    }

    while let Some(msg) = rx.next().await {
        let text = match msg {
            Ok(Message::Text(text)) => text,
            Ok(_) => continue,
            Err(e) => {
                eprintln!("connection lost: {e}");
                break;
            }
        };
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("not JSON from the gateway ({e}): {text}");
                continue;
            }
        };
        let mut out: Vec<String> = Vec::new();
        if let Some(id) = v.get("id").and_then(Value::as_u64) {
            let method = rpc.pending.remove(&id).unwrap_or("?");
            if let Some(e) = v.get("error") {
                eprintln!("{method} failed: {e}");
                // A refused request ends the attempt: hang up whoever is up.
                step = Step::Ending;
                for id in [&a, &b].into_iter().flatten() {
                    out.push(rpc.request("sys.call.drop", json!({"res_id": id})));
                }
                if live == 0 && method == "sys.call.construct" && a.is_none() {
                    return ExitCode::from(1);
                }
            } else {
                println!("{method} -> {}", v["result"]);
                if method == "sys.call.connect_start" {
                    // Answered once joined: with the recording's full path, if any.
                    step = Step::Talking;
                    record_path = v["result"].as_str().unwrap_or_default().to_string();
                }
                if method == "sys.call.construct" {
                    let id = v["result"]["res_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    live += 1;
                    match step {
                        Step::DialA => a = Some(id),
                        _ => b = Some(id),
                    }
                }
            }
        } else {
            let event = v["method"].as_str().unwrap_or_default();
            let p = &v["params"];
            let res_id = p["res_id"].as_str().unwrap_or_default();
            println!("event {event} {p}");
            let is_a = a.as_deref() == Some(res_id);
            let ok = p["error"].is_null();
            match (event, step) {
                ("sys.call.on_dial_completed", Step::DialA) if is_a && ok => {
                    step = Step::DialB;
                    let mut params = json!({"to_uri": args.b, "max_answer_seconds": args.ring_seconds,
                                            "parent_call_res_id": res_id, "user_data": "B"});
                    if let Some(f) = &args.ring_file {
                        params["ring_play_file"] = json!(f);
                        params["ring_play_mode"] = json!(1);
                    }
                    out.push(rpc.request("sys.call.construct", params));
                }
                ("sys.call.on_dial_completed", Step::DialB) if !is_a && ok => {
                    step = Step::Connect;
                    let mut params = json!({"res_id": a, "call_res_id": res_id,
                                            "max_seconds": args.max_seconds});
                    if let Some(f) = &args.record {
                        params["record_file"] = json!(f);
                        params["record_format"] = json!(16);
                    }
                    out.push(rpc.request("sys.call.connect_start", params));
                }
                ("sys.call.on_connect_completed", _) => {
                    let (begin, end) = (p["begin_time"].as_f64(), p["end_time"].as_f64());
                    bridged = Some(end.zip(begin).map_or(0.0, |(e, b)| e - b));
                    step = Step::Ending;
                    for id in [&a, &b].into_iter().flatten() {
                        out.push(rpc.request("sys.call.drop", json!({"res_id": id})));
                    }
                }
                ("sys.call.on_dial_completed", _) if !ok => {
                    // A or B did not answer: hang up the other.
                    step = Step::Ending;
                    for id in [&a, &b].into_iter().flatten() {
                        if id != res_id {
                            out.push(rpc.request("sys.call.drop", json!({"res_id": id})));
                        }
                    }
                }
                ("sys.call.on_released", _) => {
                    live = live.saturating_sub(1);
                    if step != Step::Ending {
                        step = Step::Ending;
                        for id in [&a, &b].into_iter().flatten() {
                            if id != res_id {
                                out.push(rpc.request("sys.call.drop", json!({"res_id": id})));
                            }
                        }
                    }
                    if live == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        for text in out {
            if tx.send(Message::Text(text.into())).await.is_err() {
                eprintln!("the gateway closed the connection");
                return ExitCode::from(2);
            }
        }
    }
    match bridged {
        Some(secs) => {
            println!("bridged {secs:.1} {record_path}");
            ExitCode::SUCCESS
        }
        None => ExitCode::from(1),
    }
}
