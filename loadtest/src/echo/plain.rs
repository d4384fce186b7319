//! [`PlainEcho`]: a plain blocking `recvmmsg`/`sendmmsg` echo loop on one socket and one
//! thread, the kernel's UDP ceiling for one core.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::mmsg::MmsgEcho;

/// A running echo loop; stopped on drop.
pub struct PlainEcho {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    packets: Arc<AtomicU64>,
    tid: Arc<AtomicU32>,
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
        let tid = Arc::new(AtomicU32::new(0));
        let (s2, p2, t2) = (stop.clone(), packets.clone(), tid.clone());
        let batch = batch.clamp(1, 1024);
        let thread = std::thread::Builder::new()
            .name("plain-echo".into())
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(core_affinity::CoreId { id: c });
                }
                t2.store(crate::cpu::gettid(), Ordering::Relaxed);
                echo_loop(&sock, batch, &s2, &p2);
            })?;
        Ok(Self {
            local,
            stop,
            packets,
            tid,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The echo thread's id (0 until it started).
    pub fn tid(&self) -> u32 {
        self.tid.load(Ordering::Relaxed)
    }

    /// Datagrams echoed so far.
    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    /// Stops the loop, waits for it and returns the number of datagrams echoed.
    #[cfg(test)]
    pub fn stop(mut self) -> u64 {
        self.halt();
        self.packets()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PlainEcho {
    fn drop(&mut self) {
        self.halt();
    }
}

fn echo_loop(sock: &UdpSocket, batch: usize, stop: &AtomicBool, packets: &AtomicU64) {
    let fd = sock.as_raw_fd();
    let mut m = MmsgEcho::new(batch);
    while !stop.load(Ordering::Relaxed) {
        // Blocks up to the socket's read timeout (to check `stop`).
        let n = m.echo(fd, libc::MSG_WAITFORONE);
        packets.fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::super::client::run_echo_client;
    use super::*;

    #[test]
    fn plain_echo_returns_every_datagram() {
        let lo = "127.0.0.1:0".parse().expect("addr");
        let echo = PlainEcho::spawn(lo, 32, None).expect("spawn");
        let run = run_echo_client(echo.local_addr(), 10_000, 64, 172, Duration::from_secs(5))
            .expect("client");
        assert_eq!(run.sent, 10_000);
        assert_eq!(run.received, 10_000);
        assert_eq!(run.corrupt, 0);
        assert_eq!(echo.stop(), 10_000);
    }
}
