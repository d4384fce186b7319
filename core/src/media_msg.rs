//! The messages between the control plane (the sans-IO engine) and the media plane (the
//! workers and their file service): the [`MediaCommand`]s the engine hands to a
//! [`MediaSink`], and the [`MediaEvent`]s that come back as inputs. Nothing here waits:
//! a sink takes a command or hands it back at once, and every outcome the engine needs
//! (a port bound, a file opened, a recording created, an action ended) arrives later as
//! an event naming the call and, for requests, the token the engine gave.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::codec::Codec;
use crate::codec::wav::Encoding;
use crate::speech::PlayStep;

/// The engine's id of a call.
pub type CallId = u64;

/// The far end's media, from SDP negotiation. Sent again on every re-INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Where to send RTP (and, until symmetric latching says otherwise, where RTP comes from).
    pub rtp: SocketAddr,
    /// Where to send RTCP; `None`: the RTP port + 1 (or the RTP address with `rtcp_mux`).
    pub rtcp: Option<SocketAddr>,
    /// The negotiated codec.
    pub codec: Codec,
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

/// A `play_start` (or a `receive_dtmf_start` prompt) as the media plane carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaySpec {
    /// What to play, in order (from `speech::plan`); file names are relative to
    /// `media.root`, already checked by their text.
    pub steps: Vec<PlayStep>,
    /// DTMF digits that stop the play.
    pub finish_keys: String,
    /// Extra plays of the whole sequence (1: played twice).
    pub repeat: u32,
}

/// A `record_start` as the media plane carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSpec {
    /// The file to create, relative to `media.record_root` (already checked by its text).
    pub path: PathBuf,
    /// Sample encoding of the file.
    pub format: Encoding,
    /// Longest recording; reaching it ends the recording with an error. 0: no limit.
    pub max_seconds: u32,
    /// DTMF digits that end the recording (successfully).
    pub finish_keys: String,
    /// Play a short 1 kHz beep to the caller before recording starts.
    pub beep: bool,
}

/// Two calls' media joined on one worker: a bridge (`connect_start`), or a parent
/// hearing the call it dials (ring-back and early media).
///
/// While joined, a leg's digits (RFC 4733, in-band, SIP INFO) are relayed to the other
/// leg in the form that leg negotiated, each press once, and are not reported; a leg
/// the other does not hear (`connect_mode`) has its digits reported as usual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinSpec {
    /// `a` hears `b` (connect_mode 1 and 3; a parent hears the call it dials).
    pub a_hears_b: bool,
    /// `b` hears `a` (connect_mode 1 and 2).
    pub b_hears_a: bool,
    /// Gain in dB (-20..=20, 0: unity) on what `a` says, as `b` hears it
    /// (`local_volume`), and on what `b` says, as `a` hears it (`remote_volume`).
    pub a_gain_db: i32,
    pub b_gain_db: i32,
    /// Record the conversation (both parties mixed; stereo, `a` left and `b` right, with
    /// 16-bit PCM when `stereo`).
    pub record: Option<JoinRecord>,
    /// A ring-back for `a` while `b` sends no audio: played in a loop to `a`; with
    /// `until_media`, `b`'s first RTP packet ends it and `a` hears `b` from then on.
    pub ringback: Option<Ringback>,
}

/// A bridge's recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRecord {
    /// Relative to `media.record_root` (already checked by its text).
    pub path: PathBuf,
    pub format: Encoding,
    /// One party per channel (only with 16-bit PCM: another format is refused).
    pub stereo: bool,
}

/// Ring-back audio for a parent while the call it dials has no media of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ringback {
    /// What to play (file names relative to `media.root`, or prompt words; synthesised
    /// speech is refused), looped.
    pub steps: Vec<PlayStep>,
    /// Stop at the dialled call's first RTP packet (its early media).
    pub until_media: bool,
}

/// A conference member's voice mode (`conf_enter`'s `voice_mode`, API.md): what it
/// says reaches the mix, what it hears is the mix of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberMode {
    pub talks: bool,
    pub listens: bool,
}

