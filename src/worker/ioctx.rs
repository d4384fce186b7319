//! [`IoCtx`]: what a handler may do from a callback (bind/close UDP sockets, detach one to
//! hand it to another worker and adopt one so handed, queue sends, emit events, read the
//! clock), and the backend-independent state behind it
//! ([`IoState`]). Work that needs the backend (arming a receive, tearing one down, handing
//! queued sends to the kernel) is only recorded here and carried out by the backend at the
//! end of the callback batch, so the same handler code runs on io_uring and on epoll.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{OwnedFd, RawFd};
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};

use super::WorkerInfo;
use super::addr::RawAddr;
use super::clock::InstantMap;
use super::error::SocketSendError;
use super::slab::SendSlab;
use super::sockets::{SockOpts, SocketTable, SocketToken};
use super::stats::{Counters, WorkerStats};

/// Work for the backend, recorded during callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Start receiving on the socket in this slot.
    Arm(u32),
    /// Stop receiving on the socket in this slot, then close it.
    Close(u32),
    /// Stop receiving on the socket in this slot, then hand its descriptor to the handler
    /// ([`MediaHandler::on_detached`](super::MediaHandler::on_detached)).
    Detach(u32),
}

/// Events on their way to the control plane: a bounded channel, plus an overflow queue so
/// that a full channel never blocks the worker and never loses an event.
pub struct EventSink<E> {
    tx: Sender<E>,
    overflow: VecDeque<E>,
}

impl<E> EventSink<E> {
    /// Wraps the sending side of the event channel.
    pub fn new(tx: Sender<E>) -> Self {
        Self {
            tx,
            overflow: VecDeque::new(),
        }
    }

    fn emit(&mut self, ev: E, s: &mut WorkerStats) {
        if !self.overflow.is_empty() {
            self.overflow.push_back(ev);
            s.events_deferred += 1;
            return;
        }
        match self.tx.try_send(ev) {
            Ok(()) => {}
            Err(TrySendError::Full(ev)) => {
                self.overflow.push_back(ev);
                s.events_deferred += 1;
            }
            Err(TrySendError::Disconnected(_)) => s.events_dropped += 1,
        }
    }

    /// Moves what it can of the overflow queue into the channel, without blocking.
    pub fn flush(&mut self, s: &mut WorkerStats) {
        while let Some(ev) = self.overflow.pop_front() {
            match self.tx.try_send(ev) {
                Ok(()) => {}
                Err(TrySendError::Full(ev)) => {
                    self.overflow.push_front(ev);
                    return;
                }
                Err(TrySendError::Disconnected(_)) => {
                    s.events_dropped += 1 + self.overflow.len() as u64;
                    self.overflow.clear();
                    return;
                }
            }
        }
    }

    /// At shutdown: waits up to `patience` for the control plane to take the overflow.
    pub fn flush_blocking(&mut self, patience: Duration, s: &mut WorkerStats) {
        let deadline = Instant::now() + patience;
        while let Some(ev) = self.overflow.pop_front() {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(e) = self.tx.send_timeout(ev, left) {
                let lost = match e {
                    SendTimeoutError::Timeout(_) | SendTimeoutError::Disconnected(_) => 1,
                };
                s.events_dropped += lost + self.overflow.len() as u64;
                self.overflow.clear();
                return;
            }
        }
    }
}

/// The state a handler's callbacks act on; owned by the engine, lent out as an [`IoCtx`].
pub struct IoState<E> {
    /// Open sockets.
    pub sockets: SocketTable,
    /// Queued and in-flight sends.
    pub slab: SendSlab,
    /// Backend work recorded during callbacks.
    pub ops: Vec<Op>,
    /// Sockets the backend has finished detaching, for the handler.
    pub detached: Vec<(SocketToken, OwnedFd)>,
    /// Outgoing events.
    pub events: EventSink<E>,
    /// Counters.
    pub counters: Counters,
    /// Time of the current callback batch (monotonic ns).
    pub now_ns: u64,
    /// Monotonic ns → Instant.
    pub map: InstantMap,
    /// Options for new sockets.
    pub sock_opts: SockOpts,
    /// Who this worker is.
    pub info: WorkerInfo,
}

/// A handler's access to its worker's IO, lent for the duration of one callback.
pub struct IoCtx<'a, E> {
    st: &'a mut IoState<E>,
}

impl<'a, E> IoCtx<'a, E> {
    /// Lends `st`.
    pub fn new(st: &'a mut IoState<E>) -> Self {
        Self { st }
    }

    /// Opens a UDP socket bound to `addr` (port 0 picks a free port) and starts receiving
    /// on it: its datagrams arrive at `on_packet` with the returned token.
    pub fn bind_udp(&mut self, addr: SocketAddr) -> io::Result<SocketToken> {
        let tok = self.st.sockets.open(addr, self.st.sock_opts)?;
        self.st.ops.push(Op::Arm(tok.index()));
        Ok(tok)
    }

    /// Takes over a bound UDP socket that another worker detached (see
    /// [`IoCtx::detach`]) and starts receiving on it: datagrams waiting in its kernel
    /// buffer, and every later one, arrive at `on_packet` with the returned token.
    pub fn adopt_udp(&mut self, fd: OwnedFd) -> io::Result<SocketToken> {
        let tok = self.st.sockets.adopt(fd)?;
        self.st.ops.push(Op::Arm(tok.index()));
        Ok(tok)
    }

