//! The RTP packets of a capture file, in order (SIPp's `/usr/share/sip-tester/*.pcap`,
//! which its `play_pcap_audio` sends): so a test compares what the gateway relayed with
//! exactly what SIPp played. Ethernet, Linux cooked and raw IP captures of UDP.

use std::path::Path;

use etherparse::{SlicedPacket, TransportSlice};
use mediagw::rtp::RtpPacket;
use pcap_parser::{Linktype, PcapBlockOwned, pcap::LegacyPcapSlice};

/// One RTP packet of a capture: payload type and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedRtp {
    /// Payload type.
    pub pt: u8,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// Every UDP datagram of the capture at `path` that parses as RTP, in file order.
pub fn rtp_of(path: &Path) -> anyhow::Result<Vec<CapturedRtp>> {
    let data = std::fs::read(path).map_err(|e| anyhow::anyhow!("read {}: {e}", path.display()))?;
    let slice = LegacyPcapSlice::from_slice(&data)
        .map_err(|e| anyhow::anyhow!("{} is not a pcap file: {e:?}", path.display()))?;
    let link = slice.header.network;
    let mut out = Vec::new();
    for block in slice {
        let block = block.map_err(|e| anyhow::anyhow!("{}: {e:?}", path.display()))?;
        let PcapBlockOwned::Legacy(frame) = block else {
            continue;
        };
        let sliced = match link {
            Linktype::ETHERNET => SlicedPacket::from_ethernet(frame.data),
            Linktype::LINUX_SLL => SlicedPacket::from_linux_sll(frame.data),
            _ => SlicedPacket::from_ip(frame.data),
        };
        let Ok(p) = sliced else { continue };
        let Some(TransportSlice::Udp(udp)) = p.transport else {
            continue;
        };
        if let Ok(rtp) = RtpPacket::parse(udp.payload()) {
            out.push(CapturedRtp {
                pt: rtp.header.payload_type,
                payload: rtp.payload.to_vec(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipps_g711a_capture_is_pcma_audio() {
        // Installed by tests/setup.sh (Debian's sip-tester).
        let pkts = rtp_of(Path::new("/usr/share/sip-tester/g711a.pcap")).expect("reads");
        assert!(pkts.len() > 200, "{} packets", pkts.len());
        // 30 ms of A-law per packet.
        assert!(pkts.iter().all(|p| p.pt == 8 && p.payload.len() == 240));
    }
}
