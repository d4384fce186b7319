//! End-to-end tests of the media plane over real UDP sockets on 127.0.0.1: a test peer
//! (a std `UdpSocket`) plays the far end of a call on a one-worker plane; [`moves`] runs
//! calls on two workers.

mod confs;
mod inband_te;
mod join_dtmf;
mod join_records;
mod joins;
mod moves;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::audio::Audio;
use super::*;
use crate::codec::Codec;
use crate::codec::wav::{self, Encoding};
use crate::codec::{ULAW_TO_ALAW, linear_to_ulaw};
use crate::media_msg::{MediaCommand, MediaSink, PlaySpec, RecordSpec, Refusal};
use crate::rtp::{RtpHeader, RtpPacket, TelephoneEvent};
use crate::speech::PlayStep;
use crate::worker::WorkerConfig;

const PATIENCE: Duration = Duration::from_secs(15);

/// The plane driven as the engine drives it: commands through its sink, answers from
/// its events. Events a helper passes over while waiting for its answer are kept for
/// the test's own [`wait_for`].
struct TestPlane {
    plane: MediaPlane,
    sink: RefCell<crate::media::PlaneSink>,
    skipped: RefCell<VecDeque<MediaEvent>>,
    next_token: RefCell<u64>,
    /// The worker each call lives on (0 unless opened or moved elsewhere).
    home: RefCell<std::collections::HashMap<CallId, usize>>,
}

impl TestPlane {
    fn new(plane: MediaPlane) -> TestPlane {
        TestPlane {
            sink: RefCell::new(plane.sink()),
            plane,
            skipped: RefCell::new(VecDeque::new()),
            next_token: RefCell::new(1),
            home: RefCell::new(Default::default()),
        }
    }

    /// Sends `cmd` to the worker its call lives on.
    fn send(&self, cmd: MediaCommand) {
        let w = self.home_of(cmd.call());
        self.send_to(w, cmd);
    }

    fn home_of(&self, call: CallId) -> usize {
        self.home.borrow().get(&call).copied().unwrap_or(0)
    }

    /// Opens `call` on `worker` (the next commands for it go there).
    fn open_on(&self, worker: usize, call: CallId, local: SocketAddr) -> Result<(), String> {
        self.home.borrow_mut().insert(call, worker);
        self.open_call(call, local)
    }

    /// Moves `call` to worker `to` and waits for `Moved` (as the engine does).
    fn move_call(&self, call: CallId, to: usize) {
        self.send(MediaCommand::Move { call, to });
        let at = self.answer(|e| match e {
            MediaEvent::Moved { call: c, worker } if *c == call => Some(*worker),
            _ => None,
        });
        assert_eq!(at, to, "moved where asked");
        self.home.borrow_mut().insert(call, at);
    }

    fn send_to(&self, worker: usize, cmd: MediaCommand) {
        self.sink
            .borrow_mut()
            .try_send(worker, cmd)
            .expect("queue has room");
    }

    /// The next event, the kept ones first.
    fn next_event(&self, deadline: Instant) -> MediaEvent {
        if let Some(e) = self.skipped.borrow_mut().pop_front() {
            return e;
        }
        self.plane
            .events()
            .recv_deadline(deadline)
            .expect("event in time")
    }

    /// Waits for the event `pick` accepts, keeping the others.
    fn answer<T>(&self, pick: impl Fn(&MediaEvent) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        let mut kept = Vec::new();
        loop {
            let ev = match self.plane.events().recv_deadline(deadline) {
                Ok(ev) => ev,
                Err(_) => panic!("no answer in time; kept {kept:?}"),
            };
            if let Some(t) = pick(&ev) {
                self.skipped.borrow_mut().extend(kept);
                return t;
            }
            kept.push(ev);
        }
    }

    fn open_call(&self, call: CallId, local: SocketAddr) -> Result<(), String> {
        self.send(MediaCommand::Open { call, local });
        self.answer(|e| match e {
            MediaEvent::Opened { call: c, .. } if *c == call => Some(Ok(())),
            MediaEvent::OpenFailed { call: c, reason } if *c == call => Some(Err(reason.clone())),
            _ => None,
        })
    }

    fn set_remote(&self, call: CallId, remote: RemoteMedia) {
        self.send(MediaCommand::SetRemote { call, remote });
    }

    fn token(&self) -> u64 {
        let mut t = self.next_token.borrow_mut();
        *t += 1;
        *t
    }

    fn started(&self, call: CallId, token: u64) -> Result<Option<String>, Refusal> {
        self.answer(|e| match e {
            MediaEvent::Started {
                call: c,
                token: t,
                path,
            } if *c == call && *t == token => Some(Ok(path.clone())),
            MediaEvent::Refused {
                call: c,
                token: t,
                refusal,
            } if *c == call && *t == token => Some(Err(refusal.clone())),
            _ => None,
        })
    }

