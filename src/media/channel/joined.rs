//! A channel while it is a leg of a join (see [`crate::media::join`] for the two paths):
//! its datagrams (relayed straight to the other leg, or into its jitter buffer for the
//! mixing path; telephone-events forwarded, turned into tones, or reported when nobody
//! hears this leg), its frames (what it said, decoded, for the other leg and the
//! recording; what it hears, encoded in its own law, with DTMF generated towards it),
//! and SIP INFO digits. Every call here gets both legs and the join at once; nothing
//! allocates, locks or waits.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Channel, INBAND_CONCEALED_GAP, Io, PT_CN, Shared};
use crate::media::commands::{DigitSource, MediaEvent, WorkerEvent};
use crate::media::dtmf_tx::{DtmfFrame, DtmfMode};
use crate::media::join::relay::rewrite;
use crate::media::join::{Join, Joined, LegInfo, ModeChange, Side, gain};
use crate::media::play::PlayFrame;
use crate::rtp::{Pulled, RTP_HEADER_LEN, RtpHeader, TelephoneEvent, is_rtcp};
use crate::worker::SocketToken;

impl Channel {
    /// The join this call is a leg of.
    pub fn joined(&self) -> Option<Joined> {
        self.joined
    }

    /// What a join needs of this leg's negotiation.
    pub fn leg_info(&self) -> LegInfo {
        LegInfo::of(self.remote.as_ref())
    }

    /// Becomes a leg of a join (`Some`), or leaves it; the next packet sent starts a
    /// talk spurt (the caller ended the call's own actions first). What the jitter
    /// buffer holds (the last packet times) goes on into the join's mixing path, or is
    /// relayed at once on the straight one ([`Channel::relay_backlog`]).
    pub fn set_joined(&mut self, link: Option<Joined>) {
        self.joined = link;
        self.rx_gap = 0;
        self.sender.start_talkspurt();
    }

    /// The join left the straight path: the jitter buffer holds nothing current.
    pub fn reset_jitter(&mut self) {
        self.jb.reset();
        self.rx_carry.clear();
    }

