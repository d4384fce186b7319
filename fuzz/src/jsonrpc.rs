//! Target `jsonrpc`: one WebSocket text frame through the API's JSON-RPC 2.0 layer as the
//! engine handles it: `parse_frame`, `respond` with a dispatcher that decodes each request
//! with `methods::decode`, and, for every request that frames, its `params` decoded
//! against every method of the API.
//!
//! Checks: the response frame is valid JSON and carries the ids of the frame's requests,
//! in order, exactly as parsed (none for notifications); a decoded request names its method; params
//! given by name decode to the same request when given by position in the seed's order
//! (nulls for gaps), as API.md promises.

use serde_json::Value;

use mediagw::api::jsonrpc::{Entry, RpcFrame as Frame, parse_frame, respond};
use mediagw::api::methods::{METHODS, decode, param_names};

/// The target.
pub fn run(data: &[u8]) {
    // axum hands the engine text frames only, which are UTF-8.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let frame = parse_frame(text);
    let ids = reply_ids(&frame);
    let mut requests = Vec::new();
    match &frame {
        Frame::Single(Ok(req)) => requests.push(req.clone()),
        Frame::Batch(entries) => requests.extend(entries.iter().filter_map(|e| e.clone().ok())),
        _ => {}
    }
    let response = respond(frame, |req| {
        decode(&req.method, req.params.clone()).map(|r| Value::String(r.method().to_string()))
    });
    match (response, ids) {
        (Some(response), Some(ids)) => {
            let reply: Value = serde_json::from_str(&response).expect("our response frame is JSON");
            assert_eq!(ids_of_reply(&reply), ids, "reply ids");
        }
        (None, None) => {}
        (response, ids) => panic!("reply {response:?} for ids {ids:?}"),
    }
    for req in requests.iter().take(8) {
        for (method, _) in METHODS {
            decode_both_ways(method, req.params.clone());
        }
    }
}

/// Decodes `params` for `method`; when they are named and decode, their positional twin
/// must decode to the same request.
fn decode_both_ways(method: &str, params: Option<Value>) {
    let named = params.as_ref().and_then(Value::as_object).cloned();
    let Ok(request) = decode(method, params) else {
        return;
    };
    assert_eq!(request.method(), method);
    let _ = request.res_id();
    let Some(obj) = named else { return };
    let names = param_names(method).expect("a method of METHODS has parameters");
    if !obj.keys().all(|k| names.contains(&k.as_str())) {
        return;
    }
    let used = names
        .iter()
        .rposition(|n| obj.contains_key(*n))
        .map_or(0, |i| i + 1);
    let positional: Vec<Value> = names
        .iter()
        .take(used)
        .map(|n| obj.get(*n).cloned().unwrap_or(Value::Null))
        .collect();
    let twin = decode(method, Some(Value::Array(positional)))
        .unwrap_or_else(|e| panic!("{method}: named params decode, positional ones fail: {e}"));
    assert_eq!(
        twin, request,
        "{method}: named and positional params differ"
    );
}

/// The ids a frame's reply must carry, in order (`None`: no reply is due).
pub fn reply_ids(frame: &Frame) -> Option<Vec<Value>> {
    let id = |entry: &Entry| match entry {
        Ok(req) => req.id.clone(),
        Err(e) => Some(e.id.clone()),
    };
    let ids: Vec<Value> = match frame {
        Frame::Error(e) => vec![e.id.clone()],
        Frame::Single(entry) => id(entry).into_iter().collect(),
        Frame::Batch(entries) => entries.iter().filter_map(id).collect(),
    };
    (!ids.is_empty()).then_some(ids)
}

/// The ids of a reply frame (a single response or a batch), in order.
pub fn ids_of_reply(reply: &Value) -> Vec<Value> {
    match reply {
        Value::Array(items) => items.iter().map(|r| r["id"].clone()).collect(),
        one => vec![one["id"].clone()],
    }
}
