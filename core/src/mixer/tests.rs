//! Tests of the N-1 mixer: hand-computed cases, an independent reference (per-listener
//! re-sum of the others in i64, saturated at the end), and scalar == AVX2 on many signals.

use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Every kernel this CPU can run.
fn kernels() -> Vec<Kernel> {
    let mut k = vec![Kernel::Scalar];
    if Kernel::detect() == Kernel::Avx2 {
        k.push(Kernel::Avx2);
    }
    k
}

fn mixer(kernel: Kernel) -> Mixer {
    Mixer::with_kernel(kernel).expect("kernel available")
}

fn constant(v: i16) -> [i16; FRAME] {
    [v; FRAME]
}

fn own(m: &Mixer, id: MemberId) -> [i16; FRAME] {
    match m.output(id) {
        Some(Output::Own(f)) => *f,
        other => panic!("expected an own frame, got {other:?}"),
    }
}

fn shared(m: &Mixer, id: MemberId) -> [i16; FRAME] {
    match m.output(id) {
        Some(Output::Shared(f)) => {
            assert!(
                std::ptr::eq(f, m.shared()),
                "Shared is the mixer's shared frame"
            );
            *f
        }
        other => panic!("expected the shared frame, got {other:?}"),
    }
}

/// One member as the reference sees it.
#[derive(Clone, Debug)]
struct Spec {
    mode: VoiceMode,
    volume: i32,
    out_volume: i32,
    /// This tick's frame, if any.
    frame: Option<[i16; FRAME]>,
}

impl Spec {
    fn contributes(&self) -> bool {
        self.mode.talks() && self.frame.is_some()
    }
}

/// What member `l` must hear, computed from the spec directly: for every sample, the sum
/// over the *other* contributors of `round(x·g/4096)`, in i64, scaled by the output gain
/// and saturated once. Also whether it is the shared frame.
fn reference(specs: &[Spec], l: usize) -> Option<(bool, [i16; FRAME])> {
    let me = &specs[l];
    if !me.mode.listens() {
        return None;
    }
    let mut y = [0i16; FRAME];
    for (i, out) in y.iter_mut().enumerate() {
        let mut d: i64 = 0;
        for (c, s) in specs.iter().enumerate() {
            if c == l || !s.contributes() {
                continue;
            }
            let x = i64::from(s.frame.as_ref().unwrap()[i]);
            let g = i64::from(gain_q12(s.volume).unwrap());
            d += (x * g + 2048) >> 12;
        }
        let og = i64::from(gain_q12(me.out_volume).unwrap());
        *out = ((d * og + 2048) >> 12).clamp(-32768, 32767) as i16;
    }
    Some((!me.contributes() && me.out_volume == 0, y))
}

/// The full-sum frame (what a recorder gets), from the spec.
fn reference_shared(specs: &[Spec]) -> [i16; FRAME] {
    std::array::from_fn(|i| {
        let s: i64 = specs
            .iter()
            .filter(|s| s.contributes())
            .map(|s| {
                let g = i64::from(gain_q12(s.volume).unwrap());
                (i64::from(s.frame.as_ref().unwrap()[i]) * g + 2048) >> 12
            })
            .sum();
        s.clamp(-32768, 32767) as i16
    })
}

/// A mixer holding `specs` as members (ids in spec order).
fn build(kernel: Kernel, specs: &[Spec]) -> (Mixer, Vec<MemberId>) {
    let mut m = mixer(kernel);
    let ids: Vec<MemberId> = specs
        .iter()
        .map(|s| {
            let id = m.add(s.mode, s.volume).unwrap();
            m.set_output_volume(id, s.out_volume).unwrap();
            id
        })
        .collect();
    (m, ids)
}

/// Gives the mixer this tick's frames and mixes.
fn tick(m: &mut Mixer, ids: &[MemberId], specs: &[Spec]) {
    for (id, s) in ids.iter().zip(specs) {
        if let Some(f) = &s.frame {
            m.put(*id, f).unwrap();
        }
    }
    m.mix();
}

/// What every member must hear (by [`reference`]) and the shared frame.
struct Expected {
    shared: [i16; FRAME],
    members: Vec<Option<(bool, [i16; FRAME])>>,
}

