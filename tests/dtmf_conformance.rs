//! DTMF receiver conformance (ITU-T Q.24 / Bellcore GR-506 style): for each condition, all
//! 16 digits are sent several times with random phases and random positions relative to the
//! detector's blocks, and a table of sent / detected / missed / false digits is printed
//! (run with `--nocapture` to see it). Must-accept conditions must be detected 100 %,
//! must-reject conditions 0 %, and talk-off material must give no digit at all. The SIMD
//! detector bank must give the same events and the same block energies as the scalar path.

use mediagw_testkit::signals;

use mediagw::dtmf::{BlockStats, Detector, DetectorBank, DtmfEvent, Kernel, LANES};
use signals::{ALL_DIGITS, Dtmf, Mark, Signal, mean_square, power_dbm0};

/// Repetitions of the 16 digits per condition.
const REPS: usize = 4;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    /// Every tone must be detected once, nothing else.
    Accept,
    /// No tone may be detected, nothing else either.
    Reject,
    /// Material without DTMF: no digit at all.
    TalkOff,
}

struct Condition {
    name: String,
    expect: Expect,
    samples: Vec<i16>,
    marks: Vec<Mark>,
}

#[derive(Debug)]
struct Outcome {
    sent: usize,
    detected: usize,
    missed: usize,
    false_digits: usize,
}

/// A detected digit: (digit, start, end).
type Found = (char, u64, u64);

fn detect(samples: &[i16]) -> Vec<Found> {
    let mut det = Detector::new();
    let mut events = Vec::new();
    for frame in samples.chunks(160) {
        det.rx(frame, |e| events.push(e));
    }
    det.finish(|e| events.push(e));
    pair_events(&events)
}

/// Turns the on/off event stream into digits, checking that every validation event is
/// followed by exactly one matching end event.
fn pair_events(events: &[DtmfEvent]) -> Vec<Found> {
    let mut out = Vec::new();
    let mut open: Option<DtmfEvent> = None;
    for e in events {
        match (e.end, open) {
            (None, None) => open = Some(*e),
            (Some(end), Some(o)) => {
                assert_eq!(
                    (o.digit, o.start_sample),
                    (e.digit, e.start_sample),
                    "{events:?}"
                );
                assert!(end > e.start_sample);
                out.push((e.digit, e.start_sample, end));
                open = None;
            }
            _ => panic!("unpaired DTMF events: {events:?}"),
        }
    }
    assert!(open.is_none(), "digit never ended: {events:?}");
    out
}

/// Matches detected digits to the marks: a detection matches an unmatched mark of the same
/// digit that it overlaps; everything else is a false digit.
fn score(marks: &[Mark], found: &[Found]) -> Outcome {
    let mut matched = vec![false; marks.len()];
    let mut false_digits = 0;
    for &(digit, start, end) in found {
        let hit = marks.iter().enumerate().position(|(i, m)| {
            !matched[i] && m.digit == digit && (m.start as u64) < end && start < m.end as u64
        });
        match hit {
            Some(i) => matched[i] = true,
            None => false_digits += 1,
        }
    }
    let detected = matched.iter().filter(|&&m| m).count();
    Outcome {
        sent: marks.len(),
        detected,
        missed: marks.len() - detected,
        false_digits,
    }
}

/// All 16 digits `REPS` times in random order-independent sequence, random gaps.
fn tones(name: &str, expect: Expect, seed: u64, make: impl Fn(char) -> Dtmf) -> Condition {
    tones_with(name, expect, seed, make, |_| {})
}

fn tones_with(
    name: &str,
    expect: Expect,
    seed: u64,
    make: impl Fn(char) -> Dtmf,
    post: impl Fn(&mut Signal),
) -> Condition {
    let mut s = Signal::new(seed);
    s.random_silence(50.0, 100.0);
    for _ in 0..REPS {
        for d in ALL_DIGITS {
            s.tone(&make(d));
            s.random_silence(60.0, 110.0);
        }
    }
    post(&mut s);
    Condition {
        name: name.to_string(),
        expect,
        samples: s.to_i16(),
        marks: s.marks.clone(),
    }
}

