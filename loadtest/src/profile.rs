//! Where the gateway's media worker spends its time: `perf record -e cpu-clock` on the
//! running gateway (software clock sampling works where hardware counters are not
//! exposed, as in most VMs), summarised for the report: how busy the worker thread was,
//! the kernel's share of it, and its hottest symbols. [`profile_at`] profiles a fresh
//! gateway carrying the channel count that held.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::opts::Opts;
use crate::rig::Rig;
use crate::stream::Ctl;

/// Samples per second asked of perf.
const FREQ: u32 = 999;

/// Profiles process `pid` for `dur`, writing perf's data under `dir`. `None` when perf
/// is missing or fails (the report then says so).
pub async fn worker_profile(pid: u32, dur: Duration, dir: &Path) -> Option<String> {
    let data = dir.join("perf.data");
    let rec = tokio::process::Command::new("perf")
        .args([
            "record",
            "-e",
            "cpu-clock",
            "-F",
            &FREQ.to_string(),
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(&data)
        .args(["--", "sleep", &format!("{}", dur.as_secs_f64())])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status();
    let ok = tokio::time::timeout(dur + Duration::from_secs(20), rec)
        .await
        .ok()?
        .ok()?
        .success();
    if !ok {
        return None;
    }
    let rep = tokio::process::Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "-n",
            "--sort",
            "comm,dso,symbol",
        ])
        .args(["-g", "none", "-i"])
        .arg(&data)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), rep)
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !text.contains("media-worker") {
        eprintln!(
            "perf report shows no media worker samples: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .take(3)
                .collect::<Vec<_>>()
                .join(" | ")
        );
        return None;
    }
    Some(summarise(&text, dur))
}

/// The report section from `perf report --stdio -n --sort comm,dso,symbol` text (rows:
/// share of all samples, sample count, thread, object, symbol): the media worker
/// threads' rows, with shares of the workers' own samples.
pub fn summarise(text: &str, dur: Duration) -> String {
    let rows: Vec<(f64, String)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (_, rest) = l.trim().split_once('%')?;
            let mut words = rest.split_whitespace();
            let n: f64 = words.next()?.parse().ok()?;
            let comm = words.next()?;
            if !comm.starts_with("media-worker") {
                return None;
            }
            let what = words.filter(|w| *w != "-").collect::<Vec<_>>().join(" ");
            Some((n, what))
        })
        .collect();
    let samples: f64 = rows.iter().map(|r| r.0).sum();
    let share = |n: f64| {
        if samples > 0.0 {
            100.0 * n / samples
        } else {
            0.0
        }
    };
    let kernel = share(
        rows.iter()
            .filter(|r| r.1.contains("[k]"))
            .map(|r| r.0)
            .sum(),
    );
    let busy = 100.0 * samples / (f64::from(FREQ) * dur.as_secs_f64());
    let mut s = format!(
        "The media worker thread was on a CPU for about {busy:.0}% of the {:.0} s profiled \
         ({samples:.0} samples at {FREQ} Hz); {kernel:.0}% of its samples were in the kernel \
         (UDP send and receive, io_uring, loopback delivery), {:.0}% in mediagw and libc.\n\n\
         | share of the worker's samples | where |\n|---:|---|\n",
        dur.as_secs_f64(),
        100.0 - kernel
    );
    for (n, what) in rows.iter().take(15) {
        s.push_str(&format!("| {:.2}% | `{what}` |\n", share(*n)));
    }
    s
}

/// Profiles a fresh gateway carrying `n` IVR channels (the count that held).
pub async fn profile_at(o: &Opts, workers: usize, n: u32) -> Option<String> {
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
    let _ = rig.st.ctl.send(Ctl::Add(add));
    rig.app
        .wait_collecting(u64::from(n), Duration::from_secs(10))
        .await;
    eprintln!("profiling the gateway at {n} channels");
    let p = worker_profile(rig.gw.pid(), Duration::from_secs(3), rig.gw.dir()).await;
    rig.sipd.hangup_all(Duration::from_secs(10)).await;
    p.map(|p| {
        format!(
            "## Where the worker's time goes at {n} channels (`perf record -e cpu-clock`)\n\n{p}\n"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reads_samples_and_kernel_share() {
        let text = "# Samples: 2K of event 'cpu-clock'\n#\n    50.00%  1200  media-worker-0  [kernel.kallsyms]  [k] udp_sendmsg  -  -\n    25.00%  600  media-worker-0  mediagw  [.] on_tick\n    16.00%  400  tokio-rt-worker  mediagw  [.] engine\n     8.00%  200  media-worker-0  [kernel.kallsyms]  [k] fget\n";
        let s = summarise(text, Duration::from_secs(2));
        assert!(s.contains("about 100%"), "{s}");
        assert!(s.contains("(2000 samples"), "{s}");
        assert!(s.contains("70% of its samples were in the kernel"), "{s}");
        assert!(
            s.contains("| 60.00% | `[kernel.kallsyms] [k] udp_sendmsg` |"),
            "{s}"
        );
    }
}
