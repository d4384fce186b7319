//! One call's media on its worker: its sockets, the far end (with symmetric-RTP
//! latching), its RTP sender and receive state, and its 20 ms frame grid. The parts,
//! one purpose each:
//!
//! - `receive`: datagrams in (RTP checks, statistics, jitter buffer, RFC 4733 digits),
//!   each packet time's received audio (recording, in-band DTMF), the RTP timeout;
//! - `send`: each packet time's outgoing media (DTMF, beep, play);
//! - `rtcp`: RTCP in and the periodic reports out;
//! - `actions`: play / record / send-DTMF, each ending in exactly one completion
//!   event, and received digits;
//! - `joined` and `member`: the call as a leg of a join, or a member of a conference;
//! - `shared`: the worker-wide state lent to every channel.
//!
//! Everything is allocated when the call is opened; packets and frames only touch the
//! channel's fixed state and the worker's scratch buffers.

mod actions;
mod assemble;
mod joined;
mod member;
mod receive;
mod rtcp;
mod send;
mod shared;

pub use shared::Shared;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::InbandDetector;
use super::commands::{CallId, CallStats, MediaEvent, RemoteMedia, WorkerEvent};
use super::conf::MemberLink;
use super::dtmf_tx::DtmfTx;
use super::join::Joined;
use super::play::Play;
use super::record::Recording;
use super::tones::{PEAK_MINUS_10_DBM0, ToneGen};
use crate::codec::Codec;
use crate::rtp::{JitterBuffer, ReceiveStats, RtpSender};
use crate::worker::{IoCtx, SocketToken, WorkerInfo};

/// Largest frame handled: 60 ms at 8 kHz.
pub const MAX_SPF: usize = 480;
/// Payload type of comfort noise (RFC 3389), taken as silence.
pub const PT_CN: u8 = 13;
/// A source other than the SDP address may be latched onto this long after `set_remote`.
pub const LATCH_WINDOW: Duration = Duration::from_secs(5);
/// Interval between RTCP reports.
pub const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// Jitter buffer: slots and prefill (packet times).
const JB_SLOTS: usize = 16;
const JB_PREFILL: usize = 2;
/// Packet times without audio (loss, late packets, jitter-buffer refill) that the in-band
/// DTMF detector does not see: a transport gap inside a tone must not split it into two
/// digits. Longer gaps reach the detector as silence, so a real pause still ends a digit.
const INBAND_CONCEALED_GAP: u8 = 3;
/// Most frames caught up in one tick after a stall; older ones are skipped.
const MAX_CATCH_UP: u32 = 5;

type Io<'a, 'b> = &'a mut IoCtx<'b, WorkerEvent>;

/// One call.
pub struct Channel {
    call: CallId,
    /// RTP socket.
    pub rtp: SocketToken,
    /// RTCP socket.
    pub rtcp: SocketToken,
    remote: Option<RemoteMedia>,
    latched: Option<SocketAddr>,
    latch_until: Instant,
    /// Whether the RTP socket was connected (or tried) to the SDP address of the current
    /// far end, once RTP came from there.
    connected: bool,
    sender: RtpSender,
    rx_stats: ReceiveStats,
    jb: JitterBuffer,
    /// What the last packet pulled held beyond its frame.
    rx_carry: assemble::Assembler,
    next_frame: Instant,
    play: Option<Play>,
    rec: Option<Recording>,
    beep: ToneGen,
    dtmf_tx: Option<DtmfTx>,
    dtmf_ts: u32,
    events: super::event_dedup::EventDedup,
    /// A press reported from events and from tones is reported once.
    sources: super::digit_dedup::SourceDedup,
    last_rx: Instant,
    timeout_fired: bool,
    /// Consecutive packet times without received audio (see [`INBAND_CONCEALED_GAP`]).
    rx_gap: u8,
    next_rtcp: Instant,
    reported_packets: u32,
    stats: CallStats,
    inband: Option<Box<dyn InbandDetector>>,
    /// The join this call is a leg of.
    joined: Option<Joined>,
    /// The conference this call is a member of.
    member: Option<MemberLink>,
    /// Audio was relayed into this leg's stream since its last frame.
    relayed_audio: bool,
}

impl Channel {
    /// A call whose sockets are open; its first frame is due at `first_frame`.
    pub fn new(
        call: CallId,
        rtp: SocketToken,
        rtcp: SocketToken,
        first_frame: Instant,
        inband: Option<Box<dyn InbandDetector>>,
        sender: RtpSender,
    ) -> Self {
        Self {
            call,
            rtp,
            rtcp,
            remote: None,
            latched: None,
            latch_until: first_frame,
            connected: false,
            sender,
            rx_stats: ReceiveStats::new(8000),
            jb: JitterBuffer::new(JB_SLOTS, MAX_SPF, JB_PREFILL),
            rx_carry: assemble::Assembler::new(),
            next_frame: first_frame,
            play: None,
            rec: None,
            beep: ToneGen::single(1000.0, PEAK_MINUS_10_DBM0),
            dtmf_tx: None,
            dtmf_ts: 0,
            events: Default::default(),
            sources: Default::default(),
            last_rx: first_frame,
            timeout_fired: false,
            rx_gap: 0,
            next_rtcp: first_frame + RTCP_INTERVAL,
            reported_packets: 0,
            stats: CallStats::default(),
            inband,
            joined: None,
            member: None,
            relayed_audio: false,
        }
    }

    /// The call.
    pub fn call(&self) -> CallId {
        self.call
    }

