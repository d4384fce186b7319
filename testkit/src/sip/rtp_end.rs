//! [`RtpEnd`]: one real RTP socket of a test agent. A thread keeps every packet it
//! receives; it sends audio frames and RFC 4733 events on the 20 ms grid (absolute
//! deadlines), in-band DTMF tones and single packets to wherever the far end's SDP
//! pointed it. Both the calling [`super::Ua`] and the answering [`super::Callee`] hold one.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mediagw::rtp::{RtpHeader, RtpPacket, TelephoneEvent};

/// How long [`RtpEnd::wait_packets`] waits.
const PACKETS_LIMIT: Duration = Duration::from_secs(30);

/// The SSRC of everything a test agent sends.
const SSRC: u32 = 0x1234_5678;

/// One received RTP packet.
#[derive(Debug, Clone)]
pub struct Rx {
    /// Payload type.
    pub pt: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub ts: u32,
    /// SSRC.
    pub ssrc: u32,
    /// Payload.
    pub payload: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

/// A bound RTP socket on 127.0.0.1 with its receiving thread.
pub struct RtpEnd {
    rtp: Arc<UdpSocket>,
    /// Where the gateway wants our RTP (from its SDP).
    pub gw_rtp: Option<SocketAddr>,
    /// Every RTP packet received so far.
    pub received: Arc<Mutex<Vec<Rx>>>,
    stop: Arc<AtomicBool>,
    seq: u16,
    ts: u32,
}

impl RtpEnd {
    /// A socket on an ephemeral port of 127.0.0.1, receiving at once.
    pub fn bind() -> RtpEnd {
        let rtp = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("bind RTP"));
        rtp.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        spawn_receiver(rtp.clone(), received.clone(), stop.clone());
        RtpEnd {
            rtp,
            gw_rtp: None,
            received,
            stop,
            seq: 1000,
            ts: 160_000,
        }
    }

    /// Its own address (what the SDP offers or answers).
    pub fn local(&self) -> SocketAddr {
        self.rtp.local_addr().expect("RTP address")
    }

    /// Sends one RTP packet to the gateway.
    pub fn send_rtp(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
        let h = RtpHeader {
            marker,
            payload_type: pt & 0x7f,
            sequence: self.seq,
            timestamp: ts,
            ssrc: SSRC,
        };
        let mut pkt = [0u8; 1500];
        let n = h.write_packet(payload, &mut pkt).expect("RTP packet fits");
        self.seq = self.seq.wrapping_add(1);
        self.rtp
            .send_to(&pkt[..n], self.gw_rtp.expect("the gateway's RTP address"))
            .expect("send RTP");
    }

    /// Sends audio frames of 160 bytes on the 20 ms grid (absolute deadlines).
    pub fn stream(&mut self, pt: u8, frames: &[Vec<u8>]) {
        let start = Instant::now();
        for (i, f) in frames.iter().enumerate() {
            sleep_until(start + Duration::from_millis(20 * i as u64));
            let ts = self.ts;
            self.send_rtp(pt, i == 0, ts, f);
            self.ts = self.ts.wrapping_add(160);
        }
    }

