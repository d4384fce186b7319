//! The worker's joins: `Join` and `Unjoin`, the join play, and routing each datagram,
//! frame and INFO digit of a joined call to both of its legs and its [`Join`] at once.
//! A join ends with `JoinEnded` (after its play's `PlayCompleted`), held by the pump
//! until its recording is finalized, whether it ends by `Unjoin`, by either call
//! closing, by a move or by shutdown.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use super::MediaWorker;
use crate::media::audio::Audio;
use crate::media::commands::{CallId, JoinRecordStart, MediaEvent, RecordStart, WorkerEvent};
use crate::media::join::ring::SampleRing;
use crate::media::join::{Join, JoinRec, Joined, ModeChange, Ringing, Side};
use crate::media::play::Play;
use crate::media::record::Recording;
use crate::media_msg::{JoinSpec, Refusal};
use crate::worker::{IoCtx, SocketToken};

type Io<'a, 'b> = &'a mut IoCtx<'b, WorkerEvent>;

/// What a join's own actions end with when the join starts.
const JOINED: &str = "joined with another call";

/// A `Join` command's parts.
pub struct JoinRequest {
    pub a: CallId,
    pub b: CallId,
    pub token: u64,
    pub spec: JoinSpec,
    pub ringback: Option<Vec<Arc<Audio>>>,
    pub record: Option<JoinRecordStart>,
    pub announced: bool,
}

impl MediaWorker {
    /// The join `call` is a leg of.
    pub(super) fn join_of(&mut self, call: CallId) -> Option<u32> {
        self.calls.get_mut(call)?.joined().map(|l| l.join)
    }

    fn check_join(&mut self, a: CallId, b: CallId) -> Result<[u32; 2], String> {
        if a == b {
            return Err("a call cannot be joined with itself".into());
        }
        let mut slots = [0; 2];
        for (k, call) in [a, b].into_iter().enumerate() {
            let Some(slot) = self.calls.slot_of(call) else {
                return Err(format!("call {call} has no media on this worker"));
            };
            if self.moving.iter().any(|m| m.call == call) {
                return Err(format!("call {call} is moving to another worker"));
            }
            if self.calls.at(slot).is_some_and(|c| c.joined().is_some()) {
                return Err(format!("call {call} is already joined"));
            }
            slots[k] = slot;
        }
        Ok(slots)
    }

    /// `Join`.
    pub(super) fn join(&mut self, r: JoinRequest, io: Io) {
        let slots = match self.check_join(r.a, r.b) {
            Ok(s) => s,
            Err(reason) => return self.refuse_join(r, reason, io),
        };
        for slot in slots {
            if let Some(ch) = self.calls.at(slot) {
                let call = ch.call();
                ch.end_play(Some(JOINED.into()), None, io);
                ch.end_record(Some(JOINED.into()), None, io, &mut self.shared);
                ch.end_dtmf(Some(JOINED.into()), io);
                if let Some(pool) = self.shared.inband_pool.as_mut() {
                    pool.detach(call);
                }
            }
        }
        let mut j = Join::new(r.a, r.b, slots, &r.spec);
        j.rec = r.record.map(|rec| JoinRec {
            rec: Recording::new(RecordStart {
                rec: rec.rec,
                path: rec.path,
                format: rec.format,
                max_seconds: 0,
                finish_keys: String::new(),
                beep: false,
            }),
            stereo: rec.stereo,
            b_voice: SampleRing::new(),
        });
        j.ringback = r.ringback.map(|audio| Ringing {
            play: Play::new(audio, u32::MAX, String::new()),
            until_media: r.spec.ringback.as_ref().is_some_and(|rb| rb.until_media),
        });
        let ji = match self.free_joins.pop() {
            Some(i) => i,
            None => {
                self.joins.push(None);
                (self.joins.len() - 1) as u32
            }
        };
        if let Some((a, b)) = self.calls.pair(slots[0], slots[1]) {
            let (ia, ib) = (a.leg_info(), b.leg_info());
            j.configure(ia, ib);
            j.update_mode(ia, ib);
            a.set_joined(Some(Joined {
                join: ji,
                side: Side::A,
                peer: slots[1],
            }));
            b.set_joined(Some(Joined {
                join: ji,
                side: Side::B,
                peer: slots[0],
            }));
            if j.relay {
                a.relay_backlog(b, &mut j, Side::A, io, &mut self.shared);
                b.relay_backlog(a, &mut j, Side::B, io, &mut self.shared);
            }
        }
        self.joins[ji as usize] = Some(j);
        if !r.announced {
            io.emit(WorkerEvent::Public(MediaEvent::Started {
                call: r.a,
                token: r.token,
                path: None,
            }));
        }
    }

