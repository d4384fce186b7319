//! Tone generation for the send side: a phase-continuous single or dual sine generator
//! (the record beep, in-band DTMF), and the DTMF frequency table.

use std::f32::consts::TAU;

use crate::codec::wav::RATE;

/// Peak amplitude of a -10 dBm0 sine (0 dBm0 ≈ 22 747 peak on the 16-bit scale).
pub const PEAK_MINUS_10_DBM0: f32 = 7193.0;

/// A sum of up to two sines whose phases carry over from one frame to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneGen {
    phase: [f32; 2],
    step: [f32; 2],
    amp: [f32; 2],
}

impl ToneGen {
    /// One tone of `freq` Hz at peak amplitude `amp`.
    pub fn single(freq: f32, amp: f32) -> Self {
        Self::dual(freq, amp, 0.0, 0.0)
    }

    /// Two tones.
    pub fn dual(f1: f32, a1: f32, f2: f32, a2: f32) -> Self {
        Self {
            phase: [0.0; 2],
            step: [TAU * f1 / RATE as f32, TAU * f2 / RATE as f32],
            amp: [a1, a2],
        }
    }

    /// Writes the next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out.iter_mut() {
            let v = self.amp[0] * self.phase[0].sin() + self.amp[1] * self.phase[1].sin();
            *o = v.clamp(-32768.0, 32767.0) as i16;
            for k in 0..2 {
                self.phase[k] += self.step[k];
                if self.phase[k] >= TAU {
                    self.phase[k] -= TAU;
                }
            }
        }
    }
}

/// Row and column frequencies of a DTMF key (`0-9 * # A-D`, case-insensitive).
pub fn dtmf_freqs(key: char) -> Option<(f32, f32)> {
    const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    const KEYS: [[char; 4]; 4] = [
        ['1', '2', '3', 'A'],
        ['4', '5', '6', 'B'],
        ['7', '8', '9', 'C'],
        ['*', '0', '#', 'D'],
    ];
    let k = key.to_ascii_uppercase();
    KEYS.iter()
        .enumerate()
        .find_map(|(r, row)| row.iter().position(|&c| c == k).map(|c| (ROWS[r], COLS[c])))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Power of `freq` in `x` (Goertzel), normalised by length.
    fn power(x: &[i16], freq: f32) -> f32 {
        let w = TAU * freq / RATE as f32;
        let c = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for &v in x {
            let s = v as f32 + c * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f32).powi(2)
    }

    #[test]
    fn dual_tone_is_continuous_across_frames_and_has_both_tones() {
        let (r, c) = dtmf_freqs('5').expect("key");
        assert_eq!((r, c), (770.0, 1336.0));
        let mut g = ToneGen::dual(r, 5000.0, c, 5000.0);
        let mut whole = vec![0i16; 800];
        for f in whole.chunks_mut(160) {
            g.fill(f);
        }
        let mut g2 = ToneGen::dual(r, 5000.0, c, 5000.0);
        let mut once = vec![0i16; 800];
        g2.fill(&mut once);
        assert_eq!(whole, once, "frame boundaries do not disturb the phase");
        let on = power(&whole, 770.0);
        assert!(on > 100.0 * power(&whole, 697.0), "{on}");
        assert!(power(&whole, 1336.0) > 100.0 * power(&whole, 1209.0));
        assert!(dtmf_freqs('x').is_none());
        assert_eq!(dtmf_freqs('d'), Some((941.0, 1633.0)));
    }
}