/// Tone pairs separated by a short gap: `pause_ms` must separate them into two digits,
/// while an interruption must be bridged into one digit (then the second mark is dropped).
fn pairs(name: &str, seed: u64, tone_ms: f64, gap_ms: f64, bridge: bool) -> Condition {
    let mut s = Signal::new(seed);
    s.random_silence(50.0, 100.0);
    let mut marks = Vec::new();
    for rep in 0..REPS {
        for (i, d) in ALL_DIGITS.into_iter().enumerate() {
            // Alternate: same digit twice, then this digit followed by the next one.
            let second = if (i + rep) % 2 == 0 {
                d
            } else {
                ALL_DIGITS[(i + 5) % 16]
            };
            let second = if bridge { d } else { second };
            let t = Dtmf::new(d).duration(tone_ms);
            s.tone(&t);
            s.silence(gap_ms);
            s.tone(&Dtmf::new(second).duration(tone_ms));
            let n = s.marks.len();
            if bridge {
                marks.push(Mark {
                    digit: d,
                    start: s.marks[n - 2].start,
                    end: s.marks[n - 1].end,
                });
            } else {
                marks.extend_from_slice(&s.marks[n - 2..]);
            }
            s.random_silence(60.0, 110.0);
        }
    }
    Condition {
        name: name.to_string(),
        expect: Expect::Accept,
        samples: s.to_i16(),
        marks,
    }
}

fn talk_off(name: &str, material: Vec<f64>) -> Condition {
    Condition {
        name: name.to_string(),
        expect: Expect::TalkOff,
        samples: signals::quantize(&material),
        marks: Vec::new(),
    }
}

/// Each DTMF frequency alone for 200 ms, at -6 dBm0, with ±1.5 % deviation too.
fn single_tones() -> Vec<f64> {
    let mut out = Vec::new();
    for f in [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0] {
        for dev in [-0.015, 0.0, 0.015] {
            out.extend(sines(&[(f * (1.0 + dev), -6.0)], 200.0));
            out.extend(sines(&[], 100.0));
        }
    }
    out
}

/// North American call-progress tones and the SIT sequence (whose 913.8 and 1370.6 Hz
/// segments sit near 941 and 1336 Hz, one at a time).
fn call_progress() -> Vec<f64> {
    let mut out = Vec::new();
    for _ in 0..3 {
        out.extend(sines(&[(350.0, -13.0), (440.0, -13.0)], 2000.0)); // dial
        out.extend(sines(&[(440.0, -19.0), (480.0, -19.0)], 2000.0)); // ringback
        out.extend(sines(&[], 4000.0 / 4.0));
        for _ in 0..4 {
            out.extend(sines(&[(480.0, -24.0), (620.0, -24.0)], 500.0)); // busy
            out.extend(sines(&[], 500.0));
        }
        for (f, ms) in [(913.8, 274.0), (1370.6, 274.0), (1776.7, 380.0)] {
            out.extend(sines(&[(f, -24.0)], ms)); // SIT
        }
        out.extend(sines(&[], 500.0));
    }
    out
}

/// Sum of sines (frequency, dBm0) for `ms`; silence when empty.
fn sines(tones: &[(f64, f64)], ms: f64) -> Vec<f64> {
    let n = Signal::ms(ms);
    (0..n)
        .map(|i| {
            let t = i as f64 / signals::FS;
            tones
                .iter()
                .map(|&(f, l)| {
                    signals::dbm0_amplitude(l) * (2.0 * std::f64::consts::PI * f * t).sin()
                })
                .sum()
        })
        .collect()
}

/// Mandarin text for espeak-ng: long enough for well over a minute of speech.
const MANDARIN: &str = "欢迎致电客户服务中心。查询话费请按一，办理业务请按二，人工服务请按零。\
    您好，今天天气晴朗，气温二十三度，东南风三到四级，空气质量良好，适合户外活动。\
    请在听到提示音后说出您的姓名和电话号码，我们会尽快给您回电。感谢您的耐心等待。\
    北京时间上午九点整，现在播报新闻。国家统计局今天发布数据，前三季度国内生产总值同比增长百分之五。\
    铁路部门提醒旅客，春运期间请提前购票，并携带有效身份证件，按时到达车站检票乘车。\
    一二三四五六七八九十，百千万亿，零点五，三分之一，百分之九十九。\
    我们的会议将在下周三下午两点半在三楼大会议室举行，请各位准时参加，并提前准备好相关材料。\
    山不在高，有仙则名。水不在深，有龙则灵。斯是陋室，惟吾德馨。苔痕上阶绿，草色入帘青。\
    谈笑有鸿儒，往来无白丁。可以调素琴，阅金经。无丝竹之乱耳，无案牍之劳形。";

