//! The method table's decoding, as data: each case is a method, its `params` and what
//! must come out, a whole [`ApiRequest`] or an error (code, the parameter it names, text
//! of its message). Named params are also tried in their positional (seed) order, which
//! must decode or fail the same way.

use serde_json::{Value, json};

use super::super::content::PlayContent;
use super::super::values::{ConnectMode, RecordFormat, RingPlayMode, VoiceMode};
use super::*;
use crate::sip::SipUri;
use crate::speech::{SpeechItem, TimeSpan};

const R: &str = "0.0.0-sys.call-1";
const R2: &str = "0.0.0-sys.call-2";
const C: &str = "0.0.0-sys.conf-1";

/// What a case must decode to.
enum Expect {
    /// This request.
    Ok(Box<ApiRequest>),
    /// -32602 with `data: {"param": P}`, P and the needle in the message.
    Bad(&'static str, &'static str),
    /// This code and `data`, the message starting with this text.
    Err(i32, Value, String),
}

/// One case: method, params (`None`: no params member), expectation.
type Case = (&'static str, Option<Value>, Expect);

fn ok(method: &'static str, params: Value, req: ApiRequest) -> Case {
    (method, Some(params), Expect::Ok(Box::new(req)))
}

fn bad(method: &'static str, params: Value, param: &'static str, needle: &'static str) -> Case {
    (method, Some(params), Expect::Bad(param, needle))
}

fn err(
    method: &'static str,
    params: Option<Value>,
    code: i32,
    data: Value,
    prefix: impl Into<String>,
) -> Case {
    (method, params, Expect::Err(code, data, prefix.into()))
}

/// A `sip:` URI built field by field (not by the parser under test).
fn uri(user: Option<&str>, host: &str, port: Option<u16>) -> SipUri {
    SipUri::new(user, host, port)
}

fn file(s: &str) -> PlayContent {
    PlayContent {
        items: vec![SpeechItem::File(s.into())],
    }
}

fn rid(res_id: &str) -> ResIdParams {
    ResIdParams {
        res_id: res_id.into(),
    }
}

/// The positional twin of named `params` (seed order, nulls for gaps), when every key
/// is a declared parameter.
fn positional(method: &str, params: &Value) -> Option<Value> {
    let names = param_names(method)?;
    let obj = params.as_object()?;
    if !obj.keys().all(|k| names.contains(&k.as_str())) {
        return None;
    }
    let used = names
        .iter()
        .rposition(|n| obj.contains_key(*n))
        .map_or(0, |i| i + 1);
    Some(Value::Array(
        names
            .iter()
            .take(used)
            .map(|n| obj.get(*n).cloned().unwrap_or(Value::Null))
            .collect(),
    ))
}

fn check(case: &Case) {
    let (method, params, expect) = case;
    let got = decode(method, params.clone());
    let twin = params.as_ref().and_then(|p| positional(method, p));
    let ctx = format!("{method} {params:?}");
    match expect {
        Expect::Ok(want) => {
            let req = got.unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(&req, want.as_ref(), "{ctx}");
            assert_eq!(req.method(), *method, "{ctx}");
            if let Some(obj) = params.as_ref().and_then(Value::as_object) {
                let id = obj.get("res_id").and_then(Value::as_str);
                assert_eq!(req.res_id(), id, "{ctx}: the resource acted on");
            }
            assert_eq!(
                twin.is_some(),
                params.as_ref().is_some_and(Value::is_object),
                "{ctx}: named params must all be declared"
            );
            if let Some(t) = twin {
                let again =
                    decode(method, Some(t)).unwrap_or_else(|e| panic!("{ctx} positional: {e}"));
                assert_eq!(again, req, "{ctx}: named and positional differ");
            }
        }
        Expect::Bad(param, needle) => {
            let e = got.expect_err(&ctx);
            assert_eq!(e.code, -32602, "{ctx}: {e}");
            assert_eq!(e.param(), Some(*param), "{ctx}: {}", e.message);
            assert!(e.message.contains(param), "{ctx}: {}", e.message);
            assert!(e.message.contains(needle), "{ctx}: {}", e.message);
            if let Some(t) = twin {
                let e2 = decode(method, Some(t)).expect_err("positional refused");
                assert_eq!(e2, e, "{ctx}: positional error differs");
            }
        }
        Expect::Err(code, data, prefix) => {
            let e = got.expect_err(&ctx);
            assert_eq!((e.code, e.data.as_ref()), (*code, Some(data)), "{ctx}: {e}");
            assert!(
                e.message.starts_with(prefix.as_str()),
                "{ctx}: {}",
                e.message
            );
        }
    }
}

/// The methods taking only `res_id`, and their requests.
#[rustfmt::skip]
fn res_id_only_cases() -> Vec<Case> {
    use ApiRequest as Q;
    type Variant = fn(ResIdParams) -> ApiRequest;
    let methods: [(&'static str, Variant); 9] = [
        ("sys.call.exists", Q::CallExists),
        ("sys.call.play_stop", Q::CallPlayStop),
        ("sys.call.record_stop", Q::CallRecordStop),
        (
            "sys.call.stop_receive_dtmf_start",
            Q::CallStopReceiveDtmfStart,
        ),
        ("sys.call.connect_stop", Q::CallConnectStop),
        ("sys.conf.release", Q::ConfRelease),
        ("sys.conf.exists", Q::ConfExists),
        ("sys.conf.play_stop", Q::ConfPlayStop),
        ("sys.conf.record_stop", Q::ConfRecordStop),
    ];
    let listed: Vec<&str> = METHODS
        .iter()
        .filter(|(_, n)| *n == call::RES_ID_ONLY)
        .map(|(m, _)| *m)
        .collect();
    assert_eq!(listed, methods.map(|(m, _)| m), "the res_id-only methods");
    assert_eq!(call::RES_ID_ONLY, &["res_id"]);
    let mut cases = Vec::new();
    for (m, variant) in methods {
        cases.extend([
            ok(m, json!({"res_id": R}), variant(rid(R))),
            ok(m, json!([R]), variant(rid(R))),
            bad(m, json!({}), "res_id", "missing"),
            bad(m, json!({"res_id": 5}), "res_id", "expected a string, got a number"),
            bad(m, json!({"res_id": ""}), "res_id", "empty"),
            bad(m, json!({"res_id": R, "x": 1}), "x", "unknown parameter"),
            (m, None, Expect::Bad("res_id", "missing")),
            err(
                m,
                Some(json!([R, 1])),
                -32602,
                json!({"index": 1}),
                format!("invalid params: {m} takes at most 1 positional parameters, got 2"),
            ),
        ]);
    }
    cases
}

#[rustfmt::skip]
fn construct_cases() -> Vec<Case> {
    let m = "sys.call.construct";
    let defaults = CallConstruct {
        from_uri: None,
        to_uri: vec![uri(Some("95588"), "10.0.0.1", None)],
        max_answer_seconds: 600,
        max_ring_seconds: 50,
        parent_call_res_id: None,
        parent_conf_res_id: None,
        ring_play_file: None,
        ring_play_mode: RingPlayMode::OnRingback,
        user_data: None,
    };
    let base = json!({"to_uri": "1@gw", "max_answer_seconds": 60});
    let with = |k: &str, v: Value| {
        let mut o = base.clone();
        o[k] = v;
        o
    };
    let mut both_parents = with("parent_call_res_id", json!(R));
    both_parents["parent_conf_res_id"] = json!(C);
    vec![
        ok(
            m,
            json!({"to_uri": "sip:95588@10.0.0.1", "max_answer_seconds": 600}),
            ApiRequest::CallConstruct(defaults.clone()),
        ),
        // null means default too.
        ok(
            m,
            json!({"to_uri": "sip:95588@10.0.0.1", "max_answer_seconds": 600,
                   "max_ring_seconds": null, "ring_play_mode": null, "user_data": null}),
            ApiRequest::CallConstruct(defaults),
        ),
        ok(
            m,
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
            ApiRequest::CallConstruct(CallConstruct {
                from_uri: Some(uri(Some("1001"), "10.0.0.9", None)),
                to_uri: vec![
                    uri(Some("95588"), "gw1", Some(5060)),
                    uri(Some("95588"), "gw2", None),
                ],
                max_answer_seconds: 3600,
                max_ring_seconds: 30,
                parent_call_res_id: Some(R.into()),
                parent_conf_res_id: None,
                ring_play_file: Some("ring.wav".into()),
                ring_play_mode: RingPlayMode::BeforeDial,
                user_data: Some("cdr-7".into()),
            }),
        ),
        // An empty ring_play_file is "none", as the seed says.
        ok(
            m,
            json!({"to_uri": "1@gw", "max_answer_seconds": 1, "parent_conf_res_id": C,
                   "ring_play_file": ""}),
            ApiRequest::CallConstruct(CallConstruct {
                from_uri: None,
                to_uri: vec![uri(Some("1"), "gw", None)],
                max_answer_seconds: 1,
                max_ring_seconds: 50,
                parent_call_res_id: None,
                parent_conf_res_id: Some(C.into()),
                ring_play_file: None,
                ring_play_mode: RingPlayMode::OnRingback,
                user_data: None,
            }),
        ),
        bad(m, json!({"max_answer_seconds": 60}), "to_uri", "missing"),
        bad(m, json!({"to_uri": "1@gw"}), "max_answer_seconds", "missing"),
        bad(m, with("max_answer_seconds", json!(0)), "max_answer_seconds", "1..=604800"),
        bad(m, with("max_answer_seconds", json!(604_801)), "max_answer_seconds", "604801"),
        bad(m, with("max_answer_seconds", json!("60")), "max_answer_seconds", "integer"),
        bad(m, with("max_ring_seconds", json!(0)), "max_ring_seconds", "1..=600"),
        bad(m, with("to_uri", json!("gw")), "to_uri", "user"),
        bad(m, with("to_uri", json!([])), "to_uri", "empty"),
        bad(m, with("to_uri", json!(5)), "to_uri", "a number"),
        bad(m, with("to_uri", json!(vec!["1@gw"; 17])), "to_uri", "at most 16"),
        err(
            m,
            Some(with("to_uri", json!(["1@gw", "1@bad host"]))),
            -32602,
            json!({"param": "to_uri", "index": 1}),
            "invalid params: to_uri[1]: ",
        ),
        err(
            m,
            Some(with("to_uri", json!(["1@gw", 7]))),
            -32602,
            json!({"param": "to_uri", "index": 1}),
            "invalid params: to_uri[1]: expected a string",
        ),
        bad(m, with("from_uri", json!("10.0.0.1")), "from_uri", "user"),
        bad(m, with("from_uri", json!(1001)), "from_uri", "string"),
        bad(m, both_parents, "parent_conf_res_id", "parent_call_res_id"),
        bad(m, with("parent_call_res_id", json!("")), "parent_call_res_id", "empty"),
        bad(m, with("ring_play_mode", json!(4)), "ring_play_mode", "one of 0, 1, 2, 3"),
        bad(m, with("ring_play_mode", json!(-1)), "ring_play_mode", "got -1"),
        bad(m, with("ring_play_file", json!("a\nb")), "ring_play_file", "control"),
        bad(m, with("user_data", json!({"a": 1})), "user_data", "expected a string"),
        bad(m, with("user_data", json!("x".repeat(4097))), "user_data", "4096"),
        bad(m, with("res_id", json!(R)), "res_id", "unknown parameter"),
        err(
            m,
            Some(json!([
                "1@gw", "1@gw", 60, 50, null, null, null, 0, null, 1
            ])),
            -32602,
            json!({"index": 9}),
            "invalid params: sys.call.construct takes at most 9",
        ),
    ]
}

#[rustfmt::skip]
fn answer_reject_drop_redirect_cases() -> Vec<Case> {
    let (a, rj, d, rd) = (
        "sys.call.answer",
        "sys.call.reject",
        "sys.call.drop",
        "sys.call.redirect",
    );
    let mut cases = vec![
        ok(
            a,
            json!({"res_id": R, "max_answer_seconds": 600}),
            ApiRequest::CallAnswer(CallAnswer {
                res_id: R.into(),
                max_answer_seconds: 600,
                user_data: None,
            }),
        ),
        ok(
            a,
            json!({"res_id": R, "max_answer_seconds": 1, "user_data": "u"}),
            ApiRequest::CallAnswer(CallAnswer {
                res_id: R.into(),
                max_answer_seconds: 1,
                user_data: Some("u".into()),
            }),
        ),
        bad(a, json!({"res_id": R}), "max_answer_seconds", "missing"),
        bad(a, json!({"max_answer_seconds": 5}), "res_id", "missing"),
        bad(a, json!({"res_id": R, "max_answer_seconds": -5}), "max_answer_seconds", "got -5"),
        bad(a, json!({"res_id": R, "max_answer_seconds": 1.5}), "max_answer_seconds", "integer"),
        bad(a, json!({"res_id": R, "max_answer_seconds": 5, "user_data": 5}), "user_data", "string"),
        ok(
            rj,
            json!({"res_id": R}),
            ApiRequest::CallReject(CallReject {
                res_id: R.into(),
                cause: 603,
                user_data: None,
            }),
        ),
        ok(
            rj,
            json!({"res_id": R, "cause": 486, "user_data": "x"}),
            ApiRequest::CallReject(CallReject {
                res_id: R.into(),
                cause: 486,
                user_data: Some("x".into()),
            }),
        ),
        ok(
            d,
            json!({"res_id": R}),
            ApiRequest::CallDrop(CallDrop {
                res_id: R.into(),
                cause: 603,
            }),
        ),
        ok(
            d,
            json!({"res_id": R, "cause": 200}),
            ApiRequest::CallDrop(CallDrop {
                res_id: R.into(),
                cause: 200,
            }),
        ),
        bad(d, json!({"res_id": R, "user_data": "x"}), "user_data", "unknown"),
        ok(
            rd,
            json!({"res_id": R, "redirect_uri": "10.0.0.2:5070"}),
            ApiRequest::CallRedirect(CallRedirect {
                res_id: R.into(),
                redirect_uri: uri(None, "10.0.0.2", Some(5070)),
                user_data: None,
            }),
        ),
        ok(
            rd,
            json!({"res_id": R, "redirect_uri": "sip:ipsc@h2", "user_data": "u"}),
            ApiRequest::CallRedirect(CallRedirect {
                res_id: R.into(),
                redirect_uri: uri(Some("ipsc"), "h2", None),
                user_data: Some("u".into()),
            }),
        ),
        bad(rd, json!({"res_id": R}), "redirect_uri", "missing"),
        bad(rd, json!({"res_id": R, "redirect_uri": "h2:0"}), "redirect_uri", "port"),
        bad(rd, json!({"res_id": R, "redirect_uri": ""}), "redirect_uri", "empty"),
    ];
    for c in [0, 200, 399, 700] {
        cases.push(bad(rj, json!({"res_id": R, "cause": c}), "cause", "400..=699"));
    }
    for c in [100, 199, 700] {
        cases.push(bad(d, json!({"res_id": R, "cause": c}), "cause", "200..=699"));
    }
    cases
}

#[rustfmt::skip]
fn play_record_dtmf_cases() -> Vec<Case> {
    let (p, r, s) = (
        "sys.call.play_start",
        "sys.call.record_start",
        "sys.call.send_dtmf_start",
    );
    vec![
        ok(
            p,
            json!({"res_id": R, "content": "welcome.wav"}),
            ApiRequest::CallPlayStart(CallPlayStart {
                res_id: R.into(),
                content: file("welcome.wav"),
                finish_keys: String::new(),
                repeat: 0,
            }),
        ),
        ok(
            p,
            json!({"res_id": R, "content": [["a.wav", 0, ""], ["12", 1, ""]],
                   "finish_keys": "#*1d", "repeat": 2}),
            ApiRequest::CallPlayStart(CallPlayStart {
                res_id: R.into(),
                content: PlayContent {
                    items: vec![
                        SpeechItem::File("a.wav".into()),
                        SpeechItem::Digits("12".into()),
                    ],
                },
                finish_keys: "#*1D".into(),
                repeat: 2,
            }),
        ),
        bad(p, json!({"res_id": R}), "content", "missing"),
        bad(p, json!({"res_id": R, "content": 3}), "content", "a number"),
        bad(p, json!({"res_id": R, "content": "a.wav", "finish_keys": "1x"}), "finish_keys", "'x'"),
        bad(p, json!({"res_id": R, "content": "a.wav", "finish_keys": 1}), "finish_keys", "string"),
        bad(p, json!({"res_id": R, "content": "a.wav", "repeat": -1}), "repeat", "0..=1000"),
        bad(p, json!({"res_id": R, "content": "a.wav", "repeat": 1001}), "repeat", "0..=1000"),
        err(
            p,
            Some(
                json!({"res_id": R, "content": [["a.wav", 0, ""], ["x", 0, ""], ["2016-13-01", 4, ""]]}),
            ),
            -32602,
            json!({"param": "content", "index": 2}),
            "invalid params: content[2]: type 4 expects YYYY-mm-dd",
        ),
        ok(
            r,
            json!({"res_id": R, "max_seconds": 60}),
            ApiRequest::CallRecordStart(CallRecordStart {
                res_id: R.into(),
                max_seconds: 60,
                beep: true,
                record_file: None,
                record_format: RecordFormat::Alaw,
                finish_keys: String::new(),
            }),
        ),
        ok(
            r,
            json!({"res_id": R, "max_seconds": 60, "beep": false, "record_file": "r/1.wav",
                   "record_format": 7, "finish_keys": "#"}),
            ApiRequest::CallRecordStart(CallRecordStart {
                res_id: R.into(),
                max_seconds: 60,
                beep: false,
                record_file: Some("r/1.wav".into()),
                record_format: RecordFormat::Ulaw,
                finish_keys: "#".into(),
            }),
        ),
        ok(
            r,
            json!({"res_id": R, "max_seconds": 1, "record_file": "", "record_format": 2}),
            ApiRequest::CallRecordStart(CallRecordStart {
                res_id: R.into(),
                max_seconds: 1,
                beep: true,
                record_file: None,
                record_format: RecordFormat::Alaw,
                finish_keys: String::new(),
            }),
        ),
        bad(r, json!({"res_id": R}), "max_seconds", "missing"),
        bad(r, json!({"res_id": R, "max_seconds": 0}), "max_seconds", "1..=604800"),
        bad(r, json!({"res_id": R, "max_seconds": 5, "beep": 1}), "beep", "boolean"),
        bad(r, json!({"res_id": R, "max_seconds": 5, "record_format": 5}), "record_format", "got 5"),
        bad(r, json!({"res_id": R, "max_seconds": 5, "record_format": "3"}), "record_format", "integer"),
        bad(r, json!({"res_id": R, "max_seconds": 5, "record_file": 3}), "record_file", "string"),
        bad(r, json!({"res_id": R, "max_seconds": 5, "finish_keys": "E"}), "finish_keys", "'E'"),
        ok(
            s,
            json!({"res_id": R, "keys": "123*#abcd"}),
            ApiRequest::CallSendDtmfStart(CallSendDtmfStart {
                res_id: R.into(),
                keys: "123*#ABCD".into(),
            }),
        ),
        bad(s, json!({"res_id": R}), "keys", "missing"),
        bad(s, json!({"res_id": R, "keys": ""}), "keys", "empty"),
        bad(s, json!({"res_id": R, "keys": "12,3"}), "keys", "','"),
        bad(s, json!({"res_id": R, "keys": "1".repeat(129)}), "keys", "at most 128"),
        bad(s, json!({"res_id": R, "keys": 123}), "keys", "string"),
    ]
}

#[rustfmt::skip]
fn receive_dtmf_cases() -> Vec<Case> {
    let m = "sys.call.receive_dtmf_start";
    vec![
        ok(
            m,
            json!({"res_id": R}),
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
            }),
        ),
        ok(
            m,
            json!({"res_id": R, "valid_keys": "0123456789", "max_keys": 4, "finish_keys": "",
                   "first_key_timeout": 10, "continues_keys_timeout": 5,
                   "play_content": [["please_enter.wav", 0, ""], ["4", 1, ""]],
                   "play_repeat": 2, "breaking_on_key": false, "including_finish_key": true}),
            ApiRequest::CallReceiveDtmfStart(CallReceiveDtmfStart {
                res_id: R.into(),
                valid_keys: "0123456789".into(),
                max_keys: 4,
                finish_keys: String::new(),
                first_key_timeout: 10,
                continues_keys_timeout: 5,
                play_content: Some(PlayContent {
                    items: vec![
                        SpeechItem::File("please_enter.wav".into()),
                        SpeechItem::Digits("4".into()),
                    ],
                }),
                play_repeat: 2,
                breaking_on_key: false,
                including_finish_key: true,
            }),
        ),
        bad(m, json!({"res_id": R, "valid_keys": ""}), "valid_keys", "empty"),
        bad(m, json!({"res_id": R, "valid_keys": "12z"}), "valid_keys", "'z'"),
        bad(m, json!({"res_id": R, "max_keys": 0}), "max_keys", "1..=128"),
        bad(m, json!({"res_id": R, "max_keys": "11"}), "max_keys", "expected an integer, got a string"),
        bad(m, json!({"res_id": R, "finish_keys": "#!"}), "finish_keys", "'!'"),
        bad(m, json!({"res_id": R, "first_key_timeout": 0}), "first_key_timeout", "1..=3600"),
        bad(m, json!({"res_id": R, "continues_keys_timeout": 3601}), "continues_keys_timeout", "1..=3600"),
        bad(m, json!({"res_id": R, "play_content": []}), "play_content", "empty"),
        bad(m, json!({"res_id": R, "play_repeat": -1}), "play_repeat", "0..=1000"),
        bad(m, json!({"res_id": R, "breaking_on_key": "yes"}), "breaking_on_key", "boolean"),
        bad(m, json!({"res_id": R, "including_finish_key": 0}), "including_finish_key", "boolean"),
        err(
            m,
            Some(json!({"res_id": R, "play_content": [["a", 0, ""], ["1x", 1, ""]]})),
            -32602,
            json!({"param": "play_content", "index": 1}),
            "invalid params: play_content[1]: type 1",
        ),
        // Several faults: the first parameter in the seed's order is named.
        bad(m, json!({"res_id": R, "max_keys": 0, "valid_keys": "x"}), "valid_keys", "'x'"),
    ]
}

