//! `mediagw-load`: the load generator and report of mediagw.
//!
//! `mediagw-load quick` starts everything it needs on loopback (the echo baselines, the
//! gateway, the bench API application), ramps channel counts against each, measures the
//! control-plane CPS with SIPp, writes the report, and prints as its last line
//! `density: N channels/core, R% of the ceiling (C channels)`.
//! `mediagw-load full` does the same with longer windows and more steps;
//! `mediagw-load app --url WS [--mode ivr|record|hangup|digit]` runs only the bench
//! application, and `mediagw-load dial --url WS --to URI[,URI...]` only the outbound dialler
//! (both for `loadtest/sipp/flood.sh`).

mod app;
mod dialer;
mod gateway;
mod profile;
mod ramp;
mod report;
mod sip;
mod stream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::json;

use ramp::{Step, held, next_n, pct};
use report::Series;
use stream::{Demux, DigitPlan, Streamer};

/// Run parameters.
#[derive(Clone, Debug)]
struct Opts {
    window: Duration,
    warmup: Duration,
    late_ms: u64,
    start_n: u32,
    growth: f64,
    max_n: u32,
    bisects: u32,
    budget: Duration,
    cps: u32,
    out: PathBuf,
    gen_core: usize,
    target_core: usize,
    sipp: bool,
    echo: bool,
}

impl Opts {
    fn quick() -> Self {
        Opts {
            window: Duration::from_millis(2000),
            warmup: Duration::from_millis(600),
            late_ms: 20,
            start_n: 250,
            growth: 1.8,
            max_n: 12_000,
            bisects: 2,
            budget: Duration::from_secs(40),
            cps: 500,
            out: PathBuf::from("loadtest/report"),
            gen_core: 1,
            target_core: 0,
            sipp: true,
            echo: true,
        }
    }
    /// One small step per target: proves the harness end to end (CI runs it).
    fn smoke() -> Self {
        Opts {
            window: Duration::from_millis(2000),
            warmup: Duration::from_millis(500),
            start_n: 40,
            max_n: 40,
            bisects: 0,
            budget: Duration::from_secs(30),
            cps: 100,
            out: std::env::temp_dir().join(format!("mediagw-load-smoke-{}", std::process::id())),
            sipp: false,
            ..Self::quick()
        }
    }
    fn full() -> Self {
        Opts {
            window: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            growth: 1.4,
            bisects: 4,
            budget: Duration::from_secs(300),
            ..Self::quick()
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("quick");
    let mut o = match mode {
        "quick" => Opts::quick(),
        "full" => Opts::full(),
        "smoke" => Opts::smoke(),
        "app" => return run_app_only(&args[1..]),
        "dial" => return run_dial_only(&args[1..]),
        _ => {
            eprintln!(
                "usage: mediagw-load quick|full|smoke [--out DIR] [--max N] [--no-sipp] [--no-echo]\n\
                 \x20      mediagw-load app --url WS [--mode ivr|record|hangup|digit] [--expect KEYS] [--seconds S]\n\
                 \x20      mediagw-load dial --url WS --to URI[,URI...] [--cps R] [--calls N] [--limit L] [--hold-ms MS]"
            );
            std::process::exit(2);
        }
    };
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => o.out = it.next().map(PathBuf::from).unwrap_or(o.out),
            "--max" => o.max_n = it.next().and_then(|v| v.parse().ok()).unwrap_or(o.max_n),
            "--no-sipp" => o.sipp = false,
            "--no-echo" => o.echo = false,
            "--late-ms" => o.late_ms = it.next().and_then(|v| v.parse().ok()).unwrap_or(o.late_ms),
            _ => {}
        }
    }
    o.start_n = o.start_n.min(o.max_n);
    raise_nofile();
    let cores = core_affinity::get_core_ids().map(|c| c.len()).unwrap_or(1);
    if cores < 2 {
        o.gen_core = 0;
    }
    let rt = runtime();
    let t0 = Instant::now();

