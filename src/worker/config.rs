//! Worker configuration: tick period, which IO backend, buffer and queue sizes. Validated
//! once at spawn time.

use std::time::Duration;

use super::error::WorkerError;

/// Which IO engine to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// io_uring when the kernel allows it (Linux 6.1 or later, not blocked by seccomp),
    /// else the epoll fallback.
    #[default]
    Auto,
    /// io_uring or fail to start.
    IoUring,
    /// The epoll + recvmmsg + sendmmsg fallback, always.
    Epoll,
}

/// Configuration shared by all workers of a [`spawn_workers`](super::spawn_workers) call.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Tick period: `on_tick` runs at `start + k * tick`. Default 5 ms: a 20 ms media frame
    /// spans four ticks, and the handler services each call at its own phase (e.g. the tick
    /// whose index modulo 4 matches the call's phase), so sends are spread over the frame.
    pub tick: Duration,
    /// IO backend.
    pub backend: BackendChoice,
    /// Pin each worker thread to one core (round-robin over the cores the process may use).
    pub pin_cores: bool,
    /// Provided receive buffers per worker (a power of two, at most 32768).
    pub recv_buffers: u16,
    /// Size of one receive buffer. io_uring puts a 16-byte header and the 28-byte source
    /// address in front of the payload, so the largest datagram is this minus 44.
    pub recv_buffer_size: usize,
    /// Pre-allocated send slots per worker.
    pub send_slots: usize,
    /// Largest payload a send slot holds (larger sends go out synchronously).
    pub send_slot_size: usize,
    /// io_uring submission queue size (completion queue is sized from the buffers).
    pub sq_entries: u32,
    /// Capacity of each worker's command queue.
    pub command_capacity: usize,
    /// Capacity of the event channel shared by all workers.
    pub event_capacity: usize,
    /// A tick counts as late when it runs more than this after its deadline.
    pub late_threshold: Duration,
    /// At most this many missed ticks are caught up in a burst after a stall; older ones are
    /// skipped (and counted).
    pub max_catch_up_ticks: u64,
    /// `SO_RCVBUF` for sockets opened by `bind_udp` (None: system default).
    pub socket_rcvbuf: Option<usize>,
    /// `SO_SNDBUF` for sockets opened by `bind_udp` (None: system default).
    pub socket_sndbuf: Option<usize>,
    /// Datagrams per recvmmsg/sendmmsg call in the epoll fallback.
    pub mmsg_batch: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(5),
            backend: BackendChoice::Auto,
            pin_cores: true,
            recv_buffers: 2048,
            recv_buffer_size: 2048,
            send_slots: 2048,
            send_slot_size: 1500,
            sq_entries: 1024,
            command_capacity: 4096,
            event_capacity: 65536,
            late_threshold: Duration::from_millis(1),
            max_catch_up_ticks: 8,
            socket_rcvbuf: None,
            socket_sndbuf: None,
            mmsg_batch: 32,
        }
    }
}

/// Space io_uring's multishot recvmsg puts before the payload (header + source address).
pub const RECV_OVERHEAD: usize = 16 + super::addr::NAME_LEN;

impl WorkerConfig {
    /// Checks the sizes.
    pub fn validate(&self) -> Result<(), WorkerError> {
        if self.tick.is_zero() {
            return Err(WorkerError::Config("tick must be positive"));
        }
        if !self.recv_buffers.is_power_of_two() || self.recv_buffers > 32768 {
            return Err(WorkerError::Config(
                "recv_buffers must be a power of two, at most 32768",
            ));
        }
        if self.recv_buffer_size < RECV_OVERHEAD + 64 || self.recv_buffer_size > 65536 {
            return Err(WorkerError::Config(
                "recv_buffer_size must be between 108 and 65536",
            ));
        }
        if self.send_slots == 0 || self.send_slot_size == 0 {
            return Err(WorkerError::Config("send slab must not be empty"));
        }
        if self.sq_entries == 0 || self.command_capacity == 0 || self.event_capacity == 0 {
            return Err(WorkerError::Config("queues must not be empty"));
        }
        if self.mmsg_batch == 0 || self.mmsg_batch > 1024 {
            return Err(WorkerError::Config("mmsg_batch must be in 1..=1024"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bad_sizes_are_refused() {
        assert!(WorkerConfig::default().validate().is_ok());
        let bad = [
            WorkerConfig {
                recv_buffers: 1000,
                ..Default::default()
            },
            WorkerConfig {
                tick: Duration::ZERO,
                ..Default::default()
            },
            WorkerConfig {
                recv_buffer_size: 50,
                ..Default::default()
            },
            WorkerConfig {
                send_slots: 0,
                ..Default::default()
            },
            WorkerConfig {
                mmsg_batch: 0,
                ..Default::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
