//! Our offers for outbound calls and re-INVITEs, and reading the answer to them
//! (RFC 3264 §7, §8): which of our codecs the peer chose, where to send, DTMF,
//! packet time, direction and rtcp-mux.

use super::error::SdpError;
use super::fields::{DEFAULT_PTIME, EventSet, SUPPORTED_PTIMES, choose_ptime};
use super::negotiate::{
    AudioSection, codec_of, first_codec, is_usable_audio, payload_types, read_peer_stream,
    telephone_event,
};
use super::parse::{MediaDescription, SessionDescription};
use super::types::{LocalMedia, MediaDirection, NegotiatedMedia};
use crate::codec::Codec;

/// What we offered, kept to interpret the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOffer {
    codecs: Vec<(Codec, u8)>,
    ptime: u32,
    direction: MediaDirection,
    rtcp_mux: bool,
}

/// Builds our single audio section: the local codecs with their static payload
/// types, telephone-event 0-16, ptime, direction and optionally rtcp-mux.
pub fn build_offer(local: &LocalMedia) -> (MediaDescription, PendingOffer) {
    let codecs: Vec<(Codec, u8)> = local
        .codecs
        .iter()
        .map(|&c| (c, c.static_payload_type()))
        .collect();
    let ptime = if SUPPORTED_PTIMES.contains(&local.ptime_ms) {
        local.ptime_ms
    } else {
        DEFAULT_PTIME
    };
    let section = AudioSection {
        port: local.port,
        codecs: &codecs,
        dtmf: Some((local.dtmf_pt, EventSet::DTMF_AND_FLASH)),
        cn: None,
        ptime,
        direction: local.direction,
        rtcp_mux: local.offer_rtcp_mux,
    }
    .build();
    let pending = PendingOffer {
        codecs,
        ptime,
        direction: local.direction,
        rtcp_mux: local.offer_rtcp_mux,
    };
    (section, pending)
}

/// Reads the answer to `offer`: one section (we offer one), usable audio with a
/// non-zero port, a codec we offered. Our direction is the answer's reversed,
/// limited by what we offered.
/// One of our own SDPs offered again unchanged (a session refresh, RFC 4028 §7.4): its
/// answer is read against the codecs, packet time, direction and rtcp-mux it lists.
pub fn reoffer(ours: &SessionDescription) -> Option<PendingOffer> {
    let m = ours.media().first()?;
    let codecs: Vec<(Codec, u8)> = payload_types(m)
        .filter_map(|pt| codec_of(m, pt).map(|c| (c, pt)))
        .collect();
    if codecs.is_empty() {
        return None;
    }
    let stream = read_peer_stream(ours, m).ok()?;
    Some(PendingOffer {
        codecs,
        ptime: stream.ptime.unwrap_or(DEFAULT_PTIME),
        direction: stream.direction,
        rtcp_mux: stream.rtcp_mux,
    })
}

