//! `mediagw-load cps`: the real calls-per-second limit of one core. The gateway (every
//! thread: SIP, API, media worker) is pinned to one core; the bench application (this
//! process) and several SIPp processes (`uac_wait_bye.xml`: INVITE, answered, a short
//! prompt, the gateway's BYE) are pinned to the other. The rate grows until calls fail
//! (the gateway's limit) or SIPp itself is the limit: its processes together near 100 %
//! of their core, or the calls arriving slower than the target rate with none failed.
//! Bounded in rates, calls and time; says which limit it was.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mediagw_testkit::sipp::{self, SippCommand};
use serde_json::json;

use crate::app::{App, Scenario};
use crate::cpu::{process_ns, thread_times};
use crate::host;
use crate::rig::start_gateway;

/// SIPp's processes together above this share of their core: SIPp is the limit.
const SIPP_BUSY: f64 = 0.9;
/// Calls arriving slower than this share of the target rate: the generator is the limit.
const ACHIEVED: f64 = 0.9;

/// What a `cps` run does.
#[derive(Clone, Debug)]
pub struct CpsOpts {
    /// SIPp processes.
    pub procs: u32,
    /// Rates tried, calls per second, ascending.
    pub rates: Vec<u32>,
    /// Seconds of calls per rate.
    pub secs: u32,
    /// Bound on the whole ramp.
    pub budget: Duration,
    /// The gateway's core.
    pub gw_core: usize,
    /// SIPp's and the application's core.
    pub gen_core: usize,
    /// Where `cps.md` and `cps.json` go.
    pub out: PathBuf,
}

/// One rate, measured.
#[derive(Clone, Debug, Default)]
pub struct RateRun {
    /// Target calls per second.
    pub rate: u32,
    /// Calls placed.
    pub calls: u64,
    /// Did every SIPp process end with every call successful?
    pub ok: bool,
    /// Calls the application saw offered.
    pub offered: u64,
    /// Calls per second at which they arrived (first to last).
    pub achieved: f64,
    /// SIPp's processes, together, as a share of one core.
    pub sipp_cpu: f64,
    /// SIPp's processes' mean share of the time spent runnable but waiting for their
    /// core (other work on it).
    pub sipp_wait: f64,
    /// The gateway process as a share of one core.
    pub gw_cpu: f64,
    /// Wall time of the rate.
    pub secs: f64,
    /// SIPp's complaint when not ok.
    pub why: String,
}

/// What ended the ramp.
#[derive(Clone, Debug, PartialEq)]
pub enum CpsLimit {
    /// Calls failed at `failed_at`; the best rate below was `best`.
    Gateway { best: u32, failed_at: u32 },
    /// SIPp was the limit at `at` (busy share, achieved rate).
    Sipp {
        best: u32,
        at: u32,
        busy: f64,
        wait: f64,
        achieved: f64,
    },
    /// Nothing failed, SIPp was not saturated, and the gateway near its core's limit
    /// let the calls arrive slower than offered.
    GatewayBehind {
        best: u32,
        at: u32,
        achieved: f64,
        gw_cpu: f64,
    },
    /// Calls arrived slower than offered with neither SIPp nor the gateway saturated:
    /// the shared machine, not a limit of either.
    Unclear { best: u32, at: u32, achieved: f64 },
    /// Every rate passed.
    Top { best: u32 },
}

impl CpsLimit {
    /// One line.
    pub fn describe(&self) -> String {
        match *self {
            CpsLimit::Gateway { best, failed_at } => format!(
                "{best} calls/s with zero failures; calls failed at {failed_at} calls/s: the gateway's limit"
            ),
            CpsLimit::Sipp {
                best,
                at,
                busy,
                wait,
                achieved,
            } => format!(
                "{best} calls/s with zero failures; at {at} calls/s SIPp was the limit (its processes on CPU {:.0}% of their core and each waiting for it {:.0}% of the time, calls arrived at {achieved:.0}/s): SIPp-bound, not the gateway's limit",
                100.0 * busy,
                100.0 * wait
            ),
            CpsLimit::GatewayBehind {
                best,
                at,
                achieved,
                gw_cpu,
            } => format!(
                "{best} calls/s with zero failures; at {at} calls/s nothing failed but the calls reached the application at {achieved:.0}/s with SIPp not saturated and the gateway at {:.0}% of its core: the gateway's limit",
                100.0 * gw_cpu
            ),
            CpsLimit::Unclear { best, at, achieved } => format!(
                "{best} calls/s with zero failures; at {at} calls/s the calls arrived at {achieved:.0}/s with neither SIPp nor the gateway saturated: the shared machine, not a limit of either"
            ),
            CpsLimit::Top { best } => {
                format!("{best} calls/s with zero failures, the top of the ramp (not a limit)")
            }
        }
    }

