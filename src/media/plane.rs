//! [`MediaPlane`]: the control plane's facade over the media workers. It starts N
//! workers, the recording writer thread and an event pump; owns the prompt cache;
//! routes each call's commands to the worker that owns the call (chosen at
//! `open_call`: the least loaded). Requests that can fail (bad file, busy port) fail
//! synchronously, changing nothing; everything else is reported as a [`MediaEvent`].
//!
//! The event pump forwards worker events in order, holding a `RecordCompleted` (and
//! everything after it) until the writer has finalized that file.
//!
//! Text to speech: `tts_command` is run with `sh -c` on a helper thread, with the text in
//! the environment variable `MEDIAGW_TTS_TEXT` and the WAV file to write in
//! `MEDIAGW_TTS_OUT`; exit status 0 means the file is ready. The call plays silence
//! (nothing) meanwhile, and the play can be stopped as usual.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::InbandFactory;
use super::commands::{
    CallId, Command, MediaError, MediaEvent, PlayRequest, RecordRequest, RecordStart, RemoteMedia,
    WorkerEvent,
};
use super::handler::MediaWorker;
use super::prompts::PromptCache;
use super::record::{self, Finalized, RecMsg, Writer};
use super::wav::{self, Audio};
use crate::speech::{PlayStep, PromptSet};
use crate::worker::{CommandError, WorkerConfig, WorkerHandle, spawn_workers};

/// How long `open_call` waits for the worker to bind.
const OPEN_PATIENCE: Duration = Duration::from_secs(5);
/// How long a command waits for room in a full worker queue.
const SEND_PATIENCE: Duration = Duration::from_secs(1);
/// How long the pump waits for the writer to finalize a recording.
const FINALIZE_PATIENCE: Duration = Duration::from_secs(30);

/// Configuration of the media plane.
#[derive(Clone)]
pub struct MediaConfig {
    /// Number of workers (at least 1).
    pub workers: usize,
    /// `media.prompts`: a directory replacing the embedded prompt set.
    pub prompts: Option<PathBuf>,
    /// `media.root`: relative play file names are taken from here.
    pub media_root: PathBuf,
    /// `media.record_root`: relative record paths are put here.
    pub record_root: PathBuf,
    /// No RTP for this long raises `RtpTimeout` (0: off).
    pub rtp_timeout_seconds: u32,
    /// Speech synthesiser command (see the module docs); `None`: TTS plays fail.
    pub tts_command: Option<String>,
    /// The worker engine's settings.
    pub worker: WorkerConfig,
    /// In-band DTMF detection for calls without RFC 4733 (`None`: off).
    pub inband: Option<InbandFactory>,
    /// Capacity of the queue to the recording writer, in 20 ms chunks.
    pub record_queue: usize,
    /// In-band DTMF detection with the worker-wide SIMD detector banks (used when
    /// `inband` is `None`).
    pub inband_bank: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            prompts: None,
            media_root: PathBuf::from("./media"),
            record_root: PathBuf::from("./media/records"),
            rtp_timeout_seconds: 0,
            tts_command: None,
            worker: WorkerConfig::default(),
            inband: None,
            record_queue: 16384,
            inband_bank: false,
        }
    }
}

impl std::fmt::Debug for MediaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaConfig")
            .field("workers", &self.workers)
            .field("prompts", &self.prompts)
            .field("media_root", &self.media_root)
            .field("record_root", &self.record_root)
            .field("rtp_timeout_seconds", &self.rtp_timeout_seconds)
            .field("tts_command", &self.tts_command)
            .field("inband", &self.inband.is_some())
            .finish_non_exhaustive()
    }
}

type Handles = Vec<WorkerHandle<MediaWorker>>;

#[derive(Default)]
struct Routes {
    calls: HashMap<CallId, usize>,
    load: Vec<usize>,
}

/// Per-worker figures readable from any thread (for `/metrics`).
#[derive(Debug)]
pub struct WorkerFigures {
    /// The core each worker is pinned to.
    pub cores: Vec<Option<usize>>,
    /// The IO engine each worker runs on.
    pub backends: Vec<crate::worker::Backend>,
    /// Each worker's published latency quantiles.
    pub latency: Vec<Arc<super::latency::LatencySnapshot>>,
}

impl WorkerFigures {
    fn core_label(&self, worker: usize) -> String {
        self.cores
            .get(worker)
            .copied()
            .flatten()
            .map_or("none".to_string(), |c| c.to_string())
    }

