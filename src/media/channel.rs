//! One call's media on its worker: sockets, the far end (with symmetric-RTP latching),
//! RTP receive (RFC 3550 statistics, jitter buffer, RFC 4733 digits, in-band hook),
//! RTP send on the call's own 20 ms grid, and the play / record / send-DTMF actions,
//! each ending in exactly one completion event. RTCP reports every 5 s; RTP timeout.
//!
//! Everything is allocated when the call is opened; packets and frames only touch the
//! channel's fixed state and the worker's scratch buffers.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_queue::ArrayQueue;

use super::InbandDetector;
use super::commands::{
    CallId, CallStats, DigitSource, G711, MediaEvent, RecordStart, RemoteMedia, WorkerEvent,
};
use super::dtmf_tx::{DtmfFrame, DtmfMode, DtmfTx};
use super::play::{Play, PlayFrame};
use super::record::{RecEnd, RecMsg, Recording};
use super::tones::{PEAK_MINUS_10_DBM0, ToneGen};
use crate::rtp::{
    JitterBuffer, Pulled, RTP_HEADER_LEN, ReceiveStats, RtcpPacket, RtcpWriter, RtpPacket,
    RtpSender, TelephoneEvent, is_rtcp, ntp_from_unix_micros, parse_rtcp,
};
use crate::worker::{IoCtx, SocketToken};

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

/// Worker-wide state lent to channels: the recorder queue, scratch buffers, settings.
pub struct Shared {
    /// Queue to the recording writer.
    pub rec_q: std::sync::Arc<ArrayQueue<RecMsg>>,
    /// Recordings whose `End` did not fit in the queue yet (retried every tick).
    pub pending_ends: Vec<u64>,
    /// RTP timeout (None: off).
    pub rtp_timeout: Option<Duration>,
    /// Worker clock origin (for RTCP arrival times).
    pub start: Instant,
    /// The worker's latency histograms.
    pub latency: Option<super::latency::WorkerLatency>,
    /// Packets sent during the current tick.
    pub sent_this_tick: u64,
    /// The worker's SIMD in-band detectors (None: per-call detectors or none).
    pub inband_pool: Option<super::inband_pool::InbandPool>,
    pkt: Box<[u8; 1500]>,
    pcm: Box<[i16; MAX_SPF]>,
    rx: Box<[u8; MAX_SPF]>,
}

impl Shared {
    /// Worker state with empty scratch buffers.
    pub fn new(
        rec_q: std::sync::Arc<ArrayQueue<RecMsg>>,
        rtp_timeout: Option<Duration>,
        start: Instant,
    ) -> Self {
        Self {
            rec_q,
            pending_ends: Vec::with_capacity(256),
            rtp_timeout,
            start,
            inband_pool: None,
            latency: None,
            sent_this_tick: 0,
            pkt: Box::new([0; 1500]),
            pcm: Box::new([0; MAX_SPF]),
            rx: Box::new([0; MAX_SPF]),
        }
    }

    /// Queues the end of a recording (or keeps it for a retry).
    pub fn end_recording(&mut self, rec: u64) {
        if let Err(RecMsg::End { rec }) = self.rec_q.push(RecMsg::End { rec }) {
            self.pending_ends.push(rec);
        }
    }

    /// Retries queued ends.
    pub fn retry_ends(&mut self) {
        while let Some(&rec) = self.pending_ends.first() {
            if self.rec_q.push(RecMsg::End { rec }).is_err() {
                return;
            }
            self.pending_ends.remove(0);
        }
    }
}

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
    sender: RtpSender,
    rx_stats: ReceiveStats,
    jb: JitterBuffer,
    next_frame: Instant,
    play: Option<Play>,
    rec: Option<Recording>,
    beep: ToneGen,
    dtmf_tx: Option<DtmfTx>,
    dtmf_ts: u32,
    events: super::event_dedup::EventDedup,
    last_rx: Instant,
    timeout_fired: bool,
    /// Consecutive packet times without received audio (see [`INBAND_CONCEALED_GAP`]).
    rx_gap: u8,
    next_rtcp: Instant,
    reported_packets: u32,
    stats: CallStats,
    inband: Option<Box<dyn InbandDetector>>,
}

