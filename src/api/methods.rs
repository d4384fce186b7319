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
mod tests {
    use super::super::content::{ContentItem, PlayContent};
    use super::super::sip_uri::SipUri;
    use super::super::values::{ConnectMode, RecordFormat, RingPlayMode, VoiceMode};
    use super::*;
    use serde_json::json;

    /// Decodes `named` and its positional twin (the seed's order, nulls for
    /// gaps), asserts they agree, and returns the result.
    fn both(method: &str, named: Value) -> ApiRequest {
        let names = param_names(method).expect("known method");
        let obj = named.as_object().expect("named params").clone();
        let used = names
            .iter()
            .rposition(|n| obj.contains_key(*n))
            .map_or(0, |i| i + 1);
        let positional: Vec<Value> = names
            .iter()
            .take(used)
            .map(|n| obj.get(*n).cloned().unwrap_or(Value::Null))
            .collect();
        let a = decode(method, Some(named)).unwrap_or_else(|e| panic!("{method}: {e}"));
        let b = decode(method, Some(Value::Array(positional)))
            .unwrap_or_else(|e| panic!("{method} positional: {e}"));
        assert_eq!(a, b, "{method}: named and positional differ");
        assert_eq!(a.method(), method);
        a
    }

    /// Asserts `params` (named, and positional when every key is declared) is
    /// refused with -32602 naming `param`, with `needle` in the message.
    fn bad(method: &str, params: Value, param: &str, needle: &str) {
        let e = decode(method, Some(params.clone())).expect_err("refused");
        assert_eq!(e.code, -32602, "{method} {params}: {e}");
        assert_eq!(e.param(), Some(param), "{method} {params}: {}", e.message);
        assert!(e.message.contains(param), "{}", e.message);
        assert!(
            e.message.contains(needle),
            "{method} {params}: {}",
            e.message
        );
        let names = param_names(method).expect("known");
        if let Some(obj) = params.as_object() {
            if obj.keys().all(|k| names.contains(&k.as_str())) {
                let used = names
                    .iter()
                    .rposition(|n| obj.contains_key(*n))
                    .map_or(0, |i| i + 1);
                let positional: Vec<Value> = names
                    .iter()
                    .take(used)
                    .map(|n| obj.get(*n).cloned().unwrap_or(Value::Null))
                    .collect();
                let e2 = decode(method, Some(Value::Array(positional))).expect_err("refused");
                assert_eq!(e2, e, "{method}: positional error differs");
            }
        }
    }

    fn uri(s: &str, need_user: bool) -> SipUri {
        SipUri::parse(s, need_user).expect("valid uri")
    }

    fn file(s: &str) -> PlayContent {
        PlayContent {
            items: vec![ContentItem::File(s.into())],
        }
    }

    const R: &str = "0.0.0-sys.call-1";
    const R2: &str = "0.0.0-sys.call-2";
    const C: &str = "0.0.0-sys.conf-1";

    #[test]
    fn unknown_method() {
        let e = decode("sys.call.nope", Some(json!({}))).expect_err("unknown");
        assert_eq!(e.code, -32601);
        assert_eq!(e.data, Some(json!({"method": "sys.call.nope"})));
        assert!(e.message.contains("sys.call.nope"));
        assert_eq!(decode("", None).expect_err("unknown").code, -32601);
        assert_eq!(
            decode("sys.call.Answer", None).expect_err("case").code,
            -32601
        );
        assert!(param_names("sys.call.nope").is_none());
    }

