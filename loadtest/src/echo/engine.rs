//! [`EchoHandler`]: the gateway's worker engine (`mediagw::worker`, io_uring or the epoll
//! fallback) running a handler that echoes every datagram back to its sender, from the
//! socket it came in on; [`spawn_echo`] starts one such worker on one socket, and
//! [`EngineEcho`] one that binds more sockets on demand (one per channel, as the gateway
//! gives each call its own RTP socket).

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mediagw::worker::{
    IoCtx, MediaHandler, SocketToken, WorkerConfig, WorkerError, Workers, spawn_workers,
};

/// Commands of the echo handler.
#[derive(Clone, Copy, Debug)]
pub enum EchoCommand {
    /// Bind a socket and echo everything it receives.
    Bind(SocketAddr),
}

/// Events of the echo handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoEvent {
    /// The socket is bound to this address.
    Bound(SocketAddr),
    /// Binding failed.
    BindFailed(io::ErrorKind),
}

/// Echoes every datagram back to its sender, from the socket it came in on.
#[derive(Debug, Default)]
pub struct EchoHandler;

impl MediaHandler for EchoHandler {
    type Command = EchoCommand;
    type Event = EchoEvent;

    fn on_command(&mut self, cmd: EchoCommand, io: &mut IoCtx<'_, EchoEvent>) {
        let EchoCommand::Bind(addr) = cmd;
        match io.bind_udp(addr) {
            Ok(tok) => match io.local_addr(tok) {
                Some(a) => io.emit(EchoEvent::Bound(a)),
                None => io.emit(EchoEvent::BindFailed(io::ErrorKind::Other)),
            },
            Err(e) => io.emit(EchoEvent::BindFailed(e.kind())),
        }
    }

    fn on_packet(
        &mut self,
        sock: SocketToken,
        data: &[u8],
        from: SocketAddr,
        _now: Instant,
        io: &mut IoCtx<'_, EchoEvent>,
    ) {
        // A refused send is counted in the worker's stats; nothing else to do here.
        let _ = io.send_to(sock, data, from);
    }

    fn on_tick(&mut self, _now: Instant, _io: &mut IoCtx<'_, EchoEvent>) {}
}

/// Starts one echo worker bound to `addr` and returns it with the bound address.
#[cfg(test)]
pub fn spawn_echo(
    cfg: &WorkerConfig,
    addr: SocketAddr,
) -> Result<(Workers<EchoHandler>, SocketAddr), WorkerError> {
    let w = spawn_workers(1, cfg, |_| EchoHandler)?;
    w.handles[0]
        .send(EchoCommand::Bind(addr))
        .map_err(|_| WorkerError::Startup(0))?;
    match w.events.recv_timeout(Duration::from_secs(10)) {
        Ok(EchoEvent::Bound(a)) => Ok((w, a)),
        Ok(EchoEvent::BindFailed(k)) => Err(WorkerError::Io(io::Error::from(k))),
        Err(_) => Err(WorkerError::Startup(0)),
    }
}

/// A running engine echo that binds sockets on demand; stopped on drop.
pub struct EngineEcho {
    workers: Workers<EchoHandler>,
    sockets: Vec<SocketAddr>,
}

impl EngineEcho {
    /// One worker (pinned as `cfg` says), no socket yet.
    pub fn spawn(cfg: &WorkerConfig) -> Result<EngineEcho, WorkerError> {
        Ok(EngineEcho {
            workers: spawn_workers(1, cfg, |_| EchoHandler)?,
            sockets: Vec::new(),
        })
    }

    /// Binds sockets on 127.0.0.1 until there are `n` (bounded wait for each batch);
    /// the addresses of the first `n`.
    pub fn addrs(&mut self, n: usize) -> io::Result<Vec<SocketAddr>> {
        let lo = SocketAddr::from(([127, 0, 0, 1], 0));
        let h = &self.workers.handles[0];
        while self.sockets.len() < n {
            // In batches the command queue holds.
            let want = (n - self.sockets.len()).min(1024);
            let mut queued = 0;
            for _ in 0..want {
                if h.send(EchoCommand::Bind(lo)).is_err() {
                    break;
                }
                queued += 1;
            }
            if queued == 0 {
                return Err(io::Error::other("echo worker refuses commands"));
            }
            for _ in 0..queued {
                match self.workers.events.recv_timeout(Duration::from_secs(10)) {
                    Ok(EchoEvent::Bound(a)) => self.sockets.push(a),
                    Ok(EchoEvent::BindFailed(k)) => return Err(io::Error::from(k)),
                    Err(_) => return Err(io::Error::other("echo worker did not bind in 10 s")),
                }
            }
        }
        Ok(self.sockets[..n].to_vec())
    }

    /// The worker's core, when pinned.
    pub fn core(&self) -> Option<usize> {
        self.workers.handles[0].core()
    }
}

#[cfg(test)]
mod tests {
    use mediagw::worker::{Backend, BackendChoice};

    use super::super::client::run_echo_client;
    use super::*;

    fn engine_echo(backend: BackendChoice) {
        let cfg = WorkerConfig {
            backend,
            pin_cores: false,
            ..Default::default()
        };
        let lo = "127.0.0.1:0".parse().expect("addr");
        let (w, addr) = spawn_echo(&cfg, lo).expect("spawn echo");
        let run = run_echo_client(addr, 10_000, 64, 172, Duration::from_secs(5)).expect("client");
        assert_eq!(run.sent, 10_000);
        assert_eq!(run.received, 10_000);
        assert_eq!(run.corrupt, 0);
        let h = &w.handles[0];
        let want = match backend {
            BackendChoice::Epoll => Backend::Epoll,
            _ => Backend::IoUring,
        };
        assert_eq!(h.backend(), want);
        // Counters are published each tick: wait for them to catch up.
        let deadline = Instant::now() + Duration::from_secs(5);
        while h.stats().packets_out < 10_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let s = h.stats();
        assert_eq!(s.packets_in, 10_000);
        assert_eq!(s.packets_out, 10_000);
        assert_eq!(s.bytes_out, 10_000 * 172);
        assert_eq!(s.send_errors, 0);
        assert!(w.shutdown().is_empty());
    }

    #[test]
    fn engine_echo_io_uring_returns_every_datagram() {
        engine_echo(BackendChoice::IoUring);
    }

    #[test]
    fn engine_echo_epoll_returns_every_datagram() {
        engine_echo(BackendChoice::Epoll);
    }

    #[test]
    fn engine_echo_binds_a_socket_per_channel() {
        let cfg = WorkerConfig {
            pin_cores: false,
            ..Default::default()
        };
        let mut echo = EngineEcho::spawn(&cfg).expect("spawn");
        let a = echo.addrs(2).expect("2 sockets");
        let b = echo.addrs(5).expect("5 sockets");
        assert_eq!(&b[..2], &a[..]);
        let ports: std::collections::HashSet<u16> = b.iter().map(|x| x.port()).collect();
        assert_eq!(ports.len(), 5);
        for addr in b {
            let run = run_echo_client(addr, 300, 16, 172, Duration::from_secs(5)).expect("client");
            assert_eq!((run.received, run.corrupt), (300, 0));
        }
    }
}
