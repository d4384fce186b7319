//! A channel while it is a member of a conference (see [`crate::media::conf`]): its
//! datagrams are received as on any call (jitter buffer, RFC 4733 digits reported), but
//! its frames are the conference's — on the conference's tick for a 20 ms member, or on
//! its own grid through the [`Repack`] rings otherwise: what it said, decoded (in-band
//! DTMF detected on it), and what it hears, encoded in its own law on its own stream.
//! Leaving gives the call back its own behaviour, its stream continuing.

use std::time::Instant;

use super::{Channel, INBAND_CONCEALED_GAP, Io, MAX_SPF, Shared};
use crate::media::commands::DigitSource;
use crate::media::conf::{ENTERED, MemberLink, Repack};
use crate::rtp::RTP_HEADER_LEN;

impl Channel {
    /// The conference this call is a member of.
    pub fn member(&self) -> Option<MemberLink> {
        self.member
    }

    /// Becomes a member (`link`): its own play, recording and DTMF sending end (their
    /// completions say so), and the next packet it sends starts a talk spurt.
    pub fn enter_conference(&mut self, link: MemberLink, io: Io, sh: &mut Shared) {
        self.end_play(Some(ENTERED.into()), None, io);
        self.end_record(Some(ENTERED.into()), None, io, sh);
        self.end_dtmf(Some(ENTERED.into()), io);
        self.member = Some(link);
        self.rx_gap = 0;
        self.sender.start_talkspurt();
    }

    /// Moves the membership to another slot of the same conference.
    pub fn relink(&mut self, link: MemberLink) {
        self.member = Some(link);
    }

    /// Leaves its conference; a member that ran on the conference's grid resumes its own
    /// at `resume_at` (the conference's next frame).
    pub fn leave_conference(&mut self, resume_at: Option<Instant>) {
        self.member = None;
        if let Some(at) = resume_at {
            self.next_frame = at;
        }
        self.rx_gap = 0;
        self.sender.start_talkspurt();
    }

    /// Puts the call's own grid at `at` (it leaves the conference's grid for its own).
    pub fn resume_grid(&mut self, at: Instant) {
        self.next_frame = at;
    }

    /// One packet time of what the member said, decoded into `out` (one packet time of
    /// samples; silence when nothing came), in-band DTMF detected on it. True when a
    /// packet gave it.
    pub fn member_says(&mut self, out: &mut [i16], io: Io, sh: &mut Shared) -> bool {
        let law = self.law();
        let audio_pt = self.remote.as_ref().map(|r| r.pt);
        let spf = out.len().min(MAX_SPF);
        let len = self
            .rx_carry
            .next(&mut self.jb, audio_pt, spf, &mut sh.rx[..MAX_SPF]);
        law.decode_slice(&sh.rx[..len], &mut out[..len]);
        out[len..].fill(0);
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
            let (digits, nd) = self.inband_rx(out, sh.inband_pool.as_mut());
            for &d in &digits[..nd] {
                self.on_digit(d, DigitSource::Inband, io, sh);
            }
        }
        len > 0
    }

    /// Sends one packet time of `pcm`, encoded in the call's law.
    pub fn member_send_pcm(&mut self, pcm: &[i16], io: Io, sh: &mut Shared) {
        let law = self.law();
        let n = pcm.len().min(MAX_SPF);
        law.encode_slice(&pcm[..n], &mut sh.pkt[RTP_HEADER_LEN..RTP_HEADER_LEN + n]);
        self.member_send_payload(n, io, sh);
    }

    /// Sends one packet time already encoded in the call's law.
    pub fn member_send_encoded(&mut self, payload: &[u8], io: Io, sh: &mut Shared) {
        let n = payload.len().min(MAX_SPF);
        sh.pkt[RTP_HEADER_LEN..RTP_HEADER_LEN + n].copy_from_slice(&payload[..n]);
        self.member_send_payload(n, io, sh);
    }

    /// The payload is in place after the header room of the packet buffer.
    fn member_send_payload(&mut self, n: usize, io: Io, sh: &mut Shared) {
        match (self.dest(), self.remote.as_ref().is_some_and(|r| r.send)) {
            (Some(dest), true) => {
                if let Ok(h) = self.sender.write_frame_header(n, &mut sh.pkt[..]) {
                    self.send(&sh.pkt[..h + n], dest, io);
                }
            }
            _ => self.member_silent(),
        }
    }

    /// Nothing to send this packet time: the clock moves on, the next packet starts a
    /// talk spurt.
    pub fn member_silent(&mut self) {
        self.sender.skip_frames(1);
        self.sender.start_talkspurt();
    }

    /// The conference's grid skipped `frames` frames after a stall: the clock follows.
    pub fn member_skip(&mut self, frames: u32) {
        self.sender.skip_frames(frames);
    }

    /// RTP packets sent so far.
    pub fn packets_out(&self) -> u64 {
        self.stats.packets_out
    }

    /// What ends every frame of a member on the conference's grid (`at`): figures, RTP
    /// timeout, RTCP.
    pub fn member_frame_done(&mut self, at: Instant, packets_before: u64, io: Io, sh: &mut Shared) {
        self.frame_done(at, packets_before, io, sh);
    }

    /// A member on its own grid (packet time other than 20 ms): each frame due by `now`
    /// puts what it said into `rp.inbox` and sends what waits in `rp.outbox`.
    pub fn member_tick(&mut self, rp: &mut Repack, now: Instant, io: Io, sh: &mut Shared) {
        let mut n = 0;
        let mut buf = [0i16; MAX_SPF];
        while let Some(at) = self.take_due(now, &mut n) {
            let before = self.stats.packets_out;
            let spf = self.spf();
            let voiced = self.member_says(&mut buf[..spf], io, sh);
            rp.said(&buf[..spf], voiced);
            if rp.outbox.read(&mut buf[..spf]) {
                self.member_send_pcm(&buf[..spf], io, sh);
            } else {
                self.member_silent();
            }
            self.frame_done(at, before, io, sh);
        }
    }
}
