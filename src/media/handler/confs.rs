//! The worker's conferences ([`crate::media::conf`]): opening and closing them, members
//! entering (at once, or once their entry announcement is loaded), changing mode and
//! leaving, the conference's play and recording (prepared by the file service, answered
//! here so that a stop can never overtake its start), and every way a membership ends:
//! `ConfExit`, the conference closing, the call closing, moving away, joining another
//! call, or shutdown — each reported once with `ConfLeft`.

use std::collections::HashMap;

use super::MediaWorker;
use crate::media::commands::{CallId, MediaEvent, Prepared, WorkerEvent};
use crate::media::conf::{
    CLOSED, Conference, Member, MemberLink, Prep, Repack, SAMPLES, voice_mode,
};
use crate::media::play::Play;
use crate::media::record::Recording;
use crate::media_msg::{CallStats, MemberMode, Refusal};
use crate::mixer::{MAX_MEMBERS, VOLUME_MAX, VOLUME_MIN};
use crate::worker::IoCtx;

type Io<'a, 'b> = &'a mut IoCtx<'b, WorkerEvent>;

/// The worker's conference table.
#[derive(Default)]
pub struct Confs {
    pub slots: Vec<Option<Conference>>,
    free: Vec<u32>,
    by_id: HashMap<CallId, u32>,
}

impl Confs {
    /// The slot of conference `conf`.
    pub fn slot_of(&self, conf: CallId) -> Option<u32> {
        self.by_id.get(&conf).copied()
    }

    /// The conference in `slot`.
    pub fn at(&mut self, slot: u32) -> Option<&mut Conference> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// The conference `conf`.
    pub fn get_mut(&mut self, conf: CallId) -> Option<&mut Conference> {
        let slot = self.slot_of(conf)?;
        self.at(slot)
    }

    fn insert(&mut self, c: Conference) {
        let id = c.id;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(c);
                i
            }
            None => {
                self.slots.push(Some(c));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_id.insert(id, slot);
    }

    fn remove(&mut self, conf: CallId) -> Option<Conference> {
        let slot = self.by_id.remove(&conf)?;
        let c = self.slots.get_mut(slot as usize)?.take();
        self.free.push(slot);
        c
    }

    /// The conferences' ids.
    pub fn ids(&self) -> Vec<CallId> {
        self.by_id.keys().copied().collect()
    }
}

/// A `ConfEnter` command's parts.
pub struct EnterRequest {
    pub conf: CallId,
    pub call: CallId,
    pub token: u64,
    pub mode: MemberMode,
    pub volume_db: i32,
    /// The entry announcement is being loaded (`ConfPrepared` answers the request).
    pub announce: bool,
}

fn refused(call: CallId, token: u64, reason: impl Into<String>) -> WorkerEvent {
    WorkerEvent::Public(MediaEvent::Refused {
        call,
        token,
        refusal: Refusal::Unavailable {
            reason: reason.into(),
        },
    })
}

fn play_completed(conf: CallId, error: Option<String>) -> WorkerEvent {
    WorkerEvent::Public(MediaEvent::PlayCompleted {
        call: conf,
        error,
        finish_key: None,
    })
}

/// Ends a conference's recording: the writer finalizes the file, then the pump forwards
/// `RecordCompleted` for the conference.
fn end_recording(
    sh: &mut crate::media::channel::Shared,
    conf: CallId,
    r: Recording,
    error: Option<String>,
    io: Io,
) {
    sh.end_recording(r.start.rec);
    io.emit(WorkerEvent::RecordEnded {
        rec: r.start.rec,
        event: MediaEvent::RecordCompleted {
            call: conf,
            error,
            finish_key: None,
            path: r.start.path,
        },
    });
}

