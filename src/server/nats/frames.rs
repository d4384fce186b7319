//! JSON-RPC frames on the bus: many application instances share the node's one engine
//! connection, so each request's ids are replaced by ids unique on this node before
//! the engine sees them, and the engine's response is given its original ids back and
//! sent to the request's NATS reply subject. What the engine sends the bus is told
//! apart here: an event (it has a `method`) or a response (it has an id of ours).

use std::collections::HashMap;

use async_nats::Subject;
use serde_json::Value;

use crate::api::jsonrpc::{self, RpcFrame};

/// What becomes of a request body that arrived on `mediagw.<node>.rpc`.
pub enum Admit {
    /// For the engine (ids replaced); `res_id` is the first resource it names.
    Engine {
        frame: RpcFrame,
        res_id: Option<String>,
    },
    /// Answered at once, without the engine (a parse error, an invalid request): the
    /// text goes to the reply subject, and the frame (notifications only), if any, to
    /// the engine.
    Answered {
        text: String,
        frame: Option<RpcFrame>,
    },
}

/// What the engine sent to the bus.
#[derive(Debug, PartialEq)]
pub enum Out {
    /// An event (`method` present) of resource `res_id`.
    Event {
        res_id: String,
        method: String,
        text: String,
    },
    /// The response to a request of ours: to `to` (None: it came without a reply
    /// subject); `res_id` is what it is about (named in the request, or the resource a
    /// `construct` made), for its place among that resource's events.
    Response {
        to: Option<Subject>,
        text: String,
        res_id: Option<String>,
    },
    /// Neither (a response to no request of ours): dropped.
    Stray,
}

struct Pending {
    to: Option<Subject>,
    res_id: Option<String>,
    /// Our ids in this frame, and the ids they replaced.
    ids: Vec<(u64, Value)>,
}

/// Requests whose response has not come back from the engine yet.
#[derive(Default)]
pub struct Frames {
    next: u64,
    /// Our id → the frame (its first id).
    by_id: HashMap<u64, u64>,
    frames: HashMap<u64, Pending>,
}

/// The `res_id` a request names (by name, or first by position).
pub fn res_id_of(request: &Value) -> Option<&str> {
    let p = request.get("params")?;
    p.get("res_id").or_else(|| p.get(0)).and_then(Value::as_str)
}

/// The first `res_id` a body's requests name.
pub fn first_res_id(body: &Value) -> Option<&str> {
    match body {
        Value::Array(items) => items.iter().find_map(res_id_of),
        v => res_id_of(v),
    }
}

