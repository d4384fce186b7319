//! Typed parameters of the `sys.call.*` methods, with the seed's defaults, and
//! their decoders (named or positional `params` → struct, or a -32602 naming
//! the parameter).
//!
//! Decisions where the seed is silent (see also `content`, `values` and
//! `crate::sip::SipUri::parse_address`):
//! - `max_answer_seconds` has no default: required for `construct` and `answer`,
//!   1..=[`MAX_SECONDS`] (7 days). Every `max_seconds` has the same bounds.
//! - `max_ring_seconds` 1..=[`MAX_RING_SECONDS`]; DTMF timeouts 1..=[`MAX_DTMF_TIMEOUT`];
//!   `repeat`, `play_repeat`, `schedule_play_loop` 0..=[`MAX_REPEAT`];
//!   `max_keys` 1..=128; volumes -20..=20 (0: default volume).
//! - `reject`'s `cause` is a SIP final failure status, 400..=699; `drop`'s `cause`
//!   goes into `Reason: SIP;cause=N` and may be any final status, 200..=699.
//! - `record_start`'s `record_file` is optional: `None` lets the gateway name the
//!   file (the result gives the full path). An empty string counts as `None` for
//!   every file parameter, as the seed says of `ring_play_file` and `record_file`.
//! - DTMF key strings take `0-9 * # A-D`, lower-case `a-d` folded to upper case;
//!   `send_dtmf_start`'s `keys` and `valid_keys` must not be empty; finish keys may.
//! - `user_data` is a string (seed: `str`) of at most 4096 bytes.
//! - `to_uri` is a SIP URI or a list of 1..=[`MAX_TO_URIS`] of them, each with a
//!   user part (the number called); `from_uri` needs a user part too;
//!   `redirect_uri` is `[sip:]host[:port]` with an optional user part.
//! - `parent_call_res_id` and `parent_conf_res_id` together: -32602 naming
//!   `parent_conf_res_id`; `connect_start` with `call_res_id == res_id`: -32602
//!   naming `call_res_id`.

use serde_json::Value;

use super::content::{PlayContent, decode_content};
use super::errors::RpcError;
use super::jsonrpc::kind_of;
use super::params::{Args, MAX_DTMF_LEN};
use super::values::{ConnectMode, DTMF_KEYS, RecordFormat, RingPlayMode, VoiceMode};
use crate::sip::SipUri;

/// Upper bound of every `max_answer_seconds` / `max_seconds`: 7 days.
pub const MAX_SECONDS: u32 = 7 * 86_400;
/// Upper bound of `max_ring_seconds`.
pub const MAX_RING_SECONDS: u32 = 600;
/// Upper bound of the DTMF timeouts (seconds).
pub const MAX_DTMF_TIMEOUT: u32 = 3600;
/// Upper bound of repeat counts.
pub const MAX_REPEAT: u32 = 1000;
/// Most SIP URIs in a `to_uri` list.
pub const MAX_TO_URIS: usize = 16;
/// Volume bounds (`local_volume`, `remote_volume`, `volume`); 0 is the default volume.
pub const VOLUME_RANGE: std::ops::RangeInclusive<i64> = -20..=20;

/// `sys.call.construct`: dial out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallConstruct {
    /// Calling party; `None`: left to the line and carrier.
    pub from_uri: Option<SipUri>,
    /// Called party, one or more gateways in order of preference (never empty).
    pub to_uri: Vec<SipUri>,
    /// Longest talk time (seconds).
    pub max_answer_seconds: u32,
    /// Longest ringing time after the far end rings (seconds); default 50.
    pub max_ring_seconds: u32,
    /// Dial on this parent call (it hears the ring back).
    pub parent_call_res_id: Option<String>,
    /// Dial on this parent conference.
    pub parent_conf_res_id: Option<String>,
    /// File played to the parent while dialling; `None`: the line's ring back.
    pub ring_play_file: Option<String>,
    /// When `ring_play_file` plays; default 0.
    pub ring_play_mode: RingPlayMode,
    /// Application data echoed in events.
    pub user_data: Option<String>,
}

