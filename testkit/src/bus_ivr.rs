//! [`BusIvr`]: an application instance on the NATS control bus that serves many calls at
//! once by itself (one task per call), as a deployed IVR would, and records what happened
//! to each call for the test to check. For each offer it takes in its queue group it
//! answers, plays a prompt while collecting one digit, reads the digit back and hangs up;
//! or, for an offer from a node its [`Plan`] names, it redirects the call
//! (`sys.call.redirect`) instead. Every event is acknowledged.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mediagw::engine::res_id;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::nats::{OfferTaker, Tasks, rpc, take_offers};

/// What the instance does with the calls it takes.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The prompt played while collecting (a `play_content` list).
    pub prompt: Value,
    /// `first_key_timeout` of the collection, seconds.
    pub first_key_timeout: u32,
    /// Hang up once the digit has been read back (else the caller or the node ends it).
    pub hang_up: bool,
    /// `(node, redirect_uri)`: offers from `node` are redirected there, not answered.
    pub redirect: Vec<(String, String)>,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            prompt: json!([["5", 1, ""]]),
            first_key_timeout: 30,
            hang_up: true,
            redirect: Vec::new(),
        }
    }
}

/// What happened to one call the instance took.
#[derive(Clone, Debug, Default)]
pub struct CallLog {
    /// The node its res_id names.
    pub node: String,
    /// The `on_incoming` params.
    pub offer: Value,
    /// Its events (whole notifications), in the order they came.
    pub events: Vec<Value>,
    /// Requests that failed (method and error).
    pub errors: Vec<String>,
}

impl CallLog {
    /// The params of its event `sys.call.NAME`, if it came.
    pub fn event(&self, name: &str) -> Option<&Value> {
        let method = format!("sys.call.{name}");
        self.events
            .iter()
            .find(|e| e["method"] == json!(method))
            .map(|e| &e["params"])
    }

    /// How many events `sys.call.NAME` it got.
    pub fn count(&self, name: &str) -> usize {
        let method = format!("sys.call.{name}");
        self.events
            .iter()
            .filter(|e| e["method"] == json!(method))
            .count()
    }

    /// The digits collected, once the collection ended.
    pub fn keys(&self) -> Option<&str> {
        self.event("on_receive_dtmf_completed")?["keys"].as_str()
    }

    /// The SIP Call-ID of the call (`ipsc_info.call_id` of the offer).
    pub fn sip_call_id(&self) -> Option<&str> {
        self.offer["ipsc_info"]["call_id"].as_str()
    }
}

/// The calls of one instance, by res_id.
pub type Calls = BTreeMap<String, CallLog>;

/// One IVR application instance on the bus.
pub struct BusIvr {
    client: async_nats::Client,
    calls: Arc<Mutex<Calls>>,
    tasks: Tasks,
}

impl BusIvr {
    /// Connects to `url` and takes offers in queue group `group`, serving each as `plan`
    /// says. The subscription has reached the server when this returns.
    pub async fn start(url: &str, group: &str, plan: Plan) -> BusIvr {
        let client = async_nats::connect(url).await.expect("connect to NATS");
        let calls = Arc::new(Mutex::new(Calls::new()));
        let tasks = Tasks::default();
        let taker = Taker {
            client: client.clone(),
            plan: Arc::new(plan),
            calls: calls.clone(),
            tasks: tasks.clone(),
            pending: None,
            ids: Arc::new(AtomicU64::new(1)),
        };
        let t = take_offers(&client, group, tasks.clone(), taker).await;
        tasks.lock().expect("tasks").push(t);
        BusIvr {
            client,
            calls,
            tasks,
        }
    }

    /// What happened so far, by res_id.
    pub fn calls(&self) -> Calls {
        self.calls.lock().expect("calls").clone()
    }

