//! JSON-RPC 2.0 framing for the API's WebSocket text frames (pure, no IO).
//!
//! Owns: parsing one text frame into a single request or a batch, validating each
//! Request object as JSON-RPC 2.0 says (`jsonrpc` is `"2.0"`; `id` a string, a
//! number or null, absent for a notification; `method` a string; `params` an
//! object, an array or absent), and serializing responses, error responses,
//! notifications (our events) and batch responses.
//!
//! Strictness beyond the spec: a Request object with a member other than
//! `jsonrpc`, `id`, `method` and `params` is an invalid request (a typo such as
//! `"param"` would otherwise be silently ignored), and a batch holds at most
//! [`MAX_BATCH_LEN`] requests. Typed decoding of `params` lives in `methods`.

use serde::Serialize;
use serde_json::{Map, Value};

use super::errors::RpcError;

/// The most requests one batch may hold; a longer batch is one -32600 error.
pub const MAX_BATCH_LEN: usize = 1024;

/// One valid JSON-RPC 2.0 Request object, not yet decoded against a method.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRequest {
    /// `None` for a notification (no `id` member); `Some(Value::Null)` for `"id": null`.
    pub id: Option<Value>,
    /// The `method` member.
    pub method: String,
    /// The `params` member: an object or an array, `None` when absent.
    pub params: Option<Value>,
}

impl RawRequest {
    /// True when the request is a notification: it gets no response at all.
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }
}

/// An error to answer with, and the id to answer it under (`null` when the id
/// could not be determined, as JSON-RPC 2.0 says).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcErrorWithId {
    /// The id of the faulty request when it had a valid one, else `Value::Null`.
    pub id: Value,
    /// The error.
    pub error: RpcError,
}

impl RpcErrorWithId {
    /// The serialized error response for this error.
    pub fn to_response(&self) -> String {
        response_err(&self.id, &self.error)
    }
}

/// One entry of a frame: a valid request, or the error response it earns.
pub type Entry = Result<RawRequest, RpcErrorWithId>;

/// What one WebSocket text frame holds.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcFrame {
    /// A single Request object (or a non-array JSON value, which is an invalid request).
    Single(Entry),
    /// A non-empty batch, in order.
    Batch(Vec<Entry>),
    /// The whole frame is answered with one error: invalid JSON (-32700), an
    /// empty batch or an oversized batch (-32600); the id is always `null`.
    Error(RpcErrorWithId),
}

/// Parses one text frame with serde_json and validates it as JSON-RPC 2.0.
pub fn parse_frame(text: &str) -> RpcFrame {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => frame_from_value(v),
        Err(e) => RpcFrame::Error(RpcErrorWithId {
            id: Value::Null,
            error: RpcError::parse_error(e),
        }),
    }
}

/// Validates an already parsed JSON value as a frame (lets another JSON parser,
/// e.g. simd-json, feed the same validation).
pub fn frame_from_value(v: Value) -> RpcFrame {
    match v {
        Value::Array(items) => {
            if items.is_empty() {
                RpcFrame::Error(RpcErrorWithId {
                    id: Value::Null,
                    error: RpcError::invalid_request("empty batch"),
                })
            } else if items.len() > MAX_BATCH_LEN {
                RpcFrame::Error(RpcErrorWithId {
                    id: Value::Null,
                    error: RpcError::invalid_request(format!(
                        "batch of {} requests, at most {MAX_BATCH_LEN} allowed",
                        items.len()
                    )),
                })
            } else {
                RpcFrame::Batch(items.into_iter().map(request_from_value).collect())
            }
        }
        other => RpcFrame::Single(request_from_value(other)),
    }
}