    fn play(&self, call: CallId, spec: PlaySpec) -> Result<(), Refusal> {
        let token = self.token();
        self.send(MediaCommand::Play { call, token, spec });
        self.started(call, token).map(|_| ())
    }

    fn record(&self, call: CallId, spec: RecordSpec) -> Result<PathBuf, Refusal> {
        let token = self.token();
        self.send(MediaCommand::Record { call, token, spec });
        self.started(call, token)
            .map(|p| PathBuf::from(p.expect("a recording names its file")))
    }

    fn stop_play(&self, call: CallId) {
        self.send(MediaCommand::StopPlay { call });
    }

    fn stop_record(&self, call: CallId) {
        self.send(MediaCommand::StopRecord { call });
    }

    fn close_call(&self, call: CallId) {
        self.send(MediaCommand::Close { call });
    }

    fn send_dtmf(&self, call: CallId, keys: String) {
        self.send(MediaCommand::SendDtmf { call, keys });
    }

    fn info_digit(&self, call: CallId, digit: char) {
        self.send(MediaCommand::Digit { call, digit });
    }

    fn events(&self) -> &crossbeam_channel::Receiver<MediaEvent> {
        self.plane.events()
    }

    fn shutdown(self) {
        self.plane.shutdown();
    }
}

fn start_plane(dir: &Path, timeout: u32, inband: Option<InbandFactory>) -> TestPlane {
    TestPlane::new(start_raw(dir, timeout, inband))
}

fn start_raw(dir: &Path, timeout: u32, inband: Option<InbandFactory>) -> MediaPlane {
    start_workers(dir, 1, WorkerConfig::default(), timeout, inband)
}

/// A plane of `workers` workers on the given engine settings (never pinned).
fn start_workers(
    dir: &Path,
    workers: usize,
    worker: WorkerConfig,
    timeout: u32,
    inband: Option<InbandFactory>,
) -> MediaPlane {
    MediaPlane::start(PlaneConfig {
        workers,
        media_root: dir.to_path_buf(),
        record_root: dir.join("rec"),
        rtp_timeout_seconds: timeout,
        worker: WorkerConfig {
            pin_cores: false,
            ..worker
        },
        inband,
        ..Default::default()
    })
    .expect("plane")
}

/// Opens `call` on a free even port pair.
fn open(plane: &TestPlane, call: CallId) -> SocketAddr {
    open_on(plane, 0, call)
}

/// Opens `call` on worker `worker` on a free even port pair.
fn open_on(plane: &TestPlane, worker: usize, call: CallId) -> SocketAddr {
    for i in 0..200u16 {
        let port = 30000 + ((call as u16).wrapping_mul(997).wrapping_add(i * 2) % 20000) / 2 * 2;
        let local: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        if plane.open_on(worker, call, local).is_ok() {
            return local;
        }
    }
    panic!("no free port");
}

fn peer() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("peer");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s
}

fn remote(peer: &UdpSocket, dtmf_pt: Option<u8>) -> RemoteMedia {
    RemoteMedia {
        rtp: peer.local_addr().expect("addr"),
        rtcp: None,
        codec: Codec::Pcmu,
        pt: 0,
        dtmf_pt,
        ptime_ms: 20,
        rtcp_mux: false,
        send: true,
        recv: true,
    }
}

/// Waits for the first event matching `want`; returns it and the events before it.
fn wait_for(
    plane: &TestPlane,
    want: impl Fn(&MediaEvent) -> bool,
) -> (MediaEvent, Vec<MediaEvent>) {
    let deadline = Instant::now() + PATIENCE;
    let mut before = Vec::new();
    loop {
        let ev = plane.next_event(deadline);
        if want(&ev) {
            return (ev, before);
        }
        before.push(ev);
    }
}

#[derive(Debug, Clone)]
struct Got {
    header: RtpHeader,
    payload: Vec<u8>,
    at: Instant,
}

fn recv_rtp(s: &UdpSocket) -> Got {
    let mut buf = [0u8; 1500];
    let (n, _) = s.recv_from(&mut buf).expect("rtp in time");
    let p = RtpPacket::parse(&buf[..n]).expect("valid rtp");
    Got {
        header: p.header,
        payload: p.payload.to_vec(),
        at: Instant::now(),
    }
}

fn send_rtp(
    s: &UdpSocket,
    to: SocketAddr,
    pt: u8,
    seq: u16,
    ts: u32,
    marker: bool,
    payload: &[u8],
) {
    let h = RtpHeader {
        marker,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc: 0x1234_5678,
    };
    let mut buf = [0u8; 1500];
    let n = h.write_packet(payload, &mut buf).expect("build");
    s.send_to(&buf[..n], to).expect("send");
}

