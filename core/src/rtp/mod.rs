//! RTP and RTCP building blocks (sans-IO, allocation-free on the packet path):
//! RFC 3550 header parse/build, RTCP SR/RR/SDES/BYE compound packets, per-source
//! receive statistics (RFC 3550 A.1/A.3/A.8), the RFC 4733 telephone-event
//! payload, a fixed-capacity reorder/jitter buffer, and the sending-side
//! sequence/timestamp state, and the E-model estimate of a call's quality (`quality`).
//!
//! Parsers borrow the input and never panic on arbitrary bytes; builders write into
//! caller-provided buffers and report `BufferTooSmall` instead of allocating.

mod error;
mod header;
mod jitter;
mod ntp;
pub mod quality;
mod rtcp;
mod rtcp_writer;
mod sender;
mod stats;
mod telephone_event;

pub use error::RtpError;
pub use header::{
    CsrcList, HeaderExtension, RTP_HEADER_LEN, RTP_VERSION, RtpHeader, RtpPacket, is_rtcp,
};
pub use jitter::{Frame, JitterBuffer, JitterStats, Pulled, PushOutcome};
pub use ntp::{ntp_from_unix_micros, ntp_middle32};
pub use rtcp::{
    RTCP_APP, RTCP_BYE, RTCP_RR, RTCP_SDES, RTCP_SR, ReportBlock, ReportBlocks, RtcpCompound,
    RtcpPacket, SDES_CNAME, SdesChunk, SdesChunks, SdesItem, SdesItems, SenderInfo, SsrcList,
    parse_rtcp, validate_compound,
};
pub use rtcp_writer::RtcpWriter;
pub use sender::RtpSender;
pub use stats::{ReceiveStats, SeqVerdict};
pub use telephone_event::{TelephoneEvent, dtmf_char, dtmf_event};

#[cfg(test)]
mod fuzz_tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Feeds every parser random and mutated-valid inputs; none may panic, and
    /// whatever parses must stay within the input.
    #[test]
    fn parsers_survive_random_bytes() {
        let mut rng = StdRng::seed_from_u64(0x5EED_0001);
        let mut stats = ReceiveStats::new(8000);
        let mut jitter = JitterBuffer::new(8, 160, 2);
        let mut buf = [0u8; 1500];
        for i in 0..5000 {
            let len = rng.random_range(0..200);
            let data = &mut buf[..len];
            rng.fill(data);
            if i % 2 == 0 && len >= 2 {
                // Make the version bits valid half the time to reach deeper code.
                data[0] = (data[0] & 0x3F) | 0x80;
            }
            if let Ok(packet) = RtpPacket::parse(data) {
                assert!(packet.payload.len() <= len);
                assert!(packet.csrc.len() <= 15);
                let _ = packet.csrc.iter().count();
                let verdict = stats.on_packet(
                    packet.header.ssrc,
                    packet.header.sequence,
                    packet.header.timestamp,
                    i * 20_000,
                );
                let _ = verdict;
                let _ = jitter.push(&packet.header, packet.payload);
                let _ = jitter.pull();
                let mut out = [0u8; 1500];
                let written = packet
                    .write(&mut out)
                    .expect("a parsed packet can be rebuilt");
                // Identical up to the padding, whose filler bytes are rewritten as zeros.
                assert_eq!(written, len);
                let unpadded = len - packet.padding_len as usize;
                assert_eq!(&out[..unpadded], &data[..unpadded]);
                assert_eq!(out[len - 1], data[len - 1]);
            }
            let _ = validate_compound(data);
            for packet in parse_rtcp(data) {
                match packet {
                    Ok(RtcpPacket::SenderReport { reports, .. })
                    | Ok(RtcpPacket::ReceiverReport { reports, .. }) => {
                        assert!(reports.count() <= 31);
                    }
                    Ok(RtcpPacket::SourceDescription(chunks)) => {
                        for chunk in chunks {
                            let _ = chunk.items.map(|item| item.text.len()).sum::<usize>();
                        }
                    }
                    Ok(RtcpPacket::Bye { sources, reason }) => {
                        let _ = sources.count();
                        assert!(reason.is_none_or(|r| r.len() < 256));
                    }
                    Ok(RtcpPacket::Other { body, .. }) => assert!(body.len() <= len),
                    Err(_) => break,
                }
            }
            let _ = TelephoneEvent::parse(data);
            let _ = is_rtcp(data);
        }
        let _ = stats.report_block(10_000_000);
    }

    /// Mutates a valid compound RTCP packet (byte flips, truncation) so the
    /// parsers get past the common header into SR/RR/SDES/BYE bodies.
    #[test]
    fn rtcp_parsers_survive_mutated_compounds() {
        let mut valid = [0u8; 256];
        let mut writer = RtcpWriter::new(&mut valid);
        let block = ReportBlock {
            ssrc: 2,
            cumulative_lost: -1,
            ..ReportBlock::default()
        };
        writer
            .sender_report(1, &SenderInfo::default(), &[block, block])
            .expect("fits");
        writer.cname(1, b"user@host").expect("fits");
        writer.bye(&[1, 2], Some(b"bye")).expect("fits");
        let len = writer.finish();
        let mut rng = StdRng::seed_from_u64(0x5EED_0002);
        let mut parsed_packets = 0;
        for _ in 0..5000 {
            let mut data = valid[..len].to_vec();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..data.len());
                data[at] = rng.random();
            }
            data.truncate(rng.random_range(0..=len));
            let _ = validate_compound(&data);
            for packet in parse_rtcp(&data) {
                let Ok(packet) = packet else { break };
                parsed_packets += 1;
                match packet {
                    RtcpPacket::SenderReport { reports, .. }
                    | RtcpPacket::ReceiverReport { reports, .. } => {
                        let _ = reports.map(|b| b.jitter).max();
                    }
                    RtcpPacket::SourceDescription(chunks) => {
                        let _ = chunks.cname();
                        for chunk in chunks {
                            let _ = chunk.items.count();
                        }
                    }
                    RtcpPacket::Bye { sources, .. } => {
                        let _ = sources.max();
                    }
                    RtcpPacket::Other { .. } => {}
                }
            }
        }
        assert!(
            parsed_packets > 1000,
            "mutations should still reach the bodies"
        );
    }
}