fn expected(specs: &[Spec]) -> Expected {
    Expected {
        shared: reference_shared(specs),
        members: (0..specs.len()).map(|l| reference(specs, l)).collect(),
    }
}

/// Checks every member's output and the shared frame against the reference.
fn check(m: &Mixer, ids: &[MemberId], want: &Expected, what: &str) {
    assert_eq!(*m.shared(), want.shared, "{what}: shared frame");
    for (l, id) in ids.iter().enumerate() {
        match (want.members[l], m.output(*id).unwrap()) {
            (None, Output::NotListening) => {}
            (Some((true, want)), Output::Shared(got)) => {
                assert_eq!(*got, want, "{what}: member {l} (shared)");
            }
            (Some((false, want)), Output::Own(got)) => {
                assert_eq!(*got, want, "{what}: member {l} (own)");
            }
            (want, got) => panic!("{what}: member {l}: want {want:?}, got {got:?}"),
        }
    }
}

fn talker(frame: [i16; FRAME]) -> Spec {
    Spec {
        mode: VoiceMode::TalkListen,
        volume: 0,
        out_volume: 0,
        frame: Some(frame),
    }
}

#[test]
fn three_members_each_hear_the_other_two() {
    let a: [i16; FRAME] = std::array::from_fn(|i| (i as i16 * 37) % 1000 - 500);
    let b: [i16; FRAME] = std::array::from_fn(|i| ((i as i16 * 101) % 3000) - 1500);
    let c: [i16; FRAME] = std::array::from_fn(|i| if i % 20 < 10 { 8000 } else { -8000 });
    for k in kernels() {
        let mut m = mixer(k);
        let ids: Vec<MemberId> = (0..3)
            .map(|_| m.add(VoiceMode::TalkListen, 0).unwrap())
            .collect();
        m.put(ids[0], &a).unwrap();
        m.put(ids[1], &b).unwrap();
        m.put(ids[2], &c).unwrap();
        m.mix();
        let sum2 = |p: &[i16; FRAME], q: &[i16; FRAME]| -> [i16; FRAME] {
            std::array::from_fn(|i| p[i] + q[i])
        };
        assert_eq!(own(&m, ids[0]), sum2(&b, &c), "{k:?}: a hears b + c");
        assert_eq!(own(&m, ids[1]), sum2(&a, &c), "{k:?}: b hears a + c");
        assert_eq!(own(&m, ids[2]), sum2(&a, &b), "{k:?}: c hears a + b");
        let all: [i16; FRAME] = std::array::from_fn(|i| a[i] + b[i] + c[i]);
        assert_eq!(*m.shared(), all, "{k:?}: the shared frame is everyone");
        assert_eq!(
            m.last_tick(),
            TickStats {
                talkers: 3,
                own: 3,
                shared: 0
            }
        );
    }
}

#[test]
fn a_clipping_sum_saturates_once_at_the_end() {
    for k in kernels() {
        for sign in [1i16, -1] {
            let mut m = mixer(k);
            let p = m.add(VoiceMode::TalkListen, 0).unwrap();
            let q = m.add(VoiceMode::TalkListen, 0).unwrap();
            let r = m.add(VoiceMode::TalkListen, 0).unwrap();
            let listener = m.add(VoiceMode::Listen, 0).unwrap();
            m.put(p, &constant(30000 * sign)).unwrap();
            m.put(q, &constant(30000 * sign)).unwrap();
            m.put(r, &constant(-30000 * sign)).unwrap();
            m.mix();
            // p and q: the other two sum to exactly 0. Summed with 16-bit saturation
            // first, as Asterisk's softmix does (30000 + 30000 clips to 32767, then
            // -30000 gives 2767), p would hear 2767 - 30000 = -27233.
            assert_eq!(own(&m, p), constant(0), "{k:?} {sign}: p hears q + r");
            assert_eq!(own(&m, q), constant(0), "{k:?} {sign}: q hears p + r");
            // r: 60000 saturates to full scale.
            let full = if sign > 0 { i16::MAX } else { i16::MIN };
            assert_eq!(own(&m, r), constant(full), "{k:?} {sign}: r hears p + q");
            // The listen-only member hears everyone: 30000, exact.
            assert_eq!(shared(&m, listener), constant(30000 * sign), "{k:?} {sign}");

            // A fourth talker at +30000: now the total (60000) clips too, and subtracting
            // from the saturated total would give p 32767 - 30000 = 2767. p, q and s
            // each hear 30000 + 30000 - 30000 exactly.
            let s = m.add(VoiceMode::TalkListen, 0).unwrap();
            for id in [p, q, s] {
                m.put(id, &constant(30000 * sign)).unwrap();
            }
            m.put(r, &constant(-30000 * sign)).unwrap();
            m.mix();
            for id in [p, q, s] {
                assert_eq!(own(&m, id), constant(30000 * sign), "{k:?} {sign}");
            }
            assert_eq!(own(&m, r), constant(full), "{k:?} {sign}: 90000 clips");
            assert_eq!(shared(&m, listener), constant(full), "{k:?} {sign}");
        }
    }
}

