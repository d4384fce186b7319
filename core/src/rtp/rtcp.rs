//! RTCP parsing (RFC 3550 §6): an iterator over the packets of a compound
//! packet yielding borrowed views of SR, RR, SDES and BYE (others passed through
//! raw), with every length checked once so the inner iterators never fail.

use super::error::RtpError;

/// Sender report packet type.
pub const RTCP_SR: u8 = 200;
/// Receiver report packet type.
pub const RTCP_RR: u8 = 201;
/// Source description packet type.
pub const RTCP_SDES: u8 = 202;
/// Goodbye packet type.
pub const RTCP_BYE: u8 = 203;
/// Application-defined packet type.
pub const RTCP_APP: u8 = 204;
/// SDES item type of the canonical name.
pub const SDES_CNAME: u8 = 1;

const REPORT_BLOCK_LEN: usize = 24;
const SENDER_INFO_LEN: usize = 20;

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost, a signed 24-bit value (duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received (LSR), or 0.
    pub last_sr: u32,
    /// Delay since that SR in 1/65536 s (DLSR), or 0.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    /// The round trip in ms (RFC 3550 §6.4.1: A − LSR − DLSR) for a block that arrived at
    /// `arrival` (the middle 32 bits of its NTP arrival time); `None` when the reporter
    /// has had no SR of ours yet (LSR 0) or the clocks make no sense.
    pub fn round_trip_ms(&self, arrival: u32) -> Option<u32> {
        if self.last_sr == 0 {
            return None;
        }
        let rtt = arrival
            .wrapping_sub(self.last_sr)
            .wrapping_sub(self.delay_since_last_sr);
        // More than a minute is a wrapped (negative) difference: no estimate.
        (rtt < 60 << 16).then(|| (u64::from(rtt) * 1000 / 65536) as u32)
    }

    fn parse(b: &[u8]) -> Self {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        // Sign-extend the 24-bit cumulative loss.
        let cumulative_lost = (i32::from_be_bytes([b[5], b[6], b[7], 0])) >> 8;
        Self {
            ssrc: word(0),
            fraction_lost: b[4],
            cumulative_lost,
            extended_highest_seq: word(8),
            jitter: word(12),
            last_sr: word(16),
            delay_since_last_sr: word(20),
        }
    }

    pub(super) fn write(&self, out: &mut [u8]) {
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF);
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4] = self.fraction_lost;
        out[5..8].copy_from_slice(&lost.to_be_bytes()[1..]);
        out[8..12].copy_from_slice(&self.extended_highest_seq.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        out[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

/// The sender information of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Wallclock time of the report, 64-bit NTP format.
    pub ntp_timestamp: u64,
    /// The RTP timestamp corresponding to `ntp_timestamp`.
    pub rtp_timestamp: u32,
    /// Packets sent since the start of transmission.
    pub packet_count: u32,
    /// Payload octets sent since the start of transmission.
    pub octet_count: u32,
}

impl SenderInfo {
    fn parse(b: &[u8]) -> Self {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Self {
            ntp_timestamp: ((word(0) as u64) << 32) | word(4) as u64,
            rtp_timestamp: word(8),
            packet_count: word(12),
            octet_count: word(16),
        }
    }

    pub(super) fn write(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.ntp_timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.rtp_timestamp.to_be_bytes());
        out[12..16].copy_from_slice(&self.packet_count.to_be_bytes());
        out[16..20].copy_from_slice(&self.octet_count.to_be_bytes());
    }
}

/// Report blocks of an SR or RR, decoded lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlocks<'a> {
    raw: &'a [u8],
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        let (block, rest) = self.raw.split_at_checked(REPORT_BLOCK_LEN)?;
        self.raw = rest;
        Some(ReportBlock::parse(block))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.raw.len() / REPORT_BLOCK_LEN;
        (n, Some(n))
    }
}

impl ExactSizeIterator for ReportBlocks<'_> {}

/// SSRC/CSRC identifiers of a BYE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsrcList<'a> {
    raw: &'a [u8],
}

impl Iterator for SsrcList<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let (word, rest) = self.raw.split_first_chunk::<4>()?;
        self.raw = rest;
        Some(u32::from_be_bytes(*word))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.raw.len() / 4;
        (n, Some(n))
    }
}

impl ExactSizeIterator for SsrcList<'_> {}