    // 1. The ceiling: the same generator against bare echoes.
    let plain = if !o.echo {
        None
    } else {
        Some(
            mediagw::worker::echo::PlainEcho::spawn(
                "127.0.0.1:0".parse().expect("addr"),
                64,
                Some(o.target_core),
            )
            .expect("plain echo"),
        )
    };
    let s_plain = match plain {
        Some(plain) => {
            gateway::enlarge_socket(plain.local_addr(), 8 << 20);
            ramp_echo("echo-recvmmsg", plain.local_addr(), &o)
        }
        None => Series {
            name: "echo-recvmmsg".into(),
            steps: Vec::new(),
            held: 0,
        },
    };
    let uring = if o.echo {
        mediagw::worker::echo::spawn_echo(
            &mediagw::worker::WorkerConfig::default(),
            "127.0.0.1:0".parse().expect("addr"),
        )
    } else {
        Err(mediagw::worker::WorkerError::Startup(0))
    };
    let uring = uring.map_err(|e| {
        if o.echo {
            e.to_string()
        } else {
            "skipped (--no-echo)".into()
        }
    });
    let s_uring = match uring {
        Ok((w, addr)) => {
            gateway::enlarge_socket(addr, 8 << 20);
            let s = ramp_echo("echo-io_uring", addr, &o);
            drop(w);
            Some(s)
        }
        Err(e) => {
            eprintln!("io_uring echo unavailable: {e}");
            None
        }
    };

    // 2. The gateway with the IVR scenario.
    let workers = 1usize;
    let (s_gw, metrics, cps, prof) = rt.block_on(gateway_runs(&o, workers));

    let ceiling = s_plain
        .held
        .max(s_uring.as_ref().map(|s| s.held).unwrap_or(0));
    let per_core = s_gw.held / workers as u32;
    let ratio = if ceiling > 0 {
        100.0 * f64::from(per_core) / f64::from(ceiling)
    } else {
        0.0
    };