    fn can_send(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| r.send)
    }

    /// A datagram on this leg (`side` of join `j`, `peer` the other leg).
    #[allow(clippy::too_many_arguments)]
    pub fn on_joined_packet(
        &mut self,
        peer: &mut Channel,
        j: &mut Join,
        side: Side,
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
        if side == Side::B && j.ringback.as_ref().is_some_and(|r| r.until_media) {
            // The dialled call's first RTP: its early media replaces the ring-back, on
            // the straight path at once if nothing else needs the mixing one.
            j.ringback = None;
            if j.update_mode(peer.leg_info(), self.leg_info()) == ModeChange::ToRelay {
                self.relay_backlog(peer, j, side, io, sh);
                peer.relay_backlog(self, j, side.other(), io, sh);
            }
        }
        let h = pkt.header;
        let listener = side.other();
        let hears = j.to[listener.idx()].hears;
        if is_event {
            if !j.relay {
                let _ = self.jb.push(&h, pkt.payload);
            }
            let Ok(ev) = TelephoneEvent::parse(pkt.payload) else {
                return;
            };
            let digit = ev.digit();
            let new = digit.is_some() && self.events.is_new(ev.event, h.timestamp, ev.end);
            let digit = digit.filter(|_| new);
            if !hears {
                // Nobody hears this leg: its digits are the engine's, as when not joined.
                if let Some(d) = digit {
                    self.on_digit(d, DigitSource::Rfc4733, io, sh);
                }
                return;
            }
            if let Some(d) = digit
                && j.finish_key(d)
            {
                join_play_ended(j, Some(d), io);
            }
            match peer.remote.as_ref().and_then(|r| r.dtmf_pt) {
                Some(pt) => {
                    let t = &mut j.to[listener.idx()];
                    let (seq, ts, marker) = if j.relay {
                        let m = t.relay.map(
                            h.ssrc,
                            h.sequence,
                            h.timestamp,
                            peer.sender.next_sequence(),
                            peer.sender.next_timestamp(),
                        );
                        (m.sequence, m.timestamp, h.marker || m.restart)
                    } else {
                        let (ts, first) = t.events.map(h.timestamp, peer.sender.next_timestamp());
                        (peer.sender.next_sequence(), ts, first)
                    };
                    peer.relay_in(data, pt, (seq, ts, marker), 0, pkt.payload.len(), io, sh);
                }
                None => {
                    if let Some(d) = digit {
                        j.to[listener.idx()].generate(d, DtmfMode::Inband);
                    }
                }
            }
            return;
        }
        if !j.relay {
            let _ = self.jb.push(&h, pkt.payload);
            return;
        }
        if hears && h.payload_type != PT_CN {
            let pt = peer.remote.as_ref().map_or(h.payload_type, |r| r.pt);
            let m = j.to[listener.idx()].relay.map(
                h.ssrc,
                h.sequence,
                h.timestamp,
                peer.sender.next_sequence(),
                peer.sender.next_timestamp(),
            );
            let n = pkt.payload.len();
            let marker = h.marker || m.restart;
            peer.relay_in(
                data,
                pt,
                (m.sequence, m.timestamp, marker),
                n as u32,
                n,
                io,
                sh,
            );
        }
    }

    /// The join has just taken the straight path: the audio this leg's jitter buffer
    /// still holds goes to the other leg first, so nothing received is lost at the
    /// switch.
    pub fn relay_backlog(
        &mut self,
        peer: &mut Channel,
        j: &mut Join,
        side: Side,
        io: Io,
        sh: &mut Shared,
    ) {
        let listener = side.other();
        let (Some(own_pt), Some(pt)) = (
            self.remote.as_ref().map(|r| r.pt),
            peer.remote.as_ref().map(|r| r.pt),
        ) else {
            return;
        };
        let ssrc = self.rx_stats.ssrc().unwrap_or(0);
        let mut pkt = [0u8; RTP_HEADER_LEN + super::MAX_SPF];
        for _ in 0..self.jb.capacity() {
            let f = match self.jb.drain_next() {
                Pulled::Empty => break,
                Pulled::Missing { .. } => continue,
                Pulled::Frame(f) => f,
            };
            if f.payload_type != own_pt || !j.to[listener.idx()].hears {
                continue;
            }
            let h = RtpHeader {
                marker: f.marker,
                payload_type: f.payload_type,
                sequence: f.sequence,
                timestamp: f.timestamp,
                ssrc,
            };
            let Ok(n) = h.write_packet(f.payload, &mut pkt) else {
                continue;
            };
            let len = f.payload.len();
            let m = j.to[listener.idx()].relay.map(
                ssrc,
                f.sequence,
                f.timestamp,
                peer.sender.next_sequence(),
                peer.sender.next_timestamp(),
            );
            let marker = f.marker || m.restart;
            peer.relay_in(
                &pkt[..n],
                pt,
                (m.sequence, m.timestamp, marker),
                len as u32,
                len,
                io,
                sh,
            );
        }
        self.jb.reset();
        self.rx_carry.clear();
    }

    /// Sends `data`, an RTP packet of the other leg, on this leg with its fixed header
    /// rewritten into this leg's stream (`pt`, and `(sequence, timestamp, marker)`);
    /// `samples` of audio move the stream's clock.
    #[allow(clippy::too_many_arguments)]
    fn relay_in(
        &mut self,
        data: &[u8],
        pt: u8,
        (seq, ts, marker): (u16, u32, bool),
        samples: u32,
        payload_len: usize,
        io: Io,
        sh: &mut Shared,
    ) {
        let n = data.len();
        let Some(dest) = self.dest() else { return };
        if !self.can_send() || n > sh.pkt.len() {
            return;
        }
        sh.pkt[..n].copy_from_slice(data);
        rewrite(&mut sh.pkt[..n], marker, pt, seq, ts, self.sender.ssrc());
        self.sender.relayed(seq, ts, samples, payload_len);
        self.relayed_audio |= samples > 0;
        self.send(&sh.pkt[..n], dest, io);
    }

    /// A SIP INFO digit on this leg: relayed to the other leg in the form it negotiated,
    /// or reported when nobody hears this leg.
    pub fn joined_digit(
        &mut self,
        peer: &Channel,
        j: &mut Join,
        side: Side,
        digit: char,
        io: Io,
        sh: &mut Shared,
    ) {
        let listener = side.other();
        if !j.to[listener.idx()].hears {
            self.on_digit(digit, DigitSource::Info, io, sh);
            return;
        }
        if j.finish_key(digit) {
            join_play_ended(j, Some(digit), io);
        }
        let mode = match peer.remote.as_ref().and_then(|r| r.dtmf_pt) {
            Some(pt) => DtmfMode::Rfc4733(pt),
            None => DtmfMode::Inband,
        };
        j.to[listener.idx()].generate(digit, mode);
    }

    /// Runs this leg's frames due by `now`.
    pub fn joined_tick(
        &mut self,
        peer: &Channel,
        j: &mut Join,
        side: Side,
        now: Instant,
        io: Io,
        sh: &mut Shared,
    ) {
        let mut n = 0;
        while let Some(at) = self.take_due(now, &mut n) {
            let before = self.stats.packets_out;
            if !j.relay {
                self.leg_says(peer, j, side, io, sh);
            }
            self.leg_hears(j, side, io, sh);
            self.frame_done(at, before, io, sh);
        }
    }

    /// Mixing path, one frame of what this leg said: decoded from the jitter buffer,
    /// for the other leg (gain, join play, in-band digits turned into events) and for
    /// the recording.
    fn leg_says(&mut self, peer: &Channel, j: &mut Join, side: Side, io: Io, sh: &mut Shared) {
        let spf = self.spf();
        let law = self.law();
        let audio_pt = self.remote.as_ref().map(|r| r.pt);
        let len = self
            .rx_carry
            .next(&mut self.jb, audio_pt, spf, &mut sh.rx[..super::MAX_SPF]);
        for (v, &b) in sh.voice[..len].iter_mut().zip(&sh.rx[..len]) {
            *v = law.decode(b);
        }
        sh.voice[len..spf].fill(0);
        self.rx_gap = if len > 0 {
            0
        } else {
            self.rx_gap.saturating_add(1)
        };
        let concealed = len == 0 && self.rx_gap <= INBAND_CONCEALED_GAP;
        j.play_frame = false;
        if side == Side::A
            && let Some(p) = j.play.as_mut()
        {
            match p.next_samples(&mut sh.play[..spf]) {
                PlayFrame::Audio => j.play_frame = true,
                PlayFrame::Waiting => {}
                PlayFrame::Done => {
                    j.play = None;
                    join_play_ended(j, None, io);
                }
            }
        }
        let with_play = j.play_frame;
        let listener = side.other();
        let t = &mut j.to[listener.idx()];
        if t.hears || with_play {
            for i in 0..spf {
                let v = if t.hears {
                    i32::from(gain(sh.voice[i], t.gain))
                } else {
                    0
                };
                let p = if with_play { i32::from(sh.play[i]) } else { 0 };
                sh.heard[i] = (v + p).clamp(-32768, 32767) as i16;
            }
            let mut digits = ['\0'; 4];
            let mut nd = 0;
            match t.inband.as_mut() {
                Some(conv) => {
                    let voice = (!concealed).then_some(&sh.voice[..spf]);
                    conv.pass(voice, &sh.heard[..spf], &mut t.ring, &mut |d| {
                        if nd < digits.len() {
                            digits[nd] = d;
                            nd += 1;
                        }
                    });
                }
                None => t.ring.write(&sh.heard[..spf]),
            }
            if let Some(pt) = peer.remote.as_ref().and_then(|r| r.dtmf_pt) {
                for &d in &digits[..nd] {
                    t.generate(d, DtmfMode::Rfc4733(pt));
                }
            }
            for &d in &digits[..nd] {
                if j.finish_key(d) {
                    join_play_ended(j, Some(d), io);
                }
            }
        }
        if let Some(r) = j.rec.as_mut() {
            match side {
                Side::B => r.b_voice.write(&sh.voice[..spf]),
                Side::A => {
                    let other = &mut sh.heard[..spf];
                    if !r.b_voice.read(other) {
                        other.fill(0);
                    }
                    if r.stereo {
                        r.rec.push_stereo(&sh.rec_q, &sh.voice[..spf], other);
                    } else {
                        for (o, &v) in other.iter_mut().zip(sh.voice.iter()) {
                            *o = (i32::from(*o) + i32::from(v)).clamp(-32768, 32767) as i16;
                        }
                        r.rec.push_linear(&sh.rec_q, other);
                    }
                }
            }
        }
    }

    /// One frame of what this leg hears: DTMF generated towards it first; on the mixing
    /// path otherwise the other leg's frame from the ring (or the ring-back), the join
    /// play mixed in, encoded in this leg's law.
    fn leg_hears(&mut self, j: &mut Join, side: Side, io: Io, sh: &mut Shared) {
        let spf = self.spf();
        let law = self.law();
        let relay = j.relay;
        let t = &mut j.to[side.idx()];
        let mut have = false;
        if let Some(tx) = t.tx.as_mut() {
            match (tx.next_frame(spf as u32, &mut sh.pcm[..]), tx.mode()) {
                (DtmfFrame::Event { event, first }, DtmfMode::Rfc4733(pt)) => {
                    if first {
                        t.tx_ts = self.sender.next_timestamp();
                    }
                    let mut block = [0u8; TelephoneEvent::LEN];
                    let _ = event.write(&mut block);
                    if let Some(dest) = self.dest()
                        && self.can_send()
                        && let Ok(n) =
                            self.sender
                                .write_event(pt, t.tx_ts, first, &block, &mut sh.pkt[..])
                    {
                        self.send(&sh.pkt[..n], dest, io);
                    }
                    if !relay {
                        // The event takes this packet time of the audio.
                        let _ = t.ring.read(&mut sh.heard[..spf]);
                    }
                    self.sender.skip_frames(1);
                    self.sender.start_talkspurt();
                    return;
                }
                (DtmfFrame::Tone, _) => have = true,
                _ => {}
            }
        }
        if relay {
            // The relayed packets carry the clock; keep it moving through silences.
            if !std::mem::take(&mut self.relayed_audio) {
                self.sender.skip_frames(1);
            }
            return;
        }
        if have {
            // The tone replaces what the other leg says meanwhile.
            let _ = t.ring.read(&mut sh.heard[..spf]);
        } else if let (Side::A, Some(rb)) = (side, j.ringback.as_mut()) {
            let _ = t.ring.read(&mut sh.heard[..spf]);
            have = rb.play.next_samples(&mut sh.pcm[..spf]) == PlayFrame::Audio;
        } else {
            have = t.ring.read(&mut sh.pcm[..spf]);
            if !have {
                sh.pcm[..spf].fill(0);
            }
        }
        if side == Side::A && j.play_frame {
            if !have {
                sh.pcm[..spf].fill(0);
            }
            for (o, &p) in sh.pcm[..spf].iter_mut().zip(sh.play.iter()) {
                *o = (i32::from(*o) + i32::from(p)).clamp(-32768, 32767) as i16;
            }
            have = true;
        }
        match (have, self.dest(), self.can_send()) {
            (true, Some(dest), true) => {
                for i in 0..spf {
                    sh.pkt[RTP_HEADER_LEN + i] = law.encode(sh.pcm[i]);
                }
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
}

/// The join play ended (to its end, or by a finish key).
fn join_play_ended(j: &Join, finish_key: Option<char>, io: Io) {
    io.emit(WorkerEvent::Public(MediaEvent::PlayCompleted {
        call: j.a,
        error: None,
        finish_key,
    }));
}
