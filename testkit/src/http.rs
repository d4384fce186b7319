//! A plain HTTP/1.1 GET on the gateway's API listener (`/healthz`, `/metrics`), bounded in
//! time and size.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one request may take, connect to last byte.
const LIMIT: Duration = Duration::from_secs(10);

/// Largest response read.
const MAX_LEN: u64 = 16 << 20;

/// The whole response (status line, headers, body) of `GET path`; panics on failure.
pub async fn get(addr: SocketAddr, path: &str) -> String {
    try_get(addr, path)
        .await
        .unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"))
}

/// The whole response of `GET path`, or why there is none.
pub async fn try_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut out = String::new();
        s.take(MAX_LEN).read_to_string(&mut out).await?;
        Ok(out)
    };
    tokio::time::timeout(LIMIT, fetch)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// The body of a response (after the blank line); empty when there is none.
pub fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The value of one series (`name` with its labels exactly as rendered, e.g.
/// `mediagw_shed_total{reason="max_calls"}`) in a `/metrics` text; `None` when absent.
pub fn series(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `/metrics` of the gateway listening at `api`, its body only.
pub async fn metrics(api: SocketAddr) -> String {
    body(&get(api, "/metrics").await).to_string()
}

/// The value of `series` on `/metrics` (0 when absent).
pub async fn metric(api: SocketAddr, name: &str) -> f64 {
    series(&metrics(api).await, name).unwrap_or(0.0)
}

/// Waits (up to [`crate::client::WAIT`]) until `series` on `/metrics` satisfies `pred`
/// (the engine's figures are copied out twice a second); returns its last value.
pub async fn wait_metric(api: SocketAddr, name: &str, pred: impl Fn(f64) -> bool) -> f64 {
    let deadline = tokio::time::Instant::now() + crate::client::WAIT;
    loop {
        let v = metric(api, name).await;
        if pred(v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} is still {v} after {:?}",
            crate::client::WAIT
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