/// Sends a telephone-event packet: `(seq, ts, marker)`, `(event, end, duration)`.
fn send_event(
    s: &UdpSocket,
    to: SocketAddr,
    (seq, ts, marker): (u16, u32, bool),
    (ev, end, dur): (u8, bool, u16),
) {
    let mut b = [0u8; 4];
    TelephoneEvent {
        event: ev,
        end,
        volume: 10,
        duration: dur,
    }
    .write(&mut b)
    .expect("event");
    send_rtp(s, to, 101, seq, ts, marker, &b);
}

/// Non-silent µ-law bytes (never 0x7F or 0xFF, the two codes of zero).
fn pattern(n: usize, salt: usize) -> Vec<u8> {
    (0..n)
        .map(|i| {
            let x = ((i * 7 + salt * 13) % 254) as u8;
            if x < 0x7F { x } else { x + 1 }
        })
        .collect()
}

fn ulaw_wav(path: &Path, bytes: &[u8]) {
    let mut v = wav::header(Encoding::G711(Codec::Pcmu), bytes.len() as u32);
    v.extend_from_slice(bytes);
    std::fs::write(path, v).expect("write wav");
}

fn pcm16_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create");
    for &s in samples {
        w.write_sample(s).expect("sample");
    }
    w.finalize().expect("finalize");
}

fn play(plane: &TestPlane, call: CallId, file: &str, repeat: u32, keys: &str) {
    plane
        .play(
            call,
            PlaySpec {
                steps: vec![PlayStep::File(file.into())],
                finish_keys: keys.into(),
                repeat,
            },
        )
        .expect("play");
}

/// Receives until `n` packets arrived.
fn recv_n(s: &UdpSocket, n: usize) -> Vec<Got> {
    (0..n).map(|_| recv_rtp(s)).collect()
}

#[test]
fn ulaw_file_arrives_byte_exact_on_the_20ms_grid() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let mut bytes = pattern(830, 1);
    bytes[3] = 0x7F; // both zero codes must survive unchanged
    bytes[4] = 0xFF;
    ulaw_wav(&dir.path().join("u.wav"), &bytes);
    let p = peer();
    open(&plane, 1);
    plane.set_remote(1, remote(&p, None));
    play(&plane, 1, "u.wav", 0, "");
    let got = recv_n(&p, 6);
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::PlayCompleted { .. }));
    assert_eq!(
        ev,
        MediaEvent::PlayCompleted {
            call: 1,
            error: None,
            finish_key: None
        }
    );
    let all: Vec<u8> = got.iter().flat_map(|g| g.payload.clone()).collect();
    assert!(got.iter().all(|g| g.payload.len() == 160));
    assert_eq!(&all[..830], &bytes[..]);
    assert!(all[830..].iter().all(|&b| b == 0xFF), "padded with silence");
    for (i, w) in got.windows(2).enumerate() {
        assert_eq!(
            w[1].header.sequence,
            w[0].header.sequence.wrapping_add(1),
            "{i}"
        );
        assert_eq!(
            w[1].header.timestamp,
            w[0].header.timestamp.wrapping_add(160)
        );
        assert!(!w[1].header.marker);
    }
    assert!(got[0].header.marker, "talk spurt starts with the marker");
    assert_eq!(got[0].header.payload_type, 0);
    let span = got[5].at - got[0].at;
    assert!(
        span >= Duration::from_millis(80),
        "paced, not burst: {span:?}"
    );
    plane.shutdown();
}

#[test]
fn pcm16_file_is_encoded_and_repeat_plays_twice() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let samples: Vec<i16> = (0..320)
        .map(|i| ((i * 97) % 20000 - 10000) as i16)
        .collect();
    pcm16_wav(&dir.path().join("p.wav"), &samples);
    let p = peer();
    open(&plane, 2);
    plane.set_remote(2, remote(&p, None));
    play(&plane, 2, "p.wav", 1, "");
    let got = recv_n(&p, 4);
    wait_for(&plane, |e| {
        matches!(e, MediaEvent::PlayCompleted { error: None, .. })
    });
    let all: Vec<u8> = got.iter().flat_map(|g| g.payload.clone()).collect();
    let once: Vec<u8> = samples.iter().map(|&s| linear_to_ulaw(s)).collect();
    assert_eq!(&all[..320], &once[..]);
    assert_eq!(&all[320..], &once[..], "the repeat");
    for w in got.windows(2) {
        assert_eq!(
            w[1].header.timestamp,
            w[0].header.timestamp.wrapping_add(160)
        );
    }
    // A missing file fails the request with its path.
    let err = plane
        .play(
            2,
            PlaySpec {
                steps: vec![PlayStep::File("missing.wav".into())],
                finish_keys: String::new(),
                repeat: 0,
            },
        )
        .expect_err("missing file");
    assert!(matches!(err, Refusal::File { ref path, .. } if path.ends_with("missing.wav")));
    plane.shutdown();
}

