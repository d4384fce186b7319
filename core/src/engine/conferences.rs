//! Conferences as the engine runs them (`sys.conf` of API.md, the seed's `conf_enter`
//! and `conf_exit`): the resource (id, owner, members, limits, its play and recording),
//! where it lives (one worker; members' media move there as they enter, so mixing never
//! crosses cores — a conference is bounded by one core), and every ending of a
//! membership (`conf_exit`, the conference released or its `max_seconds`, the member's
//! own `max_seconds`, the call hung up) reported once with `on_conf_completed`. A
//! released conference ends its members' membership, not their calls.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::actions::{Action, confine};
use super::clients::{ConnId, HeldEvents};
use super::replies::Ticket;
use super::resource::Starting;
use super::{Gateway, TimerKind};
use crate::api::call_params::{CallConfEnter, CallConfExit};
use crate::api::conf_params::{ConfConstruct, ConfPlayStart, ConfRecordStart, ConfSetVoiceMode};
use crate::api::errors::RpcError;
use crate::api::jsonrpc;
use crate::api::values::VoiceMode;
use crate::call::state::{Op, State};
use crate::media_msg::{MediaCommand, MediaEvent, MemberMode, PlaySpec, RecordSpec};
use crate::speech::PlayStep;

/// A conference's play or recording the media plane was asked to start.
#[derive(Debug, Clone)]
pub(crate) struct ConfSlot {
    pub token: u64,
    pub ticket: Option<Ticket>,
    pub started: bool,
    pub begin: u64,
    /// A recording's full path, once started.
    pub path: Option<String>,
}

/// Which of a conference's two slots.
#[derive(Debug, Clone, Copy)]
enum SlotKind {
    Play,
    Record,
}

impl SlotKind {
    fn slot(self, c: &mut Conference) -> &mut Option<ConfSlot> {
        match self {
            SlotKind::Play => &mut c.play,
            SlotKind::Record => &mut c.record,
        }
    }
}

/// A conference resource.
#[derive(Debug)]
pub(crate) struct Conference {
    pub res_id: String,
    pub owner: Option<ConnId>,
    pub held: HeldEvents,
    pub begin_time: u64,
    pub user_data: Option<String>,
    pub max_parts: u32,
    pub worker: usize,
    /// Calls in it or entering it.
    pub members: Vec<u64>,
    pub play: Option<ConfSlot>,
    pub record: Option<ConfSlot>,
    /// Released: waiting for its media to close before `on_released`.
    pub releasing: bool,
}

/// The conferences, by serial (one id space with the calls).
#[derive(Debug, Default)]
pub(crate) struct Conferences {
    pub by_serial: HashMap<u64, Conference>,
    pub by_res: HashMap<String, u64>,
}

fn member_mode(m: VoiceMode) -> MemberMode {
    match m {
        VoiceMode::TalkListen => MemberMode {
            talks: true,
            listens: true,
        },
        VoiceMode::TalkOnly => MemberMode {
            talks: true,
            listens: false,
        },
        VoiceMode::ListenOnly => MemberMode {
            talks: false,
            listens: true,
        },
        VoiceMode::Neither => MemberMode {
            talks: false,
            listens: false,
        },
    }
}

impl Gateway {
    /// Sends `sys.conf.NAME` of conference `conf` to its owner (or holds it).
    fn emit_conf(&mut self, conf: u64, name: &str, params: Value) {
        let Some(c) = self.confs.by_serial.get_mut(&conf) else {
            return;
        };
        let text = jsonrpc::notification(&format!("sys.conf.{name}"), &params);
        match c.owner {
            Some(conn) if self.clients.is_connected(conn) => {
                if let Some(text) = self.replies.hold(conn, conf, text) {
                    self.push_client(conn, text);
                }
            }
            _ => {
                let cap = self.cfg.api.held_events_per_resource;
                c.held.push(text, cap);
            }
        }
    }

    /// The live conference `res_id`, owned by `conn` from now on.
    fn conf_lookup(&mut self, conn: ConnId, res_id: &str) -> Result<u64, RpcError> {
        let serial = *self
            .confs
            .by_res
            .get(res_id)
            .ok_or_else(|| RpcError::no_such_resource(res_id))?;
        let c = self.confs.by_serial.get_mut(&serial).expect("indexed");
        if c.releasing {
            return Err(RpcError::no_such_resource(res_id));
        }
        c.owner = Some(conn);
        let held: Vec<String> = c.held.take().into_iter().collect();
        for text in held {
            self.push_client(conn, text);
        }
        self.involve(serial);
        Ok(serial)
    }