/// One SDES item: type (1 = CNAME, 2 = NAME, ...) and its UTF-8 text as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// Item type.
    pub kind: u8,
    /// Item text, at most 255 bytes.
    pub text: &'a [u8],
}

/// The items of one SDES chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItems<'a> {
    raw: &'a [u8],
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;

    fn next(&mut self) -> Option<SdesItem<'a>> {
        let (&kind, rest) = self.raw.split_first()?;
        if kind == 0 {
            return None;
        }
        let (&len, rest) = rest.split_first()?;
        let (text, rest) = rest.split_at_checked(len as usize)?;
        self.raw = rest;
        Some(SdesItem { kind, text })
    }
}

/// One SDES chunk: a source and its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// The described source.
    pub ssrc: u32,
    /// Its items.
    pub items: SdesItems<'a>,
}

/// The chunks of an SDES packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunks<'a> {
    raw: &'a [u8],
    remaining: usize,
}

impl<'a> SdesChunks<'a> {
    /// The CNAME of the first chunk that has one.
    pub fn cname(self) -> Option<&'a [u8]> {
        self.flat_map(|c| c.items)
            .find(|item| item.kind == SDES_CNAME)
            .map(|item| item.text)
    }
}

/// Walks one chunk; returns its items' bytes and the rest after its padding.
fn split_chunk(raw: &[u8]) -> Option<(u32, &[u8], &[u8])> {
    let (ssrc, body) = raw.split_first_chunk::<4>()?;
    let mut pos = 0;
    loop {
        match body.get(pos)? {
            0 => break,
            _ => pos += 2 + *body.get(pos + 1)? as usize,
        }
    }
    // Items end with a null octet, then pad to a 32-bit boundary (relative to chunk start).
    let end = (4 + pos + 1).div_ceil(4) * 4 - 4;
    let rest = body.get(end..)?;
    Some((u32::from_be_bytes(*ssrc), &body[..pos + 1], rest))
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;

    fn next(&mut self) -> Option<SdesChunk<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let (ssrc, items, rest) = split_chunk(self.raw)?;
        self.raw = rest;
        self.remaining -= 1;
        Some(SdesChunk {
            ssrc,
            items: SdesItems { raw: items },
        })
    }
}

/// One packet of a compound RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// SR: the sender's SSRC, its sender info and reception reports.
    SenderReport {
        /// Sender SSRC.
        ssrc: u32,
        /// Sender information.
        sender: SenderInfo,
        /// Reception report blocks.
        reports: ReportBlocks<'a>,
    },
    /// RR: the reporter's SSRC and reception reports.
    ReceiverReport {
        /// Reporter SSRC.
        ssrc: u32,
        /// Reception report blocks.
        reports: ReportBlocks<'a>,
    },
    /// SDES chunks.
    SourceDescription(SdesChunks<'a>),
    /// BYE: the leaving sources and an optional reason.
    Bye {
        /// Leaving SSRC/CSRCs.
        sources: SsrcList<'a>,
        /// Reason for leaving, if given.
        reason: Option<&'a [u8]>,
    },
    /// Any other type (APP, XR, feedback): header fields and body after the
    /// 4-byte header, padding removed.
    Other {
        /// Packet type.
        packet_type: u8,
        /// The 5-bit count/subtype field.
        count: u8,
        /// Body after the common header.
        body: &'a [u8],
    },
}

/// Iterator over the packets of a compound RTCP packet; yields an error and then
/// stops at the first malformed packet.
#[derive(Debug, Clone)]
pub struct RtcpCompound<'a> {
    rest: &'a [u8],
}

/// Starts iterating the packets of `buf`.
pub fn parse_rtcp(buf: &[u8]) -> RtcpCompound<'_> {
    RtcpCompound { rest: buf }
}

/// The first packet of a compound, split off by `split_packet`.
struct RawPacket<'a> {
    padded: bool,
    count: u8,
    packet_type: u8,
    /// Body after the common header, padding removed.
    body: &'a [u8],
    /// The packets after this one.
    rest: &'a [u8],
}

/// Splits off the first packet of a compound.
fn split_packet(buf: &[u8]) -> Result<RawPacket<'_>, RtpError> {
    let header = buf.get(..4).ok_or(RtpError::TooShort)?;
    let version = header[0] >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    let padded = header[0] & 0x20 != 0;
    let count = header[0] & 0x1F;
    let packet_type = header[1];
    let len = (u16::from_be_bytes([header[2], header[3]]) as usize + 1) * 4;
    let (packet, rest) = buf.split_at_checked(len).ok_or(RtpError::BadLength)?;
    let mut body = &packet[4..];
    if padded {
        let pad = *body.last().ok_or(RtpError::BadPadding)? as usize;
        if pad == 0 || pad > body.len() {
            return Err(RtpError::BadPadding);
        }
        body = &body[..body.len() - pad];
    }
    Ok(RawPacket {
        padded,
        count,
        packet_type,
        body,
        rest,
    })
}

