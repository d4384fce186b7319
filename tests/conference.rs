//! Conferences end to end through the real gateway (issue 10): members are calls from
//! the project's test agent (our `Ua`), moved to the conference's worker as they enter
//! (the gateway runs two workers). Each member says one 160-sample frame over and over,
//! so every frame a member hears must be the sum of some of the others' frames (a
//! packet late for its conference frame is missing from it) and, once everyone talks,
//! exactly the sum of all the others — checked byte for byte in each member's own law
//! (PCMU and PCMA members in one conference), saturated once when it clips. Also: the
//! voice modes of `conf_enter` and `sys.conf.set_voice_mode`, the entry announcement
//! heard by the entrant alone, the conference's play heard by all, the conference's
//! recording checked on its samples, and a call dialled on the conference
//! (`parent_conf_res_id`): its ring-back file is heard by the conference while the far
//! end rings, and the early media of a far end (SIPp) that sends 183 with media is
//! heard byte for byte.

use std::path::Path;
use std::time::{Duration, Instant};

use mediagw::codec::Codec;
use mediagw_testkit::audio::{decode, dominant_tone, write_tone_wav};
use mediagw_testkit::calls::answered;
use mediagw_testkit::{Callee, Client, Gateway, Rx, Sipp, Ua, start_gateway};
use serde_json::{Value, json};

/// One member: its agent, its call and its law.
struct Member {
    ua: Ua,
    id: String,
    codec: Codec,
}

/// An inbound call from a [`Ua`] offering `codec`, answered.
async fn member(gw: &Gateway, app: &mut Client, codec: Codec) -> Member {
    let (ua, id) = answered(gw, app, codec, None).await;
    Member { ua, id, codec }
}

/// A new conference.
async fn conference(app: &mut Client) -> String {
    let r = app
        .ok("sys.conf.construct", json!({"max_seconds": 300}))
        .await;
    r["res_id"].as_str().expect("res_id").to_string()
}

/// `m` enters `conf` in `voice_mode` (answered once it is in), with `extra` params.
async fn enter(app: &mut Client, m: &Member, conf: &str, voice_mode: u8, extra: Value) {
    let mut p = json!({"res_id": m.id, "conf_res_id": conf, "max_seconds": 300,
                       "voice_mode": voice_mode});
    if let (Some(p), Some(e)) = (p.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    app.ok("sys.call.conf_enter", p).await;
}

/// One frame of `amp · sin(2π k n / 160)`.
fn wave(k: usize, amp: f64) -> Vec<i16> {
    (0..160)
        .map(|n| {
            let x = 2.0 * std::f64::consts::PI * (k * n) as f64 / 160.0;
            (amp * x.sin()).round() as i16
        })
        .collect()
}

fn encode(codec: Codec, x: &[i16]) -> Vec<u8> {
    x.iter().map(|&s| codec.encode(s)).collect()
}

/// What the gateway decodes of `x` said in `codec`.
fn through(codec: Codec, x: &[i16]) -> Vec<i16> {
    x.iter().map(|&s| codec.decode(codec.encode(s))).collect()
}

/// The sums a listener may hear of `others` (each as the gateway decoded it): one per
/// subset, in 32 bits saturated once at the end; the whole set last.
fn sums(others: &[Vec<i16>]) -> Vec<Vec<i16>> {
    (0..1usize << others.len())
        .map(|set| {
            (0..160)
                .map(|i| {
                    let s: i32 = others
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| set & (1 << k) != 0)
                        .map(|(_, f)| i32::from(f[i]))
                        .sum();
                    s.clamp(-32768, 32767) as i16
                })
                .collect()
        })
        .collect()
}

/// Every member streams its frame (`frames[k]`, in its own law) `n` times at once.
fn talk(members: &mut [&mut Member], frames: &[Vec<i16>], n: usize) {
    let threads: Vec<_> = members
        .iter_mut()
        .zip(frames)
        .map(|(m, f)| {
            let bytes = encode(m.codec, f);
            let pt = m.codec.static_payload_type();
            m.ua.spawn_stream(pt, vec![bytes; n])
        })
        .collect();
    tokio::task::block_in_place(|| {
        for t in threads {
            t.join().expect("streamed");
        }
    });
}

