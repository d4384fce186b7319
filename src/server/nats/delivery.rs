//! One task per resource with traffic on the bus, so that what concerns one resource
//! leaves in the order the engine produced it: its offer on `mediagw.incoming`, its
//! events on `mediagw.<node>.events.<res_id>`, the replies to requests about it, and the
//! requests themselves on their way in.
//!
//! Delivery is acknowledged: each event is a NATS request, and an application that
//! subscribed to the resource's subject replies to it (any body). An event that nobody
//! acknowledges within `api.nats.event_ack_ms` is held, with every later event of the
//! resource (at most `api.held_events_per_resource`, the oldest dropped), and the engine
//! is told (the resource's orphan timer starts). The next request on that res_id that
//! comes over the bus first delivers the held events again, oldest first, each
//! acknowledged, and only then goes to the engine: so an application instance that
//! restarts, subscribes to the subject again and makes a request (`sys.call.exists`)
//! receives every event it missed before the reply. Held events of a released resource
//! are kept for `api.orphan_timeout_seconds`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::{Client, Request, Subject};
use tokio::sync::mpsc;

use super::subjects;
use crate::api::jsonrpc::RpcFrame;
use crate::engine::clients::ConnId;
use crate::server::EngineInput;

/// A task with nothing held and nothing to do for this long ends.
const IDLE_EXIT: Duration = Duration::from_secs(600);

/// What the task of one resource is given, in order.
pub enum Item {
    /// `sys.call.on_incoming`: offered on `mediagw.incoming`.
    Offer(String),
    /// An event; `last`: its `on_released`.
    Event { text: String, last: bool },
    /// A response to publish on a reply subject.
    Reply { to: Subject, text: String },
    /// A request about this resource, for the engine once the held events are out.
    Request(RpcFrame),
}

/// What every resource's task shares.
pub struct Ctx {
    pub client: Client,
    pub engine: mpsc::Sender<EngineInput>,
    /// The bus's connection in the engine.
    pub conn: ConnId,
    pub node: String,
    pub offer_timeout: Duration,
    pub ack_timeout: Duration,
    pub held_cap: usize,
    /// How long the held events of a released resource wait for a request.
    pub hold_released: Duration,
    /// The writers the gateway waits for (bounded) before it exits: each task is one.
    pub writers: Arc<AtomicUsize>,
}

/// Starts the task of `res_id`.
pub fn spawn(ctx: Arc<Ctx>, res_id: String) -> mpsc::UnboundedSender<Item> {
    let (tx, rx) = mpsc::unbounded_channel();
    ctx.writers.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        let writers = ctx.writers.clone();
        run(ctx, res_id, rx).await;
        writers.fetch_sub(1, Ordering::Relaxed);
    });
    tx
}

struct Resource {
    ctx: Arc<Ctx>,
    res_id: String,
    subject: String,
    /// Events nobody acknowledged, oldest first; while any is held, later ones queue.
    held: VecDeque<String>,
    released: bool,
    /// An application has acknowledged an event of this resource.
    acked: bool,
}

async fn run(ctx: Arc<Ctx>, res_id: String, mut rx: mpsc::UnboundedReceiver<Item>) {
    let subject = subjects::events(&ctx.node, &res_id);
    let hold_released = ctx.hold_released;
    let mut r = Resource {
        ctx,
        res_id,
        subject,
        held: VecDeque::new(),
        released: false,
        acked: false,
    };
    loop {
        let next = if r.released && r.held.is_empty() {
            // Delivered to the end: nothing more will come but late replies.
            break;
        } else if r.released {
            match tokio::time::timeout(hold_released, rx.recv()).await {
                Ok(n) => n,
                Err(_) => {
                    tracing::info!(
                        res_id = %r.res_id,
                        "{} held events of a released call dropped: no request on it within {} s",
                        r.held.len(),
                        hold_released.as_secs()
                    );
                    r.held.clear();
                    break;
                }
            }
        } else {
            match tokio::time::timeout(IDLE_EXIT, rx.recv()).await {
                Ok(n) => n,
                // A call the bus no longer hears of (a WebSocket client took it): the
                // task goes; anything later starts a new one.
                Err(_) if r.held.is_empty() => break,
                Err(_) => continue,
            }
        };
        let Some(item) = next else { break };
        r.handle(item).await;
    }
    // Whatever was queued before the channel closed still goes out, in order; what is
    // sent after it goes to a new task.
    rx.close();
    while let Ok(item) = rx.try_recv() {
        r.handle(item).await;
    }
}

impl Resource {
    async fn handle(&mut self, item: Item) {
        match item {
            Item::Offer(text) => self.offer(text).await,
            Item::Event { text, last } => {
                self.released |= last;
                if !self.held.is_empty() {
                    self.hold(text);
                } else if !self.deliver(&text).await {
                    self.hold(text);
                    let _ = self
                        .ctx
                        .engine
                        .send(EngineInput::BusUnacked {
                            res_id: self.res_id.clone(),
                        })
                        .await;
                }
            }
            Item::Reply { to, text } => {
                if let Err(e) = self.ctx.client.publish(to, text.into()).await {
                    tracing::warn!(res_id = %self.res_id, "bus reply not sent: {e}");
                }
            }
            Item::Request(frame) => {
                while let Some(text) = self.held.front().cloned() {
                    if !self.deliver(&text).await {
                        break;
                    }
                    self.held.pop_front();
                }
                let input = EngineInput::Frame {
                    conn: self.ctx.conn,
                    frame,
                };
                let _ = self.ctx.engine.send(input).await;
            }
        }
    }

    /// Offers the call on `mediagw.incoming`; the engine hears of it when nobody claims it.
    async fn offer(&mut self, text: String) {
        let req = Request::new()
            .payload(text.into())
            .timeout(Some(self.ctx.offer_timeout));
        match self.ctx.client.send_request(subjects::INCOMING, req).await {
            Ok(_) => tracing::debug!(res_id = %self.res_id, "call claimed on the bus"),
            Err(e) => {
                tracing::info!(res_id = %self.res_id, "call offer not claimed on the bus: {e}");
                let input = EngineInput::BusOfferDeclined {
                    res_id: self.res_id.clone(),
                };
                let _ = self.ctx.engine.send(input).await;
            }
        }
    }

    /// Publishes one event as a request; true when an application acknowledged it.
    /// Until the resource's first acknowledgement an event is published twice before it
    /// counts as unacknowledged: an application learns a res_id from `construct`'s reply
    /// and subscribes to its subject only then, possibly after the first event left.
    async fn deliver(&mut self, text: &str) -> bool {
        let tries = if self.acked { 1 } else { 2 };
        for _ in 0..tries {
            let req = Request::new()
                .payload(text.to_string().into())
                .timeout(Some(self.ctx.ack_timeout));
            match self
                .ctx
                .client
                .send_request(self.subject.clone(), req)
                .await
            {
                Ok(_) => {
                    self.acked = true;
                    return true;
                }
                Err(e) => {
                    tracing::debug!(res_id = %self.res_id, "event not acknowledged: {e}");
                }
            }
        }
        false
    }

    fn hold(&mut self, text: String) {
        if self.held.len() >= self.ctx.held_cap.max(1) {
            self.held.pop_front();
            tracing::warn!(res_id = %self.res_id, "held events full: the oldest dropped");
        }
        self.held.push_back(text);
    }
}
