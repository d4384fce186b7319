//! The media workers' figures for `/metrics`: which core and IO engine each worker
//! runs on and its published latency quantiles, rendered in the Prometheus text format.

use std::sync::Arc;

/// Per-worker figures readable from any thread (for `/metrics`).
#[derive(Debug)]
pub struct WorkerFigures {
    /// The core each worker is pinned to.
    pub cores: Vec<Option<usize>>,
    /// The IO engine each worker runs on.
    pub backends: Vec<crate::worker::Backend>,
    /// Each worker's published latency quantiles.
    pub latency: Vec<Arc<super::latency::LatencySnapshot>>,
}

impl WorkerFigures {
    fn core_label(&self, worker: usize) -> String {
        self.cores
            .get(worker)
            .copied()
            .flatten()
            .map_or("none".to_string(), |c| c.to_string())
    }

    /// The figures in the Prometheus text format, one series per worker and core.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let rows: Vec<_> = self.latency.iter().map(|s| s.rows()).collect();
        let _ = writeln!(
            out,
            "# HELP mediagw_worker_backend The IO engine of each media worker (1 = in use)."
        );
        let _ = writeln!(out, "# TYPE mediagw_worker_backend gauge");
        for (i, b) in self.backends.iter().enumerate() {
            let name = b.name();
            let _ = writeln!(
                out,
                "mediagw_worker_backend{{worker=\"{i}\",core=\"{}\",backend=\"{name}\"}} 1",
                self.core_label(i)
            );
        }
        for name in super::latency::METRIC_NAMES {
            let _ = writeln!(out, "# TYPE mediagw_worker_{name} gauge");
            for (i, worker_rows) in rows.iter().enumerate() {
                let core = self.core_label(i);
                for (_, q, total, recent) in worker_rows.iter().filter(|r| r.0 == name) {
                    let _ = writeln!(
                        out,
                        "mediagw_worker_{name}{{worker=\"{i}\",core=\"{core}\",quantile=\"{q}\",window=\"total\"}} {total}"
                    );
                    let _ = writeln!(
                        out,
                        "mediagw_worker_{name}{{worker=\"{i}\",core=\"{core}\",quantile=\"{q}\",window=\"2s\"}} {recent}"
                    );
                }
            }
        }
        out
    }
}
