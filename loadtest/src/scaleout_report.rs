//! What `mediagw-load scaleout` measured (the CPS steps, the density step), the verdict on
//! what bounded a rate (from the CPU shares of SIPp, the proxy and the nodes while the
//! calls were placed), and the report: Markdown (`scaleout.md`) and JSON
//! (`scaleout.json`).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};

use serde_json::{Value, json};

/// Kamailio's UDP receiver processes (`-n 2` of the test kit's launcher): the most cores
/// its SIP forwarding can use.
pub const PROXY_WORKERS: f64 = 2.0;
/// Calls arriving slower than this share of the offered rate: the rate did not hold.
const ACHIEVED: f64 = 0.9;
/// The machine's cores together busier than this: the machine is the bound.
const MACHINE_BUSY: f64 = 0.85;

/// One offered rate, measured.
#[derive(Clone, Debug, Default)]
pub struct CpsStep {
    /// Offered calls per second.
    pub rate: u32,
    /// Calls SIPp created, completed, failed.
    pub placed: u64,
    /// See `placed`.
    pub succeeded: u64,
    /// See `placed`.
    pub failed: u64,
    /// Calls each node's application was offered.
    pub per_node: Vec<u64>,
    /// Calls the applications saw released.
    pub released: u64,
    /// Calls per second at which the calls reached the nodes: first to last arrival when
    /// all arrived within the offer period (`secs` from the first), else those that did
    /// over `secs`.
    pub achieved: f64,
    /// Seconds from SIPp's start to the end of the offer period, and to the step's end.
    pub placing_secs: f64,
    /// See `placing_secs`.
    pub wall_secs: f64,
    /// CPU time while placing (proxy, each node, SIPp), ns.
    pub proxy_placing_ns: u64,
    /// See `proxy_placing_ns`.
    pub nodes_placing_ns: Vec<u64>,
    /// See `proxy_placing_ns`.
    pub sipp_placing_ns: u64,
    /// See `proxy_placing_ns`: the generator's process (the nodes' applications and
    /// the driver).
    pub apps_placing_ns: u64,
    /// The machine's busy time over the offer period, all cores and every process on
    /// it (`/proc/stat`), ns: what the components left to other processes.
    pub machine_placing_ns: u64,
    /// CPU time over the whole step (every call set up and torn down), ns.
    pub proxy_ns: u64,
    /// See `proxy_ns`.
    pub nodes_ns: Vec<u64>,
    /// See `proxy_ns`.
    pub sipp_ns: u64,
    /// See `proxy_ns`.
    pub apps_ns: u64,
    /// What went wrong, if anything.
    pub why: String,
}

impl CpsStep {
    /// Calls that ended, either way.
    pub fn calls(&self) -> u64 {
        (self.succeeded + self.failed).max(1)
    }

    /// Calls SIPp placed that neither completed nor failed by its time limit.
    pub fn unfinished(&self) -> u64 {
        self.placed.saturating_sub(self.succeeded + self.failed)
    }

    /// Every call completed, at 90 % of the offered rate or better.
    pub fn held(&self) -> bool {
        self.failed == 0
            && self.unfinished() == 0
            && self.why.is_empty()
            && self.succeeded > 0
            && self.achieved >= ACHIEVED * f64::from(self.rate)
    }

    /// The proxy's CPU per call, ms (all its processes, probes included).
    pub fn proxy_ms(&self) -> f64 {
        self.proxy_ns as f64 / 1e6 / self.calls() as f64
    }

    /// Calls per second of each node: its share of the calls at the achieved rate.
    pub fn node_rates(&self) -> Vec<f64> {
        let total = self.per_node.iter().sum::<u64>().max(1) as f64;
        self.per_node
            .iter()
            .map(|&c| self.achieved * c as f64 / total)
            .collect()
    }

    /// Shares of one core while placing: SIPp, the applications, the proxy, each node.
    pub fn shares(&self) -> (f64, f64, f64, Vec<f64>) {
        let w = (self.placing_secs * 1e9).max(1.0);
        (
            self.sipp_placing_ns as f64 / w,
            self.apps_placing_ns as f64 / w,
            self.proxy_placing_ns as f64 / w,
            self.nodes_placing_ns
                .iter()
                .map(|&n| n as f64 / w)
                .collect(),
        )
    }

