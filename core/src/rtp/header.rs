//! RFC 3550 §5.1 RTP fixed header: zero-copy parsing into a borrowed view
//! (CSRC list, header extension, payload, padding) and writing into a
//! caller-provided buffer; plus the RFC 5761 RTP/RTCP demultiplexing test.

use super::error::RtpError;

/// The only RTP version in use.
pub const RTP_VERSION: u8 = 2;
/// Length of the fixed RTP header (no CSRC, no extension).
pub const RTP_HEADER_LEN: usize = 12;

/// The fields of the fixed RTP header that vary per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    /// Marker bit (talk-spurt start for audio, RFC 3551 §4.1).
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp in clock-rate units.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// The CSRC list of a packet, as raw big-endian words (at most 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CsrcList<'a> {
    raw: &'a [u8],
}

impl<'a> CsrcList<'a> {
    /// Wraps raw big-endian CSRC words; `None` unless the length is a multiple of
    /// 4 and at most 60 bytes.
    pub fn from_bytes(raw: &'a [u8]) -> Option<Self> {
        (raw.len().is_multiple_of(4) && raw.len() <= 60).then_some(Self { raw })
    }

    /// Number of CSRC identifiers.
    pub fn len(&self) -> usize {
        self.raw.len() / 4
    }

    /// True when the list is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The CSRC at `index`.
    pub fn get(&self, index: usize) -> Option<u32> {
        let bytes = self.raw.get(index * 4..index * 4 + 4)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Iterates the CSRC identifiers.
    pub fn iter(&self) -> impl Iterator<Item = u32> + 'a {
        self.raw
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The raw big-endian bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
}

/// An RFC 3550 §5.3.1 header extension: a 16-bit profile word and its data
/// (a whole number of 32-bit words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderExtension<'a> {
    /// Profile-defined identifier (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// Extension data, excluding the 4-byte extension header.
    pub data: &'a [u8],
}

/// A parsed RTP packet borrowing its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The fixed header fields.
    pub header: RtpHeader,
    /// Contributing sources.
    pub csrc: CsrcList<'a>,
    /// Header extension, when the X bit is set.
    pub extension: Option<HeaderExtension<'a>>,
    /// The payload, without padding.
    pub payload: &'a [u8],
    /// Number of padding bytes (including the count byte); 0 when P is clear.
    pub padding_len: u8,
}

impl<'a> RtpPacket<'a> {
    /// Parses an RTP packet: version 2, CSRC count and extension length within
    /// the packet, padding count non-zero and within the space after the header.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        if buf.len() < RTP_HEADER_LEN {
            return Err(RtpError::TooShort);
        }
        let version = buf[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = buf[0] & 0x20 != 0;
        let has_extension = buf[0] & 0x10 != 0;
        let csrc_count = (buf[0] & 0x0F) as usize;
        let header = RtpHeader {
            marker: buf[1] & 0x80 != 0,
            payload_type: buf[1] & 0x7F,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        };
        let mut offset = RTP_HEADER_LEN + csrc_count * 4;
        let csrc_raw = buf.get(RTP_HEADER_LEN..offset).ok_or(RtpError::TooShort)?;
        let extension = if has_extension {
            let ext_header = buf.get(offset..offset + 4).ok_or(RtpError::TooShort)?;
            let profile = u16::from_be_bytes([ext_header[0], ext_header[1]]);
            let words = u16::from_be_bytes([ext_header[2], ext_header[3]]) as usize;
            let data = buf
                .get(offset + 4..offset + 4 + words * 4)
                .ok_or(RtpError::TooShort)?;
            offset += 4 + words * 4;
            Some(HeaderExtension { profile, data })
        } else {
            None
        };
        let mut end = buf.len();
        let mut padding_len = 0;
        if has_padding {
            let count = buf[end - 1];
            if count == 0 || count as usize > end - offset {
                return Err(RtpError::BadPadding);
            }
            padding_len = count;
            end -= count as usize;
        }
        Ok(Self {
            header,
            csrc: CsrcList { raw: csrc_raw },
            extension,
            payload: &buf[offset..end],
            padding_len,
        })
    }

    /// Total length this packet takes when written.
    pub fn wire_len(&self) -> usize {
        RTP_HEADER_LEN
            + self.csrc.raw.len()
            + self.extension.map_or(0, |e| 4 + e.data.len())
            + self.payload.len()
            + self.padding_len as usize
    }

    /// Writes the packet (header, CSRCs, extension, payload, padding of zeros
    /// ending in the count) into `buf`; returns the length written.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, RtpError> {
        if self.header.payload_type > 127 {
            return Err(RtpError::Invalid("payload type"));
        }
        let bad_extension = self
            .extension
            .is_some_and(|ext| ext.data.len() % 4 != 0 || ext.data.len() / 4 > u16::MAX as usize);
        if bad_extension {
            return Err(RtpError::Invalid("extension length"));
        }
        let total = self.wire_len();
        let out = buf.get_mut(..total).ok_or(RtpError::BufferTooSmall)?;
        write_fixed(
            &self.header,
            self.padding_len > 0,
            self.extension.is_some(),
            self.csrc.len() as u8,
            out,
        );
        let mut offset = RTP_HEADER_LEN;
        out[offset..offset + self.csrc.raw.len()].copy_from_slice(self.csrc.raw);
        offset += self.csrc.raw.len();
        if let Some(ext) = self.extension {
            out[offset..offset + 2].copy_from_slice(&ext.profile.to_be_bytes());
            out[offset + 2..offset + 4]
                .copy_from_slice(&((ext.data.len() / 4) as u16).to_be_bytes());
            out[offset + 4..offset + 4 + ext.data.len()].copy_from_slice(ext.data);
            offset += 4 + ext.data.len();
        }
        out[offset..offset + self.payload.len()].copy_from_slice(self.payload);
        offset += self.payload.len();
        if self.padding_len > 0 {
            out[offset..total - 1].fill(0);
            out[total - 1] = self.padding_len;
        }
        Ok(total)
    }
}

