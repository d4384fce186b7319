//! The media plane's file service: the one thread that touches files for plays and
//! recordings, so that neither the engine nor a worker ever waits on a disk. A play's
//! audio is loaded (through the [`PromptCache`], beneath `media.root`) and handed to the
//! call's worker; a recording's file is created beneath `media.record_root` and handed
//! to the writer thread, and the recording to the worker. Each request is answered with
//! `Started` (emitted before the worker gets the command, so it always precedes the
//! action's completion) or `Refused`. A join with a ring-back or a recording comes here
//! too: the ring-back's audio is loaded and the recording's file created (stereo with
//! 16-bit PCM: one party per channel) before the worker joins the calls.
//!
//! Text to speech runs `media.tts_command` with `sh -c` on a thread of its own, with the
//! text in `MEDIAGW_TTS_TEXT` and the WAV file to write in `MEDIAGW_TTS_OUT` (a fresh
//! file created exclusively in the temporary directory, so no link planted there can be
//! followed); exit status 0 means the file is ready. The call plays nothing meanwhile,
//! and the play can be stopped as usual.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::audio::Audio;
use super::beneath::BeneathError;
use super::commands::{Command, JoinRecordStart, MediaError, Prepared, RecordStart, WorkerEvent};
use super::handler::MediaWorker;
use super::prompts::PromptCache;
use super::record::{self, RecMsg, RecQueue};
use crate::codec::wav::Encoding;
use crate::media_msg::{CallId, JoinSpec, MediaCommand, MediaEvent, PlaySpec, RecordSpec, Refusal};
use crate::speech::PlayStep;
use crate::worker::{CommandError, WorkerHandle};

/// The workers, shared with the sink and the TTS threads.
pub type Handles = Arc<Vec<WorkerHandle<MediaWorker>>>;

/// How long a TTS thread keeps trying to hand its audio to a full worker queue.
const TTS_HANDOVER: Duration = Duration::from_secs(2);

/// A request for the file service.
#[derive(Debug)]
pub enum FileJob {
    /// A `Play` or `Record` command for the call on `worker`.
    Media { worker: usize, cmd: MediaCommand },
    /// Finish and end the thread.
    Stop,
}

/// What the file service needs.
pub struct FileService {
    pub cache: PromptCache,
    pub tts: Option<String>,
    /// `media.record_root` as configured (files are created beneath it) and made absolute
    /// (the paths reported).
    pub record_root: PathBuf,
    pub record_root_abs: PathBuf,
    pub writer: RecQueue,
    pub workers: Handles,
    pub events: Sender<WorkerEvent>,
    pub next_rec: Arc<AtomicU64>,
}

impl FileService {
    /// Runs the service on its own thread until [`FileJob::Stop`].
    pub fn spawn(self, jobs: Receiver<FileJob>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("media-files".into())
            .spawn(move || {
                for job in jobs.iter() {
                    match job {
                        FileJob::Media { worker, cmd } => self.handle(worker, cmd),
                        FileJob::Stop => break,
                    }
                }
            })
    }

    fn emit(&self, ev: MediaEvent) {
        // The channel is bounded; the service may wait for room (never a worker or the engine).
        let _ = self.events.send(WorkerEvent::Public(ev));
    }

    fn handle(&self, worker: usize, cmd: MediaCommand) {
        match cmd {
            MediaCommand::Play { call, token, spec } => self.play(worker, call, token, spec, false),
            MediaCommand::JoinPlay { a, token, spec } => self.play(worker, a, token, spec, true),
            MediaCommand::Record { call, token, spec } => self.record(worker, call, token, spec),
            MediaCommand::Join { a, b, token, spec } => self.join(worker, a, b, token, spec),
            MediaCommand::ConfEnter {
                conf,
                call,
                token,
                announce: Some(spec),
                ..
            } => self.conf_audio(worker, conf, call, token, spec),
            MediaCommand::ConfPlay { conf, token, spec } => {
                self.conf_audio(worker, conf, conf, token, spec);
            }
            MediaCommand::ConfRecord { conf, token, spec } => {
                self.conf_record(worker, conf, token, spec);
            }
            other => tracing::error!("file service got a command it does not handle: {other:?}"),
        }
    }

    fn refuse(&self, call: CallId, token: u64, e: MediaError) {
        let refusal = refusal(e);
        self.emit(MediaEvent::Refused {
            call,
            token,
            refusal,
        });
    }

    /// Hands `cmd` to the worker; false when its queue is full or it stopped.
    fn to_worker(&self, worker: usize, cmd: Command) -> bool {
        self.workers
            .get(worker)
            .is_some_and(|h| h.send(cmd).is_ok())
    }