    /// `sys.conf.construct`: a conference on the least loaded worker.
    pub(crate) fn conf_construct(
        &mut self,
        conn: ConnId,
        p: ConfConstruct,
        now: Instant,
    ) -> Result<Value, RpcError> {
        if self.draining {
            return Err(RpcError::no_capacity("the gateway is shutting down"));
        }
        let record = match p.record_file.as_deref().filter(|f| !f.is_empty()) {
            Some(name) => Some(self.conf_record_spec(name, p.record_format, 0)?),
            None => None,
        };
        let serial = self.new_serial();
        let worker = self.pick_worker();
        self.try_media(worker, MediaCommand::ConfOpen { conf: serial })
            .map_err(|()| RpcError::media("", "the media worker is overloaded, try again"))?;
        let res_id = self.res_id_for(serial, "sys.conf");
        self.confs.by_serial.insert(
            serial,
            Conference {
                res_id: res_id.clone(),
                owner: Some(conn),
                held: HeldEvents::default(),
                begin_time: self.unix(now),
                user_data: p.user_data.clone(),
                max_parts: p.max_parts,
                worker,
                members: Vec::new(),
                play: None,
                record: None,
                releasing: false,
            },
        );
        self.confs.by_res.insert(res_id.clone(), serial);
        self.involve(serial);
        self.arm(
            serial,
            TimerKind::ConfMax,
            now + Duration::from_secs(u64::from(p.max_seconds)),
        );
        let result = json!({
            "res_id": res_id,
            "user_data": p.user_data,
            "ipsc_info": super::events::ipsc_info(self.process_id, None),
        });
        if let Some(spec) = record {
            // Recorded from the start: answered once the file exists.
            let token = self.next_token;
            self.next_token += 1;
            let cmd = MediaCommand::ConfRecord {
                conf: serial,
                token,
                spec,
            };
            if self.try_media(worker, cmd).is_err() {
                self.conf_discard(serial, now);
                return Err(RpcError::media(
                    "",
                    "the media worker is overloaded, try again",
                ));
            }
            let ticket = self.defer();
            let begin = self.unix(now);
            if let Some(c) = self.confs.by_serial.get_mut(&serial) {
                c.record = Some(ConfSlot {
                    token,
                    ticket,
                    started: false,
                    begin,
                    path: None,
                });
            }
            self.conf_construct_reply = Some((serial, result));
            return Ok(Value::Null);
        }
        Ok(result)
    }

    fn conf_record_spec(
        &self,
        name: &str,
        format: crate::api::values::RecordFormat,
        max_seconds: u32,
    ) -> Result<RecordSpec, RpcError> {
        let encoding = format.encoding().ok_or_else(|| {
            RpcError::invalid_param(
                "record_format",
                format!(
                    "format {:#04x} is not supported: use 3 (A-law), 7 (mu-law), 8 (PCM 8 bit) or 16 (PCM 16 bit)",
                    format.code()
                ),
            )
        })?;
        let root = self.cfg.media.record_root.clone();
        Ok(RecordSpec {
            path: confine(&root, &self.record_root, name)?,
            format: encoding,
            max_seconds,
            finish_keys: String::new(),
            beep: false,
        })
    }

    /// A conference whose construct failed: gone without a trace.
    fn conf_discard(&mut self, conf: u64, now: Instant) {
        if let Some(c) = self.confs.by_serial.remove(&conf) {
            self.confs.by_res.remove(&c.res_id);
            self.deliver(c.worker, MediaCommand::ConfClose { conf }, now);
        }
    }

    /// `sys.conf.exists`.
    pub(crate) fn conf_exists(&self, res_id: &str) -> bool {
        self.confs
            .by_res
            .get(res_id)
            .and_then(|s| self.confs.by_serial.get(s))
            .is_some_and(|c| !c.releasing)
    }

    /// `sys.conf.release` (also `max_seconds`): members leave (their calls stay), the
    /// play and recording end, then `sys.conf.on_released`.
    pub(crate) fn conf_release(&mut self, conf: u64, now: Instant) {
        let Some(c) = self.confs.by_serial.get_mut(&conf) else {
            return;
        };
        if c.releasing {
            return;
        }
        c.releasing = true;
        let worker = c.worker;
        self.deliver(worker, MediaCommand::ConfClose { conf }, now);
    }

    pub(crate) fn conf_release_req(
        &mut self,
        conn: ConnId,
        res_id: &str,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let conf = self.conf_lookup(conn, res_id)?;
        self.conf_release(conf, now);
        Ok(Value::Null)
    }

