//! Process metrics exposed on `/metrics` in the Prometheus/OpenMetrics text format.
//! Counters are atomics, updated by the engine task and read by the HTTP handler; the
//! engine's own figures (calls by state and direction, setups and failures by cause,
//! requests shed, RTP quality histograms) and the queue depths are copied into an
//! [`EngineSnapshot`] by the engine task about once a second and rendered from it.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub struct Metrics {
    registry: Registry,
    pub sip_in: Counter,
    pub sip_out: Counter,
    pub api_frames: Counter,
    pub api_connections: Gauge,
    pub calls: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("mediagw");
        let sip_in = Counter::default();
        let sip_out = Counter::default();
        let api_frames = Counter::default();
        let api_connections = Gauge::default();
        let calls = Gauge::default();
        registry.register("sip_datagrams_in", "SIP datagrams received", sip_in.clone());
        registry.register("sip_datagrams_out", "SIP datagrams sent", sip_out.clone());
        registry.register("api_frames", "API text frames received", api_frames.clone());
        registry.register(
            "api_connections",
            "Connected API clients",
            api_connections.clone(),
        );
        registry.register("calls", "Live call resources", calls.clone());
        Metrics {
            registry,
            sip_in,
            sip_out,
            api_frames,
            api_connections,
            calls,
        }
    }

    /// The registry in text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The engine's figures and the queue depths at one moment.
#[derive(Debug, Clone, Default)]
pub struct EngineSnapshot {
    pub figures: mediagw_core::engine::figures::Figures,
    /// Live calls by (direction, state).
    pub calls_by_state: Vec<((&'static str, &'static str), u64)>,
    /// API frames queued for the engine task.
    pub engine_queue: usize,
    /// Replies waiting for the media plane.
    pub replies_waiting: usize,
    /// Media commands waiting for room, per worker.
    pub media_backlog: Vec<usize>,
    /// Outgoing frames queued for API connections: the most on one, and in all.
    pub conn_queue_max: usize,
    pub conn_queue_total: usize,
    /// Live calls up for longer than each of [`CALL_AGES`] seconds.
    pub calls_older_than: Vec<(u64, usize)>,
    /// SIP transactions alive.
    pub sip_transactions: usize,
}

/// The ages (s) `mediagw_calls_older_than` is given for.
pub const CALL_AGES: [u64; 3] = [60, 600, 3600];

