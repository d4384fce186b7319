//! Ramp logic: grow the channel count step by step until a step fails, then bisect
//! once between the last pass and the first failure. A step passes with zero loss, zero
//! late frames and every digit right. Each step's figures are kept for the report.

use hdrhistogram::Histogram;

/// The gateway's own figures at the end of a step: its workers' histograms over the
/// last 2 s (from `/metrics`, worst worker) and its memory per channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct GatewayFigures {
    /// Send-time deviation from the 20 ms grid, p99.9, µs.
    pub send_dev_p999_us: u64,
    /// Work per worker tick, p99.9, µs.
    pub tick_work_p999_us: u64,
    /// Handling of one received packet, p99, µs.
    pub packet_p99_us: u64,
    /// Resident memory added per channel since before the first call, KiB.
    pub rss_per_channel_kib: f64,
}

/// One measured step.
#[derive(Clone, Debug)]
pub struct Step {
    /// Channels streaming.
    pub n: u32,
    /// Packets received / lost / reordered / late.
    pub received: u64,
    /// Lost packets.
    pub lost: u64,
    /// Reordered packets.
    pub reordered: u64,
    /// Late frames.
    pub late: u64,
    /// Channels that received nothing.
    pub dead: u32,
    /// Digits sent / right.
    pub digits_sent: u32,
    /// Digit strings that matched.
    pub digits_ok: u32,
    /// Deviation percentiles (µs): p50, p99, p99.9, max.
    pub dev: [u64; 4],
    /// Round trip percentiles (µs), echo only.
    pub rtt: [u64; 4],
    /// Generator send lateness (µs) p99.9.
    pub gen_late_p999: u64,
    /// Calls wanted but not established (gateway only).
    pub setup_missing: u32,
    /// INVITE to 200 OK of the calls this step added (µs): p50, p99, p99.9, max.
    pub setup_us: [u64; 4],
    /// The gateway's figures (gateway runs only).
    pub gateway: Option<GatewayFigures>,
    /// Why it failed, empty when it passed.
    pub fail: String,
}

impl Step {
    /// Did the step hold?
    pub fn pass(&self) -> bool {
        self.fail.is_empty()
    }

    /// A failure worth a second window: so small (under 0.1 % of the packets late or
    /// lost, under 1 % of the digit strings wrong) that a passing disturbance of a shared
    /// machine may explain it. A gross failure is final.
    pub fn marginal(&self) -> bool {
        let bad = self.lost + self.late;
        !self.pass()
            && bad * 1000 <= self.received.max(1)
            && u64::from(self.digits_sent - self.digits_ok.min(self.digits_sent)) * 100
                <= u64::from(self.digits_sent.max(1))
    }
}

/// p50, p99, p99.9, max of a histogram.
pub fn pct(h: &Histogram<u64>) -> [u64; 4] {
    if h.is_empty() {
        return [0; 4];
    }
    [
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
    ]
}

/// The next channel count to try, or `None` when the ramp is done.
/// `steps` holds the steps so far in order; `growth` > 1.
pub fn next_n(steps: &[Step], start: u32, growth: f64, max_n: u32, bisects: u32) -> Option<u32> {
    let Some(last) = steps.last() else {
        return Some(start);
    };
    let best_pass = steps.iter().filter(|s| s.pass()).map(|s| s.n).max();
    let first_fail = steps.iter().filter(|s| !s.pass()).map(|s| s.n).min();
    match first_fail {
        None => {
            if last.n >= max_n {
                return None;
            }
            Some(((f64::from(last.n) * growth) as u32).clamp(last.n + 1, max_n))
        }
        Some(f) => {
            let fails = steps.iter().filter(|s| !s.pass()).count() as u32;
            if fails > bisects {
                return None;
            }
            let lo = best_pass.filter(|&p| p < f).unwrap_or(0);
            let mid = lo + (f - lo) / 2;
            // Stop when the interval is within 5 %.
            if f - lo <= (f / 20).max(1) || steps.iter().any(|s| s.n == mid) {
                return None;
            }
            Some(mid)
        }
    }
}

/// The largest channel count that held.
pub fn held(steps: &[Step]) -> u32 {
    let first_fail = steps
        .iter()
        .filter(|s| !s.pass())
        .map(|s| s.n)
        .min()
        .unwrap_or(u32::MAX);
    steps
        .iter()
        .filter(|s| s.pass() && s.n < first_fail)
        .map(|s| s.n)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(n: u32, ok: bool) -> Step {
        Step {
            n,
            received: 0,
            lost: 0,
            reordered: 0,
            late: 0,
            dead: 0,
            digits_sent: 0,
            digits_ok: 0,
            dev: [0; 4],
            rtt: [0; 4],
            gen_late_p999: 0,
            setup_missing: 0,
            setup_us: [0; 4],
            gateway: None,
            fail: if ok { String::new() } else { "loss".into() },
        }
    }

    #[test]
    fn grows_then_bisects_then_stops() {
        let mut s = vec![];
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 2), Some(100));
        s.push(st(100, true));
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 2), Some(200));
        s.push(st(200, true));
        s.push(st(400, false));
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 2), Some(300));
        s.push(st(300, true));
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 2), Some(350));
        s.push(st(350, false));
        assert_eq!(held(&s), 300);
        s.push(st(325, false));
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 2), None);
    }

    #[test]
    fn only_small_failures_are_marginal() {
        let mut s = st(100, false);
        s.received = 100_000;
        s.late = 50;
        assert!(s.marginal());
        s.late = 500;
        assert!(!s.marginal());
        s.late = 0;
        s.digits_sent = 100;
        s.digits_ok = 95;
        assert!(!s.marginal());
        assert!(!st(100, true).marginal(), "a pass is not a failure");
    }

    #[test]
    fn stops_at_max() {
        let s = vec![st(100, true)];
        assert_eq!(next_n(&s, 100, 2.0, 100, 2), None);
        assert_eq!(held(&s), 100);
    }
}
