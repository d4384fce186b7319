//! The replies to API frames, in order, where some wait for the media plane: each frame
//! (a single request or a batch) gets a slot per request; a request the engine can
//! answer at once fills its slot, one that depends on the media (`answer` before the
//! port is bound, `construct`, `play_start`, `record_start`) takes a [`Ticket`] and fills
//! it when the event arrives. The frame's response goes out once every slot is filled,
//! and the events of the resources the frame is about, sent to its connection
//! meanwhile, are held and go right after it: a client always reads a reply before the
//! events its request caused.

use std::collections::HashMap;

use serde_json::Value;

use super::clients::ConnId;
use crate::api::errors::RpcError;
use crate::api::jsonrpc::{batch_response, reply};

/// Names the slot a deferred reply fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket {
    frame: u64,
    slot: usize,
}

impl Ticket {
    /// The frame the ticket's slot is in.
    pub fn frame(&self) -> u64 {
        self.frame
    }
}

#[derive(Debug)]
enum Slot {
    /// Waits for its outcome; the request's id (None: a notification).
    Waiting(Option<Value>),
    /// The response object's text (None: a notification, which gets none).
    Done(Option<String>),
}

#[derive(Debug)]
struct Frame {
    conn: ConnId,
    batch: bool,
    slots: Vec<Slot>,
    /// Every slot has been pushed (the frame's requests have all been dispatched).
    sealed: bool,
    /// The resources its requests are about.
    serials: Vec<u64>,
    /// Events for those resources to `conn`, held until the response is out.
    held: Vec<String>,
}

/// Frames whose response is not out yet.
#[derive(Debug, Default)]
pub struct Replies {
    frames: HashMap<u64, Frame>,
    next: u64,
}

impl Replies {
    /// A new frame from `conn`.
    pub fn open(&mut self, conn: ConnId, batch: bool) -> u64 {
        self.next += 1;
        self.frames.insert(
            self.next,
            Frame {
                conn,
                batch,
                slots: Vec::new(),
                sealed: false,
                serials: Vec::new(),
                held: Vec::new(),
            },
        );
        self.next
    }

    /// A slot already answered (`text` None for a notification).
    pub fn push_done(&mut self, frame: u64, text: Option<String>) {
        if let Some(f) = self.frames.get_mut(&frame) {
            f.slots.push(Slot::Done(text));
        }
    }

    /// A slot for a request with this id, to be filled through the ticket.
    pub fn push_waiting(&mut self, frame: u64, id: Option<Value>) -> Ticket {
        let f = self.frames.get_mut(&frame).expect("open frame");
        f.slots.push(Slot::Waiting(id));
        Ticket {
            frame,
            slot: f.slots.len() - 1,
        }
    }

    /// The frame's requests are about resource `serial`: its events to the frame's
    /// connection wait for the response.
    pub fn involve(&mut self, frame: u64, serial: u64) {
        if let Some(f) = self.frames.get_mut(&frame)
            && !f.serials.contains(&serial)
        {
            f.serials.push(serial);
        }
    }

    /// Fills the ticket's slot with the outcome of its request.
    pub fn resolve(&mut self, ticket: Ticket, outcome: Result<Value, RpcError>) {
        let Some(f) = self.frames.get_mut(&ticket.frame) else {
            return;
        };
        if let Some(slot) = f.slots.get_mut(ticket.slot)
            && let Slot::Waiting(id) = slot
        {
            let text = reply(id.as_ref(), &outcome);
            *slot = Slot::Done(text);
        }
    }

    /// No more requests will be pushed into `frame`.
    pub fn seal(&mut self, frame: u64) {
        if let Some(f) = self.frames.get_mut(&frame) {
            f.sealed = true;
        }
    }

    /// Holds `text`, an event of resource `serial` for `conn`, behind the earliest
    /// unanswered frame of that connection about that resource; hands it back when
    /// there is none.
    pub fn hold(&mut self, conn: ConnId, serial: u64, text: String) -> Option<String> {
        let frame = self
            .frames
            .iter_mut()
            .filter(|(_, f)| f.conn == conn && f.serials.contains(&serial))
            .min_by_key(|(id, _)| **id);
        match frame {
            Some((_, f)) => {
                f.held.push(text);
                None
            }
            None => Some(text),
        }
    }

