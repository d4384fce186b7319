//! `mediagw-load scaleout` (issue 13): calls through the deployable Kamailio dispatcher
//! (`deploy/kamailio/kamailio.cfg`, on 127.0.0.10, its per-request trace off) to N
//! release-built mediagw nodes (127.0.0.2, 127.0.0.3..., one media worker each, disjoint
//! RTP ranges, `sip.allow` naming only the proxy), each with its own bench application.
//! One run measures:
//! - calls per second: for each offered rate, one SIPp process
//!   (`loadtest/sipp/proxy_uac_wait_bye.xml`: INVITE, 200, ACK along the route set, the
//!   application's short prompt, its BYE back through the proxy) places `rate x secs`
//!   calls; the calls each node's application was offered, the rate they arrived at,
//!   SIPp's completed and failed calls, and the CPU time of the proxy (all processes of
//!   its group), of each node and of SIPp, from `/proc`;
//! - density: `channels` calls placed through the proxy by the generator's own SIP driver
//!   (route set kept), each answered with a long prompt (IVR scenario): the 200's SDP must
//!   name the node's own address, never the proxy's (media straight to the node); the
//!   streamer sends RTP to every channel on the 20 ms grid and measures the prompt coming
//!   back: loss and lateness per node, the nodes' and the proxy's CPU over the window;
//! - the proxy's own cost: its CPU seconds per call over the CPS steps, and the calls per
//!   second one core running it would forward (1 / that).
//!
//! Rendering and the verdict on what bounded the top rate are in `scaleout_report`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mediagw_testkit::Kamailio;
use mediagw_testkit::gateway::{Gateway, Launch, find_binary};
use mediagw_testkit::sipp::{self, SippCommand};
use serde_json::json;

use crate::app::{App, Scenario};
use crate::bridge::window_of;
use crate::cli::ScaleoutArgs;
use crate::cps::{achieved_rate, first_error, sipp_pids};
use crate::cpu::{group_ns, machine_busy_ns, process_ns};
use crate::host;
use crate::rig::write_prompt;
use crate::scaleout_report::{CpsStep, Density, NodeMedia, Run, report};
use crate::sip::SipDriver;
use crate::stream::{Ctl, Demux, Streamer};

/// The proxy's address on loopback (the nodes' `sip.allow`).
pub const PROXY_IP: [u8; 4] = [127, 0, 0, 10];
/// The proxy's shared memory, MB: with Kamailio's default-sized test setting (32 MB) it
/// ran out of memory for transactions at 250 calls per second and answered 500.
pub const PROXY_SHM_MB: u32 = 512;
/// Seconds between the proxy's OPTIONS probes of each node.
const PING_SECS: u32 = 2;
/// RTP ports per node: node `i` has `2000 + i * RTP_SPAN ..`, below the kernel's
/// ephemeral range and disjoint, so the streamer tells nodes' replies apart by port.
const RTP_SPAN: u32 = 6000;

/// Runs everything; the exit status (0 when every step was measured and calls completed).
pub fn run(a: &ScaleoutArgs) -> i32 {
    host::raise_nofile();
    if !Kamailio::available() {
        eprintln!("scaleout: kamailio is not installed (tests/setup.sh installs it)");
        return 2;
    }
    if !sipp::available() || !sipp::scenario("proxy_uac_wait_bye").exists() {
        eprintln!("scaleout: SIPp or loadtest/sipp/proxy_uac_wait_bye.xml missing");
        return 2;
    }
    if a.nodes == 0 || u32::from(a.nodes) * RTP_SPAN + 2000 > 30000 {
        eprintln!("scaleout: 1 to 4 nodes");
        return 2;
    }
    let run = match host::runtime().block_on(measure(a)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("scaleout failed: {e:#}");
            return 1;
        }
    };
    let (md, js) = report(&run);
    let _ = std::fs::create_dir_all(&a.out);
    for (name, text) in [
        ("scaleout.md", md.clone()),
        (
            "scaleout.json",
            serde_json::to_string_pretty(&js).unwrap_or_default(),
        ),
    ] {
        let path = a.out.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("cannot write {}: {e}", path.display());
            return 1;
        }
    }
    print!("{md}");
    let calls_ok = run.steps.iter().any(|s| s.succeeded > 0 && s.failed == 0);
    let media_ok = run
        .density
        .as_ref()
        .is_none_or(|d| d.established == d.wanted && d.via_proxy == 0);
    if calls_ok && media_ok { 0 } else { 1 }
}

