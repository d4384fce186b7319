//! The CTI actions of a call (play, record, send and receive DTMF) as the engine
//! runs them: admission through the seed's state machine, file-name confinement,
//! handing the work to the media plane, and turning media events into each action's
//! single completion event. Also the media side of a call's life: opening its RTP
//! port on a worker, pointing it at the negotiated peer, closing it at release.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::call_params::{
    CallPlayStart, CallReceiveDtmfStart, CallRecordStart, CallSendDtmfStart,
};
use crate::api::content::{ContentItem, PlayContent};
use crate::api::errors::RpcError;
use crate::api::values::RecordFormat as ApiFormat;
use crate::call::collect::{CollectParams, Collector, Step};
use crate::call::state::{Op, State};
use crate::media::{
    G711, MediaError, MediaEvent, PlayRequest, RecordFormat, RecordRequest, RemoteMedia,
};
use crate::sdp::Codec;
use crate::speech::{PlayStep, SpeechItem};

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
}

/// How many ports to try when the kernel refuses the first one picked.
const PORT_TRIES: usize = 8;

impl Gateway {
    /// Reserve an RTP port and open it on a media worker (when there is a media plane).
    pub(crate) fn open_media(&mut self, serial: u64) -> Option<u16> {
        for _ in 0..PORT_TRIES {
            let port = self.ports.allocate()?;
            let Some(media) = &self.media else {
                return Some(port);
            };
            let ip = match self.local.ip() {
                ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                ip => ip,
            };
            match media.open_call(serial, SocketAddr::new(ip, port)) {
                Ok(()) => return Some(port),
                Err(e) => {
                    // Busy (another process, or a closing call): back of the queue.
                    tracing::warn!("RTP port {port} unusable: {e}");
                    self.ports.release(port);
                }
            }
        }
        None
    }

    /// Point the call's media at the negotiated peer.
    pub(crate) fn push_remote(&mut self, serial: u64) {
        let (Some(media), Some(call)) = (&self.media, self.calls.get(&serial)) else {
            return;
        };
        let Some(m) = call.media else { return };
        media.set_remote(
            serial,
            RemoteMedia {
                rtp: m.remote_rtp,
                rtcp: Some(m.remote_rtcp),
                codec: match m.codec {
                    Codec::Pcmu => G711::Ulaw,
                    Codec::Pcma => G711::Alaw,
                },
                pt: m.payload_type,
                dtmf_pt: m.dtmf_pt,
                ptime_ms: m.ptime_ms,
                rtcp_mux: m.rtcp_mux,
                send: m.direction.sends(),
                recv: m.direction.receives(),
            },
        );
    }

    fn admit_action(&mut self, conn: u64, res_id: &str, op: Op) -> Result<u64, RpcError> {
        let serial = self.lookup(conn, res_id)?;
        self.admit(serial, op)?;
        if self.media.is_none() {
            return Err(RpcError::media("", "no media plane in this gateway"));
        }
        Ok(serial)
    }

    fn start_action(&mut self, serial: u64, state: State, action: Action, now: Instant) {
        let t = self.unix(now);
        if let Some(c) = self.calls.get_mut(&serial) {
            c.state = state;
            c.action = Some(action);
            c.action_begin = t;
        }
    }

    pub(crate) fn play_start(
        &mut self,
        conn: u64,
        p: CallPlayStart,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let serial = self.admit_action(conn, &p.res_id, Op::PlayStart)?;
        let steps = self.plan_content(&p.content, "content")?;
        self.media_play(serial, steps, p.finish_keys, p.repeat)?;
        self.start_action(serial, State::Play, Action::Play, now);
        Ok(Value::Null)
    }

    fn media_play(
        &mut self,
        serial: u64,
        steps: Vec<PlayStep>,
        finish_keys: String,
        repeat: u32,
    ) -> Result<(), RpcError> {
        let media = self
            .media
            .as_ref()
            .ok_or_else(|| RpcError::media("", "no media plane"))?;
        media
            .play(
                serial,
                PlayRequest {
                    steps,
                    finish_keys,
                    repeat,
                },
            )
            .map_err(media_error)
    }