    /// The best rate with zero failures.
    pub fn best(&self) -> u32 {
        match *self {
            CpsLimit::Gateway { best, .. }
            | CpsLimit::Sipp { best, .. }
            | CpsLimit::GatewayBehind { best, .. }
            | CpsLimit::Unclear { best, .. }
            | CpsLimit::Top { best } => best,
        }
    }
}

/// The gateway's process above this share of its core is near its limit.
const GW_BUSY: f64 = 0.75;
/// SIPp waiting for its core more than this share of the time: its core is the limit.
const SIPP_WAIT: f64 = 0.5;

/// Judges one rate: `Some(limit)` when the ramp ends here. SIPp is saturated when its
/// processes together use 90 % of their core or wait for it half the time.
pub fn judge(best: u32, r: &RateRun) -> Option<CpsLimit> {
    let sipp_saturated = r.sipp_cpu >= SIPP_BUSY || r.sipp_wait >= SIPP_WAIT;
    let sipp = |best| CpsLimit::Sipp {
        best,
        at: r.rate,
        busy: r.sipp_cpu,
        wait: r.sipp_wait,
        achieved: r.achieved,
    };
    if !r.ok {
        // Calls failed. When SIPp was saturated, it may have timed out its own calls.
        if sipp_saturated {
            return Some(sipp(best));
        }
        return Some(CpsLimit::Gateway {
            best,
            failed_at: r.rate,
        });
    }
    let slow = r.achieved < ACHIEVED * f64::from(r.rate);
    if sipp_saturated {
        // This rate passed, but the generator cannot go further.
        return Some(sipp(if slow { best } else { r.rate.max(best) }));
    }
    if !slow {
        return None;
    }
    if r.gw_cpu >= GW_BUSY {
        return Some(CpsLimit::GatewayBehind {
            best,
            at: r.rate,
            achieved: r.achieved,
            gw_cpu: r.gw_cpu,
        });
    }
    Some(CpsLimit::Unclear {
        best,
        at: r.rate,
        achieved: r.achieved,
    })
}

/// The calls per second of arrivals from the first to the last of `calls` (times in
/// seconds since the rate started); 0 without two arrivals.
pub fn achieved_rate(first: Option<f64>, last: Option<f64>, calls: u64) -> f64 {
    match (first, last) {
        (Some(a), Some(b)) if b > a && calls > 1 => (calls - 1) as f64 / (b - a),
        _ => 0.0,
    }
}

/// Pins every thread of process `pid` to `core`; how many were pinned.
pub fn pin_process(pid: u32, core: usize) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut n = 0;
    for e in dir.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: a zeroed cpu_set_t is valid; CPU_SET within it; sched_setaffinity reads it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(core, &mut set);
            if libc::sched_setaffinity(tid, size_of::<libc::cpu_set_t>(), &set) == 0 {
                n += 1;
            }
        }
    }
    n
}

/// The `sipp` processes whose working directory is `dir`.
pub(crate) fn sipp_pids(dir: &Path) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sipp")
                && std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c == dir)
        })
        .collect()
}

/// Runs the ramp; the exit code (0 when some rate passed).
pub fn run(o: &CpsOpts) -> i32 {
    host::raise_nofile();
    if !sipp::available() || !sipp::scenario("uac_wait_bye").exists() {
        eprintln!("cps: SIPp or loadtest/sipp/uac_wait_bye.xml missing (tests/setup.sh)");
        return 2;
    }
    let rt = host::runtime();
    rt.block_on(ramp(o))
}

