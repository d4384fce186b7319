//! AVX2 Goertzel kernel for a [`super::DetectorBank`]: eight channels per `__m256`, one
//! vector per filter. Performs exactly the scalar kernel's f32 operations in the same order
//! (multiply and add separately, never FMA), so its states are bit-identical.

use super::BLOCK_LEN;
use super::bank::{LANES, LaneStates};
use super::tables::{TONES, Tables};
use std::arch::x86_64::*;

/// Runs one chunk per lane (all of equal length, at block positions `pos..`) through the
/// window and the filters of all lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn feed_lanes(
    st: &mut LaneStates,
    chunk: &[&[i16]; LANES],
    pos: usize,
    t: &Tables,
) {
    let len = chunk[0].len().min(BLOCK_LEN.saturating_sub(pos));
    if len == 0 {
        return;
    }
    let lanes: [&[i16]; LANES] = std::array::from_fn(|l| &chunk[l][..len.min(chunk[l].len())]);
    if lanes.iter().any(|s| s.len() != len) {
        return;
    }
    let window = &t.window[pos..pos + len];
    let coef: [__m256; TONES] = std::array::from_fn(|f| _mm256_set1_ps(t.coef[f]));
    let mut s1: [__m256; TONES] = std::array::from_fn(|f| load(&st.s1[f]));
    let mut s2: [__m256; TONES] = std::array::from_fn(|f| load(&st.s2[f]));
    let mut e = load(&st.energy);
    let mut sum = load(&st.sum);

    let mut step = |x: __m256, w: f32| {
        let xw = _mm256_mul_ps(x, _mm256_set1_ps(w));
        e = _mm256_add_ps(e, _mm256_mul_ps(xw, x));
        sum = _mm256_add_ps(sum, xw);
        for f in 0..TONES {
            let s0 = _mm256_sub_ps(_mm256_add_ps(xw, _mm256_mul_ps(coef[f], s1[f])), s2[f]);
            s2[f] = s1[f];
            s1[f] = s0;
        }
    };

    let mut i = 0;
    while i + 8 <= len {
        let rows: [__m128i; LANES] = std::array::from_fn(|l| load8(&lanes[l][i..i + 8]));
        let cols = transpose8x8(rows);
        for (k, c) in cols.into_iter().enumerate() {
            step(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(c)), window[i + k]);
        }
        i += 8;
    }
    while i < len {
        let x: [f32; LANES] = std::array::from_fn(|l| f32::from(lanes[l][i]));
        step(load(&x), window[i]);
        i += 1;
    }

    for f in 0..TONES {
        store(&mut st.s1[f], s1[f]);
        store(&mut st.s2[f], s2[f]);
    }
    store(&mut st.energy, e);
    store(&mut st.sum, sum);
}

#[inline]
#[target_feature(enable = "avx2")]
fn load(a: &[f32; LANES]) -> __m256 {
    // SAFETY: `a` is a valid, initialized [f32; 8]: 32 readable bytes; loadu has no
    // alignment requirement.
    unsafe { _mm256_loadu_ps(a.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store(a: &mut [f32; LANES], v: __m256) {
    // SAFETY: `a` is a valid, exclusive [f32; 8]: 32 writable bytes; storeu is unaligned.
    unsafe { _mm256_storeu_ps(a.as_mut_ptr(), v) }
}

/// Loads 8 i16 from a slice of at least 8 elements.
#[inline]
#[target_feature(enable = "avx2")]
fn load8(s: &[i16]) -> __m128i {
    let a: &[i16; 8] = match s.first_chunk::<8>() {
        Some(a) => a,
        None => return _mm_setzero_si128(),
    };
    // SAFETY: `a` is a valid [i16; 8]: 16 readable bytes; loadu is unaligned.
    unsafe { _mm_loadu_si128(a.as_ptr().cast()) }
}

/// Transposes 8 rows (lanes) of 8 i16 samples into 8 vectors (samples) of 8 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn transpose8x8(r: [__m128i; 8]) -> [__m128i; 8] {
    let t0 = _mm_unpacklo_epi16(r[0], r[1]);
    let t1 = _mm_unpackhi_epi16(r[0], r[1]);
    let t2 = _mm_unpacklo_epi16(r[2], r[3]);
    let t3 = _mm_unpackhi_epi16(r[2], r[3]);
    let t4 = _mm_unpacklo_epi16(r[4], r[5]);
    let t5 = _mm_unpackhi_epi16(r[4], r[5]);
    let t6 = _mm_unpacklo_epi16(r[6], r[7]);
    let t7 = _mm_unpackhi_epi16(r[6], r[7]);
    let u0 = _mm_unpacklo_epi32(t0, t2);
    let u1 = _mm_unpackhi_epi32(t0, t2);
    let u2 = _mm_unpacklo_epi32(t1, t3);
    let u3 = _mm_unpackhi_epi32(t1, t3);
    let u4 = _mm_unpacklo_epi32(t4, t6);
    let u5 = _mm_unpackhi_epi32(t4, t6);
    let u6 = _mm_unpacklo_epi32(t5, t7);
    let u7 = _mm_unpackhi_epi32(t5, t7);
    [
        _mm_unpacklo_epi64(u0, u4),
        _mm_unpackhi_epi64(u0, u4),
        _mm_unpacklo_epi64(u1, u5),
        _mm_unpackhi_epi64(u1, u5),
        _mm_unpacklo_epi64(u2, u6),
        _mm_unpackhi_epi64(u2, u6),
        _mm_unpacklo_epi64(u3, u7),
        _mm_unpackhi_epi64(u3, u7),
    ]
}
