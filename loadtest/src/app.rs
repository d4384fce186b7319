//! The bench application: a real client of the sys.call JSON-RPC WebSocket API. It
//! answers every incoming call and runs a scenario on it: IVR (collect digits over a
//! long prompt, harvested on demand), recording, or answer + prompt + hang-up (for the
//! SIPp control-plane runs), bridging pairs of calls, or entering conferences. Calls are
//! matched to channels by the From user `load-<idx>`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mediagw_testkit::Client;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// What the application does with each answered call.
#[derive(Clone, Debug)]
pub enum Scenario {
    /// Answer, then `receive_dtmf_start` over `prompt` (never barge-in), restarted after
    /// every harvest.
    Ivr { prompt: Value },
    /// Answer, then record to `load/<idx>.wav`.
    Record,
    /// Answer, play `prompt`, hang up when it completes.
    PromptHangup { prompt: Value },
    /// Answer, collect one digit over `prompt` (barge-in), count it against `expect`,
    /// hang up (the SIPp floods of `loadtest/sipp/flood.sh`).
    DigitThenDrop { prompt: Value, expect: String },
    /// Answer, then bridge channel `i` with channel `i ^ 2` (`connect_start`) once both
    /// are answered: pairs of channels that offered the same thing, so the bridge takes
    /// the straight relay path (`mediagw-load bridge`). `started` counts bridges.
    Bridge,
    /// Answer, then enter channel `i` into conference `i / size` (`sys.conf.construct`
    /// at its first answered member, `max_parts` = `size`; `sys.call.conf_enter` with
    /// voice mode 1, talk and listen) (`mediagw-load conf`). `started` counts members in.
    Conf { size: u32 },
}

/// A conference of the `Conf` scenario.
enum ConfSlot {
    /// `sys.conf.construct` sent; these calls wait to enter.
    Constructing(Vec<String>),
    /// Constructed: its res_id.
    Ready(String),
}

/// Counters shared with the driver.
#[derive(Default)]
pub struct AppCounters {
    /// Calls offered (`on_incoming`).
    pub incoming: AtomicU64,
    /// Scenario actions started successfully.
    pub started: AtomicU64,
    /// Error responses.
    pub errors: AtomicU64,
    /// Calls released.
    pub released: AtomicU64,
    /// Calls hung up by the app.
    pub dropped: AtomicU64,
    /// Digit collections running now.
    pub collecting: AtomicU64,
    /// `DigitThenDrop`: calls that collected exactly the expected digit / something else.
    pub digits_right: AtomicU64,
    /// See `digits_right`.
    pub digits_wrong: AtomicU64,
}

enum Cmd {
    Harvest(oneshot::Sender<HashMap<u32, String>>),
    Close(oneshot::Sender<()>),
}

/// Handle to the running application.
pub struct App {
    cmd: mpsc::Sender<Cmd>,
    /// Counters.
    pub counters: Arc<AppCounters>,
    /// First error message seen, for the report.
    pub first_error: Arc<std::sync::Mutex<Option<String>>>,
}

