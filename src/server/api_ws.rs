//! The HTTP edge of the API: the JSON-RPC WebSocket at `/rpc` (token check, the
//! `incoming` opt-out), `/healthz` and `/metrics`. Each connection parses its own
//! frames and hands them to the engine task; what the engine sends back (responses
//! and events, in order) is written by the connection's writer half.
//!
//! Liveness: the writer pings every [`PING_EVERY`]; a connection from which no complete
//! frame (a pong, or anything else) arrives for [`FRAME_DEADLINE`] is closed. That one
//! rule closes a half-open peer (gone without a FIN: no pongs) and a client stalled in
//! the middle of a frame (its pong cannot get past the unfinished frame), and the log
//! line says which of the two it looked like. WebSocket pings are chosen over TCP
//! keepalive: they prove the peer's application reads, pass through proxies, and are
//! bounded by our clock rather than by kernel settings.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::EngineInput;
use super::api_conn::ConnInfo;
use crate::api::jsonrpc;
use crate::engine::clients::ConnId;

/// Outgoing text frames queued per connection; a client that falls this far behind
/// is disconnected (its resources live on and hold their events).
pub const CONN_QUEUE: usize = 8192;

/// How often the gateway pings each WebSocket client.
pub const PING_EVERY: Duration = Duration::from_secs(10);

/// A WebSocket connection is closed when no complete frame arrived for this long.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(30);

/// State shared by the HTTP handlers.
#[derive(Clone)]
pub struct ApiState {
    pub engine: mpsc::Sender<EngineInput>,
    /// Connection writers still running (the gateway waits for them when it stops).
    pub writers: Arc<std::sync::atomic::AtomicUsize>,
    pub token: Option<String>,
    pub draining: Arc<AtomicBool>,
    pub next_conn: Arc<AtomicU64>,
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/rpc", get(rpc_upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz(State(st): State<ApiState>) -> Response {
    if st.draining.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

async fn metrics(State(st): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        (st.metrics)(),
    )
        .into_response()
}

fn authorized(st: &ApiState, headers: &HeaderMap, query: &HashMap<String, String>) -> bool {
    let Some(token) = &st.token else {
        return true;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let given = bearer.or(query.get("token").map(String::as_str));
    given.is_some_and(|g| token_matches(g, token))
}

/// Constant time in the bytes compared (`subtle`); only the length may show.
fn token_matches(given: &str, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.as_bytes().ct_eq(token.as_bytes()).into()
}

async fn rpc_upgrade(
    State(st): State<ApiState>,
    Extension(info): Extension<ConnInfo>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    if !authorized(&st, &headers, &query) {
        // Never the token given, nor the one expected.
        tracing::warn!(
            "API connection from {} refused with 401: missing or wrong API token",
            info.peer
        );
        return (StatusCode::UNAUTHORIZED, "missing or wrong API token\n").into_response();
    }
    let incoming = query.get("incoming").map(String::as_str) != Some("false");
    ws.on_upgrade(move |socket| serve_connection(st, info, socket, incoming))
}

/// Counts a connection's writer as running until dropped (ended or aborted).
struct WriterRunning(Arc<std::sync::atomic::AtomicUsize>);

impl WriterRunning {
    fn new(count: &Arc<std::sync::atomic::AtomicUsize>) -> WriterRunning {
        count.fetch_add(1, Ordering::Relaxed);
        WriterRunning(count.clone())
    }
}

impl Drop for WriterRunning {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a WebSocket connection ended.
enum Close {
    ByClient,
    ReadError(String),
    Stalled,
    Silent,
    EngineGone,
}

async fn serve_connection(st: ApiState, info: ConnInfo, socket: WebSocket, accepts_incoming: bool) {
    let conn: ConnId = st.next_conn.fetch_add(1, Ordering::Relaxed);
    let peer = info.peer;
    let (tx, mut rx) = mpsc::channel::<String>(CONN_QUEUE);
    if st
        .engine
        .send(EngineInput::Connect {
            conn,
            accepts_incoming,
            tx,
        })
        .await
        .is_err()
    {
        return;
    }
    tracing::info!("API connection {conn} from {peer} open");
    let (mut sink, mut stream) = socket.split();
    let running = WriterRunning::new(&st.writers);
    let writer = tokio::spawn(async move {
        let _running = running;
        let start = tokio::time::Instant::now() + PING_EVERY;
        let mut ping = tokio::time::interval_at(start, PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let msg = tokio::select! {
                text = rx.recv() => match text {
                    Some(text) => Message::Text(text.into()),
                    None => break,
                },
                _ = ping.tick() => Message::Ping(Default::default()),
            };
            if sink.send(msg).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut last_frame = tokio::time::Instant::now();
    let mut read_at_last_frame = info.read.load(Ordering::Relaxed);
    let why = loop {
        let next = tokio::select! {
            m = stream.next() => m,
            _ = tokio::time::sleep_until(last_frame + FRAME_DEADLINE) => {
                // Bytes since the last whole frame: a frame was begun and not finished.
                break if info.read.load(Ordering::Relaxed) > read_at_last_frame {
                    Close::Stalled
                } else {
                    Close::Silent
                };
            }
        };
        last_frame = tokio::time::Instant::now();
        read_at_last_frame = info.read.load(Ordering::Relaxed);
        let text = match next {
            Some(Ok(Message::Text(t))) => t.to_string(),
            Some(Ok(Message::Binary(b))) => match String::from_utf8(b.to_vec()) {
                Ok(t) => t,
                Err(_) => continue,
            },
            Some(Ok(Message::Close(_))) | None => break Close::ByClient,
            Some(Err(e)) => break Close::ReadError(e.to_string()),
            Some(Ok(_)) => continue,
        };
        let frame = jsonrpc::parse_frame(&text);
        if st
            .engine
            .send(EngineInput::Frame { conn, frame })
            .await
            .is_err()
        {
            break Close::EngineGone;
        }
    };
    let secs = FRAME_DEADLINE.as_secs();
    match why {
        Close::ByClient => tracing::info!("API connection {conn} from {peer} closed by the client"),
        Close::ReadError(e) => {
            tracing::info!("API connection {conn} from {peer} closed: read error: {e}")
        }
        Close::Stalled => tracing::warn!(
            "API connection {conn} from {peer} closed: a WebSocket frame stalled half-way for {secs} s"
        ),
        Close::Silent => tracing::warn!(
            "API connection {conn} from {peer} closed: nothing received for {secs} s, not even a pong to our pings every {} s (peer gone or half-open)",
            PING_EVERY.as_secs()
        ),
        Close::EngineGone => {
            tracing::info!("API connection {conn} from {peer} closed: the gateway is stopping")
        }
    }
    let _ = st.engine.send(EngineInput::Disconnect { conn }).await;
    writer.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(token_matches("s3cret", "s3cret"));
        assert!(!token_matches("s3creT", "s3cret"));
        assert!(!token_matches("s3cre", "s3cret"));
        assert!(!token_matches("", "s3cret"));
    }
}
