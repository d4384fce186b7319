//! The HTTP edge of the API: the JSON-RPC WebSocket at `/rpc` (token check, the
//! `incoming` opt-out), `/healthz` and `/metrics`. Each connection parses its own
//! frames and hands them to the engine task; what the engine sends back (responses
//! and events, in order) is written by the connection's writer half.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::EngineInput;
use crate::api::jsonrpc;
use crate::engine::clients::ConnId;

/// Outgoing text frames queued per connection; a client that falls this far behind
/// is disconnected (its resources live on and hold their events).
pub const CONN_QUEUE: usize = 8192;

/// State shared by the HTTP handlers.
#[derive(Clone)]
pub struct ApiState {
    pub engine: mpsc::Sender<EngineInput>,
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
    given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn rpc_upgrade(
    State(st): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    if !authorized(&st, &headers, &query) {
        return (StatusCode::UNAUTHORIZED, "missing or wrong API token\n").into_response();
    }
    let incoming = query.get("incoming").map(String::as_str) != Some("false");
    ws.on_upgrade(move |socket| serve_connection(st, socket, incoming))
}

async fn serve_connection(st: ApiState, socket: WebSocket, accepts_incoming: bool) {
    let conn: ConnId = st.next_conn.fetch_add(1, Ordering::Relaxed);
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
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    while let Some(msg) = stream.next().await {
        let text = match msg {
            Ok(Message::Text(t)) => t.to_string(),
            Ok(Message::Binary(b)) => match String::from_utf8(b.to_vec()) {
                Ok(t) => t,
                Err(_) => continue,
            },
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let frame = jsonrpc::parse_frame(&text);
        if st
            .engine
            .send(EngineInput::Frame { conn, frame })
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = st.engine.send(EngineInput::Disconnect { conn }).await;
    writer.abort();
}
