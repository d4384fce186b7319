//! Starting workers and talking to them: [`spawn_workers`] starts one pinned thread per
//! worker, each with its own backend; a [`WorkerHandle`] queues commands (lock-free queue +
//! eventfd wake-up, never blocking the worker), reads counters and stops the worker;
//! [`Workers`] holds the handles and the event channel all workers emit into.
//!
//! Events reach the control plane through one bounded crossbeam channel shared by all
//! workers. The control plane reads it from a thread of its own (e.g. a plain thread that
//! blocks in `recv()` and forwards into a tokio channel, or `spawn_blocking`); the worker
//! never blocks on it (see `EventSink`). A handler that needs to know which worker an event
//! came from puts `WorkerInfo::index` into it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use crossbeam_queue::ArrayQueue;

use super::MediaHandler;
use super::clock::{InstantMap, TickGrid};
use super::config::{BackendChoice, WorkerConfig};
use super::epoll::EpollBackend;
use super::error::{CommandError, WorkerError};
use super::ioctx::{EventSink, IoState};
use super::reactor::{Reactor, Shared};
use super::ring::RingBackend;
use super::slab::SendSlab;
use super::sockets::{SockOpts, SocketTable};
use super::stats::{Backend, Counters, SharedStats, WorkerStats};

/// Who a worker is; given to the handler factory and available from `IoCtx::info`.
#[derive(Clone, Debug)]
pub struct WorkerInfo {
    /// Index of the worker (0..n).
    pub index: usize,
    /// The core it is pinned to, if pinned.
    pub core: Option<usize>,
    /// Origin of the tick grid: tick k runs at `start + k * tick` (k = 1, 2, ...).
    pub start: Instant,
    /// The tick period.
    pub tick: Duration,
    /// The IO backend in use.
    pub backend: Backend,
}

impl WorkerInfo {
    /// The grid index k of a tick time `at` (`at = start + k * tick`); rounds down for
    /// times between ticks, 0 before the first. Handlers use it to pick which calls are
    /// due at a tick, e.g. the calls whose phase is `k % 4` with a 5 ms tick and 20 ms
    /// frames.
    pub fn tick_index(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.start).as_nanos();
        let tick = self.tick.as_nanos().max(1);
        u64::try_from(since / tick).unwrap_or(u64::MAX)
    }
}

/// The control plane's side of one worker.
pub struct WorkerHandle<H: MediaHandler> {
    index: usize,
    core: Option<usize>,
    backend: Backend,
    fallback_reason: Option<String>,
    shared: Arc<Shared<H::Command>>,
    wake: Arc<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl<H: MediaHandler> WorkerHandle<H> {
    /// Queues a command and wakes the worker. Never blocks: a full queue hands the
    /// command back.
    pub fn send(&self, cmd: H::Command) -> Result<(), CommandError<H::Command>> {
        if self.is_finished() {
            return Err(CommandError::Stopped(cmd));
        }
        self.sender().send(cmd)
    }

    /// A sender into this worker's command queue that does not own the worker: for other
    /// workers (hand-overs) and helper threads. Dropping it never waits for the worker.
    pub fn sender(&self) -> WorkerSender<H::Command> {
        WorkerSender {
            shared: self.shared.clone(),
            wake: self.wake.clone(),
        }
    }

    /// The last published counters (updated every tick and at shutdown).
    pub fn stats(&self) -> WorkerStats {
        self.shared.stats.load()
    }

    /// Worker index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The core the worker is pinned to.
    pub fn core(&self) -> Option<usize> {
        self.core
    }

    /// The IO backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Why io_uring was not used, when the fallback runs under [`BackendChoice::Auto`].
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// Asks the worker to stop: it handles the commands already queued, calls
    /// `on_shutdown`, sends what that queued, closes its sockets and ends.
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::Release);
        wake(&self.wake);
    }

    /// Whether the worker thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for the worker thread to end (call [`WorkerHandle::shutdown`] first). Returns
    /// `Err` with the panic payload if the handler panicked.
    pub fn join(mut self) -> std::thread::Result<()> {
        match self.thread.take() {
            Some(t) => t.join(),
            None => Ok(()),
        }
    }
}