    /// Stops receiving on a socket without closing it: the backend tears its receive
    /// down (datagrams already completed meanwhile are still delivered, and the socket
    /// can still send), then hands the descriptor to
    /// [`MediaHandler::on_detached`](super::MediaHandler::on_detached); datagrams that
    /// arrive later wait in the socket's kernel buffer for whoever adopts it. Returns
    /// false for an unknown token or a socket already closing or detaching.
    pub fn detach(&mut self, sock: SocketToken) -> bool {
        if self.st.sockets.begin_detach(sock) {
            self.st.ops.push(Op::Detach(sock.index()));
            true
        } else {
            false
        }
    }

    /// Connects a socket to `peer` (or dissolves its connection with `None`): sends to
    /// the peer then skip the kernel's route lookup, and the kernel drops datagrams from
    /// any other source before they reach the worker (answering them with ICMP port
    /// unreachable, as for a closed port). For a socket whose source is settled; refused
    /// (`Unsupported`) for a socket bound to port 0, whose kernel-picked port would be
    /// released when the connection is dissolved.
    pub fn connect(&mut self, sock: SocketToken, peer: Option<SocketAddr>) -> io::Result<()> {
        self.st.sockets.connect(sock, peer)
    }

    /// The address a socket is bound to.
    pub fn local_addr(&self, sock: SocketToken) -> Option<SocketAddr> {
        self.st.sockets.get(sock).and_then(|s| s.local)
    }

    /// Closes a socket: no datagram is delivered for it after this call, and its port is
    /// released once the backend has stopped receiving on it (end of this batch for epoll,
    /// after the cancelled receive completes for io_uring). Sends already queued on it are
    /// still sent. Returns false for an unknown or already closed token.
    pub fn close(&mut self, sock: SocketToken) -> bool {
        if self.st.sockets.begin_close(sock) {
            self.st.ops.push(Op::Close(sock.index()));
            true
        } else {
            false
        }
    }

    /// Queues one datagram. The payload is copied into a pre-allocated send slot and all
    /// sends queued during a callback batch go to the kernel together at its end (one
    /// `io_uring_enter`, or one `sendmmsg` per run of sends on the same socket). If no slot
    /// is free, or the payload is larger than a slot, the datagram is sent at once with a
    /// non-blocking `sendto` (counted in `sends_direct`).
    pub fn send_to(
        &mut self,
        sock: SocketToken,
        data: &[u8],
        to: SocketAddr,
    ) -> Result<(), SocketSendError> {
        let Some((fd, peer)) = self.st.sockets.get(sock).map(|s| (s.raw_fd(), s.peer)) else {
            self.st.counters.s.send_errors += 1;
            return Err(SocketSendError::BadSocket);
        };
        let dest = (peer != Some(to)).then_some(to);
        if self.st.slab.queue(fd, data, dest) {
            return Ok(());
        }
        let s = &mut self.st.counters.s;
        s.sends_direct += 1;
        match direct_send(fd, data, to) {
            Ok(()) => {
                s.packets_out += 1;
                s.bytes_out += data.len() as u64;
                Ok(())
            }
            Err(e) => {
                s.send_errors += 1;
                Err(e)
            }
        }
    }

    /// Sends an event to the control plane. Never blocks and never loses the event: if
    /// the channel is full, it waits in a worker-side overflow queue (counted in
    /// `events_deferred`) that is moved on every tick.
    pub fn emit(&mut self, ev: E) {
        self.st.events.emit(ev, &mut self.st.counters.s);
    }

    /// The time of the current callback batch (read once per batch of completions).
    pub fn now(&self) -> Instant {
        self.st.map.instant(self.st.now_ns)
    }

    /// This worker's identity, grid origin and tick period.
    pub fn info(&self) -> &WorkerInfo {
        &self.st.info
    }

    /// This worker's counters so far (the live copy, not the published one).
    pub fn stats(&self) -> &WorkerStats {
        &self.st.counters.s
    }
}

/// One non-blocking `sendto`.
pub fn direct_send(fd: RawFd, data: &[u8], to: SocketAddr) -> Result<(), SocketSendError> {
    let mut raw = RawAddr::zeroed();
    let len = raw.set(to);
    // SAFETY: data and raw are valid for the lengths given.
    let rc = unsafe {
        libc::sendto(
            fd,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_DONTWAIT,
            raw.as_ptr(),
            len,
        )
    };
    if rc < 0 {
        Err(SocketSendError::Os(
            io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_never_blocks_and_keeps_order() {
        let (tx, rx) = crossbeam_channel::bounded(2);
        let mut sink = EventSink::new(tx);
        let mut s = WorkerStats::default();
        for i in 0..5 {
            sink.emit(i, &mut s);
        }
        assert_eq!(s.events_deferred, 3);
        assert_eq!(rx.try_recv(), Ok(0));
        sink.flush(&mut s);
        // 1 was in the channel already, 2 moved in; 3 and 4 still wait.
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(2));
        sink.emit(5, &mut s);
        sink.flush(&mut s);
        let rest: Vec<i32> = std::iter::from_fn(|| {
            let v = rx.try_recv().ok();
            sink.flush(&mut s);
            v
        })
        .collect();
        assert_eq!(rest, vec![3, 4, 5]);
        assert_eq!(s.events_dropped, 0);
        drop(rx);
        sink.emit(6, &mut s);
        assert_eq!(s.events_dropped, 1);
    }

    #[test]
    fn flush_blocking_gives_up_when_nobody_reads() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let mut sink = EventSink::new(tx);
        let mut s = WorkerStats::default();
        sink.emit(1, &mut s);
        sink.emit(2, &mut s);
        sink.emit(3, &mut s);
        sink.flush_blocking(Duration::from_millis(1), &mut s);
        assert_eq!(s.events_dropped, 2);
        assert_eq!(rx.try_recv(), Ok(1));
    }
}
