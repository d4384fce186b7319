//! Sending-side RTP state for one stream: SSRC, sequence number and timestamp
//! (all starting at random values, RFC 3550 §5.1), the marker bit on talk-spurt
//! starts (RFC 3551 §4.1), and the packet/octet counts for sender reports.

use rand::Rng;

use super::error::RtpError;
use super::header::{RTP_HEADER_LEN, RtpHeader};
use super::rtcp::SenderInfo;

/// Per-stream RTP sender state.
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    payload_type: u8,
    samples_per_frame: u32,
    marker_pending: bool,
    last_timestamp: u32,
    packets_sent: u32,
    octets_sent: u32,
}

impl RtpSender {
    /// A sender with random SSRC, initial sequence number and timestamp drawn from
    /// `rng` (RFC 3550 §5.1), sending `payload_type` frames of `samples_per_frame`
    /// samples (160 for 20 ms G.711).
    pub fn from_rng<R: Rng + ?Sized>(
        rng: &mut R,
        payload_type: u8,
        samples_per_frame: u32,
    ) -> Self {
        Self::with_state(
            rng.random(),
            rng.random(),
            rng.random(),
            payload_type,
            samples_per_frame,
        )
    }

    /// A sender with explicit initial values (tests, or continuing a stream).
    pub fn with_state(
        ssrc: u32,
        sequence: u16,
        timestamp: u32,
        payload_type: u8,
        samples_per_frame: u32,
    ) -> Self {
        Self {
            ssrc,
            sequence,
            timestamp,
            payload_type: payload_type & 0x7F,
            samples_per_frame,
            marker_pending: true,
            last_timestamp: timestamp,
            packets_sent: 0,
            octets_sent: 0,
        }
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.sequence
    }

