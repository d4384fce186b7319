//! What the engine counts for `/metrics`, as plain numbers the driver copies out and
//! renders: SIP requests denied by `sip.allow`, requests shed for capacity (by reason),
//! calls set up and calls failed (by direction and SIP cause), and the RTP quality of
//! closed calls as histograms (loss, jitter, estimated MOS). Calls by state and direction
//! are counted on demand ([`super::Gateway::calls_by_state`]).

use std::collections::BTreeMap;

/// Why an INVITE got 503, or a `construct` -32004/-32005, before any resource existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shed {
    /// `sip.max_calls` reached.
    MaxCalls,
    /// A `[[gateways]]` entry's `max_concurrent` reached.
    Gateway,
    /// No free port in `media.rtp_ports`.
    RtpPorts,
    /// The media worker's queue was full.
    WorkerBusy,
    /// The gateway is draining (SIGTERM).
    Draining,
    /// `sip.max_invites_per_second_per_source` exceeded.
    RateLimit,
}

impl Shed {
    /// The label value on `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Shed::MaxCalls => "max_calls",
            Shed::Gateway => "gateway_max_concurrent",
            Shed::RtpPorts => "rtp_ports",
            Shed::WorkerBusy => "worker_busy",
            Shed::Draining => "draining",
            Shed::RateLimit => "rate_limit",
        }
    }
}

/// A cumulative histogram with fixed upper bounds (Prometheus style: each count includes
/// everything at or below its bound; the last bound is +Inf).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub bounds: &'static [f64],
    /// Observations per bucket (not cumulative; one more than `bounds`: the +Inf bucket).
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    /// `(upper bound, cumulative count)` per bucket, +Inf last.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut acc = 0;
        self.counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                acc += c;
                (self.bounds.get(i).copied().unwrap_or(f64::INFINITY), acc)
            })
            .collect()
    }
}

/// Loss per call, percent of the packets expected.
pub const LOSS_PCT_BOUNDS: &[f64] = &[0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0];
/// Interarrival jitter per call, ms.
pub const JITTER_MS_BOUNDS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0];
/// Estimated MOS per call.
pub const MOS_BOUNDS: &[f64] = &[1.5, 2.0, 2.5, 3.0, 3.5, 3.8, 4.0, 4.2, 4.4];

/// The engine's counters since start.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// SIP requests from peers outside `sip.allow` (rejected or dropped).
    pub sip_denied: u64,
    /// Requests refused for capacity, by reason.
    pub shed: BTreeMap<Shed, u64>,
    /// Calls answered, by direction (`inbound`, `outbound`).
    pub setups: BTreeMap<&'static str, u64>,
    /// Calls released without having been answered, by direction and SIP cause.
    pub failures: BTreeMap<(&'static str, u16), u64>,
    /// Calls released, by direction.
    pub released: BTreeMap<&'static str, u64>,
    /// RTP of closed calls that received any.
    pub rtp_loss_pct: Histogram,
    pub rtp_jitter_ms: Histogram,
    pub mos: Histogram,
    /// Panics contained: engine inputs whose handling panicked, and calls whose media a
    /// worker closed after a panic (each call concerned was released with cause 500).
    pub panics: u64,
}

impl Default for Figures {
    fn default() -> Self {
        Figures {
            sip_denied: 0,
            shed: BTreeMap::new(),
            setups: BTreeMap::new(),
            failures: BTreeMap::new(),
            released: BTreeMap::new(),
            rtp_loss_pct: Histogram::new(LOSS_PCT_BOUNDS),
            rtp_jitter_ms: Histogram::new(JITTER_MS_BOUNDS),
            mos: Histogram::new(MOS_BOUNDS),
            panics: 0,
        }
    }
}

impl Figures {
    pub fn shed(&mut self, why: Shed) {
        *self.shed.entry(why).or_default() += 1;
    }

    /// A call was answered.
    pub fn count_setup(&mut self, dir: crate::call::state::CallDirection) {
        *self.setups.entry(dir.as_str()).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_with_inf_last() {
        let mut h = Histogram::new(&[1.0, 5.0]);
        for v in [0.5, 1.0, 3.0, 7.0, 100.0] {
            h.observe(v);
        }
        assert_eq!(h.cumulative(), vec![(1.0, 2), (5.0, 3), (f64::INFINITY, 5)]);
        assert_eq!(h.count, 5);
        assert!((h.sum - 111.5).abs() < 1e-9);
    }
}
