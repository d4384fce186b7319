//! The real `mediagw` process on loopback: a temporary directory holding its
//! configuration (loopback defaults with the caller's snippet merged over them) and its
//! media roots, its stderr kept line by line, its SIP and API addresses read from the
//! start-up line `mediagw listening: sip=udp:ADDR api=ws://ADDR/rpc`. Killed on drop;
//! [`Gateway::terminate`] sends SIGTERM and waits, bounded.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::{config, ports};

/// How long the gateway may take to print its start-up line (a loaded 2-core machine
/// compiling in parallel can be slow).
const START_LIMIT: Duration = Duration::from_secs(60);

/// Log lines kept; later ones are counted, not stored (a load run can log a lot).
const MAX_LOG_LINES: usize = 200_000;

/// What to start: the binary, a configuration snippet and the log filter.
#[derive(Clone, Debug)]
pub struct Launch {
    bin: PathBuf,
    config: String,
    log_filter: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Launch {
    /// The binary at `bin` with the loopback defaults and a `debug` log for mediagw.
    pub fn new(bin: impl Into<PathBuf>) -> Launch {
        Launch {
            bin: bin.into(),
            config: String::new(),
            log_filter: "info,mediagw=debug".into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// TOML merged over the defaults (`[sip]`, `[api]`, `[media]` keys replace theirs;
    /// `[[gateways]]` and any other section are added).
    pub fn config(mut self, toml: &str) -> Launch {
        self.config = toml.to_string();
        self
    }

    /// The `MEDIAGW_LOG` filter (a load run wants `warn`: logging costs CPU).
    pub fn log_filter(mut self, filter: &str) -> Launch {
        self.log_filter = filter.to_string();
        self
    }

    /// An extra command-line argument (after `--config FILE`), e.g. `--log-format`.
    pub fn arg(mut self, arg: &str) -> Launch {
        self.args.push(arg.to_string());
        self
    }

    /// An environment variable for the process (e.g. a test build's fault injection).
    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Starts the process and waits (bounded) for its start-up line.
    pub fn start(self) -> anyhow::Result<Gateway> {
        let dir = tempfile::Builder::new().prefix("mediagw-").tempdir()?;
        let media_root = dir.path().join("media");
        std::fs::create_dir_all(media_root.join("records"))?;
        let base = config::defaults(ports::rtp_block(), ports::RTP_BLOCK, &media_root);
        let cfg_path = dir.path().join("mediagw.toml");
        std::fs::write(&cfg_path, config::merged(base.clone(), &self.config)?)?;
        let mut child = Command::new(&self.bin)
            .arg("--config")
            .arg(&cfg_path)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("MEDIAGW_LOG", &self.log_filter)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", self.bin.display()))?;
        let log = Arc::new(Mutex::new(Log::default()));
        let started = read_log(&mut child, log.clone());
        let line = started.recv_timeout(START_LIMIT).ok().flatten();
        let Some((sip, api)) = line.as_deref().and_then(listening) else {
            let _ = child.kill();
            let _ = child.wait();
            let why = match line {
                Some(l) => format!("no SIP and API addresses in {l:?}"),
                None => format!("no start-up line within {START_LIMIT:?}"),
            };
            let text = log.lock().unwrap_or_else(|p| p.into_inner()).text();
            anyhow::bail!("{} did not start ({why}):\n{text}", self.bin.display());
        };
        Ok(Gateway {
            child,
            sip,
            api,
            dir,
            log,
            base,
        })
    }
}

/// The log lines of a running gateway.
#[derive(Default)]
struct Log {
    lines: Vec<String>,
    dropped: usize,
}

impl Log {
    fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        if self.dropped > 0 {
            text.push_str(&format!("\n({} more lines not kept)", self.dropped));
        }
        text
    }
}

/// Reads the child's stderr into `log` on a thread; the channel yields the rest of the
/// start-up line, or `None` when stderr closed without one (the process exited).
fn read_log(child: &mut Child, log: Arc<Mutex<Log>>) -> mpsc::Receiver<Option<String>> {
    let (tx, rx) = mpsc::channel();
    let Some(stderr) = child.stderr.take() else {
        let _ = tx.send(None);
        return rx;
    };
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let listening = line.split("mediagw listening: ").nth(1).map(str::to_string);
            {
                let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
                if l.lines.len() < MAX_LOG_LINES {
                    l.lines.push(line);
                } else {
                    l.dropped += 1;
                }
            }
            if let Some(rest) = listening {
                let _ = tx.send(Some(rest));
            }
        }
        let _ = tx.send(None);
    });
    rx
}

