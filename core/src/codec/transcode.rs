//! A-law ↔ µ-law transcoding tables: each entry is the tandem conversion through
//! 16-bit linear PCM (decode with the source law, encode with the target law), so
//! transcoding a frame equals decoding and re-encoding it, one table lookup per byte.
//!
//! Note: these are not the G.711 Tables 3/4 direct-conversion mappings, which pick
//! the neighbouring code for a few dozen entries; tandem conversion keeps
//! transcoded and decoded-then-mixed paths identical.

use super::alaw::{ALAW_TO_LINEAR, linear_to_alaw};
use super::ulaw::{ULAW_TO_LINEAR, linear_to_ulaw};

const fn build_ulaw_to_alaw() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = linear_to_alaw(ULAW_TO_LINEAR[i]);
        i += 1;
    }
    table
}

const fn build_alaw_to_ulaw() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = linear_to_ulaw(ALAW_TO_LINEAR[i]);
        i += 1;
    }
    table
}

/// µ-law code → A-law code.
pub static ULAW_TO_ALAW: [u8; 256] = build_ulaw_to_alaw();
/// A-law code → µ-law code.
pub static ALAW_TO_ULAW: [u8; 256] = build_alaw_to_ulaw();

/// Transcodes µ-law bytes to A-law; converts `min(src.len(), dst.len())` bytes and
/// returns that count.
#[inline]
pub fn ulaw_to_alaw(src: &[u8], dst: &mut [u8]) -> usize {
    let n = src.len().min(dst.len());
    for (out, &code) in dst[..n].iter_mut().zip(&src[..n]) {
        *out = ULAW_TO_ALAW[code as usize];
    }
    n
}

/// Transcodes A-law bytes to µ-law; converts `min(src.len(), dst.len())` bytes and
/// returns that count.
#[inline]
pub fn alaw_to_ulaw(src: &[u8], dst: &mut [u8]) -> usize {
    let n = src.len().min(dst.len());
    for (out, &code) in dst[..n].iter_mut().zip(&src[..n]) {
        *out = ALAW_TO_ULAW[code as usize];
    }
    n
}

#[cfg(test)]
mod tests {
    use super::super::{alaw_to_linear, ulaw_to_linear};
    use super::*;

    /// Width of the quantisation interval that holds `value` for the given decoder,
    /// found as the distance to the neighbouring reconstruction levels.
    fn max_neighbour_gap(levels: &[i16; 256], value: i16) -> i32 {
        let mut sorted: Vec<i32> = levels.iter().map(|&v| v as i32).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let v = value as i32;
        let below = sorted.iter().rev().find(|&&l| l <= v).copied().unwrap_or(v);
        let above = sorted.iter().find(|&&l| l >= v).copied().unwrap_or(v);
        let lower_gap = sorted
            .iter()
            .rev()
            .find(|&&l| l < below)
            .map_or(0, |&l| below - l);
        let upper_gap = sorted
            .iter()
            .find(|&&l| l > above)
            .map_or(0, |&l| l - above);
        (above - below).max(lower_gap).max(upper_gap)
    }

    #[test]
    fn tables_equal_tandem_conversion() {
        for code in 0..=255u8 {
            assert_eq!(
                ULAW_TO_ALAW[code as usize],
                linear_to_alaw(ulaw_to_linear(code))
            );
            assert_eq!(
                ALAW_TO_ULAW[code as usize],
                linear_to_ulaw(alaw_to_linear(code))
            );
        }
    }

    #[test]
    fn transcoding_keeps_sign_and_stays_within_one_step() {
        for code in 0..=255u8 {
            let linear = ulaw_to_linear(code) as i32;
            let a = alaw_to_linear(ULAW_TO_ALAW[code as usize]) as i32;
            assert!(
                linear == 0 || linear.signum() == a.signum(),
                "µ {code:#04x}"
            );
            let gap = max_neighbour_gap(&ALAW_TO_LINEAR, a as i16);
            assert!((linear - a).abs() <= gap, "µ {code:#04x}: {linear} -> {a}");

            let linear = alaw_to_linear(code) as i32;
            let u = ulaw_to_linear(ALAW_TO_ULAW[code as usize]) as i32;
            assert!(linear.signum() == u.signum() || u == 0, "A {code:#04x}");
            let gap = max_neighbour_gap(&ULAW_TO_LINEAR, u as i16);
            assert!((linear - u).abs() <= gap, "A {code:#04x}: {linear} -> {u}");
        }
    }

    #[test]
    fn transcoding_is_monotonic() {
        let mut ulaw_codes: Vec<u8> = (0..=255).collect();
        ulaw_codes.sort_by_key(|&c| ulaw_to_linear(c));
        let mapped: Vec<i16> = ulaw_codes
            .iter()
            .map(|&c| alaw_to_linear(ULAW_TO_ALAW[c as usize]))
            .collect();
        assert!(mapped.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn slice_functions_use_the_tables() {
        let src: Vec<u8> = (0..=255).collect();
        let mut a = [0u8; 256];
        let mut back = [0u8; 256];
        assert_eq!(ulaw_to_alaw(&src, &mut a), 256);
        assert_eq!(alaw_to_ulaw(&a, &mut back[..100]), 100);
        for i in 0..100 {
            assert_eq!(back[i], ALAW_TO_ULAW[ULAW_TO_ALAW[i] as usize]);
        }
        assert!(back[100..].iter().all(|&b| b == 0));
    }
}
