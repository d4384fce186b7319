//! ITU-T G.711 µ-law: a 256-entry decode table and a branch-free encoder, both
//! bit-exact with the ITU-T G.191 reference (`ulaw_compress`/`ulaw_expand`): the
//! 16-bit input is reduced to 14 bits, negative samples use the one's complement
//! magnitude, and the decoded values are the interval midpoints (range ±32124).

/// Expands one µ-law code (G.711 Table 2a) to 16-bit linear PCM.
const fn expand(code: u8) -> i16 {
    let u = !code;
    let exponent = (u >> 4) & 0x07;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
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

/// µ-law code → 16-bit linear sample, for all 256 codes.
pub static ULAW_TO_LINEAR: [i16; 256] = build_table();

/// Decodes one µ-law code to a 16-bit linear sample.
#[inline(always)]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[code as usize]
}

/// Encodes one 16-bit linear sample to µ-law (G.711, truncating as G.191 does).
///
/// Branch-free and written so that loops over it auto-vectorise: the segment and
/// mantissa are read from the exponent and top mantissa bits of the biased
/// magnitude converted (exactly) to `f32`, avoiding per-lane variable shifts.
#[inline(always)]
pub const fn linear_to_ulaw(sample: i16) -> u8 {
    // 0 for positive, -1 for negative: flips to the one's complement magnitude.
    let sign = (sample >> 15) as i32;
    let magnitude = (sample as i32) ^ sign;
    // Bias by 33 in 14-bit units, clip to 13 bits: the top set bit is then bit 5..=12.
    let biased = (magnitude >> 2) + 33;
    let biased = if biased > 0x1FFF { 0x1FFF } else { biased };
    // f32 bits >> 19 = biased exponent (127 + top bit) << 4 | the 4 bits below the top.
    let bits = (biased as f32).to_bits() as i32;
    let segment_mantissa = (bits >> 19) - ((127 + 5) << 4);
    let mask = 0xFF ^ (sign & 0x80);
    (mask ^ segment_mantissa) as u8
}

/// Decodes µ-law codes into linear samples; converts `min(src.len(), dst.len())`
/// samples and returns that count.
#[inline]
pub fn decode_ulaw(src: &[u8], dst: &mut [i16]) -> usize {
    let n = src.len().min(dst.len());
    for (out, &code) in dst[..n].iter_mut().zip(&src[..n]) {
        *out = ULAW_TO_LINEAR[code as usize];
    }
    n
}

/// Encodes linear samples into µ-law codes; converts `min(src.len(), dst.len())`
/// samples and returns that count.
#[inline]
pub fn encode_ulaw(src: &[i16], dst: &mut [u8]) -> usize {
    let n = src.len().min(dst.len());
    for (out, &sample) in dst[..n].iter_mut().zip(&src[..n]) {
        *out = linear_to_ulaw(sample);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Segment start decision values of G.711 Table 2a in 14-bit units; segment s has
    /// 16 intervals of width 2^(s+1). Segment 0 starts at -1 so that its first interval
    /// is [0, 1) for magnitudes, as the table gives (0, then 1, 3, 5, ... 31).
    const SEGMENT_START: [i32; 9] = [-1, 31, 95, 223, 479, 991, 2015, 4063, 8159];

    /// Straightforward reference from the standard: search the 128 quantisation
    /// intervals for the one holding the magnitude, then form the character
    /// (sign bit 1 for positive, magnitude bits inverted).
    fn reference_encode(x: i16) -> u8 {
        let negative = x < 0;
        // One's complement magnitude, reduced to the 14-bit uniform code.
        let magnitude = if negative { -(x as i32) - 1 } else { x as i32 } >> 2;
        let mut index = 127; // overload: beyond the last decision value
        'search: for (segment, &start) in SEGMENT_START[..8].iter().enumerate() {
            let width = 2 << segment;
            for step in 0..16 {
                let low = start + step * width;
                if magnitude >= low.max(0) && magnitude < low + width {
                    index = segment as i32 * 16 + step;
                    break 'search;
                }
            }
        }
        let sign = if negative { 0 } else { 0x80 };
        (sign | (0x7F ^ index)) as u8
    }

    /// Reference decode: the midpoint of the code's interval, scaled to 16 bits.
    fn reference_decode(code: u8) -> i16 {
        let index = (0x7F ^ (code & 0x7F)) as i32;
        let (segment, step) = (index / 16, index % 16);
        let width = 2 << segment;
        let low = SEGMENT_START[segment as usize] + step * width;
        let value = (low + width / 2) * 4;
        if code & 0x80 == 0 {
            -value as i16
        } else {
            value as i16
        }
    }

    #[test]
    fn encode_matches_reference_for_all_inputs() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(linear_to_ulaw(x), reference_encode(x), "input {x}");
        }
    }

    #[test]
    fn decode_table_matches_reference() {
        for code in 0..=255u8 {
            assert_eq!(
                ulaw_to_linear(code),
                reference_decode(code),
                "code {code:#04x}"
            );
        }
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0xFF), 0);
    }

    #[test]
    fn all_codes_round_trip_except_negative_zero() {
        for code in 0..=255u8 {
            let back = linear_to_ulaw(ulaw_to_linear(code));
            // 0x7F (-0) and 0xFF (+0) both decode to 0, which encodes as +0.
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(back, expected, "code {code:#04x}");
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        let mut previous = ulaw_to_linear(linear_to_ulaw(i16::MIN));
        for x in i16::MIN..=i16::MAX {
            let y = ulaw_to_linear(linear_to_ulaw(x));
            assert!(y >= previous, "not monotonic at {x}");
            previous = y;
        }
    }

    #[test]
    fn slices_convert_the_common_length() {
        let src = [0i16, 1000, -1000, 32767, -32768];
        let mut codes = [0u8; 4];
        assert_eq!(encode_ulaw(&src, &mut codes), 4);
        assert_eq!(codes[0], 0xFF);
        assert_eq!(codes[3], 0x80);
        let mut back = [0i16; 8];
        assert_eq!(decode_ulaw(&codes, &mut back), 4);
        assert_eq!(back[1], ulaw_to_linear(linear_to_ulaw(1000)));
        assert_eq!(back[2], -back[1]);
        assert_eq!(back[4], 0, "untouched beyond the converted length");
    }
}
