//! Bridges end to end through the real gateway (issue 9): two calls joined with
//! `connect_start` carry each other's audio byte-exact when their codecs match (a SIPp
//! call playing its capture included) and transcoded when they differ; DTMF crosses
//! exactly once in each combination (RFC 4733 under different payload types, 4733 to
//! tones and back, SIP INFO to 4733); the bridge's recording holds both parties, checked
//! on its samples, in every ending (stop, either side hanging up, `max_seconds`).
//! Ring-back while dialling on a parent is in `tests/ringback.rs`.

use std::path::Path;
use std::time::Duration;

use mediagw::codec::{Codec, alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};
use mediagw_testkit::calls::answered;
use mediagw_testkit::{Client, Rx, Sipp, start_gateway};
use serde_json::{Value, json};

use mediagw_testkit::audio::{
    contains_run, decode, detect_digits, events_of, tone_frames, tone_power,
};

/// How many of `want`'s 160-byte frames appear whole in `got`, each after the previous one
/// found (a frame missing from `got` is skipped, not a reason to stop).
fn frames_in_order(got: &[u8], want: &[u8]) -> usize {
    let mut at = 0;
    let mut found = 0;
    for f in want.chunks(160) {
        if let Some(i) = got[at.min(got.len())..]
            .windows(f.len())
            .position(|w| w == f)
        {
            at += i + f.len();
            found += 1;
        }
    }
    found
}

/// Pseudo-random µ-law or A-law frames that are never silence, so that a run of them is
/// found in a received stream in one place only.
fn pattern_frames(seed: u32, n: usize) -> Vec<Vec<u8>> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            (0..160)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    // Keep away from the codes of silence (0x7f/0xff, 0x55/0xd5).
                    (x as u8 & 0x3f) | 0x40
                })
                .collect()
        })
        .collect()
}

/// Payloads of `pt` in arrival order.
fn payloads(pkts: &[Rx], pt: u8) -> Vec<Vec<u8>> {
    pkts.iter()
        .filter(|p| p.pt == pt)
        .map(|p| p.payload.clone())
        .collect()
}

