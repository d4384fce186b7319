//! Test support: runs the real `mediagw` binary on loopback with free ports and a
//! temporary configuration, and finds where it listens from its start-up log line.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running gateway process, killed on drop.
pub struct Gateway {
    pub child: Child,
    pub sip: SocketAddr,
    pub api: SocketAddr,
    pub dir: tempfile::TempDir,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A UDP port on 127.0.0.1 free at the time of asking (SIPp needs numbers up front).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// An even free UDP port whose successor is free too (RTP + RTCP for SIPp `-mp`).
pub fn free_media_port() -> u16 {
    for _ in 0..200 {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let p = s.local_addr().expect("addr").port();
        if p.is_multiple_of(2) && p < 65534 && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free even media port");
}

impl Gateway {
    /// Start with `extra_toml` appended to a configuration listening on loopback.
    pub fn start(extra_toml: &str) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = rtp_base();
        let media_root = dir.path().join("media");
        std::fs::create_dir_all(media_root.join("records")).expect("media dirs");
        let cfg = format!(
            "[sip]\nlisten = \"127.0.0.1:0\"\n{sip_extra}\n[api]\nlisten = \"127.0.0.1:0\"\n{api_extra}\n[media]\nrtp_ports = \"{base}-{}\"\nroot = \"{}\"\nrecord_root = \"{}\"\nworkers = 1\npin_cores = false\n{media_extra}\n{gateways}\n",
            base + 199,
            media_root.display(),
            media_root.join("records").display(),
            sip_extra = section(extra_toml, "sip"),
            api_extra = section(extra_toml, "api"),
            media_extra = section(extra_toml, "media"),
            gateways = section(extra_toml, "gateways"),
        );
        let cfg_path = dir.path().join("mediagw.toml");
        std::fs::write(&cfg_path, cfg).expect("write config");
        Self::spawn(&cfg_path, dir)
    }

    fn spawn(cfg_path: &Path, dir: tempfile::TempDir) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mediagw"))
            .arg("--config")
            .arg(cfg_path)
            .env("MEDIAGW_LOG", "info,mediagw=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mediagw");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let listening = line.split("mediagw listening: ").nth(1).map(str::to_string);
                log2.lock().expect("log").push(line);
                if let Some(rest) = listening {
                    let _ = tx.send(rest);
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("gateway did not start: {:?}", log.lock().unwrap()));
        let sip = line
            .split("sip=udp:")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .expect("sip addr in log line");
        let api = line
            .split("api=ws://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .and_then(|s| s.parse().ok())
            .expect("api addr in log line");
        Gateway {
            child,
            sip,
            api,
            dir,
            log,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/rpc", self.api)
    }

    pub fn media_root(&self) -> PathBuf {
        self.dir.path().join("media")
    }

    pub fn log_text(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// Send SIGTERM and wait for the process to exit (bounded).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        unsafe_kill(self.child.id(), 15);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: u32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// The lines of `[name]` (or `[[name]]` blocks) out of a small TOML snippet.
fn section(toml: &str, name: &str) -> String {
    let mut out = String::new();
    let mut on = false;
    for line in toml.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            on = t == format!("[{name}]") || t == format!("[[{name}]]");
            if t == format!("[[{name}]]") {
                out.push_str(t);
                out.push('\n');
            }
            continue;
        }
        if on {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A per-process block of 200 RTP ports so parallel tests do not share ports.
fn rtp_base() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let slot = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid_part = (std::process::id() % 40) as u16;
    30000 + ((pid_part * 7 + slot) % 150) * 200
}
