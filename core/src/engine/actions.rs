//! The CTI actions of a call (play, record, send and receive DTMF) as the engine
//! runs them: admission through the seed's state machine, file-name confinement,
//! handing the work to the media plane, and turning media events into each action's
//! single completion event. Also the media side of a call's life: opening its RTP
//! port on a worker, pointing it at the negotiated peer, closing it at release.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::call_params::{
    CallPlayStart, CallReceiveDtmfStart, CallRecordStart, CallSendDtmfStart,
};
use crate::api::content::PlayContent;
use crate::api::errors::RpcError;
use crate::call::collect::{CollectParams, Collector, Step};
use crate::call::state::{Op, State};
use crate::media_msg::{MediaCommand, MediaEvent, PlaySpec, RecordSpec, Refusal};
use crate::speech::PlayStep;

use super::resource::Starting;
use super::{Gateway, TimerKind};

/// The action a call is running (its state is the matching action state).
#[derive(Debug)]
pub enum Action {
    Play,
    Record {
        path: String,
    },
    SendDtmf,
    Receive {
        collector: Collector,
        prompt: Option<Vec<PlayStep>>,
    },
    /// A bridge, run by its first party.
    Connect {
        with: u64,
    },
    /// A conference membership.
    Conference {
        conf: u64,
    },
}

impl Gateway {
    fn admit_action(&mut self, conn: u64, res_id: &str, op: Op) -> Result<u64, RpcError> {
        let serial = self.lookup(conn, res_id)?;
        self.admit(serial, op)?;
        Ok(serial)
    }

    fn worker_of(&self, serial: u64) -> usize {
        self.calls.get(&serial).map_or(0, |c| c.worker)
    }

    /// Ask the media plane to start a play or a recording; its answer resolves the
    /// request being dispatched. A full queue refuses it at once.
    fn start_media(
        &mut self,
        serial: u64,
        make: impl FnOnce(u64) -> MediaCommand,
    ) -> Result<(), RpcError> {
        let token = self.next_token;
        self.next_token += 1;
        let worker = self.worker_of(serial);
        self.try_media(worker, make(token))
            .map_err(|()| RpcError::media("", "the media worker is overloaded, try again"))?;
        let ticket = self.defer();
        if let Some(c) = self.calls.get_mut(&serial) {
            c.starting = Some(Starting {
                token,
                ticket,
                stop: false,
            });
        }
        Ok(())
    }

    fn start_action(&mut self, serial: u64, state: State, action: Action, now: Instant) {
        let t = self.unix(now);
        if let Some(c) = self.calls.get_mut(&serial) {
            c.state = state;
            c.action = Some(action);
            c.action_begin = t;
        }
    }

    /// `play_start`: answered once the media plane has loaded every file and started
    /// (a missing file is -32005 and changes nothing).
    pub(crate) fn play_start(
        &mut self,
        conn: u64,
        p: CallPlayStart,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let serial = self.admit_action(conn, &p.res_id, Op::PlayStart)?;
        let steps = self.plan_content(&p.content, "content")?;
        let spec = PlaySpec {
            steps,
            finish_keys: p.finish_keys,
            repeat: p.repeat,
        };
        self.start_media(serial, |token| MediaCommand::Play {
            call: serial,
            token,
            spec,
        })?;
        self.start_action(serial, State::Play, Action::Play, now);
        Ok(Value::Null)
    }

    /// Stops the call's play: at once when it runs, as soon as it starts when the media
    /// plane has not confirmed it yet.
    fn stop_play_media(&mut self, serial: u64, now: Instant) {
        if let Some(s) = self
            .calls
            .get_mut(&serial)
            .and_then(|c| c.starting.as_mut())
        {
            s.stop = true;
            return;
        }
        self.call_cmd(serial, MediaCommand::StopPlay { call: serial }, now);
    }

    pub(crate) fn play_stop(
        &mut self,
        conn: u64,
        res_id: &str,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let serial = self.admit_action(conn, res_id, Op::PlayStop)?;
        self.stop_play_media(serial, now);
        Ok(Value::Null)
    }