#[test]
fn stop_play_and_finish_key_end_the_play_and_digits_are_reported_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    pcm16_wav(&dir.path().join("long.wav"), &vec![3000i16; 8000 * 20]);
    let p = peer();
    let local = open(&plane, 3);
    plane.set_remote(3, remote(&p, Some(101)));
    play(&plane, 3, "long.wav", 0, "");
    recv_rtp(&p);
    plane.stop_play(3);
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::PlayCompleted { .. }));
    assert_eq!(
        ev,
        MediaEvent::PlayCompleted {
            call: 3,
            error: None,
            finish_key: None
        }
    );
    play(&plane, 3, "long.wav", 0, "#");
    recv_rtp(&p);
    // '1': start, update, 3 end packets, then a stale retransmission of the start.
    send_event(&p, local, (10, 1000, true), (1, false, 160));
    send_event(&p, local, (11, 1000, false), (1, false, 320));
    for s in 12..15 {
        send_event(&p, local, (s, 1000, false), (1, true, 800));
    }
    send_event(&p, local, (10, 1000, true), (1, false, 160));
    // '2': the first packets lost, only the end packets arrive (no marker).
    for s in 20..23 {
        send_event(&p, local, (s, 3000, false), (2, true, 800));
    }
    // '#': the finish key.
    send_event(&p, local, (30, 5000, true), (11, false, 160));
    send_event(&p, local, (31, 5000, true), (11, true, 800));
    let (ev, before) = wait_for(&plane, |e| matches!(e, MediaEvent::PlayCompleted { .. }));
    assert_eq!(
        ev,
        MediaEvent::PlayCompleted {
            call: 3,
            error: None,
            finish_key: Some('#')
        }
    );
    plane.close_call(3);
    let (_, after) = wait_for(&plane, |e| matches!(e, MediaEvent::Closed { .. }));
    let digits: Vec<char> = before
        .iter()
        .chain(&after)
        .filter_map(|e| match e {
            MediaEvent::Digit {
                digit,
                source: DigitSource::Rfc4733,
                ..
            } => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(digits, vec!['1', '2', '#']);
    plane.shutdown();
}

/// Sends `frames` paced at 20 ms, then `tail` all-silence frames (so the jitter buffer
/// has released the real ones).
fn send_frames(p: &UdpSocket, to: SocketAddr, frames: &[Vec<u8>], tail: usize) {
    let start = Instant::now();
    let silence = vec![0xFFu8; 160];
    for i in 0..frames.len() + tail {
        let due = start + Duration::from_millis(20 * i as u64);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let f = frames.get(i).unwrap_or(&silence);
        send_rtp(p, to, 0, 500 + i as u16, 160 * i as u32, i == 0, f);
    }
}

/// The recording's 160-sample frames that are not all silence.
fn voiced_frames(data: &[u8], silence: u8) -> Vec<u8> {
    data.chunks(160)
        .filter(|c| c.iter().any(|&b| b != silence))
        .flatten()
        .copied()
        .collect()
}

fn record(
    plane: &TestPlane,
    call: CallId,
    name: &str,
    format: Encoding,
    max: u32,
    beep: bool,
) -> std::path::PathBuf {
    plane
        .record(
            call,
            RecordSpec {
                path: name.into(),
                format,
                max_seconds: max,
                finish_keys: String::new(),
                beep,
            },
        )
        .expect("record")
}

#[test]
fn record_stop_keeps_exactly_what_was_received_in_alaw() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let p = peer();
    let local = open(&plane, 4);
    plane.set_remote(4, remote(&p, None));
    let path = record(
        &plane,
        4,
        "a/b/r.wav",
        Encoding::G711(Codec::Pcma),
        0,
        false,
    );
    assert!(path.is_file(), "created before record returns");
    assert!(path.starts_with(dir.path().join("rec")));
    let frames: Vec<Vec<u8>> = (0..25).map(|i| pattern(160, i)).collect();
    send_frames(&p, local, &frames, 10);
    plane.stop_record(4);
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::RecordCompleted { .. }));
    let MediaEvent::RecordCompleted {
        error,
        finish_key,
        path: done,
        ..
    } = ev
    else {
        unreachable!()
    };
    assert_eq!(error.as_deref(), Some("stopped"));
    assert_eq!((finish_key, done), (None, path.clone()));
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(
        u16::from_le_bytes([bytes[20], bytes[21]]),
        6,
        "WAVE_FORMAT_ALAW"
    );
    let audio = Audio::from_wav(&bytes).expect("valid wav");
    let (law, data) = audio.encoded().expect("a-law bytes");
    assert_eq!(law, Codec::Pcma);
    assert_eq!(
        data.len() + Encoding::G711(Codec::Pcma).header_len(),
        bytes.len(),
        "sizes in header"
    );
    let want: Vec<u8> = frames
        .concat()
        .iter()
        .map(|&b| ULAW_TO_ALAW[b as usize])
        .collect();
    assert_eq!(voiced_frames(data, ULAW_TO_ALAW[0xFF]), want);
    plane.shutdown();
}

