//! The control-plane core, sans-IO: it takes SIP datagrams, API frames, client
//! connects/disconnects and the time, and returns SIP datagrams to send and text
//! frames for API clients (responses and events, in order), plus its next deadline.
//! It owns the call resources, their SIP dialogs (through the transaction layer),
//! the RTP port pool, the gateways' concurrency counts and the event routing.

pub mod call;
pub mod clients;
pub mod events;
pub mod ports;
pub mod timers;

pub mod actions;
mod api_calls;
mod sip_in;
mod sip_out;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::api::jsonrpc::{self, Frame};
use crate::call::state::State;
use crate::config::Config;
use crate::sip::transaction::{TimerConfig, TransactionLayer, TxKey};

use call::Call;
use clients::{Clients, ConnId};
use ports::PortPool;
use timers::{TimerKey, Timers};

/// What the engine asks its IO edge to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send a SIP datagram.
    Sip { to: SocketAddr, data: Vec<u8> },
    /// Send a text frame (response or event) to an API connection.
    Client { conn: ConnId, text: String },
}

/// Call-level timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TimerKind {
    /// Outbound: ringing longer than `max_ring_seconds`.
    MaxRing,
    /// Answered longer than `max_answer_seconds`.
    MaxAnswer,
    /// No owner connection for `api.orphan_timeout_seconds`.
    Orphan,
    /// Forget a released call's lingering SIP leg.
    Linger,
    /// Give up on delivering a released call's held events.
    HeldExpire,
    /// `receive_dtmf_start`: first-key or inter-key timeout.
    Collect,
    /// A released call's media did not report its last action in time.
    ReleaseFlush,
}

/// A configured outbound gateway and its live call count.
#[derive(Debug)]
pub(crate) struct GatewaySlot {
    pub host: String,
    pub port: u16,
    pub max_concurrent: usize,
    pub active: usize,
}

/// How long a released call waits for the media plane's completion event of its
/// running action before `on_released` is sent anyway.
const RELEASE_FLUSH: Duration = Duration::from_secs(5);

/// Unix seconds now, from the system clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The sans-IO gateway.
pub struct Gateway {
    pub(crate) cfg: Config,
    /// The address SIP is bound to (and the port we advertise).
    pub(crate) local: SocketAddr,
    pub(crate) public_ip: IpAddr,
    pub(crate) process_id: u64,
    base_instant: Instant,
    base_unix: u64,
    pub(crate) tx: TransactionLayer,
    pub(crate) calls: HashMap<u64, Call>,
    pub(crate) by_res: HashMap<String, u64>,
    /// Released calls whose events wait for a client (res_id → serial).
    pub(crate) released_held: HashMap<String, u64>,
    pub(crate) by_call_id: HashMap<String, u64>,
    pub(crate) by_tx: HashMap<TxKey, u64>,
    pub(crate) clients: Clients,
    pub(crate) timers: Timers<TimerKind>,
    pub(crate) ports: PortPool,
    pub(crate) gateways: Vec<GatewaySlot>,
    pub(crate) t1: Duration,
    outputs: VecDeque<Output>,
    /// While a frame is being handled: its connection and the events for it, which
    /// are sent after the frame's response.
    frame_ctx: Option<(ConnId, Vec<String>)>,
    next_serial: u64,
    pub(crate) draining: bool,
    /// The media plane (None: signalling only, as in the engine's own tests).
    pub(crate) media: Option<crate::media::MediaPlane>,
}

