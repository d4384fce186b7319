//! Target `rtcp`: one datagram as an RTCP compound packet, read as the media channel
//! reads it (`parse_rtcp` until the first error, a sender report feeding the receive
//! statistics) and checked with `validate_compound`.
//!
//! Checks: every packet that parses is written again with `RtcpWriter` and reads back
//! the same (SR, RR, SDES, BYE); in a compound that passes the RFC 3550 A.2 header check
//! (`validate_compound`) only a packet body can fail to parse, never the framing.

use mediagw::rtp::{
    ReceiveStats, ReportBlock, RtcpPacket, RtcpWriter, RtpError, SdesItem, parse_rtcp,
    validate_compound,
};

/// The target.
pub fn run(data: &[u8]) {
    let mut stats = ReceiveStats::new(8000);
    let _ = stats.on_packet(0x1234_5678, 1, 160, 0);
    let valid = validate_compound(data).is_ok();
    for packet in parse_rtcp(data) {
        let packet = match packet {
            Ok(p) => p,
            Err(e) => {
                let framing = matches!(
                    e,
                    RtpError::BadVersion(_) | RtpError::BadLength | RtpError::BadPadding
                );
                assert!(
                    !(valid && framing),
                    "a compound that validates failed framing: {e:?}"
                );
                break;
            }
        };
        if let RtcpPacket::SenderReport { ssrc, sender, .. } = packet {
            stats.on_sender_report(sender.ntp_timestamp, 40_000);
            let _ = ssrc;
        }
        rewrite(&packet);
    }
    let _ = stats.report_block(80_000);
}

/// One packet, written again with our writer, parses to the same content.
fn rewrite(packet: &RtcpPacket<'_>) {
    let mut buf = vec![0u8; 4096];
    let mut w = RtcpWriter::new(&mut buf);
    match *packet {
        RtcpPacket::SenderReport {
            ssrc,
            sender,
            reports,
        } => {
            let blocks: Vec<ReportBlock> = reports.collect();
            if blocks.len() > 31 {
                return;
            }
            w.sender_report(ssrc, &sender, &blocks).expect("an SR fits");
        }
        RtcpPacket::ReceiverReport { ssrc, reports } => {
            let blocks: Vec<ReportBlock> = reports.collect();
            if blocks.len() > 31 {
                return;
            }
            w.receiver_report(ssrc, &blocks).expect("an RR fits");
        }
        RtcpPacket::SourceDescription(chunks) => {
            let owned: Vec<(u32, Vec<SdesItem<'_>>)> =
                chunks.map(|c| (c.ssrc, c.items.collect())).collect();
            if owned.len() > 31 {
                return;
            }
            let refs: Vec<(u32, &[SdesItem<'_>])> =
                owned.iter().map(|(s, items)| (*s, &items[..])).collect();
            if w.source_description(&refs).is_err() {
                return; // larger than our buffer
            }
        }
        RtcpPacket::Bye { sources, reason } => {
            let sources: Vec<u32> = sources.collect();
            if sources.len() > 31 {
                return;
            }
            w.bye(&sources, reason).expect("a BYE fits");
        }
        RtcpPacket::Other { .. } => return,
    }
    let len = w.finish();
    let mut again = parse_rtcp(&buf[..len]);
    let reparsed = again
        .next()
        .expect("one packet")
        .expect("a packet we write parses");
    assert!(again.next().is_none(), "one packet written, one read");
    assert!(
        same(packet, &reparsed),
        "{packet:?} rewritten as {reparsed:?}"
    );
}

fn same(a: &RtcpPacket<'_>, b: &RtcpPacket<'_>) -> bool {
    use RtcpPacket as P;
    match (*a, *b) {
        (
            P::SenderReport {
                ssrc: s1,
                sender: i1,
                reports: r1,
            },
            P::SenderReport {
                ssrc: s2,
                sender: i2,
                reports: r2,
            },
        ) => s1 == s2 && i1 == i2 && r1.eq(r2),
        (
            P::ReceiverReport {
                ssrc: s1,
                reports: r1,
            },
            P::ReceiverReport {
                ssrc: s2,
                reports: r2,
            },
        ) => s1 == s2 && r1.eq(r2),
        (P::SourceDescription(c1), P::SourceDescription(c2)) => c1
            .map(|c| (c.ssrc, c.items.collect::<Vec<_>>()))
            .eq(c2.map(|c| (c.ssrc, c.items.collect::<Vec<_>>()))),
        (
            P::Bye {
                sources: s1,
                reason: r1,
            },
            P::Bye {
                sources: s2,
                reason: r2,
            },
        ) => s1.eq(s2) && r1 == r2,
        _ => false,
    }
}
