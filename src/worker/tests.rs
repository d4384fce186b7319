//! End-to-end tests of the worker engine over real UDP sockets on 127.0.0.1, run against
//! both backends (io_uring and the epoll fallback) with the same handler.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::*;

const PATIENCE: Duration = Duration::from_secs(10);

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

#[derive(Debug)]
enum Cmd {
    Bind(SocketAddr),
    Send(SocketToken, SocketAddr, Vec<u8>),
    Close(SocketToken),
    Ping(u64),
    /// Spin in the callback until the flag is cleared (bounded), to let datagrams pile up.
    Block(Arc<AtomicBool>),
    /// On shutdown, send this datagram from this socket.
    SendOnShutdown(SocketToken, SocketAddr),
    Panic,
    Detach(SocketToken),
    Adopt(Fd),
    Connect(SocketToken, Option<SocketAddr>),
}

/// A descriptor in an event (compared by number).
#[derive(Debug)]
struct Fd(std::os::fd::OwnedFd);

impl PartialEq for Fd {
    fn eq(&self, other: &Self) -> bool {
        use std::os::fd::AsRawFd;
        self.0.as_raw_fd() == other.0.as_raw_fd()
    }
}

#[derive(Debug, PartialEq)]
enum Ev {
    Bound(SocketToken, SocketAddr),
    BindFailed(std::io::ErrorKind),
    Packet {
        sock: SocketToken,
        from: SocketAddr,
        seq: u64,
        len: usize,
    },
    Sent(Result<(), SocketSendError>),
    Closed(bool),
    Pong(u64),
    Blocked,
    Tick(Instant),
    Shutdown,
    Detaching(bool),
    Detached(SocketToken, Fd),
    Adopted(SocketToken, SocketAddr),
    Connected(bool),
    /// A datagram, from a probe that names its worker.
    PacketAt {
        worker: usize,
        seq: u64,
    },
}

struct Probe {
    record_ticks: bool,
    on_shutdown: Option<(SocketToken, SocketAddr)>,
    /// Name the worker in packet events ([`Ev::PacketAt`]).
    worker: Option<usize>,
}

fn seq_of(data: &[u8]) -> u64 {
    data.get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(u64::MAX, u64::from_be_bytes)
}

impl MediaHandler for Probe {
    type Command = Cmd;
    type Event = Ev;

    fn on_command(&mut self, cmd: Cmd, io: &mut IoCtx<'_, Ev>) {
        match cmd {
            Cmd::Bind(a) => match io.bind_udp(a) {
                Ok(t) => {
                    let local = io.local_addr(t).expect("bound socket has an address");
                    io.emit(Ev::Bound(t, local));
                }
                Err(e) => io.emit(Ev::BindFailed(e.kind())),
            },
            Cmd::Send(t, to, data) => {
                let r = io.send_to(t, &data, to);
                io.emit(Ev::Sent(r));
            }
            Cmd::Close(t) => {
                let r = io.close(t);
                io.emit(Ev::Closed(r));
            }
            Cmd::Ping(n) => io.emit(Ev::Pong(n)),
            Cmd::Block(flag) => {
                // `emit` puts the event in the channel at once: the test sees it while we
                // spin, and only then sends its burst.
                io.emit(Ev::Blocked);
                let until = Instant::now() + PATIENCE;
                while flag.load(Ordering::Acquire) && Instant::now() < until {
                    std::hint::spin_loop();
                }
            }
            Cmd::SendOnShutdown(t, to) => self.on_shutdown = Some((t, to)),
            Cmd::Panic => panic!("handler panic requested by the test"),
            Cmd::Detach(t) => {
                let r = io.detach(t);
                io.emit(Ev::Detaching(r));
            }
            Cmd::Connect(t, peer) => {
                let r = io.connect(t, peer);
                io.emit(Ev::Connected(r.is_ok()));
            }
            Cmd::Adopt(fd) => {
                let t = io.adopt_udp(fd.0).expect("adopt");
                let local = io.local_addr(t).expect("adopted socket has an address");
                io.emit(Ev::Adopted(t, local));
            }
        }
    }