    // 3. Report.
    let mut all: Vec<&Series> = vec![&s_plain];
    if let Some(s) = &s_uring {
        all.push(s);
    }
    all.push(&s_gw);
    for s in &all {
        println!("{}", report::table(s));
    }
    let workers_lines = gateway::worker_lines(&metrics);
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
    let limit = limiter(&s_gw, ceiling, per_core);
    println!("limit: {limit}");
    let _ = std::fs::create_dir_all(&o.out);
    let machine = machine();
    let js = json!({
        "machine": machine,
        "command": format!("mediagw-load {}", args.join(" ")),
        "elapsed_s": t0.elapsed().as_secs_f64(),
        "series": all.iter().map(|s| report::series_json(s)).collect::<Vec<_>>(),
        "ceiling_channels": ceiling,
        "gateway_workers": workers,
        "density_channels_per_core": per_core,
        "density_pct_of_ceiling": ratio,
        "control_plane_cps": cps.as_ref().map(|c| c.0),
        "worker_metrics": workers_lines,
        "limit": limit,
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
    let header = format!(
        "# mediagw load report\n\nMachine: {machine}\n\nCommand: `mediagw-load {}` ({:.0} s)\n\n**Density: {per_core} channels/core, {ratio:.1}% of the ceiling ({ceiling} channels)**; bar: 90%.\n\nControl plane: {cps_txt}.\n\nLimit: {limit}\n\nA step holds with zero loss, zero late frames (deviation > {} ms) and every digit right. Deviation: each packet's arrival (kernel timestamp) minus its slot on the 20 ms grid of its stream segment, relative to the earliest packet of the segment.\n",
        args.join(" "),
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
    println!("density: {per_core} channels/core, {ratio:.1}% of the ceiling ({ceiling} channels)");
}

fn limiter(gw: &Series, ceiling: u32, per_core: u32) -> String {
    let fail = gw.steps.iter().find(|s| !s.pass());
    let mut t = match fail {
        Some(s) => format!("the gateway first failed at {} channels: {}", s.n, s.fail),
        None => "the gateway did not fail within the ramp's maximum".to_string(),
    };
    if ceiling > 0 && f64::from(per_core) < 0.9 * f64::from(ceiling) {
        let short = (0.9 * f64::from(ceiling)) as u32 - per_core;
        let _ = std::fmt::Write::write_fmt(
            &mut t,
            format_args!(
                "; the 90% bar ({} channels) is missed by {short} channels",
                (0.9 * f64::from(ceiling)) as u32
            ),
        );
    }
    t
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{n} cores, {cpu}, Linux {}", kernel.trim())
}

fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn step_from(n: u32, w: &stream::WindowStats, late_ms: u64) -> Step {
    let mut s = Step {
        n,
        received: w.received,
        lost: w.lost,
        reordered: w.reordered,
        late: w.late,
        dead: w.dead,
        digits_sent: 0,
        digits_ok: 0,
        dev: pct(&w.deviation_us),
        rtt: pct(&w.rtt_us),
        gen_late_p999: pct(&w.gen_late_us)[2],
        setup_missing: 0,
        setup_us: [0; 4],
        gateway: None,
        fail: String::new(),
    };
    let mut why = Vec::new();
    if w.lost > 0 {
        why.push(format!("{} lost", w.lost));
    }
    if w.late > 0 {
        why.push(format!("{} late (> {late_ms} ms)", w.late));
    }
    if w.dead > 0 {
        why.push(format!("{} silent channels", w.dead));
    }
    if s.gen_late_p999 > late_ms * 1000 {
        why.push(format!(
            "generator itself late (p99.9 {} µs)",
            s.gen_late_p999
        ));
    }
    s.fail = why.join(", ");
    s
}

fn ramp_echo(name: &str, target: SocketAddr, o: &Opts) -> Series {
    let start = Instant::now();
    let mut steps: Vec<Step> = Vec::new();
    let Ok(st) = Streamer::spawn(Demux::Ssrc, Some(o.gen_core), true) else {
        return Series {
            name: name.into(),
            steps,
            held: 0,
        };
    };
    let mut have = 0u32;
    while let Some(n) = next_n(&steps, o.start_n, o.growth, o.max_n, o.bisects) {
        if start.elapsed() > o.budget {
            break;
        }
        if n < have {
            // Bisecting below a failure: stop streaming to channels n.. (the same streamer,
            // so the channels above n stop loading the echo).
            let _ = st.ctl.send(stream::Ctl::Truncate(n));
        } else {
            let _ = st
                .ctl
                .send(stream::Ctl::Add((have..n).map(|i| (i, target)).collect()));
        }
        have = n;
        let Some(w) = st.window(o.warmup, o.window, o.late_ms, Vec::new()) else {
            break;
        };
        let mut s = step_from(n, &w, o.late_ms);
        if s.marginal() {
            // The machine may be shared: a small failure counts only when a second window
            // confirms it.
            eprintln!("{name}: {n} channels: {} (confirming)", s.fail);
            if let Some(w2) = st.window(Duration::ZERO, o.window, o.late_ms, Vec::new()) {
                let s2 = step_from(n, &w2, o.late_ms);
                if s2.pass() {
                    s = s2;
                }
            }
        }
        eprintln!(
            "{name}: {n} channels: {}",
            if s.pass() { "ok" } else { &s.fail }
        );
        steps.push(s);
    }
    let h = held(&steps);
    Series {
        name: name.into(),
        steps,
        held: h,
    }
}

fn digit_plans(n: u32, frames: u32, rng: &mut impl Rng) -> Vec<(u32, Vec<DigitPlan>)> {
    const KEYS: &[u8] = b"0123456789*#";
    (0..n)
        .map(|i| {
            // Two digits at random moments, the second in the window's second half; as
            // RFC 4733 events or in-band tones depending on what the channel negotiated.
            let a = rng.random_range(5..frames / 2 - 10);
            let b = rng.random_range(frames / 2..frames.saturating_sub(20).max(frames / 2 + 1));
            let inband = !sip::rfc4733_channel(i);
            let d1 = KEYS[rng.random_range(0..KEYS.len())] as char;
            let d2 = KEYS[rng.random_range(0..KEYS.len())] as char;
            (
                i,
                vec![
                    DigitPlan {
                        frame: a,
                        digit: d1,
                        inband,
                    },
                    DigitPlan {
                        frame: b,
                        digit: d2,
                        inband,
                    },
                ],
            )
        })
        .collect()
}

async fn gateway_runs(
    o: &Opts,
    workers: usize,
) -> (Series, String, Option<(u32, String)>, Option<String>) {
    let name = "gateway-ivr".to_string();
    let empty = |why: &str| {
        eprintln!("gateway run impossible: {why}");
        (
            Series {
                name: "gateway-ivr".into(),
                steps: Vec::new(),
                held: 0,
            },
            String::new(),
            None,
            None,
        )
    };
    let mut rig = match Rig::start(o, workers).await {
        Ok(r) => r,
        Err(e) => return empty(&e),
    };
    let mut rng = rand::rng();
    let mut steps: Vec<Step> = Vec::new();
    let mut up: Vec<u32> = Vec::new();
    let mut placed = 0u32;
    let start = Instant::now();
    let mut metrics = String::new();
    let frames = (o.window.as_millis() / 20) as u32;
    let mut step_setup = [0u64; 4];
    let mut rss_idle = rig.gw.rss_kib();
    while let Some(n) = next_n(&steps, o.start_n, o.growth, o.max_n, o.bisects) {
        if start.elapsed() > o.budget + Duration::from_secs(20) {
            break;
        }
        if n < placed {
            // Bisecting below a failure: an overloaded gateway may take long to drain, so
            // the lower count is measured on a fresh gateway, application and generator.
            let hung = rig.sipd.hangup_all(Duration::from_secs(10)).await;
            eprintln!("{name}: hung up {hung} calls; fresh gateway to measure {n} channels");
            drop(rig);
            rig = match Rig::start(o, workers).await {
                Ok(r) => r,
                Err(e) => return empty(&e),
            };
            rss_idle = rig.gw.rss_kib();
            up.clear();
            placed = 0;
        }
        if n > placed {
            let limit = Duration::from_secs_f64(f64::from(n - placed) / f64::from(o.cps) + 10.0);
            let est = rig.sipd.place(placed..n, o.cps, limit).await;
            placed = n;
            let mut setup =
                hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            for e in &est {
                let _ = setup.record(e.setup.as_micros() as u64 + 1);
            }
            step_setup = pct(&setup);
            let add: Vec<(u32, SocketAddr)> = est.iter().map(|e| (e.idx, e.rtp)).collect();
            up.extend(est.iter().map(|e| e.idx));
            let _ = rig.st.ctl.send(stream::Ctl::Add(add));
        }
        let live = placed;
        let mut attempt = 0;
        let s = loop {
            attempt += 1;
            let ready = rig
                .app
                .wait_collecting(u64::from(live), Duration::from_secs(20))
                .await;
            if ready < u64::from(live) {
                eprintln!("{name}: only {ready} of {live} digit collections running");
            }
            // Start from empty collections: whatever an earlier (perhaps overloaded) window
            // left behind must not count in this one.
            let _ = rig.app.harvest(Duration::from_secs(10)).await;
            let _ = rig
                .app
                .wait_collecting(u64::from(live), Duration::from_secs(10))
                .await;
            let plans = digit_plans(live, frames, &mut rng);
            let expect: HashMap<u32, String> = plans
                .iter()
                .map(|(i, p)| (*i, p.iter().map(|d| d.digit).collect()))
                .collect();
            let kind = |i: &u32| {
                if sip::rfc4733_channel(*i) {
                    "RFC 4733"
                } else {
                    "in-band"
                }
            };
            let w = {
                let ctl = rig.st.ctl.clone();
                let (warm, dur, late) = (o.warmup, o.window, o.late_ms);
                let (reply, r) = crossbeam_channel::bounded(1);
                let _ = ctl.send(stream::Ctl::Window {
                    warmup: warm,
                    dur,
                    late_ms: late,
                    digits: plans,
                    reply,
                });
                let wait = warm + dur + Duration::from_secs(10);
                // Serve SIP while the window runs (BYEs, retransmitted 200s).
                rig.sipd
                    .service(warm + dur + Duration::from_millis(300))
                    .await;
                tokio::task::spawn_blocking(move || r.recv_timeout(wait).ok())
                    .await
                    .ok()
                    .flatten()
            };
            metrics = gateway::fetch_metrics(rig.gw.api);
            let rss_now = rig.gw.rss_kib();
            let got = rig.app.harvest(Duration::from_secs(10)).await;
            let Some(w) = w else {
                return (
                    Series {
                        name,
                        steps,
                        held: 0,
                    },
                    metrics,
                    None,
                    None,
                );
            };
            let mut s = step_from(live, &w, o.late_ms);
            s.setup_missing = live - up.len() as u32;
            s.setup_us = step_setup;
            s.gateway = Some(ramp::GatewayFigures {
                send_dev_p999_us: gateway::worst(&metrics, "send_deviation_us", "0.999"),
                tick_work_p999_us: gateway::worst(&metrics, "tick_work_us", "0.999"),
                packet_p99_us: gateway::worst(&metrics, "packet_us", "0.99"),
                rss_per_channel_kib: rss_now.saturating_sub(rss_idle) as f64
                    / f64::from(live.max(1)),
            });
            s.digits_sent = expect.len() as u32;
            s.digits_ok = expect.iter().filter(|(i, k)| got.get(i) == Some(k)).count() as u32;
            let mut why = vec![];
            if !s.fail.is_empty() {
                why.push(s.fail.clone());
            }
            if s.setup_missing > 0 {
                why.push(format!(
                    "{} calls not set up ({:?} SIP failures)",
                    s.setup_missing,
                    rig.sipd.failures.iter().take(5).collect::<Vec<_>>()
                ));
            }
            if s.digits_ok < s.digits_sent {
                let bad = expect.iter().find(|(i, k)| got.get(i) != Some(k));
                why.push(format!(
                    "{} digit strings wrong (e.g. sent {:?} ({}) got {:?})",
                    s.digits_sent - s.digits_ok,
                    bad.map(|b| b.1),
                    bad.map(|b| kind(b.0)).unwrap_or(""),
                    bad.and_then(|b| got.get(b.0))
                ));
                for (i, k) in expect.iter().filter(|(i, k)| got.get(i) != Some(k)).take(6) {
                    eprintln!("  channel {i}: sent {k} ({}) got {:?}", kind(i), got.get(i));
                }
            }
            if let Some(e) = rig.app.first_error.lock().ok().and_then(|e| e.clone()) {
                if s.digits_ok < s.digits_sent {
                    why.push(format!("api error: {e}"));
                }
            }
            s.fail = why.join("; ");
            eprintln!(
                "{name}: {live} channels: {}",
                if s.pass() { "ok" } else { &s.fail }
            );
            if s.pass() || !s.marginal() || attempt >= 2 {
                break s;
            }
            eprintln!("{name}: {live} channels: confirming");
        };
        steps.push(s);
    }
    let hung = rig.sipd.hangup_all(Duration::from_secs(10)).await;
    eprintln!("hung up {hung} calls");
    let Rig { sipd, st, app, gw } = rig;
    app.close().await;
    drop((sipd, st, gw));
    let h = held(&steps);
    let prof = if h > 0 {
        profile_at(o, workers, h).await
    } else {
        None
    };
    // The control plane is measured on a fresh gateway, whatever the ramp left behind.
    let cps = match o.sipp.then(|| gateway::Gateway::start(workers, 19_998)) {
        Some(Ok(gw)) => control_plane(&gw).await,
        Some(Err(e)) => {
            eprintln!("control plane: gateway did not start: {e}");
            None
        }
        None => None,
    };
    (
        Series {
            name,
            steps,
            held: h,
        },
        metrics,
        cps,
        prof,
    )
}

/// Profiles a fresh gateway carrying `n` IVR channels (the count that held).
async fn profile_at(o: &Opts, workers: usize, n: u32) -> Option<String> {
    if std::process::Command::new("perf")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("perf missing (Debian: linux-perf): no profile in the report");
        return None;
    }
    let mut rig = Rig::start(o, workers).await.ok()?;
    let limit = Duration::from_secs_f64(f64::from(n) / f64::from(o.cps) + 10.0);
    let est = rig.sipd.place(0..n, o.cps, limit).await;
    let add: Vec<(u32, SocketAddr)> = est.iter().map(|e| (e.idx, e.rtp)).collect();
    let _ = rig.st.ctl.send(stream::Ctl::Add(add));
    rig.app
        .wait_collecting(u64::from(n), Duration::from_secs(10))
        .await;
    eprintln!("profiling the gateway at {n} channels");
    let p = profile::worker_profile(rig.gw.pid(), Duration::from_secs(3), &rig.gw.dir).await;
    rig.sipd.hangup_all(Duration::from_secs(10)).await;
    p.map(|p| {
        format!(
            "## Where the worker's time goes at {n} channels (`perf record -e cpu-clock`)\n\n{p}\n"
        )
    })
}

/// Everything a gateway run needs: the gateway, the bench application, the RTP
/// generator and the SIP driver.
struct Rig {
    sipd: sip::SipDriver,
    st: Streamer,
    app: app::App,
    gw: gateway::Gateway,
}

impl Rig {
    async fn start(o: &Opts, workers: usize) -> Result<Rig, String> {
        let gw = gateway::Gateway::start(workers, 19_998).map_err(|e| e.to_string())?;
        let secs = (o.window + o.warmup).as_secs() as u32 + 20;
        let prompt = gateway::write_prompt(&gw, secs).map_err(|e| e.to_string())?;
        let scenario = app::Scenario::Ivr {
            prompt: json!(prompt),
        };
        let app = app::App::start(&gw.ws_url(), scenario)
            .await
            .map_err(|e| e.to_string())?;
        let st =
            Streamer::spawn(Demux::SrcPort, Some(o.gen_core), false).map_err(|e| e.to_string())?;
        let sipd = sip::SipDriver::new(gw.sip, st.local)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Rig { sipd, st, app, gw })
    }
}

/// Control-plane CPS: answer + prompt + hang-up with SIPp at growing rates.
async fn control_plane(gw: &gateway::Gateway) -> Option<(u32, String)> {
    let scen = sipp_dir().join("uac_wait_bye.xml");
    if !scen.exists()
        || std::process::Command::new("sipp")
            .arg("-v")
            .output()
            .is_err()
    {
        eprintln!(
            "SIPp or {} missing: control-plane CPS not measured",
            scen.display()
        );
        return None;
    }
    let app = app::App::start(
        &gw.ws_url(),
        app::Scenario::PromptHangup {
            prompt: json!([["1", 1, ""]]),
        },
    )
    .await
    .ok()?;
    let mut best: Option<(u32, String)> = None;
    let start = Instant::now();
    for rate in [100u32, 400, 800, 1200, 1600, 2000] {
        if start.elapsed() > Duration::from_secs(40) {
            break;
        }
        let calls = rate * 3;
        let port = free_port();
        let t = Instant::now();
        let out = tokio::process::Command::new("sipp")
            .args([
                "-sf",
                &scen.display().to_string(),
                &gw.sip.to_string(),
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .args([
                "-mp",
                &(free_port() & !1).to_string(),
                "-r",
                &rate.to_string(),
                "-m",
                &calls.to_string(),
            ])
            .args([
                "-l",
                &(rate * 4).to_string(),
                "-nostdin",
                "-timeout",
                "25s",
                "-timeout_error",
            ])
            .current_dir(std::env::temp_dir())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .output();
        let res = tokio::time::timeout(Duration::from_secs(30), out).await;
        let ok = matches!(&res, Ok(Ok(o)) if o.status.success());
        if let Ok(Ok(o)) = &res {
            if !ok {
                let err = String::from_utf8_lossy(&o.stderr);
                eprintln!(
                    "sipp: {}",
                    err.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
                );
            }
        }
        eprintln!(
            "control plane: {rate} cps x {calls} calls: {} ({:.1} s)",
            if ok { "ok" } else { "failures" },
            t.elapsed().as_secs_f64()
        );
        if !ok {
            break;
        }
        best = Some((rate, format!("{calls} calls at {rate} cps, 0 failed")));
    }
    app.close().await;
    best
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(15060)
}

fn sipp_dir() -> PathBuf {
    let cwd = PathBuf::from("loadtest/sipp");
    if let Ok(c) = cwd.canonicalize() {
        return c;
    }
    let exe = std::env::current_exe().unwrap_or_default();
    exe.ancestors()
        .nth(3)
        .map(|p| p.join("loadtest/sipp"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "/work/main/loadtest/sipp".into())
}

fn run_app_only(args: &[String]) {
    let mut url = "ws://127.0.0.1:8088/rpc".to_string();
    let mut mode = "hangup".to_string();
    let mut secs = 600u64;
    let mut expect = "1".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--url" => url = it.next().cloned().unwrap_or(url),
            "--mode" => mode = it.next().cloned().unwrap_or(mode),
            "--seconds" => secs = it.next().and_then(|v| v.parse().ok()).unwrap_or(secs),
            "--expect" => expect = it.next().cloned().unwrap_or(expect),
            other => {
                eprintln!("app: unknown option {other}");
                std::process::exit(2);
            }
        }
    }
    let scenario = match mode.as_str() {
        "ivr" => app::Scenario::Ivr {
            prompt: json!([["1234567890", 1, ""]]),
        },
        "record" => app::Scenario::Record,
        "digit" => app::Scenario::DigitThenDrop {
            prompt: json!([["1234567890", 1, ""]]),
            expect,
        },
        "hangup" => app::Scenario::PromptHangup {
            prompt: json!([["1", 1, ""]]),
        },
        other => {
            eprintln!("app: unknown mode {other} (ivr, record, hangup, digit)");
            std::process::exit(2);
        }
    };
    let rt = runtime();
    rt.block_on(async {
        let app = match app::App::start(&url, scenario).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("cannot connect to {url}: {e}");
                std::process::exit(1);
            }
        };
        eprintln!("bench app connected to {url} ({mode}); serving for at most {secs} s");
        let end = Instant::now() + Duration::from_secs(secs);
        let c = &app.counters;
        use std::sync::atomic::Ordering::Relaxed;
        let line = || {
            format!(
                "incoming {} started {} dropped {} released {} errors {} digits_right {} digits_wrong {}",
                c.incoming.load(Relaxed),
                c.started.load(Relaxed),
                c.dropped.load(Relaxed),
                c.released.load(Relaxed),
                c.errors.load(Relaxed),
                c.digits_right.load(Relaxed),
                c.digits_wrong.load(Relaxed)
            )
        };
        let mut last = String::new();
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = line();
            if now != last {
                if let Some(e) = app.first_error.lock().ok().and_then(|e| e.clone()) {
                    eprintln!("first error: {e}");
                }
                // One line per change, so the flood script's log ends with the final counts.
                eprintln!("{now}");
                last = now;
            }
        }
    });
}

