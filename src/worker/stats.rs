//! Per-worker counters: the worker counts in plain integers on its own thread
//! ([`Counters`]) and publishes a copy into relaxed atomics ([`SharedStats`]) once per tick
//! and at shutdown, so counting costs nothing per packet and the control plane can read a
//! [`WorkerStats`] snapshot at any time.

use std::sync::atomic::{AtomicU64, Ordering};

/// Number of buckets of the tick-lateness histogram.
pub const LATENESS_BUCKETS: usize = 16;

/// Which IO engine a worker runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// Not started yet.
    #[default]
    Unknown,
    /// io_uring: multishot recvmsg into a provided buffer ring, batched sends.
    IoUring,
    /// Fallback: epoll + recvmmsg + sendmmsg (io_uring unavailable or forced off).
    Epoll,
}

impl Backend {
    /// The engine's name as logs and metrics labels spell it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Unknown => "unknown",
            Backend::IoUring => "io_uring",
            Backend::Epoll => "epoll",
        }
    }

    fn to_u64(self) -> u64 {
        match self {
            Backend::Unknown => 0,
            Backend::IoUring => 1,
            Backend::Epoll => 2,
        }
    }

    fn from_u64(v: u64) -> Self {
        match v {
            1 => Backend::IoUring,
            2 => Backend::Epoll,
            _ => Backend::Unknown,
        }
    }
}

/// A snapshot of one worker's counters (published once per tick and at shutdown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// The IO engine in use.
    pub backend: Backend,
    /// Ticks delivered to the handler.
    pub ticks: u64,
    /// Ticks delivered later than the configured lateness threshold.
    pub late_ticks: u64,
    /// Grid ticks skipped after a stall longer than the catch-up limit.
    pub skipped_ticks: u64,
    /// Largest lateness of any tick, in nanoseconds.
    pub max_lateness_ns: u64,
    /// Lateness histogram: bucket 0 counts ticks less than 1 µs late, bucket `i` (1..15)
    /// those `[2^(i-1), 2^i)` µs late, the last bucket everything from 2^14 µs (16.4 ms) up.
    pub lateness_hist: [u64; LATENESS_BUCKETS],
    /// Datagrams delivered to `on_packet`.
    pub packets_in: u64,
    /// Payload bytes delivered to `on_packet`.
    pub bytes_in: u64,
    /// Datagrams sent successfully.
    pub packets_out: u64,
    /// Payload bytes sent successfully.
    pub bytes_out: u64,
    /// Times the provided buffer ring ran dry (multishot recv ended with ENOBUFS).
    pub recv_enobufs: u64,
    /// Times a multishot receive was armed again after it ended.
    pub recv_rearms: u64,
    /// Datagrams read synchronously from a socket whose multishot receive had run out of
    /// provided buffers (io_uring), before its receive was armed again.
    pub recv_drained: u64,
    /// Receive errors other than ENOBUFS, and malformed or truncated datagrams dropped.
    pub recv_errors: u64,
    /// Sends that failed (in the kernel or refused by `send_to`).
    pub send_errors: u64,
    /// Sends done synchronously because the send slab was full.
    pub sends_direct: u64,
    /// Commands delivered to `on_command`.
    pub commands: u64,
    /// Events that found the event channel full and waited in the worker's overflow queue.
    pub events_deferred: u64,
    /// Events dropped because the control plane had dropped the event receiver.
    pub events_dropped: u64,
}

/// The worker's own counters (plain integers, single thread).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// The snapshot being built.
    pub s: WorkerStats,
}

impl Counters {
    /// Records one delivered tick of the given lateness.
    pub fn tick(&mut self, lateness_ns: u64, skipped: u64, late_threshold_ns: u64) {
        let s = &mut self.s;
        s.ticks += 1;
        s.skipped_ticks += skipped;
        if lateness_ns > late_threshold_ns {
            s.late_ticks += 1;
        }
        s.max_lateness_ns = s.max_lateness_ns.max(lateness_ns);
        s.lateness_hist[lateness_bucket(lateness_ns)] += 1;
    }
}

