//! Joins on one worker, each leg's far end a test peer: the straight relay (byte-exact,
//! headers rewritten into each leg's own stream), PCMU↔PCMA transcoding, connect modes,
//! gains, recordings in every ending, the join play, ring-back until early media, and
//! the refusals.

use super::*;
use crate::codec::{alaw_to_linear, linear_to_alaw, ulaw_to_linear};
use crate::media_msg::{JoinSpec, Ringback};
use crate::mixer::gain_q12;

/// One leg: the call, the gateway's port for it, and the far end's socket.
pub(super) struct Leg {
    pub call: CallId,
    pub local: SocketAddr,
    pub peer: UdpSocket,
}

/// Opens `call` with a peer of `codec` (PT 0 or 8) and telephone-event `te`.
pub(super) fn leg(plane: &TestPlane, call: CallId, codec: Codec, te: Option<u8>) -> Leg {
    let local = open(plane, call);
    let peer = peer();
    plane.set_remote(call, remote_of(&peer, codec, te));
    Leg { call, local, peer }
}

pub(super) fn remote_of(peer: &UdpSocket, codec: Codec, te: Option<u8>) -> RemoteMedia {
    RemoteMedia {
        codec,
        pt: codec.static_payload_type(),
        ..remote(peer, te)
    }
}

pub(super) fn both_ways() -> JoinSpec {
    JoinSpec {
        a_hears_b: true,
        b_hears_a: true,
        a_gain_db: 0,
        b_gain_db: 0,
        record: None,
        ringback: None,
    }
}

impl TestPlane {
    /// Joins `a` and `b`: `Started` (with the recording's path) or `Refused`.
    pub(super) fn join(
        &self,
        a: CallId,
        b: CallId,
        spec: JoinSpec,
    ) -> Result<Option<String>, Refusal> {
        let token = self.token();
        self.send(MediaCommand::Join { a, b, token, spec });
        self.started(a, token)
    }

    pub(super) fn unjoin(&self, a: CallId) {
        self.send(MediaCommand::Unjoin { a });
    }
}

/// What `s` receives (RTP only) until it has been quiet for `quiet`, or, once it has
/// received something other than silence, until ten silent packets in a row (the mixing
/// path keeps sending silence); five seconds at most.
pub(super) fn drain(s: &UdpSocket, quiet: Duration) -> Vec<Got> {
    s.set_read_timeout(Some(quiet)).expect("timeout");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut buf = [0u8; 1500];
    let mut voiced = false;
    let mut silent_run = 0;
    while Instant::now() < deadline && silent_run < 10 {
        let Ok((n, _)) = s.recv_from(&mut buf) else {
            break;
        };
        let Ok(p) = RtpPacket::parse(&buf[..n]) else {
            continue;
        };
        let silent = match p.header.payload_type {
            0 => p.payload.iter().all(|&b| b == 0xFF),
            8 => p.payload.iter().all(|&b| b == 0xD5),
            _ => false,
        };
        if silent {
            silent_run += usize::from(voiced);
        } else {
            voiced = true;
            silent_run = 0;
        }
        got.push(Got {
            header: p.header,
            payload: p.payload.to_vec(),
            at: Instant::now(),
        });
    }
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    got
}

/// Both peers talk at once (`fa` from a's peer, `fb` from b's), then each one's
/// reception until quiet.
pub(super) fn talk(
    a: &Leg,
    fa: &[Vec<u8>],
    pt_a: u8,
    b: &Leg,
    fb: &[Vec<u8>],
    pt_b: u8,
) -> (Vec<Got>, Vec<Got>) {
    let ta = spawn_talker(a, fa, pt_a);
    let tb = spawn_talker(b, fb, pt_b);
    ta.join().expect("talker a");
    tb.join().expect("talker b");
    let ra = drain(&a.peer, Duration::from_millis(400));
    let rb = drain(&b.peer, Duration::from_millis(100));
    (ra, rb)
}

