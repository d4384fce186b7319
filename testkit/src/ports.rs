//! Free loopback ports, for the programs that need numbers up front (SIPp, Kamailio,
//! the gateway's RTP range).

use std::net::UdpSocket;
use std::sync::atomic::{AtomicU16, Ordering};

/// A UDP port on 127.0.0.1 free at the time of asking.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// An even free UDP port whose successor is free too (RTP + RTCP for SIPp `-mp`).
pub fn free_media_port() -> u16 {
    for _ in 0..200 {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let p = s.local_addr().expect("addr").port();
        if p.is_multiple_of(2) && p < 65534 && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free even media port");
}

/// Ports in one gateway's RTP block.
pub const RTP_BLOCK: u16 = 200;

/// The first port of a block of [`RTP_BLOCK`] RTP ports for the next gateway this process
/// starts, so that gateways of parallel tests (threads of one process, and processes)
/// rarely share ports.
pub fn rtp_block() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let slot = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid_part = (std::process::id() % 40) as u16;
    30000 + ((pid_part * 7 + slot) % 150) * RTP_BLOCK
}