    /// `sys.conf.play_start`.
    pub(crate) fn conf_play_start(
        &mut self,
        conn: ConnId,
        p: ConfPlayStart,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let conf = self.conf_lookup(conn, &p.res_id)?;
        if self.confs.by_serial[&conf].play.is_some() {
            return Err(RpcError::bad_state(&p.res_id, "Play"));
        }
        let steps = self.plan_play(&p.content, "content")?;
        let token = self.next_token;
        self.next_token += 1;
        let cmd = MediaCommand::ConfPlay {
            conf,
            token,
            spec: PlaySpec {
                steps,
                finish_keys: String::new(),
                repeat: p.repeat,
            },
        };
        self.conf_slot_start(conf, SlotKind::Play, token, cmd, now)
    }

    pub(crate) fn conf_play_stop(
        &mut self,
        conn: ConnId,
        res_id: &str,
        now: Instant,
    ) -> Result<Value, RpcError> {
        self.conf_slot_stop(conn, res_id, SlotKind::Play, now)
    }

    /// Sends a conference's play or recording command and keeps its slot; the request
    /// is answered when the media plane starts it.
    fn conf_slot_start(
        &mut self,
        conf: u64,
        kind: SlotKind,
        token: u64,
        cmd: MediaCommand,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let worker = self.confs.by_serial[&conf].worker;
        self.try_media(worker, cmd)
            .map_err(|()| RpcError::media("", "the media worker is overloaded, try again"))?;
        let ticket = self.defer();
        let begin = self.unix(now);
        if let Some(c) = self.confs.by_serial.get_mut(&conf) {
            *kind.slot(c) = Some(ConfSlot {
                token,
                ticket,
                started: false,
                begin,
                path: None,
            });
        }
        Ok(Value::Null)
    }

    /// `play_stop` / `record_stop`: -32002 when nothing of the kind is going.
    fn conf_slot_stop(
        &mut self,
        conn: ConnId,
        res_id: &str,
        kind: SlotKind,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let conf = self.conf_lookup(conn, res_id)?;
        let c = self.confs.by_serial.get_mut(&conf).expect("looked up");
        if kind.slot(c).is_none() {
            return Err(RpcError::bad_state(res_id, "Idle"));
        }
        let worker = c.worker;
        let cmd = match kind {
            SlotKind::Play => MediaCommand::ConfStopPlay { conf },
            SlotKind::Record => MediaCommand::ConfStopRecord { conf },
        };
        self.deliver(worker, cmd, now);
        Ok(Value::Null)
    }

    /// `sys.conf.record_start`.
    pub(crate) fn conf_record_start(
        &mut self,
        conn: ConnId,
        p: ConfRecordStart,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let conf = self.conf_lookup(conn, &p.res_id)?;
        if self.confs.by_serial[&conf].record.is_some() {
            return Err(RpcError::bad_state(&p.res_id, "Record"));
        }
        let name = p.record_file.clone().unwrap_or_else(|| {
            format!(
                "{}-{}.wav",
                p.res_id.replace(['/', '\\'], "_"),
                self.unix(now)
            )
        });
        let spec = self.conf_record_spec(&name, p.record_format, p.max_seconds)?;
        let token = self.next_token;
        self.next_token += 1;
        let cmd = MediaCommand::ConfRecord { conf, token, spec };
        self.conf_slot_start(conf, SlotKind::Record, token, cmd, now)
    }

    pub(crate) fn conf_record_stop(
        &mut self,
        conn: ConnId,
        res_id: &str,
        now: Instant,
    ) -> Result<Value, RpcError> {
        self.conf_slot_stop(conn, res_id, SlotKind::Record, now)
    }

    /// `sys.conf.set_voice_mode`: a member's new mode.
    pub(crate) fn conf_set_voice_mode(
        &mut self,
        conn: ConnId,
        p: ConfSetVoiceMode,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let conf = self.conf_lookup(conn, &p.res_id)?;
        let call = self.lookup(conn, &p.call_res_id)?;
        if !self.confs.by_serial[&conf].members.contains(&call) {
            let state = self.calls[&call].state.name();
            return Err(RpcError::bad_state(&p.call_res_id, state));
        }
        self.call_cmd(
            call,
            MediaCommand::ConfMode {
                conf,
                call,
                mode: member_mode(p.voice_mode),
            },
            now,
        );
        Ok(Value::Null)
    }

