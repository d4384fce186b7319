//! `mediagw-load quick|full|smoke`: the density run. The ceiling (the one-socket echoes'
//! ramps), the CPU time per packet of the four echoes and of the gateway at the same
//! loads ([`crate::cost`]), the gateway's IVR ramp, a profile at the count that held and
//! the control plane's CPS, then the report: tables on stdout, `report.json`, `report.md`
//! with `latency.png` and `density.png`, and as the last line `density: N channels/core,
//! R% of the ceiling (C channels)`, where N and C are the gateway's and the cheaper
//! one-socket echo's equivalent channels per core by CPU time per packet and R their
//! ratio (the ramp figures beside it in the report).

use std::fmt::Write as _;
use std::time::Instant;

use serde_json::json;

use crate::cost::{self, Cost};
use crate::opts::Opts;
use crate::ramp::Limit;
use crate::report::{self, Series};
use crate::{ceiling, control_plane, cpu, gateway_ramp, host, metrics, profile};

/// Media workers of the gateway under test.
const WORKERS: usize = 1;

/// The ceiling assumed for the CPU-cost loads when the echo ramps were skipped.
const DEFAULT_CEILING: u32 = 2624;

/// Runs everything with `o`; `command` is the command line as typed (for the report).
pub fn run(o: &Opts, command: &str) {
    host::raise_nofile();
    let rt = host::runtime();
    let t0 = Instant::now();
    let irq_acct = cpu::irq_time_accounting().unwrap_or(false);

    // 1. The ceiling: the same generator against the bare one-socket echoes, ramped.
    let echoes = ceiling::measure(o);
    let ramp_ceiling = echoes.iter().map(|s| s.held).max().unwrap_or(0);
    let ceiling_series = echoes.iter().max_by_key(|s| s.held);

    // 2. CPU time per packet of the four echoes at loads below the generator's limit.
    let reference = if ramp_ceiling > 0 {
        ramp_ceiling
    } else {
        DEFAULT_CEILING.min(o.max_n)
    };
    let loads = cost::loads(reference, &o.cost_loads);
    eprintln!(
        "cost: loads {loads:?} channels ({:?} of {reference})",
        o.cost_loads
    );
    let t = Instant::now();
    let echo_costs = if o.echo {
        cost::measure_echoes(o, &loads, irq_acct)
    } else {
        Vec::new()
    };
    eprintln!("cost: echoes measured in {}", cost::took(t));

    // 3. The gateway with the IVR scenario: its ramp, its cost, its profile, the control
    //    plane.
    let (s_gw, gw_cost, metrics_text, prof, cps) = rt.block_on(async {
        let (s_gw, metrics_text) = gateway_ramp::run(o, WORKERS).await;
        let gw_cost = gateway_ramp::cost(o, WORKERS, &loads, irq_acct).await;
        let prof = if s_gw.held > 0 {
            profile::profile_at(o, WORKERS, s_gw.held).await
        } else {
            None
        };
        let cps = if o.sipp {
            control_plane::measure(WORKERS).await
        } else {
            None
        };
        (s_gw, gw_cost, metrics_text, prof, cps)
    });

    let ramp_per_core = s_gw.held / WORKERS as u32;
    let ramp_ratio = if ramp_ceiling > 0 {
        100.0 * f64::from(ramp_per_core) / f64::from(ramp_ceiling)
    } else {
        0.0
    };
    let cmp = Comparison::of(&echo_costs, gw_cost.as_ref(), &loads);
    // The headline: by CPU time per packet when measured, else the ramp.
    let (per_core, ratio, ceiling) = match &cmp {
        Some(c) => (c.gw_channels, c.ratio_one, c.echo_channels),
        None => (ramp_per_core, ramp_ratio, ramp_ceiling),
    };

    // 4. Report.
    let mut all: Vec<&Series> = echoes.iter().collect();
    all.push(&s_gw);
    for s in &all {
        println!("{}", report::table(s));
    }
    let costs: Vec<&Cost> = echo_costs.iter().chain(gw_cost.iter()).collect();
    let cost_md = cost_markdown(&costs, &loads, cmp.as_ref(), irq_acct);
    println!("{cost_md}");
    let workers_lines = metrics::worker_lines(&metrics_text);
    println!("per-core worker figures from /metrics:");
    if workers_lines.is_empty() {
        println!("  n/a (the gateway exposes no mediagw_worker_* lines)");
    }
    for l in &workers_lines {
        println!("  {l}");
    }
    let cps_txt = match &cps {
        Some((r, detail)) => format!("{r} calls/s with zero failures ({detail})"),
        None => "n/a (SIPp not run)".to_string(),
    };
    println!("control plane (answer + prompt + hang-up, SIPp): {cps_txt}");
    let limit = limiter(&s_gw, ramp_ceiling, ramp_per_core);
    println!("limit: {limit}");
    let ceiling_txt = ceiling_series
        .map(|s| format!("{}: {}", s.name, s.limit.describe()))
        .unwrap_or_else(|| "not measured (--no-echo)".into());
    let ramp_txt = format!(
        "gateway held {ramp_per_core} channels/core ({}), {ramp_ratio:.1}% of the ramp ceiling {ramp_ceiling} ({ceiling_txt})",
        s_gw.limit.describe()
    );
    println!("ramp: {ramp_txt}");
    let agree = cmp
        .as_ref()
        .map(|c| agreement(c, ramp_ratio, ceiling_series.map(|s| &s.limit), &s_gw.limit))
        .unwrap_or_default();
    if !agree.is_empty() {
        println!("{agree}");
    }
    let dev_txt = send_deviation(&s_gw);
    println!("{dev_txt}");
    let _ = std::fs::create_dir_all(&o.out);
    let machine = host::machine();
    let js = json!({
        "machine": machine,
        "command": format!("mediagw-load {command}"),
        "elapsed_s": t0.elapsed().as_secs_f64(),
        "series": all.iter().map(|s| report::series_json(s)).collect::<Vec<_>>(),
        "cpu_cost": {
            "loads_channels": loads,
            "irq_time_accounting": irq_acct,
            "targets": costs.iter().map(|c| c.json()).collect::<Vec<_>>(),
            "compared_at_channels": cmp.as_ref().map(|c| c.n),
            "gateway_ns_per_packet": cmp.as_ref().map(|c| c.gw_ns),
            "echo_one_socket_ns_per_packet": cmp.as_ref().map(|c| c.echo_one_ns),
            "echo_one_socket": cmp.as_ref().map(|c| c.echo_one_name.clone()),
            "echo_per_channel_ns_per_packet": cmp.as_ref().and_then(|c| c.echo_per_ns),
            "pct_of_one_socket_echo": cmp.as_ref().map(|c| c.ratio_one),
            "pct_of_per_channel_echo": cmp.as_ref().and_then(|c| c.ratio_per),
        },
        "ramp": {
            "ceiling_channels": ramp_ceiling,
            "ceiling_limit": ceiling_series.map(|s| s.limit.describe()),
            "gateway_channels_per_core": ramp_per_core,
            "pct_of_ceiling": ramp_ratio,
        },
        "gateway_workers": WORKERS,
        "density_channels_per_core": per_core,
        "density_pct_of_ceiling": ratio,
        "ceiling_channels": ceiling,
        "control_plane_cps": cps.as_ref().map(|c| c.0),
        "worker_metrics": workers_lines,
        "limit": limit,
        "send_deviation": dev_txt,
    });
    let _ = std::fs::write(
        o.out.join("report.json"),
        serde_json::to_string_pretty(&js).unwrap_or_default(),
    );
    let lat_ok = report::plot_latency(&o.out.join("latency.png"), &all).map_err(|e| e.to_string());
    let den_ok = report::plot_density(&o.out.join("density.png"), &all).map_err(|e| e.to_string());
    if let Err(e) = lat_ok.and(den_ok) {
        eprintln!("plotting failed: {e}");
    }
    let headline = match &cmp {
        Some(c) => format!(
            "**Density by CPU time per packet: {per_core} channels/core, {ratio:.1}% of the one-socket echo `{}` ({ceiling} channels/core)**; bar: 90%. Against the best per-channel-socket echo: {}.",
            c.echo_one_name,
            c.ratio_per
                .map(|r| format!("{r:.1}%"))
                .unwrap_or_else(|| "n/a".into())
        ),
        None => format!(
            "**Density (ramp; the CPU cost was not measured): {per_core} channels/core, {ratio:.1}% of the ceiling ({ceiling} channels)**; bar: 90%."
        ),
    };
    let header = format!(
        "# mediagw load report\n\nMachine: {machine} (shared with other agents compiling: the CPU time per packet is the robust figure; channel counts from the ramps move with the machine's load)\n\nCommand: `mediagw-load {command}` ({:.0} s)\n\n{headline}\n\nRamp: {ramp_txt}.\n\n{agree}\n\n{dev_txt}\n\nControl plane: {cps_txt}.\n\nLimit: {limit}\n\nA step holds with zero loss, zero late frames (deviation > {} ms) and every digit right. Deviation: each packet's arrival (kernel timestamp) minus its slot on the 20 ms grid of its stream segment, relative to the earliest packet of the segment.\n\n{cost_md}\n",
        t0.elapsed().as_secs_f64(),
        o.late_ms
    );
    let mut extra = String::from("## Per-core worker figures (/metrics)\n\n");
    if workers_lines.is_empty() {
        extra.push_str("n/a: the gateway exposes no `mediagw_worker_*{core=...}` lines yet.\n");
    } else {
        extra.push_str("```\n");
        for l in &workers_lines {
            extra.push_str(l);
            extra.push('\n');
        }
        extra.push_str("```\n");
    }
    match &prof {
        Some(p) => extra.push_str(&format!("\n{p}")),
        None => extra.push_str("\n## Profile\n\nn/a: perf missing or not permitted.\n"),
    }
    let _ = std::fs::write(
        o.out.join("report.md"),
        report::markdown(&header, &all, &extra),
    );
    println!("report: {}", o.out.join("report.md").display());
    println!("{}", cost::density_line(per_core, ratio, ceiling));
}

