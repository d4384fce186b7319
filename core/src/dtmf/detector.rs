//! The DTMF decision logic (per block: candidate digit; over four blocks: validation with
//! the phase-derived frequency test; digit on/off with bridging) and [`Detector`], the
//! single-channel receiver built on the scalar Goertzel kernel.

use super::goertzel::GoertzelState;
use super::tables::{TONES, Tables, tables};
use super::{BLOCK_LEN, DBM0_PEAK, DtmfEvent, KEYPAD, SAMPLE_RATE};

/// Blocks that must agree before a digit is validated (4 × 8 ms).
const VALIDATE_BLOCKS: usize = 4;
/// Consecutive non-candidate blocks that end a digit (4 × 8 ms); fewer are bridged.
const RELEASE_BLOCKS: u8 = 4;
/// Minimum share of the block's energy held by the row and column tones together.
const PURITY: f32 = 0.80;
/// Lower purity accepted while a digit is on (hysteresis).
const HOLD_PURITY: f32 = 0.65;
/// Minimum level of each tone, dBm0.
const MIN_TONE_DBM0: f64 = -40.0;
/// Largest accepted normal twist (column tone weaker), dB, on the four-block average.
const MAX_NORMAL_TWIST_DB: f64 = 9.0;
/// Largest accepted reverse twist (row tone weaker), dB, on the four-block average.
const MAX_REVERSE_TWIST_DB: f64 = 5.0;
/// Extra twist allowed in a single block (noise makes one block's twist wander); still far
/// below the leakage of a lone tone into the other group (< -35 dB).
const BLOCK_TWIST_MARGIN_DB: f64 = 4.0;
/// Minimum share of the energy held by the two tones over the whole validation window.
const WINDOW_PURITY: f32 = 0.90;
/// Largest difference between the frequencies measured over successive block pairs, Hz.
const MAX_FREQ_SPREAD_HZ: f64 = 20.0;
/// Largest ratio between a tone's strongest and weakest block in the window, dB.
const MAX_LEVEL_SPREAD_DB: f64 = 6.0;
/// A pair whose measured frequencies are within this relative distance of 2:1 is one
/// harmonic-rich tone (a fundamental in a row band and its octave in a column band, possible
/// for digits 2, 6 and C), not DTMF. In-spec DTMF (±1.5 %) is never closer than 1.2 % to 2:1.
const OCTAVE_MARGIN: f32 = 0.006;

const NO_DIGIT: u8 = u8::MAX;

/// Measurements of one analysis block, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockStats {
    /// Goertzel output Y = s1 - e^{-jω}·s2 of each tone (rows then columns), [re, im].
    pub y: [[f32; 2]; TONES],
    /// Mean square (16-bit scale) of a sine that would produce each tone's output.
    pub tone_power: [f32; TONES],
    /// Mean square of the block about its mean (window-weighted, DC removed).
    pub total_power: f32,
}

impl BlockStats {
    pub(crate) fn from_state(g: &GoertzelState, t: &Tables) -> Self {
        let mean = g.sum * t.total_norm;
        let mut s = BlockStats {
            total_power: (g.energy * t.total_norm - mean * mean).max(0.0),
            ..Default::default()
        };
        for f in 0..TONES {
            let re = g.s1[f] - t.cos[f] * g.s2[f];
            let im = t.sin[f] * g.s2[f];
            s.y[f] = [re, im];
            s.tone_power[f] = (re * re + im * im) * t.tone_norm;
        }
        s
    }

    /// Strongest row and column: (row, col, row power, col power).
    fn strongest(&self) -> (usize, usize, f32, f32) {
        let mut r = 0;
        let mut c = 4;
        for f in 1..4 {
            if self.tone_power[f] > self.tone_power[r] {
                r = f;
            }
            if self.tone_power[f + 4] > self.tone_power[c] {
                c = f + 4;
            }
        }
        (r, c - 4, self.tone_power[r], self.tone_power[c])
    }

    /// Digit index (row·4 + col) if this block looks like a dual tone with at least
    /// `PURITY` of the energy, and the same with `HOLD_PURITY` (or `NO_DIGIT`).
    fn candidates(&self, lim: &Limits) -> (u8, u8) {
        let (r, c, pr, pc) = self.strongest();
        let plausible = pr >= lim.min_power
            && pc >= lim.min_power
            && pc >= pr * lim.block_normal_twist
            && pc <= pr * lim.block_reverse_twist;
        let digit = (r * 4 + c) as u8;
        let pick = |purity: f32| {
            if plausible && pr + pc >= purity * self.total_power {
                digit
            } else {
                NO_DIGIT
            }
        };
        (pick(PURITY), pick(HOLD_PURITY))
    }
}