#[test]
fn clipping_speech_like_sums_match_the_reference() {
    // Five loud sines at different frequencies: their sums clip on some samples and not
    // others, for some members and not others.
    let specs: Vec<Spec> = (0..5)
        .map(|n| {
            let f = 300.0 + 170.0 * f64::from(n);
            talker(std::array::from_fn(|i| {
                (20000.0 * (2.0 * std::f64::consts::PI * f * i as f64 / 8000.0).sin()) as i16
            }))
        })
        .collect();
    for k in kernels() {
        let (mut m, ids) = build(k, &specs);
        tick(&mut m, &ids, &specs);
        check(&m, &ids, &expected(&specs), &format!("{k:?}"));
        let clipped = m.shared().iter().filter(|&&s| s == 32767 || s == -32768);
        assert!(clipped.count() > 0, "the test signal must clip");
    }
}

#[test]
fn silence_empty_and_single_member() {
    for k in kernels() {
        let mut m = mixer(k);
        m.mix();
        assert_eq!(*m.shared(), constant(0), "{k:?}: empty mixer");
        assert_eq!(m.last_tick(), TickStats::default());

        // One member talking: it hears nobody.
        let solo = m.add(VoiceMode::TalkListen, 0).unwrap();
        m.put(solo, &constant(12345)).unwrap();
        m.mix();
        assert_eq!(own(&m, solo), constant(0), "{k:?}: alone");
        assert_eq!(*m.shared(), constant(12345), "{k:?}: the recording has it");

        // One member, no audio: shared silence.
        m.mix();
        assert_eq!(shared(&m, solo), constant(0), "{k:?}: silent tick");

        // Everyone sending digital silence.
        let others: Vec<MemberId> = (0..4)
            .map(|_| m.add(VoiceMode::TalkListen, 0).unwrap())
            .collect();
        for id in others.iter().chain([&solo]) {
            m.put(*id, &constant(0)).unwrap();
        }
        m.mix();
        for id in others.iter().chain([&solo]) {
            assert_eq!(own(&m, *id), constant(0), "{k:?}: silence");
        }
    }
}

#[test]
fn voice_modes() {
    let x = constant(1000);
    let y = constant(-300);
    for k in kernels() {
        let mut m = mixer(k);
        let both = m.add(VoiceMode::TalkListen, 0).unwrap();
        let talk = m.add(VoiceMode::Talk, 0).unwrap();
        let listen = m.add(VoiceMode::Listen, 0).unwrap();
        let listen2 = m.add(VoiceMode::Listen, 0).unwrap();
        let neither = m.add(VoiceMode::Neither, 0).unwrap();
        let quiet = m.add(VoiceMode::TalkListen, 0).unwrap();
        m.put(both, &x).unwrap();
        m.put(talk, &y).unwrap();
        // Frames of members whose mode does not talk are ignored.
        m.put(listen, &constant(9999)).unwrap();
        m.put(neither, &constant(7777)).unwrap();
        // `quiet` talks but had no audio this tick.
        m.mix();
        assert_eq!(
            own(&m, both),
            y,
            "{k:?}: talk+listen hears the talk-only member"
        );
        assert_eq!(
            m.output(talk),
            Some(Output::NotListening),
            "{k:?}: talk only"
        );
        assert_eq!(
            m.output(neither),
            Some(Output::NotListening),
            "{k:?}: neither"
        );
        let sum = constant(700);
        assert_eq!(
            shared(&m, listen),
            sum,
            "{k:?}: listen only hears both talkers"
        );
        assert_eq!(shared(&m, listen2), sum, "{k:?}");
        assert_eq!(
            shared(&m, quiet),
            sum,
            "{k:?}: a silent talker shares the mix"
        );
        assert_eq!(
            m.last_tick(),
            TickStats {
                talkers: 2,
                own: 1,
                shared: 3
            }
        );

        // The moderator mutes `both`: it now listens only and shares the mix.
        m.set_mode(both, VoiceMode::Listen).unwrap();
        m.put(both, &x).unwrap();
        m.put(talk, &y).unwrap();
        m.mix();
        assert_eq!(
            shared(&m, both),
            y,
            "{k:?}: muted member's frame is not mixed"
        );
        assert_eq!(m.mode(both), Some(VoiceMode::Listen));
    }
    assert_eq!(VoiceMode::from_api(2), Some(VoiceMode::Talk));
    assert_eq!(VoiceMode::from_api(0), None);
    assert_eq!(VoiceMode::from_api(5), None);
    for v in 1..=4 {
        assert_eq!(i64::from(VoiceMode::from_api(v).unwrap().api()), v);
    }
}