/// The gateway against the echoes at one common load.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Channels of the load compared.
    pub n: u32,
    /// The gateway's cost, ns per packet.
    pub gw_ns: f64,
    /// The cheaper one-socket echo: its name and cost.
    pub echo_one_name: String,
    /// Its cost, ns per packet.
    pub echo_one_ns: f64,
    /// The cheaper per-channel-socket echo's cost, when measured.
    pub echo_per_ns: Option<f64>,
    /// Its name.
    pub echo_per_name: Option<String>,
    /// The gateway's equivalent channels per core.
    pub gw_channels: u32,
    /// The one-socket echo's.
    pub echo_channels: u32,
    /// 100 x echo (one socket) / gateway cost.
    pub ratio_one: f64,
    /// 100 x echo (per channel) / gateway cost.
    pub ratio_per: Option<f64>,
    /// Did every target keep up at `n`?
    pub all_kept_up: bool,
}

impl Comparison {
    /// At the highest load where all kept up (`cost::common_point`); `None` without a
    /// gateway or one-socket echo figure.
    pub fn of(echoes: &[Cost], gw: Option<&Cost>, loads: &[u32]) -> Option<Comparison> {
        let gw = gw?;
        let mut all: Vec<&Cost> = echoes.iter().filter(|c| !c.points.is_empty()).collect();
        all.push(gw);
        let n = cost::common_point(&all, loads)?;
        let best = |per: bool| {
            echoes
                .iter()
                .filter(|c| c.per_channel == per)
                .filter_map(|c| Some((c.name.clone(), c.at(n)?.ns_per_packet())))
                .min_by(|a, b| a.1.total_cmp(&b.1))
        };
        let gw_ns = gw.at(n)?.ns_per_packet();
        let (echo_one_name, echo_one_ns) = best(false)?;
        let per = best(true);
        Some(Comparison {
            n,
            gw_ns,
            echo_one_name,
            echo_one_ns,
            echo_per_ns: per.as_ref().map(|p| p.1),
            echo_per_name: per.map(|p| p.0),
            gw_channels: cost::channels_per_core(gw_ns).round() as u32,
            echo_channels: cost::channels_per_core(echo_one_ns).round() as u32,
            ratio_one: 100.0 * echo_one_ns / gw_ns,
            ratio_per: None,
            all_kept_up: all
                .iter()
                .all(|x| x.at(n).is_some_and(cost::Point::kept_up)),
        })
        .map(|mut c| {
            c.ratio_per = c.echo_per_ns.map(|e| 100.0 * e / c.gw_ns);
            c
        })
    }
}