impl Channel {
    /// A call whose sockets are open; its first frame is due at `first_frame`.
    pub fn new(
        call: CallId,
        rtp: SocketToken,
        rtcp: SocketToken,
        first_frame: Instant,
        inband: Option<Box<dyn InbandDetector>>,
    ) -> Self {
        Self {
            call,
            rtp,
            rtcp,
            remote: None,
            latched: None,
            latch_until: first_frame,
            sender: RtpSender::new(0, 160),
            rx_stats: ReceiveStats::new(8000),
            jb: JitterBuffer::new(JB_SLOTS, MAX_SPF, JB_PREFILL),
            next_frame: first_frame,
            play: None,
            rec: None,
            beep: ToneGen::single(1000.0, PEAK_MINUS_10_DBM0),
            dtmf_tx: None,
            dtmf_ts: 0,
            events: Default::default(),
            last_rx: first_frame,
            timeout_fired: false,
            rx_gap: 0,
            next_rtcp: first_frame + RTCP_INTERVAL,
            reported_packets: 0,
            stats: CallStats::default(),
            inband,
        }
    }

    fn law(&self) -> G711 {
        self.remote.as_ref().map_or(G711::Ulaw, |r| r.codec)
    }

    fn spf(&self) -> usize {
        self.remote
            .as_ref()
            .map_or(160, |r| (r.ptime_ms.clamp(10, 60) * 8) as usize)
    }

    fn frame_period(&self) -> Duration {
        Duration::from_millis(self.spf() as u64 / 8)
    }

