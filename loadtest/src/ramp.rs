//! Ramp logic: grow the channel count step by step until a step fails, then bisect
//! between the largest count that held and the smallest that failed until the two are
//! within the run's precision (3 %). A step passes with zero loss, zero late frames and
//! every digit right, the generator on time. A failure where the generator itself fell
//! behind its deadlines is named as such ([`Limit::Generator`]): it bounds what was
//! measured, not the target. Each step's figures are kept for the report; with repeats
//! ([`combine`]) a step is the majority of its windows and carries their spread.

use hdrhistogram::Histogram;

use crate::cpu::CpuUse;
use crate::stream::WindowStats;

/// Most steps a ramp takes (a bound, whatever the noise does to the bisection).
pub const MAX_STEPS: usize = 18;
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

/// The spread of a step's repeated windows (`full`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spread {
    /// Windows measured.
    pub windows: usize,
    /// Windows that held.
    pub passed: usize,
    /// Arrival deviation p99.9, µs: lowest and highest window.
    pub dev999: (u64, u64),
    /// The generator's send deviation p99.9, µs: lowest and highest.
    pub gen999: (u64, u64),
    /// Lost + late packets: lowest and highest.
    pub bad: (u64, u64),
}

/// One measured step.
#[derive(Clone, Debug)]
pub struct Step {
    /// Channels streaming.
    pub n: u32,
    /// Packets received.
    pub received: u64,
    /// Packets sent by the generator.
    pub sent: u64,
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
    /// The generator's send deviation (µs) p99.9.
    pub gen_late_p999: u64,
    /// The target's thread over the window.
    pub target_cpu: Option<CpuUse>,
    /// The generator's thread over the window.
    pub gen_cpu: Option<CpuUse>,
    /// Failed with the generator itself behind its deadlines.
    pub gen_bound: bool,
    /// Calls wanted but not established (gateway only).
    pub setup_missing: u32,
    /// INVITE to 200 OK of the calls this step added (µs): p50, p99, p99.9, max.
    pub setup_us: [u64; 4],
    /// The gateway's figures (gateway runs only).
    pub gateway: Option<GatewayFigures>,
    /// Spread over repeated windows (`full`).
    pub spread: Option<Spread>,
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
    /// machine may explain it, or one where the generator itself fell behind (the target
    /// was not measured). A gross failure of the target is final.
    pub fn retry_worthy(&self) -> bool {
        let bad = self.lost + self.late;
        !self.pass()
            && (self.gen_bound
                || (bad * 1000 <= self.received.max(1)
                    && u64::from(self.digits_sent - self.digits_ok.min(self.digits_sent)) * 100
                        <= u64::from(self.digits_sent.max(1))))
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

/// Are `lo` (held) and `hi` (failed) within `precision` (a fraction of `lo`)?
pub fn within(lo: u32, hi: u32, precision: f64) -> bool {
    let tol = ((f64::from(lo) * precision).floor() as u32).max(1);
    hi.saturating_sub(lo) <= tol
}

/// The next channel count to try, or `None` when the ramp is done: ×`growth` from
/// `start` until a failure (or `max_n`), then the middle of the bracket until it is
/// within `precision`; at most [`MAX_STEPS`].
pub fn next_n(steps: &[Step], start: u32, growth: f64, max_n: u32, precision: f64) -> Option<u32> {
    let Some(last) = steps.last() else {
        return Some(start);
    };
    if steps.len() >= MAX_STEPS {
        return None;
    }
    match bracket(steps) {
        None => {
            if last.n >= max_n {
                return None;
            }
            Some(((f64::from(last.n) * growth) as u32).clamp(last.n + 1, max_n))
        }
        Some((lo, hi)) => {
            if within(lo, hi, precision) {
                return None;
            }
            let mid = lo + (hi - lo) / 2;
            if steps.iter().any(|s| s.n == mid) {
                return None;
            }
            Some(mid)
        }
    }
}

/// The bracket after a failure: (largest count that held below the smallest failure
/// or 0, that failure).
pub fn bracket(steps: &[Step]) -> Option<(u32, u32)> {
    let hi = steps.iter().filter(|s| !s.pass()).map(|s| s.n).min()?;
    Some((held(steps), hi))
}

/// The largest channel count that held (below the smallest failure).
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

/// What bounded a ramp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The target failed at `failed_at` with the generator on time.
    Target { held: u32, failed_at: u32 },
    /// At `failed_at` the generator itself fell behind: `held` is where the generator
    /// stopped keeping up, not the target's limit.
    Generator { held: u32, failed_at: u32 },
    /// Held up to the ramp's maximum.
    Max { held: u32 },
    /// Stopped (time budget) before any failure.
    Unfinished { held: u32 },
}

impl Limit {
    /// What the ramp found.
    pub fn of(steps: &[Step], max_n: u32) -> Limit {
        let held = held(steps);
        match steps.iter().filter(|s| !s.pass()).min_by_key(|s| s.n) {
            Some(f) if f.gen_bound => Limit::Generator {
                held,
                failed_at: f.n,
            },
            Some(f) => Limit::Target {
                held,
                failed_at: f.n,
            },
            None if held >= max_n => Limit::Max { held },
            None => Limit::Unfinished { held },
        }
    }

