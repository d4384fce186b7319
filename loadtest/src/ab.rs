//! `mediagw-load ab`: the CPU time per packet of several gateway builds (the IVR
//! scenario) at the same fixed loads, interleaved round by round (A, B, A, B, ...) with
//! the one-socket `recvmmsg` echo measured in each round as the machine's yardstick, so
//! that an optimisation's before and after come from one run on this shared machine.
//! Prints one table: each build's ns per packet per load and round, its median, and its
//! ratio to the first build.

use std::path::Path;

use crate::cli::AbArgs;
use crate::cost::{self, Cost};
use crate::echo::EchoKind;
use crate::gateway_ramp;
use crate::host;
use crate::opts::Opts;

/// Media workers of the gateway under test (as the density run).
const WORKERS: usize = 1;

/// Runs `a`; exit code 0 when every build gave a figure at every load in every round.
pub fn run(a: &AbArgs) -> i32 {
    host::raise_nofile();
    let rt = host::runtime();
    let irq_acct = crate::cpu::irq_time_accounting().unwrap_or(false);
    let base = Opts {
        cost_window: std::time::Duration::from_secs(a.window),
        sipp: false,
        ..Opts::quick()
    };
    // The echo, then each build: name, and per load the figure of each round.
    let mut rows: Vec<(String, Vec<Vec<f64>>)> = std::iter::once(EchoKind::Recvmmsg.name().into())
        .chain(a.bin.iter().map(|b| label(b)))
        .map(|name| (name, vec![Vec::new(); a.loads.len()]))
        .collect();
    let mut complete = true;
    for round in 0..a.rounds {
        eprintln!("ab: round {}/{}", round + 1, a.rounds);
        let echo = cost::measure_echo_kinds(&base, &[EchoKind::Recvmmsg], &a.loads, irq_acct);
        complete &= record(&mut rows[0].1, echo.first(), &a.loads);
        for (k, bin) in a.bin.iter().enumerate() {
            let o = Opts {
                gateway_bin: Some(bin.clone()),
                ..base.clone()
            };
            let c = rt.block_on(gateway_ramp::cost(&o, WORKERS, &a.loads, irq_acct));
            complete &= record(&mut rows[k + 1].1, c.as_ref(), &a.loads);
        }
    }
    println!("{}", table(&rows, &a.loads));
    if complete { 0 } else { 1 }
}

/// Adds each load's ns per packet of `c` (NaN where it is missing); false if any was.
fn record(per_load: &mut [Vec<f64>], c: Option<&Cost>, loads: &[u32]) -> bool {
    let mut all = true;
    for (i, &n) in loads.iter().enumerate() {
        let v = c
            .and_then(|c| c.at(n))
            .filter(|p| p.kept_up())
            .map(|p| p.ns_per_packet());
        all &= v.is_some();
        per_load[i].push(v.unwrap_or(f64::NAN));
    }
    all
}

/// A build's name: its file name.
fn label(b: &Path) -> String {
    b.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| b.display().to_string())
}

/// The median of the figures that are there.
fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// The Markdown table: per load, each round's ns per packet, the median, and the median
/// against the first build's at that load (`rows[0]` is the echo, compared with nothing).
fn table(rows: &[(String, Vec<Vec<f64>>)], loads: &[u32]) -> String {
    let mut out = String::from(
        "| target | channels | ns/packet per round | median | vs first build |\n|---|---:|---|---:|---:|\n",
    );
    for (i, &n) in loads.iter().enumerate() {
        let first = rows.get(1).and_then(|r| median(&r.1[i]));
        for (k, (name, per_load)) in rows.iter().enumerate() {
            let rounds: Vec<String> = per_load[i]
                .iter()
                .map(|x| {
                    if x.is_finite() {
                        format!("{x:.0}")
                    } else {
                        "-".into()
                    }
                })
                .collect();
            let med = median(&per_load[i]);
            let vs = match (med, first) {
                (Some(m), Some(f)) if k > 0 => format!("{:.1} %", 100.0 * m / f),
                _ => String::new(),
            };
            out.push_str(&format!(
                "| {name} | {n} | {} | {} | {vs} |\n",
                rounds.join(", "),
                med.map(|m| format!("{m:.0}")).unwrap_or_else(|| "-".into())
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_skips_missing_figures() {
        assert_eq!(median(&[3.0, f64::NAN, 1.0]), Some(2.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[f64::NAN]), None);
    }

    #[test]
    fn table_compares_each_build_with_the_first() {
        let rows = vec![
            ("echo-recvmmsg".to_string(), vec![vec![2000.0, 2100.0]]),
            ("a".to_string(), vec![vec![4000.0, 4000.0]]),
            ("b".to_string(), vec![vec![3000.0, f64::NAN]]),
        ];
        let t = table(&rows, &[1000]);
        assert!(
            t.contains("| a | 1000 | 4000, 4000 | 4000 | 100.0 % |"),
            "{t}"
        );
        assert!(t.contains("| b | 1000 | 3000, - | 3000 | 75.0 % |"), "{t}");
        assert!(
            t.contains("| echo-recvmmsg | 1000 | 2000, 2100 | 2050 |  |"),
            "{t}"
        );
    }
}
