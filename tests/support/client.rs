//! Test support: a real WebSocket JSON-RPC client of the gateway's API that keeps
//! the events it sees while waiting for responses, and waits for events with
//! generous deadlines (never fixed sleeps).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

/// How long a test waits for anything the gateway should do promptly.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    events: VecDeque<Value>,
    next_id: u64,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = connect_async_with_config(url, None, true)
            .await
            .expect("websocket connect");
        let mut c = Client {
            ws,
            events: VecDeque::new(),
            next_id: 1,
        };
        // One round trip: once answered, the gateway has registered this connection
        // (incoming calls are offered to it from now on).
        c.ok("sys.call.exists", json!({"res_id": "0.0.0-sys.call-0"}))
            .await;
        c
    }

    /// Send a text frame as is.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_string().into()))
            .await
            .expect("ws send");
    }

    /// Next JSON message that is not an event (a response or a batch response).
    pub async fn next_reply(&mut self) -> Value {
        loop {
            let v = self.recv().await;
            if is_event(&v) {
                self.events.push_back(v);
            } else {
                return v;
            }
        }
    }

    async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a message from the gateway")
                .expect("connection closed")
                .expect("ws error");
            if let Message::Text(t) = msg {
                return serde_json::from_str(&t).expect("gateway sent invalid JSON");
            }
        }
    }

    /// Call `method` with `params`; `Ok(result)` or `Err(error object)`.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_text(&req.to_string()).await;
        let v = self.next_reply().await;
        assert_eq!(v.get("id"), Some(&json!(id)), "unexpected reply {v}");
        assert_eq!(v["jsonrpc"], "2.0");
        match v.get("error") {
            Some(e) => Err(e.clone()),
            None => Ok(v["result"].clone()),
        }
    }

    /// Like `call` but panics on an error.
    pub async fn ok(&mut self, method: &str, params: Value) -> Value {
        match self.call(method, params.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("{method} {params} failed: {e}"),
        }
    }

    /// Like `call` but expects an error with `code`; returns the error object.
    pub async fn err(&mut self, method: &str, params: Value, code: i64) -> Value {
        match self.call(method, params.clone()).await {
            Ok(v) => panic!("{method} {params} succeeded with {v}, expected error {code}"),
            Err(e) => {
                assert_eq!(e["code"], json!(code), "{method} {params}: {e}");
                e
            }
        }
    }

    /// The first event named `sys.call.NAME` (any resource); earlier other events stay queued.
    pub async fn event(&mut self, name: &str) -> Value {
        self.event_where(name, |_| true).await
    }

    /// The first event named `sys.call.NAME` of resource `res_id`.
    pub async fn event_of(&mut self, name: &str, res_id: &str) -> Value {
        let r = res_id.to_string();
        self.event_where(name, move |p| p["res_id"] == json!(r))
            .await
    }

    pub async fn event_where(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let full = if name.contains('.') {
            name.to_string()
        } else {
            format!("sys.call.{name}")
        };
        if let Some(i) = self
            .events
            .iter()
            .position(|e| e["method"] == json!(full) && pred(&e["params"]))
        {
            return self.events.remove(i).expect("index")["params"].clone();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let v = tokio::time::timeout_at(deadline, self.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("timed out waiting for {full}; queued: {:?}", self.events)
                });
            if is_event(&v) && v["method"] == json!(full) && pred(&v["params"]) {
                return v["params"].clone();
            }
            if is_event(&v) {
                self.events.push_back(v);
            } else {
                panic!("unexpected reply {v} while waiting for {full}");
            }
        }
    }

    /// Every event received so far and not yet taken, in arrival order.
    pub fn queued(&self) -> Vec<Value> {
        self.events.iter().cloned().collect()
    }

    /// Names of the events seen for `res_id` (queued ones), in order.
    pub fn queued_names_of(&self, res_id: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["params"]["res_id"] == json!(res_id))
            .map(|e| e["method"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

fn is_event(v: &Value) -> bool {
    v.get("method").is_some() && v.get("id").is_none()
}
