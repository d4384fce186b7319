//! The gateway run, IVR scenario: places calls over SIP in growing steps, streams RTP to
//! each with two digits per channel per window (RFC 4733 or in-band as the channel
//! negotiated), and judges each step: zero loss, zero late frames, the generator on time,
//! every call set up and every digit string collected exactly. Bisecting below a failure
//! starts a fresh gateway.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::cost::{Cost, Point, describe};
use crate::metrics;
use crate::opts::Opts;
use crate::ramp::{GatewayFigures, Step, combine, next_n, pct, step_from};
use crate::report::Series;
use crate::rig::Rig;
use crate::sip::rfc4733_channel;
use crate::stream::{Ctl, DigitPlan};

/// The series' name.
pub const NAME: &str = "gateway-ivr";

/// Ramps IVR channels on a gateway with `workers` media workers; returns the series and
/// the gateway's last `/metrics` text.
pub async fn run(o: &Opts, workers: usize) -> (Series, String) {
    let name = NAME.to_string();
    let empty = |why: &str| {
        eprintln!("gateway run impossible: {why}");
        (Series::empty(NAME), String::new())
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
    while let Some(n) = next_n(&steps, o.start_n, o.growth, o.max_n, o.precision) {
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
            let _ = rig.st.ctl.send(Ctl::Add(add));
        }
        let live = placed;
        let mut attempt = 0;
        let mut windows: Vec<Step> = Vec::new();
        loop {
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
                if rfc4733_channel(*i) {
                    "RFC 4733"
                } else {
                    "in-band"
                }
            };
            let w = {
                let ctl = rig.st.ctl.clone();
                let (warm, dur, late) = (o.warmup, o.window, o.late_ms);
                let (reply, r) = crossbeam_channel::bounded(1);
                let _ = ctl.send(Ctl::Window {
                    warmup: warm,
                    dur,
                    late_ms: late,
                    digits: plans,
                    probe: rig.probe.clone(),
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
            metrics = metrics::fetch(rig.gw.api).await;
            let rss_now = rig.gw.rss_kib();
            let got = rig.app.harvest(Duration::from_secs(10)).await;
            let Some(w) = w else {
                return (Series::new(NAME, steps, o.max_n), metrics);
            };
            let mut s = step_from(live, &w, o.late_ms);
            s.setup_missing = live - up.len() as u32;
            s.setup_us = step_setup;
            s.gateway = Some(GatewayFigures {
                send_dev_p999_us: metrics::worst(&metrics, "send_deviation_us", "0.999"),
                tick_work_p999_us: metrics::worst(&metrics, "tick_work_us", "0.999"),
                packet_p99_us: metrics::worst(&metrics, "packet_us", "0.99"),
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
            let retry = o.repeats == 1 && !s.pass() && s.retry_worthy() && attempt < 2;
            windows.push(s);
            if o.repeats == 1 && !retry {
                break;
            }
            if o.repeats > 1 && windows.len() >= o.repeats {
                break;
            }
            if retry {
                eprintln!("{name}: {live} channels: confirming");
            }
        }
        let s = if o.repeats == 1 {
            windows.pop()
        } else {
            combine(windows)
        };
        let Some(s) = s else { break };
        if s.spread.is_some() {
            eprintln!(
                "{name}: {live} channels: {}{}",
                if s.pass() { "ok" } else { &s.fail },
                crate::ceiling::spread_note(&s)
            );
        }
        steps.push(s);
    }
    let hung = rig.sipd.hangup_all(Duration::from_secs(10)).await;
    eprintln!("hung up {hung} calls");
    let Rig {
        sipd, st, app, gw, ..
    } = rig;
    app.close().await;
    drop((sipd, st, gw));
    (Series::new(NAME, steps, o.max_n), metrics)
}

/// The gateway's CPU cost per packet at each of `loads` (ascending), on a fresh gateway
/// whose calls run the IVR scenario (receive, jitter buffer, prompt, DTMF detection) with
/// no digit sent; `None` when the gateway or its worker thread cannot be found.
pub async fn cost(o: &Opts, workers: usize, loads: &[u32], irq_acct: bool) -> Option<Cost> {
    let per_point = o.warmup.max(Duration::from_millis(500)) + o.cost_window;
    // The prompt outlasts every window, so every call keeps playing throughout.
    let secs = (per_point.as_secs_f64() * loads.len() as f64) as u32 + 60;
    let mut rig = match Rig::start_with_prompt(o, workers, secs).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cost: gateway run impossible: {e}");
            return None;
        }
    };
    let Some(probe) = rig.probe.clone() else {
        eprintln!("cost: the gateway's media worker thread was not found");
        return None;
    };
    let mut points = Vec::new();
    let mut placed = 0u32;
    for &n in loads {
        let limit = Duration::from_secs_f64(f64::from(n - placed) / f64::from(o.cps) + 10.0);
        let est = rig.sipd.place(placed..n, o.cps, limit).await;
        if est.len() < (n - placed) as usize {
            eprintln!("cost: {NAME}: {} of {} calls set up", est.len(), n - placed);
        }
        placed = n;
        let add: Vec<(u32, SocketAddr)> = est.iter().map(|e| (e.idx, e.rtp)).collect();
        let _ = rig.st.ctl.send(Ctl::Add(add));
        let _ = rig
            .app
            .wait_collecting(u64::from(n), Duration::from_secs(20))
            .await;
        let (reply, r) = crossbeam_channel::bounded(1);
        let warm = o.warmup.max(Duration::from_millis(500));
        let _ = rig.st.ctl.send(Ctl::Window {
            warmup: warm,
            dur: o.cost_window,
            late_ms: o.late_ms,
            digits: Vec::new(),
            probe: Some(probe.clone()),
            reply,
        });
        rig.sipd
            .service(warm + o.cost_window + Duration::from_millis(300))
            .await;
        let wait = warm + o.cost_window + Duration::from_secs(10);
        let w = tokio::task::spawn_blocking(move || r.recv_timeout(wait).ok())
            .await
            .ok()
            .flatten();
        let Some(w) = w else { break };
        match Point::from_window(n, &w, irq_acct) {
            Some(p) => {
                eprintln!("cost: {NAME}: {}", describe(&p));
                points.push(p);
            }
            None => eprintln!("cost: {NAME}: {n} channels: no CPU figures"),
        }
    }
    let hung = rig.sipd.hangup_all(Duration::from_secs(10)).await;
    eprintln!("cost: hung up {hung} calls");
    let Rig {
        sipd, st, app, gw, ..
    } = rig;
    app.close().await;
    drop((sipd, st, gw));
    Some(Cost {
        name: NAME.into(),
        per_channel: true,
        points,
    })
}

/// Two digits per channel at random frames of a window of `frames` frames, the second in
/// its second half; in-band tones on the channels that did not offer telephone-event.
fn digit_plans(n: u32, frames: u32, rng: &mut impl Rng) -> Vec<(u32, Vec<DigitPlan>)> {
    const KEYS: &[u8] = b"0123456789*#";
    (0..n)
        .map(|i| {
            // Two digits at random moments, the second in the window's second half; as
            // RFC 4733 events or in-band tones depending on what the channel negotiated.
            let a = rng.random_range(5..frames / 2 - 10);
            let b = rng.random_range(frames / 2..frames.saturating_sub(20).max(frames / 2 + 1));
            let inband = !rfc4733_channel(i);
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