/// Validates one JSON value as a JSON-RPC 2.0 Request object.
pub fn request_from_value(v: Value) -> Entry {
    let mut obj = match v {
        Value::Object(m) => m,
        other => {
            return Err(RpcErrorWithId {
                id: Value::Null,
                error: RpcError::invalid_request(format!(
                    "expected a request object, got {}",
                    kind_of(&other)
                )),
            });
        }
    };
    // The id first, so that every later error can be answered under it.
    let id = match obj.remove("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_) | Value::Null)) => Some(id),
        Some(other) => {
            return Err(RpcErrorWithId {
                id: Value::Null,
                error: RpcError::invalid_request(format!(
                    "id must be a string, a number or null, got {}",
                    kind_of(&other)
                )),
            });
        }
    };
    let fail = |detail: String| RpcErrorWithId {
        id: id.clone().unwrap_or(Value::Null),
        error: RpcError::invalid_request(detail),
    };
    match obj.remove("jsonrpc") {
        Some(Value::String(s)) if s == "2.0" => {}
        Some(other) => return Err(fail(format!("jsonrpc must be \"2.0\", got {other}"))),
        None => return Err(fail("missing member jsonrpc".to_string())),
    }
    let method = match obj.remove("method") {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(fail(format!(
                "method must be a string, got {}",
                kind_of(&other)
            )));
        }
        None => return Err(fail("missing member method".to_string())),
    };
    let params = match obj.remove("params") {
        None => None,
        Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
        Some(other) => {
            return Err(fail(format!(
                "params must be an object or an array, got {}",
                kind_of(&other)
            )));
        }
    };
    if let Some(name) = first_key(&obj) {
        return Err(fail(format!("unknown member {name:?}")));
    }
    Ok(RawRequest { id, method, params })
}

fn first_key(obj: &Map<String, Value>) -> Option<&str> {
    obj.keys().next().map(String::as_str)
}

/// A short English name of a JSON value's type, for error messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Serialize)]
struct OkOut<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    result: &'a Value,
}

#[derive(Serialize)]
struct ErrOut<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    error: &'a RpcError,
}

#[derive(Serialize)]
struct NotificationOut<'a> {
    jsonrpc: &'static str,
    method: &'a str,
    params: &'a Value,
}

/// What we send if serialization ever failed (it cannot for these types:
/// every map key is a string).
const SERIALIZE_FALLBACK: &str = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error: response serialization failed"}}"#;

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| SERIALIZE_FALLBACK.to_string())
}

/// A success response: `{"jsonrpc":"2.0","id":ID,"result":RESULT}`.
pub fn response_ok(id: &Value, result: &Value) -> String {
    to_json(&OkOut {
        jsonrpc: "2.0",
        id,
        result,
    })
}

/// An error response: `{"jsonrpc":"2.0","id":ID,"error":{...}}`.
pub fn response_err(id: &Value, err: &RpcError) -> String {
    to_json(&ErrOut {
        jsonrpc: "2.0",
        id,
        error: err,
    })
}

/// A notification (our events): `{"jsonrpc":"2.0","method":M,"params":P}`.
pub fn notification(method: &str, params: &Value) -> String {
    to_json(&NotificationOut {
        jsonrpc: "2.0",
        method,
        params,
    })
}

/// The response to a request with the given outcome, or `None` for a
/// notification (`id` is `None`): notifications are never answered, not even
/// with an error.
pub fn reply(id: Option<&Value>, outcome: &Result<Value, RpcError>) -> Option<String> {
    let id = id?;
    Some(match outcome {
        Ok(result) => response_ok(id, result),
        Err(e) => response_err(id, e),
    })
}

/// Assembles a batch response from the responses of its entries (notifications
/// contribute none). `None` when there is nothing to send: JSON-RPC 2.0 sends
/// nothing back for an all-notification batch.
pub fn batch_response<I>(responses: I) -> Option<String>
where
    I: IntoIterator<Item = String>,
{
    let mut out = String::new();
    for r in responses {
        out.push(if out.is_empty() { '[' } else { ',' });
        out.push_str(&r);
    }
    if out.is_empty() {
        None
    } else {
        out.push(']');
        Some(out)
    }
}

