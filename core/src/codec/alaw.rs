//! ITU-T G.711 A-law: a 256-entry decode table and a branch-free encoder, both
//! bit-exact with the ITU-T G.191 reference (`alaw_compress`/`alaw_expand`): the
//! 16-bit input is reduced to 13 bits, negative samples use the one's complement
//! magnitude, even bits are inverted, and decoded values are interval midpoints
//! (range ±32256, smallest level ±8).

/// Expands one A-law code (G.711 Table 1a) to 16-bit linear PCM.
const fn expand(code: u8) -> i16 {
    let index = (code ^ 0x55) & 0x7F;
    let exponent = index >> 4;
    let mut mantissa = (index & 0x0F) as i32;
    if exponent > 0 {
        mantissa += 16;
    }
    mantissa = (mantissa << 4) + 8;
    if exponent > 1 {
        mantissa <<= exponent - 1;
    }
    if code & 0x80 != 0 {
        mantissa as i16
    } else {
        -mantissa as i16
    }
}

const fn build_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = expand(i as u8);
        i += 1;
    }
    table
}

/// A-law code → 16-bit linear sample, for all 256 codes.
pub static ALAW_TO_LINEAR: [i16; 256] = build_table();

/// Decodes one A-law code to a 16-bit linear sample.
#[inline(always)]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[code as usize]
}

/// Encodes one 16-bit linear sample to A-law (G.711, truncating as G.191 does).
///
/// Branch-free and written so that loops over it auto-vectorise: the segment and
/// mantissa are read from the exponent and top mantissa bits of the magnitude
/// converted (exactly) to `f32`, avoiding per-lane variable shifts.
#[inline(always)]
pub const fn linear_to_alaw(sample: i16) -> u8 {
    let sign = (sample >> 15) as i32;
    // One's complement magnitude in 12-bit units: 0..=2047.
    let index = ((sample as i32) ^ sign) >> 4;
    // Indices below 16 (segment 0) are coded as themselves; lifting them by 16
    // puts them in segment 1 with the same step, which is then taken back off.
    let small = if index < 16 { 16 } else { 0 };
    // f32 bits >> 19 = biased exponent (127 + top bit) << 4 | the 4 bits below the top.
    let bits = ((index + small) as f32).to_bits() as i32;
    let segment_mantissa = (bits >> 19) - ((127 + 3) << 4) - small;
    let mask = 0x55 | (!sign & 0x80);
    (mask ^ segment_mantissa) as u8
}

/// Decodes A-law codes into linear samples; converts `min(src.len(), dst.len())`
/// samples and returns that count.
#[inline]
pub fn decode_alaw(src: &[u8], dst: &mut [i16]) -> usize {
    let n = src.len().min(dst.len());
    for (out, &code) in dst[..n].iter_mut().zip(&src[..n]) {
        *out = ALAW_TO_LINEAR[code as usize];
    }
    n
}

/// Encodes linear samples into A-law codes; converts `min(src.len(), dst.len())`
/// samples and returns that count.
#[inline]
pub fn encode_alaw(src: &[i16], dst: &mut [u8]) -> usize {
    let n = src.len().min(dst.len());
    for (out, &sample) in dst[..n].iter_mut().zip(&src[..n]) {
        *out = linear_to_alaw(sample);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// G.711 Table 1a in units of the 12-bit magnitude (0..4096): segment 0 is
    /// [0, 32) and segment s >= 1 is [32 * 2^(s-1), 64 * 2^(s-1)); each has 16
    /// intervals, of width 2 in segments 0 and 1 and 2^s above.
    fn interval(segment: i32, step: i32) -> (i32, i32) {
        let (start, width) = if segment == 0 {
            (0, 2)
        } else {
            (32 << (segment - 1), 1 << segment.max(1))
        };
        let low = start + step * width;
        (low, low + width)
    }

    /// Straightforward reference from the standard: search the 128 intervals.
    fn reference_encode(x: i16) -> u8 {
        let negative = x < 0;
        // One's complement magnitude reduced to the 13-bit uniform code's 12-bit magnitude.
        let magnitude = if negative { -(x as i32) - 1 } else { x as i32 } >> 3;
        let mut index = None;
        'search: for segment in 0..8 {
            for step in 0..16 {
                let (low, high) = interval(segment, step);
                if magnitude >= low && magnitude < high {
                    index = Some(segment * 16 + step);
                    break 'search;
                }
            }
        }
        let index = index.expect("every 12-bit magnitude lies in an interval");
        let sign = if negative { 0 } else { 0x80 };
        ((sign | index) ^ 0x55) as u8
    }

    /// Reference decode: the interval midpoint scaled back to 16 bits.
    fn reference_decode(code: u8) -> i16 {
        let index = ((code ^ 0x55) & 0x7F) as i32;
        let (low, high) = interval(index / 16, index % 16);
        let value = (low + high) / 2 * 8;
        if code & 0x80 != 0 {
            value as i16
        } else {
            -value as i16
        }
    }

    #[test]
    fn encode_matches_reference_for_all_inputs() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(linear_to_alaw(x), reference_encode(x), "input {x}");
        }
    }

    #[test]
    fn decode_table_matches_reference() {
        for code in 0..=255u8 {
            assert_eq!(
                alaw_to_linear(code),
                reference_decode(code),
                "code {code:#04x}"
            );
        }
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn all_codes_round_trip() {
        for code in 0..=255u8 {
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "code {code:#04x}"
            );
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        let mut previous = alaw_to_linear(linear_to_alaw(i16::MIN));
        for x in i16::MIN..=i16::MAX {
            let y = alaw_to_linear(linear_to_alaw(x));
            assert!(y >= previous, "not monotonic at {x}");
            previous = y;
        }
    }

    #[test]
    fn slices_convert_the_common_length() {
        let src = [0i16, -1, 5000, i16::MAX];
        let mut codes = [0u8; 8];
        assert_eq!(encode_alaw(&src, &mut codes), 4);
        assert_eq!(&codes[..2], &[0xD5, 0x55]);
        assert_eq!(codes[3], 0xAA);
        let mut back = [0i16; 3];
        assert_eq!(decode_alaw(&codes, &mut back), 3);
        assert_eq!(back[0], 8);
        assert_eq!(back[2], alaw_to_linear(linear_to_alaw(5000)));
    }
}
