//! Answering an offer (RFC 3264 §6): one answer section per offered section,
//! in order; the first usable audio stream with a common codec is accepted and
//! every other section rejected with port 0.

use super::error::SdpError;
use super::fields::choose_ptime;
use super::negotiate::{
    AudioSection, comfort_noise, first_codec, is_usable_audio, read_peer_stream, telephone_event,
};
use super::parse::{MediaDescription, SessionDescription};
use super::types::{LocalMedia, NegotiatedMedia};

/// The media sections of an answer and what was negotiated.
pub struct AnswerParts {
    /// The offer's `t=` value, which the answer must repeat.
    pub timing: String,
    /// One section per offered section.
    pub media: Vec<MediaDescription>,
    /// The accepted audio stream.
    pub negotiated: NegotiatedMedia,
}

/// Negotiates one offered audio section; `Err` rejects it.
fn accept_audio(
    offer: &SessionDescription,
    m: &MediaDescription,
    local: &LocalMedia,
) -> Result<(MediaDescription, NegotiatedMedia), SdpError> {
    let (codec, payload_type) = first_codec(m, &local.codecs).ok_or(SdpError::NoCommonCodec)?;
    let peer = read_peer_stream(offer, m)?;
    let dtmf = telephone_event(m);
    let cn = comfort_noise(m);
    let ptime_ms = choose_ptime(peer.ptime, peer.maxptime);
    // RFC 3264 §6.1: mirror the offer's direction, limited by what we want.
    let direction = peer.direction.reversed().intersect(local.direction);
    let section = AudioSection {
        port: local.port,
        codecs: &[(codec, payload_type)],
        dtmf,
        cn,
        ptime: ptime_ms,
        direction,
        rtcp_mux: peer.rtcp_mux,
    }
    .build();
    let negotiated = NegotiatedMedia {
        remote_rtp: peer.rtp,
        remote_rtcp: if peer.rtcp_mux { peer.rtp } else { peer.rtcp },
        codec,
        payload_type,
        dtmf_pt: dtmf.map(|(pt, _)| pt),
        cn_pt: cn,
        ptime_ms,
        direction,
        rtcp_mux: peer.rtcp_mux,
    };
    Ok((section, negotiated))
}