#[test]
fn inputs_are_consumed_by_each_mix() {
    for k in kernels() {
        let mut m = mixer(k);
        let a = m.add(VoiceMode::TalkListen, 0).unwrap();
        let b = m.add(VoiceMode::TalkListen, 0).unwrap();
        m.put(a, &constant(500)).unwrap();
        m.put(b, &constant(200)).unwrap();
        m.mix();
        assert_eq!(own(&m, b), constant(500));
        // Next tick only b has audio: a's old frame is not mixed again.
        m.put(b, &constant(200)).unwrap();
        m.mix();
        assert_eq!(shared(&m, a), constant(200), "{k:?}");
        assert_eq!(own(&m, b), constant(0), "{k:?}");
        // A withdrawn frame is not mixed.
        m.put(a, &constant(500)).unwrap();
        m.clear_input(a).unwrap();
        m.mix();
        assert_eq!(shared(&m, b), constant(0), "{k:?}");
        // input_mut writes in place.
        m.input_mut(a).unwrap().fill(-42);
        m.mix();
        assert_eq!(shared(&m, b), constant(-42), "{k:?}");
    }
}

#[test]
fn volume_scales_what_the_others_hear() {
    for k in kernels() {
        let mut m = mixer(k);
        let loud = m.add(VoiceMode::TalkListen, 6).unwrap();
        let soft = m.add(VoiceMode::TalkListen, -20).unwrap();
        let ear = m.add(VoiceMode::Listen, 0).unwrap();
        m.put(loud, &constant(10000)).unwrap();
        m.put(soft, &constant(10000)).unwrap();
        m.mix();
        // +6 dB: 8173/4096; -20 dB: 410/4096, each rounded half up.
        let l = (10000 * 8173 + 2048) >> 12; // 19954
        let s = (10000 * 410 + 2048) >> 12; // 1001
        assert_eq!(l, 19954);
        assert_eq!(s, 1001);
        assert_eq!(
            own(&m, loud),
            constant(s as i16),
            "{k:?}: own volume not heard"
        );
        assert_eq!(own(&m, soft), constant(l as i16), "{k:?}");
        assert_eq!(shared(&m, ear), constant((l + s) as i16), "{k:?}");

        // +20 dB on 20000: a 200000 contribution, kept in 32 bits. The others clip; the
        // loud member itself hears the others exactly (no 16-bit saturation of its own
        // contribution before the subtraction).
        m.set_volume(loud, 20).unwrap();
        m.set_volume(soft, 0).unwrap();
        m.put(loud, &constant(20000)).unwrap();
        m.put(soft, &constant(-1234)).unwrap();
        m.mix();
        assert_eq!(own(&m, loud), constant(-1234), "{k:?}");
        assert_eq!(own(&m, soft), constant(i16::MAX), "{k:?}");
        assert_eq!(shared(&m, ear), constant(i16::MAX), "{k:?}");
        assert_eq!(m.volume(loud), Some(20));
    }
}