    fn on_detached(&mut self, sock: SocketToken, fd: std::os::fd::OwnedFd, io: &mut IoCtx<'_, Ev>) {
        io.emit(Ev::Detached(sock, Fd(fd)));
    }

    fn on_packet(
        &mut self,
        sock: SocketToken,
        data: &[u8],
        from: SocketAddr,
        _now: Instant,
        io: &mut IoCtx<'_, Ev>,
    ) {
        if let Some(worker) = self.worker {
            io.emit(Ev::PacketAt {
                worker,
                seq: seq_of(data),
            });
            return;
        }
        io.emit(Ev::Packet {
            sock,
            from,
            seq: seq_of(data),
            len: data.len(),
        });
    }

    fn on_tick(&mut self, now: Instant, io: &mut IoCtx<'_, Ev>) {
        if self.record_ticks {
            io.emit(Ev::Tick(now));
        }
    }

    fn on_shutdown(&mut self, io: &mut IoCtx<'_, Ev>) {
        if let Some((t, to)) = self.on_shutdown {
            let _ = io.send_to(t, b"goodbye!", to);
        }
        io.emit(Ev::Shutdown);
    }
}

fn cfg(backend: BackendChoice) -> WorkerConfig {
    WorkerConfig {
        backend,
        pin_cores: false,
        recv_buffers: 256,
        send_slots: 256,
        ..Default::default()
    }
}

fn spawn(c: &WorkerConfig) -> Workers<Probe> {
    spawn_workers(1, c, |_| Probe {
        record_ticks: false,
        on_shutdown: None,
        worker: None,
    })
    .expect("spawn")
}

/// Waits for the first event matching `f` (others are skipped).
fn wait_for<T>(rx: &Receiver<Ev>, mut f: impl FnMut(&Ev) -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ev) => {
                if let Some(t) = f(&ev) {
                    return t;
                }
            }
            Err(e) => panic!("no matching event: {e}"),
        }
    }
}

/// Polls `cond` every millisecond until it holds or the patience runs out.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

fn bind(w: &Workers<Probe>) -> (SocketToken, SocketAddr) {
    w.handles[0].send(Cmd::Bind(lo())).expect("send");
    wait_for(&w.events, |e| match e {
        Ev::Bound(t, a) => Some((*t, *a)),
        Ev::BindFailed(k) => panic!("bind failed: {k:?}"),
        _ => None,
    })
}

fn datagram(seq: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0xa5u8; len.max(8)];
    v[..8].copy_from_slice(&seq.to_be_bytes());
    v
}

fn packets_arrive_with_source(b: BackendChoice) {
    let w = spawn(&cfg(b));
    let (tok, addr) = bind(&w);
    let client = UdpSocket::bind(lo()).expect("client");
    let client_addr = client.local_addr().expect("addr");
    for seq in 0..20u64 {
        client
            .send_to(&datagram(seq, 100 + seq as usize), addr)
            .expect("send");
        let (sock, from, got, len) = wait_for(&w.events, |e| match e {
            Ev::Packet {
                sock,
                from,
                seq,
                len,
            } => Some((*sock, *from, *seq, *len)),
            _ => None,
        });
        assert_eq!(sock, tok);
        assert_eq!(from, client_addr);
        assert_eq!(got, seq);
        assert_eq!(len, 100 + seq as usize);
    }
    assert!(w.shutdown().is_empty());
}

