//! The JSON-RPC error objects of the sys.call / sys.conf API (API.md, "Error codes").
//!
//! Owns the numeric codes and one constructor per code that fills `error.data`
//! exactly as API.md's table says, so that every layer (framing, parameter
//! decoding, the resource registry, the media layer) reports failures in one shape.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// Invalid JSON was received (JSON-RPC 2.0).
pub const PARSE_ERROR: i32 = -32700;
/// The JSON sent is not a valid Request object (JSON-RPC 2.0).
pub const INVALID_REQUEST: i32 = -32600;
/// The method does not exist (JSON-RPC 2.0).
pub const METHOD_NOT_FOUND: i32 = -32601;
/// Invalid method parameters (JSON-RPC 2.0); `data.param` names the parameter.
pub const INVALID_PARAMS: i32 = -32602;
/// Internal JSON-RPC error (JSON-RPC 2.0); not used by the decoding layer.
pub const INTERNAL_ERROR: i32 = -32603;
/// No such resource: `res_id` unknown or already released; `data: {"res_id"}`.
pub const NO_SUCH_RESOURCE: i32 = -32001;
/// Not allowed in the resource's current state; `data: {"res_id","state"}`.
pub const BAD_STATE: i32 = -32002;
/// Not allowed (direction, path outside the media roots, ...); `data: {"reason"}`.
pub const NOT_ALLOWED: i32 = -32003;
/// No capacity (gateways full, no RTP port, draining); `data: {"reason"}`.
pub const NO_CAPACITY: i32 = -32004;
/// Media: a file missing, unreadable or unsupported; `data: {"path","reason"}`.
pub const MEDIA_ERROR: i32 = -32005;

