//! A small IVR-style client of the sys.call API, to read in five minutes.
//!
//! It connects to the gateway's JSON-RPC WebSocket, answers every incoming call and
//! hangs it up after `--hangup-after` seconds; with `--dial URI` it also places one
//! outbound call and hangs that up the same way. Every event is printed.
//!
//! ```text
//! cargo run --example ivr -- --url ws://127.0.0.1:8088/rpc --hangup-after 5
//! cargo run --example ivr -- --dial sip:13800138000@127.0.0.1:5080
//! ```

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

struct Args {
    url: String,
    hangup_after: u64,
    dial: Option<String>,
}

fn parse_args() -> Args {
    let mut a = Args {
        url: "ws://127.0.0.1:8088/rpc".into(),
        hangup_after: 10,
        dial: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value(),
            "--hangup-after" => a.hangup_after = value().parse().expect("seconds"),
            "--dial" => a.dial = Some(value()),
            other => panic!("unknown flag {other}"),
        }
    }
    a
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

#[tokio::main]
async fn main() {
    let args = parse_args();
    let (ws, _) = connect_async(args.url.as_str())
        .await
        .expect("connect to the gateway");
    let (mut tx, mut rx) = ws.split();
    let mut rpc = Rpc::default();
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
        tokio::select! {
            Some(res_id) = hangup_rx.recv() => {
                let text = rpc.request("sys.call.drop", json!({"res_id": res_id}), &res_id);
                tx.send(Message::Text(text.into())).await.expect("send");
            }
            msg = rx.next() => {
                let Some(Ok(Message::Text(text))) = msg else { break };
                let v: Value = serde_json::from_str(&text).expect("JSON from the gateway");
                // A response to one of our requests.
                if let Some(id) = v.get("id").and_then(Value::as_u64) {
                    let (method, res_id) = rpc.pending.remove(&id).unwrap_or(("?", String::new()));
                    match v.get("error") {
                        Some(e) => eprintln!("{method} {res_id} failed: {e}"),
                        None => println!("{method} {res_id} -> {}", v["result"]),
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
                        let text = rpc.request(
                            "sys.call.answer",
                            json!({"res_id": res_id, "max_answer_seconds": 3600}),
                            &res_id,
                        );
                        tx.send(Message::Text(text.into())).await.expect("send");
                    }
                    // Answered (inbound) or dialled successfully (outbound): hang up later.
                    "sys.call.on_answer_completed" | "sys.call.on_dial_completed"
                        if p["error"].is_null() =>
                    {
                        let (h, secs) = (hangup_tx.clone(), args.hangup_after);
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_secs(secs)).await;
                            let _ = h.send(res_id);
                        });
                    }
                    _ => {}
                }
            }
        }
    }
}