    #[test]
    fn every_method_is_in_the_table_and_decodes() {
        let samples: Vec<(&str, Value)> = vec![
            (
                "sys.call.construct",
                json!({"to_uri": "1@gw", "max_answer_seconds": 60}),
            ),
            (
                "sys.call.answer",
                json!({"res_id": R, "max_answer_seconds": 60}),
            ),
            ("sys.call.reject", json!({"res_id": R})),
            ("sys.call.drop", json!({"res_id": R})),
            (
                "sys.call.redirect",
                json!({"res_id": R, "redirect_uri": "gw2"}),
            ),
            (
                "sys.call.play_start",
                json!({"res_id": R, "content": "a.wav"}),
            ),
            (
                "sys.call.record_start",
                json!({"res_id": R, "max_seconds": 5}),
            ),
            (
                "sys.call.send_dtmf_start",
                json!({"res_id": R, "keys": "1"}),
            ),
            ("sys.call.receive_dtmf_start", json!({"res_id": R})),
            (
                "sys.call.connect_start",
                json!({"res_id": R, "max_seconds": 5, "call_res_id": R2}),
            ),
            (
                "sys.call.conf_enter",
                json!({"res_id": R, "conf_res_id": C, "max_seconds": 5}),
            ),
            ("sys.call.conf_exit", json!({"res_id": R, "conf_res_id": C})),
            ("sys.conf.construct", json!({"max_seconds": 5})),
            (
                "sys.conf.play_start",
                json!({"res_id": C, "content": "a.wav"}),
            ),
            (
                "sys.conf.record_start",
                json!({"res_id": C, "max_seconds": 5}),
            ),
            (
                "sys.conf.set_voice_mode",
                json!({"res_id": C, "call_res_id": R, "voice_mode": 2}),
            ),
        ];
        for (method, names) in METHODS {
            let params = match samples.iter().find(|(m, _)| m == method) {
                Some((_, p)) => p.clone(),
                None => {
                    assert_eq!(*names, call::RES_ID_ONLY, "{method} needs a sample");
                    json!({"res_id": R})
                }
            };
            let req = both(method, params);
            assert_eq!(req.method(), *method);
            let expect_res_id = !method.ends_with(".construct");
            assert_eq!(req.res_id().is_some(), expect_res_id, "{method}");
        }
        assert_eq!(METHODS.len(), 25);
    }

    #[test]
    fn res_id_only_methods() {
        for (method, names) in METHODS.iter().filter(|(_, n)| *n == call::RES_ID_ONLY) {
            assert_eq!(*names, &["res_id"]);
            let req = both(method, json!({"res_id": R}));
            assert_eq!(req.res_id(), Some(R), "{method}");
            bad(method, json!({}), "res_id", "missing");
            bad(
                method,
                json!({"res_id": 5}),
                "res_id",
                "expected a string, got a number",
            );
            bad(method, json!({"res_id": ""}), "res_id", "empty");
            bad(
                method,
                json!({"res_id": R, "x": 1}),
                "x",
                "unknown parameter",
            );
            let e = decode(method, None).expect_err("no params");
            assert_eq!(e.param(), Some("res_id"));
            let e = decode(method, Some(json!([R, 1]))).expect_err("too many");
            assert_eq!(
                (e.code, e.data.clone()),
                (-32602, Some(json!({"index": 1})))
            );
            assert!(e.message.contains(method), "{}", e.message);
        }
    }

    #[test]
    fn construct_defaults() {
        let req = both(
            "sys.call.construct",
            json!({"to_uri": "sip:95588@10.0.0.1", "max_answer_seconds": 600}),
        );
        assert_eq!(
            req,
            ApiRequest::CallConstruct(CallConstruct {
                from_uri: None,
                to_uri: vec![uri("sip:95588@10.0.0.1", true)],
                max_answer_seconds: 600,
                max_ring_seconds: 50,
                parent_call_res_id: None,
                parent_conf_res_id: None,
                ring_play_file: None,
                ring_play_mode: RingPlayMode::OnRingback,
                user_data: None,
            })
        );
        // null means default too.
        let again = both(
            "sys.call.construct",
            json!({"to_uri": "sip:95588@10.0.0.1", "max_answer_seconds": 600,
                   "max_ring_seconds": null, "ring_play_mode": null, "user_data": null}),
        );
        assert_eq!(again, req);
    }

    #[test]
    fn construct_all_set() {
        let req = both(
            "sys.call.construct",
            json!({
                "from_uri": "1001@10.0.0.9",
                "to_uri": ["95588@gw1:5060", "sip:95588@gw2"],
                "max_answer_seconds": 3600,
                "max_ring_seconds": 30,
                "parent_call_res_id": R,
                "ring_play_file": "ring.wav",
                "ring_play_mode": 3,
                "user_data": "cdr-7",
            }),
        );
        let ApiRequest::CallConstruct(c) = req else {
            panic!("wrong variant")
        };
        assert_eq!(c.from_uri, Some(uri("sip:1001@10.0.0.9", true)));
        assert_eq!(c.to_uri.len(), 2);
        assert_eq!(c.to_uri[0].port, Some(5060));
        assert_eq!(c.to_uri[1].host, "gw2");
        assert_eq!((c.max_answer_seconds, c.max_ring_seconds), (3600, 30));
        assert_eq!(c.parent_call_res_id.as_deref(), Some(R));
        assert_eq!(c.ring_play_file.as_deref(), Some("ring.wav"));
        assert_eq!(c.ring_play_mode, RingPlayMode::BeforeDial);
        assert_eq!(c.user_data.as_deref(), Some("cdr-7"));
        // An empty ring_play_file is "none", as the seed says.
        let req = both(
            "sys.call.construct",
            json!({"to_uri": "1@gw", "max_answer_seconds": 1, "parent_conf_res_id": C, "ring_play_file": ""}),
        );
        let ApiRequest::CallConstruct(c) = req else {
            panic!("wrong variant")
        };
        assert_eq!(
            (c.ring_play_file, c.parent_conf_res_id.as_deref()),
            (None, Some(C))
        );
    }