    /// Streams audio frames from a thread of its own (same grid, same stream: sequence
    /// numbers and timestamps continue from here), so the test can go on meanwhile.
    pub fn spawn_stream(&mut self, pt: u8, frames: Vec<Vec<u8>>) -> std::thread::JoinHandle<()> {
        let sock = self.rtp.clone();
        let to = self.gw_rtp.expect("the gateway's RTP address");
        let (seq0, ts0) = (self.seq, self.ts);
        let n = frames.len();
        self.seq = self.seq.wrapping_add(n as u16);
        self.ts = self.ts.wrapping_add(160 * n as u32);
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut pkt = [0u8; 1500];
            for (i, f) in frames.iter().enumerate() {
                sleep_until(start + Duration::from_millis(20 * i as u64));
                let h = RtpHeader {
                    marker: i == 0,
                    payload_type: pt & 0x7f,
                    sequence: seq0.wrapping_add(i as u16),
                    timestamp: ts0.wrapping_add(160 * i as u32),
                    ssrc: SSRC,
                };
                let n = h.write_packet(f, &mut pkt).expect("RTP packet fits");
                // The far end may be gone by now (a test hanging up mid-stream).
                let _ = sock.send_to(&pkt[..n], to);
            }
        })
    }

    /// Sends one RFC 4733 digit: 6 packets of growing duration then 3 end packets.
    pub fn send_digit(&mut self, digit: char, dtmf_pt: u8) {
        let event = mediagw::rtp::dtmf_event(digit).expect("digit");
        let ts = self.ts;
        let start = Instant::now();
        for i in 0..9u16 {
            sleep_until(start + Duration::from_millis(20 * u64::from(i)));
            let ev = TelephoneEvent {
                event,
                end: i >= 6,
                volume: 10,
                duration: 160 * (i.min(5) + 1),
            };
            let mut payload = [0u8; TelephoneEvent::LEN];
            ev.write(&mut payload).expect("event block");
            self.send_rtp(dtmf_pt, i == 0, ts, &payload);
        }
        self.ts = self.ts.wrapping_add(160 * 9);
    }

    /// Streams in-band DTMF `digits` (µ-law, PT 0): each tone `on_ms` then `off_ms` of
    /// silence, on the 20 ms grid.
    pub fn stream_inband(&mut self, digits: &str, on_ms: u32, off_ms: u32) {
        let mut pcm = Vec::new();
        for d in digits.chars() {
            let mut g = mediagw::dtmf::ToneGenerator::new(d, on_ms, off_ms).expect("digit");
            let mut buf = [0i16; 160];
            loop {
                let n = g.tx(&mut buf);
                pcm.extend_from_slice(&buf[..n]);
                if n < buf.len() {
                    break;
                }
            }
        }
        pcm.resize(pcm.len().div_ceil(160) * 160 + 320, 0);
        let frames: Vec<Vec<u8>> = pcm
            .chunks(160)
            .map(|c| {
                c.iter()
                    .map(|s| mediagw::codec::linear_to_ulaw(*s))
                    .collect()
            })
            .collect();
        self.stream(0, &frames);
    }

    /// Packets received so far with payload type `pt`.
    pub fn packets(&self, pt: u8) -> Vec<Rx> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|r| r.pt == pt)
            .cloned()
            .collect()
    }

    /// Every packet received so far, in arrival order.
    pub fn all_packets(&self) -> Vec<Rx> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits (bounded) until at least `n` packets of `pt` have arrived; returns them.
    pub fn wait_packets(&self, pt: u8, n: usize) -> Vec<Rx> {
        let deadline = Instant::now() + PACKETS_LIMIT;
        loop {
            let got = self.packets(pt);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (bounded by `limit`) until `pred` holds of the packets received so far.
    pub fn wait_until(&self, limit: Duration, pred: impl Fn(&[Rx]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if pred(&self.all_packets()) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Forgets what was received so far.
    pub fn clear(&self) {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl Drop for RtpEnd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub(crate) fn sleep_until(due: Instant) {
    if let Some(d) = due.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

/// Reads `rtp` until `stop`, keeping every RTP packet.
fn spawn_receiver(rtp: Arc<UdpSocket>, received: Arc<Mutex<Vec<Rx>>>, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, _)) = rtp.recv_from(&mut buf) {
                if let Ok(p) = RtpPacket::parse(&buf[..n]) {
                    received.lock().unwrap_or_else(|p| p.into_inner()).push(Rx {
                        pt: p.header.payload_type,
                        marker: p.header.marker,
                        seq: p.header.sequence,
                        ts: p.header.timestamp,
                        ssrc: p.header.ssrc,
                        payload: p.payload.to_vec(),
                        at: Instant::now(),
                    });
                }
            }
        }
    });
}
