//! [`PerChannelEcho`]: one UDP socket per channel, like the gateway's one RTP socket per
//! call, served by one thread: `epoll_wait` (level-triggered), then per ready socket a
//! `recvmmsg` and a `sendmmsg` of what came in back to its senders. Against the
//! one-socket [`PlainEcho`](super::plain::PlainEcho) it measures what the socket model
//! costs; sockets are added while it runs.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use super::mmsg::MmsgEcho;
use std::thread::JoinHandle;

/// Datagrams read per ready socket per round.
const BATCH: usize = 8;
/// Events per `epoll_wait`.
const EVENTS: usize = 512;

/// A running per-channel echo; stopped on drop.
pub struct PerChannelEcho {
    epfd: i32,
    sockets: Vec<UdpSocket>,
    stop: Arc<AtomicBool>,
    packets: Arc<AtomicU64>,
    tid: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

impl PerChannelEcho {
    /// Starts the serving thread (pinned to `core` if given), with no socket yet.
    pub fn spawn(core: Option<usize>) -> io::Result<Self> {
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let packets = Arc::new(AtomicU64::new(0));
        let tid = Arc::new(AtomicU32::new(0));
        let (s2, p2, t2) = (stop.clone(), packets.clone(), tid.clone());
        let thread = std::thread::Builder::new()
            .name("echo-per-chan".into())
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(core_affinity::CoreId { id: c });
                }
                t2.store(crate::cpu::gettid(), Ordering::Relaxed);
                serve(epfd, &s2, &p2);
            })?;
        Ok(Self {
            epfd,
            sockets: Vec::new(),
            stop,
            packets,
            tid,
            thread: Some(thread),
        })
    }

    /// Binds sockets on 127.0.0.1 until there are `n`; the addresses of the first `n`.
    pub fn addrs(&mut self, n: usize) -> io::Result<Vec<SocketAddr>> {
        while self.sockets.len() < n {
            let s = UdpSocket::bind("127.0.0.1:0")?;
            s.set_nonblocking(true)?;
            let fd = s.as_raw_fd();
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: fd as u64,
            };
            // SAFETY: a valid epoll descriptor, a socket we own, a valid event.
            if unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
                return Err(io::Error::last_os_error());
            }
            self.sockets.push(s);
        }
        self.sockets[..n]
            .iter()
            .map(UdpSocket::local_addr)
            .collect()
    }

    /// The serving thread's id (0 until it started).
    pub fn tid(&self) -> u32 {
        self.tid.load(Ordering::Relaxed)
    }

    /// Datagrams echoed so far.
    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PerChannelEcho {
    fn drop(&mut self) {
        self.halt();
        // The sockets close after the thread stopped using them.
        self.sockets.clear();
        // SAFETY: our epoll descriptor, closed once.
        unsafe { libc::close(self.epfd) };
    }
}

fn serve(epfd: i32, stop: &AtomicBool, packets: &AtomicU64) {
    let mut m = MmsgEcho::new(BATCH);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: a valid epoll descriptor and event buffer; 50 ms to notice `stop`.
        let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), EVENTS as i32, 50) };
        if n <= 0 {
            continue;
        }
        let echoed: usize = events[..n as usize]
            .iter()
            .map(|ev| m.echo(ev.u64 as i32, libc::MSG_DONTWAIT))
            .sum();
        packets.fetch_add(echoed as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::client::run_echo_client;
    use super::*;

    #[test]
    fn every_socket_echoes_every_datagram() {
        let mut echo = PerChannelEcho::spawn(None).expect("spawn");
        let first = echo.addrs(3).expect("3 sockets");
        assert_eq!(first.len(), 3);
        let all = echo.addrs(8).expect("8 sockets");
        assert_eq!(&all[..3], &first[..], "existing sockets are kept");
        let ports: std::collections::HashSet<u16> = all.iter().map(|a| a.port()).collect();
        assert_eq!(ports.len(), 8, "one socket per channel");
        for a in &all {
            let run = run_echo_client(*a, 500, 16, 172, Duration::from_secs(5)).expect("client");
            assert_eq!((run.sent, run.received, run.corrupt), (500, 500, 0));
        }
        assert_eq!(echo.packets(), 8 * 500);
        assert_ne!(echo.tid(), 0);
    }
}