/// Methods that take only `res_id` (`exists`, `play_stop`, `record_stop`,
/// `stop_receive_dtmf_start`, `connect_stop`, and `sys.conf`'s `release`,
/// `exists`, `play_stop`, `record_stop`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResIdParams {
    /// The resource.
    pub res_id: String,
}

/// `sys.call.answer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallAnswer {
    /// The call.
    pub res_id: String,
    /// Longest talk time (seconds).
    pub max_answer_seconds: u32,
    /// Application data echoed in events.
    pub user_data: Option<String>,
}

/// `sys.call.reject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReject {
    /// The call.
    pub res_id: String,
    /// SIP final response status, 400..=699; default 603.
    pub cause: u16,
    /// Application data echoed in events.
    pub user_data: Option<String>,
}

/// `sys.call.drop`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallDrop {
    /// The call.
    pub res_id: String,
    /// SIP status for the `Reason` header, 200..=699; default 603.
    pub cause: u16,
}

/// `sys.call.redirect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRedirect {
    /// The call.
    pub res_id: String,
    /// Target of the 302's Contact.
    pub redirect_uri: SipUri,
    /// Application data echoed in events.
    pub user_data: Option<String>,
}

/// `sys.call.play_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPlayStart {
    /// The call.
    pub res_id: String,
    /// What to play.
    pub content: PlayContent,
    /// Keys that stop the playing; empty (the default) for none.
    pub finish_keys: String,
    /// Extra plays after the first; default 0.
    pub repeat: u32,
}

/// `sys.call.record_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecordStart {
    /// The call.
    pub res_id: String,
    /// Longest recording (seconds).
    pub max_seconds: u32,
    /// Beep before recording; default true.
    pub beep: bool,
    /// File to record to; `None`: the gateway names it.
    pub record_file: Option<String>,
    /// Default A-law (3).
    pub record_format: RecordFormat,
    /// Keys that stop the recording; default none.
    pub finish_keys: String,
}

/// `sys.call.send_dtmf_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSendDtmfStart {
    /// The call.
    pub res_id: String,
    /// Keys to send (non-empty).
    pub keys: String,
}

/// `sys.call.receive_dtmf_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReceiveDtmfStart {
    /// The call.
    pub res_id: String,
    /// Keys accepted; others are ignored. Default `0123456789*#ABCD`.
    pub valid_keys: String,
    /// Receiving ends at this many keys; default 11.
    pub max_keys: u32,
    /// Keys that end receiving; default `#`.
    pub finish_keys: String,
    /// Seconds to wait for the first key; default 45.
    pub first_key_timeout: u32,
    /// Seconds to wait for each next key; default 30.
    pub continues_keys_timeout: u32,
    /// Prompt played at the start; default none.
    pub play_content: Option<PlayContent>,
    /// Prompt replays on timeout; default 0.
    pub play_repeat: u32,
    /// Stop the prompt at the first valid key; default true.
    pub breaking_on_key: bool,
    /// Keep the finish key in `keys`; default false.
    pub including_finish_key: bool,
}

/// `sys.call.connect_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallConnectStart {
    /// The first party.
    pub res_id: String,
    /// Longest connection (seconds).
    pub max_seconds: u32,
    /// The second party.
    pub call_res_id: String,
    /// Who hears whom; default 1 (both).
    pub connect_mode: ConnectMode,
    /// Record both parties mixed to this file; default none.
    pub record_file: Option<String>,
    /// Default 2, read as A-law.
    pub record_format: RecordFormat,
    /// First party's volume, -20..=20; default 0 (default volume).
    pub local_volume: i32,
    /// Second party's volume, -20..=20; default 0 (default volume).
    pub remote_volume: i32,
    /// Unix time at which to play `schedule_play_file`; default 0 (none).
    pub schedule_play_time: u64,
    /// File played at `schedule_play_time`; default none.
    pub schedule_play_file: Option<String>,
    /// How many times to play it (0: not at all); default 0.
    pub schedule_play_loop: u32,
}