    pub(crate) fn record_start(
        &mut self,
        conn: u64,
        p: CallRecordStart,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let serial = self.admit_action(conn, &p.res_id, Op::RecordStart)?;
        let Some(format) = p.record_format.encoding() else {
            let other = p.record_format;
            return Err(RpcError::invalid_param(
                "record_format",
                format!(
                    "format {:#04x} ({other:?}) is not supported yet: use 3 (A-law), 7 (mu-law), 8 (PCM 8 bit) or 16 (PCM 16 bit)",
                    other.code()
                ),
            ));
        };
        let root = self.cfg.media.record_root.clone();
        let res_id = p.res_id.clone();
        let name = p.record_file.clone().unwrap_or_else(|| {
            format!(
                "{}-{}.wav",
                res_id.replace(['/', '\\'], "_"),
                self.unix(now)
            )
        });
        let path = confine(&root, &self.record_root, &name)?;
        let spec = RecordSpec {
            path,
            format,
            max_seconds: p.max_seconds,
            finish_keys: p.finish_keys,
            beep: p.beep,
        };
        self.start_media(serial, |token| MediaCommand::Record {
            call: serial,
            token,
            spec,
        })?;
        // The path is known once the file exists (the media plane's answer).
        self.start_action(
            serial,
            State::Record,
            Action::Record {
                path: String::new(),
            },
            now,
        );
        Ok(Value::Null)
    }

    pub(crate) fn record_stop(
        &mut self,
        conn: u64,
        res_id: &str,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let serial = self.admit_action(conn, res_id, Op::RecordStop)?;
        if let Some(s) = self
            .calls
            .get_mut(&serial)
            .and_then(|c| c.starting.as_mut())
        {
            s.stop = true;
            return Ok(Value::Null);
        }
        self.call_cmd(serial, MediaCommand::StopRecord { call: serial }, now);
        Ok(Value::Null)
    }

    pub(crate) fn send_dtmf_start(
        &mut self,
        conn: u64,
        p: CallSendDtmfStart,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let serial = self.admit_action(conn, &p.res_id, Op::SendDtmfStart)?;
        let worker = self.worker_of(serial);
        let cmd = MediaCommand::SendDtmf {
            call: serial,
            keys: p.keys,
        };
        self.try_media(worker, cmd)
            .map_err(|()| RpcError::media("", "the media worker is overloaded, try again"))?;
        self.start_action(serial, State::SendDtmf, Action::SendDtmf, now);
        Ok(Value::Null)
    }

    pub(crate) fn receive_dtmf_start(
        &mut self,
        conn: u64,
        p: CallReceiveDtmfStart,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let serial = self.admit_action(conn, &p.res_id, Op::ReceiveDtmfStart)?;
        let prompt = match &p.play_content {
            Some(c) => Some(self.plan_content(c, "play_content")?),
            None => None,
        };
        if let Some(steps) = &prompt {
            let spec = PlaySpec {
                steps: steps.clone(),
                finish_keys: String::new(),
                repeat: 0,
            };
            self.start_media(serial, |token| MediaCommand::Play {
                call: serial,
                token,
                spec,
            })?;
        }
        let (collector, first) = Collector::start(CollectParams {
            valid_keys: p.valid_keys,
            max_keys: p.max_keys as usize,
            finish_keys: p.finish_keys,
            first_key_timeout_s: u64::from(p.first_key_timeout),
            continues_keys_timeout_s: u64::from(p.continues_keys_timeout),
            has_prompt: prompt.is_some(),
            play_repeat: p.play_repeat,
            breaking_on_key: p.breaking_on_key,
            including_finish_key: p.including_finish_key,
        });
        self.start_action(
            serial,
            State::ReceiveDtmf,
            Action::Receive { collector, prompt },
            now,
        );
        self.collect_step(serial, first, now);
        Ok(Value::Null)
    }

