//! DTMF across a join, each press arriving exactly once in the form the listening leg
//! negotiated: RFC 4733 ↔ RFC 4733 under different payload types (straight and mixing
//! paths), RFC 4733 → tones, tones → RFC 4733 with the tone kept out of the audio, SIP
//! INFO → events or tones (injected into a relayed stream without breaking it); digits
//! of a leg nobody hears are reported instead. While relayed, no digit is reported.

use super::joins::{Leg, both_ways, drain, leg};
use super::*;
use crate::codec::{alaw_to_linear, ulaw_to_linear};
use crate::dtmf::Detector;
use crate::media_msg::JoinSpec;

/// Presses seen in telephone-events of payload type `pt`: one per event timestamp,
/// in order, with whether its first packet carried the marker.
fn presses(got: &[Got], pt: u8) -> Vec<(char, bool)> {
    let mut seen: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    for g in got.iter().filter(|g| g.header.payload_type == pt) {
        let ev = TelephoneEvent::parse(&g.payload).expect("a telephone-event");
        if !seen.contains(&g.header.timestamp) {
            seen.push(g.header.timestamp);
            out.push((ev.digit().expect("a DTMF event"), g.header.marker));
        }
    }
    out
}

/// The audio of `got` (PT 0 or 8), decoded.
fn audio(got: &[Got]) -> Vec<i16> {
    got.iter()
        .flat_map(|g| match g.header.payload_type {
            0 => g.payload.iter().map(|&b| ulaw_to_linear(b)).collect(),
            8 => g.payload.iter().map(|&b| alaw_to_linear(b)).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Energy of `x` at `hz` (Goertzel), on the scale of `Σx²/2` for a sine of that
/// frequency.
fn power(x: &[i16], hz: f64) -> f64 {
    let w = std::f64::consts::TAU * hz / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2) * 2.0 / x.len() as f64
}

fn detect(samples: &[i16]) -> String {
    let mut det = Detector::new();
    let mut s = String::new();
    det.rx(samples, |e| {
        if e.end.is_none() {
            s.push(e.digit);
        }
    });
    det.finish(|_| {});
    s
}

/// A press from `l`'s peer as a sender would: start, two updates, three end packets,
/// and a late retransmission of the start.
fn press(l: &Leg, pt: u8, seq: u16, ts: u32, code: u8) {
    let send = |s: u16, marker: bool, end: bool, dur: u16| {
        let mut b = [0u8; 4];
        TelephoneEvent {
            event: code,
            end,
            volume: 10,
            duration: dur,
        }
        .write(&mut b)
        .expect("event");
        send_rtp(&l.peer, l.local, pt, s, ts, marker, &b);
    };
    send(seq, true, false, 160);
    send(seq + 1, false, false, 320);
    send(seq + 2, false, false, 480);
    for k in 3..6 {
        send(seq + k, false, true, 800);
    }
    send(seq, true, false, 160);
}

/// No digit was reported to the engine so far.
fn no_digits_reported(plane: &TestPlane) {
    let reported: Vec<MediaEvent> = plane
        .events()
        .try_iter()
        .filter(|e| matches!(e, MediaEvent::Digit { .. }))
        .collect();
    assert!(reported.is_empty(), "relayed, not reported: {reported:?}");
}

#[test]
fn rfc4733_crosses_under_each_legs_own_payload_type() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    // Same codec (straight relay) and PCMU/PCMA (mixing path).
    for (k, law_b) in [Codec::Pcmu, Codec::Pcma].into_iter().enumerate() {
        let a = leg(&plane, 10 * k as CallId + 1, Codec::Pcmu, Some(101));
        let b = leg(&plane, 10 * k as CallId + 2, law_b, Some(96));
        plane.join(a.call, b.call, both_ways()).expect("joined");
        press(&a, 101, 100, 8000, 1);
        press(&b, 96, 500, 90_000, 4);
        press(&a, 101, 110, 16_000, 11);
        let rb = drain(&b.peer, Duration::from_millis(300));
        let ra = drain(&a.peer, Duration::from_millis(100));
        assert_eq!(
            presses(&rb, 96),
            vec![('1', true), ('#', true)],
            "{law_b:?}: b gets a's presses once each, under its own PT"
        );
        assert_eq!(presses(&ra, 101), vec![('4', true)], "{law_b:?}");
        assert!(rb.iter().all(|g| g.header.payload_type != 101));
        assert!(ra.iter().all(|g| g.header.payload_type != 96));
        // Every packet of a press goes (the far end sees the ends), in one stream.
        assert_eq!(
            rb.iter().filter(|g| g.header.payload_type == 96).count(),
            14
        );
        no_digits_reported(&plane);
    }
    plane.shutdown();
}

#[test]
fn rfc4733_becomes_tones_for_a_leg_without_telephone_event() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let a = leg(&plane, 1, Codec::Pcmu, Some(101));
    let b = leg(&plane, 2, Codec::Pcma, None);
    plane.join(1, 2, both_ways()).expect("joined");
    press(&a, 101, 100, 8000, 5);
    press(&a, 101, 110, 12_000, 9);
    let rb = drain(&b.peer, Duration::from_millis(300));
    assert!(rb.iter().all(|g| g.header.payload_type == 8), "audio only");
    assert_eq!(detect(&audio(&rb)), "59", "each press once, as tones");
    no_digits_reported(&plane);
    plane.shutdown();
}

