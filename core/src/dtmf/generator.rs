//! [`ToneGenerator`]: in-band DTMF sending. One digit (tone, then an optional pause) at a
//! time, written frame by frame into caller buffers of 8 kHz i16, phase-continuous across
//! calls, with 1 ms raised-cosine ramps so the tone does not splatter.

use super::{COL_FREQS, ROW_FREQS, SAMPLE_RATE, dbm0_to_peak, digit_position};

/// Default level of each tone, dBm0.
pub const DEFAULT_LEVEL_DBM0: f64 = -7.0;

/// Ramp length at each end of the tone, samples (1 ms).
const RAMP: u32 = 8;

/// Quadrature oscillator: z ← z·e^{jω} each sample (two complex multiplies per sample, no
/// trigonometry per sample).
#[derive(Clone, Copy, Debug)]
struct Osc {
    re: f64,
    im: f64,
    step_re: f64,
    step_im: f64,
    amp: f64,
}

impl Osc {
    fn new(freq: f64, amp: f64) -> Self {
        let w = 2.0 * std::f64::consts::PI * freq / f64::from(SAMPLE_RATE);
        Osc {
            re: 1.0,
            im: 0.0,
            step_re: w.cos(),
            step_im: w.sin(),
            amp,
        }
    }

    /// Current sample (sine), then advance.
    fn next(&mut self) -> f64 {
        let v = self.im * self.amp;
        let re = self.re * self.step_re - self.im * self.step_im;
        self.im = self.re * self.step_im + self.im * self.step_re;
        self.re = re;
        v
    }

    /// Pulls |z| back to 1 (rounding drift); done at fixed sample positions so the output
    /// does not depend on how the caller slices it into frames.
    fn renormalize(&mut self) {
        let m = (self.re * self.re + self.im * self.im).sqrt();
        if m > 0.0 {
            self.re /= m;
            self.im /= m;
        }
    }
}

/// Generates one DTMF digit: `on` samples of dual tone, then `off` samples of silence.
#[derive(Clone, Debug)]
pub struct ToneGenerator {
    row: Osc,
    col: Osc,
    on: u32,
    off: u32,
    pos: u32,
}

impl ToneGenerator {
    /// `digit` ('0'-'9', '*', '#', 'A'-'D') for `on_ms`, then `off_ms` of silence, at the
    /// default level ([`DEFAULT_LEVEL_DBM0`] per tone, no twist). `None` for a non-DTMF char.
    pub fn new(digit: char, on_ms: u32, off_ms: u32) -> Option<Self> {
        Self::with_levels(digit, on_ms, off_ms, DEFAULT_LEVEL_DBM0, DEFAULT_LEVEL_DBM0)
    }

    /// As [`ToneGenerator::new`], with each tone's level in dBm0 (twist = row - column).
    /// A composite above about -3 dBm0 per tone clips at full scale.
    pub fn with_levels(
        digit: char,
        on_ms: u32,
        off_ms: u32,
        row_dbm0: f64,
        col_dbm0: f64,
    ) -> Option<Self> {
        let (r, c) = digit_position(digit)?;
        let per_ms = SAMPLE_RATE / 1000;
        Some(ToneGenerator {
            row: Osc::new(ROW_FREQS[r], dbm0_to_peak(row_dbm0)),
            col: Osc::new(COL_FREQS[c], dbm0_to_peak(col_dbm0)),
            on: on_ms.saturating_mul(per_ms),
            off: off_ms.saturating_mul(per_ms),
            pos: 0,
        })
    }

    /// Writes the next samples into `out` and returns how many were written: `out.len()`
    /// until the digit (tone and pause) is over, fewer on the last call, then 0.
    pub fn tx(&mut self, out: &mut [i16]) -> usize {
        let total = self.on.saturating_add(self.off);
        let n = out.len().min((total - self.pos) as usize);
        for o in &mut out[..n] {
            if self.pos & 0xFF == 0 {
                self.row.renormalize();
                self.col.renormalize();
            }
            *o = if self.pos < self.on {
                let k = self.pos.min(self.on - 1 - self.pos);
                let gain = if k < RAMP {
                    let x = std::f64::consts::PI * (f64::from(k) + 0.5) / f64::from(RAMP);
                    0.5 - 0.5 * x.cos()
                } else {
                    1.0
                };
                let v = (self.row.next() + self.col.next()) * gain;
                v.round().clamp(-32768.0, 32767.0) as i16
            } else {
                0
            };
            self.pos += 1;
        }
        n
    }

    /// Samples still to come (tone and pause).
    pub fn remaining(&self) -> u32 {
        self.on.saturating_add(self.off) - self.pos
    }

    /// True once the tone and the pause have been written.
    pub fn is_done(&self) -> bool {
        self.remaining() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Detector, DtmfEvent};
    use super::*;

    fn generate(g: &mut ToneGenerator, chunk: usize) -> Vec<i16> {
        let mut out = Vec::new();
        let mut buf = vec![0i16; chunk];
        loop {
            let n = g.tx(&mut buf);
            out.extend_from_slice(&buf[..n]);
            if n < chunk {
                return out;
            }
        }
    }

    #[test]
    fn every_digit_is_detected_once() {
        for d in "0123456789*#ABCD".chars() {
            let mut g = ToneGenerator::new(d, 50, 50).expect("digit");
            let pcm = generate(&mut g, 160);
            assert_eq!(pcm.len(), 800);
            let mut det = Detector::new();
            let mut ev: Vec<DtmfEvent> = Vec::new();
            det.rx(&pcm, |e| ev.push(e));
            det.finish(|e| ev.push(e));
            let on: Vec<char> = ev
                .iter()
                .filter(|e| e.end.is_none())
                .map(|e| e.digit)
                .collect();
            assert_eq!(on, vec![d], "{ev:?}");
            let end = ev.last().and_then(|e| e.end).expect("end event");
            assert!(end <= 400 + 64, "tone must end near 50 ms: {end}");
        }
    }

    #[test]
    fn output_is_independent_of_frame_size() {
        let mut a = ToneGenerator::new('5', 120, 20).expect("digit");
        let mut b = a.clone();
        let x = generate(&mut a, 160);
        let y = generate(&mut b, 7);
        assert_eq!(x, y);
        assert!(a.is_done() && b.is_done());
        assert_eq!(a.tx(&mut [0; 10]), 0);
    }

    #[test]
    fn level_matches_dbm0() {
        let mut g = ToneGenerator::with_levels('1', 1000, 0, -10.0, -10.0).expect("digit");
        let x = generate(&mut g, 160);
        let ms = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64;
        // Two tones at -10 dBm0: each a sine of peak dbm0_to_peak(-10).
        let expect = 2.0 * dbm0_to_peak(-10.0).powi(2) / 2.0;
        let err_db = 10.0 * (ms / expect).log10();
        assert!(err_db.abs() < 0.1, "{err_db} dB");
        // The pause is silent and the ramps keep the first sample near zero.
        assert!(x[0].unsigned_abs() < 1000);
    }

    #[test]
    fn rejects_non_dtmf_characters() {
        assert!(ToneGenerator::new('x', 50, 50).is_none());
        assert!(ToneGenerator::new('a', 50, 50).is_some());
    }
}
