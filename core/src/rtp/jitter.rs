//! A small receive reorder/jitter buffer: a fixed ring of frames indexed by
//! sequence number, filled by `push` as packets arrive and drained by one `pull`
//! per packet time. Frames come out in sequence order; a sequence number that
//! never arrived comes out as `Missing` (for silence or concealment); late and
//! duplicate packets are dropped. All storage is allocated once in `new`.
//!
//! Push every packet of the stream (audio, telephone-event, CN): they share one
//! sequence space, and a packet left out would read as a gap. A caller that pulls
//! a non-audio frame may pull again in the same tick.

use super::header::RtpHeader;

/// Backward jumps beyond this many packets may be a sender restart (RFC 3550 A.1).
const MAX_MISORDER: i16 = 100;

/// What happened to a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Stored,
    /// Already buffered: dropped.
    Duplicate,
    /// Its playout time has passed: dropped.
    Late,
    /// Larger than the slot size: dropped.
    TooLarge,
    /// Stored, but it was so far ahead that older frames were discarded (count).
    Overflowed {
        /// Buffered frames discarded to make room.
        dropped: u16,
    },
    /// Two consecutive packets far behind the playout point: the sender
    /// restarted its sequence, the buffer was reset and this packet stored.
    Restarted,
}

/// A frame released by `pull`, borrowing the buffer's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// RTP sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Payload bytes.
    pub payload: &'a [u8],
}

/// The result of one pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pulled<'a> {
    /// The next frame in sequence.
    Frame(Frame<'a>),
    /// This sequence number is lost (later ones are buffered): conceal it.
    Missing {
        /// The missing sequence number.
        sequence: u16,
    },
    /// Nothing to play: not started, filling to the playout delay, or underrun.
    Empty,
}

/// Counters kept by the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    /// Frames released.
    pub played: u64,
    /// Gaps reported as `Missing`.
    pub missing: u64,
    /// Packets dropped as late.
    pub late: u64,
    /// Packets dropped as duplicates.
    pub duplicate: u64,
    /// Frames discarded by overflow, plus packets too large.
    pub discarded: u64,
    /// Pulls that found the buffer empty while playing.
    pub underruns: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    occupied: bool,
    marker: bool,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    len: u16,
}