    #[test]
    fn construct_errors() {
        let m = "sys.call.construct";
        let ok = json!({"to_uri": "1@gw", "max_answer_seconds": 60});
        let with = |k: &str, v: Value| {
            let mut o = ok.clone();
            o[k] = v;
            o
        };
        bad(m, json!({"max_answer_seconds": 60}), "to_uri", "missing");
        bad(
            m,
            json!({"to_uri": "1@gw"}),
            "max_answer_seconds",
            "missing",
        );
        bad(
            m,
            with("max_answer_seconds", json!(0)),
            "max_answer_seconds",
            "1..=604800",
        );
        bad(
            m,
            with("max_answer_seconds", json!(604_801)),
            "max_answer_seconds",
            "604801",
        );
        bad(
            m,
            with("max_answer_seconds", json!("60")),
            "max_answer_seconds",
            "integer",
        );
        bad(
            m,
            with("max_ring_seconds", json!(0)),
            "max_ring_seconds",
            "1..=600",
        );
        bad(m, with("to_uri", json!("gw")), "to_uri", "user");
        bad(m, with("to_uri", json!([])), "to_uri", "empty");
        bad(m, with("to_uri", json!(5)), "to_uri", "a number");
        bad(
            m,
            with("to_uri", json!(vec!["1@gw"; 17])),
            "to_uri",
            "at most 16",
        );
        let e = decode(m, Some(with("to_uri", json!(["1@gw", "1@bad host"])))).expect_err("bad");
        assert_eq!(e.data, Some(json!({"param": "to_uri", "index": 1})));
        assert!(e.message.contains("to_uri[1]"), "{}", e.message);
        let e = decode(m, Some(with("to_uri", json!(["1@gw", 7])))).expect_err("bad");
        assert_eq!(e.data, Some(json!({"param": "to_uri", "index": 1})));
        bad(m, with("from_uri", json!("10.0.0.1")), "from_uri", "user");
        bad(m, with("from_uri", json!(1001)), "from_uri", "string");
        let mut both_parents = with("parent_call_res_id", json!(R));
        both_parents["parent_conf_res_id"] = json!(C);
        bad(m, both_parents, "parent_conf_res_id", "parent_call_res_id");
        bad(
            m,
            with("parent_call_res_id", json!("")),
            "parent_call_res_id",
            "empty",
        );
        bad(
            m,
            with("ring_play_mode", json!(4)),
            "ring_play_mode",
            "one of 0, 1, 2, 3",
        );
        bad(
            m,
            with("ring_play_mode", json!(-1)),
            "ring_play_mode",
            "got -1",
        );
        bad(
            m,
            with("ring_play_file", json!("a\nb")),
            "ring_play_file",
            "control",
        );
        bad(
            m,
            with("user_data", json!({"a": 1})),
            "user_data",
            "expected a string",
        );
        bad(
            m,
            with("user_data", json!("x".repeat(4097))),
            "user_data",
            "4096",
        );
        bad(m, with("res_id", json!(R)), "res_id", "unknown parameter");
        let e = decode(
            m,
            Some(json!([
                "1@gw", "1@gw", 60, 50, null, null, null, 0, null, 1
            ])),
        )
        .expect_err("too many");
        assert_eq!(e.data, Some(json!({"index": 9})));
    }

    #[test]
    fn answer() {
        let m = "sys.call.answer";
        let req = both(m, json!({"res_id": R, "max_answer_seconds": 600}));
        assert_eq!(
            req,
            ApiRequest::CallAnswer(CallAnswer {
                res_id: R.into(),
                max_answer_seconds: 600,
                user_data: None
            })
        );
        let req = both(
            m,
            json!({"res_id": R, "max_answer_seconds": 1, "user_data": "u"}),
        );
        assert_eq!(req.res_id(), Some(R));
        bad(m, json!({"res_id": R}), "max_answer_seconds", "missing");
        bad(m, json!({"max_answer_seconds": 5}), "res_id", "missing");
        bad(
            m,
            json!({"res_id": R, "max_answer_seconds": -5}),
            "max_answer_seconds",
            "got -5",
        );
        bad(
            m,
            json!({"res_id": R, "max_answer_seconds": 1.5}),
            "max_answer_seconds",
            "integer",
        );
        bad(
            m,
            json!({"res_id": R, "max_answer_seconds": 5, "user_data": 5}),
            "user_data",
            "string",
        );
    }

