//! Joins, as the engine runs them: the bridge of two calls (`connect_start`,
//! `connect_stop`, `max_seconds`, the scheduled play, `on_connect_completed` to the first
//! party in every ending) and the ring-back a parent hears while the call it dials rings
//! (`ring_play_file` / `ring_play_mode`, the far end's early media passed through). Both
//! calls of a join must live on one worker: the second moves to the first's worker (or,
//! for a call dialled on a parent, is placed there from the start).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::actions::{Action, confine};
use super::replies::Ticket;
use super::resource::{Joined, Starting};
use super::{Gateway, TimerKind};
use crate::api::call_params::CallConnectStart;
use crate::api::errors::RpcError;
use crate::api::values::{ConnectMode, RingPlayMode};
use crate::call::state::{Op, State};
use crate::codec::wav::Encoding;
use crate::media_msg::{JoinRecord, JoinSpec, MediaCommand, PlaySpec, Ringback};
use crate::speech::PlayStep;

/// A bridge the engine keeps track of, by its first party.
#[derive(Debug)]
pub(crate) struct Bridge {
    /// Longest connection (0: none).
    pub max_seconds: u32,
    /// `schedule_play_time` (Unix seconds) and what to play then.
    pub schedule: Option<(u64, PlaySpec)>,
    /// Why the engine ended it (`connect_stop`: `None`; `max_seconds`: the error).
    pub ending: Option<Option<String>>,
    /// Bumped for each bridge, so timers of an earlier one are stale.
    pub generation: u64,
}

/// A join waiting for its second party's media to arrive on the first's worker.
#[derive(Debug)]
pub(crate) struct PendingJoin {
    pub a: u64,
    pub spec: JoinSpec,
    pub ticket: Option<Ticket>,
}

/// A call dialled on a parent: what the parent hears meanwhile.
#[derive(Debug, Clone)]
pub(crate) struct RingPlan {
    pub parent: u64,
    /// `ring_play_file` (relative to `media.root`), if one is given.
    pub file: Option<PlayStep>,
    pub mode: RingPlayMode,
    /// The parent is joined with the call (hears its early media or the ring-back).
    pub joined: bool,
    /// The far end sent a 183 (early media) already.
    pub early: bool,
    /// `JoinEnded`s of ring-back joins replaced on purpose, to be ignored.
    pub stale_ends: u32,
    /// The parent is a conference: it hears the call as a talking member, and the
    /// file is played to it.
    pub conf: bool,
    /// The file is playing to the parent conference.
    pub conf_playing: bool,
}

/// The engine's joins.
#[derive(Debug, Default)]
pub(crate) struct Joins {
    pub bridges: HashMap<u64, Bridge>,
    pub pending: HashMap<u64, PendingJoin>,
    pub dials: HashMap<u64, RingPlan>,
    pub generation: u64,
    /// Per parent call: `JoinEnded`s still to come of ring-back joins ended by their
    /// dial's completion. The plan is gone by then, and the parent may already be in a
    /// new bridge (`connect_start` right after `on_dial_completed`) that such an event
    /// must not end.
    pub stale_ring_ends: HashMap<u64, u32>,
}