    fn play(&self, worker: usize, call: CallId, token: u64, spec: PlaySpec, to_join: bool) {
        let PlaySpec {
            steps,
            finish_keys,
            repeat,
        } = spec;
        // Every file is loaded before anything starts: a bad one refuses the play.
        let mut parts: Vec<Result<Arc<Audio>, String>> = Vec::with_capacity(steps.len());
        for step in steps {
            let part = match step {
                PlayStep::File(name) => self.cache.file(&name).map(Ok),
                PlayStep::Prompt(w) => self.cache.word(w).map(Ok),
                PlayStep::Tts(text) => Ok(Err(text)),
            };
            match part {
                Ok(p) => parts.push(p),
                Err(e) => return self.refuse(call, token, e),
            }
        }
        if parts.iter().all(Result::is_ok) {
            let audio = parts.into_iter().flatten().collect();
            self.emit(MediaEvent::Started {
                call,
                token,
                path: None,
            });
            let cmd = Command::Play {
                call,
                audio,
                finish_keys,
                repeat,
                to_join,
            };
            if !self.to_worker(worker, cmd) {
                self.overloaded_play(call);
            }
            return;
        }
        let Some(tts) = self.tts.clone() else {
            return self.refuse(call, token, MediaError::NoTts);
        };
        self.emit(MediaEvent::Started {
            call,
            token,
            path: None,
        });
        if !self.to_worker(
            worker,
            Command::PlayPending {
                call,
                token,
                finish_keys,
                to_join,
            },
        ) {
            return self.overloaded_play(call);
        }
        let workers = Arc::downgrade(&self.workers);
        let spawned = std::thread::Builder::new()
            .name("media-tts".into())
            .spawn(move || {
                let cmd = match synthesize(&tts, parts) {
                    Ok(audio) => Command::PlayReady {
                        call,
                        token,
                        audio,
                        repeat,
                    },
                    Err(reason) => Command::PlayFailed {
                        call,
                        token,
                        reason,
                    },
                };
                hand_over(&workers, worker, cmd);
            });
        if spawned.is_err() {
            hand_over(
                &Arc::downgrade(&self.workers),
                worker,
                Command::PlayFailed {
                    call,
                    token,
                    reason: "cannot start the speech synthesiser".into(),
                },
            );
        }
    }

    /// A started play whose worker could not take it ends at once, with an error.
    fn overloaded_play(&self, call: CallId) {
        // The application learns it from the completion's error (and /metrics from the
        // worker's backlog); the engine's call number is all this thread knows of it.
        tracing::debug!(call, "media worker queue full: a play ends before it began");
        self.emit(MediaEvent::PlayCompleted {
            call,
            error: Some("the media worker is overloaded".into()),
            finish_key: None,
        });
    }

    /// A join with a ring-back to load or a recording to create: both prepared (or the
    /// join refused), `Started` answered, then the worker joins the calls.
    fn join(&self, worker: usize, a: CallId, b: CallId, token: u64, spec: JoinSpec) {
        let mut ringback = None;
        if let Some(rb) = spec.ringback.as_ref() {
            let mut audio = Vec::with_capacity(rb.steps.len());
            for step in &rb.steps {
                let part = match step {
                    PlayStep::File(name) => self.cache.file(name),
                    PlayStep::Prompt(w) => self.cache.word(*w),
                    PlayStep::Tts(_) => Err(MediaError::File {
                        path: PathBuf::new(),
                        reason: "a ring-back cannot be synthesised speech".into(),
                    }),
                };
                match part {
                    Ok(p) => audio.push(p),
                    Err(e) => return self.refuse(a, token, e),
                }
            }
            ringback = Some(audio);
        }
        let mut record = None;
        let mut path = None;
        if let Some(r) = spec.record.as_ref() {
            if r.stereo && r.format != Encoding::Pcm16 {
                return self.refuse(
                    a,
                    token,
                    MediaError::File {
                        path: self.record_root_abs.join(&r.path),
                        reason: "a stereo recording needs 16-bit PCM".into(),
                    },
                );
            }
            let channels = if r.stereo { 2 } else { 1 };
            let file = match record::create_file_channels(
                &self.record_root,
                &r.path,
                r.format,
                channels,
            ) {
                Ok(f) => f,
                Err(e) => return self.refuse(a, token, self.creation_error(&r.path, e)),
            };
            let rec = self.next_rec.fetch_add(1, Ordering::Relaxed);
            let open = RecMsg::Open {
                rec,
                file,
                format: r.format,
                channels,
            };
            if self.writer.push(open).is_err() {
                return self.refuse(a, token, MediaError::Unavailable("recorder queue full"));
            }
            let full = self.record_root_abs.join(&r.path);
            path = Some(full.display().to_string());
            record = Some(JoinRecordStart {
                rec,
                path: full,
                format: r.format,
                stereo: r.stereo,
            });
        }
        self.emit(MediaEvent::Started {
            call: a,
            token,
            path,
        });
        let rec = record.as_ref().map(|r| (r.rec, r.path.clone()));
        let cmd = Command::Join {
            a,
            b,
            token,
            spec,
            ringback,
            record,
            announced: true,
        };
        if !self.to_worker(worker, cmd) {
            tracing::warn!(a, "media worker queue full: a join ends before it began");
            let event = MediaEvent::JoinEnded {
                a,
                error: Some("the media worker is overloaded".into()),
                record_path: rec.as_ref().map(|r| r.1.clone()),
            };
            match rec {
                Some((rec, _)) => {
                    let _ = self.writer.push(RecMsg::End { rec });
                    let _ = self.events.send(WorkerEvent::RecordEnded { rec, event });
                }
                None => self.emit(event),
            }
        }
    }