    pub(crate) fn play_stop(&mut self, conn: u64, res_id: &str) -> Result<Value, RpcError> {
        let serial = self.admit_action(conn, res_id, Op::PlayStop)?;
        if let Some(m) = &self.media {
            m.stop_play(serial);
        }
        Ok(Value::Null)
    }

    pub(crate) fn record_start(
        &mut self,
        conn: u64,
        p: CallRecordStart,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let serial = self.admit_action(conn, &p.res_id, Op::RecordStart)?;
        let format = match p.record_format {
            ApiFormat::Alaw => RecordFormat::Alaw,
            ApiFormat::Ulaw => RecordFormat::Ulaw,
            ApiFormat::PcmLinear8 => RecordFormat::Pcm8,
            ApiFormat::PcmLinear16 => RecordFormat::Pcm16,
            other => {
                return Err(RpcError::invalid_param(
                    "record_format",
                    format!(
                        "format {:#04x} ({other:?}) is not supported yet: use 3 (A-law), 7 (mu-law), 8 (PCM 8 bit) or 16 (PCM 16 bit)",
                        other.code()
                    ),
                ));
            }
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
        let path = confine(&root, &name)?;
        let media = self
            .media
            .as_ref()
            .ok_or_else(|| RpcError::media("", "no media plane"))?;
        let full = media
            .record(
                serial,
                RecordRequest {
                    path,
                    format,
                    max_seconds: p.max_seconds,
                    finish_keys: p.finish_keys,
                    beep: p.beep,
                },
            )
            .map_err(media_error)?;
        let full = absolute(&full).display().to_string();
        self.start_action(
            serial,
            State::Record,
            Action::Record { path: full.clone() },
            now,
        );
        Ok(Value::String(full))
    }

    pub(crate) fn record_stop(&mut self, conn: u64, res_id: &str) -> Result<Value, RpcError> {
        let serial = self.admit_action(conn, res_id, Op::RecordStop)?;
        if let Some(m) = &self.media {
            m.stop_record(serial);
        }
        Ok(Value::Null)
    }

    pub(crate) fn send_dtmf_start(
        &mut self,
        conn: u64,
        p: CallSendDtmfStart,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let serial = self.admit_action(conn, &p.res_id, Op::SendDtmfStart)?;
        if let Some(m) = &self.media {
            m.send_dtmf(serial, p.keys);
        }
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
            self.media_play(serial, steps.clone(), String::new(), 0)?;
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
            Step::StopPrompt => {
                if let Some(m) = &self.media {
                    m.stop_play(serial);
                }
            }
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
                if let Err(e) = self.media_play(serial, prompt, String::new(), 0) {
                    self.complete_action(serial, Some(&e.message), None, now);
                }
            }
            Step::Done { error, keys } => {
                let playing = matches!(
                    self.calls.get(&serial).and_then(|c| c.action.as_ref()),
                    Some(Action::Receive { collector, .. }) if collector.prompt_playing()
                );
                if playing && let Some(m) = &self.media {
                    m.stop_play(serial);
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
        };
        self.emit(serial, name, params);
    }

    /// An event from the media plane.
    pub fn handle_media(&mut self, ev: MediaEvent, now: Instant) {
        let call = match &ev {
            MediaEvent::PlayCompleted { call, .. }
            | MediaEvent::RecordCompleted { call, .. }
            | MediaEvent::SendDtmfCompleted { call, .. }
            | MediaEvent::Digit { call, .. }
            | MediaEvent::RtpTimeout { call }
            | MediaEvent::Closed { call, .. } => *call,
        };
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
            );
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
        }
        self.drain_tx(now);
    }

    /// A digit from SIP INFO: the media plane reports it like the others (it also
    /// ends a play or a recording on a finish key); without one, straight to the
    /// collector.
    pub(crate) fn info_dtmf(&mut self, serial: u64, digit: char, now: Instant) {
        match &self.media {
            Some(m) => m.info_digit(serial, digit),
            None => self.handle_media(
                MediaEvent::Digit {
                    call: serial,
                    digit,
                    source: crate::media::DigitSource::Info,
                },
                now,
            ),
        }
    }

    /// Turn `content` into play steps; file names are confined to `media.root`.
    fn plan_content(&self, content: &PlayContent, param: &str) -> Result<Vec<PlayStep>, RpcError> {
        let items: Vec<SpeechItem> = content.items.iter().map(speech_item).collect();
        let steps = crate::speech::plan(&items).map_err(|e| RpcError::invalid_param(param, e))?;
        if steps.is_empty() {
            return Err(RpcError::invalid_param(param, "nothing to play"));
        }
        let root = &self.cfg.media.root;
        steps
            .into_iter()
            .map(|s| match s {
                PlayStep::File(name) => {
                    confine(root, &name).map(|p| PlayStep::File(p.display().to_string()))
                }
                PlayStep::Tts(_) if self.cfg.media.tts_command.is_none() => Err(RpcError::media(
                    "",
                    "TTS (type 10) needs media.tts_command: no speech synthesiser is configured",
                )),
                other => Ok(other),
            })
            .collect()
    }
}

