//! Dialling on a parent end to end (issue 9): `construct` with `parent_call_res_id` and
//! each `ring_play_mode`, the parent (a real call from our UA) hearing what the seed's
//! table says against far ends that send 180, 183 without media, 183 with early media at
//! once or late, and a 180 after a 183; early media passed through when no file is
//! given (SIPp playing its capture as early media, checked byte for byte); the parent
//! back to Idle at `on_dial_completed`, never connected to the child on its own.
//!
//! What the parent hears is told apart by frequency: the ring-back file is 425 Hz, the
//! far end's early media 1000 Hz.

use std::path::Path;
use std::time::{Duration, Instant};

use mediagw::codec::Codec;
use mediagw_testkit::audio::{decode, dominant_tone, tone_frames, write_tone_wav};
use mediagw_testkit::calls::answered;
use mediagw_testkit::{Callee, Client, Gateway, Rx, Sipp, Ua, start_gateway};
use serde_json::{Value, json};

const RING_HZ: f64 = 425.0;
const FAR_HZ: f64 = 1000.0;

/// Writes `name` under the media root: `seconds` of the ring-back tone.
fn ring_file(gw: &Gateway, name: &str, seconds: f64) {
    write_tone_wav(&gw.media_root().join(name), RING_HZ, seconds);
}

/// The parent: an inbound call from our UA, answered and Idle.
async fn parent(gw: &Gateway, app: &mut Client, codec: Codec) -> (Ua, String) {
    answered(gw, app, codec, None).await
}

/// What dominated the parent's audio that arrived in `[from + 250 ms, to)`: the ring-back,
/// the far end, or neither (silence, nothing at all).
fn heard(ua: &Ua, codec: Codec, from: Instant, to: Instant) -> Option<f64> {
    let pt = codec.static_payload_type();
    let pkts: Vec<Rx> = ua
        .packets(pt)
        .into_iter()
        .filter(|p| p.at >= from + Duration::from_millis(250) && p.at < to)
        .collect();
    dominant_tone(&decode(codec, &pkts), &[RING_HZ, FAR_HZ])
}

/// Blocks for `d` (the far end's script), in a blocking section.
fn wait(d: Duration) {
    std::thread::sleep(d);
}

/// `construct` towards `callee` on `parent_id`'s behalf.
async fn dial(app: &mut Client, parent_id: &str, to: &str, file: Option<&str>, mode: u8) -> String {
    let mut p = json!({"to_uri": to, "max_answer_seconds": 300, "parent_call_res_id": parent_id,
                       "ring_play_mode": mode});
    if let Some(f) = file {
        p["ring_play_file"] = json!(f);
    }
    let r = app.ok("sys.call.construct", p).await;
    r["res_id"].as_str().expect("res_id").to_string()
}

/// A parent call answered on a fresh gateway (`config`), with the ring-back file written
/// when `file` names one, dialling a [`Callee`] with `ring_play_mode` `mode`.
struct Dialling {
    gw: Gateway,
    app: Client,
    a: Ua,
    ida: String,
    c: Callee,
    idc: String,
}

async fn dialling(config: &str, file: Option<&str>, mode: u8) -> Dialling {
    let gw = start_gateway!(config);
    if let Some(f) = file {
        ring_file(&gw, f, 3.0);
    }
    let mut app = Client::connect(&gw.ws_url()).await;
    let (a, ida) = parent(&gw, &mut app, Codec::Pcmu).await;
    let c = Callee::bind(gw.sip, Codec::Pcmu, None);
    let idc = dial(&mut app, &ida, &c.uri("200"), file, mode).await;
    Dialling {
        gw,
        app,
        a,
        ida,
        c,
        idc,
    }
}

