//! Portable N-1 kernel: whole frames, member by member, in plain Rust (the compiler
//! vectorises these loops to the target's baseline, SSE2 on x86-64). The exact formulas
//! are in `gain.rs`; `avx2.rs` computes the same integers in another order. Like it, it
//! takes the 16-bit shortcut for unity listeners when every sum of the frame fits in 16
//! bits.

use super::gain::{contribution, sat16, scale_out};
use super::{FRAME, Frame, Plan};

/// Runs one tick's `plan`: sums the contributions, writes the shared frame and every own
/// frame.
pub(crate) fn run(plan: &Plan, inputs: &[Frame], own: &mut [Frame], shared: &mut Frame) {
    let mut acc = [0i32; FRAME];
    for &t in &plan.talk_unity {
        for (a, &x) in acc.iter_mut().zip(&inputs[t as usize].0) {
            *a += i32::from(x);
        }
    }
    for &(t, g) in &plan.talk_gain {
        for (a, &x) in acc.iter_mut().zip(&inputs[t as usize].0) {
            *a += contribution(x, g);
        }
    }
    for (y, &a) in shared.0.iter_mut().zip(&acc) {
        *y = sat16(a);
    }
    if acc.iter().zip(&shared.0).all(|(&a, &s)| a == i32::from(s)) {
        // Every sum is an i16, so sat16(S - x) is the 16-bit saturating difference.
        for &(t, o) in &plan.own_unity {
            let x = &inputs[t as usize].0;
            let y = &mut own[o as usize].0;
            for i in 0..FRAME {
                y[i] = shared.0[i].saturating_sub(x[i]);
            }
        }
    } else {
        for &(t, o) in &plan.own_unity {
            let x = &inputs[t as usize].0;
            let y = &mut own[o as usize].0;
            for i in 0..FRAME {
                y[i] = sat16(acc[i] - i32::from(x[i]));
            }
        }
    }
    for p in &plan.own_gain {
        let x = &inputs[p.input as usize].0;
        let y = &mut own[p.out as usize].0;
        for i in 0..FRAME {
            let d = acc[i] - contribution(x[i], p.in_gain);
            y[i] = scale_out(d, p.out_gain, p.clamp);
        }
    }
}
