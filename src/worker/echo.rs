//! Bare UDP echo baselines for load tests: [`EchoHandler`] echoes every datagram back to
//! its sender on the worker engine (io_uring or fallback), [`PlainEcho`] does the same in
//! a plain blocking `recvmmsg`/`sendmmsg` loop (the kernel's ceiling for one core), and
//! [`run_echo_client`] drives either with a bounded window of datagrams in flight.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::addr::RawAddr;
use super::{IoCtx, MediaHandler, SocketToken, WorkerConfig, WorkerError, Workers, spawn_workers};

/// Commands of the echo handler.
#[derive(Clone, Copy, Debug)]
pub enum EchoCommand {
    /// Bind a socket and echo everything it receives.
    Bind(SocketAddr),
}

/// Events of the echo handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoEvent {
    /// The socket is bound to this address.
    Bound(SocketAddr),
    /// Binding failed.
    BindFailed(io::ErrorKind),
}

/// Echoes every datagram back to its sender, from the socket it came in on.
#[derive(Debug, Default)]
pub struct EchoHandler;

impl MediaHandler for EchoHandler {
    type Command = EchoCommand;
    type Event = EchoEvent;

    fn on_command(&mut self, cmd: EchoCommand, io: &mut IoCtx<'_, EchoEvent>) {
        let EchoCommand::Bind(addr) = cmd;
        match io.bind_udp(addr) {
            Ok(tok) => match io.local_addr(tok) {
                Some(a) => io.emit(EchoEvent::Bound(a)),
                None => io.emit(EchoEvent::BindFailed(io::ErrorKind::Other)),
            },
            Err(e) => io.emit(EchoEvent::BindFailed(e.kind())),
        }
    }

    fn on_packet(
        &mut self,
        sock: SocketToken,
        data: &[u8],
        from: SocketAddr,
        _now: Instant,
        io: &mut IoCtx<'_, EchoEvent>,
    ) {
        // A refused send is counted in the worker's stats; nothing else to do here.
        let _ = io.send_to(sock, data, from);
    }