fn sends_arrive(b: BackendChoice) {
    let w = spawn(&cfg(b));
    let (tok, addr) = bind(&w);
    let peer = UdpSocket::bind(lo()).expect("peer");
    peer.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let peer_addr = peer.local_addr().expect("addr");
    let mut buf = [0u8; 2048];
    for seq in 0..20u64 {
        let d = datagram(seq, 172);
        w.handles[0]
            .send(Cmd::Send(tok, peer_addr, d.clone()))
            .expect("cmd");
        let (n, from) = peer.recv_from(&mut buf).expect("datagram from worker");
        assert_eq!(&buf[..n], &d[..]);
        assert_eq!(from, addr);
    }
    // A payload larger than a send slot goes out synchronously, still whole.
    let big = datagram(99, 1900);
    w.handles[0]
        .send(Cmd::Send(tok, peer_addr, big.clone()))
        .expect("cmd");
    let (n, _) = peer.recv_from(&mut buf).expect("big datagram");
    assert_eq!(&buf[..n], &big[..]);
    let h = &w.handles[0];
    assert!(eventually(|| h.stats().packets_out == 21));
    assert!(h.stats().sends_direct >= 1);
    assert!(w.shutdown().is_empty());
}

fn burst_larger_than_ring_rearms(b: BackendChoice) {
    let c = WorkerConfig {
        recv_buffers: 64,
        socket_rcvbuf: Some(4 << 20),
        ..cfg(b)
    };
    let w = spawn(&c);
    let (_tok, addr) = bind(&w);
    let client = UdpSocket::bind(lo()).expect("client");
    // Hold the worker in a callback while 3x the ring's buffers arrive.
    let hold = Arc::new(AtomicBool::new(true));
    w.handles[0].send(Cmd::Block(hold.clone())).expect("cmd");
    wait_for(&w.events, |e| (*e == Ev::Blocked).then_some(()));
    for seq in 0..192u64 {
        client.send_to(&datagram(seq, 64), addr).expect("send");
    }
    hold.store(false, Ordering::Release);
    // After the burst, new datagrams must still be received: the receive was re-armed.
    let mut burst_seen = 0u64;
    for marker in 1_000_000..1_000_020u64 {
        client.send_to(&datagram(marker, 64), addr).expect("send");
        wait_for(&w.events, |e| match e {
            Ev::Packet { seq, .. } if *seq == marker => Some(()),
            Ev::Packet { seq, .. } if *seq < 192 => {
                burst_seen += 1;
                None
            }
            _ => None,
        });
    }
    // The socket's buffer holds the whole burst, so none of it is lost: on io_uring what
    // the ring had no buffer for is drained from the socket when the receive ends.
    assert_eq!(burst_seen, 192, "the whole burst");
    let h = &w.handles[0];
    if b == BackendChoice::IoUring {
        assert!(
            eventually(|| h.stats().recv_enobufs >= 1),
            "{:?}",
            h.stats()
        );
        assert!(h.stats().recv_rearms >= 1);
        assert!(h.stats().recv_drained >= 1, "{:?}", h.stats());
    }
    assert!(w.shutdown().is_empty());
}

fn ticks_on_absolute_grid(b: BackendChoice) {
    let period = Duration::from_millis(10);
    let c = WorkerConfig {
        tick: period,
        // Never skip, even after a long stall on a busy test machine.
        max_catch_up_ticks: 1_000_000,
        ..cfg(b)
    };
    let w = spawn_workers(1, &c, |info: &WorkerInfo| {
        // Record from the very first tick.
        let _ = info;
        Probe {
            record_ticks: true,
            on_shutdown: None,
            worker: None,
        }
    })
    .expect("spawn");
    let first = wait_for(&w.events, |e| match e {
        Ev::Tick(t) => Some(*t),
        _ => None,
    });
    let mut ticks = vec![first];
    while *ticks.last().expect("one") - first < Duration::from_secs(1) {
        ticks.push(wait_for(&w.events, |e| match e {
            Ev::Tick(t) => Some(*t),
            _ => None,
        }));
    }
    let stats = w.handles[0].stats();
    assert!(w.shutdown().is_empty());
    assert!(ticks.len() >= 50, "{} ticks in a second", ticks.len());
    // Every tick is one period after the previous one: no drift, no skip, no repeat.
    // (Catch-up ticks after a stall still carry their own grid time.)
    for pair in ticks.windows(2) {
        assert_eq!(pair[1] - pair[0], period);
    }
    assert!(stats.ticks >= 50);
}