    pub(crate) fn stop_receive_dtmf(
        &mut self,
        conn: u64,
        res_id: &str,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let serial = self.admit_action(conn, res_id, Op::StopReceiveDtmf)?;
        let step = match self.calls.get_mut(&serial).and_then(|c| c.action.as_mut()) {
            Some(Action::Receive { collector, .. }) => collector.stop(),
            _ => Step::None,
        };
        self.collect_step(serial, step, now);
        Ok(Value::Null)
    }

    /// Carry out what the collector asked for.
    fn collect_step(&mut self, serial: u64, step: Step, now: Instant) {
        match step {
            Step::None => {}
            Step::StopPrompt => self.stop_play_media(serial, now),
            Step::Arm { seconds } => {
                if let Some(c) = self.calls.get_mut(&serial) {
                    c.collect_generation += 1;
                }
                self.arm(
                    serial,
                    TimerKind::Collect,
                    now + Duration::from_secs(seconds),
                );
            }
            Step::Replay => {
                let prompt = match self.calls.get(&serial).and_then(|c| c.action.as_ref()) {
                    Some(Action::Receive {
                        prompt: Some(p), ..
                    }) => p.clone(),
                    _ => return,
                };
                let token = self.next_token;
                self.next_token += 1;
                let worker = self.worker_of(serial);
                let cmd = MediaCommand::Play {
                    call: serial,
                    token,
                    spec: PlaySpec {
                        steps: prompt,
                        finish_keys: String::new(),
                        repeat: 0,
                    },
                };
                match self.try_media(worker, cmd) {
                    Ok(()) => {
                        if let Some(c) = self.calls.get_mut(&serial) {
                            c.starting = Some(Starting {
                                token,
                                ticket: None,
                                stop: false,
                            });
                        }
                    }
                    Err(()) => self.complete_action(
                        serial,
                        Some("the media worker is overloaded"),
                        None,
                        now,
                    ),
                }
            }
            Step::Done { error, keys } => {
                let playing = matches!(
                    self.calls.get(&serial).and_then(|c| c.action.as_ref()),
                    Some(Action::Receive { collector, .. }) if collector.prompt_playing()
                );
                if playing {
                    self.stop_play_media(serial, now);
                }
                self.finish_receive(serial, error, &keys, now);
            }
        }
    }

    fn finish_receive(&mut self, serial: u64, error: Option<&str>, keys: &str, now: Instant) {
        let end = self.unix(now);
        let Some(c) = self.calls.get_mut(&serial) else {
            return;
        };
        c.action = None;
        c.collect_generation += 1;
        if c.state == State::ReceiveDtmf {
            c.state = State::Idle;
        }
        let params = json!({
            "res_id": c.res_id, "error": error, "begin_time": c.action_begin,
            "end_time": end, "keys": keys, "user_data": c.user_data,
        });
        self.emit(serial, "on_receive_dtmf_completed", params);
    }

    /// The collection timer of `serial` fired.
    pub(crate) fn collect_timeout(&mut self, serial: u64, now: Instant) {
        let step = match self.calls.get_mut(&serial).and_then(|c| c.action.as_mut()) {
            Some(Action::Receive { collector, .. }) => collector.on_timeout(),
            _ => return,
        };
        self.collect_step(serial, step, now);
    }

