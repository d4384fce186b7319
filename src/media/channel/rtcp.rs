//! RTCP of a channel: sender reports from received RTCP update the statistics, the far
//! end's reception report about our stream gives its loss, jitter and the round trip, and every [`RTCP_INTERVAL`](super::RTCP_INTERVAL) a compound SR (or RR while
//! nothing was sent) with a report block and a CNAME goes out on the RTCP socket (or the
//! RTP one with `rtcp-mux`).

use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::{Channel, Io, Shared};
use crate::rtp::{RtcpPacket, RtcpWriter, ntp_from_unix_micros, parse_rtcp};

impl Channel {
    pub(super) fn on_rtcp(&mut self, data: &[u8], now: Instant, sh: &Shared) {
        let arrival = now.saturating_duration_since(sh.start).as_micros() as u64;
        for p in parse_rtcp(data) {
            match p {
                Ok(RtcpPacket::SenderReport {
                    ssrc,
                    sender,
                    reports,
                }) => {
                    if Some(ssrc) == self.rx_stats.ssrc() {
                        self.rx_stats
                            .on_sender_report(sender.ntp_timestamp, arrival);
                    }
                    self.on_reports(reports);
                }
                Ok(RtcpPacket::ReceiverReport { reports, .. }) => self.on_reports(reports),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }

    /// Reception reports from the far end: the one about our stream gives its loss,
    /// its jitter and the round trip.
    fn on_reports(&mut self, reports: crate::rtp::ReportBlocks<'_>) {
        let ours = self.sender.ssrc();
        for b in reports.filter(|b| b.ssrc == ours) {
            self.stats.remote_lost = Some(i64::from(b.cumulative_lost));
            // Timestamp units of our 8 kHz clock.
            self.stats.remote_jitter_ms = Some(b.jitter / 8);
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64);
            let arrival = crate::rtp::ntp_middle32(ntp_from_unix_micros(unix));
            if let Some(rtt) = b.round_trip_ms(arrival) {
                self.stats.rtt_ms = Some(rtt);
            }
        }
    }

    pub(super) fn send_rtcp(&mut self, at: Instant, io: Io, sh: &mut Shared) {
        let Some(r) = self.remote.as_ref() else {
            return;
        };
        let rtp_dest = self.latched.unwrap_or(r.rtp);
        let (sock, dest) = if r.rtcp_mux {
            (self.rtp, rtp_dest)
        } else {
            let d = r
                .rtcp
                .unwrap_or_else(|| SocketAddr::new(rtp_dest.ip(), rtp_dest.port().wrapping_add(1)));
            (self.rtcp, d)
        };
        let now_us = at.saturating_duration_since(sh.start).as_micros() as u64;
        let blocks = if self.rx_stats.ssrc().is_some() && self.rx_stats.received() > 0 {
            [self.rx_stats.report_block(now_us)]
        } else {
            [Default::default()]
        };
        let nblocks = usize::from(self.rx_stats.received() > 0);
        let ssrc = self.sender.ssrc();
        let mut cname = *b"mg-00000000";
        for (i, c) in cname[3..].iter_mut().enumerate() {
            *c = b"0123456789abcdef"[((ssrc >> (28 - 4 * i)) & 0xF) as usize];
        }
        let mut w = RtcpWriter::new(&mut sh.pkt[..]);
        let sent = self.sender.packets_sent();
        let res = if sent != self.reported_packets {
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64);
            let info = self.sender.sender_info(ntp_from_unix_micros(unix));
            w.sender_report(ssrc, &info, &blocks[..nblocks])
        } else {
            w.receiver_report(ssrc, &blocks[..nblocks])
        };
        self.reported_packets = sent;
        if res.and_then(|()| w.cname(ssrc, &cname)).is_ok() {
            let n = w.finish();
            let _ = io.send_to(sock, &sh.pkt[..n], dest);
        }
    }
}