/// Ticks carry exact multiples of the period from the worker's grid origin.
fn ticks_are_multiples_from_start(b: BackendChoice) {
    let period = Duration::from_millis(10);
    let c = WorkerConfig {
        tick: period,
        ..cfg(b)
    };
    let (tx, rx) = crossbeam_channel::bounded(1);
    let w = spawn_workers(1, &c, move |info: &WorkerInfo| {
        let _ = tx.send(info.start);
        Probe {
            record_ticks: true,
            on_shutdown: None,
            worker: None,
        }
    })
    .expect("spawn");
    let start = rx.recv_timeout(PATIENCE).expect("start");
    for _ in 0..10 {
        let t = wait_for(&w.events, |e| match e {
            Ev::Tick(t) => Some(*t),
            _ => None,
        });
        let since = (t - start).as_nanos();
        assert!(since > 0);
        assert_eq!(since % period.as_nanos(), 0, "{since} ns is off the grid");
        let info = WorkerInfo {
            index: 0,
            core: None,
            start,
            tick: period,
            backend: Backend::Unknown,
        };
        assert_eq!(
            u128::from(info.tick_index(t)),
            since / period.as_nanos(),
            "tick_index inverts the grid"
        );
        assert_eq!(info.tick_index(t + period / 2), info.tick_index(t));
    }
    assert!(w.shutdown().is_empty());
}

fn command_wakes_worker_promptly(b: BackendChoice) {
    // With a 60 s tick only the command wake-up can get the worker to answer in time.
    let c = WorkerConfig {
        tick: Duration::from_secs(60),
        ..cfg(b)
    };
    let w = spawn(&c);
    for n in 0..20 {
        w.handles[0].send(Cmd::Ping(n)).expect("cmd");
        wait_for(&w.events, |e| (*e == Ev::Pong(n)).then_some(()));
    }
    assert_eq!(w.handles[0].stats().ticks, 0);
    assert!(w.shutdown().is_empty());
}

fn shutdown_calls_on_shutdown(b: BackendChoice) {
    let w = spawn(&cfg(b));
    let (tok, _) = bind(&w);
    let peer = UdpSocket::bind(lo()).expect("peer");
    peer.set_read_timeout(Some(PATIENCE)).expect("timeout");
    w.handles[0]
        .send(Cmd::SendOnShutdown(tok, peer.local_addr().expect("addr")))
        .expect("cmd");
    let events = w.events.clone();
    assert!(w.shutdown().is_empty());
    wait_for(&events, |e| matches!(e, Ev::Shutdown).then_some(()));
    let mut buf = [0u8; 64];
    let (n, _) = peer
        .recv_from(&mut buf)
        .expect("datagram sent from on_shutdown");
    assert_eq!(&buf[..n], b"goodbye!");
}

fn close_releases_port_and_refuses_stale_token(b: BackendChoice) {
    let w = spawn(&cfg(b));
    let (tok, addr) = bind(&w);
    w.handles[0].send(Cmd::Close(tok)).expect("cmd");
    wait_for(&w.events, |e| (*e == Ev::Closed(true)).then_some(()));
    w.handles[0].send(Cmd::Close(tok)).expect("cmd");
    wait_for(&w.events, |e| (*e == Ev::Closed(false)).then_some(()));
    w.handles[0]
        .send(Cmd::Send(tok, addr, vec![1, 2, 3]))
        .expect("cmd");
    wait_for(&w.events, |e| {
        (*e == Ev::Sent(Err(SocketSendError::BadSocket))).then_some(())
    });
    // The port is released (once the backend has torn the receive down).
    assert!(eventually(|| UdpSocket::bind(addr).is_ok()));
    // Binding a busy port reports the error.
    let held = UdpSocket::bind(lo()).expect("held");
    w.handles[0]
        .send(Cmd::Bind(held.local_addr().expect("addr")))
        .expect("cmd");
    let kind = wait_for(&w.events, |e| match e {
        Ev::BindFailed(k) => Some(*k),
        _ => None,
    });
    assert_eq!(kind, std::io::ErrorKind::AddrInUse);
    assert!(w.shutdown().is_empty());
}