fn conditions() -> Vec<Condition> {
    use Expect::*;
    let mut c = Vec::new();
    let mut seed = 1000;
    let mut next = || {
        seed += 1;
        seed
    };
    c.push(tones("nominal -10 dBm0, 60 ms", Accept, next(), Dtmf::new));
    for (l, h) in [(1.5, 1.5), (-1.5, -1.5), (1.5, -1.5), (-1.5, 1.5)] {
        let name = format!("deviation row {l:+}% col {h:+}%");
        c.push(tones(&name, Accept, next(), |d| {
            Dtmf::new(d).deviation(l / 100.0, h / 100.0)
        }));
    }
    for (l, h) in [(3.5, 0.0), (-3.5, 0.0), (0.0, 3.5), (0.0, -3.5)] {
        let name = format!("deviation row {l:+}% col {h:+}%");
        c.push(tones(&name, Reject, next(), |d| {
            Dtmf::new(d).deviation(l / 100.0, h / 100.0)
        }));
    }
    for (tw, expect) in [
        (8.0, Accept),
        (-4.0, Accept),
        (10.0, Reject),
        (-6.0, Reject),
    ] {
        let kind = if tw > 0.0 { "normal" } else { "reverse" };
        let name = format!("twist {kind} {:.0} dB", f64::abs(tw));
        c.push(tones(&name, expect, next(), |d| {
            // The stronger tone at -6 dBm0.
            let strong = -6.0;
            if tw > 0.0 {
                Dtmf::new(d).level(strong).twist(tw)
            } else {
                Dtmf::new(d).level(strong + tw).twist(tw)
            }
        }));
    }
    for lvl in [0.0, -5.0, -10.0, -20.0, -25.0, -30.0, -36.0] {
        let name = format!("level {lvl} dBm0 per tone");
        c.push(tones(&name, Accept, next(), |d| Dtmf::new(d).level(lvl)));
    }
    c.push(tones("level -46 dBm0 per tone", Reject, next(), |d| {
        Dtmf::new(d).level(-46.0)
    }));
    c.push(tones("duration 40 ms", Accept, next(), |d| {
        Dtmf::new(d).duration(40.0)
    }));
    c.push(tones("duration 23 ms", Reject, next(), |d| {
        Dtmf::new(d).duration(23.0)
    }));
    c.push(tones("duration 20 ms", Reject, next(), |d| {
        Dtmf::new(d).duration(20.0)
    }));
    c.push(pairs(
        "40 ms on / 40 ms pause / 40 ms on",
        next(),
        40.0,
        40.0,
        false,
    ));
    c.push(pairs(
        "interruption 10 ms (one digit)",
        next(),
        60.0,
        10.0,
        true,
    ));
    // SNR 15 dB relative to the composite (two-tone) power, tones at -20 dBm0 each.
    let snr = 15.0;
    let noise = Dtmf::new('1').level(-20.0).composite_dbm0() - snr;
    c.push(tones_with(
        &format!("white noise SNR {snr} dB"),
        Accept,
        next(),
        |d| Dtmf::new(d).level(-20.0),
        |s| {
            s.add_white_noise(noise);
        },
    ));
    c.push(tones_with(
        &format!("pink noise SNR {snr} dB"),
        Accept,
        next(),
        |d| Dtmf::new(d).level(-20.0),
        |s| {
            s.add_pink_noise(noise);
        },
    ));
    c.push(talk_off(
        "single tones 697..1633 Hz, -6 dBm0",
        single_tones(),
    ));
    c.push(talk_off(
        "call progress: dial/ringback/busy/SIT",
        call_progress(),
    ));
    c.push(talk_off(
        "talk-off: speech-like 60 s",
        signals::speech_like(next(), 60.0),
    ));
    c.push(talk_off(
        "talk-off: music-like 60 s",
        signals::music_like(next(), 60.0),
    ));
    c
}

fn espeak_condition() -> Option<Condition> {
    match signals::espeak_speech(MANDARIN, "conformance") {
        Ok(samples) => Some(Condition {
            name: format!(
                "talk-off: espeak-ng cmn {:.0} s",
                samples.len() as f64 / signals::FS
            ),
            expect: Expect::TalkOff,
            samples,
            marks: Vec::new(),
        }),
        Err(why) => {
            println!("NOTICE: espeak-ng talk-off part skipped: {why}");
            None
        }
    }
}

