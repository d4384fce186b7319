//! Process metrics exposed on `/metrics` in the Prometheus/OpenMetrics text format.
//! Counters are atomics, updated by the engine task and read by the HTTP handler.

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
}