pub(super) fn spawn_talker(l: &Leg, frames: &[Vec<u8>], pt: u8) -> std::thread::JoinHandle<()> {
    let p = l.peer.try_clone().expect("clone");
    let to = l.local;
    let frames = frames.to_vec();
    std::thread::spawn(move || {
        let start = Instant::now();
        for (i, f) in frames.iter().enumerate() {
            let due = start + Duration::from_millis(20 * i as u64);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
            send_rtp(&p, to, pt, 4000 + i as u16, 160 * i as u32, i == 0, f);
        }
    })
}

/// The stream is one (SSRC), in order without gaps, its audio on the 8 kHz clock
/// (the packets of a telephone-event share their event's timestamp).
pub(super) fn assert_one_stream(got: &[Got]) {
    let is_audio = |g: &Got| matches!(g.header.payload_type, 0 | 8);
    for w in got.windows(2) {
        assert_eq!(w[1].header.ssrc, w[0].header.ssrc);
        assert_eq!(w[1].header.sequence, w[0].header.sequence.wrapping_add(1));
    }
    let audio: Vec<&Got> = got.iter().filter(|g| is_audio(g)).collect();
    for w in audio.windows(2) {
        let dt = w[1].header.timestamp.wrapping_sub(w[0].header.timestamp);
        assert!(dt > 0 && dt < 160 * 100, "timestamps move on: {dt}");
    }
}

fn payloads(got: &[Got], pt: u8) -> Vec<Vec<u8>> {
    got.iter()
        .filter(|g| g.header.payload_type == pt)
        .map(|g| g.payload.clone())
        .collect()
}

/// Frames that are not all `silence`.
fn voiced(got: &[Got], pt: u8, silence: u8) -> Vec<Vec<u8>> {
    payloads(got, pt)
        .into_iter()
        .filter(|p| p.iter().any(|&b| b != silence))
        .collect()
}

#[test]
fn the_straight_relay_is_byte_exact_and_continues_each_legs_stream() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let a = leg(&plane, 1, Codec::Pcmu, Some(101));
    let b = leg(&plane, 2, Codec::Pcmu, Some(96));
    // Each leg's own stream before the join: a short prompt.
    ulaw_wav(&dir.path().join("p.wav"), &pattern(320, 3));
    play(&plane, 1, "p.wav", 0, "");
    play(&plane, 2, "p.wav", 0, "");
    let before_a = recv_n(&a.peer, 2);
    let before_b = recv_n(&b.peer, 2);
    for _ in 0..2 {
        wait_for(&plane, |e| matches!(e, MediaEvent::PlayCompleted { .. }));
    }
    plane.join(1, 2, both_ways()).expect("joined");
    let fa: Vec<Vec<u8>> = (0..40).map(|i| pattern(160, 10 + i)).collect();
    let fb: Vec<Vec<u8>> = (0..40).map(|i| pattern(160, 90 + i)).collect();
    let (ra, rb) = talk(&a, &fa, 0, &b, &fb, 0);
    assert_eq!(payloads(&rb, 0), fa, "b hears a byte for byte");
    assert_eq!(payloads(&ra, 0), fb, "a hears b byte for byte");
    for (got, before) in [(&rb, &before_b), (&ra, &before_a)] {
        let mut all = before.clone();
        all.extend(got.iter().cloned());
        assert_one_stream(&all);
        assert_ne!(got[0].header.ssrc, 0x1234_5678, "the leg's own SSRC");
        assert!(got[0].header.marker, "a new talk spurt at the join");
        assert!(got.iter().skip(1).all(|g| !g.header.marker));
        for w in got.windows(2) {
            assert_eq!(
                w[1].header.timestamp.wrapping_sub(w[0].header.timestamp),
                160
            );
        }
    }
    plane.unjoin(1);
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::JoinEnded { .. }));
    assert_eq!(
        ev,
        MediaEvent::JoinEnded {
            a: 1,
            error: None,
            record_path: None
        }
    );
    // After the join each leg's own stream goes on.
    play(&plane, 2, "p.wav", 0, "");
    let after = recv_n(&b.peer, 2);
    let mut all = rb.clone();
    all.extend(after);
    assert_one_stream(&all);
    plane.shutdown();
}