    /// A join that cannot start: refused, or, once announced, ended at once (its
    /// recording's file finalized, empty).
    fn refuse_join(&mut self, r: JoinRequest, reason: String, io: Io) {
        if let Some(rec) = r.record {
            self.shared.end_recording(rec.rec);
            io.emit(WorkerEvent::RecordEnded {
                rec: rec.rec,
                event: MediaEvent::JoinEnded {
                    a: r.a,
                    error: Some(reason),
                    record_path: Some(rec.path),
                },
            });
        } else if r.announced {
            io.emit(WorkerEvent::Public(MediaEvent::JoinEnded {
                a: r.a,
                error: Some(reason),
                record_path: None,
            }));
        } else {
            io.emit(WorkerEvent::Public(MediaEvent::Refused {
                call: r.a,
                token: r.token,
                refusal: Refusal::Unavailable { reason },
            }));
        }
    }

    /// `Unjoin`: ends `a`'s join (no error); nothing when it has none.
    pub(super) fn unjoin(&mut self, a: CallId, io: Io) {
        if let Some(ji) = self.join_of(a) {
            self.end_join(ji, None, io);
        }
    }

    /// Ends join `ji`: both calls keep their media; the join play ends, then
    /// `JoinEnded` (through the pump once the recording is finalized).
    pub(super) fn end_join(&mut self, ji: u32, error: Option<String>, io: Io) {
        let Some(j) = self.joins.get_mut(ji as usize).and_then(Option::take) else {
            return;
        };
        self.free_joins.push(ji);
        for slot in j.slots {
            if let Some(ch) = self.calls.at(slot) {
                ch.set_joined(None);
            }
        }
        if j.play.is_some() {
            io.emit(WorkerEvent::Public(MediaEvent::PlayCompleted {
                call: j.a,
                error: Some(error.clone().unwrap_or_else(|| "the join ended".into())),
                finish_key: None,
            }));
        }
        match j.rec {
            Some(r) => {
                self.shared.end_recording(r.rec.start.rec);
                io.emit(WorkerEvent::RecordEnded {
                    rec: r.rec.start.rec,
                    event: MediaEvent::JoinEnded {
                        a: j.a,
                        error,
                        record_path: Some(r.rec.start.path),
                    },
                });
            }
            None => io.emit(WorkerEvent::Public(MediaEvent::JoinEnded {
                a: j.a,
                error,
                record_path: None,
            })),
        }
    }

    /// Ends the join of `call`, if any, with `error`.
    pub(super) fn end_join_of(&mut self, call: CallId, error: &str, io: Io) {
        if let Some(ji) = self.join_of(call) {
            self.end_join(ji, Some(error.to_string()), io);
        }
    }

    /// Drops `call`'s join without a word (its ending panicked): both legs are left
    /// unjoined so the worker can close one and keep the other.
    pub(super) fn forget_join_of(&mut self, call: CallId) {
        let Some(ji) = self.join_of(call) else {
            return;
        };
        if let Some(Some(_)) = self.joins.get_mut(ji as usize).map(Option::take) {
            self.free_joins.push(ji);
        }
        for slot in 0..self.calls.slots() {
            if let Some(ch) = self.calls.at(slot)
                && ch.joined().is_some_and(|l| l.join == ji)
            {
                ch.set_joined(None);
            }
        }
    }

    /// A play into `call`'s join (`JoinPlay`), replacing one in progress.
    pub(super) fn join_play(&mut self, call: CallId, play: Play, io: Io) {
        let Some(j) = self
            .join_of(call)
            .and_then(|ji| self.joins.get_mut(ji as usize))
            .and_then(Option::as_mut)
        else {
            io.emit(WorkerEvent::Public(MediaEvent::PlayCompleted {
                call,
                error: Some("the call is not joined".into()),
                finish_key: None,
            }));
            return;
        };
        if j.play.replace(play).is_some() {
            io.emit(WorkerEvent::Public(MediaEvent::PlayCompleted {
                call: j.a,
                error: Some("replaced by a new play".into()),
                finish_key: None,
            }));
        }
    }

