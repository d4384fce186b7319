//! Target `sdp`: one SDP body through parsing and RFC 3264 offer/answer as the engine
//! uses it: answering it as an offer, and reading it as the answer to our own offer,
//! for two local setups (IPv4 with the defaults; IPv6, PCMA only, rtcp-mux, on hold).
//!
//! Checks: a parsed body prints to text that parses to the same media sections; our
//! answer parses, has one section per offered one (RFC 3264 §6) and a packet time the
//! media plane supports; every negotiation failure maps to a SIP status (400 or 488).

use mediagw::codec::Codec;
use mediagw::sdp::{
    LocalMedia, MediaDirection as Direction, SUPPORTED_PTIMES, SdpSession, SessionDescription,
};

/// The target.
pub fn run(data: &[u8]) {
    let Ok(sdp) = SessionDescription::parse_bytes(data) else {
        return;
    };
    let printed = sdp.to_string();
    let again = SessionDescription::parse(&printed).expect("an SDP we print parses");
    assert_eq!(
        again.media(),
        sdp.media(),
        "media sections survive a round trip"
    );
    for local in locals() {
        let mut session = SdpSession::with_origin(7, 1);
        match session.answer(&sdp, &local) {
            Ok((answer, negotiated)) => {
                let text = answer.to_string();
                let parsed = SessionDescription::parse(&text).expect("our answer parses");
                assert_eq!(
                    parsed.media().len(),
                    sdp.media().len(),
                    "one answer section per offered one"
                );
                assert!(
                    SUPPORTED_PTIMES.contains(&negotiated.ptime_ms),
                    "ptime {}",
                    negotiated.ptime_ms
                );
                assert!(local.codecs.contains(&negotiated.codec));
                let _ = negotiated.samples_per_packet();
            }
            Err(e) => assert!(matches!(e.sip_status(), 400 | 488)),
        }
        let offer = session.offer(&local);
        SessionDescription::parse(&offer.to_string()).expect("our offer parses");
        match session.accept_answer(&sdp) {
            Ok(negotiated) => {
                assert!(
                    SUPPORTED_PTIMES.contains(&negotiated.ptime_ms),
                    "ptime {}",
                    negotiated.ptime_ms
                );
            }
            Err(e) => assert!(matches!(e.sip_status(), 400 | 488)),
        }
    }
}

fn locals() -> [LocalMedia; 2] {
    let v4 = LocalMedia::new("192.0.2.1".parse().expect("ip"), 20000);
    let mut v6 = LocalMedia::new("2001:db8::1".parse().expect("ip"), 30000);
    v6.codecs = vec![Codec::Pcma];
    v6.offer_rtcp_mux = true;
    v6.direction = Direction::SendOnly;
    [v4, v6]
}