/// The far end answers; the dial completes; the parent stops hearing the child (who
/// keeps talking) and can then be bridged with it on purpose.
async fn answered_then_bridged(app: &mut Client, a: &Ua, ida: &str, mut c: Callee, idc: &str) {
    tokio::task::block_in_place(|| c.answer());
    let done = app.event_of("on_dial_completed", idc).await;
    assert_eq!(done["error"], Value::Null, "{done}");
    let t = Instant::now();
    let talk = c.spawn_stream(0, tone_frames(Codec::Pcmu, FAR_HZ, 100));
    tokio::task::block_in_place(|| wait(Duration::from_millis(1200)));
    assert_eq!(
        heard(a, Codec::Pcmu, t, Instant::now()),
        None,
        "after on_dial_completed the parent no longer hears the child"
    );
    // Both Idle now: a bridge is what connects them.
    app.ok(
        "sys.call.connect_start",
        json!({"res_id": ida, "call_res_id": idc, "max_seconds": 60}),
    )
    .await;
    let t = Instant::now();
    tokio::task::block_in_place(|| wait(Duration::from_millis(1000)));
    assert_eq!(heard(a, Codec::Pcmu, t, Instant::now()), Some(FAR_HZ));
    tokio::task::block_in_place(|| talk.join().expect("talked"));
    app.ok("sys.call.connect_stop", json!({"res_id": ida}))
        .await;
    app.event_of("on_connect_completed", ida).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_0_plays_the_file_from_the_far_ends_ringing() {
    let Dialling {
        gw: _gw,
        mut app,
        a,
        ida,
        mut c,
        idc,
    } = dialling("[media]\nworkers = 2", Some("ring.wav"), 0).await;
    let t0 = Instant::now();
    tokio::task::block_in_place(|| {
        c.wait_invite();
        wait(Duration::from_millis(1000));
    });
    let t180 = Instant::now();
    assert_eq!(
        heard(&a, Codec::Pcmu, t0, t180),
        None,
        "nothing before the 180"
    );
    tokio::task::block_in_place(|| {
        c.respond(180, "Ringing", false);
        wait(Duration::from_millis(1500));
    });
    assert_eq!(
        heard(&a, Codec::Pcmu, t180, Instant::now()),
        Some(RING_HZ),
        "the file from the 180 on"
    );
    answered_then_bridged(&mut app, &a, &ida, c, &idc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_1_plays_the_file_until_early_media_really_flows_and_again_on_a_later_180() {
    let Dialling {
        gw: _gw,
        mut app,
        a,
        ida,
        mut c,
        idc,
    } = dialling("", Some("ring.wav"), 1).await;
    tokio::task::block_in_place(|| {
        c.wait_invite();
    });
    let t0 = Instant::now();
    tokio::task::block_in_place(|| wait(Duration::from_millis(800)));
    assert_eq!(
        heard(&a, Codec::Pcmu, t0, Instant::now()),
        Some(RING_HZ),
        "mode 1: the file from the dial on"
    );
    // 183 with SDP but no RTP yet: the file goes on.
    tokio::task::block_in_place(|| c.respond(183, "Session Progress", true));
    let t183 = Instant::now();
    tokio::task::block_in_place(|| wait(Duration::from_millis(1000)));
    assert_eq!(
        heard(&a, Codec::Pcmu, t183, Instant::now()),
        Some(RING_HZ),
        "a 183 without media keeps the file"
    );
    // Early media starts late: the parent hears it instead of the file.
    let early = c.spawn_stream(0, tone_frames(Codec::Pcmu, FAR_HZ, 60));
    let tm = Instant::now();
    tokio::task::block_in_place(|| wait(Duration::from_millis(1000)));
    assert_eq!(
        heard(&a, Codec::Pcmu, tm, Instant::now()),
        Some(FAR_HZ),
        "the far end's early media once it flows"
    );
    tokio::task::block_in_place(|| early.join().expect("early media"));
    // A 180 after the 183: the far end asks for local ring-back again.
    tokio::task::block_in_place(|| c.respond(180, "Ringing", false));
    let t180 = Instant::now();
    tokio::task::block_in_place(|| wait(Duration::from_millis(1000)));
    assert_eq!(
        heard(&a, Codec::Pcmu, t180, Instant::now()),
        Some(RING_HZ),
        "the file comes back with a 180 after a 183"
    );
    answered_then_bridged(&mut app, &a, &ida, c, &idc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_1_gives_way_at_once_to_early_media_that_flows_with_the_183() {
    let Dialling {
        gw: _gw,
        mut app,
        a,
        ida,
        mut c,
        idc,
    } = dialling("", Some("ring.wav"), 1).await;
    tokio::task::block_in_place(|| {
        c.wait_invite();
        c.respond(183, "Session Progress", true);
    });
    let early = c.spawn_stream(0, tone_frames(Codec::Pcmu, FAR_HZ, 60));
    let t = Instant::now();
    tokio::task::block_in_place(|| wait(Duration::from_millis(1000)));
    assert_eq!(heard(&a, Codec::Pcmu, t, Instant::now()), Some(FAR_HZ));
    tokio::task::block_in_place(|| early.join().expect("early media"));
    answered_then_bridged(&mut app, &a, &ida, c, &idc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_2_plays_the_file_until_the_answer_over_early_media() {
    let Dialling {
        gw: _gw,
        mut app,
        a,
        ida,
        mut c,
        idc,
    } = dialling("", Some("ring.wav"), 2).await;
    tokio::task::block_in_place(|| {
        c.wait_invite();
        c.respond(183, "Session Progress", true);
    });
    let early = c.spawn_stream(0, tone_frames(Codec::Pcmu, FAR_HZ, 60));
    let t = Instant::now();
    tokio::task::block_in_place(|| wait(Duration::from_millis(1000)));
    assert_eq!(
        heard(&a, Codec::Pcmu, t, Instant::now()),
        Some(RING_HZ),
        "mode 2: the file, not the early media"
    );
    tokio::task::block_in_place(|| early.join().expect("early media"));
    answered_then_bridged(&mut app, &a, &ida, c, &idc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_3_plays_the_file_before_the_invite_goes() {
    let gw = start_gateway!("");
    ring_file(&gw, "before.wav", 1.0);
    let mut app = Client::connect(&gw.ws_url()).await;
    let (a, ida) = parent(&gw, &mut app, Codec::Pcmu).await;
    let mut c = Callee::bind(gw.sip, Codec::Pcmu, None);
    let t0 = Instant::now();
    let idc = dial(&mut app, &ida, &c.uri("200"), Some("before.wav"), 3).await;
    tokio::task::block_in_place(|| {
        c.wait_invite();
    });
    let tinv = Instant::now();
    assert!(
        tinv - t0 >= Duration::from_millis(900),
        "the INVITE waited for the 1 s file: {:?}",
        tinv - t0
    );
    assert_eq!(heard(&a, Codec::Pcmu, t0, tinv), Some(RING_HZ));
    answered_then_bridged(&mut app, &a, &ida, c, &idc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_file_the_parent_hears_the_far_ends_early_media_and_nothing_else() {
    let Dialling {
        gw: _gw,
        mut app,
        a,
        ida,
        mut c,
        idc,
    } = dialling("", None, 1).await;
    let t0 = Instant::now();
    tokio::task::block_in_place(|| {
        c.wait_invite();
        c.respond(180, "Ringing", false);
        wait(Duration::from_millis(800));
    });
    assert_eq!(heard(&a, Codec::Pcmu, t0, Instant::now()), None);
    tokio::task::block_in_place(|| c.respond(183, "Session Progress", true));
    let early = c.spawn_stream(0, tone_frames(Codec::Pcmu, FAR_HZ, 50));
    let t = Instant::now();
    tokio::task::block_in_place(|| wait(Duration::from_millis(900)));
    assert_eq!(heard(&a, Codec::Pcmu, t, Instant::now()), Some(FAR_HZ));
    tokio::task::block_in_place(|| early.join().expect("early media"));
    answered_then_bridged(&mut app, &a, &ida, c, &idc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipps_early_media_reaches_the_parent_byte_for_byte() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let (a, ida) = parent(&gw, &mut app, Codec::Pcma).await;
    let sipp = Sipp::uas("uas_183_pcap_answer", &[]);
    let r = app
        .ok(
            "sys.call.construct",
            json!({"to_uri": format!("sip:200@{}", sipp.addr()), "max_answer_seconds": 60,
                   "parent_call_res_id": ida}),
        )
        .await;
    let idc = r["res_id"].as_str().expect("res_id").to_string();
    let played = mediagw_testkit::pcap::rtp_of(Path::new("/usr/share/sip-tester/g711a.pcap"))
        .expect("SIPp's capture");
    let want: Vec<u8> = played.iter().flat_map(|p| p.payload.clone()).collect();
    let done = app.event_of("on_dial_completed", &idc).await;
    assert_eq!(done["error"], Value::Null, "{done}");
    let got: Vec<u8> = a
        .packets(8)
        .iter()
        .flat_map(|p| p.payload.clone())
        .collect();
    assert!(
        got.windows(want.len()).any(|w| w == want),
        "the parent heard all {} bytes of SIPp's early media, in order ({} bytes received)",
        want.len(),
        got.len()
    );
    app.ok("sys.call.drop", json!({"res_id": idc})).await;
    sipp.succeeded().await;
    let _ = a;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sipp_far_end_ringing_brings_the_file_and_a_cancel_ends_it() {
    let gw = start_gateway!("");
    ring_file(&gw, "ring.wav", 3.0);
    let mut app = Client::connect(&gw.ws_url()).await;
    let (a, ida) = parent(&gw, &mut app, Codec::Pcmu).await;
    let sipp = Sipp::uas("uas_ring_until_cancel", &[]);
    let idc = dial(
        &mut app,
        &ida,
        &format!("sip:200@{}", sipp.addr()),
        Some("ring.wav"),
        0,
    )
    .await;
    let t = Instant::now();
    tokio::task::block_in_place(|| wait(Duration::from_millis(1200)));
    assert_eq!(heard(&a, Codec::Pcmu, t, Instant::now()), Some(RING_HZ));
    app.ok("sys.call.drop", json!({"res_id": idc})).await;
    let done = app.event_of("on_dial_completed", &idc).await;
    assert!(done["error"].is_string(), "{done}");
    let t = Instant::now();
    tokio::task::block_in_place(|| wait(Duration::from_millis(1000)));
    assert_eq!(
        heard(&a, Codec::Pcmu, t, Instant::now()),
        None,
        "the file ends with the dial"
    );
    // The parent is Idle again.
    app.ok(
        "sys.call.play_start",
        json!({"res_id": ida, "content": [["1", 1, ""]]}),
    )
    .await;
    sipp.succeeded().await;
}