/// The CPU-cost section of the report: every target at every load, the marginal cost,
/// and the gap split into socket model and gateway work.
fn cost_markdown(costs: &[&Cost], loads: &[u32], cmp: Option<&Comparison>, irq: bool) -> String {
    let mut m = String::from("## CPU time per packet (the robust figure on a shared machine)\n\n");
    let _ = writeln!(
        m,
        "Each target streamed the same offered loads ({loads:?} channels, 100 packets per channel-second handled: 50 in, 50 out), each after a warm-up; CPU time of the target's thread from `/proc/<pid>/task/<tid>/schedstat` (ns) over the steady window, plus `ksoftirqd` of its core{}, divided by the packets it received and sent. Loopback softirq: the receive processing of a datagram runs on the sender's core, so the target is charged the delivery of what it sends (into the generator's socket), and the delivery of what it receives is charged to the generator's core; one delivery per packet either way. Equivalent density = 1 core-second / (ns per packet x 100).\n",
        if irq {
            " and the core's softirq column (the kernel accounts irq time apart)"
        } else {
            " (this kernel has no CONFIG_IRQ_TIME_ACCOUNTING: softirq run inline is already in the thread's time)"
        }
    );
    m.push_str("| target | sockets |");
    for n in loads {
        let _ = write!(m, " {n} ch: ns/packet (thread on CPU / waiting for it) |");
    }
    m.push_str(" marginal ns/packet | channels/core by CPU |\n|---|---|");
    for _ in loads {
        m.push_str("---:|");
    }
    m.push_str("---:|---:|\n");
    for c in costs {
        let _ = write!(
            m,
            "| {} | {} |",
            c.name,
            if c.per_channel {
                "one per channel"
            } else {
                "one"
            }
        );
        for n in loads {
            match c.at(*n) {
                Some(p) => {
                    let _ = write!(
                        m,
                        " {:.0} ({:.0}% / {:.0}%{}) |",
                        p.ns_per_packet(),
                        100.0 * p.cpu.busy(),
                        100.0 * p.cpu.waited(),
                        if p.kept_up() { "" } else { ", behind" }
                    );
                }
                None => m.push_str(" - |"),
            }
        }
        let at = cmp.and_then(|x| c.at(x.n)).or(c.points.last());
        let _ = writeln!(
            m,
            " {} | {} |",
            c.marginal_ns()
                .map(|x| format!("{x:.0}"))
                .unwrap_or_else(|| "-".into()),
            at.map(|p| format!("{:.0}", cost::channels_per_core(p.ns_per_packet())))
                .unwrap_or_else(|| "-".into())
        );
    }
    m.push('\n');
    if let Some(c) = cmp {
        let _ = writeln!(
            m,
            "Compared at {} channels ({}): gateway {:.0} ns/packet, one-socket echo `{}` {:.0} ns/packet: **{:.1}%** ({} vs {} channels/core). \"behind\": the thread on its CPU 90 % of the window or more, or over 1 % of the packets lost; a thread that waited most of the window for its CPU shows the machine's contention (other agents' work on the same core), and its cost per packet reads high.",
            c.n,
            if c.all_kept_up {
                "the highest load at which every target kept up"
            } else {
                "no load at which every target kept up: the lowest"
            },
            c.gw_ns,
            c.echo_one_name,
            c.echo_one_ns,
            c.ratio_one,
            c.gw_channels,
            c.echo_channels
        );
        if let (Some(pn), Some(pe), Some(pr)) = (&c.echo_per_name, c.echo_per_ns, c.ratio_per) {
            let _ = writeln!(
                m,
                "\nThe gap, split: socket model (one socket per channel, `{pn}` {pe:.0} ns, minus one socket, {:.0} ns) **{:+.0} ns/packet**; the gateway's own work (gateway minus `{pn}`) **{:+.0} ns/packet**. Against the per-channel-socket echo the gateway is at **{pr:.1}%**.",
                c.echo_one_ns,
                pe - c.echo_one_ns,
                c.gw_ns - pe
            );
        }
        for pair in [
            ("echo-recvmmsg", "echo-recvmmsg-per-channel"),
            ("echo-io_uring", "echo-io_uring-per-channel"),
        ] {
            let find = |name: &str| {
                costs
                    .iter()
                    .find(|x| x.name == name)
                    .and_then(|x| x.at(c.n))
                    .map(cost::Point::ns_per_packet)
            };
            if let (Some(a), Some(b)) = (find(pair.0), find(pair.1)) {
                let _ = writeln!(
                    m,
                    "\nSame loop, the socket model alone: `{}` {a:.0} -> `{}` {b:.0} ns/packet ({:+.0} ns).",
                    pair.0,
                    pair.1,
                    b - a
                );
            }
        }
    }
    m
}