/// Lets the jitter buffers play out what was said.
fn settle() {
    std::thread::sleep(Duration::from_millis(400));
}

/// Classifies what `m` heard: every audio packet must be one of `allowed` (encoded in
/// its law); returns how many were each.
fn heard(m: &Member, allowed: &[Vec<i16>], who: &str) -> Vec<usize> {
    let enc: Vec<Vec<u8>> = allowed.iter().map(|f| encode(m.codec, f)).collect();
    let pkts = m.ua.packets(m.codec.static_payload_type());
    assert!(!pkts.is_empty(), "{who} heard nothing");
    let mut counts = vec![0; enc.len()];
    for (n, p) in pkts.iter().enumerate() {
        // Sums of different sets may coincide: the largest set is taken.
        match enc.iter().rposition(|e| *e == p.payload) {
            Some(k) => counts[k] += 1,
            None => panic!(
                "{who}: packet {n} of {} is no sum of the others: {:?}",
                pkts.len(),
                &p.payload[..8]
            ),
        }
    }
    counts
}

/// Each of `members` (all talking and listening) heard only sums of the others, and
/// the sum of all of them at least `min_full` times.
fn each_hears_the_others(members: &[&mut Member], said: &[Vec<i16>], min_full: usize) {
    for (k, m) in members.iter().enumerate() {
        let others: Vec<Vec<i16>> = (0..members.len())
            .filter(|&j| j != k)
            .map(|j| through(members[j].codec, &said[j]))
            .collect();
        let counts = heard(m, &sums(&others), &format!("member {k}"));
        let full = *counts.last().expect("the full sum");
        assert!(
            full >= min_full,
            "member {k} heard the others' whole sum {full} times (< {min_full}): {counts:?}"
        );
    }
}