fn run_dial_only(args: &[String]) {
    let mut plan = dialer::DialPlan {
        url: "ws://127.0.0.1:8088/rpc".into(),
        to: Vec::new(),
        cps: 10.0,
        calls: 100,
        limit: 100,
        hold: Duration::from_secs(2),
        deadline: Duration::from_secs(600),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--url" => plan.url = v,
            "--to" => {
                plan.to = v
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "--cps" => plan.cps = v.parse().unwrap_or(plan.cps),
            "--calls" => plan.calls = v.parse().unwrap_or(plan.calls),
            "--limit" => plan.limit = v.parse().unwrap_or(plan.limit),
            "--hold-ms" => plan.hold = Duration::from_millis(v.parse().unwrap_or(2000)),
            "--seconds" => plan.deadline = Duration::from_secs(v.parse().unwrap_or(600)),
            other => {
                eprintln!("dial: unknown option {other}");
                std::process::exit(2);
            }
        }
    }
    if plan.to.is_empty() {
        eprintln!("dial: --to URI[,URI...] is required");
        std::process::exit(2);
    }
    let rt = runtime();
    match rt.block_on(dialer::run(&plan)) {
        Ok(s) => {
            print!("{}", s.render());
            std::process::exit(if s.clean() { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("dial: {e}");
            std::process::exit(1);
        }
    }
}

/// The generator's async runtime: one thread for SIP, the API client and the driver (the
/// RTP streamer runs on its own pinned thread).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