#[rustfmt::skip]
fn connect_and_conf_member_cases() -> Vec<Case> {
    let m = "sys.call.connect_start";
    let base = json!({"res_id": R, "max_seconds": 600, "call_res_id": R2});
    let with = |k: &str, v: Value| {
        let mut o = base.clone();
        o[k] = v;
        o
    };
    let (e, x) = ("sys.call.conf_enter", "sys.call.conf_exit");
    vec![
        ok(
            m,
            base.clone(),
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
            }),
        ),
        ok(
            m,
            json!({"res_id": R, "max_seconds": 600, "call_res_id": R2, "connect_mode": 3,
                   "record_file": "both.wav", "record_format": 8, "local_volume": -20,
                   "remote_volume": 20, "schedule_play_time": 1_764_072_000u64,
                   "schedule_play_file": "warn.wav", "schedule_play_loop": 2}),
            ApiRequest::CallConnectStart(CallConnectStart {
                res_id: R.into(),
                max_seconds: 600,
                call_res_id: R2.into(),
                connect_mode: ConnectMode::FirstHearsSecond,
                record_file: Some("both.wav".into()),
                record_format: RecordFormat::PcmLinear8,
                local_volume: -20,
                remote_volume: 20,
                schedule_play_time: 1_764_072_000,
                schedule_play_file: Some("warn.wav".into()),
                schedule_play_loop: 2,
            }),
        ),
        bad(m, json!({"res_id": R, "max_seconds": 5}), "call_res_id", "missing"),
        bad(m, json!({"res_id": R, "call_res_id": R2}), "max_seconds", "missing"),
        bad(m, with("call_res_id", json!(R)), "call_res_id", "differ"),
        bad(m, with("connect_mode", json!(0)), "connect_mode", "one of 1, 2, 3"),
        bad(m, with("record_format", json!(6)), "record_format", "got 6"),
        bad(m, with("local_volume", json!(21)), "local_volume", "-20..=20"),
        bad(m, with("remote_volume", json!(-21)), "remote_volume", "-20..=20"),
        bad(m, with("schedule_play_time", json!(-1)), "schedule_play_time", "got -1"),
        bad(m, with("schedule_play_file", json!(false)), "schedule_play_file", "string"),
        bad(m, with("schedule_play_loop", json!(1001)), "schedule_play_loop", "0..=1000"),
        ok(
            e,
            json!({"res_id": R, "conf_res_id": C, "max_seconds": 60}),
            ApiRequest::CallConfEnter(CallConfEnter {
                res_id: R.into(),
                conf_res_id: C.into(),
                max_seconds: 60,
                voice_mode: VoiceMode::TalkListen,
                volume: None,
                play_file: None,
            }),
        ),
        ok(
            e,
            json!({"res_id": R, "conf_res_id": C, "max_seconds": 60, "voice_mode": 3,
                   "volume": -3, "play_file": "joined.wav"}),
            ApiRequest::CallConfEnter(CallConfEnter {
                res_id: R.into(),
                conf_res_id: C.into(),
                max_seconds: 60,
                voice_mode: VoiceMode::ListenOnly,
                volume: Some(-3),
                play_file: Some("joined.wav".into()),
            }),
        ),
        bad(e, json!({"res_id": R, "max_seconds": 60}), "conf_res_id", "missing"),
        bad(e, json!({"res_id": R, "conf_res_id": C}), "max_seconds", "missing"),
        bad(e, json!({"res_id": R, "conf_res_id": C, "max_seconds": 60, "voice_mode": 5}), "voice_mode", "one of 1, 2, 3, 4"),
        bad(e, json!({"res_id": R, "conf_res_id": C, "max_seconds": 60, "volume": 99}), "volume", "-20..=20"),
        ok(
            x,
            json!({"res_id": R, "conf_res_id": C}),
            ApiRequest::CallConfExit(CallConfExit {
                res_id: R.into(),
                conf_res_id: C.into(),
            }),
        ),
        bad(x, json!({"res_id": R}), "conf_res_id", "missing"),
        bad(x, json!({"res_id": R, "conf_res_id": 1}), "conf_res_id", "string"),
    ]
}