#[test]
fn close_call_ends_the_recording_first_with_a_valid_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let p = peer();
    let local = open(&plane, 5);
    plane.set_remote(5, remote(&p, None));
    let path = record(&plane, 5, "c.wav", Encoding::G711(Codec::Pcmu), 0, false);
    let frames: Vec<Vec<u8>> = (0..10).map(|i| pattern(160, i + 40)).collect();
    send_frames(&p, local, &frames, 10);
    plane.close_call(5);
    let (ev, before) = wait_for(&plane, |e| matches!(e, MediaEvent::Closed { .. }));
    let rec: Vec<_> = before
        .iter()
        .filter(|e| matches!(e, MediaEvent::RecordCompleted { .. }))
        .collect();
    assert_eq!(rec.len(), 1, "completion before Closed: {before:?}");
    assert!(
        matches!(rec[0], MediaEvent::RecordCompleted { error: Some(e), .. } if e == "call released")
    );
    let MediaEvent::Closed { stats, .. } = ev else {
        unreachable!()
    };
    // The voiced frames all arrived (the recording holds them below); the close may
    // overtake the last of the silent tail still in the socket on a loaded machine.
    assert!(
        (frames.len() as u64..=20).contains(&stats.packets_in),
        "{stats:?}"
    );
    let audio = Audio::from_wav(&std::fs::read(&path).expect("read")).expect("valid");
    let (_, data) = audio.encoded().expect("µ-law");
    assert_eq!(voiced_frames(data, 0xFF), frames.concat());
    // A recording of a closed call ends at once, its (empty) file valid.
    let late = plane
        .record(
            5,
            RecordSpec {
                path: "x.wav".into(),
                format: Encoding::G711(Codec::Pcmu),
                max_seconds: 0,
                finish_keys: String::new(),
                beep: false,
            },
        )
        .expect("the file service creates it");
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::RecordCompleted { .. }));
    assert!(
        matches!(ev, MediaEvent::RecordCompleted { call: 5, error: Some(ref e), .. } if e == "call released"),
        "{ev:?}"
    );
    let empty = Audio::from_wav(&std::fs::read(&late).expect("read")).expect("valid");
    assert!(empty.samples.is_empty());
    plane.shutdown();
}

#[test]
fn max_seconds_ends_with_an_error_after_the_beep() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let p = peer();
    open(&plane, 6);
    plane.set_remote(6, remote(&p, None));
    let path = record(&plane, 6, "m.wav", Encoding::Pcm16, 1, true);
    let beep = recv_n(&p, 8);
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::RecordCompleted { .. }));
    assert!(
        matches!(ev, MediaEvent::RecordCompleted { error: Some(ref e), .. } if e.contains("max_seconds"))
    );
    for g in &beep {
        let loud = g
            .payload
            .iter()
            .filter(|&&b| crate::codec::ulaw_to_linear(b).abs() > 3000)
            .count();
        assert!(loud > 40, "a tone, not silence");
    }
    for w in beep.windows(2) {
        assert_eq!(w[1].header.sequence, w[0].header.sequence.wrapping_add(1));
    }
    let mut r = hound::WavReader::open(&path).expect("hound reads it");
    assert_eq!(r.spec().bits_per_sample, 16);
    assert_eq!(r.len(), 8000, "exactly max_seconds of audio");
    assert!(r.samples::<i16>().all(|s| s.expect("sample") == 0));
    // Nothing more after the 160 ms beep.
    p.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut buf = [0u8; 1500];
    assert!(p.recv_from(&mut buf).is_err(), "a packet after the beep");
    plane.shutdown();
}

#[test]
fn wrong_source_is_ignored_after_latching() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let a = peer();
    let b = peer();
    let local = open(&plane, 7);
    plane.set_remote(7, remote(&a, Some(101)));
    send_rtp(&a, local, 0, 1, 0, true, &[1u8; 160]);
    send_event(&b, local, (2, 100, true), (5, true, 800));
    send_event(&a, local, (3, 200, true), (6, true, 800));
    let (ev, before) = wait_for(&plane, |e| matches!(e, MediaEvent::Digit { .. }));
    assert!(before.is_empty());
    assert!(matches!(ev, MediaEvent::Digit { digit: '6', .. }), "{ev:?}");
    plane.close_call(7);
    let (ev, before) = wait_for(&plane, |e| matches!(e, MediaEvent::Closed { .. }));
    assert!(before.is_empty(), "{before:?}");
    let MediaEvent::Closed { stats, .. } = ev else {
        unreachable!()
    };
    assert_eq!(stats.packets_in, 2);
    // Once RTP came from the SDP address the socket is connected to it, and the kernel
    // drops the stranger's packet; one that arrived before the connection is dropped
    // (and counted) by the channel.
    assert!(stats.dropped <= 1, "{stats:?}");
    plane.shutdown();
}

