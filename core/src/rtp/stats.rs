//! Per-source receive statistics, RFC 3550 Appendix A: sequence validation with
//! probation, wraparound and resynchronisation (A.1), loss and fraction lost
//! per report interval (A.3), interarrival jitter (A.8, integer form), and the
//! LSR/DLSR fields from the last sender report received.
//!
//! Arrival times are microseconds of a monotonic clock chosen by the caller.

use super::ntp::ntp_middle32;
use super::rtcp::ReportBlock;

const RTP_SEQ_MOD: u32 = 1 << 16;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const MIN_SEQUENTIAL: u8 = 2;

/// How a packet's sequence number was judged (RFC 3550 A.1 `update_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In sequence (or a small reorder/duplicate): counted as received.
    Valid,
    /// The source is still on probation (new or restarted); not yet counted.
    Probation,
    /// A large jump that may be a restart; valid only if the next packet follows it.
    BadJump,
    /// The source restarted its sequence (two packets confirmed the jump); counts
    /// were reset and this packet counted.
    Resynced,
}

/// Receive statistics for one synchronisation source.
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    clock_rate: u32,
    ssrc: Option<u32>,
    max_seq: u16,
    probation: u8,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    transit: Option<u32>,
    /// Jitter scaled by 16 (A.8 integer form).
    jitter: u32,
    last_sr: Option<(u32, u64)>,
}