/// How many of `frames` (the capture, 20 ms each) `got` holds byte for byte and in
/// order, from the capture's first frame on: each received frame is matched with the
/// capture's next frame, or with one at most half a second later (the frames between
/// came too late for their turn and were concealed).
fn in_order(got: &[Vec<u8>], frames: &[&[u8]]) -> usize {
    let Some(start) = got.iter().position(|f| f.as_slice() == frames[0]) else {
        return 0;
    };
    let (mut next, mut matched) = (0usize, 0usize);
    for f in &got[start..] {
        let window = next..frames.len().min(next + 25);
        if let Some(j) = window.clone().find(|&j| f.as_slice() == frames[j]) {
            matched += 1;
            next = j + 1;
        }
    }
    matched
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_relays_each_side_byte_exact_and_in_order() {
    // Two workers: the second party's media moves to the first's when bridged.
    let gw = start_gateway!("[media]\nworkers = 2");
    let mut app = Client::connect(&gw.ws_url()).await;
    let (mut a, ida) = answered(&gw, &mut app, Codec::Pcmu, Some(101)).await;
    let (mut b, idb) = answered(&gw, &mut app, Codec::Pcmu, Some(101)).await;
    app.ok(
        "sys.call.connect_start",
        json!({"res_id": ida, "call_res_id": idb, "max_seconds": 60}),
    )
    .await;
    // Both calls are in Connect; a second bridge of either is refused.
    app.err(
        "sys.call.connect_start",
        json!({"res_id": idb, "call_res_id": ida, "max_seconds": 60}),
        -32002,
    )
    .await;
    let (fa, fb) = (pattern_frames(1, 100), pattern_frames(2, 100));
    let ta = a.spawn_stream(0, fa.clone());
    let tb = b.spawn_stream(0, fb.clone());
    tokio::task::block_in_place(|| {
        ta.join().expect("a streamed");
        tb.join().expect("b streamed");
        let limit = Duration::from_secs(10);
        assert!(
            b.wait_until(limit, |p| contains_run(&payloads(p, 0), &fa)),
            "b received a's 100 frames byte-exact and in order"
        );
        assert!(
            a.wait_until(limit, |p| contains_run(&payloads(p, 0), &fb)),
            "a received b's 100 frames byte-exact and in order"
        );
    });
    // The relayed run is one stream: consecutive sequence numbers and 160-sample steps.
    for (ua, frames) in [(&b, &fa), (&a, &fb)] {
        let got: Vec<Rx> = ua.packets(0);
        let start = got
            .windows(frames.len())
            .position(|w| w.iter().zip(frames.iter()).all(|(p, f)| p.payload == *f))
            .expect("found above");
        let run = &got[start..start + frames.len()];
        for w in run.windows(2) {
            assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "no gap in the relay");
            assert_eq!(w[1].ts, w[0].ts.wrapping_add(160));
            assert_eq!(w[1].ssrc, w[0].ssrc);
        }
    }
    app.ok("sys.call.connect_stop", json!({"res_id": ida}))
        .await;
    let done = app.event_of("on_connect_completed", &ida).await;
    assert_eq!(done["error"], Value::Null, "{done}");
    // Both back to Idle: each can play again.
    app.ok(
        "sys.call.play_start",
        json!({"res_id": idb, "content": [["1", 1, ""]]}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_transcodes_between_pcmu_and_pcma() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let (mut a, ida) = answered(&gw, &mut app, Codec::Pcmu, None).await;
    let (mut b, idb) = answered(&gw, &mut app, Codec::Pcma, None).await;
    app.ok(
        "sys.call.connect_start",
        json!({"res_id": ida, "call_res_id": idb, "max_seconds": 60}),
    )
    .await;
    // Speech-like material, 2 s each way.
    let speech = |seed| {
        mediagw_testkit::signals::quantize(&mediagw_testkit::signals::speech_like(seed, 2.0))
    };
    let (sa, sb) = (speech(11), speech(12));
    let fa: Vec<Vec<u8>> = sa
        .chunks(160)
        .map(|c| c.iter().map(|s| linear_to_ulaw(*s)).collect())
        .collect();
    let fb: Vec<Vec<u8>> = sb
        .chunks(160)
        .map(|c| c.iter().map(|s| linear_to_alaw(*s)).collect())
        .collect();
    // What each should hear: the other's samples as its own codec encodes them.
    let want_b: Vec<u8> = fa
        .concat()
        .iter()
        .map(|u| linear_to_alaw(ulaw_to_linear(*u)))
        .collect();
    let want_a: Vec<u8> = fb
        .concat()
        .iter()
        .map(|x| linear_to_ulaw(alaw_to_linear(*x)))
        .collect();
    let ta = a.spawn_stream(0, fa);
    let tb = b.spawn_stream(8, fb);
    tokio::task::block_in_place(|| {
        ta.join().expect("a streamed");
        tb.join().expect("b streamed");
        let limit = Duration::from_secs(10);
        // The transcoding path plays out through a jitter buffer: a frame that a loaded
        // machine delivers later than its playout is dropped, as it must be. So: every
        // frame heard is exactly the other's frame transcoded, in order, and at most one
        // in ten may be missing.
        let heard = |pkts: &[Rx], pt: u8, want: &[u8]| {
            let got: Vec<u8> = payloads(pkts, pt).concat();
            frames_in_order(&got, want) >= want.len() / 160 * 9 / 10
        };
        assert!(
            b.wait_until(limit, |p| heard(p, 8, &want_b)),
            "b (PCMA) heard a's (PCMU) frames transcoded, in order: {} of {}",
            frames_in_order(&payloads(&b.packets(8), 8).concat(), &want_b),
            want_b.len() / 160
        );
        assert!(
            a.wait_until(limit, |p| heard(p, 0, &want_a)),
            "a (PCMU) heard b's (PCMA) frames transcoded, in order: {} of {}",
            frames_in_order(&payloads(&a.packets(0), 0).concat(), &want_a),
            want_a.len() / 160
        );
        assert!(a.packets(8).is_empty() && b.packets(0).is_empty());
    });
    app.ok("sys.call.connect_stop", json!({"res_id": ida}))
        .await;
    app.event_of("on_connect_completed", &ida).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sipp_call_is_relayed_exactly_as_sipp_played_it() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    // SIPp offers PCMA only and plays its capture 1.5 s after the ACK.
    let sipp = Sipp::uac("uac_pcap_g711a", gw.sip, "1000", &[]);
    let ids = app.event("on_incoming").await["res_id"]
        .as_str()
        .expect("res_id")
        .to_string();
    app.ok(
        "sys.call.answer",
        json!({"res_id": ids, "max_answer_seconds": 60}),
    )
    .await;
    app.event_of("on_answer_completed", &ids).await;
    let (b, idb) = answered(&gw, &mut app, Codec::Pcma, None).await;
    app.ok(
        "sys.call.connect_start",
        json!({"res_id": ids, "call_res_id": idb, "max_seconds": 60}),
    )
    .await;
    let played = mediagw_testkit::pcap::rtp_of(Path::new("/usr/share/sip-tester/g711a.pcap"))
        .expect("SIPp's capture");
    let want: Vec<u8> = played.iter().flat_map(|p| p.payload.clone()).collect();
    let frames: Vec<&[u8]> = want.chunks(160).collect();
    tokio::task::block_in_place(|| {
        // The capture is 30 ms packets and B's leg 20 ms: repacketized, through B's
        // jitter buffer. At least 95 % of the capture's 20 ms frames must reach B byte
        // for byte and in order (a packet a loaded machine delivered too late for its
        // turn is concealed instead).
        let ok = b.wait_until(Duration::from_secs(30), |p| {
            in_order(&payloads(p, 8), &frames) * 100 >= frames.len() * 95
        });
        let got = payloads(&b.all_packets(), 8);
        let sizes: std::collections::BTreeMap<usize, usize> =
            got.iter().fold(Default::default(), |mut m, p| {
                *m.entry(p.len()).or_default() += 1;
                m
            });
        assert!(
            ok,
            "b received the capture SIPp played ({} packets, {} frames of 20 ms) in order; got \
             {} packets {sizes:?}, {} of the frames in order",
            played.len(),
            frames.len(),
            got.len(),
            in_order(&got, &frames)
        );
    });
    app.ok("sys.call.drop", json!({"res_id": ids})).await;
    app.event_of("on_connect_completed", &ids).await;
    sipp.succeeded().await;
    app.ok("sys.call.drop", json!({"res_id": idb})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4733_crosses_once_under_each_sides_payload_type() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let (mut a, ida) = answered(&gw, &mut app, Codec::Pcmu, Some(101)).await;
    let (mut b, idb) = answered(&gw, &mut app, Codec::Pcmu, Some(96)).await;
    app.ok(
        "sys.call.connect_start",
        json!({"res_id": ida, "call_res_id": idb, "max_seconds": 60}),
    )
    .await;
    tokio::task::block_in_place(|| {
        a.send_digit('1', 101);
        a.send_digit('#', 101);
        b.send_digit('4', 96);
        let limit = Duration::from_secs(10);
        assert!(b.wait_until(limit, |p| events_of(p, 96).len() >= 2));
        assert!(a.wait_until(limit, |p| !events_of(p, 101).is_empty()));
        // Late duplicates would come within a few packets: give them time.
        std::thread::sleep(Duration::from_millis(500));
    });
    assert_eq!(
        events_of(&b.all_packets(), 96),
        "1#",
        "b: once each, as PT 96"
    );
    assert_eq!(events_of(&a.all_packets(), 101), "4", "a: once, as PT 101");
    assert!(b.packets(101).is_empty(), "never under the other side's PT");
    assert!(a.packets(96).is_empty());
    // Events were not also turned into tones in the audio.
    assert_eq!(detect_digits(&decode(Codec::Pcmu, &b.packets(0))), "");
    assert_eq!(detect_digits(&decode(Codec::Pcmu, &a.packets(0))), "");
    app.ok("sys.call.connect_stop", json!({"res_id": ida}))
        .await;
    app.event_of("on_connect_completed", &ida).await;
    let _ = idb;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4733_becomes_tones_and_tones_become_rfc4733_once() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let (mut a, ida) = answered(&gw, &mut app, Codec::Pcmu, Some(101)).await;
    let (mut b, idb) = answered(&gw, &mut app, Codec::Pcmu, None).await;
    app.ok(
        "sys.call.connect_start",
        json!({"res_id": ida, "call_res_id": idb, "max_seconds": 60}),
    )
    .await;
    tokio::task::block_in_place(|| {
        // a's event reaches b (no telephone-event) as a tone.
        a.send_digit('5', 101);
        // b's tones reach a (telephone-event) as events, and not as audio.
        b.stream_inband("79", 120, 120);
        let limit = Duration::from_secs(10);
        assert!(a.wait_until(limit, |p| events_of(p, 101).len() >= 2));
        assert!(b.wait_until(limit, |p| {
            detect_digits(&decode(Codec::Pcmu, &payload_rx(p, 0))).contains('5')
        }));
        std::thread::sleep(Duration::from_millis(500));
    });
    assert_eq!(
        detect_digits(&decode(Codec::Pcmu, &b.packets(0))),
        "5",
        "b hears the digit once, as a tone"
    );
    assert_eq!(
        events_of(&a.all_packets(), 101),
        "79",
        "a gets each tone once"
    );
    assert_eq!(
        detect_digits(&decode(Codec::Pcmu, &a.packets(0))),
        "",
        "the tones converted to events do not also leak through as audio"
    );
    app.ok("sys.call.connect_stop", json!({"res_id": ida}))
        .await;
    app.event_of("on_connect_completed", &ida).await;
    let _ = idb;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_info_digits_cross_as_rfc4733() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let (mut a, ida) = answered(&gw, &mut app, Codec::Pcmu, None).await;
    let (b, idb) = answered(&gw, &mut app, Codec::Pcmu, Some(96)).await;
    app.ok(
        "sys.call.connect_start",
        json!({"res_id": ida, "call_res_id": idb, "max_seconds": 60}),
    )
    .await;
    tokio::task::block_in_place(|| {
        a.info('3');
        a.info('*');
        assert!(b.wait_until(Duration::from_secs(10), |p| events_of(p, 96).len() >= 2));
        std::thread::sleep(Duration::from_millis(500));
    });
    assert_eq!(events_of(&b.all_packets(), 96), "3*");
    app.ok("sys.call.connect_stop", json!({"res_id": ida}))
        .await;
    app.event_of("on_connect_completed", &ida).await;
}

/// Packets of `pt` from a slice (for predicates over `all_packets`).
fn payload_rx(pkts: &[Rx], pt: u8) -> Vec<Rx> {
    pkts.iter().filter(|p| p.pt == pt).cloned().collect()
}

/// How a recorded bridge ends.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Stop,
    FirstHangsUp,
    SecondHangsUp,
    MaxSeconds,
}

/// a says 600 Hz and b 1400 Hz for 1.5 s into a recorded bridge, which then ends as
/// `ending` says; the stereo recording holds a on the left and b on the right, and the
/// mono one both.
async fn recorded_bridge(ending: Ending, format: u32) {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let (mut a, ida) = answered(&gw, &mut app, Codec::Pcmu, None).await;
    let (mut b, idb) = answered(&gw, &mut app, Codec::Pcmu, None).await;
    let max = if matches!(ending, Ending::MaxSeconds) {
        2
    } else {
        60
    };
    let file = format!("bridge-{ending:?}-{format}.wav");
    let path = app
        .ok(
            "sys.call.connect_start",
            json!({"res_id": ida, "call_res_id": idb, "max_seconds": max,
                   "record_file": file, "record_format": format}),
        )
        .await;
    let path = path
        .as_str()
        .unwrap_or_else(|| panic!("the recording's path: {path}"))
        .to_string();
    assert!(path.ends_with(&file), "{path}");
    let ta = a.spawn_stream(0, tone_frames(Codec::Pcmu, 600.0, 75));
    let tb = b.spawn_stream(0, tone_frames(Codec::Pcmu, 1400.0, 75));
    tokio::task::block_in_place(|| {
        ta.join().expect("a");
        tb.join().expect("b");
    });
    match ending {
        Ending::Stop => {
            app.ok("sys.call.connect_stop", json!({"res_id": ida}))
                .await;
        }
        Ending::FirstHangsUp => tokio::task::block_in_place(|| a.bye()),
        Ending::SecondHangsUp => tokio::task::block_in_place(|| b.bye()),
        Ending::MaxSeconds => {}
    }
    let done = app.event_of("on_connect_completed", &ida).await;
    match ending {
        Ending::Stop => assert_eq!(done["error"], Value::Null, "{done}"),
        Ending::MaxSeconds => assert!(done["error"].is_string(), "{done}"),
        _ => {}
    }
    let stereo = format == 16;
    // hound reads the 16-bit stereo file; it has no G.711, so the gateway's own parser
    // reads the µ-law one (checked against hound on linear files in codec::wav's tests).
    let (channels, rate, samples): (u16, u32, Vec<i16>) = if stereo {
        let mut r = hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let spec = r.spec();
        let samples = r.samples::<i16>().map(|s| s.expect("sample")).collect();
        (spec.channels, spec.sample_rate, samples)
    } else {
        let bytes = std::fs::read(&path).expect("the recording");
        let w = mediagw::codec::wav::Wav::parse(&bytes).unwrap_or_else(|e| panic!("{path}: {e:?}"));
        (w.channels, w.rate, w.mono_samples())
    };
    assert_eq!(rate, 8000);
    assert_eq!(channels, if stereo { 2 } else { 1 });
    let ch = usize::from(channels);
    let secs = samples.len() as f64 / ch as f64 / 8000.0;
    assert!(
        (1.3..5.0).contains(&secs),
        "{ending:?}: {secs:.2} s recorded (1.5 s of tones, then the ending)"
    );
    let left: Vec<i16> = samples.iter().step_by(ch).copied().collect();
    if stereo {
        let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
        // Each side holds its own party and not the other.
        let (l6, l14) = (tone_power(&left, 600.0), tone_power(&left, 1400.0));
        let (r6, r14) = (tone_power(&right, 600.0), tone_power(&right, 1400.0));
        assert!(l6 > 100.0 * l14, "left is a (600 Hz): {l6} vs {l14}");
        assert!(r14 > 100.0 * r6, "right is b (1400 Hz): {r14} vs {r6}");
        // 1.5 s of each tone is there (allow the first frames of jitter).
        assert!(voiced_seconds(&left) > 1.3, "{:.2}", voiced_seconds(&left));
        assert!(
            voiced_seconds(&right) > 1.3,
            "{:.2}",
            voiced_seconds(&right)
        );
    } else {
        let (p6, p14) = (tone_power(&left, 600.0), tone_power(&left, 1400.0));
        assert!(
            p6 > 0.0 && p14 > 0.0 && (0.3..3.0).contains(&(p6 / p14)),
            "both parties mixed: {p6} {p14}"
        );
        assert!(voiced_seconds(&left) > 1.3);
    }
    let _ = idb;
}

/// Seconds of `x` (8 kHz) whose 20 ms blocks are not near silence.
fn voiced_seconds(x: &[i16]) -> f64 {
    x.chunks(160)
        .filter(|c| c.iter().map(|s| i64::from(s.unsigned_abs())).sum::<i64>() > 160 * 200)
        .count() as f64
        * 0.02
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_bridge_stopped_keeps_both_parties_in_stereo() {
    recorded_bridge(Ending::Stop, 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_bridge_ended_by_the_first_party_hanging_up() {
    recorded_bridge(Ending::FirstHangsUp, 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_bridge_ended_by_the_second_party_hanging_up_mono() {
    recorded_bridge(Ending::SecondHangsUp, 7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_bridge_ended_by_max_seconds() {
    recorded_bridge(Ending::MaxSeconds, 16).await;
}
