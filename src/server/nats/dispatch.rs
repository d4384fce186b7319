//! The dispatcher: takes requests off `mediagw.<node>.rpc` (a request whose first res_id
//! names another node is forwarded to that node's subject and its answer returned),
//! gives them ids of its own (`frames.rs`) and hands them to the engine, or to the task of
//! the resource they name; takes what the engine sends the bus and passes it, per
//! resource, to that resource's delivery task (`delivery.rs`), or publishes a reply.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::{Client, Request, Subject};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::delivery::{self, Ctx, Item};
use super::frames::{self, Admit, Frames, Out};
use super::subjects;
use crate::api::errors::RpcError;
use crate::api::jsonrpc;
use crate::engine::res_id;
use crate::server::EngineInput;

pub(super) struct Dispatcher {
    pub ctx: Arc<Ctx>,
    pub forward_timeout: Duration,
    pub frames: Frames,
    pub tasks: HashMap<String, mpsc::UnboundedSender<Item>>,
}

impl Dispatcher {
    pub async fn run(
        mut self,
        mut rpc: async_nats::Subscriber,
        mut out: mpsc::Receiver<String>,
        writers: Arc<AtomicUsize>,
    ) {
        let mut prune = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                // What the engine sent goes first: replies before the next request.
                biased;
                text = out.recv() => match text {
                    Some(text) => self.engine_output(text).await,
                    None => break,
                },
                msg = rpc.next() => match msg {
                    Some(msg) => self.request(msg).await,
                    None => break,
                },
                _ = prune.tick() => self.tasks.retain(|_, tx| !tx.is_closed()),
            }
        }
        // The gateway is stopping: the resources' tasks deliver what they were given
        // (the gateway waits for them, bounded, as for its WebSocket writers).
        self.tasks.clear();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.ctx.client.flush()).await;
        writers.fetch_sub(1, Ordering::Relaxed);
    }

    /// A request on `mediagw.<node>.rpc`.
    async fn request(&mut self, msg: async_nats::Message) {
        let to = msg.reply.clone();
        if let Ok(v) = serde_json::from_slice::<Value>(&msg.payload)
            && let Some(node) = frames::first_res_id(&v).and_then(res_id::node_of)
            && node != self.ctx.node
        {
            let node = node.to_string();
            tokio::spawn(forward(
                self.ctx.client.clone(),
                node,
                msg.payload.to_vec(),
                to,
                id_of(&v),
                self.forward_timeout,
            ));
            return;
        }
        match self.frames.admit(&msg.payload, to.clone()) {
            Admit::Answered { text, frame } => {
                if let Some(to) = to {
                    let _ = self.ctx.client.publish(to, text.into()).await;
                }
                if let Some(frame) = frame {
                    self.send_to_engine(frame).await;
                }
            }
            Admit::Engine { frame, res_id } => {
                // Behind the events of that resource still on their way (and after its
                // held events are delivered again), when it has a task.
                let frame = match res_id.and_then(|r| self.tasks.get(&r)) {
                    Some(tx) => match tx.send(Item::Request(frame)) {
                        Ok(()) => return,
                        Err(mpsc::error::SendError(Item::Request(f))) => f,
                        Err(_) => return,
                    },
                    None => frame,
                };
                self.send_to_engine(frame).await;
            }
        }
    }

    async fn send_to_engine(&self, frame: jsonrpc::RpcFrame) {
        let input = EngineInput::Frame {
            conn: self.ctx.conn,
            frame,
        };
        let _ = self.ctx.engine.send(input).await;
    }

    /// A text from the engine: an event or a response.
    async fn engine_output(&mut self, text: String) {
        match self.frames.classify(text) {
            Out::Event {
                res_id,
                method,
                text,
            } => {
                let item = if method == "sys.call.on_incoming" {
                    Item::Offer(text)
                } else {
                    let last = method.ends_with(".on_released");
                    Item::Event { text, last }
                };
                self.hand_to_task(res_id, item);
            }
            Out::Response { to, text, res_id } => {
                let Some(to) = to else { return };
                if let Some(r) = res_id
                    && let Some(tx) = self.tasks.get(&r)
                    && tx
                        .send(Item::Reply {
                            to: to.clone(),
                            text: text.clone(),
                        })
                        .is_ok()
                {
                    return;
                }
                if let Err(e) = self.ctx.client.publish(to, text.into()).await {
                    tracing::warn!("bus reply not sent: {e}");
                }
            }
            Out::Stray => {}
        }
    }

    /// Hands `item` to the task of `res_id`, started when there is none.
    fn hand_to_task(&mut self, res_id: String, item: Item) {
        let item = match self.tasks.get(&res_id) {
            Some(tx) => match tx.send(item) {
                Ok(()) => return,
                Err(mpsc::error::SendError(item)) => item,
            },
            None => item,
        };
        let tx = delivery::spawn(self.ctx.clone(), res_id.clone());
        let _ = tx.send(item);
        self.tasks.insert(res_id, tx);
    }
}

fn id_of(v: &Value) -> Value {
    v.get("id").cloned().unwrap_or(Value::Null)
}

/// A request for a res_id of `node`: sent on to `mediagw.<node>.rpc`, its answer
/// returned to `to`; an error response when that node does not answer in time.
async fn forward(
    client: Client,
    node: String,
    body: Vec<u8>,
    to: Option<Subject>,
    id: Value,
    limit: Duration,
) {
    let req = Request::new().payload(body.into()).timeout(Some(limit));
    let answer: Vec<u8> = match client.send_request(subjects::rpc(&node), req).await {
        Ok(m) => m.payload.to_vec(),
        Err(e) => {
            let err = RpcError::new(
                -32001,
                format!("no such resource: node {node} did not answer ({e})"),
                Some(json!({ "node": node })),
            );
            jsonrpc::response_err(&id, &err).into_bytes()
        }
    };
    if let Some(to) = to {
        let _ = client.publish(to, answer.into()).await;
    }
}