impl Gateway {
    /// `connect_start`: both calls Idle; both go to `Connect`; answered once the media
    /// plane joined them.
    pub(crate) fn connect_start(
        &mut self,
        conn: u64,
        p: CallConnectStart,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let a = self.lookup(conn, &p.res_id)?;
        let b = self.lookup(conn, &p.call_res_id)?;
        if a == b {
            return Err(RpcError::invalid_param(
                "call_res_id",
                "a call cannot be connected with itself",
            ));
        }
        self.admit(a, Op::ConnectStart)?;
        self.admit(b, Op::ConnectStart)?;
        let record = match p.record_file.as_deref().filter(|f| !f.is_empty()) {
            None => None,
            Some(name) => {
                let format = p.record_format.encoding().ok_or_else(|| {
                    RpcError::invalid_param(
                        "record_format",
                        format!(
                            "format {:#04x} is not supported: use 3 (A-law), 7 (mu-law), 8 (PCM 8 bit) or 16 (PCM 16 bit, stereo)",
                            p.record_format.code()
                        ),
                    )
                })?;
                let root = self.cfg.media.record_root.clone();
                let path = confine(&root, &self.record_root, name)?;
                Some(JoinRecord {
                    path,
                    format,
                    stereo: format == Encoding::Pcm16,
                })
            }
        };
        let schedule = match p.schedule_play_file.as_deref().filter(|f| !f.is_empty()) {
            Some(name) if p.schedule_play_time > 0 && p.schedule_play_loop > 0 => {
                let root = self.cfg.media.root.clone();
                let file = confine(&root, &self.media_root, name)?;
                Some((
                    p.schedule_play_time,
                    PlaySpec {
                        steps: vec![PlayStep::File(file.display().to_string())],
                        finish_keys: String::new(),
                        repeat: p.schedule_play_loop - 1,
                    },
                ))
            }
            _ => None,
        };
        let (a_hears_b, b_hears_a) = match p.connect_mode {
            ConnectMode::Both => (true, true),
            ConnectMode::SecondHearsFirst => (false, true),
            ConnectMode::FirstHearsSecond => (true, false),
        };
        let spec = JoinSpec {
            a_hears_b,
            b_hears_a,
            a_gain_db: p.local_volume,
            b_gain_db: p.remote_volume,
            record,
            ringback: None,
        };
        self.joins.generation += 1;
        let generation = self.joins.generation;
        self.joins.bridges.insert(
            a,
            Bridge {
                max_seconds: p.max_seconds,
                schedule,
                ending: None,
                generation,
            },
        );
        for (me, role) in [
            (a, Joined::First { with: b }),
            (b, Joined::Second { with: a }),
        ] {
            if let Some(c) = self.calls.get_mut(&me) {
                c.state = State::Connect;
                c.joined = Some(role);
            }
        }
        if let Some(c) = self.calls.get_mut(&a) {
            c.action = Some(Action::Connect { with: b });
        }
        let ticket = self.defer();
        let (wa, wb) = (self.calls[&a].worker, self.calls[&b].worker);
        if wa != wb {
            self.joins
                .pending
                .insert(b, PendingJoin { a, spec, ticket });
            self.move_media(b, wa, now);
        } else {
            self.send_join(a, b, spec, ticket, now);
        }
        Ok(Value::Null)
    }

    /// The second party's media has arrived on the first's worker: join them.
    pub(crate) fn joins_after_move(&mut self, b: u64, now: Instant) {
        if let Some(PendingJoin { a, spec, ticket }) = self.joins.pending.remove(&b) {
            self.send_join(a, b, spec, ticket, now);
        }
    }

    fn send_join(&mut self, a: u64, b: u64, spec: JoinSpec, ticket: Option<Ticket>, now: Instant) {
        let token = self.next_token;
        self.next_token += 1;
        let worker = self.calls.get(&a).map_or(0, |c| c.worker);
        if self.calls.get(&a).is_none_or(|c| c.released) {
            // The first party went away while its partner moved.
            if let Some(t) = ticket {
                self.answer_later(t, Err(RpcError::bad_state("", "Released")));
            }
            self.unlink_join(a, now);
            return;
        }
        let cmd = MediaCommand::Join { a, b, token, spec };
        if self.try_media(worker, cmd).is_err() {
            if let Some(t) = ticket {
                self.answer_later(
                    t,
                    Err(RpcError::media(
                        "",
                        "the media worker is overloaded, try again",
                    )),
                );
            }
            self.unlink_join(a, now);
            return;
        }
        if let Some(c) = self.calls.get_mut(&a) {
            c.starting = Some(Starting {
                token,
                ticket,
                stop: false,
            });
        }
    }

    /// A bridge the media plane started: its timers.
    pub(crate) fn bridge_started(&mut self, a: u64, now: Instant) {
        let unix = self.unix(now);
        let Some(br) = self.joins.bridges.get(&a) else {
            return;
        };
        let (max, schedule) = (br.max_seconds, br.schedule.as_ref().map(|s| s.0));
        if max > 0 {
            self.arm(
                a,
                TimerKind::ConnectMax,
                now + Duration::from_secs(u64::from(max)),
            );
        }
        if let Some(at) = schedule {
            self.arm(
                a,
                TimerKind::SchedulePlay,
                now + Duration::from_secs(at.saturating_sub(unix)),
            );
        }
    }

    /// `connect_stop`: only on the first party (-32003 on the second).
    pub(crate) fn connect_stop(
        &mut self,
        conn: u64,
        res_id: &str,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let a = self.lookup(conn, res_id)?;
        self.admit(a, Op::ConnectStop)?;
        if let Some(Joined::Second { .. }) = self.calls[&a].joined {
            return Err(RpcError::not_allowed(
                "connect_stop applies to the first party of the connection (connect_start's res_id) only",
            ));
        }
        self.end_bridge(a, None, now);
        Ok(Value::Null)
    }