fn parse_packet<'a>(
    count: u8,
    packet_type: u8,
    body: &'a [u8],
) -> Result<RtcpPacket<'a>, RtpError> {
    let ssrc_at = |b: &[u8]| -> Result<u32, RtpError> {
        let w = b.first_chunk::<4>().ok_or(RtpError::TooShort)?;
        Ok(u32::from_be_bytes(*w))
    };
    let blocks = |b: &'a [u8]| -> Result<ReportBlocks<'a>, RtpError> {
        let raw = b
            .get(..count as usize * REPORT_BLOCK_LEN)
            .ok_or(RtpError::Invalid("report count"))?;
        Ok(ReportBlocks { raw })
    };
    match packet_type {
        RTCP_SR => {
            let ssrc = ssrc_at(body)?;
            let info = body.get(4..4 + SENDER_INFO_LEN).ok_or(RtpError::TooShort)?;
            Ok(RtcpPacket::SenderReport {
                ssrc,
                sender: SenderInfo::parse(info),
                reports: blocks(&body[4 + SENDER_INFO_LEN..])?,
            })
        }
        RTCP_RR => Ok(RtcpPacket::ReceiverReport {
            ssrc: ssrc_at(body)?,
            reports: blocks(&body[4.min(body.len())..])?,
        }),
        RTCP_SDES => {
            // Validate every chunk now so the iterators cannot come up short.
            let mut rest = body;
            for _ in 0..count {
                let (_, _, after) = split_chunk(rest).ok_or(RtpError::Invalid("SDES chunk"))?;
                rest = after;
            }
            Ok(RtcpPacket::SourceDescription(SdesChunks {
                raw: body,
                remaining: count as usize,
            }))
        }
        RTCP_BYE => {
            let sources = body.get(..count as usize * 4).ok_or(RtpError::TooShort)?;
            let after = &body[sources.len()..];
            let reason = match after.split_first() {
                Some((&len, text)) => Some(text.get(..len as usize).ok_or(RtpError::TooShort)?),
                None => None,
            };
            Ok(RtcpPacket::Bye {
                sources: SsrcList { raw: sources },
                reason,
            })
        }
        _ => Ok(RtcpPacket::Other {
            packet_type,
            count,
            body,
        }),
    }
}

impl<'a> Iterator for RtcpCompound<'a> {
    type Item = Result<RtcpPacket<'a>, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = split_packet(self.rest).and_then(|raw| {
            self.rest = raw.rest;
            parse_packet(raw.count, raw.packet_type, raw.body)
        });
        if result.is_err() {
            self.rest = &[];
        }
        Some(result)
    }
}

/// RFC 3550 A.2 validity check of a compound packet: every packet version 2 with
/// its length inside the datagram, the lengths adding up to the whole, the first
/// packet an SR or RR, and padding only on the last packet.
pub fn validate_compound(buf: &[u8]) -> Result<(), RtpError> {
    let mut rest = buf;
    let mut first = true;
    while !rest.is_empty() {
        let raw = split_packet(rest)?;
        if first && raw.packet_type != RTCP_SR && raw.packet_type != RTCP_RR {
            return Err(RtpError::Invalid("first packet type"));
        }
        if raw.padded && !raw.rest.is_empty() {
            return Err(RtpError::BadPadding);
        }
        first = false;
        rest = raw.rest;
    }
    if first {
        return Err(RtpError::TooShort);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_from_lsr_and_dlsr() {
        let b = ReportBlock {
            last_sr: 0x0001_0000,
            delay_since_last_sr: 0x0000_8000,
            ..Default::default()
        };
        // Arrived 0.75 s after our SR; the reporter held it 0.5 s: 250 ms.
        assert_eq!(b.round_trip_ms(0x0001_C000), Some(250));
        assert_eq!(b.round_trip_ms(0x0000_0000), None, "arrival before the SR");
        let never = ReportBlock::default();
        assert_eq!(never.round_trip_ms(0x0001_C000), None);
    }
}
