//! CPU time per packet: the density measure that does not depend on the generator
//! keeping up. Each target (the four echoes of [`crate::echo`] and the gateway) is
//! streamed the same offered loads, all well below the generator's limit (fractions of
//! the ceiling the echo ramps found), and over each steady window the target's thread is
//! sampled from `/proc` ([`crate::cpu`]); its CPU time charged (the thread, plus
//! `ksoftirqd` of its core, plus the core's softirq column where the kernel keeps irq
//! time apart) divided by the packets it handled (received + sent) is its cost per
//! packet. One core-second over that cost, at 100 packets per channel-second (50 each
//! way), is the target's equivalent density in channels per core.
//!
//! The figures of one target are compared with another's at the same offered load: the
//! highest load at which every target kept up ([`common_point`]; a saturated thread
//! batches more and reads cheaper per packet). The marginal cost (the slope of CPU time
//! against packet rate over the loads, [`slope`]) is given beside it: it leaves out what a
//! target spends whatever the load (timers, idle polling).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cpu::CpuUse;
use crate::echo::{Echo, EchoKind};
use crate::opts::Opts;
use crate::ramp::pct;
use crate::stream::{Ctl, Demux, Streamer, WindowStats};

/// Packets per channel-second a target handles: 50 received and 50 sent.
pub const PACKETS_PER_CHANNEL_S: f64 = 100.0;
/// A thread on its CPU more than this share of the window did not keep up.
const SATURATED_BUSY: f64 = 0.9;

/// One offered load, measured.
#[derive(Clone, Debug)]
pub struct Point {
    /// Channels streaming.
    pub n: u32,
    /// Packets the target received (the generator sent) in the window.
    pub rx: u64,
    /// Packets the target sent (the generator received) in the window.
    pub tx: u64,
    /// Lost packets (late ones are not counted: lateness on a shared machine is not CPU
    /// cost).
    pub lost: u64,
    /// The target's thread over the window.
    pub cpu: CpuUse,
    /// The generator's thread over the window.
    pub gen_cpu: Option<CpuUse>,
    /// The generator's send deviation p99.9, µs.
    pub gen_p999_us: u64,
    /// CPU time charged to the target, ns.
    pub charged_ns: u64,
}

impl Point {
    /// From a window of `n` channels; `None` without CPU figures.
    pub fn from_window(n: u32, w: &WindowStats, irq_acct: bool) -> Option<Point> {
        let cpu = w.target_cpu?;
        Some(Point {
            n,
            rx: w.sent,
            tx: w.received,
            lost: w.lost,
            cpu,
            gen_cpu: w.gen_cpu,
            gen_p999_us: pct(&w.gen_late_us)[2],
            charged_ns: cpu.charged_ns(irq_acct),
        })
    }

    /// Packets handled: received + sent.
    pub fn packets(&self) -> u64 {
        self.rx + self.tx
    }

    /// CPU time per packet, ns.
    pub fn ns_per_packet(&self) -> f64 {
        ns_per_packet(self.charged_ns, self.packets())
    }

    /// Packets handled per second of wall time.
    pub fn pps(&self) -> f64 {
        self.packets() as f64 * 1e9 / self.cpu.wall_ns.max(1) as f64
    }

    /// Did the target keep up (thread not saturated, under 1 % lost)?
    pub fn kept_up(&self) -> bool {
        self.cpu.busy() < SATURATED_BUSY && self.lost * 100 <= self.rx
    }
}

/// CPU time per packet, ns (infinite without packets).
pub fn ns_per_packet(charged_ns: u64, packets: u64) -> f64 {
    if packets == 0 {
        return f64::INFINITY;
    }
    charged_ns as f64 / packets as f64
}

/// Channels one core carries at `ns` per packet (100 packets per channel-second).
pub fn channels_per_core(ns: f64) -> f64 {
    if ns <= 0.0 || !ns.is_finite() {
        return 0.0;
    }
    1e9 / (ns * PACKETS_PER_CHANNEL_S)
}

/// The least-squares slope of CPU ns per second against packets per second over the
/// points: the marginal cost of one more packet, ns. `None` with fewer than two
/// distinct rates.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= f64::EPSILON * mx.abs().max(1.0) {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