/// `sys.call.conf_enter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallConfEnter {
    /// The call.
    pub res_id: String,
    /// The conference.
    pub conf_res_id: String,
    /// Longest membership (seconds).
    pub max_seconds: u32,
    /// Default 1 (talk and listen).
    pub voice_mode: VoiceMode,
    /// Initial volume, -20..=20; `None`: default volume.
    pub volume: Option<i32>,
    /// File played to the conference when the call joins; default none.
    pub play_file: Option<String>,
}

/// `sys.call.conf_exit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallConfExit {
    /// The call.
    pub res_id: String,
    /// The conference.
    pub conf_res_id: String,
}

/// Seed order of `construct`'s parameters.
pub const CONSTRUCT: &[&str] = &[
    "from_uri",
    "to_uri",
    "max_answer_seconds",
    "max_ring_seconds",
    "parent_call_res_id",
    "parent_conf_res_id",
    "ring_play_file",
    "ring_play_mode",
    "user_data",
];
/// Parameters of the `res_id`-only methods.
pub const RES_ID_ONLY: &[&str] = &["res_id"];
/// Seed order of `answer`'s parameters.
pub const ANSWER: &[&str] = &["res_id", "max_answer_seconds", "user_data"];
/// Seed order of `reject`'s parameters.
pub const REJECT: &[&str] = &["res_id", "cause", "user_data"];
/// Seed order of `drop`'s parameters.
pub const DROP: &[&str] = &["res_id", "cause"];
/// Seed order of `redirect`'s parameters.
pub const REDIRECT: &[&str] = &["res_id", "redirect_uri", "user_data"];
/// Seed order of `play_start`'s parameters.
pub const PLAY_START: &[&str] = &["res_id", "content", "finish_keys", "repeat"];
/// Seed order of `record_start`'s parameters.
pub const RECORD_START: &[&str] = &[
    "res_id",
    "max_seconds",
    "beep",
    "record_file",
    "record_format",
    "finish_keys",
];
/// Seed order of `send_dtmf_start`'s parameters.
pub const SEND_DTMF_START: &[&str] = &["res_id", "keys"];
/// Seed order of `receive_dtmf_start`'s parameters.
pub const RECEIVE_DTMF_START: &[&str] = &[
    "res_id",
    "valid_keys",
    "max_keys",
    "finish_keys",
    "first_key_timeout",
    "continues_keys_timeout",
    "play_content",
    "play_repeat",
    "breaking_on_key",
    "including_finish_key",
];
/// Seed order of `connect_start`'s parameters.
pub const CONNECT_START: &[&str] = &[
    "res_id",
    "max_seconds",
    "call_res_id",
    "connect_mode",
    "record_file",
    "record_format",
    "local_volume",
    "remote_volume",
    "schedule_play_time",
    "schedule_play_file",
    "schedule_play_loop",
];
/// Seed order of `conf_enter`'s parameters.
pub const CONF_ENTER: &[&str] = &[
    "res_id",
    "conf_res_id",
    "max_seconds",
    "voice_mode",
    "volume",
    "play_file",
];
/// Seed order of `conf_exit`'s parameters.
pub const CONF_EXIT: &[&str] = &["res_id", "conf_res_id"];

/// A `record_format` parameter, default `default_code`.
pub(super) fn record_format(
    a: &mut Args,
    name: &'static str,
    default_code: i64,
) -> Result<RecordFormat, RpcError> {
    let code = a.opt(name, |v| {
        let c = super::params::integer(&v)?;
        RecordFormat::from_code(c)
            .map(|_| c)
            .ok_or_else(|| format!("must be {}, got {c}", RecordFormat::ALLOWED))
    })?;
    let code = code.unwrap_or(default_code);
    RecordFormat::from_code(code)
        .ok_or_else(|| RpcError::invalid_param(name, "bad default record format"))
}