    /// The figures in the Prometheus text format, one series per worker and core.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let rows: Vec<_> = self.latency.iter().map(|s| s.rows()).collect();
        let _ = writeln!(
            out,
            "# HELP mediagw_worker_backend The IO engine of each media worker (1 = in use)."
        );
        let _ = writeln!(out, "# TYPE mediagw_worker_backend gauge");
        for (i, b) in self.backends.iter().enumerate() {
            let name = b.name();
            let _ = writeln!(
                out,
                "mediagw_worker_backend{{worker=\"{i}\",core=\"{}\",backend=\"{name}\"}} 1",
                self.core_label(i)
            );
        }
        for name in super::latency::METRIC_NAMES {
            let _ = writeln!(out, "# TYPE mediagw_worker_{name} gauge");
            for (i, worker_rows) in rows.iter().enumerate() {
                let core = self.core_label(i);
                for (_, q, total, recent) in worker_rows.iter().filter(|r| r.0 == name) {
                    let _ = writeln!(
                        out,
                        "mediagw_worker_{name}{{worker=\"{i}\",core=\"{core}\",quantile=\"{q}\",window=\"total\"}} {total}"
                    );
                    let _ = writeln!(
                        out,
                        "mediagw_worker_{name}{{worker=\"{i}\",core=\"{core}\",quantile=\"{q}\",window=\"2s\"}} {recent}"
                    );
                }
            }
        }
        out
    }
}

/// The media plane. See the module documentation.
pub struct MediaPlane {
    latency: Arc<WorkerFigures>,
    workers: Arc<Handles>,
    routes: Mutex<Routes>,
    cache: PromptCache,
    writer: Option<Writer>,
    next_rec: AtomicU64,
    next_token: AtomicU64,
    events: Receiver<MediaEvent>,
    pump: Option<JoinHandle<()>>,
    tts: Option<String>,
    record_root: PathBuf,
}