    /// Fills every slot still waiting in the frames about resource `serial` with
    /// `error` (a fault ended that resource while its requests waited); returns those
    /// frames, to be flushed.
    pub fn fail_involving(&mut self, serial: u64, error: &RpcError) -> Vec<u64> {
        let mut failed = Vec::new();
        for (id, f) in self.frames.iter_mut() {
            if !f.serials.contains(&serial) {
                continue;
            }
            for slot in f.slots.iter_mut() {
                if let Slot::Waiting(req) = slot {
                    *slot = Slot::Done(reply(req.as_ref(), &Err(error.clone())));
                }
            }
            failed.push(*id);
        }
        failed
    }

    /// Whether `frame` still waits for an outcome.
    pub fn is_waiting(&self, frame: u64) -> bool {
        self.frames.contains_key(&frame)
    }

    /// If every slot of `frame` is filled: removes it and returns its connection and the
    /// texts to send, the response first, then the events held behind it.
    pub fn take_if_complete(&mut self, frame: u64) -> Option<(ConnId, Vec<String>)> {
        let f = self.frames.get(&frame)?;
        if !f.sealed || f.slots.iter().any(|s| matches!(s, Slot::Waiting(_))) {
            return None;
        }
        let f = self.frames.remove(&frame)?;
        let texts = f.slots.into_iter().filter_map(|s| match s {
            Slot::Done(t) => t,
            Slot::Waiting(_) => None,
        });
        let response = if f.batch {
            batch_response(texts)
        } else {
            texts.into_iter().next()
        };
        let mut out: Vec<String> = response.into_iter().collect();
        out.extend(f.held);
        Some((f.conn, out))
    }

    /// The frames `conn` left waiting when it went away are dropped, their held events
    /// handed back (to be kept for the resources' next owner).
    pub fn drop_conn(&mut self, conn: ConnId) -> Vec<String> {
        let ids: Vec<u64> = self
            .frames
            .iter()
            .filter(|(_, f)| f.conn == conn)
            .map(|(id, _)| *id)
            .collect();
        let mut held = Vec::new();
        for id in ids {
            if let Some(f) = self.frames.remove(&id) {
                held.extend(f.held);
            }
        }
        held
    }

    /// Frames waiting for an outcome.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_deferred_reply_goes_first_then_the_events_it_held() {
        let mut r = Replies::default();
        let f = r.open(7, false);
        let t = r.push_waiting(f, Some(json!(1)));
        r.involve(f, 42);
        r.seal(f);
        assert!(r.take_if_complete(f).is_none());
        assert_eq!(r.hold(7, 42, "ev1".into()), None);
        assert_eq!(
            r.hold(7, 43, "other".into()),
            Some("other".into()),
            "another call"
        );
        assert_eq!(
            r.hold(8, 42, "x".into()),
            Some("x".into()),
            "another connection"
        );
        r.resolve(t, Ok(json!("done")));
        let (conn, out) = r.take_if_complete(f).expect("complete");
        assert_eq!(conn, 7);
        assert_eq!(out.len(), 2);
        assert!(out[0].contains("\"result\":\"done\""), "{out:?}");
        assert_eq!(out[1], "ev1");
        assert!(r.is_empty());
    }

    #[test]
    fn a_batch_answers_once_all_its_slots_are_filled() {
        let mut r = Replies::default();
        let f = r.open(1, true);
        r.push_done(
            f,
            Some("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}".into()),
        );
        let t = r.push_waiting(f, Some(json!(2)));
        r.push_done(f, None);
        r.seal(f);
        assert!(r.take_if_complete(f).is_none());
        r.resolve(t, Err(RpcError::media("x.wav", "missing")));
        let (_, out) = r.take_if_complete(f).expect("complete");
        let v: Value = serde_json::from_str(&out[0]).expect("json");
        assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
        assert_eq!(v[1]["error"]["code"], -32005);
    }

    #[test]
    fn an_unsealed_frame_is_not_complete_and_a_gone_connection_drops_it() {
        let mut r = Replies::default();
        let f = r.open(3, false);
        r.push_done(f, Some("{}".into()));
        assert!(r.take_if_complete(f).is_none(), "still being dispatched");
        r.involve(f, 5);
        r.hold(3, 5, "held".into());
        assert_eq!(r.drop_conn(3), vec!["held".to_string()]);
        assert!(r.is_empty());
    }
}
