//! [`MediaWorker`]: the [`MediaHandler`] of one worker. Owns the worker's calls, routes
//! datagrams to them by socket, commands by call id, and runs every call's frames on
//! its ticks (each call on its own phase of the 20 ms grid, so sends are spread).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::InbandFactory;
use super::channel::{Channel, Shared};
use super::commands::{CallId, Command, MediaError, MediaEvent, WorkerEvent};
use super::play::Play;
use super::record::RecQueue;
use crate::worker::{IoCtx, MediaHandler, SocketToken};

/// Reason given to actions ended by `close_call`.
pub const RELEASED: &str = "call released";
/// Reason given to actions ended by shutdown.
pub const SHUTDOWN: &str = "shutdown";

/// The media layer's handler on one worker.
pub struct MediaWorker {
    calls: HashMap<CallId, Channel>,
    /// Socket slot index → (token, call).
    socks: Vec<Option<(SocketToken, CallId)>>,
    shared: Shared,
    inband: Option<InbandFactory>,
    opened: u64,
}

impl MediaWorker {
    /// A handler writing recordings into `rec_q`.
    pub fn new(
        rec_q: RecQueue,
        rtp_timeout: Option<Duration>,
        inband: Option<InbandFactory>,
        start: Instant,
    ) -> Self {
        Self {
            calls: HashMap::with_capacity(1024),
            socks: Vec::with_capacity(2048),
            shared: Shared::new(rec_q, rtp_timeout, start),
            inband,
            opened: 0,
        }
    }

    /// Keep latency histograms, published into `snapshot`.
    pub fn enable_latency(&mut self, snapshot: std::sync::Arc<super::latency::LatencySnapshot>) {
        self.shared.latency = Some(super::latency::WorkerLatency::new(snapshot, Instant::now()));
    }

    /// Detect in-band DTMF of all this worker's calls with SIMD detector banks.
    pub fn enable_inband_pool(&mut self) {
        self.shared.inband_pool = Some(super::inband_pool::InbandPool::new());
    }

    fn map_sock(&mut self, tok: SocketToken, call: Option<CallId>) {
        let i = tok.index() as usize;
        if self.socks.len() <= i {
            self.socks.resize(i + 1, None);
        }
        self.socks[i] = call.map(|c| (tok, c));
    }

    fn open(
        &mut self,
        call: CallId,
        local: SocketAddr,
        io: &mut IoCtx<'_, WorkerEvent>,
    ) -> Result<(), MediaError> {
        if self.calls.contains_key(&call) {
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
        // Phase: spread calls over the ticks of a 20 ms frame.
        let info = io.info();
        let per_frame =
            (Duration::from_millis(20).as_nanos() / info.tick.as_nanos().max(1)).max(1) as u64;
        let k = info.tick_index(io.now()) + 1 + self.opened % per_frame;
        let first = info.start + info.tick * u32::try_from(k).unwrap_or(u32::MAX);
        self.opened += 1;
        let inband = self.inband.as_ref().map(|f| f());
        self.calls
            .insert(call, Channel::new(call, rtp, rtcp, first, inband));
        self.map_sock(rtp, Some(call));
        self.map_sock(rtcp, Some(call));
        Ok(())
    }

    fn close(&mut self, call: CallId, reason: &str, io: &mut IoCtx<'_, WorkerEvent>) {
        if let Some(pool) = self.shared.inband_pool.as_mut() {
            pool.detach(call);
        }
        if let Some(ch) = self.calls.remove(&call) {
            self.map_sock(ch.rtp, None);
            self.map_sock(ch.rtcp, None);
            ch.close(reason, io, &mut self.shared);
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
}

impl MediaHandler for MediaWorker {
    type Command = Command;
    type Event = WorkerEvent;

    fn on_command(&mut self, cmd: Command, io: &mut IoCtx<'_, WorkerEvent>) {
        match cmd {
            Command::Open { call, local, reply } => {
                let r = self.open(call, local, io);
                let _ = reply.send(r);
            }
            Command::Close(call) => self.close(call, RELEASED, io),
            Command::SetRemote(call, r) => {
                let now = io.now();
                if let Some(ch) = self.calls.get_mut(&call) {
                    ch.set_remote(r, now);
                }
            }
            Command::Play {
                call,
                audio,
                finish_keys,
                repeat,
            } => match self.calls.get_mut(&call) {
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
            } => {
                if let Some(ch) = self.calls.get_mut(&call) {
                    ch.start_play(Play::pending(token, finish_keys), io);
                }
            }
            Command::PlayReady {
                call,
                token,
                audio,
                repeat,
            } => {
                if let Some(p) = self
                    .calls
                    .get_mut(&call)
                    .and_then(|c| c.pending_play(token))
                {
                    p.ready(audio, repeat);
                }
            }
            Command::PlayFailed {
                call,
                token,
                reason,
            } => {
                if let Some(ch) = self.calls.get_mut(&call) {
                    ch.fail_pending(token, reason, io);
                }
            }
            Command::StopPlay(call) => {
                if let Some(ch) = self.calls.get_mut(&call) {
                    ch.end_play(None, None, io);
                }
            }
            Command::Record(call, r) => match self.calls.get_mut(&call) {
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
                if let Some(ch) = self.calls.get_mut(&call) {
                    ch.end_record(Some("stopped".into()), None, io, &mut self.shared);
                }
            }
            Command::SendDtmf(call, keys) => match self.calls.get_mut(&call) {
                Some(ch) => ch.send_dtmf(&keys, io),
                None => io.emit(WorkerEvent::Public(MediaEvent::SendDtmfCompleted {
                    call,
                    error: Some(RELEASED.into()),
                })),
            },
            Command::Digit(call, d) => {
                if let Some(ch) = self.calls.get_mut(&call) {
                    ch.on_digit(d, super::commands::DigitSource::Info, io, &mut self.shared);
                }
            }
        }
    }

    fn on_packet(
        &mut self,
        sock: SocketToken,
        data: &[u8],
        from: SocketAddr,
        now: Instant,
        io: &mut IoCtx<'_, WorkerEvent>,
    ) {
        let Some(Some((tok, call))) = self.socks.get(sock.index() as usize) else {
            return;
        };
        if *tok != sock {
            return;
        }
        if let Some(ch) = self.calls.get_mut(call) {
            ch.on_packet(sock, data, from, now, io, &mut self.shared);
            if let Some(l) = self.shared.latency.as_mut() {
                let took = Instant::now().saturating_duration_since(now);
                l.record(super::latency::Metric::PacketUs, took.as_micros() as u64);
            }
        }
    }

    fn on_tick(&mut self, now: Instant, io: &mut IoCtx<'_, WorkerEvent>) {
        let work_start = Instant::now();
        self.shared.sent_this_tick = 0;
        self.shared.retry_ends();
        for ch in self.calls.values_mut() {
            ch.on_tick(now, io, &mut self.shared);
        }
        // In-band DTMF of every call of this worker, eight channels per SIMD pass.
        if let Some(mut pool) = self.shared.inband_pool.take() {
            for &(call, digit) in pool.run() {
                if let Some(ch) = self.calls.get_mut(&call) {
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
        let calls: Vec<CallId> = self.calls.keys().copied().collect();
        for call in calls {
            self.close(call, SHUTDOWN, io);
        }
        // Every recording's end must reach the writer: wait (bounded) for queue room.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.shared.pending_ends.is_empty() && Instant::now() < deadline {
            self.shared.retry_ends();
            std::thread::yield_now();
        }
    }
}
