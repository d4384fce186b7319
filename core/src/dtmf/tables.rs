//! Constant tables shared by the Goertzel kernels and the decision logic: the analysis
//! window, filter coefficients, phase-advance references and frequency tolerances. Built
//! once (f64 maths rounded to f32) and shared read-only, so every path uses the same bits.

use super::{BLOCK_LEN, COL_FREQS, ROW_FREQS, SAMPLE_RATE};
use std::f64::consts::PI;
use std::sync::OnceLock;

/// Number of Goertzel filters: 4 row tones then 4 column tones.
pub(crate) const TONES: usize = 8;

/// Accepted frequency offset of each tone, relative to nominal (the acceptance limit lies
/// between the must-accept ±1.5 % and the must-reject ±3.5 %).
pub(crate) const FREQ_TOLERANCE: f64 = 0.025;

pub(crate) struct Tables {
    /// Hann window sin²(π(n+½)/N): symmetric, no zero weights.
    pub window: [f32; BLOCK_LEN],
    /// Goertzel feedback coefficient 2·cos(ω).
    pub coef: [f32; TONES],
    pub cos: [f32; TONES],
    pub sin: [f32; TONES],
    /// e^{-jωN}: removes a nominal tone's phase advance over one block.
    pub rot: [[f32; 2]; TONES],
    /// cos of the largest accepted phase offset per block (FREQ_TOLERANCE of the tone).
    pub cos_tol: [f32; TONES],
    /// Nominal frequency of each tone, Hz.
    pub freq: [f32; TONES],
    /// Frequency offset per radian of phase offset over one block: fs / (2πN).
    pub hz_per_radian: f32,
    /// Scales |Y|² to the mean square of a sine that produces Y: 2/(Σw)².
    pub tone_norm: f32,
    /// Scales Σw·x² to the mean square of x: 1/Σw.
    ///
    /// Weighting the energy by w (not w²) gives it the window's own low leakage, so the
    /// beat between the two tones does not modulate it, and makes a partly filled block's
    /// purity equal to the share of the window's mass that the tone covers.
    pub total_norm: f32,
}

/// Frequency of tone `i` (rows then columns), Hz.
pub(crate) fn tone_freq(i: usize) -> f64 {
    if i < 4 {
        ROW_FREQS[i]
    } else {
        COL_FREQS[i - 4]
    }
}

pub(crate) fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(build)
}

fn build() -> Tables {
    let n = BLOCK_LEN as f64;
    let fs = f64::from(SAMPLE_RATE);
    let mut window = [0f32; BLOCK_LEN];
    let mut sum = 0f64;
    for (i, w) in window.iter_mut().enumerate() {
        let v = (PI * (i as f64 + 0.5) / n).sin().powi(2);
        *w = v as f32;
        sum += f64::from(*w);
    }
    let mut t = Tables {
        window,
        coef: [0.0; TONES],
        cos: [0.0; TONES],
        sin: [0.0; TONES],
        rot: [[0.0; 2]; TONES],
        cos_tol: [0.0; TONES],
        freq: [0.0; TONES],
        hz_per_radian: (fs / (2.0 * PI * n)) as f32,
        tone_norm: (2.0 / (sum * sum)) as f32,
        total_norm: (1.0 / sum) as f32,
    };
    for i in 0..TONES {
        let f = tone_freq(i);
        let w = 2.0 * PI * f / fs;
        t.coef[i] = (2.0 * w.cos()) as f32;
        t.cos[i] = w.cos() as f32;
        t.sin[i] = w.sin() as f32;
        t.rot[i] = [(w * n).cos() as f32, (-(w * n).sin()) as f32];
        let max_phase = 2.0 * PI * f * FREQ_TOLERANCE * n / fs;
        t.cos_tol[i] = max_phase.cos() as f32;
        t.freq[i] = f as f32;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_phase_is_unambiguous() {
        // The largest accepted phase advance must stay below π, and the reject limit
        // (3.5 %) of the highest tone must too, or the phase test would alias.
        let fs = f64::from(SAMPLE_RATE);
        let worst = 2.0 * PI * 1633.0 * 0.035 * BLOCK_LEN as f64 / fs;
        assert!(worst < PI, "{worst}");
        let t = tables();
        assert!(t.cos_tol.iter().all(|&c| c > -1.0 && c < 1.0));
        assert!(t.window.iter().all(|&w| w > 0.0 && w <= 1.0));
    }
}