    /// End the running action with its completion event and return to `Idle`.
    pub(crate) fn complete_action(
        &mut self,
        serial: u64,
        error: Option<&str>,
        finish_key: Option<char>,
        now: Instant,
    ) {
        let end = self.unix(now);
        let Some(c) = self.calls.get_mut(&serial) else {
            return;
        };
        let Some(action) = c.action.take() else {
            return;
        };
        if c.state.is_action() {
            c.state = State::Idle;
        }
        let fk = finish_key.map(|k| k.to_string());
        let (name, params) = match action {
            Action::Play => (
                "on_play_completed",
                json!({"res_id": c.res_id, "error": error, "begin_time": c.action_begin, "end_time": end, "finish_key": fk, "user_data": c.user_data}),
            ),
            Action::Record { path } => (
                "on_record_completed",
                json!({"res_id": c.res_id, "error": error, "begin_time": c.action_begin, "end_time": end, "record_file": path, "finish_key": fk, "user_data": c.user_data}),
            ),
            Action::SendDtmf => (
                "on_send_dtmf_completed",
                json!({"res_id": c.res_id, "error": error, "begin_time": c.action_begin, "end_time": end, "user_data": c.user_data}),
            ),
            Action::Receive { collector, .. } => (
                "on_receive_dtmf_completed",
                json!({"res_id": c.res_id, "error": error, "begin_time": c.action_begin, "end_time": end, "keys": collector.keys(), "user_data": c.user_data}),
            ),
            Action::Conference { .. } => (
                "on_conf_completed",
                json!({"res_id": c.res_id, "error": error, "begin_time": c.action_begin, "end_time": end, "user_data": c.user_data}),
            ),
            Action::Connect { .. } => (
                "on_connect_completed",
                json!({"res_id": c.res_id, "error": error, "begin_time": c.action_begin, "end_time": end, "user_data": c.user_data}),
            ),
        };
        self.emit(serial, name, params);
    }

    /// The media plane started a play or a recording it was asked for: the request is
    /// answered (a recording with its file's full path); a stop asked for meanwhile is
    /// sent now.
    fn on_started(&mut self, serial: u64, token: u64, path: Option<String>, now: Instant) {
        let t = self.unix(now);
        let Some(c) = self.calls.get_mut(&serial) else {
            return;
        };
        let Some(s) = c.starting.filter(|s| s.token == token) else {
            return;
        };
        c.starting = None;
        if let (Some(Action::Record { path: p }), Some(full)) = (c.action.as_mut(), &path) {
            p.clone_from(full);
        }
        let recording = matches!(c.action, Some(Action::Record { .. }));
        let bridge = matches!(c.action, Some(Action::Connect { .. }));
        if s.ticket.is_some() {
            c.action_begin = t;
        }
        if let Some(ticket) = s.ticket {
            let result = match path {
                // A recording (or a recorded bridge) is answered with its file's full path.
                Some(p) if recording || bridge => Value::String(p),
                _ => Value::Null,
            };
            self.answer_later(ticket, Ok(result));
        }
        if bridge {
            self.bridge_started(serial, now);
        }
        if s.stop && bridge {
            self.call_cmd(serial, MediaCommand::Unjoin { a: serial }, now);
        } else if s.stop {
            let cmd = if recording {
                MediaCommand::StopRecord { call: serial }
            } else {
                MediaCommand::StopPlay { call: serial }
            };
            self.call_cmd(serial, cmd, now);
        }
    }

    /// The media plane could not start it (a missing file, a path leading out of its
    /// root): the request gets the error and the call is as it was; a prompt replay
    /// ends the collection with it.
    fn on_refused(&mut self, serial: u64, token: u64, refusal: Refusal, now: Instant) {
        let Some(c) = self.calls.get_mut(&serial) else {
            return;
        };
        let Some(s) = c.starting.filter(|s| s.token == token) else {
            return;
        };
        c.starting = None;
        let error = refusal_error(&refusal);
        if matches!(c.action, Some(Action::Connect { .. })) {
            self.join_refused(serial, now);
        }
        let Some(c) = self.calls.get_mut(&serial) else {
            return;
        };
        match s.ticket {
            Some(ticket) => {
                c.action = None;
                c.collect_generation += 1;
                if c.state.is_action() {
                    c.state = State::Idle;
                }
                let released = c.released;
                self.answer_later(ticket, Err(error));
                if released {
                    self.finish_pending_release(serial, now);
                }
            }
            None => self.complete_action(serial, Some(&error.message), None, now),
        }
    }

