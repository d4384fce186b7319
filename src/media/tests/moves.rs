//! `Move` on a two-worker plane: the call's outgoing RTP stream stays one stream (same
//! SSRC, consecutive sequence numbers and timestamps, the prompt byte-exact across the
//! hand-over), what it receives keeps flowing into its recording, and a flood of
//! datagrams during repeated moves loses none.

use std::sync::atomic::{AtomicBool, Ordering};

use super::joins::{Leg, both_ways, remote_of, talk};
use super::*;
use crate::worker::BackendChoice;

fn two_workers(dir: &Path, backend: BackendChoice) -> TestPlane {
    TestPlane::new(start_workers(
        dir,
        2,
        WorkerConfig {
            backend,
            ..Default::default()
        },
        0,
        None,
    ))
}

#[test]
fn a_moved_call_keeps_its_rtp_stream_and_its_recording() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = two_workers(dir.path(), BackendChoice::Auto);
    let prompt = pattern(160 * 60, 9);
    ulaw_wav(&dir.path().join("long.wav"), &prompt);
    let p = peer();
    let local = open_on(&plane, 0, 21);
    plane.set_remote(21, remote(&p, None));
    let path = record(
        &plane,
        21,
        "moved.wav",
        Encoding::G711(Codec::Pcmu),
        0,
        false,
    );
    play(&plane, 21, "long.wav", 0, "");
    // The peer talks for a second while we move the call after 400 ms.
    let frames: Vec<Vec<u8>> = (0..50).map(|i| pattern(160, 200 + i)).collect();
    let talk = {
        let p = p.try_clone().expect("clone");
        let frames = frames.clone();
        std::thread::spawn(move || send_frames(&p, local, &frames, 10))
    };
    let first = recv_n(&p, 20);
    let t0 = Instant::now();
    plane.move_call(21, 1);
    let took = t0.elapsed();
    let rest = recv_n(&p, 30);
    talk.join().expect("talker");
    plane.stop_record(21);
    wait_for(&plane, |e| matches!(e, MediaEvent::RecordCompleted { .. }));
    plane.stop_play(21);
    wait_for(&plane, |e| matches!(e, MediaEvent::PlayCompleted { .. }));
    plane.close_call(21);
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::Closed { .. }));
    let MediaEvent::Closed { stats, .. } = ev else {
        unreachable!()
    };
    let got: Vec<&Got> = first.iter().chain(&rest).collect();
    let ssrc = got[0].header.ssrc;
    for w in got.windows(2) {
        assert_eq!(w[1].header.ssrc, ssrc, "one stream");
        assert_eq!(w[1].header.sequence, w[0].header.sequence.wrapping_add(1));
        assert_eq!(
            w[1].header.timestamp,
            w[0].header.timestamp.wrapping_add(160)
        );
        assert!(!w[1].header.marker, "no new talk spurt at the move");
    }
    let sent: Vec<u8> = got.iter().flat_map(|g| g.payload.clone()).collect();
    assert_eq!(
        &sent[..],
        &prompt[..sent.len()],
        "the prompt goes on where it was"
    );
    let audio = Audio::from_wav(&std::fs::read(&path).expect("read")).expect("valid");
    assert_eq!(
        voiced_frames(audio.encoded().expect("µ-law").1, 0xFF),
        frames.concat(),
        "every frame the peer sent is recorded, in order"
    );
    assert_eq!(stats.lost, 0, "{stats:?}");
    assert_eq!(stats.dropped, 0, "{stats:?}");
    eprintln!("hand-over: Move to Moved in {took:?}; {stats:?}");
    plane.shutdown();
}

