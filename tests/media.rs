//! Calls carrying real RTP through the real gateway and its io_uring workers: prompts
//! (byte-exact G.711, transcoded PCM16, every content type, TTS), finish keys on RFC
//! 4733 digits (our UA and SIPp's pcap play), recordings checked sample by sample in
//! every ending (stop, max_seconds, finish key, hang-up, gateway shutdown), RTP timeout.

use std::path::Path;

use mediagw_testkit::{Client, Gateway, Sipp, Ua, start_gateway};
use serde_json::{Value, json};

/// A WAV file of 8 kHz mono G.711 (`tag` 6 A-law, 7 µ-law) holding `data`.
fn write_g711_wav(path: &Path, tag: u16, data: &[u8]) {
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(4 + 26 + 12 + 8 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&18u32.to_le_bytes());
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8u16.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(b"fact");
    v.extend_from_slice(&4u32.to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    std::fs::write(path, v).unwrap();
}

/// The `data` chunk of a WAV file and its format tag, checking the RIFF sizes.
fn read_wav(path: &Path) -> (u16, u16, Vec<u8>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[0..4], b"RIFF");
    assert_eq!(
        u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize,
        b.len() - 8,
        "RIFF size"
    );
    let mut i = 12;
    let (mut tag, mut bits, mut data) = (0, 0, Vec::new());
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let len = u32::from_le_bytes(b[i + 4..i + 8].try_into().unwrap()) as usize;
        let body = &b[i + 8..(i + 8 + len).min(b.len())];
        if id == b"fmt " {
            tag = u16::from_le_bytes([body[0], body[1]]);
            assert_eq!(u32::from_le_bytes(body[4..8].try_into().unwrap()), 8000);
            bits = u16::from_le_bytes([body[14], body[15]]);
        }
        if id == b"data" {
            assert_eq!(body.len(), len, "data size matches the file");
            data = body.to_vec();
        }
        i += 8 + len + (len & 1);
    }
    (tag, bits, data)
}