fn many_sockets_one_worker(b: BackendChoice) {
    let w = spawn(&cfg(b));
    let client = UdpSocket::bind(lo()).expect("client");
    let socks: Vec<(SocketToken, SocketAddr)> = (0..50).map(|_| bind(&w)).collect();
    for (i, (_, addr)) in socks.iter().enumerate() {
        client.send_to(&datagram(i as u64, 32), addr).expect("send");
    }
    let mut seen = vec![false; socks.len()];
    for _ in 0..socks.len() {
        let (sock, seq) = wait_for(&w.events, |e| match e {
            Ev::Packet { sock, seq, .. } => Some((*sock, *seq)),
            _ => None,
        });
        let i = seq as usize;
        assert_eq!(socks[i].0, sock, "datagram {i} arrived on its own socket");
        seen[i] = true;
    }
    assert!(seen.iter().all(|&s| s));
    assert!(w.shutdown().is_empty());
}

fn ipv6_round_trip(b: BackendChoice) {
    let Ok(peer) = UdpSocket::bind("[::1]:0") else {
        return; // no IPv6 loopback on this machine
    };
    peer.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let peer_addr = peer.local_addr().expect("addr");
    let w = spawn(&cfg(b));
    w.handles[0]
        .send(Cmd::Bind("[::1]:0".parse().expect("v6")))
        .expect("cmd");
    let (tok, addr) = wait_for(&w.events, |e| match e {
        Ev::Bound(t, a) => Some((*t, *a)),
        Ev::BindFailed(k) => panic!("bind failed: {k:?}"),
        _ => None,
    });
    peer.send_to(&datagram(7, 40), addr).expect("send");
    let (sock, from, seq) = wait_for(&w.events, |e| match e {
        Ev::Packet {
            sock, from, seq, ..
        } => Some((*sock, *from, *seq)),
        _ => None,
    });
    assert_eq!((sock, from, seq), (tok, peer_addr, 7));
    w.handles[0]
        .send(Cmd::Send(tok, peer_addr, datagram(8, 40)))
        .expect("cmd");
    let mut buf = [0u8; 64];
    let (n, src) = peer.recv_from(&mut buf).expect("reply");
    assert_eq!((seq_of(&buf[..n]), src), (8, addr));
    assert!(w.shutdown().is_empty());
}

