//! The API on a NATS control bus (`[api.nats]`), beside the WebSocket: requests on
//! `mediagw.<node>.rpc`, events on `mediagw.<node>.events.<res_id>`, inbound call offers
//! on `mediagw.incoming`, heartbeats on `mediagw.<node>.heartbeat` (`subjects.rs`).
//!
//! To the engine the bus is one client connection (`engine/bus.rs`). Here:
//! - `dispatch.rs`: requests in (forwarded when they name another node's res_id), what the
//!   engine sends the bus out, per resource;
//! - `delivery.rs`: one task per resource: offers, acknowledged events, held events,
//!   replies, in order;
//! - `watch.rs`: the heartbeat, and the watch on the other nodes (`tracker.rs`) that
//!   publishes a lost node's calls' `on_released`.
//!
//! This file connects, subscribes and starts those tasks.

pub mod delivery;
mod dispatch;
pub mod frames;
pub mod subjects;
pub mod tracker;
mod watch;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::NatsConfig;
use crate::engine::clients::ConnId;
use crate::server::EngineInput;
use delivery::Ctx;
use dispatch::Dispatcher;
use frames::Frames;
use watch::{Watch, beat};

/// Room in the queue from the engine to the bus (the engine drops a connection whose
/// queue is full: the bus's is large).
pub const QUEUE: usize = 1 << 16;

/// The node name when `api.nats.node` is unset: the host name (reduced to the
/// characters a subject token allows) and the SIP port.
pub fn default_node(sip_port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "mediagw".into());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(50)
        .collect();
    format!("{host}-{sip_port}")
}

/// What starting the bus needs.
pub struct Start {
    pub cfg: NatsConfig,
    pub node: String,
    /// Identifies this run of the node in its heartbeats (the process id of res_ids).
    pub boot: u64,
    pub engine: mpsc::Sender<EngineInput>,
    pub conn: ConnId,
    /// What the engine sends the bus's connection.
    pub out: mpsc::Receiver<String>,
    pub held_cap: usize,
    pub orphan_timeout: Duration,
    /// Counts the bus among the writers the gateway waits for at the end.
    pub writers: Arc<AtomicUsize>,
}

/// Connects (retrying in the background when the server is not up yet: the gateway
/// runs on meanwhile) and starts the bus's tasks.
pub async fn start(s: Start) -> anyhow::Result<()> {
    let url = s.cfg.url.clone().unwrap_or_default();
    let client = async_nats::ConnectOptions::new()
        .name(format!("mediagw {}", s.node))
        .retry_on_initial_connect()
        .connect(url.as_str())
        .await
        .map_err(|e| anyhow::anyhow!("api.nats.url {url}: {e}"))?;
    let rpc = client
        .subscribe(subjects::rpc(&s.node))
        .await
        .map_err(|e| anyhow::anyhow!("NATS subscribe: {e}"))?;
    let watch = Watch {
        heartbeats: client.subscribe(subjects::ALL_HEARTBEATS).await?,
        events: client.subscribe(subjects::ALL_EVENTS).await?,
        offers: client.subscribe(subjects::INCOMING).await?,
    };
    tracing::info!("control bus: NATS {url}, node {}", s.node);
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        engine: s.engine.clone(),
        conn: s.conn,
        node: s.node.clone(),
        offer_timeout: Duration::from_millis(s.cfg.offer_timeout_ms),
        ack_timeout: Duration::from_millis(s.cfg.event_ack_ms),
        held_cap: s.held_cap,
        hold_released: s.orphan_timeout,
        writers: s.writers.clone(),
    });
    s.writers.fetch_add(1, Ordering::Relaxed);
    let heartbeat = Duration::from_millis(s.cfg.heartbeat_ms);
    let lost_after = Duration::from_millis(s.cfg.node_lost_ms);
    tokio::spawn(watch.run(client.clone(), s.node.clone(), heartbeat, lost_after));
    tokio::spawn(beat(
        client.clone(),
        s.engine.clone(),
        s.node.clone(),
        s.boot,
        heartbeat,
    ));
    let d = Dispatcher {
        ctx,
        forward_timeout: Duration::from_millis(s.cfg.forward_timeout_ms),
        frames: Frames::default(),
        tasks: HashMap::new(),
    };
    tokio::spawn(d.run(rpc, s.out, s.writers));
    Ok(())
}