    /// The channel arrived on another worker (see `handler::handover`): its sockets have
    /// new tokens there, and its next frame moves onto that worker's tick grid (at most
    /// one tick later), the RTP clock and sequence carrying on.
    pub fn adopted(&mut self, rtp: SocketToken, rtcp: SocketToken, info: &WorkerInfo) {
        self.rtp = rtp;
        self.rtcp = rtcp;
        let tick = info.tick.as_nanos().max(1);
        let since = self
            .next_frame
            .saturating_duration_since(info.start)
            .as_nanos();
        let k = since.div_ceil(tick);
        self.next_frame = info.start + Duration::from_nanos(u64::try_from(k * tick).unwrap_or(0));
    }

    /// The negotiated law (PCMU until negotiated).
    pub fn law(&self) -> Codec {
        self.remote.as_ref().map_or(Codec::Pcmu, |r| r.codec)
    }

    /// Samples per packet time (160 until negotiated).
    pub fn spf(&self) -> usize {
        self.remote
            .as_ref()
            .map_or(160, |r| (r.ptime_ms.clamp(10, 60) * 8) as usize)
    }

    fn frame_period(&self) -> Duration {
        Duration::from_millis(self.spf() as u64 / 8)
    }

    /// Sets or changes the far end. A new address dissolves the RTP socket's connection
    /// to the old one, so that the new far end (or a source latched in the window) is
    /// heard.
    pub fn set_remote(&mut self, r: RemoteMedia, now: Instant, io: Io) {
        let first = self.remote.is_none();
        let moved = self.remote.as_ref().is_none_or(|o| o.rtp != r.rtp);
        let recodec = self
            .remote
            .as_ref()
            .is_some_and(|o| o.codec != r.codec || o.pt != r.pt);
        if moved {
            self.latched = None;
            self.latch_until = now + LATCH_WINDOW;
            if self.connected {
                self.connected = false;
                if let Err(e) = io.connect(self.rtp, None) {
                    tracing::warn!(call = %self.call, error = %e, "cannot dissolve the RTP socket's connection to the old far end; its new address may not be heard");
                }
            }
        }
        if recodec {
            self.jb.reset();
            self.rx_carry.clear();
        }
        self.sender.set_payload_type(r.pt);
        self.sender
            .set_samples_per_frame(r.ptime_ms.clamp(10, 60) * 8);
        if first || (r.recv && !self.remote.as_ref().is_some_and(|o| o.recv)) {
            self.last_rx = now;
            self.timeout_fired = false;
        }
        if first {
            self.next_rtcp = now + RTCP_INTERVAL;
        }
        self.remote = Some(r);
    }

    fn dest(&self) -> Option<SocketAddr> {
        self.remote.as_ref().map(|r| self.latched.unwrap_or(r.rtp))
    }

    /// Runs every frame due by `now` (a tick time).
    pub fn on_tick(&mut self, now: Instant, io: Io, sh: &mut Shared) {
        let mut n = 0;
        while let Some(at) = self.take_due(now, &mut n) {
            self.frame(at, io, sh);
        }
    }

    /// The time of the next frame due by `now` (the grid moves on by one frame), `n`
    /// counting those taken in this tick; after [`MAX_CATCH_UP`] of them, skips to the
    /// present (the RTP clock moving on with it) and gives none.
    fn take_due(&mut self, now: Instant, n: &mut u32) -> Option<Instant> {
        if self.next_frame > now {
            return None;
        }
        let period = self.frame_period();
        if *n == MAX_CATCH_UP {
            // Too far behind: skip to the present, keeping the grid.
            while self.next_frame <= now {
                self.next_frame += period;
                self.sender.skip_frames(1);
            }
            return None;
        }
        *n += 1;
        let at = self.next_frame;
        self.next_frame += period;
        Some(at)
    }

    fn frame(&mut self, at: Instant, io: Io, sh: &mut Shared) {
        let before = self.stats.packets_out;
        self.receive_frame(io, sh);
        self.send_frame(io, sh);
        self.frame_done(at, before, io, sh);
    }

    /// What every frame ends with: the send figures, the RTP timeout, RTCP.
    fn frame_done(&mut self, at: Instant, packets_before: u64, io: Io, sh: &mut Shared) {
        if self.stats.packets_out != packets_before {
            sh.sent_this_tick += self.stats.packets_out - packets_before;
            if let Some(l) = sh.latency.as_mut()
                && l.sample(super::latency::Metric::SendDeviationUs)
            {
                let dev = Instant::now().saturating_duration_since(at);
                l.record_sampled(
                    super::latency::Metric::SendDeviationUs,
                    dev.as_micros() as u64,
                );
            }
        }
        self.check_rtp_timeout(at, io, sh);
        if at >= self.next_rtcp {
            self.next_rtcp = at + RTCP_INTERVAL;
            self.send_rtcp(at, io, sh);
        }
    }

    /// Ends every action with `reason`, closes the sockets and emits `Closed`.
    pub fn close(mut self, reason: &str, io: Io, sh: &mut Shared) {
        self.end_play(Some(reason.to_string()), None, io);
        self.end_record(Some(reason.to_string()), None, io, sh);
        self.end_dtmf(Some(reason.to_string()), io);
        io.close(self.rtp);
        io.close(self.rtcp);
        let mut stats = self.stats;
        stats.lost = self.rx_stats.cumulative_lost() as i64;
        stats.jitter_ms = self.rx_stats.jitter() / 8;
        io.emit(WorkerEvent::Public(MediaEvent::Closed {
            call: self.call,
            stats,
        }));
    }
}