#[rustfmt::skip]
fn conf_cases() -> Vec<Case> {
    let (k, p, r, v) = (
        "sys.conf.construct",
        "sys.conf.play_start",
        "sys.conf.record_start",
        "sys.conf.set_voice_mode",
    );
    vec![
        ok(
            k,
            json!({"max_seconds": 3600}),
            ApiRequest::ConfConstruct(ConfConstruct {
                max_seconds: 3600,
                max_parts: 0,
                record_file: None,
                record_format: RecordFormat::Alaw,
                user_data: None,
            }),
        ),
        ok(
            k,
            json!({"max_seconds": 3600, "max_parts": 8, "record_file": "conf.wav",
                   "record_format": 1, "user_data": "room-1"}),
            ApiRequest::ConfConstruct(ConfConstruct {
                max_seconds: 3600,
                max_parts: 8,
                record_file: Some("conf.wav".into()),
                record_format: RecordFormat::OkiAdpcm,
                user_data: Some("room-1".into()),
            }),
        ),
        bad(k, json!({}), "max_seconds", "missing"),
        bad(k, json!({"max_seconds": 5, "max_parts": -1}), "max_parts", "0..=10000"),
        bad(k, json!({"max_seconds": 5, "record_format": 0}), "record_format", "got 0"),
        bad(k, json!({"max_seconds": 5, "res_id": C}), "res_id", "unknown"),
        (k, None, Expect::Bad("max_seconds", "missing")),
        ok(
            p,
            json!({"res_id": C, "content": "music.wav"}),
            ApiRequest::ConfPlayStart(ConfPlayStart {
                res_id: C.into(),
                content: file("music.wav"),
                repeat: 0,
            }),
        ),
        ok(
            p,
            json!({"res_id": C, "content": [["10:30", 5, ""]], "repeat": 3}),
            ApiRequest::ConfPlayStart(ConfPlayStart {
                res_id: C.into(),
                content: PlayContent {
                    items: vec![SpeechItem::Duration(TimeSpan {
                        hours: 10,
                        minutes: 30,
                        seconds: None,
                    })],
                },
                repeat: 3,
            }),
        ),
        bad(p, json!({"res_id": C}), "content", "missing"),
        bad(p, json!({"res_id": C, "content": "a", "finish_keys": "#"}), "finish_keys", "unknown"),
        bad(p, json!({"res_id": C, "content": "a", "repeat": true}), "repeat", "integer"),
        ok(
            r,
            json!({"res_id": C, "max_seconds": 60}),
            ApiRequest::ConfRecordStart(ConfRecordStart {
                res_id: C.into(),
                max_seconds: 60,
                record_file: None,
                record_format: RecordFormat::Alaw,
            }),
        ),
        ok(
            r,
            json!({"res_id": C, "max_seconds": 60, "record_file": "c.wav", "record_format": 21}),
            ApiRequest::ConfRecordStart(ConfRecordStart {
                res_id: C.into(),
                max_seconds: 60,
                record_file: Some("c.wav".into()),
                record_format: RecordFormat::G721,
            }),
        ),
        bad(r, json!({"res_id": C}), "max_seconds", "missing"),
        bad(r, json!({"res_id": C, "max_seconds": 60, "beep": true}), "beep", "unknown"),
        ok(
            v,
            json!({"res_id": C, "call_res_id": R, "voice_mode": 4}),
            ApiRequest::ConfSetVoiceMode(ConfSetVoiceMode {
                res_id: C.into(),
                call_res_id: R.into(),
                voice_mode: VoiceMode::Neither,
            }),
        ),
        bad(v, json!({"res_id": C, "call_res_id": R}), "voice_mode", "missing"),
        bad(v, json!({"res_id": C, "voice_mode": 1}), "call_res_id", "missing"),
        bad(v, json!({"res_id": C, "call_res_id": R, "voice_mode": 0}), "voice_mode", "got 0"),
    ]
}

