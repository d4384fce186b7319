//! DTMF detector cost per channel-frame (20 ms, 160 samples at 8 kHz): the single-channel
//! scalar `Detector`, and the 8-lane `DetectorBank` with the scalar and the AVX2 kernel.
//! Throughput is reported in channel-frames per second (one bank iteration = 8 of them).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mediagw::dtmf::{Detector, DetectorBank, Kernel, LANES, ToneGenerator};
use std::hint::black_box;

const FRAME: usize = 160;
const FRAMES: usize = 200; // 4 s of audio per channel, cycled

/// 4 s of realistic input for one channel: digits with pauses over low-level noise.
fn channel_signal(lane: usize) -> Vec<i16> {
    let mut x = Vec::with_capacity(FRAME * FRAMES);
    let digits = ['1', '5', '9', '0', '#', 'D', '3', '7'];
    let mut k = lane;
    while x.len() < FRAME * FRAMES {
        let mut g = ToneGenerator::new(digits[k % digits.len()], 80, 120).expect("digit");
        k += 1;
        let mut buf = vec![0i16; g.remaining() as usize];
        let n = g.tx(&mut buf);
        x.extend_from_slice(&buf[..n]);
    }
    x.truncate(FRAME * FRAMES);
    let mut s = 0x2545_F491_4F6C_DD1Du64 ^ lane as u64;
    for v in &mut x {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        *v = v.saturating_add(((s >> 56) as i16) - 128);
    }
    x
}

fn bench(c: &mut Criterion) {
    let lanes: Vec<Vec<i16>> = (0..LANES).map(channel_signal).collect();
    let mut g = c.benchmark_group("dtmf");

    g.throughput(Throughput::Elements(1));
    g.bench_function("detector_scalar_channel_frame", |b| {
        let mut det = Detector::new();
        let mut i = 0;
        b.iter(|| {
            let f = &lanes[0][i * FRAME..(i + 1) * FRAME];
            det.rx(black_box(f), |e| {
                black_box(e);
            });
            i = (i + 1) % FRAMES;
        });
    });

    g.throughput(Throughput::Elements(LANES as u64));
    for kernel in [Kernel::Scalar, Kernel::Avx2] {
        let Ok(mut bank) = DetectorBank::with_kernel(kernel) else {
            eprintln!("skipping {kernel:?}: not supported on this CPU");
            continue;
        };
        let name = format!(
            "bank_{}_8_channel_frames",
            format!("{kernel:?}").to_lowercase()
        );
        g.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                let frames: [&[i16]; LANES] =
                    std::array::from_fn(|l| &lanes[l][i * FRAME..(i + 1) * FRAME]);
                bank.rx(black_box(&frames), |l, e| {
                    black_box((l, e));
                })
                .expect("equal lengths");
                i = (i + 1) % FRAMES;
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