/// A JSON-RPC 2.0 error object: `{"code", "message", "data"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message} ({code})")]
pub struct RpcError {
    /// One of the codes above.
    pub code: i32,
    /// A short human-readable description; names the parameter where there is one.
    pub message: String,
    /// Structured detail as API.md's table says; omitted from the JSON when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with an explicit code, message and data.
    pub fn new(code: i32, message: impl Into<String>, data: Option<Value>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data,
        }
    }

    /// -32700: the frame is not valid JSON; `detail` says where (serde_json's text).
    pub fn parse_error(detail: impl std::fmt::Display) -> Self {
        Self::new(PARSE_ERROR, format!("parse error: {detail}"), None)
    }

    /// -32600: not a valid Request object; `detail` says which member is wrong.
    pub fn invalid_request(detail: impl std::fmt::Display) -> Self {
        Self::new(INVALID_REQUEST, format!("invalid request: {detail}"), None)
    }

    /// -32601: no such method; `data: {"method": name}`.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            METHOD_NOT_FOUND,
            format!("method not found: {method}"),
            Some(json!({ "method": method })),
        )
    }

    /// -32602 for one parameter: message `invalid params: PARAM: DETAIL`,
    /// `data: {"param": PARAM}`.
    pub fn invalid_param(param: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(
            INVALID_PARAMS,
            format!("invalid params: {param}: {detail}"),
            Some(json!({ "param": param })),
        )
    }

    /// -32602 for one element of a list parameter (`content[2]`, `to_uri[0]`):
    /// message `invalid params: PARAM[INDEX]: DETAIL`, `data: {"param", "index"}`.
    pub fn invalid_param_item(param: &str, index: usize, detail: impl std::fmt::Display) -> Self {
        Self::new(
            INVALID_PARAMS,
            format!("invalid params: {param}[{index}]: {detail}"),
            Some(json!({ "param": param, "index": index })),
        )
    }

    /// -32602 when more positional parameters are given than the method takes;
    /// `data: {"index": first_extra_position}`.
    pub fn too_many_params(method: &str, takes: usize, got: usize) -> Self {
        Self::new(
            INVALID_PARAMS,
            format!(
                "invalid params: {method} takes at most {takes} positional parameters, got {got}"
            ),
            Some(json!({ "index": takes })),
        )
    }

    /// -32603: an internal error (a bug or an unexpected failure inside the gateway).
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(INTERNAL_ERROR, format!("internal error: {detail}"), None)
    }

    /// -32001: `res_id` unknown or already released; `data: {"res_id"}`.
    pub fn no_such_resource(res_id: &str) -> Self {
        Self::new(
            NO_SUCH_RESOURCE,
            format!("no such resource: {res_id}"),
            Some(json!({ "res_id": res_id })),
        )
    }

    /// -32002: not allowed in the resource's current state; `data: {"res_id","state"}`.
    pub fn bad_state(res_id: &str, state: &str) -> Self {
        Self::new(
            BAD_STATE,
            format!("not allowed in state {state}: {res_id}"),
            Some(json!({ "res_id": res_id, "state": state })),
        )
    }

    /// -32003: not allowed (wrong direction, path outside the roots, ...); `data: {"reason"}`.
    pub fn not_allowed(reason: &str) -> Self {
        Self::new(
            NOT_ALLOWED,
            format!("not allowed: {reason}"),
            Some(json!({ "reason": reason })),
        )
    }

    /// -32004: no capacity (gateways full, no RTP port, draining); `data: {"reason"}`.
    pub fn no_capacity(reason: &str) -> Self {
        Self::new(
            NO_CAPACITY,
            format!("no capacity: {reason}"),
            Some(json!({ "reason": reason })),
        )
    }

    /// -32005: a media file missing, unreadable or unsupported; `data: {"path","reason"}`.
    pub fn media(path: &str, reason: &str) -> Self {
        Self::new(
            MEDIA_ERROR,
            format!("media error: {path}: {reason}"),
            Some(json!({ "path": path, "reason": reason })),
        )
    }

    /// The parameter this error names (`data.param`), if any.
    pub fn param(&self) -> Option<&str> {
        self.data_field("param").and_then(Value::as_str)
    }

    fn data_field(&self, key: &str) -> Option<&Value> {
        self.data
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|m: &Map<String, Value>| m.get(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_json(e: &RpcError) -> Value {
        serde_json::to_value(e).expect("an RpcError always serializes")
    }

    #[test]
    fn codes_and_data_follow_api_md() {
        let e = RpcError::invalid_param("max_keys", "expected an integer");
        assert_eq!(e.code, -32602);
        assert_eq!(e.data, Some(json!({"param": "max_keys"})));
        assert_eq!(e.param(), Some("max_keys"));
        assert!(e.message.contains("max_keys"));

        let e = RpcError::no_such_resource("0.0.1-sys.call-42");
        assert_eq!(e.code, -32001);
        assert_eq!(e.data, Some(json!({"res_id": "0.0.1-sys.call-42"})));

        let e = RpcError::bad_state("r1", "Play");
        assert_eq!(e.code, -32002);
        assert_eq!(e.data, Some(json!({"res_id": "r1", "state": "Play"})));

        let e = RpcError::not_allowed("redirect after answer");
        assert_eq!(e.code, -32003);
        assert_eq!(e.data, Some(json!({"reason": "redirect after answer"})));

        let e = RpcError::no_capacity("draining");
        assert_eq!(e.code, -32004);
        assert_eq!(e.data, Some(json!({"reason": "draining"})));

        let e = RpcError::media("a.wav", "not found");
        assert_eq!(e.code, -32005);
        assert_eq!(
            e.data,
            Some(json!({"path": "a.wav", "reason": "not found"}))
        );

        let e = RpcError::method_not_found("sys.call.nope");
        assert_eq!(e.code, -32601);
        assert!(e.message.contains("sys.call.nope"));
        assert_eq!(e.param(), None);

        assert_eq!(RpcError::parse_error("x").code, -32700);
        assert_eq!(RpcError::invalid_request("x").code, -32600);
        assert_eq!(RpcError::internal("x").code, -32603);
    }

    #[test]
    fn item_errors_name_param_and_index() {
        let e = RpcError::invalid_param_item("content", 2, "type 4 expects YYYY-mm-dd");
        assert_eq!(
            e.message,
            "invalid params: content[2]: type 4 expects YYYY-mm-dd"
        );
        assert_eq!(e.data, Some(json!({"param": "content", "index": 2})));
        assert_eq!(e.param(), Some("content"));
    }

    #[test]
    fn data_is_omitted_when_none() {
        let v = to_json(&RpcError::parse_error("eof"));
        assert_eq!(v.get("code"), Some(&json!(-32700)));
        assert!(v.get("data").is_none());
        let v = to_json(&RpcError::no_capacity("full"));
        assert_eq!(v["data"]["reason"], json!("full"));
    }
}
