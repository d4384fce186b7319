//! The backend-independent half of a worker: the handler, its [`IoState`], the tick grid,
//! the command queue and the stop flag. Both backends drive a [`Reactor`] the same way:
//! deliver datagrams, then commands, then due ticks, then carry out the recorded work.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use super::MediaHandler;
use super::clock::{TickGrid, mono_ns};
use super::ioctx::{IoCtx, IoState, Op};
use super::sockets::SockState;
use super::stats::SharedStats;

/// How long a stopping worker waits for in-flight sends, cancelled receives and for the
/// control plane to take queued events.
pub const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(2);

/// What the worker thread shares with its [`WorkerHandle`](super::WorkerHandle).
pub struct Shared<C> {
    /// Commands in.
    pub cmds: ArrayQueue<C>,
    /// Set by `shutdown`.
    pub stop: AtomicBool,
    /// Published counters.
    pub stats: SharedStats,
}

/// Handler + state + grid.
pub struct Reactor<H: MediaHandler> {
    handler: H,
    /// The state lent to the handler.
    pub io: IoState<H::Event>,
    /// The tick grid.
    pub grid: TickGrid,
    shared: Arc<Shared<H::Command>>,
    late_threshold_ns: u64,
    stopped: bool,
}

impl<H: MediaHandler> Reactor<H> {
    /// Assembles an engine.
    pub fn new(
        handler: H,
        io: IoState<H::Event>,
        grid: TickGrid,
        shared: Arc<Shared<H::Command>>,
        late_threshold: Duration,
    ) -> Self {
        Self {
            handler,
            io,
            grid,
            shared,
            late_threshold_ns: u64::try_from(late_threshold.as_nanos()).unwrap_or(u64::MAX),
            stopped: false,
        }
    }

    /// Reads the clock into the batch time.
    pub fn refresh_now(&mut self) {
        self.io.now_ns = mono_ns();
    }

    /// Delivers one datagram received on slot `idx` (of generation `generation`, as the
    /// backend tagged the receive) unless that socket was closed meanwhile or the worker
    /// is stopping.
    pub fn deliver(&mut self, idx: u32, generation: u32, data: &[u8], from: SocketAddr) {
        if self.stopped {
            return;
        }
        let Some(tok) = self.io.sockets.token_at(idx) else {
            return;
        };
        if !same_generation(tok.generation(), generation) {
            return;
        }
        let s = &mut self.io.counters.s;
        s.packets_in += 1;
        s.bytes_in += data.len() as u64;
        let now = self.io.map.instant(self.io.now_ns);
        self.handler
            .on_packet(tok, data, from, now, &mut IoCtx::new(&mut self.io));
    }

    /// Delivers queued commands (at most one queue's worth, so a busy control plane cannot
    /// starve IO).
    pub fn run_commands(&mut self) {
        if self.stopped {
            return;
        }
        let max = self.shared.cmds.capacity();
        for _ in 0..max {
            let Some(cmd) = self.shared.cmds.pop() else {
                break;
            };
            self.io.counters.s.commands += 1;
            self.handler.on_command(cmd, &mut IoCtx::new(&mut self.io));
        }
    }

    /// Hands the sockets the backend finished detaching to the handler. Returns whether
    /// there were any (the handler may have queued work for the backend).
    pub fn run_detached(&mut self) -> bool {
        if self.io.detached.is_empty() {
            return false;
        }
        let done = std::mem::take(&mut self.io.detached);
        for (tok, fd) in done {
            if self.stopped {
                continue; // dropped: closed
            }
            self.handler
                .on_detached(tok, fd, &mut IoCtx::new(&mut self.io));
        }
        true
    }

    /// Runs every tick due at the batch time, publishes the counters if any ran, and moves
    /// deferred events on.
    pub fn run_ticks(&mut self) {
        if self.stopped {
            return;
        }
        // Fresh time: a long batch of datagrams may have run since the last read.
        self.refresh_now();
        let now_ns = self.io.now_ns;
        let mut ran = false;
        while let Some(due) = self.grid.poll(now_ns) {
            self.io
                .counters
                .tick(due.lateness_ns, due.skipped, self.late_threshold_ns);
            let at = self.io.map.instant(due.deadline_ns);
            self.handler.on_tick(at, &mut IoCtx::new(&mut self.io));
            ran = true;
        }
        if ran {
            self.publish();
        }
        self.io.events.flush(&mut self.io.counters.s);
    }

    /// Whether `shutdown` was asked.
    pub fn stop_requested(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }

    /// Whether [`Reactor::begin_shutdown`] ran.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Last commands, the handler's `on_shutdown`, then every socket marked for closing.
    /// After this no callback runs.
    pub fn begin_shutdown(&mut self) {
        if self.stopped {
            return;
        }
        self.refresh_now();
        self.run_commands();
        self.handler.on_shutdown(&mut IoCtx::new(&mut self.io));
        self.stopped = true;
        for idx in 0..self.io.sockets.len() as u32 {
            if let Some(tok) = self.io.sockets.token_at(idx)
                && self.io.sockets.begin_close(tok)
            {
                self.io.ops.push(Op::Close(idx));
            }
        }
    }

    /// Whether everything the backend must wait for at shutdown is done.
    pub fn drained(&self) -> bool {
        self.io.sockets.is_empty()
            && self.io.slab.in_flight() == 0
            && self.io.slab.pending().is_empty()
    }

    /// Final publication of counters and events.
    pub fn finish(&mut self) {
        self.publish();
        self.io
            .events
            .flush_blocking(SHUTDOWN_PATIENCE, &mut self.io.counters.s);
        self.publish();
    }

    /// Publishes the counters.
    pub fn publish(&self) {
        self.shared.stats.publish(&self.io.counters.s);
    }

    /// Whether the socket in slot `idx` is closing, detaching (or gone).
    pub fn is_closing(&self, idx: u32) -> bool {
        self.io
            .sockets
            .slot(idx)
            .is_none_or(|s| s.state != SockState::Open)
    }
}

/// Generations are carried in 24 bits of io_uring user data.
pub fn same_generation(full: u32, tagged: u32) -> bool {
    full & GEN_MASK == tagged & GEN_MASK
}

/// Mask of the generation bits carried in completion tags.
pub const GEN_MASK: u32 = 0x00ff_ffff;
