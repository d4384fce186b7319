//! Real SIPp (Debian's `sip-tester`) on loopback with the scenarios of `loadtest/sipp/`
//! (shared with the load generator), of `tests/data/sipp/` (the integration tests' own)
//! or its built-in `uac`/`uas`, on free ports, in its own temporary directory (where its
//! logs go), bounded in time and killed on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::{free_media_port, free_udp_port};

/// Path of scenario `name`: `tests/data/sipp/NAME.xml` where the tests have it, else
/// `loadtest/sipp/NAME.xml`.
pub fn scenario(name: &str) -> PathBuf {
    let file = format!("{name}.xml");
    let own = crate::repo_path("tests/data/sipp").join(&file);
    if own.is_file() {
        return own;
    }
    crate::repo_path("loadtest/sipp").join(file)
}

/// Is `sipp` installed?
pub fn available() -> bool {
    Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A SIPp command line: a scenario, how many calls, whether to trace every message and
/// `<log>` action, and free-form arguments (remote host, `-s`, `-r`, `-l`, `-d`, a `-timeout` of its own...).
#[derive(Clone, Debug)]
pub struct SippCommand {
    scenario: String,
    args: Vec<String>,
    calls: u64,
    traces: bool,
}

impl SippCommand {
    /// Scenario `name`: `uac` or `uas` (built in) or a file (see [`scenario`]). One call,
    /// messages and `<log>` actions traced.
    pub fn new(name: &str) -> SippCommand {
        SippCommand {
            scenario: name.to_string(),
            args: Vec::new(),
            calls: 1,
            traces: true,
        }
    }

    /// Appends arguments.
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> SippCommand {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// Stops after `n` calls (`-m`).
    pub fn calls(mut self, n: u64) -> SippCommand {
        self.calls = n;
        self
    }

    /// Keeps (`true`, the default) or skips `-trace_msg` and `-trace_logs`, which a load
    /// run cannot afford (errors are always traced).
    pub fn traces(mut self, on: bool) -> SippCommand {
        self.traces = on;
        self
    }

    /// Starts SIPp. Without a `-timeout` among the arguments the run is bounded to 40 s.
    pub fn spawn(self) -> anyhow::Result<Sipp> {
        anyhow::ensure!(
            available(),
            "sipp is not installed: run tests/setup.sh (it installs sip-tester)"
        );
        let dir = tempfile::Builder::new().prefix("sipp-").tempdir()?;
        let port = free_udp_port();
        let mport = free_media_port();
        let mut cmd = Command::new("sipp");
        if self.scenario == "uac" || self.scenario == "uas" {
            cmd.arg("-sn").arg(&self.scenario);
        } else {
            cmd.arg("-sf").arg(scenario(&self.scenario));
        }
        cmd.args(["-i", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .arg("-mp")
            .arg(mport.to_string())
            .arg("-m")
            .arg(self.calls.to_string())
            .args(["-nostdin", "-timeout_error"]);
        if !self.args.iter().any(|a| a == "-timeout") {
            cmd.args(["-timeout", "40s"]);
        }
        cmd.arg("-trace_err");
        if self.traces {
            cmd.args(["-trace_logs", "-trace_msg"]);
        }
        cmd.args(&self.args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout.txt"))?)
            .stderr(std::fs::File::create(dir.path().join("stderr.txt"))?);
        let child = cmd.spawn()?;
        Ok(Sipp {
            child,
            port,
            dir,
            name: self.scenario,
        })
    }
}

/// A running SIPp.
pub struct Sipp {
    child: Child,
    /// Its SIP port on 127.0.0.1.
    pub port: u16,
    /// Its working directory (logs).
    pub dir: tempfile::TempDir,
    name: String,
}

/// Outcome of a SIPp run.
#[derive(Debug)]
pub struct SippResult {
    /// Exit code (`None` when killed).
    pub code: Option<i32>,
    /// What it printed.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
    /// The scenario's `<log>` output and error log, where SIPp wrote them.
    pub logs: String,
}

impl SippResult {
    /// Exit code 0: every call succeeded.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl Sipp {
    /// A SIPp client (`uac`-like scenario) placing one call to `service` at `target`.
    pub fn uac(scn: &str, target: SocketAddr, service: &str, extra: &[&str]) -> Sipp {
        SippCommand::new(scn)
            .args([target.to_string().as_str(), "-s", service])
            .args(extra)
            .spawn()
            .unwrap_or_else(|e| panic!("sipp {scn}: {e:#}"))
    }

    /// A SIPp server (`uas`-like scenario) waiting for one call; its address is `addr()`.
    pub fn uas(scn: &str, extra: &[&str]) -> Sipp {
        SippCommand::new(scn)
            .args(extra)
            .spawn()
            .unwrap_or_else(|e| panic!("sipp {scn}: {e:#}"))
    }

    /// Its SIP address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits (at most 60 s) for SIPp to finish.
    pub fn wait(self) -> SippResult {
        self.wait_for(Duration::from_secs(60))
    }

    /// Waits at most `limit` for SIPp to finish, then kills it.
    pub fn wait_for(mut self, limit: Duration) -> SippResult {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = self.child.wait().ok();
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        let mut logs = String::new();
        if let Ok(rd) = std::fs::read_dir(self.dir.path()) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("std") {
                    continue;
                }
                if let Ok(t) = std::fs::read_to_string(e.path()) {
                    logs.push_str(&format!("== {}\n{t}\n", e.path().display()));
                }
            }
        }
        SippResult {
            code: status.and_then(|s| s.code()),
            stdout: read("stdout.txt"),
            stderr: read("stderr.txt"),
            logs,
        }
    }

    /// [`Sipp::expect_success`] from async code (the wait runs on a blocking thread).
    pub async fn succeeded(self) -> SippResult {
        self.succeeded_within(Duration::from_secs(60)).await
    }

    /// [`Sipp::expect_success_within`] from async code.
    pub async fn succeeded_within(self, limit: Duration) -> SippResult {
        tokio::task::spawn_blocking(move || self.expect_success_within(limit))
            .await
            .expect("the SIPp waiter")
    }

    /// Waits and asserts success, showing SIPp's logs otherwise.
    pub fn expect_success(self) -> SippResult {
        self.expect_success_within(Duration::from_secs(60))
    }

    /// As [`Sipp::expect_success`], for scenarios that run up to `limit`.
    pub fn expect_success_within(self, limit: Duration) -> SippResult {
        let name = self.name.clone();
        let r = self.wait_for(limit);
        let tail: String = {
            let rev: String = r.stdout.chars().rev().take(3000).collect();
            rev.chars().rev().collect()
        };
        assert!(
            r.success(),
            "sipp {name} failed ({:?}):\n{}\n{}\n{tail}",
            r.code,
            r.stderr,
            r.logs,
        );
        r
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