/// Where the CPU-cost ratio and the ramp ratio disagree, and why.
fn agreement(c: &Comparison, ramp_ratio: f64, ceiling: Option<&Limit>, gw: &Limit) -> String {
    let d = ramp_ratio - c.ratio_one;
    let mut t = format!(
        "By CPU time per packet the gateway is at {:.1}% of the one-socket echo; by the ramps at {ramp_ratio:.1}%",
        c.ratio_one
    );
    if d.abs() <= 10.0 {
        t.push_str(": the two agree within 10 points.");
        return t;
    }
    let _ = write!(t, ": they disagree by {d:+.1} points.");
    let ceiling_gen = ceiling.is_some_and(Limit::generator_bound);
    if ceiling_gen || gw.generator_bound() {
        let _ = write!(
            t,
            " The ramps are generator-bound (the echo ceiling: {}, the gateway: {}): they stopped where the generator fell behind its own deadlines, which on this shared machine moves with the other work on its core, not where the targets did. The CPU time per packet does not depend on the generator keeping up.",
            if ceiling_gen { "yes" } else { "no" },
            if gw.generator_bound() { "yes" } else { "no" }
        );
    } else if d > 0.0 {
        t.push_str(" The ramp reads higher: the echo ramp stopped before the echo's core was full, so the ramp ceiling understates the echo.");
    } else {
        t.push_str(" The ramp reads lower: the gateway fails on lateness (send grid, scheduling) before its core is full of packet work.");
    }
    t
}

