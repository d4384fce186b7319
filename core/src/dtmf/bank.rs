//! [`DetectorBank`]: eight DTMF receivers run in lock-step, one per SIMD lane.
//!
//! The SIMD dimension is the channel, not the frequency: lane `l` of every `f32x8` belongs
//! to channel `l`, and each of the eight Goertzel filters is one vector. Per sample that is
//! eight independent recursions (one per filter) of 8 channels each, so the CPU pipelines
//! them at full throughput; vectorizing the eight frequencies of one channel instead would
//! chain every sample on the previous one (a latency-bound loop) and need a horizontal
//! broadcast per sample. Channels in a media worker are processed together on the 20 ms
//! tick anyway, which is exactly the shape a bank wants. The kernel is chosen at run time
//! (`is_x86_feature_detected!("avx2")`); the scalar kernel gives bit-identical results.

use super::detector::Validator;
use super::goertzel::GoertzelState;
use super::tables::{TONES, tables};
use super::{BLOCK_LEN, BlockStats, DtmfEvent};
use std::fmt;

/// Channels per bank (one `f32x8`).
pub const LANES: usize = 8;

pub use crate::simd::Kernel;
use crate::simd::avx2_available;

/// Errors of [`DetectorBank`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BankError {
    /// [`Kernel::Avx2`] was asked for on a CPU without AVX2.
    Avx2Unavailable,
    /// All lanes must be given the same number of samples per call.
    LengthMismatch {
        lane: usize,
        len: usize,
        expected: usize,
    },
    /// Lane index out of range.
    NoSuchLane(usize),
}

impl fmt::Display for BankError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BankError::Avx2Unavailable => write!(f, "AVX2 is not available on this CPU"),
            BankError::LengthMismatch {
                lane,
                len,
                expected,
            } => write!(f, "lane {lane} has {len} samples, lane 0 has {expected}"),
            BankError::NoSuchLane(l) => write!(f, "no lane {l} (a bank has {LANES})"),
        }
    }
}

impl std::error::Error for BankError {}

/// Filter states of all lanes, structure-of-arrays: `s1[f]` is one vector of 8 lanes.
#[repr(C, align(32))]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LaneStates {
    pub s1: [[f32; LANES]; TONES],
    pub s2: [[f32; LANES]; TONES],
    pub energy: [f32; LANES],
    pub sum: [f32; LANES],
}

impl LaneStates {
    fn get(&self, l: usize) -> GoertzelState {
        GoertzelState {
            s1: std::array::from_fn(|f| self.s1[f][l]),
            s2: std::array::from_fn(|f| self.s2[f][l]),
            energy: self.energy[l],
            sum: self.sum[l],
        }
    }

    fn set(&mut self, l: usize, g: &GoertzelState) {
        for f in 0..TONES {
            self.s1[f][l] = g.s1[f];
            self.s2[f][l] = g.s2[f];
        }
        self.energy[l] = g.energy;
        self.sum[l] = g.sum;
    }
}

/// Eight DTMF receivers fed together. Each call gives every lane the same number of
/// samples (a silent or idle lane gets zeros); block boundaries are shared by all lanes.
/// Results are bit-identical to eight [`super::Detector`]s fed the same samples from the
/// start, whichever kernel runs.
#[derive(Clone, Debug)]
pub struct DetectorBank {
    st: LaneStates,
    pos: usize,
    samples: u64,
    blocks: u64,
    /// Bank sample index at which each lane's channel started (its sample 0).
    origin: [u64; LANES],
    v: [Validator; LANES],
    kernel: Kernel,
}

impl Default for DetectorBank {
    fn default() -> Self {
        Self::new()
    }
}

impl DetectorBank {
    /// A bank using the fastest kernel available.
    pub fn new() -> Self {
        Self::build(Kernel::detect())
    }

    /// A bank using `kernel`; fails if the CPU lacks it.
    pub fn with_kernel(kernel: Kernel) -> Result<Self, BankError> {
        if kernel == Kernel::Avx2 && !avx2_available() {
            return Err(BankError::Avx2Unavailable);
        }
        Ok(Self::build(kernel))
    }

    fn build(kernel: Kernel) -> Self {
        DetectorBank {
            st: LaneStates::default(),
            pos: 0,
            samples: 0,
            blocks: 0,
            origin: [0; LANES],
            v: std::array::from_fn(|_| Validator::new()),
            kernel,
        }
    }

