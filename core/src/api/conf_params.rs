//! Typed parameters of the `sys.conf.*` methods (API.md's conference table),
//! with their defaults, and their decoders. Bounds and file-name rules are the
//! same as for calls (see `call_params`); `max_parts` is 0..=[`MAX_PARTS`]
//! (0: no limit) and `set_voice_mode`'s `voice_mode` is required.

use serde_json::Value;

use super::call_params::{MAX_REPEAT, MAX_SECONDS, content, record_format, voice_mode};
use super::content::PlayContent;
use super::errors::RpcError;
use super::params::Args;
use super::values::{RecordFormat, VoiceMode};

/// Upper bound of `max_parts`.
pub const MAX_PARTS: u32 = 10_000;

/// `sys.conf.construct`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfConstruct {
    /// Longest life of the conference (seconds).
    pub max_seconds: u32,
    /// Most members; 0 (the default) for no limit.
    pub max_parts: u32,
    /// Record the conference mix to this file; default none.
    pub record_file: Option<String>,
    /// Default A-law (3).
    pub record_format: RecordFormat,
    /// Application data echoed in events.
    pub user_data: Option<String>,
}

/// `sys.conf.play_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfPlayStart {
    /// The conference.
    pub res_id: String,
    /// What to play to every member.
    pub content: PlayContent,
    /// Extra plays after the first; default 0.
    pub repeat: u32,
}

/// `sys.conf.record_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfRecordStart {
    /// The conference.
    pub res_id: String,
    /// Longest recording (seconds).
    pub max_seconds: u32,
    /// File to record to; `None`: the gateway names it.
    pub record_file: Option<String>,
    /// Default A-law (3).
    pub record_format: RecordFormat,
}

/// `sys.conf.set_voice_mode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfSetVoiceMode {
    /// The conference.
    pub res_id: String,
    /// The member call.
    pub call_res_id: String,
    /// The member's new mode.
    pub voice_mode: VoiceMode,
}

/// Order of `sys.conf.construct`'s parameters.
pub const CONSTRUCT: &[&str] = &[
    "max_seconds",
    "max_parts",
    "record_file",
    "record_format",
    "user_data",
];
/// Order of `sys.conf.play_start`'s parameters.
pub const PLAY_START: &[&str] = &["res_id", "content", "repeat"];
/// Order of `sys.conf.record_start`'s parameters.
pub const RECORD_START: &[&str] = &["res_id", "max_seconds", "record_file", "record_format"];
/// Order of `sys.conf.set_voice_mode`'s parameters.
pub const SET_VOICE_MODE: &[&str] = &["res_id", "call_res_id", "voice_mode"];

/// Decodes `sys.conf.construct`.
pub fn construct(params: Option<Value>) -> Result<ConfConstruct, RpcError> {
    let mut a = Args::new("sys.conf.construct", CONSTRUCT, params)?;
    Ok(ConfConstruct {
        max_seconds: a.u32("max_seconds", 1..=MAX_SECONDS)?,
        max_parts: a.u32_or("max_parts", 0, 0..=MAX_PARTS)?,
        record_file: a.opt_file("record_file")?,
        record_format: record_format(&mut a, "record_format", 3)?,
        user_data: a.user_data("user_data")?,
    })
}

/// Decodes `sys.conf.play_start`.
pub fn play_start(params: Option<Value>) -> Result<ConfPlayStart, RpcError> {
    let mut a = Args::new("sys.conf.play_start", PLAY_START, params)?;
    Ok(ConfPlayStart {
        res_id: a.res_id("res_id")?,
        content: content(&mut a, "content")?,
        repeat: a.u32_or("repeat", 0, 0..=MAX_REPEAT)?,
    })
}

/// Decodes `sys.conf.record_start`.
pub fn record_start(params: Option<Value>) -> Result<ConfRecordStart, RpcError> {
    let mut a = Args::new("sys.conf.record_start", RECORD_START, params)?;
    Ok(ConfRecordStart {
        res_id: a.res_id("res_id")?,
        max_seconds: a.u32("max_seconds", 1..=MAX_SECONDS)?,
        record_file: a.opt_file("record_file")?,
        record_format: record_format(&mut a, "record_format", 3)?,
    })
}

/// Decodes `sys.conf.set_voice_mode`.
pub fn set_voice_mode(params: Option<Value>) -> Result<ConfSetVoiceMode, RpcError> {
    let mut a = Args::new("sys.conf.set_voice_mode", SET_VOICE_MODE, params)?;
    Ok(ConfSetVoiceMode {
        res_id: a.res_id("res_id")?,
        call_res_id: a.res_id("call_res_id")?,
        voice_mode: voice_mode(&mut a, "voice_mode", None)?,
    })
}
