//! Target `rfc4733`: a stream of RTP packets (2-byte length prefixes) through the media
//! channel's RFC 4733 path: packets of the negotiated telephone-event payload type (101)
//! are parsed as an event block, mapped to a DTMF digit, and reported once per event by
//! `EventDedup`.
//!
//! Checks: an event block writes back to the same 4 bytes (R bit aside); a digit maps
//! back to its event code; a packet repeating the previous packet's event and timestamp
//! is never a new digit (redundant end packets, retransmissions).

use mediagw::media::event_dedup::EventDedup;
use mediagw::rtp::{RtpPacket, TelephoneEvent, dtmf_event};

use crate::split::packets;

/// The telephone-event payload type the engine offers and usually negotiates.
const DTMF_PT: u8 = 101;

/// The target.
pub fn run(data: &[u8]) {
    let mut dedup = EventDedup::default();
    let mut previous: Option<(u8, u32)> = None;
    let mut reported = 0usize;
    for raw in packets(data) {
        let Ok(pkt) = RtpPacket::parse(raw) else {
            continue;
        };
        if pkt.header.payload_type != DTMF_PT {
            continue;
        }
        let Ok(ev) = TelephoneEvent::parse(pkt.payload) else {
            continue;
        };
        let mut block = [0u8; 4];
        assert_eq!(ev.write(&mut block), Ok(TelephoneEvent::LEN));
        assert_eq!(block[0], pkt.payload[0]);
        assert_eq!(
            block[1],
            pkt.payload[1] & !0x40,
            "E bit and volume survive, R bit cleared"
        );
        assert_eq!(block[2..], pkt.payload[2..4]);
        let Some(digit) = ev.digit() else {
            continue;
        };
        assert_eq!(dtmf_event(digit), Some(ev.event));
        let ts = pkt.header.timestamp;
        let new = dedup.is_new(ev.event, ts, ev.end);
        if previous == Some((ev.event, ts)) {
            assert!(
                !new,
                "a repeat of the previous packet's event reported again"
            );
        }
        reported += usize::from(new);
        previous = Some((ev.event, ts));
    }
    let _ = reported;
}