    /// What bounded this rate (or, when it held, the busiest component).
    pub fn bound(&self, cores: usize) -> String {
        let (sipp, apps, proxy, nodes) = self.shares();
        let cores = cores.max(1) as f64;
        // Each component's share of what it can use: SIPp one core (one main loop), the
        // applications one (one runtime thread), the proxy its receiver processes, a node
        // one core (one media worker, one SIP loop).
        let mut parts = vec![
            ("SIPp".to_string(), sipp, sipp),
            ("the applications".to_string(), apps, apps),
            (
                "the proxy".to_string(),
                proxy,
                proxy / PROXY_WORKERS.min(cores),
            ),
        ];
        for (i, &n) in nodes.iter().enumerate() {
            parts.push((format!("node {}", i + 1), n, n));
        }
        let ours: f64 = parts.iter().map(|p| p.1).sum();
        let machine = self.machine_placing_ns as f64 / (self.placing_secs * 1e9).max(1.0);
        let total = machine.max(ours);
        let busiest = parts
            .iter()
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .map(|p| format!("{} at {:.0}% of a core", p.0, 100.0 * p.1))
            .unwrap_or_default();
        if self.held() {
            return format!("held (busiest: {busiest})");
        }
        let mut what = Vec::new();
        if self.failed > 0 {
            what.push(format!("{} calls failed", self.failed));
        }
        if self.unfinished() > 0 {
            what.push(format!("{} never completed", self.unfinished()));
        }
        if self.achieved < ACHIEVED * f64::from(self.rate) {
            what.push(format!(
                "calls reached the nodes at {:.0}/s of {} offered",
                self.achieved, self.rate
            ));
        }
        if what.is_empty() {
            what.push(self.why.clone());
        }
        let what = what.join(", ");
        if total / cores >= MACHINE_BUSY {
            format!(
                "{what}: the machine (its {} cores {:.0}% busy: SIPp, applications, proxy and nodes {:.0}% of a core, other processes {:.0}%; busiest: {busiest})",
                cores,
                100.0 * total / cores,
                100.0 * ours,
                100.0 * (total - ours).max(0.0)
            )
        } else {
            format!("{what}: {busiest}")
        }
    }
}

/// One node's media over the density window.
#[derive(Clone, Debug)]
pub struct NodeMedia {
    /// Its address.
    pub ip: Ipv4Addr,
    /// Channels whose SDP answer named it.
    pub channels: u32,
    /// Packets received from it, lost, late; channels that received nothing.
    pub received: u64,
    /// See `received`.
    pub lost: u64,
    /// See `received`.
    pub late: u64,
    /// See `received`.
    pub dead: u64,
    /// Its process's CPU time over the window, ns.
    pub cpu_ns: u64,
}

impl Default for NodeMedia {
    fn default() -> Self {
        NodeMedia {
            ip: Ipv4Addr::UNSPECIFIED,
            channels: 0,
            received: 0,
            lost: 0,
            late: 0,
            dead: 0,
            cpu_ns: 0,
        }
    }
}

/// The density step.
#[derive(Clone, Debug, Default)]
pub struct Density {
    /// Channels asked for, answered, playing their prompt.
    pub wanted: u32,
    /// See `wanted`.
    pub established: u32,
    /// See `wanted`.
    pub playing: u64,
    /// Final non-2xx statuses seen.
    pub failures: Vec<u16>,
    /// Answers whose SDP named the proxy's address, or no node's.
    pub via_proxy: u32,
    /// See `via_proxy`.
    pub elsewhere: u32,
    /// Per node.
    pub media: Vec<NodeMedia>,
    /// Packets the generator sent in the window.
    pub sent: u64,
    /// The window, seconds (and its wall time).
    pub window_secs: u64,
    /// See `window_secs`.
    pub wall_secs: f64,
    /// The late threshold, ms.
    pub late_ms: u64,
    /// Arrival deviation from the 20 ms grid, p99, µs.
    pub deviation_p99_us: u64,
    /// The generator's own send lateness, p99, µs.
    pub gen_late_p99_us: u64,
    /// The proxy's CPU time over the media window, ns.
    pub proxy_ns: u64,
    /// Calls hung up at the end (BYE through the proxy answered).
    pub hung_up: usize,
}