    /// `conf_enter`: from Ring, Idle, Play or Dial (a play is stopped first, a parent's
    /// ring-back ended); the call's media moves to the conference's worker.
    pub(crate) fn conf_enter(
        &mut self,
        conn: ConnId,
        p: CallConfEnter,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let call = self.lookup(conn, &p.res_id)?;
        let conf = self.conf_lookup(conn, &p.conf_res_id)?;
        self.admit(call, Op::ConfEnter)?;
        let c = &self.confs.by_serial[&conf];
        if c.max_parts > 0 && c.members.len() >= c.max_parts as usize {
            return Err(RpcError::no_capacity(&format!(
                "the conference is full (max_parts {})",
                c.max_parts
            )));
        }
        let worker = c.worker;
        let announce = match p.play_file.as_deref().filter(|f| !f.is_empty()) {
            Some(name) => {
                let root = self.cfg.media.root.clone();
                let file = confine(&root, &self.media_root, name)?;
                Some(PlaySpec {
                    steps: vec![PlayStep::File(file.display().to_string())],
                    finish_keys: String::new(),
                    repeat: 0,
                })
            }
            None => None,
        };
        // A running play ends first (its completion comes as usual).
        if self.calls[&call].state == State::Play {
            self.call_cmd(call, MediaCommand::StopPlay { call }, now);
        }
        let token = self.next_token;
        self.next_token += 1;
        let cmd = MediaCommand::ConfEnter {
            conf,
            call,
            token,
            mode: member_mode(p.voice_mode),
            volume_db: p.volume.unwrap_or(0),
            announce,
        };
        self.move_media(call, worker, now);
        self.call_cmd(call, cmd, now);
        let ticket = self.defer();
        let t = self.unix(now);
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = State::Conference;
            c.action = Some(Action::Conference { conf });
            c.action_begin = t;
            c.starting = Some(Starting {
                token,
                ticket,
                stop: false,
            });
        }
        if let Some(c) = self.confs.by_serial.get_mut(&conf) {
            c.members.push(call);
        }
        if p.max_seconds > 0 {
            self.arm(
                call,
                TimerKind::MemberMax,
                now + Duration::from_secs(u64::from(p.max_seconds)),
            );
        }
        Ok(Value::Null)
    }

    /// `conf_exit`: only from the conference the call is in (-32002 otherwise).
    pub(crate) fn conf_exit(
        &mut self,
        conn: ConnId,
        p: CallConfExit,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let call = self.lookup(conn, &p.res_id)?;
        let conf = self
            .confs
            .by_res
            .get(&p.conf_res_id)
            .copied()
            .ok_or_else(|| RpcError::no_such_resource(&p.conf_res_id))?;
        self.admit(call, Op::ConfExit)?;
        if !matches!(self.calls[&call].action, Some(Action::Conference { conf: c }) if c == conf) {
            let state = self.calls[&call].state.name();
            return Err(RpcError::bad_state(&p.res_id, state));
        }
        self.call_cmd(call, MediaCommand::ConfExit { conf, call }, now);
        Ok(Value::Null)
    }

    /// A member's own `max_seconds` passed.
    pub(crate) fn member_max_reached(&mut self, call: u64, now: Instant) {
        if let Some(Action::Conference { conf }) =
            self.calls.get(&call).and_then(|c| c.action.as_ref())
        {
            let conf = *conf;
            if let Some(c) = self.calls.get_mut(&call) {
                c.leave_error = Some("max_seconds reached".into());
            }
            self.call_cmd(call, MediaCommand::ConfExit { conf, call }, now);
        }
    }

    /// `call` left `conf` on the media plane: `on_conf_completed`, back to Idle.
    pub(crate) fn on_conf_left(
        &mut self,
        conf: u64,
        call: u64,
        error: Option<String>,
        now: Instant,
    ) {
        if let Some(c) = self.confs.by_serial.get_mut(&conf) {
            c.members.retain(|m| *m != call);
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !matches!(c.action, Some(Action::Conference { conf: x }) if x == conf) {
            return;
        }
        let released = c.released;
        let releasing_conf = self.confs.by_serial.get(&conf).is_some_and(|x| x.releasing);
        let mine = c.leave_error.take();
        let error = if released {
            Some("call released".to_string())
        } else if releasing_conf {
            Some("conference released".to_string())
        } else {
            mine.or(error.filter(|e| e != "left"))
        };
        if let Some(s) = c.starting.take()
            && let Some(t) = s.ticket
        {
            // Left before it was confirmed: the request is answered first.
            self.answer_later(t, Ok(Value::Null));
        }
        self.complete_action(call, error.as_deref(), None, now);
        if released {
            self.finish_pending_release(call, now);
        }
    }

    /// A media event about a conference itself (its play, recording, closing).
    pub(crate) fn on_conf_event(&mut self, ev: MediaEvent, now: Instant) {
        let conf = ev.call();
        let t = self.unix(now);
        let Some(c) = self.confs.by_serial.get_mut(&conf) else {
            return;
        };
        match ev {
            MediaEvent::Started { token, path, .. } => {
                let (slot, is_record) = match (&mut c.play, &mut c.record) {
                    (Some(p), _) if p.token == token => (p, false),
                    (_, Some(r)) if r.token == token => (r, true),
                    _ => return,
                };
                slot.started = true;
                slot.begin = t;
                slot.path.clone_from(&path);
                let ticket = slot.ticket.take();
                if let Some(tk) = ticket {
                    let result = if let Some((s, v)) =
                        self.conf_construct_reply.take_if(|(s, _)| *s == conf)
                    {
                        let _ = s;
                        v
                    } else if is_record {
                        Value::String(path.unwrap_or_default())
                    } else {
                        Value::Null
                    };
                    self.answer_later(tk, Ok(result));
                }
            }
            MediaEvent::Refused { token, refusal, .. } => {
                let ours = c.play.as_ref().is_some_and(|p| p.token == token)
                    || c.record.as_ref().is_some_and(|r| r.token == token);
                if !ours {
                    // A dial's file before dialling (ring_play_mode 3): dial anyway.
                    self.ring_play_done(conf, now);
                    return;
                }
                let err = super::actions::refusal_error(&refusal);
                let slot = if c.play.as_ref().is_some_and(|p| p.token == token) {
                    c.play.take()
                } else if c.record.as_ref().is_some_and(|r| r.token == token) {
                    c.record.take()
                } else {
                    return;
                };
                if self
                    .conf_construct_reply
                    .as_ref()
                    .is_some_and(|(s, _)| *s == conf)
                {
                    // construct's recording could not start: no conference.
                    self.conf_construct_reply = None;
                    self.conf_discard(conf, now);
                }
                if let Some(tk) = slot.and_then(|s| s.ticket) {
                    self.answer_later(tk, Err(err));
                }
            }
            MediaEvent::PlayCompleted { error, .. } => {
                if c.play.is_none() {
                    // A dial's file (ring-back, or before dialling) ended.
                    self.ring_play_done(conf, now);
                    return;
                }
                if let Some(slot) = c.play.take() {
                    let p = json!({"res_id": c.res_id, "error": error, "begin_time": slot.begin,
                                   "end_time": t, "user_data": c.user_data});
                    self.emit_conf(conf, "on_play_completed", p);
                }
            }
            MediaEvent::RecordCompleted { error, path, .. } => {
                if let Some(slot) = c.record.take() {
                    let p = json!({"res_id": c.res_id, "error": error, "begin_time": slot.begin,
                                   "end_time": t, "record_file": path.display().to_string(),
                                   "user_data": c.user_data});
                    self.emit_conf(conf, "on_record_completed", p);
                }
            }
            MediaEvent::Closed { .. } => {
                let p = json!({"res_id": c.res_id, "begin_time": c.begin_time, "end_time": t,
                               "user_data": c.user_data});
                self.emit_conf(conf, "on_released", p);
                if let Some(c) = self.confs.by_serial.remove(&conf) {
                    self.confs.by_res.remove(&c.res_id);
                }
            }
            _ => {}
        }
    }

    /// The worker conference `conf` lives on.
    pub(crate) fn conf_worker(&self, conf: u64) -> Option<usize> {
        self.confs.by_serial.get(&conf).map(|c| c.worker)
    }

    /// Whether the conference's own play (`sys.conf.play_start`) is going.
    pub(crate) fn conf_playing(&self, conf: u64) -> bool {
        self.confs
            .by_serial
            .get(&conf)
            .is_some_and(|c| c.play.is_some())
    }

    /// `construct` with `parent_conf_res_id`: the conference, owned by `conn`.
    pub(crate) fn conf_parent(&mut self, conn: ConnId, res_id: &str) -> Result<u64, RpcError> {
        self.conf_lookup(conn, res_id)
    }

    /// Whether `serial` names a conference.
    pub(crate) fn is_conf(&self, serial: u64) -> bool {
        self.confs.by_serial.contains_key(&serial)
    }

    /// The content of a play, planned (shared by calls and conferences).
    fn plan_play(
        &self,
        content: &crate::api::content::PlayContent,
        param: &str,
    ) -> Result<Vec<PlayStep>, RpcError> {
        self.plan_content(content, param)
    }
}
