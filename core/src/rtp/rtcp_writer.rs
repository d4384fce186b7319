//! Building compound RTCP packets (SR, RR, SDES, BYE) into a caller-provided
//! buffer, one packet appended per call, no allocation.

use super::error::RtpError;
use super::rtcp::{RTCP_BYE, RTCP_RR, RTCP_SDES, RTCP_SR, ReportBlock, SdesItem, SenderInfo};

/// Appends RTCP packets to a buffer; `len()` is the compound length so far.
/// A failed append leaves the buffer's earlier packets intact.
#[derive(Debug)]
pub struct RtcpWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> RtcpWriter<'b> {
    /// Starts an empty compound packet in `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reserves `body_len` bytes (a multiple of 4) after a common header and
    /// returns the body slice to fill.
    fn packet(
        &mut self,
        count: u8,
        packet_type: u8,
        body_len: usize,
    ) -> Result<&mut [u8], RtpError> {
        debug_assert!(body_len.is_multiple_of(4));
        let total = 4 + body_len;
        let words = total / 4 - 1;
        if count > 31 || words > u16::MAX as usize {
            return Err(RtpError::Invalid("RTCP count or length"));
        }
        let out = self
            .buf
            .get_mut(self.len..self.len + total)
            .ok_or(RtpError::BufferTooSmall)?;
        out[0] = 0x80 | count;
        out[1] = packet_type;
        out[2..4].copy_from_slice(&(words as u16).to_be_bytes());
        self.len += total;
        Ok(&mut out[4..])
    }

    /// Appends a sender report with up to 31 report blocks.
    pub fn sender_report(
        &mut self,
        ssrc: u32,
        sender: &SenderInfo,
        reports: &[ReportBlock],
    ) -> Result<(), RtpError> {
        let count = u8::try_from(reports.len()).map_err(|_| RtpError::Invalid("report count"))?;
        let body = self.packet(count, RTCP_SR, 24 + reports.len() * 24)?;
        body[0..4].copy_from_slice(&ssrc.to_be_bytes());
        sender.write(&mut body[4..24]);
        for (block, out) in reports.iter().zip(body[24..].chunks_exact_mut(24)) {
            block.write(out);
        }
        Ok(())
    }

    /// Appends a receiver report with up to 31 report blocks.
    pub fn receiver_report(&mut self, ssrc: u32, reports: &[ReportBlock]) -> Result<(), RtpError> {
        let count = u8::try_from(reports.len()).map_err(|_| RtpError::Invalid("report count"))?;
        let body = self.packet(count, RTCP_RR, 4 + reports.len() * 24)?;
        body[0..4].copy_from_slice(&ssrc.to_be_bytes());
        for (block, out) in reports.iter().zip(body[4..].chunks_exact_mut(24)) {
            block.write(out);
        }
        Ok(())
    }

    /// Appends an SDES packet with one chunk per `(ssrc, items)`; item texts must
    /// be at most 255 bytes and item types non-zero.
    pub fn source_description(
        &mut self,
        chunks: &[(u32, &[SdesItem<'_>])],
    ) -> Result<(), RtpError> {
        let count =
            u8::try_from(chunks.len()).map_err(|_| RtpError::Invalid("SDES chunk count"))?;
        let mut body_len = 0;
        for (_, items) in chunks {
            let mut chunk_len = 4 + 1; // SSRC + terminating null
            for item in *items {
                if item.kind == 0 || item.text.len() > 255 {
                    return Err(RtpError::Invalid("SDES item"));
                }
                chunk_len += 2 + item.text.len();
            }
            body_len += chunk_len.div_ceil(4) * 4;
        }
        let body = self.packet(count, RTCP_SDES, body_len)?;
        body.fill(0);
        let mut pos = 0;
        for (ssrc, items) in chunks {
            let start = pos;
            body[pos..pos + 4].copy_from_slice(&ssrc.to_be_bytes());
            pos += 4;
            for item in *items {
                body[pos] = item.kind;
                body[pos + 1] = item.text.len() as u8;
                body[pos + 2..pos + 2 + item.text.len()].copy_from_slice(item.text);
                pos += 2 + item.text.len();
            }
            pos = start + (pos - start + 1).div_ceil(4) * 4;
        }
        Ok(())
    }

    /// Appends an SDES packet carrying just the CNAME of `ssrc`.
    pub fn cname(&mut self, ssrc: u32, cname: &[u8]) -> Result<(), RtpError> {
        let items = [SdesItem {
            kind: super::rtcp::SDES_CNAME,
            text: cname,
        }];
        self.source_description(&[(ssrc, &items)])
    }

    /// Appends a BYE for up to 31 sources with an optional reason (≤ 255 bytes).
    pub fn bye(&mut self, sources: &[u32], reason: Option<&[u8]>) -> Result<(), RtpError> {
        let count = u8::try_from(sources.len()).map_err(|_| RtpError::Invalid("BYE count"))?;
        if reason.is_some_and(|r| r.len() > 255) {
            return Err(RtpError::Invalid("BYE reason"));
        }
        let reason_len = reason.map_or(0, |r| (1 + r.len()).div_ceil(4) * 4);
        let body = self.packet(count, RTCP_BYE, sources.len() * 4 + reason_len)?;
        for (ssrc, out) in sources.iter().zip(body.chunks_exact_mut(4)) {
            out.copy_from_slice(&ssrc.to_be_bytes());
        }
        if let Some(reason) = reason {
            let out = &mut body[sources.len() * 4..];
            out.fill(0);
            out[0] = reason.len() as u8;
            out[1..1 + reason.len()].copy_from_slice(reason);
        }
        Ok(())
    }

    /// Finishes the compound packet; returns its length.
    pub fn finish(self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::super::rtcp::{RtcpPacket, SDES_CNAME, parse_rtcp, validate_compound};
    use super::*;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 25,
            cumulative_lost: lost,
            extended_highest_seq: 0x0001_0005,
            jitter: 37,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn compound_sr_sdes_bye_round_trips() {
        let sender = SenderInfo {
            ntp_timestamp: 0xE8A1_0000_8000_0000,
            rtp_timestamp: 160_000,
            packet_count: 1000,
            octet_count: 160_000,
        };
        let mut buf = [0u8; 256];
        let mut w = RtcpWriter::new(&mut buf);
        w.sender_report(
            0xAAAA_0001,
            &sender,
            &[block(0xBBBB_0002, -3), block(7, 0x7F_FFFF)],
        )
        .expect("fits");
        w.cname(0xAAAA_0001, b"mediagw@192.0.2.10").expect("fits");
        w.bye(&[0xAAAA_0001], Some(b"hangup")).expect("fits");
        let len = w.finish();
        assert_eq!(len % 4, 0);
        let data = &buf[..len];
        validate_compound(data).expect("valid compound");

        let packets: Vec<_> = parse_rtcp(data).collect::<Result<_, _>>().expect("parses");
        assert_eq!(packets.len(), 3);
        match packets[0] {
            RtcpPacket::SenderReport {
                ssrc,
                sender: s,
                reports,
            } => {
                assert_eq!(ssrc, 0xAAAA_0001);
                assert_eq!(s, sender);
                let blocks: Vec<_> = reports.collect();
                assert_eq!(blocks, vec![block(0xBBBB_0002, -3), block(7, 0x7F_FFFF)]);
            }
            other => panic!("expected SR, got {other:?}"),
        }
        match packets[1] {
            RtcpPacket::SourceDescription(chunks) => {
                assert_eq!(chunks.cname(), Some(&b"mediagw@192.0.2.10"[..]));
                let chunk = chunks.into_iter().next().expect("one chunk");
                assert_eq!(chunk.ssrc, 0xAAAA_0001);
                assert_eq!(chunk.items.count(), 1);
            }
            other => panic!("expected SDES, got {other:?}"),
        }
        match packets[2] {
            RtcpPacket::Bye { sources, reason } => {
                assert_eq!(sources.collect::<Vec<_>>(), vec![0xAAAA_0001]);
                assert_eq!(reason, Some(&b"hangup"[..]));
            }
            other => panic!("expected BYE, got {other:?}"),
        }
    }

    #[test]
    fn receiver_report_and_loss_clamping() {
        let mut buf = [0u8; 64];
        let mut w = RtcpWriter::new(&mut buf);
        w.receiver_report(5, &[block(6, -10_000_000)])
            .expect("fits");
        let len = w.finish();
        assert_eq!(len, 32);
        match parse_rtcp(&buf[..len]).next() {
            Some(Ok(RtcpPacket::ReceiverReport { ssrc, mut reports })) => {
                assert_eq!(ssrc, 5);
                assert_eq!(reports.next().map(|b| b.cumulative_lost), Some(-0x80_0000));
            }
            other => panic!("expected RR, got {other:?}"),
        }
    }

    #[test]
    fn sdes_padding_is_to_word_boundary() {
        for name_len in 0..12 {
            let name = vec![b'x'; name_len];
            let mut buf = [0u8; 64];
            let mut w = RtcpWriter::new(&mut buf);
            let items = [
                SdesItem {
                    kind: SDES_CNAME,
                    text: &name,
                },
                SdesItem {
                    kind: 6,
                    text: b"mediagw",
                },
            ];
            w.source_description(&[(1, &items), (2, &items[..1])])
                .expect("fits");
            let len = w.finish();
            let mut packets = parse_rtcp(&buf[..len]);
            let Some(Ok(RtcpPacket::SourceDescription(chunks))) = packets.next() else {
                panic!("SDES expected for name length {name_len}");
            };
            let collected: Vec<_> = chunks.map(|c| (c.ssrc, c.items.count())).collect();
            assert_eq!(collected, vec![(1, 2), (2, 1)]);
            assert!(packets.next().is_none());
        }
    }

    #[test]
    fn reports_buffer_too_small_and_keeps_earlier_packets() {
        let mut buf = [0u8; 40];
        let mut w = RtcpWriter::new(&mut buf);
        w.receiver_report(1, &[]).expect("fits");
        assert_eq!(
            w.receiver_report(1, &[block(2, 0), block(3, 0)]),
            Err(RtpError::BufferTooSmall)
        );
        assert_eq!(w.len(), 8);
        assert_eq!(
            w.bye(&[1], Some(&[b'x'; 300])),
            Err(RtpError::Invalid("BYE reason"))
        );
        let too_many = [block(1, 0); 32];
        assert_eq!(
            w.receiver_report(1, &too_many),
            Err(RtpError::Invalid("RTCP count or length"))
        );
        let empty_kind = [SdesItem { kind: 0, text: b"" }];
        assert_eq!(
            w.source_description(&[(1, &empty_kind)]),
            Err(RtpError::Invalid("SDES item"))
        );
    }

    #[test]
    fn parser_rejects_bad_compounds() {
        let mut buf = [0u8; 64];
        let mut w = RtcpWriter::new(&mut buf);
        w.receiver_report(1, &[block(2, 0)]).expect("fits");
        w.bye(&[1], None).expect("fits");
        let len = w.finish();
        let good = buf[..len].to_vec();
        validate_compound(&good).expect("valid");

        // BYE first is not a valid compound.
        assert_eq!(
            validate_compound(&good[32..]),
            Err(RtpError::Invalid("first packet type"))
        );
        // Truncated: length field beyond the datagram.
        assert_eq!(
            validate_compound(&good[..len - 1]),
            Err(RtpError::BadLength)
        );
        let mut truncated = parse_rtcp(&good[..len - 1]);
        assert!(matches!(
            truncated.next(),
            Some(Ok(RtcpPacket::ReceiverReport { .. }))
        ));
        assert_eq!(truncated.next(), Some(Err(RtpError::BadLength)));
        assert_eq!(truncated.next(), None);
        // Wrong version.
        let mut v1 = good.clone();
        v1[0] = 0x41;
        assert_eq!(validate_compound(&v1), Err(RtpError::BadVersion(1)));
        // Report count larger than the packet.
        let mut rc = good.clone();
        rc[0] = 0x82;
        assert_eq!(
            parse_rtcp(&rc).next(),
            Some(Err(RtpError::Invalid("report count")))
        );
        // Padding on the first of two packets.
        let mut pad = good.clone();
        pad[0] |= 0x20;
        pad[31] = 4;
        assert_eq!(validate_compound(&pad), Err(RtpError::BadPadding));
        assert_eq!(validate_compound(&[]), Err(RtpError::TooShort));
    }

    #[test]
    fn parses_a_captured_asterisk_style_compound() {
        // SR with one report block followed by SDES CNAME, typed from a capture.
        let data: [u8; 72] = [
            0x81, 0xC8, 0x00, 0x0C, 0x6B, 0x8B, 0x45, 0x67, // SR, RC=1, len 12, SSRC
            0xE8, 0x9F, 0x1B, 0x2C, 0x40, 0x00, 0x00, 0x00, // NTP
            0x00, 0x01, 0xF4, 0x00, 0x00, 0x00, 0x01, 0xF4, // RTP ts 128000, 500 packets
            0x00, 0x01, 0x38, 0x80, // 80000 octets
            0x12, 0x34, 0x56, 0x78, 0x05, 0xFF, 0xFF, 0xFE, // block SSRC, 5/256, lost -2
            0x00, 0x00, 0x02, 0x10, 0x00, 0x00, 0x00, 0x2A, // ext seq 528, jitter 42
            0x9F, 0x1B, 0x2C, 0x40, 0x00, 0x00, 0x80, 0x00, // LSR, DLSR 0.5 s
            0x81, 0xCA, 0x00, 0x04, 0x6B, 0x8B, 0x45, 0x67, // SDES, SC=1, len 4
            0x01, 0x08, b'a', b's', b't', b'@', b'p', b'b', // CNAME "ast@pbx1"
            b'x', b'1', 0x00, 0x00, // null + pad
        ];
        let data = &data[..];
        validate_compound(data).expect("valid");
        let packets: Vec<_> = parse_rtcp(data).collect::<Result<_, _>>().expect("parses");
        let RtcpPacket::SenderReport {
            sender,
            mut reports,
            ..
        } = packets[0]
        else {
            panic!("SR first");
        };
        assert_eq!(sender.packet_count, 500);
        assert_eq!(sender.rtp_timestamp, 128_000);
        let b = reports.next().expect("one block");
        assert_eq!((b.fraction_lost, b.cumulative_lost), (5, -2));
        assert_eq!((b.extended_highest_seq, b.jitter), (528, 42));
        assert_eq!(b.delay_since_last_sr, 0x8000);
        let RtcpPacket::SourceDescription(chunks) = packets[1] else {
            panic!("SDES second");
        };
        assert_eq!(chunks.cname(), Some(&b"ast@pbx1"[..]));
    }
}