/// Answers a whole frame with a synchronous dispatcher: calls `dispatch` for
/// every valid request (notifications included, in order) and returns the text
/// frame to send back, or `None` when nothing is to be sent.
pub fn respond<F>(frame: RpcFrame, mut dispatch: F) -> Option<String>
where
    F: FnMut(&RawRequest) -> Result<Value, RpcError>,
{
    let mut one = |entry: Entry| -> Option<String> {
        match entry {
            Ok(req) => {
                let outcome = dispatch(&req);
                reply(req.id.as_ref(), &outcome)
            }
            Err(e) => Some(e.to_response()),
        }
    };
    match frame {
        RpcFrame::Error(e) => Some(e.to_response()),
        RpcFrame::Single(entry) => one(entry),
        RpcFrame::Batch(entries) => batch_response(entries.into_iter().filter_map(one)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The JSON-RPC 2.0 specification's example methods.
    fn spec_dispatch(req: &RawRequest) -> Result<Value, RpcError> {
        let nums = |p: &Option<Value>| -> Vec<i64> {
            match p {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
                _ => Vec::new(),
            }
        };
        match req.method.as_str() {
            "subtract" => match &req.params {
                Some(Value::Object(m)) => {
                    let get = |k: &str| m.get(k).and_then(Value::as_i64).unwrap_or(0);
                    Ok(json!(get("minuend") - get("subtrahend")))
                }
                p => {
                    let n = nums(p);
                    Ok(json!(
                        n.first().copied().unwrap_or(0) - n.get(1).copied().unwrap_or(0)
                    ))
                }
            },
            "sum" => Ok(json!(nums(&req.params).iter().sum::<i64>())),
            "update" | "notify_hello" | "notify_sum" => Ok(Value::Null),
            "get_data" => Ok(json!(["hello", 5])),
            m => Err(RpcError::method_not_found(m)),
        }
    }

    fn run(text: &str) -> Option<Value> {
        respond(parse_frame(text), spec_dispatch)
            .map(|s| serde_json::from_str(&s).expect("our responses are valid JSON"))
    }

    /// Checks one response object: jsonrpc, id, and either result or error code.
    fn check(resp: &Value, id: Value, want: Result<Value, i32>) {
        assert_eq!(resp["jsonrpc"], json!("2.0"), "{resp}");
        assert_eq!(resp["id"], id, "{resp}");
        match want {
            Ok(result) => {
                assert_eq!(resp["result"], result, "{resp}");
                assert!(resp.get("error").is_none(), "{resp}");
            }
            Err(code) => {
                assert_eq!(resp["error"]["code"], json!(code), "{resp}");
                assert!(resp["error"]["message"].is_string(), "{resp}");
                assert!(resp.get("result").is_none(), "{resp}");
            }
        }
    }

    /// A client's id comes back exactly: JSON-RPC 2.0 matches replies by it. Found by
    /// the `engine` fuzz target: serde_json's default float parser is off by one ulp
    /// for about one in ten 17-digit fractions (a `Math.random()` id) and for numbers
    /// with an exponent, so the reply carried a different id.
    #[test]
    fn fractional_and_huge_ids_come_back_as_sent() {
        for id in [
            "0.9856906946328695",
            "1.1111111111111111e+24",
            "-7.000000000000001e-9",
        ] {
            let frame = parse_frame(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"m"}}"#));
            let reply = respond(frame, |_| Ok(Value::Null)).expect("a reply");
            assert!(reply.contains(&format!(r#""id":{id},"#)), "{id}: {reply}");
        }
    }

    #[test]
    fn spec_positional_params() {
        let r = run(r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#);
        check(&r.expect("a response"), json!(1), Ok(json!(19)));
        let r = run(r#"{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}"#);
        check(&r.expect("a response"), json!(2), Ok(json!(-19)));
    }

    #[test]
    fn spec_named_params() {
        let r = run(
            r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#,
        );
        check(&r.expect("a response"), json!(3), Ok(json!(19)));
        let r = run(
            r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}"#,
        );
        check(&r.expect("a response"), json!(4), Ok(json!(19)));
    }

    #[test]
    fn spec_notifications_get_no_response() {
        let f = parse_frame(r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#);
        match &f {
            RpcFrame::Single(Ok(req)) => {
                assert!(req.is_notification());
                assert_eq!(req.method, "update");
                assert_eq!(req.params, Some(json!([1, 2, 3, 4, 5])));
            }
            other => panic!("expected a single request, got {other:?}"),
        }
        assert_eq!(respond(f, spec_dispatch), None);
        // Not even an error for a notification of an unknown method.
        assert_eq!(run(r#"{"jsonrpc": "2.0", "method": "foobar"}"#), None);
    }

    #[test]
    fn spec_non_existent_method() {
        let r = run(r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#);
        check(&r.expect("a response"), json!("1"), Err(-32601));
    }

    #[test]
    fn spec_invalid_json() {
        let text = r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#;
        assert!(matches!(parse_frame(text), RpcFrame::Error(ref e) if e.error.code == -32700));
        check(&run(text).expect("a response"), Value::Null, Err(-32700));
    }

    #[test]
    fn spec_invalid_request_object() {
        let r = run(r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#);
        check(&r.expect("a response"), Value::Null, Err(-32600));
    }

    #[test]
    fn spec_batch_invalid_json() {
        let r = run(r#"[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]"#);
        let r = r.expect("a response");
        assert!(r.is_object(), "one error, not an array: {r}");
        check(&r, Value::Null, Err(-32700));
    }

    #[test]
    fn spec_empty_array() {
        let r = run("[]").expect("a response");
        assert!(r.is_object(), "one error, not an array: {r}");
        check(&r, Value::Null, Err(-32600));
    }

    #[test]
    fn spec_invalid_batch_of_one() {
        let r = run("[1]").expect("a response");
        let arr = r.as_array().expect("an array");
        assert_eq!(arr.len(), 1);
        check(&arr[0], Value::Null, Err(-32600));
    }

    #[test]
    fn spec_invalid_batch_of_three() {
        let r = run("[1,2,3]").expect("a response");
        let arr = r.as_array().expect("an array");
        assert_eq!(arr.len(), 3);
        for resp in arr {
            check(resp, Value::Null, Err(-32600));
        }
    }

    #[test]
    fn spec_mixed_batch() {
        let r = run(r#"[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]"#)
        .expect("a response");
        let arr = r.as_array().expect("an array");
        assert_eq!(arr.len(), 5, "{r}");
        check(&arr[0], json!("1"), Ok(json!(7)));
        check(&arr[1], json!("2"), Ok(json!(19)));
        check(&arr[2], Value::Null, Err(-32600));
        check(&arr[3], json!("5"), Err(-32601));
        check(&arr[4], json!("9"), Ok(json!(["hello", 5])));
    }

    #[test]
    fn spec_all_notification_batch() {
        let text = r#"[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]"#;
        let mut calls = Vec::new();
        let out = respond(parse_frame(text), |req| {
            calls.push(req.method.clone());
            spec_dispatch(req)
        });
        assert_eq!(out, None);
        assert_eq!(
            calls,
            vec!["notify_sum", "notify_hello"],
            "both still executed"
        );
    }

    fn single_err(text: &str) -> RpcErrorWithId {
        match parse_frame(text) {
            RpcFrame::Single(Err(e)) => e,
            other => panic!("expected an invalid single request, got {other:?}"),
        }
    }

    #[test]
    fn envelope_validation() {
        // jsonrpc missing / wrong version / wrong type.
        let e = single_err(r#"{"method":"m","id":1}"#);
        assert_eq!((e.id.clone(), e.error.code), (json!(1), -32600));
        assert!(e.error.message.contains("jsonrpc"));
        assert_eq!(
            single_err(r#"{"jsonrpc":"1.0","method":"m","id":1}"#)
                .error
                .code,
            -32600
        );
        assert_eq!(
            single_err(r#"{"jsonrpc":2.0,"method":"m","id":1}"#)
                .error
                .code,
            -32600
        );
        // A bad id is never echoed.
        let e = single_err(r#"{"jsonrpc":"2.0","method":"m","id":[1]}"#);
        assert_eq!(e.id, Value::Null);
        assert!(e.error.message.contains("id"));
        let e = single_err(r#"{"jsonrpc":"2.0","method":"m","id":{"a":1}}"#);
        assert_eq!(e.id, Value::Null);
        let e = single_err(r#"{"jsonrpc":"2.0","method":"m","id":true}"#);
        assert_eq!(e.id, Value::Null);
        // Missing method; a valid id is echoed.
        let e = single_err(r#"{"jsonrpc":"2.0","id":"x"}"#);
        assert_eq!(e.id, json!("x"));
        assert!(e.error.message.contains("method"));
        // params must be structured.
        for p in ["1", "\"s\"", "true", "null"] {
            let e = single_err(&format!(
                r#"{{"jsonrpc":"2.0","method":"m","id":1,"params":{p}}}"#
            ));
            assert_eq!(e.error.code, -32600, "params {p}");
            assert!(e.error.message.contains("params"));
        }
        // Unknown member.
        let e = single_err(r#"{"jsonrpc":"2.0","method":"m","id":1,"param":{}}"#);
        assert!(e.error.message.contains("\"param\""), "{}", e.error.message);
        // Not an object at all.
        assert_eq!(single_err("42").error.code, -32600);
        assert_eq!(single_err("\"x\"").error.code, -32600);
        assert_eq!(single_err("null").error.code, -32600);
    }

    #[test]
    fn ids_of_every_allowed_kind() {
        for (text, id) in [
            (r#"{"jsonrpc":"2.0","method":"m","id":7}"#, Some(json!(7))),
            (
                r#"{"jsonrpc":"2.0","method":"m","id":-1.5}"#,
                Some(json!(-1.5)),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"m","id":"abc"}"#,
                Some(json!("abc")),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"m","id":null}"#,
                Some(Value::Null),
            ),
            (r#"{"jsonrpc":"2.0","method":"m"}"#, None),
        ] {
            match parse_frame(text) {
                RpcFrame::Single(Ok(req)) => {
                    assert_eq!(req.id, id, "{text}");
                    assert_eq!(req.params, None);
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        // id null is a request, not a notification: it is answered.
        let out = respond(
            parse_frame(r#"{"jsonrpc":"2.0","method":"get_data","id":null}"#),
            spec_dispatch,
        );
        let v: Value = serde_json::from_str(&out.expect("answered")).expect("json");
        check(&v, Value::Null, Ok(json!(["hello", 5])));
    }

    #[test]
    fn oversized_batch_is_one_error() {
        let one = r#"{"jsonrpc":"2.0","method":"m"}"#;
        let text = format!("[{}]", vec![one; MAX_BATCH_LEN + 1].join(","));
        match parse_frame(&text) {
            RpcFrame::Error(e) => assert_eq!((e.id, e.error.code), (Value::Null, -32600)),
            other => panic!("{other:?}"),
        }
        let text = format!("[{}]", vec![one; MAX_BATCH_LEN].join(","));
        assert!(matches!(parse_frame(&text), RpcFrame::Batch(v) if v.len() == MAX_BATCH_LEN));
    }

    #[test]
    fn deep_nesting_is_a_parse_error_not_a_crash() {
        let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(parse_frame(&text), RpcFrame::Error(e) if e.error.code == -32700));
    }

    #[test]
    fn serialization_shapes() {
        let s = response_ok(&json!(7), &Value::Null);
        assert_eq!(s, r#"{"jsonrpc":"2.0","id":7,"result":null}"#);
        let s = response_err(&json!("a"), &RpcError::no_such_resource("r"));
        let v: Value = serde_json::from_str(&s).expect("json");
        assert_eq!(
            v,
            json!({"jsonrpc":"2.0","id":"a","error":{"code":-32001,"message":"no such resource: r","data":{"res_id":"r"}}})
        );
        let s = notification(
            "sys.call.on_released",
            &json!({"res_id": "r", "cause": 200}),
        );
        let v: Value = serde_json::from_str(&s).expect("json");
        assert_eq!(
            v,
            json!({"jsonrpc":"2.0","method":"sys.call.on_released","params":{"res_id":"r","cause":200}})
        );
        assert!(v.get("id").is_none());
        assert_eq!(reply(None, &Ok(json!(1))), None);
        assert_eq!(reply(None, &Err(RpcError::internal("x"))), None);
        assert_eq!(
            reply(Some(&json!(1)), &Ok(json!(true))).as_deref(),
            Some(r#"{"jsonrpc":"2.0","id":1,"result":true}"#)
        );
    }

    #[test]
    fn batch_assembly() {
        assert_eq!(batch_response(Vec::<String>::new()), None);
        assert_eq!(
            batch_response(vec!["{}".to_string()]).as_deref(),
            Some("[{}]")
        );
        assert_eq!(
            batch_response(vec!["1".to_string(), "2".to_string()]).as_deref(),
            Some("[1,2]")
        );
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // Every prefix of a realistic batch, and a few odd byte strings.
        let text = r#"[{"jsonrpc":"2.0","id":1,"method":"sys.call.play_start","params":{"res_id":"r","content":[["a.wav",0,""],["2016-09-02",4,""]]}},{"jsonrpc":"2.0","method":"x"}]"#;
        for end in 0..=text.len() {
            if let Some(prefix) = text.get(..end) {
                let _ = respond(parse_frame(prefix), spec_dispatch);
            }
        }
        for odd in [
            "",
            " ",
            "\u{0}",
            "[[]]",
            "[{}]",
            "{\"id\":1e999}",
            "\"\\ud800\"",
        ] {
            let _ = respond(parse_frame(odd), spec_dispatch);
        }
    }
}