/// The whole run.
#[derive(Clone, Debug)]
pub struct Run {
    /// The nodes' SIP addresses and the proxy's.
    pub nodes: Vec<SocketAddr>,
    /// See `nodes`.
    pub proxy: SocketAddr,
    /// The machine, and its cores.
    pub machine: String,
    /// See `machine`.
    pub cores: usize,
    /// The `mediagw` binary the nodes ran.
    pub binary: String,
    /// The command line of the run.
    pub command: String,
    /// Seconds of calls per rate.
    pub secs: u32,
    /// The CPS steps.
    pub steps: Vec<CpsStep>,
    /// The density step.
    pub density: Option<Density>,
    /// The proxy's `ERROR:` lines over the run: how many, the distinct ones with counts.
    pub proxy_errors: (usize, Vec<(usize, String)>),
}

impl Run {
    /// The proxy's CPU per call over all CPS steps, ms, and the calls per second one core
    /// running it forwards (1 / that).
    pub fn proxy_cost(&self) -> Option<(f64, f64)> {
        let ns: u64 = self.steps.iter().map(|s| s.proxy_ns).sum();
        let calls: u64 = self.steps.iter().map(|s| s.succeeded + s.failed).sum();
        (calls > 0 && ns > 0).then(|| {
            let per = ns as f64 / calls as f64;
            (per / 1e6, 1e9 / per)
        })
    }
}

fn ms(ns: u64, calls: u64) -> f64 {
    ns as f64 / 1e6 / calls.max(1) as f64
}