impl MediaWorker {
    /// `ConfOpen`: an empty conference on its own phase of the frame grid.
    pub(super) fn conf_open(&mut self, conf: CallId, io: Io) {
        if self.confs.slot_of(conf).is_some() {
            return;
        }
        let first = self.first_frame(io);
        self.confs
            .insert(Conference::new(conf, first, self.mixer_kernel));
    }

    /// `ConfClose` (and shutdown): every member leaves (`ConfLeft`), the play and the
    /// recording end (a pending one is refused), then `Closed` for the conference.
    pub(super) fn conf_close(&mut self, conf: CallId, reason: &str, io: Io) {
        let Some(mut c) = self.confs.remove(conf) else {
            io.emit(WorkerEvent::Public(MediaEvent::Closed {
                call: conf,
                stats: CallStats::default(),
            }));
            return;
        };
        for slot in 0..c.members.len() as u32 {
            if let Some(m) = c.remove(slot) {
                self.member_gone(&c, m, Some(reason.to_string()), io);
            }
        }
        match std::mem::take(&mut c.play) {
            Prep::Active(_) => io.emit(play_completed(conf, Some(reason.into()))),
            Prep::Pending { token, .. } => io.emit(refused(conf, token, reason)),
            Prep::Idle => {}
        }
        match std::mem::take(&mut c.rec) {
            Prep::Active(r) => end_recording(&mut self.shared, conf, r, Some(reason.into()), io),
            Prep::Pending { token, .. } => io.emit(refused(conf, token, reason)),
            Prep::Idle => {}
        }
        io.emit(WorkerEvent::Public(MediaEvent::Closed {
            call: conf,
            stats: CallStats::default(),
        }));
    }

    /// A member removed from conference `c`: its channel gets its own behaviour back
    /// (a member on the conference's grid resumes its own at the conference's next
    /// frame), and `ConfLeft`.
    fn member_gone(&mut self, c: &Conference, m: Member, error: Option<String>, io: Io) {
        if let Some(ch) = self.calls.at(m.chan) {
            let resume = m.repack.is_none().then_some(c.next_frame);
            ch.leave_conference(resume);
        }
        io.emit(WorkerEvent::Public(MediaEvent::ConfLeft {
            conf: c.id,
            call: m.call,
            error,
        }));
    }

    /// Removes member `slot` of conference slot `ci` with `ConfLeft`.
    fn leave(&mut self, ci: u32, slot: u32, error: Option<String>, io: Io) {
        let Some(c) = self.confs.at(ci) else { return };
        let Some(m) = c.remove(slot) else { return };
        let (id, next) = (c.id, c.next_frame);
        if let Some(ch) = self.calls.at(m.chan) {
            ch.leave_conference(m.repack.is_none().then_some(next));
        }
        io.emit(WorkerEvent::Public(MediaEvent::ConfLeft {
            conf: id,
            call: m.call,
            error,
        }));
    }

    /// `call` leaves the conference it is in, if any (its call closes, moves away or is
    /// joined with another).
    pub(super) fn conf_leave_of(&mut self, call: CallId, error: &str, io: Io) {
        if let Some(link) = self.calls.get_mut(call).and_then(|c| c.member()) {
            self.leave(link.conf, link.member, Some(error.to_string()), io);
        }
    }

