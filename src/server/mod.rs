//! The IO edge of the control plane: binds the SIP UDP socket and the API listener,
//! and runs the engine task that owns the sans-IO [`Gateway`], feeding it datagrams,
//! API frames and timeouts, and carrying out what it outputs.

pub mod api_conn;
pub mod api_ws;
pub mod nats;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::api::jsonrpc::RpcFrame;
use crate::config::Config;
use crate::engine::clients::ConnId;
use crate::engine::{Gateway, Output};
use crate::metrics::{EngineSnapshot, Metrics};

/// What the connections send to the engine task.
pub enum EngineInput {
    Connect {
        conn: ConnId,
        accepts_incoming: bool,
        tx: mpsc::Sender<String>,
    },
    Frame {
        conn: ConnId,
        frame: RpcFrame,
    },
    Disconnect {
        conn: ConnId,
    },
    /// An event of the media plane (play/record/DTMF completion, digits, RTP timeout).
    Media(crate::media::MediaEvent),
    /// The control bus: nobody claimed the offer of inbound call `res_id` in time.
    BusOfferDeclined {
        res_id: String,
    },
    /// The control bus: an event of `res_id` went unacknowledged (it is held).
    BusUnacked {
        res_id: String,
    },
    /// The control bus's heartbeat asks for the live calls' res_ids.
    BusLiveCalls {
        reply: tokio::sync::oneshot::Sender<Vec<String>>,
    },
}

/// Where the gateway ended up listening (ports resolved when 0 was asked for).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub sip: SocketAddr,
    pub api: SocketAddr,
}

/// What the process's signals ask of the running gateway.
#[derive(Debug)]
pub enum Control {
    /// SIGTERM (or Ctrl-C): drain; a second one ends the drain at once.
    Terminate,
    /// SIGHUP: the configuration read again (file and flags), or why it could not be.
    Reload(Result<Box<Config>, String>),
}