fn handler_panic_is_reported(b: BackendChoice) {
    let w = spawn(&cfg(b));
    let _ = bind(&w);
    w.handles[0].send(Cmd::Panic).expect("cmd");
    let h = &w.handles[0];
    assert!(eventually(|| h.is_finished()));
    assert!(matches!(
        h.send(Cmd::Ping(0)),
        Err(CommandError::Stopped(_))
    ));
    assert_eq!(w.shutdown(), vec![0]);
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod io_uring_backend {
            $( #[test] fn $name() { super::$name(super::BackendChoice::IoUring) } )*
        }
        mod epoll_backend {
            $( #[test] fn $name() { super::$name(super::BackendChoice::Epoll) } )*
        }
    };
}

/// A socket detached from one worker and adopted by another keeps its port and loses no
/// datagram: those received before the receive was torn down reach the first worker,
/// the rest wait in the socket for the second.
fn detach_and_adopt_across_workers(b: BackendChoice) {
    let w = spawn_workers(2, &cfg(b), |info: &WorkerInfo| Probe {
        record_ticks: false,
        on_shutdown: None,
        worker: Some(info.index),
    })
    .expect("spawn");
    w.handles[0].send(Cmd::Bind(lo())).expect("send");
    let (tok, addr) = wait_for(&w.events, |e| match e {
        Ev::Bound(t, a) => Some((*t, *a)),
        _ => None,
    });
    let client = UdpSocket::bind(lo()).expect("client");
    let mut seen: Vec<(usize, u64)> = Vec::new();
    for seq in 0..10u64 {
        client.send_to(&datagram(seq, 64), addr).expect("send");
    }
    // Detach while datagrams keep coming.
    w.handles[0].send(Cmd::Detach(tok)).expect("send");
    for seq in 10..30u64 {
        client.send_to(&datagram(seq, 64), addr).expect("send");
    }
    let deadline = Instant::now() + PATIENCE;
    let detached = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match w.events.recv_timeout(left).expect("detached in time") {
            Ev::Detached(t, fd) => {
                assert_eq!(t, tok);
                break fd;
            }
            Ev::PacketAt { worker, seq } => seen.push((worker, seq)),
            Ev::Detaching(r) => assert!(r),
            other => panic!("unexpected {other:?}"),
        }
    };
    w.handles[0].send(Cmd::Detach(tok)).expect("send");
    let again = wait_for(&w.events, |e| match e {
        Ev::Detaching(r) => Some(*r),
        Ev::PacketAt { seq, .. } => panic!("datagram {seq} after the detach completed"),
        _ => None,
    });
    assert!(!again, "a detached token is stale");
    for seq in 30..40u64 {
        client.send_to(&datagram(seq, 64), addr).expect("send");
    }
    w.handles[1].send(Cmd::Adopt(detached)).expect("send");
    let (t1, local) = wait_for(&w.events, |e| match e {
        Ev::Adopted(t, a) => Some((*t, *a)),
        Ev::PacketAt { worker, seq } => {
            assert_eq!(*worker, 1);
            seen.push((*worker, *seq));
            None
        }
        _ => None,
    });
    assert_eq!(local, addr, "the port stays");
    for seq in 40..50u64 {
        client.send_to(&datagram(seq, 64), addr).expect("send");
    }
    while seen.len() < 50 {
        let got = wait_for(&w.events, |e| match e {
            Ev::PacketAt { worker, seq } => Some((*worker, *seq)),
            _ => None,
        });
        seen.push(got);
    }
    let mut seqs: Vec<u64> = seen.iter().map(|s| s.1).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..50).collect::<Vec<_>>(),
        "each datagram once: {seen:?}"
    );
    assert!(seen.iter().all(|&(wk, s)| wk == 1 || s < 30), "{seen:?}");
    assert!(seen.iter().filter(|s| s.0 == 1).count() >= 20, "{seen:?}");
    // The adopting worker sends from the same port.
    let peer = UdpSocket::bind(lo()).expect("peer");
    peer.set_read_timeout(Some(PATIENCE)).expect("timeout");
    w.handles[1]
        .send(Cmd::Send(
            t1,
            peer.local_addr().expect("addr"),
            datagram(77, 20),
        ))
        .expect("cmd");
    let mut buf = [0u8; 64];
    let (_, from) = peer.recv_from(&mut buf).expect("from the adopted socket");
    assert_eq!(from, addr);
    assert!(w.shutdown().is_empty());
}

