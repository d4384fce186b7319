//! The IO edge of the control plane: binds the SIP UDP socket and the API listener,
//! and runs the engine task that owns the sans-IO [`Gateway`], feeding it datagrams,
//! API frames and timeouts, and carrying out what it outputs.

pub mod api_ws;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::api::jsonrpc::Frame;
use crate::config::Config;
use crate::engine::clients::ConnId;
use crate::engine::{Gateway, Output};
use crate::metrics::Metrics;

/// What the connections send to the engine task.
pub enum EngineInput {
    Connect {
        conn: ConnId,
        accepts_incoming: bool,
        tx: mpsc::Sender<String>,
    },
    Frame {
        conn: ConnId,
        frame: Frame,
    },
    Disconnect {
        conn: ConnId,
    },
    /// An event of the media plane (play/record/DTMF completion, digits, RTP timeout).
    Media(crate::media::MediaEvent),
}

/// Where the gateway ended up listening (ports resolved when 0 was asked for).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub sip: SocketAddr,
    pub api: SocketAddr,
}

/// Bind everything, log where we listen, and serve until `shutdown` resolves; then
/// drain: refuse new calls, release the live ones, and return once they are gone
/// (or after a grace period).
pub async fn run(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(Bound) + Send,
) -> anyhow::Result<()> {
    cfg.validate()?;
    let sip = Arc::new(
        UdpSocket::bind(cfg.sip.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind SIP UDP {}: {e}", cfg.sip.listen))?,
    );
    let _ = socket2::SockRef::from(&*sip).set_recv_buffer_size(4 << 20);
    let api_listener = TcpListener::bind(cfg.api.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind API {}: {e}", cfg.api.listen))?;
    let bound = Bound {
        sip: sip.local_addr()?,
        api: api_listener.local_addr()?,
    };
    let metrics = Arc::new(Metrics::new());
    let figures: Arc<std::sync::OnceLock<Arc<crate::media::plane::WorkerFigures>>> =
        Arc::new(std::sync::OnceLock::new());
    let draining = Arc::new(AtomicBool::new(false));
    let (engine_tx, engine_rx) = mpsc::channel::<EngineInput>(16384);
    let m2 = metrics.clone();
    let f2 = figures.clone();
    let engine_tx_media = engine_tx.clone();
    let state = api_ws::ApiState {
        engine: engine_tx,
        token: cfg.api.token.clone(),
        draining: draining.clone(),
        next_conn: Arc::new(AtomicU64::new(1)),
        metrics: Arc::new(move || {
            // The registry's text ends with "# EOF": the workers' series go before it.
            let mut text = m2.render();
            if let Some(f) = f2.get() {
                let body = text.trim_end().trim_end_matches("# EOF").to_string();
                text = format!("{body}{}# EOF\n", f.render());
            }
            text
        }),
    };
    let app = api_ws::router(state);
    let http = tokio::spawn(async move {
        // Events are small frames written one at a time: without TCP_NODELAY, Nagle's
        // algorithm meets the client's delayed ACK and holds a reply for 40 ms.
        use axum::serve::ListenerExt;
        let api_listener = api_listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY on an API connection: {e}");
            }
        });
        if let Err(e) = axum::serve(api_listener, app).await {
            tracing::error!("API server stopped: {e}");
        }
    });
    tracing::info!(
        "mediagw listening: sip=udp:{} api=ws://{}/rpc",
        bound.sip,
        bound.api
    );
    on_bound(bound);
    let plane = crate::media::MediaPlane::start(crate::media::MediaConfig {
        workers: cfg.worker_count(),
        prompts: cfg.media.prompts.clone(),
        media_root: cfg.media.root.clone(),
        record_root: cfg.media.record_root.clone(),
        rtp_timeout_seconds: u32::try_from(cfg.media.rtp_timeout_seconds).unwrap_or(u32::MAX),
        tts_command: cfg.media.tts_command.clone(),
        inband: None,
        inband_bank: true,
        worker: crate::worker::WorkerConfig {
            pin_cores: cfg.media.pin_cores,
            ..crate::worker::WorkerConfig::default()
        },
        ..crate::media::MediaConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("cannot start the media workers: {e}"))?;
    let _ = figures.set(plane.figures());
    // Media events reach the engine task through the same queue as API frames.
    let media_events = plane.events().clone();
    let forward = engine_tx_media.clone();
    std::thread::Builder::new()
        .name("media-events".into())
        .spawn(move || {
            while let Ok(ev) = media_events.recv() {
                if forward.blocking_send(EngineInput::Media(ev)).is_err() {
                    break;
                }
            }
        })?;
    let gw = Gateway::new(
        &cfg,
        bound.sip,
        Instant::now(),
        crate::engine::unix_now(),
        Some(plane),
    )?;
    let result = engine_loop(gw, sip, engine_rx, metrics, draining, shutdown).await;
    http.abort();
    result
}

