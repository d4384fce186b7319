//! A WebSocket JSON-RPC client of the gateway's API.
//!
//! Two layers over one connection:
//! - raw and fallible, for the load generator: [`Client::try_connect`],
//!   [`Client::request`] (send without waiting, returns the id) and [`Client::recv`] (the
//!   next JSON message, reply or event, queued events first; cancel-safe, so it can sit
//!   in a `select!`);
//! - for tests, panicking with context on anything unexpected: [`Client::call`],
//!   [`Client::ok`], [`Client::err`], and the event waits, which keep every event met
//!   while waiting for something else queued in arrival order. Waits have generous
//!   deadlines ([`WAIT`]), never fixed sleeps.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

/// How long a test waits for anything the gateway should do promptly.
pub const WAIT: Duration = Duration::from_secs(30);

/// One API connection.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    events: VecDeque<Value>,
    next_id: u64,
}

/// True for a notification (a method and no id): an event of the gateway.
pub fn is_event(v: &Value) -> bool {
    v.get("method").is_some() && v.get("id").is_none()
}

impl Client {
    /// Connects and makes one round trip; panics on failure.
    pub async fn connect(url: &str) -> Client {
        Client::try_connect(url)
            .await
            .unwrap_or_else(|e| panic!("API connection to {url}: {e:#}"))
    }

    /// Connects (Nagle off) and makes one round trip (`sys.call.exists`): once it is
    /// answered the gateway has registered this connection, and offers it incoming calls.
    pub async fn try_connect(url: &str) -> anyhow::Result<Client> {
        let (ws, _) = connect_async_with_config(url, None, true)
            .await
            .with_context(|| format!("websocket connect to {url}"))?;
        let mut c = Client {
            ws,
            events: VecDeque::new(),
            next_id: 1,
        };
        let hello = async {
            let id = c
                .request("sys.call.exists", json!({"res_id": "0.0.0-sys.call-0"}))
                .await?;
            loop {
                let v = c.read().await?;
                if is_event(&v) {
                    c.events.push_back(v);
                } else if v.get("id") == Some(&json!(id))
                    && v["jsonrpc"] == "2.0"
                    && v.get("error").is_none()
                {
                    return Ok(());
                } else {
                    bail!("unexpected reply to the first request: {v}");
                }
            }
        };
        tokio::time::timeout(WAIT, hello)
            .await
            .with_context(|| format!("no answer from the API at {url}"))??;
        Ok(c)
    }

    /// Sends a text frame as is.
    pub async fn send(&mut self, text: &str) -> anyhow::Result<()> {
        self.ws.send(Message::Text(text.to_string().into())).await?;
        Ok(())
    }

    /// Sends a text frame as is; panics on failure.
    pub async fn send_text(&mut self, text: &str) {
        self.send(text).await.expect("ws send");
    }

    /// Sends a request without waiting for its reply; returns its id.
    pub async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(&req.to_string()).await?;
        Ok(id)
    }

    /// The next JSON message, reply or event: the queued events first (in arrival
    /// order), then what arrives. An error when the connection closed or the message is
    /// not JSON. Cancel-safe.
    pub async fn recv(&mut self) -> anyhow::Result<Value> {
        match self.events.pop_front() {
            Some(v) => Ok(v),
            None => self.read().await,
        }
    }

    /// The next JSON message from the connection (not the queue). Cancel-safe.
    async fn read(&mut self) -> anyhow::Result<Value> {
        loop {
            let msg = self.ws.next().await.context("connection closed")??;
            if let Message::Text(t) = msg {
                return serde_json::from_str(&t).context("the gateway sent invalid JSON");
            }
        }
    }

    async fn read_or_panic(&mut self) -> Value {
        self.read().await.unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// The next message that is not an event (a response or a batch response); events
    /// met on the way are queued.
    pub async fn next_reply(&mut self) -> Value {
        loop {
            let v = tokio::time::timeout(WAIT, self.read_or_panic())
                .await
                .expect("timed out waiting for a message from the gateway");
            if is_event(&v) {
                self.events.push_back(v);
            } else {
                return v;
            }
        }
    }

    /// Calls `method` with `params`; `Ok(result)` or `Err(error object)`.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.request(method, params).await.expect("ws send");
        let v = self.next_reply().await;
        assert_eq!(v.get("id"), Some(&json!(id)), "unexpected reply {v}");
        assert_eq!(v["jsonrpc"], "2.0");
        match v.get("error") {
            Some(e) => Err(e.clone()),
            None => Ok(v["result"].clone()),
        }
    }

    /// Like [`Client::call`] but panics on an error.
    pub async fn ok(&mut self, method: &str, params: Value) -> Value {
        match self.call(method, params.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("{method} {params} failed: {e}"),
        }
    }

    /// Like [`Client::call`] but expects an error with `code`; returns the error object.
    pub async fn err(&mut self, method: &str, params: Value, code: i64) -> Value {
        match self.call(method, params.clone()).await {
            Ok(v) => panic!("{method} {params} succeeded with {v}, expected error {code}"),
            Err(e) => {
                assert_eq!(e["code"], json!(code), "{method} {params}: {e}");
                e
            }
        }
    }

    /// The params of the first event named `sys.call.NAME` (any resource); earlier other
    /// events stay queued.
    pub async fn event(&mut self, name: &str) -> Value {
        self.event_where(name, |_| true).await
    }

    /// The first event named `sys.call.NAME` of resource `res_id`.
    pub async fn event_of(&mut self, name: &str, res_id: &str) -> Value {
        let r = res_id.to_string();
        self.event_where(name, move |p| p["res_id"] == json!(r))
            .await
    }

    /// As [`Client::event_of`], waiting up to `limit` (timers of a minute or more).
    pub async fn event_of_within(&mut self, name: &str, res_id: &str, limit: Duration) -> Value {
        let r = res_id.to_string();
        self.event_where_within(name, move |p| p["res_id"] == json!(r), limit)
            .await
    }

    /// The first event named `NAME` (`sys.call.` implied without a dot) whose params
    /// satisfy `pred`.
    pub async fn event_where(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.event_where_within(name, pred, WAIT).await
    }

    /// As [`Client::event_where`], waiting up to `limit`. A reply arriving meanwhile is a
    /// test failure.
    pub async fn event_where_within(
        &mut self,
        name: &str,
        pred: impl Fn(&Value) -> bool,
        limit: Duration,
    ) -> Value {
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
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let v = tokio::time::timeout_at(deadline, self.read_or_panic())
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

    /// Names of the queued events of `res_id`, in order.
    pub fn queued_names_of(&self, res_id: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["params"]["res_id"] == json!(res_id))
            .map(|e| e["method"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Closes the connection (the gateway then offers calls elsewhere).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
