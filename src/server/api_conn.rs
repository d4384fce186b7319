//! The API listener's accept loop: every TCP connection of the JSON-RPC WebSocket,
//! `/healthz` and `/metrics` comes through here (instead of `axum::serve`, which offers
//! neither a header timeout nor a connection cap).
//!
//! - A cap, `api.max_connections`: a semaphore permit per connection, held by the
//!   connection's IO object ([`Counted`]) so it lives on inside the upgraded WebSocket
//!   and is returned when the socket closes, whatever closes it. Past the cap the
//!   connection is answered `503 Service Unavailable` at once and closed, and a line is
//!   logged (at most one per second under a flood, with the count since the last one).
//! - Slow requests: hyper's HTTP/1 header read timeout ([`UPGRADE_TIMEOUT`], 10 s). Its
//!   clock starts when the connection waits for a request (at accept, and again after
//!   each response on a kept-alive connection), so a client trickling its request one
//!   byte at a time, or saying nothing at all, is closed 10 s after it connected.
//!   Once the request head is in, the WebSocket upgrade is answered at once.
//! - Each request carries a [`ConnInfo`] (peer address, bytes read so far) for the
//!   handlers: the WebSocket's stall and liveness checks live in `api_ws`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Service;

/// How long a connection may take to send a complete HTTP request head (for the API,
/// the WebSocket upgrade request); also how long a kept-alive HTTP connection may idle.
pub const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);

/// Refusals beyond the first in a second are counted into the next log line.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(1);

/// Refused sockets kept open for a moment (see [`linger`]); past this, closed at once.
const LINGERING: usize = 256;

/// What a request knows about its connection.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// Bytes read from the connection so far (HTTP and WebSocket).
    pub read: Arc<AtomicU64>,
}

/// The connection's TCP stream, counting the bytes read and holding the connection's
/// place under `api.max_connections` until it is dropped.
struct Counted {
    tcp: TcpStream,
    read: Arc<AtomicU64>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.tcp).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.read.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

/// Serves `app` on `listener` until the task is dropped, with at most `max_connections`
/// connections open at once.
pub async fn serve(listener: TcpListener, app: Router, max_connections: usize) {
    let slots = Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS)));
    let mut refusals = Refusals::default();
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: the listener stays, so wait a
                // moment instead of spinning on the same error.
                tracing::error!("API accept error: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Events are small frames written one at a time: without TCP_NODELAY, Nagle's
        // algorithm meets the client's delayed ACK and holds a reply for 40 ms.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY on the API connection from {peer}: {e}");
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refusals.refuse(tcp, peer, max_connections);
            continue;
        };
        let read = Arc::new(AtomicU64::new(0));
        let io = Counted {
            tcp,
            read: read.clone(),
            _permit: permit,
        };
        let info = ConnInfo { peer, read };
        let app = app.clone();
        tokio::spawn(serve_one(io, info, app));
    }
}

async fn serve_one(io: Counted, info: ConnInfo, app: Router) {
    let peer = info.peer;
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        counter.fetch_add(1, Ordering::Relaxed);
        req.extensions_mut().insert(info.clone());
        let mut app = app.clone();
        async move { app.call(req.map(Body::new)).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(UPGRADE_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    // Ends when the connection closes or is handed to the WebSocket (upgraded).
    if let Err(e) = conn.await {
        let served = served.load(Ordering::Relaxed);
        if e.is_timeout() && served > 0 {
            // A kept-alive HTTP client (a metrics scraper) idle between requests.
            tracing::debug!(
                "API connection from {peer} closed after {served} requests: no next request within {} s",
                UPGRADE_TIMEOUT.as_secs()
            );
        } else if e.is_timeout() {
            tracing::warn!(
                "API connection from {peer} closed: no complete HTTP request within {} s (a slow or idle client)",
                UPGRADE_TIMEOUT.as_secs()
            );
        } else {
            tracing::info!("API connection from {peer} closed: HTTP error: {e}");
        }
    }
}

/// Refuses connections past the cap, logging at most once per [`REFUSAL_LOG_EVERY`].
struct Refusals {
    last_log: Option<tokio::time::Instant>,
    unlogged: u64,
    lingering: Arc<Semaphore>,
}

impl Default for Refusals {
    fn default() -> Self {
        Refusals {
            last_log: None,
            unlogged: 0,
            lingering: Arc::new(Semaphore::new(LINGERING)),
        }
    }
}

impl Refusals {
    fn refuse(&mut self, tcp: TcpStream, peer: SocketAddr, max: usize) {
        self.unlogged += 1;
        let now = tokio::time::Instant::now();
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= REFUSAL_LOG_EVERY)
        {
            tracing::warn!(
                "API connection from {peer} refused with 503: api.max_connections ({max}) reached ({} refused since the last such line)",
                self.unlogged
            );
            self.last_log = Some(now);
            self.unlogged = 0;
        }
        let body = format!("too many API connections (api.max_connections = {max})\n");
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        // A fresh socket's send buffer takes the whole answer without waiting.
        let _ = tcp.try_write(response.as_bytes());
        // Read (and drop) what the client sent for a moment before closing: closing with
        // unread bytes would reset the connection and could destroy the answer in
        // flight. Bounded in time and number; not counted against the cap.
        if let Ok(slot) = self.lingering.clone().try_acquire_owned() {
            tokio::spawn(linger(tcp, slot));
        }
    }
}

async fn linger(tcp: TcpStream, _slot: OwnedSemaphorePermit) {
    let sock = socket2::SockRef::from(&tcp);
    let _ = sock.shutdown(std::net::Shutdown::Write);
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if tcp.readable().await.is_err() {
                return;
            }
            match tcp.try_read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    })
    .await;
}
