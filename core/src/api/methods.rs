//! The API's method table: `decode(method, params)` turns a request's method
//! name and `params` into a typed [`ApiRequest`], applying the seed's defaults
//! and refusing anything malformed with -32601 (unknown method) or -32602
//! (naming the parameter). The parameter structs live in `call_params` and
//! `conf_params` and are re-exported here.

use serde_json::Value;

use super::call_params as call;
use super::conf_params as conf;
use super::errors::RpcError;
use super::jsonrpc::RawRequest;

pub use super::call_params::{
    CallAnswer, CallConfEnter, CallConfExit, CallConnectStart, CallConstruct, CallDrop,
    CallPlayStart, CallReceiveDtmfStart, CallRecordStart, CallRedirect, CallReject,
    CallSendDtmfStart, ResIdParams,
};
pub use super::conf_params::{ConfConstruct, ConfPlayStart, ConfRecordStart, ConfSetVoiceMode};

/// A decoded request: one variant per method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRequest {
    /// `sys.call.construct`
    CallConstruct(CallConstruct),
    /// `sys.call.exists`
    CallExists(ResIdParams),
    /// `sys.call.answer`
    CallAnswer(CallAnswer),
    /// `sys.call.reject`
    CallReject(CallReject),
    /// `sys.call.drop`
    CallDrop(CallDrop),
    /// `sys.call.redirect`
    CallRedirect(CallRedirect),
    /// `sys.call.play_start`
    CallPlayStart(CallPlayStart),
    /// `sys.call.play_stop`
    CallPlayStop(ResIdParams),
    /// `sys.call.record_start`
    CallRecordStart(CallRecordStart),
    /// `sys.call.record_stop`
    CallRecordStop(ResIdParams),
    /// `sys.call.send_dtmf_start`
    CallSendDtmfStart(CallSendDtmfStart),
    /// `sys.call.receive_dtmf_start`
    CallReceiveDtmfStart(CallReceiveDtmfStart),
    /// `sys.call.stop_receive_dtmf_start`
    CallStopReceiveDtmfStart(ResIdParams),
    /// `sys.call.connect_start`
    CallConnectStart(CallConnectStart),
    /// `sys.call.connect_stop`
    CallConnectStop(ResIdParams),
    /// `sys.call.conf_enter`
    CallConfEnter(CallConfEnter),
    /// `sys.call.conf_exit`
    CallConfExit(CallConfExit),
    /// `sys.conf.construct`
    ConfConstruct(ConfConstruct),
    /// `sys.conf.release`
    ConfRelease(ResIdParams),
    /// `sys.conf.exists`
    ConfExists(ResIdParams),
    /// `sys.conf.play_start`
    ConfPlayStart(ConfPlayStart),
    /// `sys.conf.play_stop`
    ConfPlayStop(ResIdParams),
    /// `sys.conf.record_start`
    ConfRecordStart(ConfRecordStart),
    /// `sys.conf.record_stop`
    ConfRecordStop(ResIdParams),
    /// `sys.conf.set_voice_mode`
    ConfSetVoiceMode(ConfSetVoiceMode),
}

