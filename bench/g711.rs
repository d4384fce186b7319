//! G.711 benches: µ-law/A-law encode and decode of one 20 ms frame (160
//! samples), each next to a naive per-sample baseline written the way the
//! ITU-T G.191 reference does it (segment search loop, per-sample expansion
//! arithmetic), so results read as ratios. Run with `cargo bench --bench g711`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mediagw::codec::{
    ULAW_TO_ALAW, decode_alaw, decode_ulaw, encode_alaw, encode_ulaw, ulaw_to_alaw,
};

const FRAME: usize = 160;

/// A speech-like test frame: a mix of tones spanning every segment.
fn frame() -> [i16; FRAME] {
    let mut out = [0i16; FRAME];
    for (i, s) in out.iter_mut().enumerate() {
        let t = i as f64 / 8000.0;
        let v = 12000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
            + 6000.0 * (2.0 * std::f64::consts::PI * 1330.0 * t).sin()
            + 300.0 * (2.0 * std::f64::consts::PI * 3100.0 * t).sin();
        *s = v as i16;
    }
    out
}

/// Naive µ-law encoder in the style of the G.191 reference: a loop finds the segment.
fn naive_linear_to_ulaw(x: i16) -> u8 {
    let mut absno = if x < 0 {
        ((!x) >> 2) as i32 + 33
    } else {
        (x >> 2) as i32 + 33
    };
    if absno > 0x1FFF {
        absno = 0x1FFF;
    }
    let mut i = absno >> 6;
    let mut segno = 1;
    while i != 0 {
        segno += 1;
        i >>= 1;
    }
    let high = 8 - segno;
    let low = 0x0F - ((absno >> segno) & 0x0F);
    let mut code = (high << 4) | low;
    if x >= 0 {
        code |= 0x80;
    }
    code as u8
}

/// Naive A-law encoder in the style of the G.191 reference.
fn naive_linear_to_alaw(x: i16) -> u8 {
    let mut ix = if x < 0 {
        ((!x) >> 4) as i32
    } else {
        (x >> 4) as i32
    };
    if ix > 15 {
        let mut exponent = 1;
        while ix > 16 + 15 {
            ix >>= 1;
            exponent += 1;
        }
        ix -= 16;
        ix += exponent << 4;
    }
    if x >= 0 {
        ix |= 0x80;
    }
    (ix ^ 0x55) as u8
}

/// Naive µ-law decoder: the expansion arithmetic per sample.
fn naive_ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let exponent = (u >> 4) & 0x07;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// Naive A-law decoder: the expansion arithmetic per sample.
fn naive_alaw_to_linear(code: u8) -> i16 {
    let ix = (code ^ 0x55) & 0x7F;
    let exponent = ix >> 4;
    let mut mantissa = (ix & 0x0F) as i32;
    if exponent > 0 {
        mantissa += 16;
    }
    mantissa = (mantissa << 4) + 8;
    if exponent > 1 {
        mantissa <<= exponent - 1;
    }
    (if code & 0x80 != 0 {
        mantissa
    } else {
        -mantissa
    }) as i16
}

fn bench_encode(c: &mut Criterion) {
    let input = frame();
    let mut out = [0u8; FRAME];
    let mut group = c.benchmark_group("g711_encode_160");
    group.throughput(Throughput::Elements(FRAME as u64));
    group.bench_function("ulaw_naive", |b| {
        b.iter(|| {
            for (o, &s) in out.iter_mut().zip(black_box(&input)) {
                *o = naive_linear_to_ulaw(s);
            }
            black_box(&out);
        })
    });
    group.bench_function("ulaw", |b| {
        b.iter(|| black_box(encode_ulaw(black_box(&input), &mut out)))
    });
    group.bench_function("alaw_naive", |b| {
        b.iter(|| {
            for (o, &s) in out.iter_mut().zip(black_box(&input)) {
                *o = naive_linear_to_alaw(s);
            }
            black_box(&out);
        })
    });
    group.bench_function("alaw", |b| {
        b.iter(|| black_box(encode_alaw(black_box(&input), &mut out)))
    });
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let mut ulaw = [0u8; FRAME];
    let mut alaw = [0u8; FRAME];
    encode_ulaw(&frame(), &mut ulaw);
    encode_alaw(&frame(), &mut alaw);
    let mut out = [0i16; FRAME];
    let mut group = c.benchmark_group("g711_decode_160");
    group.throughput(Throughput::Elements(FRAME as u64));
    group.bench_function("ulaw_naive", |b| {
        b.iter(|| {
            for (o, &code) in out.iter_mut().zip(black_box(&ulaw)) {
                *o = naive_ulaw_to_linear(code);
            }
            black_box(&out);
        })
    });
    group.bench_function("ulaw", |b| {
        b.iter(|| black_box(decode_ulaw(black_box(&ulaw), &mut out)))
    });
    group.bench_function("alaw_naive", |b| {
        b.iter(|| {
            for (o, &code) in out.iter_mut().zip(black_box(&alaw)) {
                *o = naive_alaw_to_linear(code);
            }
            black_box(&out);
        })
    });
    group.bench_function("alaw", |b| {
        b.iter(|| black_box(decode_alaw(black_box(&alaw), &mut out)))
    });
    group.finish();
}

fn bench_transcode(c: &mut Criterion) {
    let mut ulaw = [0u8; FRAME];
    encode_ulaw(&frame(), &mut ulaw);
    let mut out = [0u8; FRAME];
    let mut linear = [0i16; FRAME];
    let mut group = c.benchmark_group("g711_transcode_ulaw_to_alaw_160");
    group.throughput(Throughput::Elements(FRAME as u64));
    group.bench_function("decode_encode_naive", |b| {
        b.iter(|| {
            for (l, &code) in linear.iter_mut().zip(black_box(&ulaw)) {
                *l = naive_ulaw_to_linear(code);
            }
            for (o, &s) in out.iter_mut().zip(&linear) {
                *o = naive_linear_to_alaw(s);
            }
            black_box(&out);
        })
    });
    group.bench_function("table", |b| {
        b.iter(|| black_box(ulaw_to_alaw(black_box(&ulaw), &mut out)))
    });
    group.finish();
    // Keep the table itself referenced so the import is exercised.
    black_box(ULAW_TO_ALAW[0]);
}

criterion_group!(benches, bench_encode, bench_decode, bench_transcode);
criterion_main!(benches);