/// The speech planner's view of one decoded content item.
fn speech_item(item: &ContentItem) -> SpeechItem {
    match item {
        ContentItem::File(f) => SpeechItem::File(f.clone()),
        ContentItem::Digits(d) => SpeechItem::Digits(d.clone()),
        ContentItem::Number(n) => SpeechItem::Number(n.clone()),
        ContentItem::Amount(a) => SpeechItem::Amount(a.clone()),
        ContentItem::AmountYuan(a) => SpeechItem::AmountYuan(a.clone()),
        ContentItem::DateTime { date, time } => {
            let d = date.map(|d| match d.day {
                Some(day) => format!("{}-{}-{}", d.year, d.month, day),
                None => format!("{}-{}", d.year, d.month),
            });
            let t = time.map(|t| match t.second {
                Some(s) => format!("{}:{}:{}", t.hour, t.minute, s),
                None => format!("{}:{}", t.hour, t.minute),
            });
            SpeechItem::DateTime(match (d, t) {
                (Some(d), Some(t)) => format!("{d} {t}"),
                (Some(d), None) => d,
                (None, Some(t)) => t,
                (None, None) => String::new(),
            })
        }
        ContentItem::Duration {
            hours,
            minutes,
            seconds,
        } => SpeechItem::Duration(match seconds {
            Some(s) => format!("{hours}:{minutes}:{s}"),
            None => format!("{hours}:{minutes}"),
        }),
        ContentItem::Files(f) => SpeechItem::Files(f.join("|")),
        ContentItem::Tts(t) => SpeechItem::Tts(t.clone()),
    }
}

/// `name` resolved under `root`: relative names are joined to it, absolute ones must
/// lie inside it, and `..` never escapes (-32003).
pub fn confine(root: &Path, name: &str) -> Result<PathBuf, RpcError> {
    let p = Path::new(name);
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(RpcError::not_allowed(&format!(
            "path {name:?} contains '..'"
        )));
    }
    let root_abs = absolute(root);
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        root_abs.join(p)
    };
    if !full.starts_with(&root_abs) {
        return Err(RpcError::not_allowed(&format!(
            "path {name:?} is outside the media root {}",
            root_abs.display()
        )));
    }
    Ok(full)
}

/// `p` made absolute against the current directory, without touching the file system.
fn absolute(p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn media_error(e: MediaError) -> RpcError {
    match e {
        MediaError::File { path, reason } => RpcError::media(&path.display().to_string(), &reason),
        MediaError::NoTts => RpcError::media(
            "",
            "no speech synthesiser is configured (media.tts_command)",
        ),
        other => RpcError::media("", &other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confinement() {
        let root = Path::new("/srv/media");
        assert_eq!(
            confine(root, "a/b.wav").unwrap(),
            PathBuf::from("/srv/media/a/b.wav")
        );
        assert_eq!(
            confine(root, "/srv/media/x.wav").unwrap(),
            PathBuf::from("/srv/media/x.wav")
        );
        assert_eq!(confine(root, "../etc/passwd").unwrap_err().code, -32003);
        assert_eq!(confine(root, "/etc/passwd").unwrap_err().code, -32003);
        assert_eq!(
            confine(root, "/srv/mediafoo/x.wav").unwrap_err().code,
            -32003
        );
        assert_eq!(confine(root, "a/../../x").unwrap_err().code, -32003);
    }
}
