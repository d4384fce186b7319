//! The echo baselines: the same RTP generator that loads the gateway streams to a bare
//! UDP echo pinned to the gateway's core; what it carries, and what it costs per packet,
//! is what the gateway is judged against. Four echoes ([`EchoKind`]), in two socket
//! models:
//! - one socket for every channel: [`plain`], a blocking `recvmmsg`/`sendmmsg` loop (the
//!   kernel's best for one core), and [`engine`], the gateway's own worker engine
//!   (io_uring, or its epoll fallback) running a handler that only echoes;
//! - one socket per channel, as the gateway gives each call its own RTP socket:
//!   [`perchan`], `epoll` + `recvmmsg`/`sendmmsg` per ready socket, and [`engine`] again
//!   with a socket bound per channel.
//!
//! [`Echo`] starts any of them and hands out the address of each channel. [`client`]
//! drives an echo with a bounded window of datagrams in flight (their tests), and
//! [`enlarge_socket`] gives a one-socket echo the buffers the tuning kit would; [`mmsg`]
//! is the recvmmsg/sendmmsg batch both `plain` and `perchan` echo with.

#[cfg(test)]
pub mod client;
pub mod engine;
pub mod mmsg;
pub mod perchan;
pub mod plain;

use std::io;
use std::net::SocketAddr;

use mediagw::worker::WorkerConfig;

use crate::cpu::Probe;

/// The socket buffers a one-socket echo gets (what the tuning kit sets).
const ECHO_SOCKET_BYTES: i32 = 8 << 20;

/// Which echo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoKind {
    /// `recvmmsg`/`sendmmsg` on one socket.
    Recvmmsg,
    /// The gateway's worker engine on one socket.
    IoUring,
    /// `epoll` + `recvmmsg`/`sendmmsg`, one socket per channel.
    RecvmmsgPerChannel,
    /// The gateway's worker engine, one socket per channel.
    IoUringPerChannel,
}

impl EchoKind {
    /// All, in report order.
    pub const ALL: [EchoKind; 4] = [
        EchoKind::Recvmmsg,
        EchoKind::IoUring,
        EchoKind::RecvmmsgPerChannel,
        EchoKind::IoUringPerChannel,
    ];

    /// Series name.
    pub fn name(self) -> &'static str {
        match self {
            EchoKind::Recvmmsg => "echo-recvmmsg",
            EchoKind::IoUring => "echo-io_uring",
            EchoKind::RecvmmsgPerChannel => "echo-recvmmsg-per-channel",
            EchoKind::IoUringPerChannel => "echo-io_uring-per-channel",
        }
    }

    /// One socket per channel?
    pub fn per_channel(self) -> bool {
        matches!(
            self,
            EchoKind::RecvmmsgPerChannel | EchoKind::IoUringPerChannel
        )
    }
}

/// A running echo of any kind, pinned to a core; stopped on drop.
pub enum Echo {
    /// [`EchoKind::Recvmmsg`].
    Plain(plain::PlainEcho),
    /// [`EchoKind::RecvmmsgPerChannel`].
    PerChannel(perchan::PerChannelEcho),
    /// [`EchoKind::IoUring`] (`true`: one socket) or [`EchoKind::IoUringPerChannel`].
    Engine(engine::EngineEcho, bool),
}

impl Echo {
    /// Starts `kind` pinned to `core` (the engine pins its worker to the first core the
    /// process may use, which is `core` in a density run).
    pub fn spawn(kind: EchoKind, core: usize) -> io::Result<Echo> {
        let lo = SocketAddr::from(([127, 0, 0, 1], 0));
        Ok(match kind {
            EchoKind::Recvmmsg => {
                let e = plain::PlainEcho::spawn(lo, 64, Some(core))?;
                enlarge_socket(e.local_addr(), ECHO_SOCKET_BYTES);
                Echo::Plain(e)
            }
            EchoKind::RecvmmsgPerChannel => {
                Echo::PerChannel(perchan::PerChannelEcho::spawn(Some(core))?)
            }
            EchoKind::IoUring | EchoKind::IoUringPerChannel => {
                let mut e = engine::EngineEcho::spawn(&WorkerConfig::default())
                    .map_err(|e| io::Error::other(e.to_string()))?;
                let one = kind == EchoKind::IoUring;
                if one {
                    let a = e.addrs(1)?;
                    enlarge_socket(a[0], ECHO_SOCKET_BYTES);
                }
                Echo::Engine(e, one)
            }
        })
    }

    /// The address of each of the channels `0..n` (the same one for a one-socket echo).
    pub fn addrs(&mut self, n: u32) -> io::Result<Vec<SocketAddr>> {
        let n = n as usize;
        match self {
            Echo::Plain(e) => Ok(vec![e.local_addr(); n]),
            Echo::PerChannel(e) => e.addrs(n),
            Echo::Engine(e, true) => Ok(vec![e.addrs(1)?[0]; n]),
            Echo::Engine(e, false) => e.addrs(n),
        }
    }

    /// Datagrams echoed so far (the engine's are not counted).
    pub fn echoed(&self) -> Option<u64> {
        match self {
            Echo::Plain(e) => Some(e.packets()),
            Echo::PerChannel(e) => Some(e.packets()),
            Echo::Engine(..) => None,
        }
    }

    /// A probe on the echo's thread (the engine's is found by name: `media-worker-0`).
    pub fn probe(&self, core: usize) -> Option<Probe> {
        let pid = std::process::id();
        // The thread publishes its id when it starts: wait for it (bounded).
        let mut tid = 0;
        for _ in 0..200 {
            tid = match self {
                Echo::Plain(e) => e.tid(),
                Echo::PerChannel(e) => e.tid(),
                Echo::Engine(..) => crate::cpu::find_thread(pid, "media-worker-").unwrap_or(0),
            };
            if tid != 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let core = match self {
            Echo::Engine(e, _) => e
                .core()
                .or_else(|| crate::cpu::pinned_core(tid))
                .unwrap_or(core),
            _ => core,
        };
        (tid != 0).then(|| Probe::new(pid, tid, Some(core)))
    }
}

/// Raises the receive and send buffers of this process's UDP socket bound to `addr`
/// (the echoes bind their own sockets; this is what the tuning kit's
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
