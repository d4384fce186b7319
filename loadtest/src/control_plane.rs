//! Control-plane capacity: SIPp (`uac_wait_bye.xml`, through the test kit's runner)
//! calls a fresh gateway at growing rates while the bench application answers, plays a
//! short prompt and hangs up; the highest rate with zero failed calls is reported.

use std::time::{Duration, Instant};

use mediagw_testkit::sipp::{self, SippCommand};
use serde_json::json;

use crate::app::{App, Scenario};
use crate::rig::start_gateway;

/// Call rates tried, in order, until one fails or 40 s have passed.
const RATES: [u32; 6] = [100, 400, 800, 1200, 1600, 2000];

/// The best rate (calls/s) with zero failures and a description of that run; `None` when
/// SIPp or the gateway is missing or the first rate failed.
pub async fn measure(workers: usize) -> Option<(u32, String)> {
    let scen = sipp::scenario("uac_wait_bye");
    if !scen.exists() || !sipp::available() {
        eprintln!(
            "SIPp or {} missing: control-plane CPS not measured",
            scen.display()
        );
        return None;
    }
    // A fresh gateway, whatever the ramp left behind.
    let gw = match start_gateway(workers) {
        Ok(gw) => gw,
        Err(e) => {
            eprintln!("control plane: gateway did not start: {e:#}");
            return None;
        }
    };
    let app = App::start(
        &gw.ws_url(),
        Scenario::PromptHangup {
            prompt: json!([["1", 1, ""]]),
        },
    )
    .await
    .ok()?;
    let mut best: Option<(u32, String)> = None;
    let start = Instant::now();
    for rate in RATES {
        if start.elapsed() > Duration::from_secs(40) {
            break;
        }
        let calls = rate * 3;
        let t = Instant::now();
        let run = SippCommand::new("uac_wait_bye")
            .calls(u64::from(calls))
            .traces(false)
            .args([
                gw.sip.to_string(),
                "-r".into(),
                rate.to_string(),
                "-l".into(),
                (rate * 4).to_string(),
                "-timeout".into(),
                "25s".into(),
            ])
            .spawn();
        let res = match run {
            Ok(s) => tokio::task::spawn_blocking(move || s.wait_for(Duration::from_secs(30)))
                .await
                .ok(),
            Err(e) => {
                eprintln!("sipp: {e:#}");
                None
            }
        };
        let ok = res.as_ref().is_some_and(|r| r.success());
        if let Some(r) = res.as_ref().filter(|_| !ok) {
            let tail: Vec<&str> = r.stderr.lines().rev().take(3).collect();
            eprintln!("sipp: {}", tail.join(" | "));
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
