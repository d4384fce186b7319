//! SDP for test UAs: the audio offer they make (one G.711 codec, optionally
//! telephone-event 101) and where an answer wants the RTP, read with the gateway's own
//! SDP parser.

use std::net::SocketAddr;

use mediagw::codec::Codec;
use mediagw::sdp::{SessionDescription, parse_connection};

/// The payload type of telephone-event in every offer.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// An offer of `codec` (20 ms, sendrecv) with RTP at `rtp`, plus telephone-event 101
/// (events 0-16) when `telephone_event`.
pub fn audio_offer(rtp: SocketAddr, codec: Codec, telephone_event: bool) -> String {
    audio_offer_with(rtp, codec, telephone_event.then_some(TELEPHONE_EVENT_PT))
}

/// An offer (or an answer: the same lines) of `codec` (20 ms, sendrecv) with RTP at
/// `rtp`, plus telephone-event (events 0-16) under payload type `te` when given.
pub fn audio_offer_with(rtp: SocketAddr, codec: Codec, te: Option<u8>) -> String {
    let pt = codec.static_payload_type();
    let (fmts, te) = match te {
        Some(te) => (
            format!("{pt} {te}"),
            format!("a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"),
        ),
        None => (pt.to_string(), String::new()),
    };
    format!(
        "v=0\r\no=testkit 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {fmts}\r\na=rtpmap:{pt} {name}/8000\r\n{te}a=ptime:20\r\na=sendrecv\r\n",
        ip = rtp.ip(),
        port = rtp.port(),
        name = codec.encoding_name(),
    )
}

/// Where the first audio stream of an SDP body wants RTP: its port and its connection
/// address (media level, else session level).
pub fn rtp_target(body: &[u8]) -> Option<SocketAddr> {
    let sdp = SessionDescription::parse_bytes(body).ok()?;
    let audio = sdp.media().iter().find(|m| m.media() == "audio")?;
    let c = audio.line_value('c').or_else(|| sdp.line_value('c'))?;
    Some(SocketAddr::new(parse_connection(c).ok()?, audio.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_reads_back_as_its_own_target() {
        let rtp: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        for (codec, te) in [(Codec::Pcmu, true), (Codec::Pcma, false)] {
            let offer = audio_offer(rtp, codec, te);
            assert_eq!(rtp_target(offer.as_bytes()), Some(rtp), "{offer}");
            let sdp = SessionDescription::parse(&offer).expect("parses");
            let m = &sdp.media()[0];
            let want: Vec<String> = if te {
                vec![codec.static_payload_type().to_string(), "101".into()]
            } else {
                vec![codec.static_payload_type().to_string()]
            };
            assert_eq!(m.formats(), want.as_slice());
        }
    }

    #[test]
    fn media_level_connection_wins_and_garbage_is_none() {
        let body = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\nc=IN IP4 127.0.0.2\r\n";
        assert_eq!(
            rtp_target(body.as_bytes()),
            Some("127.0.0.2:5004".parse().expect("addr"))
        );
        assert_eq!(rtp_target(b"not sdp"), None);
    }
}