#[test]
fn dtmf_conformance_table() {
    let mut all = conditions();
    all.extend(espeak_condition());
    let mut failures = Vec::new();
    println!();
    println!(
        "{:<40} {:>8} {:>6} {:>9} {:>7} {:>6}",
        "condition", "expect", "sent", "detected", "missed", "false"
    );
    for c in &all {
        let found = detect(&c.samples);
        let o = score(&c.marks, &found);
        let expect = match c.expect {
            Expect::Accept => "accept",
            Expect::Reject => "reject",
            Expect::TalkOff => "none",
        };
        let extra = if c.expect == Expect::TalkOff {
            let ms = mean_square(&c.samples.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
            format!(
                "  ({:.0} s, {:.1} dBm0 mean)",
                c.samples.len() as f64 / signals::FS,
                power_dbm0(ms)
            )
        } else {
            String::new()
        };
        println!(
            "{:<40} {:>8} {:>6} {:>9} {:>7} {:>6}{extra}",
            c.name, expect, o.sent, o.detected, o.missed, o.false_digits
        );
        let ok = match c.expect {
            Expect::Accept => o.detected == o.sent && o.false_digits == 0,
            Expect::Reject | Expect::TalkOff => o.detected == 0 && o.false_digits == 0,
        };
        if !ok {
            failures.push(format!("{}: {o:?}", c.name));
        }
    }
    assert!(failures.is_empty(), "failed conditions: {failures:#?}");
}

/// Runs `lanes` signals through a bank with the given kernel, 160 samples per frame, and
/// returns per lane the events and the block statistics after every block.
fn run_bank(kernel: Kernel, lanes: &[Vec<i16>]) -> (Vec<Vec<DtmfEvent>>, Vec<Vec<BlockStats>>) {
    let mut bank = DetectorBank::with_kernel(kernel).expect("kernel available");
    let len = lanes.iter().map(Vec::len).max().unwrap_or(0);
    let padded: Vec<Vec<i16>> = (0..LANES)
        .map(|l| {
            let mut v = lanes.get(l).cloned().unwrap_or_default();
            v.resize(len, 0);
            v
        })
        .collect();
    let mut events = vec![Vec::new(); LANES];
    let mut stats = vec![Vec::new(); LANES];
    let mut pos = 0;
    // Uneven chunk sizes exercise the block bookkeeping; none is longer than a block, so
    // every block's statistics are seen.
    let sizes = [64usize, 37, 1, 63, 50, 64, 27];
    let mut i = 0;
    while pos < len {
        let n = sizes[i % sizes.len()].min(len - pos);
        i += 1;
        let frames: [&[i16]; LANES] = std::array::from_fn(|l| &padded[l][pos..pos + n]);
        let before = bank.blocks_done();
        bank.rx(&frames, |lane, e| events[lane].push(e))
            .expect("equal frame lengths");
        if bank.blocks_done() != before {
            for (l, s) in stats.iter_mut().enumerate() {
                s.push(*bank.last_block(l));
            }
        }
        pos += n;
    }
    bank.finish(|lane, e| events[lane].push(e));
    (events, stats)
}

fn bits(s: &BlockStats) -> Vec<u32> {
    let mut v: Vec<u32> =
        s.y.iter()
            .flat_map(|c| [c[0].to_bits(), c[1].to_bits()])
            .collect();
    v.extend(s.tone_power.iter().map(|p| p.to_bits()));
    v.push(s.total_power.to_bits());
    v
}

#[test]
fn simd_bank_matches_scalar_on_conformance_signals() {
    let all = conditions();
    let avx2 = DetectorBank::with_kernel(Kernel::Avx2).is_ok();
    if !avx2 {
        println!("NOTICE: AVX2 not available; comparing the scalar bank with Detector only");
    }
    for group in all.chunks(LANES) {
        let lanes: Vec<Vec<i16>> = group.iter().map(|c| c.samples.clone()).collect();
        let (ev_s, st_s) = run_bank(Kernel::Scalar, &lanes);
        if avx2 {
            let (ev_v, st_v) = run_bank(Kernel::Avx2, &lanes);
            assert_eq!(ev_s, ev_v, "events differ between scalar and AVX2");
            for (l, (a, b)) in st_s.iter().zip(&st_v).enumerate() {
                assert_eq!(a.len(), b.len());
                for (k, (x, y)) in a.iter().zip(b).enumerate() {
                    assert_eq!(bits(x), bits(y), "lane {l} block {k}: {x:?} vs {y:?}");
                }
            }
        }
        // Each lane must also match a stand-alone Detector fed the same padded signal.
        let len = lanes.iter().map(Vec::len).max().unwrap_or(0);
        for (l, sig) in lanes.iter().enumerate() {
            let mut padded = sig.clone();
            padded.resize(len, 0);
            let mut det = Detector::new();
            let mut ev = Vec::new();
            for frame in padded.chunks(160) {
                det.rx(frame, |e| ev.push(e));
            }
            det.finish(|e| ev.push(e));
            assert_eq!(ev, ev_s[l], "lane {l}: bank differs from Detector");
            assert_eq!(
                pair_events(&ev).len(),
                detect(sig).len(),
                "padding changed the digits of lane {l}"
            );
        }
    }
}
