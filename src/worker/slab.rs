//! The send slab: a fixed set of pre-allocated send slots (payload + destination address)
//! that `send_to` copies into, queued until the end of the callback batch and held until
//! the kernel has finished with them. Never allocates after construction; addresses of slot
//! memory never move, so they can be handed to the kernel.

use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::addr::RawAddr;

#[derive(Clone, Copy, Debug, Default)]
struct SlotMeta {
    len: u32,
    addr_len: u32,
    fd: RawFd,
}

/// The slab.
pub struct SendSlab {
    buf: Box<[u8]>,
    slot_size: usize,
    meta: Box<[SlotMeta]>,
    addrs: Box<[RawAddr]>,
    free: Vec<u32>,
    pending: Vec<u32>,
}

impl SendSlab {
    /// `slots` slots of `slot_size` bytes each (both at least 1).
    pub fn new(slots: usize, slot_size: usize) -> Self {
        let slots = slots.clamp(1, u32::MAX as usize);
        let slot_size = slot_size.max(1);
        Self {
            buf: vec![0u8; slots * slot_size].into_boxed_slice(),
            slot_size,
            meta: vec![SlotMeta::default(); slots].into_boxed_slice(),
            addrs: vec![RawAddr::zeroed(); slots].into_boxed_slice(),
            // Pop order: slot 0 first (warmer memory).
            free: (0..slots as u32).rev().collect(),
            pending: Vec::with_capacity(slots),
        }
    }

    /// Largest payload one slot holds.
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Total number of slots.
    pub fn capacity(&self) -> usize {
        self.meta.len()
    }

    /// Slots neither free nor queued: handed to the kernel and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.capacity() - self.free.len() - self.pending.len()
    }

    /// Copies `data` for `fd` → `to` into a free slot and queues it (`to` `None`: the
    /// connected socket's peer, sent with no destination). Returns false if no slot is
    /// free or `data` does not fit (the caller then sends another way).
    pub fn queue(&mut self, fd: RawFd, data: &[u8], to: Option<SocketAddr>) -> bool {
        if data.len() > self.slot_size {
            return false;
        }
        let Some(i) = self.free.pop() else {
            return false;
        };
        let iu = i as usize;
        let off = iu * self.slot_size;
        self.buf[off..off + data.len()].copy_from_slice(data);
        let addr_len = to.map_or(0, |to| self.addrs[iu].set(to));
        self.meta[iu] = SlotMeta {
            len: data.len() as u32,
            addr_len,
            fd,
        };
        self.pending.push(i);
        true
    }

    /// The queued slots, in the order they were queued.
    pub fn pending(&self) -> &[u32] {
        &self.pending
    }

    /// Forgets the queue after the backend handed every queued slot to the kernel (or
    /// released it); the slots stay in flight until [`SendSlab::release`].
    pub fn clear_pending(&mut self) {
        self.pending.clear();
    }

    /// Returns slot `i` to the free list.
    pub fn release(&mut self, i: u32) {
        if (i as usize) < self.meta.len() {
            debug_assert!(!self.free.contains(&i), "double release of send slot {i}");
            self.free.push(i);
        }
    }

    /// Payload of slot `i`.
    pub fn data(&self, i: u32) -> &[u8] {
        let iu = i as usize;
        let off = iu * self.slot_size;
        &self.buf[off..off + self.meta[iu].len as usize]
    }

    /// Destination of slot `i`, with its length for the kernel (0: none, the socket is
    /// connected to it).
    pub fn addr(&self, i: u32) -> (&RawAddr, libc::socklen_t) {
        (&self.addrs[i as usize], self.meta[i as usize].addr_len)
    }

    /// Socket of slot `i`.
    pub fn fd(&self, i: u32) -> RawFd {
        self.meta[i as usize].fd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_release_cycle() {
        let mut s = SendSlab::new(2, 8);
        let to: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        assert!(s.queue(3, b"hello", Some(to)));
        assert!(s.queue(4, b"world!!!", Some(to)));
        assert!(!s.queue(5, b"x", Some(to)), "full");
        assert_eq!(s.pending().len(), 2);
        let (a, b) = (s.pending()[0], s.pending()[1]);
        assert_eq!(s.data(a), b"hello");
        assert_eq!(s.data(b), b"world!!!");
        assert_eq!(s.fd(a), 3);
        let (raw, len) = s.addr(a);
        assert_eq!(raw.get(len as usize), Some(to));
        s.clear_pending();
        assert_eq!(s.in_flight(), 2);
        s.release(a);
        assert_eq!(s.in_flight(), 1);
        assert!(s.queue(6, b"again", Some(to)));
        assert_eq!(s.data(s.pending()[0]), b"again");
    }

    #[test]
    fn oversize_is_refused() {
        let mut s = SendSlab::new(4, 4);
        let to: SocketAddr = "[::1]:9".parse().expect("addr");
        assert!(!s.queue(3, b"12345", Some(to)));
        assert!(s.pending().is_empty());
        assert_eq!(s.in_flight(), 0);
        s.release(99); // out of range: ignored
    }
}
