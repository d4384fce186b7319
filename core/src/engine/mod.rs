//! The control-plane core, sans-IO: it takes SIP datagrams, API frames, client
//! connects/disconnects, media events and the time, and returns SIP datagrams to send,
//! text frames for API clients (responses and events, in order) and its next deadline;
//! media commands go to a [`MediaSink`] that never blocks. It owns the call resources,
//! their SIP dialogs (through the transaction layer), the RTP port pool, the placement
//! of calls on media workers, the gateways' concurrency counts and the event routing.
//! Nothing here reads a clock, touches a file or a socket, or draws unseeded
//! randomness: the driver passes the time in and seeds [`Boot::seed`].

mod bus;
pub mod clients;
pub mod events;
pub mod faults;
pub mod figures;
pub mod pike;
pub mod ports;
pub mod res_id;
pub mod resource;
pub mod timers;

pub mod actions;
mod api_calls;
mod conferences;
mod joins;
mod media_link;
mod release;
pub mod reload;
pub mod replies;
mod sip_in;
pub(crate) mod sip_out;
mod sip_session;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::jsonrpc::{self, RpcFrame};
use crate::call::state::State;
use crate::config::Config;
use crate::media_msg::{MediaCommand, MediaSink};
use crate::sip::Ids;
use crate::sip::transaction::{TimerConfig, TransactionLayer, TxKey};

use clients::{Clients, ConnId};
use ports::PortPool;
use replies::{Replies, Ticket};
use resource::Call;
use timers::{TimerKey, Timers};

/// What the engine asks its IO edge to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send a SIP datagram.
    Sip { to: SocketAddr, data: Vec<u8> },
    /// Send a text frame (response or event) to an API connection.
    Client { conn: ConnId, text: String },
    /// A call record: one per released call, the `on_released` parameters (with the
    /// call's media figures), for `cdr.path`.
    Cdr { record: Value },
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
    /// A command that a full worker queue refused is tried again.
    MediaRetry,
    /// A bridge's `max_seconds` passed.
    ConnectMax,
    /// A bridge's `schedule_play_time` came.
    SchedulePlay,
    /// A conference's `max_seconds` passed.
    ConfMax,
    /// A conference member's `max_seconds` passed.
    MemberMax,
    /// We are the session-timer refresher and half the interval has passed.
    SessionRefresh,
    /// The session expires without a refresh (RFC 4028 §10).
    SessionExpire,
    /// `sip.drain_seconds` after SIGTERM: the calls still up are hung up.
    DrainEnd,
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

/// What the driver knows and decides at start-up, handed to [`Gateway::new`].
pub struct Boot {
    /// The address SIP is bound to (and the port we advertise).
    pub local: SocketAddr,
    /// The address written into Via, Contact and SDP (`sip.public_addr`, resolved).
    pub public_ip: IpAddr,
    /// The monotonic time at start and the wall-clock Unix seconds it corresponds to.
    pub now: Instant,
    pub unix_now: u64,
    /// Unique across restarts (res_ids carry it).
    pub process_id: u64,
    /// Seeds every random choice the engine makes (tags, branches, ports' order...).
    pub seed: u64,
    /// Number of media workers calls are placed on.
    pub workers: usize,
    /// `media.root` and `media.record_root` made absolute: absolute names in requests
    /// are checked against them.
    pub media_root: std::path::PathBuf,
    pub record_root: std::path::PathBuf,
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
    /// Replies waiting for the media plane, and the events held behind them.
    pub(crate) replies: Replies,
    /// While a frame is being handled: its id, and the ticket of the request being
    /// dispatched (taken by a handler that answers later).
    frame: Option<u64>,
    ticket: Option<Ticket>,
    next_serial: u64,
    pub(crate) draining: bool,
    /// Where media commands go.
    pub(crate) media: Box<dyn MediaSink>,
    /// Calls placed on each media worker.
    pub(crate) worker_load: Vec<usize>,
    /// `Open`s each worker has not answered yet: a worker slow to answer (saturated,
    /// starved of CPU) gets fewer new calls.
    pub(crate) worker_opening: Vec<usize>,
    /// Commands that must reach a worker whose queue was full, in order, per worker.
    pub(crate) backlog: Vec<VecDeque<MediaCommand>>,
    pub(crate) next_token: u64,
    /// Bridges and parents' ring-backs.
    pub(crate) joins: joins::Joins,
    /// Conferences.
    pub(crate) confs: conferences::Conferences,
    /// A `sys.conf.construct` answered once its recording started: its result.
    pub(crate) conf_construct_reply: Option<(u64, Value)>,
    pub(crate) ids: Ids,
    pub(crate) media_root: std::path::PathBuf,
    pub(crate) record_root: std::path::PathBuf,
    /// The per-source INVITE rate limit.
    pub(crate) pike: pike::Pike,
    /// Counters for `/metrics`.
    pub(crate) figures: figures::Figures,
    /// The node's name in res_ids (set while the NATS control bus is on).
    pub(crate) node: Option<String>,
    /// The NATS control bus, as one client connection (see `bus.rs`).
    pub(crate) bus: Option<ConnId>,
    /// Fault injection armed (test builds only; see `faults.rs`).
    #[cfg(debug_assertions)]
    pub(crate) faults: bool,
}