    /// The kernel this bank runs.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Starts lane `lane` afresh for a new channel: its state is cleared (a digit in
    /// progress is dropped without an end event) and its sample indices restart at 0 from
    /// the next sample fed.
    pub fn reset_lane(&mut self, lane: usize) -> Result<(), BankError> {
        if lane >= LANES {
            return Err(BankError::NoSuchLane(lane));
        }
        self.st.set(lane, &GoertzelState::default());
        self.v[lane] = Validator::new();
        self.origin[lane] = self.samples;
        Ok(())
    }

    /// Feeds one chunk per lane (all the same length, any length). `sink(lane, event)` is
    /// called for each event. Nothing is processed if the lengths differ.
    pub fn rx(
        &mut self,
        frames: &[&[i16]; LANES],
        mut sink: impl FnMut(usize, DtmfEvent),
    ) -> Result<(), BankError> {
        let expected = frames[0].len();
        if let Some((lane, f)) = frames.iter().enumerate().find(|(_, f)| f.len() != expected) {
            return Err(BankError::LengthMismatch {
                lane,
                len: f.len(),
                expected,
            });
        }
        let mut off = 0;
        while off < expected {
            let take = (expected - off).min(BLOCK_LEN - self.pos);
            let chunk: [&[i16]; LANES] = std::array::from_fn(|l| &frames[l][off..off + take]);
            self.feed(&chunk);
            self.pos += take;
            self.samples += take as u64;
            off += take;
            if self.pos == BLOCK_LEN {
                let start = self.samples - BLOCK_LEN as u64;
                for l in 0..LANES {
                    let g = self.st.get(l);
                    let lane_start = start.saturating_sub(self.origin[l]);
                    self.v[l].end_block(&g, lane_start, &mut |e| sink(l, e));
                }
                self.st = LaneStates::default();
                self.pos = 0;
                self.blocks += 1;
            }
        }
        Ok(())
    }

