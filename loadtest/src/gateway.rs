//! Starting what a run needs: the `mediagw` binary on loopback with a temporary
//! configuration (its addresses read from the start-up log line), and reading its
//! per-core worker figures from `/metrics`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running gateway, killed on drop.
pub struct Gateway {
    child: Child,
    /// SIP address.
    pub sip: SocketAddr,
    /// API address.
    pub api: SocketAddr,
    /// Scratch directory (config, media root).
    pub dir: PathBuf,
}

/// The `mediagw` binary: `$MEDIAGW_BIN`, else next to this executable.
pub fn mediagw_bin() -> PathBuf {
    if let Ok(p) = std::env::var("MEDIAGW_BIN") {
        return p.into();
    }
    let me = std::env::current_exe().unwrap_or_default();
    let sib = me.with_file_name("mediagw");
    if sib.exists() {
        sib
    } else {
        PathBuf::from("/work/main/target/release/mediagw")
    }
}

impl Gateway {
    /// Starts the gateway with `workers` media workers and an RTP range of `ports` ports.
    pub fn start(workers: usize, ports: u16) -> anyhow::Result<Gateway> {
        let dir = std::env::temp_dir().join(format!("mediagw-load-{}", std::process::id()));
        let media = dir.join("media");
        std::fs::create_dir_all(media.join("records"))?;
        let cfg = format!(
            "[sip]\nlisten = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"\n[media]\nworkers = {workers}\nrtp_ports = \"20000-{}\"\nroot = \"{}\"\nrecord_root = \"{}\"\nrtp_timeout_seconds = 60\n",
            20000 + u32::from(ports),
            media.display(),
            media.join("records").display()
        );
        let path = dir.join("mediagw.toml");
        std::fs::write(&path, cfg)?;
        let mut child = Command::new(mediagw_bin())
            .arg("--config")
            .arg(&path)
            .env("MEDIAGW_LOG", "warn,mediagw::server=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("mediagw listening: ").nth(1) {
                    let _ = tx.send(rest.to_string());
                }
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(60))?;
        let sip = line
            .split("sip=udp:")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no sip address in {line}"))?;
        let api = line
            .split("api=ws://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no api address in {line}"))?;
        Ok(Gateway {
            child,
            sip,
            api,
            dir,
        })
    }

    /// The gateway's resident memory (VmRSS), KiB; 0 when unreadable.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The API URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/rpc", self.api)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `GET /metrics` (bounded); empty on any failure.
pub fn fetch_metrics(api: SocketAddr) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(&api, Duration::from_secs(2)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    if s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return String::new();
    }
    let mut body = String::new();
    let _ = s.take(8 << 20).read_to_string(&mut body);
    body.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
}

/// The per-core worker lines (`mediagw_worker_*` with a `core` label) of a metrics text.
pub fn worker_lines(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("mediagw_worker_") && l.contains("core=\""))
        .map(str::to_string)
        .collect()
}

/// A WAV prompt (16-bit PCM, 8 kHz, mono) of `secs` seconds of a soft 440 Hz tone
/// (far from every DTMF frequency), written under the gateway's media root.
pub fn write_prompt(gw: &Gateway, secs: u32) -> anyhow::Result<String> {
    let n = secs * 8000;
    let mut v = Vec::with_capacity(44 + n as usize * 2);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + n * 2).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(n * 2).to_le_bytes());
    for i in 0..n {
        let s =
            (1500.0 * (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / 8000.0).sin()) as i16;
        v.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(gw.dir.join("media").join("prompt.wav"), v)?;
    Ok("prompt.wav".into())
}

/// Raises the receive and send buffers of this process's UDP socket bound to `addr`
/// (the echo baselines bind their own sockets; this is what the tuning kit's
/// `net.core.rmem_default` would do for them). Returns how many sockets were changed.
pub fn enlarge_socket(addr: SocketAddr, bytes: i32) -> usize {
    let mut changed = 0;
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    for e in dir.flatten() {
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: getsockname/setsockopt on an fd of this process with valid buffers;
        // a non-socket fd just fails.
        unsafe {
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            if libc::getsockname(fd, (&mut sa as *mut libc::sockaddr_in).cast(), &mut len) != 0
                || i32::from(sa.sin_family) != libc::AF_INET
                || u16::from_be(sa.sin_port) != addr.port()
            {
                continue;
            }
            for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
                libc::setsockopt(fd, libc::SOL_SOCKET, opt, (&bytes as *const i32).cast(), 4);
            }
            changed += 1;
        }
    }
    changed
}

/// The largest value over the workers of `mediagw_worker_{name}` at `quantile` in the
/// last 2 s window; 0 when absent.
pub fn worst(metrics: &str, name: &str, quantile: &str) -> u64 {
    let prefix = format!("mediagw_worker_{name}{{");
    let q = format!("quantile=\"{quantile}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(&q) && l.contains("window=\"2s\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .max()
        .unwrap_or(0)
}
