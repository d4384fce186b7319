//! A real Kamailio (Debian's `kamailio`) on loopback: a record-routing SIP proxy with the
//! minimal configuration in `tests/data/kamailio/rr-proxy.cfg`, or the dispatcher in front
//! of several mediagw nodes with the deployable `deploy/kamailio/kamailio.cfg`. Each
//! instance gets its own port and process group and is stopped on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::ports::free_udp_port;

/// A running Kamailio proxy.
pub struct Kamailio {
    child: Child,
    /// Where it listens (UDP).
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

fn config() -> PathBuf {
    crate::repo_path("tests/data/kamailio/rr-proxy.cfg")
}

const BINARIES: [&str; 2] = ["/usr/sbin/kamailio", "/usr/local/sbin/kamailio"];

fn binary() -> PathBuf {
    BINARIES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("kamailio is not installed: run tests/setup.sh (it installs kamailio)")
}

/// How to run one instance.
struct Setup {
    config: PathBuf,
    ip: [u8; 4],
    defines: Vec<String>,
    /// Shared memory, MB (`-m`): transactions live there.
    shm_mb: u32,
}

/// The shared memory of a test proxy, MB: plenty for a few calls at a time.
const TEST_SHM_MB: u32 = 32;

impl Kamailio {
    /// A proxy on a free loopback port that record-routes initial requests and sends
    /// them to `next_hop` (another proxy or mediagw), or to their Request-URI when None.
    pub fn start(next_hop: Option<SocketAddr>) -> Kamailio {
        let defines = next_hop
            .map(|h| vec![format!("NEXT_HOP=\"sip:{h}\"")])
            .unwrap_or_default();
        Self::start_setup(&Setup {
            config: config(),
            ip: [127, 0, 0, 1],
            defines,
            shm_mb: TEST_SHM_MB,
        })
    }

    /// The deployable dispatcher (`deploy/kamailio/kamailio.cfg`) on `ip` (a loopback
    /// address) in front of `nodes`, probing them every `ping_secs` seconds; `list` is
    /// where its dispatcher list is written (it must outlive the proxy).
    pub fn dispatcher(ip: [u8; 4], nodes: &[SocketAddr], ping_secs: u32, list: &Path) -> Kamailio {
        Self::dispatcher_with(ip, nodes, ping_secs, list, true, TEST_SHM_MB)
    }

    /// As [`Kamailio::dispatcher`]; `trace` false leaves out the log line per request and
    /// reply (a load run measuring the proxy's own cost must not pay for it); `shm_mb` of
    /// shared memory (each transaction lives there for seconds after it ends: hundreds of
    /// calls per second need hundreds of MB).
    pub fn dispatcher_with(
        ip: [u8; 4],
        nodes: &[SocketAddr],
        ping_secs: u32,
        list: &Path,
        trace: bool,
        shm_mb: u32,
    ) -> Kamailio {
        let text: String = nodes.iter().map(|n| format!("1 sip:{n}\n")).collect();
        std::fs::write(list, text).expect("write the dispatcher list");
        let mut defines = vec![
            format!("DS_LIST=\"{}\"", list.display()),
            format!("PING_INTERVAL={ping_secs}"),
            "FR_TIMER_MS=1500".to_string(),
        ];
        if trace {
            defines.push("TRACE".to_string());
        }
        Self::start_setup(&Setup {
            config: crate::repo_path("deploy/kamailio/kamailio.cfg"),
            ip,
            defines,
            shm_mb,
        })
    }

    /// Is Kamailio installed (tests/setup.sh installs it)?
    pub fn available() -> bool {
        BINARIES.iter().any(|p| Path::new(p).exists())
    }

    /// The process id of its main process, which leads the process group of all its
    /// processes (for their CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn start_setup(setup: &Setup) -> Kamailio {
        for _ in 0..5 {
            if let Some(k) = Self::try_start(setup) {
                return k;
            }
        }
        panic!("kamailio did not start on any of 5 ports");
    }

    fn try_start(setup: &Setup) -> Option<Kamailio> {
        let port = free_udp_port();
        let addr = SocketAddr::from((setup.ip, port));
        let mut cmd = Command::new(binary());
        cmd.arg("-f")
            .arg(&setup.config)
            .args(["-DD", "-E", "-n", "2", "-m"])
            .arg(setup.shm_mb.to_string())
            .args(["-M", "8", "-l"])
            .arg(format!("udp:{addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so its children go with it.
            .process_group(0);
        for d in &setup.defines {
            cmd.arg("-A").arg(d);
        }
        let mut child = cmd.spawn().expect("spawn kamailio");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // The listening socket exists once its receive buffer is probed.
                if line.contains("SO_RCVBUF is finally") {
                    let _ = tx.send(true);
                }
                if line.contains("ERROR: ") && line.contains("bind") {
                    let _ = tx.send(false);
                }
                log2.lock().expect("log").push(line);
            }
            let _ = tx.send(false);
        });
        let ready = rx.recv_timeout(Duration::from_secs(30)).unwrap_or(false);
        let mut k = Kamailio { child, addr, log };
        if ready {
            Some(k)
        } else {
            k.stop();
            None
        }
    }

    /// Waits (up to `limit`) until `needle` has been logged `n` times in all; how long it
    /// took, or None.
    pub fn wait_logged(&self, needle: &str, n: usize, limit: Duration) -> Option<Duration> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if self.routed(needle) >= n {
                return Some(t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits (up to `limit`) until the dispatcher has taken `node` out of rotation: its
    /// probe marked it down, or an INVITE's failure did (`ds_mark_dst`: the probe then
    /// finds it already down and raises no event). How long it took; panics with the
    /// proxy's log when it stayed in.
    pub fn wait_out_of_rotation(&self, node: SocketAddr, limit: Duration) -> Duration {
        let t0 = Instant::now();
        let down = format!("proxy: node down sip:{node}");
        let failed = format!("proxy: node sip:{node} failed");
        while t0.elapsed() < limit {
            if self.routed(&down) + self.routed(&failed) > 0 {
                return t0.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{node} stayed in rotation:\n{}", self.log_text());
    }

    /// What Kamailio logged so far (its `xlog` line names every request it routed).
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// Requests it routed whose log line contains `needle` (e.g. `"proxy: BYE"`).
    pub fn routed(&self, needle: &str) -> usize {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    fn stop(&mut self) {
        let pgid = self.child.id() as i32;
        // SIGTERM to the whole group, then SIGKILL if it lingers.
        // SAFETY: kill(2) on the process group our own child leads.
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
    }
}