/// A `voice_mode` parameter; `default` when absent (`None`: required).
pub(super) fn voice_mode(
    a: &mut Args,
    name: &'static str,
    default: Option<VoiceMode>,
) -> Result<VoiceMode, RpcError> {
    let conv = |v: Value| {
        let c = super::params::integer(&v)?;
        VoiceMode::from_code(c).ok_or_else(|| format!("must be {}, got {c}", VoiceMode::ALLOWED))
    };
    match default {
        Some(d) => Ok(a.opt(name, conv)?.unwrap_or(d)),
        None => a.req(name, conv),
    }
}

/// A PlayContent parameter, required.
pub(super) fn content(a: &mut Args, name: &'static str) -> Result<PlayContent, RpcError> {
    let v = a.req_value(name)?;
    decode_content(name, v)
}

fn to_uris(v: Value) -> Result<Vec<SipUri>, RpcError> {
    const P: &str = "to_uri";
    match v {
        Value::String(s) => Ok(vec![
            SipUri::parse_address(&s, true).map_err(|e| RpcError::invalid_param(P, e))?,
        ]),
        Value::Array(list) => {
            if list.is_empty() {
                return Err(RpcError::invalid_param(P, "empty list"));
            }
            if list.len() > MAX_TO_URIS {
                return Err(RpcError::invalid_param(
                    P,
                    format!("at most {MAX_TO_URIS} URIs, got {}", list.len()),
                ));
            }
            list.into_iter()
                .enumerate()
                .map(|(i, v)| {
                    super::params::string(v)
                        .and_then(|s| SipUri::parse_address(&s, true))
                        .map_err(|e| RpcError::invalid_param_item(P, i, e))
                })
                .collect()
        }
        other => Err(RpcError::invalid_param(
            P,
            format!(
                "expected a SIP URI string or a list of them, got {}",
                kind_of(&other)
            ),
        )),
    }
}

fn volume(a: &mut Args, name: &'static str) -> Result<Option<i32>, RpcError> {
    Ok(a.opt_int(name, VOLUME_RANGE)?.map(|v| v as i32))
}

/// Decodes `sys.call.construct`.
pub fn construct(params: Option<Value>) -> Result<CallConstruct, RpcError> {
    let mut a = Args::new("sys.call.construct", CONSTRUCT, params)?;
    let from_uri = a.opt_sip_uri("from_uri", true)?;
    let to_uri = to_uris(a.req_value("to_uri")?)?;
    let max_answer_seconds = a.u32("max_answer_seconds", 1..=MAX_SECONDS)?;
    let max_ring_seconds = a.u32_or("max_ring_seconds", 50, 1..=MAX_RING_SECONDS)?;
    let parent_call_res_id = a.opt_res_id("parent_call_res_id")?;
    let parent_conf_res_id = a.opt_res_id("parent_conf_res_id")?;
    if parent_call_res_id.is_some() && parent_conf_res_id.is_some() {
        return Err(RpcError::invalid_param(
            "parent_conf_res_id",
            "cannot be used together with parent_call_res_id",
        ));
    }
    let ring_play_file = a.opt_file("ring_play_file")?;
    let ring_play_mode = a
        .opt("ring_play_mode", |v| {
            let c = super::params::integer(&v)?;
            RingPlayMode::from_code(c)
                .ok_or_else(|| format!("must be {}, got {c}", RingPlayMode::ALLOWED))
        })?
        .unwrap_or(RingPlayMode::OnRingback);
    let user_data = a.user_data("user_data")?;
    Ok(CallConstruct {
        from_uri,
        to_uri,
        max_answer_seconds,
        max_ring_seconds,
        parent_call_res_id,
        parent_conf_res_id,
        ring_play_file,
        ring_play_mode,
        user_data,
    })
}