/// The channel counts of the offered loads: `fractions` of `ceiling`, at least one
/// channel, ascending and distinct.
pub fn loads(ceiling: u32, fractions: &[f64]) -> Vec<u32> {
    let mut v: Vec<u32> = fractions
        .iter()
        .map(|f| ((f64::from(ceiling) * f).round() as u32).max(1))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// One target's cost at each load.
#[derive(Clone, Debug)]
pub struct Cost {
    /// Series name (`echo-recvmmsg`, ..., `gateway-ivr`).
    pub name: String,
    /// One socket per channel?
    pub per_channel: bool,
    /// The loads, ascending (a load without CPU figures is missing).
    pub points: Vec<Point>,
}

impl Cost {
    /// The point of `n` channels.
    pub fn at(&self, n: u32) -> Option<&Point> {
        self.points.iter().find(|p| p.n == n)
    }

    /// The marginal cost per packet over the loads at which the target kept up, ns.
    pub fn marginal_ns(&self) -> Option<f64> {
        let pts: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|p| p.kept_up())
            .map(|p| {
                (
                    p.pps(),
                    p.charged_ns as f64 * 1e9 / p.cpu.wall_ns.max(1) as f64,
                )
            })
            .collect();
        slope(&pts)
    }

    /// JSON of the target's points.
    pub fn json(&self) -> Value {
        json!({
            "name": self.name,
            "per_channel_sockets": self.per_channel,
            "marginal_ns_per_packet": self.marginal_ns(),
            "points": self.points.iter().map(|p| json!({
                "channels": p.n, "received": p.rx, "sent": p.tx, "lost": p.lost,
                "thread_busy": p.cpu.busy(), "thread_waited": p.cpu.waited(),
                "exec_ns": p.cpu.exec_ns, "ksoftirqd_ns": p.cpu.ksoftirqd_ns,
                "core_softirq_ns": p.cpu.core_softirq_ns, "core_busy_ns": p.cpu.core_busy_ns,
                "wall_ns": p.cpu.wall_ns, "charged_ns": p.charged_ns,
                "ns_per_packet": p.ns_per_packet(),
                "channels_per_core": channels_per_core(p.ns_per_packet()),
                "generator_busy": p.gen_cpu.map(|c| c.busy()),
                "generator_send_deviation_p99.9_us": p.gen_p999_us,
                "kept_up": p.kept_up(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The load at which all targets are compared: the highest of `loads` at which every
/// target has a point and kept up; else the lowest load every target has.
pub fn common_point(costs: &[&Cost], loads: &[u32]) -> Option<u32> {
    let all_have = |n: u32| costs.iter().all(|c| c.at(n).is_some());
    loads
        .iter()
        .rev()
        .copied()
        .find(|&n| costs.iter().all(|c| c.at(n).is_some_and(Point::kept_up)))
        .or_else(|| loads.iter().copied().find(|&n| all_have(n)))
}

/// `density: N channels/core, R% of the ceiling (C channels)`.
pub fn density_line(per_core: u32, pct: f64, ceiling: u32) -> String {
    format!("density: {per_core} channels/core, {pct:.1}% of the ceiling ({ceiling} channels)")
}

/// Streams each echo the loads in turn (one fresh echo and generator per kind) and
/// samples its thread.
pub fn measure_echoes(o: &Opts, loads: &[u32], irq_acct: bool) -> Vec<Cost> {
    measure_echo_kinds(o, &EchoKind::ALL, loads, irq_acct)
}

/// As [`measure_echoes`], for the echoes in `kinds` only.
pub fn measure_echo_kinds(
    o: &Opts,
    kinds: &[EchoKind],
    loads: &[u32],
    irq_acct: bool,
) -> Vec<Cost> {
    kinds
        .iter()
        .copied()
        .filter_map(|kind| {
            let mut echo = match Echo::spawn(kind, o.target_core) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("cost: {} unavailable: {e}", kind.name());
                    return None;
                }
            };
            let st = Streamer::spawn(Demux::Ssrc, Some(o.gen_core), true).ok()?;
            let probe = echo.probe(o.target_core);
            if probe.is_none() {
                eprintln!("cost: {}: its thread was not found", kind.name());
                return None;
            }
            let mut points = Vec::new();
            let mut have = 0u32;
            for &n in loads {
                let Ok(addrs) = echo.addrs(n) else {
                    eprintln!("cost: {}: cannot open {n} sockets", kind.name());
                    break;
                };
                let _ = st.ctl.send(Ctl::Add(
                    (have..n).map(|i| (i, addrs[i as usize])).collect(),
                ));
                have = n;
                let warm = o.warmup.max(Duration::from_millis(500));
                let Some(w) = st.window(warm, o.cost_window, o.late_ms, Vec::new(), probe.clone())
                else {
                    break;
                };
                match Point::from_window(n, &w, irq_acct) {
                    Some(p) => {
                        eprintln!("cost: {}: {}", kind.name(), describe(&p));
                        points.push(p);
                    }
                    None => eprintln!("cost: {}: {n} channels: no CPU figures", kind.name()),
                }
            }
            Some(Cost {
                name: kind.name().into(),
                per_channel: kind.per_channel(),
                points,
            })
        })
        .collect()
}

/// One line about a point, for stderr and the report.
pub fn describe(p: &Point) -> String {
    format!(
        "{} channels: {:.0} ns/packet ({} packets, thread on CPU {:.0}%, waiting {:.0}%, ksoftirqd {:.1} ms; generator on CPU {}, send deviation p99.9 {} µs; lost {})",
        p.n,
        p.ns_per_packet(),
        p.packets(),
        100.0 * p.cpu.busy(),
        100.0 * p.cpu.waited(),
        p.cpu.ksoftirqd_ns as f64 / 1e6,
        p.gen_cpu
            .map(|c| format!("{:.0}%", 100.0 * c.busy()))
            .unwrap_or_else(|| "n/a".into()),
        p.gen_p999_us,
        p.lost
    )
}

/// Time spent, for the log.
pub fn took(t: Instant) -> String {
    format!("{:.1} s", t.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(
        n: u32,
        packets: u64,
        charged_ns: u64,
        wall_ns: u64,
        busy_ns: u64,
        lost: u64,
    ) -> Point {
        Point {
            n,
            rx: packets / 2,
            tx: packets - packets / 2,
            lost,
            cpu: CpuUse {
                wall_ns,
                exec_ns: busy_ns,
                ..Default::default()
            },
            gen_cpu: None,
            gen_p999_us: 0,
            charged_ns,
        }
    }

    #[test]
    fn cost_and_equivalent_density() {
        // 1000 channels for 4 s: 400 000 packets; 0.2 s of CPU: 500 ns a packet.
        let p = point(1000, 400_000, 200_000_000, 4_000_000_000, 200_000_000, 0);
        assert!((p.ns_per_packet() - 500.0).abs() < 1e-9);
        assert!((p.pps() - 100_000.0).abs() < 1e-6);
        // 1 s / (500 ns x 100 packets) = 20 000 channels per core.
        assert!((channels_per_core(500.0) - 20_000.0).abs() < 1e-6);
        assert_eq!(channels_per_core(0.0), 0.0);
        assert_eq!(channels_per_core(f64::INFINITY), 0.0);
        assert!(ns_per_packet(5, 0).is_infinite());
        assert!(p.kept_up());
        assert!(
            !point(1, 10, 1, 100, 95, 0).kept_up(),
            "95 % busy is saturated"
        );
        assert!(
            !point(1, 10, 1, 100, 10, 3).kept_up(),
            "losses mean it fell behind"
        );
    }

    #[test]
    fn marginal_cost_leaves_out_the_fixed_part() {
        // 50 ms of CPU per second whatever the load, plus 400 ns a packet.
        let mk = |n: u32| {
            let pps = f64::from(n) * 100.0;
            let charged = 50_000_000.0 + 400.0 * pps;
            point(
                n,
                (pps * 2.0) as u64,
                (charged * 2.0) as u64,
                2_000_000_000,
                0,
                0,
            )
        };
        let c = Cost {
            name: "x".into(),
            per_channel: false,
            points: vec![mk(500), mk(1000), mk(1500)],
        };
        let m = c.marginal_ns().expect("slope");
        assert!((m - 400.0).abs() < 0.01, "{m}");
        // The average cost per packet includes the fixed part: higher at low load.
        assert!(c.points[0].ns_per_packet() > c.points[2].ns_per_packet());
        assert_eq!(slope(&[(1.0, 2.0)]), None);
        assert_eq!(slope(&[(1.0, 2.0), (1.0, 3.0)]), None, "one rate only");
    }

    #[test]
    fn loads_are_fractions_of_the_ceiling() {
        assert_eq!(loads(2624, &[0.25, 0.5, 0.75]), vec![656, 1312, 1968]);
        assert_eq!(loads(40, &[1.0]), vec![40]);
        assert_eq!(loads(2, &[0.1, 0.2, 0.5]), vec![1]);
    }

    #[test]
    fn targets_are_compared_where_all_kept_up() {
        let ok = |n| point(n, 1000, 1000, 1_000_000_000, 100_000_000, 0);
        let sat = |n| point(n, 1000, 1000, 1_000_000_000, 990_000_000, 0);
        let echo = Cost {
            name: "echo".into(),
            per_channel: false,
            points: vec![ok(250), ok(500), ok(750)],
        };
        let gw = Cost {
            name: "gw".into(),
            per_channel: true,
            points: vec![ok(250), ok(500), sat(750)],
        };
        assert_eq!(common_point(&[&echo, &gw], &[250, 500, 750]), Some(500));
        let gw_bad = Cost {
            name: "gw".into(),
            per_channel: true,
            points: vec![sat(250), sat(500)],
        };
        assert_eq!(
            common_point(&[&echo, &gw_bad], &[250, 500, 750]),
            Some(250),
            "none kept up: the lowest load both have"
        );
        let none = Cost {
            name: "n".into(),
            per_channel: false,
            points: vec![],
        };
        assert_eq!(common_point(&[&echo, &none], &[250]), None);
    }

    #[test]
    fn the_density_line() {
        assert_eq!(
            density_line(1458, 55.56, 2624),
            "density: 1458 channels/core, 55.6% of the ceiling (2624 channels)"
        );
    }
}