    #[test]
    fn reject_and_drop() {
        let req = both("sys.call.reject", json!({"res_id": R}));
        assert_eq!(
            req,
            ApiRequest::CallReject(CallReject {
                res_id: R.into(),
                cause: 603,
                user_data: None
            })
        );
        let req = both(
            "sys.call.reject",
            json!({"res_id": R, "cause": 486, "user_data": "x"}),
        );
        let ApiRequest::CallReject(r) = req else {
            panic!("variant")
        };
        assert_eq!((r.cause, r.user_data.as_deref()), (486, Some("x")));
        for c in [0, 200, 399, 700] {
            bad(
                "sys.call.reject",
                json!({"res_id": R, "cause": c}),
                "cause",
                "400..=699",
            );
        }
        let req = both("sys.call.drop", json!({"res_id": R}));
        assert_eq!(
            req,
            ApiRequest::CallDrop(CallDrop {
                res_id: R.into(),
                cause: 603
            })
        );
        let req = both("sys.call.drop", json!({"res_id": R, "cause": 200}));
        assert_eq!(
            req,
            ApiRequest::CallDrop(CallDrop {
                res_id: R.into(),
                cause: 200
            })
        );
        for c in [100, 199, 700] {
            bad(
                "sys.call.drop",
                json!({"res_id": R, "cause": c}),
                "cause",
                "200..=699",
            );
        }
        bad(
            "sys.call.drop",
            json!({"res_id": R, "user_data": "x"}),
            "user_data",
            "unknown",
        );
    }

    #[test]
    fn redirect() {
        let m = "sys.call.redirect";
        let req = both(m, json!({"res_id": R, "redirect_uri": "10.0.0.2:5070"}));
        assert_eq!(
            req,
            ApiRequest::CallRedirect(CallRedirect {
                res_id: R.into(),
                redirect_uri: uri("sip:10.0.0.2:5070", false),
                user_data: None
            })
        );
        let req = both(
            m,
            json!({"res_id": R, "redirect_uri": "sip:ipsc@h2", "user_data": "u"}),
        );
        let ApiRequest::CallRedirect(r) = req else {
            panic!("variant")
        };
        assert_eq!(r.redirect_uri.user.as_deref(), Some("ipsc"));
        bad(m, json!({"res_id": R}), "redirect_uri", "missing");
        bad(
            m,
            json!({"res_id": R, "redirect_uri": "h2:0"}),
            "redirect_uri",
            "port",
        );
        bad(
            m,
            json!({"res_id": R, "redirect_uri": ""}),
            "redirect_uri",
            "empty",
        );
    }

    #[test]
    fn play_start() {
        let m = "sys.call.play_start";
        let req = both(m, json!({"res_id": R, "content": "welcome.wav"}));
        assert_eq!(
            req,
            ApiRequest::CallPlayStart(CallPlayStart {
                res_id: R.into(),
                content: file("welcome.wav"),
                finish_keys: String::new(),
                repeat: 0
            })
        );
        let req = both(
            m,
            json!({"res_id": R, "content": [["a.wav", 0, ""], ["12", 1, ""]],
                   "finish_keys": "#*1d", "repeat": 2}),
        );
        let ApiRequest::CallPlayStart(p) = req else {
            panic!("variant")
        };
        assert_eq!(p.content.items.len(), 2);
        assert_eq!((p.finish_keys.as_str(), p.repeat), ("#*1D", 2));
        bad(m, json!({"res_id": R}), "content", "missing");
        bad(m, json!({"res_id": R, "content": 3}), "content", "a number");
        bad(
            m,
            json!({"res_id": R, "content": "a.wav", "finish_keys": "1x"}),
            "finish_keys",
            "'x'",
        );
        bad(
            m,
            json!({"res_id": R, "content": "a.wav", "finish_keys": 1}),
            "finish_keys",
            "string",
        );
        bad(
            m,
            json!({"res_id": R, "content": "a.wav", "repeat": -1}),
            "repeat",
            "0..=1000",
        );
        bad(
            m,
            json!({"res_id": R, "content": "a.wav", "repeat": 1001}),
            "repeat",
            "0..=1000",
        );
        let e = decode(
            m,
            Some(json!({"res_id": R, "content": [["a.wav", 0, ""], ["x", 0, ""], ["2016-13-01", 4, ""]]})),
        )
        .expect_err("bad date");
        assert_eq!(e.data, Some(json!({"param": "content", "index": 2})));
        assert!(
            e.message
                .starts_with("invalid params: content[2]: type 4 expects YYYY-mm-dd"),
            "{}",
            e.message
        );
    }