    /// A conference's play, or an entering member's announcement (`call`; `conf` itself
    /// for the play): its audio loaded (or synthesised, on a thread of its own) and
    /// handed to the worker, which answers the request.
    fn conf_audio(&self, worker: usize, conf: CallId, call: CallId, token: u64, spec: PlaySpec) {
        let answer = move |result| Command::ConfPrepared {
            conf,
            call,
            token,
            result,
        };
        let mut parts: Vec<Result<Arc<Audio>, String>> = Vec::with_capacity(spec.steps.len());
        for step in spec.steps {
            let part = match step {
                PlayStep::File(name) => self.cache.file(&name).map(Ok),
                PlayStep::Prompt(w) => self.cache.word(w).map(Ok),
                PlayStep::Tts(text) => Ok(Err(text)),
            };
            match part {
                Ok(p) => parts.push(p),
                Err(e) => return self.to_worker_patiently(worker, answer(Err(refusal(e)))),
            }
        }
        let repeat = spec.repeat;
        if parts.iter().all(Result::is_ok) {
            let audio = parts.into_iter().flatten().collect();
            return self.to_worker_patiently(worker, answer(Ok(Prepared::Audio { audio, repeat })));
        }
        let Some(tts) = self.tts.clone() else {
            return self.to_worker_patiently(worker, answer(Err(refusal(MediaError::NoTts))));
        };
        let workers = Arc::downgrade(&self.workers);
        let spawned = std::thread::Builder::new()
            .name("media-tts".into())
            .spawn(move || {
                let result = synthesize(&tts, parts)
                    .map(|audio| Prepared::Audio { audio, repeat })
                    .map_err(|reason| Refusal::File {
                        path: String::new(),
                        reason,
                    });
                hand_over(&workers, worker, answer(result));
            });
        if spawned.is_err() {
            let no = Refusal::Unavailable {
                reason: "cannot start the speech synthesiser".into(),
            };
            self.to_worker_patiently(worker, answer(Err(no)));
        }
    }

    /// A conference's recording: its file created beneath the record root and
    /// registered at the writer, then handed to the worker, which answers the request.
    fn conf_record(&self, worker: usize, conf: CallId, token: u64, spec: RecordSpec) {
        let answer = |result| Command::ConfPrepared {
            conf,
            call: conf,
            token,
            result,
        };
        let file = match record::create_file(&self.record_root, &spec.path, spec.format) {
            Ok(f) => f,
            Err(e) => {
                let no = refusal(self.creation_error(&spec.path, e));
                return self.to_worker_patiently(worker, answer(Err(no)));
            }
        };
        let rec = self.next_rec.fetch_add(1, Ordering::Relaxed);
        let open = RecMsg::Open {
            rec,
            file,
            format: spec.format,
            channels: 1,
        };
        if self.writer.push(open).is_err() {
            let no = refusal(MediaError::Unavailable("recorder queue full"));
            return self.to_worker_patiently(worker, answer(Err(no)));
        }
        let start = RecordStart {
            rec,
            path: self.record_root_abs.join(&spec.path),
            format: spec.format,
            max_seconds: spec.max_seconds,
            finish_keys: String::new(),
            beep: false,
        };
        self.to_worker_patiently(worker, answer(Ok(Prepared::Record(start))));
    }

    /// Hands `cmd` to the worker, waiting (bounded) for room in its queue: the worker
    /// is waiting for it to answer a request.
    fn to_worker_patiently(&self, worker: usize, cmd: Command) {
        hand_over(&Arc::downgrade(&self.workers), worker, cmd);
    }

