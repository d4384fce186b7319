//! Parsing cost of our real API messages: serde_json versus simd-json, into a
//! generic JSON value or a typed envelope, and the whole path (framing and
//! validation, then `methods::decode`).
//!
//! simd-json parses in place, so each simd-json iteration includes copying the
//! frame into a fresh buffer, as the server would have to (frames arrive as
//! shared immutable bytes).
//!
//! Run: `cargo bench --bench jsonrpc_parse`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mediagw::api::jsonrpc::{RpcFrame, frame_from_value, parse_frame};
use mediagw::api::methods::{ApiRequest, decode};
use serde::Deserialize;
use serde_json::Value;

const PLAY_START: &str = r##"{"jsonrpc":"2.0","id":17,"method":"sys.call.play_start","params":{"res_id":"0.0.1-sys.call-1764072000123","content":[["welcome.wav|tile.wav",7,""],["2016-09-02",4,""],["your_amount_is.wav",0,""],["1086.30",3,""]],"finish_keys":"#","repeat":1}}"##;

const ANSWER: &str = r##"{"jsonrpc":"2.0","id":7,"method":"sys.call.answer","params":{"res_id":"0.0.1-sys.call-42","max_answer_seconds":600}}"##;

const RECEIVE_DTMF: &str = r##"{"jsonrpc":"2.0","id":"r-99","method":"sys.call.receive_dtmf_start","params":{"res_id":"0.0.1-sys.call-1764072000123","valid_keys":"0123456789*#","max_keys":8,"finish_keys":"#","first_key_timeout":20,"continues_keys_timeout":5,"play_content":[["please_enter_your_pin.wav",0,""]],"play_repeat":2,"breaking_on_key":true,"including_finish_key":false}}"##;

/// A batch of ten: the three above, plus typical small requests.
fn batch_of_10() -> String {
    let others = [
        r##"{"jsonrpc":"2.0","id":1,"method":"sys.call.construct","params":{"from_uri":"sip:1001@10.0.0.9","to_uri":["sip:95588@10.20.0.1:5060","sip:95588@10.20.0.2:5060"],"max_answer_seconds":3600,"user_data":"cdr-1"}}"##,
        r##"{"jsonrpc":"2.0","id":2,"method":"sys.call.exists","params":["0.0.1-sys.call-42"]}"##,
        r##"{"jsonrpc":"2.0","id":3,"method":"sys.call.drop","params":{"res_id":"0.0.1-sys.call-43","cause":486}}"##,
        r##"{"jsonrpc":"2.0","id":4,"method":"sys.call.record_start","params":{"res_id":"0.0.1-sys.call-44","max_seconds":120,"record_file":"rec/44.wav"}}"##,
        r##"{"jsonrpc":"2.0","id":5,"method":"sys.call.send_dtmf_start","params":{"res_id":"0.0.1-sys.call-45","keys":"1234#"}}"##,
        r##"{"jsonrpc":"2.0","id":6,"method":"sys.call.connect_start","params":{"res_id":"0.0.1-sys.call-46","max_seconds":600,"call_res_id":"0.0.1-sys.call-47"}}"##,
        r##"{"jsonrpc":"2.0","method":"sys.call.play_stop","params":{"res_id":"0.0.1-sys.call-48"}}"##,
    ];
    let all: Vec<&str> = [PLAY_START, ANSWER, RECEIVE_DTMF]
        .into_iter()
        .chain(others)
        .collect();
    format!("[{}]", all.join(","))
}

/// A typed envelope, for the "typed struct" comparison.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Envelope {
    jsonrpc: String,
    #[serde(default)]
    id: Option<Value>,
    method: String,
    #[serde(default)]
    params: Option<Value>,
}

/// Decodes every valid request of a frame; returns how many decoded.
fn decode_frame(frame: RpcFrame) -> usize {
    let one = |e: Result<mediagw::api::jsonrpc::RawRequest, _>| -> Option<ApiRequest> {
        let req = e.ok()?;
        decode(&req.method, req.params).ok()
    };
    match frame {
        RpcFrame::Single(e) => usize::from(one(e).is_some()),
        RpcFrame::Batch(v) => v.into_iter().filter_map(one).count(),
        RpcFrame::Error(_) => 0,
    }
}

fn simd_value(text: &str) -> Option<Value> {
    let mut buf = text.as_bytes().to_vec();
    simd_json::serde::from_slice::<Value>(&mut buf).ok()
}

fn bench(c: &mut Criterion) {
    let batch = batch_of_10();
    let messages: [(&str, &str); 4] = [
        ("play_start", PLAY_START),
        ("answer", ANSWER),
        ("receive_dtmf_start", RECEIVE_DTMF),
        ("batch_of_10", &batch),
    ];
    // Sanity: every message decodes fully on both paths.
    for (name, text) in messages {
        let want = if name == "batch_of_10" { 10 } else { 1 };
        assert_eq!(decode_frame(parse_frame(text)), want, "{name}");
        let v = simd_value(text).expect("simd-json parses");
        assert_eq!(
            decode_frame(frame_from_value(v)),
            want,
            "{name} via simd-json"
        );
    }

    for (name, text) in messages {
        let mut g = c.benchmark_group(name);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        g.bench_function("value/serde_json", |b| {
            b.iter(|| serde_json::from_str::<Value>(black_box(text)).ok())
        });
        g.bench_function("value/simd_json", |b| {
            b.iter(|| simd_value(black_box(text)))
        });
        g.bench_function("owned_value/simd_json", |b| {
            b.iter(|| {
                let mut buf = black_box(text).as_bytes().to_vec();
                simd_json::to_owned_value(&mut buf).ok()
            })
        });
        if name != "batch_of_10" {
            g.bench_function("typed/serde_json", |b| {
                b.iter(|| serde_json::from_str::<Envelope>(black_box(text)).ok())
            });
            g.bench_function("typed/simd_json", |b| {
                b.iter(|| {
                    let mut buf = black_box(text).as_bytes().to_vec();
                    simd_json::serde::from_slice::<Envelope>(&mut buf).ok()
                })
            });
        }
        g.bench_function("frame+decode/serde_json", |b| {
            b.iter(|| decode_frame(parse_frame(black_box(text))))
        });
        g.bench_function("frame+decode/simd_json", |b| {
            b.iter(|| simd_value(black_box(text)).map(|v| decode_frame(frame_from_value(v))))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