/// Every method and its parameters in positional (seed) order.
pub const METHODS: &[(&str, &[&str])] = &[
    ("sys.call.construct", call::CONSTRUCT),
    ("sys.call.exists", call::RES_ID_ONLY),
    ("sys.call.answer", call::ANSWER),
    ("sys.call.reject", call::REJECT),
    ("sys.call.drop", call::DROP),
    ("sys.call.redirect", call::REDIRECT),
    ("sys.call.play_start", call::PLAY_START),
    ("sys.call.play_stop", call::RES_ID_ONLY),
    ("sys.call.record_start", call::RECORD_START),
    ("sys.call.record_stop", call::RES_ID_ONLY),
    ("sys.call.send_dtmf_start", call::SEND_DTMF_START),
    ("sys.call.receive_dtmf_start", call::RECEIVE_DTMF_START),
    ("sys.call.stop_receive_dtmf_start", call::RES_ID_ONLY),
    ("sys.call.connect_start", call::CONNECT_START),
    ("sys.call.connect_stop", call::RES_ID_ONLY),
    ("sys.call.conf_enter", call::CONF_ENTER),
    ("sys.call.conf_exit", call::CONF_EXIT),
    ("sys.conf.construct", conf::CONSTRUCT),
    ("sys.conf.release", call::RES_ID_ONLY),
    ("sys.conf.exists", call::RES_ID_ONLY),
    ("sys.conf.play_start", conf::PLAY_START),
    ("sys.conf.play_stop", call::RES_ID_ONLY),
    ("sys.conf.record_start", conf::RECORD_START),
    ("sys.conf.record_stop", call::RES_ID_ONLY),
    ("sys.conf.set_voice_mode", conf::SET_VOICE_MODE),
];

/// The parameter names of `method` in positional order; `None` for an unknown method.
pub fn param_names(method: &str) -> Option<&'static [&'static str]> {
    METHODS.iter().find(|(m, _)| *m == method).map(|(_, p)| *p)
}

/// Decodes one request's method and params.
pub fn decode(method: &str, params: Option<Value>) -> Result<ApiRequest, RpcError> {
    use ApiRequest as R;
    let p = params;
    Ok(match method {
        "sys.call.construct" => R::CallConstruct(call::construct(p)?),
        "sys.call.exists" => R::CallExists(call::res_id_only("sys.call.exists", p)?),
        "sys.call.answer" => R::CallAnswer(call::answer(p)?),
        "sys.call.reject" => R::CallReject(call::reject(p)?),
        "sys.call.drop" => R::CallDrop(call::drop_call(p)?),
        "sys.call.redirect" => R::CallRedirect(call::redirect(p)?),
        "sys.call.play_start" => R::CallPlayStart(call::play_start(p)?),
        "sys.call.play_stop" => R::CallPlayStop(call::res_id_only("sys.call.play_stop", p)?),
        "sys.call.record_start" => R::CallRecordStart(call::record_start(p)?),
        "sys.call.record_stop" => R::CallRecordStop(call::res_id_only("sys.call.record_stop", p)?),
        "sys.call.send_dtmf_start" => R::CallSendDtmfStart(call::send_dtmf_start(p)?),
        "sys.call.receive_dtmf_start" => R::CallReceiveDtmfStart(call::receive_dtmf_start(p)?),
        "sys.call.stop_receive_dtmf_start" => {
            R::CallStopReceiveDtmfStart(call::res_id_only("sys.call.stop_receive_dtmf_start", p)?)
        }
        "sys.call.connect_start" => R::CallConnectStart(call::connect_start(p)?),
        "sys.call.connect_stop" => {
            R::CallConnectStop(call::res_id_only("sys.call.connect_stop", p)?)
        }
        "sys.call.conf_enter" => R::CallConfEnter(call::conf_enter(p)?),
        "sys.call.conf_exit" => R::CallConfExit(call::conf_exit(p)?),
        "sys.conf.construct" => R::ConfConstruct(conf::construct(p)?),
        "sys.conf.release" => R::ConfRelease(call::res_id_only("sys.conf.release", p)?),
        "sys.conf.exists" => R::ConfExists(call::res_id_only("sys.conf.exists", p)?),
        "sys.conf.play_start" => R::ConfPlayStart(conf::play_start(p)?),
        "sys.conf.play_stop" => R::ConfPlayStop(call::res_id_only("sys.conf.play_stop", p)?),
        "sys.conf.record_start" => R::ConfRecordStart(conf::record_start(p)?),
        "sys.conf.record_stop" => R::ConfRecordStop(call::res_id_only("sys.conf.record_stop", p)?),
        "sys.conf.set_voice_mode" => R::ConfSetVoiceMode(conf::set_voice_mode(p)?),
        other => return Err(RpcError::method_not_found(other)),
    })
}

