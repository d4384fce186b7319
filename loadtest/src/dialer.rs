//! `mediagw-load dial`: outbound dialling through the API, the application side of the
//! outbound flood in `loadtest/sipp/flood.sh`. It places `calls` calls with
//! `sys.call.construct` at `cps` per second, never more than `limit` at once, to the given
//! URIs in turn (SIPp UAS processes), plays a short prompt on each answered call, hangs up
//! after `hold`, and prints a summary: answered, failed (by error), and the dial time
//! (construct to `on_dial_completed`) in HdrHistogram percentiles.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mediagw_testkit::Client;
use serde_json::{Value, json};

use crate::cli::DialArgs;

/// What to dial.
#[derive(Clone, Debug)]
pub struct DialPlan {
    /// API URL.
    pub url: String,
    /// Destinations, used in turn.
    pub to: Vec<String>,
    /// Calls per second.
    pub cps: f64,
    /// Calls in all.
    pub calls: u64,
    /// Most calls up at once.
    pub limit: u64,
    /// How long an answered call is held before the application hangs up.
    pub hold: Duration,
    /// Hard bound on the whole run.
    pub deadline: Duration,
}

/// What the run saw.
#[derive(Debug)]
pub struct DialSummary {
    /// Calls placed (construct accepted).
    pub placed: u64,
    /// Calls answered (`on_dial_completed` with error null).
    pub answered: u64,
    /// Failures by error text (construct errors and dial errors).
    pub failed: HashMap<String, u64>,
    /// Calls released.
    pub released: u64,
    /// construct to `on_dial_completed` of answered calls, µs.
    pub dial_us: Histogram<u64>,
    /// Calls still up or unanswered when the deadline struck.
    pub unfinished: u64,
}

impl DialSummary {
    /// Human-readable summary, one fact per line.
    pub fn render(&self) -> String {
        let q = |p: f64| self.dial_us.value_at_quantile(p) as f64 / 1000.0;
        let mut s = format!(
            "placed {} answered {} failed {} released {} unfinished {}\n",
            self.placed,
            self.answered,
            self.failed.values().sum::<u64>(),
            self.released,
            self.unfinished
        );
        if !self.dial_us.is_empty() {
            s.push_str(&format!(
                "dial time (construct to answer) ms: p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}\n",
                q(0.5),
                q(0.9),
                q(0.99),
                self.dial_us.max() as f64 / 1000.0
            ));
        }
        let mut f: Vec<_> = self.failed.iter().collect();
        f.sort();
        for (why, n) in f {
            s.push_str(&format!("failed {n}: {why}\n"));
        }
        s
    }

    /// True when every call was answered and released.
    pub fn clean(&self) -> bool {
        self.failed.is_empty() && self.unfinished == 0 && self.answered == self.placed
    }
}

impl DialPlan {
    /// The plan of `mediagw-load dial`'s options.
    pub fn from_args(a: &DialArgs) -> DialPlan {
        DialPlan {
            url: a.url.clone(),
            to: a.to.iter().filter(|s| !s.is_empty()).cloned().collect(),
            cps: a.cps,
            calls: a.calls,
            limit: a.limit,
            hold: Duration::from_millis(a.hold_ms),
            deadline: Duration::from_secs(a.seconds),
        }
    }
}

/// Runs `mediagw-load dial`: prints the summary; exit code 0 only when every call was
/// answered and released.
pub async fn main(a: &DialArgs) -> i32 {
    let plan = DialPlan::from_args(a);
    if plan.to.is_empty() {
        eprintln!("dial: --to URI[,URI...] is required");
        return 2;
    }
    match run(&plan).await {
        Ok(s) => {
            print!("{}", s.render());
            if s.clean() { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("dial: {e:#}");
            1
        }
    }
}

/// Runs the plan to the end (or its deadline).
pub async fn run(plan: &DialPlan) -> anyhow::Result<DialSummary> {
    let mut client = Client::try_connect(&plan.url).await?;
    let mut sum = DialSummary {
        placed: 0,
        answered: 0,
        failed: HashMap::new(),
        released: 0,
        dial_us: Histogram::new_with_bounds(1, 600_000_000, 3)?,
        unfinished: 0,
    };
    let start = Instant::now();
    let end = start + plan.deadline;
    let gap = Duration::from_secs_f64(1.0 / plan.cps.max(0.001));
    let mut sent = 0u64;
    // Request id -> call index (construct), call index -> when it was placed.
    let mut pending: HashMap<u64, u64> = HashMap::new();
    let mut placed_at: HashMap<u64, Instant> = HashMap::new();
    // Answered calls to drop: (when, res_id).
    let mut drops: Vec<(Instant, String)> = Vec::new();
    let mut up = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    while Instant::now() < end {
        let now = Instant::now();
        while sent < plan.calls && up < plan.limit && start + gap.mul_f64(sent as f64) <= now {
            let to = &plan.to[(sent as usize) % plan.to.len()];
            let id = client
                .request(
                    "sys.call.construct",
                    json!({"to_uri": to, "from_uri": format!("sip:dial-{sent}@127.0.0.1"),
                           "max_ring_seconds": 30, "max_answer_seconds": 3600,
                           "user_data": sent.to_string()}),
                )
                .await?;
            pending.insert(id, sent);
            placed_at.insert(sent, now);
            sent += 1;
            up += 1;
        }
        let due: Vec<String> = drops
            .iter()
            .filter(|(at, _)| *at <= now)
            .map(|(_, res)| res.clone())
            .collect();
        drops.retain(|(at, _)| *at > now);
        for res in due {
            client
                .request("sys.call.drop", json!({"res_id": res, "cause": 200}))
                .await?;
        }
        if sent == plan.calls && up == 0 {
            break;
        }
        tokio::select! {
            m = client.recv() => {
                let v: Value = m?;
                if let Some(id) = v.get("id").and_then(Value::as_u64) {
                    if let Some(idx) = pending.remove(&id) {
                        if let Some(e) = v.get("error") {
                            up -= 1;
                            placed_at.remove(&idx);
                            *sum.failed.entry(format!("construct: {}", e["message"])).or_default() += 1;
                        } else {
                            sum.placed += 1;
                        }
                    }
                    continue;
                }
                let p = &v["params"];
                let res = p["res_id"].as_str().unwrap_or("").to_string();
                let idx: Option<u64> = p["user_data"].as_str().and_then(|u| u.parse().ok());
                match v["method"].as_str().unwrap_or("") {
                    "sys.call.on_dial_completed" => {
                        let at = idx.and_then(|i| placed_at.remove(&i));
                        if p["error"].is_null() {
                            sum.answered += 1;
                            if let Some(at) = at {
                                let _ = sum.dial_us.record(at.elapsed().as_micros() as u64 + 1);
                            }
                            drops.push((Instant::now() + plan.hold, res.clone()));
                            client
                                .request("sys.call.play_start", json!({"res_id": res, "content": [["1", 1, ""]]}))
                                .await?;
                        } else {
                            *sum.failed.entry(format!("dial: {}", p["error"])).or_default() += 1;
                        }
                    }
                    "sys.call.on_released" => {
                        sum.released += 1;
                        up = up.saturating_sub(1);
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {}
        }
    }
    sum.unfinished = up + (plan.calls - sent);
    client.close().await;
    Ok(sum)
}