    /// The pending join play `token` of `call`'s join, if that is what is playing.
    pub(super) fn pending_join_play(&mut self, call: CallId, token: u64) -> Option<&mut Play> {
        let ji = self.join_of(call)?;
        self.joins
            .get_mut(ji as usize)?
            .as_mut()?
            .play
            .as_mut()
            .filter(|p| p.pending_token() == Some(token))
    }

    /// A pending join play failed to load.
    pub(super) fn fail_join_play(&mut self, call: CallId, token: u64, reason: String, io: Io) {
        if self.pending_join_play(call, token).is_none() {
            return;
        }
        if let Some(j) = self
            .join_of(call)
            .and_then(|ji| self.joins.get_mut(ji as usize))
            .and_then(Option::as_mut)
        {
            j.play = None;
            io.emit(WorkerEvent::Public(MediaEvent::PlayCompleted {
                call: j.a,
                error: Some(reason),
                finish_key: None,
            }));
        }
    }

    /// A datagram of a joined call (channel in `slot`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn joined_packet(
        &mut self,
        slot: u32,
        link: Joined,
        sock: SocketToken,
        data: &[u8],
        from: SocketAddr,
        now: Instant,
        io: Io,
    ) {
        let Some(Some(j)) = self.joins.get_mut(link.join as usize) else {
            return;
        };
        if let Some((x, y)) = self.calls.pair(slot, link.peer) {
            x.on_joined_packet(y, j, link.side, sock, data, from, now, io, &mut self.shared);
        }
    }

    /// A SIP INFO digit of a joined call; false when the call is not joined.
    pub(super) fn joined_info(&mut self, call: CallId, digit: char, io: Io) -> bool {
        let Some(slot) = self.calls.slot_of(call) else {
            return false;
        };
        let Some(link) = self.calls.at(slot).and_then(|c| c.joined()) else {
            return false;
        };
        if let (Some(Some(j)), Some((x, y))) = (
            self.joins.get_mut(link.join as usize),
            self.calls.pair(slot, link.peer),
        ) {
            x.joined_digit(y, j, link.side, digit, io, &mut self.shared);
        }
        true
    }

    /// The far end of a joined call changed: the join's DTMF conversion follows.
    pub(super) fn join_renegotiated(&mut self, call: CallId) {
        let Some(ji) = self.join_of(call) else { return };
        let Some(Some(j)) = self.joins.get_mut(ji as usize) else {
            return;
        };
        if let Some((a, b)) = self.calls.pair(j.slots[0], j.slots[1]) {
            j.configure(a.leg_info(), b.leg_info());
        }
    }

    /// Every join's frames due by `now`, after choosing each join's path. A join whose
    /// tick panics has both its calls' media closed (the worker goes on).
    pub(super) fn tick_joins(&mut self, now: Instant, io: Io) {
        let mut failed = Vec::new();
        for ji in 0..self.joins.len() {
            let Some(j) = self.joins[ji].as_mut() else {
                continue;
            };
            let calls = [j.a, j.b];
            let shared = &mut self.shared;
            let Some((a, b)) = self.calls.pair(j.slots[0], j.slots[1]) else {
                continue;
            };
            let ticked = catch_unwind(AssertUnwindSafe(|| {
                match j.update_mode(a.leg_info(), b.leg_info()) {
                    ModeChange::ToMixing => {
                        a.reset_jitter();
                        b.reset_jitter();
                        for t in &mut j.to {
                            if t.inband.is_none() {
                                t.ring.clear();
                            }
                        }
                    }
                    ModeChange::ToRelay => {
                        a.relay_backlog(b, j, Side::A, io, shared);
                        b.relay_backlog(a, j, Side::B, io, shared);
                    }
                    ModeChange::None => {}
                }
                a.joined_tick(b, j, Side::A, now, io, shared);
                b.joined_tick(a, j, Side::B, now, io, shared);
            }));
            if ticked.is_err() {
                failed.extend(calls);
            }
        }
        for call in failed {
            self.contain(call, "its join's tick", io);
        }
    }
}