/// The reorder/jitter buffer. See the module documentation.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    slots: Box<[Slot]>,
    data: Box<[u8]>,
    max_payload: usize,
    prefill: u16,
    started: bool,
    playing: bool,
    next_seq: u16,
    /// Highest sequence buffered, as an offset from `next_seq` plus one (0 = none).
    span: u16,
    count: u16,
    bad_seq: Option<u16>,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer of `capacity` frames (rounded up to a power of two in 2..=1024)
    /// of up to `max_payload` bytes (≤ 65535) each, which starts (and restarts
    /// after an underrun) releasing frames once `prefill` consecutive packet
    /// times are covered (1..=capacity).
    pub fn new(capacity: usize, max_payload: usize, prefill: usize) -> Self {
        let capacity = capacity.clamp(2, 1024).next_power_of_two();
        let max_payload = max_payload.min(u16::MAX as usize);
        Self {
            slots: vec![Slot::default(); capacity].into_boxed_slice(),
            data: vec![0u8; capacity * max_payload].into_boxed_slice(),
            max_payload,
            prefill: prefill.clamp(1, capacity) as u16,
            started: false,
            playing: false,
            next_seq: 0,
            span: 0,
            count: 0,
            bad_seq: None,
            stats: JitterStats::default(),
        }
    }

    /// Frame capacity.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Frames currently buffered.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when no frame is buffered.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Counters since creation.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Forgets all buffered frames and the sequence reference (counters are kept).
    pub fn reset(&mut self) {
        self.slots.iter_mut().for_each(|s| s.occupied = false);
        self.started = false;
        self.playing = false;
        self.span = 0;
        self.count = 0;
        self.bad_seq = None;
    }

    fn slot_index(&self, seq: u16) -> usize {
        // The capacity is a power of two.
        seq as usize & (self.slots.len() - 1)
    }

    fn store(&mut self, header: &RtpHeader, payload: &[u8]) {
        let index = self.slot_index(header.sequence);
        let start = index * self.max_payload;
        self.data[start..start + payload.len()].copy_from_slice(payload);
        self.slots[index] = Slot {
            occupied: true,
            marker: header.marker,
            payload_type: header.payload_type,
            sequence: header.sequence,
            timestamp: header.timestamp,
            len: payload.len() as u16,
        };
        self.count += 1;
        let offset = header.sequence.wrapping_sub(self.next_seq).wrapping_add(1);
        self.span = self.span.max(offset);
    }

    /// Offers a received packet to the buffer.
    pub fn push(&mut self, header: &RtpHeader, payload: &[u8]) -> PushOutcome {
        if payload.len() > self.max_payload {
            self.stats.discarded += 1;
            return PushOutcome::TooLarge;
        }
        let seq = header.sequence;
        if !self.started {
            self.started = true;
            self.next_seq = seq;
            self.store(header, payload);
            return PushOutcome::Stored;
        }
        let delta = seq.wrapping_sub(self.next_seq) as i16;
        if delta < 0 {
            let far_behind = delta < -MAX_MISORDER;
            if !far_behind || self.bad_seq != Some(seq) {
                if far_behind {
                    // Remember where a restarted sender would continue.
                    self.bad_seq = Some(seq.wrapping_add(1));
                }
                self.stats.late += 1;
                return PushOutcome::Late;
            }
            // The packet after a far-behind one: the sender restarted.
            self.reset();
            self.started = true;
            self.next_seq = seq.wrapping_sub(1);
            self.store(header, payload);
            return PushOutcome::Restarted;
        }
        let mut outcome = PushOutcome::Stored;
        let capacity = self.slots.len();
        if delta as usize >= capacity {
            // Too far ahead: move the window so this packet is its last frame.
            let new_next = seq.wrapping_sub(capacity as u16 - 1);
            let mut dropped = 0u16;
            for slot in self.slots.iter_mut() {
                if slot.occupied && (slot.sequence.wrapping_sub(new_next) as i16) < 0 {
                    slot.occupied = false;
                    dropped += 1;
                }
            }
            self.count -= dropped;
            self.stats.discarded += dropped as u64;
            let shift = new_next.wrapping_sub(self.next_seq);
            self.span = self.span.saturating_sub(shift);
            self.next_seq = new_next;
            outcome = PushOutcome::Overflowed { dropped };
        }
        let index = self.slot_index(seq);
        if self.slots[index].occupied && self.slots[index].sequence == seq {
            self.stats.duplicate += 1;
            return PushOutcome::Duplicate;
        }
        self.store(header, payload);
        outcome
    }

    /// Releases the next stored frame at once, ignoring the playout delay (to flush
    /// what was received into a recording that is ending): the next frame in
    /// sequence, a `Missing` gap before a later stored frame, or `Empty` when nothing
    /// is stored.
    pub fn drain_next(&mut self) -> Pulled<'_> {
        if !self.started || self.count == 0 {
            return Pulled::Empty;
        }
        self.playing = true;
        self.span = self.span.max(1);
        self.pull()
    }

    /// Releases what plays in the next packet time: the next frame in sequence,
    /// a `Missing` gap, or `Empty` while filling or after an underrun.
    pub fn pull(&mut self) -> Pulled<'_> {
        if !self.started {
            return Pulled::Empty;
        }
        if !self.playing {
            if self.span < self.prefill {
                return Pulled::Empty;
            }
            self.playing = true;
        }
        if self.count == 0 {
            // Underrun: hold the sequence position and fill up again.
            self.playing = false;
            self.stats.underruns += 1;
            return Pulled::Empty;
        }
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.span = self.span.saturating_sub(1);
        let index = self.slot_index(seq);
        let slot = self.slots[index];
        if !(slot.occupied && slot.sequence == seq) {
            self.stats.missing += 1;
            return Pulled::Missing { sequence: seq };
        }
        self.slots[index].occupied = false;
        self.count -= 1;
        self.stats.played += 1;
        let start = index * self.max_payload;
        Pulled::Frame(Frame {
            sequence: slot.sequence,
            timestamp: slot.timestamp,
            marker: slot.marker,
            payload_type: slot.payload_type,
            payload: &self.data[start..start + slot.len as usize],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u16) -> RtpHeader {
        RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: seq as u32 * 160,
            ssrc: 1,
        }
    }

    #[test]
    fn drain_next_ignores_the_playout_delay() {
        let mut jb = JitterBuffer::new(8, 160, 4);
        push(&mut jb, 10);
        push(&mut jb, 12);
        assert_eq!(jb.pull(), Pulled::Empty, "still filling to the prefill");
        assert!(matches!(jb.drain_next(), Pulled::Frame(f) if f.sequence == 10));
        assert_eq!(jb.drain_next(), Pulled::Missing { sequence: 11 });
        assert!(matches!(jb.drain_next(), Pulled::Frame(f) if f.sequence == 12));
        assert_eq!(jb.drain_next(), Pulled::Empty);
    }

    fn push(jb: &mut JitterBuffer, seq: u16) -> PushOutcome {
        jb.push(&header(seq), &[seq as u8; 160])
    }

    /// Pull and summarise: Some(seq) for a frame, None for Missing, panic on Empty.
    fn pull_seq(jb: &mut JitterBuffer) -> Result<u16, &'static str> {
        match jb.pull() {
            Pulled::Frame(f) => {
                assert_eq!(f.payload, &[f.sequence as u8; 160]);
                Ok(f.sequence)
            }
            Pulled::Missing { .. } => Err("missing"),
            Pulled::Empty => Err("empty"),
        }
    }

    #[test]
    fn waits_for_prefill_then_plays_in_order() {
        let mut jb = JitterBuffer::new(8, 160, 2);
        assert_eq!(jb.pull(), Pulled::Empty);
        assert_eq!(push(&mut jb, 100), PushOutcome::Stored);
        assert_eq!(jb.pull(), Pulled::Empty, "one frame is below the prefill");
        assert_eq!(push(&mut jb, 101), PushOutcome::Stored);
        assert_eq!(pull_seq(&mut jb), Ok(100));
        assert_eq!(pull_seq(&mut jb), Ok(101));
        assert_eq!(jb.pull(), Pulled::Empty, "underrun");
        assert_eq!(jb.stats().underruns, 1);
    }

    #[test]
    fn reorders_within_the_window() {
        let mut jb = JitterBuffer::new(8, 160, 3);
        for seq in [10, 12, 11, 14, 13] {
            assert_eq!(push(&mut jb, seq), PushOutcome::Stored);
        }
        let out: Vec<_> = (0..5).map(|_| pull_seq(&mut jb)).collect();
        assert_eq!(out, vec![Ok(10), Ok(11), Ok(12), Ok(13), Ok(14)]);
    }

    #[test]
    fn reports_gaps_and_drops_late_and_duplicate_packets() {
        let mut jb = JitterBuffer::new(8, 160, 2);
        push(&mut jb, 1);
        push(&mut jb, 3);
        assert_eq!(push(&mut jb, 3), PushOutcome::Duplicate);
        assert_eq!(pull_seq(&mut jb), Ok(1));
        assert_eq!(jb.pull(), Pulled::Missing { sequence: 2 });
        assert_eq!(push(&mut jb, 2), PushOutcome::Late);
        assert_eq!(pull_seq(&mut jb), Ok(3));
        let stats = jb.stats();
        assert_eq!(
            (stats.played, stats.missing, stats.late, stats.duplicate),
            (2, 1, 1, 1)
        );
    }

    #[test]
    fn wraps_around_the_sequence_space() {
        let mut jb = JitterBuffer::new(8, 160, 2);
        for seq in [65534, 65535, 0, 1] {
            assert_eq!(push(&mut jb, seq), PushOutcome::Stored);
        }
        let out: Vec<_> = (0..4).map(|_| pull_seq(&mut jb)).collect();
        assert_eq!(out, vec![Ok(65534), Ok(65535), Ok(0), Ok(1)]);
    }

    #[test]
    fn overflow_moves_the_window() {
        let mut jb = JitterBuffer::new(8, 160, 2);
        for seq in 0..4 {
            push(&mut jb, seq);
        }
        // Seq 10 needs a window starting at 3: frames 0..=2 are discarded.
        assert_eq!(push(&mut jb, 10), PushOutcome::Overflowed { dropped: 3 });
        assert_eq!(jb.len(), 2);
        assert_eq!(pull_seq(&mut jb), Ok(3));
        for seq in 4..10 {
            assert_eq!(jb.pull(), Pulled::Missing { sequence: seq });
        }
        assert_eq!(pull_seq(&mut jb), Ok(10));
    }

    #[test]
    fn sender_restart_is_followed_after_two_packets() {
        let mut jb = JitterBuffer::new(8, 160, 1);
        for seq in 5000..5004 {
            push(&mut jb, seq);
            assert!(pull_seq(&mut jb).is_ok());
        }
        assert_eq!(push(&mut jb, 7), PushOutcome::Late);
        assert_eq!(push(&mut jb, 8), PushOutcome::Restarted);
        assert_eq!(push(&mut jb, 9), PushOutcome::Stored);
        assert_eq!(
            pull_seq(&mut jb),
            Err("missing"),
            "7 was dropped before the restart"
        );
        assert_eq!(pull_seq(&mut jb), Ok(8));
        assert_eq!(pull_seq(&mut jb), Ok(9));
    }

    #[test]
    fn refuses_oversized_payloads_and_keeps_metadata() {
        let mut jb = JitterBuffer::new(3, 160, 1);
        assert_eq!(jb.capacity(), 4, "rounded up to a power of two");
        assert_eq!(jb.push(&header(1), &[0; 161]), PushOutcome::TooLarge);
        let h = RtpHeader {
            marker: true,
            payload_type: 101,
            ..header(2)
        };
        assert_eq!(jb.push(&h, &[1, 2, 3, 4]), PushOutcome::Stored);
        match jb.pull() {
            Pulled::Frame(f) => {
                assert!(f.marker);
                assert_eq!(f.payload_type, 101);
                assert_eq!(f.timestamp, 320);
                assert_eq!(f.payload, &[1, 2, 3, 4]);
            }
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[test]
    fn refills_after_underrun_without_losing_position() {
        let mut jb = JitterBuffer::new(8, 160, 2);
        push(&mut jb, 1);
        push(&mut jb, 2);
        assert_eq!(pull_seq(&mut jb), Ok(1));
        assert_eq!(pull_seq(&mut jb), Ok(2));
        assert_eq!(jb.pull(), Pulled::Empty);
        push(&mut jb, 3);
        assert_eq!(jb.pull(), Pulled::Empty, "refilling");
        push(&mut jb, 4);
        assert_eq!(pull_seq(&mut jb), Ok(3));
    }
}