async fn ramp(o: &CpsOpts) -> i32 {
    let gw = match start_gateway(1) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cps: gateway did not start: {e:#}");
            return 2;
        }
    };
    let app = match App::start(
        &gw.ws_url(),
        Scenario::PromptHangup {
            prompt: json!([["1", 1, ""]]),
        },
    )
    .await
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cps: application did not start: {e:#}");
            return 2;
        }
    };
    let t0 = Instant::now();
    let mut runs: Vec<RateRun> = Vec::new();
    let mut best = 0u32;
    let mut limit = None;
    for &rate in &o.rates {
        if t0.elapsed() > o.budget {
            eprintln!("cps: time budget spent");
            break;
        }
        // Threads started since (tokio's blocking pool) are pinned again.
        let pinned = pin_process(gw.pid(), o.gw_core);
        pin_process(std::process::id(), o.gen_core);
        let r = one_rate(o, &gw, &app, rate).await;
        eprintln!(
            "cps: {rate}/s x {} calls: {} (arrived at {:.0}/s; SIPp {:.0}% of its core, waiting for it {:.0}%, gateway {:.0}% of its core, {pinned} gateway threads pinned; {:.1} s){}",
            r.calls,
            if r.ok { "ok" } else { "failures" },
            r.achieved,
            100.0 * r.sipp_cpu,
            100.0 * r.sipp_wait,
            100.0 * r.gw_cpu,
            r.secs,
            if r.why.is_empty() {
                String::new()
            } else {
                format!(": {}", r.why)
            }
        );
        let verdict = judge(best, &r);
        if r.ok {
            best = best.max(rate);
        }
        runs.push(r);
        if let Some(l) = verdict {
            limit = Some(l);
            break;
        }
    }
    app.close().await;
    drop(gw);
    let limit = limit.unwrap_or(CpsLimit::Top { best });
    let text = report(o, &runs, &limit);
    let _ = std::fs::create_dir_all(&o.out);
    let _ = std::fs::write(o.out.join("cps.md"), &text);
    let js = json!({
        "procs": o.procs, "gateway_core": o.gw_core, "sipp_core": o.gen_core,
        "rates": runs.iter().map(|r| json!({
            "rate": r.rate, "calls": r.calls, "ok": r.ok, "offered": r.offered,
            "achieved_cps": r.achieved, "sipp_cpu": r.sipp_cpu, "sipp_wait": r.sipp_wait, "gateway_cpu": r.gw_cpu,
            "secs": r.secs, "why": r.why,
        })).collect::<Vec<_>>(),
        "best_cps": limit.best(),
        "limit": limit.describe(),
    });
    let _ = std::fs::write(
        o.out.join("cps.json"),
        serde_json::to_string_pretty(&js).unwrap_or_default(),
    );
    println!("{text}");
    println!("cps: {}", limit.describe());
    if limit.best() > 0 { 0 } else { 1 }
}

