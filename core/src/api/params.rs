//! Positional-or-named parameter slots and the typed extractors every method
//! decoder uses, so that each error is a -32602 naming the parameter at fault.
//!
//! `params` may be an object (the seed's names) or an array (the seed's order);
//! both become one slot per declared name. An unknown name or an extra position
//! is refused up front; a `null` value counts as absent (the default applies).

use std::ops::RangeInclusive;

use serde_json::Value;

use super::errors::RpcError;
use super::jsonrpc::kind_of;
use super::values::normalize_dtmf;
use crate::sip::SipUri;

/// Longest accepted `res_id` (bytes); ours are far shorter.
pub const MAX_RES_ID_LEN: usize = 256;
/// Longest accepted file name or path (bytes).
pub const MAX_FILE_NAME_LEN: usize = 1024;
/// Longest accepted `user_data` (bytes): it is echoed in every event of the resource.
pub const MAX_USER_DATA_LEN: usize = 4096;
/// Longest accepted DTMF key string (bytes).
pub const MAX_DTMF_LEN: usize = 128;

/// The declared parameters of one method and the values given for them.
pub struct Args {
    method: &'static str,
    names: &'static [&'static str],
    slots: Vec<Option<Value>>,
}

impl Args {
    /// Spreads `params` over `names` (the seed's positional order).
    pub fn new(
        method: &'static str,
        names: &'static [&'static str],
        params: Option<Value>,
    ) -> Result<Self, RpcError> {
        let mut slots: Vec<Option<Value>> = vec![None; names.len()];
        match params {
            None => {}
            Some(Value::Array(items)) => {
                if items.len() > names.len() {
                    return Err(RpcError::too_many_params(method, names.len(), items.len()));
                }
                for (slot, v) in slots.iter_mut().zip(items) {
                    if !v.is_null() {
                        *slot = Some(v);
                    }
                }
            }
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    let Some(i) = names.iter().position(|n| *n == k) else {
                        return Err(RpcError::invalid_param(&k, "unknown parameter"));
                    };
                    if let (Some(slot), false) = (slots.get_mut(i), v.is_null()) {
                        *slot = Some(v);
                    }
                }
            }
            Some(other) => {
                return Err(RpcError::invalid_request(format!(
                    "params must be an object or an array, got {}",
                    kind_of(&other)
                )));
            }
        }
        Ok(Args {
            method,
            names,
            slots,
        })
    }

    /// The method these arguments are for.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// Takes the value given for `name` (`None` when absent or null).
    pub fn take(&mut self, name: &'static str) -> Option<Value> {
        let i = self.names.iter().position(|n| *n == name);
        debug_assert!(i.is_some(), "{} declares no parameter {name}", self.method);
        i.and_then(|i| self.slots.get_mut(i)).and_then(Option::take)
    }

    /// A required parameter converted by `conv`; `conv`'s error text is prefixed
    /// with the parameter's name.
    pub fn req<T>(
        &mut self,
        name: &'static str,
        conv: impl FnOnce(Value) -> Result<T, String>,
    ) -> Result<T, RpcError> {
        match self.take(name) {
            Some(v) => conv(v).map_err(|e| RpcError::invalid_param(name, e)),
            None => Err(RpcError::invalid_param(name, "missing required parameter")),
        }
    }

    /// An optional parameter converted by `conv` (`None` when absent or null).
    pub fn opt<T>(
        &mut self,
        name: &'static str,
        conv: impl FnOnce(Value) -> Result<T, String>,
    ) -> Result<Option<T>, RpcError> {
        match self.take(name) {
            Some(v) => conv(v)
                .map(Some)
                .map_err(|e| RpcError::invalid_param(name, e)),
            None => Ok(None),
        }
    }

    /// The raw value of a required parameter (for decoders that report item errors).
    pub fn req_value(&mut self, name: &'static str) -> Result<Value, RpcError> {
        self.take(name)
            .ok_or_else(|| RpcError::invalid_param(name, "missing required parameter"))
    }

    /// A required `res_id`-like string.
    pub fn res_id(&mut self, name: &'static str) -> Result<String, RpcError> {
        self.req(name, res_id)
    }

    /// An optional `res_id`-like string.
    pub fn opt_res_id(&mut self, name: &'static str) -> Result<Option<String>, RpcError> {
        self.opt(name, res_id)
    }

    /// A required integer within `range`.
    pub fn int(&mut self, name: &'static str, range: RangeInclusive<i64>) -> Result<i64, RpcError> {
        self.req(name, |v| int_in(v, &range))
    }

    /// An optional integer within `range`.
    pub fn opt_int(
        &mut self,
        name: &'static str,
        range: RangeInclusive<i64>,
    ) -> Result<Option<i64>, RpcError> {
        self.opt(name, |v| int_in(v, &range))
    }

    /// An integer within `range`, `default` when absent.
    pub fn int_or(
        &mut self,
        name: &'static str,
        default: i64,
        range: RangeInclusive<i64>,
    ) -> Result<i64, RpcError> {
        Ok(self.opt_int(name, range)?.unwrap_or(default))
    }

    /// A required `u32` within `range` (for counts and seconds).
    pub fn u32(&mut self, name: &'static str, range: RangeInclusive<u32>) -> Result<u32, RpcError> {
        self.req(name, |v| u32_in(v, &range))
    }

    /// A `u32` within `range`, `default` when absent.
    pub fn u32_or(
        &mut self,
        name: &'static str,
        default: u32,
        range: RangeInclusive<u32>,
    ) -> Result<u32, RpcError> {
        Ok(self.opt(name, |v| u32_in(v, &range))?.unwrap_or(default))
    }

    /// A boolean, `default` when absent.
    pub fn bool_or(&mut self, name: &'static str, default: bool) -> Result<bool, RpcError> {
        Ok(self.opt(name, boolean)?.unwrap_or(default))
    }

    /// `user_data`: an optional string of at most [`MAX_USER_DATA_LEN`] bytes.
    pub fn user_data(&mut self, name: &'static str) -> Result<Option<String>, RpcError> {
        self.opt(name, |v| {
            let s = string(v)?;
            if s.len() > MAX_USER_DATA_LEN {
                return Err(format!(
                    "at most {MAX_USER_DATA_LEN} bytes, got {}",
                    s.len()
                ));
            }
            Ok(s)
        })
    }

    /// An optional file name; the empty string means none, as the seed says of
    /// `ring_play_file` and `record_file`.
    pub fn opt_file(&mut self, name: &'static str) -> Result<Option<String>, RpcError> {
        Ok(self
            .opt(name, file_name_or_empty)?
            .filter(|s| !s.is_empty()))
    }

    /// A DTMF key string (normalized to upper case), `default` when absent;
    /// `allow_empty` says whether `""` is accepted.
    pub fn dtmf_or(
        &mut self,
        name: &'static str,
        default: &str,
        allow_empty: bool,
    ) -> Result<String, RpcError> {
        Ok(self
            .opt(name, |v| dtmf(v, allow_empty))?
            .unwrap_or_else(|| default.to_string()))
    }

    /// A required SIP URI; `need_user` says whether the user part is required.
    pub fn sip_uri(&mut self, name: &'static str, need_user: bool) -> Result<SipUri, RpcError> {
        self.req(name, |v| uri(v, need_user))
    }

    /// An optional SIP URI.
    pub fn opt_sip_uri(
        &mut self,
        name: &'static str,
        need_user: bool,
    ) -> Result<Option<SipUri>, RpcError> {
        self.opt(name, |v| uri(v, need_user))
    }
}

