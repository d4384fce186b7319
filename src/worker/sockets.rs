//! The worker's table of UDP sockets: opening (bind) or adopting them, naming them by
//! generation-checked [`SocketToken`]s, and the life cycle the backends drive: open →
//! closing → free (a closing socket's receive must be cancelled before its descriptor is
//! closed), or open → detaching → free (the receive is cancelled, then the descriptor is
//! handed back to the handler instead of closed, to be adopted by another worker).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

/// Names one UDP socket of one worker. Stale tokens (of a closed socket whose slot was
/// reused) are detected by a generation number and refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketToken {
    idx: u32,
    generation: u32,
}

impl SocketToken {
    /// The slot index (dense, small: usable to index a handler's own tables).
    pub fn index(self) -> u32 {
        self.idx
    }

    /// The generation of the slot when this token was handed out.
    pub fn generation(self) -> u32 {
        self.generation
    }

    /// Builds a token from its parts (the worker refuses tokens it did not hand out).
    pub fn from_parts(idx: u32, generation: u32) -> Self {
        Self { idx, generation }
    }
}

/// Where a slot is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockState {
    /// Unused.
    Free,
    /// Bound; receiving.
    Open,
    /// `close` was asked; the backend is tearing the receive down.
    Closing,
    /// `detach` was asked; the backend is tearing the receive down (datagrams it still
    /// completes are delivered, and the socket can still send), then hands the descriptor
    /// back.
    Detaching,
}

impl SockState {
    /// Open or detaching: the socket still sends, and what it received is delivered.
    pub fn is_live(self) -> bool {
        matches!(self, SockState::Open | SockState::Detaching)
    }
}

/// One slot of the table.
#[derive(Debug)]
pub struct SockSlot {
    fd: Option<OwnedFd>,
    /// Generation of the current (or last) occupant.
    pub generation: u32,
    /// Life-cycle state.
    pub state: SockState,
    /// Whether a receive (multishot recvmsg, or epoll registration) is in place.
    pub armed: bool,
    /// Set when the receive failed in a way that re-arming cannot fix.
    pub broken: bool,
    /// The bound address.
    pub local: Option<SocketAddr>,
    /// The address the socket is connected to (`connect`): sends there need no
    /// destination, and the kernel keeps the route.
    pub peer: Option<SocketAddr>,
    /// Whether the socket was bound to a port it asked for: only such a socket may be
    /// connected, because dissolving a connection (`AF_UNSPEC`) releases a port the
    /// kernel picked, which another socket could then take.
    port_locked: bool,
}

impl SockSlot {
    /// The raw descriptor (-1 when free).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, |f| f.as_raw_fd())
    }
}

/// Socket options applied when binding.
#[derive(Clone, Copy, Debug, Default)]
pub struct SockOpts {
    /// `SO_RCVBUF` in bytes (None: system default).
    pub rcvbuf: Option<usize>,
    /// `SO_SNDBUF` in bytes (None: system default).
    pub sndbuf: Option<usize>,
}

/// The table.
#[derive(Debug, Default)]
pub struct SocketTable {
    slots: Vec<SockSlot>,
    free: Vec<u32>,
    open: usize,
}

impl SocketTable {
    /// Creates a non-blocking UDP socket bound to `addr` and gives it a slot.
    pub fn open(&mut self, addr: SocketAddr, opts: SockOpts) -> io::Result<SocketToken> {
        let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        sock.set_nonblocking(true)?;
        if let Some(n) = opts.rcvbuf {
            sock.set_recv_buffer_size(n)?;
        }
        if let Some(n) = opts.sndbuf {
            sock.set_send_buffer_size(n)?;
        }
        sock.bind(&addr.into())?;
        let local = sock.local_addr()?.as_socket();
        Ok(self.insert(sock.into(), local, addr.port() != 0))
    }

    /// Takes over a bound, non-blocking UDP socket (detached from another worker) and gives
    /// it a slot.
    pub fn adopt(&mut self, fd: OwnedFd) -> io::Result<SocketToken> {
        let local = socket2::SockRef::from(&fd).local_addr()?.as_socket();
        // Whether its port was asked for is not known here; one that arrives connected
        // was connected by a worker, which connects only such sockets.
        Ok(self.insert(fd, local, false))
    }

