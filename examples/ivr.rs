//! A small IVR-style client of the sys.call API, to read in five minutes.
//!
//! It connects to the gateway's JSON-RPC WebSocket and answers every incoming call.
//! Without `--script` it hangs each call up after `--hangup-after` seconds. With
//! `--script` each call runs a little voice menu:
//!
//! 1. read the caller's number back, digit by digit (content type 1);
//! 2. record a message (beep first, `#` or 5 s ends it);
//! 3. play the message back;
//! 4. read today's date (type 4);
//! 5. collect up to 4 digits ending with `#` and read them back as a number (type 2);
//! 6. hang up.
//!
//! With `--dial URI` it also places one outbound call (hung up after `--hangup-after`).
//! Every event is printed; each phase of the menu prints `phase NAME RES_ID`.
//!
//! ```text
//! cargo run --example ivr -- --url ws://127.0.0.1:8088/rpc --script
//! cargo run --example ivr -- --dial sip:13800138000@127.0.0.1:5080 --hangup-after 5
//! ```

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async_with_config;
use tokio_tungstenite::tungstenite::Message;

/// A small IVR-style client of the mediagw sys.call API: answers every incoming call,
/// optionally runs a voice menu on it, optionally places one outbound call.
#[derive(clap::Parser, Debug)]
#[command(name = "ivr")]
struct Args {
    /// The gateway's JSON-RPC WebSocket.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:8088/rpc")]
    url: String,
    /// Hang each call up after this many seconds (without --script; and the dialled call).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    hangup_after: u64,
    /// Also place one outbound call to this SIP URI.
    #[arg(long, value_name = "URI")]
    dial: Option<String>,
    /// Run the voice menu on each answered call (read number, record, play back, date,
    /// collect digits, hang up).
    #[arg(long)]
    script: bool,
}

/// Where a call is in the voice menu.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    ReadNumber,
    Record,
    PlayBack,
    ReadDate,
    Collect,
    ReadDigits,
    Done,
}

/// Numbers our requests and remembers what each one was, to explain its response.
#[derive(Default)]
struct Rpc {
    next_id: u64,
    pending: HashMap<u64, (&'static str, String)>,
}

impl Rpc {
    fn request(&mut self, method: &'static str, params: Value, res_id: &str) -> String {
        self.next_id += 1;
        self.pending
            .insert(self.next_id, (method, res_id.to_string()));
        json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
            .to_string()
    }
}

/// Today as `YYYY-mm-dd` (UTC), for content type 4.
fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y}-{m:02}-{d:02}")
}

