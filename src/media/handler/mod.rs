//! [`MediaWorker`]: the [`MediaHandler`] of one worker. Owns the worker's calls
//! ([`Calls`]), routes datagrams to them by socket, commands by call id, and runs every
//! call's frames on its ticks (each call on its own phase of the 20 ms grid, so sends
//! are spread). `handover` moves a call to another worker; `joins` joins two of its
//! calls; `confs` holds its conferences, and `conf_tick` runs their frames.
//!
//! A panic in one call's handling (a command, a datagram, a tick, its join's tick) is
//! contained: that call's media is closed (its actions end with an error, `Closed`
//! follows, and the engine releases the call with cause 500), the worker and its other
//! calls go on. A panic in a conference's frame closes that conference (its members
//! leave it, told why).

mod conf_tick;
mod confs;
mod handover;
mod joins;

pub use confs::{Confs, EnterRequest};
pub use handover::{Moving, Peers};
pub use joins::JoinRequest;

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::InbandFactory;
use super::calls::Calls;
use super::channel::{Channel, Shared};
use super::commands::{CallId, Command, MediaError, MediaEvent, WorkerEvent};
use super::play::Play;
use super::record::RecQueue;
use crate::worker::{IoCtx, MediaHandler, SocketToken};

/// Reason given to actions ended by `close_call`.
pub const RELEASED: &str = "call released";
/// Reason given to actions ended by shutdown.
pub const SHUTDOWN: &str = "shutdown";
/// Reason given to a membership ended by joining another call.
const JOINED: &str = "joined with another call";
/// Reason given to actions of a call whose media handling panicked.
pub const MEDIA_FAILURE: &str = "media failure";

/// The media layer's handler on one worker.
pub struct MediaWorker {
    calls: Calls,
    shared: Shared,
    inband: Option<InbandFactory>,
    opened: u64,
    /// SSRCs and initial sequence numbers and timestamps of this worker's calls.
    rng: rand::rngs::StdRng,
    /// This worker's index, and the other workers (for hand-overs).
    index: usize,
    peers: Peers,
    /// Calls being moved away: their sockets are being detached.
    moving: Vec<handover::MoveOut>,
    /// Calls detached and waiting for room in their new worker's queue.
    handovers: Vec<(usize, Box<Moving>)>,
    /// The joins between this worker's calls (slots named by their legs).
    joins: Vec<Option<crate::media::join::Join>>,
    free_joins: Vec<u32>,
    /// The conferences on this worker.
    confs: Confs,
    /// The mixing kernel of new conferences (`None`: the fastest this CPU has).
    mixer_kernel: Option<crate::mixer::Kernel>,
}

impl MediaWorker {
    /// The handler of worker `index`, writing recordings into `rec_q`; `peers` will
    /// name every worker of the plane once they all run.
    pub fn new(
        rec_q: RecQueue,
        rtp_timeout: Option<Duration>,
        inband: Option<InbandFactory>,
        start: Instant,
        index: usize,
        peers: Peers,
    ) -> Self {
        Self {
            calls: Calls::with_capacity(1024),
            shared: Shared::new(rec_q, rtp_timeout, start),
            inband,
            opened: 0,
            rng: rand::SeedableRng::seed_from_u64(rand::random()),
            index,
            peers,
            moving: Vec::new(),
            handovers: Vec::new(),
            joins: Vec::new(),
            free_joins: Vec::new(),
            confs: Confs::default(),
            mixer_kernel: None,
        }
    }

    /// Mix new conferences on `kernel` (`None`: the fastest this CPU has).
    pub fn set_mixer_kernel(&mut self, kernel: Option<crate::mixer::Kernel>) {
        self.mixer_kernel = kernel;
    }

    /// The first frame time of something new on this worker (a call, a conference):
    /// each on its own phase of the 20 ms grid, so sends are spread over the ticks.
    fn first_frame(&mut self, io: &mut IoCtx<'_, WorkerEvent>) -> Instant {
        let info = io.info();
        let per_frame =
            (Duration::from_millis(20).as_nanos() / info.tick.as_nanos().max(1)).max(1) as u64;
        let k = info.tick_index(io.now()) + 1 + self.opened % per_frame;
        self.opened += 1;
        info.start + info.tick * u32::try_from(k).unwrap_or(u32::MAX)
    }

    /// Keep latency histograms, published into `snapshot`.
    pub fn enable_latency(&mut self, snapshot: std::sync::Arc<super::latency::LatencySnapshot>) {
        self.shared.latency = Some(super::latency::WorkerLatency::new(snapshot, Instant::now()));
    }

    /// Also detect in-band DTMF on calls that negotiated telephone-event (not joined).
    pub fn inband_with_telephone_event(&mut self, on: bool) {
        self.shared.inband_with_te = on;
    }