fn write_fixed(header: &RtpHeader, padding: bool, extension: bool, csrc_count: u8, out: &mut [u8]) {
    out[0] = (RTP_VERSION << 6)
        | ((padding as u8) << 5)
        | ((extension as u8) << 4)
        | (csrc_count & 0x0F);
    out[1] = ((header.marker as u8) << 7) | (header.payload_type & 0x7F);
    out[2..4].copy_from_slice(&header.sequence.to_be_bytes());
    out[4..8].copy_from_slice(&header.timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&header.ssrc.to_be_bytes());
}

impl RtpHeader {
    /// Writes the 12-byte fixed header (no CSRC, extension or padding) at the start
    /// of `buf`, so the payload can then be encoded in place at `buf[12..]`.
    #[inline]
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, RtpError> {
        if self.payload_type > 127 {
            return Err(RtpError::Invalid("payload type"));
        }
        let out = buf
            .get_mut(..RTP_HEADER_LEN)
            .ok_or(RtpError::BufferTooSmall)?;
        write_fixed(self, false, false, 0, out);
        Ok(RTP_HEADER_LEN)
    }

    /// Writes the fixed header followed by `payload`; returns the packet length.
    #[inline]
    pub fn write_packet(&self, payload: &[u8], buf: &mut [u8]) -> Result<usize, RtpError> {
        let total = RTP_HEADER_LEN + payload.len();
        let out = buf.get_mut(..total).ok_or(RtpError::BufferTooSmall)?;
        self.write(out)?;
        out[RTP_HEADER_LEN..].copy_from_slice(payload);
        Ok(total)
    }
}