#[test]
fn pcmu_and_pcma_are_transcoded_sample_by_sample() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let a = leg(&plane, 3, Codec::Pcmu, None);
    let b = leg(&plane, 4, Codec::Pcma, None);
    plane.join(3, 4, both_ways()).expect("joined");
    let fa: Vec<Vec<u8>> = (0..30).map(|i| pattern(160, 20 + i)).collect();
    // A-law frames: never the two codes of the smallest level.
    let fb: Vec<Vec<u8>> = (0..30)
        .map(|i| {
            pattern(160, 50 + i)
                .into_iter()
                .map(|x| if x == 0xD5 || x == 0x55 { 0x20 } else { x })
                .collect()
        })
        .collect();
    let (ra, rb) = talk(&a, &fa, 0, &b, &fb, 8);
    let want_b: Vec<Vec<u8>> = fa
        .iter()
        .map(|f| {
            f.iter()
                .map(|&x| linear_to_alaw(ulaw_to_linear(x)))
                .collect()
        })
        .collect();
    let want_a: Vec<Vec<u8>> = fb
        .iter()
        .map(|f| {
            f.iter()
                .map(|&x| linear_to_ulaw(alaw_to_linear(x)))
                .collect()
        })
        .collect();
    assert_eq!(voiced(&rb, 8, 0xD5), want_b, "b hears a in A-law");
    assert_eq!(voiced(&ra, 0, 0xFF), want_a, "a hears b in µ-law");
    // Transcoded samples stay within one quantisation step of the original.
    for (x, y) in fa[0].iter().zip(&want_b[0]) {
        let (s, t) = (ulaw_to_linear(*x), alaw_to_linear(*y));
        assert!((i32::from(s) - i32::from(t)).abs() <= (i32::from(s).abs() / 16).max(16));
    }
    assert_one_stream(&rb);
    assert_one_stream(&ra);
    assert!(rb.iter().all(|g| g.header.payload_type == 8));
    plane.shutdown();
}

#[test]
fn connect_modes_carry_one_direction_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    // Straight path (same codec) and mixing path (transcoding), each direction alone.
    for (k, law_b) in [Codec::Pcmu, Codec::Pcma].into_iter().enumerate() {
        for a_hears_b in [true, false] {
            let base = 10 + 10 * k as CallId + 2 * CallId::from(a_hears_b);
            let a = leg(&plane, base, Codec::Pcmu, None);
            let b = leg(&plane, base + 1, law_b, None);
            let spec = JoinSpec {
                a_hears_b,
                b_hears_a: !a_hears_b,
                ..both_ways()
            };
            plane.join(a.call, b.call, spec).expect("joined");
            let fa: Vec<Vec<u8>> = (0..10).map(|i| pattern(160, i)).collect();
            let fb: Vec<Vec<u8>> = fa.clone();
            let pt_b = law_b.static_payload_type();
            let (ra, rb) = talk(&a, &fa, 0, &b, &fb, pt_b);
            let silence_b = law_b.silence();
            let (heard, deaf) = if a_hears_b {
                (voiced(&ra, 0, 0xFF), voiced(&rb, pt_b, silence_b))
            } else {
                (voiced(&rb, pt_b, silence_b), voiced(&ra, 0, 0xFF))
            };
            assert_eq!(heard.len(), 10, "{law_b:?} a_hears_b={a_hears_b}");
            assert!(deaf.is_empty(), "{law_b:?} a_hears_b={a_hears_b}: {deaf:?}");
            plane.close_call(a.call);
            plane.close_call(b.call);
        }
    }
    plane.shutdown();
}