/// What the engine asks of the media plane. `token` ties a request to the event that
/// answers it. A conference has an id from the calls' id space (the engine's serials),
/// so events about it name it where they name a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// Bind `local` (RTP) and its port + 1 (RTCP) for the call: answered by
    /// [`MediaEvent::Opened`] or [`MediaEvent::OpenFailed`].
    Open {
        call: CallId,
        local: SocketAddr,
    },
    /// Set (or change) the far end.
    SetRemote {
        call: CallId,
        remote: RemoteMedia,
    },
    /// End the call's media: its running action ends with its completion event, then
    /// [`MediaEvent::Closed`].
    Close {
        call: CallId,
    },
    /// Load the audio and start playing: [`MediaEvent::Started`] or
    /// [`MediaEvent::Refused`], then (once started) [`MediaEvent::PlayCompleted`].
    Play {
        call: CallId,
        token: u64,
        spec: PlaySpec,
    },
    /// Stop the play (its completion has no error).
    StopPlay {
        call: CallId,
    },
    /// Create the file and start recording: [`MediaEvent::Started`] (with the file's
    /// full path) or [`MediaEvent::Refused`], then [`MediaEvent::RecordCompleted`].
    Record {
        call: CallId,
        token: u64,
        spec: RecordSpec,
    },
    /// Stop the recording (its completion has an error, as the seed says).
    StopRecord {
        call: CallId,
    },
    /// Send DTMF keys: RFC 4733 where the peer negotiated telephone-event, tones
    /// otherwise. Ends with [`MediaEvent::SendDtmfCompleted`].
    SendDtmf {
        call: CallId,
        keys: String,
    },
    /// A digit received by signalling (SIP INFO): reported and applied to finish keys
    /// like any other (relayed to the other party while joined).
    Digit {
        call: CallId,
        digit: char,
    },
    /// Move the call's media (its sockets and state; the port stays) to worker `to`,
    /// so that it can be joined with a call there: [`MediaEvent::Moved`]. Commands for
    /// the call must wait for that event. A move to the call's own worker is answered
    /// at once; a destination that is stopping leaves the call where it was (`Moved`
    /// names that worker); a joined call leaves its join first ([`MediaEvent::JoinEnded`]
    /// with an error). A call the worker does not have is ignored.
    Move {
        call: CallId,
        to: usize,
    },
    /// Join `a` and `b` (both on the worker the command is for): through the file
    /// service when it has a recording or a ring-back to prepare; answered with
    /// [`MediaEvent::Started`] (call `a`, the recording's full path) or
    /// [`MediaEvent::Refused`]; later [`MediaEvent::JoinEnded`]. Refused
    /// (`Unavailable`) when `a` is `b`, or either call is not on that worker, is joined
    /// already or is moving; once the file service has answered `Started`, such a
    /// failure on the worker is a `JoinEnded` with the error instead (the recording's
    /// file left valid and empty). Each call's own play, recording and DTMF sending end
    /// (with an error) when it is joined.
    Join {
        a: CallId,
        b: CallId,
        token: u64,
        spec: JoinSpec,
    },
    /// End `a`'s join: each call keeps its media, the recording is finalized, then
    /// [`MediaEvent::JoinEnded`].
    Unjoin {
        a: CallId,
    },
    /// Play into `a`'s join, heard by both parties over their conversation
    /// (`schedule_play_file`): [`MediaEvent::Started`]/[`MediaEvent::Refused`], then
    /// [`MediaEvent::PlayCompleted`] for `a` (before `JoinEnded` if the join ends
    /// first; with an error at once if `a` is not joined). Its finish keys are the
    /// digits relayed across the join.
    JoinPlay {
        a: CallId,
        token: u64,
        spec: PlaySpec,
    },
    /// Open conference `conf` (its mixer) on the worker the command is for.
    ConfOpen {
        conf: CallId,
    },
    /// Close it: its members leave (each [`MediaEvent::ConfLeft`]), its play and
    /// recording end with their completions, then [`MediaEvent::Closed`] for `conf`.
    ConfClose {
        conf: CallId,
    },
    /// `call` (on the conference's worker) enters with `mode` and a gain in dB on what
    /// it says (-20..=20); `announce` is played to the conference as it enters (through
    /// the file service then). Answered with [`MediaEvent::Started`] (call `call`) or
    /// [`MediaEvent::Refused`]; later [`MediaEvent::ConfLeft`].
    ConfEnter {
        conf: CallId,
        call: CallId,
        token: u64,
        mode: MemberMode,
        volume_db: i32,
        announce: Option<PlaySpec>,
    },
    /// `call` leaves the conference: [`MediaEvent::ConfLeft`].
    ConfExit {
        conf: CallId,
        call: CallId,
    },
    /// A member's new voice mode.
    ConfMode {
        conf: CallId,
        call: CallId,
        mode: MemberMode,
    },
    /// Play to every member: [`MediaEvent::Started`]/[`MediaEvent::Refused`] for call
    /// `conf`, then [`MediaEvent::PlayCompleted`] for `conf`.
    ConfPlay {
        conf: CallId,
        token: u64,
        spec: PlaySpec,
    },
    ConfStopPlay {
        conf: CallId,
    },
    /// Record the conference's mix: `Started` (with the full path) or `Refused` for
    /// `conf`, then [`MediaEvent::RecordCompleted`] for `conf`.
    ConfRecord {
        conf: CallId,
        token: u64,
        spec: RecordSpec,
    },
    ConfStopRecord {
        conf: CallId,
    },
}

