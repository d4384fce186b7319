//! Received audio cut into frames of exactly one packet time, whatever packetisation
//! the far end really sends. The SDP's `ptime` sets our grid, but peers send what they
//! send (SIPp plays 30 ms captures into calls that offered 20 ms; some trunks send
//! 10 ms): taking one jitter-buffer packet per tick would drop the tail of a longer
//! packet and play shorter ones slow. [`Assembler`] keeps what a packet held beyond
//! this frame and pulls further packets while the frame is short. Bytes are G.711
//! samples (one byte each).

use crate::rtp::{JitterBuffer, Pulled};

use super::MAX_SPF;

/// Most packets pulled for one frame (10 ms packets into a 60 ms frame is 6).
const MAX_PULLS: usize = 8;

/// The carried tail of the last packet pulled.
pub(super) struct Assembler {
    carry: [u8; MAX_SPF],
    len: usize,
}

impl Assembler {
    pub(super) fn new() -> Assembler {
        Assembler {
            carry: [0; MAX_SPF],
            len: 0,
        }
    }

    /// Forgets the carried samples (a new stream, a reset buffer).
    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// Fills `out[..spf]` with the next frame of audio of payload type `audio_pt`: the
    /// carried samples first, then packets pulled from `jb` while the frame is short.
    /// Returns how many samples are real audio; the caller treats the rest as silence
    /// (an underrun, a lost packet, or a telephone-event or CN packet, which each stand
    /// for a packet time without audio).
    pub(super) fn next(
        &mut self,
        jb: &mut JitterBuffer,
        audio_pt: Option<u8>,
        spf: usize,
        out: &mut [u8],
    ) -> usize {
        let spf = spf.min(out.len());
        let mut n = self.len.min(spf);
        out[..n].copy_from_slice(&self.carry[..n]);
        self.carry.copy_within(n..self.len, 0);
        self.len -= n;
        for _ in 0..MAX_PULLS {
            if n >= spf {
                break;
            }
            let Pulled::Frame(f) = jb.pull() else { break };
            if Some(f.payload_type) != audio_pt {
                break;
            }
            let p = &f.payload[..f.payload.len().min(MAX_SPF)];
            let k = (spf - n).min(p.len());
            out[n..n + k].copy_from_slice(&p[..k]);
            n += k;
            let rest = &p[k..];
            let keep = rest.len().min(MAX_SPF - self.len);
            self.carry[self.len..self.len + keep].copy_from_slice(&rest[..keep]);
            self.len += keep;
        }
        n
    }

    /// Takes what is carried (for a recording that ends now); returns its length.
    pub(super) fn drain(&mut self, out: &mut [u8]) -> usize {
        let n = self.len.min(out.len());
        out[..n].copy_from_slice(&self.carry[..n]);
        self.len = 0;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpHeader;

    fn push(jb: &mut JitterBuffer, seq: u16, pt: u8, payload: &[u8]) {
        let h = RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: u32::from(seq) * 240,
            ssrc: 1,
        };
        jb.push(&h, payload);
    }

    /// Packets of `len` bytes numbered from 1, each byte its packet's number.
    fn stream(jb: &mut JitterBuffer, packets: u16, len: usize) -> Vec<u8> {
        let mut all = Vec::new();
        for s in 1..=packets {
            let p = vec![s as u8; len];
            push(jb, s, 0, &p);
            all.extend_from_slice(&p);
        }
        all
    }

    fn frames(a: &mut Assembler, jb: &mut JitterBuffer, spf: usize, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut out = [0u8; MAX_SPF];
        for _ in 0..n {
            let k = a.next(jb, Some(0), spf, &mut out);
            got.extend_from_slice(&out[..k]);
        }
        got
    }

    #[test]
    fn longer_packets_are_cut_into_frames_without_losing_a_sample() {
        let mut jb = JitterBuffer::new(16, MAX_SPF, 0);
        let mut a = Assembler::new();
        let sent = stream(&mut jb, 8, 240);
        // 8 packets of 30 ms make 12 frames of 20 ms.
        assert_eq!(frames(&mut a, &mut jb, 160, 12), sent);
    }

    #[test]
    fn shorter_packets_are_joined_into_one_frame() {
        let mut jb = JitterBuffer::new(16, MAX_SPF, 0);
        let mut a = Assembler::new();
        let sent = stream(&mut jb, 8, 80);
        assert_eq!(frames(&mut a, &mut jb, 160, 4), sent);
    }

    #[test]
    fn an_event_packet_is_a_frame_without_audio() {
        let mut jb = JitterBuffer::new(16, MAX_SPF, 0);
        let mut a = Assembler::new();
        push(&mut jb, 1, 0, &[1; 160]);
        push(&mut jb, 2, 101, &[0; 4]);
        push(&mut jb, 3, 0, &[3; 160]);
        let mut out = [0u8; MAX_SPF];
        assert_eq!(a.next(&mut jb, Some(0), 160, &mut out), 160);
        assert_eq!(
            a.next(&mut jb, Some(0), 160, &mut out),
            0,
            "the event's time"
        );
        assert_eq!(a.next(&mut jb, Some(0), 160, &mut out), 160);
        assert_eq!(out[0], 3);
        assert_eq!(a.next(&mut jb, Some(0), 160, &mut out), 0, "underrun");
    }

    #[test]
    fn what_is_carried_drains_once() {
        let mut jb = JitterBuffer::new(16, MAX_SPF, 0);
        let mut a = Assembler::new();
        stream(&mut jb, 1, 240);
        let mut out = [0u8; MAX_SPF];
        assert_eq!(a.next(&mut jb, Some(0), 160, &mut out), 160);
        assert_eq!(a.drain(&mut out), 80);
        assert_eq!(a.drain(&mut out), 0);
    }
}