#[test]
fn output_volume_scales_what_the_member_hears() {
    for k in kernels() {
        let mut m = mixer(k);
        let a = m.add(VoiceMode::TalkListen, 0).unwrap();
        let b = m.add(VoiceMode::TalkListen, 0).unwrap();
        let quiet_ear = m.add(VoiceMode::Listen, 0).unwrap();
        let plain_ear = m.add(VoiceMode::Listen, 0).unwrap();
        m.set_output_volume(a, -6).unwrap();
        m.set_output_volume(quiet_ear, -20).unwrap();
        m.put(a, &constant(4000)).unwrap();
        m.put(b, &constant(30000)).unwrap();
        m.mix();
        // -6 dB: 2053/4096.
        assert_eq!(
            own(&m, a),
            constant(((30000 * 2053 + 2048) >> 12) as i16),
            "{k:?}"
        );
        assert_eq!(
            own(&m, b),
            constant(4000),
            "{k:?}: b's output is not scaled"
        );
        // The total 34000 clips at 16 bits, but -20 dB of it is 3404: scaled from the
        // 32-bit sum, not from the saturated frame.
        assert_eq!(
            own(&m, quiet_ear),
            constant(((34000 * 410 + 2048) >> 12) as i16),
            "{k:?}: a listener with an output volume gets its own frame"
        );
        assert_eq!(shared(&m, plain_ear), constant(i16::MAX), "{k:?}");
        assert_eq!(m.output_volume(a), Some(-6));

        // +20 dB on a large 32-bit value saturates without overflowing.
        m.set_output_volume(plain_ear, 20).unwrap();
        m.put(a, &constant(-32768)).unwrap();
        m.put(b, &constant(-32768)).unwrap();
        m.mix();
        assert_eq!(own(&m, plain_ear), constant(i16::MIN), "{k:?}");
    }
}

#[test]
fn members_come_and_go_between_ticks() {
    for k in kernels() {
        let mut m = mixer(k);
        let ids: Vec<MemberId> = (0..5)
            .map(|_| m.add(VoiceMode::TalkListen, 0).unwrap())
            .collect();
        for (n, id) in ids.iter().enumerate() {
            m.put(*id, &constant(1 << n)).unwrap();
        }
        m.mix();
        // Removing members keeps the others' outputs of this tick readable and right.
        m.remove(ids[1]).unwrap();
        m.remove(ids[4]).unwrap();
        assert_eq!(own(&m, ids[0]), constant(31 - 1), "{k:?}");
        assert_eq!(own(&m, ids[3]), constant(31 - 8), "{k:?}");
        assert!(!m.contains(ids[1]));
        assert_eq!(m.output(ids[1]), None);
        assert_eq!(m.remove(ids[1]), Err(MixerError::NoSuchMember));
        assert_eq!(m.put(ids[4], &constant(1)), Err(MixerError::NoSuchMember));
        assert!(m.input_mut(ids[4]).is_none());
        assert_eq!(m.len(), 3);

        // A new member reuses a slot; the stale id does not reach it.
        let new = m.add(VoiceMode::TalkListen, 0).unwrap();
        assert_ne!(new, ids[1]);
        assert_ne!(new, ids[4]);
        assert!(!m.contains(ids[1]) && !m.contains(ids[4]));
        assert_eq!(m.output(new), Some(Output::NotListening), "not mixed yet");
        for (id, v) in [(ids[0], 1), (ids[2], 4), (ids[3], 8), (new, 64)] {
            m.put(id, &constant(v)).unwrap();
        }
        m.mix();
        assert_eq!(own(&m, ids[0]), constant(76), "{k:?}");
        assert_eq!(own(&m, ids[2]), constant(73), "{k:?}");
        assert_eq!(own(&m, ids[3]), constant(69), "{k:?}");
        assert_eq!(own(&m, new), constant(13), "{k:?}");
        let mut seen: Vec<MemberId> = m.outputs().map(|(id, _)| id).collect();
        seen.sort_by_key(|id| (id.slot, id.generation));
        let mut want = vec![ids[0], ids[2], ids[3], new];
        want.sort_by_key(|id| (id.slot, id.generation));
        assert_eq!(seen, want);

        for id in [ids[0], ids[2], ids[3], new] {
            m.remove(id).unwrap();
        }
        assert!(m.is_empty());
        m.mix();
        assert_eq!(*m.shared(), constant(0));
    }
}