#[test]
fn gains_scale_each_direction_with_the_mixer_table() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let a = leg(&plane, 30, Codec::Pcmu, None);
    let b = leg(&plane, 31, Codec::Pcmu, None);
    let spec = JoinSpec {
        a_gain_db: 6,
        b_gain_db: -6,
        ..both_ways()
    };
    plane.join(30, 31, spec).expect("joined");
    let frames: Vec<Vec<u8>> = (0..10).map(|i| pattern(160, 7 * i)).collect();
    let (ra, rb) = talk(&a, &frames, 0, &b, &frames, 0);
    let scaled = |db: i32| -> Vec<Vec<u8>> {
        let g = gain_q12(db).expect("gain");
        frames
            .iter()
            .map(|f| {
                f.iter()
                    .map(|&x| {
                        let v = (i32::from(ulaw_to_linear(x)) * g + 2048) >> 12;
                        linear_to_ulaw(v.clamp(-32768, 32767) as i16)
                    })
                    .collect()
            })
            .collect()
    };
    assert_eq!(voiced(&rb, 0, 0xFF), scaled(6), "b hears a 6 dB up");
    assert_eq!(voiced(&ra, 0, 0xFF), scaled(-6), "a hears b 6 dB down");
    plane.shutdown();
}

#[test]
fn join_play_is_heard_by_both_over_the_conversation() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let a = leg(&plane, 40, Codec::Pcmu, None);
    let b = leg(&plane, 41, Codec::Pcma, None);
    plane.join(40, 41, both_ways()).expect("joined");
    let samples: Vec<i16> = (0..800).map(|i| ((i * 37) % 8000 - 4000) as i16).collect();
    pcm16_wav(&dir.path().join("notice.wav"), &samples);
    let token = plane.token();
    plane.send(MediaCommand::JoinPlay {
        a: 40,
        token,
        spec: PlaySpec {
            steps: vec![PlayStep::File("notice.wav".into())],
            finish_keys: String::new(),
            repeat: 0,
        },
    });
    plane.started(40, token).expect("join play started");
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::PlayCompleted { .. }));
    assert_eq!(
        ev,
        MediaEvent::PlayCompleted {
            call: 40,
            error: None,
            finish_key: None
        }
    );
    let ra = drain(&a.peer, Duration::from_millis(300));
    let rb = drain(&b.peer, Duration::from_millis(100));
    let want_a: Vec<u8> = samples.iter().map(|&s| linear_to_ulaw(s)).collect();
    let want_b: Vec<u8> = samples.iter().map(|&s| linear_to_alaw(s)).collect();
    assert_eq!(voiced(&ra, 0, 0xFF).concat(), want_a, "a hears it");
    assert_eq!(voiced(&rb, 8, 0xD5).concat(), want_b, "b hears it");
    // Not joined: refused by its completion.
    plane.unjoin(40);
    wait_for(&plane, |e| matches!(e, MediaEvent::JoinEnded { .. }));
    let token = plane.token();
    plane.send(MediaCommand::JoinPlay {
        a: 40,
        token,
        spec: PlaySpec {
            steps: vec![PlayStep::File("notice.wav".into())],
            finish_keys: String::new(),
            repeat: 0,
        },
    });
    plane.started(40, token).expect("loaded");
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::PlayCompleted { .. }));
    assert!(matches!(
        ev,
        MediaEvent::PlayCompleted { error: Some(_), .. }
    ));
    plane.shutdown();
}

#[test]
fn ring_back_plays_until_the_dialled_call_sends_media() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let ring = pattern(400, 77);
    ulaw_wav(&dir.path().join("ring.wav"), &ring);
    let a = leg(&plane, 50, Codec::Pcmu, None);
    // The dialled call: its port is open, its far end not known yet.
    let b_local = open(&plane, 51);
    let spec = JoinSpec {
        a_hears_b: true,
        b_hears_a: false,
        ringback: Some(Ringback {
            steps: vec![PlayStep::File("ring.wav".into())],
            until_media: true,
        }),
        ..both_ways()
    };
    plane.join(50, 51, spec).expect("joined");
    let heard = recv_n(&a.peer, 10);
    let looped: Vec<u8> = ring.iter().cycle().take(1600).copied().collect();
    let bytes: Vec<u8> = heard.iter().flat_map(|g| g.payload.clone()).collect();
    assert_eq!(bytes, looped, "the ring-back, looped");
    // 183 with SDP: the far end is known, then its early media starts.
    let b_peer = peer();
    plane.set_remote(51, remote_of(&b_peer, Codec::Pcmu, None));
    let early: Vec<Vec<u8>> = (0..20).map(|i| pattern(160, 300 + i)).collect();
    let b = Leg {
        call: 51,
        local: b_local,
        peer: b_peer,
    };
    spawn_talker(&b, &early, 0).join().expect("talker");
    let rest = drain(&a.peer, Duration::from_millis(400));
    let rest_payloads = payloads(&rest, 0);
    let first_early = rest_payloads
        .iter()
        .position(|p| *p == early[0])
        .expect("early media reaches a");
    assert_eq!(
        &rest_payloads[first_early..],
        &early[..],
        "then only b, byte-exact"
    );
    let mut played = bytes.clone();
    played.extend(rest_payloads[..first_early].concat());
    assert_loop_of(&played, &ring, "ring-back until then");
    let mut all = heard.clone();
    all.extend(rest);
    assert_one_stream(&all);
    assert!(
        drain(&b.peer, Duration::from_millis(50)).is_empty(),
        "b hears nothing"
    );
    plane.shutdown();
}