/// Bind everything, log where we listen, and serve. The first [`Control::Terminate`]
/// starts the drain: `/healthz` turns 503 and new calls are refused at once, live calls
/// run on for `sip.drain_seconds` and are then hung up (a second one hangs them up at
/// once); `run` returns once every call has ended with its `on_released` and call record
/// written and the API connections have been sent everything.
pub async fn run(
    mut cfg: Config,
    control: mpsc::Receiver<Control>,
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
    if cfg.api.nats.url.is_some() && cfg.api.nats.node.is_none() {
        cfg.api.nats.node = Some(nats::default_node(bound.sip.port()));
    }
    let metrics = Arc::new(Metrics::new());
    let figures: Arc<std::sync::OnceLock<Arc<crate::media::figures::WorkerFigures>>> =
        Arc::new(std::sync::OnceLock::new());
    let draining = Arc::new(AtomicBool::new(false));
    let (engine_tx, engine_rx) = mpsc::channel::<EngineInput>(16384);
    let snapshot = Arc::new(std::sync::Mutex::new(EngineSnapshot::default()));
    let m2 = metrics.clone();
    let f2 = figures.clone();
    let s2 = snapshot.clone();
    let engine_tx_media = engine_tx.clone();
    let writers = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let next_conn = Arc::new(AtomicU64::new(1));
    let engine_tx_bus = engine_tx.clone();
    let state = api_ws::ApiState {
        writers: writers.clone(),
        engine: engine_tx,
        token: cfg.api.token.clone(),
        draining: draining.clone(),
        next_conn: next_conn.clone(),
        metrics: Arc::new(move || {
            // The registry's text ends with "# EOF": the workers' series go before it.
            let text = m2.render();
            let mut body = text.trim_end().trim_end_matches("# EOF").to_string();
            body.push_str(&s2.lock().unwrap_or_else(|p| p.into_inner()).render());
            if let Some(f) = f2.get() {
                body.push_str(&f.render());
            }
            body.push_str("# EOF\n");
            body
        }),
    };
    let app = api_ws::router(state);
    let http = tokio::spawn(api_conn::serve(api_listener, app, cfg.api.max_connections));
    tracing::info!(
        "mediagw listening: sip=udp:{} api=ws://{}/rpc",
        bound.sip,
        bound.api
    );
    on_bound(bound);
    let plane = crate::media::MediaPlane::start(crate::media::PlaneConfig {
        workers: crate::config_file::worker_count(&cfg),
        prompts: cfg.media.prompts.clone(),
        media_root: cfg.media.root.clone(),
        record_root: cfg.media.record_root.clone(),
        rtp_timeout_seconds: u32::try_from(cfg.media.rtp_timeout_seconds).unwrap_or(u32::MAX),
        tts_command: cfg.media.tts_command.clone(),
        inband: None,
        inband_bank: true,
        inband_with_telephone_event: cfg.media.inband_with_telephone_event,
        worker: crate::worker::WorkerConfig {
            pin_cores: cfg.media.pin_cores,
            ..crate::worker::WorkerConfig::default()
        },
        ..crate::media::PlaneConfig::default()
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
    let unix = unix_now();
    let process_id = unique_process_id();
    let public_ip = if bound.sip.ip().is_unspecified() {
        crate::config_file::public_ip(&cfg)
    } else {
        cfg.sip.public_addr.unwrap_or(bound.sip.ip())
    };
    let boot = crate::engine::Boot {
        local: bound.sip,
        public_ip,
        now: Instant::now(),
        unix_now: unix,
        process_id,
        seed: rand::random(),
        workers: crate::config_file::worker_count(&cfg),
        media_root: crate::media::plane::absolute(&cfg.media.root),
        record_root: crate::media::plane::absolute(&cfg.media.record_root),
    };
    let cdr = match &cfg.cdr.path {
        Some(p) => Some(
            crate::cdr::CdrWriter::open(p)
                .map_err(|e| anyhow::anyhow!("cdr.path {}: {e}", p.display()))?,
        ),
        None => None,
    };
    #[allow(unused_mut)]
    let mut gw = Gateway::new(&cfg, boot, Box::new(plane.sink()))?;
    // Test builds only: a test arms fault injection through the environment.
    #[cfg(debug_assertions)]
    if std::env::var_os("MEDIAGW_FAULT_INJECTION").is_some() {
        tracing::warn!("fault injection armed (a test build): marked inputs panic");
        gw.inject_faults();
        crate::media::faults::arm();
    }
    let mut io = EngineIo {
        sip,
        conns: HashMap::new(),
        metrics,
        cdr,
    };
    if let (Some(_), Some(node)) = (&cfg.api.nats.url, &cfg.api.nats.node) {
        let conn = next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, out) = mpsc::channel(nats::QUEUE);
        io.conns.insert(conn, tx);
        gw.connect_bus(conn);
        nats::start(nats::Start {
            cfg: cfg.api.nats.clone(),
            node: node.clone(),
            boot: process_id,
            engine: engine_tx_bus,
            conn,
            out,
            held_cap: cfg.api.held_events_per_resource,
            orphan_timeout: Duration::from_secs(cfg.api.orphan_timeout_seconds),
            writers: writers.clone(),
        })
        .await?;
    } else {
        drop(engine_tx_bus);
    }
    let drain_cap = Duration::from_secs(cfg.sip.drain_seconds) + DRAIN_SLACK;
    let result = engine_loop(gw, io, engine_rx, snapshot, draining, control, drain_cap).await;
    // The connections' queues are closed: their writers send what is left, then close.
    let deadline = tokio::time::Instant::now() + WRITERS_GRACE;
    while writers.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Every call is gone: stop the media (any recording left is finalized).
    plane.shutdown();
    http.abort();
    result
}

/// How long after `sip.drain_seconds` the drain may still take (the hung-up calls' last
/// events; the engine waits at most 5 s for the media plane) before the gateway stops
/// regardless.
const DRAIN_SLACK: Duration = Duration::from_secs(30);

/// How long the API connections get to send their last frames at the end.
const WRITERS_GRACE: Duration = Duration::from_secs(5);

/// Unix seconds now, from the system clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A process id that differs across restarts (milliseconds since the epoch at start,
/// mixed with the OS pid), so res_ids are unique across restarts too.
fn unique_process_id() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    ms * 100 + u64::from(std::process::id() % 100)
}

/// What the engine task carries out the engine's outputs with.
struct EngineIo {
    sip: Arc<UdpSocket>,
    /// The outgoing queue of each API connection: responses and events, in order.
    conns: HashMap<ConnId, mpsc::Sender<String>>,
    metrics: Arc<Metrics>,
    cdr: Option<crate::cdr::CdrWriter>,
}