/// Decodes a method whose only parameter is `res_id`.
pub fn res_id_only(method: &'static str, params: Option<Value>) -> Result<ResIdParams, RpcError> {
    let mut a = Args::new(method, RES_ID_ONLY, params)?;
    Ok(ResIdParams {
        res_id: a.res_id("res_id")?,
    })
}

/// Decodes `sys.call.answer`.
pub fn answer(params: Option<Value>) -> Result<CallAnswer, RpcError> {
    let mut a = Args::new("sys.call.answer", ANSWER, params)?;
    Ok(CallAnswer {
        res_id: a.res_id("res_id")?,
        max_answer_seconds: a.u32("max_answer_seconds", 1..=MAX_SECONDS)?,
        user_data: a.user_data("user_data")?,
    })
}

/// Decodes `sys.call.reject`.
pub fn reject(params: Option<Value>) -> Result<CallReject, RpcError> {
    let mut a = Args::new("sys.call.reject", REJECT, params)?;
    Ok(CallReject {
        res_id: a.res_id("res_id")?,
        cause: a.int_or("cause", 603, 400..=699)? as u16,
        user_data: a.user_data("user_data")?,
    })
}

/// Decodes `sys.call.drop`.
pub fn drop_call(params: Option<Value>) -> Result<CallDrop, RpcError> {
    let mut a = Args::new("sys.call.drop", DROP, params)?;
    Ok(CallDrop {
        res_id: a.res_id("res_id")?,
        cause: a.int_or("cause", 603, 200..=699)? as u16,
    })
}

/// Decodes `sys.call.redirect`.
pub fn redirect(params: Option<Value>) -> Result<CallRedirect, RpcError> {
    let mut a = Args::new("sys.call.redirect", REDIRECT, params)?;
    Ok(CallRedirect {
        res_id: a.res_id("res_id")?,
        redirect_uri: a.sip_uri("redirect_uri", false)?,
        user_data: a.user_data("user_data")?,
    })
}

/// Decodes `sys.call.play_start`.
pub fn play_start(params: Option<Value>) -> Result<CallPlayStart, RpcError> {
    let mut a = Args::new("sys.call.play_start", PLAY_START, params)?;
    Ok(CallPlayStart {
        res_id: a.res_id("res_id")?,
        content: content(&mut a, "content")?,
        finish_keys: a.dtmf_or("finish_keys", "", true)?,
        repeat: a.u32_or("repeat", 0, 0..=MAX_REPEAT)?,
    })
}

/// Decodes `sys.call.record_start`.
pub fn record_start(params: Option<Value>) -> Result<CallRecordStart, RpcError> {
    let mut a = Args::new("sys.call.record_start", RECORD_START, params)?;
    Ok(CallRecordStart {
        res_id: a.res_id("res_id")?,
        max_seconds: a.u32("max_seconds", 1..=MAX_SECONDS)?,
        beep: a.bool_or("beep", true)?,
        record_file: a.opt_file("record_file")?,
        record_format: record_format(&mut a, "record_format", 3)?,
        finish_keys: a.dtmf_or("finish_keys", "", true)?,
    })
}

/// Decodes `sys.call.send_dtmf_start`.
pub fn send_dtmf_start(params: Option<Value>) -> Result<CallSendDtmfStart, RpcError> {
    let mut a = Args::new("sys.call.send_dtmf_start", SEND_DTMF_START, params)?;
    let res_id = a.res_id("res_id")?;
    let keys = a.req("keys", |v| super::params::dtmf(v, false))?;
    Ok(CallSendDtmfStart { res_id, keys })
}

