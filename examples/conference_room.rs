//! A PIN-protected conference room over the sys.call / sys.conf API, with a moderator
//! and a recording.
//!
//! 1. At start: `sys.conf.construct` (the room lives `--max-seconds`), then, with
//!    `--record`, `sys.conf.record_start` (16-bit PCM, the whole mix).
//! 2. Every incoming call is answered and asked for its PIN
//!    (`sys.call.receive_dtmf_start`, ended by `#` or the PIN's length).
//! 3. The participants' PIN (`--pin`) enters the room talking and listening
//!    (`sys.call.conf_enter`, voice mode 1); the moderator's PIN (`--moderator-pin`)
//!    enters too, and while a moderator is in the room everyone else is muted
//!    (`sys.conf.set_voice_mode` 3, listen only; participants entering meanwhile enter
//!    muted) — a lecture. When the moderator hangs up, everyone may talk again (mode 1).
//!    A wrong PIN is hung up.
//! 4. When the room's time is over (`sys.conf.on_released`), the callers still in it are
//!    hung up and the program exits 0, printing `recorded PATH` (with `--record`).
//!
//! Every event is printed as it arrives.
//!
//! ```text
//! cargo run --example conference_room -- --pin 1234 --moderator-pin 9999 \
//!     --record room.wav --max-seconds 3600
//! ```

use std::collections::HashMap;
use std::process::ExitCode;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async_with_config;
use tokio_tungstenite::tungstenite::Message;

/// A PIN-protected conference room with a moderator, recorded.
#[derive(clap::Parser, Debug)]
#[command(name = "conference_room")]
struct Args {
    /// The gateway's JSON-RPC WebSocket.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:8088/rpc")]
    url: String,
    /// The participants' PIN (digits).
    #[arg(long)]
    pin: String,
    /// The moderator's PIN (digits): while the moderator is in, the others only listen.
    #[arg(long)]
    moderator_pin: String,
    /// Record the room's mix to this file (under the gateway's record root).
    #[arg(long, value_name = "FILE")]
    record: Option<String>,
    /// How long the room lives, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    max_seconds: u64,
}

/// Where a caller is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    /// Answering, or typing its PIN.
    Entering,
    /// In the room as a participant.
    Participant,
    /// In the room as the moderator.
    Moderator,
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

/// The room: its resource id, the callers, and what to ask next.
struct Room {
    args: Args,
    conf: Option<String>,
    callers: HashMap<String, Caller>,
    record_path: String,
    rpc: Rpc,
    out: Vec<String>,
}

impl Room {
    fn moderated(&self) -> bool {
        self.callers.values().any(|c| *c == Caller::Moderator)
    }