/// The gateway's send deviation p99.9 and the generator's own in the same window, at
/// the largest count that held.
fn send_deviation(gw: &Series) -> String {
    let step = gw.steps.iter().rfind(|s| s.pass() && s.n == gw.held);
    match step.and_then(|s| s.gateway.map(|g| (s, g))) {
        Some((s, g)) => format!(
            "Send-time deviation at {} channels, same window: the gateway's p99.9 {:.2} ms (its worker's histogram, last 2 s), the generator's own p99.9 {:.2} ms (each packet's send against its deadline).",
            s.n,
            g.send_dev_p999_us as f64 / 1000.0,
            s.gen_late_p999 as f64 / 1000.0
        ),
        None => "Send-time deviation: n/a (no gateway step held)".into(),
    }
}
/// What limited the gateway: where it first failed, and by how much it misses the 90 %
/// bar.
fn limiter(gw: &Series, ceiling: u32, per_core: u32) -> String {
    let fail = gw.steps.iter().find(|s| !s.pass());
    let mut t = match fail {
        Some(s) => format!("the gateway first failed at {} channels: {}", s.n, s.fail),
        None => "the gateway did not fail within the ramp's maximum".to_string(),
    };
    if ceiling > 0 && f64::from(per_core) < 0.9 * f64::from(ceiling) {
        let bar = (0.9 * f64::from(ceiling)) as u32;
        let short = bar - per_core;
        let _ = write!(
            t,
            "; the 90% bar ({bar} channels) is missed by {short} channels"
        );
    }
    t
}
