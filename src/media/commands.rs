//! The vocabulary between the control plane and the media workers: the public request,
//! event and error types of [`MediaPlane`](super::MediaPlane), and the internal
//! [`Command`]s queued to a worker and [`WorkerEvent`]s it emits.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::Sender;

use super::record::RecordFormat;
use super::wav::Audio;
use crate::speech::PlayStep;

/// The engine's id of a call.
pub type CallId = u64;

/// The G.711 law a call speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711 {
    /// PCMU (payload type 0).
    Ulaw,
    /// PCMA (payload type 8).
    Alaw,
}

impl G711 {
    /// The code of digital silence in this law.
    pub fn silence(self) -> u8 {
        match self {
            G711::Ulaw => crate::codec::ULAW_SILENCE,
            G711::Alaw => crate::codec::ALAW_SILENCE,
        }
    }

    /// Decodes one code.
    pub fn decode(self, code: u8) -> i16 {
        match self {
            G711::Ulaw => crate::codec::ulaw_to_linear(code),
            G711::Alaw => crate::codec::alaw_to_linear(code),
        }
    }

    /// Encodes one sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            G711::Ulaw => crate::codec::linear_to_ulaw(sample),
            G711::Alaw => crate::codec::linear_to_alaw(sample),
        }
    }

    /// Converts a code of the other law into this law (identity for the same law).
    pub fn from_law(self, from: G711, code: u8) -> u8 {
        match (from, self) {
            (G711::Ulaw, G711::Alaw) => crate::codec::ULAW_TO_ALAW[code as usize],
            (G711::Alaw, G711::Ulaw) => crate::codec::ALAW_TO_ULAW[code as usize],
            _ => code,
        }
    }
}

/// The far end's media, from SDP negotiation. Sent again on every re-INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Where to send RTP (and, until symmetric latching says otherwise, where RTP comes from).
    pub rtp: SocketAddr,
    /// Where to send RTCP; `None`: the RTP port + 1 (or the RTP address with `rtcp_mux`).
    pub rtcp: Option<SocketAddr>,
    /// The negotiated codec.
    pub codec: G711,
    /// Its payload type (0 or 8 normally).
    pub pt: u8,
    /// The telephone-event payload type, when the peer offered RFC 4733.
    pub dtmf_pt: Option<u8>,
    /// Packet time in ms (10..=60; other values are clamped).
    pub ptime_ms: u32,
    /// RTCP multiplexed on the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// We may send media (false on hold / `recvonly` from our side).
    pub send: bool,
    /// We expect media (false: incoming RTP is ignored and the RTP timeout is off).
    pub recv: bool,
}

/// A `play_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayRequest {
    /// What to play, in order (from `speech::plan`).
    pub steps: Vec<PlayStep>,
    /// DTMF digits that stop the play.
    pub finish_keys: String,
    /// Extra plays of the whole sequence (1: played twice).
    pub repeat: u32,
}

/// A `record_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRequest {
    /// The file to write (already confined to the record root by the engine).
    pub path: PathBuf,
    /// Sample format of the file.
    pub format: RecordFormat,
    /// Longest recording; reaching it ends the recording with an error. 0: no limit.
    pub max_seconds: u32,
    /// DTMF digits that end the recording (successfully).
    pub finish_keys: String,
    /// Play a short 1 kHz beep to the caller before recording starts.
    pub beep: bool,
}

/// Where a received digit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSource {
    /// RTP telephone-event.
    Rfc4733,
    /// In-band tone detection.
    Inband,
    /// SIP INFO (injected by the engine).
    Info,
}

/// Counters of one call, reported in [`MediaEvent::Closed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallStats {
    /// RTP packets accepted.
    pub packets_in: u64,
    /// Their bytes (whole datagrams).
    pub bytes_in: u64,
    /// RTP packets sent.
    pub packets_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Cumulative packets lost (RFC 3550).
    pub lost: i64,
    /// Interarrival jitter in ms (RFC 3550).
    pub jitter_ms: u32,
    /// Datagrams dropped: malformed, wrong source, unknown payload type.
    pub dropped: u64,
    /// Recorded frames lost because the writer queue was full.
    pub record_overruns: u64,
}

/// What the media layer reports to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A play ended (`error: None` when it played to the end, was stopped or a finish key ended it).
    PlayCompleted {
        /// The call.
        call: CallId,
        /// Why it failed.
        error: Option<String>,
        /// The finish key that ended it.
        finish_key: Option<char>,
    },
    /// A recording ended; the file is complete and its header valid when this arrives.
    RecordCompleted {
        /// The call.
        call: CallId,
        /// Why it ended badly (`record_stop`, `max_seconds`, release, write error).
        error: Option<String>,
        /// The finish key that ended it.
        finish_key: Option<char>,
        /// The file.
        path: PathBuf,
    },
    /// `send_dtmf` finished.
    SendDtmfCompleted {
        /// The call.
        call: CallId,
        /// Why it failed.
        error: Option<String>,
    },
    /// A DTMF digit was received (each key press once).
    Digit {
        /// The call.
        call: CallId,
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
        /// How it arrived.
        source: DigitSource,
    },
    /// No RTP for `rtp_timeout_seconds` (once per silent period).
    RtpTimeout {
        /// The call.
        call: CallId,
    },
    /// The call's media is gone (after every completion event of the call).
    Closed {
        /// The call.
        call: CallId,
        /// Its counters.
        stats: CallStats,
    },
}

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
    /// Target format.
    pub format: RecordFormat,
    /// 0: no limit.
    pub max_seconds: u32,
    /// Keys that end it.
    pub finish_keys: String,
    /// Beep first.
    pub beep: bool,
}

/// The reply to [`Command::Open`].
pub type OpenReply = Sender<Result<(), MediaError>>;

/// What the control plane asks a worker.
#[derive(Debug)]
pub enum Command {
    /// Bind `local` (RTP) and its port + 1 (RTCP) and create the call.
    Open {
        /// The call.
        call: CallId,
        /// RTP bind address.
        local: SocketAddr,
        /// Where the outcome goes.
        reply: OpenReply,
    },
    /// Set (or change) the far end.
    SetRemote(CallId, RemoteMedia),
    /// Stop everything, emit completions, then `Closed`.
    Close(CallId),
    /// Start playing loaded audio.
    Play {
        /// The call.
        call: CallId,
        /// Loaded segments, in order.
        audio: Vec<Arc<Audio>>,
        /// Finish keys.
        finish_keys: String,
        /// Extra rounds.
        repeat: u32,
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
        /// A `MediaEvent::RecordCompleted`.
        event: MediaEvent,
    },
}
