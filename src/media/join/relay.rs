//! The straight relay path of a join: a packet received on one leg goes out on the other
//! as it arrives, its payload untouched and its fixed header rewritten into the other
//! leg's own outgoing stream (RFC 3550 continuity): that leg's SSRC, its payload type,
//! sequence numbers continuing that leg's sequence (gaps and reordering of the incoming
//! stream kept, so the far end still sees losses), timestamps offset once so they
//! continue that leg's clock. Packets the other leg sends meanwhile on its own (DTMF
//! events) take sequence numbers in between without a collision.

/// How one direction maps incoming sequence numbers and timestamps into the other leg's
/// stream.
#[derive(Debug, Clone, Default)]
pub struct RelayMap {
    synced: bool,
    in_ssrc: u32,
    last_in_seq: u16,
    last_out_seq: u16,
    ts_off: u32,
}

/// Where a relayed packet goes in the outgoing stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapped {
    pub sequence: u16,
    pub timestamp: u32,
    /// The mapping (re)started here: mark a new talk spurt.
    pub restart: bool,
}

impl RelayMap {
    /// Forget the mapping: the next packet starts it again (the relay resumes after the
    /// join ran its mixing path, or the source changed).
    pub fn reset(&mut self) {
        self.synced = false;
    }

    /// Maps an incoming (`ssrc`, `seq`, `ts`) given the outgoing stream's next sequence
    /// number and timestamp.
    pub fn map(&mut self, ssrc: u32, seq: u16, ts: u32, next_seq: u16, next_ts: u32) -> Mapped {
        if !self.synced || ssrc != self.in_ssrc {
            self.synced = true;
            self.in_ssrc = ssrc;
            self.ts_off = next_ts.wrapping_sub(ts);
            self.last_in_seq = seq;
            self.last_out_seq = next_seq;
            return Mapped {
                sequence: next_seq,
                timestamp: next_ts,
                restart: true,
            };
        }
        let d = seq.wrapping_sub(self.last_in_seq) as i16;
        let sequence = if d > 0 {
            // Newer: continue after whatever the stream sent last, keeping the gap.
            let out = next_seq.wrapping_sub(1).wrapping_add(d as u16);
            self.last_in_seq = seq;
            self.last_out_seq = out;
            out
        } else {
            self.last_out_seq.wrapping_add(d as u16)
        };
        Mapped {
            sequence,
            timestamp: ts.wrapping_add(self.ts_off),
            restart: false,
        }
    }
}

/// Rewrites the fixed header of the RTP packet in `pkt` in place (version, padding,
/// extension, CSRC count, CSRCs and extension stay as they were).
pub fn rewrite(pkt: &mut [u8], marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) {
    pkt[1] = (u8::from(marker) << 7) | (pt & 0x7F);
    pkt[2..4].copy_from_slice(&seq.to_be_bytes());
    pkt[4..8].copy_from_slice(&ts.to_be_bytes());
    pkt[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{RtpHeader, RtpPacket};

    #[test]
    fn continues_the_outgoing_stream_keeping_gaps_and_order() {
        let mut m = RelayMap::default();
        let first = m.map(7, 1000, 50_000, 300, 9_000);
        assert_eq!(
            first,
            Mapped {
                sequence: 300,
                timestamp: 9_000,
                restart: true
            }
        );
        // The sender accounted for it: its next is 301 / 9_160.
        let m2 = m.map(7, 1001, 50_160, 301, 9_160);
        assert_eq!((m2.sequence, m2.timestamp, m2.restart), (301, 9_160, false));
        // 1002 lost upstream: the gap stays.
        let m4 = m.map(7, 1003, 50_480, 302, 9_320);
        assert_eq!((m4.sequence, m4.timestamp), (303, 9_480));
        // 1002 arrives late: it takes the hole.
        let m3 = m.map(7, 1002, 50_320, 304, 9_640);
        assert_eq!((m3.sequence, m3.timestamp), (302, 9_320));
        // The leg sent an event of its own (304): the next packet goes after it.
        let m5 = m.map(7, 1004, 50_640, 305, 9_640);
        assert_eq!(m5.sequence, 305);
        // Wrapping both counters.
        let mut w = RelayMap::default();
        w.map(1, 65535, u32::MAX, 65535, u32::MAX - 159);
        let n = w.map(1, 0, 159, 0, 0);
        assert_eq!((n.sequence, n.timestamp), (0, 0));
        // A new source restarts the mapping.
        let r = w.map(2, 5, 5, 1, 160);
        assert!(r.restart);
        assert_eq!((r.sequence, r.timestamp), (1, 160));
    }

    #[test]
    fn rewrite_keeps_the_rest_of_the_packet() {
        let h = RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: 1,
            timestamp: 2,
            ssrc: 3,
        };
        let mut buf = [0u8; 64];
        let n = h.write_packet(&[9, 8, 7], &mut buf).expect("fits");
        rewrite(&mut buf[..n], true, 8, 500, 600, 700);
        let p = RtpPacket::parse(&buf[..n]).expect("valid");
        assert_eq!(
            p.header,
            RtpHeader {
                marker: true,
                payload_type: 8,
                sequence: 500,
                timestamp: 600,
                ssrc: 700
            }
        );
        assert_eq!(p.payload, &[9, 8, 7]);
    }
}
