//! Sample-rate conversion for prompts: a rational (L/M) polyphase resampler whose
//! prototype is a Kaiser-windowed sinc low-pass (about 80 dB stopband).
//!
//! The cut-off sits at 92.5 % of the lower Nyquist frequency with the stopband
//! starting exactly at it, so converting 16/22.05/44.1/48 kHz prompts to 8 kHz keeps
//! the telephone band (flat within a fraction of a dB up to about 3.4 kHz) and folds
//! nothing back into it. Output is time-aligned with the input (the filter delay is
//! compensated) and `ceil(len * out_rate / in_rate)` samples long.
//! This runs when prompts are loaded, not per packet; it allocates.

use thiserror::Error;

/// Stopband attenuation the prototype filter is designed for, in dB.
const ATTENUATION_DB: f64 = 80.0;
/// Passband edge as a fraction of the lower Nyquist frequency.
const PASSBAND: f64 = 0.85;
/// Largest interpolation factor (after reducing the ratio) we build tables for.
const MAX_UP: u64 = 1024;
/// Largest coefficient table we build (4 MiB of f32).
const MAX_COEFFS: usize = 1 << 20;

/// Why a resampler could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResampleError {
    /// A rate of zero was given.
    #[error("sample rate must be positive")]
    ZeroRate,
    /// The reduced ratio out/in needs more than 1024 filter phases, or the
    /// filter would exceed 2^20 coefficients (input rates far above 384 kHz).
    #[error("unsupported rate ratio {in_rate} -> {out_rate} Hz")]
    UnsupportedRatio {
        /// Input rate in Hz.
        in_rate: u32,
        /// Output rate in Hz.
        out_rate: u32,
    },
}

/// A streaming rational resampler from `in_rate` to `out_rate` (mono, i16).
#[derive(Debug, Clone)]
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    up: u64,
    down: u64,
    taps: usize,
    /// `up` phases of `taps` coefficients each, stored time-reversed so that a phase
    /// is a plain dot product with ascending input samples.
    coeffs: Vec<f32>,
    /// Pending input; `history[0]` is input sample number `base` (negative = the
    /// zeros before the start).
    history: Vec<f32>,
    base: i64,
    /// Filter delay in upsampled units.
    delay: u64,
    received: u64,
    produced: u64,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Zeroth-order modified Bessel function of the first kind (power series).