/// Decodes a framed request: its id (`None` for a notification) and the
/// decoded request or the error to answer with.
pub fn decode_request(req: RawRequest) -> (Option<Value>, Result<ApiRequest, RpcError>) {
    let RawRequest { id, method, params } = req;
    let decoded = decode(&method, params);
    (id, decoded)
}

impl ApiRequest {
    /// The wire name of the method.
    pub fn method(&self) -> &'static str {
        use ApiRequest as R;
        match self {
            R::CallConstruct(_) => "sys.call.construct",
            R::CallExists(_) => "sys.call.exists",
            R::CallAnswer(_) => "sys.call.answer",
            R::CallReject(_) => "sys.call.reject",
            R::CallDrop(_) => "sys.call.drop",
            R::CallRedirect(_) => "sys.call.redirect",
            R::CallPlayStart(_) => "sys.call.play_start",
            R::CallPlayStop(_) => "sys.call.play_stop",
            R::CallRecordStart(_) => "sys.call.record_start",
            R::CallRecordStop(_) => "sys.call.record_stop",
            R::CallSendDtmfStart(_) => "sys.call.send_dtmf_start",
            R::CallReceiveDtmfStart(_) => "sys.call.receive_dtmf_start",
            R::CallStopReceiveDtmfStart(_) => "sys.call.stop_receive_dtmf_start",
            R::CallConnectStart(_) => "sys.call.connect_start",
            R::CallConnectStop(_) => "sys.call.connect_stop",
            R::CallConfEnter(_) => "sys.call.conf_enter",
            R::CallConfExit(_) => "sys.call.conf_exit",
            R::ConfConstruct(_) => "sys.conf.construct",
            R::ConfRelease(_) => "sys.conf.release",
            R::ConfExists(_) => "sys.conf.exists",
            R::ConfPlayStart(_) => "sys.conf.play_start",
            R::ConfPlayStop(_) => "sys.conf.play_stop",
            R::ConfRecordStart(_) => "sys.conf.record_start",
            R::ConfRecordStop(_) => "sys.conf.record_stop",
            R::ConfSetVoiceMode(_) => "sys.conf.set_voice_mode",
        }
    }

    /// The resource the request acts on (`res_id`); `None` for the constructors.
    /// Ownership (API.md: events go to the connection that last made a request
    /// on a `res_id`) follows this id.
    pub fn res_id(&self) -> Option<&str> {
        use ApiRequest as R;
        Some(match self {
            R::CallConstruct(_) | R::ConfConstruct(_) => return None,
            R::CallExists(p)
            | R::CallPlayStop(p)
            | R::CallRecordStop(p)
            | R::CallStopReceiveDtmfStart(p)
            | R::CallConnectStop(p)
            | R::ConfRelease(p)
            | R::ConfExists(p)
            | R::ConfPlayStop(p)
            | R::ConfRecordStop(p) => &p.res_id,
            R::CallAnswer(p) => &p.res_id,
            R::CallReject(p) => &p.res_id,
            R::CallDrop(p) => &p.res_id,
            R::CallRedirect(p) => &p.res_id,
            R::CallPlayStart(p) => &p.res_id,
            R::CallRecordStart(p) => &p.res_id,
            R::CallSendDtmfStart(p) => &p.res_id,
            R::CallReceiveDtmfStart(p) => &p.res_id,
            R::CallConnectStart(p) => &p.res_id,
            R::CallConfEnter(p) => &p.res_id,
            R::CallConfExit(p) => &p.res_id,
            R::ConfPlayStart(p) => &p.res_id,
            R::ConfRecordStart(p) => &p.res_id,
            R::ConfSetVoiceMode(p) => &p.res_id,
        })
    }
}

#[cfg(test)]
mod tests;
