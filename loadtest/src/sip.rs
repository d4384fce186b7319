//! The SIP side of the load generator: many calls from one UDP socket. It places calls
//! (INVITE with a PCMU + telephone-event offer pointing at the streamer's RTP socket)
//! at a bounded rate, retransmits on T1, ACKs 2xx (again on retransmissions), answers
//! the gateway's BYEs, and hangs every call up at the end.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

/// Does channel `idx` send its digits as RFC 4733 events (even channels) rather than
/// in-band tones (odd channels)?
pub fn rfc4733_channel(idx: u32) -> bool {
    idx.is_multiple_of(2)
}

/// One established call.
#[derive(Clone, Debug)]
pub struct Established {
    /// Channel index.
    pub idx: u32,
    /// Where the gateway wants our RTP.
    pub rtp: SocketAddr,
    /// INVITE to 200 OK.
    pub setup: Duration,
}

struct Leg {
    idx: u32,
    to_tag: Option<String>,
    sent_at: Instant,
    last_tx: Instant,
    tries: u32,
    invite: String,
    done: bool,
}

/// Places and releases calls; single owner of the SIP socket.
pub struct SipDriver {
    sock: Arc<UdpSocket>,
    gw: SocketAddr,
    me: SocketAddr,
    rtp: SocketAddr,
    legs: HashMap<String, Leg>,
    /// Final non-2xx responses seen (status codes).
    pub failures: Vec<u16>,
    tag: u32,
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

impl SipDriver {
    /// Binds a SIP socket on 127.0.0.1.
    pub async fn new(gw: SocketAddr, rtp: SocketAddr) -> std::io::Result<Self> {
        let sock = UdpSocket::bind("127.0.0.1:0").await?;
        let me = sock.local_addr()?;
        Ok(Self {
            sock: Arc::new(sock),
            gw,
            me,
            rtp,
            legs: HashMap::new(),
            failures: Vec::new(),
            tag: std::process::id(),
        })
    }

    fn call_id(&self, idx: u32) -> String {
        format!("load-{}-{idx}@127.0.0.1", self.tag)
    }

    fn invite(&self, idx: u32) -> String {
        // Channels that send RFC 4733 digits offer telephone-event; the others offer PCMU
        // alone, so the gateway listens for in-band tones on them (it does not run the tone
        // detector on calls that negotiated RFC 4733).
        let (pts, te) = if rfc4733_channel(idx) {
            (
                " 0 101",
                "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
            )
        } else {
            (" 0", "")
        };
        let sdp = format!(
            "v=0\r\no=load {idx} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP{pts}\r\na=rtpmap:0 PCMU/8000\r\n{te}a=ptime:20\r\na=sendrecv\r\n",
            ip = self.rtp.ip(),
            port = self.rtp.port()
        );
        format!(
            "INVITE sip:ivr@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKl{t}x{idx}i\r\nMax-Forwards: 70\r\nFrom: <sip:load-{idx}@{me}>;tag=l{t}x{idx}\r\nTo: <sip:ivr@{gw}>\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\nContact: <sip:load-{idx}@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len(),
            gw = self.gw,
            me = self.me,
            t = self.tag,
            cid = self.call_id(idx)
        )
    }

    fn in_dialog(&self, method: &str, cseq: u32, cid: &str, idx: u32, to_tag: &str) -> String {
        format!(
            "{method} sip:ivr@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKl{t}x{idx}{method}{cseq}\r\nMax-Forwards: 70\r\nFrom: <sip:load-{idx}@{me}>;tag=l{t}x{idx}\r\nTo: <sip:ivr@{gw}>;tag={to_tag}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            gw = self.gw,
            me = self.me,
            t = self.tag
        )
    }

    /// Places calls `idxs` at up to `cps` per second; returns those answered within `limit`.
    pub async fn place(
        &mut self,
        idxs: std::ops::Range<u32>,
        cps: u32,
        limit: Duration,
    ) -> Vec<Established> {
        let start = Instant::now();
        let total = idxs.len();
        let mut out = Vec::new();
        let mut next = idxs.start;
        let mut buf = vec![0u8; 65536];
        let per = Duration::from_secs_f64(1.0 / f64::from(cps.max(1)));
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        while out.len() < total && start.elapsed() < limit {
            // Pace new INVITEs.
            while next < idxs.end && start + per * (next - idxs.start) <= Instant::now() {
                let inv = self.invite(next);
                let _ = self.sock.send_to(inv.as_bytes(), self.gw).await;
                let now = Instant::now();
                self.legs.insert(
                    self.call_id(next),
                    Leg {
                        idx: next,
                        to_tag: None,
                        sent_at: now,
                        last_tx: now,
                        tries: 1,
                        invite: inv,
                        done: false,
                    },
                );
                next += 1;
            }
            // Retransmit unanswered INVITEs (T1 doubling, 5 tries).
            let now = Instant::now();
            let mut resend = Vec::new();
            for l in self.legs.values_mut() {
                if l.to_tag.is_none() && !l.done && l.tries < 6 {
                    let wait = Duration::from_millis(500) * (1 << (l.tries - 1));
                    if now.duration_since(l.last_tx) >= wait {
                        l.tries += 1;
                        l.last_tx = now;
                        resend.push(l.invite.clone());
                    }
                }
            }
            for m in resend {
                let _ = self.sock.send_to(m.as_bytes(), self.gw).await;
            }
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => {
                    if let Ok((n, _)) = r {
                        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                        if let Some(e) = self.on_message(&msg).await {
                            out.push(e);
                        }
                    }
                }
                _ = tick.tick() => {}
            }
        }
        out
    }