#[test]
fn misuse_is_refused_and_changes_nothing() {
    let mut m = Mixer::new();
    assert_eq!(
        m.add(VoiceMode::TalkListen, 21),
        Err(MixerError::VolumeOutOfRange(21))
    );
    assert!(m.is_empty());
    let a = m.add(VoiceMode::TalkListen, -20).unwrap();
    assert_eq!(m.set_volume(a, -21), Err(MixerError::VolumeOutOfRange(-21)));
    assert_eq!(
        m.set_output_volume(a, 99),
        Err(MixerError::VolumeOutOfRange(99))
    );
    assert_eq!((m.volume(a), m.output_volume(a)), (Some(-20), Some(0)));
    assert_eq!(m.put(a, &[0; 80]), Err(MixerError::FrameLength(80)));
    for _ in 1..MAX_MEMBERS {
        m.add(VoiceMode::Listen, 0).unwrap();
    }
    assert_eq!(m.add(VoiceMode::Listen, 0), Err(MixerError::Full));
    assert_eq!(m.len(), MAX_MEMBERS);
}

#[test]
fn max_members_at_full_scale_and_max_gain_do_not_overflow() {
    // MAX_MEMBERS contributions of -32768 at +20 dB: -1 342 177 280, inside i32. Every
    // member hears the others' (still enormous) sum saturated; the shared frame too.
    for k in kernels() {
        let mut m = Mixer::with_kernel(k).unwrap();
        let ids: Vec<MemberId> = (0..MAX_MEMBERS)
            .map(|_| m.add(VoiceMode::TalkListen, 20).unwrap())
            .collect();
        for id in &ids {
            m.put(*id, &constant(i16::MIN)).unwrap();
        }
        m.mix();
        assert_eq!(*m.shared(), constant(i16::MIN));
        for id in ids.iter().step_by(97) {
            assert_eq!(own(&m, *id), constant(i16::MIN), "{k:?}");
        }
    }
}

// ---- scalar == AVX2 -------------------------------------------------------------------

/// Signal families for the kernel comparison.
#[derive(Clone, Copy, Debug)]
enum Signal {
    /// Uniform over the whole i16 range.
    Random,
    /// Low-level noise, as speech-level traffic.
    Quiet,
    /// Full-scale square waves of random period and phase (+32767 / -32768).
    Square,
    /// Everyone near full scale of one sign: every sum clips.
    Clipping,
}

fn frame(rng: &mut StdRng, s: Signal) -> [i16; FRAME] {
    match s {
        Signal::Random => std::array::from_fn(|_| rng.random()),
        Signal::Quiet => std::array::from_fn(|_| rng.random_range(-800..=800)),
        Signal::Square => {
            let period = rng.random_range(2..=80usize);
            let phase = rng.random_range(0..period);
            std::array::from_fn(|i| {
                if (i + phase) % period < period / 2 {
                    i16::MAX
                } else {
                    i16::MIN
                }
            })
        }
        Signal::Clipping => {
            let sign: i16 = if rng.random_bool(0.9) { 1 } else { -1 };
            std::array::from_fn(|_| sign * rng.random_range(25000..=32767))
        }
    }
}

/// Random members: mostly talk+listen at unity, some other modes and volumes, some
/// without audio this tick.
fn random_specs(rng: &mut StdRng, n: usize, s: Signal, gains: bool) -> Vec<Spec> {
    (0..n)
        .map(|_| Spec {
            mode: match rng.random_range(0..10) {
                0 => VoiceMode::Talk,
                1 => VoiceMode::Listen,
                2 => VoiceMode::Neither,
                _ => VoiceMode::TalkListen,
            },
            volume: if gains && rng.random_bool(0.4) {
                rng.random_range(VOLUME_MIN..=VOLUME_MAX)
            } else {
                0
            },
            out_volume: if gains && rng.random_bool(0.2) {
                rng.random_range(VOLUME_MIN..=VOLUME_MAX)
            } else {
                0
            },
            frame: rng.random_bool(0.85).then(|| frame(rng, s)),
        })
        .collect()
}

/// Mixes `specs` on both kernels, checks each against the reference and both against
/// each other bit for bit.
fn compare(specs: &[Spec], what: &str) {
    let want = expected(specs);
    let mut outs = Vec::new();
    for k in kernels() {
        let (mut m, ids) = build(k, specs);
        tick(&mut m, &ids, specs);
        check(&m, &ids, &want, &format!("{what} {k:?}"));
        let frames: Vec<Option<[i16; FRAME]>> = ids
            .iter()
            .map(|id| m.output(*id).unwrap().frame().copied())
            .collect();
        outs.push((*m.shared(), frames));
    }
    for o in &outs[1..] {
        assert!(*o == outs[0], "{what}: kernels differ");
    }
}