impl App {
    /// Waits (serving SIP meanwhile, at most 30 s) until the scenario has started on `n`
    /// calls: every pair bridged, every member in its conference. `what` names them in
    /// the error.
    pub async fn wait_started(
        &self,
        n: u64,
        what: &str,
        sipd: &mut crate::sip::SipDriver,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.counters.started.load(Ordering::Relaxed) < n {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} {what} ({:?})",
                self.counters.started.load(Ordering::Relaxed),
                self.first_error
                    .lock()
                    .map(|e| e.clone())
                    .unwrap_or_default()
            );
            sipd.service(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Connects to `url` and starts serving calls with `scenario`.
    pub async fn start(url: &str, scenario: Scenario) -> anyhow::Result<App> {
        // The kit's client makes one round trip: once answered, the gateway offers
        // incoming calls to us.
        let client = Client::try_connect(url).await?;
        let (tx, rx) = mpsc::channel(16);
        let counters = Arc::new(AppCounters::default());
        let first_error = Arc::new(std::sync::Mutex::new(None));
        let mut task = Task {
            scenario,
            pending: HashMap::new(),
            calls: HashMap::new(),
            harvest: None,
            unpaired: HashMap::new(),
            confs: HashMap::new(),
            counters: counters.clone(),
            first_error: first_error.clone(),
        };
        tokio::spawn(async move { task.run(client, rx).await });
        Ok(App {
            cmd: tx,
            counters,
            first_error,
        })
    }

    /// Closes the WebSocket (bounded wait), so that calls are offered elsewhere.
    pub async fn close(self) {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Cmd::Close(tx)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
    }

    /// Waits (bounded) until `n` digit collections are running; returns how many are.
    pub async fn wait_collecting(&self, n: u64, limit: Duration) -> u64 {
        let end = tokio::time::Instant::now() + limit;
        loop {
            let c = self.counters.collecting.load(Ordering::Relaxed);
            if c >= n || tokio::time::Instant::now() >= end {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops every digit collection, returns the keys each channel collected since the
    /// last harvest (bounded wait), and restarts the collections.
    pub async fn harvest(&self, limit: Duration) -> HashMap<u32, String> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Cmd::Harvest(tx)).await.is_err() {
            return HashMap::new();
        }
        tokio::time::timeout(limit, rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    }
}

struct Harvest {
    want: usize,
    got: HashMap<u32, String>,
    reply: oneshot::Sender<HashMap<u32, String>>,
}

/// A request to send: method and params.
type Out = Vec<(&'static str, Value)>;

struct Task {
    scenario: Scenario,
    pending: HashMap<u64, (&'static str, String)>,
    /// res_id -> (channel, collecting)
    calls: HashMap<String, (u32, bool)>,
    harvest: Option<Harvest>,
    /// `Bridge`: answered channels waiting for their partner, by channel.
    unpaired: HashMap<u32, String>,
    /// `Conf`: the conferences, by index.
    confs: HashMap<u32, ConfSlot>,
    counters: Arc<AppCounters>,
    first_error: Arc<std::sync::Mutex<Option<String>>>,
}

impl Task {
    fn req(&mut self, out: &mut Out, method: &'static str, params: Value) {
        out.push((method, params));
    }

    fn start_action(&mut self, out: &mut Out, res: &str) {
        let idx = self.calls.get(res).map(|c| c.0).unwrap_or(0);
        match self.scenario.clone() {
            Scenario::Ivr { prompt } => self.req(
                out,
                "sys.call.receive_dtmf_start",
                json!({"res_id": res, "valid_keys": "0123456789*#", "max_keys": 64, "finish_keys": "",
                       "first_key_timeout": 600, "continues_keys_timeout": 600,
                       "play_content": prompt, "play_repeat": 0, "breaking_on_key": false}),
            ),
            Scenario::Record => self.req(
                out,
                "sys.call.record_start",
                json!({"res_id": res, "max_seconds": 600, "record_file": format!("load-{idx}.wav")}),
            ),
            Scenario::PromptHangup { prompt } => {
                self.req(out, "sys.call.play_start", json!({"res_id": res, "content": prompt}))
            }
            Scenario::DigitThenDrop { prompt, .. } => self.req(
                out,
                "sys.call.receive_dtmf_start",
                json!({"res_id": res, "valid_keys": "0123456789*#", "max_keys": 1, "finish_keys": "",
                       "first_key_timeout": 15, "play_content": prompt, "play_repeat": 0, "breaking_on_key": true}),
            ),
            Scenario::Bridge => match self.unpaired.remove(&(idx ^ 2)) {
                Some(partner) => {
                    let (a, b) = if idx < idx ^ 2 {
                        (res.to_string(), partner)
                    } else {
                        (partner, res.to_string())
                    };
                    self.req(
                        out,
                        "sys.call.connect_start",
                        json!({"res_id": a, "call_res_id": b, "max_seconds": 3600}),
                    );
                }
                None => {
                    self.unpaired.insert(idx, res.to_string());
                }
            },
            Scenario::Conf { size } => {
                let c = idx / size.max(1);
                match self.confs.get_mut(&c) {
                    Some(ConfSlot::Ready(conf)) => {
                        let conf = conf.clone();
                        self.conf_enter(out, res, &conf);
                    }
                    Some(ConfSlot::Constructing(waiting)) => waiting.push(res.to_string()),
                    None => {
                        self.confs
                            .insert(c, ConfSlot::Constructing(vec![res.to_string()]));
                        // The conference's index rides in user_data (and names the
                        // pending request: see `run`).
                        self.req(
                            out,
                            "sys.conf.construct",
                            json!({"max_seconds": 3600, "max_parts": size, "user_data": format!("{c}")}),
                        );
                    }
                }
            }
        }
    }

    fn conf_enter(&mut self, out: &mut Out, res: &str, conf: &str) {
        self.req(
            out,
            "sys.call.conf_enter",
            json!({"res_id": res, "conf_res_id": conf, "max_seconds": 3600, "voice_mode": 1}),
        );
    }

    /// `Conf`: conference `c` is constructed as `conf`: its waiting calls enter.
    fn constructed(&mut self, out: &mut Out, c: &str, conf: &str) {
        let Ok(c) = c.parse::<u32>() else { return };
        if let Some(ConfSlot::Constructing(waiting)) =
            self.confs.insert(c, ConfSlot::Ready(conf.to_string()))
        {
            for res in waiting {
                self.conf_enter(out, &res, conf);
            }
        }
    }

    async fn run(&mut self, mut client: Client, mut cmd: mpsc::Receiver<Cmd>) {
        loop {
            let mut out = Out::new();
            tokio::select! {
                m = client.recv() => {
                    let Ok(v) = m else { return };
                    self.on_message(&v, &mut out);
                }
                c = cmd.recv() => {
                    let reply = match c {
                        Some(Cmd::Harvest(r)) => r,
                        Some(Cmd::Close(done)) => {
                            client.close().await;
                            let _ = done.send(());
                            return;
                        }
                        None => return,
                    };
                    let res: Vec<String> = self.calls.iter().filter(|(_, c)| c.1).map(|(r, _)| r.clone()).collect();
                    self.harvest = Some(Harvest { want: res.len(), got: HashMap::new(), reply });
                    for r in res {
                        self.req(&mut out, "sys.call.stop_receive_dtmf_start", json!({"res_id": r}));
                    }
                    self.check_harvest();
                }
            }
            for (method, params) in out {
                // A request names its call, or (`sys.conf.construct`) the conference's
                // index in user_data.
                let res = params["res_id"]
                    .as_str()
                    .or_else(|| params["user_data"].as_str())
                    .unwrap_or("")
                    .to_string();
                match client.request(method, params).await {
                    Ok(id) => {
                        self.pending.insert(id, (method, res));
                    }
                    Err(_) => return,
                }
            }
        }
    }

    fn check_harvest(&mut self) {
        if self.harvest.as_ref().is_some_and(|h| h.got.len() >= h.want) {
            if let Some(h) = self.harvest.take() {
                let _ = h.reply.send(h.got);
            }
        }
    }

    fn on_message(&mut self, v: &Value, out: &mut Out) {
        if let Some(id) = v.get("id").and_then(Value::as_u64) {
            let Some((method, res)) = self.pending.remove(&id) else {
                return;
            };
            if let Some(e) = v.get("error") {
                // A call the load generator hung up (bisecting down) is gone: not an error.
                if e["code"] == -32001 && !self.calls.contains_key(&res) {
                    return;
                }
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                {
                    let mut fe = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                    if fe.is_none() {
                        *fe = Some(format!("{method}: {e}"));
                    }
                }
                if method == "sys.call.stop_receive_dtmf_start" {
                    if let (Some(h), Some(c)) = (self.harvest.as_mut(), self.calls.get(&res)) {
                        h.got.entry(c.0).or_default();
                    }
                    self.check_harvest();
                }
                return;
            }
            match method {
                "sys.call.receive_dtmf_start"
                | "sys.call.record_start"
                | "sys.call.play_start"
                | "sys.call.connect_start"
                | "sys.call.conf_enter" => {
                    self.counters.started.fetch_add(1, Ordering::Relaxed);
                    if method == "sys.call.receive_dtmf_start" {
                        if let Some(c) = self.calls.get_mut(&res) {
                            if !c.1 {
                                self.counters.collecting.fetch_add(1, Ordering::Relaxed);
                            }
                            c.1 = true;
                        }
                    }
                }
                "sys.conf.construct" => {
                    if let Some(conf) = v["result"]["res_id"].as_str() {
                        self.constructed(out, &res, conf);
                    }
                }
                _ => {}
            }
            return;
        }
        let method = v["method"].as_str().unwrap_or("");
        let p = &v["params"];
        let res = p["res_id"].as_str().unwrap_or("").to_string();
        match method {
            "sys.call.on_incoming" => {
                self.counters.incoming.fetch_add(1, Ordering::Relaxed);
                let idx = p["from_uri"]
                    .as_str()
                    .and_then(|u| u.split("load-").nth(1))
                    .and_then(|s| s.split('@').next())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(u32::MAX);
                self.calls.insert(res.clone(), (idx, false));
                self.req(
                    out,
                    "sys.call.answer",
                    json!({"res_id": res, "max_answer_seconds": 600}),
                );
            }
            "sys.call.on_receive_dtmf_completed"
                if matches!(self.scenario, Scenario::DigitThenDrop { .. }) =>
            {
                let keys = p["keys"].as_str().unwrap_or("");
                let right = matches!(&self.scenario, Scenario::DigitThenDrop { expect, .. } if expect == keys);
                let c = if right {
                    &self.counters.digits_right
                } else {
                    &self.counters.digits_wrong
                };
                c.fetch_add(1, Ordering::Relaxed);
                if self.calls.contains_key(&res) {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    self.req(out, "sys.call.drop", json!({"res_id": res, "cause": 200}));
                }
            }
            "sys.call.on_receive_dtmf_completed" => {
                let keys = p["keys"].as_str().unwrap_or("").to_string();
                if let Some(c) = self.calls.get_mut(&res) {
                    if c.1 {
                        self.counters.collecting.fetch_sub(1, Ordering::Relaxed);
                    }
                    c.1 = false;
                    let idx = c.0;
                    if let Some(h) = self.harvest.as_mut() {
                        h.got.insert(idx, keys);
                    }
                    self.start_action(out, &res);
                }
                self.check_harvest();
            }
            // The call is Idle (the ACK came): the scenario can start.
            "sys.call.on_answer_completed" if p["error"].is_null() => self.start_action(out, &res),
            "sys.call.on_play_completed"
                if matches!(self.scenario, Scenario::PromptHangup { .. })
                    && self.calls.contains_key(&res) =>
            {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                self.req(out, "sys.call.drop", json!({"res_id": res, "cause": 200}));
            }
            "sys.call.on_released" => {
                self.counters.released.fetch_add(1, Ordering::Relaxed);
                if let Some((idx, collecting)) = self.calls.remove(&res) {
                    if collecting {
                        self.counters.collecting.fetch_sub(1, Ordering::Relaxed);
                        if let Some(h) = self.harvest.as_mut() {
                            h.got.entry(idx).or_default();
                        }
                    }
                }
                self.check_harvest();
            }
            _ => {}
        }
    }
}