    /// Sets or changes the far end.
    pub fn set_remote(&mut self, r: RemoteMedia, now: Instant) {
        let first = self.remote.is_none();
        let moved = self.remote.as_ref().is_none_or(|o| o.rtp != r.rtp);
        let recodec = self
            .remote
            .as_ref()
            .is_some_and(|o| o.codec != r.codec || o.pt != r.pt);
        if moved {
            self.latched = None;
            self.latch_until = now + LATCH_WINDOW;
        }
        if recodec {
            self.jb.reset();
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

    /// A datagram on one of the call's sockets.
    pub fn on_packet(
        &mut self,
        sock: SocketToken,
        data: &[u8],
        from: SocketAddr,
        now: Instant,
        io: Io,
        sh: &mut Shared,
    ) {
        if sock == self.rtcp || is_rtcp(data) {
            self.on_rtcp(data, now, sh);
            return;
        }
        let Some(remote) = self.remote.as_ref() else {
            self.stats.dropped += 1;
            return;
        };
        if !remote.recv {
            return;
        }
        let Ok(pkt) = RtpPacket::parse(data) else {
            self.stats.dropped += 1;
            return;
        };
        let pt = pkt.header.payload_type;
        let is_event = remote.dtmf_pt == Some(pt);
        if pt != remote.pt && pt != PT_CN && !is_event {
            self.stats.dropped += 1;
            return;
        }
        // Symmetric RTP: the SDP address always wins; another source only while nothing
        // is latched and the window is open.
        if from == remote.rtp {
            self.latched = Some(from);
        } else if self.latched != Some(from) {
            if self.latched.is_some() || now >= self.latch_until {
                self.stats.dropped += 1;
                return;
            }
            self.latched = Some(from);
        }
        self.stats.packets_in += 1;
        self.stats.bytes_in += data.len() as u64;
        let arrival = now.saturating_duration_since(sh.start).as_micros() as u64;
        let h = pkt.header;
        self.rx_stats
            .on_packet(h.ssrc, h.sequence, h.timestamp, arrival);
        self.last_rx = now;
        self.timeout_fired = false;
        let _ = self.jb.push(&pkt.header, pkt.payload);
        if is_event
            && let Ok(ev) = TelephoneEvent::parse(pkt.payload)
            && let Some(digit) = ev.digit()
            && self.events.is_new(ev.event, h.timestamp, ev.end)
        {
            self.on_digit(digit, DigitSource::Rfc4733, io, sh);
        }
    }

    fn on_rtcp(&mut self, data: &[u8], now: Instant, sh: &Shared) {
        let arrival = now.saturating_duration_since(sh.start).as_micros() as u64;
        for p in parse_rtcp(data) {
            match p {
                Ok(RtcpPacket::SenderReport { ssrc, sender, .. })
                    if Some(ssrc) == self.rx_stats.ssrc() =>
                {
                    self.rx_stats
                        .on_sender_report(sender.ntp_timestamp, arrival);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }

    /// A digit from any source: reported, and ends a play or recording it is a finish key of.
    pub fn on_digit(&mut self, digit: char, source: DigitSource, io: Io, sh: &mut Shared) {
        io.emit(WorkerEvent::Public(MediaEvent::Digit {
            call: self.call,
            digit,
            source,
        }));
        if self.play.as_ref().is_some_and(|p| p.is_finish_key(digit)) {
            self.end_play(None, Some(digit), io);
        }
        if self.rec.as_ref().is_some_and(|r| r.is_finish_key(digit)) {
            self.end_record(None, Some(digit), io, sh);
        }
    }

    /// Ends the play, if any, with its completion event.
    pub fn end_play(&mut self, error: Option<String>, finish_key: Option<char>, io: Io) {
        if self.play.take().is_some() {
            io.emit(WorkerEvent::Public(MediaEvent::PlayCompleted {
                call: self.call,
                error,
                finish_key,
            }));
        }
    }

    /// Ends the recording, if any: the writer finalizes the file, then the plane
    /// forwards the completion event.
    pub fn end_record(
        &mut self,
        error: Option<String>,
        finish_key: Option<char>,
        io: Io,
        sh: &mut Shared,
    ) {
        self.flush_into_recording(sh);
        self.end_record_now(error, finish_key, io, sh);
    }

    /// Audio already received but still held by the jitter buffer belongs to a
    /// recording that ends now (finish key, stop, hang-up, shutdown): write it.
    fn flush_into_recording(&mut self, sh: &mut Shared) {
        let law = self.law();
        let spf = self.spf();
        let audio_pt = self.remote.as_ref().map(|r| r.pt);
        let Some(r) = self.rec.as_mut() else { return };
        if r.beep_left() != 0 {
            return;
        }
        for _ in 0..self.jb.capacity() {
            let mut len = 0;
            match self.jb.drain_next() {
                Pulled::Empty => break,
                Pulled::Frame(f) if Some(f.payload_type) == audio_pt => {
                    len = f.payload.len().min(MAX_SPF);
                    sh.rx[..len].copy_from_slice(&f.payload[..len]);
                }
                Pulled::Frame(_) => continue,
                Pulled::Missing { .. } => {}
            }
            let payload = (len > 0).then(|| &sh.rx[..len]);
            if r.push_frame(&sh.rec_q, law, payload, spf).is_some() {
                break;
            }
        }
    }

    /// Ends the recording without flushing (its `max_seconds` is exactly reached).
    fn end_record_now(
        &mut self,
        error: Option<String>,
        finish_key: Option<char>,
        io: Io,
        sh: &mut Shared,
    ) {
        if let Some(r) = self.rec.take() {
            self.stats.record_overruns += r.overruns;
            sh.end_recording(r.start.rec);
            io.emit(WorkerEvent::RecordEnded {
                rec: r.start.rec,
                event: MediaEvent::RecordCompleted {
                    call: self.call,
                    error,
                    finish_key,
                    path: r.start.path,
                },
            });
        }
    }

    fn end_dtmf(&mut self, error: Option<String>, io: Io) {
        if self.dtmf_tx.take().is_some() {
            io.emit(WorkerEvent::Public(MediaEvent::SendDtmfCompleted {
                call: self.call,
                error,
            }));
        }
    }

    /// Starts a play (an active one ends first, as replaced).
    pub fn start_play(&mut self, play: Play, io: Io) {
        self.end_play(Some("replaced by a new play".into()), None, io);
        self.sender.start_talkspurt();
        self.play = Some(play);
    }

    /// The pending play `token`, if that is what is playing.
    pub fn pending_play(&mut self, token: u64) -> Option<&mut Play> {
        self.play
            .as_mut()
            .filter(|p| p.pending_token() == Some(token))
    }

    /// A pending play failed to load.
    pub fn fail_pending(&mut self, token: u64, reason: String, io: Io) {
        if self.pending_play(token).is_some() {
            self.end_play(Some(reason), None, io);
        }
    }

    /// Starts a recording (an active one ends first).
    pub fn start_record(&mut self, r: RecordStart, io: Io, sh: &mut Shared) {
        self.end_record(Some("replaced by a new recording".into()), None, io, sh);
        self.rec = Some(Recording::new(r));
    }

    /// Starts sending DTMF.
    pub fn send_dtmf(&mut self, keys: &str, io: Io) {
        self.end_dtmf(Some("replaced by a new send_dtmf".into()), io);
        let mode = match self.remote.as_ref().and_then(|r| r.dtmf_pt) {
            Some(pt) => DtmfMode::Rfc4733(pt),
            None => DtmfMode::Inband,
        };
        match DtmfTx::new(keys, mode) {
            Ok(tx) => self.dtmf_tx = Some(tx),
            Err(c) => io.emit(WorkerEvent::Public(MediaEvent::SendDtmfCompleted {
                call: self.call,
                error: Some(format!("invalid DTMF key {c:?}")),
            })),
        }
    }

    /// Runs every frame due by `now` (a tick time).
    pub fn on_tick(&mut self, now: Instant, io: Io, sh: &mut Shared) {
        let mut n = 0;
        while self.next_frame <= now {
            if n == MAX_CATCH_UP {
                // Too far behind: skip to the present, keeping the grid.
                let period = self.frame_period();
                while self.next_frame <= now {
                    self.next_frame += period;
                    self.sender.skip_frames(1);
                }
                break;
            }
            let at = self.next_frame;
            self.frame(at, io, sh);
            self.next_frame += self.frame_period();
            n += 1;
        }
    }

    fn frame(&mut self, at: Instant, io: Io, sh: &mut Shared) {
        self.receive_frame(io, sh);
        let before = self.stats.packets_out;
        self.send_frame(io, sh);
        if self.stats.packets_out != before {
            sh.sent_this_tick += self.stats.packets_out - before;
            if let Some(l) = sh.latency.as_mut() {
                let dev = Instant::now().saturating_duration_since(at);
                l.record(
                    super::latency::Metric::SendDeviationUs,
                    dev.as_micros() as u64,
                );
            }
        }
        if let (Some(limit), Some(r)) = (sh.rtp_timeout, self.remote.as_ref())
            && r.recv
            && !self.timeout_fired
            && at.saturating_duration_since(self.last_rx) >= limit
        {
            self.timeout_fired = true;
            io.emit(WorkerEvent::Public(MediaEvent::RtpTimeout {
                call: self.call,
            }));
        }
        if at >= self.next_rtcp {
            self.next_rtcp = at + RTCP_INTERVAL;
            self.send_rtcp(at, io, sh);
        }
    }

    /// One packet time of received audio: into the recording and the in-band detector.
    fn receive_frame(&mut self, io: Io, sh: &mut Shared) {
        let spf = self.spf();
        let law = self.law();
        let audio_pt = self.remote.as_ref().map(|r| r.pt);
        let mut len = 0;
        if let Pulled::Frame(f) = self.jb.pull()
            && Some(f.payload_type) == audio_pt
        {
            len = f.payload.len().min(MAX_SPF);
            sh.rx[..len].copy_from_slice(&f.payload[..len]);
        }
        let payload = (len > 0).then(|| &sh.rx[..len]);
        let mut ended = None;
        if let Some(r) = self.rec.as_mut()
            && r.beep_left() == 0
        {
            ended = r.push_frame(&sh.rec_q, law, payload, spf);
        }
        self.rx_gap = if len > 0 {
            0
        } else {
            self.rx_gap.saturating_add(1)
        };
        let concealed = len == 0 && self.rx_gap <= INBAND_CONCEALED_GAP;
        let inband_on = self.remote.as_ref().is_some_and(|r| r.dtmf_pt.is_none());
        if inband_on && !concealed && (self.inband.is_some() || sh.inband_pool.is_some()) {
            let n = if len > 0 { len } else { spf };
            for i in 0..n {
                sh.pcm[i] = if len > 0 { law.decode(sh.rx[i]) } else { 0 };
            }
            if let Some(det) = self.inband.as_mut() {
                let mut digits = ['\0'; 4];
                let mut nd = 0;
                det.rx(&sh.pcm[..n], &mut |d| {
                    if nd < digits.len() {
                        digits[nd] = d;
                        nd += 1;
                    }
                });
                for &d in &digits[..nd] {
                    self.on_digit(d, DigitSource::Inband, io, sh);
                }
            } else if let Some(pool) = sh.inband_pool.as_mut() {
                // Detected with the worker's other calls at the end of the tick.
                pool.push(self.call, &sh.pcm[..n]);
            }
        }
        if let Some(RecEnd::MaxSeconds) = ended {
            self.end_record_now(Some("max_seconds reached".into()), None, io, sh);
        }
    }

    /// One packet time of sending: DTMF, else the record beep, else the play.
    fn send_frame(&mut self, io: Io, sh: &mut Shared) {
        let spf = self.spf();
        let law = self.law();
        let mut have_audio = false;
        let payload = RTP_HEADER_LEN..RTP_HEADER_LEN + spf;
        let dtmf = self
            .dtmf_tx
            .as_mut()
            .map(|tx| (tx.next_frame(spf as u32, &mut sh.pcm[..]), tx.mode()));
        match dtmf {
            Some((DtmfFrame::Event { event, first }, DtmfMode::Rfc4733(pt))) => {
                if first {
                    self.dtmf_ts = self.sender.next_timestamp();
                }
                let mut block = [0u8; TelephoneEvent::LEN];
                let _ = event.write(&mut block);
                if let Some(dest) = self.dest()
                    && self.remote.as_ref().is_some_and(|r| r.send)
                    && let Ok(n) =
                        self.sender
                            .write_event(pt, self.dtmf_ts, first, &block, &mut sh.pkt[..])
                {
                    self.send(&sh.pkt[..n], dest, io);
                }
                // The event took this packet time of the audio clock.
                self.sender.skip_frames(1);
                self.sender.start_talkspurt();
                return;
            }
            Some((DtmfFrame::Tone, _)) => {
                for i in 0..spf {
                    sh.pkt[RTP_HEADER_LEN + i] = law.encode(sh.pcm[i]);
                }
                have_audio = true;
            }
            Some((DtmfFrame::Done, _)) => self.end_dtmf(None, io),
            Some((DtmfFrame::Pause | DtmfFrame::Event { .. }, _)) | None => {}
        }
        if !have_audio
            && let Some(r) = self.rec.as_mut()
            && r.beep_left() > 0
        {
            let n = (r.beep_left() as usize).min(spf);
            self.beep.fill(&mut sh.pcm[..n]);
            sh.pcm[n..spf].fill(0);
            for i in 0..spf {
                sh.pkt[RTP_HEADER_LEN + i] = law.encode(sh.pcm[i]);
            }
            r.beeped(spf as u32);
            have_audio = true;
        }
        if !have_audio && let Some(p) = self.play.as_mut() {
            match p.next_frame(law, &mut sh.pkt[payload.clone()]) {
                PlayFrame::Audio => have_audio = true,
                PlayFrame::Waiting => {}
                PlayFrame::Done => self.end_play(None, None, io),
            }
        }
        let dest = self.dest();
        match (
            have_audio,
            dest,
            self.remote.as_ref().is_some_and(|r| r.send),
        ) {
            (true, Some(dest), true) => {
                if let Ok(n) = self.sender.write_frame_header(spf, &mut sh.pkt[..]) {
                    self.send(&sh.pkt[..n + spf], dest, io);
                }
            }
            _ => {
                self.sender.skip_frames(1);
                self.sender.start_talkspurt();
            }
        }
    }

    fn send(&mut self, pkt: &[u8], dest: SocketAddr, io: Io) {
        if io.send_to(self.rtp, pkt, dest).is_ok() {
            self.stats.packets_out += 1;
            self.stats.bytes_out += pkt.len() as u64;
        }
    }

    fn send_rtcp(&mut self, at: Instant, io: Io, sh: &mut Shared) {
        let Some(r) = self.remote.as_ref() else {
            return;
        };
        let rtp_dest = self.latched.unwrap_or(r.rtp);
        let (sock, dest) = if r.rtcp_mux {
            (self.rtp, rtp_dest)
        } else {
            let d = r
                .rtcp
                .unwrap_or_else(|| SocketAddr::new(rtp_dest.ip(), rtp_dest.port().wrapping_add(1)));
            (self.rtcp, d)
        };
        let now_us = at.saturating_duration_since(sh.start).as_micros() as u64;
        let blocks = if self.rx_stats.ssrc().is_some() && self.rx_stats.received() > 0 {
            [self.rx_stats.report_block(now_us)]
        } else {
            [Default::default()]
        };
        let nblocks = usize::from(self.rx_stats.received() > 0);
        let ssrc = self.sender.ssrc();
        let mut cname = *b"mg-00000000";
        for (i, c) in cname[3..].iter_mut().enumerate() {
            *c = b"0123456789abcdef"[((ssrc >> (28 - 4 * i)) & 0xF) as usize];
        }
        let mut w = RtcpWriter::new(&mut sh.pkt[..]);
        let sent = self.sender.packets_sent();
        let res = if sent != self.reported_packets {
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64);
            let info = self.sender.sender_info(ntp_from_unix_micros(unix));
            w.sender_report(ssrc, &info, &blocks[..nblocks])
        } else {
            w.receiver_report(ssrc, &blocks[..nblocks])
        };
        self.reported_packets = sent;
        if res.and_then(|()| w.cname(ssrc, &cname)).is_ok() {
            let n = w.finish();
            let _ = io.send_to(sock, &sh.pkt[..n], dest);
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