#[test]
fn kernels_match_on_random_signals_and_gains() {
    let mut rng = StdRng::seed_from_u64(0x4D49_5845_5201);
    for n in [1, 2, 3, 4, 5, 7, 9, 10, 13, 17, 31, 33, 50] {
        for round in 0..4 {
            let s = random_specs(&mut rng, n, Signal::Random, round % 2 == 1);
            compare(&s, &format!("random n={n} round {round}"));
            let s = random_specs(&mut rng, n, Signal::Quiet, true);
            compare(&s, &format!("quiet n={n} round {round}"));
        }
    }
}

#[test]
fn kernels_match_on_full_scale_square_waves() {
    let mut rng = StdRng::seed_from_u64(0x5371_7561_7265);
    for n in [1, 2, 3, 6, 11, 25, 64] {
        for gains in [false, true] {
            let s = random_specs(&mut rng, n, Signal::Square, gains);
            compare(&s, &format!("square n={n} gains {gains}"));
        }
    }
}

#[test]
fn kernels_match_on_clipping_sums() {
    let mut rng = StdRng::seed_from_u64(0xC11F);
    for n in [2, 3, 4, 5, 8, 15, 40, 101] {
        for gains in [false, true] {
            let s = random_specs(&mut rng, n, Signal::Clipping, gains);
            compare(&s, &format!("clipping n={n} gains {gains}"));
        }
    }
}

#[test]
fn kernels_match_from_1_to_600_members() {
    // Every count up to 40, odd and even, then around powers of two and up to 600.
    let mut rng = StdRng::seed_from_u64(600);
    let counts = (1..=40).chain([63, 64, 65, 127, 129, 255, 257, 511, 599, 600]);
    for n in counts {
        let signal = [
            Signal::Random,
            Signal::Quiet,
            Signal::Square,
            Signal::Clipping,
        ][n % 4];
        let s = random_specs(&mut rng, n, signal, n % 3 != 0);
        compare(&s, &format!("n={n} {signal:?}"));
    }
}

#[test]
fn kernels_match_across_ticks_with_churn() {
    // One mixer per kernel, driven through the same ticks with members added, removed and
    // changed between them; the outputs agree on every tick.
    let mut rng = StdRng::seed_from_u64(0x7_1C45);
    let mut mixers: Vec<(Mixer, Vec<MemberId>)> =
        kernels().into_iter().map(|k| (mixer(k), vec![])).collect();
    let mut specs: Vec<Spec> = Vec::new();
    for t in 0..60 {
        // Churn: add a few, remove a few, change a few.
        for _ in 0..rng.random_range(0..4) {
            let s = random_specs(&mut rng, 1, Signal::Random, true).remove(0);
            for (m, ids) in &mut mixers {
                let id = m.add(s.mode, s.volume).unwrap();
                m.set_output_volume(id, s.out_volume).unwrap();
                ids.push(id);
            }
            specs.push(s);
        }
        for _ in 0..rng.random_range(0..3) {
            if specs.is_empty() {
                break;
            }
            let victim = rng.random_range(0..specs.len());
            specs.swap_remove(victim);
            for (m, ids) in &mut mixers {
                m.remove(ids.swap_remove(victim)).unwrap();
            }
        }
        if !specs.is_empty() {
            let who = rng.random_range(0..specs.len());
            let v = rng.random_range(VOLUME_MIN..=VOLUME_MAX);
            specs[who].volume = v;
            for (m, ids) in &mut mixers {
                m.set_volume(ids[who], v).unwrap();
            }
        }
        let signal = [Signal::Random, Signal::Square, Signal::Clipping][t % 3];
        for s in &mut specs {
            s.frame = rng.random_bool(0.8).then(|| frame(&mut rng, signal));
        }
        let want = expected(&specs);
        for (m, ids) in &mut mixers {
            tick(m, ids, &specs);
            check(m, ids, &want, &format!("tick {t} {:?}", m.kernel()));
        }
    }
}
