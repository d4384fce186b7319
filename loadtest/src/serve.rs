//! `mediagw-load app`: the bench application alone, serving the calls a gateway offers
//! (the inbound flood of `loadtest/sipp/flood.sh`), printing its counters on stderr each
//! time they change, so the flood script's log ends with the final counts.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use serde_json::json;

use crate::app::{App, AppCounters, Scenario};
use crate::cli::{AppArgs, AppMode};

/// The scenario of a mode.
fn scenario(a: &AppArgs) -> Scenario {
    match a.mode {
        AppMode::Ivr => Scenario::Ivr {
            prompt: json!([["1234567890", 1, ""]]),
        },
        AppMode::Record => Scenario::Record,
        AppMode::Digit => Scenario::DigitThenDrop {
            prompt: json!([["1234567890", 1, ""]]),
            expect: a.expect.clone(),
        },
        AppMode::Hangup => Scenario::PromptHangup {
            prompt: json!([["1", 1, ""]]),
        },
    }
}

fn counts(c: &AppCounters) -> String {
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
}

/// Serves for `a.seconds`; exit code 1 when the API cannot be reached.
pub async fn run(a: &AppArgs) -> i32 {
    let app = match App::start(&a.url, scenario(a)).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("cannot connect to {}: {e:#}", a.url);
            return 1;
        }
    };
    let mode = a
        .mode
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    eprintln!(
        "bench app connected to {} ({mode}); serving for at most {} s",
        a.url, a.seconds
    );
    let end = Instant::now() + Duration::from_secs(a.seconds);
    let mut last = String::new();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = counts(&app.counters);
        if now != last {
            if let Some(e) = app.first_error.lock().ok().and_then(|e| e.clone()) {
                eprintln!("first error: {e}");
            }
            eprintln!("{now}");
            last = now;
        }
    }
    0
}