/// Three members (PCMU, PCMU, PCMA) each hear the sum of the other two.
async fn three_party(clip: bool) {
    let gw = start_gateway!("[media]\nworkers = 2");
    let mut app = Client::connect(&gw.ws_url()).await;
    let conf = conference(&mut app).await;
    let mut a = member(&gw, &mut app, Codec::Pcmu).await;
    let mut b = member(&gw, &mut app, Codec::Pcmu).await;
    let mut c = member(&gw, &mut app, Codec::Pcma).await;
    for m in [&a, &b, &c] {
        enter(&mut app, m, &conf, 1, json!({})).await;
    }
    // Clipping: all three in phase near full scale, so any two overflow 16 bits.
    let said: Vec<Vec<i16>> = (0..3)
        .map(|k| {
            if clip {
                wave(1, 30000.0)
            } else {
                wave(2 + 3 * k, 6000.0)
            }
        })
        .collect();
    for m in [&a, &b, &c] {
        m.ua.clear();
    }
    let mut all = [&mut a, &mut b, &mut c];
    talk(&mut all, &said, 75);
    tokio::task::block_in_place(settle);
    each_hears_the_others(&all, &said, 20);
    if clip {
        // Saturated once: at the crest each hears 32767, not a wrapped sum.
        let two = sums(&[
            through(Codec::Pcmu, &said[0]),
            through(Codec::Pcma, &said[2]),
        ]);
        assert_eq!(two[3][40], 32767, "the pair's sum clips at the crest");
    }
    app.ok("sys.conf.release", json!({"res_id": conf})).await;
    for m in [&a, &b, &c] {
        app.event_of("on_conf_completed", &m.id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_each_hear_the_sum_of_the_other_two() {
    three_party(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clipping_sum_is_saturated_once() {
    three_party(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_modes_at_entry_and_set_voice_mode() {
    let gw = start_gateway!("[media]\nworkers = 2");
    let mut app = Client::connect(&gw.ws_url()).await;
    let conf = conference(&mut app).await;
    let mut a = member(&gw, &mut app, Codec::Pcmu).await;
    let mut b = member(&gw, &mut app, Codec::Pcmu).await;
    let mut c = member(&gw, &mut app, Codec::Pcmu).await;
    // a talks and listens, b talks only, c listens only.
    enter(&mut app, &a, &conf, 1, json!({})).await;
    enter(&mut app, &b, &conf, 2, json!({})).await;
    enter(&mut app, &c, &conf, 3, json!({})).await;
    let said: Vec<Vec<i16>> = (0..3).map(|k| wave(2 + 2 * k, 5000.0)).collect();
    let pcm = |k: usize| through(Codec::Pcmu, &said[k]);
    for m in [&a, &b, &c] {
        m.ua.clear();
    }
    talk(&mut [&mut a, &mut b, &mut c], &said, 60);
    tokio::task::block_in_place(settle);
    let counts = heard(&a, &sums(&[pcm(1)]), "a");
    assert!(counts[1] >= 15, "a hears b (c does not talk): {counts:?}");
    assert!(
        b.ua.all_packets().is_empty(),
        "b (talks only) is sent nothing"
    );
    let counts = heard(&c, &sums(&[pcm(0), pcm(1)]), "c");
    assert!(counts[3] >= 15, "c hears a + b: {counts:?}");
    // b now neither talks nor listens, c talks and listens.
    for (m, mode) in [(&b, 4), (&c, 1)] {
        app.ok(
            "sys.conf.set_voice_mode",
            json!({"res_id": conf, "call_res_id": m.id, "voice_mode": mode}),
        )
        .await;
    }
    tokio::task::block_in_place(settle);
    for m in [&a, &b, &c] {
        m.ua.clear();
    }
    talk(&mut [&mut a, &mut b, &mut c], &said, 60);
    tokio::task::block_in_place(settle);
    let counts = heard(&a, &sums(&[pcm(2)]), "a");
    assert!(counts[1] >= 15, "a hears c, not b: {counts:?}");
    let counts = heard(&c, &sums(&[pcm(0)]), "c");
    assert!(counts[1] >= 15, "c hears a, not b: {counts:?}");
    assert!(b.ua.all_packets().is_empty(), "b (neither) is sent nothing");
    // A mode for a call that is no member is refused.
    let outsider = member(&gw, &mut app, Codec::Pcmu).await;
    app.err(
        "sys.conf.set_voice_mode",
        json!({"res_id": conf, "call_res_id": outsider.id, "voice_mode": 1}),
        -32002,
    )
    .await;
}

/// Writes `name` under the media root: `seconds` of a `hz` tone, 16-bit PCM.
fn tone_file(gw: &Gateway, name: &str, hz: f64, seconds: f64) {
    write_tone_wav(&gw.media_root().join(name), hz, seconds);
}

/// The samples of `m`'s audio that arrived in `[from, to)`.
fn samples_between(m: &Member, from: Instant, to: Instant) -> Vec<i16> {
    let pkts: Vec<Rx> =
        m.ua.packets(m.codec.static_payload_type())
            .into_iter()
            .filter(|p| p.at >= from && p.at < to)
            .collect();
    decode(m.codec, &pkts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entry_announcement_is_heard_by_the_entrant_alone_and_the_play_by_all() {
    let gw = start_gateway!("[media]\nworkers = 2");
    tone_file(&gw, "welcome.wav", 1000.0, 1.0);
    tone_file(&gw, "notice.wav", 600.0, 1.0);
    let mut app = Client::connect(&gw.ws_url()).await;
    let conf = conference(&mut app).await;
    let a = member(&gw, &mut app, Codec::Pcmu).await;
    let b = member(&gw, &mut app, Codec::Pcma).await;
    enter(&mut app, &a, &conf, 1, json!({})).await;
    a.ua.clear();
    let t0 = Instant::now();
    enter(&mut app, &b, &conf, 1, json!({"play_file": "welcome.wav"})).await;
    tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(1500)));
    let t1 = Instant::now();
    assert_eq!(
        dominant_tone(&samples_between(&b, t0, t1), &[1000.0, 600.0]),
        Some(1000.0),
        "the entrant hears its announcement"
    );
    let heard_by_a = samples_between(&a, t0, t1);
    assert!(
        heard_by_a.iter().all(|&s| s.unsigned_abs() < 16),
        "the others do not hear it"
    );
    // The conference's play: every listener hears it.
    app.ok(
        "sys.conf.play_start",
        json!({"res_id": conf, "content": "notice.wav"}),
    )
    .await;
    let t2 = Instant::now();
    let done = app.event_of("sys.conf.on_play_completed", &conf).await;
    assert_eq!(done["error"], Value::Null, "{done}");
    let t3 = Instant::now();
    for (m, who) in [(&a, "a"), (&b, "b")] {
        let x = samples_between(m, t2, t3 + Duration::from_millis(300));
        assert_eq!(
            dominant_tone(&x, &[1000.0, 600.0]),
            Some(600.0),
            "{who} hears the conference's play"
        );
        let loud = x
            .chunks(160)
            .filter(|c| c.iter().any(|s| s.unsigned_abs() > 4000))
            .count();
        assert!(loud >= 40, "{who}: {loud} frames of the 1 s play");
    }
}

/// How a conference's recording ends.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Stop,
    Release,
}

/// Three members talk into a recorded conference (16-bit PCM); the file holds the mix
/// of everyone: every 20 ms frame a sum of some of them, the sum of all three many
/// times, in every ending.
async fn recorded(ending: Ending) {
    let gw = start_gateway!("[media]\nworkers = 2");
    let mut app = Client::connect(&gw.ws_url()).await;
    let conf = conference(&mut app).await;
    let mut a = member(&gw, &mut app, Codec::Pcmu).await;
    let mut b = member(&gw, &mut app, Codec::Pcma).await;
    let mut c = member(&gw, &mut app, Codec::Pcmu).await;
    for m in [&a, &b, &c] {
        enter(&mut app, m, &conf, 1, json!({})).await;
    }
    let file = format!("conf-{ending:?}.wav");
    let path = app
        .ok(
            "sys.conf.record_start",
            json!({"res_id": conf, "max_seconds": 60, "record_file": file,
                   "record_format": 16}),
        )
        .await;
    let path = path.as_str().expect("the recording's path").to_string();
    assert!(path.ends_with(&file), "{path}");
    let said: Vec<Vec<i16>> = (0..3).map(|k| wave(3 + 4 * k, 7000.0)).collect();
    talk(&mut [&mut a, &mut b, &mut c], &said, 75);
    tokio::task::block_in_place(settle);
    match ending {
        Ending::Stop => {
            app.ok("sys.conf.record_stop", json!({"res_id": conf}))
                .await;
        }
        Ending::Release => {
            app.ok("sys.conf.release", json!({"res_id": conf})).await;
        }
    }
    let done = app.event_of("sys.conf.on_record_completed", &conf).await;
    assert!(done["error"].is_string(), "{ending:?}: {done}");
    let mut r = hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!((r.spec().channels, r.spec().sample_rate), (1, 8000));
    let x: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    let everyone: Vec<Vec<i16>> = [(Codec::Pcmu, 0), (Codec::Pcma, 1), (Codec::Pcmu, 2)]
        .iter()
        .map(|&(codec, k)| through(codec, &said[k]))
        .collect();
    let allowed = sums(&everyone);
    let mut full = 0;
    for (n, f) in x.chunks_exact(160).enumerate() {
        match allowed.iter().rposition(|s| s == f) {
            Some(7) => full += 1,
            Some(_) => {}
            None => panic!(
                "{ending:?}: frame {n} is no sum of the members: {:?}",
                &f[..8]
            ),
        }
    }
    assert!(full >= 20, "{ending:?}: the whole mix {full} times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_conference_holds_the_whole_mix_when_stopped() {
    recorded(Ending::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_conference_holds_the_whole_mix_when_released() {
    recorded(Ending::Release).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conference_hears_the_early_media_of_a_call_dialled_on_it() {
    let gw = start_gateway!("[media]\nworkers = 2");
    let mut app = Client::connect(&gw.ws_url()).await;
    let conf = conference(&mut app).await;
    let a = member(&gw, &mut app, Codec::Pcma).await;
    enter(&mut app, &a, &conf, 1, json!({})).await;
    a.ua.clear();
    // SIPp answers 183 with PCMA early media from its capture, then 200.
    let sipp = Sipp::uas("uas_183_pcap_answer", &[]);
    let r = app
        .ok(
            "sys.call.construct",
            json!({"to_uri": format!("sip:200@{}", sipp.addr()), "max_answer_seconds": 60,
                   "parent_conf_res_id": conf}),
        )
        .await;
    let idc = r["res_id"].as_str().expect("res_id").to_string();
    let done = app.event_of("on_dial_completed", &idc).await;
    assert_eq!(done["error"], Value::Null, "{done}");
    let played = mediagw_testkit::pcap::rtp_of(Path::new("/usr/share/sip-tester/g711a.pcap"))
        .expect("SIPp's capture");
    let want: Vec<u8> = played.iter().flat_map(|p| p.payload.clone()).collect();
    // Through the conference (A-law decoded, mixed alone, A-law encoded: exact), a's
    // frames are pieces of SIPp's capture, in order.
    let voiced: Vec<Vec<u8>> =
        a.ua.packets(8)
            .into_iter()
            .map(|p| p.payload)
            .filter(|p| p.iter().any(|&b| b != 0xD5 && b != 0x55))
            .collect();
    let found = voiced
        .iter()
        .filter(|f| want.windows(f.len()).any(|w| w == f.as_slice()))
        .count();
    assert!(
        found >= 25,
        "{found} of the {} voiced frames a heard are pieces of SIPp's early media",
        voiced.len()
    );
    app.ok("sys.call.drop", json!({"res_id": idc})).await;
    sipp.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conference_hears_the_ring_back_of_a_call_dialled_on_it() {
    let gw = start_gateway!("[media]\nworkers = 2");
    tone_file(&gw, "ring.wav", 425.0, 3.0);
    let mut app = Client::connect(&gw.ws_url()).await;
    let conf = conference(&mut app).await;
    let a = member(&gw, &mut app, Codec::Pcmu).await;
    enter(&mut app, &a, &conf, 1, json!({})).await;
    let mut callee = Callee::bind(gw.sip, Codec::Pcmu, None);
    let r = app
        .ok(
            "sys.call.construct",
            json!({"to_uri": callee.uri("200"), "max_answer_seconds": 60,
                   "parent_conf_res_id": conf, "ring_play_file": "ring.wav",
                   "ring_play_mode": 0}),
        )
        .await;
    let idc = r["res_id"].as_str().expect("res_id").to_string();
    tokio::task::block_in_place(|| {
        callee.wait_invite();
        callee.respond(180, "Ringing", false);
    });
    let t = Instant::now();
    tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(1200)));
    let x = samples_between(&a, t + Duration::from_millis(200), Instant::now());
    assert_eq!(
        dominant_tone(&x, &[425.0, 1000.0]),
        Some(425.0),
        "the conference hears the ring-back while the far end rings"
    );
    tokio::task::block_in_place(|| callee.answer());
    let done = app.event_of("on_dial_completed", &idc).await;
    assert_eq!(done["error"], Value::Null, "{done}");
    // The ring-back ends with the dial.
    let t = Instant::now();
    tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(800)));
    let x = samples_between(&a, t + Duration::from_millis(200), Instant::now());
    assert!(
        x.iter().all(|&s| s.unsigned_abs() < 16),
        "nothing after the dial completed"
    );
    app.ok("sys.call.drop", json!({"res_id": idc})).await;
}