fn bessel_i0(x: f64) -> f64 {
    let half = x / 2.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..64 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

impl Resampler {
    /// Builds a resampler; fails for a zero rate or an unsupported ratio (every
    /// common audio rate pair, 8 to 384 kHz, is supported).
    pub fn new(in_rate: u32, out_rate: u32) -> Result<Self, ResampleError> {
        if in_rate == 0 || out_rate == 0 {
            return Err(ResampleError::ZeroRate);
        }
        let g = gcd(in_rate as u64, out_rate as u64);
        let (up, down) = (out_rate as u64 / g, in_rate as u64 / g);
        if up > MAX_UP {
            return Err(ResampleError::UnsupportedRatio { in_rate, out_rate });
        }
        if up == down {
            return Ok(Self::with_filter(in_rate, out_rate, 1, 1, 1, vec![1.0]));
        }
        // Design at the upsampled rate in_rate * up; frequencies normalised to it.
        let nyquist = in_rate.min(out_rate) as f64 / 2.0;
        let fs_up = in_rate as f64 * up as f64;
        let transition = nyquist * (1.0 - PASSBAND);
        let cutoff = (nyquist - transition / 2.0) / fs_up; // cycles per upsampled sample
        let beta = 0.1102 * (ATTENUATION_DB - 8.7);
        // Kaiser's length estimate, per input sample (i.e. per phase).
        let per_phase = (ATTENUATION_DB - 7.95)
            / (2.285 * 2.0 * std::f64::consts::PI * transition / in_rate as f64);
        let taps = (per_phase.ceil() as usize).max(2);
        let len = taps.saturating_mul(up as usize);
        if len > MAX_COEFFS {
            return Err(ResampleError::UnsupportedRatio { in_rate, out_rate });
        }
        let centre = (len - 1) as f64 / 2.0;
        let i0_beta = bessel_i0(beta);
        let prototype: Vec<f64> = (0..len)
            .map(|j| {
                let x = j as f64 - centre;
                let arg = 2.0 * cutoff * x;
                let sinc = if arg == 0.0 {
                    1.0
                } else {
                    (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
                };
                let r = x / centre;
                let window = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
                sinc * window
            })
            .collect();
        let mut coeffs = vec![0f32; len];
        for phase in 0..up as usize {
            // Tap k of this phase multiplies input sample i0 - k: h[phase + k * up].
            let sum: f64 = (0..taps).map(|k| prototype[phase + k * up as usize]).sum();
            let gain = if sum.abs() > 1e-12 { 1.0 / sum } else { 0.0 };
            for k in 0..taps {
                coeffs[phase * taps + (taps - 1 - k)] =
                    (prototype[phase + k * up as usize] * gain) as f32;
            }
        }
        let mut resampler = Self::with_filter(in_rate, out_rate, up, down, taps, coeffs);
        resampler.delay = centre.round() as u64;
        Ok(resampler)
    }

    fn with_filter(
        in_rate: u32,
        out_rate: u32,
        up: u64,
        down: u64,
        taps: usize,
        coeffs: Vec<f32>,
    ) -> Self {
        Self {
            in_rate,
            out_rate,
            up,
            down,
            taps,
            coeffs,
            history: vec![0.0; taps - 1],
            base: -(taps as i64 - 1),
            delay: 0,
            received: 0,
            produced: 0,
        }
    }

    /// Input rate in Hz.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// Output rate in Hz.
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// Feeds input samples and appends every output sample that is now complete.
    pub fn process(&mut self, input: &[i16], output: &mut Vec<i16>) {
        self.history.extend(input.iter().map(|&s| s as f32));
        self.received += input.len() as u64;
        self.run(output, false);
    }

    /// Ends the stream: appends the remaining output (the input is taken as silent
    /// past its end) so that the total is `ceil(len * out_rate / in_rate)` samples.
    pub fn finish(mut self, output: &mut Vec<i16>) {
        self.run(output, true);
    }

    fn run(&mut self, output: &mut Vec<i16>, finishing: bool) {
        let total = (self.received * self.up).div_ceil(self.down);
        while self.produced < total {
            let t = self.produced * self.down + self.delay;
            let newest = (t / self.up) as i64;
            if !finishing && newest >= self.received as i64 {
                break;
            }
            let phase = (t % self.up) as usize;
            let start = newest - (self.taps as i64 - 1) - self.base;
            let coeffs = &self.coeffs[phase * self.taps..(phase + 1) * self.taps];
            let value = dot_padded(coeffs, &self.history, start);
            output.push(value.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16);
            self.produced += 1;
        }
        // Drop input no future output needs.
        let t = self.produced * self.down + self.delay;
        let oldest_needed = (t / self.up) as i64 - (self.taps as i64 - 1);
        let drop = (oldest_needed - self.base).clamp(0, self.history.len() as i64) as usize;
        if drop > 0 {
            self.history.drain(..drop);
            self.base += drop as i64;
        }
    }
}

/// Dot product of `coeffs` with `history[start..start + coeffs.len()]`, where
/// positions past the end of `history` count as zero.
fn dot_padded(coeffs: &[f32], history: &[f32], start: i64) -> f32 {
    let start = start.max(0) as usize;
    let available = history.len().saturating_sub(start).min(coeffs.len());
    let (c, x) = (&coeffs[..available], &history[start..start + available]);
    let mut acc = [0f32; 8];
    let mut c_chunks = c.chunks_exact(8);
    let mut x_chunks = x.chunks_exact(8);
    for (cc, xc) in (&mut c_chunks).zip(&mut x_chunks) {
        for i in 0..8 {
            acc[i] += cc[i] * xc[i];
        }
    }
    let tail: f32 = c_chunks
        .remainder()
        .iter()
        .zip(x_chunks.remainder())
        .map(|(a, b)| a * b)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// Converts a whole mono buffer from `in_rate` to `out_rate`.
pub fn resample(input: &[i16], in_rate: u32, out_rate: u32) -> Result<Vec<i16>, ResampleError> {
    let mut resampler = Resampler::new(in_rate, out_rate)?;
    let mut output = Vec::with_capacity(
        (input.len() as u64 * out_rate as u64).div_ceil(in_rate as u64) as usize,
    );
    resampler.process(input, &mut output);
    resampler.finish(&mut output);
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn tone(rate: u32, freq: f64, amplitude: f64, seconds: f64) -> Vec<i16> {
        let n = (rate as f64 * seconds) as usize;
        (0..n)
            .map(|i| (amplitude * (2.0 * PI * freq * i as f64 / rate as f64).sin()).round() as i16)
            .collect()
    }

    /// Least-squares fit of a sinusoid at `freq` over `samples`:
    /// returns (amplitude, RMS of the residual).
    fn fit(samples: &[i16], rate: u32, freq: f64) -> (f64, f64) {
        let n = samples.len() as f64;
        let w = 2.0 * PI * freq / rate as f64;
        let (mut a, mut b) = (0.0, 0.0);
        for (i, &s) in samples.iter().enumerate() {
            a += s as f64 * (w * i as f64).cos();
            b += s as f64 * (w * i as f64).sin();
        }
        let (a, b) = (2.0 * a / n, 2.0 * b / n);
        let residual: f64 = samples
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let model = a * (w * i as f64).cos() + b * (w * i as f64).sin();
                (s as f64 - model).powi(2)
            })
            .sum::<f64>()
            / n;
        ((a * a + b * b).sqrt(), residual.sqrt())
    }

    fn rms(samples: &[i16]) -> f64 {
        (samples.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
    }

    /// The steady-state middle of an 8 kHz output, an integer number of 1 kHz cycles.
    fn middle(samples: &[i16]) -> &[i16] {
        &samples[400..samples.len() - 400]
    }

    #[test]
    fn one_khz_keeps_frequency_and_level_from_every_prompt_rate() {
        for rate in [16_000, 22_050, 32_000, 44_100, 48_000] {
            let input = tone(rate, 1000.0, 16000.0, 0.5);
            let out = resample(&input, rate, 8000).expect("supported ratio");
            assert_eq!(out.len(), 4000, "rate {rate}");
            let (amplitude, residual) = fit(middle(&out), 8000, 1000.0);
            let gain_db = 20.0 * (amplitude / 16000.0).log10();
            assert!(gain_db.abs() < 0.5, "rate {rate}: gain {gain_db:.3} dB");
            // A shifted frequency would leave most of the energy in the residual.
            assert!(
                residual < 16000.0 * 0.01,
                "rate {rate}: residual {residual}"
            );
        }
    }

    #[test]
    fn six_khz_at_48k_is_attenuated_by_more_than_40_db() {
        let input = tone(48_000, 6000.0, 16000.0, 0.5);
        let out = resample(&input, 48_000, 8000).expect("supported ratio");
        let attenuation = 20.0 * (rms(middle(&out)) / rms(&input)).log10();
        assert!(attenuation < -40.0, "only {attenuation:.1} dB");
    }

    #[test]
    fn out_of_band_tones_from_other_rates_are_attenuated() {
        for (rate, freq) in [(44_100, 5000.0), (22_050, 4500.0), (16_000, 7000.0)] {
            let input = tone(rate, freq, 16000.0, 0.5);
            let out = resample(&input, rate, 8000).expect("supported ratio");
            let attenuation = 20.0 * (rms(middle(&out)) / rms(&input)).log10();
            assert!(
                attenuation < -40.0,
                "{rate} Hz / {freq} Hz: {attenuation:.1} dB"
            );
        }
    }

    #[test]
    fn upper_telephone_band_is_kept() {
        let input = tone(48_000, 3000.0, 10000.0, 0.5);
        let out = resample(&input, 48_000, 8000).expect("supported ratio");
        let (amplitude, _) = fit(middle(&out), 8000, 3000.0);
        let gain_db = 20.0 * (amplitude / 10000.0).log10();
        assert!(gain_db.abs() < 0.5, "3 kHz gain {gain_db:.3} dB");
    }

    #[test]
    fn output_is_time_aligned() {
        // An impulse at input sample 4800 (0.1 s) peaks at output sample 800.
        let mut input = vec![0i16; 9600];
        input[4800] = 30000;
        let out = resample(&input, 48_000, 8000).expect("supported ratio");
        let peak = out
            .iter()
            .enumerate()
            .max_by_key(|(_, v)| v.unsigned_abs())
            .map(|(i, _)| i);
        assert_eq!(peak, Some(800));
    }

    #[test]
    fn streaming_in_chunks_equals_one_shot() {
        let input = tone(44_100, 440.0, 12000.0, 0.3);
        let whole = resample(&input, 44_100, 8000).expect("supported ratio");
        let mut resampler = Resampler::new(44_100, 8000).expect("supported ratio");
        let mut streamed = Vec::new();
        for chunk in input.chunks(733) {
            resampler.process(chunk, &mut streamed);
        }
        resampler.finish(&mut streamed);
        assert_eq!(streamed, whole);
    }

    #[test]
    fn equal_rates_copy_and_upsampling_works() {
        let input = tone(8000, 1000.0, 8000.0, 0.1);
        assert_eq!(resample(&input, 8000, 8000), Ok(input.clone()));
        let up = resample(&input, 8000, 16_000).expect("supported ratio");
        assert_eq!(up.len(), 1600);
        let (amplitude, _) = fit(&up[400..1200], 16_000, 1000.0);
        assert!((20.0 * (amplitude / 8000.0).log10()).abs() < 0.5);
    }

    #[test]
    fn bad_rates_are_refused() {
        assert_eq!(Resampler::new(0, 8000).err(), Some(ResampleError::ZeroRate));
        assert!(matches!(
            Resampler::new(44_101, 8000),
            Err(ResampleError::UnsupportedRatio { .. })
        ));
        assert!(matches!(
            Resampler::new(u32::MAX - 4, 8000),
            Err(ResampleError::UnsupportedRatio { .. })
        ));
        assert!(Resampler::new(384_000, 8000).is_ok());
        assert_eq!(resample(&[], 48_000, 8000), Ok(Vec::new()));
    }
}
