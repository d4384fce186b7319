//! [`run_echo_client`]: drives an echo with `count` datagrams, at most `window` of them
//! unanswered, and checks every reply against what was sent (the echoes' tests).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Result of [`run_echo_client`].
#[derive(Clone, Copy, Debug)]
pub struct EchoRun {
    /// Datagrams sent.
    pub sent: u64,
    /// Replies received (each carries the sequence number of a datagram sent).
    pub received: u64,
    /// Replies whose content did not match what was sent.
    pub corrupt: u64,
}

/// Sends `count` datagrams of `len` bytes (at least 8: a sequence number, then a pattern)
/// to `target`, keeping at most `window` unanswered, and counts the replies. Stops early if
/// no reply comes for `patience`.
pub fn run_echo_client(
    target: SocketAddr,
    count: u64,
    window: u64,
    len: usize,
    patience: Duration,
) -> io::Result<EchoRun> {
    let bind: SocketAddr = if target.is_ipv4() {
        "127.0.0.1:0".parse().map_err(io::Error::other)?
    } else {
        "[::1]:0".parse().map_err(io::Error::other)?
    };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(target)?;
    sock.set_read_timeout(Some(patience))?;
    let len = len.clamp(8, 1400);
    let window = window.max(1);
    let mut out = vec![0u8; len];
    let mut inb = vec![0u8; 2048];
    let (mut sent, mut received, mut corrupt) = (0u64, 0u64, 0u64);
    while received < count {
        while sent < count && sent - received < window {
            out[..8].copy_from_slice(&sent.to_be_bytes());
            for (i, b) in out[8..].iter_mut().enumerate() {
                *b = (sent as usize).wrapping_add(i) as u8;
            }
            sock.send(&out)?;
            sent += 1;
        }
        match sock.recv(&mut inb) {
            Ok(n) => {
                received += 1;
                let ok = n == len && {
                    let seq = u64::from_be_bytes(inb[..8].try_into().unwrap_or([0; 8]));
                    seq < sent
                        && inb[8..n]
                            .iter()
                            .enumerate()
                            .all(|(i, &b)| b == (seq as usize).wrapping_add(i) as u8)
                };
                if !ok {
                    corrupt += 1;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(EchoRun {
        sent,
        received,
        corrupt,
    })
}
