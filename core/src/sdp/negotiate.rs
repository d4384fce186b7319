//! Reading one peer media section for negotiation (with session-level
//! fallbacks), choosing formats from it, and writing our audio section.

use std::net::SocketAddr;

use super::error::SdpError;
use super::fields::{EventSet, RtpMap, parse_connection, parse_ms, parse_rtcp_attribute};
use super::parse::{MediaDescription, SdpLine, SessionDescription};
use super::types::MediaDirection;
use crate::codec::Codec;

/// The transport we speak.
pub const RTP_AVP: &str = "RTP/AVP";

/// What a peer's media section says about its end of the stream.
#[derive(Debug, Clone, Copy)]
pub struct PeerStream {
    /// Its RTP address and port.
    pub rtp: SocketAddr,
    /// Its RTCP address and port without rtcp-mux (`a=rtcp`, else RTP port + 1).
    pub rtcp: SocketAddr,
    /// Its direction from its own point of view, legacy `c=0.0.0.0` hold folded in.
    pub direction: MediaDirection,
    /// Its `a=ptime`, media level first, then session level.
    pub ptime: Option<u32>,
    /// Its `a=maxptime`.
    pub maxptime: Option<u32>,
    /// Whether it has `a=rtcp-mux`.
    pub rtcp_mux: bool,
}

fn attribute<'a>(
    sdp: &'a SessionDescription,
    m: &'a MediaDescription,
    name: &str,
) -> Option<Option<&'a str>> {
    m.attribute(name).or_else(|| sdp.attribute(name))
}

/// Reads the peer's end of the stream `m` of `sdp`.
pub fn read_peer_stream(
    sdp: &SessionDescription,
    m: &MediaDescription,
) -> Result<PeerStream, SdpError> {
    let connection = m
        .line_value('c')
        .or_else(|| sdp.line_value('c'))
        .ok_or(SdpError::NoConnection)?;
    let ip = parse_connection(connection)?;
    let rtp = SocketAddr::new(ip, m.port());
    let mut direction = m
        .attributes()
        .find_map(|(name, _)| MediaDirection::from_attribute(name))
        .or_else(|| {
            sdp.attributes()
                .find_map(|(name, _)| MediaDirection::from_attribute(name))
        })
        .unwrap_or_default();
    if ip.is_unspecified() {
        // RFC 3264 §8.4: c=0.0.0.0 is the old way to put a stream on hold.
        direction = direction.intersect(MediaDirection::SendOnly);
    }
    let rtcp_mux = m.attribute("rtcp-mux").is_some();
    let rtcp = match m.attribute("rtcp").flatten().and_then(parse_rtcp_attribute) {
        Some((port, addr)) => SocketAddr::new(addr.unwrap_or(ip), port),
        None => SocketAddr::new(ip, m.port().checked_add(1).unwrap_or(m.port())),
    };
    let ms = |name| attribute(sdp, m, name).flatten().and_then(parse_ms);
    Ok(PeerStream {
        rtp,
        rtcp,
        direction,
        ptime: ms("ptime"),
        maxptime: ms("maxptime"),
        rtcp_mux,
    })
}

/// The rtpmap of payload type `pt` in section `m`: its `a=rtpmap` line, or the
/// static assignment.
pub fn rtpmap(m: &MediaDescription, pt: u8) -> Option<RtpMap<'_>> {
    m.attributes()
        .filter(|(name, _)| *name == "rtpmap")
        .filter_map(|(_, value)| RtpMap::parse(value?))
        .find(|map| map.payload_type == pt)
        .or_else(|| RtpMap::for_static(pt))
}

/// The section's formats that are payload types, in order.
pub fn payload_types(m: &MediaDescription) -> impl Iterator<Item = u8> + '_ {
    m.formats()
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .filter(|pt| *pt < 128)
}

/// The G.711 codec a payload type maps to in `m` (8000 Hz, mono).
pub fn codec_of(m: &MediaDescription, pt: u8) -> Option<Codec> {
    let map = rtpmap(m, pt)?;
    if map.clock_rate != 8000 || map.channels != 1 {
        return None;
    }
    Codec::from_encoding_name(map.encoding)
}