    fn insert(&mut self, fd: OwnedFd, local: Option<SocketAddr>, port_locked: bool) -> SocketToken {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = self.slots.len() as u32;
                self.slots.push(SockSlot {
                    fd: None,
                    generation: 0,
                    state: SockState::Free,
                    armed: false,
                    broken: false,
                    local: None,
                    peer: None,
                    port_locked: false,
                });
                i
            }
        };
        let slot = &mut self.slots[idx as usize];
        slot.fd = Some(fd);
        slot.state = SockState::Open;
        slot.armed = false;
        slot.broken = false;
        slot.local = local;
        slot.peer = socket2::SockRef::from(slot.fd.as_ref().expect("just set"))
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket());
        slot.port_locked = port_locked || slot.peer.is_some();
        self.open += 1;
        SocketToken {
            idx,
            generation: slot.generation,
        }
    }

    /// The slot of an open (or detaching) socket named by `tok`.
    pub fn get(&self, tok: SocketToken) -> Option<&SockSlot> {
        self.slots
            .get(tok.idx as usize)
            .filter(|s| s.generation == tok.generation && s.state.is_live())
    }

    /// The slot at `idx`, whatever its state.
    pub fn slot_mut(&mut self, idx: u32) -> Option<&mut SockSlot> {
        self.slots.get_mut(idx as usize)
    }

    /// The slot at `idx`, whatever its state.
    pub fn slot(&self, idx: u32) -> Option<&SockSlot> {
        self.slots.get(idx as usize)
    }

    /// The current token of slot `idx` if it is open (or detaching).
    pub fn token_at(&self, idx: u32) -> Option<SocketToken> {
        let s = self.slots.get(idx as usize)?;
        s.state.is_live().then_some(SocketToken {
            idx,
            generation: s.generation,
        })
    }

    /// Connects an open socket to `peer`, or dissolves its connection (`None`): a
    /// connected UDP socket sends to its peer without a route lookup per datagram, and
    /// the kernel delivers it datagrams from that peer only.
    pub fn connect(&mut self, tok: SocketToken, peer: Option<SocketAddr>) -> io::Result<()> {
        let s = match self.slots.get_mut(tok.idx as usize) {
            Some(s) if s.generation == tok.generation && s.state == SockState::Open => s,
            _ => return Err(io::Error::from(io::ErrorKind::NotFound)),
        };
        if s.peer == peer {
            return Ok(());
        }
        if !s.port_locked {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "only a socket bound to a port it asked for is connected",
            ));
        }
        match peer {
            Some(p) => {
                socket2::SockRef::from(s.fd.as_ref().expect("open slot")).connect(&p.into())?
            }
            None => disconnect(s.raw_fd())?,
        }
        s.peer = peer;
        Ok(())
    }

    /// Marks an open (or detaching) socket as closing. Returns false for a stale or
    /// unknown token.
    pub fn begin_close(&mut self, tok: SocketToken) -> bool {
        match self.slots.get_mut(tok.idx as usize) {
            Some(s) if s.generation == tok.generation && s.state.is_live() => {
                s.state = SockState::Closing;
                true
            }
            _ => false,
        }
    }

    /// Marks an open socket as detaching. Returns false for a stale or unknown token, or
    /// one already closing or detaching.
    pub fn begin_detach(&mut self, tok: SocketToken) -> bool {
        match self.slots.get_mut(tok.idx as usize) {
            Some(s) if s.generation == tok.generation && s.state == SockState::Open => {
                s.state = SockState::Detaching;
                true
            }
            _ => false,
        }
    }

    /// Frees the slot of a detaching socket whose receive is torn down and returns its
    /// descriptor, with the token it had (the slot's generation moves on).
    pub fn finish_detach(&mut self, idx: u32) -> Option<(SocketToken, OwnedFd)> {
        let s = self.slots.get_mut(idx as usize)?;
        if s.state != SockState::Detaching {
            return None;
        }
        let tok = SocketToken {
            idx,
            generation: s.generation,
        };
        let fd = s.fd.take()?;
        self.release(idx);
        Some((tok, fd))
    }

    /// Closes the descriptor of slot `idx` and frees the slot (its generation moves on).
    pub fn finish_close(&mut self, idx: u32) {
        self.release(idx);
    }

    fn release(&mut self, idx: u32) {
        if let Some(s) = self.slots.get_mut(idx as usize)
            && s.state != SockState::Free
        {
            s.fd = None; // closes, unless detached
            s.state = SockState::Free;
            s.armed = false;
            s.broken = false;
            s.local = None;
            s.generation = s.generation.wrapping_add(1);
            self.open -= 1;
            self.free.push(idx);
        }
    }

    /// Number of slots (free or not).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no socket is open or closing.
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }
}

