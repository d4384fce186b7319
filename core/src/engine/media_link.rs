//! The engine's side of the media plane: which worker a call's media lives on (the
//! least loaded), its RTP port and the `Open` that binds it (another port when binding
//! fails), pointing it at the negotiated peer, closing it at release, and the order of
//! commands to each worker. A command that starts something is refused at once when the
//! worker's queue is full (the request gets an error); one that must arrive (set the
//! far end, stop, close) waits in a per-worker backlog, in order, and is tried again
//! shortly — nothing here ever waits for a worker.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::resource::{MediaLink, OpenWaiter};
use super::{Gateway, TimerKind};
use crate::api::errors::RpcError;
use crate::media_msg::{MediaCommand, MediaEvent, RemoteMedia};

/// How many ports to try when binding fails (another process holds the port).
const PORT_TRIES: u32 = 8;
/// How soon a command refused by a full worker queue is tried again.
const RETRY: Duration = Duration::from_millis(2);
/// What an unanswered `Open` weighs against a worker, in calls: a worker that stops
/// answering stops getting calls long before its call count says so.
const OPENING_WEIGHT: usize = 64;

/// Why a call's media could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenRefused {
    /// Every port of `media.rtp_ports` is in use.
    NoPort,
    /// The chosen worker's queue is full.
    Busy,
}

impl OpenRefused {
    /// The API error for a request that needed the media.
    pub(crate) fn rpc(self) -> RpcError {
        match self {
            OpenRefused::NoPort => RpcError::no_capacity("no free RTP port in media.rtp_ports"),
            OpenRefused::Busy => RpcError::media("", "the media worker is overloaded, try again"),
        }
    }

    /// What it counts as on `/metrics`.
    pub(crate) fn shed(self) -> super::figures::Shed {
        match self {
            OpenRefused::NoPort => super::figures::Shed::RtpPorts,
            OpenRefused::Busy => super::figures::Shed::WorkerBusy,
        }
    }
}

impl Gateway {
    /// The worker with the fewest calls, counting each `Open` it has not answered yet
    /// as many calls.
    pub(crate) fn pick_worker(&self) -> usize {
        (0..self.worker_load.len())
            .min_by_key(|&i| self.worker_load[i] + OPENING_WEIGHT * self.worker_opening[i])
            .unwrap_or(0)
    }