    /// `ConfEnter`.
    pub(super) fn conf_enter(&mut self, r: EnterRequest, io: Io) {
        let Some(ci) = self.confs.slot_of(r.conf) else {
            return io.emit(refused(
                r.call,
                r.token,
                "no such conference on this worker",
            ));
        };
        let Some(chan) = self.calls.slot_of(r.call) else {
            return io.emit(refused(
                r.call,
                r.token,
                format!("call {} has no media on this worker", r.call),
            ));
        };
        if self.moving.iter().any(|m| m.call == r.call) {
            return io.emit(refused(
                r.call,
                r.token,
                format!("call {} is moving to another worker", r.call),
            ));
        }
        let volume = r.volume_db.clamp(VOLUME_MIN, VOLUME_MAX);
        let mode = voice_mode(r.mode);
        if let Some(link) = self.calls.at(chan).and_then(|c| c.member()) {
            if link.conf == ci {
                // Entering again: the same membership with its new settings.
                if let Some(c) = self.confs.at(ci) {
                    let mixer = &mut c.mixer;
                    if let Some(m) = c
                        .members
                        .get_mut(link.member as usize)
                        .and_then(Option::as_mut)
                    {
                        m.mode = r.mode;
                        m.volume_db = volume;
                        if let Some(id) = m.id {
                            let _ = mixer.set_mode(id, mode);
                            let _ = mixer.set_volume(id, volume);
                        }
                        if r.announce {
                            m.token = r.token;
                        }
                    }
                }
                if !r.announce {
                    io.emit(WorkerEvent::Public(MediaEvent::Started {
                        call: r.call,
                        token: r.token,
                        path: None,
                    }));
                }
                return;
            }
            self.leave(
                link.conf,
                link.member,
                Some("entered another conference".into()),
                io,
            );
        }
        self.end_join_of(r.call, crate::media::conf::ENTERED, io);
        let Some(c) = self.confs.at(ci) else { return };
        let id = if r.announce {
            if c.mixer.len() >= MAX_MEMBERS {
                return io.emit(refused(r.call, r.token, "the conference is full"));
            }
            None
        } else {
            match c.mixer.add(mode, volume) {
                Ok(id) => Some(id),
                Err(e) => return io.emit(refused(r.call, r.token, e.to_string())),
            }
        };
        let mut m = Member::new(r.call, chan, id, r.mode, volume);
        m.token = r.token;
        let Some(ch) = self.calls.at(chan) else {
            return;
        };
        if ch.spf() != SAMPLES {
            m.repack = Some(Box::new(Repack::new()));
        }
        let slot = c.insert(m);
        ch.enter_conference(
            MemberLink {
                conf: ci,
                member: slot,
            },
            io,
            &mut self.shared,
        );
        if !r.announce {
            io.emit(WorkerEvent::Public(MediaEvent::Started {
                call: r.call,
                token: r.token,
                path: None,
            }));
        }
    }

    /// `ConfExit`: `ConfLeft` without an error; nothing when `call` is not a member.
    pub(super) fn conf_exit(&mut self, conf: CallId, call: CallId, io: Io) {
        let Some(ci) = self.confs.slot_of(conf) else {
            return;
        };
        match self.calls.get_mut(call).and_then(|c| c.member()) {
            Some(link) if link.conf == ci => self.leave(ci, link.member, None, io),
            _ => {}
        }
    }

    /// `ConfMode`: from the next conference frame.
    pub(super) fn conf_mode(&mut self, conf: CallId, call: CallId, mode: MemberMode) {
        let Some(ci) = self.confs.slot_of(conf) else {
            return;
        };
        let Some(link) = self.calls.get_mut(call).and_then(|c| c.member()) else {
            return;
        };
        if link.conf != ci {
            return;
        }
        if let Some(c) = self.confs.at(ci) {
            let mixer = &mut c.mixer;
            if let Some(m) = c
                .members
                .get_mut(link.member as usize)
                .and_then(Option::as_mut)
            {
                m.mode = mode;
                if let Some(id) = m.id {
                    let _ = mixer.set_mode(id, voice_mode(mode));
                }
            }
        }
    }

    /// The far end of `call` changed: a member whose packet time changed moves between
    /// the conference's grid and its own.
    pub(super) fn conf_renegotiated(&mut self, call: CallId) {
        let Some(ch) = self.calls.get_mut(call) else {
            return;
        };
        let Some(link) = ch.member() else { return };
        let own_grid = ch.spf() != SAMPLES;
        let Some(c) = self.confs.at(link.conf) else {
            return;
        };
        let next = c.next_frame;
        let Some(m) = c.member(link.member) else {
            return;
        };
        if own_grid && m.repack.is_none() {
            m.repack = Some(Box::new(Repack::new()));
            ch.resume_grid(next);
        } else if !own_grid {
            m.repack = None;
        }
    }

