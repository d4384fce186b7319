//! Volume steps (dB) to the fixed-point gains the mixing kernels apply, and the exact
//! integer formulas both kernels implement.
//!
//! A gain is a Q12 multiplier: `round(4096 · 10^(dB/20))`, from 410 (-20 dB) through 4096
//! (0 dB, unity) to 40960 (+20 dB). Applied to a value `v` it gives `(v·g + 2048) >> 12`
//! (arithmetic shift: `v·g/4096` rounded half up). With `g = 4096` that is `v` exactly, so
//! the kernels may skip unity gains without changing a bit.

/// Lowest volume step, dB.
pub const VOLUME_MIN: i32 = -20;
/// Highest volume step, dB.
pub const VOLUME_MAX: i32 = 20;

/// Fractional bits of a gain.
pub(crate) const SHIFT: u32 = 12;
/// A gain of 0 dB.
pub(crate) const UNITY: i32 = 1 << SHIFT;
/// Rounding term added before the shift.
pub(crate) const ROUND: i32 = 1 << (SHIFT - 1);

/// `round(4096 · 10^(v/20))` for `v` = -20 ..= 20 (index `v + 20`).
const TABLE: [i32; 41] = [
    410, 460, 516, 579, 649, 728, 817, 917, 1029, 1154, 1295, 1453, 1631, 1830, 2053, 2303, 2584,
    2900, 3254, 3651, 4096, 4596, 5157, 5786, 6492, 7284, 8173, 9170, 10289, 11544, 12953, 14533,
    16306, 18296, 20529, 23034, 25844, 28997, 32536, 36506, 40960,
];

/// The Q12 gain of volume step `db`, or `None` outside [`VOLUME_MIN`]..=[`VOLUME_MAX`].
pub fn gain_q12(db: i32) -> Option<i32> {
    if !(VOLUME_MIN..=VOLUME_MAX).contains(&db) {
        return None;
    }
    Some(TABLE[(db - VOLUME_MIN) as usize])
}

/// A member's contribution of sample `x` at input gain `g`: `(x·g + 2048) >> 12`. At most
/// 327 680 in magnitude (+20 dB on -32768), so thousands of them sum exactly in an i32.
#[inline(always)]
pub(crate) fn contribution(x: i16, g: i32) -> i32 {
    (i32::from(x) * g + ROUND) >> SHIFT
}

/// The clamp bound of output gain `og`: the least `c` with `c·og ≥ 2^27`. Any `|d| ≥ c`
/// scales to at least 32768 in magnitude, so clamping `d` to `±c` before the multiply
/// changes no saturated result and keeps `d·og` below 2^27 + `og` (no i32 overflow).
pub(crate) fn clamp_bound(og: i32) -> i32 {
    let full = 1i32 << (SHIFT + 15);
    (full + og - 1) / og
}

/// Saturates to 16 bits.
#[inline(always)]
pub(crate) fn sat16(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// A listener's output sample from its 32-bit N-1 value `d` at output gain `og` with clamp
/// bound `c = clamp_bound(og)`: `sat16((clamp(d, -c, c)·og + 2048) >> 12)`, which equals
/// `sat16(round(d·og/4096))` computed without overflow.
#[inline(always)]
pub(crate) fn scale_out(d: i32, og: i32, c: i32) -> i16 {
    sat16((d.clamp(-c, c) * og + ROUND) >> SHIFT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_rounded_db() {
        for db in VOLUME_MIN..=VOLUME_MAX {
            let want = (4096.0 * 10f64.powf(f64::from(db) / 20.0)).round() as i32;
            assert_eq!(gain_q12(db), Some(want), "{db} dB");
        }
        assert_eq!(gain_q12(0), Some(UNITY));
        assert_eq!(gain_q12(-21), None);
        assert_eq!(gain_q12(21), None);
    }

    #[test]
    fn unity_is_exact() {
        for x in [i16::MIN, -12345, -1, 0, 1, 777, i16::MAX] {
            assert_eq!(contribution(x, UNITY), i32::from(x));
        }
        let c = clamp_bound(UNITY);
        for d in [
            -1_000_000, -32769, -32768, -5, 0, 5, 32767, 32768, 1_000_000,
        ] {
            assert_eq!(scale_out(d, UNITY, c), sat16(d), "{d}");
        }
    }

    #[test]
    fn clamped_output_equals_wide_formula() {
        // Against the same formula in i64 without the clamp, for every output gain, over
        // values around the clamp bound and the extremes a sum can reach.
        for db in VOLUME_MIN..=VOLUME_MAX {
            let og = gain_q12(db).unwrap();
            let c = clamp_bound(og);
            assert!(i64::from(c) * i64::from(og) < i64::from(i32::MAX));
            let probes = [
                i32::MIN / 2,
                -c - 1,
                -c,
                -c + 1,
                -32769,
                -1,
                0,
                1,
                32768,
                c - 1,
                c,
                c + 1,
                i32::MAX / 2,
            ];
            for d in probes {
                let wide = (i64::from(d) * i64::from(og) + 2048) >> 12;
                let want = wide.clamp(-32768, 32767) as i16;
                assert_eq!(scale_out(d, og, c), want, "{db} dB, d = {d}");
            }
        }
    }
}
