//! The send half of a channel: one packet time of outgoing media on the call's own 20 ms
//! grid (DTMF first, else the record beep, else the play; nothing sent, the clock still
//! advancing, when there is nothing to say).

use std::net::SocketAddr;

use super::{Channel, Io, Shared};
use crate::media::dtmf_tx::{DtmfFrame, DtmfMode};
use crate::media::play::PlayFrame;
use crate::rtp::{RTP_HEADER_LEN, TelephoneEvent};

impl Channel {
    /// One packet time of sending: DTMF, else the record beep, else the play.
    pub(super) fn send_frame(&mut self, io: Io, sh: &mut Shared) {
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

    pub(super) fn send(&mut self, pkt: &[u8], dest: SocketAddr, io: Io) {
        if io.send_to(self.rtp, pkt, dest).is_ok() {
            self.stats.packets_out += 1;
            self.stats.bytes_out += pkt.len() as u64;
        }
    }
}