    #[test]
    fn record_start() {
        let m = "sys.call.record_start";
        let req = both(m, json!({"res_id": R, "max_seconds": 60}));
        assert_eq!(
            req,
            ApiRequest::CallRecordStart(CallRecordStart {
                res_id: R.into(),
                max_seconds: 60,
                beep: true,
                record_file: None,
                record_format: RecordFormat::Alaw,
                finish_keys: String::new(),
            })
        );
        let req = both(
            m,
            json!({"res_id": R, "max_seconds": 60, "beep": false, "record_file": "r/1.wav",
                   "record_format": 7, "finish_keys": "#"}),
        );
        let ApiRequest::CallRecordStart(r) = req else {
            panic!("variant")
        };
        assert!(!r.beep);
        assert_eq!(r.record_file.as_deref(), Some("r/1.wav"));
        assert_eq!(r.record_format, RecordFormat::Ulaw);
        assert_eq!(r.finish_keys, "#");
        let req = both(
            m,
            json!({"res_id": R, "max_seconds": 1, "record_file": "", "record_format": 2}),
        );
        let ApiRequest::CallRecordStart(r) = req else {
            panic!("variant")
        };
        assert_eq!((r.record_file, r.record_format), (None, RecordFormat::Alaw));
        bad(m, json!({"res_id": R}), "max_seconds", "missing");
        bad(
            m,
            json!({"res_id": R, "max_seconds": 0}),
            "max_seconds",
            "1..=604800",
        );
        bad(
            m,
            json!({"res_id": R, "max_seconds": 5, "beep": 1}),
            "beep",
            "boolean",
        );
        bad(
            m,
            json!({"res_id": R, "max_seconds": 5, "record_format": 5}),
            "record_format",
            "got 5",
        );
        bad(
            m,
            json!({"res_id": R, "max_seconds": 5, "record_format": "3"}),
            "record_format",
            "integer",
        );
        bad(
            m,
            json!({"res_id": R, "max_seconds": 5, "record_file": 3}),
            "record_file",
            "string",
        );
        bad(
            m,
            json!({"res_id": R, "max_seconds": 5, "finish_keys": "E"}),
            "finish_keys",
            "'E'",
        );
    }

    #[test]
    fn send_dtmf_start() {
        let m = "sys.call.send_dtmf_start";
        let req = both(m, json!({"res_id": R, "keys": "123*#abcd"}));
        assert_eq!(
            req,
            ApiRequest::CallSendDtmfStart(CallSendDtmfStart {
                res_id: R.into(),
                keys: "123*#ABCD".into()
            })
        );
        bad(m, json!({"res_id": R}), "keys", "missing");
        bad(m, json!({"res_id": R, "keys": ""}), "keys", "empty");
        bad(m, json!({"res_id": R, "keys": "12,3"}), "keys", "','");
        bad(
            m,
            json!({"res_id": R, "keys": "1".repeat(129)}),
            "keys",
            "at most 128",
        );
        bad(m, json!({"res_id": R, "keys": 123}), "keys", "string");
    }

    #[test]
    fn receive_dtmf_start_defaults() {
        let req = both("sys.call.receive_dtmf_start", json!({"res_id": R}));
        assert_eq!(
            req,
            ApiRequest::CallReceiveDtmfStart(CallReceiveDtmfStart {
                res_id: R.into(),
                valid_keys: "0123456789*#ABCD".into(),
                max_keys: 11,
                finish_keys: "#".into(),
                first_key_timeout: 45,
                continues_keys_timeout: 30,
                play_content: None,
                play_repeat: 0,
                breaking_on_key: true,
                including_finish_key: false,
            })
        );
    }

    #[test]
    fn receive_dtmf_start_all_set() {
        let req = both(
            "sys.call.receive_dtmf_start",
            json!({"res_id": R, "valid_keys": "0123456789", "max_keys": 4, "finish_keys": "",
                   "first_key_timeout": 10, "continues_keys_timeout": 5,
                   "play_content": [["please_enter.wav", 0, ""], ["4", 1, ""]],
                   "play_repeat": 2, "breaking_on_key": false, "including_finish_key": true}),
        );
        let ApiRequest::CallReceiveDtmfStart(r) = req else {
            panic!("variant")
        };
        assert_eq!(r.valid_keys, "0123456789");
        assert_eq!((r.max_keys, r.finish_keys.as_str()), (4, ""));
        assert_eq!((r.first_key_timeout, r.continues_keys_timeout), (10, 5));
        assert_eq!(
            r.play_content,
            Some(PlayContent {
                items: vec![
                    ContentItem::File("please_enter.wav".into()),
                    ContentItem::Digits("4".into())
                ]
            })
        );
        assert_eq!(r.play_repeat, 2);
        assert!(!r.breaking_on_key && r.including_finish_key);
    }

