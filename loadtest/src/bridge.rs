//! `mediagw-load bridge`: bridged pairs at growing counts (issue 9). Calls are placed over
//! SIP from the generator's one RTP socket; the bench application answers them and bridges
//! channel `i` with channel `i ^ 2` (`connect_start`; partners offered the same thing, so
//! the bridge is the straight relay path); the streamer sends every channel's frames on
//! the 20 ms grid with its send time in the payload, and what comes back out of the
//! partner's port is the relayed stream: loss, grid deviation and relay latency (send to
//! receive through the gateway, kernel receive timestamps) per window.
//!
//! The baseline, measured in the same run at the same packet rate: the same streamer
//! against the bare echo (`echo::plain`, one socket, recvmmsg/sendmmsg) pinned to the
//! gateway's core: what the kernel's loopback path and the generator themselves cost. The
//! report gives the relay's latency beside it and as a ratio, and names the generator as
//! the bound when its own send lateness exceeds the late threshold.

use std::net::SocketAddr;
use std::time::Duration;

use crate::app::{App, Scenario};
use crate::cli::BridgeArgs;
use crate::echo::plain::PlainEcho;
use crate::ramp::pct;
use crate::rig::start_gateway;
use crate::rtpengine::RtpEngine;
use crate::sip::SipDriver;
use crate::stream::{Ctl, Demux, Streamer, WindowStats};

/// One measured step.
struct Row {
    pairs: u32,
    relay: WindowStats,
    /// The gateway process's CPU time over the relay window, µs.
    relay_cpu_us: u64,
    echo: Option<WindowStats>,
    /// rtpengine relaying the same pairs, and its CPU time over that window, µs.
    rtpengine: Option<(WindowStats, u64)>,
}

/// The process's CPU time so far (all its threads), µs; 0 when unreadable.
pub(crate) fn cpu_us(pid: u32) -> u64 {
    crate::cpu::process_ns(pid).unwrap_or(0) / 1000
}