impl ReceiveStats {
    /// Statistics for a stream with the given RTP clock rate (8000 for G.711).
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            ssrc: None,
            max_seq: 0,
            probation: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter: 0,
            last_sr: None,
        }
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = seq as u32;
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    fn start_source(&mut self, ssrc: u32, seq: u16) {
        *self = Self::new(self.clock_rate);
        self.ssrc = Some(ssrc);
        self.init_seq(seq);
        self.max_seq = seq.wrapping_sub(1);
        self.probation = MIN_SEQUENTIAL;
    }

    /// Accounts one received RTP packet. A packet from a new SSRC restarts the
    /// statistics with probation. `arrival_us` is the arrival time in
    /// microseconds of a monotonic clock.
    pub fn on_packet(
        &mut self,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        arrival_us: u64,
    ) -> SeqVerdict {
        if self.ssrc != Some(ssrc) {
            self.start_source(ssrc, seq);
        }
        let verdict = self.update_seq(seq);
        if matches!(verdict, SeqVerdict::Valid | SeqVerdict::Resynced) {
            self.update_jitter(timestamp, arrival_us);
        }
        verdict
    }

    fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqVerdict::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqVerdict::Probation;
        }
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if udelta as u32 <= RTP_SEQ_MOD - MAX_MISORDER as u32 {
            if seq as u32 == self.bad_seq {
                // Two sequential packets after the jump: the source restarted.
                self.init_seq(seq);
                self.transit = None;
                self.received += 1;
                return SeqVerdict::Resynced;
            }
            self.bad_seq = (seq as u32 + 1) & (RTP_SEQ_MOD - 1);
            return SeqVerdict::BadJump;
        }
        // Otherwise a duplicate or reordered packet: counted, as A.1 does.
        self.received += 1;
        SeqVerdict::Valid
    }

    fn update_jitter(&mut self, timestamp: u32, arrival_us: u64) {
        let arrival = (arrival_us.wrapping_mul(self.clock_rate as u64) / 1_000_000) as u32;
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(previous) = self.transit {
            let d = (transit.wrapping_sub(previous) as i32).unsigned_abs() as u64;
            // J += (|D| - J) / 16, kept scaled by 16 (u64: no overflow on wild input).
            let j = self.jitter as u64;
            self.jitter = (j + d - ((j + 8) >> 4)).min(u32::MAX as u64) as u32;
        }
        self.transit = Some(transit);
    }

    /// Records the arrival of a sender report from this source (its NTP time),
    /// for the LSR/DLSR fields of our next report.
    pub fn on_sender_report(&mut self, ntp_timestamp: u64, arrival_us: u64) {
        self.last_sr = Some((ntp_middle32(ntp_timestamp), arrival_us));
    }

    /// The SSRC these statistics describe, once a packet was seen.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// Packets counted as received (duplicates included, as RFC 3550 counts them).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub fn extended_highest_seq(&self) -> u32 {
        self.cycles.wrapping_add(self.max_seq as u32)
    }

    /// Packets expected since the base sequence number.
    pub fn expected(&self) -> u32 {
        if self.ssrc.is_none() || self.probation > 0 {
            return 0;
        }
        self.extended_highest_seq()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Cumulative packets lost (expected − received), clamped to 24-bit signed.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = self.expected() as i64 - self.received as i64;
        lost.clamp(-0x80_0000, 0x7F_FFFF) as i32
    }

    /// Interarrival jitter estimate in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter >> 4
    }

    /// Builds the report block for this source at time `now_us` and starts a new
    /// reporting interval (fraction lost is relative to the previous call).
    pub fn report_block(&mut self, now_us: u64) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((lsr, at)) => {
                let elapsed = now_us.saturating_sub(at);
                let dlsr = (elapsed as u128 * 65_536 / 1_000_000).min(u32::MAX as u128);
                (lsr, dlsr as u32)
            }
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc.unwrap_or(0),
            fraction_lost,
            cumulative_lost: self.cumulative_lost(),
            extended_highest_seq: self.extended_highest_seq(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSRC: u32 = 0x1234_5678;

    /// Feeds packets at a regular 20 ms pace with 160-sample timestamps.
    fn feed(stats: &mut ReceiveStats, seqs: impl IntoIterator<Item = u16>) -> Vec<SeqVerdict> {
        seqs.into_iter()
            .map(|seq| {
                let n = seq as u64;
                stats.on_packet(SSRC, seq, (n as u32) * 160, n * 20_000)
            })
            .collect()
    }

    #[test]
    fn probation_then_valid() {
        let mut s = ReceiveStats::new(8000);
        let v = feed(&mut s, [10, 11, 12]);
        assert_eq!(
            v,
            vec![SeqVerdict::Probation, SeqVerdict::Valid, SeqVerdict::Valid]
        );
        assert_eq!(s.received(), 2);
        assert_eq!(s.expected(), 2);
        assert_eq!(s.cumulative_lost(), 0);
        // Out-of-order start restarts probation.
        let mut s = ReceiveStats::new(8000);
        let v = feed(&mut s, [10, 12, 13]);
        assert_eq!(
            v,
            vec![
                SeqVerdict::Probation,
                SeqVerdict::Probation,
                SeqVerdict::Valid
            ]
        );
        assert_eq!(s.expected(), 1);
    }

    #[test]
    fn counts_loss_and_fraction_per_interval() {
        let mut s = ReceiveStats::new(8000);
        // 100 packets with 10 missing (every tenth after the start).
        let seqs: Vec<u16> = (1000..1100).filter(|s| s % 10 != 5).collect();
        feed(&mut s, seqs);
        assert_eq!(s.expected(), 99); // base is 1001 after probation
        assert_eq!(s.received(), 89);
        let block = s.report_block(2_000_000);
        assert_eq!(block.cumulative_lost, 10);
        assert_eq!(block.fraction_lost, ((10 << 8) / 99) as u8);
        assert_eq!(block.extended_highest_seq, 1099);
        assert_eq!(block.ssrc, SSRC);
        // Next interval without loss: fraction 0, cumulative unchanged.
        feed(&mut s, 1100..1150);
        let block = s.report_block(3_000_000);
        assert_eq!(block.fraction_lost, 0);
        assert_eq!(block.cumulative_lost, 10);
    }

    #[test]
    fn duplicates_make_loss_negative() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, [1, 2, 3, 3, 3, 4]);
        assert_eq!(s.cumulative_lost(), -2);
        assert_eq!(s.report_block(0).fraction_lost, 0);
    }

    #[test]
    fn sequence_wraparound_extends_the_counter() {
        let mut s = ReceiveStats::new(8000);
        let seqs = (65530u32..65546).map(|s| s as u16);
        assert!(
            feed(&mut s, seqs)
                .iter()
                .skip(1)
                .all(|v| *v == SeqVerdict::Valid)
        );
        assert_eq!(s.extended_highest_seq(), (1 << 16) + 9);
        assert_eq!(s.expected(), 15);
        assert_eq!(s.cumulative_lost(), 0);
        // A late packet from before the wrap does not add a cycle.
        feed(&mut s, [65534]);
        assert_eq!(s.extended_highest_seq(), (1 << 16) + 9);
    }

    #[test]
    fn large_jump_needs_two_packets_to_resync() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, 100..110);
        assert_eq!(feed(&mut s, [40_000]), vec![SeqVerdict::BadJump]);
        // A stray packet near the old sequence is still fine.
        assert_eq!(feed(&mut s, [110]), vec![SeqVerdict::Valid]);
        assert_eq!(
            feed(&mut s, [40_000, 40_001]),
            vec![SeqVerdict::BadJump, SeqVerdict::Resynced]
        );
        assert_eq!(s.expected(), 1);
        assert_eq!(s.received(), 1);
        assert_eq!(s.extended_highest_seq(), 40_001);
    }

    #[test]
    fn new_ssrc_restarts() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, 1..50);
        assert_eq!(s.on_packet(99, 7, 0, 0), SeqVerdict::Probation);
        assert_eq!(s.ssrc(), Some(99));
        assert_eq!(s.received(), 0);
        assert_eq!(s.on_packet(99, 8, 160, 20_000), SeqVerdict::Valid);
    }

    #[test]
    fn jitter_is_zero_for_a_steady_stream_and_tracks_variation() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, 0..200);
        assert_eq!(s.jitter(), 0);
        // Alternate arrivals 0 and +10 ms late: |D| = 80 units each packet, so the
        // estimate converges towards 80.
        let mut s = ReceiveStats::new(8000);
        for n in 0..400u64 {
            let late = if n % 2 == 1 { 10_000 } else { 0 };
            s.on_packet(SSRC, n as u16, n as u32 * 160, n * 20_000 + late);
        }
        assert!((75..=80).contains(&s.jitter()), "jitter {}", s.jitter());
        // A.8 reference in floating point over the same sequence.
        let mut j = 0.0f64;
        let mut prev: Option<f64> = None;
        for n in 1..400u64 {
            let late = if n % 2 == 1 { 80.0 } else { 0.0 };
            let transit = late;
            if let Some(p) = prev {
                j += ((transit - p).abs() - j) / 16.0;
            }
            prev = Some(transit);
        }
        assert!(
            (s.jitter() as f64 - j).abs() <= 1.0,
            "{} vs {j}",
            s.jitter()
        );
    }

    #[test]
    fn lsr_and_dlsr_follow_the_last_sender_report() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, 0..10);
        let block = s.report_block(1_000_000);
        assert_eq!((block.last_sr, block.delay_since_last_sr), (0, 0));
        s.on_sender_report(0x0000_1234_5678_0000, 5_000_000);
        let block = s.report_block(5_250_000);
        assert_eq!(block.last_sr, 0x1234_5678);
        assert_eq!(block.delay_since_last_sr, 0x4000); // 0.25 s in 1/65536 s
    }
}
