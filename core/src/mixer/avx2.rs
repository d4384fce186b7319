//! AVX2 N-1 kernel. The frame is cut into blocks of 32 samples (one cache line of each
//! 64-byte-aligned input): per block, the 32-bit sums stay in four registers while every
//! contribution is added, then every listener's output of that block is written from
//! them. When all the block's sums fit in 16 bits (the usual case: a conference rarely
//! clips), a unity listener's `sat16(S - x)` is one 16-bit saturating subtract per 16
//! samples. Same integer results as `scalar.rs` (exact arithmetic, so the order does not
//! matter, and the 16-bit shortcut is exact where it is taken): bit-identical output.

use super::gain::{ROUND, SHIFT};
use super::{FRAME, Frame, Plan};
use std::arch::x86_64::*;

/// Samples per block.
const BLOCK: usize = 32;
/// i32x8 vectors per block.
const V: usize = BLOCK / 8;
const _: () = assert!(FRAME.is_multiple_of(BLOCK) && V.is_multiple_of(2));

/// Runs one tick's `plan` (see `scalar::run`).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn run(plan: &Plan, inputs: &[Frame], own: &mut [Frame], shared: &mut Frame) {
    let round = _mm256_set1_epi32(ROUND);
    for off in (0..FRAME).step_by(BLOCK) {
        let mut acc = [_mm256_setzero_si256(); V];
        for &t in &plan.talk_unity {
            let x = widen(&inputs[t as usize], off);
            for k in 0..V {
                acc[k] = _mm256_add_epi32(acc[k], x[k]);
            }
        }
        for &(t, g) in &plan.talk_gain {
            let x = widen(&inputs[t as usize], off);
            let g = _mm256_set1_epi32(g);
            for k in 0..V {
                acc[k] = _mm256_add_epi32(acc[k], gained(x[k], g, round));
            }
        }
        let s16 = store_sat(&mut shared.0, off, acc);
        if fits16(acc) {
            // Every sum of the block is an i16 (`s16` holds them exactly), so
            // sat16(S - x) is the 16-bit saturating difference: one instruction per 16.
            for &(t, o) in &plan.own_unity {
                let x = &inputs[t as usize].0;
                let y = std::array::from_fn(|j| _mm256_subs_epi16(s16[j], load16(x, off + 16 * j)));
                store16(&mut own[o as usize].0, off, y);
            }
        } else {
            for &(t, o) in &plan.own_unity {
                let x = widen(&inputs[t as usize], off);
                let d = std::array::from_fn(|k| _mm256_sub_epi32(acc[k], x[k]));
                store_sat(&mut own[o as usize].0, off, d);
            }
        }
        for p in &plan.own_gain {
            let x = widen(&inputs[p.input as usize], off);
            let g = _mm256_set1_epi32(p.in_gain);
            let og = _mm256_set1_epi32(p.out_gain);
            let hi = _mm256_set1_epi32(p.clamp);
            let lo = _mm256_set1_epi32(-p.clamp);
            let y = std::array::from_fn(|k| {
                let d = _mm256_sub_epi32(acc[k], gained(x[k], g, round));
                let d = _mm256_min_epi32(_mm256_max_epi32(d, lo), hi);
                gained(d, og, round)
            });
            store_sat(&mut own[p.out as usize].0, off, y);
        }
    }
}

/// `(v·g + round) >> SHIFT` per lane (`gain::contribution`, `gain::scale_out` before the
/// saturation).
#[inline]
#[target_feature(enable = "avx2")]
fn gained(v: __m256i, g: __m256i, round: __m256i) -> __m256i {
    _mm256_srai_epi32::<{ SHIFT as i32 }>(_mm256_add_epi32(_mm256_mullo_epi32(v, g), round))
}

/// Samples `off..off + BLOCK` of `f`, sign-extended to i32, in order.
#[inline]
#[target_feature(enable = "avx2")]
fn widen(f: &Frame, off: usize) -> [__m256i; V] {
    let Some(b) = f.0[off..].first_chunk::<BLOCK>() else {
        return [_mm256_setzero_si256(); V];
    };
    std::array::from_fn(|k| {
        // SAFETY: `b` is a valid [i16; BLOCK]; lanes 8k..8k+8 are 16 readable bytes inside
        // it (k < V = BLOCK / 8); loadu has no alignment requirement.
        let v = unsafe { _mm_loadu_si128(b.as_ptr().add(8 * k).cast()) };
        _mm256_cvtepi16_epi32(v)
    })
}

/// Whether every value of the block lies in the i16 range.
#[inline]
#[target_feature(enable = "avx2")]
fn fits16(v: [__m256i; V]) -> bool {
    let hi = _mm256_set1_epi32(i32::from(i16::MAX));
    let lo = _mm256_set1_epi32(i32::from(i16::MIN));
    let mut out = _mm256_setzero_si256();
    for x in v {
        out = _mm256_or_si256(out, _mm256_cmpgt_epi32(x, hi));
        out = _mm256_or_si256(out, _mm256_cmpgt_epi32(lo, x));
    }
    _mm256_testz_si256(out, out) == 1
}

/// Samples `at..at + 16` of `x`.
#[inline]
#[target_feature(enable = "avx2")]
fn load16(x: &[i16; FRAME], at: usize) -> __m256i {
    let Some(b) = x[at..].first_chunk::<16>() else {
        return _mm256_setzero_si256();
    };
    // SAFETY: `b` is a valid [i16; 16]: 32 readable bytes; loadu is unaligned.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// Stores the block's i16 vectors at `y[off..off + BLOCK]`.
#[inline]
#[target_feature(enable = "avx2")]
fn store16(y: &mut [i16; FRAME], off: usize, v: [__m256i; V / 2]) {
    let Some(b) = y[off..].first_chunk_mut::<BLOCK>() else {
        return;
    };
    for (j, v) in v.into_iter().enumerate() {
        // SAFETY: `b` is a valid, exclusive [i16; BLOCK]; samples 16j..16j+16 are 32
        // writable bytes inside it (j < V / 2); storeu has no alignment requirement.
        unsafe { _mm256_storeu_si256(b.as_mut_ptr().add(16 * j).cast(), v) };
    }
}

/// Saturates the block's i32 values to i16, stores them at `y[off..off + BLOCK]` and
/// returns them.
#[inline]
#[target_feature(enable = "avx2")]
fn store_sat(y: &mut [i16; FRAME], off: usize, v: [__m256i; V]) -> [__m256i; V / 2] {
    // packs works per 128-bit lane: [v0 0-3, v1 0-3, v0 4-7, v1 4-7]; the permute puts
    // the four 64-bit quarters back in sample order.
    let p = std::array::from_fn(|j| {
        let p = _mm256_packs_epi32(v[2 * j], v[2 * j + 1]);
        _mm256_permute4x64_epi64::<0b11_01_10_00>(p)
    });
    store16(y, off, p);
    p
}