/// The first format of `m` that is a codec in `accepted`, in `m`'s order.
pub fn first_codec(m: &MediaDescription, accepted: &[Codec]) -> Option<(Codec, u8)> {
    payload_types(m).find_map(|pt| {
        codec_of(m, pt)
            .filter(|c| accepted.contains(c))
            .map(|c| (c, pt))
    })
}

/// The first telephone-event/8000 format of `m` offering at least one DTMF
/// event, with the events of ours it offers (`a=fmtp`; 0-15 when absent or
/// unreadable).
pub fn telephone_event(m: &MediaDescription) -> Option<(u8, EventSet)> {
    payload_types(m).find_map(|pt| {
        let map = rtpmap(m, pt)?;
        if !map.encoding.eq_ignore_ascii_case("telephone-event") || map.clock_rate != 8000 {
            return None;
        }
        // No (or an unreadable) event list means the RFC 4733 default, 0-15.
        let events = fmtp(m, pt)
            .and_then(EventSet::parse)
            .unwrap_or(EventSet::DEFAULT);
        let ours = events.intersect(EventSet::DTMF_AND_FLASH);
        (!ours.is_empty()).then_some((pt, ours))
    })
}

/// The first comfort-noise (CN/8000) format of `m`.
pub fn comfort_noise(m: &MediaDescription) -> Option<u8> {
    payload_types(m).find(|&pt| {
        rtpmap(m, pt)
            .is_some_and(|map| map.encoding.eq_ignore_ascii_case("CN") && map.clock_rate == 8000)
    })
}

/// The `a=fmtp` parameters of payload type `pt`.
pub fn fmtp(m: &MediaDescription, pt: u8) -> Option<&str> {
    m.attributes()
        .filter(|(name, _)| *name == "fmtp")
        .filter_map(|(_, value)| value?.trim().split_once(' '))
        .find(|(p, _)| p.parse::<u8>().ok() == Some(pt))
        .map(|(_, params)| params.trim())
}

/// What goes into our audio section.
pub struct AudioSection<'a> {
    /// Our RTP port.
    pub port: u16,
    /// Codecs with their payload types, in preference order.
    pub codecs: &'a [(Codec, u8)],
    /// telephone-event payload type and events.
    pub dtmf: Option<(u8, EventSet)>,
    /// Comfort-noise payload type.
    pub cn: Option<u8>,
    /// Packet time in ms.
    pub ptime: u32,
    /// Direction attribute.
    pub direction: MediaDirection,
    /// Whether to include `a=rtcp-mux`.
    pub rtcp_mux: bool,
}

impl AudioSection<'_> {
    /// Writes the section.
    pub fn build(&self) -> MediaDescription {
        let mut formats = Vec::new();
        let mut lines = Vec::new();
        for (codec, pt) in self.codecs {
            formats.push(pt.to_string());
            lines.push(SdpLine::new(
                'a',
                format!("rtpmap:{pt} {}/8000", codec.encoding_name()),
            ));
        }
        if let Some((pt, events)) = self.dtmf {
            formats.push(pt.to_string());
            lines.push(SdpLine::new(
                'a',
                format!("rtpmap:{pt} telephone-event/8000"),
            ));
            lines.push(SdpLine::new('a', format!("fmtp:{pt} {}", events.format())));
        }
        if let Some(pt) = self.cn {
            formats.push(pt.to_string());
            lines.push(SdpLine::new('a', format!("rtpmap:{pt} CN/8000")));
        }
        lines.push(SdpLine::new('a', format!("ptime:{}", self.ptime)));
        lines.push(SdpLine::new('a', self.direction.attribute()));
        if self.rtcp_mux {
            lines.push(SdpLine::new('a', "rtcp-mux"));
        }
        MediaDescription::from_fields("audio", self.port, RTP_AVP, formats, lines)
    }
}

/// True for an RTP/AVP audio section with a non-zero port.
pub fn is_usable_audio(m: &MediaDescription) -> bool {
    m.port() != 0 && m.media() == "audio" && m.proto().eq_ignore_ascii_case(RTP_AVP)
}