/// The histogram bucket of a lateness (see [`WorkerStats::lateness_hist`]).
pub fn lateness_bucket(lateness_ns: u64) -> usize {
    let us = lateness_ns / 1_000;
    if us == 0 {
        0
    } else {
        ((64 - us.leading_zeros()) as usize).min(LATENESS_BUCKETS - 1)
    }
}

/// The published copy of a worker's counters, read by the control plane.
#[derive(Debug, Default)]
pub struct SharedStats {
    backend: AtomicU64,
    fields: [AtomicU64; 17],
    hist: [AtomicU64; LATENESS_BUCKETS],
}

impl SharedStats {
    /// Publishes a snapshot (relaxed stores; readers may see a mix of two snapshots).
    pub fn publish(&self, s: &WorkerStats) {
        self.backend.store(s.backend.to_u64(), Ordering::Relaxed);
        for (slot, v) in self.fields.iter().zip(fields_of(s)) {
            slot.store(v, Ordering::Relaxed);
        }
        for (slot, v) in self.hist.iter().zip(s.lateness_hist) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    /// Reads the last published snapshot.
    pub fn load(&self) -> WorkerStats {
        let f: [u64; 17] = std::array::from_fn(|i| self.fields[i].load(Ordering::Relaxed));
        WorkerStats {
            backend: Backend::from_u64(self.backend.load(Ordering::Relaxed)),
            ticks: f[0],
            late_ticks: f[1],
            skipped_ticks: f[2],
            max_lateness_ns: f[3],
            lateness_hist: std::array::from_fn(|i| self.hist[i].load(Ordering::Relaxed)),
            packets_in: f[4],
            bytes_in: f[5],
            packets_out: f[6],
            bytes_out: f[7],
            recv_enobufs: f[8],
            recv_rearms: f[9],
            recv_errors: f[10],
            send_errors: f[11],
            sends_direct: f[12],
            commands: f[13],
            events_deferred: f[14],
            events_dropped: f[15],
            recv_drained: f[16],
        }
    }
}

fn fields_of(s: &WorkerStats) -> [u64; 17] {
    [
        s.ticks,
        s.late_ticks,
        s.skipped_ticks,
        s.max_lateness_ns,
        s.packets_in,
        s.bytes_in,
        s.packets_out,
        s.bytes_out,
        s.recv_enobufs,
        s.recv_rearms,
        s.recv_errors,
        s.send_errors,
        s.sends_direct,
        s.commands,
        s.events_deferred,
        s.events_dropped,
        s.recv_drained,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        assert_eq!(lateness_bucket(0), 0);
        assert_eq!(lateness_bucket(999), 0);
        assert_eq!(lateness_bucket(1_000), 1);
        assert_eq!(lateness_bucket(1_999), 1);
        assert_eq!(lateness_bucket(2_000), 2);
        assert_eq!(lateness_bucket(1_000_000), 10); // 1000 µs in [512, 1024)
        assert_eq!(lateness_bucket(u64::MAX), LATENESS_BUCKETS - 1);
    }

    #[test]
    fn publish_round_trips_every_field() {
        let mut c = Counters::default();
        c.tick(5_000_000, 3, 1_000_000);
        c.tick(10, 0, 1_000_000);
        let mut s = c.s;
        s.backend = Backend::Epoll;
        // Give every field a distinct value so a swapped field would show.
        let vals = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23];
        s.packets_in = vals[0];
        s.bytes_in = vals[1];
        s.packets_out = vals[2];
        s.bytes_out = vals[3];
        s.recv_enobufs = vals[4];
        s.recv_rearms = vals[5];
        s.recv_errors = vals[6];
        s.send_errors = vals[7];
        s.sends_direct = vals[8];
        s.commands = vals[9];
        s.events_deferred = vals[10];
        s.events_dropped = vals[11];
        s.recv_drained = vals[12];
        let shared = SharedStats::default();
        shared.publish(&s);
        assert_eq!(shared.load(), s);
        assert_eq!(s.ticks, 2);
        assert_eq!(s.late_ticks, 1);
        assert_eq!(s.skipped_ticks, 3);
        assert_eq!(s.max_lateness_ns, 5_000_000);
        assert_eq!(s.lateness_hist.iter().sum::<u64>(), 2);
    }
}