/// The far end our UDP socket bound to `local` is connected to, from `/proc/net/udp`
/// (`None`: not connected, or no such socket).
fn connected_peer(local: SocketAddr) -> Option<SocketAddr> {
    let table = std::fs::read_to_string("/proc/net/udp").expect("/proc/net/udp");
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => String::new(),
    };
    let want = hex(local);
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.get(1) != Some(&want.as_str()) {
            return None;
        }
        let (ip, port) = f.get(2)?.split_once(':')?;
        let ip = u32::from_str_radix(ip, 16).ok()?;
        let port = u16::from_str_radix(port, 16).ok()?;
        (port != 0).then(|| SocketAddr::from((ip.to_le_bytes(), port)))
    })
}

fn eventually_connected(local: SocketAddr, to: Option<SocketAddr>) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if connected_peer(local) == to {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn the_socket_connects_to_its_far_end_and_a_new_far_end_is_heard() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let a = peer();
    let b = peer();
    let local = open(&plane, 17);
    plane.set_remote(17, remote(&a, Some(101)));
    assert_eq!(connected_peer(local), None, "not before the far end's RTP");
    send_rtp(&a, local, 0, 1, 0, true, &[1u8; 160]);
    assert!(
        eventually_connected(local, Some(a.local_addr().unwrap())),
        "connected to the SDP address once RTP came from it"
    );
    // Sends go to the connected peer with no destination: they still arrive.
    plane.send_dtmf(17, "1".into());
    let got = recv_rtp(&a);
    assert_eq!(got.header.payload_type, 101);
    // A re-INVITE moves the far end: the connection is dissolved, the new end is heard
    // (its digit arrives) and the socket connects to it.
    plane.set_remote(17, remote(&b, Some(101)));
    assert!(
        eventually_connected(local, None),
        "the old connection is dissolved"
    );
    send_event(&b, local, (2, 100, true), (4, true, 800));
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::Digit { .. }));
    assert!(matches!(ev, MediaEvent::Digit { digit: '4', .. }), "{ev:?}");
    assert!(eventually_connected(local, Some(b.local_addr().unwrap())));
    plane.close_call(17);
    wait_for(&plane, |e| matches!(e, MediaEvent::Closed { .. }));
    plane.shutdown();
}

#[test]
fn rtp_timeout_fires() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 1, None);
    let p = peer();
    open(&plane, 8);
    let t0 = Instant::now();
    plane.set_remote(8, remote(&p, None));
    let (ev, before) = wait_for(&plane, |e| matches!(e, MediaEvent::RtpTimeout { .. }));
    assert_eq!(ev, MediaEvent::RtpTimeout { call: 8 });
    assert!(before.is_empty());
    assert!(t0.elapsed() >= Duration::from_millis(900));
    plane.shutdown();
}

#[test]
fn send_dtmf_over_rfc4733() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let p = peer();
    open(&plane, 9);
    plane.set_remote(9, remote(&p, Some(101)));
    plane.send_dtmf(9, "1#".into());
    let got = recv_n(&p, 16);
    let (ev, _) = wait_for(&plane, |e| {
        matches!(e, MediaEvent::SendDtmfCompleted { .. })
    });
    assert_eq!(
        ev,
        MediaEvent::SendDtmfCompleted {
            call: 9,
            error: None
        }
    );
    for w in got.windows(2) {
        assert_eq!(w[1].header.sequence, w[0].header.sequence.wrapping_add(1));
    }
    for (k, digit) in got.chunks(8).zip([1u8, 11]) {
        let ts = k[0].header.timestamp;
        for (i, g) in k.iter().enumerate() {
            assert_eq!(g.header.payload_type, 101);
            assert_eq!(g.header.timestamp, ts, "one timestamp per event");
            assert_eq!(g.header.marker, i == 0);
            let e = TelephoneEvent::parse(&g.payload).expect("event");
            assert_eq!(e.event, digit);
            assert_eq!(e.end, i >= 5);
            assert_eq!(e.duration as usize, 160 * (i + 1).min(5));
        }
    }
    assert_eq!(
        got[8]
            .header
            .timestamp
            .wrapping_sub(got[0].header.timestamp),
        1600,
        "10 packet times per key"
    );
    // An invalid key fails the send.
    plane.send_dtmf(9, "1x".into());
    let (ev, _) = wait_for(&plane, |e| {
        matches!(e, MediaEvent::SendDtmfCompleted { .. })
    });
    assert!(matches!(
        ev,
        MediaEvent::SendDtmfCompleted { error: Some(_), .. }
    ));
    plane.shutdown();
}