    /// Timestamp the next audio frame will carry.
    pub fn next_timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Audio payload type.
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// Changes the audio payload type (after a re-negotiation).
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.payload_type = payload_type & 0x7F;
    }

    /// Samples per audio frame.
    pub fn samples_per_frame(&self) -> u32 {
        self.samples_per_frame
    }

    /// Changes the frame size (after a ptime change).
    pub fn set_samples_per_frame(&mut self, samples: u32) {
        self.samples_per_frame = samples;
    }

    /// Sets the marker on the next audio frame (a talk spurt starts, e.g. after
    /// silence suppression). The first frame of the stream always carries it.
    pub fn start_talkspurt(&mut self) {
        self.marker_pending = true;
    }

    /// Advances the media clock by `frames` unsent frames (silence, hold, or the
    /// packet times taken by telephone events) without using sequence numbers.
    pub fn skip_frames(&mut self, frames: u32) {
        self.timestamp = self
            .timestamp
            .wrapping_add(frames.wrapping_mul(self.samples_per_frame));
    }

    fn take_header(
        &mut self,
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        payload_len: usize,
    ) -> RtpHeader {
        let header = RtpHeader {
            marker,
            payload_type,
            sequence: self.sequence,
            timestamp,
            ssrc: self.ssrc,
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.last_timestamp = timestamp;
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.octets_sent = self.octets_sent.wrapping_add(payload_len as u32);
        header
    }

    /// Writes the 12-byte header of the next audio frame into `buf` and advances
    /// the state; the caller encodes `payload_len` bytes in place at `buf[12..]`.
    /// Fails without changing state if `buf` cannot hold header and payload.
    pub fn write_frame_header(
        &mut self,
        payload_len: usize,
        buf: &mut [u8],
    ) -> Result<usize, RtpError> {
        if buf.len() < RTP_HEADER_LEN + payload_len {
            return Err(RtpError::BufferTooSmall);
        }
        let header = self.take_header(
            self.payload_type,
            self.timestamp,
            self.marker_pending,
            payload_len,
        );
        self.marker_pending = false;
        self.timestamp = self.timestamp.wrapping_add(self.samples_per_frame);
        header.write(buf)
    }

    /// Writes the next audio frame (header + payload); returns the packet length.
    pub fn write_frame(&mut self, payload: &[u8], buf: &mut [u8]) -> Result<usize, RtpError> {
        let n = self.write_frame_header(payload.len(), buf)?;
        buf[n..n + payload.len()].copy_from_slice(payload);
        Ok(n + payload.len())
    }

    /// Writes a packet with its own payload type and timestamp in this stream's
    /// sequence space (RFC 4733 events: every packet of an event carries the
    /// event's start timestamp, the first one the marker). The audio clock is not
    /// advanced: call `skip_frames` for the packet times the event replaced.
    pub fn write_event(
        &mut self,
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, RtpError> {
        if buf.len() < RTP_HEADER_LEN + payload.len() {
            return Err(RtpError::BufferTooSmall);
        }
        let header = self.take_header(payload_type & 0x7F, timestamp, marker, payload.len());
        header.write_packet(payload, buf)
    }

    /// Accounts for a packet a relay wrote into this stream (this SSRC, `sequence` and
    /// `timestamp` of its choosing, e.g. a forwarded packet with its header rewritten):
    /// the next packet follows the newest sequence number written, and after a newest
    /// audio packet (`samples` > 0) the audio clock continues `samples` after
    /// `timestamp`; an older (reordered) packet moves neither. Counts it for SRs.
    pub fn relayed(&mut self, sequence: u16, timestamp: u32, samples: u32, payload_len: usize) {
        if sequence.wrapping_sub(self.sequence) as i16 >= 0 {
            self.sequence = sequence.wrapping_add(1);
            self.last_timestamp = timestamp;
            if samples > 0 {
                self.timestamp = timestamp.wrapping_add(samples);
                self.marker_pending = false;
            }
        }
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.octets_sent = self.octets_sent.wrapping_add(payload_len as u32);
    }

    /// Packets sent so far (wrapping, as in an SR).
    pub fn packets_sent(&self) -> u32 {
        self.packets_sent
    }

    /// Payload octets sent so far (wrapping, as in an SR).
    pub fn octets_sent(&self) -> u32 {
        self.octets_sent
    }

    /// Sender information for an SR taken at NTP time `ntp_timestamp`, paired with
    /// the timestamp of the last packet sent (send SRs right after a frame).
    pub fn sender_info(&self, ntp_timestamp: u64) -> SenderInfo {
        SenderInfo {
            ntp_timestamp,
            rtp_timestamp: self.last_timestamp,
            packet_count: self.packets_sent,
            octet_count: self.octets_sent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::header::RtpPacket;
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn parse(buf: &[u8]) -> RtpPacket<'_> {
        RtpPacket::parse(buf).expect("sender output parses")
    }

    #[test]
    fn frames_advance_sequence_and_timestamp_with_marker_first() {
        let mut s = RtpSender::with_state(0xCAFE, 65535, u32::MAX - 100, 0, 160);
        let mut buf = [0u8; 200];
        let payload = [0xFFu8; 160];
        let n = s.write_frame(&payload, &mut buf).expect("fits");
        assert_eq!(n, 172);
        let p = parse(&buf[..n]);
        assert_eq!(
            (p.header.sequence, p.header.timestamp),
            (65535, u32::MAX - 100)
        );
        assert!(p.header.marker);
        assert_eq!(p.header.ssrc, 0xCAFE);
        assert_eq!(p.payload, &payload);

        let n = s.write_frame(&payload, &mut buf).expect("fits");
        let p = parse(&buf[..n]);
        assert_eq!(
            (p.header.sequence, p.header.timestamp),
            (0, 59),
            "both wrap"
        );
        assert!(!p.header.marker);
        assert_eq!((s.packets_sent(), s.octets_sent()), (2, 320));
    }

    #[test]
    fn talkspurt_and_skipped_frames() {
        let mut s = RtpSender::with_state(1, 10, 1000, 8, 160);
        let mut buf = [0u8; 200];
        s.write_frame(&[0xD5; 160], &mut buf).expect("fits");
        s.skip_frames(5);
        s.start_talkspurt();
        let n = s.write_frame(&[0xD5; 160], &mut buf).expect("fits");
        let p = parse(&buf[..n]);
        assert_eq!(
            p.header.sequence, 11,
            "skipped frames use no sequence numbers"
        );
        assert_eq!(p.header.timestamp, 1000 + 6 * 160);
        assert!(p.header.marker);
        assert_eq!(p.header.payload_type, 8);
    }

    #[test]
    fn in_place_encoding_and_events() {
        let mut s = RtpSender::with_state(1, 0, 0, 0, 160);
        let mut buf = [0u8; 200];
        assert_eq!(
            s.write_frame_header(189, &mut buf),
            Err(RtpError::BufferTooSmall)
        );
        assert_eq!(s.next_sequence(), 0, "failed write changes nothing");
        let n = s.write_frame_header(160, &mut buf).expect("fits");
        buf[n..n + 160].fill(0x7F);
        assert_eq!(parse(&buf[..n + 160]).payload, &[0x7F; 160]);

        let event_ts = s.next_timestamp();
        for (i, marker) in [true, false, false].into_iter().enumerate() {
            let len = s
                .write_event(
                    101,
                    event_ts,
                    marker,
                    &[1, 0x0A, 0, (80 * i) as u8],
                    &mut buf,
                )
                .expect("fits");
            let p = parse(&buf[..len]);
            assert_eq!(p.header.payload_type, 101);
            assert_eq!(p.header.timestamp, event_ts);
            assert_eq!(p.header.marker, marker);
            assert_eq!(p.header.sequence, 1 + i as u16);
        }
        assert_eq!(
            s.next_timestamp(),
            event_ts,
            "events do not move the audio clock"
        );
        let info = s.sender_info(42);
        assert_eq!(
            (info.packet_count, info.octet_count, info.rtp_timestamp),
            (4, 172, event_ts)
        );
    }

    #[test]
    fn relayed_packets_continue_the_stream() {
        let mut s = RtpSender::with_state(9, 100, 5000, 0, 160);
        let mut buf = [0u8; 200];
        s.write_frame(&[0xFF; 160], &mut buf).expect("fits");
        // A relay forwards three packets (one of them lost upstream: 102 is skipped).
        s.relayed(101, 5160, 160, 160);
        s.relayed(103, 5480, 160, 160);
        assert_eq!((s.next_sequence(), s.next_timestamp()), (104, 5640));
        // A reordered one moves nothing; an event keeps the audio clock.
        s.relayed(102, 5320, 160, 160);
        assert_eq!((s.next_sequence(), s.next_timestamp()), (104, 5640));
        s.relayed(104, 5640, 0, 4);
        assert_eq!((s.next_sequence(), s.next_timestamp()), (105, 5640));
        let n = s.write_frame(&[0xFF; 160], &mut buf).expect("fits");
        let p = parse(&buf[..n]);
        assert_eq!((p.header.sequence, p.header.timestamp), (105, 5640));
        assert!(!p.header.marker, "the stream goes on, no new talk spurt");
        assert_eq!(s.packets_sent(), 6);
        assert_eq!(s.sender_info(0).rtp_timestamp, 5640);
    }

    #[test]
    fn random_start_values_differ_between_senders() {
        let mut rng = StdRng::seed_from_u64(7);
        let a = RtpSender::from_rng(&mut rng, 0, 160);
        let b = RtpSender::from_rng(&mut rng, 0, 160);
        assert_ne!(
            (a.ssrc(), a.next_sequence(), a.next_timestamp()),
            (b.ssrc(), b.next_sequence(), b.next_timestamp())
        );
        let mut again = StdRng::seed_from_u64(7);
        let c = RtpSender::from_rng(&mut again, 0, 160);
        assert_eq!(c.ssrc(), a.ssrc(), "the seed decides");
    }
}