pub fn process_answer(
    offer: &PendingOffer,
    answer: &SessionDescription,
) -> Result<NegotiatedMedia, SdpError> {
    let m = match answer.media() {
        [m] => m,
        _ => return Err(SdpError::AnswerMismatch),
    };
    if m.port() == 0 {
        return Err(SdpError::Rejected);
    }
    if !is_usable_audio(m) {
        return Err(SdpError::AnswerMismatch);
    }
    // The answer's payload types are the ones to send with (RFC 3264 §6.1 asks the
    // answerer to keep ours, but only as a SHOULD): match codecs by name.
    let offered: Vec<Codec> = offer.codecs.iter().map(|&(c, _)| c).collect();
    let (codec, payload_type) = first_codec(m, &offered).ok_or(SdpError::NoCommonCodec)?;
    let peer = read_peer_stream(answer, m)?;
    let dtmf_pt = telephone_event(m).map(|(pt, _)| pt);
    let ptime_ms = choose_ptime(peer.ptime.or(Some(offer.ptime)), peer.maxptime);
    let rtcp_mux = offer.rtcp_mux && peer.rtcp_mux;
    let remote_rtcp = if rtcp_mux { peer.rtp } else { peer.rtcp };
    Ok(NegotiatedMedia {
        remote_rtp: peer.rtp,
        remote_rtcp,
        codec,
        payload_type,
        dtmf_pt,
        cn_pt: None,
        ptime_ms,
        direction: peer.direction.reversed().intersect(offer.direction),
        rtcp_mux,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{LocalMedia, MediaDirection, SdpError, SdpSession, SessionDescription};
    use crate::codec::Codec;
    use std::net::SocketAddr;

    fn local() -> LocalMedia {
        LocalMedia::new("192.0.2.1".parse().expect("ip"), 20000)
    }

    fn parse(text: &str) -> SessionDescription {
        SessionDescription::parse(text).expect("parses")
    }

    /// An answer body with the given audio section lines.
    fn answer_body(m_and_attrs: &str) -> SessionDescription {
        parse(&format!(
            "v=0\r\no=- 9 9 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n{m_and_attrs}"
        ))
    }

    #[test]
    fn offer_contents() {
        let mut session = SdpSession::with_origin(1000, 1);
        let offer = session.offer(&local());
        assert_eq!(
            offer.to_string(),
            "v=0\r\no=mediagw 1000 1 IN IP4 192.0.2.1\r\ns=mediagw\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
             m=audio 20000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        let mut v6 = LocalMedia::new("2001:db8::5".parse().expect("ip"), 40000);
        v6.offer_rtcp_mux = true;
        v6.direction = MediaDirection::SendOnly;
        v6.ptime_ms = 25; // unsupported: falls back to 20
        let offer = SdpSession::with_origin(1, 1).offer(&v6);
        assert_eq!(offer.line_value('c'), Some("IN IP6 2001:db8::5"));
        let m = &offer.media()[0];
        assert_eq!(m.attribute("rtcp-mux"), Some(None));
        assert_eq!(m.attribute("sendonly"), Some(None));
        assert_eq!(m.attribute("ptime"), Some(Some("20")));
    }

    #[test]
    fn sipp_uas_answer() {
        let mut session = SdpSession::with_origin(1, 1);
        session.offer(&local());
        let answer = parse(
            "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        );
        let media = session.accept_answer(&answer).expect("valid answer");
        assert_eq!((media.codec, media.payload_type), (Codec::Pcmu, 0));
        assert_eq!(
            media.remote_rtp,
            "127.0.0.1:6000".parse::<SocketAddr>().expect("addr")
        );
        assert_eq!(media.remote_rtcp.port(), 6001);
        assert_eq!((media.dtmf_pt, media.ptime_ms), (None, 20));
        assert_eq!(media.direction, MediaDirection::SendRecv);
        assert!(!media.rtcp_mux);
    }

    #[test]
    fn asterisk_answer_with_alaw_dtmf_and_ptime() {
        let mut session = SdpSession::with_origin(1, 1);
        session.offer(&local());
        let answer = answer_body(
            "m=audio 11000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-16\r\na=ptime:30\r\na=sendrecv\r\n",
        );
        let media = session.accept_answer(&answer).expect("valid answer");
        assert_eq!((media.codec, media.payload_type), (Codec::Pcma, 8));
        assert_eq!(media.dtmf_pt, Some(101));
        assert_eq!(media.ptime_ms, 30);
        assert_eq!(media.remote_rtp.port(), 11000);
    }

    #[test]
    fn answer_directions_are_seen_from_our_side() {
        use MediaDirection::*;
        for (answered, offered, ours) in [
            ("sendrecv", SendRecv, SendRecv),
            ("sendonly", SendRecv, RecvOnly),
            ("recvonly", SendRecv, SendOnly),
            ("inactive", SendRecv, Inactive),
            ("recvonly", SendOnly, SendOnly),
            ("inactive", SendOnly, Inactive),
        ] {
            let mut ours_local = local();
            ours_local.direction = offered;
            let mut session = SdpSession::with_origin(1, 1);
            session.offer(&ours_local);
            let answer = answer_body(&format!("m=audio 11000 RTP/AVP 0\r\na={answered}\r\n"));
            let media = session.accept_answer(&answer).expect("valid answer");
            assert_eq!(
                media.direction, ours,
                "answer {answered} to our {offered:?}"
            );
        }
    }

    #[test]
    fn rtcp_mux_only_when_offered_and_answered() {
        let answer = answer_body("m=audio 11000 RTP/AVP 0\r\na=rtcp-mux\r\na=rtcp:11001\r\n");
        let mut session = SdpSession::with_origin(1, 1);
        session.offer(&local());
        let media = session.accept_answer(&answer).expect("valid answer");
        assert!(!media.rtcp_mux, "we did not offer it");
        assert_eq!(media.remote_rtcp.port(), 11001);

        let mut mux = local();
        mux.offer_rtcp_mux = true;
        session.offer(&mux);
        let media = session.accept_answer(&answer).expect("valid answer");
        assert!(media.rtcp_mux);
        assert_eq!(media.remote_rtcp, media.remote_rtp);
    }

    #[test]
    fn ipv6_answer() {
        let mut session = SdpSession::with_origin(1, 1);
        session.offer(&LocalMedia::new("2001:db8::5".parse().expect("ip"), 40000));
        let answer = parse(
            "v=0\r\no=- 1 1 IN IP6 2001:db8::10\r\ns=-\r\nt=0 0\r\nm=audio 10942 RTP/AVP 8 0\r\n\
             c=IN IP6 2001:db8::10\r\n",
        );
        let media = session.accept_answer(&answer).expect("valid answer");
        assert_eq!(
            media.remote_rtp,
            "[2001:db8::10]:10942".parse::<SocketAddr>().expect("addr")
        );
        assert_eq!(media.codec, Codec::Pcma, "the answer's order decides");
    }

    #[test]
    fn bad_answers() {
        let mut session = SdpSession::with_origin(1, 1);
        assert_eq!(
            session.accept_answer(&answer_body("m=audio 1 RTP/AVP 0\r\n")),
            Err(SdpError::NoPendingOffer)
        );
        session.offer(&local());
        let cases = [
            ("m=audio 0 RTP/AVP 0\r\n", SdpError::Rejected),
            (
                "m=audio 11000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n",
                SdpError::NoCommonCodec,
            ),
            (
                "m=audio 11000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n",
                SdpError::AnswerMismatch,
            ),
            ("m=audio 11000 RTP/SAVP 0\r\n", SdpError::AnswerMismatch),
            ("", SdpError::AnswerMismatch),
        ];
        for (section, expected) in cases {
            assert_eq!(
                session.accept_answer(&answer_body(section)),
                Err(expected),
                "{section:?}"
            );
        }
        let mut alaw_only = local();
        alaw_only.codecs = vec![Codec::Pcma];
        session.offer(&alaw_only);
        assert_eq!(
            session.accept_answer(&answer_body("m=audio 11000 RTP/AVP 0\r\n")),
            Err(SdpError::NoCommonCodec),
            "PCMU was not offered"
        );
    }
}