impl<H: MediaHandler> Drop for WorkerHandle<H> {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.shutdown();
            let _ = t.join();
        }
    }
}

/// Queues commands for one worker without owning it (see [`WorkerHandle::sender`]).
pub struct WorkerSender<C> {
    shared: Arc<Shared<C>>,
    wake: Arc<OwnedFd>,
}

impl<C> Clone for WorkerSender<C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            wake: self.wake.clone(),
        }
    }
}

impl<C> WorkerSender<C> {
    /// Queues a command and wakes the worker. Never blocks: a full queue, or a worker
    /// that is stopping, hands the command back.
    pub fn send(&self, cmd: C) -> Result<(), CommandError<C>> {
        if self.shared.stop.load(Ordering::Acquire) {
            return Err(CommandError::Stopped(cmd));
        }
        self.shared.cmds.push(cmd).map_err(CommandError::Full)?;
        wake(&self.wake);
        Ok(())
    }
}

/// All workers of one [`spawn_workers`] call.
pub struct Workers<H: MediaHandler> {
    /// One handle per worker, in index order.
    pub handles: Vec<WorkerHandle<H>>,
    /// Events from every worker.
    pub events: Receiver<H::Event>,
    /// A sender into the same channel, for a helper thread whose events must reach the
    /// control plane in order with the workers' (drop it when done: the channel closes
    /// once every sender is gone).
    pub event_tx: crossbeam_channel::Sender<H::Event>,
}

impl<H: MediaHandler> Workers<H> {
    /// Stops every worker and waits for them. Returns the indexes of workers whose
    /// handler panicked.
    pub fn shutdown(self) -> Vec<usize> {
        for h in &self.handles {
            h.shutdown();
        }
        self.handles
            .into_iter()
            .filter_map(|h| {
                let i = h.index;
                h.join().err().map(|_| i)
            })
            .collect()
    }
}

fn wake(fd: &OwnedFd) {
    let one = 1u64;
    // SAFETY: writes 8 bytes from a valid u64. A full counter (EAGAIN) means a wake-up is
    // pending anyway.
    unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

/// Starts `n` workers. Each thread is pinned to a core (when `cfg.pin_cores`; the core list
/// is read once, before any thread is pinned, and assigned round-robin), sets up its own
/// backend, reports it, then builds its handler with `factory` on the worker thread and
/// runs. If any worker fails to start, the others are stopped and the error is returned.
pub fn spawn_workers<H, F>(
    n: usize,
    cfg: &WorkerConfig,
    factory: F,
) -> Result<Workers<H>, WorkerError>
where
    H: MediaHandler,
    F: Fn(&WorkerInfo) -> H + Send + Sync + 'static,
{
    cfg.validate()?;
    let cores = if cfg.pin_cores {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let factory = Arc::new(factory);
    let (ev_tx, ev_rx) = crossbeam_channel::bounded(cfg.event_capacity);
    let mut handles = Vec::with_capacity(n);
    for index in 0..n {
        let core = (!cores.is_empty()).then(|| cores[index % cores.len()]);
        // SAFETY: eventfd returns a new descriptor or -1.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(WorkerError::Io(io::Error::last_os_error()));
        }
        // SAFETY: raw is a fresh descriptor we own.
        let wake_fd = Arc::new(unsafe { OwnedFd::from_raw_fd(raw) });
        let shared = Arc::new(Shared {
            cmds: ArrayQueue::new(cfg.command_capacity),
            stop: AtomicBool::new(false),
            stats: SharedStats::default(),
        });
        let (ready_tx, ready_rx) = mpsc::channel();
        let ctx = ThreadCtx {
            index,
            core: core.map(|c| c.id),
            cfg: cfg.clone(),
            shared: shared.clone(),
            wake: wake_fd.clone(),
            events: ev_tx.clone(),
        };
        let f = factory.clone();
        let thread = std::thread::Builder::new()
            .name(format!("media-worker-{index}"))
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                worker_main(ctx, &*f, ready_tx);
            })
            .map_err(WorkerError::Io)?;
        let started = ready_rx.recv();
        let mut handle = WorkerHandle {
            index,
            core: core.map(|c| c.id),
            backend: Backend::Unknown,
            fallback_reason: None,
            shared,
            wake: wake_fd,
            thread: Some(thread),
        };
        match started {
            Ok(Ok((backend, reason))) => {
                handle.backend = backend;
                handle.fallback_reason = reason;
                handles.push(handle);
            }
            Ok(Err(e)) => {
                drop(handle);
                drop(handles);
                return Err(e);
            }
            Err(_) => {
                drop(handle);
                drop(handles);
                return Err(WorkerError::Startup(index));
            }
        }
    }
    Ok(Workers {
        handles,
        events: ev_rx,
        event_tx: ev_tx,
    })
}