/// The report: Markdown and JSON.
pub fn report(r: &Run) -> (String, Value) {
    let n = r.nodes.len();
    let mut m = format!(
        "# Calls through Kamailio to {n} mediagw nodes\n\n\
         `{}`. Machine: {}. The deployable proxy (`deploy/kamailio/kamailio.cfg`, dispatcher, \
         hash of the Call-ID, Record-Route, per-request trace off, 2 UDP receiver processes, \
         {} MB of shared memory) \
         on {}; nodes {} (`{}`, one media worker each, each with its own bench \
         application). Everything shares this machine's {} cores: the rates are what this \
         machine sustained, the CPU costs per call are what carries over.\n\n",
        r.command,
        r.machine,
        crate::scaleout::PROXY_SHM_MB,
        r.proxy,
        r.nodes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        r.binary,
        r.cores
    );
    if let Some((per, cps)) = r.proxy_cost() {
        let _ = writeln!(
            m,
            "**The proxy's own cost: {per:.3} ms of CPU per call (all its processes, OPTIONS probes included) = {cps:.0} calls per second per proxy core**, measured over the {} calls of the steps below.\n",
            r.steps.iter().map(|s| s.succeeded + s.failed).sum::<u64>()
        );
    }
    let best = r.steps.iter().filter(|s| s.held()).map(|s| s.rate).max();
    if let Some(top) = r.steps.last() {
        let _ = writeln!(
            m,
            "**Highest offered rate that held: {}; at the top rate ({}/s): {}.**\n",
            best.map_or("none".into(), |b| format!("{b} calls/s")),
            top.rate,
            top.bound(r.cores)
        );
    }
    m.push_str("## Calls per second\n\n");
    let _ = write!(
        m,
        "One SIPp process (`proxy_uac_wait_bye.xml`: INVITE through the proxy, 200, ACK along the route set, the application's short prompt, its BYE back through the proxy), {} s of calls per rate.\n\n| offered calls/s | placed | completed | failed | arrived at calls/s |",
        r.secs
    );
    for i in 0..n {
        let _ = write!(m, " node {} calls (calls/s) |", i + 1);
    }
    m.push_str(" proxy CPU ms/call | proxy calls/s per core | nodes CPU ms/call | SIPp CPU ms/call | applications CPU ms/call | CPU while offering: SIPp / applications / proxy / nodes (% of a core) | machine busy while offering (% of all cores, every process) | bound |\n|");
    m.push_str(&"---:|".repeat(5 + n + 7));
    m.push_str("---|\n");
    let mut steps_js = Vec::new();
    for s in &r.steps {
        let calls = s.calls();
        let (sh_sipp, sh_apps, sh_proxy, sh_nodes) = s.shares();
        let failed = if s.unfinished() > 0 {
            format!("{} + {} unfinished", s.failed, s.unfinished())
        } else {
            s.failed.to_string()
        };
        let _ = write!(
            m,
            "| {} | {} | {} | {failed} | {:.1} |",
            s.rate, s.placed, s.succeeded, s.achieved
        );
        for (c, rate) in s.per_node.iter().zip(s.node_rates()) {
            let _ = write!(m, " {c} ({rate:.1}) |");
        }
        let pm = s.proxy_ms();
        let nodes_ns: u64 = s.nodes_ns.iter().sum();
        let _ = writeln!(
            m,
            " {pm:.3} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} / {:.0} / {:.0} / {} | {:.0}% | {} |",
            if pm > 0.0 { 1000.0 / pm } else { 0.0 },
            ms(nodes_ns, calls),
            ms(s.sipp_ns, calls),
            ms(s.apps_ns, calls),
            100.0 * sh_sipp,
            100.0 * sh_apps,
            100.0 * sh_proxy,
            sh_nodes
                .iter()
                .map(|x| format!("{:.0}", 100.0 * x))
                .collect::<Vec<_>>()
                .join(" + "),
            100.0 * s.machine_placing_ns as f64
                / (s.placing_secs * 1e9).max(1.0)
                / r.cores.max(1) as f64,
            s.bound(r.cores)
        );
        steps_js.push(json!({
            "rate": s.rate, "placed": s.placed, "succeeded": s.succeeded, "failed": s.failed,
            "unfinished": s.unfinished(), "per_node": s.per_node, "per_node_cps": s.node_rates(),
            "released": s.released, "achieved_cps": s.achieved,
            "offer_secs": s.placing_secs, "wall_secs": s.wall_secs,
            "proxy_cpu_ms_per_call": pm,
            "proxy_calls_per_sec_per_core": if pm > 0.0 { 1000.0 / pm } else { 0.0 },
            "nodes_cpu_ms_per_call": ms(nodes_ns, calls),
            "sipp_cpu_ms_per_call": ms(s.sipp_ns, calls),
            "apps_cpu_ms_per_call": ms(s.apps_ns, calls),
            "share_sipp": sh_sipp, "share_apps": sh_apps, "share_proxy": sh_proxy,
            "share_nodes": sh_nodes,
            "share_machine": s.machine_placing_ns as f64 / (s.placing_secs * 1e9).max(1.0),
            "held": s.held(), "bound": s.bound(r.cores), "why": s.why,
        }));
        if !s.why.is_empty() {
            let _ = writeln!(m, "\n{}/s: {}\n", s.rate, s.why);
        }
    }
    m.push_str(
        "\nCompleted and failed: SIPp's own counts (unfinished: placed, neither completed nor failed when SIPp's time limit ended it). Arrived at: the rate the calls reached the nodes, over the offer period (every call arrived, or the step's seconds from the first arrival; calls arriving later, after retransmissions, do not count); a node's calls/s is its share of that. Node calls: the calls each node's application was offered. The applications: this generator's process, which runs each node's bench application. CPU from /proc (utime+stime, 10 ms ticks: the more calls a step has, the finer its per-call figures) over each step (every call set up and torn down); the proxy's covers every process of its process group. The bound: each component's CPU over the offer period, against what it can use (SIPp one core, the applications one, the proxy its 2 receiver processes, a node one core), and the machine's cores together.\n",
    );
    if r.proxy_errors.0 > 0 {
        let _ = writeln!(
            m,
            "\nThe proxy logged {} errors over the run; the most frequent (digits stripped):\n",
            r.proxy_errors.0
        );
        for (n, e) in &r.proxy_errors.1 {
            let _ = writeln!(m, "- {n} x `{}`", e.replace('`', "'"));
        }
    }
    let density_js = r.density.as_ref().map(|d| density(&mut m, d));
    let js = json!({
        "nodes": r.nodes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "proxy": r.proxy.to_string(),
        "command": r.command,
        "machine": r.machine,
        "cores": r.cores,
        "proxy_cpu_ms_per_call": r.proxy_cost().map(|c| c.0),
        "proxy_calls_per_sec_per_core": r.proxy_cost().map(|c| c.1),
        "best_held_cps": best,
        "proxy_errors": r.proxy_errors.0,
        "steps": steps_js,
        "density": density_js,
    });
    (m, js)
}