/// Dissolves a UDP socket's connection (`connect` to `AF_UNSPEC`).
fn disconnect(fd: RawFd) -> io::Result<()> {
    // SAFETY: sockaddr is plain data; AF_UNSPEC with its size dissolves the association.
    let mut a: libc::sockaddr = unsafe { std::mem::zeroed() };
    a.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    // SAFETY: a is valid for the length given.
    let rc = unsafe {
        libc::connect(
            fd,
            &raw const a,
            std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_close_reuse_and_stale_tokens() {
        let mut t = SocketTable::default();
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let a = t.open(any, SockOpts::default()).expect("open a");
        let b = t.open(any, SockOpts::default()).expect("open b");
        assert_ne!(a.index(), b.index());
        let a_local = t.get(a).and_then(|s| s.local).expect("local");
        assert_ne!(a_local.port(), 0);
        assert!(t.get(a).map(|s| s.raw_fd() >= 0).unwrap_or(false));

        assert!(t.begin_close(a));
        assert!(t.get(a).is_none(), "closing sockets are not usable");
        assert!(!t.begin_close(a), "twice");
        t.finish_close(a.index());
        // The port is free again.
        std::net::UdpSocket::bind(a_local).expect("port released");

        let c = t.open(any, SockOpts::default()).expect("open c");
        assert_eq!(c.index(), a.index(), "slot reused");
        assert_ne!(c.generation(), a.generation());
        assert!(t.get(a).is_none(), "stale token refused");
        assert!(t.get(c).is_some());
        assert_eq!(t.token_at(c.index()), Some(c));
        assert!(!t.is_empty());
        t.finish_close(b.index());
        t.finish_close(c.index());
        assert!(t.is_empty());
    }

    #[test]
    fn detach_hands_the_descriptor_over_and_adopt_takes_it() {
        let mut t = SocketTable::default();
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let a = t.open(any, SockOpts::default()).expect("open");
        let local = t.get(a).and_then(|s| s.local).expect("local");
        assert!(t.finish_detach(a.index()).is_none(), "not detaching");
        assert!(t.begin_detach(a));
        assert!(!t.begin_detach(a), "twice");
        assert!(t.get(a).is_some(), "a detaching socket still sends");
        assert_eq!(t.token_at(a.index()), Some(a));
        let (tok, fd) = t.finish_detach(a.index()).expect("detached");
        assert_eq!(tok, a);
        assert!(t.is_empty());
        assert!(t.get(a).is_none());
        // The port stays bound: the descriptor was not closed.
        assert!(std::net::UdpSocket::bind(local).is_err());
        let mut other = SocketTable::default();
        let b = other.adopt(fd).expect("adopt");
        assert_eq!(other.get(b).and_then(|s| s.local), Some(local));
        assert!(other.begin_close(b));
        other.finish_close(b.index());
        std::net::UdpSocket::bind(local).expect("released once closed");
    }

    #[test]
    fn bind_conflict_is_an_error() {
        let mut t = SocketTable::default();
        let held = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let err = t
            .open(held.local_addr().expect("addr"), SockOpts::default())
            .expect_err("port in use");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(t.is_empty());
    }
}