struct ThreadCtx<H: MediaHandler> {
    index: usize,
    core: Option<usize>,
    cfg: WorkerConfig,
    shared: Arc<Shared<H::Command>>,
    wake: Arc<OwnedFd>,
    events: crossbeam_channel::Sender<H::Event>,
}

type Ready = mpsc::Sender<Result<(Backend, Option<String>), WorkerError>>;

enum Chosen {
    Ring(Box<RingBackend>),
    Epoll(EpollBackend),
}

fn choose(cfg: &WorkerConfig, wake_fd: i32) -> Result<(Chosen, Option<String>), WorkerError> {
    match cfg.backend {
        BackendChoice::Epoll => Ok((Chosen::Epoll(EpollBackend::new(cfg, wake_fd)?), None)),
        BackendChoice::IoUring => RingBackend::new(cfg, wake_fd)
            .map(|r| (Chosen::Ring(Box::new(r)), None))
            .map_err(WorkerError::IoUringUnavailable),
        BackendChoice::Auto => match RingBackend::new(cfg, wake_fd) {
            Ok(r) => Ok((Chosen::Ring(Box::new(r)), None)),
            Err(e) => {
                let reason = format!("io_uring unavailable: {e}");
                Ok((
                    Chosen::Epoll(EpollBackend::new(cfg, wake_fd)?),
                    Some(reason),
                ))
            }
        },
    }
}

fn worker_main<H, F>(ctx: ThreadCtx<H>, factory: &F, ready: Ready)
where
    H: MediaHandler,
    F: Fn(&WorkerInfo) -> H,
{
    let (chosen, reason) = match choose(&ctx.cfg, ctx.wake.as_raw_fd()) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let backend = match chosen {
        Chosen::Ring(_) => Backend::IoUring,
        Chosen::Epoll(_) => Backend::Epoll,
    };
    let map = InstantMap::new();
    let info = WorkerInfo {
        index: ctx.index,
        core: ctx.core,
        start: map.base(),
        tick: ctx.cfg.tick,
        backend,
    };
    let tick_ns = u64::try_from(ctx.cfg.tick.as_nanos()).unwrap_or(u64::MAX);
    let mut counters = Counters::default();
    counters.s.backend = backend;
    ctx.shared.stats.publish(&counters.s);
    let _ = ready.send(Ok((backend, reason)));
    let handler = factory(&info);
    let io = IoState {
        sockets: SocketTable::default(),
        slab: SendSlab::new(ctx.cfg.send_slots, ctx.cfg.send_slot_size),
        ops: Vec::with_capacity(64),
        detached: Vec::new(),
        events: EventSink::new(ctx.events),
        counters,
        now_ns: map.base_ns(),
        map,
        sock_opts: SockOpts {
            rcvbuf: ctx.cfg.socket_rcvbuf,
            sndbuf: ctx.cfg.socket_sndbuf,
        },
        info,
    };
    let grid = TickGrid::new(map.base_ns(), tick_ns, ctx.cfg.max_catch_up_ticks);
    let mut eng = Reactor::new(handler, io, grid, ctx.shared, ctx.cfg.late_threshold);
    match chosen {
        Chosen::Ring(r) => (*r).run(&mut eng),
        Chosen::Epoll(e) => e.run(&mut eng),
    }
    // `ctx.wake` (the eventfd) is dropped only after the backend: the ring may hold a read
    // on it until teardown.
    drop(eng);
    drop(ctx.wake);
}