    /// Detect in-band DTMF of all this worker's calls with SIMD detector banks.
    pub fn enable_inband_pool(&mut self) {
        self.shared.inband_pool = Some(super::inband_pool::InbandPool::new());
    }

    fn open(
        &mut self,
        call: CallId,
        local: SocketAddr,
        io: &mut IoCtx<'_, WorkerEvent>,
    ) -> Result<SocketAddr, MediaError> {
        if self.calls.slot_of(call).is_some() {
            return Err(MediaError::AlreadyOpen(call));
        }
        let rtp = io.bind_udp(local).map_err(|source| MediaError::Bind {
            addr: local,
            source,
        })?;
        let bound = io.local_addr(rtp).unwrap_or(local);
        let rtcp_addr = SocketAddr::new(bound.ip(), bound.port().wrapping_add(1));
        let rtcp = match io.bind_udp(rtcp_addr) {
            Ok(t) => t,
            Err(source) => {
                io.close(rtp);
                return Err(MediaError::Bind {
                    addr: rtcp_addr,
                    source,
                });
            }
        };
        let first = self.first_frame(io);
        let inband = self.inband.as_ref().map(|f| f());
        let sender = crate::rtp::RtpSender::from_rng(&mut self.rng, 0, 160);
        self.calls
            .insert(call, Channel::new(call, rtp, rtcp, first, inband, sender));
        Ok(bound)
    }

    fn close(&mut self, call: CallId, reason: &str, io: &mut IoCtx<'_, WorkerEvent>) {
        if let Some(pool) = self.shared.inband_pool.as_mut() {
            pool.detach(call);
        }
        self.end_join_of(call, reason, io);
        self.conf_leave_of(call, reason, io);
        // A call being moved away: its descriptors already detached close with it.
        self.moving.retain(|m| m.call != call);
        if let Some(ch) = self.calls.slot_of(call).and_then(|s| self.calls.remove(s)) {
            ch.close(reason, io, &mut self.shared);
        } else {
            // Its ports were never bound (or it is already gone): the engine still
            // learns that nothing of it is left here.
            io.emit(WorkerEvent::Public(MediaEvent::Closed {
                call,
                stats: Default::default(),
            }));
        }
    }

    /// Number of calls on this worker.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True without calls.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Call `call`'s handling panicked: its media is closed (or, if closing panics too,
    /// just forgotten), and `Closed` tells the engine.
    fn contain(&mut self, call: CallId, what: &str, io: &mut IoCtx<'_, WorkerEvent>) {
        tracing::error!(
            call,
            "panic in the media of the engine's call {call} ({what}): its media is closed, the worker's other calls go on"
        );
        if let Some(pool) = self.shared.inband_pool.as_mut() {
            pool.detach(call);
        }
        // Its partner in a join goes back to its own media, told why.
        if catch_unwind(AssertUnwindSafe(|| {
            self.end_join_of(call, MEDIA_FAILURE, io)
        }))
        .is_err()
        {
            self.forget_join_of(call);
        }
        // Its conference goes on without it, told why.
        if catch_unwind(AssertUnwindSafe(|| {
            self.conf_leave_of(call, MEDIA_FAILURE, io)
        }))
        .is_err()
        {
            tracing::error!(call, "its conference could not be told it left");
        }
        self.moving.retain(|m| m.call != call);
        let Some(ch) = self.calls.slot_of(call).and_then(|s| self.calls.remove(s)) else {
            return io.emit(WorkerEvent::Public(MediaEvent::Closed {
                call,
                stats: Default::default(),
            }));
        };
        let (rtp, rtcp) = (ch.rtp, ch.rtcp);
        let shared = &mut self.shared;
        let closed = catch_unwind(AssertUnwindSafe(|| ch.close(MEDIA_FAILURE, io, shared)));
        if closed.is_err() {
            io.close(rtp);
            io.close(rtcp);
            io.emit(WorkerEvent::Public(MediaEvent::Closed {
                call,
                stats: Default::default(),
            }));
        }
    }

