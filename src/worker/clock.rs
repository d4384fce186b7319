//! Absolute-deadline ticking: the monotonic clock the worker reads, the mapping from that
//! clock to [`Instant`], and the sans-IO tick grid (`start + k * period`, never drifting)
//! with its catch-up policy.
//!
//! The grid is pure arithmetic on nanoseconds of `CLOCK_MONOTONIC` (the clock std's
//! `Instant` uses on Linux, and the clock `IORING_OP_TIMEOUT` with `IORING_TIMEOUT_ABS`
//! and `timerfd` with `TFD_TIMER_ABSTIME` wait on), so the backends can hand the next
//! deadline to the kernel as an absolute time.

use std::time::{Duration, Instant};

/// Reads `CLOCK_MONOTONIC` in nanoseconds (vDSO, no syscall).
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Splits monotonic nanoseconds into (seconds, nanoseconds) for a kernel timespec.
pub fn split_ns(ns: u64) -> (u64, u32) {
    (ns / 1_000_000_000, (ns % 1_000_000_000) as u32)
}

/// Maps monotonic nanoseconds to [`Instant`]s through one pair sampled together.
///
/// Both sides read `CLOCK_MONOTONIC`, so the mapping is exact up to the few nanoseconds
/// between the two samples, and differences of mapped instants are exact.
#[derive(Clone, Copy, Debug)]
pub struct InstantMap {
    base: Instant,
    base_ns: u64,
}

impl InstantMap {
    /// Samples the clock now.
    pub fn new() -> Self {
        let base_ns = mono_ns();
        Self {
            base: Instant::now(),
            base_ns,
        }
    }

    /// Builds a mapping from an explicit pair (for tests).
    pub fn from_parts(base: Instant, base_ns: u64) -> Self {
        Self { base, base_ns }
    }

    /// The monotonic nanoseconds that correspond to [`InstantMap::base`].
    pub fn base_ns(&self) -> u64 {
        self.base_ns
    }

    /// The instant that corresponds to [`InstantMap::base_ns`].
    pub fn base(&self) -> Instant {
        self.base
    }

    /// The instant of monotonic time `ns` (clamped to the base for earlier times).
    pub fn instant(&self, ns: u64) -> Instant {
        self.base + Duration::from_nanos(ns.saturating_sub(self.base_ns))
    }
}

impl Default for InstantMap {
    fn default() -> Self {
        Self::new()
    }
}

/// One tick that is due: its index on the grid, its deadline and how late it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickDue {
    /// Index on the grid: the deadline is `start + k * period`.
    pub k: u64,
    /// The deadline, in monotonic nanoseconds.
    pub deadline_ns: u64,
    /// How far past the deadline `now` was when the tick was polled.
    pub lateness_ns: u64,
    /// Grid ticks skipped just before this one because the worker fell further behind
    /// than the catch-up limit allows.
    pub skipped: u64,
}

/// The absolute tick grid: deadlines at `start + k * period` for k = 1, 2, ...
///
/// Catch-up policy: when the worker is late, every missed deadline is still delivered, one
/// tick each, back to back (so a handler that services each call at its own phase never
/// skips a phase); but if more than `max_catch_up` deadlines beyond the current one have
/// passed (a stall, a debugger, a suspended VM), the oldest are skipped so that at most
/// `max_catch_up + 1` ticks run in a burst, and the skip is reported. The grid itself never
/// moves: the ticks that do run are still exactly on it.
#[derive(Clone, Debug)]
pub struct TickGrid {
    start_ns: u64,
    period_ns: u64,
    next_k: u64,
    max_catch_up: u64,
}

impl TickGrid {
    /// A grid starting at `start_ns` (first deadline one period later).
    /// `period_ns` is clamped to at least 1.
    pub fn new(start_ns: u64, period_ns: u64, max_catch_up: u64) -> Self {
        Self {
            start_ns,
            period_ns: period_ns.max(1),
            next_k: 1,
            max_catch_up,
        }
    }

    /// The origin of the grid.
    pub fn start_ns(&self) -> u64 {
        self.start_ns
    }

    /// The period.
    pub fn period_ns(&self) -> u64 {
        self.period_ns
    }

    /// The deadline of the next tick to run.
    pub fn next_deadline_ns(&self) -> u64 {
        self.deadline_of(self.next_k)
    }

    fn deadline_of(&self, k: u64) -> u64 {
        self.start_ns
            .saturating_add(k.saturating_mul(self.period_ns))
    }

