//! [`MediaPlane`]: starts and stops the media side of the gateway: N workers (one per
//! core), the recording writer thread, the file service and the event pump. The engine
//! talks to it only through a [`PlaneSink`] (commands, never blocking) and the event
//! channel ([`MediaPlane::events`]); see [`crate::media_msg`] for the vocabulary.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::InbandFactory;
use super::commands::MediaEvent;
use super::figures::WorkerFigures;
use super::files::{FileJob, FileService};
use super::handler::MediaWorker;
use super::prompts::PromptCache;
use super::record::{Finalized, Writer};
use super::sink::PlaneSink;
use crate::speech::PromptSet;
use crate::worker::{WorkerConfig, spawn_workers};

/// Requests the file service can have waiting.
const FILE_QUEUE: usize = 4096;

/// Configuration of the media plane.
#[derive(Clone)]
pub struct PlaneConfig {
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
    /// The conference mixing kernel (`None`: the fastest this CPU has; tests compare
    /// the kernels through the plane).
    pub mixer_kernel: Option<crate::mixer::Kernel>,
    /// `media.inband_with_telephone_event`: in-band detection also on calls that
    /// negotiated telephone-event, while not joined (a press seen both ways reported
    /// once).
    pub inband_with_telephone_event: bool,
}

impl Default for PlaneConfig {
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
            mixer_kernel: None,
            inband_with_telephone_event: false,
        }
    }
}

impl std::fmt::Debug for PlaneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaneConfig")
            .field("workers", &self.workers)
            .field("prompts", &self.prompts)
            .field("media_root", &self.media_root)
            .field("record_root", &self.record_root)
            .field("rtp_timeout_seconds", &self.rtp_timeout_seconds)
            .field("tts_command", &self.tts_command)
            .field("inband", &self.inband.is_some())
            .field("mixer_kernel", &self.mixer_kernel)
            .field("inband_bank", &self.inband_bank)
            .field(
                "inband_with_telephone_event",
                &self.inband_with_telephone_event,
            )
            .finish_non_exhaustive()
    }
}

/// The media plane. See the module documentation.
pub struct MediaPlane {
    figures: Arc<WorkerFigures>,
    sink: PlaneSink,
    writer: Option<Writer>,
    files: Option<JoinHandle<()>>,
    file_jobs: Sender<FileJob>,
    events: Receiver<MediaEvent>,
    pump: Option<JoinHandle<()>>,
}

impl MediaPlane {
    /// Starts the workers, the writer, the file service and the event pump.
    pub fn start(cfg: PlaneConfig) -> std::io::Result<MediaPlane> {
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<Finalized>();
        let writer = Writer::start(cfg.record_queue, done_tx)?;
        let rec_q = writer.queue().clone();
        let timeout = (cfg.rtp_timeout_seconds > 0)
            .then(|| Duration::from_secs(cfg.rtp_timeout_seconds.into()));
        let inband = cfg.inband.clone();
        let bank = cfg.inband_bank;
        let kernel = cfg.mixer_kernel;
        let inband_with_te = cfg.inband_with_telephone_event;
        let latency: Vec<Arc<super::latency::LatencySnapshot>> =
            (0..cfg.workers.max(1)).map(|_| Arc::default()).collect();
        let snaps = latency.clone();
        let rec_w = rec_q.clone();
        let peers: super::handler::Peers = Arc::default();
        let peers_w = peers.clone();
        let workers = spawn_workers(cfg.workers.max(1), &cfg.worker, move |info| {
            let mut w = MediaWorker::new(
                rec_w.clone(),
                timeout,
                inband.clone(),
                info.start,
                info.index,
                peers_w.clone(),
            );
            if let Some(s) = snaps.get(info.index) {
                w.enable_latency(s.clone());
            }
            if bank && inband.is_none() {
                w.enable_inband_pool();
            }
            w.set_mixer_kernel(kernel);
            w.inband_with_telephone_event(inband_with_te);
            w
        })
        .map_err(std::io::Error::other)?;
        let _ = peers.set(workers.handles.iter().map(|h| h.sender()).collect());
        if !super::beneath::supported() {
            tracing::warn!(
                "this kernel has no openat2 (Linux 5.6+): every play of a file and every recording will be refused (-32003) rather than resolved without confinement to media.root / media.record_root"
            );
        }
        for (i, h) in workers.handles.iter().enumerate() {
            if let Some(reason) = h.fallback_reason() {
                tracing::warn!(
                    worker = i,
                    "media worker runs on the epoll fallback: {reason} (see tuning/README.md)"
                );
            }
        }
        let figures = Arc::new(WorkerFigures {
            cores: workers.handles.iter().map(|h| h.core()).collect(),
            backends: workers.handles.iter().map(|h| h.backend()).collect(),
            latency,
        });
        let prompt_set = PromptSet::from_config(cfg.prompts.as_deref());
        let missing = super::prompts::missing_prompt_files(&prompt_set);
        if !missing.is_empty() {
            tracing::warn!(
                "media.prompts lacks {} prompt files (numbers and dates read with them fail with -32005), first: {}",
                missing.len(),
                missing[0].display()
            );
        }
        let handles = Arc::new(workers.handles);
        let (file_jobs, jobs) = crossbeam_channel::bounded(FILE_QUEUE);
        let files = FileService {
            cache: PromptCache::new(cfg.media_root.clone(), prompt_set),
            tts: cfg.tts_command.clone(),
            record_root_abs: absolute(&cfg.record_root),
            record_root: cfg.record_root.clone(),
            writer: rec_q,
            workers: handles.clone(),
            events: workers.event_tx,
            next_rec: Arc::new(AtomicU64::new(1)),
        }
        .spawn(jobs)?;
        let (tx, events) = crossbeam_channel::unbounded();
        let wrx = workers.events;
        let pump = std::thread::Builder::new()
            .name("media-events".into())
            .spawn(move || super::pump::pump(&wrx, &done_rx, &tx))?;
        Ok(MediaPlane {
            figures,
            sink: PlaneSink {
                workers: handles,
                files: file_jobs.clone(),
            },
            writer: Some(writer),
            files: Some(files),
            file_jobs,
            events,
            pump: Some(pump),
        })
    }

    /// Where the engine sends its commands.
    pub fn sink(&self) -> PlaneSink {
        self.sink.clone()
    }

    /// Per-worker latency figures (shared; safe to read from any thread).
    pub fn figures(&self) -> Arc<WorkerFigures> {
        self.figures.clone()
    }

    /// The events of every call, in order per call.
    pub fn events(&self) -> &Receiver<MediaEvent> {
        &self.events
    }

    /// Stops everything: the file service finishes what it holds, every call's actions
    /// end (error "shutdown"), recordings are finalized, all threads are joined. Events
    /// still arrive on (clones of) the receiver until it reports disconnection.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        if let Some(f) = self.files.take() {
            let _ = self.file_jobs.send(FileJob::Stop);
            let _ = f.join();
        }
        let workers = std::mem::replace(&mut self.sink.workers, Arc::new(Vec::new()));
        for h in workers.iter() {
            h.shutdown();
        }
        // A TTS thread or an engine's sink may hold the handles for a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while workers.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Ok(handles) = Arc::try_unwrap(workers) {
            for h in handles {
                let _ = h.join();
            }
        }
        if let Some(p) = self.pump.take() {
            // The pump ends once every worker (and the file service) dropped its sender.
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

/// `p` made absolute against the current directory, without following links.
pub fn absolute(p: &Path) -> PathBuf {
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