    #[test]
    fn receive_dtmf_start_errors() {
        let m = "sys.call.receive_dtmf_start";
        bad(
            m,
            json!({"res_id": R, "valid_keys": ""}),
            "valid_keys",
            "empty",
        );
        bad(
            m,
            json!({"res_id": R, "valid_keys": "12z"}),
            "valid_keys",
            "'z'",
        );
        bad(
            m,
            json!({"res_id": R, "max_keys": 0}),
            "max_keys",
            "1..=128",
        );
        bad(
            m,
            json!({"res_id": R, "max_keys": "11"}),
            "max_keys",
            "expected an integer, got a string",
        );
        bad(
            m,
            json!({"res_id": R, "finish_keys": "#!"}),
            "finish_keys",
            "'!'",
        );
        bad(
            m,
            json!({"res_id": R, "first_key_timeout": 0}),
            "first_key_timeout",
            "1..=3600",
        );
        bad(
            m,
            json!({"res_id": R, "continues_keys_timeout": 3601}),
            "continues_keys_timeout",
            "1..=3600",
        );
        bad(
            m,
            json!({"res_id": R, "play_content": []}),
            "play_content",
            "empty",
        );
        bad(
            m,
            json!({"res_id": R, "play_repeat": -1}),
            "play_repeat",
            "0..=1000",
        );
        bad(
            m,
            json!({"res_id": R, "breaking_on_key": "yes"}),
            "breaking_on_key",
            "boolean",
        );
        bad(
            m,
            json!({"res_id": R, "including_finish_key": 0}),
            "including_finish_key",
            "boolean",
        );
        let e = decode(
            m,
            Some(json!({"res_id": R, "play_content": [["a", 0, ""], ["1x", 1, ""]]})),
        )
        .expect_err("bad");
        assert_eq!(e.data, Some(json!({"param": "play_content", "index": 1})));
        assert!(
            e.message.contains("play_content[1]: type 1"),
            "{}",
            e.message
        );
    }

    #[test]
    fn connect_start() {
        let m = "sys.call.connect_start";
        let req = both(
            m,
            json!({"res_id": R, "max_seconds": 600, "call_res_id": R2}),
        );
        assert_eq!(
            req,
            ApiRequest::CallConnectStart(CallConnectStart {
                res_id: R.into(),
                max_seconds: 600,
                call_res_id: R2.into(),
                connect_mode: ConnectMode::Both,
                record_file: None,
                record_format: RecordFormat::Alaw,
                local_volume: 0,
                remote_volume: 0,
                schedule_play_time: 0,
                schedule_play_file: None,
                schedule_play_loop: 0,
            })
        );
        let req = both(
            m,
            json!({"res_id": R, "max_seconds": 600, "call_res_id": R2, "connect_mode": 3,
                   "record_file": "both.wav", "record_format": 8, "local_volume": -20,
                   "remote_volume": 20, "schedule_play_time": 1_764_072_000u64,
                   "schedule_play_file": "warn.wav", "schedule_play_loop": 2}),
        );
        let ApiRequest::CallConnectStart(c) = req else {
            panic!("variant")
        };
        assert_eq!(c.connect_mode, ConnectMode::FirstHearsSecond);
        assert_eq!(c.record_file.as_deref(), Some("both.wav"));
        assert_eq!(c.record_format, RecordFormat::PcmLinear8);
        assert_eq!((c.local_volume, c.remote_volume), (-20, 20));
        assert_eq!(c.schedule_play_time, 1_764_072_000);
        assert_eq!(c.schedule_play_file.as_deref(), Some("warn.wav"));
        assert_eq!(c.schedule_play_loop, 2);
        let base = json!({"res_id": R, "max_seconds": 600, "call_res_id": R2});
        let with = |k: &str, v: Value| {
            let mut o = base.clone();
            o[k] = v;
            o
        };
        bad(
            m,
            json!({"res_id": R, "max_seconds": 5}),
            "call_res_id",
            "missing",
        );
        bad(
            m,
            json!({"res_id": R, "call_res_id": R2}),
            "max_seconds",
            "missing",
        );
        bad(m, with("call_res_id", json!(R)), "call_res_id", "differ");
        bad(
            m,
            with("connect_mode", json!(0)),
            "connect_mode",
            "one of 1, 2, 3",
        );
        bad(m, with("record_format", json!(6)), "record_format", "got 6");
        bad(
            m,
            with("local_volume", json!(21)),
            "local_volume",
            "-20..=20",
        );
        bad(
            m,
            with("remote_volume", json!(-21)),
            "remote_volume",
            "-20..=20",
        );
        bad(
            m,
            with("schedule_play_time", json!(-1)),
            "schedule_play_time",
            "got -1",
        );
        bad(
            m,
            with("schedule_play_file", json!(false)),
            "schedule_play_file",
            "string",
        );
        bad(
            m,
            with("schedule_play_loop", json!(1001)),
            "schedule_play_loop",
            "0..=1000",
        );
    }