    fn command(&mut self, cmd: Command, io: &mut IoCtx<'_, WorkerEvent>) {
        match cmd {
            Command::Open { call, local } => {
                let ev = match self.open(call, local, io) {
                    Ok(bound) => MediaEvent::Opened { call, local: bound },
                    Err(e) => MediaEvent::OpenFailed {
                        call,
                        reason: e.to_string(),
                    },
                };
                io.emit(WorkerEvent::Public(ev));
            }
            Command::Close(call) => self.close(call, RELEASED, io),
            Command::SetRemote(call, r) => {
                let now = io.now();
                if let Some(ch) = self.calls.get_mut(call) {
                    ch.set_remote(r, now, io);
                    self.join_renegotiated(call);
                    self.conf_renegotiated(call);
                }
            }
            Command::Play {
                call,
                audio,
                finish_keys,
                repeat,
                to_join: true,
            } => self.join_play(call, Play::new(audio, repeat, finish_keys), io),
            Command::Play {
                call,
                audio,
                finish_keys,
                repeat,
                to_join: false,
            } => match self.calls.get_mut(call) {
                Some(ch) => ch.start_play(Play::new(audio, repeat, finish_keys), io),
                None => io.emit(WorkerEvent::Public(MediaEvent::PlayCompleted {
                    call,
                    error: Some(RELEASED.into()),
                    finish_key: None,
                })),
            },
            Command::PlayPending {
                call,
                token,
                finish_keys,
                to_join,
            } => {
                if to_join {
                    self.join_play(call, Play::pending(token, finish_keys), io);
                } else if let Some(ch) = self.calls.get_mut(call) {
                    ch.start_play(Play::pending(token, finish_keys), io);
                }
            }
            Command::PlayReady {
                call,
                token,
                audio,
                repeat,
            } => {
                if let Some(p) = self.calls.get_mut(call).and_then(|c| c.pending_play(token)) {
                    p.ready(audio, repeat);
                } else if let Some(p) = self.pending_join_play(call, token) {
                    p.ready(audio, repeat);
                }
            }
            Command::PlayFailed {
                call,
                token,
                reason,
            } => {
                let own = self
                    .calls
                    .get_mut(call)
                    .is_some_and(|c| c.pending_play(token).is_some());
                if own {
                    if let Some(ch) = self.calls.get_mut(call) {
                        ch.fail_pending(token, reason, io);
                    }
                } else {
                    self.fail_join_play(call, token, reason, io);
                }
            }
            Command::StopPlay(call) => {
                if let Some(ch) = self.calls.get_mut(call) {
                    ch.end_play(None, None, io);
                }
            }
            Command::Record(call, r) => match self.calls.get_mut(call) {
                Some(ch) => ch.start_record(r, io, &mut self.shared),
                None => {
                    self.shared.end_recording(r.rec);
                    io.emit(WorkerEvent::RecordEnded {
                        rec: r.rec,
                        event: MediaEvent::RecordCompleted {
                            call,
                            error: Some(RELEASED.into()),
                            finish_key: None,
                            path: r.path,
                        },
                    });
                }
            },
            Command::StopRecord(call) => {
                if let Some(ch) = self.calls.get_mut(call) {
                    ch.end_record(Some("stopped".into()), None, io, &mut self.shared);
                }
            }
            Command::SendDtmf(call, keys) => match self.calls.get_mut(call) {
                Some(ch) => ch.send_dtmf(&keys, io),
                None => io.emit(WorkerEvent::Public(MediaEvent::SendDtmfCompleted {
                    call,
                    error: Some(RELEASED.into()),
                })),
            },
            Command::Digit(call, d) => {
                if !self.joined_info(call, d, io)
                    && let Some(ch) = self.calls.get_mut(call)
                {
                    ch.on_digit(d, super::commands::DigitSource::Info, io, &mut self.shared);
                }
            }
            Command::Move { call, to } => self.move_out(call, to, io),
            Command::Adopt(m) => self.adopt(m, io),
            Command::Join {
                a,
                b,
                token,
                spec,
                ringback,
                record,
                announced,
            } => {
                // A leg in a conference leaves it first.
                for call in [a, b] {
                    self.conf_leave_of(call, JOINED, io);
                }
                self.join(
                    JoinRequest {
                        a,
                        b,
                        token,
                        spec,
                        ringback,
                        record,
                        announced,
                    },
                    io,
                )
            }
            Command::Unjoin(a) => self.unjoin(a, io),
            Command::ConfOpen(conf) => self.conf_open(conf, io),
            Command::ConfClose(conf) => self.conf_close(conf, crate::media::conf::CLOSED, io),
            Command::ConfEnter {
                conf,
                call,
                token,
                mode,
                volume_db,
                announce,
            } => self.conf_enter(
                EnterRequest {
                    conf,
                    call,
                    token,
                    mode,
                    volume_db,
                    announce,
                },
                io,
            ),
            Command::ConfExit { conf, call } => self.conf_exit(conf, call, io),
            Command::ConfMode { conf, call, mode } => self.conf_mode(conf, call, mode),
            Command::ConfPending {
                conf,
                token,
                record,
            } => self.conf_pending(conf, token, record, io),
            Command::ConfStopPlay(conf) => self.conf_stop_play(conf, io),
            Command::ConfStopRecord(conf) => self.conf_stop_record(conf, io),
            Command::ConfPrepared {
                conf,
                call,
                token,
                result,
            } => self.conf_prepared(conf, call, token, result, io),
        }
    }
}