/// The SIP and API addresses of a start-up line: `sip=udp:ADDR api=ws://ADDR/rpc`.
fn listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let sip = line
        .split("sip=udp:")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let api = line
        .split("api=ws://")
        .nth(1)?
        .split('/')
        .next()?
        .parse()
        .ok()?;
    Some((sip, api))
}

/// A running gateway process, killed on drop (its directory is removed with it).
pub struct Gateway {
    child: Child,
    /// Where it listens for SIP (UDP).
    pub sip: SocketAddr,
    /// Where it listens for the API (WebSocket `/rpc`, `/healthz`, `/metrics`).
    pub api: SocketAddr,
    dir: tempfile::TempDir,
    log: Arc<Mutex<Log>>,
    /// The loopback defaults its configuration file was made from.
    base: toml::Table,
}

impl Gateway {
    /// Starts the binary at `bin` with `extra_toml` merged over the loopback defaults.
    pub fn start_with(bin: &Path, extra_toml: &str) -> anyhow::Result<Gateway> {
        Launch::new(bin).config(extra_toml).start()
    }

    /// The API's WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/rpc", self.api)
    }

    /// Its scratch directory (configuration, media roots).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The media root (prompts); recordings go to its `records/`.
    pub fn media_root(&self) -> PathBuf {
        self.dir.path().join("media")
    }

    /// Rewrites its configuration file: the same loopback defaults (ports, media roots)
    /// with `extra_toml` merged over them (for a SIGHUP).
    pub fn rewrite_config(&self, extra_toml: &str) -> anyhow::Result<()> {
        let text = config::merged(self.base.clone(), extra_toml)?;
        std::fs::write(self.dir.path().join("mediagw.toml"), text)?;
        Ok(())
    }

    /// Replaces its configuration file with `text` as it is (a broken one, say).
    pub fn write_config_text(&self, text: &str) -> std::io::Result<()> {
        std::fs::write(self.dir.path().join("mediagw.toml"), text)
    }

    /// Its RTP port range (`media.rtp_ports`), first and last port.
    pub fn rtp_ports(&self) -> (u16, u16) {
        let text = std::fs::read_to_string(self.dir.path().join("mediagw.toml"))
            .expect("the gateway's configuration");
        let t: toml::Table = text.parse().expect("TOML");
        let range = t["media"]["rtp_ports"].as_str().expect("media.rtp_ports");
        let (a, b) = range.split_once('-').expect("LOW-HIGH");
        (a.parse().expect("port"), b.parse().expect("port"))
    }

    /// What it logged so far, one line per line.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).text()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident memory (VmRSS), KiB; 0 when unreadable.
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

    /// Sends SIGTERM and waits (at most 30 s) for the process to exit.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(30))
    }

    /// Sends `signal` (SIGTERM, SIGHUP...) to the process.
    pub fn signal(&mut self, signal: libc::c_int) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, signal);
            }
        }
    }

    /// Waits at most `limit` for the process to exit; its status, or `None` if it runs on.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `mediagw` binary for a program outside cargo's test harness: `$MEDIAGW_BIN`,
/// else next to the running executable (`target/<profile>/`), else one level up (a test
/// executable in `target/<profile>/deps/`).
pub fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MEDIAGW_BIN") {
        return Some(p.into());
    }
    let me = std::env::current_exe().ok()?;
    let dir = me.parent()?;
    [dir.join("mediagw"), dir.parent()?.join("mediagw")]
        .into_iter()
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_line_gives_both_addresses() {
        let (sip, api) =
            listening("sip=udp:127.0.0.1:5060 api=ws://127.0.0.1:8088/rpc").expect("parsed");
        assert_eq!(sip, "127.0.0.1:5060".parse::<SocketAddr>().expect("addr"));
        assert_eq!(api, "127.0.0.1:8088".parse::<SocketAddr>().expect("addr"));
        assert!(listening("sip=udp:nonsense api=ws://127.0.0.1:8088/rpc").is_none());
    }

    #[test]
    fn a_binary_that_exits_is_reported_with_its_output_at_once() {
        let t = Instant::now();
        let err = match Launch::new("/bin/false").start() {
            Ok(_) => panic!("/bin/false does not listen"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("did not start"), "{err}");
        assert!(t.elapsed() < START_LIMIT / 2, "waited {:?}", t.elapsed());
    }
}