/// µ-law frames of a 300 Hz hum (speech stand-in).
fn hum(frames: usize, start: usize) -> Vec<Vec<u8>> {
    (0..frames)
        .map(|f| {
            (0..160)
                .map(|i| {
                    let n = (start + f) * 160 + i;
                    let v = (n as f32 * std::f32::consts::TAU * 300.0 / 8000.0).sin() * 3000.0;
                    linear_to_ulaw(v as i16)
                })
                .collect()
        })
        .collect()
}

#[test]
fn tones_become_rfc4733_and_do_not_leak_into_the_audio() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    for (k, law_b) in [Codec::Pcmu, Codec::Pcma].into_iter().enumerate() {
        let a = leg(&plane, 10 * k as CallId + 5, Codec::Pcmu, None);
        let b = leg(&plane, 10 * k as CallId + 6, law_b, Some(96));
        plane.join(a.call, b.call, both_ways()).expect("joined");
        let mut frames = hum(15, 0);
        frames.extend(tone_frames('3', 100));
        frames.extend(hum(12, 20));
        frames.extend(tone_frames('8', 120));
        frames.extend(hum(20, 40));
        send_frames(&a.peer, a.local, &frames, 0);
        let rb = drain(&b.peer, Duration::from_millis(300));
        assert_eq!(
            presses(&rb, 96),
            vec![('3', true), ('8', true)],
            "{law_b:?}: each tone once, as events"
        );
        let heard = audio(&rb);
        assert_eq!(detect(&heard), "", "{law_b:?}: no tone left in the audio");
        let loud = heard.iter().filter(|s| s.abs() > 2000).count();
        assert!(loud > 160 * 20, "{law_b:?}: the hum passes ({loud})");
        // Not a fragment of either tone in any frame: the share of each frame's energy
        // at the four tone frequencies stays at the hum's level.
        let packets: Vec<Vec<i16>> = rb
            .iter()
            .filter(|g| g.header.payload_type == law_b.static_payload_type())
            .map(|g| audio(std::slice::from_ref(g)))
            .collect();
        for (i, f) in packets.iter().enumerate() {
            let total: f64 = f.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / 2.0;
            if total < 1e4 {
                continue;
            }
            let tones: f64 = [697.0, 1477.0, 852.0, 1336.0]
                .iter()
                .map(|&hz| power(f, hz))
                .sum();
            assert!(
                tones / total < 0.05,
                "{law_b:?}: frame {i} carries {:.0} % tone energy",
                100.0 * tones / total
            );
        }
        no_digits_reported(&plane);
    }
    plane.shutdown();
}

#[test]
fn info_digits_cross_as_events_or_tones() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    // To a leg with telephone-event, on the straight path while audio is relayed.
    let a = leg(&plane, 1, Codec::Pcmu, Some(101));
    let b = leg(&plane, 2, Codec::Pcmu, Some(96));
    plane.join(1, 2, both_ways()).expect("joined");
    let talk = {
        let p = a.peer.try_clone().expect("clone");
        let (to, f) = (
            a.local,
            (0..25).map(|i| pattern(160, i)).collect::<Vec<_>>(),
        );
        std::thread::spawn(move || send_frames(&p, to, &f, 0))
    };
    std::thread::sleep(Duration::from_millis(100));
    plane.info_digit(1, '7');
    talk.join().expect("talker");
    let rb = drain(&b.peer, Duration::from_millis(300));
    assert_eq!(presses(&rb, 96), vec![('7', true)]);
    assert_eq!(rb.iter().filter(|g| g.header.payload_type == 0).count(), 25);
    super::joins::assert_one_stream(&rb);
    // To a leg without: tones.
    let c = leg(&plane, 3, Codec::Pcmu, Some(101));
    let d = leg(&plane, 4, Codec::Pcma, None);
    plane.join(3, 4, both_ways()).expect("joined");
    plane.info_digit(3, '*');
    plane.info_digit(3, '2');
    let rd = drain(&d.peer, Duration::from_millis(300));
    assert_eq!(detect(&audio(&rd)), "*2");
    let _ = c;
    no_digits_reported(&plane);
    plane.shutdown();
}

#[test]
fn digits_of_a_leg_nobody_hears_are_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let a = leg(&plane, 1, Codec::Pcmu, Some(101));
    let b = leg(&plane, 2, Codec::Pcmu, Some(96));
    let spec = JoinSpec {
        b_hears_a: false,
        ..both_ways()
    };
    plane.join(1, 2, spec).expect("joined");
    press(&a, 101, 100, 8000, 6);
    // Each digit is awaited on its own: the RTP event comes through the socket and the
    // INFO through the command queue, so their order between them is not the test's.
    wait_for(&plane, |e| {
        matches!(
            e,
            MediaEvent::Digit {
                call: 1,
                digit: '6',
                source: DigitSource::Rfc4733
            }
        )
    });
    plane.info_digit(1, '#');
    wait_for(&plane, |e| {
        matches!(
            e,
            MediaEvent::Digit {
                call: 1,
                digit: '#',
                ..
            }
        )
    });
    assert!(drain(&b.peer, Duration::from_millis(100)).is_empty());
    plane.shutdown();
}
