//! Target `rtp`: a stream of RTP packets (2-byte length prefixes, [`crate::split::packets`])
//! through what the media channel does with each one: `RtpPacket::parse`, the RFC 3550
//! receive statistics, and the reorder/jitter buffer (`push`, one `pull` per packet time,
//! then `drain_next` to the end, as a finishing recording does), sized as the channel
//! sizes it.
//!
//! Checks: a parsed packet is rebuilt to the same bytes (padding filler aside); the buffer
//! never holds more than its capacity, and every frame it releases is the packet last
//! stored under that sequence number, in increasing sequence order (between the forward
//! jumps of an overflow or a restart, which may go past half the sequence space).

use std::collections::HashMap;

use mediagw::media::channel::MAX_SPF;
use mediagw::rtp::{JitterBuffer, Pulled, PushOutcome, ReceiveStats, RtpPacket};

use crate::split::packets;

/// The media channel's jitter buffer: 16 slots, playout after 2 packet times.
const JB_SLOTS: usize = 16;
const JB_PREFILL: usize = 2;

/// The target.
pub fn run(data: &[u8]) {
    let mut stats = ReceiveStats::new(8000);
    let mut jb = JitterBuffer::new(JB_SLOTS, MAX_SPF, JB_PREFILL);
    let mut stored: HashMap<u16, Vec<u8>> = HashMap::new();
    let mut last_played: Option<u16> = None;
    let mut out = [0u8; 70_000];
    for (i, raw) in packets(data).enumerate() {
        let Ok(pkt) = RtpPacket::parse(raw) else {
            continue;
        };
        let written = pkt.write(&mut out).expect("a parsed packet can be rebuilt");
        assert_eq!(written, raw.len());
        let unpadded = raw.len() - pkt.padding_len as usize;
        assert_eq!(&out[..unpadded], &raw[..unpadded], "rebuilt packet differs");
        let _ = pkt.csrc.iter().count();
        let h = pkt.header;
        let _ = stats.on_packet(h.ssrc, h.sequence, h.timestamp, i as u64 * 20_000);
        match jb.push(&h, pkt.payload) {
            PushOutcome::Stored => {
                stored.insert(h.sequence, pkt.payload.to_vec());
            }
            PushOutcome::Overflowed { .. } => {
                last_played = None;
                stored.insert(h.sequence, pkt.payload.to_vec());
            }
            PushOutcome::Restarted => {
                stored.clear();
                last_played = None;
                stored.insert(h.sequence, pkt.payload.to_vec());
            }
            PushOutcome::Duplicate | PushOutcome::Late | PushOutcome::TooLarge => {}
        }
        assert!(jb.len() <= jb.capacity(), "buffer over capacity");
        check(jb.pull(), &stored, &mut last_played);
        if i % 8 == 7 {
            let _ = stats.report_block(i as u64 * 20_000);
        }
    }
    for _ in 0..2 * JB_SLOTS {
        let pulled = jb.drain_next();
        if pulled == Pulled::Empty {
            break;
        }
        check(pulled, &stored, &mut last_played);
    }
    let _ = (
        jb.stats(),
        stats.cumulative_lost(),
        stats.jitter(),
        stats.expected(),
    );
}

/// A released frame is what was stored under its sequence number, after the last one.
fn check(pulled: Pulled<'_>, stored: &HashMap<u16, Vec<u8>>, last: &mut Option<u16>) {
    let Pulled::Frame(frame) = pulled else {
        return;
    };
    let expected = stored
        .get(&frame.sequence)
        .expect("a released frame was pushed");
    assert_eq!(frame.payload, &expected[..], "frame payload");
    if let Some(previous) = *last {
        let step = frame.sequence.wrapping_sub(previous);
        assert!(
            step != 0 && step < 0x8000,
            "frames out of order: {previous} then {}",
            frame.sequence
        );
    }
    *last = Some(frame.sequence);
}
