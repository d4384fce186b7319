//! SDP for the gateway's audio calls: line-preserving RFC 4566 parsing and
//! RFC 3264 offer/answer for G.711 (PCMU, PCMA), telephone-event and comfort
//! noise, producing a typed [`NegotiatedMedia`].
//!
//! Answering picks the offerer's first supported codec, keeps its
//! telephone-event payload type, mirrors direction (limited by our own hold
//! state), answers rtcp-mux, rejects every other stream with port 0 in place,
//! and fails with a typed error whose `sip_status()` is the response (488).
//! Packet time: the offer's `a=ptime` rounded to 10/20/30 ms (≤ 14 → 10,
//! 15..=25 → 20, ≥ 26 → 30, absent → 20), then capped by `a=maxptime`.
//! [`SdpSession`] keeps our `o=` id and version (bumped when our SDP changes)
//! and the outstanding offer. Signalling path only: this allocates.

mod answer;
mod error;
mod fields;
mod negotiate;
mod offer;
mod parse;
#[cfg(test)]
mod samples;
mod session;
mod types;

pub use error::SdpError;
pub use fields::{
    DEFAULT_PTIME, EventSet, RtpMap, SUPPORTED_PTIMES, choose_ptime, parse_connection,
};
pub use parse::{MAX_SDP_LEN, MediaDescription, SdpLine, SessionDescription};
pub use session::SdpSession;
pub use types::{LocalMedia, MediaDirection, NegotiatedMedia};

#[cfg(test)]
mod fuzz_tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Random bytes and mutated real offers through the parser and the
    /// answerer: no panic, and whatever is answered is itself parseable.
    #[test]
    fn parser_and_answerer_survive_random_input() {
        let mut rng = StdRng::seed_from_u64(0x5EED_0003);
        let local = LocalMedia::new("192.0.2.1".parse().expect("ip"), 20000);
        let mut session = SdpSession::with_origin(1, 1);
        let mut answered = 0;
        for i in 0..4000 {
            let text = if i % 4 == 0 {
                let len = rng.random_range(0..300);
                let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                let (_, sample) = samples::ALL[rng.random_range(0..samples::ALL.len())];
                let mut bytes = sample.as_bytes().to_vec();
                for _ in 0..rng.random_range(1..6) {
                    let at = rng.random_range(0..bytes.len());
                    match rng.random_range(0..4) {
                        0 => bytes[at] = rng.random_range(0x20..0x7F),
                        1 => bytes[at] = b' ',
                        2 => bytes[at] = b'\n',
                        _ => {
                            let end = (at + rng.random_range(0..40)).min(bytes.len());
                            bytes.drain(at..end);
                        }
                    }
                    if bytes.is_empty() {
                        break;
                    }
                }
                String::from_utf8_lossy(&bytes).into_owned()
            };
            let _ = SessionDescription::parse_bytes(text.as_bytes());
            let Ok(offer) = SessionDescription::parse(&text) else {
                continue;
            };
            let _ = offer.to_string();
            if let Ok((answer, _)) = session.answer(&offer, &local) {
                answered += 1;
                let reparsed =
                    SessionDescription::parse(&answer.to_string()).expect("our answer parses");
                assert_eq!(reparsed.media().len(), offer.media().len());
            }
            let _ = session.offer(&local);
            let _ = session.accept_answer(&offer);
        }
        assert!(
            answered > 100,
            "mutations should still produce answers ({answered})"
        );
    }
}