#[tokio::main]
async fn main() {
    let args = <Args as clap::Parser>::parse();
    let (ws, _) = connect_async_with_config(args.url.as_str(), None, true)
        .await
        .expect("connect to the gateway");
    let (mut tx, mut rx) = ws.split();
    let mut rpc = Rpc::default();
    let mut phases: HashMap<String, Phase> = HashMap::new();
    let mut callers: HashMap<String, String> = HashMap::new();
    let mut records: HashMap<String, String> = HashMap::new();
    // Hang-ups are scheduled on this channel by timers.
    let (hangup_tx, mut hangup_rx) = tokio::sync::mpsc::unbounded_channel::<String>();

    if let Some(uri) = &args.dial {
        let text = rpc.request(
            "sys.call.construct",
            json!({"to_uri": uri, "max_answer_seconds": 3600, "user_data": "ivr-dial"}),
            "",
        );
        tx.send(Message::Text(text.into())).await.expect("send");
    }

    loop {
        let mut out: Vec<String> = Vec::new();
        tokio::select! {
            Some(res_id) = hangup_rx.recv() => {
                out.push(rpc.request("sys.call.drop", json!({"res_id": res_id}), &res_id));
            }
            msg = rx.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(text))) => text,
                    // Pings (answered by the library), pongs, binary: nothing to do.
                    Some(Ok(_)) => continue,
                    None | Some(Err(_)) => break,
                };
                let v: Value = serde_json::from_str(&text).expect("JSON from the gateway");
                // A response to one of our requests.
                if let Some(id) = v.get("id").and_then(Value::as_u64) {
                    let (method, res_id) = rpc.pending.remove(&id).unwrap_or(("?", String::new()));
                    match v.get("error") {
                        Some(e) => eprintln!("{method} {res_id} failed: {e}"),
                        None => println!("{method} {res_id} -> {}", v["result"]),
                    }
                    if method == "sys.call.record_start" && let Some(path) = v["result"].as_str() {
                        records.insert(res_id, path.to_string());
                    }
                    continue;
                }
                // An event.
                let event = v["method"].as_str().unwrap_or_default();
                let p = &v["params"];
                let res_id = p["res_id"].as_str().unwrap_or_default().to_string();
                println!("event {event} {p}");
                match event {
                    "sys.call.on_incoming" => {
                        // The caller's number: the user part of from_uri.
                        let from = p["from_uri"].as_str().unwrap_or_default();
                        let user = from.trim_start_matches("sip:").split('@').next().unwrap_or("");
                        callers.insert(res_id.clone(), user.chars().filter(char::is_ascii_digit).collect());
                        out.push(rpc.request("sys.call.answer", json!({"res_id": res_id, "max_answer_seconds": 3600}), &res_id));
                    }
                    "sys.call.on_answer_completed" | "sys.call.on_dial_completed" if p["error"].is_null() => {
                        if args.script && event == "sys.call.on_answer_completed" {
                            let number = callers.get(&res_id).cloned().unwrap_or_default();
                            let number = if number.is_empty() { "0".to_string() } else { number };
                            phases.insert(res_id.clone(), Phase::ReadNumber);
                            println!("phase ReadNumber {res_id}");
                            out.push(rpc.request("sys.call.play_start", json!({"res_id": res_id, "content": [[number, 1, ""]]}), &res_id));
                        } else {
                            let (h, secs) = (hangup_tx.clone(), args.hangup_after);
                            tokio::spawn(async move {
                                tokio::time::sleep(Duration::from_secs(secs)).await;
                                let _ = h.send(res_id);
                            });
                        }
                    }
                    "sys.call.on_play_completed" | "sys.call.on_record_completed" | "sys.call.on_receive_dtmf_completed" => {
                        let Some(phase) = phases.get(&res_id).copied() else { continue };
                        let (next, method, params) = match phase {
                            Phase::ReadNumber => (Phase::Record, "sys.call.record_start",
                                json!({"res_id": res_id, "max_seconds": 5, "beep": true, "finish_keys": "#"})),
                            Phase::Record => (Phase::PlayBack, "sys.call.play_start",
                                json!({"res_id": res_id, "content": records.get(&res_id).cloned().unwrap_or_default()})),
                            Phase::PlayBack => (Phase::ReadDate, "sys.call.play_start",
                                json!({"res_id": res_id, "content": [[today(), 4, ""]]})),
                            Phase::ReadDate => (Phase::Collect, "sys.call.receive_dtmf_start",
                                json!({"res_id": res_id, "max_keys": 4, "finish_keys": "#", "first_key_timeout": 10})),
                            Phase::Collect => {
                                let keys = p["keys"].as_str().unwrap_or_default();
                                println!("keys {keys} {res_id}");
                                let keys = if keys.is_empty() { "0" } else { keys };
                                (Phase::ReadDigits, "sys.call.play_start",
                                 json!({"res_id": res_id, "content": [[keys, 2, ""]]}))
                            }
                            Phase::ReadDigits | Phase::Done => (Phase::Done, "sys.call.drop", json!({"res_id": res_id})),
                        };
                        println!("phase {next:?} {res_id}");
                        phases.insert(res_id.clone(), next);
                        out.push(rpc.request(method, params, &res_id));
                    }
                    "sys.call.on_released" => {
                        phases.remove(&res_id);
                        callers.remove(&res_id);
                        records.remove(&res_id);
                    }
                    _ => {}
                }
            }
        }
        for text in out {
            tx.send(Message::Text(text.into())).await.expect("send");
        }
    }
}