    /// A media event about a call's action (or its media's end).
    pub(crate) fn on_action_event(&mut self, ev: MediaEvent, now: Instant) {
        let call = ev.call();
        match ev {
            MediaEvent::Started { call, token, path } => {
                return self.on_started(call, token, path, now);
            }
            MediaEvent::Refused {
                call,
                token,
                refusal,
            } => {
                let mine = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.starting)
                    .is_some_and(|s| s.token == token);
                if mine {
                    return self.on_refused(call, token, refusal, now);
                }
                // A parent's file before dialling could not play: dial anyway.
                tracing::warn!(call, "ring-back file refused: {refusal:?}");
                self.ring_play_done(call, now);
                return;
            }
            MediaEvent::PlayCompleted { call, .. }
                if self.calls.get(&call).is_some_and(|c| c.action.is_none()) =>
            {
                // The parent's file before dialling (ring_play_mode 3) ended.
                self.ring_play_done(call, now);
                return;
            }
            _ => {}
        }
        let starting = self.calls.get(&call).is_some_and(|c| c.starting.is_some());
        if self.calls.get(&call).is_some_and(|c| c.released) {
            // The call is gone: its running action ends with this event (or with the
            // media plane's closing), then on_released goes.
            let ends_action = matches!(
                (&ev, self.calls.get(&call).and_then(|c| c.action.as_ref())),
                (
                    MediaEvent::PlayCompleted { .. },
                    Some(Action::Play | Action::Receive { .. })
                ) | (
                    MediaEvent::RecordCompleted { .. },
                    Some(Action::Record { .. })
                ) | (MediaEvent::SendDtmfCompleted { .. }, Some(Action::SendDtmf))
                    | (MediaEvent::Closed { .. }, Some(_))
            ) && !(starting && matches!(ev, MediaEvent::Closed { .. }));
            // (An action not yet started ends with the media plane's answer to its
            // start, and then its completion.)
            if ends_action {
                let (error, key) = match &ev {
                    MediaEvent::PlayCompleted {
                        error, finish_key, ..
                    }
                    | MediaEvent::RecordCompleted {
                        error, finish_key, ..
                    } => (error.clone(), *finish_key),
                    MediaEvent::SendDtmfCompleted { error, .. } => (error.clone(), None),
                    _ => (None, None),
                };
                let error = error.unwrap_or_else(|| "call released".into());
                self.complete_action(call, Some(&error), key, now);
            }
            if self.calls.get(&call).is_some_and(|c| c.action.is_none()) {
                self.finish_pending_release(call, now);
            }
            self.drain_tx(now);
            return;
        }
        match ev {
            MediaEvent::PlayCompleted {
                call,
                error,
                finish_key,
            } => {
                let receiving = match self.calls.get_mut(&call).and_then(|c| c.action.as_mut()) {
                    Some(Action::Receive { collector, .. }) => Some(collector.on_prompt_done()),
                    Some(Action::Play) => None,
                    _ => return,
                };
                match receiving {
                    Some(step) => self.collect_step(call, step, now),
                    None => self.complete_action(call, error.as_deref(), finish_key, now),
                }
            }
            MediaEvent::RecordCompleted {
                call,
                error,
                finish_key,
                ..
            } => {
                if matches!(
                    self.calls.get(&call).and_then(|c| c.action.as_ref()),
                    Some(Action::Record { .. })
                ) {
                    self.complete_action(call, error.as_deref(), finish_key, now);
                }
            }
            MediaEvent::SendDtmfCompleted { call, error } => {
                if matches!(
                    self.calls.get(&call).and_then(|c| c.action.as_ref()),
                    Some(Action::SendDtmf)
                ) {
                    self.complete_action(call, error.as_deref(), None, now);
                }
            }
            MediaEvent::Digit { call, digit, .. } => {
                let steps = match self.calls.get_mut(&call).and_then(|c| c.action.as_mut()) {
                    Some(Action::Receive { collector, .. }) => collector.on_digit(digit),
                    _ => return,
                };
                for s in steps {
                    self.collect_step(call, s, now);
                }
            }
            MediaEvent::RtpTimeout { call } => {
                if self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.is_live() && c.state.is_answered())
                {
                    self.hang_up(
                        call,
                        408,
                        "sys",
                        Some("no RTP from the peer (media.rtp_timeout_seconds)"),
                        now,
                    );
                }
            }
            MediaEvent::Closed { call, stats } => {
                tracing::debug!("call {call} media closed: {stats:?}");
            }
            MediaEvent::Opened { .. }
            | MediaEvent::OpenFailed { .. }
            | MediaEvent::Started { .. }
            | MediaEvent::Refused { .. }
            | MediaEvent::Moved { .. }
            | MediaEvent::JoinEnded { .. }
            | MediaEvent::ConfLeft { .. } => {}
        }
    }

    /// A digit from SIP INFO: the media plane reports it like the others (it also ends
    /// a play or a recording on a finish key, and crosses a join to the other party).
    pub(crate) fn info_dtmf(&mut self, serial: u64, digit: char, now: Instant) {
        self.call_cmd(
            serial,
            MediaCommand::Digit {
                call: serial,
                digit,
            },
            now,
        );
    }

    /// Turn `content` into play steps; file names are confined to `media.root`.
    pub(crate) fn plan_content(
        &self,
        content: &PlayContent,
        param: &str,
    ) -> Result<Vec<PlayStep>, RpcError> {
        let steps =
            crate::speech::plan(&content.items).map_err(|e| RpcError::invalid_param(param, e))?;
        if steps.is_empty() {
            return Err(RpcError::invalid_param(param, "nothing to play"));
        }
        let root = &self.cfg.media.root;
        steps
            .into_iter()
            .map(|s| match s {
                PlayStep::File(name) => confine(root, &self.media_root, &name)
                    .map(|p| PlayStep::File(p.display().to_string())),
                PlayStep::Tts(_) if self.cfg.media.tts_command.is_none() => Err(RpcError::media(
                    "",
                    "TTS (type 10) needs media.tts_command: no speech synthesiser is configured",
                )),
                other => Ok(other),
            })
            .collect()
    }
}