impl Gateway {
    /// A gateway bound at `local`; `now`/`unix_now` anchor its clock.
    pub fn new(
        cfg: &Config,
        local: SocketAddr,
        now: Instant,
        unix_now: u64,
        media: Option<crate::media::MediaPlane>,
    ) -> anyhow::Result<Gateway> {
        let (lo, hi) = cfg.media.rtp_port_range()?;
        let mut gateways = Vec::new();
        for g in &cfg.gateways {
            let (host, port) = sip_out::split_host_port(&g.address).ok_or_else(|| {
                anyhow::anyhow!("gateways.address {:?} is not HOST[:PORT]", g.address)
            })?;
            gateways.push(GatewaySlot {
                host: host.to_ascii_lowercase(),
                port,
                max_concurrent: g.max_concurrent,
                active: 0,
            });
        }
        let t1 = Duration::from_millis(cfg.sip.t1_ms);
        let tcfg = TimerConfig {
            t1,
            ..TimerConfig::default()
        };
        let public_ip = if local.ip().is_unspecified() {
            cfg.public_ip()
        } else {
            cfg.sip.public_addr.unwrap_or(local.ip())
        };
        Ok(Gateway {
            cfg: cfg.clone(),
            local,
            public_ip,
            process_id: unique_process_id(unix_now),
            base_instant: now,
            base_unix: unix_now,
            tx: TransactionLayer::new(tcfg),
            calls: HashMap::new(),
            by_res: HashMap::new(),
            released_held: HashMap::new(),
            by_call_id: HashMap::new(),
            by_tx: HashMap::new(),
            clients: Clients::default(),
            timers: Timers::default(),
            ports: PortPool::new(lo, hi),
            gateways,
            t1,
            outputs: VecDeque::new(),
            frame_ctx: None,
            next_serial: 1,
            draining: false,
            media,
        })
    }

    /// Unix seconds at `now` on the gateway's clock.
    pub(crate) fn unix(&self, now: Instant) -> u64 {
        self.base_unix + now.saturating_duration_since(self.base_instant).as_secs()
    }

    /// Live call resources (released ones whose SIP leg lingers are not counted).
    pub fn live_calls(&self) -> usize {
        self.by_res.len()
    }

    /// RTP ports currently reserved.
    pub fn ports_in_use(&self) -> usize {
        self.ports.in_use()
    }

    pub fn process_id(&self) -> u64 {
        self.process_id
    }

    // ---- inputs -------------------------------------------------------------

    /// A SIP datagram arrived from `from`.
    pub fn handle_sip(&mut self, data: &[u8], from: SocketAddr, now: Instant) {
        self.sip_datagram(data, from, now);
        self.drain_tx(now);
    }

    /// An API client connected.
    pub fn connect(&mut self, conn: ConnId, accepts_incoming: bool) {
        self.clients.connect(conn, accepts_incoming);
    }

    /// An API client went away: its resources live on and hold their events.
    pub fn disconnect(&mut self, conn: ConnId, now: Instant) {
        self.clients.disconnect(conn);
        let orphaned: Vec<u64> = self
            .calls
            .values()
            .filter(|c| c.is_live() && c.owner == Some(conn))
            .map(|c| c.serial)
            .collect();
        let after = Duration::from_secs(self.cfg.api.orphan_timeout_seconds);
        for serial in orphaned {
            if let Some(c) = self.calls.get_mut(&serial) {
                c.owner = None;
                c.owner_generation += 1;
                let generation = c.owner_generation;
                self.timers.arm(
                    now + after,
                    TimerKey {
                        serial,
                        kind: TimerKind::Orphan,
                        generation,
                    },
                );
            }
        }
    }

    /// One parsed text frame from `conn`: every request is handled in order, then
    /// the frame's response (single or batch) is queued, then the events it caused.
    pub fn handle_frame(&mut self, conn: ConnId, frame: Frame, now: Instant) {
        self.frame_ctx = Some((conn, Vec::new()));
        let response = jsonrpc::respond(frame, |req| {
            let decoded = crate::api::methods::decode(&req.method, req.params.clone());
            match decoded {
                Ok(request) => self.dispatch(conn, request, now),
                Err(e) => Err(e),
            }
        });
        let (_, events) = self.frame_ctx.take().unwrap_or((conn, Vec::new()));
        if let Some(text) = response {
            self.outputs.push_back(Output::Client { conn, text });
        }
        for text in events {
            self.outputs.push_back(Output::Client { conn, text });
        }
        self.drain_tx(now);
    }