struct FirstNonSilence(bool);

impl InbandDetector for FirstNonSilence {
    fn rx(&mut self, samples: &[i16], digit: &mut dyn FnMut(char)) {
        if !self.0 && samples.iter().any(|&s| s != 0) {
            self.0 = true;
            digit('7');
        }
    }
}

#[test]
fn inband_hook_and_info_digits_end_actions() {
    let dir = tempfile::tempdir().expect("tmp");
    let factory: InbandFactory = Arc::new(|| Box::new(FirstNonSilence(false)));
    let plane = start_plane(dir.path(), 0, Some(factory));
    pcm16_wav(&dir.path().join("long.wav"), &vec![3000i16; 8000 * 20]);
    let p = peer();
    let local = open(&plane, 10);
    plane.set_remote(10, remote(&p, None));
    play(&plane, 10, "long.wav", 0, "7");
    recv_rtp(&p);
    send_frames(&p, local, &[pattern(160, 3)], 3);
    let (ev, before) = wait_for(&plane, |e| matches!(e, MediaEvent::PlayCompleted { .. }));
    assert!(matches!(
        ev,
        MediaEvent::PlayCompleted {
            finish_key: Some('7'),
            error: None,
            ..
        }
    ));
    assert!(before.contains(&MediaEvent::Digit {
        call: 10,
        digit: '7',
        source: DigitSource::Inband
    }));
    let path = plane
        .record(
            10,
            RecordSpec {
                path: "i.wav".into(),
                format: Encoding::Pcm8,
                max_seconds: 0,
                finish_keys: "*".into(),
                beep: false,
            },
        )
        .expect("record");
    plane.info_digit(10, '*');
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::RecordCompleted { .. }));
    assert!(matches!(
        ev,
        MediaEvent::RecordCompleted {
            error: None,
            finish_key: Some('*'),
            ..
        }
    ));
    let r = hound::WavReader::open(&path).expect("valid 8-bit wav");
    assert_eq!(r.spec().bits_per_sample, 8);
    plane.shutdown();
}

#[test]
fn shutdown_finalizes_active_recordings() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let events = plane.events().clone();
    let p = peer();
    let local = open(&plane, 11);
    plane.set_remote(11, remote(&p, None));
    let path = record(&plane, 11, "s.wav", Encoding::G711(Codec::Pcmu), 0, false);
    let frames: Vec<Vec<u8>> = (0..5).map(|i| pattern(160, i + 90)).collect();
    send_frames(&p, local, &frames, 10);
    plane.shutdown();
    let all: Vec<MediaEvent> = events.iter().collect();
    assert!(
        all.iter().any(
            |e| matches!(e, MediaEvent::RecordCompleted { error: Some(e), .. } if e == "shutdown")
        ),
        "{all:?}"
    );
    assert!(matches!(
        all.last(),
        Some(MediaEvent::Closed { call: 11, .. })
    ));
    let audio = Audio::from_wav(&std::fs::read(&path).expect("read")).expect("valid");
    assert_eq!(
        voiced_frames(audio.encoded().expect("µ-law").1, 0xFF),
        frames.concat()
    );
}

#[test]
fn tts_runs_the_configured_command_and_is_refused_without_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    let p = peer();
    open(&plane, 12);
    plane.set_remote(12, remote(&p, None));
    let req = PlaySpec {
        steps: vec![PlayStep::Tts("你好".into())],
        finish_keys: String::new(),
        repeat: 0,
    };
    assert!(matches!(
        plane.play(12, req.clone()),
        Err(Refusal::File { ref reason, .. }) if reason.contains("media.tts_command")
    ));
    plane.shutdown();

    let bytes = pattern(320, 5);
    let src = dir.path().join("tts.wav");
    ulaw_wav(&src, &bytes);
    let plane = TestPlane::new(
        MediaPlane::start(PlaneConfig {
            workers: 1,
            media_root: dir.path().to_path_buf(),
            tts_command: Some(format!(
                "test \"$MEDIAGW_TTS_TEXT\" = 你好 && cp '{}' \"$MEDIAGW_TTS_OUT\"",
                src.display()
            )),
            worker: WorkerConfig {
                pin_cores: false,
                ..Default::default()
            },
            ..Default::default()
        })
        .expect("plane"),
    );
    open(&plane, 13);
    plane.set_remote(13, remote(&p, None));
    plane.play(13, req).expect("tts play");
    let got = recv_n(&p, 2);
    let all: Vec<u8> = got.iter().flat_map(|g| g.payload.clone()).collect();
    assert_eq!(all, bytes);
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::PlayCompleted { .. }));
    assert!(matches!(
        ev,
        MediaEvent::PlayCompleted {
            call: 13,
            error: None,
            ..
        }
    ));
    plane.shutdown();
}