impl Frames {
    /// A request body from the bus, with `to` its reply subject.
    pub fn admit(&mut self, body: &[u8], to: Option<Subject>) -> Admit {
        let mut v: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let RpcFrame::Error(e) = jsonrpc::parse_frame(&text) else {
                    unreachable!("text that is not JSON is a parse error")
                };
                return Admit::Answered {
                    text: e.to_response(),
                    frame: None,
                };
            }
        };
        let res_id = first_res_id(&v).map(str::to_string);
        let mut ids = Vec::new();
        let mut swap = |obj: &mut Value, ids: &mut Vec<(u64, Value)>| {
            if let Some(m) = obj.as_object_mut()
                && let Some(id) = m.get_mut("id")
                && matches!(id, Value::String(_) | Value::Number(_) | Value::Null)
            {
                self.next += 1;
                let old = std::mem::replace(id, Value::from(self.next));
                ids.push((self.next, old));
            }
        };
        match &mut v {
            Value::Array(items) => items.iter_mut().for_each(|i| swap(i, &mut ids)),
            one => swap(one, &mut ids),
        }
        let frame = jsonrpc::frame_from_value(v);
        let invalid_single = matches!(&frame, RpcFrame::Single(Err(_)));
        if let RpcFrame::Error(e) = &frame {
            return Admit::Answered {
                text: e.to_response(),
                frame: None,
            };
        }
        if invalid_single || ids.is_empty() {
            // Nothing the engine answers can be matched to this request: answer here
            // (an invalid request's error; nothing at all for notifications).
            let text = match &frame {
                RpcFrame::Single(Err(e)) => restore_error(e, &ids),
                RpcFrame::Batch(entries) => {
                    let errors: Vec<String> = entries
                        .iter()
                        .filter_map(|e| e.as_ref().err().map(|e| restore_error(e, &ids)))
                        .collect();
                    if errors.is_empty() {
                        String::new()
                    } else {
                        format!("[{}]", errors.join(","))
                    }
                }
                _ => String::new(),
            };
            return Admit::Answered {
                text,
                frame: (!invalid_single).then_some(frame),
            };
        }
        let key = ids[0].0;
        for (id, _) in &ids {
            self.by_id.insert(*id, key);
        }
        self.frames.insert(
            key,
            Pending {
                to,
                res_id: res_id.clone(),
                ids,
            },
        );
        Admit::Engine { frame, res_id }
    }

    /// A text the engine sent to the bus's connection.
    pub fn classify(&mut self, text: String) -> Out {
        let Ok(mut v) = serde_json::from_str::<Value>(&text) else {
            return Out::Stray;
        };
        if let Some(method) = v.get("method").and_then(Value::as_str) {
            let res_id = v
                .get("params")
                .and_then(|p| p.get("res_id"))
                .and_then(Value::as_str);
            return match res_id {
                Some(r) => Out::Event {
                    res_id: r.to_string(),
                    method: method.to_string(),
                    text,
                },
                None => Out::Stray,
            };
        }
        let first = match &v {
            Value::Array(items) => items.iter().find_map(our_id),
            one => our_id(one),
        };
        let Some(key) = first.and_then(|id| self.by_id.get(&id).copied()) else {
            return Out::Stray;
        };
        let Some(p) = self.frames.remove(&key) else {
            return Out::Stray;
        };
        let original: HashMap<u64, Value> = p.ids.into_iter().collect();
        for id in original.keys() {
            self.by_id.remove(id);
        }
        let mut made = None;
        let mut restore = |obj: &mut Value| {
            if made.is_none() {
                made = obj
                    .get("result")
                    .and_then(|r| r.get("res_id"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            if let Some(id) = our_id(obj)
                && let Some(old) = original.get(&id)
                && let Some(m) = obj.as_object_mut()
            {
                m.insert("id".into(), old.clone());
            }
        };
        match &mut v {
            Value::Array(items) => items.iter_mut().for_each(&mut restore),
            one => restore(one),
        }
        Out::Response {
            to: p.to,
            text: v.to_string(),
            res_id: p.res_id.or(made),
        }
    }

    /// Requests waiting for the engine.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

fn our_id(v: &Value) -> Option<u64> {
    v.get("id").and_then(Value::as_u64)
}

/// An invalid entry's error response, under the id it came with.
fn restore_error(e: &jsonrpc::RpcErrorWithId, ids: &[(u64, Value)]) -> String {
    let id =
        e.id.as_u64()
            .and_then(|ours| ids.iter().find(|(i, _)| *i == ours))
            .map_or(Value::Null, |(_, old)| old.clone());
    jsonrpc::response_err(&id, &e.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(a: Admit) -> (RpcFrame, Option<String>) {
        match a {
            Admit::Engine { frame, res_id } => (frame, res_id),
            Admit::Answered { text, .. } => panic!("answered: {text}"),
        }
    }

    #[test]
    fn ids_are_made_unique_and_given_back() {
        let mut f = Frames::default();
        let body =
            br#"{"jsonrpc":"2.0","id":"x","method":"sys.call.exists","params":{"res_id":"r1"}}"#;
        let (frame, res) = engine(f.admit(body, Some("_INBOX.1".into())));
        assert_eq!(res.as_deref(), Some("r1"));
        let RpcFrame::Single(Ok(req)) = frame else {
            panic!("a request")
        };
        assert_eq!(req.id, Some(Value::from(1)));
        // A second instance with the same id gets another.
        let (frame, _) = engine(f.admit(body, Some("_INBOX.2".into())));
        let RpcFrame::Single(Ok(req2)) = frame else {
            panic!("a request")
        };
        assert_eq!(req2.id, Some(Value::from(2)));
        let out = f.classify(r#"{"jsonrpc":"2.0","id":2,"result":true}"#.into());
        let Out::Response { to, text, res_id } = out else {
            panic!("a response")
        };
        assert_eq!(to, Some("_INBOX.2".into()));
        assert_eq!(res_id.as_deref(), Some("r1"));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"jsonrpc":"2.0","id":"x","result":true})
        );
        assert_eq!(f.len(), 1);
        assert_eq!(
            f.classify(r#"{"jsonrpc":"2.0","id":2,"result":true}"#.into()),
            Out::Stray,
            "answered once"
        );
    }

    #[test]
    fn a_construct_reply_names_the_new_resource_and_events_are_told_apart() {
        let mut f = Frames::default();
        let body = br#"[{"jsonrpc":"2.0","id":5,"method":"sys.call.construct","params":{}},{"jsonrpc":"2.0","method":"sys.call.drop","params":["r9"]}]"#;
        let (_, res) = engine(f.admit(body, Some("_INBOX.a".into())));
        assert_eq!(res.as_deref(), Some("r9"));
        let out = f.classify(r#"[{"jsonrpc":"2.0","id":1,"result":{"res_id":"new"}}]"#.into());
        let Out::Response { text, res_id, .. } = out else {
            panic!("a response")
        };
        assert!(text.contains(r#""id":5"#), "{text}");
        assert_eq!(res_id.as_deref(), Some("r9"));
        let ev = r#"{"jsonrpc":"2.0","method":"sys.call.on_ringing","params":{"res_id":"new"}}"#;
        assert_eq!(
            f.classify(ev.into()),
            Out::Event {
                res_id: "new".into(),
                method: "sys.call.on_ringing".into(),
                text: ev.into()
            }
        );
    }

    #[test]
    fn what_the_engine_cannot_answer_is_answered_here() {
        let mut f = Frames::default();
        let Admit::Answered { text, frame } = f.admit(b"{nope", None) else {
            panic!("answered")
        };
        assert!(text.contains("-32700"), "{text}");
        assert!(frame.is_none());
        let Admit::Answered { text, frame } = f.admit(br#"{"id":3,"method":7}"#, None) else {
            panic!("answered")
        };
        assert!(
            text.contains("-32600") && text.contains(r#""id":3"#),
            "{text}"
        );
        assert!(frame.is_none());
        let body = br#"{"jsonrpc":"2.0","method":"sys.call.drop","params":{"res_id":"r"}}"#;
        let Admit::Answered { text, frame } = f.admit(body, None) else {
            panic!("a notification is answered with nothing")
        };
        assert_eq!(text, "");
        assert!(frame.is_some(), "but still done");
        assert_eq!(f.len(), 0);
    }
}
