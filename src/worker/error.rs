//! Errors of the worker engine: failing to start workers, and `send_to` refusals.

use std::io;

/// Starting a worker failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The configuration is unusable.
    #[error("invalid worker config: {0}")]
    Config(&'static str),
    /// io_uring was required but cannot be used here.
    #[error("io_uring unavailable: {0}")]
    IoUringUnavailable(io::Error),
    /// A system call failed while setting the worker up.
    #[error("worker setup failed: {0}")]
    Io(#[from] io::Error),
    /// The worker thread ended before reporting that it started.
    #[error("worker {0} died during startup")]
    Startup(usize),
}

/// `IoCtx::send_to` could not send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SocketSendError {
    /// The token names no open socket of this worker.
    #[error("unknown or closed socket")]
    BadSocket,
    /// A synchronous send (slab full or oversize payload) failed with this errno.
    #[error("send failed: errno {0}")]
    Os(i32),
}

/// `WorkerHandle::send` could not queue a command; the command is handed back.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError<C> {
    /// The worker's command queue is full.
    #[error("worker command queue full")]
    Full(C),
    /// The worker is shutting down or gone.
    #[error("worker stopped")]
    Stopped(C),
}

impl<C> CommandError<C> {
    /// The command that was not queued.
    pub fn into_inner(self) -> C {
        match self {
            CommandError::Full(c) | CommandError::Stopped(c) => c,
        }
    }
}