    /// Handles one message; returns a newly established call.
    async fn on_message(&mut self, msg: &str) -> Option<Established> {
        let first = msg.lines().next().unwrap_or("");
        let cid = header(msg, "Call-ID")
            .or_else(|| header(msg, "i"))?
            .to_string();
        if !first.starts_with("SIP/2.0 ") {
            // A request from the gateway (BYE, INFO, OPTIONS): answer 200.
            let mut resp = String::from("SIP/2.0 200 OK\r\n");
            for l in msg.lines() {
                let n = l
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if ["via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"]
                    .contains(&n.as_str())
                {
                    resp.push_str(l);
                    resp.push_str("\r\n");
                }
            }
            resp.push_str("Content-Length: 0\r\n\r\n");
            let _ = self.sock.send_to(resp.as_bytes(), self.gw).await;
            if first.starts_with("BYE") {
                if let Some(l) = self.legs.get_mut(&cid) {
                    l.done = true;
                }
            }
            return None;
        }
        let code: u16 = first.split_whitespace().nth(1)?.parse().ok()?;
        let cseq = header(msg, "CSeq")?;
        if !cseq.ends_with("INVITE") || code < 200 {
            return None;
        }
        let leg = self.legs.get_mut(&cid)?;
        if code >= 300 {
            if !leg.done {
                leg.done = true;
                self.failures.push(code);
            }
            let (idx, me, gw, t) = (leg.idx, self.me, self.gw, self.tag);
            let to = header(msg, "To").unwrap_or("");
            let ack = format!(
                "ACK sip:ivr@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKl{t}x{idx}i\r\nMax-Forwards: 70\r\nFrom: <sip:load-{idx}@{me}>;tag=l{t}x{idx}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
            );
            let _ = self.sock.send_to(ack.as_bytes(), gw).await;
            return None;
        }
        let to_tag = header(msg, "To")?
            .split("tag=")
            .nth(1)?
            .split(';')
            .next()?
            .trim()
            .to_string();
        let first_time = leg.to_tag.is_none();
        leg.to_tag = Some(to_tag.clone());
        let (idx, setup) = (leg.idx, leg.sent_at.elapsed());
        let ack = self.in_dialog("ACK", 1, &cid, idx, &to_tag);
        let _ = self.sock.send_to(ack.as_bytes(), self.gw).await;
        if !first_time {
            return None;
        }
        let body = msg.split("\r\n\r\n").nth(1)?;
        let ip = body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))?
            .trim();
        let port = body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))?
            .split(' ')
            .next()?;
        let rtp = format!("{ip}:{port}").parse().ok()?;
        Some(Established { idx, rtp, setup })
    }

    /// Sends BYE on every established call and waits (bounded) for the answers; returns
    /// how many were hung up.
    pub async fn hangup_all(&mut self, limit: Duration) -> usize {
        let mut pending = std::collections::HashSet::new();
        let legs: Vec<(String, u32, String)> = self
            .legs
            .iter()
            .filter(|(_, l)| !l.done)
            .filter_map(|(c, l)| Some((c.clone(), l.idx, l.to_tag.clone()?)))
            .collect();
        for (cid, idx, tag) in &legs {
            let bye = self.in_dialog("BYE", 2, cid, *idx, tag);
            let _ = self.sock.send_to(bye.as_bytes(), self.gw).await;
            pending.insert(cid.clone());
        }
        let start = Instant::now();
        let mut buf = vec![0u8; 65536];
        while !pending.is_empty() && start.elapsed() < limit {
            if let Ok(Ok((n, _))) =
                tokio::time::timeout(Duration::from_millis(200), self.sock.recv_from(&mut buf))
                    .await
            {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.starts_with("SIP/2.0 ")
                    && header(&msg, "CSeq").is_some_and(|c| c.ends_with("BYE"))
                {
                    if let Some(c) = header(&msg, "Call-ID") {
                        pending.remove(c);
                    }
                } else {
                    let _ = self.on_message(&msg).await;
                }
            }
        }
        for l in self.legs.values_mut() {
            l.done = true;
        }
        legs.len() - pending.len()
    }

    /// Answers whatever the gateway sends (BYE, retransmitted 200) for `dur`.
    pub async fn service(&mut self, dur: Duration) {
        let end = Instant::now() + dur;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < end {
            if let Ok(Ok((n, _))) =
                tokio::time::timeout_at(end.into(), self.sock.recv_from(&mut buf)).await
            {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let _ = self.on_message(&msg).await;
            }
        }
    }
}