async fn one_rate(
    o: &CpsOpts,
    gw: &mediagw_testkit::gateway::Gateway,
    app: &App,
    rate: u32,
) -> RateRun {
    let procs = o.procs.max(1);
    let per_rate = (rate / procs).max(1);
    let per_calls = u64::from(per_rate) * u64::from(o.secs);
    let calls = per_calls * u64::from(procs);
    let base = app.counters.incoming.load(Ordering::Relaxed);
    let gw0 = process_ns(gw.pid()).unwrap_or(0);
    let start = Instant::now();
    let mut sipps = Vec::new();
    let mut why = String::new();
    for _ in 0..procs {
        match SippCommand::new("uac_wait_bye")
            .calls(per_calls)
            .traces(false)
            .args([
                gw.sip.to_string(),
                "-r".into(),
                per_rate.to_string(),
                "-l".into(),
                (per_rate * 6).to_string(),
                "-timeout".into(),
                format!("{}s", o.secs + 25),
            ])
            .spawn()
        {
            Ok(s) => sipps.push(s),
            Err(e) => why = format!("sipp: {e:#}"),
        }
    }
    // Pin SIPp to its core and sample its CPU from now.
    let mut pids = Vec::new();
    for _ in 0..50 {
        pids = sipps.iter().flat_map(|s| sipp_pids(s.dir.path())).collect();
        if pids.len() >= sipps.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for &p in &pids {
        pin_process(p, o.gen_core);
    }
    let sipp0: u64 = pids.iter().filter_map(|&p| process_ns(p)).sum();
    let mut sipp_last = sipp0;
    let wait = |pids: &[u32]| -> Option<u64> {
        pids.iter()
            .map(|&p| thread_times(p, p).map(|t| t.wait_ns))
            .sum::<Option<u64>>()
    };
    let wait0 = wait(&pids).unwrap_or(0);
    let mut wait_last = wait0;
    // Arrivals, sampled every 10 ms until all came or SIPp's bound passed.
    let (mut first, mut last) = (None, None);
    let mut seen_last = 0u64;
    let deadline = start + Duration::from_secs(u64::from(o.secs) * 3 + 10);
    loop {
        let now = start.elapsed().as_secs_f64();
        let seen = app.counters.incoming.load(Ordering::Relaxed) - base;
        if seen > 0 && first.is_none() {
            first = Some(now);
        }
        if seen > seen_last {
            // The latest arrival so far: the rate is measured up to it.
            seen_last = seen;
            last = Some(now);
        }
        if seen >= calls {
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        // SIPp's CPU while it runs (an exited process has no /proc entry).
        let ns: u64 = pids.iter().filter_map(|&p| process_ns(p)).sum();
        if pids.iter().all(|&p| process_ns(p).is_some()) {
            sipp_last = ns;
        }
        if let Some(w) = wait(&pids) {
            wait_last = w;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let placing = start.elapsed();
    let offered = app.counters.incoming.load(Ordering::Relaxed) - base;
    let sipp_ns: u64 = pids.iter().filter_map(|&p| process_ns(p)).sum();
    if pids.iter().all(|&p| process_ns(p).is_some()) {
        sipp_last = sipp_ns;
    }
    let gw1 = process_ns(gw.pid()).unwrap_or(gw0);
    let limit = Duration::from_secs(u64::from(o.secs) + 30);
    let mut ok = !sipps.is_empty() && why.is_empty();
    for s in sipps {
        let r = tokio::task::spawn_blocking(move || s.wait_for(limit))
            .await
            .ok();
        let good = r.as_ref().is_some_and(|r| r.success());
        if !good {
            ok = false;
            if let Some(r) = r {
                if why.is_empty() {
                    why = format!("sipp exit {:?}: {}", r.code, first_error(&r.logs));
                }
            }
        }
    }
    let wall = placing.as_nanos().max(1) as f64;
    RateRun {
        rate,
        calls,
        ok,
        offered,
        achieved: achieved_rate(first, last, seen_last),
        sipp_cpu: sipp_last.saturating_sub(sipp0) as f64 / wall,
        sipp_wait: wait_last.saturating_sub(wait0) as f64 / wall / pids.len().max(1) as f64,
        gw_cpu: gw1.saturating_sub(gw0) as f64 / wall,
        secs: start.elapsed().as_secs_f64(),
        why,
    }
}

/// The first line of SIPp's error log that says what went wrong (at most 160 chars).
pub(crate) fn first_error(logs: &str) -> String {
    let line = logs
        .lines()
        .find(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("abort")
                || l.contains("timeout")
                || l.contains("unexpected")
                || l.contains("fail")
        })
        .or_else(|| logs.lines().rfind(|l| !l.trim().is_empty()))
        .unwrap_or("no error log");
    line.chars().take(160).collect()
}

fn report(o: &CpsOpts, runs: &[RateRun], limit: &CpsLimit) -> String {
    let mut m = format!(
        "# mediagw calls per second on one core\n\nThe gateway (all its threads) pinned to core {}; {} SIPp processes (`uac_wait_bye.xml`: INVITE, 200, ACK, a short prompt played by the application, the gateway's BYE) and the bench application pinned to core {}. {} s of calls per rate. The machine is shared with other agents compiling: CPU shares are of wall time while the calls were being placed.\n\n**{}**\n\n| target calls/s | calls | all succeeded | arrived at calls/s | SIPp CPU (share of its core) | SIPp waiting for its core (mean per process) | gateway CPU (share of its core) | seconds |\n|---:|---:|---|---:|---:|---:|---:|---:|\n",
        o.gw_core,
        o.procs,
        o.gen_core,
        o.secs,
        limit.describe()
    );
    for r in runs {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {:.0} | {:.0}% | {:.0}% | {:.0}% | {:.1} |",
            r.rate,
            r.calls,
            if r.ok {
                "yes".to_string()
            } else {
                format!("no: {}", r.why)
            },
            r.achieved,
            100.0 * r.sipp_cpu,
            100.0 * r.sipp_wait,
            100.0 * r.gw_cpu,
            r.secs
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate: u32, ok: bool, achieved: f64, sipp_cpu: f64) -> RateRun {
        RateRun {
            rate,
            ok,
            achieved,
            sipp_cpu,
            ..Default::default()
        }
    }

    #[test]
    fn slow_arrivals_name_whoever_was_saturated() {
        let mut r = run(3000, true, 2600.0, 0.2);
        r.gw_cpu = 0.8;
        assert!(matches!(
            judge(2000, &r),
            Some(CpsLimit::GatewayBehind {
                best: 2000,
                at: 3000,
                ..
            })
        ));
        r.gw_cpu = 0.4;
        let l = judge(2000, &r).expect("limit");
        assert!(matches!(l, CpsLimit::Unclear { best: 2000, .. }), "{l:?}");
        assert!(l.describe().contains("not a limit of either"));
        r.sipp_wait = 0.6;
        assert!(
            matches!(judge(2000, &r), Some(CpsLimit::Sipp { best: 2000, .. })),
            "SIPp waiting for its core: SIPp's limit"
        );
    }

    #[test]
    fn failures_name_the_gateway_unless_sipp_was_saturated() {
        assert_eq!(
            judge(2000, &run(3000, false, 2990.0, 0.5)),
            Some(CpsLimit::Gateway {
                best: 2000,
                failed_at: 3000
            })
        );
        let l = judge(2000, &run(3000, false, 2500.0, 0.97)).expect("limit");
        assert!(
            matches!(
                l,
                CpsLimit::Sipp {
                    best: 2000,
                    at: 3000,
                    ..
                }
            ),
            "{l:?}"
        );
        assert!(l.describe().contains("SIPp-bound"), "{}", l.describe());
    }

    #[test]
    fn sipp_is_the_limit_when_saturated_with_no_failure() {
        assert_eq!(
            judge(1000, &run(2000, true, 1990.0, 0.6)),
            None,
            "keeps going"
        );
        let busy = judge(1000, &run(2000, true, 1990.0, 0.95)).expect("busy");
        assert_eq!(busy.best(), 2000, "the rate itself passed");
        let mut slow = run(2000, true, 1500.0, 0.5);
        slow.sipp_wait = 0.7;
        let l = judge(1000, &slow).expect("slow");
        assert!(
            matches!(
                l,
                CpsLimit::Sipp {
                    best: 1000,
                    at: 2000,
                    ..
                }
            ),
            "slow and SIPp waiting for its core: SIPp's limit, this rate not counted: {l:?}"
        );
        assert!(
            CpsLimit::Top { best: 8000 }
                .describe()
                .contains("not a limit")
        );
    }

    #[test]
    fn the_first_telling_error_line() {
        let logs = "== /tmp/x_errors.log\n2026-12-03 sipp: The following events occurred:\nAborting call on unexpected message for Call-Id '9-1': while expecting 'BYE' (index 5), received 'SIP/2.0 500'\n";
        assert!(first_error(logs).starts_with("Aborting call on unexpected message"));
        assert_eq!(first_error(""), "no error log");
        assert_eq!(first_error(&"x".repeat(500)).len(), 160);
    }

    #[test]
    fn arrival_rate_from_first_to_last() {
        assert!((achieved_rate(Some(1.0), Some(3.0), 2001) - 1000.0).abs() < 1e-9);
        assert_eq!(achieved_rate(None, Some(3.0), 10), 0.0);
        assert_eq!(achieved_rate(Some(1.0), None, 10), 0.0);
        assert_eq!(achieved_rate(Some(1.0), Some(1.0), 10), 0.0);
    }

    #[test]
    fn a_process_is_pinned_to_one_core() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        assert_eq!(pin_process(child.id(), 0), 1, "sleep has one thread");
        assert_eq!(crate::cpu::pinned_core(child.id()), Some(0));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(pin_process(u32::MAX, 0), 0, "no such process");
    }
}