impl MediaPlane {
    /// Starts the workers, the writer and the event pump.
    pub fn start(cfg: MediaConfig) -> std::io::Result<MediaPlane> {
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<Finalized>();
        let writer = Writer::start(cfg.record_queue, done_tx)?;
        let rec_q = writer.queue().clone();
        let timeout = (cfg.rtp_timeout_seconds > 0)
            .then(|| Duration::from_secs(cfg.rtp_timeout_seconds.into()));
        let inband = cfg.inband.clone();
        let bank = cfg.inband_bank;
        let latency: Vec<Arc<super::latency::LatencySnapshot>> =
            (0..cfg.workers.max(1)).map(|_| Arc::default()).collect();
        let snaps = latency.clone();
        let workers = spawn_workers(cfg.workers.max(1), &cfg.worker, move |info| {
            let mut w = MediaWorker::new(rec_q.clone(), timeout, inband.clone(), info.start);
            if let Some(s) = snaps.get(info.index) {
                w.enable_latency(s.clone());
            }
            if bank && inband.is_none() {
                w.enable_inband_pool();
            }
            w
        })
        .map_err(std::io::Error::other)?;
        let n = workers.handles.len();
        let (tx, events) = crossbeam_channel::unbounded();
        let wrx = workers.events;
        let pump = std::thread::Builder::new()
            .name("media-events".into())
            .spawn(move || pump(&wrx, &done_rx, &tx))?;
        let cores = workers.handles.iter().map(|h| h.core()).collect();
        let backends = workers.handles.iter().map(|h| h.backend()).collect();
        for (i, h) in workers.handles.iter().enumerate() {
            if let Some(reason) = h.fallback_reason() {
                tracing::warn!(
                    worker = i,
                    "media worker runs on the epoll fallback: {reason} (see tuning/README.md)"
                );
            }
        }
        Ok(MediaPlane {
            latency: Arc::new(WorkerFigures {
                cores,
                backends,
                latency,
            }),
            workers: Arc::new(workers.handles),
            routes: Mutex::new(Routes {
                calls: HashMap::new(),
                load: vec![0; n],
            }),
            cache: PromptCache::new(
                cfg.media_root.clone(),
                PromptSet::from_config(cfg.prompts.as_deref()),
            ),
            writer: Some(writer),
            next_rec: AtomicU64::new(1),
            next_token: AtomicU64::new(1),
            events,
            pump: Some(pump),
            tts: cfg.tts_command,
            record_root: cfg.record_root,
        })
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn route(&self, call: CallId) -> Result<usize, MediaError> {
        self.routes()
            .calls
            .get(&call)
            .copied()
            .ok_or(MediaError::NoSuchCall(call))
    }

    fn send(&self, idx: usize, cmd: Command) -> Result<(), MediaError> {
        send_to(&self.workers, idx, cmd)
    }

    /// Opens the call's media on the least loaded worker: binds `local` (RTP) and its
    /// port + 1 (RTCP). A busy port fails with [`MediaError::Bind`].
    pub fn open_call(&self, call: CallId, local: SocketAddr) -> Result<(), MediaError> {
        let idx = {
            let mut r = self.routes();
            if r.calls.contains_key(&call) {
                return Err(MediaError::AlreadyOpen(call));
            }
            let idx = (0..r.load.len()).min_by_key(|&i| r.load[i]).unwrap_or(0);
            r.calls.insert(call, idx);
            r.load[idx] += 1;
            idx
        };
        let (reply, rx) = crossbeam_channel::bounded(1);
        let res = self
            .send(idx, Command::Open { call, local, reply })
            .and_then(|()| {
                rx.recv_timeout(OPEN_PATIENCE)
                    .unwrap_or(Err(MediaError::Unavailable("worker did not answer")))
            });
        if res.is_err() {
            let mut r = self.routes();
            r.calls.remove(&call);
            r.load[idx] -= 1;
        }
        res
    }

    /// Sets (or, on re-INVITE, changes) the far end of the call's media.
    pub fn set_remote(&self, call: CallId, remote: RemoteMedia) {
        if let Ok(idx) = self.route(call) {
            let _ = self.send(idx, Command::SetRemote(call, remote));
        }
    }

    /// Ends the call's media: its active actions end with their completion events
    /// (error "call released"), recordings are finalized, then `Closed` is emitted.
    pub fn close_call(&self, call: CallId) {
        let idx = {
            let mut r = self.routes();
            let Some(idx) = r.calls.remove(&call) else {
                return;
            };
            r.load[idx] -= 1;
            idx
        };
        let _ = self.send(idx, Command::Close(call));
    }

    /// Starts playing. Every file is loaded (through the cache) before anything starts:
    /// a missing or bad file fails the request with [`MediaError::File`].
    pub fn play(&self, call: CallId, req: PlayRequest) -> Result<(), MediaError> {
        let idx = self.route(call)?;
        let mut parts: Vec<Result<Arc<Audio>, String>> = Vec::with_capacity(req.steps.len());
        for step in &req.steps {
            parts.push(match step {
                PlayStep::File(name) => Ok(self.cache.file(name)?),
                PlayStep::Prompt(w) => Ok(self.cache.word(*w)?),
                PlayStep::Tts(text) => Err(text.clone()),
            });
        }
        if parts.iter().all(|p| p.is_ok()) {
            let audio = parts.into_iter().flatten().collect();
            return self.send(
                idx,
                Command::Play {
                    call,
                    audio,
                    finish_keys: req.finish_keys,
                    repeat: req.repeat,
                },
            );
        }
        let Some(cmd) = self.tts.clone() else {
            return Err(MediaError::NoTts);
        };
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        self.send(
            idx,
            Command::PlayPending {
                call,
                token,
                finish_keys: req.finish_keys,
            },
        )?;
        let workers = Arc::downgrade(&self.workers);
        let repeat = req.repeat;
        let spawned = std::thread::Builder::new()
            .name("media-tts".into())
            .spawn(move || {
                let res = synthesize(&cmd, token, parts);
                let cmd = match res {
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
                if let Some(w) = Weak::upgrade(&workers) {
                    let _ = send_to(&w, idx, cmd);
                }
            });
        if spawned.is_err() {
            let _ = self.send(
                idx,
                Command::PlayFailed {
                    call,
                    token,
                    reason: "cannot start the speech synthesiser".into(),
                },
            );
        }
        Ok(())
    }

    /// Stops the play (its completion event has no error).
    pub fn stop_play(&self, call: CallId) {
        if let Ok(idx) = self.route(call) {
            let _ = self.send(idx, Command::StopPlay(call));
        }
    }

    /// Starts recording into `req.path` (relative paths are under the record root). The
    /// file and its parent directories exist when this returns; the full path is returned.
    pub fn record(&self, call: CallId, req: RecordRequest) -> Result<PathBuf, MediaError> {
        let idx = self.route(call)?;
        let path = if req.path.is_absolute() {
            req.path
        } else {
            self.record_root.join(req.path)
        };
        let file = record::create_file(&path, req.format).map_err(|e| MediaError::File {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let writer = self
            .writer
            .as_ref()
            .ok_or(MediaError::Unavailable("recorder stopped"))?;
        let rec = self.next_rec.fetch_add(1, Ordering::Relaxed);
        let open = RecMsg::Open {
            rec,
            file,
            format: req.format,
        };
        if writer.queue().push(open).is_err() {
            return Err(MediaError::Unavailable("recorder queue full"));
        }
        let start = RecordStart {
            rec,
            path: path.clone(),
            format: req.format,
            max_seconds: req.max_seconds,
            finish_keys: req.finish_keys,
            beep: req.beep,
        };
        if let Err(e) = self.send(idx, Command::Record(call, start)) {
            let _ = writer.queue().push(RecMsg::End { rec });
            return Err(e);
        }
        Ok(path)
    }

    /// Stops the recording (its completion event has an error, as the seed says; the
    /// file keeps everything recorded).
    pub fn stop_record(&self, call: CallId) {
        if let Ok(idx) = self.route(call) {
            let _ = self.send(idx, Command::StopRecord(call));
        }
    }

    /// Sends DTMF keys: RFC 4733 when the far end negotiated telephone-event, else
    /// in-band tones. Ends with `SendDtmfCompleted`.
    pub fn send_dtmf(&self, call: CallId, keys: String) {
        if let Ok(idx) = self.route(call) {
            let _ = self.send(idx, Command::SendDtmf(call, keys));
        }
    }

    /// A digit received by signalling (SIP INFO): reported and applied to finish keys.
    pub fn info_digit(&self, call: CallId, digit: char) {
        if let Ok(idx) = self.route(call) {
            let _ = self.send(idx, Command::Digit(call, digit));
        }
    }

    /// Per-worker latency figures (shared; safe to read from any thread).
    pub fn figures(&self) -> Arc<WorkerFigures> {
        self.latency.clone()
    }

    /// The events of every call.
    pub fn events(&self) -> &Receiver<MediaEvent> {
        &self.events
    }

    /// Number of open calls.
    pub fn calls(&self) -> usize {
        self.routes().calls.len()
    }

    /// Stops everything: every call's actions end (error "shutdown"), recordings are
    /// finalized, all threads are joined. Events still arrive on (clones of) the
    /// receiver until it reports disconnection.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        let workers = std::mem::replace(&mut self.workers, Arc::new(Vec::new()));
        for h in workers.iter() {
            h.shutdown();
        }
        // A TTS thread may hold the handles for a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut workers = workers;
        loop {
            match Arc::try_unwrap(workers) {
                Ok(handles) => {
                    for h in handles {
                        let _ = h.join();
                    }
                    break;
                }
                Err(w) if Instant::now() < deadline => {
                    workers = w;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(w) => {
                    while w.iter().any(|h| !h.is_finished())
                        && Instant::now() < deadline + Duration::from_secs(5)
                    {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    break;
                }
            }
        }
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
        if let Some(w) = self.writer.take() {
            w.stop();
        }
    }
}

impl Drop for MediaPlane {
    fn drop(&mut self) {
        if self.pump.is_some() {
            self.stop_all();
        }
    }
}

fn send_to(workers: &Handles, idx: usize, cmd: Command) -> Result<(), MediaError> {
    let h = workers
        .get(idx)
        .ok_or(MediaError::Unavailable("worker stopped"))?;
    let deadline = Instant::now() + SEND_PATIENCE;
    let mut cmd = cmd;
    loop {
        match h.send(cmd) {
            Ok(()) => return Ok(()),
            Err(CommandError::Full(c)) if Instant::now() < deadline => {
                cmd = c;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(CommandError::Full(_)) => return Err(MediaError::Unavailable("worker queue full")),
            Err(CommandError::Stopped(_)) => return Err(MediaError::Unavailable("worker stopped")),
        }
    }
}

/// Runs the synthesiser for each text part; loaded parts pass through.
fn synthesize(
    cmd: &str,
    token: u64,
    parts: Vec<Result<Arc<Audio>, String>>,
) -> Result<Vec<Arc<Audio>>, String> {
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.into_iter().enumerate() {
        match part {
            Ok(a) => out.push(a),
            Err(text) => {
                let file = std::env::temp_dir().join(format!(
                    "mediagw-tts-{}-{token}-{i}.wav",
                    std::process::id()
                ));
                let status = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .env("MEDIAGW_TTS_TEXT", &text)
                    .env("MEDIAGW_TTS_OUT", &file)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map_err(|e| format!("speech synthesiser: {e}"))?;
                let bytes = std::fs::read(&file);
                let _ = std::fs::remove_file(&file);
                if !status.success() {
                    return Err(format!("speech synthesiser failed: {status}"));
                }
                let bytes = bytes.map_err(|e| format!("speech synthesiser output: {e}"))?;
                out.push(Arc::new(
                    wav::decode(&bytes).map_err(|e| format!("speech synthesiser output: {e}"))?,
                ));
            }
        }
    }
    Ok(out)
}

/// Forwards worker events in order, holding record completions until finalized.
fn pump(rx: &Receiver<WorkerEvent>, done: &Receiver<Finalized>, tx: &Sender<MediaEvent>) {
    let mut seen = HashMap::new();
    for ev in rx.iter() {
        let ev = match ev {
            WorkerEvent::Public(e) => e,
            WorkerEvent::RecordEnded { rec, mut event } => {
                let err = record::wait_finalized(rec, done, &mut seen, FINALIZE_PATIENCE);
                if let (Some(e), MediaEvent::RecordCompleted { error, .. }) = (err, &mut event)
                    && error.is_none()
                {
                    *error = Some(e);
                }
                event
            }
        };
        let _ = tx.send(ev);
    }
}
