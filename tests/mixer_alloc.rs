//! The conference mixer allocates nothing per tick: a counting global allocator (counts per
//! thread, so the test harness's other threads do not interfere) watches `put`, `mix` and
//! the output reads over many ticks, on every kernel, with members of every kind.

use mediagw::mixer::{FRAME, Kernel, MemberId, Mixer, Output, VoiceMode};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers every operation to `System`; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

#[test]
fn the_counter_counts() {
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 100]);
    assert!(allocs() > before);
    drop(v);
}

#[test]
fn ticks_allocate_nothing() {
    let mut kernels = vec![Kernel::Scalar];
    if Kernel::detect() == Kernel::Avx2 {
        kernels.push(Kernel::Avx2);
    }
    for kernel in kernels {
        let mut m = Mixer::with_kernel(kernel).unwrap();
        let modes = [
            VoiceMode::TalkListen,
            VoiceMode::Talk,
            VoiceMode::Listen,
            VoiceMode::Neither,
        ];
        let mut ids: Vec<MemberId> = (0..203)
            .map(|n| {
                let id = m.add(modes[n % 4], (n % 41) as i32 - 20).unwrap();
                m.set_output_volume(id, (n % 7) as i32 - 3).unwrap();
                id
            })
            .collect();
        let frame: Vec<i16> = (0..FRAME).map(|i| (i as i16) * 199).collect();
        // Removing members between ticks does not allocate either, nor does adding back
        // as many as were removed.
        let before = allocs();
        let mut heard = 0u64;
        for t in 0..50 {
            for (n, id) in ids.iter().enumerate() {
                if (n + t) % 5 != 0 {
                    m.put(*id, &frame).unwrap();
                }
            }
            if let Some(f) = m.input_mut(ids[0]) {
                f[0] = t as i16;
            }
            m.mix();
            for (_, out) in m.outputs() {
                if let Output::Own(f) | Output::Shared(f) = out {
                    heard = heard.wrapping_add(f[7] as u64);
                }
            }
            heard = heard.wrapping_add(m.shared()[3] as u64);
            if t == 25 {
                for _ in 0..10 {
                    m.remove(ids.swap_remove(3)).unwrap();
                }
                for n in 0..10 {
                    ids.push(m.add(modes[n % 4], 5).unwrap());
                }
            }
        }
        let spent = allocs() - before;
        assert_eq!(spent, 0, "{kernel:?}: {spent} allocations in 50 ticks");
        assert!(m.last_tick().talkers > 0 && m.last_tick().own > 0 && heard != 0);
    }
}

#[test]
fn adding_reserved_members_allocates_nothing() {
    let mut a = Mixer::with_capacity(50);
    let mut b = Mixer::with_kernel(Kernel::Scalar).unwrap();
    b.reserve(50);
    for m in [&mut a, &mut b] {
        let mut ids: Vec<MemberId> = Vec::with_capacity(50);
        let before = allocs();
        for _ in 0..50 {
            ids.push(m.add(VoiceMode::TalkListen, 0).unwrap());
        }
        let spent = allocs() - before;
        assert_eq!(spent, 0, "{spent} allocations adding 50 reserved members");
        assert_eq!(m.len(), ids.len());
    }
}
