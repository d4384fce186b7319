//! In-band DTMF: a detector (ITU-T Q.24 / Bellcore GR-506 receiver), a multi-channel SIMD
//! detector bank, a tone generator and detection over a WAV file's audio. Pure DSP on
//! 8 kHz linear i16, spandsp-style: one state struct per channel, `new`, `rx(samples)`,
//! events out.
//!
//! # Method
//!
//! Blocks of [`BLOCK_LEN`] = 64 samples (8 ms) are Hann-windowed and run through eight
//! Goertzel filters (697 .. 1633 Hz); the same pass accumulates the window-weighted energy
//! and mean of the block. A block is a *candidate* for a digit when the strongest row and
//! column tone hold at least 80 % of the block's energy (*purity*; DC removed), both are
//! at least -40 dBm0, and the block's twist is plausible. A digit is *validated* when four
//! consecutive blocks (32 ms) are candidates for it and, over those four blocks:
//!
//! - the two tones hold at least 90 % of the energy (averaging makes this tight test
//!   robust in noise; speech and music rarely get there);
//! - the average twist is within 9 dB normal / 5 dB reverse;
//! - each tone's level varies by at most 6 dB, and its phase advances from block to block
//!   at a rate within ±2.5 % of its nominal frequency, with the three advances within
//!   20 Hz of each other;
//! - the two measured frequencies are not an octave apart (one harmonic-rich tone whose
//!   fundamental falls in a row band and its 2nd harmonic in a column band).
//!
//! A digit ends after four consecutive blocks (32 ms) that are not candidates for it with a
//! relaxed purity of 65 %; fewer are bridged.
//!
//! Why 64 samples and four blocks: a 40 ms tone always contains four whole blocks
//! (4·64 + 63 = 319 ≤ 320 samples), while a tone of 23 ms (184 samples) can cover at most
//! two whole blocks plus two partial ones holding 56 samples between them, and a partial
//! block's purity equals the share of the window's mass the tone covers, so one less than
//! about 80 % covered is no candidate; tones up to about 25 ms are always rejected. A 40 ms
//! pause always contains four whole silent blocks and ends the digit; a 10 ms interruption
//! touches at most three blocks and is bridged. The phase advance over 64 samples is
//! unambiguous for offsets up to ±62.5 Hz, which covers ±3.5 % of 1633 Hz (57 Hz), so the
//! frequency test measures every tone's deviation directly instead of relying on the
//! filter's magnitude response (a fixed-bandwidth filter cannot both accept 1.5 % at
//! 1633 Hz, 24.5 Hz, and reject 3.5 % at 697 Hz, 24.4 Hz). The Hann window keeps the
//! leakage of the other group's tone below -35 dB, so purity and twist are measured
//! precisely even with 8 dB of twist. No 2nd-harmonic filters are run: the purity test
//! already counts harmonics (they are energy outside the two tones), and the octave test
//! covers the one case where a harmonic *is* the second tone.
//!
//! # Levels
//!
//! 0 dBm0 is a sine of peak amplitude 32768·10^(-3.17/20) ≈ 22 747 (G.711 µ-law: a
//! full-scale sine is +3.17 dBm0). See [`DBM0_PEAK`].
//!
//! # Bit-identical scalar and AVX2 paths
//!
//! The per-sample work (window, energy, Goertzel recursion) is done by the scalar kernel
//! (`goertzel.rs`) or the AVX2 kernel (`goertzel_avx2.rs`, 8 channels per `f32x8`, used by
//! [`DetectorBank`]) with the same f32 operations in the same order and no FMA, so both
//! produce the same bits; everything after a block (the decision) is shared scalar code.
//!
//! # Cost
//!
//! `bench/dtmf.rs` on the development machine: about 330 ns per 20 ms channel-frame for
//! [`Detector`], about 175 ns per channel-frame for an AVX2 [`DetectorBank`].

pub mod bank;
pub mod detector;
pub mod file;
pub mod generator;
mod goertzel;
#[cfg(target_arch = "x86_64")]
mod goertzel_avx2;
mod tables;

pub use bank::{BankError, DetectorBank, Kernel, LANES};
pub use detector::{BlockStats, Detector};
pub use file::{DetectError, DetectedDigit, detect_wav_bytes};
pub use generator::ToneGenerator;

/// Sample rate of all input and output, Hz.
pub const SAMPLE_RATE: u32 = 8000;

/// Analysis block length in samples (8 ms); see the module documentation.
pub const BLOCK_LEN: usize = 64;

/// Peak amplitude (16-bit scale) of a 0 dBm0 sine: 32768·10^(-3.17/20).
pub const DBM0_PEAK: f64 = 22_746.6;

/// Row (low group) frequencies, Hz.
pub const ROW_FREQS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];

/// Column (high group) frequencies, Hz.
pub const COL_FREQS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Keypad: `KEYPAD[row][col]`.
pub const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// (row, column) of `digit` (case-insensitive for A-D), or `None` for a non-DTMF char.
pub fn digit_position(digit: char) -> Option<(usize, usize)> {
    let d = digit.to_ascii_uppercase();
    KEYPAD
        .iter()
        .enumerate()
        .find_map(|(r, row)| row.iter().position(|&c| c == d).map(|c| (r, c)))
}

/// One detected digit. A digit produces exactly two events: one when it is validated
/// (`end == None`) and one when it ends (`end == Some(..)`), both with the same `digit`
/// and `start_sample`. Count digits by their `end == None` events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfEvent {
    /// '0'-'9', '*', '#', 'A'-'D'.
    pub digit: char,
    /// Index (from the first sample given to the detector) of the first sample of the first
    /// block in which the digit was seen (block resolution, 8 ms).
    pub start_sample: u64,
    /// One past the last sample of the last block in which the digit was seen; `None` on
    /// the validation event.
    pub end: Option<u64>,
}

/// Sine peak amplitude (16-bit scale) for `dbm0`.
pub fn dbm0_to_peak(dbm0: f64) -> f64 {
    DBM0_PEAK * 10f64.powf(dbm0 / 20.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbm0_reference_matches_g711_overload() {
        let full_scale_dbm0 = 20.0 * (32768.0 / DBM0_PEAK).log10();
        assert!((full_scale_dbm0 - 3.17).abs() < 0.001, "{full_scale_dbm0}");
        assert!((dbm0_to_peak(-6.0) - DBM0_PEAK * 0.501187).abs() < 0.1);
    }

    #[test]
    fn keypad_positions() {
        assert_eq!(digit_position('1'), Some((0, 0)));
        assert_eq!(digit_position('d'), Some((3, 3)));
        assert_eq!(digit_position('#'), Some((3, 2)));
        assert_eq!(digit_position('x'), None);
    }
}
