//! The IO engine of the per-core media workers.
//!
//! Each worker is one thread pinned to one core, owning its own io_uring (or, where
//! io_uring is unavailable or forced off, an epoll loop), its UDP sockets and a
//! [`MediaHandler`] supplied by the media layer. The engine calls the handler for every
//! command, every datagram and every tick, and carries out what the handler asked through
//! its [`IoCtx`]:
//!
//! - Receive: one multishot `IORING_OP_RECVMSG` per socket into a provided buffer ring
//!   (`bufring`), re-armed when it ends (buffer exhaustion counted as `recv_enobufs`);
//!   each buffer goes back to the kernel right after `on_packet` returns.
//! - Send: `IoCtx::send_to` copies into a pre-allocated slab; everything queued during a
//!   batch of callbacks goes to the kernel with the next single `io_uring_enter`.
//! - Time: ticks on an absolute grid (`start + k * tick`, `clock`), waited for with an
//!   absolute `IORING_OP_TIMEOUT`, so one `io_uring_enter` waits for "datagrams, a command
//!   or the deadline". Late ticks are caught up one by one (bounded) and counted.
//! - Commands: a lock-free `ArrayQueue` per worker plus an eventfd read through the ring, so
//!   a command wakes the worker at once and `WorkerHandle::send` never blocks it.
//! - Events: one bounded crossbeam channel shared by all workers ([`Workers::events`]);
//!   the worker never blocks on it.
//! - Hand-over: a handler may detach a socket (`IoCtx::detach`: the receive is cancelled,
//!   the descriptor comes back through `MediaHandler::on_detached`) and send it to another
//!   worker through a [`WorkerSender`] (the same lock-free queue as commands), which
//!   adopts it (`IoCtx::adopt_udp`); datagrams arriving meanwhile wait in the socket.
//!
//! Spreading sends over the frame: the engine ticks every `WorkerConfig::tick` (default
//! 5 ms, four ticks per 20 ms frame) and the handler decides which calls are due at each
//! tick, e.g. by giving every call a phase `p` in `0..4` and servicing it on ticks where
//! `k % 4 == p` (k = `(now - info.start) / tick`). Each call then keeps an exact 20 ms
//! cadence while the worker's sends are spread over four bursts per frame.
//!
//! The hot path (datagram in, callback, datagram out) does not allocate, lock or block;
//! file IO never happens on a worker.
//!
//! The load generator (`loadtest/src/echo/`) runs a bare echo handler on this engine as
//! the density ceiling; the gateway itself ships no load-test code.

mod addr;
mod bufring;
pub mod clock;
mod config;
mod epoll;
mod error;
mod handle;
mod ioctx;
mod reactor;
mod ring;
mod slab;
mod sockets;
mod stats;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::Instant;

pub use config::{BackendChoice, WorkerConfig};
pub use error::{CommandError, SocketSendError, WorkerError};
pub use handle::{WorkerHandle, WorkerInfo, WorkerSender, Workers, spawn_workers};
pub use ioctx::IoCtx;
pub use sockets::SocketToken;
pub use stats::{Backend, LATENESS_BUCKETS, WorkerStats};

/// The media layer's per-worker logic. One instance per worker, created on the worker
/// thread by the factory given to [`spawn_workers`]; every method runs on that thread.
///
/// Callbacks must not block or do file IO. Sends and socket changes made through `io`
/// take effect at the end of the current batch of callbacks.
pub trait MediaHandler: Send + 'static {
    /// Commands from the control plane (e.g. add or remove a call).
    type Command: Send + 'static;
    /// Events to the control plane (e.g. an action completed, a DTMF digit).
    type Event: Send + 'static;

    /// A command arrived through [`WorkerHandle::send`].
    fn on_command(&mut self, cmd: Self::Command, io: &mut IoCtx<'_, Self::Event>);

    /// A datagram arrived on `sock` from `from`. `now` is the time the batch of
    /// completions it came in was read (one clock read per batch). `data` is only valid
    /// during the call.
    fn on_packet(
        &mut self,
        sock: SocketToken,
        data: &[u8],
        from: SocketAddr,
        now: Instant,
        io: &mut IoCtx<'_, Self::Event>,
    );

    /// A tick. `now` is the tick's deadline on the absolute grid,
    /// `info.start + k * info.tick`, not the (slightly later) time it runs; `io.now()` is
    /// the actual time. A late worker still gets every missed tick, back to back (up to
    /// `WorkerConfig::max_catch_up_ticks`).
    fn on_tick(&mut self, now: Instant, io: &mut IoCtx<'_, Self::Event>);

    /// A socket detached with [`IoCtx::detach`] is no longer received on: here is its
    /// descriptor (still bound), to hand to another worker. Dropping it closes the socket.
    fn on_detached(&mut self, sock: SocketToken, fd: OwnedFd, io: &mut IoCtx<'_, Self::Event>) {
        let _ = (sock, fd, io);
    }

    /// The worker is stopping: last chance to send and emit (e.g. finish recordings).
    /// Sends queued here are still sent; no callback follows.
    fn on_shutdown(&mut self, io: &mut IoCtx<'_, Self::Event>) {
        let _ = io;
    }
}