    /// Channels held.
    pub fn held(&self) -> u32 {
        match *self {
            Limit::Target { held, .. }
            | Limit::Generator { held, .. }
            | Limit::Max { held }
            | Limit::Unfinished { held } => held,
        }
    }

    /// Is this the generator's limit?
    pub fn generator_bound(&self) -> bool {
        matches!(self, Limit::Generator { .. })
    }

    /// The bracket's width as a share of what held, when there is a failure above it.
    pub fn bracket_pct(&self) -> Option<f64> {
        match *self {
            Limit::Target { held, failed_at } | Limit::Generator { held, failed_at }
                if held > 0 =>
            {
                Some(100.0 * f64::from(failed_at - held) / f64::from(held))
            }
            _ => None,
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        let br = self
            .bracket_pct()
            .map(|p| format!(", bracket {p:.1}%"))
            .unwrap_or_default();
        match *self {
            Limit::Target { held, failed_at } => {
                format!("held {held} (the target failed at {failed_at}{br})")
            }
            Limit::Generator { held, failed_at } => format!(
                "generator-bound at {held} (the generator fell behind its deadlines at {failed_at}{br}): the generator's limit, not the target's"
            ),
            Limit::Max { held } => format!("held {held}, the ramp's maximum"),
            Limit::Unfinished { held } => {
                format!("held {held}; the time budget ended the ramp before a failure")
            }
        }
    }
}

/// The generator is behind when its own send deviation p99.9 exceeds half the late
/// threshold: its jitter alone could then push frames past it.
pub fn generator_behind(gen_late_p999_us: u64, late_ms: u64) -> bool {
    gen_late_p999_us > late_ms * 1000 / 2
}

/// The step of `n` channels a measurement window shows: failed when anything was lost,
/// late (more than `late_ms` off the grid) or silent, or when the generator itself was
/// later than `late_ms`; a failure with the generator behind is marked `gen_bound`.
pub fn step_from(n: u32, w: &WindowStats, late_ms: u64) -> Step {
    let mut s = Step {
        n,
        received: w.received,
        sent: w.sent,
        lost: w.lost,
        reordered: w.reordered,
        late: w.late,
        dead: w.dead,
        digits_sent: 0,
        digits_ok: 0,
        dev: pct(&w.deviation_us),
        rtt: pct(&w.rtt_us),
        gen_late_p999: pct(&w.gen_late_us)[2],
        target_cpu: w.target_cpu,
        gen_cpu: w.gen_cpu,
        gen_bound: false,
        setup_missing: 0,
        setup_us: [0; 4],
        gateway: None,
        spread: None,
        fail: String::new(),
    };
    let mut why = Vec::new();
    if w.lost > 0 {
        why.push(format!("{} lost", w.lost));
    }
    if w.late > 0 {
        why.push(format!("{} late (> {late_ms} ms)", w.late));
    }
    if w.dead > 0 {
        why.push(format!("{} silent channels", w.dead));
    }
    if s.gen_late_p999 > late_ms * 1000 {
        why.push("generator itself late".to_string());
    }
    if !why.is_empty() && generator_behind(s.gen_late_p999, late_ms) {
        s.gen_bound = true;
        let cpu = s
            .gen_cpu
            .map(|c| {
                format!(
                    "; its thread on a CPU {:.0}%, waiting for one {:.0}%",
                    100.0 * c.busy(),
                    100.0 * c.waited()
                )
            })
            .unwrap_or_default();
        why.push(format!(
            "generator behind (its send deviation p99.9 {} µs{cpu})",
            s.gen_late_p999
        ));
    }
    s.fail = why.join(", ");
    s
}

/// One step from repeated windows of the same count: the majority verdict, the figures
/// of the median window (by deviation p99.9) among those with that verdict, and the
/// spread of all.
pub fn combine(mut windows: Vec<Step>) -> Option<Step> {
    if windows.len() <= 1 {
        return windows.pop();
    }
    let total = windows.len();
    let passed = windows.iter().filter(|s| s.pass()).count();
    let majority = passed * 2 > total;
    let range = |f: &dyn Fn(&Step) -> u64| {
        let v = windows.iter().map(f);
        (v.clone().min().unwrap_or(0), v.max().unwrap_or(0))
    };
    let spread = Spread {
        windows: total,
        passed,
        dev999: range(&|s| s.dev[2]),
        gen999: range(&|s| s.gen_late_p999),
        bad: range(&|s| s.lost + s.late),
    };
    let mut pick: Vec<Step> = windows
        .into_iter()
        .filter(|s| s.pass() == majority)
        .collect();
    pick.sort_by_key(|s| s.dev[2]);
    let mut rep = pick.swap_remove(pick.len() / 2);
    rep.spread = Some(spread);
    if !majority {
        rep.fail = format!(
            "{} ({} of {total} windows failed)",
            rep.fail,
            total - passed
        );
    }
    Some(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(n: u32, ok: bool) -> Step {
        Step {
            n,
            received: 100_000,
            sent: 100_000,
            lost: 0,
            reordered: 0,
            late: 0,
            dead: 0,
            digits_sent: 0,
            digits_ok: 0,
            dev: [0; 4],
            rtt: [0; 4],
            gen_late_p999: 0,
            target_cpu: None,
            gen_cpu: None,
            gen_bound: false,
            setup_missing: 0,
            setup_us: [0; 4],
            gateway: None,
            spread: None,
            fail: if ok { String::new() } else { "loss".into() },
        }
    }

    /// Runs a ramp against a target that holds up to `limit` channels; returns the steps.
    fn ramp(start: u32, growth: f64, max_n: u32, limit: u32) -> Vec<Step> {
        let mut s = Vec::new();
        while let Some(n) = next_n(&s, start, growth, max_n, 0.03) {
            s.push(st(n, n <= limit));
        }
        s
    }

    #[test]
    fn grows_then_bisects_to_within_three_percent() {
        let mut s = vec![];
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 0.03), Some(100));
        s.push(st(100, true));
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 0.03), Some(200));
        s.push(st(200, true));
        s.push(st(400, false));
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 0.03), Some(300));
        s.push(st(300, true));
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 0.03), Some(350));
        s.push(st(350, false));
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 0.03), Some(325));
        s.push(st(325, false));
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 0.03), Some(312));
        s.push(st(312, true));
        // 325 - 312 = 13 > 3 % of 312 (9): once more.
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 0.03), Some(318));
        s.push(st(318, true));
        // 325 - 318 = 7 <= 9: done.
        assert_eq!(next_n(&s, 100, 2.0, 10_000, 0.03), None);
        assert_eq!(held(&s), 318);
        assert_eq!(bracket(&s), Some((318, 325)));
    }

    #[test]
    fn every_limit_is_bracketed_within_three_percent() {
        // The quick preset's grid against limits all over the range.
        for limit in [
            260, 449, 451, 1000, 1458, 2186, 2623, 2625, 3700, 5000, 9999,
        ] {
            let s = ramp(250, 1.8, 12_000, limit);
            let (lo, hi) = bracket(&s).expect("a failure");
            assert!(
                lo <= limit && hi > limit,
                "limit {limit}: bracket {lo}..{hi}"
            );
            assert!(within(lo, hi, 0.03), "limit {limit}: bracket {lo}..{hi}");
            assert!(s.len() <= 12, "limit {limit}: {} steps", s.len());
        }
    }

    #[test]
    fn a_first_failure_bisects_down() {
        let s = ramp(250, 1.8, 12_000, 100);
        let (lo, hi) = bracket(&s).expect("a failure");
        assert!(lo <= 100 && hi > 100 && within(lo, hi, 0.03), "{lo}..{hi}");
        // Nothing holds at all: the ramp ends, bounded.
        let s = ramp(250, 1.8, 12_000, 0);
        assert!(s.len() <= MAX_STEPS);
        assert_eq!(held(&s), 0);
    }

    #[test]
    fn within_is_relative_to_what_held() {
        assert!(within(1000, 1030, 0.03));
        assert!(!within(1000, 1031, 0.03));
        assert!(within(10, 11, 0.03), "one channel apart is always within");
        assert!(!within(0, 2, 0.03));
    }

    #[test]
    fn limits_are_named() {
        let mut s = vec![st(250, true), st(450, true), st(810, false)];
        assert_eq!(
            Limit::of(&s, 12_000),
            Limit::Target {
                held: 450,
                failed_at: 810
            }
        );
        s[2].gen_bound = true;
        let l = Limit::of(&s, 12_000);
        assert!(l.generator_bound());
        assert!(
            l.describe().starts_with("generator-bound at 450"),
            "{}",
            l.describe()
        );
        // A higher generator failure does not name the limit: the lowest failure does.
        s[2].gen_bound = false;
        let mut hi = st(1458, false);
        hi.gen_bound = true;
        s.push(hi);
        assert!(!Limit::of(&s, 12_000).generator_bound());
        assert_eq!(Limit::of(&[st(100, true)], 100), Limit::Max { held: 100 });
        assert_eq!(
            Limit::of(&[st(100, true)], 1000),
            Limit::Unfinished { held: 100 }
        );
        let p = Limit::Target {
            held: 1000,
            failed_at: 1025,
        }
        .bracket_pct()
        .expect("bracket");
        assert!((p - 2.5).abs() < 1e-9);
    }

    fn window(lost: u64, late: u64, gen_late_us: u64) -> WindowStats {
        let h = || Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds");
        let mut g = h();
        g.record(gen_late_us.max(1)).expect("record");
        WindowStats {
            sent: 1000,
            received: 1000 - lost,
            lost,
            reordered: 0,
            late,
            dead: 0,
            grid_expected: 1000,
            grid_lost: lost,
            voice: Default::default(),
            deviation_us: h(),
            rtt_us: h(),
            gen_late_us: g,
            target_cpu: None,
            gen_cpu: None,
            per_chan: Vec::new(),
        }
    }

    #[test]
    fn generator_behind_names_the_failure() {
        // The target late with the generator on time: the target's failure.
        let s = step_from(100, &window(0, 5, 300), 20);
        assert!(!s.pass() && !s.gen_bound, "{}", s.fail);
        // Late frames with the generator 15 ms behind: the generator's.
        let s = step_from(100, &window(0, 5, 15_000), 20);
        assert!(!s.pass() && s.gen_bound, "{}", s.fail);
        assert!(s.fail.contains("generator behind"), "{}", s.fail);
        assert!(s.retry_worthy(), "a generator failure is measured again");
        // The generator behind but nothing wrong with the target's output: a pass.
        assert!(step_from(100, &window(0, 0, 15_000), 20).pass());
        // Later than the threshold itself: a failure, the generator's.
        let s = step_from(100, &window(0, 0, 25_000), 20);
        assert!(!s.pass() && s.gen_bound);
    }

    #[test]
    fn only_small_failures_are_retried() {
        let mut s = st(100, false);
        s.late = 50;
        assert!(s.retry_worthy());
        s.late = 500;
        assert!(!s.retry_worthy());
        s.late = 0;
        s.digits_sent = 100;
        s.digits_ok = 95;
        assert!(!s.retry_worthy());
        assert!(!st(100, true).retry_worthy(), "a pass is not a failure");
    }

    #[test]
    fn stops_at_max() {
        let s = vec![st(100, true)];
        assert_eq!(next_n(&s, 100, 2.0, 100, 0.03), None);
        assert_eq!(held(&s), 100);
    }

    #[test]
    fn repeats_take_the_majority_and_keep_the_spread() {
        let mut a = st(500, true);
        a.dev[2] = 100;
        let mut b = st(500, true);
        b.dev[2] = 300;
        let mut c = st(500, false);
        c.dev[2] = 9000;
        c.late = 7;
        let s = combine(vec![a.clone(), c.clone(), b.clone()]).expect("step");
        assert!(s.pass());
        let sp = s.spread.expect("spread");
        assert_eq!((sp.windows, sp.passed), (3, 2));
        assert_eq!(sp.dev999, (100, 9000));
        assert_eq!(sp.bad, (0, 7));
        let mut d = c.clone();
        d.dev[2] = 8000;
        let s = combine(vec![a, c, d]).expect("step");
        assert!(!s.pass());
        assert!(s.fail.ends_with("(2 of 3 windows failed)"), "{}", s.fail);
        assert_eq!(combine(vec![b.clone()]).map(|s| s.spread), Some(None));
        assert!(combine(Vec::new()).is_none());
    }
}
