//! The node's heartbeat and its watch on the other nodes: every `heartbeat_ms` the
//! node's live calls on `mediagw.<node>.heartbeat`; the other nodes' heartbeats, offers
//! and events fed to the [`Tracker`](super::tracker::Tracker); for a node lost, the
//! surviving node with the smallest name publishes `on_released` with
//! `error: "node <name> lost"` on the lost node's events subject of each of its calls.

use std::time::{Duration, Instant};

use async_nats::Client;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::{subjects, tracker};
use crate::api::jsonrpc;
use crate::server::EngineInput;

/// The node's heartbeat: its live calls, every `every`.
pub(super) async fn beat(
    client: Client,
    engine: mpsc::Sender<EngineInput>,
    node: String,
    boot: u64,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let subject = subjects::heartbeat(&node);
    loop {
        tick.tick().await;
        let (reply, answer) = oneshot::channel();
        if engine
            .send(EngineInput::BusLiveCalls { reply })
            .await
            .is_err()
        {
            return;
        }
        let Ok(calls) = answer.await else { return };
        let body = json!({ "node": node, "boot": boot, "calls": calls });
        if let Err(e) = client
            .publish(subject.clone(), body.to_string().into())
            .await
        {
            tracing::warn!("heartbeat not sent: {e}");
        }
    }
}

/// The subscriptions the watch on the other nodes reads (never answering any).
pub(super) struct Watch {
    pub heartbeats: async_nats::Subscriber,
    pub events: async_nats::Subscriber,
    pub offers: async_nats::Subscriber,
}

impl Watch {
    pub async fn run(mut self, client: Client, me: String, every: Duration, lost_after: Duration) {
        let mut t = tracker::Tracker::new(&me, lost_after);
        let mut tick = tokio::time::interval(every / 2);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let lost = tokio::select! {
                m = self.heartbeats.next() => {
                    let Some(m) = m else { return };
                    let v: Value = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
                    let node = v.get("node").and_then(Value::as_str).unwrap_or_default();
                    let boot = v.get("boot").and_then(Value::as_u64).unwrap_or(0);
                    let calls = v
                        .get("calls")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(|c| c.as_str().map(String::from)).collect())
                        .unwrap_or_default();
                    if node.is_empty() {
                        continue;
                    }
                    t.heartbeat(node, boot, calls, Instant::now()).into_iter().collect()
                }
                m = self.events.next() => {
                    let Some(m) = m else { return };
                    seen(&mut t, &m.payload);
                    continue;
                }
                m = self.offers.next() => {
                    let Some(m) = m else { return };
                    seen(&mut t, &m.payload);
                    continue;
                }
                _ = tick.tick() => t.expire(Instant::now()),
            };
            for l in lost {
                release_lost(&client, &l).await;
            }
        }
    }
}

fn seen(t: &mut tracker::Tracker, payload: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return;
    };
    let method = v.get("method").and_then(Value::as_str).unwrap_or_default();
    if let Some(r) = v
        .get("params")
        .and_then(|p| p.get("res_id"))
        .and_then(Value::as_str)
        && method.starts_with("sys.call.")
    {
        t.seen(r, method == "sys.call.on_released", Instant::now());
    }
}

/// A node is lost: its calls' `on_released`, published by the one surviving node that
/// acts (the others only log).
async fn release_lost(client: &Client, lost: &tracker::Lost) {
    tracing::warn!(
        "control bus: node {} lost with {} calls{}",
        lost.node,
        lost.calls.len(),
        if lost.act {
            "; publishing their on_released"
        } else {
            ""
        }
    );
    if !lost.act {
        return;
    }
    let error = format!("node {} lost", lost.node);
    for r in &lost.calls {
        let params = json!({
            "res_id": r,
            "call_dir": null,
            "from_uri": null,
            "to_uri": null,
            "begin_time": null,
            "answer_time": null,
            "end_time": crate::server::unix_now(),
            "dropped_by": "sys",
            "cause": null,
            "error": error,
            "user_data": null,
            "ipsc_info": { "node": lost.node },
        });
        let text = jsonrpc::notification("sys.call.on_released", &params);
        let subject = subjects::events(&lost.node, r);
        if let Err(e) = client.publish(subject, text.into()).await {
            tracing::warn!("on_released of {r} not published: {e}");
        }
    }
    let _ = client.flush().await;
}
