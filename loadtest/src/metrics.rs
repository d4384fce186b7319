//! Reading the gateway's `/metrics` text: its per-core worker lines and the worst
//! worker's figures.

use std::net::SocketAddr;

/// The gateway's `/metrics` body; empty on any failure (bounded in time).
pub async fn fetch(api: SocketAddr) -> String {
    mediagw_testkit::http::try_get(api, "/metrics")
        .await
        .map(|r| mediagw_testkit::http::body(&r).to_string())
        .unwrap_or_default()
}

/// The per-core worker lines (`mediagw_worker_*` with a `core` label) of a metrics text.
pub fn worker_lines(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("mediagw_worker_") && l.contains("core=\""))
        .map(str::to_string)
        .collect()
}

/// The largest value over the workers of `mediagw_worker_{name}` at `quantile` in the
/// last 2 s window; 0 when absent.
pub fn worst(metrics: &str, name: &str, quantile: &str) -> u64 {
    let prefix = format!("mediagw_worker_{name}{{");
    let q = format!("quantile=\"{quantile}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(&q) && l.contains("window=\"2s\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
mediagw_worker_tick_work_us{core=\"0\",quantile=\"0.999\",window=\"2s\"} 120
mediagw_worker_tick_work_us{core=\"1\",quantile=\"0.999\",window=\"2s\"} 340
mediagw_worker_tick_work_us{core=\"1\",quantile=\"0.999\",window=\"60s\"} 9999
mediagw_worker_tick_work_us{core=\"1\",quantile=\"0.5\",window=\"2s\"} 800
mediagw_calls 3
";

    #[test]
    fn worst_worker_of_the_2s_window_at_the_quantile() {
        assert_eq!(worst(TEXT, "tick_work_us", "0.999"), 340);
        assert_eq!(worst(TEXT, "packet_us", "0.99"), 0);
        assert_eq!(worker_lines(TEXT).len(), 4);
    }
}