    /// Ends `a`'s bridge with `error` reported (None: a normal end).
    pub(crate) fn end_bridge(&mut self, a: u64, error: Option<String>, now: Instant) {
        if let Some(br) = self.joins.bridges.get_mut(&a) {
            if br.ending.is_some() {
                return;
            }
            br.ending = Some(error);
        }
        if let Some(s) = self.calls.get_mut(&a).and_then(|c| c.starting.as_mut()) {
            s.stop = true;
            return;
        }
        self.call_cmd(a, MediaCommand::Unjoin { a }, now);
    }

    /// The `max_seconds` of `a`'s bridge passed.
    pub(crate) fn connect_max_reached(&mut self, a: u64, now: Instant) {
        if self
            .calls
            .get(&a)
            .is_some_and(|c| c.state == State::Connect)
        {
            self.end_bridge(a, Some("max_seconds reached".into()), now);
        }
    }

    /// `schedule_play_time` came: the file is played into the bridge.
    pub(crate) fn schedule_play_due(&mut self, a: u64, now: Instant) {
        let Some(spec) = self
            .joins
            .bridges
            .get_mut(&a)
            .and_then(|b| b.schedule.take())
            .map(|s| s.1)
        else {
            return;
        };
        if self.calls.get(&a).is_none_or(|c| c.state != State::Connect) {
            return;
        }
        let token = self.next_token;
        self.next_token += 1;
        self.call_cmd(a, MediaCommand::JoinPlay { a, token, spec }, now);
    }

    /// The join of `a` ended on the media plane.
    pub(crate) fn on_join_ended(
        &mut self,
        a: u64,
        error: Option<String>,
        record_path: Option<PathBuf>,
        now: Instant,
    ) {
        if let Some(path) = &record_path {
            tracing::debug!(call = a, "bridge recording complete: {}", path.display());
        }
        // The ring-back join of a dial that has completed.
        if let Some(n) = self.joins.stale_ring_ends.get_mut(&a) {
            *n -= 1;
            if *n == 0 {
                self.joins.stale_ring_ends.remove(&a);
            }
            return;
        }
        // A parent's ring-back join.
        if let Some(child) = self.ring_child_of(a) {
            let plan = self.joins.dials.get_mut(&child).expect("found");
            if plan.stale_ends > 0 {
                plan.stale_ends -= 1;
                return;
            }
            plan.joined = false;
            self.unlink_pair(a, child);
            return;
        }
        let Some(br) = self.joins.bridges.remove(&a) else {
            return;
        };
        let released = self.calls.get(&a).is_none_or(|c| c.released);
        let error = match (br.ending, error) {
            (_, Some(e)) if e != "call released" => Some(e),
            (Some(reason), _) => reason,
            // The other party hung up: a normal end.
            (None, _) => None,
        };
        let error = if released {
            Some("call released".to_string())
        } else {
            error
        };
        if let Some(c) = self.calls.get_mut(&a) {
            c.starting = None;
        }
        self.complete_action(a, error.as_deref(), None, now);
        self.unlink_join(a, now);
        if released {
            self.finish_pending_release(a, now);
        }
    }

    /// The join of `a` is over: both calls leave it (a live second party returns to Idle).
    pub(crate) fn unlink_join(&mut self, a: u64, _now: Instant) {
        let b = match self.calls.get(&a).and_then(|c| c.joined) {
            Some(Joined::First { with }) => with,
            _ => {
                self.joins.bridges.remove(&a);
                return;
            }
        };
        self.joins.bridges.remove(&a);
        self.joins.pending.remove(&b);
        if let Some(c) = self.calls.get_mut(&a) {
            c.joined = None;
            if matches!(c.action, Some(Action::Connect { .. })) {
                c.action = None;
            }
            if c.state == State::Connect {
                c.state = State::Idle;
            }
        }
        self.unlink_pair(a, b);
    }

    fn unlink_pair(&mut self, a: u64, b: u64) {
        if let Some(c) = self.calls.get_mut(&a) {
            c.joined = None;
        }
        if let Some(c) = self.calls.get_mut(&b) {
            c.joined = None;
            if c.state == State::Connect {
                c.state = State::Idle;
            }
        }
    }

    /// A bridge's first party did not get it started (refused): both are as they were.
    pub(crate) fn join_refused(&mut self, a: u64, now: Instant) {
        self.unlink_join(a, now);
    }

    // ---- dialling on a parent ---------------------------------------------------