    #[test]
    fn conf_enter_and_exit() {
        let m = "sys.call.conf_enter";
        let req = both(m, json!({"res_id": R, "conf_res_id": C, "max_seconds": 60}));
        assert_eq!(
            req,
            ApiRequest::CallConfEnter(CallConfEnter {
                res_id: R.into(),
                conf_res_id: C.into(),
                max_seconds: 60,
                voice_mode: VoiceMode::TalkListen,
                volume: None,
                play_file: None,
            })
        );
        let req = both(
            m,
            json!({"res_id": R, "conf_res_id": C, "max_seconds": 60, "voice_mode": 3,
                   "volume": -3, "play_file": "joined.wav"}),
        );
        let ApiRequest::CallConfEnter(c) = req else {
            panic!("variant")
        };
        assert_eq!(
            (c.voice_mode, c.volume, c.play_file.as_deref()),
            (VoiceMode::ListenOnly, Some(-3), Some("joined.wav"))
        );
        bad(
            m,
            json!({"res_id": R, "max_seconds": 60}),
            "conf_res_id",
            "missing",
        );
        bad(
            m,
            json!({"res_id": R, "conf_res_id": C}),
            "max_seconds",
            "missing",
        );
        bad(
            m,
            json!({"res_id": R, "conf_res_id": C, "max_seconds": 60, "voice_mode": 5}),
            "voice_mode",
            "one of 1, 2, 3, 4",
        );
        bad(
            m,
            json!({"res_id": R, "conf_res_id": C, "max_seconds": 60, "volume": 99}),
            "volume",
            "-20..=20",
        );

        let m = "sys.call.conf_exit";
        let req = both(m, json!({"res_id": R, "conf_res_id": C}));
        assert_eq!(
            req,
            ApiRequest::CallConfExit(CallConfExit {
                res_id: R.into(),
                conf_res_id: C.into()
            })
        );
        bad(m, json!({"res_id": R}), "conf_res_id", "missing");
        bad(
            m,
            json!({"res_id": R, "conf_res_id": 1}),
            "conf_res_id",
            "string",
        );
    }

    #[test]
    fn conf_construct() {
        let m = "sys.conf.construct";
        let req = both(m, json!({"max_seconds": 3600}));
        assert_eq!(
            req,
            ApiRequest::ConfConstruct(ConfConstruct {
                max_seconds: 3600,
                max_parts: 0,
                record_file: None,
                record_format: RecordFormat::Alaw,
                user_data: None,
            })
        );
        assert_eq!(req.res_id(), None);
        let req = both(
            m,
            json!({"max_seconds": 3600, "max_parts": 8, "record_file": "conf.wav",
                   "record_format": 1, "user_data": "room-1"}),
        );
        let ApiRequest::ConfConstruct(c) = req else {
            panic!("variant")
        };
        assert_eq!(c.max_parts, 8);
        assert_eq!(c.record_file.as_deref(), Some("conf.wav"));
        assert_eq!(c.record_format, RecordFormat::OkiAdpcm);
        assert_eq!(c.user_data.as_deref(), Some("room-1"));
        bad(m, json!({}), "max_seconds", "missing");
        bad(
            m,
            json!({"max_seconds": 5, "max_parts": -1}),
            "max_parts",
            "0..=10000",
        );
        bad(
            m,
            json!({"max_seconds": 5, "record_format": 0}),
            "record_format",
            "got 0",
        );
        bad(
            m,
            json!({"max_seconds": 5, "res_id": C}),
            "res_id",
            "unknown",
        );
        let e = decode(m, None).expect_err("missing");
        assert_eq!(e.param(), Some("max_seconds"));
    }

