//! A join's recording checked sample by sample: stereo (`a` left, `b` right) and mono
//! (both mixed, saturated once), valid and complete in every ending (`Unjoin`, either
//! call closed, shutdown), `JoinEnded` arriving only once the file is finalized.

use super::joins::{Leg, both_ways, leg};
use super::*;
use crate::media_msg::{JoinRecord, JoinSpec};

fn recorded(stereo: bool, path: &str) -> JoinSpec {
    JoinSpec {
        record: Some(JoinRecord {
            path: path.into(),
            format: Encoding::Pcm16,
            stereo,
        }),
        ..both_ways()
    }
}

/// `l`'s peer says `frames` (µ-law), paced, then waits until the plane has them all.
fn say(l: &Leg, frames: &[Vec<u8>]) {
    send_frames(&l.peer, l.local, frames, 0);
}

fn decoded(frames: &[Vec<u8>]) -> Vec<i16> {
    frames
        .iter()
        .flatten()
        .map(|&b| crate::codec::ulaw_to_linear(b))
        .collect()
}

/// The samples of 160-sample frames that are not all zero.
fn voiced_samples(s: &[i16]) -> Vec<i16> {
    s.chunks(160)
        .filter(|c| c.iter().any(|&x| x != 0))
        .flatten()
        .copied()
        .collect()
}

/// Equal sample sequences (the first difference reported, not both sequences).
fn same(got: &[i16], want: &[i16], what: &str) {
    let diff = got.iter().zip(want).position(|(g, w)| g != w);
    assert!(
        got.len() == want.len() && diff.is_none(),
        "{what}: {} samples, {} expected, first difference at {diff:?}",
        got.len(),
        want.len()
    );
}

fn read_wav(path: &Path) -> (u16, Vec<i16>) {
    let mut r = hound::WavReader::open(path).expect("a valid WAV file");
    let ch = r.spec().channels;
    assert_eq!(r.spec().bits_per_sample, 16);
    let s = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    (ch, s)
}

#[derive(Debug, Clone, Copy)]
enum Ending {
    Unjoin,
    CloseA,
    CloseB,
    Shutdown,
}

/// a says 10 frames, then b says 10 frames; the join ends as `how`.
fn record_and_end(stereo: bool, how: Ending) {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let events = plane.events().clone();
    let a = leg(&plane, 1, Codec::Pcmu, None);
    let b = leg(&plane, 2, Codec::Pcmu, None);
    let name = format!("bridge/{how:?}-{stereo}.wav");
    let path = plane
        .join(1, 2, recorded(stereo, &name))
        .expect("joined")
        .expect("the recording's path");
    let path = PathBuf::from(path);
    assert!(path.starts_with(dir.path().join("rec")));
    let fa: Vec<Vec<u8>> = (0..10).map(|i| pattern(160, 3 * i)).collect();
    let fb: Vec<Vec<u8>> = (0..10).map(|i| pattern(160, 100 + 3 * i)).collect();
    // a talks, a pause (200 ms, far more than the jitter buffers' delays, so the two
    // never overlap in the mix), b talks, a last pause until b's frames are mixed in.
    let silence = vec![vec![0xFFu8; 160]; 10];
    say(&a, &fa);
    say(&a, &silence);
    say(&b, &fb);
    say(&a, &silence);
    let ended = match how {
        Ending::Unjoin => {
            plane.unjoin(1);
            wait_for(&plane, |e| matches!(e, MediaEvent::JoinEnded { .. })).0
        }
        Ending::CloseA | Ending::CloseB => {
            let call = if matches!(how, Ending::CloseA) { 1 } else { 2 };
            plane.close_call(call);
            let (closed, before) = wait_for(&plane, |e| matches!(e, MediaEvent::Closed { .. }));
            assert_eq!(closed.call(), call);
            let ended: Vec<_> = before
                .into_iter()
                .filter(|e| matches!(e, MediaEvent::JoinEnded { .. }))
                .collect();
            assert_eq!(ended.len(), 1, "JoinEnded before Closed");
            ended[0].clone()
        }
        Ending::Shutdown => {
            plane.shutdown();
            let all: Vec<MediaEvent> = events.iter().collect();
            let k = all
                .iter()
                .position(|e| matches!(e, MediaEvent::JoinEnded { .. }))
                .expect("JoinEnded at shutdown");
            assert!(
                all[k..]
                    .iter()
                    .any(|e| matches!(e, MediaEvent::Closed { .. })),
                "{all:?}"
            );
            all[k].clone()
        }
    };
    let want_error = match how {
        Ending::Unjoin => None,
        Ending::CloseA | Ending::CloseB => Some("call released".to_string()),
        Ending::Shutdown => Some("shutdown".to_string()),
    };
    assert_eq!(
        ended,
        MediaEvent::JoinEnded {
            a: 1,
            error: want_error,
            record_path: Some(path.clone())
        }
    );
    // The file is complete as soon as JoinEnded is out.
    let (channels, samples) = read_wav(&path);
    if stereo {
        assert_eq!(channels, 2);
        let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
        let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
        same(&voiced_samples(&left), &decoded(&fa), "a on the left");
        same(&voiced_samples(&right), &decoded(&fb), "b on the right");
    } else {
        assert_eq!(channels, 1);
        let mut want = decoded(&fa);
        want.extend(decoded(&fb));
        same(&voiced_samples(&samples), &want, "a then b, mixed");
    }
    // (Other endings: the plane stops when it goes out of scope.)
}

