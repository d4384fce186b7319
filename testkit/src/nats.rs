//! A real `nats-server` (Debian's `nats-server`) on a free loopback port, stopped on
//! drop, and [`BusApp`]: an application instance on the control bus as an application
//! would write one (requests on `mediagw.<node>.rpc`, offers taken in a queue group on
//! `mediagw.incoming`, each event of a taken call acknowledged), driven step by step by a
//! test. Its pieces ([`take_offers`] with an [`OfferTaker`], [`watch_into`], [`rpc`]) also
//! serve [`BusIvr`](crate::BusIvr), the instance that runs calls by itself.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::Duration;

use futures_util::StreamExt;
use mediagw::engine::res_id;
use mediagw::server::nats::subjects;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A running nats-server.
pub struct NatsServer {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

fn binary() -> &'static str {
    [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("nats-server is not installed: run tests/setup.sh (it installs nats-server)")
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl NatsServer {
    /// A server on a free loopback port, ready to take clients.
    pub fn start() -> NatsServer {
        for _ in 0..5 {
            if let Some(s) = Self::try_start() {
                return s;
            }
        }
        panic!("nats-server did not start on any of 5 ports");
    }

    fn try_start() -> Option<NatsServer> {
        let port = free_tcp_port();
        let mut child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nats-server");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std_mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Server is ready") {
                    let _ = tx.send(true);
                }
                log2.lock().expect("log").push(line);
            }
            let _ = tx.send(false);
        });
        if rx.recv_timeout(Duration::from_secs(10)) == Ok(true) {
            Some(NatsServer { child, port, log })
        } else {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// What it logged.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a [`BusApp`] waits for a reply or an event by default.
pub const WAIT: Duration = Duration::from_secs(20);

/// One application instance on the bus.
pub struct BusApp {
    pub client: async_nats::Client,
    /// Offers this instance took (the `on_incoming` params), in order.
    offers: mpsc::UnboundedReceiver<Value>,
    offers_tx: mpsc::UnboundedSender<Value>,
    /// Events of the calls it watches, as received (whole notifications).
    events: mpsc::UnboundedReceiver<Value>,
    events_tx: mpsc::UnboundedSender<Value>,
    queued: VecDeque<Value>,
    next_id: AtomicU64,
    /// Every task of this instance (offers, events), aborted when it stops.
    tasks: Tasks,
}

/// The tasks of an application instance, aborted when it stops.
pub type Tasks = Arc<Mutex<Vec<tokio::task::AbortHandle>>>;

impl BusApp {
    pub async fn connect(url: &str) -> BusApp {
        let client = async_nats::connect(url).await.expect("connect to NATS");
        let (offers_tx, offers) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        BusApp {
            client,
            offers,
            offers_tx,
            events,
            events_tx,
            queued: VecDeque::new(),
            next_id: AtomicU64::new(1),
            tasks: Tasks::default(),
        }
    }

    /// Waits (bounded) for a heartbeat of `node`: it is on the bus.
    pub async fn wait_node(&self, node: &str) {
        let mut sub = self
            .client
            .subscribe(subjects::heartbeat(node))
            .await
            .expect("subscribe");
        tokio::time::timeout(WAIT, sub.next())
            .await
            .unwrap_or_else(|_| panic!("no heartbeat of node {node}"))
            .expect("heartbeat");
    }

    /// Takes inbound call offers in queue group `group`: for each, subscribes to the
    /// call's events (acknowledging each) and then claims it by replying.
    pub async fn take_offers(&mut self, group: &str) {
        let taker = Queued {
            offers: self.offers_tx.clone(),
            events: self.events_tx.clone(),
        };
        let task = take_offers(&self.client, group, self.tasks.clone(), taker).await;
        self.tasks.lock().expect("tasks").push(task);
    }

    /// Stops taking offers and watching events (as an instance that stops would; its
    /// NATS connection stays).
    pub fn stop_tasks(&mut self) {
        for t in self.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
    }

    /// Subscribes to the events of `res_id` (acknowledging each).
    pub async fn watch(&mut self, res_id: &str) {
        let w = watch_into(&self.client, res_id, self.events_tx.clone()).await;
        self.tasks.lock().expect("tasks").push(w);
        self.client.flush().await.expect("flush");
    }

    /// The next offer taken.
    pub async fn offer(&mut self) -> Value {
        tokio::time::timeout(WAIT, self.offers.recv())
            .await
            .expect("no offer taken in time")
            .expect("offers")
    }

    /// An offer taken within `limit`, if any.
    pub async fn offer_within(&mut self, limit: Duration) -> Option<Value> {
        tokio::time::timeout(limit, self.offers.recv())
            .await
            .ok()
            .flatten()
    }

    /// Sends `body` to `node`'s subject; the reply as JSON.
    pub async fn raw(&self, node: &str, body: String) -> anyhow::Result<Value> {
        raw(&self.client, node, body).await
    }

    /// Calls `method` on `node`; `Ok(result)` or `Err(error object)`.
    pub async fn call_on(&self, node: &str, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        rpc(&self.client, node, id, method, params)
            .await
            .expect("bus request")
    }

    /// Calls `method` about `params.res_id` on the node that res_id names.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, Value> {
        let r = params["res_id"].as_str().expect("res_id").to_string();
        let node = res_id::node_of(&r).expect("a res_id naming its node");
        self.call_on(node, method, params).await
    }

    /// Like [`BusApp::call`], panicking on an error.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        match self.call(method, params.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("{method} {params} failed: {e}"),
        }
    }

    /// The params of the first event `sys.call.NAME` of `res_id`, waiting up to
    /// `limit`; other events stay queued.
    pub async fn event_within(&mut self, name: &str, res: &str, limit: Duration) -> Option<Value> {
        let method = format!("sys.call.{name}");
        let is = |v: &Value| v["method"] == json!(method) && v["params"]["res_id"] == json!(res);
        if let Some(i) = self.queued.iter().position(is) {
            return self.queued.remove(i).map(|v| v["params"].clone());
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let v = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .ok()
                .flatten()?;
            if is(&v) {
                return Some(v["params"].clone());
            }
            self.queued.push_back(v);
        }
    }

    /// Like [`BusApp::event_within`] with [`WAIT`], panicking when none comes.
    pub async fn event(&mut self, name: &str, res: &str) -> Value {
        match self.event_within(name, res, WAIT).await {
            Some(v) => v,
            None => panic!(
                "no {name} of {res} within {WAIT:?}; queued: {:?}",
                self.queued
            ),
        }
    }

    /// The names of the events of `res_id` received so far and not taken, in order.
    pub fn queued_names_of(&mut self, res: &str) -> Vec<String> {
        while let Ok(v) = self.events.try_recv() {
            self.queued.push_back(v);
        }
        self.queued
            .iter()
            .filter(|v| v["params"]["res_id"] == json!(res))
            .filter_map(|v| v["method"].as_str().map(String::from))
            .collect()
    }
}