    /// Returns the next due tick at time `now_ns`, or `None` if the next deadline is still
    /// in the future. Call repeatedly with the same `now_ns` to get every due tick.
    pub fn poll(&mut self, now_ns: u64) -> Option<TickDue> {
        let mut deadline = self.next_deadline_ns();
        if now_ns < deadline {
            return None;
        }
        // Index of the latest deadline that has passed.
        let latest_k = (now_ns - self.start_ns) / self.period_ns;
        let behind = latest_k.saturating_sub(self.next_k);
        let mut skipped = 0;
        if behind > self.max_catch_up {
            skipped = behind - self.max_catch_up;
            self.next_k += skipped;
            deadline = self.next_deadline_ns();
        }
        let due = TickDue {
            k: self.next_k,
            deadline_ns: deadline,
            lateness_ns: now_ns - deadline,
            skipped,
        };
        self.next_k += 1;
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn nothing_due_before_first_deadline() {
        let mut g = TickGrid::new(1_000 * MS, 10 * MS, 4);
        assert_eq!(g.next_deadline_ns(), 1_010 * MS);
        assert_eq!(g.poll(1_000 * MS), None);
        assert_eq!(g.poll(1_010 * MS - 1), None);
    }

    #[test]
    fn on_time_ticks_stay_on_the_grid() {
        let mut g = TickGrid::new(0, 10 * MS, 4);
        for k in 1..=100u64 {
            // Wake up a bit late every time: the grid must not drift.
            let now = k * 10 * MS + 137_000;
            let due = g.poll(now).expect("due");
            assert_eq!(due.k, k);
            assert_eq!(due.deadline_ns, k * 10 * MS);
            assert_eq!(due.lateness_ns, 137_000);
            assert_eq!(due.skipped, 0);
            assert_eq!(g.poll(now), None, "only one tick per period");
        }
    }

    #[test]
    fn late_worker_catches_up_every_missed_tick() {
        let mut g = TickGrid::new(0, 10 * MS, 4);
        // 35 ms late for the first deadline: deadlines 10, 20, 30 and 40 have passed.
        let now = 45 * MS;
        let ks: Vec<u64> = std::iter::from_fn(|| g.poll(now)).map(|d| d.k).collect();
        assert_eq!(ks, vec![1, 2, 3, 4]);
        assert_eq!(g.next_deadline_ns(), 50 * MS);
    }

    #[test]
    fn long_stall_is_bounded_and_reported() {
        let mut g = TickGrid::new(0, 10 * MS, 2);
        // 1 s stall: 100 deadlines have passed, only 3 may run.
        let now = 1_005 * MS;
        let dues: Vec<TickDue> = std::iter::from_fn(|| g.poll(now)).collect();
        assert_eq!(dues.len(), 3);
        assert_eq!(dues[0].skipped, 97);
        assert_eq!(
            dues.iter().map(|d| d.k).collect::<Vec<_>>(),
            vec![98, 99, 100]
        );
        for d in &dues {
            assert_eq!(d.deadline_ns % (10 * MS), 0, "still on the grid");
            assert_eq!(d.lateness_ns, now - d.deadline_ns);
        }
        assert_eq!(g.next_deadline_ns(), 1_010 * MS);
    }

    #[test]
    fn zero_period_does_not_divide_by_zero() {
        let mut g = TickGrid::new(5, 0, 0);
        assert!(g.poll(100).is_some());
    }

    #[test]
    fn instant_map_differences_are_exact() {
        let base = Instant::now();
        let m = InstantMap::from_parts(base, 1_000);
        assert_eq!(m.instant(1_000), base);
        assert_eq!(m.instant(0), base, "clamped");
        assert_eq!(
            m.instant(21_000) - m.instant(1_000),
            Duration::from_nanos(20_000)
        );
    }

    #[test]
    fn mono_clock_moves_forward_and_matches_instant() {
        let m = InstantMap::new();
        let a = mono_ns();
        let b = mono_ns();
        assert!(b >= a);
        // Mapped now is close to Instant::now (same clock): within a generous second.
        let mapped = m.instant(mono_ns());
        let now = Instant::now();
        let diff = if now > mapped {
            now - mapped
        } else {
            mapped - now
        };
        assert!(diff < Duration::from_secs(1));
        assert_eq!(split_ns(3_000_000_123), (3, 123));
    }
}
