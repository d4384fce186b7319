//! rtpengine (Debian `rtpengine-daemon`) as the relay to compare with: started in userspace
//! (`--table=-1`) on loopback, pinned to the gateway's core, and driven over its ng control
//! protocol (UDP datagrams `COOKIE bencoded-dict`): `offer` with the A side's SDP returns the
//! SDP for the B side, `answer` with B's returns A's; the port in each returned SDP is where
//! that side sends its RTP. Killed on drop.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// A running rtpengine.
pub struct RtpEngine {
    child: Child,
    ng: SocketAddr,
    ctl: UdpSocket,
    cookie: u64,
}

/// The part of an ng reply we read.
#[derive(Deserialize)]
struct Reply {
    result: String,
    #[serde(default)]
    sdp: Option<String>,
    #[serde(rename = "error-reason", default)]
    error_reason: Option<String>,
}

impl RtpEngine {
    /// Starts rtpengine with media ports `ports` on 127.0.0.1, pinned to `core` when given,
    /// and waits (bounded) until it answers `ping`.
    pub fn start(ports: (u16, u16), core: Option<usize>) -> anyhow::Result<RtpEngine> {
        let ng = SocketAddr::from(([127, 0, 0, 1], mediagw_testkit::ports::free_udp_port()));
        let mut cmd = match core {
            Some(c) => {
                let mut t = Command::new("taskset");
                t.args(["-c", &c.to_string(), "rtpengine"]);
                t
            }
            None => Command::new("rtpengine"),
        };
        cmd.args([
            "--table=-1",
            "--interface=127.0.0.1",
            &format!("--listen-ng={ng}"),
            &format!("--port-min={}", ports.0),
            &format!("--port-max={}", ports.1),
            "--foreground",
            "--log-stderr",
            "--log-level=3",
            "--num-threads=1",
            "--delete-delay=0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot run rtpengine (Debian rtpengine-daemon): {e}"))?;
        let ctl = UdpSocket::bind("127.0.0.1:0")?;
        ctl.set_read_timeout(Some(Duration::from_millis(200)))?;
        let mut r = RtpEngine {
            child,
            ng,
            ctl,
            cookie: 0,
        };
        let t0 = Instant::now();
        loop {
            if r.command(&[("command", "ping")]).is_ok() {
                return Ok(r);
            }
            anyhow::ensure!(
                t0.elapsed() < Duration::from_secs(15),
                "rtpengine did not answer ping on {ng}"
            );
        }
    }

    /// The rtpengine process id (its CPU time is read from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One ng command; its reply.
    fn command(&mut self, dict: &[(&str, &str)]) -> anyhow::Result<Reply> {
        self.cookie += 1;
        let map: BTreeMap<&str, &str> = dict.iter().copied().collect();
        let mut msg = format!("{} ", self.cookie).into_bytes();
        msg.extend(serde_bencode::to_bytes(&map)?);
        let mut buf = vec![0u8; 65536];
        for _ in 0..5 {
            self.ctl.send_to(&msg, self.ng)?;
            let Ok((n, _)) = self.ctl.recv_from(&mut buf) else {
                continue;
            };
            let text = &buf[..n];
            let Some(sp) = text.iter().position(|&b| b == b' ') else {
                continue;
            };
            if text[..sp] != *self.cookie.to_string().as_bytes() {
                continue;
            }
            let reply: Reply = serde_bencode::from_bytes(&text[sp + 1..])?;
            anyhow::ensure!(
                reply.result == "ok" || reply.result == "pong",
                "rtpengine: {} {}",
                reply.result,
                reply.error_reason.unwrap_or_default()
            );
            return Ok(reply);
        }
        anyhow::bail!("rtpengine did not answer")
    }

    /// Sets up call `id` between two ends that both receive at `end` (PCMU): returns
    /// where A sends (A's stream comes out at B from the other port) and where B sends.
    pub fn relay(&mut self, id: u32, end: SocketAddr) -> anyhow::Result<(SocketAddr, SocketAddr)> {
        let sdp = offer_sdp(end);
        let call = format!("load-{id}");
        let offered = self.command(&[
            ("command", "offer"),
            ("call-id", &call),
            ("from-tag", "a"),
            ("sdp", &sdp),
        ])?;
        let b_sends = port_of(offered.sdp.as_deref().unwrap_or_default())?;
        let answered = self.command(&[
            ("command", "answer"),
            ("call-id", &call),
            ("from-tag", "a"),
            ("to-tag", "b"),
            ("sdp", &sdp),
        ])?;
        let a_sends = port_of(answered.sdp.as_deref().unwrap_or_default())?;
        Ok((
            SocketAddr::from(([127, 0, 0, 1], a_sends)),
            SocketAddr::from(([127, 0, 0, 1], b_sends)),
        ))
    }
}

impl Drop for RtpEngine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PCMU audio SDP receiving at `end`.
fn offer_sdp(end: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n",
        ip = end.ip(),
        port = end.port()
    )
}

/// The port of the first `m=audio` line.
fn port_of(sdp: &str) -> anyhow::Result<u16> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no m=audio port in rtpengine's SDP:\n{sdp}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_read_from_the_audio_line() {
        let sdp = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 40012 RTP/AVP 0\r\n";
        assert_eq!(port_of(sdp).unwrap(), 40012);
        assert!(port_of("v=0\r\n").is_err());
        let o = offer_sdp("127.0.0.1:5004".parse().unwrap());
        assert!(o.contains("m=audio 5004 RTP/AVP 0\r\n") && o.contains("c=IN IP4 127.0.0.1"));
    }

    #[test]
    fn an_ng_command_is_a_cookie_and_a_bencoded_dictionary() {
        let map: BTreeMap<&str, &str> = [("command", "ping")].into_iter().collect();
        assert_eq!(
            serde_bencode::to_bytes(&map).unwrap(),
            b"d7:command4:pinge".to_vec()
        );
        let r: Reply = serde_bencode::from_bytes(b"d6:result4:ponge").unwrap();
        assert_eq!(r.result, "pong");
    }
}
