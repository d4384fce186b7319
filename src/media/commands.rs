//! The media plane's own vocabulary: the [`Command`]s queued to a worker (by the file
//! service or straight from the engine's commands), the [`WorkerEvent`]s it emits, and
//! the errors of opening files and ports. What the engine sends and receives is in
//! [`crate::media_msg`].

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::audio::Audio;
use crate::codec::wav::Encoding;
use crate::media_msg::{MemberMode, Refusal};

pub use crate::media_msg::{CallId, CallStats, DigitSource, MediaEvent, RemoteMedia};

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The call is not open.
    #[error("no media for call {0}")]
    NoSuchCall(CallId),
    /// The call is already open.
    #[error("call {0} already open")]
    AlreadyOpen(CallId),
    /// Binding the RTP or RTCP port failed (e.g. in use): try another port.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// A media file is missing, unreadable or of an unsupported format (-32005).
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A name, or a link on its way, leads out of its root; or a recording's place is
    /// taken by a link (-32003). Says nothing about what lies outside.
    #[error("not allowed: {reason}")]
    NotAllowed {
        /// Why, naming the file as the client gave it.
        reason: String,
    },
    /// Text to speech was asked for but no synthesiser is configured (-32005).
    #[error("no speech synthesiser configured")]
    NoTts,
    /// A worker or the recording writer is overloaded or stopped.
    #[error("media plane unavailable: {0}")]
    Unavailable(&'static str),
}

/// A recording as handed to a worker.
#[derive(Debug, Clone)]
pub struct RecordStart {
    /// Id of the file at the writer thread.
    pub rec: u64,
    /// The file (for the completion event).
    pub path: PathBuf,
    /// Target sample encoding.
    pub format: Encoding,
    /// 0: no limit.
    pub max_seconds: u32,
    /// Keys that end it.
    pub finish_keys: String,
    /// Beep first.
    pub beep: bool,
}

/// What the control plane asks a worker.
#[derive(Debug)]
pub enum Command {
    /// Bind `local` (RTP) and its port + 1 (RTCP) and create the call; the outcome is
    /// reported as `Opened` or `OpenFailed`.
    Open {
        /// The call.
        call: CallId,
        /// RTP bind address.
        local: SocketAddr,
    },
    /// Set (or change) the far end.
    SetRemote(CallId, RemoteMedia),
    /// Stop everything, emit completions, then `Closed`.
    Close(CallId),
    /// Start playing loaded audio (`to_join`: into the call's join, heard by both).
    Play {
        /// The call.
        call: CallId,
        /// Loaded segments, in order.
        audio: Vec<Arc<Audio>>,
        /// Finish keys.
        finish_keys: String,
        /// Extra rounds.
        repeat: u32,
        /// A `JoinPlay`.
        to_join: bool,
    },
    /// A play waiting for speech synthesis: the call is "playing" (silently) until
    /// [`Command::PlayReady`] or [`Command::PlayFailed`] with the same token.
    PlayPending {
        /// The call.
        call: CallId,
        /// Matches the later ready/failed command.
        token: u64,
        /// Finish keys.
        finish_keys: String,
        /// A `JoinPlay`.
        to_join: bool,
    },
    /// The audio of a pending play is ready.
    PlayReady {
        /// The call.
        call: CallId,
        /// The pending play.
        token: u64,
        /// Loaded segments.
        audio: Vec<Arc<Audio>>,
        /// Extra rounds.
        repeat: u32,
    },
    /// Preparing a pending play failed.
    PlayFailed {
        /// The call.
        call: CallId,
        /// The pending play.
        token: u64,
        /// Why.
        reason: String,
    },
    /// Stop the play (completion with no error).
    StopPlay(CallId),
    /// Start a recording (file already created and registered at the writer).
    Record(CallId, RecordStart),
    /// Stop the recording (completion with an error, as the seed says).
    StopRecord(CallId),
    /// Send DTMF digits.
    SendDtmf(CallId, String),
    /// A digit received by the signalling layer (SIP INFO): ends plays/records like any other.
    Digit(CallId, char),
    /// Hand the call's media (sockets and state) to worker `to`; that worker reports
    /// `Moved`.
    Move {
        /// The call.
        call: CallId,
        /// The worker to move to.
        to: usize,
    },
    /// A call handed over by another worker: adopt its sockets and run it here.
    Adopt(Box<super::handler::Moving>),
    /// Join two calls of this worker. `announced`: the file service already answered
    /// `Started` (it prepared a recording or a ring-back), so a failure here ends the
    /// join at once (`JoinEnded` with an error) instead of refusing it.
    Join {
        /// The first party.
        a: CallId,
        /// The second party.
        b: CallId,
        /// Of the request.
        token: u64,
        /// Directions and gains (its recording and ring-back as prepared below).
        spec: crate::media_msg::JoinSpec,
        /// The ring-back's loaded audio.
        ringback: Option<Vec<Arc<Audio>>>,
        /// The recording's file, registered at the writer.
        record: Option<JoinRecordStart>,
        /// `Started` already sent.
        announced: bool,
    },
    /// End `a`'s join.
    Unjoin(CallId),
    /// Open conference `0` (its mixer and grid) on this worker.
    ConfOpen(CallId),
    /// Close conference `0`: its members leave, its play and recording end, `Closed`.
    ConfClose(CallId),
    /// `call` (on this worker) enters `conf`. `announce`: its entry announcement is being
    /// loaded by the file service (`ConfPrepared` follows, and answers the request);
    /// meanwhile the call is a member that neither talks nor hears.
    ConfEnter {
        conf: CallId,
        call: CallId,
        token: u64,
        mode: MemberMode,
        volume_db: i32,
        announce: bool,
    },
    /// `call` leaves `conf`.
    ConfExit { conf: CallId, call: CallId },
    /// A member's new voice mode.
    ConfMode {
        conf: CallId,
        call: CallId,
        mode: MemberMode,
    },
    /// A play (`record` false) or recording of `conf` is being prepared by the file
    /// service; `ConfPrepared` with the same token follows, and answers the request. A
    /// stop meanwhile ends it as soon as it starts.
    ConfPending {
        conf: CallId,
        token: u64,
        record: bool,
    },
    /// Stop the conference's play.
    ConfStopPlay(CallId),
    /// Stop the conference's recording.
    ConfStopRecord(CallId),
    /// What the file service prepared for `conf` (`call`: the entering member an
    /// announcement is for, or `conf` itself for its play or recording), or why it could
    /// not.
    ConfPrepared {
        conf: CallId,
        call: CallId,
        token: u64,
        result: Result<Prepared, Refusal>,
    },
}

