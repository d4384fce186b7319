//! Per-worker latency histograms (HdrHistogram), kept by the worker thread alone and
//! published once a second as plain atomics, so `/metrics` reads them without a lock
//! and the hot path never waits: tick work time, packet processing time (from the
//! completion batch to the end of the packet's handling), send-time deviation from
//! each call's 20 ms grid, and packets sent per tick (the depth of the send batch).
//!
//! The two per-packet figures (packet processing time and send deviation) are sampled:
//! one packet or frame in [`SAMPLE_EVERY`] reads the clock and is recorded with that
//! weight, so the quantiles and counts keep their meaning while the clock read and the
//! two histogram updates leave the path of the other packets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Microseconds of handler work per tick.
    TickWorkUs = 0,
    /// Microseconds from the completion batch to the end of a packet's handling.
    PacketUs = 1,
    /// Microseconds between a frame's grid time and its send.
    SendDeviationUs = 2,
    /// Packets sent in one tick.
    SendsPerTick = 3,
}

/// Metric names, in `Metric` order (for `/metrics`).
pub const METRIC_NAMES: [&str; 4] = [
    "tick_work_us",
    "packet_us",
    "send_deviation_us",
    "sends_per_tick",
];
/// Published quantiles.
pub const QUANTILES: [f64; 4] = [0.5, 0.99, 0.999, 1.0];
/// One packet (or sent frame) in this many is timed and recorded (with this weight).
pub const SAMPLE_EVERY: u32 = 8;
/// Window of the `recent` figures.
const WINDOW: Duration = Duration::from_secs(2);

/// The published figures of one worker: `[metric][quantile]` for the whole run and
/// for the last window, plus sample counts.
#[derive(Debug, Default)]
pub struct LatencySnapshot {
    pub total: [[AtomicU64; 4]; 4],
    pub recent: [[AtomicU64; 4]; 4],
    pub count: [AtomicU64; 4],
}

impl LatencySnapshot {
    /// `(metric, quantile, total, recent)` rows, for rendering.
    pub fn rows(&self) -> Vec<(&'static str, f64, u64, u64)> {
        let mut out = Vec::with_capacity(16);
        for (m, name) in METRIC_NAMES.iter().enumerate() {
            for (q, quant) in QUANTILES.iter().enumerate() {
                out.push((
                    *name,
                    *quant,
                    self.total[m][q].load(Ordering::Relaxed),
                    self.recent[m][q].load(Ordering::Relaxed),
                ));
            }
        }
        out
    }

    pub fn samples(&self, m: Metric) -> u64 {
        self.count[m as usize].load(Ordering::Relaxed)
    }
}

/// The worker's histograms.
pub struct WorkerLatency {
    total: [Histogram<u64>; 4],
    recent: [Histogram<u64>; 4],
    published: Arc<LatencySnapshot>,
    next_publish: Instant,
    window_end: Instant,
    /// Per metric: calls to [`WorkerLatency::sample`] since the last sampled one.
    skipped: [u32; 4],
}

impl WorkerLatency {
    pub fn new(published: Arc<LatencySnapshot>, now: Instant) -> WorkerLatency {
        let h = || Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds");
        WorkerLatency {
            total: [h(), h(), h(), h()],
            recent: [h(), h(), h(), h()],
            published,
            next_publish: now + Duration::from_secs(1),
            window_end: now + WINDOW,
            skipped: [0; 4],
        }
    }

    /// Whether this packet (or frame) of `m` is the one in [`SAMPLE_EVERY`] to time; its
    /// value then goes to [`WorkerLatency::record_sampled`].
    pub fn sample(&mut self, m: Metric) -> bool {
        let k = &mut self.skipped[m as usize];
        *k += 1;
        if *k >= SAMPLE_EVERY {
            *k = 0;
            true
        } else {
            false
        }
    }

    /// Records a sampled value with the weight of the packets it stands for.
    pub fn record_sampled(&mut self, m: Metric, value: u64) {
        let v = value.clamp(1, 60_000_000);
        let i = m as usize;
        let n = u64::from(SAMPLE_EVERY);
        let _ = self.total[i].record_n(v, n);
        let _ = self.recent[i].record_n(v, n);
    }