    fn on_tick(&mut self, _now: Instant, _io: &mut IoCtx<'_, EchoEvent>) {}
}

/// Starts one echo worker bound to `addr` and returns it with the bound address.
pub fn spawn_echo(
    cfg: &WorkerConfig,
    addr: SocketAddr,
) -> Result<(Workers<EchoHandler>, SocketAddr), WorkerError> {
    let w = spawn_workers(1, cfg, |_| EchoHandler)?;
    w.handles[0]
        .send(EchoCommand::Bind(addr))
        .map_err(|_| WorkerError::Startup(0))?;
    match w.events.recv_timeout(Duration::from_secs(10)) {
        Ok(EchoEvent::Bound(a)) => Ok((w, a)),
        Ok(EchoEvent::BindFailed(k)) => Err(WorkerError::Io(io::Error::from(k))),
        Err(_) => Err(WorkerError::Startup(0)),
    }
}

/// A plain blocking `recvmmsg`/`sendmmsg` echo loop on one socket and one thread.
pub struct PlainEcho {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    packets: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl PlainEcho {
    /// Binds `addr` and starts echoing on a new thread (pinned to `core` if given), in
    /// batches of up to `batch` datagrams.
    pub fn spawn(addr: SocketAddr, batch: usize, core: Option<usize>) -> io::Result<Self> {
        let sock = UdpSocket::bind(addr)?;
        // Wake up now and then to notice `stop`.
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let local = sock.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let packets = Arc::new(AtomicU64::new(0));
        let (s2, p2) = (stop.clone(), packets.clone());
        let batch = batch.clamp(1, 1024);
        let thread = std::thread::Builder::new()
            .name("plain-echo".into())
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(core_affinity::CoreId { id: c });
                }
                plain_echo_loop(&sock, batch, &s2, &p2);
            })?;
        Ok(Self {
            local,
            stop,
            packets,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Datagrams echoed so far.
    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    /// Stops the loop, waits for it and returns the number of datagrams echoed.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.packets()
    }
}

impl Drop for PlainEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn plain_echo_loop(sock: &UdpSocket, batch: usize, stop: &AtomicBool, packets: &AtomicU64) {
    const SIZE: usize = 2048;
    let fd = sock.as_raw_fd();
    let mut bufs = vec![0u8; batch * SIZE];
    let mut names = vec![RawAddr::zeroed(); batch];
    let mut iovs: Vec<libc::iovec> = (0..batch)
        .map(|i| libc::iovec {
            iov_base: bufs[i * SIZE..].as_mut_ptr().cast(),
            iov_len: SIZE,
        })
        .collect();
    // SAFETY: mmsghdr is plain data.
    let mut msgs: Vec<libc::mmsghdr> = (0..batch).map(|_| unsafe { std::mem::zeroed() }).collect();
    while !stop.load(Ordering::Relaxed) {
        for i in 0..batch {
            let h = &mut msgs[i].msg_hdr;
            h.msg_name = names[i].as_mut_ptr().cast();
            h.msg_namelen = size_of::<RawAddr>() as libc::socklen_t;
            iovs[i].iov_len = SIZE;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
        }
        // SAFETY: headers point into the live vectors above.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                batch as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n <= 0 {
            continue; // timeout (to check `stop`) or EINTR
        }
        let n = n as usize;
        for i in 0..n {
            iovs[i].iov_len = msgs[i].msg_len as usize;
        }
        let mut sent = 0;
        while sent < n {
            // SAFETY: as above; lengths now match what was received.
            let rc = unsafe {
                libc::sendmmsg(fd, msgs[sent..].as_mut_ptr(), (n - sent) as libc::c_uint, 0)
            };
            if rc <= 0 {
                sent += 1; // drop the datagram that failed
            } else {
                sent += rc as usize;
            }
        }
        packets.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Result of [`run_echo_client`].
#[derive(Clone, Copy, Debug)]
pub struct EchoRun {
    /// Datagrams sent.
    pub sent: u64,
    /// Replies received (each carries the sequence number of a datagram sent).
    pub received: u64,
    /// Replies whose content did not match what was sent.
    pub corrupt: u64,
    /// From the first send to the last reply.
    pub elapsed: Duration,
}

impl EchoRun {
    /// Replies per second.
    pub fn rate(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends `count` datagrams of `len` bytes (at least 8: a sequence number, then a pattern)
/// to `target`, keeping at most `window` unanswered, and counts the replies. Stops early if
/// no reply comes for `patience`.
pub fn run_echo_client(
    target: SocketAddr,
    count: u64,
    window: u64,
    len: usize,
    patience: Duration,
) -> io::Result<EchoRun> {
    let bind: SocketAddr = if target.is_ipv4() {
        "127.0.0.1:0".parse().map_err(io::Error::other)?
    } else {
        "[::1]:0".parse().map_err(io::Error::other)?
    };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(target)?;
    sock.set_read_timeout(Some(patience))?;
    let len = len.clamp(8, 1400);
    let window = window.max(1);
    let mut out = vec![0u8; len];
    let mut inb = vec![0u8; 2048];
    let (mut sent, mut received, mut corrupt) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    while received < count {
        while sent < count && sent - received < window {
            out[..8].copy_from_slice(&sent.to_be_bytes());
            for (i, b) in out[8..].iter_mut().enumerate() {
                *b = (sent as usize).wrapping_add(i) as u8;
            }
            sock.send(&out)?;
            sent += 1;
        }
        match sock.recv(&mut inb) {
            Ok(n) => {
                received += 1;
                let ok = n == len && {
                    let seq = u64::from_be_bytes(inb[..8].try_into().unwrap_or([0; 8]));
                    seq < sent
                        && inb[8..n]
                            .iter()
                            .enumerate()
                            .all(|(i, &b)| b == (seq as usize).wrapping_add(i) as u8)
                };
                if !ok {
                    corrupt += 1;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(EchoRun {
        sent,
        received,
        corrupt,
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lo() -> SocketAddr {
        "127.0.0.1:0".parse().expect("addr")
    }

    #[test]
    fn plain_echo_returns_every_datagram() {
        let echo = PlainEcho::spawn(lo(), 32, None).expect("spawn");
        let run = run_echo_client(echo.local_addr(), 10_000, 64, 172, Duration::from_secs(5))
            .expect("client");
        assert_eq!(run.received, 10_000);
        assert_eq!(run.corrupt, 0);
        assert_eq!(echo.stop(), 10_000);
    }

    fn engine_echo(backend: super::super::BackendChoice) {
        let cfg = WorkerConfig {
            backend,
            pin_cores: false,
            ..Default::default()
        };
        let (w, addr) = spawn_echo(&cfg, lo()).expect("spawn echo");
        let run = run_echo_client(addr, 10_000, 64, 172, Duration::from_secs(5)).expect("client");
        assert_eq!(run.received, 10_000);
        assert_eq!(run.corrupt, 0);
        let h = &w.handles[0];
        let want = match backend {
            super::super::BackendChoice::Epoll => super::super::Backend::Epoll,
            _ => super::super::Backend::IoUring,
        };
        assert_eq!(h.backend(), want);
        // Counters are published each tick: wait for them to catch up.
        let deadline = Instant::now() + Duration::from_secs(5);
        while h.stats().packets_out < 10_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let s = h.stats();
        assert_eq!(s.packets_in, 10_000);
        assert_eq!(s.packets_out, 10_000);
        assert_eq!(s.bytes_out, 10_000 * 172);
        assert_eq!(s.send_errors, 0);
        assert!(w.shutdown().is_empty());
    }

    #[test]
    fn engine_echo_io_uring_returns_every_datagram() {
        engine_echo(super::super::BackendChoice::IoUring);
    }

    #[test]
    fn engine_echo_epoll_returns_every_datagram() {
        engine_echo(super::super::BackendChoice::Epoll);
    }
}