/// A JSON string, or an error naming the type received.
pub fn string(v: Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(format!("expected a string, got {}", kind_of(&other))),
    }
}

/// A boolean.
pub fn boolean(v: Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(b),
        other => Err(format!("expected a boolean, got {}", kind_of(&other))),
    }
}

/// An integer (a JSON number without fraction or exponent that fits in i64).
pub fn integer(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(i),
            None if n.is_u64() => Err(format!("{n} is too large")),
            None => Err(format!("expected an integer, got {n}")),
        },
        other => Err(format!("expected an integer, got {}", kind_of(other))),
    }
}

/// An integer within `range`.
pub fn int_in(v: Value, range: &RangeInclusive<i64>) -> Result<i64, String> {
    let i = integer(&v)?;
    if range.contains(&i) {
        Ok(i)
    } else {
        Err(format!(
            "must be in {}..={}, got {i}",
            range.start(),
            range.end()
        ))
    }
}

/// A `u32` within `range`.
pub fn u32_in(v: Value, range: &RangeInclusive<u32>) -> Result<u32, String> {
    let wide = i64::from(*range.start())..=i64::from(*range.end());
    let i = int_in(v, &wide)?;
    u32::try_from(i).map_err(|_| format!("must be in {}..={}", range.start(), range.end()))
}

/// A resource id: a non-empty string of at most [`MAX_RES_ID_LEN`] bytes.
pub fn res_id(v: Value) -> Result<String, String> {
    let s = string(v)?;
    if s.is_empty() {
        return Err("must not be empty".to_string());
    }
    if s.len() > MAX_RES_ID_LEN {
        return Err(format!("at most {MAX_RES_ID_LEN} bytes, got {}", s.len()));
    }
    Ok(s)
}

