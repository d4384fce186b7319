//! The SIP side of the load generator: many calls from one UDP socket. It places calls
//! (INVITE with a PCMU offer pointing at the streamer's RTP socket, telephone-event on the
//! channels that send RFC 4733 digits) at a bounded rate, retransmits on T1, ACKs final
//! responses (a 2xx again on each retransmission), answers the gateway's requests, and
//! hangs every call up at the end. Each call is a [`CallLeg`] of the test kit: messages
//! are built and parsed with the gateway's own `mediagw::sip::Message`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mediagw::codec::Codec;
use mediagw::sip::{Message, Method};
use mediagw_testkit::sip::{CallLeg, ok_to, sdp};
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

struct Call {
    idx: u32,
    leg: CallLeg,
    sent_at: Instant,
    last_tx: Instant,
    tries: u32,
    invite: Vec<u8>,
    done: bool,
}

/// Places and releases calls; single owner of the SIP socket.
pub struct SipDriver {
    sock: UdpSocket,
    gw: SocketAddr,
    me: SocketAddr,
    rtp: SocketAddr,
    calls: HashMap<String, Call>,
    /// Final non-2xx responses seen (status codes).
    pub failures: Vec<u16>,
    tag: u32,
}

impl SipDriver {
    /// Binds a SIP socket on 127.0.0.1; calls go to `gw` and offer RTP at `rtp`.
    pub async fn new(gw: SocketAddr, rtp: SocketAddr) -> std::io::Result<Self> {
        let sock = UdpSocket::bind("127.0.0.1:0").await?;
        let me = sock.local_addr()?;
        Ok(Self {
            sock,
            gw,
            me,
            rtp,
            calls: HashMap::new(),
            failures: Vec::new(),
            tag: std::process::id(),
        })
    }

    /// Channel `idx`'s call: From `load-<idx>` (the bench application reads the channel
    /// back from it), to `ivr`.
    fn leg(&self, idx: u32) -> CallLeg {
        let t = self.tag;
        CallLeg::new(
            self.me,
            &format!("load-{idx}"),
            "ivr",
            self.gw,
            &format!("load-{t}-{idx}@127.0.0.1"),
            &format!("l{t}x{idx}"),
        )
    }

    async fn send(&self, msg: &Message) {
        let _ = self.sock.send_to(&msg.to_bytes(), self.gw).await;
    }