/// A connected socket sends to its peer with no destination, still sends elsewhere with
/// one, hears only its peer while connected (the kernel drops the rest), hears everyone
/// again once the connection is dissolved, and a peer that closed its port (ICMP port
/// unreachable on a connected socket) is not a receive error: receiving goes on.
fn connected_socket_hears_only_its_peer(b: BackendChoice) {
    let w = spawn(&cfg(b));
    let h = &w.handles[0];
    let connected = || {
        wait_for(&w.events, |e| match e {
            Ev::Connected(ok) => Some(*ok),
            _ => None,
        })
    };
    // A socket on a port the kernel picked is never connected: dissolving the
    // connection would release that port.
    let (auto, _) = bind(&w);
    h.send(Cmd::Connect(auto, Some("127.0.0.1:9".parse().unwrap())))
        .expect("cmd");
    assert!(!connected(), "refused on a kernel-picked port");
    // One on a port it asked for (a free one, found by binding port 0 first).
    let wanted = UdpSocket::bind(lo()).expect("probe").local_addr().unwrap();
    h.send(Cmd::Bind(wanted)).expect("cmd");
    let (tok, addr) = wait_for(&w.events, |e| match e {
        Ev::Bound(t, a) => Some((*t, *a)),
        Ev::BindFailed(k) => panic!("bind failed: {k:?}"),
        _ => None,
    });
    let peer = UdpSocket::bind(lo()).expect("peer");
    let stranger = UdpSocket::bind(lo()).expect("stranger");
    for s in [&peer, &stranger] {
        s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    }
    let (peer_addr, stranger_addr) = (peer.local_addr().unwrap(), stranger.local_addr().unwrap());
    let connect = |to: Option<SocketAddr>| {
        h.send(Cmd::Connect(tok, to)).expect("cmd");
        assert!(connected(), "connect to {to:?}");
    };
    connect(Some(peer_addr));
    let mut buf = [0u8; 2048];
    for (to, sock) in [(peer_addr, &peer), (stranger_addr, &stranger)] {
        let d = datagram(7, 172);
        h.send(Cmd::Send(tok, to, d.clone())).expect("cmd");
        let (n, from) = sock.recv_from(&mut buf).expect("datagram from worker");
        assert_eq!((&buf[..n], from), (&d[..], addr));
    }
    // The stranger's datagram is dropped by the kernel; the peer's marker after it arrives.
    stranger.send_to(&datagram(1, 64), addr).expect("send");
    peer.send_to(&datagram(2, 64), addr).expect("send");
    let first = wait_for(&w.events, |e| match e {
        Ev::Packet { seq, from, .. } => Some((*seq, *from)),
        _ => None,
    });
    assert_eq!(
        first,
        (2, peer_addr),
        "only the peer is heard while connected"
    );
    connect(None);
    assert_eq!(
        UdpSocket::bind(addr).map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::AddrInUse),
        "the port stays bound once the connection is dissolved"
    );
    stranger.send_to(&datagram(3, 64), addr).expect("send");
    let got = wait_for(&w.events, |e| match e {
        Ev::Packet { seq, from, .. } => Some((*seq, *from)),
        _ => None,
    });
    assert_eq!(got, (3, stranger_addr), "heard again once disconnected");
    // A peer that has gone: the ICMP answer to our send ends no receive for good.
    // (The discard port: below the ephemeral range, so no other test's socket has it.)
    let gone_addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    connect(Some(gone_addr));
    for k in 0..3u64 {
        h.send(Cmd::Send(tok, gone_addr, datagram(k, 64)))
            .expect("cmd");
    }
    connect(None);
    stranger.send_to(&datagram(4, 64), addr).expect("send");
    let got = wait_for(&w.events, |e| match e {
        Ev::Packet { seq, .. } => Some(*seq),
        _ => None,
    });
    assert_eq!(got, 4, "still receiving after the port-unreachable answers");
    assert!(eventually(|| h.stats().packets_in >= 3), "{:?}", h.stats());
    assert_eq!(h.stats().recv_errors, 0, "{:?}", h.stats());
    assert!(w.shutdown().is_empty());
}

both_backends!(
    connected_socket_hears_only_its_peer,
    detach_and_adopt_across_workers,
    packets_arrive_with_source,
    sends_arrive,
    burst_larger_than_ring_rearms,
    ticks_on_absolute_grid,
    ticks_are_multiples_from_start,
    command_wakes_worker_promptly,
    shutdown_calls_on_shutdown,
    close_releases_port_and_refuses_stale_token,
    many_sockets_one_worker,
    ipv6_round_trip,
    handler_panic_is_reported,
);