    /// `ConfPending`: a play or recording of the conference is being prepared; one
    /// running or pending is replaced.
    pub(super) fn conf_pending(&mut self, conf: CallId, token: u64, record: bool, io: Io) {
        let Some(c) = self.confs.get_mut(conf) else {
            return io.emit(refused(conf, token, "no such conference on this worker"));
        };
        if record {
            let pending = Prep::Pending {
                token,
                stopped: false,
            };
            match std::mem::replace(&mut c.rec, pending) {
                Prep::Active(r) => end_recording(
                    &mut self.shared,
                    conf,
                    r,
                    Some("replaced by a new recording".into()),
                    io,
                ),
                Prep::Pending { token, .. } => io.emit(refused(conf, token, "replaced")),
                Prep::Idle => {}
            }
        } else {
            let pending = Prep::Pending {
                token,
                stopped: false,
            };
            match std::mem::replace(&mut c.play, pending) {
                Prep::Active(_) => {
                    io.emit(play_completed(conf, Some("replaced by a new play".into())));
                }
                Prep::Pending { token, .. } => io.emit(refused(conf, token, "replaced")),
                Prep::Idle => {}
            }
        }
    }

    /// `ConfStopPlay`: the play ends without an error (or as soon as it starts).
    pub(super) fn conf_stop_play(&mut self, conf: CallId, io: Io) {
        let Some(c) = self.confs.get_mut(conf) else {
            return;
        };
        match &mut c.play {
            Prep::Active(_) => {
                c.play = Prep::Idle;
                io.emit(play_completed(conf, None));
            }
            Prep::Pending { stopped, .. } => *stopped = true,
            Prep::Idle => {}
        }
    }

    /// `ConfStopRecord`: the recording ends with an error, as the seed says (or as soon
    /// as it starts).
    pub(super) fn conf_stop_record(&mut self, conf: CallId, io: Io) {
        let Some(c) = self.confs.get_mut(conf) else {
            return;
        };
        match std::mem::take(&mut c.rec) {
            Prep::Active(r) => {
                end_recording(&mut self.shared, conf, r, Some("stopped".into()), io);
            }
            Prep::Pending { token, .. } => {
                c.rec = Prep::Pending {
                    token,
                    stopped: true,
                };
            }
            Prep::Idle => {}
        }
    }

    /// `ConfPrepared`: an announcement, play or recording the file service prepared (or
    /// could not): the request is answered now, and what it prepared starts.
    pub(super) fn conf_prepared(
        &mut self,
        conf: CallId,
        call: CallId,
        token: u64,
        result: Result<Prepared, Refusal>,
        io: Io,
    ) {
        if call != conf {
            return self.announce_prepared(conf, call, token, result, io);
        }
        let Some(c) = self.confs.get_mut(conf) else {
            // Closed meanwhile (the request was refused then): a file made is finalized.
            if let Ok(Prepared::Record(start)) = result {
                end_recording(
                    &mut self.shared,
                    conf,
                    Recording::new(start),
                    Some(CLOSED.into()),
                    io,
                );
            }
            return;
        };
        match result {
            Ok(Prepared::Audio { audio, repeat }) if c.play.pending_token() == Some(token) => {
                io.emit(WorkerEvent::Public(MediaEvent::Started {
                    call: conf,
                    token,
                    path: None,
                }));
                let stopped = matches!(c.play, Prep::Pending { stopped: true, .. });
                if stopped {
                    c.play = Prep::Idle;
                    io.emit(play_completed(conf, None));
                } else {
                    c.play = Prep::Active(Play::new(audio, repeat, String::new()));
                }
            }
            Ok(Prepared::Record(start)) if c.rec.pending_token() == Some(token) => {
                io.emit(WorkerEvent::Public(MediaEvent::Started {
                    call: conf,
                    token,
                    path: Some(start.path.display().to_string()),
                }));
                let stopped = matches!(c.rec, Prep::Pending { stopped: true, .. });
                let r = Recording::new(start);
                if stopped {
                    c.rec = Prep::Idle;
                    end_recording(&mut self.shared, conf, r, Some("stopped".into()), io);
                } else {
                    c.rec = Prep::Active(r);
                }
            }
            Ok(Prepared::Record(start)) => {
                // Replaced meanwhile (refused then): its file is finalized.
                end_recording(
                    &mut self.shared,
                    conf,
                    Recording::new(start),
                    Some("replaced".into()),
                    io,
                );
            }
            Ok(Prepared::Audio { .. }) => {}
            Err(refusal) => {
                if c.play.pending_token() == Some(token) {
                    c.play = Prep::Idle;
                } else if c.rec.pending_token() == Some(token) {
                    c.rec = Prep::Idle;
                } else {
                    return;
                }
                io.emit(WorkerEvent::Public(MediaEvent::Refused {
                    call: conf,
                    token,
                    refusal,
                }));
            }
        }
    }