/// Decodes `sys.call.receive_dtmf_start`.
pub fn receive_dtmf_start(params: Option<Value>) -> Result<CallReceiveDtmfStart, RpcError> {
    let mut a = Args::new("sys.call.receive_dtmf_start", RECEIVE_DTMF_START, params)?;
    let res_id = a.res_id("res_id")?;
    let valid_keys = a.dtmf_or("valid_keys", DTMF_KEYS, false)?;
    let max_keys = a.u32_or("max_keys", 11, 1..=MAX_DTMF_LEN as u32)?;
    let finish_keys = a.dtmf_or("finish_keys", "#", true)?;
    let first_key_timeout = a.u32_or("first_key_timeout", 45, 1..=MAX_DTMF_TIMEOUT)?;
    let continues_keys_timeout = a.u32_or("continues_keys_timeout", 30, 1..=MAX_DTMF_TIMEOUT)?;
    let play_content = match a.take("play_content") {
        Some(v) => Some(decode_content("play_content", v)?),
        None => None,
    };
    Ok(CallReceiveDtmfStart {
        res_id,
        valid_keys,
        max_keys,
        finish_keys,
        first_key_timeout,
        continues_keys_timeout,
        play_content,
        play_repeat: a.u32_or("play_repeat", 0, 0..=MAX_REPEAT)?,
        breaking_on_key: a.bool_or("breaking_on_key", true)?,
        including_finish_key: a.bool_or("including_finish_key", false)?,
    })
}

/// Decodes `sys.call.connect_start`.
pub fn connect_start(params: Option<Value>) -> Result<CallConnectStart, RpcError> {
    let mut a = Args::new("sys.call.connect_start", CONNECT_START, params)?;
    let res_id = a.res_id("res_id")?;
    let max_seconds = a.u32("max_seconds", 1..=MAX_SECONDS)?;
    let call_res_id = a.res_id("call_res_id")?;
    if call_res_id == res_id {
        return Err(RpcError::invalid_param(
            "call_res_id",
            "must differ from res_id (a call cannot connect to itself)",
        ));
    }
    let connect_mode = a
        .opt("connect_mode", |v| {
            let c = super::params::integer(&v)?;
            ConnectMode::from_code(c)
                .ok_or_else(|| format!("must be {}, got {c}", ConnectMode::ALLOWED))
        })?
        .unwrap_or(ConnectMode::Both);
    Ok(CallConnectStart {
        res_id,
        max_seconds,
        call_res_id,
        connect_mode,
        record_file: a.opt_file("record_file")?,
        record_format: record_format(&mut a, "record_format", 2)?,
        local_volume: volume(&mut a, "local_volume")?.unwrap_or(0),
        remote_volume: volume(&mut a, "remote_volume")?.unwrap_or(0),
        schedule_play_time: a.int_or("schedule_play_time", 0, 0..=i64::from(u32::MAX))? as u64,
        schedule_play_file: a.opt_file("schedule_play_file")?,
        schedule_play_loop: a.u32_or("schedule_play_loop", 0, 0..=MAX_REPEAT)?,
    })
}

/// Decodes `sys.call.conf_enter`.
pub fn conf_enter(params: Option<Value>) -> Result<CallConfEnter, RpcError> {
    let mut a = Args::new("sys.call.conf_enter", CONF_ENTER, params)?;
    Ok(CallConfEnter {
        res_id: a.res_id("res_id")?,
        conf_res_id: a.res_id("conf_res_id")?,
        max_seconds: a.u32("max_seconds", 1..=MAX_SECONDS)?,
        voice_mode: voice_mode(&mut a, "voice_mode", Some(VoiceMode::TalkListen))?,
        volume: volume(&mut a, "volume")?,
        play_file: a.opt_file("play_file")?,
    })
}

/// Decodes `sys.call.conf_exit`.
pub fn conf_exit(params: Option<Value>) -> Result<CallConfExit, RpcError> {
    let mut a = Args::new("sys.call.conf_exit", CONF_EXIT, params)?;
    Ok(CallConfExit {
        res_id: a.res_id("res_id")?,
        conf_res_id: a.res_id("conf_res_id")?,
    })
}