impl EngineSnapshot {
    /// The snapshot in the Prometheus text format.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let f = &self.figures;
        let mut o = String::new();
        let head = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP mediagw_{name} {help}");
            let _ = writeln!(o, "# TYPE mediagw_{name} {kind}");
        };
        head(
            &mut o,
            "calls_by_state",
            "gauge",
            "Live calls by direction and state.",
        );
        for ((dir, state), n) in &self.calls_by_state {
            let _ = writeln!(
                o,
                "mediagw_calls_by_state{{direction=\"{dir}\",state=\"{state}\"}} {n}"
            );
        }
        head(
            &mut o,
            "call_setups",
            "counter",
            "Calls answered, by direction.",
        );
        for dir in ["inbound", "outbound"] {
            let n = f.setups.get(dir).copied().unwrap_or(0);
            let _ = writeln!(o, "mediagw_call_setups_total{{direction=\"{dir}\"}} {n}");
        }
        head(
            &mut o,
            "call_failures",
            "counter",
            "Calls released without being answered, by direction and SIP cause.",
        );
        for ((dir, cause), n) in &f.failures {
            let _ = writeln!(
                o,
                "mediagw_call_failures_total{{direction=\"{dir}\",cause=\"{cause}\"}} {n}"
            );
        }
        head(
            &mut o,
            "calls_released",
            "counter",
            "Calls released, by direction.",
        );
        for dir in ["inbound", "outbound"] {
            let n = f.released.get(dir).copied().unwrap_or(0);
            let _ = writeln!(o, "mediagw_calls_released_total{{direction=\"{dir}\"}} {n}");
        }
        head(
            &mut o,
            "shed",
            "counter",
            "INVITEs answered 503 and constructs refused for capacity, by reason.",
        );
        for (why, n) in &f.shed {
            let _ = writeln!(o, "mediagw_shed_total{{reason=\"{}\"}} {n}", why.label());
        }
        head(
            &mut o,
            "sip_denied",
            "counter",
            "SIP requests from peers outside sip.allow (rejected or dropped).",
        );
        let _ = writeln!(o, "mediagw_sip_denied_total {}", f.sip_denied);
        head(
            &mut o,
            "panics",
            "counter",
            "Inputs whose handling panicked (the call concerned was released).",
        );
        let _ = writeln!(o, "mediagw_panics_total {}", f.panics);
        for (name, help, h) in [
            (
                "rtp_loss_percent",
                "RTP packets lost per call, percent.",
                &f.rtp_loss_pct,
            ),
            (
                "rtp_jitter_ms",
                "RTP interarrival jitter per call, ms.",
                &f.rtp_jitter_ms,
            ),
            ("call_mos", "Estimated MOS per call (E-model).", &f.mos),
        ] {
            head(&mut o, name, "histogram", help);
            for (le, n) in h.cumulative() {
                let le = if le.is_infinite() {
                    "+Inf".to_string()
                } else {
                    le.to_string()
                };
                let _ = writeln!(o, "mediagw_{name}_bucket{{le=\"{le}\"}} {n}");
            }
            let _ = writeln!(o, "mediagw_{name}_sum {}", h.sum);
            let _ = writeln!(o, "mediagw_{name}_count {}", h.count);
        }
        head(
            &mut o,
            "sip_transactions",
            "gauge",
            "SIP transactions alive (a stateless answer creates none).",
        );
        let _ = writeln!(o, "mediagw_sip_transactions {}", self.sip_transactions);
        head(
            &mut o,
            "calls_older_than",
            "gauge",
            "Live calls up for longer than this many seconds (stuck calls show here).",
        );
        for (secs, n) in &self.calls_older_than {
            let _ = writeln!(o, "mediagw_calls_older_than{{seconds=\"{secs}\"}} {n}");
        }
        head(
            &mut o,
            "queue_depth",
            "gauge",
            "Items waiting in the control plane's queues.",
        );
        let _ = writeln!(
            o,
            "mediagw_queue_depth{{queue=\"engine_input\"}} {}",
            self.engine_queue
        );
        let _ = writeln!(
            o,
            "mediagw_queue_depth{{queue=\"replies_waiting\"}} {}",
            self.replies_waiting
        );
        let _ = writeln!(
            o,
            "mediagw_queue_depth{{queue=\"api_out_max\"}} {}",
            self.conn_queue_max
        );
        let _ = writeln!(
            o,
            "mediagw_queue_depth{{queue=\"api_out_total\"}} {}",
            self.conn_queue_total
        );
        for (w, n) in self.media_backlog.iter().enumerate() {
            let _ = writeln!(
                o,
                "mediagw_queue_depth{{queue=\"media_backlog\",worker=\"{w}\"}} {n}"
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_metrics() {
        let m = Metrics::new();
        m.sip_in.inc();
        m.calls.set(3);
        let text = m.render();
        assert!(text.contains("mediagw_sip_datagrams_in_total 1"), "{text}");
        assert!(text.contains("mediagw_calls 3"), "{text}");
    }

    #[test]
    fn engine_snapshot_renders_counters_and_histograms() {
        let mut snap = EngineSnapshot::default();
        snap.figures.sip_denied = 4;
        snap.figures
            .shed(mediagw_core::engine::figures::Shed::MaxCalls);
        snap.figures.rtp_jitter_ms.observe(3.0);
        snap.calls_by_state = vec![(("inbound", "Idle"), 2)];
        snap.media_backlog = vec![0, 5];
        let text = snap.render();
        for want in [
            "mediagw_sip_denied_total 4",
            "mediagw_shed_total{reason=\"max_calls\"} 1",
            "mediagw_calls_by_state{direction=\"inbound\",state=\"Idle\"} 2",
            "mediagw_rtp_jitter_ms_bucket{le=\"5\"} 1",
            "mediagw_rtp_jitter_ms_bucket{le=\"+Inf\"} 1",
            "mediagw_rtp_jitter_ms_count 1",
            "mediagw_queue_depth{queue=\"media_backlog\",worker=\"1\"} 5",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
    }
}