/// The proxy's dispatcher list file, removed on drop (after the proxy, declared later).
struct DispatcherList(std::path::PathBuf);

impl Drop for DispatcherList {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One node: its process and address.
struct Node {
    gw: Gateway,
    ip: Ipv4Addr,
}

/// Starts node `i` on 127.0.0.`i+2`.
fn start_node(i: u8) -> anyhow::Result<Node> {
    let bin = find_binary().ok_or_else(|| {
        anyhow::anyhow!("no mediagw binary: cargo build --release -p mediagw, or set MEDIAGW_BIN")
    })?;
    let ip = Ipv4Addr::new(127, 0, 0, i + 2);
    let first = 2000 + u32::from(i) * RTP_SPAN;
    let [a, b, c, d] = PROXY_IP;
    let gw = Launch::new(bin)
        .log_filter("warn,mediagw::server=info")
        .config(&format!(
            "[sip]\nlisten = \"{ip}:0\"\nallow = [\"{a}.{b}.{c}.{d}/32\"]\n\
             max_invites_per_second_per_source = 0\n\
             [media]\nworkers = 1\nrtp_ports = \"{first}-{}\"\nrtp_timeout_seconds = 60\n",
            first + RTP_SPAN - 2
        ))
        .start()?;
    Ok(Node { gw, ip })
}

/// The CPU time so far of each node's process, ns.
fn nodes_ns(nodes: &[Node]) -> Vec<u64> {
    nodes
        .iter()
        .map(|n| process_ns(n.gw.pid()).unwrap_or(0))
        .collect()
}

fn diff(after: &[u64], before: &[u64]) -> Vec<u64> {
    after
        .iter()
        .zip(before)
        .map(|(a, b)| a.saturating_sub(*b))
        .collect()
}

async fn measure(a: &ScaleoutArgs) -> anyhow::Result<Run> {
    let t0 = Instant::now();
    let budget = Duration::from_secs(a.budget);
    let mut nodes = Vec::new();
    for i in 0..a.nodes {
        nodes.push(start_node(i)?);
    }
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.gw.sip).collect();
    let list = DispatcherList(
        std::env::temp_dir().join(format!("mediagw-scaleout-{}.list", std::process::id())),
    );
    let proxy = tokio::task::block_in_place(|| {
        Kamailio::dispatcher_with(PROXY_IP, &addrs, PING_SECS, &list.0, false, PROXY_SHM_MB)
    });
    eprintln!(
        "scaleout: proxy {} (pid {}) in front of {}",
        proxy.addr,
        proxy.pid(),
        addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut steps = Vec::new();
    {
        let apps = start_apps(
            &nodes,
            Scenario::PromptHangup {
                prompt: json!([["1", 1, ""]]),
            },
        )
        .await?;
        for &rate in &a.rates {
            if t0.elapsed() > budget {
                eprintln!("scaleout: time budget spent, {rate} calls/s skipped");
                break;
            }
            let s = cps_step(a, &nodes, &apps, &proxy, rate).await;
            eprintln!(
                "scaleout: {rate}/s offered: {} placed, {} succeeded, {} failed, per node {:?}, arrived at {:.1}/s",
                s.placed, s.succeeded, s.failed, s.per_node, s.achieved
            );
            steps.push(s);
        }
        for app in apps {
            app.close().await;
        }
    }
    let density = if a.channels > 0 && t0.elapsed() < budget {
        Some(density_step(a, &nodes, &proxy).await?)
    } else {
        None
    };
    let log = proxy.log_text();
    let proxy_errors = distinct_errors(&log);
    Ok(Run {
        proxy_errors,
        nodes: nodes.iter().map(|n| n.gw.sip).collect(),
        proxy: proxy.addr,
        machine: host::machine(),
        command: std::iter::once("mediagw-load".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        binary: find_binary()
            .map(|b| b.display().to_string())
            .unwrap_or_default(),
        cores: host::cores(),
        secs: a.secs,
        steps,
        density,
    })
}

/// One bench application per node, serving `scenario`.
async fn start_apps(nodes: &[Node], scenario: Scenario) -> anyhow::Result<Vec<App>> {
    let mut apps = Vec::new();
    for n in nodes {
        apps.push(App::start(&n.gw.ws_url(), scenario.clone()).await?);
    }
    Ok(apps)
}

/// The calls each node's application has been offered so far.
fn offered(apps: &[App]) -> Vec<u64> {
    apps.iter()
        .map(|a| a.counters.incoming.load(Ordering::Relaxed))
        .collect()
}

/// `TotalCallCreated`, `SuccessfulCall(C)` and `FailedCall(C)` of the last line of SIPp's
/// statistics file (`-trace_stat`), found among its logs.
pub fn sipp_totals(logs: &str) -> Option<(u64, u64, u64)> {
    let section = logs.split("== ").find(|s| {
        s.lines()
            .next()
            .is_some_and(|l| l.trim_end().ends_with(".csv"))
    })?;
    let mut lines = section.lines().skip(1).filter(|l| l.contains(';'));
    let head: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines.last()?.split(';').collect();
    let col = |name: &str| -> Option<u64> {
        let i = head.iter().position(|h| h.trim() == name)?;
        last.get(i)?.trim().parse().ok()
    };
    Some((
        col("TotalCallCreated")?,
        col("SuccessfulCall(C)")?,
        col("FailedCall(C)")?,
    ))
}

async fn cps_step(
    a: &ScaleoutArgs,
    nodes: &[Node],
    apps: &[App],
    proxy: &Kamailio,
    rate: u32,
) -> CpsStep {
    let calls = u64::from(rate) * u64::from(a.secs);
    let base = offered(apps);
    let released0: u64 = apps
        .iter()
        .map(|a| a.counters.released.load(Ordering::Relaxed))
        .sum();
    let proxy0 = group_ns(proxy.pid());
    let nodes0 = nodes_ns(nodes);
    let start = Instant::now();
    let sipp = SippCommand::new("proxy_uac_wait_bye")
        .calls(calls)
        .traces(false)
        .args([
            proxy.addr.to_string(),
            "-r".into(),
            rate.to_string(),
            "-l".into(),
            (rate * 10).max(10).to_string(),
            "-timeout".into(),
            format!("{}s", a.secs + 40),
            // A 180 relayed after the 200 (the proxy's processes may reorder replies)
            // is legal: SIPp must not abort the call on it.
            "-default_behaviors".into(),
            "all,-abortunexp".into(),
            "-trace_stat".into(),
            "-stf".into(),
            "stat.csv".into(),
            "-fd".into(),
            "1".into(),
        ])
        .spawn();
    let mut step = CpsStep {
        rate,
        ..Default::default()
    };
    let sipp = match sipp {
        Ok(s) => s,
        Err(e) => {
            step.why = format!("sipp: {e:#}");
            return step;
        }
    };
    let mut pids = Vec::new();
    for _ in 0..100 {
        pids = sipp_pids(sipp.dir.path());
        if !pids.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sipp_cpu = |pids: &[u32]| -> Option<u64> { pids.iter().map(|&p| process_ns(p)).sum() };
    let sipp0 = sipp_cpu(&pids).unwrap_or(0);
    let mut sipp_last = sipp0;
    // Arrivals at the nodes, sampled every 10 ms until all came or SIPp's bound passed.
    // The offer period ends when every call has arrived or `secs` after the first did:
    // the CPU shares over it say who bounded the rate, and the calls that arrived within
    // it give the rate the nodes were reached at (late retransmissions do not count).
    let me = std::process::id();
    let apps0 = process_ns(me).unwrap_or(0);
    let machine0 = machine_busy_ns();
    let (mut first, mut last, mut seen_last) = (None, None, 0u64);
    let mut offer_end: Option<OfferEnd> = None;
    let deadline = start + Duration::from_secs(u64::from(a.secs) * 3 + 20);
    while Instant::now() < deadline {
        let now = start.elapsed().as_secs_f64();
        let seen: u64 = diff(&offered(apps), &base).iter().sum();
        if seen > 0 && first.is_none() {
            first = Some(now);
        }
        if seen > seen_last {
            seen_last = seen;
            last = Some(now);
        }
        if let Some(ns) = sipp_cpu(&pids) {
            sipp_last = ns;
        }
        let all = seen >= calls;
        let period_over = first.is_some_and(|f| now - f >= f64::from(a.secs));
        if offer_end.is_none() && (all || period_over) {
            offer_end = Some(OfferEnd {
                secs: now,
                proxy: group_ns(proxy.pid()),
                nodes: nodes_ns(nodes),
                sipp: sipp_last.saturating_sub(sipp0),
                apps: process_ns(me).unwrap_or(0).saturating_sub(apps0),
                machine: machine_busy_ns().saturating_sub(machine0),
                arrived: (!all).then_some(seen),
            });
        }
        if all || sipp_cpu(&pids).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end = offer_end.unwrap_or_else(|| OfferEnd {
        secs: start.elapsed().as_secs_f64(),
        proxy: group_ns(proxy.pid()),
        nodes: nodes_ns(nodes),
        sipp: sipp_last.saturating_sub(sipp0),
        apps: process_ns(me).unwrap_or(0).saturating_sub(apps0),
        machine: machine_busy_ns().saturating_sub(machine0),
        arrived: Some(seen_last),
    });
    // The calls' tails (prompt, BYE), then SIPp's end.
    let limit = Duration::from_secs(u64::from(a.secs) + 60);
    let watch = tokio::task::spawn_blocking(move || sipp.wait_for(limit));
    while !watch.is_finished() {
        if let Some(ns) = sipp_cpu(&pids) {
            sipp_last = ns;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let result = watch.await.ok();
    // The applications see the last releases shortly after SIPp's last 200 to BYE.
    let settle = Instant::now() + Duration::from_secs(5);
    while Instant::now() < settle {
        let released: u64 = apps
            .iter()
            .map(|a| a.counters.released.load(Ordering::Relaxed))
            .sum();
        if released.saturating_sub(released0) >= seen_last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = start.elapsed();
    step.per_node = diff(&offered(apps), &base);
    step.achieved = match end.arrived {
        // Not all arrived within the offer period: those that did, per second of it.
        Some(n) => n as f64 / f64::from(a.secs.max(1)),
        None => achieved_rate(first, last, seen_last),
    };
    step.placing_secs = end.secs;
    step.wall_secs = wall.as_secs_f64();
    step.proxy_placing_ns = end.proxy.saturating_sub(proxy0);
    step.nodes_placing_ns = diff(&end.nodes, &nodes0);
    step.sipp_placing_ns = end.sipp;
    step.apps_placing_ns = end.apps;
    step.machine_placing_ns = end.machine;
    step.proxy_ns = group_ns(proxy.pid()).saturating_sub(proxy0);
    step.nodes_ns = diff(&nodes_ns(nodes), &nodes0);
    step.sipp_ns = sipp_last.saturating_sub(sipp0);
    step.apps_ns = process_ns(me).unwrap_or(0).saturating_sub(apps0);
    step.released = apps
        .iter()
        .map(|a| a.counters.released.load(Ordering::Relaxed))
        .sum::<u64>()
        .saturating_sub(released0);
    match result {
        Some(r) => {
            match sipp_totals(&r.logs) {
                Some((placed, ok, failed)) => {
                    step.placed = placed;
                    step.succeeded = ok;
                    step.failed = failed;
                }
                None if r.success() => {
                    step.placed = calls;
                    step.succeeded = calls;
                }
                None => step.why = "no SIPp statistics".into(),
            }
            if !r.success() {
                step.why = format!(
                    "sipp exit {:?}: {}{}",
                    r.code,
                    first_error(&r.logs),
                    unexpected(&r.logs)
                );
            }
        }
        None => step.why = "SIPp's watcher failed".into(),
    }
    step
}

/// The proxy's `ERROR:` log lines: how many, and the distinct messages (text after
/// `ERROR:`, numbers stripped) with their counts, most frequent first (at most 5).
pub fn distinct_errors(log: &str) -> (usize, Vec<(usize, String)>) {
    let mut seen: Vec<(usize, String)> = Vec::new();
    let mut n = 0;
    for l in log.lines() {
        let Some(i) = l.find("ERROR:") else { continue };
        n += 1;
        let msg: String = l[i..]
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(160)
            .collect();
        match seen.iter_mut().find(|s| s.1 == msg) {
            Some(s) => s.0 += 1,
            None => seen.push((1, msg)),
        }
    }
    seen.sort_by_key(|s| std::cmp::Reverse(s.0));
    seen.truncate(5);
    (n, seen)
}

/// The CPU times and arrivals at the end of a step's offer period.
struct OfferEnd {
    /// Seconds from SIPp's start.
    secs: f64,
    proxy: u64,
    nodes: Vec<u64>,
    sipp: u64,
    apps: u64,
    /// The machine's busy time, all cores, every process.
    machine: u64,
    /// Calls arrived by then, when not all had.
    arrived: Option<u64>,
}

/// The start line of the first unexpected message SIPp logged (` ... received 'SIP/2.0
/// 503 ...'`), or nothing.
pub fn unexpected(logs: &str) -> String {
    let Some(i) = logs.find("received '") else {
        return String::new();
    };
    let rest = &logs[i + "received '".len()..];
    let line = rest
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    format!(
        " (received '{}')",
        line.chars().take(80).collect::<String>()
    )
}

async fn density_step(
    a: &ScaleoutArgs,
    nodes: &[Node],
    proxy: &Kamailio,
) -> anyhow::Result<Density> {
    let warmup = Duration::from_secs(2);
    let window = Duration::from_secs(a.window_secs);
    let place_secs = f64::from(a.channels) / f64::from(a.setup_cps.max(1));
    // The prompt outlasts placing, bridging the warm-up and the window.
    let prompt_secs = (place_secs as u64 + a.window_secs + 40) as u32;
    let mut prompt = String::new();
    for n in nodes {
        prompt = write_prompt(&n.gw, prompt_secs)?;
    }
    let apps = start_apps(
        nodes,
        Scenario::Ivr {
            prompt: json!(prompt),
        },
    )
    .await?;
    let gen_core = (host::cores() > 1).then_some(1);
    let st = Streamer::spawn(Demux::SrcPort, gen_core, false)?;
    let mut sipd = SipDriver::new(proxy.addr, st.local).await?;
    let limit = Duration::from_secs_f64(place_secs + 30.0);
    let up = sipd.place(0..a.channels, a.setup_cps, limit).await;
    // Where each call's media goes: a node's own address, never the proxy's.
    let proxy_ip = IpAddr::from(PROXY_IP);
    let mut node_of = vec![usize::MAX; a.channels as usize];
    let mut via_proxy = 0;
    let mut elsewhere = 0;
    for e in &up {
        match nodes.iter().position(|n| IpAddr::V4(n.ip) == e.rtp.ip()) {
            Some(i) => node_of[e.idx as usize] = i,
            None if e.rtp.ip() == proxy_ip => via_proxy += 1,
            None => elsewhere += 1,
        }
    }
    let mut media: Vec<NodeMedia> = nodes
        .iter()
        .map(|n| NodeMedia {
            ip: n.ip,
            ..Default::default()
        })
        .collect();
    for &i in node_of.iter().filter(|&&i| i != usize::MAX) {
        media[i].channels += 1;
    }
    // Every answered call's prompt playing (the ACK reached its node through the proxy).
    let want: u64 = up.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    let collecting = |apps: &[App]| -> u64 {
        apps.iter()
            .map(|a| a.counters.collecting.load(Ordering::Relaxed))
            .sum()
    };
    while collecting(&apps) < want && Instant::now() < deadline {
        sipd.service(Duration::from_millis(50)).await;
    }
    let playing = collecting(&apps);
    let chans: Vec<(u32, SocketAddr)> = up
        .iter()
        .filter(|e| node_of[e.idx as usize] != usize::MAX)
        .map(|e| (e.idx, e.rtp))
        .collect();
    let _ = st.ctl.send(Ctl::Add(chans));
    let proxy0 = group_ns(proxy.pid());
    let nodes0 = nodes_ns(nodes);
    let t = Instant::now();
    let stats = window_of(&st, warmup, window, a.late_ms, None, &mut sipd).await?;
    let wall = t.elapsed();
    let proxy_ns = group_ns(proxy.pid()).saturating_sub(proxy0);
    let node_cpu = diff(&nodes_ns(nodes), &nodes0);
    for c in &stats.per_chan {
        if let Some(&i) = node_of.get(c.idx as usize).filter(|&&i| i != usize::MAX) {
            let m = &mut media[i];
            m.received += c.received;
            m.lost += c.lost;
            m.late += c.late;
            m.dead += u64::from(c.received == 0);
        }
    }
    for (m, ns) in media.iter_mut().zip(&node_cpu) {
        m.cpu_ns = *ns;
    }
    let _ = st.ctl.send(Ctl::Truncate(0));
    let hung_up = sipd.hangup_all(Duration::from_secs(20)).await;
    for app in apps {
        app.close().await;
    }
    Ok(Density {
        wanted: a.channels,
        established: up.len() as u32,
        playing,
        failures: sipd.failures.clone(),
        via_proxy,
        elsewhere,
        media,
        sent: stats.sent,
        window_secs: a.window_secs,
        wall_secs: wall.as_secs_f64(),
        late_ms: a.late_ms,
        deviation_p99_us: stats.deviation_us.value_at_quantile(0.99),
        gen_late_p99_us: stats.gen_late_us.value_at_quantile(0.99),
        proxy_ns,
        hung_up,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipp_statistics_are_read_from_the_last_line_of_its_csv() {
        let logs = "== /tmp/sipp-x/proxy_uac_wait_bye_1_errors.log\nsome error\n\
                    == /tmp/sipp-x/stat.csv\n\
                    StartTime;TotalCallCreated;SuccessfulCall(P);SuccessfulCall(C);FailedCall(C)\n\
                    t;10;5;5;0;\n\
                    t;30;9;28;2;\n\n";
        assert_eq!(sipp_totals(logs), Some((30, 28, 2)));
        let err = "Continuing call on unexpected message for Call-Id '6-1': while expecting '100' (index 1), received 'SIP/2.0 503 Service Unavailable\r\nVia: x\n";
        assert_eq!(
            unexpected(err),
            " (received 'SIP/2.0 503 Service Unavailable')"
        );
        let err = "while expecting '100' (index 1), received '\n  SIP/2.0 500 Oops\n";
        assert_eq!(unexpected(err), " (received 'SIP/2.0 500 Oops')");
        assert_eq!(unexpected("nothing"), "");
        let log = " 0(12) ERROR: tm [t_fwd.c:1]: send failed 11\n info\n 1(13) ERROR: tm [t_fwd.c:1]: send failed 12\n 2(14) ERROR: <core> other\n";
        let (n, e) = distinct_errors(log);
        assert_eq!(n, 3);
        assert_eq!(e[0], (2, "ERROR: tm [t_fwd.c:]: send failed ".to_string()));
        assert_eq!(e[1].0, 1);
        assert_eq!(sipp_totals("== /tmp/x/other.log\na;b\n"), None);
        assert_eq!(
            sipp_totals("== /tmp/x/stat.csv\nTotalCallCreated;SuccessfulCall(C)\n1;1\n"),
            None,
            "a column missing"
        );
    }
}