    fn rtp_addr(&self, port: u16) -> SocketAddr {
        let ip = match self.local.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ip => ip,
        };
        SocketAddr::new(ip, port)
    }

    /// Reserve an RTP port for `serial` and ask `worker` to bind it; the outcome comes
    /// back as [`MediaEvent::Opened`] or [`MediaEvent::OpenFailed`].
    pub(crate) fn open_media(&mut self, serial: u64, worker: usize) -> Result<u16, OpenRefused> {
        let port = self.ports.allocate().ok_or(OpenRefused::NoPort)?;
        let cmd = MediaCommand::Open {
            call: serial,
            local: self.rtp_addr(port),
        };
        if self.try_media(worker, cmd).is_err() {
            self.ports.release(port);
            return Err(OpenRefused::Busy);
        }
        self.worker_load[worker] += 1;
        self.worker_opening[worker] += 1;
        Ok(port)
    }

    /// Queue a command that starts something: refused when the worker's queue is full
    /// (or commands wait ahead of it in the backlog).
    pub(crate) fn try_media(&mut self, worker: usize, cmd: MediaCommand) -> Result<(), ()> {
        if !self.backlog[worker].is_empty() {
            return Err(());
        }
        self.media.try_send(worker, cmd).map_err(|_| ())
    }

    /// Queue a command that must arrive, in order behind any waiting for that worker.
    pub(crate) fn deliver(&mut self, worker: usize, cmd: MediaCommand, now: Instant) {
        if self.backlog[worker].is_empty() {
            match self.media.try_send(worker, cmd) {
                Ok(()) => return,
                Err(cmd) => self.backlog[worker].push_back(cmd),
            }
        } else {
            self.backlog[worker].push_back(cmd);
        }
        tracing::warn!(
            worker,
            waiting = self.backlog[worker].len(),
            "media worker queue full: commands wait for room (is the worker overloaded?)"
        );
        self.arm(0, TimerKind::MediaRetry, now + RETRY);
    }

    /// Tries the backlog again, in order; what still does not fit waits on.
    pub(crate) fn retry_media(&mut self, now: Instant) {
        let mut waiting = false;
        for worker in 0..self.backlog.len() {
            while let Some(cmd) = self.backlog[worker].pop_front() {
                if let Err(cmd) = self.media.try_send(worker, cmd) {
                    self.backlog[worker].push_front(cmd);
                    waiting = true;
                    break;
                }
            }
        }
        if waiting {
            self.arm(0, TimerKind::MediaRetry, now + RETRY);
        }
    }

    /// A command about one call that must arrive: to its worker, or, while its media is
    /// moving, kept until it has arrived.
    pub(crate) fn call_cmd(&mut self, serial: u64, cmd: MediaCommand, now: Instant) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if let Some(held) = call.moving.as_mut() {
            held.push(cmd);
            return;
        }
        let worker = call.worker;
        self.deliver(worker, cmd, now);
    }

    /// Moves the call's media to `to` (for a join there); its commands wait meanwhile.
    pub(crate) fn move_media(&mut self, serial: u64, to: usize, now: Instant) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if call.worker == to || call.moving.is_some() {
            return;
        }
        let from = call.worker;
        call.moving = Some(Vec::new());
        self.worker_load[from] = self.worker_load[from].saturating_sub(1);
        self.worker_load[to] += 1;
        self.deliver(from, MediaCommand::Move { call: serial, to }, now);
    }

    /// The call's media arrived on `worker`: the commands that waited go there.
    pub(crate) fn on_moved(&mut self, serial: u64, worker: usize, now: Instant) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        call.worker = worker;
        let held = call.moving.take().unwrap_or_default();
        for cmd in held {
            self.deliver(worker, cmd, now);
        }
        self.joins_after_move(serial, now);
    }

    /// Ends the call's media (its running action completes first, then `Closed`).
    pub(crate) fn close_media(&mut self, serial: u64, now: Instant) {
        let Some(worker) = self.calls.get(&serial).map(|c| c.worker) else {
            return;
        };
        self.worker_load[worker] = self.worker_load[worker].saturating_sub(1);
        self.call_cmd(serial, MediaCommand::Close { call: serial }, now);
    }

    /// Point the call's media at the negotiated peer.
    pub(crate) fn push_remote(&mut self, serial: u64, now: Instant) {
        let Some(call) = self.calls.get(&serial) else {
            return;
        };
        let Some(m) = call.media else { return };
        let remote = RemoteMedia {
            rtp: m.remote_rtp,
            rtcp: Some(m.remote_rtcp),
            codec: m.codec,
            pt: m.payload_type,
            dtmf_pt: m.dtmf_pt,
            ptime_ms: m.ptime_ms,
            rtcp_mux: m.rtcp_mux,
            send: m.direction.sends(),
            recv: m.direction.receives(),
        };
        self.call_cmd(
            serial,
            MediaCommand::SetRemote {
                call: serial,
                remote,
            },
            now,
        );
    }

    /// Requests of a call that is going away and still wait for its media are answered
    /// (before its `on_released`).
    pub(crate) fn fail_waiting(&mut self, serial: u64) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let res_id = call.res_id.clone();
        let waiter = call.waiting.take();
        let start = call.starting.as_mut().and_then(|s| s.ticket.take());
        let gone = || RpcError::bad_state(&res_id, "Released");
        match waiter {
            Some(OpenWaiter::Answer {
                ticket: Some(t), ..
            })
            | Some(OpenWaiter::Dial {
                ticket: Some(t), ..
            }) => self.answer_later(t, Err(gone())),
            _ => {}
        }
        if let Some(t) = start {
            self.answer_later(t, Err(gone()));
        }
    }

    /// An event from the media plane.
    pub fn handle_media(&mut self, ev: MediaEvent, now: Instant) {
        self.retry_media(now);
        let serial = ev.call();
        let span = self.call_span(serial);
        let _in_span = span.enter();
        self.guarded(Some(serial), "a media event", now, |gw| {
            gw.on_media_event(ev, now)
        });
        self.drain_tx(now);
    }

    fn on_media_event(&mut self, ev: MediaEvent, now: Instant) {
        if let MediaEvent::Closed { call, stats } = &ev {
            self.media_closed(*call, *stats, now);
        }
        match ev {
            MediaEvent::Opened { call, .. } => self.on_opened(call, now),
            MediaEvent::OpenFailed { call, reason } => self.on_open_failed(call, &reason, now),
            MediaEvent::Moved { call, worker } => self.on_moved(call, worker, now),
            MediaEvent::JoinEnded {
                a,
                error,
                record_path,
            } => self.on_join_ended(a, error, record_path, now),
            MediaEvent::ConfLeft { conf, call, error } => self.on_conf_left(conf, call, error, now),
            other if self.is_conf(other.call()) => self.on_conf_event(other, now),
            other => self.on_action_event(other, now),
        }
    }

    /// One fewer `Open` unanswered on the call's worker.
    fn open_answered(&mut self, serial: u64) {
        if let Some(w) = self.calls.get(&serial).map(|c| c.worker) {
            self.worker_opening[w] = self.worker_opening[w].saturating_sub(1);
        }
    }

    fn on_opened(&mut self, serial: u64, now: Instant) {
        self.open_answered(serial);
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if call.released {
            return;
        }
        call.link = MediaLink::Open;
        match call.waiting.take() {
            Some(OpenWaiter::Answer { ticket, params }) => {
                let r = self.answer_now(serial, params, now);
                if let Some(t) = ticket {
                    self.answer_later(t, r);
                }
            }
            Some(OpenWaiter::Dial { ticket, dial }) => {
                // ring_play_mode 3: the parent hears the file before the INVITE goes.
                if self.ring_before_dial(serial, now) {
                    if let Some(c) = self.calls.get_mut(&serial) {
                        c.waiting = Some(OpenWaiter::Dial { ticket, dial });
                    }
                    return;
                }
                let r = self.send_invite(serial, *dial, now);
                let sent = r.is_ok();
                if let Some(t) = ticket {
                    self.answer_later(t, r);
                }
                if sent {
                    self.ring_at_dial(serial, now);
                }
            }
            None => {}
        }
    }

    /// A call that waited for its parent's file (ring_play_mode 3) is dialled now.
    pub(crate) fn dial_after_ring(&mut self, serial: u64, now: Instant) {
        let waiter = self.calls.get_mut(&serial).and_then(|c| c.waiting.take());
        let Some(OpenWaiter::Dial { ticket, dial }) = waiter else {
            return;
        };
        let r = self.send_invite(serial, *dial, now);
        let sent = r.is_ok();
        if let Some(t) = ticket {
            self.answer_later(t, r);
        }
        if sent {
            self.ring_at_dial(serial, now);
        }
    }

    /// Binding failed (the port is taken): another port, up to [`PORT_TRIES`]; then the
    /// call cannot have media and ends.
    fn on_open_failed(&mut self, serial: u64, reason: &str, now: Instant) {
        self.open_answered(serial);
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if call.released {
            return;
        }
        let MediaLink::Opening { attempts } = call.link else {
            return;
        };
        let worker = call.worker;
        if let Some(p) = call.rtp_port.take() {
            tracing::warn!(res_id = %call.res_id, "RTP port {p} unusable: {reason}");
            // Back of the queue: the kernel or another process holds it.
            self.ports.release(p);
        }
        self.worker_load[worker] = self.worker_load[worker].saturating_sub(1);
        let retry = if attempts < PORT_TRIES {
            self.open_media(serial, worker)
        } else {
            Err(OpenRefused::NoPort)
        };
        match retry {
            Ok(port) => {
                if let Some(c) = self.calls.get_mut(&serial) {
                    c.rtp_port = Some(port);
                    c.link = MediaLink::Opening {
                        attempts: attempts + 1,
                    };
                }
            }
            Err(why) => self.media_unavailable(serial, why, now),
        }
    }

    /// An inbound call without media: 503 with `Retry-After`, counted, released.
    fn refuse_for_media(&mut self, serial: u64, why: OpenRefused, now: Instant) {
        self.figures.shed(why.shed());
        let retry = super::sip_in::RETRY_AFTER_SECONDS;
        let add = |r: &mut crate::sip::Message| r.add_header("Retry-After", retry);
        self.respond_invite(serial, 503, "Service Unavailable", add, now);
        self.release(serial, "sys", 503, now);
    }

    /// A call whose media cannot be set up: an outbound dial not yet sent is answered
    /// with the error and leaves nothing behind; an inbound call is refused with 503.
    fn media_unavailable(&mut self, serial: u64, why: OpenRefused, now: Instant) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        tracing::warn!(res_id = %call.res_id, "no media for the call: {:?}", why);
        match call.waiting.take() {
            Some(OpenWaiter::Dial { ticket, .. }) => {
                if let Some(t) = ticket {
                    self.answer_later(t, Err(why.rpc()));
                }
                self.discard_dial(serial, now);
            }
            Some(OpenWaiter::Answer { ticket, .. }) => {
                if let Some(t) = ticket {
                    self.answer_later(t, Err(why.rpc()));
                }
                self.refuse_for_media(serial, why, now);
            }
            None => self.refuse_for_media(serial, why, now),
        }
    }
}