    /// Waits (up to `limit`) until `done` holds of its calls; the calls then. Panics
    /// naming `what`, with the calls, when it does not.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Calls) -> bool,
    ) -> Calls {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let calls = self.calls();
            if done(&calls) {
                return calls;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("{what}: not within {limit:?}; calls: {calls:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops as an instance whose process ends: its tasks end and its connection closes
    /// (NATS then routes the group's offers to the other members).
    pub async fn stop(self) {
        for t in self.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
        let _ = self.client.drain().await;
    }
}

impl Drop for BusIvr {
    fn drop(&mut self) {
        for t in self.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
    }
}

/// Serves each offer taken with one task.
struct Taker {
    client: async_nats::Client,
    plan: Arc<Plan>,
    calls: Arc<Mutex<Calls>>,
    tasks: Tasks,
    /// The events of the offer being claimed.
    pending: Option<mpsc::UnboundedReceiver<Value>>,
    ids: Arc<AtomicU64>,
}

impl OfferTaker for Taker {
    fn events_for(&mut self, _offer: &Value) -> mpsc::UnboundedSender<Value> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.pending = Some(rx);
        tx
    }

    fn claimed(&mut self, offer: Value) {
        let Some(events) = self.pending.take() else {
            return;
        };
        let Some(res) = offer["res_id"].as_str().map(String::from) else {
            return;
        };
        let node = res_id::node_of(&res).unwrap_or_default().to_string();
        self.calls.lock().expect("calls").insert(
            res.clone(),
            CallLog {
                node: node.clone(),
                offer,
                ..CallLog::default()
            },
        );
        let call = Call {
            client: self.client.clone(),
            plan: self.plan.clone(),
            calls: self.calls.clone(),
            ids: self.ids.clone(),
            node,
            res,
        };
        let t = tokio::spawn(call.run(events));
        self.tasks.lock().expect("tasks").push(t.abort_handle());
    }
}

/// One call served.
struct Call {
    client: async_nats::Client,
    plan: Arc<Plan>,
    calls: Arc<Mutex<Calls>>,
    ids: Arc<AtomicU64>,
    node: String,
    res: String,
}

impl Call {
    async fn run(self, mut events: mpsc::UnboundedReceiver<Value>) {
        let redirect = self.plan.redirect.iter().find(|(n, _)| *n == self.node);
        match redirect {
            Some((_, uri)) => {
                let p = json!({"res_id": self.res, "redirect_uri": uri});
                self.request("sys.call.redirect", p).await;
            }
            None => {
                let p = json!({"res_id": self.res, "max_answer_seconds": 120});
                self.request("sys.call.answer", p).await;
            }
        }
        while let Some(ev) = events.recv().await {
            let name = ev["method"].as_str().unwrap_or_default().to_string();
            let keys = ev["params"]["keys"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(c) = self.calls.lock().expect("calls").get_mut(&self.res) {
                c.events.push(ev);
            }
            match name.as_str() {
                "sys.call.on_answer_completed" => {
                    let p = json!({"res_id": self.res, "max_keys": 1,
                        "play_content": self.plan.prompt,
                        "first_key_timeout": self.plan.first_key_timeout});
                    self.request("sys.call.receive_dtmf_start", p).await;
                }
                "sys.call.on_receive_dtmf_completed" => {
                    let say = if keys.is_empty() { "0" } else { keys.as_str() };
                    let p = json!({"res_id": self.res, "content": [[say, 1, ""]]});
                    self.request("sys.call.play_start", p).await;
                }
                "sys.call.on_play_completed" if self.plan.hang_up => {
                    self.request("sys.call.drop", json!({"res_id": self.res}))
                        .await;
                }
                "sys.call.on_released" => return,
                _ => {}
            }
        }
    }

    /// A request on the call's node; a failure is recorded in its log.
    async fn request(&self, method: &str, params: Value) {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let why = match rpc(&self.client, &self.node, id, method, params).await {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("{e:#}"),
        };
        if let Some(c) = self.calls.lock().expect("calls").get_mut(&self.res) {
            c.errors.push(format!("{method}: {why}"));
        }
    }
}
