//! The ceiling: the same generator that loads the gateway, streaming to the bare
//! one-socket echoes (`crate::echo`) pinned to the gateway's core, ramped like the
//! gateway. What held is what this generator, the kernel's UDP stack and one core carry
//! here; where the generator itself fell behind first, the ramp says so
//! ([`crate::ramp::Limit::Generator`]).

use std::time::Instant;

use crate::echo::{Echo, EchoKind};
use crate::opts::Opts;
use crate::ramp::{Step, combine, next_n, step_from};
use crate::report::Series;
use crate::stream::{Ctl, Demux, Streamer};

/// The ramp series of the one-socket echoes (empty with `--no-echo`).
pub fn measure(o: &Opts) -> Vec<Series> {
    if !o.echo {
        eprintln!("echo ceilings skipped (--no-echo)");
        return Vec::new();
    }
    [EchoKind::Recvmmsg, EchoKind::IoUring]
        .into_iter()
        .map(|kind| match Echo::spawn(kind, o.target_core) {
            Ok(mut echo) => ramp_echo(kind.name(), &mut echo, o),
            Err(e) => {
                eprintln!("{} unavailable: {e}", kind.name());
                Series::empty(kind.name())
            }
        })
        .collect()
}

/// Ramps channel counts streamed to `echo` until a step fails, then bisects to the
/// run's precision; each step is `o.repeats` windows, and a small failure or one with
/// the generator behind is measured once more.
fn ramp_echo(name: &str, echo: &mut Echo, o: &Opts) -> Series {
    let start = Instant::now();
    let mut steps: Vec<Step> = Vec::new();
    let Ok(st) = Streamer::spawn(Demux::Ssrc, Some(o.gen_core), true) else {
        return Series::empty(name);
    };
    let probe = echo.probe(o.target_core);
    let mut have = 0u32;
    while let Some(n) = next_n(&steps, o.start_n, o.growth, o.max_n, o.precision) {
        if start.elapsed() > o.budget {
            eprintln!("{name}: time budget spent");
            break;
        }
        if n < have {
            // Bisecting below a failure: stop streaming to channels n.. (the same streamer,
            // so the channels above n stop loading the echo).
            let _ = st.ctl.send(Ctl::Truncate(n));
        } else {
            let Ok(addrs) = echo.addrs(n) else {
                eprintln!("{name}: cannot open {n} sockets");
                break;
            };
            let _ = st.ctl.send(Ctl::Add(
                (have..n).map(|i| (i, addrs[i as usize])).collect(),
            ));
        }
        have = n;
        let mut windows = Vec::new();
        let mut warmup = o.warmup;
        for _ in 0..o.repeats {
            let Some(w) = st.window(warmup, o.window, o.late_ms, Vec::new(), probe.clone()) else {
                break;
            };
            warmup = std::time::Duration::ZERO;
            windows.push(step_from(n, &w, o.late_ms));
        }
        let Some(mut s) = combine(windows) else {
            break;
        };
        if o.repeats == 1 && s.retry_worthy() {
            // The machine is shared: a small failure, or one where the generator fell
            // behind, counts only when a second window confirms it.
            eprintln!("{name}: {n} channels: {} (confirming)", s.fail);
            if let Some(w2) = st.window(
                std::time::Duration::ZERO,
                o.window,
                o.late_ms,
                Vec::new(),
                probe.clone(),
            ) {
                let s2 = step_from(n, &w2, o.late_ms);
                if s2.pass() || (s.gen_bound && !s2.gen_bound) {
                    s = s2;
                }
            }
        }
        eprintln!(
            "{name}: {n} channels: {}{}",
            if s.pass() { "ok" } else { &s.fail },
            spread_note(&s)
        );
        steps.push(s);
    }
    if let Some(k) = echo.echoed() {
        eprintln!("{name}: echoed {k} datagrams");
    }
    Series::new(name, steps, o.max_n)
}

/// `; 3 windows: 2 held, dev p99.9 120..9000 µs, generator 80..400 µs` for a repeated
/// step.
pub fn spread_note(s: &Step) -> String {
    s.spread
        .map(|sp| {
            format!(
                "; {} windows: {} held, dev p99.9 {}..{} µs, generator p99.9 {}..{} µs, lost+late {}..{}",
                sp.windows,
                sp.passed,
                sp.dev999.0,
                sp.dev999.1,
                sp.gen999.0,
                sp.gen999.1,
                sp.bad.0,
                sp.bad.1
            )
        })
        .unwrap_or_default()
}