#[test]
fn auto_picks_io_uring_here_and_pins_round_robin() {
    let c = WorkerConfig {
        pin_cores: true,
        ..cfg(BackendChoice::Auto)
    };
    let w = spawn_workers(3, &c, |_| Probe {
        record_ticks: false,
        on_shutdown: None,
        worker: None,
    })
    .expect("spawn");
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    for (i, h) in w.handles.iter().enumerate() {
        assert_eq!(h.index(), i);
        assert_eq!(h.backend(), Backend::IoUring, "{:?}", h.fallback_reason());
        if !cores.is_empty() {
            assert_eq!(h.core(), Some(cores[i % cores.len()].id));
        }
        h.send(Cmd::Ping(i as u64)).expect("cmd");
    }
    let mut pongs: Vec<u64> = (0..3)
        .map(|_| {
            wait_for(&w.events, |e| match e {
                Ev::Pong(n) => Some(*n),
                _ => None,
            })
        })
        .collect();
    pongs.sort_unstable();
    assert_eq!(pongs, vec![0, 1, 2]);
    assert!(w.shutdown().is_empty());
}

#[test]
fn full_command_queue_hands_the_command_back() {
    let c = WorkerConfig {
        command_capacity: 2,
        ..cfg(BackendChoice::Auto)
    };
    let w = spawn(&c);
    let hold = Arc::new(AtomicBool::new(true));
    w.handles[0].send(Cmd::Block(hold.clone())).expect("cmd");
    // Once the worker has taken the Block command, two more fit and the next does not.
    let mut refused = None;
    for n in 0..100 {
        if let Err(e) = w.handles[0].send(Cmd::Ping(n)) {
            refused = Some(e);
            break;
        }
    }
    hold.store(false, Ordering::Release);
    match refused {
        Some(CommandError::Full(Cmd::Ping(_))) => {}
        other => panic!("expected a full queue, got {other:?}"),
    }
    let h = &w.handles[0];
    h.shutdown();
    assert!(matches!(
        h.send(Cmd::Ping(0)),
        Err(CommandError::Stopped(_))
    ));
    assert!(w.shutdown().is_empty());
}

#[test]
fn bad_config_is_refused() {
    let c = WorkerConfig {
        recv_buffers: 3,
        ..Default::default()
    };
    assert!(matches!(
        spawn_workers(1, &c, |_| Probe {
            record_ticks: false,
            on_shutdown: None,
            worker: None,
        }),
        Err(WorkerError::Config(_))
    ));
}

/// Installs, on the calling thread only (and threads it spawns afterwards), a seccomp
/// filter that makes `io_uring_setup` fail with EPERM, as container runtimes' default
/// profiles do.
#[cfg(target_arch = "x86_64")]
fn deny_io_uring_on_this_thread() {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let mut filter = [
        // Load the syscall number (seccomp_data.nr, offset 0).
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        // io_uring_setup? fall through to EPERM, else skip to ALLOW.
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_setup as u32,
        },
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: plain prctl calls with a valid filter program; they affect this thread only.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn auto_falls_back_to_epoll_when_seccomp_blocks_io_uring() {
    // The filter goes on a throw-away thread; the workers it spawns inherit it.
    std::thread::spawn(|| {
        deny_io_uring_on_this_thread();
        assert_eq!(
            io_uring::IoUring::new(8)
                .err()
                .and_then(|e| e.raw_os_error()),
            Some(libc::EPERM),
            "filter in place"
        );
        // Forcing io_uring now fails to start...
        let forced = spawn_workers(1, &cfg(BackendChoice::IoUring), |_| Probe {
            record_ticks: false,
            on_shutdown: None,
            worker: None,
        });
        assert!(matches!(forced, Err(WorkerError::IoUringUnavailable(_))));
        // ...while Auto runs the same handler on the fallback.
        let w = spawn(&cfg(BackendChoice::Auto));
        let h = &w.handles[0];
        assert_eq!(h.backend(), Backend::Epoll);
        assert!(h.fallback_reason().is_some_and(|r| r.contains("io_uring")));
        let (tok, addr) = bind(&w);
        let client = UdpSocket::bind(lo()).expect("client");
        client.send_to(&datagram(5, 20), addr).expect("send");
        let (sock, seq) = wait_for(&w.events, |e| match e {
            Ev::Packet { sock, seq, .. } => Some((*sock, *seq)),
            _ => None,
        });
        assert_eq!((sock, seq), (tok, 5));
        assert!(w.shutdown().is_empty());
    })
    .join()
    .expect("test thread");
}
