//! [`Peer`]: a raw SIP peer on loopback: sends text or messages to the gateway and waits,
//! bounded, for the next message whose first line contains a needle.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use mediagw::sip::Message;

/// How long [`Peer::expect`] waits.
const EXPECT_LIMIT: Duration = Duration::from_secs(30);

/// A UDP socket talking SIP with one gateway.
pub struct Peer {
    sock: UdpSocket,
    gw: SocketAddr,
}

impl Peer {
    /// A peer on an ephemeral port of 127.0.0.1.
    pub fn new(gw: SocketAddr) -> Peer {
        Peer::bind("127.0.0.1:0", gw)
    }

    /// A peer bound to `addr` (another loopback address, say).
    pub fn bind(addr: &str, gw: SocketAddr) -> Peer {
        let sock = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        Peer { sock, gw }
    }

    /// Its own address.
    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().expect("local address")
    }

    /// The gateway's address.
    pub fn gateway(&self) -> SocketAddr {
        self.gw
    }

    /// Sends hand-written text, every line end made CRLF (write it with `\n`).
    pub fn send(&self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
        self.send_bytes(text.as_bytes());
    }

    /// Sends bytes as they are.
    pub fn send_bytes(&self, bytes: &[u8]) {
        self.sock
            .send_to(bytes, self.gw)
            .expect("send to the gateway");
    }

    /// Sends a message.
    pub fn send_message(&self, msg: &Message) {
        self.send_bytes(&msg.to_bytes());
    }

    /// The next message whose first line contains `needle` (within 30 s); others are
    /// skipped (and shown if none comes).
    pub fn expect(&self, needle: &str) -> String {
        let deadline = Instant::now() + EXPECT_LIMIT;
        let mut buf = [0u8; 65536];
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                if m.lines().next().unwrap_or("").contains(needle) {
                    return m;
                }
                seen.push(m);
            }
        }
        panic!("no '{needle}' from the gateway within {EXPECT_LIMIT:?}; saw {seen:#?}");
    }

    /// A hand-written out-of-dialog request from this peer (LF line ends, for
    /// [`Peer::send`]): `METHOD sip:100@gw`, branch `z9hG4bK{call_id}{method}`, From tag
    /// `p1`, CSeq 1, then `extra` header lines, a Content-Length counted as sent, `body`.
    pub fn request(&self, method: &str, call_id: &str, extra: &str, body: &str) -> String {
        let a = self.addr();
        // `send` turns every LF into CRLF: count the body's length as sent.
        let body = body.replace("\r\n", "\n");
        let sent_len = body.len() + body.matches('\n').count();
        format!(
            "{method} sip:100@{gw} SIP/2.0\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{call_id}{method}\nMax-Forwards: 70\nFrom: <sip:peer@{a}>;tag=p1\nTo: <sip:100@{gw}>\nCall-ID: {call_id}\nCSeq: 1 {method}\nContact: <sip:peer@{a}>\n{extra}Content-Length: {}\n\n{body}",
            sent_len,
            gw = self.gw
        )
    }

    /// As [`Peer::request`], with CRLF line ends and a body of any bytes (binary,
    /// multipart), sent as given: for [`Peer::send_bytes`].
    pub fn request_bytes(&self, method: &str, call_id: &str, extra: &str, body: &[u8]) -> Vec<u8> {
        let a = self.addr();
        let extra = extra.replace("\r\n", "\n").replace('\n', "\r\n");
        let mut msg = format!(
            "{method} sip:100@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{call_id}{method}\r\nMax-Forwards: 70\r\nFrom: <sip:peer@{a}>;tag=p1\r\nTo: <sip:100@{gw}>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\nContact: <sip:peer@{a}>\r\n{extra}Content-Length: {}\r\n\r\n",
            body.len(),
            gw = self.gw
        )
        .into_bytes();
        msg.extend_from_slice(body);
        msg
    }

    /// The next final response (status 200 to 699) within 30 s; provisionals are skipped.
    /// Every message that arrives within `window` (bounded waiting, for "nothing
    /// more comes" checks), in order.
    pub fn collect(&self, window: Duration) -> Vec<String> {
        let deadline = Instant::now() + window;
        let mut buf = [0u8; 65536];
        let mut got = Vec::new();
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        got
    }

    pub fn final_response(&self) -> String {
        let deadline = Instant::now() + EXPECT_LIMIT;
        let mut buf = [0u8; 65536];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                if m.starts_with("SIP/2.0 ") && !m.starts_with("SIP/2.0 1") {
                    return m;
                }
            }
        }
        panic!("no final response from the gateway within {EXPECT_LIMIT:?}");
    }
}