    /// Record one value (clamped into the histogram's range).
    pub fn record(&mut self, m: Metric, value: u64) {
        let v = value.clamp(1, 60_000_000);
        let i = m as usize;
        let _ = self.total[i].record(v);
        let _ = self.recent[i].record(v);
    }

    /// Publish the quantiles when a second has passed; start a new window every
    /// `WINDOW`.
    pub fn maybe_publish(&mut self, now: Instant) {
        if now < self.next_publish {
            return;
        }
        self.next_publish = now + Duration::from_secs(1);
        self.publish();
        if now >= self.window_end {
            self.window_end = now + WINDOW;
            for h in &mut self.recent {
                h.reset();
            }
        }
    }

    /// Publish now (also called at shutdown and by tests).
    pub fn publish(&self) {
        for m in 0..4 {
            for (q, quant) in QUANTILES.iter().enumerate() {
                let total = if self.total[m].is_empty() {
                    0
                } else {
                    self.total[m].value_at_quantile(*quant)
                };
                let recent = if self.recent[m].is_empty() {
                    0
                } else {
                    self.recent[m].value_at_quantile(*quant)
                };
                self.published.total[m][q].store(total, Ordering::Relaxed);
                self.published.recent[m][q].store(recent, Ordering::Relaxed);
            }
            self.published.count[m].store(self.total[m].len(), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_published_as_atomics() {
        let snap = Arc::new(LatencySnapshot::default());
        let t0 = Instant::now();
        let mut w = WorkerLatency::new(snap.clone(), t0);
        for v in 1..=1000 {
            w.record(Metric::TickWorkUs, v);
        }
        w.record(Metric::SendDeviationUs, 0); // clamped to 1
        w.maybe_publish(t0); // not yet a second
        assert_eq!(snap.samples(Metric::TickWorkUs), 0);
        w.maybe_publish(t0 + Duration::from_secs(1));
        assert_eq!(snap.samples(Metric::TickWorkUs), 1000);
        let rows = snap.rows();
        let p50 = rows
            .iter()
            .find(|r| r.0 == "tick_work_us" && r.1 == 0.5)
            .unwrap();
        assert!((495..=505).contains(&p50.2), "{p50:?}");
        let max = rows
            .iter()
            .find(|r| r.0 == "tick_work_us" && r.1 == 1.0)
            .unwrap();
        assert!((999..=1001).contains(&max.2), "{max:?}");
        assert_eq!(snap.samples(Metric::SendDeviationUs), 1);
        // The recent window restarts; the totals do not.
        w.maybe_publish(t0 + Duration::from_secs(3));
        w.record(Metric::TickWorkUs, 7);
        w.maybe_publish(t0 + Duration::from_secs(4));
        let rows = snap.rows();
        let recent_max = rows
            .iter()
            .find(|r| r.0 == "tick_work_us" && r.1 == 1.0)
            .unwrap()
            .3;
        assert_eq!(recent_max, 7);
        assert_eq!(snap.samples(Metric::TickWorkUs), 1001);
    }

    #[test]
    fn one_packet_in_eight_is_timed_and_weighs_eight() {
        let snap = Arc::new(LatencySnapshot::default());
        let t0 = Instant::now();
        let mut w = WorkerLatency::new(snap.clone(), t0);
        let mut timed = 0;
        for v in 0..800u64 {
            if w.sample(Metric::PacketUs) {
                timed += 1;
                w.record_sampled(Metric::PacketUs, 10 + v % 3);
            }
        }
        assert_eq!(timed, 800 / SAMPLE_EVERY);
        // Sampling one metric does not advance another's count.
        assert!(!w.sample(Metric::SendDeviationUs));
        w.maybe_publish(t0 + Duration::from_secs(1));
        assert_eq!(snap.samples(Metric::PacketUs), 800);
        let max = snap
            .rows()
            .into_iter()
            .find(|r| r.0 == "packet_us" && r.1 == 1.0)
            .unwrap();
        assert!((10..=12).contains(&max.2), "{max:?}");
    }
}
