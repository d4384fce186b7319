//! Test support: a small SIP user agent with a real RTP socket, for end-to-end media
//! tests. It calls the gateway (INVITE with SDP for PCMU or PCMA and telephone-event),
//! ACKs the answer, records every RTP packet it receives on a thread, sends RTP
//! (audio frames and RFC 4733 events) on the 20 ms grid, and hangs up with BYE.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One received RTP packet.
#[derive(Debug, Clone)]
pub struct Rx {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
    pub at: Instant,
}

pub struct Ua {
    sip: UdpSocket,
    rtp: Arc<UdpSocket>,
    gw: SocketAddr,
    call_id: String,
    to_tag: String,
    cseq: u32,
    /// Where the gateway wants our RTP (from its SDP answer).
    pub gw_rtp: Option<SocketAddr>,
    pub received: Arc<Mutex<Vec<Rx>>>,
    stop: Arc<AtomicBool>,
    seq: u16,
    ts: u32,
    pub answer_sdp: String,
}

impl Ua {
    /// Send an INVITE offering payload type `pt` (0 PCMU or 8 PCMA) plus
    /// telephone-event 101 when `dtmf` is set.
    pub fn invite(gw: SocketAddr, pt: u8, dtmf: bool) -> Ua {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        sip.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let rtp = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        rtp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (rtp, received, stop) = (rtp.clone(), received.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, _)) = rtp.recv_from(&mut buf) {
                        if let Ok(p) = mediagw::rtp::RtpPacket::parse(&buf[..n]) {
                            received.lock().unwrap().push(Rx {
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
        let call_id = format!("ua{}@127.0.0.1", rand_u32());
        let ua = Ua {
            sip,
            rtp,
            gw,
            call_id,
            to_tag: String::new(),
            cseq: 1,
            gw_rtp: None,
            received,
            stop,
            seq: 1000,
            ts: 160_000,
            answer_sdp: String::new(),
        };
        let codec = if pt == 8 { "PCMA" } else { "PCMU" };
        let (fmts, dtmf_lines) = if dtmf {
            (
                format!("{pt} 101"),
                "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
            )
        } else {
            (pt.to_string(), "")
        };
        let sdp = format!(
            "v=0\r\no=ua 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP {fmts}\r\na=rtpmap:{pt} {codec}/8000\r\n{dtmf_lines}a=ptime:20\r\na=sendrecv\r\n",
            ua.rtp.local_addr().unwrap().port()
        );
        let msg = ua.request(
            "INVITE",
            1,
            "z9hG4bKinv",
            "Content-Type: application/sdp\r\n",
            &sdp,
            false,
        );
        ua.sip.send_to(msg.as_bytes(), gw).unwrap();
        ua
    }

    fn request(
        &self,
        method: &str,
        cseq: u32,
        branch: &str,
        extra: &str,
        body: &str,
        tagged: bool,
    ) -> String {
        let me = self.sip.local_addr().unwrap();
        let to_tag = if tagged {
            format!(";tag={}", self.to_tag)
        } else {
            String::new()
        };
        format!(
            "{method} sip:100@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch}{cseq}{method}\r\nMax-Forwards: 70\r\nFrom: <sip:ua@{me}>;tag=ua1\r\nTo: <sip:100@{gw}>{to_tag}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContact: <sip:ua@{me}>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            self.call_id,
            body.len(),
            gw = self.gw
        )
    }

    /// Wait (bounded) for a SIP message whose first line contains `needle`.
    pub fn expect(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut buf = [0u8; 65536];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sip.recv_from(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                if m.lines().next().unwrap_or("").contains(needle) {
                    return m;
                }
                // Answer a BYE or INFO we do not wait for, so the gateway is not left hanging.
            }
        }
        panic!("no '{needle}' from the gateway within 30 s");
    }

    /// Wait for the 200 OK, learn the gateway's RTP address, send ACK.
    pub fn wait_answer(&mut self) {
        let ok = self.expect("SIP/2.0 200");
        self.to_tag = ok
            .lines()
            .find(|l| l.starts_with("To:"))
            .and_then(|l| l.split("tag=").nth(1))
            .map(|t| t.trim().to_string())
            .expect("To tag");
        let body = ok.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
        let ip = body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))
            .expect("c= line")
            .trim()
            .to_string();
        let port = body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split(' ').next())
            .expect("m= line")
            .parse::<u16>()
            .unwrap();
        self.gw_rtp = Some(format!("{ip}:{port}").parse().unwrap());
        self.answer_sdp = body;
        let ack = self.request("ACK", 1, "z9hG4bKack", "", "", true);
        self.sip.send_to(ack.as_bytes(), self.gw).unwrap();
    }

    /// Send one RTP packet to the gateway.
    pub fn send_rtp(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
        let mut pkt = vec![0x80, (pt & 0x7f) | if marker { 0x80 } else { 0 }];
        pkt.extend_from_slice(&self.seq.to_be_bytes());
        pkt.extend_from_slice(&ts.to_be_bytes());
        pkt.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        pkt.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.rtp
            .send_to(&pkt, self.gw_rtp.expect("answered"))
            .unwrap();
    }

    /// Send audio frames of 160 bytes on the 20 ms grid (absolute deadlines).
    pub fn stream(&mut self, pt: u8, frames: &[Vec<u8>]) {
        let start = Instant::now();
        for (i, f) in frames.iter().enumerate() {
            let due = start + Duration::from_millis(20 * i as u64);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
            let ts = self.ts;
            self.send_rtp(pt, i == 0, ts, f);
            self.ts = self.ts.wrapping_add(160);
        }
    }

    /// Send one RFC 4733 digit: 6 packets of growing duration then 3 end packets.
    pub fn send_digit(&mut self, digit: char, dtmf_pt: u8) {
        let event = mediagw::rtp::dtmf_event(digit).expect("digit");
        let ts = self.ts;
        let start = Instant::now();
        for i in 0..9u16 {
            let due = start + Duration::from_millis(20 * u64::from(i));
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
            let end = i >= 6;
            let duration = 160 * (i.min(5) + 1);
            let payload = [
                event,
                if end { 0x80 | 10 } else { 10 },
                (duration >> 8) as u8,
                duration as u8,
            ];
            self.send_rtp(dtmf_pt, i == 0, ts, &payload);
        }
        self.ts = self.ts.wrapping_add(160 * 9);
    }

    /// Send a digit as SIP INFO (application/dtmf-relay) and wait for its 200.
    pub fn info(&mut self, digit: char) {
        self.cseq += 1;
        let body = format!("Signal={digit}\r\nDuration=160\r\n");
        let msg = self.request(
            "INFO",
            self.cseq,
            "z9hG4bKinfo",
            "Content-Type: application/dtmf-relay\r\n",
            &body,
            true,
        );
        self.sip.send_to(msg.as_bytes(), self.gw).unwrap();
        self.expect("SIP/2.0 200");
    }

    /// Stream in-band DTMF `digits` (µ-law, PT 0): each tone `on_ms` then `off_ms` of
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

    /// Hang up with BYE and wait for its 200.
    pub fn bye(&mut self) {
        self.cseq += 1;
        let bye = self.request("BYE", self.cseq, "z9hG4bKbye", "", "", true);
        self.sip.send_to(bye.as_bytes(), self.gw).unwrap();
        self.expect("SIP/2.0 200");
    }

    /// Answer the gateway's BYE (after the app drops the call).
    pub fn answer_bye(&self) {
        let bye = self.expect("BYE ");
        let mut resp = String::from("SIP/2.0 200 OK\r\n");
        for l in bye.lines().skip(1) {
            if ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                .iter()
                .any(|h| l.starts_with(h))
            {
                resp.push_str(l);
                resp.push_str("\r\n");
            }
        }
        resp.push_str("Content-Length: 0\r\n\r\n");
        self.sip.send_to(resp.as_bytes(), self.gw).unwrap();
    }

    /// Packets received so far with payload type `pt`.
    pub fn packets(&self, pt: u8) -> Vec<Rx> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.pt == pt)
            .cloned()
            .collect()
    }

    /// Wait (bounded) until at least `n` packets of `pt` have arrived.
    pub fn wait_packets(&self, pt: u8, n: usize) -> Vec<Rx> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.packets(pt);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Ua {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    h.finish() as u32
}