/// Checks a file name: non-empty, at most [`MAX_FILE_NAME_LEN`] bytes, no
/// control characters. Where the path may point (the media roots) is checked
/// later, by the layer that knows the roots.
pub fn check_file_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty file name".to_string());
    }
    if s.len() > MAX_FILE_NAME_LEN {
        return Err(format!(
            "file name of {} bytes, at most {MAX_FILE_NAME_LEN} allowed",
            s.len()
        ));
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!("control character {c:?} in file name"));
    }
    Ok(())
}

/// A file name string, or `""`.
pub fn file_name_or_empty(v: Value) -> Result<String, String> {
    let s = string(v)?;
    if !s.is_empty() {
        check_file_name(&s)?;
    }
    Ok(s)
}

/// A DTMF key string, normalized.
pub fn dtmf(v: Value, allow_empty: bool) -> Result<String, String> {
    let s = string(v)?;
    if s.is_empty() && !allow_empty {
        return Err("must not be empty".to_string());
    }
    if s.len() > MAX_DTMF_LEN {
        return Err(format!("at most {MAX_DTMF_LEN} keys, got {}", s.len()));
    }
    normalize_dtmf(&s)
}

/// A SIP URI string.
pub fn uri(v: Value, need_user: bool) -> Result<SipUri, String> {
    let s = string(v)?;
    SipUri::parse_address(&s, need_user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NAMES: &[&str] = &["res_id", "n", "flag"];

    #[test]
    fn named_and_positional_fill_the_same_slots() {
        let mut a = Args::new("m", NAMES, Some(json!({"n": 3, "res_id": "r"}))).expect("ok");
        let mut b = Args::new("m", NAMES, Some(json!(["r", 3]))).expect("ok");
        for args in [&mut a, &mut b] {
            assert_eq!(args.res_id("res_id"), Ok("r".to_string()));
            assert_eq!(args.int("n", 0..=5), Ok(3));
            assert_eq!(args.bool_or("flag", true), Ok(true));
        }
    }

    #[test]
    fn unknown_name_and_extra_position() {
        let e = Args::new("m", NAMES, Some(json!({"res_id": "r", "bogus": 1})))
            .err()
            .expect("refused");
        assert_eq!((e.code, e.param()), (-32602, Some("bogus")));
        let e = Args::new("m", NAMES, Some(json!(["r", 1, true, 4])))
            .err()
            .expect("refused");
        assert_eq!(e.code, -32602);
        assert_eq!(e.data, Some(json!({"index": 3})));
        assert!(e.message.contains("at most 3"), "{}", e.message);
    }

    #[test]
    fn null_is_absent() {
        let mut a = Args::new("m", NAMES, Some(json!([null, null, null]))).expect("ok");
        assert_eq!(a.bool_or("flag", false), Ok(false));
        let e = a.res_id("res_id").expect_err("missing");
        assert_eq!(e.param(), Some("res_id"));
        assert!(e.message.contains("missing"));
    }

    #[test]
    fn integer_conversions() {
        let r = 0..=10;
        assert_eq!(int_in(json!(10), &r), Ok(10));
        assert!(int_in(json!(11), &r).expect_err("range").contains("0..=10"));
        assert!(int_in(json!(-1), &r).is_err());
        assert!(
            int_in(json!(1.5), &r)
                .expect_err("frac")
                .contains("integer")
        );
        assert!(int_in(json!(2.0), &r).is_err(), "floats are not integers");
        assert!(
            int_in(json!("3"), &r)
                .expect_err("str")
                .contains("a string")
        );
        assert!(
            int_in(json!(u64::MAX), &r)
                .expect_err("big")
                .contains("too large")
        );
        assert_eq!(u32_in(json!(7), &(1..=9)), Ok(7));
        assert!(u32_in(json!(-7), &(0..=9)).is_err());
    }

    #[test]
    fn file_names() {
        assert_eq!(file_name_or_empty(json!("")), Ok(String::new()));
        assert_eq!(
            file_name_or_empty(json!("a/b.wav")),
            Ok("a/b.wav".to_string())
        );
        assert!(file_name_or_empty(json!("a\u{0}b")).is_err());
        assert!(file_name_or_empty(json!("x".repeat(MAX_FILE_NAME_LEN + 1))).is_err());
        assert!(file_name_or_empty(json!(1)).is_err());
    }

    #[test]
    fn res_ids() {
        assert!(res_id(json!("")).is_err());
        assert!(res_id(json!(5)).is_err());
        assert!(res_id(json!("r".repeat(MAX_RES_ID_LEN + 1))).is_err());
        assert_eq!(
            res_id(json!("0.0.0-sys.call-1")),
            Ok("0.0.0-sys.call-1".to_string())
        );
    }
}
