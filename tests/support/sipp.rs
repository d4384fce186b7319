//! Test support: runs real SIPp (Debian's `sip-tester`) on loopback with the
//! scenarios of `loadtest/sipp/` or its built-in ones, bounded in time.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::gateway::{free_media_port, free_udp_port};

pub struct Sipp {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    name: String,
}

/// Outcome of a SIPp run.
#[derive(Debug)]
pub struct SippResult {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The scenario's `<log>` output and error log, where SIPp wrote them.
    pub logs: String,
}

impl SippResult {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Path of a scenario file in `loadtest/sipp/`.
pub fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("loadtest/sipp")
        .join(format!("{name}.xml"))
}

fn sipp_available() -> bool {
    Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

impl Sipp {
    /// A SIPp client (`uac`-like scenario) calling `service` at `target`.
    pub fn uac(scn: &str, target: SocketAddr, service: &str, extra: &[&str]) -> Sipp {
        let mut args: Vec<String> = vec![target.to_string(), "-s".into(), service.into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Sipp::run(scn, &args)
    }

    /// A SIPp server (`uas`-like scenario) waiting for calls; its address is `addr()`.
    pub fn uas(scn: &str, extra: &[&str]) -> Sipp {
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Sipp::run(scn, &args)
    }

    fn run(scn: &str, args: &[String]) -> Sipp {
        assert!(
            sipp_available(),
            "sipp is not installed: run the README's test command (it installs sip-tester)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_udp_port();
        let mport = free_media_port();
        let mut cmd = Command::new("sipp");
        if scn == "uac" || scn == "uas" {
            cmd.arg("-sn").arg(scn);
        } else {
            cmd.arg("-sf").arg(scenario(scn));
        }
        cmd.args(["-i", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .arg("-mp")
            .arg(mport.to_string())
            .args(["-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"])
            .args(["-trace_err", "-trace_logs", "-trace_msg"])
            .args(args)
            .current_dir(dir.path())
            .stdout(std::fs::File::create(dir.path().join("stdout.txt")).expect("stdout file"))
            .stderr(std::fs::File::create(dir.path().join("stderr.txt")).expect("stderr file"));
        let child = cmd.spawn().expect("spawn sipp");
        Sipp {
            child,
            port,
            dir,
            name: scn.to_string(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Wait (bounded) for SIPp to finish.
    pub fn wait(mut self) -> SippResult {
        let deadline = Instant::now() + Duration::from_secs(60);
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
        let status = self.child.wait().expect("sipp status");
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
            code: status.code(),
            stdout: read("stdout.txt"),
            stderr: read("stderr.txt"),
            logs,
        }
    }

    /// Wait and assert success, showing SIPp's logs otherwise.
    pub fn expect_success(self) -> SippResult {
        let name = self.name.clone();
        let r = self.wait();
        assert!(
            r.success(),
            "sipp {name} failed ({:?}):\n{}\n{}\n{}",
            r.code,
            r.stderr,
            r.logs,
            r.stdout
                .chars()
                .rev()
                .take(3000)
                .collect::<String>()
                .chars()
                .rev()
                .collect::<String>()
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