impl Gateway {
    /// A gateway as `boot` describes it, sending media commands to `media`.
    pub fn new(cfg: &Config, boot: Boot, media: Box<dyn MediaSink>) -> anyhow::Result<Gateway> {
        let Boot {
            local,
            public_ip,
            now,
            unix_now,
            process_id,
            seed,
            workers,
            media_root,
            record_root,
        } = boot;
        let mut ids = Ids::seeded(seed);
        let (lo, hi) = cfg.media.rtp_port_range()?;
        let mut gateways = Vec::new();
        for g in &cfg.gateways {
            let (host, port) = crate::sip::split_host_port(&g.address).ok_or_else(|| {
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
        let workers = workers.max(1);
        let tx = TransactionLayer::new(tcfg, ids.fork());
        Ok(Gateway {
            cfg: cfg.clone(),
            local,
            public_ip,
            process_id,
            base_instant: now,
            base_unix: unix_now,
            tx,
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
            replies: Replies::default(),
            frame: None,
            ticket: None,
            next_serial: 1,
            draining: false,
            media,
            worker_load: vec![0; workers],
            worker_opening: vec![0; workers],
            backlog: (0..workers).map(|_| VecDeque::new()).collect(),
            next_token: 1,
            joins: joins::Joins::default(),
            confs: conferences::Conferences::default(),
            conf_construct_reply: None,
            ids,
            media_root,
            record_root,
            pike: pike::Pike::new(cfg.sip.max_invites_per_second_per_source),
            figures: figures::Figures::default(),
            node: cfg.api.nats.url.as_ref().and(cfg.api.nats.node.clone()),
            bus: None,
            #[cfg(debug_assertions)]
            faults: false,
        })
    }

    /// The engine's counters since start (for `/metrics`).
    pub fn figures(&self) -> &figures::Figures {
        &self.figures
    }

    /// Live calls by (direction, state name), every pair present (0 where none).
    pub fn calls_by_state(&self) -> Vec<((&'static str, &'static str), u64)> {
        use crate::call::state::CallDirection as D;
        const STATES: [State; 11] = [
            State::Initiated,
            State::Ring,
            State::Answer,
            State::Idle,
            State::Play,
            State::Record,
            State::SendDtmf,
            State::ReceiveDtmf,
            State::Dial,
            State::Connect,
            State::Conference,
        ];
        let mut counts: std::collections::BTreeMap<(&'static str, &'static str), u64> =
            [D::Inbound, D::Outbound]
                .iter()
                .flat_map(|d| STATES.iter().map(|s| ((d.as_str(), s.name()), 0)))
                .collect();
        for c in self.calls.values().filter(|c| c.is_live()) {
            *counts.entry((c.dir.as_str(), c.state.name())).or_default() += 1;
        }
        counts.into_iter().collect()
    }

    /// SIP transactions alive in the transaction layer.
    pub fn transactions(&self) -> usize {
        self.tx.len()
    }

    /// Live calls that began before Unix time `cutoff` (calls up for longer than a
    /// call should be: stuck ones, in a soak).
    pub fn calls_begun_before(&self, cutoff: u64) -> usize {
        self.calls
            .values()
            .filter(|c| c.is_live() && c.begin_time < cutoff)
            .count()
    }

    /// Queue depths inside the engine: API frames whose reply waits for the media plane,
    /// and media commands waiting for room in each worker's queue.
    pub fn queue_depths(&self) -> (usize, Vec<usize>) {
        (
            self.replies.len(),
            self.backlog.iter().map(VecDeque::len).collect(),
        )
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
        self.guarded(None, "a SIP datagram", now, |gw| {
            gw.sip_datagram(data, from, now)
        });
        self.drain_tx(now);
    }

    /// An API client connected.
    pub fn connect(&mut self, conn: ConnId, accepts_incoming: bool) {
        self.clients.connect(conn, accepts_incoming);
    }

    /// An API client went away: its resources live on and hold their events.
    pub fn disconnect(&mut self, conn: ConnId, now: Instant) {
        self.clients.disconnect(conn);
        if self.bus == Some(conn) {
            // The control bus fell behind (its queue filled): off until the next start;
            // its calls are orphans like any disconnected client's, new calls go to
            // WebSocket clients.
            tracing::error!(
                "the control bus fell behind and is off: calls go to WebSocket clients"
            );
            self.bus = None;
        }
        // Replies it was waiting for are moot; the events held behind them are kept
        // with their resources like every event of an orphan (see `emit`).
        let _ = self.replies.drop_conn(conn);
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

    /// One parsed text frame from `conn`: every request is handled in order. The
    /// frame's response (single or batch) goes out once every request has its outcome
    /// (some wait for the media plane), followed by the events it caused.
    pub fn handle_frame(&mut self, conn: ConnId, frame: RpcFrame, now: Instant) {
        self.retry_media(now);
        let (entries, batch) = match frame {
            RpcFrame::Error(e) => {
                self.outputs.push_back(Output::Client {
                    conn,
                    text: e.to_response(),
                });
                return;
            }
            RpcFrame::Single(entry) => (vec![entry], false),
            RpcFrame::Batch(entries) => (entries, true),
        };
        let frame = self.replies.open(conn, batch);
        self.frame = Some(frame);
        for entry in entries {
            let req = match entry {
                Ok(req) => req,
                Err(e) => {
                    self.replies.push_done(frame, Some(e.to_response()));
                    continue;
                }
            };
            let ticket = self.replies.push_waiting(frame, req.id.clone());
            self.ticket = Some(ticket);
            let serial = req.params.as_ref().and_then(|p| self.request_call(p));
            let span = serial.map_or_else(tracing::Span::none, |s| self.call_span(s));
            let _in_span = span.enter();
            let what = format!("API request {}", req.method);
            let first_new = self.next_serial;
            let outcome = self.guarded(serial, &what, now, |gw| {
                crate::api::methods::decode(&req.method, req.params.clone())
                    .and_then(|request| gw.dispatch(conn, request, now))
            });
            match outcome {
                // A handler that answers later took the ticket; the others answer now.
                Some(outcome) => {
                    if self.ticket.take().is_some() {
                        self.replies.resolve(ticket, outcome);
                    }
                }
                None => {
                    // A call the request was creating goes too.
                    for s in first_new..self.next_serial {
                        if self.calls.get(&s).is_some_and(|c| c.is_live()) {
                            self.release_after_fault(s, now);
                        }
                    }
                    self.ticket = None;
                    let e = crate::api::errors::RpcError::internal(
                        "internal error: the request failed; the call it named was released"
                            .to_string(),
                    );
                    self.replies.resolve(ticket, Err(e));
                }
            }
        }
        self.frame = None;
        self.replies.seal(frame);
        self.flush_frame(frame);
        self.drain_tx(now);
    }

    /// Sends `frame`'s response and the events held behind it, once it is complete.
    pub(crate) fn flush_frame(&mut self, frame: u64) {
        if let Some((conn, texts)) = self.replies.take_if_complete(frame) {
            for text in texts {
                self.outputs.push_back(Output::Client { conn, text });
            }
        }
    }

    /// The request being dispatched answers later: its ticket, to resolve with
    /// [`Gateway::answer_later`].
    pub(crate) fn defer(&mut self) -> Option<Ticket> {
        self.ticket.take()
    }

    /// The deferred request `ticket` has its outcome.
    pub(crate) fn answer_later(
        &mut self,
        ticket: Ticket,
        outcome: Result<Value, crate::api::errors::RpcError>,
    ) {
        self.replies.resolve(ticket, outcome);
        self.flush_frame(ticket.frame());
    }

    /// The frame being dispatched is about resource `serial`.
    pub(crate) fn involve(&mut self, serial: u64) {
        if let Some(f) = self.frame {
            self.replies.involve(f, serial);
        }
    }

    /// Run whatever timers are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.retry_media(now);
        self.tx.handle_timeout(now);
        self.drain_tx(now);
        while let Some(key) = self.timers.pop_due(now) {
            let serial = (key.serial != 0).then_some(key.serial);
            self.guarded(serial, "a timer", now, |gw| gw.on_timer(key, now));
        }
        self.drain_tx(now);
    }

    /// Drain (SIGTERM): new calls are refused (INVITE and OPTIONS 503, `construct`
    /// -32004) while the live ones run on for `sip.drain_seconds`; then they are hung up
    /// ([`Gateway::end_drain`]). The driver stops once [`Gateway::is_drained`].
    pub fn start_drain(&mut self, now: Instant) {
        if self.draining {
            return;
        }
        self.draining = true;
        let after = Duration::from_secs(self.cfg.sip.drain_seconds);
        self.arm(0, TimerKind::DrainEnd, now + after);
        if after.is_zero() {
            self.end_drain(now);
        }
    }

    /// Ends the drain now (its time is up, or a second SIGTERM): every live call is
    /// released (BYE, CANCEL or 503); each still gets its completion events, its
    /// `on_released` and its call record.
    pub fn end_drain(&mut self, now: Instant) {
        self.draining = true;
        let live: Vec<u64> = self
            .calls
            .values()
            .filter(|c| c.is_live())
            .map(|c| c.serial)
            .collect();
        for serial in live {
            let span = self.call_span(serial);
            let _in_span = span.enter();
            let unsent = self
                .calls
                .get(&serial)
                .is_some_and(|c| !self.by_res.contains_key(&c.res_id));
            if unsent {
                // A dial not sent yet, unknown to the application: its construct is
                // answered with the error and nothing of it remains.
                let waiter = self.calls.get_mut(&serial).and_then(|c| c.waiting.take());
                if let Some(resource::OpenWaiter::Dial {
                    ticket: Some(t), ..
                }) = waiter
                {
                    let e =
                        crate::api::errors::RpcError::no_capacity("the gateway is shutting down");
                    self.answer_later(t, Err(e));
                }
                self.discard_dial(serial, now);
                continue;
            }
            self.hang_up(serial, 503, "sys", Some("gateway shutting down"), now);
        }
        self.drain_tx(now);
    }

    /// Draining, and nothing left: no live call, no `on_released` still to send.
    pub fn is_drained(&self) -> bool {
        self.draining
            && self
                .calls
                .values()
                .all(|c| c.released && c.pending_release.is_none())
    }

    /// Whether the gateway is draining.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    // ---- outputs ------------------------------------------------------------

    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some((to, data)) = self.tx.poll_transmit() {
            return Some(Output::Sip { to, data });
        }
        self.outputs.pop_front()
    }

    /// The next deadline: a timer, or a retry of media commands a full queue refused.
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

    /// The tracing span of call `serial` (its res_id and SIP Call-ID on every line
    /// logged inside it); none for a call that is gone.
    pub(crate) fn call_span(&self, serial: u64) -> tracing::Span {
        match self.calls.get(&serial) {
            Some(c) => tracing::info_span!(
                "call",
                res_id = %c.res_id,
                call_id = %c.leg.dialog.call_id
            ),
            None => tracing::Span::none(),
        }
    }

    /// The live call an API request names (`res_id`, by name or first by position).
    fn request_call(&self, params: &Value) -> Option<u64> {
        let res_id = params
            .get("res_id")
            .or_else(|| params.get(0))
            .and_then(Value::as_str)?;
        self.by_res.get(res_id).copied()
    }

    pub(crate) fn res_id_for(&self, serial: u64, kind: &str) -> String {
        res_id::format(serial, kind, self.process_id, self.node.as_deref())
    }

    pub(crate) fn push_client(&mut self, conn: ConnId, text: String) {
        self.outputs.push_back(Output::Client { conn, text });
    }

    pub(crate) fn push_sip(&mut self, to: SocketAddr, data: Vec<u8>) {
        self.outputs.push_back(Output::Sip { to, data });
    }

    /// Send event `name` of call `serial` to its owner (behind the reply to a request
    /// of that owner about the call that is still out), or hold it while it has none.
    pub(crate) fn emit(&mut self, serial: u64, name: &str, params: Value) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let text = jsonrpc::notification(&format!("sys.call.{name}"), &params);
        match call.owner {
            Some(conn) if self.clients.is_connected(conn) => {
                if let Some(text) = self.replies.hold(conn, serial, text) {
                    self.outputs.push_back(Output::Client { conn, text });
                }
            }
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
        // A request over the bus renews the bus's claim (an orphan timer armed when its
        // events went unacknowledged is stale from now on).
        if call.owner != Some(conn) || self.bus == Some(conn) {
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
                TimerKind::SessionRefresh | TimerKind::SessionExpire => c.leg.session_generation,
                TimerKind::ConnectMax | TimerKind::SchedulePlay => {
                    self.joins.bridges.get(&serial).map_or(0, |b| b.generation)
                }
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
        if key.kind == TimerKind::MediaRetry {
            return self.retry_media(now);
        }
        if key.kind == TimerKind::ConfMax {
            return self.conf_release(key.serial, now);
        }
        if key.kind == TimerKind::DrainEnd {
            tracing::info!("drain time is up: hanging up the calls left");
            return self.end_drain(now);
        }
        let span = self.call_span(key.serial);
        let _in_span = span.enter();
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
                let unowned = call.owner.is_none() || call.owner == self.bus;
                if call.is_live() && unowned && call.owner_generation == key.generation {
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
            TimerKind::MediaRetry | TimerKind::ConfMax | TimerKind::DrainEnd => {}
            TimerKind::MemberMax => self.member_max_reached(key.serial, now),
            TimerKind::ConnectMax | TimerKind::SchedulePlay => {
                let current = self
                    .joins
                    .bridges
                    .get(&key.serial)
                    .is_some_and(|b| b.generation == key.generation);
                if current && key.kind == TimerKind::ConnectMax {
                    self.connect_max_reached(key.serial, now);
                } else if current {
                    self.schedule_play_due(key.serial, now);
                }
            }
            TimerKind::ReleaseFlush => self.settle_release(key.serial, true, now),
            TimerKind::Collect => {
                if call.collect_generation == key.generation {
                    self.collect_timeout(key.serial, now);
                }
            }
            TimerKind::SessionRefresh => {
                if call.leg.session_generation == key.generation {
                    self.session_refresh_due(key.serial, now);
                }
            }
            TimerKind::SessionExpire => {
                if call.leg.session_generation == key.generation {
                    self.session_expired(key.serial, now);
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
        // on_released waits for the media plane's `Closed`, which follows every
        // completion event of the call (a recording is complete on disk by then) and
        // brings its RTP figures; see `release.rs`.
        call.pending_release = Some(params);
        call.awaiting_close = true;
        self.by_res.remove(&res_id);
        // Requests still waiting for the media are answered before on_released.
        self.fail_waiting(serial);
        self.close_media(serial, now);
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
        self.arm(serial, TimerKind::ReleaseFlush, now + RELEASE_FLUSH);
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

    /// A released call's last action has completed, or its media closed: `on_released`
    /// goes once both have happened.
    pub(crate) fn finish_pending_release(&mut self, serial: u64, now: Instant) {
        self.settle_release(serial, false, now);
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
            if self.by_call_id.get(&c.leg.dialog.call_id) == Some(&serial) {
                self.by_call_id.remove(&c.leg.dialog.call_id);
            }
            self.calls.remove(&serial);
        }
    }
}