    fn feed(&mut self, chunk: &[&[i16]; LANES]) {
        let t = tables();
        match self.kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                // SAFETY: a bank only holds Kernel::Avx2 after `avx2_available()` returned
                // true (see `with_kernel` / `Kernel::detect`), so the CPU supports AVX2.
                unsafe { super::goertzel_avx2::feed_lanes(&mut self.st, chunk, self.pos, t) }
            }
            _ => {
                for (l, samples) in chunk.iter().enumerate() {
                    let mut g = self.st.get(l);
                    g.feed(samples, self.pos, t);
                    self.st.set(l, &g);
                }
            }
        }
    }

    /// Ends the stream on every lane: reports the end of digits still on.
    pub fn finish(&mut self, mut sink: impl FnMut(usize, DtmfEvent)) {
        for (l, v) in self.v.iter_mut().enumerate() {
            v.finish(&mut |e| sink(l, e));
        }
    }

    /// Complete blocks processed so far.
    pub fn blocks_done(&self) -> u64 {
        self.blocks
    }

    /// Measurements of lane `lane`'s last complete block (lane taken modulo [`LANES`]).
    pub fn last_block(&self, lane: usize) -> &BlockStats {
        self.v[lane % LANES].last_stats()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Detector, ToneGenerator};
    use super::*;

    /// Random test material per lane: noise, tones at random levels and offsets, silence.
    fn material(lane: usize, n: usize, seed: u64) -> Vec<i16> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ lane as u64 | 1;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut x = Vec::with_capacity(n);
        while x.len() < n {
            match rnd() % 3 {
                0 => {
                    let amp = (rnd() % 20000) as i64 + 1;
                    let len = (rnd() % 900) as usize;
                    x.extend((0..len).map(|_| ((rnd() % (2 * amp as u64)) as i64 - amp) as i16));
                }
                1 => {
                    let d = b"0123456789*#ABCD"[(rnd() % 16) as usize] as char;
                    let lvl = -((rnd() % 40) as f64);
                    let mut g =
                        ToneGenerator::with_levels(d, 30 + (rnd() % 90) as u32, 0, lvl, lvl - 2.0)
                            .expect("digit");
                    let mut buf = vec![0i16; g.remaining() as usize];
                    let k = g.tx(&mut buf);
                    x.extend_from_slice(&buf[..k]);
                }
                _ => x.extend(std::iter::repeat_n(0i16, (rnd() % 500) as usize)),
            }
        }
        x.truncate(n);
        x
    }

    fn stats_bits(s: &BlockStats) -> Vec<u32> {
        let mut v: Vec<u32> = s.y.iter().flatten().map(|f| f.to_bits()).collect();
        v.extend(s.tone_power.iter().map(|f| f.to_bits()));
        v.push(s.total_power.to_bits());
        v
    }

    /// Runs a bank over `lanes` with chunk sizes up to one block, returning events and the
    /// statistics of every block of every lane.
    fn run(kernel: Kernel, lanes: &[Vec<i16>]) -> (Vec<(usize, DtmfEvent)>, Vec<Vec<u32>>) {
        let mut bank = DetectorBank::with_kernel(kernel).expect("kernel");
        let n = lanes[0].len();
        let mut ev = Vec::new();
        let mut st = Vec::new();
        let (mut pos, mut i) = (0, 0);
        while pos < n {
            let take = [64usize, 1, 33, 64, 17, 50][i % 6].min(n - pos);
            i += 1;
            let frames: [&[i16]; LANES] = std::array::from_fn(|l| &lanes[l][pos..pos + take]);
            let before = bank.blocks_done();
            bank.rx(&frames, |l, e| ev.push((l, e))).expect("rx");
            if bank.blocks_done() > before {
                st.extend((0..LANES).map(|l| stats_bits(bank.last_block(l))));
            }
            pos += take;
        }
        bank.finish(|l, e| ev.push((l, e)));
        (ev, st)
    }

    #[test]
    fn scalar_avx2_and_detector_are_bit_identical_on_random_signals() {
        for seed in 1..4 {
            let lanes: Vec<Vec<i16>> = (0..LANES).map(|l| material(l, 24_000, seed)).collect();
            let (ev_s, st_s) = run(Kernel::Scalar, &lanes);
            assert!(ev_s.len() > 4, "material should hold some digits: {ev_s:?}");
            if Kernel::detect() == Kernel::Avx2 {
                let (ev_v, st_v) = run(Kernel::Avx2, &lanes);
                assert_eq!(ev_s, ev_v);
                assert_eq!(st_s, st_v);
            }
            for (l, x) in lanes.iter().enumerate() {
                let mut det = Detector::new();
                let mut ev = Vec::new();
                det.rx(x, |e| ev.push((l, e)));
                det.finish(|e| ev.push((l, e)));
                let lane_ev: Vec<_> = ev_s.iter().filter(|(k, _)| *k == l).copied().collect();
                assert_eq!(ev, lane_ev, "lane {l}");
            }
        }
    }

    #[test]
    fn unequal_lengths_are_refused_without_side_effects() {
        let mut bank = DetectorBank::new();
        let a = [0i16; 160];
        let b = [0i16; 100];
        let mut frames: [&[i16]; LANES] = [&a; LANES];
        frames[3] = &b;
        let r = bank.rx(&frames, |_, _| {});
        assert_eq!(
            r,
            Err(BankError::LengthMismatch {
                lane: 3,
                len: 100,
                expected: 160
            })
        );
        assert_eq!(bank.blocks_done(), 0);
        assert_eq!(bank.reset_lane(LANES), Err(BankError::NoSuchLane(LANES)));
    }

    #[test]
    fn reset_lane_restarts_that_lane_only() {
        let mut g = ToneGenerator::new('3', 200, 0).expect("digit");
        let mut tone = vec![0i16; 1600];
        g.tx(&mut tone);
        let silence = [0i16; 1600];
        let mut bank = DetectorBank::new();
        let mut ev = Vec::new();
        // Lane 0 hears the tone from the start; lane 1 is reset after 1000 samples (mid-block)
        // and hears the tone from then on.
        let f0: [&[i16]; LANES] = std::array::from_fn(|l| {
            if l == 0 {
                &tone[..1000]
            } else {
                &silence[..1000]
            }
        });
        bank.rx(&f0, |l, e| ev.push((l, e))).expect("rx");
        bank.reset_lane(1).expect("lane");
        let f1: [&[i16]; LANES] = std::array::from_fn(|l| match l {
            0 => &tone[1000..],
            1 => &tone[..600],
            _ => &silence[..600],
        });
        bank.rx(&f1, |l, e| ev.push((l, e))).expect("rx");
        let f2: [&[i16]; LANES] = std::array::from_fn(|l| {
            if l == 1 {
                &tone[600..1600]
            } else {
                &silence[..1000]
            }
        });
        bank.rx(&f2, |l, e| ev.push((l, e))).expect("rx");
        bank.finish(|l, e| ev.push((l, e)));
        let on: Vec<(usize, char, u64)> = ev
            .iter()
            .filter(|(_, e)| e.end.is_none())
            .map(|(l, e)| (*l, e.digit, e.start_sample))
            .collect();
        assert_eq!(on.len(), 2, "{ev:?}");
        assert_eq!(on[0], (0, '3', 0));
        // Lane 1's sample 0 is bank sample 1000; its first whole block starts at bank
        // sample 1024, i.e. lane sample 24.
        assert_eq!((on[1].0, on[1].1), (1, '3'));
        assert!(on[1].2 <= 24, "{on:?}");
    }
}