/// RFC 5761 §4 demultiplexing for rtcp-mux: true when the second octet is in
/// 192..=223, i.e. the packet is RTCP (SR, RR, SDES, BYE, APP, feedback).
#[inline]
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 2 && buf[0] >> 6 == RTP_VERSION && (192..=223).contains(&buf[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A G.711 packet as captured from a SIPp `rtp_stream` (PT 0, 160 bytes of 0xFF).
    fn sample_packet() -> Vec<u8> {
        let mut p = vec![
            0x80, 0x80, 0x1A, 0x2B, 0x00, 0x00, 0x03, 0x20, 0xDE, 0xAD, 0xBE, 0xEF,
        ];
        p.extend(std::iter::repeat_n(0xFF, 160));
        p
    }

    #[test]
    fn parses_fixed_header_and_payload() {
        let data = sample_packet();
        let packet = RtpPacket::parse(&data).expect("valid packet");
        assert_eq!(
            packet.header,
            RtpHeader {
                marker: true,
                payload_type: 0,
                sequence: 0x1A2B,
                timestamp: 800,
                ssrc: 0xDEAD_BEEF
            }
        );
        assert!(packet.csrc.is_empty());
        assert_eq!(packet.extension, None);
        assert_eq!(packet.payload.len(), 160);
        assert_eq!(packet.padding_len, 0);
        // The payload is a view into the input, not a copy.
        assert_eq!(packet.payload.as_ptr(), data[12..].as_ptr());
    }

    #[test]
    fn parses_csrc_extension_and_padding() {
        let mut data = vec![0xB2, 0x08, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        data.extend([0, 0, 0, 10, 0, 0, 0, 11]); // two CSRCs
        data.extend([0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]); // one-word extension
        data.extend([1, 2, 3, 4, 5]); // payload
        data.extend([0, 0, 3]); // three bytes of padding
        let packet = RtpPacket::parse(&data).expect("valid packet");
        assert_eq!(packet.csrc.iter().collect::<Vec<_>>(), vec![10, 11]);
        assert_eq!(packet.csrc.get(1), Some(11));
        assert_eq!(packet.csrc.get(2), None);
        let ext = packet.extension.expect("extension present");
        assert_eq!(ext.profile, 0xBEDE);
        assert_eq!(ext.data, &[0x10, 0xAA, 0, 0]);
        assert_eq!(packet.payload, &[1, 2, 3, 4, 5]);
        assert_eq!(packet.padding_len, 3);
        assert_eq!(packet.header.payload_type, 8);
        assert!(!packet.header.marker);

        let mut out = [0u8; 64];
        let n = packet.write(&mut out).expect("fits");
        assert_eq!(&out[..n], &data[..]);
    }

    #[test]
    fn rejects_malformed_packets() {
        let good = sample_packet();
        assert_eq!(RtpPacket::parse(&good[..11]), Err(RtpError::TooShort));
        let mut v1 = good.clone();
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::BadVersion(1)));
        // CSRC count beyond the packet.
        let mut cc = good[..20].to_vec();
        cc[0] = 0x8F;
        assert_eq!(RtpPacket::parse(&cc), Err(RtpError::TooShort));
        // Extension header missing, then extension length beyond the packet.
        let mut x = good[..12].to_vec();
        x[0] = 0x90;
        assert_eq!(RtpPacket::parse(&x), Err(RtpError::TooShort));
        x.extend([0, 0, 0, 5, 1, 2, 3, 4]);
        assert_eq!(RtpPacket::parse(&x), Err(RtpError::TooShort));
        // Padding count zero, and larger than what follows the header.
        let mut p = good.clone();
        p[0] = 0xA0;
        *p.last_mut().expect("non-empty") = 0;
        assert_eq!(RtpPacket::parse(&p), Err(RtpError::BadPadding));
        *p.last_mut().expect("non-empty") = 161;
        assert_eq!(RtpPacket::parse(&p), Err(RtpError::BadPadding));
        // Padding that consumes the whole payload is valid.
        *p.last_mut().expect("non-empty") = 160;
        assert_eq!(RtpPacket::parse(&p).map(|p| p.payload.len()), Ok(0));
    }

    #[test]
    fn header_write_round_trips() {
        let header = RtpHeader {
            marker: false,
            payload_type: 101,
            sequence: 65535,
            timestamp: u32::MAX,
            ssrc: 7,
        };
        let mut buf = [0u8; 16];
        assert_eq!(header.write_packet(&[9, 8, 7, 6], &mut buf), Ok(16));
        let packet = RtpPacket::parse(&buf).expect("valid");
        assert_eq!(packet.header, header);
        assert_eq!(packet.payload, &[9, 8, 7, 6]);
        assert_eq!(
            header.write_packet(&[0; 5], &mut buf),
            Err(RtpError::BufferTooSmall)
        );
        assert_eq!(header.write(&mut buf[..11]), Err(RtpError::BufferTooSmall));
        let bad = RtpHeader {
            payload_type: 128,
            ..header
        };
        assert_eq!(bad.write(&mut buf), Err(RtpError::Invalid("payload type")));
    }

    #[test]
    fn builder_rejects_unaligned_extension() {
        let packet = RtpPacket {
            header: RtpHeader::default(),
            csrc: CsrcList::default(),
            extension: Some(HeaderExtension {
                profile: 1,
                data: &[1, 2, 3],
            }),
            payload: &[],
            padding_len: 0,
        };
        let mut buf = [0u8; 32];
        assert_eq!(
            packet.write(&mut buf),
            Err(RtpError::Invalid("extension length"))
        );
        assert!(CsrcList::from_bytes(&[0; 5]).is_none());
        assert!(CsrcList::from_bytes(&[0; 64]).is_none());
        assert_eq!(
            CsrcList::from_bytes(&[0, 0, 0, 1]).map(|c| c.len()),
            Some(1)
        );
    }

    #[test]
    fn demultiplexes_rtcp_from_rtp() {
        assert!(is_rtcp(&[0x80, 200, 0, 6]));
        assert!(is_rtcp(&[0x81, 201, 0, 7]));
        assert!(!is_rtcp(&sample_packet()));
        // PT 0 with marker (0x80) and dynamic PT 101 with marker (0xE5) are RTP.
        assert!(!is_rtcp(&[0x80, 0xE5, 0, 0]));
        assert!(!is_rtcp(&[0x80]));
        assert!(!is_rtcp(&[0x00, 200]));
    }
}