async fn engine_loop(
    mut gw: Gateway,
    mut io: EngineIo,
    mut rx: mpsc::Receiver<EngineInput>,
    snapshot: Arc<std::sync::Mutex<EngineSnapshot>>,
    draining: Arc<AtomicBool>,
    mut control: mpsc::Receiver<Control>,
    drain_cap: Duration,
) -> anyhow::Result<()> {
    let sip = io.sip.clone();
    let metrics = io.metrics.clone();
    let mut buf = vec![0u8; 65536];
    let mut figures_tick = tokio::time::interval(FIGURES_EVERY);
    figures_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut control_open = true;
    // Past this, the drain stops waiting for the calls (set at the first SIGTERM).
    let mut give_up: Option<tokio::time::Instant> = None;
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
                        io.conns.insert(conn, tx);
                        gw.connect(conn, accepts_incoming);
                        metrics.api_connections.set(io.conns.len() as i64);
                    }
                    EngineInput::Frame { conn, frame } => {
                        metrics.api_frames.inc();
                        gw.handle_frame(conn, frame, Instant::now());
                    }
                    EngineInput::Disconnect { conn } => {
                        io.conns.remove(&conn);
                        gw.disconnect(conn, Instant::now());
                        metrics.api_connections.set(io.conns.len() as i64);
                    }
                    EngineInput::Media(ev) => gw.handle_media(ev, Instant::now()),
                    EngineInput::BusOfferDeclined { res_id } => {
                        gw.bus_offer_declined(&res_id, Instant::now())
                    }
                    EngineInput::BusUnacked { res_id } => gw.bus_unacked(&res_id, Instant::now()),
                    EngineInput::BusLiveCalls { reply } => {
                        let _ = reply.send(gw.live_call_ids());
                    }
                }
            }
            _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => {
                gw.handle_timeout(Instant::now());
            }
            _ = figures_tick.tick() => {
                let snap = take_snapshot(&gw, &rx, &io.conns);
                *snapshot.lock().unwrap_or_else(|p| p.into_inner()) = snap;
            }
            ctl = control.recv(), if control_open => match ctl {
                None => control_open = false,
                Some(Control::Terminate) if give_up.is_none() => {
                    tracing::info!(
                        "SIGTERM: draining; new calls are refused, the {} live calls run on for up to {} s",
                        gw.live_calls(),
                        drain_cap.saturating_sub(DRAIN_SLACK).as_secs()
                    );
                    draining.store(true, Ordering::Relaxed);
                    gw.start_drain(Instant::now());
                    give_up = Some(tokio::time::Instant::now() + drain_cap);
                }
                Some(Control::Terminate) => {
                    tracing::info!(
                        "second SIGTERM: hanging up the {} live calls now",
                        gw.live_calls()
                    );
                    gw.end_drain(Instant::now());
                    give_up = Some(tokio::time::Instant::now() + DRAIN_SLACK);
                }
                Some(Control::Reload(new)) => reload(&mut gw, new),
            },
            _ = async { tokio::time::sleep_until(give_up.expect("guarded")).await }, if give_up.is_some() => {
                tracing::warn!("drain did not finish in time: stopping with {} calls left", gw.live_calls());
                flush(&mut gw, &mut io).await;
                break;
            }
        }
        flush(&mut gw, &mut io).await;
        metrics.calls.set(gw.live_calls() as i64);
        if gw.is_drained() {
            tracing::info!("drained: every call has ended");
            break;
        }
    }
    Ok(())
}

/// SIGHUP: the new configuration goes to the engine, or is refused with the reason.
fn reload(gw: &mut Gateway, new: Result<Box<Config>, String>) {
    let outcome = new.and_then(|cfg| gw.reload(&cfg));
    match outcome {
        Ok(r) => {
            let changed = if r.changed.is_empty() {
                "nothing that can change while running".to_string()
            } else {
                r.changed.join(", ")
            };
            tracing::info!(
                "SIGHUP: configuration reloaded ({changed} changed); {} live calls untouched",
                gw.live_calls()
            );
            if !r.need_restart.is_empty() {
                tracing::warn!(
                    "SIGHUP: changes in [{}] take effect only at the next start",
                    r.need_restart.join("], [")
                );
            }
        }
        Err(e) => {
            // One log line, whatever the parser's message looks like.
            let e: Vec<&str> = e.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            tracing::error!(
                "SIGHUP: configuration reload refused, the running configuration stays: {}",
                e.join(" ")
            )
        }
    }
}

/// How often `/metrics` gets a fresh copy of the engine's figures.
const FIGURES_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

fn take_snapshot(
    gw: &Gateway,
    rx: &mpsc::Receiver<EngineInput>,
    conns: &HashMap<ConnId, mpsc::Sender<String>>,
) -> EngineSnapshot {
    let (replies_waiting, media_backlog) = gw.queue_depths();
    let depths = conns.values().map(|t| t.max_capacity() - t.capacity());
    EngineSnapshot {
        figures: gw.figures().clone(),
        calls_by_state: gw.calls_by_state(),
        engine_queue: rx.len(),
        replies_waiting,
        media_backlog,
        conn_queue_max: depths.clone().max().unwrap_or(0),
        conn_queue_total: depths.sum(),
        sip_transactions: gw.transactions(),
        calls_older_than: crate::metrics::CALL_AGES
            .iter()
            .map(|&secs| (secs, gw.calls_begun_before(unix_now().saturating_sub(secs))))
            .collect(),
    }
}

async fn flush(gw: &mut Gateway, io: &mut EngineIo) {
    while let Some(out) = gw.poll_output() {
        match out {
            Output::Sip { to, data } => {
                io.metrics.sip_out.inc();
                if let Err(e) = io.sip.send_to(&data, to).await {
                    tracing::debug!("SIP send to {to} failed: {e}");
                }
            }
            Output::Client { conn, text } => {
                let Some(tx) = io.conns.get(&conn) else {
                    continue;
                };
                if tx.try_send(text).is_err() {
                    tracing::warn!("API connection {conn} is not keeping up: disconnecting it");
                    io.conns.remove(&conn);
                    gw.disconnect(conn, Instant::now());
                }
            }
            Output::Cdr { record } => {
                if let Some(w) = io.cdr.as_mut() {
                    w.write(&record);
                }
            }
        }
    }
}