impl MediaCommand {
    /// The call the command is about.
    pub fn call(&self) -> CallId {
        match self {
            MediaCommand::Open { call, .. }
            | MediaCommand::SetRemote { call, .. }
            | MediaCommand::Close { call }
            | MediaCommand::Play { call, .. }
            | MediaCommand::StopPlay { call }
            | MediaCommand::Record { call, .. }
            | MediaCommand::StopRecord { call }
            | MediaCommand::SendDtmf { call, .. }
            | MediaCommand::Digit { call, .. }
            | MediaCommand::Move { call, .. } => *call,
            MediaCommand::Join { a, .. }
            | MediaCommand::Unjoin { a }
            | MediaCommand::JoinPlay { a, .. } => *a,
            MediaCommand::ConfEnter { call, .. }
            | MediaCommand::ConfExit { call, .. }
            | MediaCommand::ConfMode { call, .. } => *call,
            MediaCommand::ConfOpen { conf }
            | MediaCommand::ConfClose { conf }
            | MediaCommand::ConfPlay { conf, .. }
            | MediaCommand::ConfStopPlay { conf }
            | MediaCommand::ConfRecord { conf, .. }
            | MediaCommand::ConfStopRecord { conf } => *conf,
        }
    }
}

/// Where the engine's media commands go: the driver's lock-free queues to the workers
/// and the file service (or a test's script). `try_send` never blocks: a full queue
/// hands the command back, and the engine answers the request with an error (or keeps
/// the command to try again, for one it must deliver).
pub trait MediaSink: Send {
    /// Queue `cmd` for worker `worker` (loading and file creation go through the file
    /// service first, which then hands the command to that worker).
    fn try_send(&mut self, worker: usize, cmd: MediaCommand) -> Result<(), MediaCommand>;
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
    /// From the far end's RTCP reception reports about our stream (the last one):
    /// packets it lost (cumulative), its interarrival jitter in ms, and the round trip
    /// (LSR/DLSR) in ms. `None` until such a report arrived.
    pub remote_lost: Option<i64>,
    pub remote_jitter_ms: Option<u32>,
    pub rtt_ms: Option<u32>,
}

/// Why the media plane refused a play or a recording; it maps to the API's errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A file is missing, unreadable or of an unsupported format (-32005).
    File { path: String, reason: String },
    /// A path leads out of its media root (-32003).
    NotAllowed { reason: String },
    /// The media plane cannot take it now (a full queue, a stopped worker) (-32005).
    Unavailable { reason: String },
}

/// What the media plane reports to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// The call's ports are bound (the address the RTP socket got).
    Opened { call: CallId, local: SocketAddr },
    /// Binding failed (the port is in use): the engine tries another.
    OpenFailed { call: CallId, reason: String },
    /// A play or recording started; for a recording, `path` is its file's full path.
    Started {
        call: CallId,
        token: u64,
        path: Option<String>,
    },
    /// A play or recording did not start; nothing of it remains.
    Refused {
        call: CallId,
        token: u64,
        refusal: Refusal,
    },
    /// A play ended (`error: None` when it played to the end, was stopped or a finish
    /// key ended it).
    PlayCompleted {
        call: CallId,
        error: Option<String>,
        finish_key: Option<char>,
    },
    /// A recording ended; the file is complete and its header valid when this arrives.
    RecordCompleted {
        call: CallId,
        error: Option<String>,
        finish_key: Option<char>,
        path: PathBuf,
    },
    /// `SendDtmf` finished.
    SendDtmfCompleted { call: CallId, error: Option<String> },
    /// A DTMF digit was received (each key press once).
    Digit {
        call: CallId,
        digit: char,
        source: DigitSource,
    },
    /// No RTP for `rtp_timeout_seconds` (once per silent period).
    RtpTimeout { call: CallId },
    /// The call's media is gone (after every completion event of the call).
    Closed { call: CallId, stats: CallStats },
    /// The call's media now lives on worker `worker`.
    Moved { call: CallId, worker: usize },
    /// `a`'s join ended (`Unjoin`, either call closed, or an error); its recording, if
    /// any, is complete on disk. `error` is `None` after `Unjoin`; otherwise it says
    /// why: "call released" (either call closed), "shutdown", "moved to another
    /// worker", or a write error of the recording.
    JoinEnded {
        a: CallId,
        error: Option<String>,
        record_path: Option<PathBuf>,
    },
    /// `call` left conference `conf` (`ConfExit`, the conference closed, the call
    /// closed, or an error).
    ConfLeft {
        conf: CallId,
        call: CallId,
        error: Option<String>,
    },
}

impl MediaEvent {
    /// The call the event is about.
    pub fn call(&self) -> CallId {
        match self {
            MediaEvent::Opened { call, .. }
            | MediaEvent::OpenFailed { call, .. }
            | MediaEvent::Started { call, .. }
            | MediaEvent::Refused { call, .. }
            | MediaEvent::PlayCompleted { call, .. }
            | MediaEvent::RecordCompleted { call, .. }
            | MediaEvent::SendDtmfCompleted { call, .. }
            | MediaEvent::Digit { call, .. }
            | MediaEvent::RtpTimeout { call }
            | MediaEvent::Closed { call, .. }
            | MediaEvent::Moved { call, .. } => *call,
            MediaEvent::JoinEnded { a, .. } => *a,
            MediaEvent::ConfLeft { call, .. } => *call,
        }
    }
}