    /// `construct` with `parent_call_res_id`: what the parent hears while it dials.
    pub(crate) fn plan_ringback(
        &mut self,
        child: u64,
        parent: u64,
        file: Option<&str>,
        mode: RingPlayMode,
        conf: bool,
    ) -> Result<(), RpcError> {
        let file = match file.filter(|f| !f.is_empty()) {
            Some(name) => {
                let root = self.cfg.media.root.clone();
                let p = confine(&root, &self.media_root, name)?;
                Some(PlayStep::File(p.display().to_string()))
            }
            None => None,
        };
        self.joins.dials.insert(
            child,
            RingPlan {
                parent,
                file,
                mode,
                joined: false,
                early: false,
                stale_ends: 0,
                conf,
                conf_playing: false,
            },
        );
        Ok(())
    }

    /// The dialled call whose parent is `parent`, if it hears it.
    fn ring_child_of(&self, parent: u64) -> Option<u64> {
        self.joins
            .dials
            .iter()
            .find(|(_, p)| p.parent == parent)
            .map(|(c, _)| *c)
    }

    /// Mode 3: the file plays before the INVITE goes. True when a play started (the
    /// INVITE then waits for its end).
    pub(crate) fn ring_before_dial(&mut self, child: u64, now: Instant) -> bool {
        let Some(plan) = self.joins.dials.get(&child).cloned() else {
            return false;
        };
        let (RingPlayMode::BeforeDial, Some(step)) = (plan.mode, plan.file) else {
            return false;
        };
        let _ = now;
        let token = self.next_token;
        self.next_token += 1;
        let spec = PlaySpec {
            steps: vec![step],
            finish_keys: String::new(),
            repeat: 0,
        };
        if plan.conf {
            let Some(worker) = self.conf_worker(plan.parent) else {
                return false;
            };
            let cmd = MediaCommand::ConfPlay {
                conf: plan.parent,
                token,
                spec,
            };
            return self.try_media(worker, cmd).is_ok();
        }
        let cmd = MediaCommand::Play {
            call: plan.parent,
            token,
            spec,
        };
        let worker = self.calls.get(&plan.parent).map_or(0, |c| c.worker);
        self.try_media(worker, cmd).is_ok()
    }

    /// A conference parent: the call enters as a talking member (the conference hears
    /// its early media), and the file (if the mode plays it now) goes to the conference.
    fn ring_conf(&mut self, child: u64, play_now: bool, now: Instant) {
        let Some(plan) = self.joins.dials.get_mut(&child) else {
            return;
        };
        let conf = plan.parent;
        if !plan.joined {
            plan.joined = true;
            let token = self.next_token;
            self.next_token += 1;
            let cmd = MediaCommand::ConfEnter {
                conf,
                call: child,
                token,
                mode: crate::media_msg::MemberMode {
                    talks: true,
                    listens: false,
                },
                volume_db: 0,
                announce: None,
            };
            self.call_cmd(child, cmd, now);
        }
        let Some(plan) = self.joins.dials.get(&child).cloned() else {
            return;
        };
        let busy = self.conf_playing(conf);
        if let (true, Some(f), false, false) = (play_now, plan.file, plan.conf_playing, busy) {
            let token = self.next_token;
            self.next_token += 1;
            let spec = PlaySpec {
                steps: vec![f],
                finish_keys: String::new(),
                repeat: u32::MAX,
            };
            if let Some(w) = self.conf_worker(conf)
                && self
                    .try_media(w, MediaCommand::ConfPlay { conf, token, spec })
                    .is_ok()
                && let Some(p) = self.joins.dials.get_mut(&child)
            {
                p.conf_playing = true;
            }
        }
    }

    fn ring_conf_stop_file(&mut self, child: u64, now: Instant) {
        let Some(p) = self.joins.dials.get_mut(&child) else {
            return;
        };
        if p.conf_playing {
            p.conf_playing = false;
            let conf = p.parent;
            if let Some(w) = self.conf_worker(conf) {
                self.deliver(w, MediaCommand::ConfStopPlay { conf }, now);
            }
        }
    }

    /// The INVITE went (or is about to): join the parent with what it should hear now.
    pub(crate) fn ring_at_dial(&mut self, child: u64, now: Instant) {
        let Some(plan) = self.joins.dials.get(&child).cloned() else {
            return;
        };
        if plan.conf {
            let play_now = matches!(
                plan.mode,
                RingPlayMode::DialUntilRingback | RingPlayMode::DialUntilAnswer
            );
            return self.ring_conf(child, play_now, now);
        }
        let ringback = match (plan.mode, &plan.file) {
            (_, None) | (RingPlayMode::BeforeDial, _) => None,
            // Mode 0 waits for the far end's ringing.
            (RingPlayMode::OnRingback, Some(_)) => return,
            (RingPlayMode::DialUntilRingback, Some(f)) => Some(Ringback {
                steps: vec![f.clone()],
                until_media: true,
            }),
            (RingPlayMode::DialUntilAnswer, Some(f)) => Some(Ringback {
                steps: vec![f.clone()],
                until_media: false,
            }),
        };
        self.ring_join(child, ringback, now);
    }