fn unknown_method_cases() -> Vec<Case> {
    let nope = |m: &'static str, params| {
        err(
            m,
            params,
            -32601,
            json!({ "method": m }),
            format!("method not found: {m}"),
        )
    };
    vec![
        nope("sys.call.nope", Some(json!({}))),
        nope("", None),
        nope("sys.call.Answer", None),
    ]
}

#[test]
fn decode_table() {
    let cases: Vec<Case> = [
        unknown_method_cases(),
        res_id_only_cases(),
        construct_cases(),
        answer_reject_drop_redirect_cases(),
        play_record_dtmf_cases(),
        receive_dtmf_cases(),
        connect_and_conf_member_cases(),
        conf_cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    for case in &cases {
        check(case);
    }
    // Every method of the table has at least one case that decodes.
    for (method, _) in METHODS {
        assert!(
            cases
                .iter()
                .any(|(m, _, e)| m == method && matches!(e, Expect::Ok(_))),
            "{method} has no decoding case"
        );
    }
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
        let twin = positional(method, &params).expect("declared params");
        let req = decode(method, Some(params)).unwrap_or_else(|e| panic!("{method}: {e}"));
        assert_eq!(decode(method, Some(twin)).as_ref(), Ok(&req), "{method}");
        assert_eq!(req.method(), *method);
        let expect_res_id = !method.ends_with(".construct");
        assert_eq!(req.res_id().is_some(), expect_res_id, "{method}");
    }
    assert_eq!(METHODS.len(), 25);
}

#[test]
fn framed_requests_decode() {
    use super::super::jsonrpc::{RpcFrame, parse_frame};
    let text = r##"[{"jsonrpc":"2.0","id":7,"method":"sys.call.answer","params":{"res_id":"0.0.1-sys.call-42","max_answer_seconds":600}},
                   {"jsonrpc":"2.0","method":"sys.call.play_stop","params":["0.0.1-sys.call-42"]},
                   {"jsonrpc":"2.0","id":8,"method":"sys.call.answer","params":{"res_id":"0.0.1-sys.call-42"}}]"##;
    let RpcFrame::Batch(entries) = parse_frame(text) else {
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