/// Thresholds converted to power ratios once.
#[derive(Clone, Copy, Debug)]
struct Limits {
    window_purity: f32,
    cos_spread: f32,
    level_spread: f32,
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    block_normal_twist: f32,
    block_reverse_twist: f32,
}

impl Limits {
    fn get() -> Self {
        let p0 = DBM0_PEAK * DBM0_PEAK / 2.0;
        let spread_phase = 2.0 * std::f64::consts::PI * MAX_FREQ_SPREAD_HZ * BLOCK_LEN as f64
            / f64::from(SAMPLE_RATE);
        Limits {
            window_purity: WINDOW_PURITY,
            cos_spread: spread_phase.cos() as f32,
            level_spread: 10f64.powf(MAX_LEVEL_SPREAD_DB / 10.0) as f32,
            min_power: (p0 * 10f64.powf(MIN_TONE_DBM0 / 10.0)) as f32,
            normal_twist: 10f64.powf(-MAX_NORMAL_TWIST_DB / 10.0) as f32,
            reverse_twist: 10f64.powf(MAX_REVERSE_TWIST_DB / 10.0) as f32,
            block_normal_twist: 10f64.powf(-(MAX_NORMAL_TWIST_DB + BLOCK_TWIST_MARGIN_DB) / 10.0)
                as f32,
            block_reverse_twist: 10f64.powf((MAX_REVERSE_TWIST_DB + BLOCK_TWIST_MARGIN_DB) / 10.0)
                as f32,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Current {
    digit: u8,
    start: u64,
    last_end: u64,
    misses: u8,
}

/// Per-channel decision state, fed one block at a time. Shared by [`Detector`] and the
/// lanes of [`super::DetectorBank`].
#[derive(Clone, Debug)]
pub(crate) struct Validator {
    /// The last `VALIDATE_BLOCKS` blocks, a ring: slot `head` is the oldest.
    blocks: [BlockStats; VALIDATE_BLOCKS],
    cand: [u8; VALIDATE_BLOCKS],
    start: [u64; VALIDATE_BLOCKS],
    head: usize,
    current: Option<Current>,
    limits: Limits,
}

impl Validator {
    pub fn new() -> Self {
        Validator {
            blocks: [BlockStats::default(); VALIDATE_BLOCKS],
            cand: [NO_DIGIT; VALIDATE_BLOCKS],
            start: [0; VALIDATE_BLOCKS],
            head: 0,
            current: None,
            limits: Limits::get(),
        }
    }

    /// Slot of the `k`-th kept block, oldest first.
    fn slot(&self, k: usize) -> usize {
        (self.head + k) % VALIDATE_BLOCKS
    }

    pub fn last_stats(&self) -> &BlockStats {
        &self.blocks[self.slot(VALIDATE_BLOCKS - 1)]
    }

    /// Ends the block `[start, start + BLOCK_LEN)` whose filter state is `g`.
    pub fn end_block(&mut self, g: &GoertzelState, start: u64, sink: &mut impl FnMut(DtmfEvent)) {
        let t = tables();
        let st = BlockStats::from_state(g, t);
        let (cand, hold) = st.candidates(&self.limits);
        // Overwrite the oldest slot, which becomes the newest.
        let newest = self.head;
        self.blocks[newest] = st;
        self.cand[newest] = cand;
        self.start[newest] = start;
        self.head = (self.head + 1) % VALIDATE_BLOCKS;
        let end = start + BLOCK_LEN as u64;

        if let Some(cur) = self.current.as_mut() {
            if hold == cur.digit {
                cur.last_end = end;
                cur.misses = 0;
            } else {
                cur.misses += 1;
                if cur.misses >= RELEASE_BLOCKS {
                    sink(event(cur.digit, cur.start, Some(cur.last_end)));
                    self.current = None;
                }
            }
        }
        if self.current.is_none() && cand != NO_DIGIT && self.validated(cand, t) {
            let start = self.start[self.slot(0)];
            self.current = Some(Current {
                digit: cand,
                start,
                last_end: end,
                misses: 0,
            });
            sink(event(cand, start, None));
        }
    }

    /// Ends an ongoing digit at the end of the stream.
    pub fn finish(&mut self, sink: &mut impl FnMut(DtmfEvent)) {
        if let Some(cur) = self.current.take() {
            sink(event(cur.digit, cur.start, Some(cur.last_end)));
        }
    }

    /// True when all kept blocks are candidates for `digit` and, over the window: the two
    /// tones hold at least `WINDOW_PURITY` of the energy, the average twist is within
    /// limits, each tone's level is steady, each tone's phase advances from block to block
    /// at a steady rate within the frequency tolerance, and the two frequencies are not an
    /// octave apart.
    fn validated(&self, digit: u8, t: &Tables) -> bool {
        if self.cand.iter().any(|&c| c != digit) {
            return false;
        }
        let row = usize::from(digit / 4);
        let col = usize::from(digit % 4) + 4;
        let lim = &self.limits;
        let pr: [f32; VALIDATE_BLOCKS] =
            std::array::from_fn(|k| self.blocks[self.slot(k)].tone_power[row]);
        let pc: [f32; VALIDATE_BLOCKS] =
            std::array::from_fn(|k| self.blocks[self.slot(k)].tone_power[col]);
        let (sr, sc): (f32, f32) = (pr.iter().sum(), pc.iter().sum());
        let total: f32 = (0..VALIDATE_BLOCKS)
            .map(|k| self.blocks[self.slot(k)].total_power)
            .sum();
        sr + sc >= lim.window_purity * total
            && sc >= sr * lim.normal_twist
            && sc <= sr * lim.reverse_twist
            && steady_level(&pr, lim.level_spread)
            && steady_level(&pc, lim.level_spread)
            && match (self.steady_freq(row, t), self.steady_freq(col, t)) {
                (Some(fr), Some(fc)) => (fc / (2.0 * fr) - 1.0).abs() > OCTAVE_MARGIN,
                _ => false,
            }
    }

    /// Each block-to-block phase advance of tone `f`, less the nominal advance, must be
    /// within the tolerance, and all advances within the spread limit of each other. Returns
    /// the tone's frequency measured from the mean advance, Hz.
    fn steady_freq(&self, f: usize, t: &Tables) -> Option<f32> {
        let [cr, ci] = t.rot[f];
        let mut z = [[0f32; 2]; VALIDATE_BLOCKS - 1];
        for (k, zk) in z.iter_mut().enumerate() {
            let [ar, ai] = self.blocks[self.slot(k + 1)].y[f];
            let [br, bi] = self.blocks[self.slot(k)].y[f];
            // a·conj(b)·e^{-jωN}
            let (pr, pi) = (ar * br + ai * bi, ai * br - ar * bi);
            *zk = [pr * cr - pi * ci, pr * ci + pi * cr];
        }
        let mag = |v: [f32; 2]| (v[0] * v[0] + v[1] * v[1]).sqrt();
        for (k, a) in z.iter().enumerate() {
            let ma = mag(*a);
            if ma <= 0.0 || a[0] < t.cos_tol[f] * ma {
                return None;
            }
            for b in &z[k + 1..] {
                // Angle between the two advances: Re(a·conj(b)) >= cos(limit)·|a||b|.
                let dot = a[0] * b[0] + a[1] * b[1];
                if dot < self.limits.cos_spread * ma * mag(*b) {
                    return None;
                }
            }
        }
        let (sr, si) = z
            .iter()
            .fold((0f32, 0f32), |(r, i), v| (r + v[0], i + v[1]));
        Some(t.freq[f] + si.atan2(sr) * t.hz_per_radian)
    }
}

/// max(p) <= spread · min(p), with p > 0.
fn steady_level(p: &[f32; VALIDATE_BLOCKS], spread: f32) -> bool {
    let max = p.iter().fold(0f32, |m, &v| m.max(v));
    let min = p.iter().fold(f32::MAX, |m, &v| m.min(v));
    min > 0.0 && max <= spread * min
}

fn event(digit: u8, start: u64, end: Option<u64>) -> DtmfEvent {
    let d = usize::from(digit);
    DtmfEvent {
        digit: KEYPAD[(d / 4) % 4][d % 4],
        start_sample: start,
        end,
    }
}

/// Single-channel DTMF receiver (scalar kernel). Feed 8 kHz linear samples in chunks of any
/// size; events come out through a callback, with no allocation.
#[derive(Clone, Debug)]
pub struct Detector {
    g: GoertzelState,
    pos: usize,
    samples: u64,
    v: Validator,
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

impl Detector {
    /// A detector with no history; sample index 0 is the first sample fed.
    pub fn new() -> Self {
        Detector {
            g: GoertzelState::default(),
            pos: 0,
            samples: 0,
            v: Validator::new(),
        }
    }

    /// Feeds `samples`; calls `sink` for each event (validation, then end of each digit).
    pub fn rx(&mut self, samples: &[i16], mut sink: impl FnMut(DtmfEvent)) {
        let t = tables();
        let mut rest = samples;
        while !rest.is_empty() {
            let take = rest.len().min(BLOCK_LEN - self.pos);
            self.g.feed(&rest[..take], self.pos, t);
            self.pos += take;
            self.samples += take as u64;
            rest = &rest[take..];
            if self.pos == BLOCK_LEN {
                let start = self.samples - BLOCK_LEN as u64;
                self.v.end_block(&self.g, start, &mut sink);
                self.g = GoertzelState::default();
                self.pos = 0;
            }
        }
    }

    /// Ends the stream: reports the end of a digit still on. The detector can go on being
    /// fed afterwards.
    pub fn finish(&mut self, mut sink: impl FnMut(DtmfEvent)) {
        self.v.finish(&mut sink);
    }

    /// Samples fed so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Measurements of the last complete block.
    pub fn last_block(&self) -> &BlockStats {
        self.v.last_stats()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{COL_FREQS, ROW_FREQS, ToneGenerator, dbm0_to_peak};
    use super::*;

    fn run(det: &mut Detector, x: &[i16], chunk: usize) -> Vec<DtmfEvent> {
        let mut ev = Vec::new();
        for c in x.chunks(chunk.max(1)) {
            det.rx(c, |e| ev.push(e));
        }
        det.finish(|e| ev.push(e));
        ev
    }

    fn tone(digit: char, on_ms: u32, off_ms: u32) -> Vec<i16> {
        let mut g = ToneGenerator::new(digit, on_ms, off_ms).expect("digit");
        let mut out = vec![0i16; g.remaining() as usize];
        let n = g.tx(&mut out);
        out.truncate(n);
        out
    }

    /// Deterministic pseudo-random noise (xorshift), amplitude `amp`.
    fn noise(n: usize, amp: f64, seed: u64) -> Vec<i16> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * amp
            })
            .map(|v| v as i16)
            .collect()
    }

    #[test]
    fn events_do_not_depend_on_chunk_size() {
        let mut x = vec![0i16; 333];
        for d in ['1', '5', '9', 'D', '#'] {
            x.extend(tone(d, 70, 60));
        }
        let reference = run(&mut Detector::new(), &x, x.len());
        let on: String = reference
            .iter()
            .filter(|e| e.end.is_none())
            .map(|e| e.digit)
            .collect();
        assert_eq!(on, "159D#");
        for chunk in [1, 7, 63, 64, 65, 160, 1000] {
            assert_eq!(
                run(&mut Detector::new(), &x, chunk),
                reference,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn start_and_end_are_within_a_block() {
        for offset in [0usize, 17, 40, 63, 100] {
            let mut x = vec![0i16; offset];
            let start = x.len() as u64;
            x.extend(tone('8', 100, 100));
            let end = start + 800;
            let ev = run(&mut Detector::new(), &x, 160);
            assert_eq!(ev.len(), 2, "{ev:?}");
            let s = ev[0].start_sample;
            let e = ev[1].end.expect("end");
            assert!(s + 64 > start && s < start + 64, "start {s} vs {start}");
            assert!(e + 64 > end && e < end + 64, "end {e} vs {end}");
        }
    }

    #[test]
    fn single_tones_silence_and_noise_give_nothing() {
        let mut x = vec![0i16; 4000];
        for &f in ROW_FREQS.iter().chain(COL_FREQS.iter()) {
            let a = dbm0_to_peak(-5.0);
            x.extend(
                (0..1600).map(|i| {
                    (a * (2.0 * std::f64::consts::PI * f * i as f64 / 8000.0).sin()) as i16
                }),
            );
        }
        x.extend(noise(40000, 30000.0, 7));
        assert_eq!(run(&mut Detector::new(), &x, 160), vec![]);
    }

    #[test]
    fn digit_still_on_at_the_end_is_closed_by_finish() {
        let x = tone('0', 200, 0);
        let mut det = Detector::new();
        let mut ev = Vec::new();
        det.rx(&x, |e| ev.push(e));
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].end, None);
        det.finish(|e| ev.push(e));
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1].end, Some(1600));
        assert_eq!(det.samples(), 1600);
        // Finishing twice reports nothing more.
        det.finish(|e| ev.push(e));
        assert_eq!(ev.len(), 2);
    }

    #[test]
    fn last_block_reports_tone_powers() {
        let x = tone('6', 100, 0);
        let mut det = Detector::new();
        det.rx(&x[..512], |_| {});
        let s = det.last_block();
        // '6' = 770 Hz + 1477 Hz at -7 dBm0 each: both near the expected power; the other
        // filters lower (a neighbour row is inside the Hann main lobe, hence up to ~0.65).
        let p = (dbm0_to_peak(-7.0).powi(2) / 2.0) as f32;
        for f in 0..TONES {
            let r = s.tone_power[f] / p;
            if f == 1 || f == 6 {
                assert!((0.9..1.1).contains(&r), "tone {f}: {r}");
            } else {
                assert!(r < 0.7, "tone {f}: {r}");
            }
        }
        assert!(
            (s.total_power / (2.0 * p) - 1.0).abs() < 0.1,
            "{}",
            s.total_power
        );
    }
}