async fn engine_loop(
    mut gw: Gateway,
    sip: Arc<UdpSocket>,
    mut rx: mpsc::Receiver<EngineInput>,
    metrics: Arc<Metrics>,
    draining: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut conns: HashMap<ConnId, mpsc::Sender<String>> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    tokio::pin!(shutdown);
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    loop {
        let deadline = gw.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            r = sip.recv_from(&mut buf) => {
                match r {
                    Ok((n, from)) => {
                        metrics.sip_in.inc();
                        gw.handle_sip(&buf[..n], from, Instant::now());
                        // Take whatever else is already queued without waiting.
                        for _ in 0..64 {
                            match sip.try_recv_from(&mut buf) {
                                Ok((n, from)) => {
                                    metrics.sip_in.inc();
                                    gw.handle_sip(&buf[..n], from, Instant::now());
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    Err(e) => tracing::debug!("SIP recv error: {e}"),
                }
            }
            input = rx.recv() => {
                let Some(input) = input else { break };
                match input {
                    EngineInput::Connect { conn, accepts_incoming, tx } => {
                        conns.insert(conn, tx);
                        gw.connect(conn, accepts_incoming);
                        metrics.api_connections.set(conns.len() as i64);
                    }
                    EngineInput::Frame { conn, frame } => {
                        metrics.api_frames.inc();
                        gw.handle_frame(conn, frame, Instant::now());
                    }
                    EngineInput::Disconnect { conn } => {
                        conns.remove(&conn);
                        gw.disconnect(conn, Instant::now());
                        metrics.api_connections.set(conns.len() as i64);
                    }
                    EngineInput::Media(ev) => gw.handle_media(ev, Instant::now()),
                }
            }
            _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => {
                gw.handle_timeout(Instant::now());
            }
            _ = &mut shutdown, if drain_deadline.is_none() => {
                tracing::info!("shutting down: draining {} calls", gw.live_calls());
                draining.store(true, Ordering::Relaxed);
                gw.start_drain(Instant::now());
                drain_deadline = Some(tokio::time::Instant::now() + std::time::Duration::from_secs(5));
            }
            _ = async { tokio::time::sleep_until(drain_deadline.expect("guarded")).await }, if drain_deadline.is_some() => {
                tracing::warn!("drain grace period over with {} calls left", gw.live_calls());
                flush(&mut gw, &sip, &mut conns, &metrics).await;
                break;
            }
        }
        flush(&mut gw, &sip, &mut conns, &metrics).await;
        metrics.calls.set(gw.live_calls() as i64);
        if drain_deadline.is_some() && gw.live_calls() == 0 {
            break;
        }
    }
    gw.shutdown_media();
    Ok(())
}

async fn flush(
    gw: &mut Gateway,
    sip: &UdpSocket,
    conns: &mut HashMap<ConnId, mpsc::Sender<String>>,
    metrics: &Metrics,
) {
    while let Some(out) = gw.poll_output() {
        match out {
            Output::Sip { to, data } => {
                metrics.sip_out.inc();
                if let Err(e) = sip.send_to(&data, to).await {
                    tracing::debug!("SIP send to {to} failed: {e}");
                }
            }
            Output::Client { conn, text } => {
                let Some(tx) = conns.get(&conn) else { continue };
                if tx.try_send(text).is_err() {
                    tracing::warn!("API connection {conn} is not keeping up: disconnecting it");
                    conns.remove(&conn);
                    gw.disconnect(conn, Instant::now());
                }
            }
        }
    }
}