impl MediaHandler for MediaWorker {
    type Command = Command;
    type Event = WorkerEvent;

    fn on_command(&mut self, cmd: Command, io: &mut IoCtx<'_, WorkerEvent>) {
        let call = cmd.call();
        if catch_unwind(AssertUnwindSafe(|| self.command(cmd, io))).is_err() {
            if self.confs.slot_of(call).is_some() {
                // A conference's own command: the conference is closed.
                tracing::error!(conf = call, "panic in a conference's command: it is closed");
                self.conf_close(call, MEDIA_FAILURE, io);
            } else {
                self.contain(call, "a command", io);
            }
        }
    }

    fn on_detached(&mut self, sock: SocketToken, fd: OwnedFd, io: &mut IoCtx<'_, WorkerEvent>) {
        self.detached(sock, fd, io);
    }

    fn on_packet(
        &mut self,
        sock: SocketToken,
        data: &[u8],
        from: SocketAddr,
        now: Instant,
        io: &mut IoCtx<'_, WorkerEvent>,
    ) {
        let Some(slot) = self.calls.by_sock(sock) else {
            return;
        };
        let Some(call) = self.calls.at(slot).map(|c| c.call()) else {
            return;
        };
        let handled = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(debug_assertions)]
            super::faults::maybe_fault(data);
            let Some(ch) = self.calls.at(slot) else {
                return;
            };
            match ch.joined() {
                None => ch.on_packet(sock, data, from, now, io, &mut self.shared),
                Some(link) => self.joined_packet(slot, link, sock, data, from, now, io),
            }
        }));
        if handled.is_err() {
            return self.contain(call, "a datagram", io);
        }
        if let Some(l) = self.shared.latency.as_mut()
            && l.sample(super::latency::Metric::PacketUs)
        {
            let took = Instant::now().saturating_duration_since(now);
            l.record_sampled(super::latency::Metric::PacketUs, took.as_micros() as u64);
        }
    }

    fn on_tick(&mut self, now: Instant, io: &mut IoCtx<'_, WorkerEvent>) {
        let work_start = Instant::now();
        self.shared.sent_this_tick = 0;
        self.shared.retry_ends();
        self.retry_handovers(io);
        let mut failed = Vec::new();
        for slot in 0..self.calls.slots() {
            let (call, link) = match self.calls.at(slot) {
                Some(ch) if ch.joined().is_none() => (ch.call(), ch.member()),
                _ => continue,
            };
            let ticked = match link {
                None => {
                    let (calls, shared) = (&mut self.calls, &mut self.shared);
                    catch_unwind(AssertUnwindSafe(|| {
                        if let Some(ch) = calls.at(slot) {
                            ch.on_tick(now, io, shared);
                        }
                    }))
                }
                // A member's frames are its conference's, or its own grid's through
                // the conference's rings.
                Some(link) => catch_unwind(AssertUnwindSafe(|| {
                    self.tick_own_grid_member(slot, link, now, io);
                })),
            };
            if ticked.is_err() {
                failed.push(call);
            }
        }
        for call in failed {
            self.contain(call, "a tick", io);
        }
        self.tick_joins(now, io);
        self.tick_confs(now, io);
        // In-band DTMF of every call of this worker, eight channels per SIMD pass.
        if let Some(mut pool) = self.shared.inband_pool.take() {
            for &(call, digit) in pool.run() {
                if let Some(ch) = self.calls.get_mut(call) {
                    ch.on_digit(
                        digit,
                        super::commands::DigitSource::Inband,
                        io,
                        &mut self.shared,
                    );
                }
            }
            self.shared.inband_pool = Some(pool);
        }
        let sent = self.shared.sent_this_tick;
        if let Some(l) = self.shared.latency.as_mut() {
            use super::latency::Metric;
            l.record(Metric::TickWorkUs, work_start.elapsed().as_micros() as u64);
            if sent > 0 {
                l.record(Metric::SendsPerTick, sent);
            }
            l.maybe_publish(now);
        }
    }

    fn on_shutdown(&mut self, io: &mut IoCtx<'_, WorkerEvent>) {
        for call in self.calls.ids() {
            self.close(call, SHUTDOWN, io);
        }
        self.close_confs(SHUTDOWN, io);
        for (_, m) in std::mem::take(&mut self.handovers) {
            m.channel.close(SHUTDOWN, io, &mut self.shared);
        }
        // Every recording's end must reach the writer: wait (bounded) for queue room.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.shared.pending_ends.is_empty() && Instant::now() < deadline {
            self.shared.retry_ends();
            std::thread::yield_now();
        }
    }
}