    /// An entering member's announcement is loaded (it now talks and hears, and the
    /// request is answered), or could not be (it is no member, and the request is
    /// refused). Nothing when it left meanwhile (`ConfLeft` answered it).
    fn announce_prepared(
        &mut self,
        conf: CallId,
        call: CallId,
        token: u64,
        result: Result<Prepared, Refusal>,
        io: Io,
    ) {
        let Some(ci) = self.confs.slot_of(conf) else {
            return;
        };
        let Some(link) = self.calls.get_mut(call).and_then(|c| c.member()) else {
            return;
        };
        let Some(c) = self.confs.at(ci) else { return };
        if link.conf != ci {
            return;
        }
        let Some(m) = c.member(link.member) else {
            return;
        };
        if m.token != token {
            return;
        }
        let (mode, volume, has_id) = (m.mode, m.volume_db, m.id.is_some());
        let audio = match result {
            Ok(Prepared::Audio { audio, repeat }) => Ok(Play::new(audio, repeat, String::new())),
            Ok(Prepared::Record(_)) => return,
            Err(r) => Err(r),
        };
        let outcome = match (audio, has_id) {
            (Ok(play), true) => Ok((None, play)),
            (Ok(play), false) => match c.mixer.add(voice_mode(mode), volume) {
                Ok(id) => Ok((Some(id), play)),
                Err(e) => Err(Refusal::Unavailable {
                    reason: e.to_string(),
                }),
            },
            (Err(r), _) => Err(r),
        };
        match outcome {
            Ok((id, play)) => {
                if let Some(m) = c.member(link.member) {
                    if id.is_some() {
                        m.id = id;
                    }
                    m.announce = Some(play);
                }
                io.emit(WorkerEvent::Public(MediaEvent::Started {
                    call,
                    token,
                    path: None,
                }));
            }
            Err(refusal) if !has_id => {
                // Nothing of the entry remains.
                if let Some(m) = c.remove(link.member) {
                    let next = c.next_frame;
                    if let Some(ch) = self.calls.at(m.chan) {
                        ch.leave_conference(m.repack.is_none().then_some(next));
                    }
                }
                io.emit(WorkerEvent::Public(MediaEvent::Refused {
                    call,
                    token,
                    refusal,
                }));
            }
            Err(refusal) => {
                // Entered again with an announcement that cannot play: it stays in.
                io.emit(WorkerEvent::Public(MediaEvent::Refused {
                    call,
                    token,
                    refusal,
                }));
            }
        }
    }

    /// Shutdown: every conference closes.
    pub(super) fn close_confs(&mut self, reason: &str, io: Io) {
        for conf in self.confs.ids() {
            self.conf_close(conf, reason, io);
        }
    }
}