/// What the file service prepared for a conference.
#[derive(Debug)]
pub enum Prepared {
    /// Audio to play (an entry announcement, or the conference's play).
    Audio { audio: Vec<Arc<Audio>>, repeat: u32 },
    /// The conference's recording: its file created and registered at the writer.
    Record(RecordStart),
}

/// A join's recording as handed to a worker.
#[derive(Debug, Clone)]
pub struct JoinRecordStart {
    /// Id of the file at the writer thread.
    pub rec: u64,
    /// The file (for `JoinEnded`).
    pub path: PathBuf,
    /// Sample encoding.
    pub format: Encoding,
    /// `a` left, `b` right.
    pub stereo: bool,
}

impl Command {
    /// The call the command is about (a conference's own commands: the conference).
    pub fn call(&self) -> CallId {
        match self {
            Command::Open { call, .. }
            | Command::Play { call, .. }
            | Command::PlayPending { call, .. }
            | Command::PlayReady { call, .. }
            | Command::PlayFailed { call, .. } => *call,
            Command::SetRemote(call, _)
            | Command::Close(call)
            | Command::StopPlay(call)
            | Command::Record(call, _)
            | Command::StopRecord(call)
            | Command::SendDtmf(call, _)
            | Command::Digit(call, _)
            | Command::Unjoin(call)
            | Command::Move { call, .. } => *call,
            Command::Adopt(m) => m.channel.call(),
            Command::Join { a, .. } => *a,
            Command::ConfEnter { call, .. }
            | Command::ConfExit { call, .. }
            | Command::ConfMode { call, .. } => *call,
            // About the conference itself (its id is in the calls' id space).
            Command::ConfOpen(conf)
            | Command::ConfClose(conf)
            | Command::ConfStopPlay(conf)
            | Command::ConfStopRecord(conf)
            | Command::ConfPending { conf, .. }
            | Command::ConfPrepared { conf, .. } => *conf,
        }
    }
}

/// What a worker emits: public events, and record completions that the plane holds back
/// until the writer thread has finalized the file.
#[derive(Debug)]
pub enum WorkerEvent {
    /// Forward as is.
    Public(MediaEvent),
    /// Forward once recording `rec` is finalized (the writer may add a write error).
    RecordEnded {
        /// The recording's writer id.
        rec: u64,
        /// A `MediaEvent::RecordCompleted`, or a recorded join's `JoinEnded`.
        event: MediaEvent,
    },
}
