//! `media.inband_with_telephone_event`: in-band detection also on a call that negotiated
//! telephone-event, a press that comes both ways reported once; off by default.

use super::*;

fn plane_with(dir: &Path, on: bool, bank: bool) -> TestPlane {
    let inband: Option<InbandFactory> = if bank {
        None
    } else {
        Some(Arc::new(|| Box::new(crate::dtmf::Detector::new())))
    };
    TestPlane::new(
        MediaPlane::start(PlaneConfig {
            workers: 1,
            media_root: dir.to_path_buf(),
            record_root: dir.join("rec"),
            worker: WorkerConfig {
                pin_cores: false,
                ..Default::default()
            },
            inband,
            inband_bank: bank,
            inband_with_telephone_event: on,
            ..Default::default()
        })
        .expect("plane"),
    )
}

/// What the far end sends in one packet time: audio, or audio with a telephone-event
/// packet (code, end) for the event that started at frame `start`.
enum Tx {
    Audio(Vec<u8>),
    With(Vec<u8>, (u8, bool, usize)),
    Event(u8, bool, usize),
}

/// Sends `items` paced at 20 ms as one stream (one sequence space for audio and
/// events, the audio clock moving 160 per packet time).
fn send_stream(p: &UdpSocket, to: SocketAddr, items: &[Tx]) {
    let start = Instant::now();
    let mut seq = 1000u16;
    let next = |s: &mut u16| {
        *s = s.wrapping_add(1);
        *s
    };
    for (i, item) in items.iter().enumerate() {
        let due = start + Duration::from_millis(20 * i as u64);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let ts = 160 * i as u32;
        let event = |code: u8, end: bool, from: usize, seq: u16| {
            let ts0 = 160 * from as u32;
            let dur = (ts - ts0 + 160) as u16;
            send_event(p, to, (seq, ts0, i == from), (code, end, dur));
        };
        match item {
            Tx::Audio(f) => send_rtp(p, to, 0, next(&mut seq), ts, false, f),
            Tx::With(f, (code, end, from)) => {
                event(*code, *end, *from, next(&mut seq));
                send_rtp(p, to, 0, next(&mut seq), ts, false, f);
            }
            Tx::Event(code, end, from) => event(*code, *end, *from, next(&mut seq)),
        }
    }
}

/// '4' as events and tones together, '7' as tones only, '9' as events only; the digits
/// reported (with their source) up to an INFO '#' sent last.
fn presses(plane: &TestPlane, call: CallId) -> Vec<(char, DigitSource)> {
    let p = peer();
    let local = open(plane, call);
    plane.set_remote(call, remote(&p, Some(101)));
    let quiet = || Tx::Audio(vec![0xFF; 160]);
    let mut items: Vec<Tx> = (0..5).map(|_| quiet()).collect();
    let at = items.len();
    for (k, f) in tone_frames('4', 100).into_iter().enumerate() {
        items.push(Tx::With(f, (4, k == 4, at)));
    }
    for _ in 0..10 {
        items.push(quiet());
    }
    items.extend(tone_frames('7', 100).into_iter().map(Tx::Audio));
    for _ in 0..10 {
        items.push(quiet());
    }
    let at = items.len();
    for k in 0..5 {
        items.push(Tx::Event(9, k == 4, at));
    }
    for _ in 0..10 {
        items.push(quiet());
    }
    send_stream(&p, local, &items);
    plane.info_digit(call, '#');
    let (_, before) = wait_for(plane, |e| matches!(e, MediaEvent::Digit { digit: '#', .. }));
    before
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Digit { digit, source, .. } => Some((digit, source)),
            _ => None,
        })
        .collect()
}

fn both_sources_once(bank: bool) {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = plane_with(dir.path(), true, bank);
    let got = presses(&plane, 1);
    let digits: String = got.iter().map(|d| d.0).collect();
    assert_eq!(digits, "479", "each press once: {got:?}");
    assert_eq!(got[1], ('7', DigitSource::Inband));
    assert_eq!(got[2], ('9', DigitSource::Rfc4733));
    plane.shutdown();
}

#[test]
fn tones_on_a_telephone_event_call_are_heard_once_with_a_detector_per_call() {
    both_sources_once(false);
}

#[test]
fn tones_on_a_telephone_event_call_are_heard_once_with_the_detector_banks() {
    both_sources_once(true);
}

#[test]
fn by_default_tones_on_a_telephone_event_call_are_not_listened_for() {
    let dir = tempfile::tempdir().expect("tmp");
    let plane = plane_with(dir.path(), false, true);
    let got = presses(&plane, 2);
    assert_eq!(
        got,
        vec![('4', DigitSource::Rfc4733), ('9', DigitSource::Rfc4733)]
    );
    plane.shutdown();
}