/// Builds the answer sections for `offer`. Fails with the reason the first
/// usable audio stream was refused (`NoCommonCodec`, `NoConnection`, ...), or
/// `NoAcceptableMedia` when no RTP/AVP audio stream with a port was offered.
pub fn answer_offer(
    offer: &SessionDescription,
    local: &LocalMedia,
) -> Result<AnswerParts, SdpError> {
    let mut media = Vec::with_capacity(offer.media().len());
    let mut negotiated = None;
    let mut first_error = None;
    for m in offer.media() {
        if negotiated.is_none() && is_usable_audio(m) {
            match accept_audio(offer, m, local) {
                Ok((section, result)) => {
                    media.push(section);
                    negotiated = Some(result);
                    continue;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        media.push(m.rejected());
    }
    let negotiated =
        negotiated.ok_or_else(|| first_error.unwrap_or(SdpError::NoAcceptableMedia))?;
    let timing = offer.line_value('t').unwrap_or("0 0").to_string();
    Ok(AnswerParts {
        timing,
        media,
        negotiated,
    })
}

#[cfg(test)]
mod tests {
    use super::super::samples;
    use super::super::{LocalMedia, MediaDirection, SdpError, SdpSession, SessionDescription};
    use crate::codec::Codec;
    use std::net::SocketAddr;

    fn local() -> LocalMedia {
        LocalMedia::new("192.0.2.1".parse().expect("ip"), 20000)
    }

    fn answer_with(
        offer: &str,
        local: &LocalMedia,
    ) -> Result<(SessionDescription, super::NegotiatedMedia), SdpError> {
        let offer = SessionDescription::parse(offer).expect("offer parses");
        SdpSession::with_origin(42, 7).answer(&offer, local)
    }

    fn answer(offer: &str) -> (SessionDescription, super::NegotiatedMedia) {
        answer_with(offer, &local()).expect("answerable")
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    /// The answer's audio section attribute lines, as text.
    fn attrs(sdp: &SessionDescription, index: usize) -> Vec<String> {
        sdp.media()[index]
            .lines()
            .iter()
            .map(|l| l.value.clone())
            .collect()
    }

    #[test]
    fn sipp_uac() {
        let (sdp, media) = answer(samples::SIPP_UAC);
        assert_eq!(media.codec, Codec::Pcmu);
        assert_eq!(media.payload_type, 0);
        assert_eq!(media.remote_rtp, addr("127.0.0.1:6000"));
        assert_eq!(media.remote_rtcp, addr("127.0.0.1:6001"));
        assert_eq!((media.dtmf_pt, media.cn_pt), (None, None));
        assert_eq!(media.ptime_ms, 20);
        assert_eq!(media.samples_per_packet(), 160);
        assert_eq!(media.direction, MediaDirection::SendRecv);
        assert!(!media.rtcp_mux);
        assert_eq!(
            sdp.to_string(),
            "v=0\r\no=mediagw 42 7 IN IP4 192.0.2.1\r\ns=mediagw\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
             m=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        );
    }

    #[test]
    fn asterisk_prefers_alaw_and_keeps_telephone_event() {
        let (sdp, media) = answer(samples::ASTERISK);
        assert_eq!((media.codec, media.payload_type), (Codec::Pcma, 8));
        assert_eq!(media.dtmf_pt, Some(101));
        assert_eq!(media.ptime_ms, 20, "maxptime 150 does not lower 20");
        assert_eq!(sdp.media()[0].formats(), ["8", "101"]);
        assert_eq!(
            attrs(&sdp, 0),
            [
                "rtpmap:8 PCMA/8000",
                "rtpmap:101 telephone-event/8000",
                "fmtp:101 0-16",
                "ptime:20",
                "sendrecv"
            ]
        );
    }

    #[test]
    fn freeswitch_skips_g722_accepts_cn_and_reads_rtcp_attribute() {
        let (sdp, media) = answer(samples::FREESWITCH);
        assert_eq!((media.codec, media.payload_type), (Codec::Pcmu, 0));
        assert_eq!((media.dtmf_pt, media.cn_pt), (Some(101), Some(13)));
        assert_eq!(media.remote_rtcp, addr("192.0.2.21:16385"));
        assert_eq!(sdp.media()[0].formats(), ["0", "101", "13"]);
        assert!(attrs(&sdp, 0).contains(&"rtpmap:13 CN/8000".to_string()));

        // With only A-law configured locally, the offer's first A-law is taken.
        let mut alaw_only = local();
        alaw_only.codecs = vec![Codec::Pcma];
        let (_, media) = answer_with(samples::FREESWITCH, &alaw_only).expect("answerable");
        assert_eq!((media.codec, media.payload_type), (Codec::Pcma, 8));
    }

    #[test]
    fn linphone_dtmf_rate_and_rejected_video_in_order() {
        let (sdp, media) = answer(samples::LINPHONE_VIDEO);
        assert_eq!((media.codec, media.payload_type), (Codec::Pcmu, 0));
        assert_eq!(media.dtmf_pt, Some(100), "only the 8000 Hz telephone-event");
        assert_eq!(sdp.media().len(), 2);
        assert_eq!(sdp.media()[1].m_line().value, "video 0 RTP/AVP 96 97");
        assert!(sdp.media()[1].lines().is_empty());
        assert!(
            attrs(&sdp, 0).contains(&"fmtp:100 0-15".to_string()),
            "default events when no fmtp"
        );
    }

    #[test]
    fn baresip_ipv6_with_rtcp_mux() {
        let (sdp, media) = answer(samples::BARESIP_IPV6);
        assert_eq!(media.remote_rtp, addr("[2001:db8::10]:10942"));
        assert!(media.rtcp_mux);
        assert_eq!(media.remote_rtcp, media.remote_rtp);
        assert!(attrs(&sdp, 0).contains(&"rtcp-mux".to_string()));
        assert!(attrs(&sdp, 0).contains(&"fmtp:101 0-15".to_string()));

        let v6 = LocalMedia::new("2001:db8::1".parse().expect("ip"), 30000);
        let (sdp, _) = answer_with(samples::BARESIP_IPV6, &v6).expect("answerable");
        assert_eq!(sdp.line_value('c'), Some("IN IP6 2001:db8::1"));
        assert!(
            sdp.line_value('o')
                .is_some_and(|o| o.ends_with("IN IP6 2001:db8::1"))
        );
    }

    #[test]
    fn cisco_media_level_connection_cn_19_and_ptime_30() {
        let (sdp, media) = answer(samples::CISCO);
        assert_eq!(media.remote_rtp, addr("198.51.100.8:17216"));
        assert_eq!((media.codec, media.payload_type), (Codec::Pcma, 8));
        assert_eq!(media.cn_pt, Some(19));
        assert_eq!(media.ptime_ms, 30);
        assert_eq!(media.samples_per_packet(), 240);
        assert_eq!(media.direction, MediaDirection::SendRecv);
        assert!(attrs(&sdp, 0).contains(&"ptime:30".to_string()));
    }

    #[test]
    fn directions_follow_rfc3264_and_our_hold_state() {
        use MediaDirection::*;
        let cases = [
            // (offer attribute, our wish, answered direction)
            ("sendrecv", SendRecv, SendRecv),
            ("sendonly", SendRecv, RecvOnly),
            ("recvonly", SendRecv, SendOnly),
            ("inactive", SendRecv, Inactive),
            ("sendrecv", SendOnly, SendOnly),
            ("sendrecv", Inactive, Inactive),
            ("sendonly", SendOnly, Inactive),
            ("recvonly", SendOnly, SendOnly),
        ];
        for (attr, wish, expected) in cases {
            let offer = samples::ASTERISK.replace("a=sendrecv", &format!("a={attr}"));
            let mut ours = local();
            ours.direction = wish;
            let (sdp, media) = answer_with(&offer, &ours).expect("answerable");
            assert_eq!(media.direction, expected, "{attr} with {wish:?}");
            assert_eq!(sdp.media()[0].attribute(expected.attribute()), Some(None));
        }
    }

    #[test]
    fn hold_offers() {
        let (sdp, media) = answer(samples::FREESWITCH_HOLD);
        assert_eq!(media.direction, MediaDirection::RecvOnly);
        assert_eq!(sdp.media()[0].attribute("recvonly"), Some(None));
        // c=0.0.0.0 without a direction attribute is the old hold.
        let (sdp, media) = answer(samples::CISCO_LEGACY_HOLD);
        assert_eq!(media.direction, MediaDirection::RecvOnly);
        assert!(!media.direction.sends());
        assert_eq!(sdp.media()[0].attribute("recvonly"), Some(None));
    }

    #[test]
    fn session_level_direction_applies_unless_overridden() {
        let offer = samples::SIPP_UAC.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
        let (_, media) = answer_with(&offer, &local()).expect("answerable");
        assert_eq!(media.direction, MediaDirection::RecvOnly);
        let offer = format!("{offer}a=inactive\r\n");
        let (_, media) = answer_with(&offer, &local()).expect("answerable");
        assert_eq!(media.direction, MediaDirection::Inactive);
    }

    #[test]
    fn other_streams_are_rejected_in_place() {
        let (sdp, media) = answer(samples::IMAGE_FIRST);
        let m_lines: Vec<_> = sdp
            .media()
            .iter()
            .map(|m| m.m_line().value.clone())
            .collect();
        assert_eq!(
            m_lines,
            [
                "image 0 udptl t38",
                "audio 20000 RTP/AVP 8",
                "audio 0 RTP/AVP 0"
            ]
        );
        assert_eq!((media.codec, media.ptime_ms), (Codec::Pcma, 10));
        assert_eq!(media.remote_rtp, addr("203.0.113.5:20002"));

        // A disabled audio stream stays disabled; the next one is taken.
        let offer = samples::SIPP_UAC.replace(
            "m=audio 6000 RTP/AVP 0\r\n",
            "m=audio 0 RTP/AVP 0\r\nm=audio 6002 RTP/AVP 8\r\n",
        );
        let (sdp, media) = answer_with(&offer, &local()).expect("answerable");
        assert_eq!(sdp.media()[0].port(), 0);
        assert_eq!(sdp.media()[1].port(), 20000);
        assert_eq!(media.remote_rtp.port(), 6002);
    }

    #[test]
    fn failures_map_to_488() {
        let srtp = answer_with(samples::SRTP_ONLY, &local()).map(|_| ());
        assert_eq!(srtp, Err(SdpError::NoAcceptableMedia));
        let g729 = answer_with(samples::G729_ONLY, &local()).map(|_| ());
        assert_eq!(g729, Err(SdpError::NoCommonCodec));
        let mut nothing = local();
        nothing.codecs.clear();
        let none = answer_with(samples::SIPP_UAC, &nothing).map(|_| ());
        assert_eq!(none, Err(SdpError::NoCommonCodec));
        for e in [
            SdpError::NoAcceptableMedia,
            SdpError::NoCommonCodec,
            SdpError::NoConnection,
        ] {
            assert_eq!(e.sip_status(), 488);
        }
        assert_eq!(
            SdpError::Malformed {
                line: 1,
                reason: "x"
            }
            .sip_status(),
            400
        );

        let no_c = samples::SIPP_UAC.replace("c=IN IP4 127.0.0.1\r\n", "");
        assert_eq!(
            answer_with(&no_c, &local()).map(|_| ()),
            Err(SdpError::NoConnection)
        );
        let fqdn = samples::SIPP_UAC.replace("c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example.com");
        assert!(matches!(
            answer_with(&fqdn, &local()),
            Err(SdpError::UnsupportedAddress(_))
        ));
    }

    #[test]
    fn dynamic_and_lowercase_codecs_and_unusable_events() {
        let offer = samples::SIPP_UAC.replace(
            "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            "m=audio 6000 RTP/AVP 96 97 98\r\na=rtpmap:96 pcma/8000\r\na=rtpmap:97 telephone-event/8000\r\n\
             a=fmtp:97 32-41\r\na=rtpmap:98 PCMU/16000\r\n",
        );
        let (sdp, media) = answer_with(&offer, &local()).expect("answerable");
        assert_eq!((media.codec, media.payload_type), (Codec::Pcma, 96));
        assert_eq!(media.dtmf_pt, None, "no DTMF events in 32-41");
        assert_eq!(sdp.media()[0].formats(), ["96"]);
    }

    #[test]
    fn malformed_attribute_values_fall_back() {
        let offer = samples::ASTERISK
            .replace("a=ptime:20", "a=ptime:abc")
            .replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:8 PCMA")
            .replace("a=fmtp:101 0-16", "a=fmtp:101 zz");
        let (sdp, media) = answer_with(&offer, &local()).expect("answerable");
        assert_eq!(media.ptime_ms, 20);
        // The broken rtpmap for 8 is ignored: the static assignment applies.
        assert_eq!(media.codec, Codec::Pcma);
        assert_eq!(media.dtmf_pt, Some(101), "unreadable event list means 0-15");
        assert!(attrs(&sdp, 0).contains(&"fmtp:101 0-15".to_string()));
    }

    #[test]
    fn repeats_the_offer_timing() {
        let offer = samples::SIPP_UAC.replace("t=0 0", "t=3034423619 3042462419");
        let (sdp, _) = answer_with(&offer, &local()).expect("answerable");
        assert_eq!(sdp.line_value('t'), Some("3034423619 3042462419"));
    }
}
