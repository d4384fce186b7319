//! The receive half of a channel: each datagram (RTCP to [`rtcp`](super::rtcp); RTP
//! checked against the negotiated payload types and the latched source, counted in the
//! RFC 3550 statistics, into the jitter buffer, RFC 4733 digits decoded at once), and
//! each packet time's received audio (out of the jitter buffer into the recording and
//! the in-band DTMF detector), plus the RTP timeout.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Channel, INBAND_CONCEALED_GAP, Io, MAX_SPF, PT_CN, Shared};
use crate::media::commands::{DigitSource, MediaEvent, WorkerEvent};
use crate::media::record::RecEnd;
use crate::rtp::{RtpPacket, TelephoneEvent, is_rtcp};
use crate::worker::SocketToken;

impl Channel {
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
        let Some((pkt, is_event)) = self.accept(data, from, now, io, sh) else {
            return;
        };
        let h = pkt.header;
        let _ = self.jb.push(&pkt.header, pkt.payload);
        if is_event
            && let Ok(ev) = TelephoneEvent::parse(pkt.payload)
            && let Some(digit) = ev.digit()
            && self.events.is_new(ev.event, h.timestamp, ev.end)
        {
            self.on_digit(digit, DigitSource::Rfc4733, io, sh);
        }
    }

    /// Checks an RTP datagram (a far end that sends, a payload type it negotiated, the
    /// latched source) and counts it; returns it parsed, and whether it is a
    /// telephone-event.
    pub(super) fn accept<'d>(
        &mut self,
        data: &'d [u8],
        from: SocketAddr,
        now: Instant,
        io: Io,
        sh: &Shared,
    ) -> Option<(RtpPacket<'d>, bool)> {
        let Some(remote) = self.remote.as_ref() else {
            self.stats.dropped += 1;
            return None;
        };
        if !remote.recv {
            return None;
        }
        let Ok(pkt) = RtpPacket::parse(data) else {
            self.stats.dropped += 1;
            return None;
        };
        let pt = pkt.header.payload_type;
        let is_event = remote.dtmf_pt == Some(pt);
        if pt != remote.pt && pt != PT_CN && !is_event {
            self.stats.dropped += 1;
            return None;
        }
        // Symmetric RTP: the SDP address always wins; another source only while nothing
        // is latched and the window is open.
        if from == remote.rtp {
            self.latched = Some(from);
            if !self.connected {
                // Settled on the SDP address, which always wins: connect the socket to
                // it, so each send skips the route lookup (the kernel now drops other
                // sources, which this check dropped anyway).
                self.connected = true;
                if let Err(e) = io.connect(self.rtp, Some(from)) {
                    tracing::debug!(call = %self.call, error = %e, "RTP socket not connected to its far end");
                }
            }
        } else if self.latched != Some(from) {
            if self.latched.is_some() || now >= self.latch_until {
                self.stats.dropped += 1;
                return None;
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
        Some((pkt, is_event))
    }

    /// One packet time of received audio: into the recording and the in-band detector.
    pub(super) fn receive_frame(&mut self, io: Io, sh: &mut Shared) {
        let spf = self.spf();
        let law = self.law();
        let audio_pt = self.remote.as_ref().map(|r| r.pt);
        let len = self
            .rx_carry
            .next(&mut self.jb, audio_pt, spf, &mut sh.rx[..MAX_SPF]);
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
        let inband_on = self
            .remote
            .as_ref()
            .is_some_and(|r| r.dtmf_pt.is_none() || sh.inband_with_te);
        if inband_on && !concealed && (self.inband.is_some() || sh.inband_pool.is_some()) {
            let n = if len > 0 { len } else { spf };
            for i in 0..n {
                sh.pcm[i] = if len > 0 { law.decode(sh.rx[i]) } else { 0 };
            }
            let (digits, nd) = self.inband_rx(&sh.pcm[..n], sh.inband_pool.as_mut());
            for &d in &digits[..nd] {
                self.on_digit(d, DigitSource::Inband, io, sh);
            }
        }
        if let Some(RecEnd::MaxSeconds) = ended {
            self.end_record_now(Some("max_seconds reached".into()), None, io, sh);
        }
    }

    /// Feeds one packet time of received audio to the in-band DTMF detector: the call's
    /// own (the digits it found are returned, at most four), or the worker's SIMD banks
    /// (detected with the worker's other calls at the end of the tick).
    pub(super) fn inband_rx(
        &mut self,
        samples: &[i16],
        pool: Option<&mut crate::media::inband_pool::InbandPool>,
    ) -> ([char; 4], usize) {
        let mut digits = ['\0'; 4];
        let mut nd = 0;
        if let Some(det) = self.inband.as_mut() {
            det.rx(samples, &mut |d| {
                if nd < digits.len() {
                    digits[nd] = d;
                    nd += 1;
                }
            });
        } else if let Some(pool) = pool {
            pool.push(self.call, samples);
        }
        (digits, nd)
    }

    /// Raises `RtpTimeout` once per silent period of the configured length.
    pub(super) fn check_rtp_timeout(&mut self, at: Instant, io: Io, sh: &Shared) {
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
    }
}