/// A deterministic µ-law test pattern of `frames` 20 ms frames (no 0x7F/0xFF zeros).
fn pattern(frames: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..frames * 160)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let b = (x >> 16) as u8;
            if b & 0x7f == 0x7f { 0x70 } else { b }
        })
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Start a gateway, connect the app, place a call from a UA and answer it.
async fn answered_call(extra_cfg: &str, pt: u8, dtmf: bool) -> (Gateway, Client, Ua, String) {
    let gw = start_gateway!(extra_cfg);
    let mut app = Client::connect(&gw.ws_url()).await;
    let mut ua = Ua::invite(gw.sip, pt, dtmf);
    let id = mediagw_testkit::calls::answer_offered(&mut app, &mut ua).await;
    (gw, app, ua, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ulaw_prompt_arrives_byte_exact_on_pcmu() {
    let (gw, mut app, ua, id) = answered_call("", 0, true).await;
    let data = pattern(25, 7);
    write_g711_wav(&gw.media_root().join("exact.wav"), 7, &data);
    app.ok(
        "sys.call.play_start",
        json!({"res_id": id, "content": "exact.wav"}),
    )
    .await;
    let done = app.event_of("on_play_completed", &id).await;
    assert_eq!(done["error"], Value::Null, "{done}");
    assert_eq!(done["finish_key"], Value::Null);
    let pkts = tokio::task::block_in_place(|| ua.wait_packets(0, 25));
    let got: Vec<u8> = pkts.iter().flat_map(|p| p.payload.clone()).collect();
    assert_eq!(
        got.len(),
        data.len(),
        "one 160-byte payload per 20 ms frame"
    );
    assert!(got == data, "payload bytes differ from the µ-law file");
    assert!(
        pkts[0].marker,
        "marker on the first packet of the talk spurt"
    );
    for w in pkts.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
        assert_eq!(w[1].ts, w[0].ts.wrapping_add(160));
        assert_eq!(w[1].ssrc, w[0].ssrc);
        assert!(!w[1].marker);
    }
    let span = pkts.last().unwrap().at - pkts[0].at;
    assert!(
        span.as_millis() >= 400,
        "25 frames paced on the 20 ms grid, took {span:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcm16_prompt_is_transcoded_faithfully() {
    for (pt, encode) in [
        (0u8, mediagw::codec::linear_to_ulaw as fn(i16) -> u8),
        (8, mediagw::codec::linear_to_alaw),
    ] {
        let (gw, mut app, ua, id) = answered_call("", pt, false).await;
        let samples: Vec<i16> = (0..4000)
            .map(|i| {
                ((i as f64 * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin() * 12000.0) as i16
            })
            .collect();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(gw.media_root().join("tone.wav"), spec).unwrap();
        for s in &samples {
            w.write_sample(*s).unwrap();
        }
        w.finalize().unwrap();
        app.ok("sys.call.play_start", json!([id, [["tone.wav", 0, ""]]]))
            .await;
        assert_eq!(
            app.event_of("on_play_completed", &id).await["error"],
            Value::Null
        );
        let got: Vec<u8> = tokio::task::block_in_place(|| ua.wait_packets(pt, 25))
            .iter()
            .flat_map(|p| p.payload.clone())
            .collect();
        let want: Vec<u8> = samples.iter().map(|s| encode(*s)).collect();
        assert_eq!(got, want, "PT {pt}: samples encoded with the call's law");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_content_type_plays_with_the_shipped_prompts() {
    let (gw, mut app, ua, id) = answered_call("", 0, false).await;
    write_g711_wav(&gw.media_root().join("welcome.wav"), 7, &pattern(5, 1));
    write_g711_wav(&gw.media_root().join("tile.wav"), 7, &pattern(3, 2));
    let content = json!([
        ["welcome.wav", 0, ""],
        ["13800138000", 1, ""],
        ["-20300.5", 2, ""],
        ["1086.30", 3, ""],
        ["2012-9-8 1:5:3", 4, ""],
        ["01:23:35", 5, ""],
        ["12.05", 6, ""],
        ["welcome.wav|tile.wav", 7, ""],
        ["ignored", -1, ""]
    ]);
    // What the planner says these items read as, in prompt words and files.
    let decoded = mediagw::api::content::decode_content("content", content.clone())
        .unwrap_or_else(|e| panic!("{}", e.message));
    let steps = mediagw::speech::plan(&decoded.items).unwrap();
    let mut expected = 0usize;
    for s in &steps {
        expected += match s {
            mediagw::speech::PlayStep::Prompt(w) => {
                let bytes = mediagw::speech::prompt_set::embedded(*w);
                let (_, _, _) = (0, 0, 0);
                let data_len = wav_data_len(bytes);
                data_len / 2
            }
            mediagw::speech::PlayStep::File(f) if f == "welcome.wav" => 5 * 160,
            mediagw::speech::PlayStep::File(_) => 3 * 160,
            mediagw::speech::PlayStep::Tts(_) => 0,
        };
    }
    app.ok(
        "sys.call.play_start",
        json!({"res_id": id, "content": content}),
    )
    .await;
    let done = app.event_of("on_play_completed", &id).await;
    assert_eq!(done["error"], Value::Null, "{done}");
    let got: usize = tokio::task::block_in_place(|| ua.wait_packets(0, expected / 160))
        .iter()
        .map(|p| p.payload.len())
        .sum();
    assert!(
        got >= expected && got <= expected + 160 * steps.len(),
        "played {got} samples for {expected} planned ({} steps)",
        steps.len()
    );
}

fn wav_data_len(b: &[u8]) -> usize {
    let mut i = 12;
    while i + 8 <= b.len() {
        let len = u32::from_le_bytes(b[i + 4..i + 8].try_into().unwrap()) as usize;
        if &b[i..i + 4] == b"data" {
            return len;
        }
        i += 8 + len + (len & 1);
    }
    0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tts_uses_the_configured_synthesiser_and_is_refused_without_one() {
    let (_gw, mut app, _ua, id) = answered_call("", 0, false).await;
    let e = app
        .err(
            "sys.call.play_start",
            json!({"res_id": id, "content": [["你好", 10, ""]]}),
            -32005,
        )
        .await;
    assert!(
        e["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("tts_command"),
        "{e}"
    );
    let cfg = "[media]\ntts_command = \"sox -n -r 8000 -c 1 -b 16 \\\"$MEDIAGW_TTS_OUT\\\" synth 0.3 sine 440\"\n";
    let (_gw, mut app, ua, id) = answered_call(cfg, 0, false).await;
    app.ok(
        "sys.call.play_start",
        json!({"res_id": id, "content": [["你好", 10, ""]]}),
    )
    .await;
    let done = app.event_of("on_play_completed", &id).await;
    assert_eq!(done["error"], Value::Null, "{done}");
    let n = tokio::task::block_in_place(|| ua.wait_packets(0, 15)).len();
    assert!(n >= 15, "0.3 s of synthesised audio = 15 frames, got {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4733_digit_in_finish_keys_stops_the_prompt_and_play_stop_works() {
    let (gw, mut app, mut ua, id) = answered_call("", 0, true).await;
    write_g711_wav(&gw.media_root().join("long.wav"), 7, &pattern(50, 3));
    app.ok(
        "sys.call.play_start",
        json!({"res_id": id, "content": "long.wav", "finish_keys": "5#", "repeat": 10}),
    )
    .await;
    tokio::task::block_in_place(|| {
        ua.wait_packets(0, 5);
        ua.send_digit('3', 101); // not a finish key: ignored
        ua.send_digit('5', 101);
    });
    let done = app.event_of("on_play_completed", &id).await;
    assert_eq!(done["finish_key"], "5", "{done}");
    assert_eq!(done["error"], Value::Null);
    app.ok(
        "sys.call.play_start",
        json!({"res_id": id, "content": "long.wav", "repeat": 10}),
    )
    .await;
    app.ok("sys.call.play_stop", json!({"res_id": id})).await;
    let done = app.event_of("on_play_completed", &id).await;
    assert_eq!(
        done["error"],
        Value::Null,
        "play_stop ends with error null: {done}"
    );
    assert_eq!(done["finish_key"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_pcap_rfc2833_digit_stops_a_prompt() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    write_g711_wav(&gw.media_root().join("long.wav"), 7, &pattern(50, 4));
    let sipp = Sipp::uac("uac_pcap_dtmf", gw.sip, "1000", &[]);
    let id = app.event("on_incoming").await["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    )
    .await;
    app.event_of("on_answer_completed", &id).await;
    app.ok(
        "sys.call.play_start",
        json!({"res_id": id, "content": "long.wav", "finish_keys": "0123456789", "repeat": 20}),
    )
    .await;
    let done = app.event_of("on_play_completed", &id).await;
    assert_eq!(
        done["finish_key"], "1",
        "dtmf_2833_1.pcap carries digit 1: {done}"
    );
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    sipp.succeeded().await;
}

/// Stream `frames` to the gateway while it records; returns what was sent.
fn stream_pattern(ua: &mut Ua, frames: usize, seed: u32) -> Vec<u8> {
    let data = pattern(frames, seed);
    let chunks: Vec<Vec<u8>> = data.chunks(160).map(|c| c.to_vec()).collect();
    ua.stream(0, &chunks);
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_holds_exactly_what_was_sent_stop_and_formats() {
    // µ-law file from a PCMU call: byte-identical; A-law: transcoded bytes; 16-bit
    // PCM: the decoded samples.
    for (format, tag) in [(7, 7u16), (3, 6u16), (16, 1u16)] {
        let (gw, mut app, mut ua, id) = answered_call("", 0, true).await;
        let path = app
            .ok("sys.call.record_start", json!({"res_id": id, "max_seconds": 30, "beep": false, "record_file": "msg.wav", "record_format": format}))
            .await;
        let path = path.as_str().unwrap().to_string();
        assert!(Path::new(&path).is_absolute(), "{path}");
        assert!(
            path.starts_with(gw.media_root().join("records").to_str().unwrap()),
            "{path}"
        );
        let sent = tokio::task::block_in_place(|| stream_pattern(&mut ua, 40, 11));
        // Let the last frames through the jitter buffer before stopping.
        tokio::task::block_in_place(|| std::thread::sleep(std::time::Duration::from_millis(200)));
        app.ok("sys.call.record_stop", json!({"res_id": id})).await;
        let done = app.event_of("on_record_completed", &id).await;
        assert!(
            done["error"].is_string(),
            "record_stop ends with an error (seed): {done}"
        );
        assert_eq!(done["record_file"], path);
        let (ftag, bits, data) = read_wav(Path::new(&path));
        assert_eq!((ftag, bits), (tag, if format == 16 { 16 } else { 8 }));
        let want: Vec<u8> = match format {
            7 => sent.clone(),
            3 => sent
                .iter()
                .map(|b| mediagw::codec::ULAW_TO_ALAW[*b as usize])
                .collect(),
            _ => sent
                .iter()
                .flat_map(|b| mediagw::codec::ulaw_to_linear(*b).to_le_bytes())
                .collect(),
        };
        assert!(
            find(&data, &want).is_some(),
            "format {format}: recording does not hold the sent audio in order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_ends_on_max_seconds_and_on_a_finish_key() {
    let (_gw, mut app, mut ua, id) = answered_call("", 0, true).await;
    let path = app
        .ok(
            "sys.call.record_start",
            json!({"res_id": id, "max_seconds": 1, "beep": true, "record_format": 8}),
        )
        .await;
    let done = app.event_of("on_record_completed", &id).await;
    assert!(
        done["error"].is_string(),
        "max_seconds is an error (seed): {done}"
    );
    let (tag, bits, data) = read_wav(Path::new(path.as_str().unwrap()));
    assert_eq!((tag, bits), (1, 8), "8-bit linear PCM");
    assert_eq!(data.len(), 8000, "exactly one second recorded");
    // Finish key: error null, finish_key reported, audio before the key kept.
    let path = app.ok("sys.call.record_start", json!({"res_id": id, "max_seconds": 30, "beep": false, "finish_keys": "#", "record_format": 7})).await;
    let sent = tokio::task::block_in_place(|| {
        let s = stream_pattern(&mut ua, 20, 5);
        ua.send_digit('#', 101);
        s
    });
    let done = app.event_of("on_record_completed", &id).await;
    assert_eq!(done["error"], Value::Null, "{done}");
    assert_eq!(done["finish_key"], "#");
    let (_, _, data) = read_wav(Path::new(path.as_str().unwrap()));
    assert!(
        find(&data, &sent).is_some(),
        "audio before the finish key is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_survives_hangup_and_shutdown() {
    // Caller hangs up mid-recording: completion before on_released, file complete.
    let (_gw, mut app, mut ua, id) = answered_call("", 0, true).await;
    let path = app
        .ok(
            "sys.call.record_start",
            json!({"res_id": id, "max_seconds": 30, "beep": false, "record_format": 7}),
        )
        .await;
    let sent = tokio::task::block_in_place(|| {
        let s = stream_pattern(&mut ua, 30, 9);
        std::thread::sleep(std::time::Duration::from_millis(200));
        ua.bye();
        s
    });
    let done = app.event_of("on_record_completed", &id).await;
    assert!(done["error"].is_string(), "{done}");
    assert!(
        !app.queued_names_of(&id)
            .iter()
            .any(|n| n == "sys.call.on_released"),
        "on_record_completed must precede on_released"
    );
    app.event_of("on_released", &id).await;
    let (_, _, data) = read_wav(Path::new(path.as_str().unwrap()));
    assert!(
        find(&data, &sent).is_some(),
        "hang-up: recording holds everything sent"
    );

    // Gateway stopped mid-recording (SIGTERM, no drain time): the file is valid and
    // complete.
    let (mut gw, mut app, mut ua, id) = answered_call("[sip]\ndrain_seconds = 0\n", 0, true).await;
    let path = app
        .ok(
            "sys.call.record_start",
            json!({"res_id": id, "max_seconds": 30, "beep": false, "record_format": 7}),
        )
        .await;
    let sent = tokio::task::block_in_place(|| {
        let s = stream_pattern(&mut ua, 30, 13);
        std::thread::sleep(std::time::Duration::from_millis(200));
        s
    });
    let status = tokio::task::block_in_place(|| gw.terminate()).expect("gateway exits on SIGTERM");
    assert!(status.success(), "{status:?}\n{}", gw.log_text());
    let (_, _, data) = read_wav(Path::new(path.as_str().unwrap()));
    assert!(
        find(&data, &sent).is_some(),
        "shutdown: recording holds everything sent"
    );
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_is_hung_up_after_rtp_timeout() {
    let (_gw, mut app, ua, id) =
        answered_call("[media]\nrtp_timeout_seconds = 1\n", 0, false).await;
    let rel = app.event_of("on_released", &id).await;
    assert_eq!(rel["dropped_by"], "sys");
    assert_eq!(rel["cause"], 408);
    let bye = tokio::task::block_in_place(|| ua.expect("BYE "));
    assert!(bye.contains("Reason: SIP;cause=408"), "{bye}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_outside_the_media_roots_is_refused() {
    let (_gw, mut app, _ua, id) = answered_call("", 0, false).await;
    let e = app
        .err(
            "sys.call.play_start",
            json!({"res_id": id, "content": "../../etc/passwd"}),
            -32003,
        )
        .await;
    assert!(e["data"]["reason"].as_str().unwrap().contains(".."), "{e}");
    app.err(
        "sys.call.record_start",
        json!({"res_id": id, "max_seconds": 5, "record_file": "/etc/evil.wav"}),
        -32003,
    )
    .await;
    // Refusals changed nothing: the call is still Idle.
    let e = app
        .err("sys.call.play_stop", json!({"res_id": id}), -32002)
        .await;
    assert_eq!(e["data"]["state"], "Idle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_latency_histograms_are_exposed_per_core() {
    let (gw, mut app, ua, id) = answered_call("", 0, false).await;
    app.ok(
        "sys.call.play_start",
        json!({"res_id": id, "content": [["123", 1, ""]]}),
    )
    .await;
    app.event_of("on_play_completed", &id).await;
    assert!(!ua.packets(0).is_empty());
    // Figures are published once a second by the worker itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let value = |text: &str, name: &str| -> Option<u64> {
        text.lines()
            .find(|l| {
                l.starts_with(&format!("mediagw_worker_{name}{{"))
                    && l.contains("quantile=\"0.99\"")
                    && l.contains("window=\"total\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    loop {
        let m = mediagw_testkit::http::get(gw.api, "/metrics").await;
        let dev = value(&m, "send_deviation_us");
        let tick = value(&m, "tick_work_us");
        if dev.is_some_and(|v| v > 0) && tick.is_some_and(|v| v > 0) {
            assert!(m.contains("core=\""), "series carry the worker's core: {m}");
            assert!(
                m.lines().any(|l| l.starts_with("mediagw_worker_backend{")
                    && (l.contains("backend=\"io_uring\"") || l.contains("backend=\"epoll\""))),
                "each worker's IO engine is named: {m}"
            );
            assert!(m.trim_end().ends_with("# EOF"), "valid OpenMetrics ending");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no worker figures in /metrics:\n{m}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