/// `got` is `ring` played in a loop (from any point of it).
fn assert_loop_of(got: &[u8], ring: &[u8], what: &str) {
    let start = (0..ring.len())
        .find(|&o| (0..16).all(|k| got.get(k) == Some(&ring[(o + k) % ring.len()])))
        .unwrap_or_else(|| panic!("{what}: not the ring-back"));
    let off = got
        .iter()
        .enumerate()
        .position(|(k, b)| *b != ring[(start + k) % ring.len()]);
    assert_eq!(off, None, "{what}: the loop breaks at byte {off:?}");
}

#[test]
fn without_until_media_the_ring_back_goes_on_over_early_media() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let ring = pattern(320, 5);
    ulaw_wav(&dir.path().join("ring.wav"), &ring);
    let a = leg(&plane, 55, Codec::Pcmu, None);
    let b = leg(&plane, 56, Codec::Pcmu, None);
    let spec = JoinSpec {
        a_hears_b: true,
        b_hears_a: false,
        ringback: Some(Ringback {
            steps: vec![PlayStep::File("ring.wav".into())],
            until_media: false,
        }),
        ..both_ways()
    };
    plane.join(55, 56, spec).expect("joined");
    let early: Vec<Vec<u8>> = (0..15).map(|i| pattern(160, 500 + i)).collect();
    spawn_talker(&b, &early, 0).join().expect("talker");
    let heard = recv_n(&a.peer, 20);
    let bytes: Vec<u8> = heard.iter().flat_map(|g| g.payload.clone()).collect();
    assert_loop_of(&bytes, &ring, "only the ring-back");
    plane.unjoin(55);
    wait_for(&plane, |e| matches!(e, MediaEvent::JoinEnded { .. }));
    plane.shutdown();
}

#[test]
fn joins_that_cannot_be_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let _a = leg(&plane, 60, Codec::Pcmu, None);
    let _b = leg(&plane, 61, Codec::Pcmu, None);
    let _c = leg(&plane, 62, Codec::Pcmu, None);
    for (a, b) in [(60, 60), (60, 99), (99, 60)] {
        assert!(
            matches!(
                plane.join(a, b, both_ways()),
                Err(Refusal::Unavailable { .. })
            ),
            "{a} {b}"
        );
    }
    plane.join(60, 61, both_ways()).expect("joined");
    assert!(plane.join(62, 61, both_ways()).is_err(), "b already joined");
    assert!(plane.join(60, 62, both_ways()).is_err(), "a already joined");
    plane.unjoin(62); // not joined: nothing
    plane.close_call(61);
    let (ev, before) = wait_for(&plane, |e| matches!(e, MediaEvent::Closed { call: 61, .. }));
    let _ = ev;
    assert_eq!(
        before,
        vec![MediaEvent::JoinEnded {
            a: 60,
            error: Some("call released".into()),
            record_path: None
        }],
        "the join ends before the call closes"
    );
    // Both free again.
    plane.join(60, 62, both_ways()).expect("joined again");
    plane.shutdown();
}