fn density(m: &mut String, d: &Density) -> Value {
    let _ = write!(
        m,
        "\n## Density: media channels up at once\n\n\
         {} calls placed through the proxy by the generator's own SIP driver (route set kept), \
         {} answered, {} playing their prompt (each node's application: a long prompt with \
         digit collection); the generator sends G.711 on the 20 ms grid to every channel and \
         measures the prompt coming back over a {} s window. **Media straight to the nodes:** \
         {} of {} SDP answers named a node's own address, {} the proxy's, {} another.\n\n\
         | node | channels | packets received | lost | late (> {} ms off the grid) | silent channels | node CPU (% of a core) |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        d.wanted,
        d.established,
        d.playing,
        d.window_secs,
        d.established - d.via_proxy - d.elsewhere,
        d.established,
        d.via_proxy,
        d.elsewhere,
        d.late_ms
    );
    let wall = (d.wall_secs * 1e9).max(1.0);
    let mut nodes_js = Vec::new();
    for (i, n) in d.media.iter().enumerate() {
        let share = n.cpu_ns as f64 / wall;
        let _ = writeln!(
            m,
            "| {} ({}) | {} | {} | {} | {} | {} | {:.0}% |",
            i + 1,
            n.ip,
            n.channels,
            n.received,
            n.lost,
            n.late,
            n.dead,
            100.0 * share
        );
        nodes_js.push(json!({
            "ip": n.ip.to_string(), "channels": n.channels, "received": n.received,
            "lost": n.lost, "late": n.late, "dead": n.dead, "cpu_share": share,
        }));
    }
    let sum = |f: fn(&NodeMedia) -> u64| d.media.iter().map(f).sum::<u64>();
    let (ch, rx, lost, late, dead) = (
        sum(|n| u64::from(n.channels)),
        sum(|n| n.received),
        sum(|n| n.lost),
        sum(|n| n.late),
        sum(|n| n.dead),
    );
    let cpu = sum(|n| n.cpu_ns) as f64 / wall;
    let _ = writeln!(
        m,
        "| total | {ch} | {rx} | {lost} | {late} | {dead} | {:.0}% |\n\n\
         Arrival deviation from the grid p99: {} µs; the generator's own send lateness p99: {} µs{}. \
         The proxy's CPU over the media window: {:.1} ms in {:.1} s (its timers and OPTIONS \
         probes: no RTP passes through it). {} calls hung up at the end with a BYE through the \
         proxy.{}\n",
        100.0 * cpu,
        d.deviation_p99_us,
        d.gen_late_p99_us,
        if d.gen_late_p99_us > d.late_ms * 1000 {
            " (above the late threshold: the generator, sharing the cores, was itself late)"
        } else {
            ""
        },
        d.proxy_ns as f64 / 1e6,
        d.wall_secs,
        d.hung_up,
        if d.failures.is_empty() {
            String::new()
        } else {
            format!(" Refused calls: {:?}.", d.failures)
        }
    );
    json!({
        "wanted": d.wanted, "established": d.established, "playing": d.playing,
        "failures": d.failures, "via_proxy": d.via_proxy, "elsewhere": d.elsewhere,
        "sent": d.sent, "received": rx, "lost": lost, "late": late, "dead": dead,
        "window_secs": d.window_secs, "deviation_p99_us": d.deviation_p99_us,
        "gen_late_p99_us": d.gen_late_p99_us, "proxy_cpu_ms": d.proxy_ns as f64 / 1e6,
        "hung_up": d.hung_up, "nodes": nodes_js,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step: `shares` of SIPp, the proxy and each node while offering.
    fn step(rate: u32, failed: u64, achieved: f64, shares: (f64, f64, f64)) -> CpsStep {
        let secs = 10.0;
        CpsStep {
            rate,
            placed: u64::from(rate) * 10,
            succeeded: u64::from(rate) * 10 - failed,
            failed,
            achieved,
            placing_secs: secs,
            sipp_placing_ns: (shares.0 * secs * 1e9) as u64,
            proxy_placing_ns: (shares.1 * secs * 1e9) as u64,
            nodes_placing_ns: vec![(shares.2 * secs * 1e9) as u64; 3],
            proxy_ns: u64::from(rate) * 10 * 250_000,
            ..Default::default()
        }
    }

    #[test]
    fn a_held_rate_names_its_busiest_component() {
        let s = step(50, 0, 49.5, (0.1, 0.6, 0.2));
        assert!(s.held());
        assert_eq!(s.bound(2), "held (busiest: the proxy at 60% of a core)");
        assert!((s.proxy_ms() - 0.25).abs() < 1e-9);
    }

    #[test]
    fn a_rate_that_did_not_hold_names_the_machine_or_the_component() {
        let s = step(400, 0, 250.0, (0.9, 0.5, 0.1));
        assert!(!s.held());
        let b = s.bound(2);
        assert!(
            b.starts_with("calls reached the nodes at 250/s of 400 offered: the machine"),
            "{b}"
        );
        assert!(b.contains("busiest: SIPp at 90%"), "{b}");
        let mut s = step(400, 0, 250.0, (0.2, 0.2, 0.2));
        s.machine_placing_ns = (1.9 * 10.0 * 1e9) as u64;
        let b = s.bound(2);
        assert!(
            b.contains("its 2 cores 95% busy: SIPp, applications, proxy and nodes 100% of a core, other processes 90%"),
            "{b}"
        );
        let s = step(400, 3, 390.0, (0.2, 0.9, 0.1));
        let b = s.bound(8);
        assert_eq!(b, "3 calls failed: the proxy at 90% of a core");
    }

    #[test]
    fn calls_that_never_completed_do_not_hold() {
        let mut s = step(250, 0, 249.0, (0.1, 0.2, 0.3));
        s.succeeded -= 3;
        assert_eq!(s.unfinished(), 3);
        assert!(!s.held());
        assert_eq!(s.bound(2), "3 never completed: node 3 at 30% of a core");
        s.per_node = vec![100, 300];
        assert_eq!(s.node_rates(), vec![62.25, 186.75]);
    }

    #[test]
    fn the_proxy_cost_is_over_every_call_of_the_run() {
        let run = Run {
            nodes: vec!["127.0.0.2:5060".parse().expect("addr")],
            proxy: "127.0.0.10:5060".parse().expect("addr"),
            machine: "test".into(),
            binary: "target/release/mediagw".into(),
            command: "mediagw-load scaleout".into(),
            cores: 2,
            secs: 10,
            steps: vec![
                step(10, 0, 10.0, (0.1, 0.1, 0.1)),
                step(30, 0, 30.0, (0.1, 0.1, 0.1)),
            ],
            density: None,
            proxy_errors: (0, Vec::new()),
        };
        let (per, cps) = run.proxy_cost().expect("cost");
        assert!((per - 0.25).abs() < 1e-9 && (cps - 4000.0).abs() < 1e-6);
        let (md, js) = report(&run);
        assert!(md.contains("4000 calls per second per proxy core"), "{md}");
        assert_eq!(js["best_held_cps"], 30);
        assert_eq!(js["steps"][1]["held"], true);
    }
}