/// `name` checked against a media root by its text alone and made relative to it:
/// relative names stay as they are, absolute ones must lie inside the root (as
/// configured, `root`, or as the driver resolved it, `abs_root`) and lose its prefix,
/// and `..` is refused (-32003). The media plane then opens the result beneath the root
/// without following a link out of it (`media::beneath`), which no text check can see.
pub fn confine(root: &Path, abs_root: &Path, name: &str) -> Result<PathBuf, RpcError> {
    let p = Path::new(name);
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(RpcError::not_allowed(&format!(
            "path {name:?} contains '..'"
        )));
    }
    if !p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    for r in [abs_root, root] {
        if let Ok(rel) = p.strip_prefix(r)
            && !rel.as_os_str().is_empty()
        {
            return Ok(rel.to_path_buf());
        }
    }
    Err(RpcError::not_allowed(&format!(
        "path {name:?} is outside the media root {}",
        abs_root.display()
    )))
}

/// The API error for a refused play or recording.
pub(crate) fn refusal_error(r: &Refusal) -> RpcError {
    match r {
        Refusal::File { path, reason } => RpcError::media(path, reason),
        Refusal::NotAllowed { reason } => RpcError::not_allowed(reason),
        Refusal::Unavailable { reason } => RpcError::media("", reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confinement() {
        let root = Path::new("/srv/media");
        let c = |n: &str| confine(root, root, n);
        assert_eq!(c("a/b.wav").unwrap(), PathBuf::from("a/b.wav"));
        assert_eq!(c("/srv/media/x.wav").unwrap(), PathBuf::from("x.wav"));
        assert_eq!(c("../etc/passwd").unwrap_err().code, -32003);
        assert_eq!(c("/etc/passwd").unwrap_err().code, -32003);
        assert_eq!(c("/srv/mediafoo/x.wav").unwrap_err().code, -32003);
        assert_eq!(c("/srv/media").unwrap_err().code, -32003);
        assert_eq!(c("a/../../x").unwrap_err().code, -32003);
        // A relative root as configured, and the absolute one the driver resolved.
        let rel = Path::new("./media");
        let abs = Path::new("/opt/gw/media");
        assert_eq!(
            confine(rel, abs, "/opt/gw/media/p/x.wav").unwrap(),
            PathBuf::from("p/x.wav")
        );
    }
}