/// Runs the ramp; the exit status (0 when every step was measured).
pub async fn run(a: &BridgeArgs) -> i32 {
    match ramp(a).await {
        Ok(rows) => {
            let text = report(a, &rows);
            if crate::report::print_and_write(&text, a.out.as_deref(), "bridge.md") {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("bridge run failed: {e:#}");
            1
        }
    }
}

async fn ramp(a: &BridgeArgs) -> anyhow::Result<Vec<Row>> {
    let cores = crate::host::cores();
    let gen_core = if cores > 1 { Some(1) } else { None };
    let gw = start_gateway(1)?;
    let app = App::start(&gw.ws_url(), Scenario::Bridge).await?;
    let st = Streamer::spawn(Demux::SrcPort, gen_core, true)?;
    let mut sipd = SipDriver::new(gw.sip, st.local).await?;
    let echo = PlainEcho::spawn("127.0.0.1:0".parse()?, 32, Some(0))?;
    let est = Streamer::spawn(Demux::Ssrc, gen_core, true)?;
    let mut rtpe = if a.rtpengine {
        let r = RtpEngine::start((40000, 59999), Some(0))?;
        let rst = Streamer::spawn(Demux::SrcPort, gen_core, true)?;
        Some((r, rst, Vec::<(u32, SocketAddr)>::new()))
    } else {
        None
    };
    let window = Duration::from_secs(a.window_secs);
    let warmup = Duration::from_secs(2);
    let mut rows = Vec::new();
    let mut placed = 0u32;
    // The relay channels (index, the gateway's RTP address of the call), in index order.
    let mut chans: Vec<(u32, SocketAddr)> = Vec::new();
    for &want in &a.pairs {
        // Whole groups of four channels: (4q, 4q+2) and (4q+1, 4q+3).
        let pairs = want.div_ceil(2) * 2;
        let n = 2 * pairs;
        if n > placed {
            let up = sipd.place_all(placed..n, a.cps).await?;
            chans.extend(up.iter().map(|e| (e.idx, e.rtp)));
            chans.sort_unstable_by_key(|c| c.0);
            placed = n;
        }
        // Every pair bridged before the window.
        app.wait_started(u64::from(pairs), "pairs bridged", &mut sipd)
            .await?;
        // One stream at a time: the relay's channels, then the echo's, same count.
        let _ = st.ctl.send(Ctl::Add(chans.clone()));
        let cpu0 = cpu_us(gw.pid());
        let relay = window_of(&st, warmup, window, a.late_ms, None, &mut sipd).await?;
        let relay_cpu_us = cpu_us(gw.pid()).saturating_sub(cpu0);
        let _ = st.ctl.send(Ctl::Truncate(0));
        let rtpengine = match rtpe.as_mut() {
            Some((r, rst, rchans)) => {
                // The same pairs through rtpengine: channels (2p, 2p+1).
                for p in (rchans.len() as u32 / 2)..pairs {
                    let (a_to, b_to) = r.relay(p, rst.local)?;
                    rchans.push((2 * p, a_to));
                    rchans.push((2 * p + 1, b_to));
                }
                let _ = rst.ctl.send(Ctl::Add(rchans.clone()));
                let c0 = cpu_us(r.pid());
                let w = window_of(rst, warmup, window, a.late_ms, None, &mut sipd).await?;
                let c = cpu_us(r.pid()).saturating_sub(c0);
                let _ = rst.ctl.send(Ctl::Truncate(0));
                Some((w, c))
            }
            None => None,
        };
        let echo_stats = if a.no_echo {
            None
        } else {
            let to_echo = (0..n).map(|i| (i, echo.local_addr())).collect();
            let _ = est.ctl.send(Ctl::Add(to_echo));
            let w = window_of(&est, warmup, window, a.late_ms, None, &mut sipd).await?;
            let _ = est.ctl.send(Ctl::Truncate(0));
            Some(w)
        };
        eprintln!(
            "{pairs} pairs: relayed {} of {} sent, lost {}, late {}",
            relay.received, relay.sent, relay.lost, relay.late
        );
        rows.push(Row {
            pairs,
            relay,
            relay_cpu_us,
            echo: echo_stats,
            rtpengine,
        });
    }
    let _ = st.ctl.send(Ctl::Stop);
    let _ = est.ctl.send(Ctl::Stop);
    if let Some((_, rst, _)) = &rtpe {
        let _ = rst.ctl.send(Ctl::Stop);
    }
    sipd.hangup_all(Duration::from_secs(10)).await;
    app.close().await;
    drop(gw);
    Ok(rows)
}

/// One measurement window on `st`, serving SIP meanwhile; `probe` (a gateway thread) is
/// sampled at the window's edges.
pub(crate) async fn window_of(
    st: &Streamer,
    warmup: Duration,
    dur: Duration,
    late_ms: u64,
    probe: Option<crate::cpu::Probe>,
    sipd: &mut SipDriver,
) -> anyhow::Result<WindowStats> {
    let (reply, r) = crossbeam_channel::bounded(1);
    st.ctl
        .send(Ctl::Window {
            warmup,
            dur,
            late_ms,
            digits: Vec::new(),
            probe,
            reply,
        })
        .map_err(|_| anyhow::anyhow!("the streamer stopped"))?;
    let limit = warmup + dur + Duration::from_secs(10);
    let t0 = std::time::Instant::now();
    loop {
        if let Ok(s) = r.try_recv() {
            return Ok(s);
        }
        anyhow::ensure!(
            t0.elapsed() < limit,
            "no window statistics within {limit:?}"
        );
        sipd.service(Duration::from_millis(50)).await;
    }
}

fn report(a: &BridgeArgs, rows: &[Row]) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "# Bridged pairs, straight relay (one media worker, {} s windows)\n\n",
        a.window_secs
    ));
    t.push_str("| pairs | legs | packets sent | relayed | lost | late | relay latency p50 / p99 / p99.9 / max µs | echo baseline p50 / p99 / p99.9 µs | p50 ratio | generator late p99 µs | bound |\n");
    t.push_str("|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---|\n");
    for r in rows {
        let l = pct(&r.relay.rtt_us);
        let g = pct(&r.relay.gen_late_us);
        let (e, ratio) = match &r.echo {
            Some(e) => {
                let p = pct(&e.rtt_us);
                (
                    format!("{} / {} / {}", p[0], p[1], p[2]),
                    format!("{:.2}", l[0] as f64 / p[0].max(1) as f64),
                )
            }
            None => ("-".into(), "-".into()),
        };
        let held = r.relay.lost == 0 && r.relay.late == 0 && r.relay.dead == 0;
        let bound = if g[1] > a.late_ms * 1000 {
            "generator late"
        } else if held {
            "held"
        } else {
            "gateway"
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} / {} / {} / {} | {e} | {ratio} | {} | {bound} |\n",
            r.pairs,
            2 * r.pairs,
            r.relay.sent,
            r.relay.received,
            r.relay.lost,
            r.relay.late,
            l[0],
            l[1],
            l[2],
            l[3],
            g[1]
        ));
    }
    if rows.iter().any(|r| r.rtpengine.is_some()) {
        t.push_str("\n## The same pairs relayed by rtpengine (userspace, `--table=-1`, one thread, pinned to the same core)\n\n");
        t.push_str("| pairs | mediagw relayed / lost / late | mediagw latency p50 / p99 / p99.9 µs | mediagw CPU µs per packet | rtpengine relayed / lost / late | rtpengine latency p50 / p99 / p99.9 µs | rtpengine CPU µs per packet | CPU ratio (rtpengine / mediagw) |\n");
        t.push_str("|---:|---|---|---:|---|---|---:|---:|\n");
        for r in rows {
            let Some((w, c)) = &r.rtpengine else { continue };
            let l = pct(&r.relay.rtt_us);
            let e = pct(&w.rtt_us);
            let ours = r.relay_cpu_us as f64 / r.relay.received.max(1) as f64;
            let theirs = *c as f64 / w.received.max(1) as f64;
            t.push_str(&format!(
                "| {} | {} / {} / {} | {} / {} / {} | {ours:.2} | {} / {} / {} | {} / {} / {} | {theirs:.2} | {:.2} |\n",
                r.pairs,
                r.relay.received,
                r.relay.lost,
                r.relay.late,
                l[0],
                l[1],
                l[2],
                w.received,
                w.lost,
                w.late,
                e[0],
                e[1],
                e[2],
                theirs / ours.max(f64::MIN_POSITIVE)
            ));
        }
        t.push_str("\nCPU per packet: the whole process's utime+stime (/proc, 10 ms ticks) over the window, divided by the packets relayed (each packet is received once and sent once).\n");
    }
    t.push_str(
        "\nRelay latency: the generator's send time (in the payload) to the kernel's receive \
         timestamp of the relayed packet, through the gateway (in, relay, out). Echo baseline: \
         the same generator and the same packet rate against a bare recvmmsg/sendmmsg echo on \
         the gateway's core. `late`: arrivals more than the late threshold off the 20 ms grid. \
         The machine is shared: the ratio, measured in the same run, is the robust figure.\n",
    );
    t
}