    /// Why a recording's file could not be created, as the client is told.
    fn creation_error(&self, rel: &Path, e: BeneathError) -> MediaError {
        match e {
            BeneathError::Io(e) => MediaError::File {
                path: self.record_root_abs.join(rel),
                reason: e.to_string(),
            },
            refused => MediaError::NotAllowed {
                reason: format!("record file {rel:?}: {refused}"),
            },
        }
    }

    fn record(&self, worker: usize, call: CallId, token: u64, spec: RecordSpec) {
        let file = match record::create_file(&self.record_root, &spec.path, spec.format) {
            Ok(f) => f,
            Err(e) => return self.refuse(call, token, self.creation_error(&spec.path, e)),
        };
        let rec = self.next_rec.fetch_add(1, Ordering::Relaxed);
        let open = RecMsg::Open {
            rec,
            file,
            format: spec.format,
            channels: 1,
        };
        if self.writer.push(open).is_err() {
            return self.refuse(call, token, MediaError::Unavailable("recorder queue full"));
        }
        let full = self.record_root_abs.join(&spec.path);
        self.emit(MediaEvent::Started {
            call,
            token,
            path: Some(full.display().to_string()),
        });
        let start = RecordStart {
            rec,
            path: full.clone(),
            format: spec.format,
            max_seconds: spec.max_seconds,
            finish_keys: spec.finish_keys,
            beep: spec.beep,
        };
        if !self.to_worker(worker, Command::Record(call, start)) {
            tracing::debug!(
                call,
                "media worker queue full: a recording ends before it began"
            );
            let _ = self.writer.push(RecMsg::End { rec });
            let _ = self.events.send(WorkerEvent::RecordEnded {
                rec,
                event: MediaEvent::RecordCompleted {
                    call,
                    error: Some("the media worker is overloaded".into()),
                    finish_key: None,
                    path: full,
                },
            });
        }
    }
}

/// The refusal a client is told for `e`.
fn refusal(e: MediaError) -> Refusal {
    match e {
        MediaError::File { path, reason } => Refusal::File {
            path: path.display().to_string(),
            reason,
        },
        MediaError::NotAllowed { reason } => Refusal::NotAllowed { reason },
        MediaError::NoTts => Refusal::File {
            path: String::new(),
            reason: "no speech synthesiser is configured (media.tts_command)".into(),
        },
        other => Refusal::Unavailable {
            reason: other.to_string(),
        },
    }
}

/// Gives a TTS result to the worker, retrying a full queue for a while (a TTS thread may
/// wait; the call plays nothing meanwhile).
fn hand_over(workers: &Weak<Vec<WorkerHandle<MediaWorker>>>, worker: usize, cmd: Command) {
    let deadline = Instant::now() + TTS_HANDOVER;
    let mut cmd = cmd;
    loop {
        let Some(ws) = workers.upgrade() else { return };
        let Some(h) = ws.get(worker) else { return };
        match h.send(cmd) {
            Ok(()) => return,
            Err(CommandError::Full(c)) if Instant::now() < deadline => {
                cmd = c;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => {
                tracing::warn!(
                    worker,
                    "speech synthesis result dropped: worker queue full or stopped"
                );
                return;
            }
        }
    }
}

/// Runs the synthesiser for each text part; loaded parts pass through.
fn synthesize(
    cmd: &str,
    parts: Vec<Result<Arc<Audio>, String>>,
) -> Result<Vec<Arc<Audio>>, String> {
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Ok(a) => out.push(a),
            Err(text) => out.push(Arc::new(speak(cmd, &text)?)),
        }
    }
    Ok(out)
}

/// One text through the synthesiser, into a fresh exclusive temporary file.
fn speak(cmd: &str, text: &str) -> Result<Audio, String> {
    let file = tempfile::Builder::new()
        .prefix("mediagw-tts-")
        .suffix(".wav")
        .tempfile()
        .map_err(|e| format!("speech synthesiser output: {e}"))?;
    let path: &Path = file.path();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("MEDIAGW_TTS_TEXT", text)
        .env("MEDIAGW_TTS_OUT", path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("speech synthesiser: {e}"))?;
    if !status.success() {
        return Err(format!("speech synthesiser failed: {status}"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("speech synthesiser output: {e}"))?;
    Audio::from_wav(&bytes).map_err(|e| format!("speech synthesiser output: {e}"))
}

/// Queues `job` for the file service without waiting; hands it back when full.
pub fn try_queue(tx: &Sender<FileJob>, job: FileJob) -> Result<(), FileJob> {
    tx.try_send(job).map_err(|e| match e {
        TrySendError::Full(j) | TrySendError::Disconnected(j) => j,
    })
}