    /// Run whatever timers are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.drain_tx(now);
        while let Some(key) = self.timers.pop_due(now) {
            self.on_timer(key, now);
        }
        self.drain_tx(now);
    }

    /// Refuse new calls and release every live one (BYE, CANCEL or 503).
    pub fn start_drain(&mut self, now: Instant) {
        self.draining = true;
        let live: Vec<u64> = self.by_res.values().copied().collect();
        for serial in live {
            self.hang_up(serial, 503, "sys", Some("gateway shutting down"), now);
        }
        self.drain_tx(now);
    }

    /// Stop the media plane (recordings are finalized); called once at exit.
    pub fn shutdown_media(&mut self) {
        if let Some(m) = self.media.take() {
            m.shutdown();
        }
    }

    // ---- outputs ------------------------------------------------------------

    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some((to, data)) = self.tx.poll_transmit() {
            return Some(Output::Sip { to, data });
        }
        self.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.tx.poll_timeout(), self.timers.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- shared helpers -----------------------------------------------------

    pub(crate) fn new_serial(&mut self) -> u64 {
        let s = self.next_serial;
        self.next_serial += 1;
        s
    }

    pub(crate) fn res_id_for(&self, serial: u64, kind: &str) -> String {
        format!("0.0.{serial}-{kind}-{}", self.process_id)
    }

    pub(crate) fn push_sip(&mut self, to: SocketAddr, data: Vec<u8>) {
        self.outputs.push_back(Output::Sip { to, data });
    }

    /// Send event `name` of call `serial` to its owner, or hold it while it has none.
    pub(crate) fn emit(&mut self, serial: u64, name: &str, params: Value) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let text = jsonrpc::notification(&format!("sys.call.{name}"), &params);
        match call.owner {
            Some(conn) if self.clients.is_connected(conn) => match &mut self.frame_ctx {
                Some((ctx_conn, pending)) if *ctx_conn == conn => pending.push(text),
                _ => self.outputs.push_back(Output::Client { conn, text }),
            },
            _ => {
                let cap = self.cfg.api.held_events_per_resource;
                call.held.push(text, cap);
            }
        }
    }

    /// `conn` made a request on `serial`: it becomes the owner and receives the held
    /// events (before the response to this request).
    pub(crate) fn take_ownership(&mut self, serial: u64, conn: ConnId) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if call.owner != Some(conn) {
            call.owner = Some(conn);
            call.owner_generation += 1;
        }
        for text in call.held.take() {
            self.outputs.push_back(Output::Client { conn, text });
        }
    }

    pub(crate) fn arm(&mut self, serial: u64, kind: TimerKind, at: Instant) {
        let generation = self
            .calls
            .get(&serial)
            .map(|c| match kind {
                TimerKind::Orphan => c.owner_generation,
                TimerKind::Collect => c.collect_generation,
                _ => 0,
            })
            .unwrap_or(0);
        self.timers.arm(
            at,
            TimerKey {
                serial,
                kind,
                generation,
            },
        );
    }

    fn on_timer(&mut self, key: TimerKey<TimerKind>, now: Instant) {
        let Some(call) = self.calls.get(&key.serial) else {
            return;
        };
        match key.kind {
            TimerKind::MaxRing => {
                if call.is_live() && !call.dial_done {
                    self.fail_dial(key.serial, "max_ring_seconds reached", 408, "sys", now);
                }
            }
            TimerKind::MaxAnswer => {
                if call.is_live() && call.state.is_answered() {
                    self.hang_up(
                        key.serial,
                        408,
                        "sys",
                        Some("max_answer_seconds reached"),
                        now,
                    );
                }
            }
            TimerKind::Orphan => {
                if call.is_live() && call.owner.is_none() && call.owner_generation == key.generation
                {
                    self.hang_up(
                        key.serial,
                        480,
                        "sys",
                        Some("no API client owns the call"),
                        now,
                    );
                }
            }
            TimerKind::Linger => self.forget(key.serial),
            TimerKind::ReleaseFlush => self.finish_pending_release(key.serial, now),
            TimerKind::Collect => {
                if call.collect_generation == key.generation {
                    self.collect_timeout(key.serial, now);
                }
            }
            TimerKind::HeldExpire => {
                if let Some(c) = self.calls.get_mut(&key.serial) {
                    c.held.take();
                    let res_id = c.res_id.clone();
                    self.released_held.remove(&res_id);
                }
                self.forget(key.serial);
            }
        }
    }

    /// End the resource: emit `on_released` (after any completion events), free the
    /// port and the gateway slot, put a parent back to `Idle`. The SIP leg may linger.
    pub(crate) fn release(&mut self, serial: u64, dropped_by: &str, cause: u16, now: Instant) {
        let end = self.unix(now);
        let pid = self.process_id;
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if call.released {
            return;
        }
        call.released = true;
        call.state = State::Released;
        let params = events::on_released(call, end, dropped_by, cause, pid);
        let res_id = call.res_id.clone();
        let port = call.rtp_port.take();
        let gw = call.gateway.take();
        let parent = call.parent.take();
        // A running action ends with the media plane's own completion event (a
        // recording is complete on disk by then); on_released follows it.
        let deferred = self.media.is_some() && call.action.is_some();
        if deferred {
            call.pending_release = Some(params.clone());
        }
        self.by_res.remove(&res_id);
        if let Some(m) = &self.media {
            m.close_call(serial);
        }
        if let Some(p) = port {
            self.ports.release(p);
        }
        if let Some(g) = gw
            && let Some(slot) = self.gateways.get_mut(g)
        {
            slot.active = slot.active.saturating_sub(1);
        }
        if let Some(p) = parent
            && let Some(pc) = self.calls.get_mut(&p)
            && pc.state == State::Dial
        {
            pc.state = State::Idle;
        }
        if deferred {
            self.arm(serial, TimerKind::ReleaseFlush, now + RELEASE_FLUSH);
        } else {
            if self.calls.get(&serial).is_some_and(|c| c.action.is_some()) {
                self.complete_action(serial, Some("call released"), None, now);
            }
            self.announce_release(serial, params, now);
        }
        self.arm(serial, TimerKind::Linger, now + self.t1 * 64);
    }

    /// Emit `on_released`; events nobody could take are kept for the next requester
    /// of this res_id for `api.orphan_timeout_seconds`.
    fn announce_release(&mut self, serial: u64, params: Value, now: Instant) {
        self.emit(serial, "on_released", params);
        if let Some(c) = self.calls.get(&serial)
            && !c.held.is_empty()
        {
            self.released_held.insert(c.res_id.clone(), serial);
            let after = Duration::from_secs(self.cfg.api.orphan_timeout_seconds);
            self.arm(serial, TimerKind::HeldExpire, now + after);
        }
    }

    /// A released call's last action has completed: `on_released` may go now.
    pub(crate) fn finish_pending_release(&mut self, serial: u64, now: Instant) {
        let Some(params) = self
            .calls
            .get_mut(&serial)
            .and_then(|c| c.pending_release.take())
        else {
            return;
        };
        if self.calls.get(&serial).is_some_and(|c| c.action.is_some()) {
            self.complete_action(serial, Some("call released"), None, now);
        }
        self.announce_release(serial, params, now);
    }

    /// Drop every trace of a call whose SIP leg is finished.
    pub(crate) fn forget(&mut self, serial: u64) {
        if let Some(c) = self.calls.get(&serial) {
            if !c.released
                || c.pending_release.is_some()
                || self.released_held.contains_key(&c.res_id)
            {
                return;
            }
            if let Some(k) = c.leg.invite_tx {
                self.by_tx.remove(&k);
            }
            if self.by_call_id.get(&c.leg.call_id) == Some(&serial) {
                self.by_call_id.remove(&c.leg.call_id);
            }
            self.calls.remove(&serial);
        }
    }
}

/// A process id that differs across restarts (milliseconds since the epoch at start,
/// mixed with the OS pid), so res_ids are unique across restarts too.
fn unique_process_id(unix_now: u64) -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(unix_now * 1000);
    ms * 100 + u64::from(std::process::id() % 100)
}