    /// The far end rings (`early`: with a 183): mode 0 starts its file now; a 180 after
    /// a 183 brings a mode 1 file back (the far end asks for a local ring-back again).
    pub(crate) fn ring_on_ringing(&mut self, child: u64, early: bool, now: Instant) {
        let Some(plan) = self.joins.dials.get(&child).cloned() else {
            return;
        };
        if early {
            if let Some(p) = self.joins.dials.get_mut(&child) {
                p.early = true;
            }
        }
        if plan.conf {
            match plan.mode {
                RingPlayMode::OnRingback => self.ring_conf(child, true, now),
                // The seed's mode 1: the file stops when the far end rings.
                RingPlayMode::DialUntilRingback => self.ring_conf_stop_file(child, now),
                _ => {}
            }
            return;
        }
        let Some(f) = plan.file.clone() else {
            return;
        };
        match plan.mode {
            RingPlayMode::OnRingback if !plan.joined => {
                let rb = Ringback {
                    steps: vec![f],
                    until_media: false,
                };
                self.ring_join(child, Some(rb), now);
            }
            RingPlayMode::DialUntilRingback if !early && plan.early && plan.joined => {
                // Replace the join: the file plays again until media comes back.
                if let Some(p) = self.joins.dials.get_mut(&child) {
                    p.stale_ends += 1;
                    p.early = false;
                }
                self.call_cmd(plan.parent, MediaCommand::Unjoin { a: plan.parent }, now);
                let rb = Ringback {
                    steps: vec![f],
                    until_media: true,
                };
                self.ring_join(child, Some(rb), now);
            }
            _ => {}
        }
    }

    fn ring_join(&mut self, child: u64, ringback: Option<Ringback>, now: Instant) {
        let Some(plan) = self.joins.dials.get_mut(&child) else {
            return;
        };
        plan.joined = true;
        let parent = plan.parent;
        let token = self.next_token;
        self.next_token += 1;
        if let Some(c) = self.calls.get_mut(&parent) {
            c.joined = Some(Joined::First { with: child });
        }
        if let Some(c) = self.calls.get_mut(&child) {
            c.joined = Some(Joined::Second { with: parent });
        }
        let spec = JoinSpec {
            a_hears_b: true,
            b_hears_a: false,
            a_gain_db: 0,
            b_gain_db: 0,
            record: None,
            ringback,
        };
        self.call_cmd(
            parent,
            MediaCommand::Join {
                a: parent,
                b: child,
                token,
                spec,
            },
            now,
        );
    }

    /// The dialled call's `on_dial_completed`: the parent stops hearing it.
    pub(crate) fn ring_done(&mut self, child: u64, now: Instant) {
        let Some(plan) = self.joins.dials.get(&child).cloned() else {
            return;
        };
        if plan.conf {
            self.ring_conf_stop_file(child, now);
            self.joins.dials.remove(&child);
            if plan.joined {
                self.call_cmd(
                    child,
                    MediaCommand::ConfExit {
                        conf: plan.parent,
                        call: child,
                    },
                    now,
                );
            }
            return;
        }
        self.joins.dials.remove(&child);
        if plan.joined {
            self.call_cmd(plan.parent, MediaCommand::Unjoin { a: plan.parent }, now);
            // Its JoinEnded is no longer about a dial (the plan is gone) nor about a
            // bridge the parent may enter before it arrives: it is ignored.
            *self.joins.stale_ring_ends.entry(plan.parent).or_default() += 1;
            if let Some(c) = self.calls.get_mut(&plan.parent) {
                c.joined = None;
            }
            if let Some(c) = self.calls.get_mut(&child) {
                c.joined = None;
            }
        }
    }

    /// Mode 3: the parent's play before dialling ended: the INVITE goes now.
    pub(crate) fn ring_play_done(&mut self, parent: u64, now: Instant) -> bool {
        let Some(child) = self.ring_child_of(parent) else {
            return false;
        };
        let waiting = self
            .calls
            .get(&child)
            .is_some_and(|c| c.leg.invite_tx.is_none() && !c.released);
        if !waiting {
            return false;
        }
        self.dial_after_ring(child, now);
        true
    }
}