impl Drop for BusApp {
    fn drop(&mut self) {
        self.stop_tasks();
    }
}

/// Subscribes to `res`'s events subject, acknowledging each event into `events`.
pub async fn watch_into(
    client: &async_nats::Client,
    res: &str,
    events: mpsc::UnboundedSender<Value>,
) -> tokio::task::AbortHandle {
    let node = res_id::node_of(res).expect("a res_id naming its node");
    let mut sub = client
        .subscribe(subjects::events(node, res))
        .await
        .expect("subscribe");
    let client = client.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            if let Some(reply) = msg.reply {
                let _ = client.publish(reply, "".into()).await;
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&msg.payload)
                && events.send(v).is_err()
            {
                break;
            }
        }
    })
    .abort_handle()
}

/// What an application instance does with the offers it takes (see [`take_offers`]).
pub trait OfferTaker: Send + 'static {
    /// Where the events of the call offered go; asked before the call is claimed (the
    /// subscription to its events exists before the claim).
    fn events_for(&mut self, offer: &Value) -> mpsc::UnboundedSender<Value>;
    /// The call of `offer` (its `on_incoming` params) is claimed.
    fn claimed(&mut self, offer: Value);
}

/// [`BusApp`]'s taker: offers and events queued for the test to read.
struct Queued {
    offers: mpsc::UnboundedSender<Value>,
    events: mpsc::UnboundedSender<Value>,
}

impl OfferTaker for Queued {
    fn events_for(&mut self, _offer: &Value) -> mpsc::UnboundedSender<Value> {
        self.events.clone()
    }

    fn claimed(&mut self, offer: Value) {
        let _ = self.offers.send(offer);
    }
}

/// Takes inbound call offers in queue group `group` on `client`: for each, subscribes to
/// the call's events (acknowledging each, into [`OfferTaker::events_for`]'s channel; the
/// watch joins `tasks`), claims it by replying, and hands it to `taker`. The task that
/// takes them; the subscription has reached the server when this returns.
pub async fn take_offers(
    client: &async_nats::Client,
    group: &str,
    tasks: Tasks,
    mut taker: impl OfferTaker,
) -> tokio::task::AbortHandle {
    let mut sub = client
        .queue_subscribe(subjects::INCOMING, group.to_string())
        .await
        .expect("queue subscribe");
    let client2 = client.clone();
    let task = tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Ok(v) = serde_json::from_slice::<Value>(&msg.payload) else {
                continue;
            };
            let params = v["params"].clone();
            let Some(res) = params["res_id"].as_str() else {
                continue;
            };
            let w = watch_into(&client2, res, taker.events_for(&params)).await;
            tasks.lock().expect("tasks").push(w);
            if let Some(reply) = msg.reply {
                let _ = client2.publish(reply, "".into()).await;
            }
            taker.claimed(params);
        }
    });
    client.flush().await.expect("flush");
    task.abort_handle()
}

/// Sends `body` to `node`'s rpc subject; the reply as JSON.
pub async fn raw(client: &async_nats::Client, node: &str, body: String) -> anyhow::Result<Value> {
    let req = async_nats::Request::new()
        .payload(body.into())
        .timeout(Some(WAIT));
    let m = client
        .send_request(subjects::rpc(node), req)
        .await
        .map_err(|e| anyhow::anyhow!("request to {node}: {e}"))?;
    Ok(serde_json::from_slice(&m.payload)?)
}

/// Calls `method` on `node` with JSON-RPC id `id`: `Ok(Ok(result))`, `Ok(Err(error
/// object))`, or `Err` when the bus gave no reply (or one with another id).
pub async fn rpc(
    client: &async_nats::Client,
    node: &str,
    id: u64,
    method: &str,
    params: Value,
) -> anyhow::Result<Result<Value, Value>> {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let v = raw(client, node, body.to_string()).await?;
    anyhow::ensure!(v["id"] == json!(id), "reply {v} to request {id}");
    Ok(match v.get("error") {
        Some(e) => Err(e.clone()),
        None => Ok(v["result"].clone()),
    })
}