    /// Places calls `idxs` at up to `cps` per second and requires every one answered
    /// (within the time the rate needs plus 20 s); the error says how many were.
    pub async fn place_all(
        &mut self,
        idxs: std::ops::Range<u32>,
        cps: u32,
    ) -> anyhow::Result<Vec<Established>> {
        let n = idxs.len();
        let limit = Duration::from_secs_f64(n as f64 / f64::from(cps.max(1)) + 20.0);
        let up = self.place(idxs, cps, limit).await;
        anyhow::ensure!(up.len() == n, "only {} of {} calls answered", up.len(), n);
        Ok(up)
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
                let leg = self.leg(next);
                let offer = sdp::audio_offer(self.rtp, Codec::Pcmu, rfc4733_channel(next));
                let invite = leg.invite(&offer).to_bytes();
                let _ = self.sock.send_to(&invite, self.gw).await;
                let now = Instant::now();
                let call = Call {
                    idx: next,
                    leg,
                    sent_at: now,
                    last_tx: now,
                    tries: 1,
                    invite,
                    done: false,
                };
                self.calls.insert(call.leg.call_id().to_string(), call);
                next += 1;
            }
            // Retransmit unanswered INVITEs (T1 doubling, 5 tries).
            let now = Instant::now();
            let mut resend = Vec::new();
            for c in self.calls.values_mut() {
                if c.leg.to_tag().is_none() && !c.done && c.tries < 6 {
                    let wait = Duration::from_millis(500) * (1 << (c.tries - 1));
                    if now.duration_since(c.last_tx) >= wait {
                        c.tries += 1;
                        c.last_tx = now;
                        resend.push(c.invite.clone());
                    }
                }
            }
            for m in resend {
                let _ = self.sock.send_to(&m, self.gw).await;
            }
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => {
                    if let Ok((n, _)) = r {
                        if let Some(e) = self.on_datagram(&buf[..n]).await {
                            out.push(e);
                        }
                    }
                }
                _ = tick.tick() => {}
            }
        }
        out
    }

    /// Handles one datagram; returns a newly established call.
    async fn on_datagram(&mut self, data: &[u8]) -> Option<Established> {
        let msg = Message::parse(data).ok()?;
        if msg.is_request() {
            self.on_request(&msg).await;
            return None;
        }
        self.on_response(&msg).await
    }

    /// A request from the gateway (BYE, INFO, OPTIONS...): 200, and a BYE ends the call.
    async fn on_request(&mut self, req: &Message) {
        self.send(&ok_to(req)).await;
        if req.method() == Some(&Method::Bye) {
            if let Some(c) = req.call_id().and_then(|id| self.calls.get_mut(id)) {
                c.done = true;
            }
        }
    }

    /// A final response to an INVITE: ACK it; a failure is counted once, a first 2xx
    /// establishes the call.
    async fn on_response(&mut self, resp: &Message) -> Option<Established> {
        let code = resp.status()?;
        if code < 200 || resp.cseq().map(|c| c.1) != Some(Method::Invite) {
            return None;
        }
        let c = self.calls.get_mut(resp.call_id()?)?;
        if code >= 300 {
            if !c.done {
                c.done = true;
                self.failures.push(code);
            }
            let ack = c.leg.ack_failure(resp);
            self.send(&ack).await;
            return None;
        }
        let first = c.leg.answered(resp);
        let (idx, setup, ack) = (c.idx, c.sent_at.elapsed(), c.leg.ack());
        self.send(&ack).await;
        if !first {
            return None;
        }
        let rtp = sdp::rtp_target(&resp.body)?;
        Some(Established { idx, rtp, setup })
    }

    /// Sends BYE on every established call and waits (bounded) for the answers,
    /// retransmitting unanswered BYEs on T1 doubling up to 4 s (a burst of BYEs through a
    /// proxy can overflow its socket); returns how many were hung up.
    pub async fn hangup_all(&mut self, limit: Duration) -> usize {
        let mut pending = HashSet::new();
        let mut byes = HashMap::new();
        for (id, c) in &mut self.calls {
            if !c.done && c.leg.to_tag().is_some() {
                byes.insert(id.clone(), c.leg.request(Method::Bye, None).to_bytes());
                pending.insert(id.clone());
            }
        }
        let sent = byes.len();
        for bye in byes.values() {
            let _ = self.sock.send_to(bye, self.gw).await;
        }
        let start = Instant::now();
        let mut resend_at = start + Duration::from_millis(500);
        let mut interval = Duration::from_millis(500);
        let mut buf = vec![0u8; 65536];
        while !pending.is_empty() && start.elapsed() < limit {
            if Instant::now() >= resend_at {
                for id in &pending {
                    if let Some(bye) = byes.get(id) {
                        let _ = self.sock.send_to(bye, self.gw).await;
                    }
                }
                interval = (interval * 2).min(Duration::from_secs(4));
                resend_at = Instant::now() + interval;
            }
            let Ok(Ok((n, _))) =
                tokio::time::timeout(Duration::from_millis(200), self.sock.recv_from(&mut buf))
                    .await
            else {
                continue;
            };
            match Message::parse(&buf[..n]) {
                Ok(m) if !m.is_request() && m.cseq().map(|c| c.1) == Some(Method::Bye) => {
                    if let Some(id) = m.call_id() {
                        pending.remove(id);
                    }
                }
                _ => {
                    let _ = self.on_datagram(&buf[..n]).await;
                }
            }
        }
        for c in self.calls.values_mut() {
            c.done = true;
        }
        sent - pending.len()
    }

    /// Answers whatever the gateway sends (BYE, retransmitted 200) for `dur`.
    pub async fn service(&mut self, dur: Duration) {
        let end = Instant::now() + dur;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < end {
            if let Ok(Ok((n, _))) =
                tokio::time::timeout_at(end.into(), self.sock.recv_from(&mut buf)).await
            {
                let _ = self.on_datagram(&buf[..n]).await;
            }
        }
    }
}