    #[test]
    fn conf_play_and_record() {
        let m = "sys.conf.play_start";
        let req = both(m, json!({"res_id": C, "content": "music.wav"}));
        assert_eq!(
            req,
            ApiRequest::ConfPlayStart(ConfPlayStart {
                res_id: C.into(),
                content: file("music.wav"),
                repeat: 0
            })
        );
        let req = both(
            m,
            json!({"res_id": C, "content": [["10:30", 5, ""]], "repeat": 3}),
        );
        let ApiRequest::ConfPlayStart(p) = req else {
            panic!("variant")
        };
        assert_eq!(p.repeat, 3);
        assert_eq!(
            p.content.items,
            vec![ContentItem::Duration {
                hours: 10,
                minutes: 30,
                seconds: None
            }]
        );
        bad(m, json!({"res_id": C}), "content", "missing");
        bad(
            m,
            json!({"res_id": C, "content": "a", "finish_keys": "#"}),
            "finish_keys",
            "unknown",
        );
        bad(
            m,
            json!({"res_id": C, "content": "a", "repeat": true}),
            "repeat",
            "integer",
        );

        let m = "sys.conf.record_start";
        let req = both(m, json!({"res_id": C, "max_seconds": 60}));
        assert_eq!(
            req,
            ApiRequest::ConfRecordStart(ConfRecordStart {
                res_id: C.into(),
                max_seconds: 60,
                record_file: None,
                record_format: RecordFormat::Alaw
            })
        );
        let req = both(
            m,
            json!({"res_id": C, "max_seconds": 60, "record_file": "c.wav", "record_format": 21}),
        );
        let ApiRequest::ConfRecordStart(r) = req else {
            panic!("variant")
        };
        assert_eq!(
            (r.record_file.as_deref(), r.record_format),
            (Some("c.wav"), RecordFormat::G721)
        );
        bad(m, json!({"res_id": C}), "max_seconds", "missing");
        bad(
            m,
            json!({"res_id": C, "max_seconds": 60, "beep": true}),
            "beep",
            "unknown",
        );
    }

    #[test]
    fn conf_set_voice_mode() {
        let m = "sys.conf.set_voice_mode";
        let req = both(m, json!({"res_id": C, "call_res_id": R, "voice_mode": 4}));
        assert_eq!(
            req,
            ApiRequest::ConfSetVoiceMode(ConfSetVoiceMode {
                res_id: C.into(),
                call_res_id: R.into(),
                voice_mode: VoiceMode::Neither
            })
        );
        bad(
            m,
            json!({"res_id": C, "call_res_id": R}),
            "voice_mode",
            "missing",
        );
        bad(
            m,
            json!({"res_id": C, "voice_mode": 1}),
            "call_res_id",
            "missing",
        );
        bad(
            m,
            json!({"res_id": C, "call_res_id": R, "voice_mode": 0}),
            "voice_mode",
            "got 0",
        );
    }

    #[test]
    fn framed_requests_decode() {
        use super::super::jsonrpc::{Frame, parse_frame};
        let text = r##"[{"jsonrpc":"2.0","id":7,"method":"sys.call.answer","params":{"res_id":"0.0.1-sys.call-42","max_answer_seconds":600}},
                       {"jsonrpc":"2.0","method":"sys.call.play_stop","params":["0.0.1-sys.call-42"]},
                       {"jsonrpc":"2.0","id":8,"method":"sys.call.answer","params":{"res_id":"0.0.1-sys.call-42"}}]"##;
        let Frame::Batch(entries) = parse_frame(text) else {
            panic!("a batch")
        };
        let out: Vec<(Option<Value>, Result<ApiRequest, RpcError>)> = entries
            .into_iter()
            .map(|e| decode_request(e.expect("valid envelope")))
            .collect();
        assert_eq!(out[0].0, Some(json!(7)));
        assert_eq!(
            out[0].1.as_ref().map(ApiRequest::res_id),
            Ok(Some("0.0.1-sys.call-42"))
        );
        assert_eq!(out[1].0, None);
        assert!(matches!(out[1].1, Ok(ApiRequest::CallPlayStop(_))));
        assert_eq!(out[2].0, Some(json!(8)));
        let e = out[2].1.as_ref().expect_err("missing max_answer_seconds");
        assert_eq!(e.param(), Some("max_answer_seconds"));
    }

    #[test]
    fn first_error_follows_seed_order() {
        // Several faults: the first parameter in the seed's order is named.
        let e = decode(
            "sys.call.receive_dtmf_start",
            Some(json!({"res_id": R, "max_keys": 0, "valid_keys": "x"})),
        )
        .expect_err("bad");
        assert_eq!(e.param(), Some("valid_keys"));
    }
}
