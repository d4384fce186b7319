//! Scalar Goertzel kernel: per-channel filter state for one block and the per-sample
//! recursion (window, energy, eight filters). The AVX2 kernel performs exactly the same
//! f32 operations in the same order, so both give bit-identical states.

use super::BLOCK_LEN;
use super::tables::{TONES, Tables};

/// Filter state of one channel within the current block.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct GoertzelState {
    /// s[n-1] of each filter.
    pub s1: [f32; TONES],
    /// s[n-2] of each filter.
    pub s2: [f32; TONES],
    /// Σ w·x² over the block so far (window-weighted energy).
    pub energy: f32,
    /// Σ w·x over the block so far (window-weighted sum, for the block's mean).
    pub sum: f32,
}

impl GoertzelState {
    /// Runs `samples`, which sit at block positions `pos..pos + samples.len()`, through the
    /// window and the filters. The caller keeps `pos + samples.len() <= BLOCK_LEN`.
    pub fn feed(&mut self, samples: &[i16], pos: usize, t: &Tables) {
        let window = &t.window[pos.min(BLOCK_LEN)..];
        for (&x, &w) in samples.iter().zip(window) {
            let xf = f32::from(x);
            let xw = xf * w;
            self.energy += xw * xf;
            self.sum += xw;
            for f in 0..TONES {
                // Same association as the AVX2 kernel: (xw + c·s1) - s2, no FMA.
                let s0 = xw + t.coef[f] * self.s1[f] - self.s2[f];
                self.s2[f] = self.s1[f];
                self.s1[f] = s0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tables::{tables, tone_freq};
    use super::*;

    #[test]
    fn goertzel_matches_windowed_dft() {
        let t = tables();
        let x: Vec<i16> = (0..BLOCK_LEN)
            .map(|i| ((i as f64 * 0.37).sin() * 9000.0 + (i as f64 * 1.3).cos() * 4000.0) as i16)
            .collect();
        let mut g = GoertzelState::default();
        // Feed in two uneven pieces: the state must not depend on the split.
        g.feed(&x[..13], 0, t);
        g.feed(&x[13..], 13, t);
        for f in 0..TONES {
            let w = 2.0 * std::f64::consts::PI * tone_freq(f) / 8000.0;
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for (i, &v) in x.iter().enumerate() {
                let xv = f64::from(v) * f64::from(t.window[i]);
                re += xv * (w * i as f64).cos();
                im -= xv * (w * i as f64).sin();
            }
            let dft = re * re + im * im;
            let (s1, s2) = (f64::from(g.s1[f]), f64::from(g.s2[f]));
            let goertzel = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
            assert!(
                (goertzel - dft).abs() <= 1e-4 * dft.max(1.0),
                "{f}: {goertzel} vs {dft}"
            );
        }
    }
}