/// Datagrams every millisecond while the call moves back and forth: each one is
/// received exactly once (counted by the call's statistics).
fn moves_under_a_flood_lose_nothing(backend: BackendChoice) {
    const PACKETS: u16 = 2000;
    let dir = tempfile::tempdir().expect("tmp");
    let plane = two_workers(dir.path(), backend);
    let p = peer();
    let local = open_on(&plane, 0, 22);
    plane.set_remote(22, remote(&p, Some(101)));
    // Digits first until one is reported: then the far end is set (the probes before
    // may have been dropped for arriving before it).
    let mut probes = 0u64;
    'probe: for k in 0..200u32 {
        send_event(
            &p,
            local,
            (60000 + k as u16, 1000 * k, true),
            (1, true, 800),
        );
        probes += 1;
        while let Ok(e) = plane.events().recv_timeout(Duration::from_millis(20)) {
            if matches!(e, MediaEvent::Digit { digit: '1', .. }) {
                break 'probe;
            }
        }
    }
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let flood = {
        let p = p.try_clone().expect("clone");
        let done = done.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            for i in 0..PACKETS {
                let due = start + Duration::from_millis(u64::from(i));
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
                send_rtp(&p, local, 0, i, 160 * u32::from(i), i == 0, &[0x55; 160]);
            }
            done.store(true, Ordering::Release);
        })
    };
    // Moves spread over the flood (one every 5 ms, each once the last one is done).
    let mut took = Vec::new();
    let mut to = 1;
    let start = Instant::now();
    while !done.load(Ordering::Acquire) && took.len() < 1000 {
        let due = start + Duration::from_millis(5 * took.len() as u64);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let t0 = Instant::now();
        plane.move_call(22, to);
        took.push(t0.elapsed());
        to = 1 - to;
    }
    flood.join().expect("flood");
    // A digit after the flood: once it is reported, every datagram before it was read.
    send_event(&p, local, (PACKETS, 999_999, true), (9, true, 800));
    wait_for(&plane, |e| {
        matches!(e, MediaEvent::Digit { digit: '9', .. })
    });
    plane.close_call(22);
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::Closed { .. }));
    let MediaEvent::Closed { stats, .. } = ev else {
        unreachable!()
    };
    assert!(took.len() >= 20, "only {} moves", took.len());
    let total = u64::from(PACKETS) + probes + 1;
    assert_eq!(
        stats.packets_in + stats.dropped,
        total,
        "every datagram received once over {} moves: {stats:?}",
        took.len()
    );
    assert!(
        stats.dropped < probes,
        "only early probes are dropped: {stats:?}"
    );
    took.sort();
    eprintln!(
        "{backend:?}: {} moves under 1000 packets/s, Move→Moved median {:?} max {:?}, {} of {} datagrams lost",
        took.len(),
        took[took.len() / 2],
        took[took.len() - 1],
        total - stats.packets_in - stats.dropped,
        total
    );
    plane.shutdown();
}

#[test]
fn moves_under_a_flood_lose_nothing_io_uring() {
    moves_under_a_flood_lose_nothing(BackendChoice::IoUring);
}

#[test]
fn moves_under_a_flood_lose_nothing_epoll() {
    moves_under_a_flood_lose_nothing(BackendChoice::Epoll);
}

#[test]
fn moving_to_its_own_worker_or_an_unknown_call() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = two_workers(dir.path(), BackendChoice::Auto);
    let p = peer();
    open_on(&plane, 1, 23);
    plane.set_remote(23, remote(&p, None));
    plane.move_call(23, 1);
    // A call the worker does not have: nothing happens (it was closed before).
    plane.send_to(0, MediaCommand::Move { call: 99, to: 1 });
    plane.move_call(23, 0);
    plane.close_call(23);
    let (_, before) = wait_for(&plane, |e| matches!(e, MediaEvent::Closed { call: 23, .. }));
    assert!(before.is_empty(), "{before:?}");
    plane.shutdown();
}

/// The engine's way to bridge calls on two workers: move one to the other's worker,
/// then join them there. Moving a joined call away ends its join first.
#[test]
fn calls_on_two_workers_are_joined_after_a_move() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = two_workers(dir.path(), BackendChoice::Auto);
    let (pa, pb) = (peer(), peer());
    let a = Leg {
        call: 31,
        local: open_on(&plane, 0, 31),
        peer: pa,
    };
    let b = Leg {
        call: 32,
        local: open_on(&plane, 1, 32),
        peer: pb,
    };
    plane.set_remote(31, remote_of(&a.peer, Codec::Pcmu, None));
    plane.set_remote(32, remote_of(&b.peer, Codec::Pcmu, None));
    // Not on the same worker: refused.
    assert!(plane.join(31, 32, both_ways()).is_err());
    plane.move_call(32, 0);
    plane.join(31, 32, both_ways()).expect("joined on worker 0");
    let fa: Vec<Vec<u8>> = (0..15).map(|i| pattern(160, i)).collect();
    let fb: Vec<Vec<u8>> = (0..15).map(|i| pattern(160, 40 + i)).collect();
    let (ra, rb) = talk(&a, &fa, 0, &b, &fb, 0);
    let pay = |g: &[Got]| g.iter().map(|x| x.payload.clone()).collect::<Vec<_>>();
    assert_eq!(pay(&rb), fa);
    assert_eq!(pay(&ra), fb);
    plane.move_call(32, 1);
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::JoinEnded { .. }));
    assert_eq!(
        ev,
        MediaEvent::JoinEnded {
            a: 31,
            error: Some("moved to another worker".into()),
            record_path: None
        }
    );
    plane.shutdown();
}
