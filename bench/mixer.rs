//! Conference N-1 mixing cost per member-frame (one member's 160 samples in, its 160 out):
//! the `Mixer` on the AVX2 kernel and on the scalar kernel, against a naive per-listener
//! re-sum (for each listener, sum every other member from scratch in i32, saturate at the
//! end: O(N²) per tick). Throughput is in member-frames per second; divide an iteration's
//! time by the member count for ns per member-frame.
//!
//! Groups (every member at unity volume):
//! - `mixer_all_talking`: 3, 10, 50 and 500 members, every one talking and listening (every
//!   member needs its own frame), at levels whose sums never clip (white noise of peak
//!   30000/N: speech and open microphones), so the kernels take their 16-bit shortcut;
//! - `mixer_all_talking_clipping`: the same with every member at peak 20000, so nearly every
//!   block's sum clips and the kernels run their 32-bit path throughout (the worst case);
//! - `mixer_3_talking`: 50 and 500 members of which 3 talk; the others listen and share one
//!   frame (a lecture or a large call).
//!
//! A mixer's iteration marks each talker's input as given (`input_mut`, as a worker that
//! decoded into it would) and mixes.

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use mediagw::mixer::{FRAME, Kernel, MemberId, Mixer, VoiceMode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;

/// White noise of peak `peak`, one frame per member.
fn signals(n: usize, peak: i16) -> Vec<[i16; FRAME]> {
    let mut rng = StdRng::seed_from_u64(0x004D_4958);
    (0..n)
        .map(|_| std::array::from_fn(|_| rng.random_range(-peak..=peak)))
        .collect()
}

/// The baseline: for each listener, the sum of every other talker from scratch.
fn naive(inputs: &[[i16; FRAME]], talks: &[bool], out: &mut [[i16; FRAME]]) {
    for (l, y) in out.iter_mut().enumerate() {
        let mut acc = [0i32; FRAME];
        for (c, x) in inputs.iter().enumerate() {
            if c == l || !talks[c] {
                continue;
            }
            for (a, &s) in acc.iter_mut().zip(x) {
                *a += i32::from(s);
            }
        }
        for (o, &a) in y.iter_mut().zip(&acc) {
            *o = a.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
    }
}

/// A mixer of `n` talk+listen members on `kernel`, the first `talkers` of them given
/// `inputs` (the others stay silent).
fn mixer(kernel: Kernel, inputs: &[[i16; FRAME]], talkers: usize) -> (Mixer, Vec<MemberId>) {
    let mut m = Mixer::with_kernel(kernel).expect("kernel available");
    let ids: Vec<MemberId> = inputs
        .iter()
        .map(|x| {
            let id = m.add(VoiceMode::TalkListen, 0).expect("room");
            m.put(id, x).expect("frame");
            id
        })
        .collect();
    m.mix();
    (m, ids[..talkers].to_vec())
}

/// Benches a mixer on `kernel` as `name/n` (skipped if the CPU lacks the kernel).
fn bench_mixer(
    g: &mut BenchmarkGroup<'_, WallTime>,
    kernel: Kernel,
    name: &str,
    inputs: &[[i16; FRAME]],
    talkers: usize,
) {
    if Mixer::with_kernel(kernel).is_err() {
        eprintln!("skipping {kernel:?}: not supported on this CPU");
        return;
    }
    let (mut m, talking) = mixer(kernel, inputs, talkers);
    g.bench_function(BenchmarkId::new(name, inputs.len()), |b| {
        b.iter(|| {
            for id in &talking {
                black_box(m.input_mut(*id));
            }
            m.mix();
            black_box(&m);
        });
    });
}

fn group(
    c: &mut Criterion,
    name: &str,
    sizes: &[usize],
    talkers: impl Fn(usize) -> usize,
    peak: impl Fn(usize) -> i16,
) {
    let mut g = c.benchmark_group(name);
    for &n in sizes {
        let inputs = signals(n, peak(n));
        let t = talkers(n);
        g.throughput(Throughput::Elements(n as u64));
        // Order matters to bench/run-all.sh: it pairs avx2/N with the first baseline of
        // size N, so scalar runs before naive.
        bench_mixer(&mut g, Kernel::Scalar, "scalar", &inputs, t);
        let talks: Vec<bool> = (0..n).map(|i| i < t).collect();
        let mut out = vec![[0i16; FRAME]; n];
        g.bench_function(BenchmarkId::new("naive", n), |b| {
            b.iter(|| {
                naive(black_box(&inputs), &talks, &mut out);
                black_box(&out);
            });
        });
        bench_mixer(&mut g, Kernel::Avx2, "avx2", &inputs, t);
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let sizes = [3, 10, 50, 500];
    group(
        c,
        "mixer_all_talking",
        &sizes,
        |n| n,
        |n| (30000 / n) as i16,
    );
    group(c, "mixer_all_talking_clipping", &sizes, |n| n, |_| 20000);
    group(c, "mixer_3_talking", &[50, 500], |_| 3, |_| 10000);
}

criterion_group!(benches, bench);
criterion_main!(benches);