    /// Every participant's voice mode: 3 (listen only) while a moderator is in, else 1.
    fn set_participants(&mut self) {
        let mode = if self.moderated() { 3 } else { 1 };
        let Some(conf) = self.conf.clone() else {
            return;
        };
        let ids: Vec<String> = self
            .callers
            .iter()
            .filter(|(_, c)| **c == Caller::Participant)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let p = json!({"res_id": conf, "call_res_id": id, "voice_mode": mode});
            self.out
                .push(self.rpc.request("sys.conf.set_voice_mode", p));
        }
    }

    /// `id` typed `keys`: it enters, or is hung up.
    fn pin_typed(&mut self, id: &str, keys: &str) {
        let keys = keys.trim_end_matches('#');
        let role = if keys == self.args.moderator_pin {
            Caller::Moderator
        } else if keys == self.args.pin {
            Caller::Participant
        } else {
            println!("wrong PIN from {id}");
            self.out
                .push(self.rpc.request("sys.call.drop", json!({"res_id": id})));
            return;
        };
        let Some(conf) = self.conf.clone() else {
            return;
        };
        let mode = if role == Caller::Participant && self.moderated() {
            3
        } else {
            1
        };
        self.callers.insert(id.to_string(), role);
        let p = json!({"res_id": id, "conf_res_id": conf, "max_seconds": self.args.max_seconds,
                       "voice_mode": mode});
        self.out.push(self.rpc.request("sys.call.conf_enter", p));
        if role == Caller::Moderator {
            self.set_participants();
        }
    }

    /// One event from the gateway; returns false when the program is done.
    fn event(&mut self, event: &str, p: &Value) -> bool {
        let res_id = p["res_id"].as_str().unwrap_or_default().to_string();
        let ok = p["error"].is_null();
        match event {
            "sys.call.on_incoming" => {
                self.callers.insert(res_id.clone(), Caller::Entering);
                let p = json!({"res_id": res_id, "max_answer_seconds": 30});
                self.out.push(self.rpc.request("sys.call.answer", p));
            }
            "sys.call.on_answer_completed" if ok => {
                let len = self.args.pin.len().max(self.args.moderator_pin.len());
                let p = json!({"res_id": res_id, "max_keys": len + 1, "finish_keys": "#",
                               "first_key_timeout": 20, "continues_keys_timeout": 5});
                self.out
                    .push(self.rpc.request("sys.call.receive_dtmf_start", p));
            }
            "sys.call.on_receive_dtmf_completed" => {
                let keys = p["keys"].as_str().unwrap_or_default().to_string();
                self.pin_typed(&res_id, &keys);
            }
            "sys.call.on_released" => {
                // The last moderator gone: everyone may talk again.
                let was = self.callers.remove(&res_id);
                if was == Some(Caller::Moderator) && !self.moderated() {
                    self.set_participants();
                }
            }
            "sys.conf.on_released" => {
                for id in self.callers.keys() {
                    let p = json!({"res_id": id});
                    self.out.push(self.rpc.request("sys.call.drop", p));
                }
                return false;
            }
            _ => {}
        }
        true
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
    let mut room = Room {
        args,
        conf: None,
        callers: HashMap::new(),
        record_path: String::new(),
        rpc: Rpc::default(),
        out: Vec::new(),
    };
    let first = room.rpc.request(
        "sys.conf.construct",
        json!({"max_seconds": room.args.max_seconds, "user_data": "room"}),
    );
    if tx.send(Message::Text(first.into())).await.is_err() {
        eprintln!("the gateway closed the connection");
        return ExitCode::from(2);
    }
    let mut running = true;
    while running {
        let Some(msg) = rx.next().await else { break };
        let text = match msg {
            Ok(Message::Text(text)) => text,
            Ok(_) => continue,
            Err(e) => {
                eprintln!("connection lost: {e}");
                return ExitCode::from(2);
            }
        };
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("not JSON from the gateway ({e}): {text}");
                continue;
            }
        };
        if let Some(id) = v.get("id").and_then(Value::as_u64) {
            let method = room.rpc.pending.remove(&id).unwrap_or("?");
            if let Some(e) = v.get("error") {
                eprintln!("{method} failed: {e}");
                if method == "sys.conf.construct" {
                    return ExitCode::from(1);
                }
                continue;
            }
            println!("{method} -> {}", v["result"]);
            match method {
                "sys.conf.construct" => {
                    let conf = v["result"]["res_id"].as_str().unwrap_or_default();
                    room.conf = Some(conf.to_string());
                    println!("room {conf} open");
                    if let Some(file) = room.args.record.clone() {
                        let p = json!({"res_id": conf, "max_seconds": room.args.max_seconds,
                                       "record_file": file, "record_format": 16});
                        room.out.push(room.rpc.request("sys.conf.record_start", p));
                    }
                }
                "sys.conf.record_start" => {
                    room.record_path = v["result"].as_str().unwrap_or_default().to_string();
                }
                _ => {}
            }
        } else {
            let event = v["method"].as_str().unwrap_or_default();
            println!("event {event} {}", v["params"]);
            running = room.event(event, &v["params"]);
        }
        for text in std::mem::take(&mut room.out) {
            if tx.send(Message::Text(text.into())).await.is_err() {
                eprintln!("the gateway closed the connection");
                return ExitCode::from(2);
            }
        }
    }
    if !room.record_path.is_empty() {
        println!("recorded {}", room.record_path);
    }
    ExitCode::SUCCESS
}