/// µ-law frames of `ms` milliseconds of `digit`'s tone pair at the generator's level.
fn tone_frames(digit: char, ms: u32) -> Vec<Vec<u8>> {
    let mut g = crate::dtmf::ToneGenerator::new(digit, ms, 0).expect("digit");
    (0..ms / 20)
        .map(|_| {
            let mut pcm = [0i16; 160];
            g.tx(&mut pcm);
            let mut f = vec![0u8; 160];
            crate::codec::encode_ulaw(&pcm, &mut f);
            f
        })
        .collect()
}

#[test]
fn lost_packets_inside_a_tone_do_not_split_the_digit() {
    let dir = tempfile::tempdir().expect("tmp");
    let factory: InbandFactory = Arc::new(|| Box::new(crate::dtmf::Detector::new()));
    let plane = start_plane(dir.path(), 0, Some(factory));
    let p = peer();
    let local = open(&plane, 12);
    plane.set_remote(12, remote(&p, None));
    let silence = vec![0xFFu8; 160];
    // 200 ms of '5' with packets 4 and 5 lost (a 40 ms hole, longer than the detector's
    // release time), 200 ms of silence, 100 ms of '5' again, then silence.
    let mut frames: Vec<Option<Vec<u8>>> = tone_frames('5', 200).into_iter().map(Some).collect();
    frames[4] = None;
    frames[5] = None;
    frames.extend(std::iter::repeat_n(Some(silence.clone()), 10));
    frames.extend(tone_frames('5', 100).into_iter().map(Some));
    frames.extend(std::iter::repeat_n(Some(silence), 15));
    let start = Instant::now();
    for (i, f) in frames.iter().enumerate() {
        let due = start + Duration::from_millis(20 * i as u64);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        if let Some(f) = f {
            send_rtp(&p, local, 0, 700 + i as u16, 160 * i as u32, i == 0, f);
        }
    }
    plane.info_digit(12, '#');
    let (_, before) = wait_for(&plane, |e| {
        matches!(e, MediaEvent::Digit { digit: '#', .. })
    });
    let fives = before
        .iter()
        .filter(|e| {
            matches!(
                e,
                MediaEvent::Digit {
                    digit: '5',
                    source: DigitSource::Inband,
                    ..
                }
            )
        })
        .count();
    assert_eq!(fives, 2, "one digit per tone, the hole bridged: {before:?}");
    plane.shutdown();
}

#[test]
fn the_far_ends_reception_report_about_our_stream_is_in_the_closing_figures() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    ulaw_wav(&dir.path().join("r.wav"), &pattern(800, 3));
    let p = peer();
    let local = open(&plane, 12);
    plane.set_remote(12, remote(&p, None));
    play(&plane, 12, "r.wav", 0, "");
    let ours = recv_rtp(&p).header.ssrc;
    // An RR from the far end: a block about another source, then one about ours.
    let mut buf = [0u8; 256];
    let mut w = crate::rtp::RtcpWriter::new(&mut buf);
    let block = |ssrc, lost, jitter| crate::rtp::ReportBlock {
        ssrc,
        cumulative_lost: lost,
        jitter,
        ..Default::default()
    };
    w.receiver_report(0x1234, &[block(ours ^ 1, 99, 999), block(ours, 7, 80)])
        .expect("rr");
    let n = w.finish();
    let rtcp = SocketAddr::new(local.ip(), local.port() + 1);
    p.send_to(&buf[..n], rtcp).expect("send rr");
    wait_for(&plane, |e| matches!(e, MediaEvent::PlayCompleted { .. }));
    plane.close_call(12);
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::Closed { .. }));
    let MediaEvent::Closed { stats, .. } = ev else {
        unreachable!()
    };
    assert_eq!(stats.remote_lost, Some(7), "{stats:?}");
    assert_eq!(stats.remote_jitter_ms, Some(10), "80 samples at 8 kHz");
    assert_eq!(stats.rtt_ms, None, "no LSR: no round trip");
    assert!(stats.packets_out >= 5, "{stats:?}");
    plane.shutdown();
}

#[test]
fn closing_a_call_that_is_not_there_still_reports_closed() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = start_plane(dir.path(), 0, None);
    plane.close_call(99);
    let (ev, _) = wait_for(&plane, |e| matches!(e, MediaEvent::Closed { .. }));
    assert_eq!(
        ev,
        MediaEvent::Closed {
            call: 99,
            stats: Default::default()
        }
    );
    plane.shutdown();
}