#[test]
fn stereo_recording_ends_with_unjoin() {
    record_and_end(true, Ending::Unjoin);
}

#[test]
fn stereo_recording_ends_when_a_closes() {
    record_and_end(true, Ending::CloseA);
}

#[test]
fn mono_recording_ends_when_b_closes() {
    record_and_end(false, Ending::CloseB);
}

#[test]
fn mono_recording_ends_at_shutdown() {
    record_and_end(false, Ending::Shutdown);
}

#[test]
fn stereo_recording_ends_at_shutdown() {
    record_and_end(true, Ending::Shutdown);
}

#[test]
fn mono_recording_ends_with_unjoin() {
    record_and_end(false, Ending::Unjoin);
}

/// Both talk loud at once: the mono mix is their sum, saturated once.
#[test]
fn the_mono_mix_saturates_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let a = leg(&plane, 5, Codec::Pcmu, None);
    let b = leg(&plane, 6, Codec::Pcmu, None);
    let path = plane
        .join(5, 6, recorded(false, "loud.wav"))
        .expect("joined")
        .expect("path");
    // Constant levels: a about +12 000, b about +24 000 and -9 000 alternating frames.
    let (ca, cb, cn) = (
        linear_to_ulaw(12_000),
        linear_to_ulaw(24_000),
        linear_to_ulaw(-9_000),
    );
    let va = crate::codec::ulaw_to_linear(ca);
    let (vb, vn) = (
        crate::codec::ulaw_to_linear(cb),
        crate::codec::ulaw_to_linear(cn),
    );
    let fa = vec![vec![ca; 160]; 25];
    let fb: Vec<Vec<u8>> = (0..25)
        .map(|i| vec![if i % 2 == 0 { cb } else { cn }; 160])
        .collect();
    let ta = {
        let p = a.peer.try_clone().expect("clone");
        let (to, f) = (a.local, fa.clone());
        std::thread::spawn(move || send_frames(&p, to, &f, 5))
    };
    send_frames(&b.peer, b.local, &fb, 5);
    ta.join().expect("talker");
    plane.unjoin(5);
    wait_for(&plane, |e| matches!(e, MediaEvent::JoinEnded { .. }));
    let (_, s) = read_wav(Path::new(&path));
    let allowed = [0, va, vb, vn, 32767, va + vn];
    assert!(
        s.iter().all(|x| allowed.contains(x)),
        "only the parts and their saturated sums: {:?}",
        s.iter().find(|x| !allowed.contains(x))
    );
    let clipped = s.iter().filter(|&&x| x == 32767).count();
    let summed = s.iter().filter(|&&x| x == va + vn).count();
    assert!(clipped >= 160 * 8, "a + b clipped at full scale: {clipped}");
    assert!(summed >= 160 * 8, "a + (-b) not clipped: {summed}");
    plane.shutdown();
}
