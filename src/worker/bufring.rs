//! The provided buffer ring (`IORING_REGISTER_PBUF_RING`): one page-aligned ring of buffer
//! descriptors plus one contiguous block of equal buffers, owned by one worker. The kernel
//! picks a buffer for each datagram a multishot receive completes; the worker hands it
//! back ([`BufRing::recycle`]) right after the callback and makes the returned buffers
//! visible to the kernel in one store ([`BufRing::publish`]) before its next submit.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::Submitter;
use io_uring::types::BufRingEntry;

const PAGE: usize = 4096;

/// The ring and its buffers.
pub struct BufRing {
    ring: *mut BufRingEntry,
    ring_layout: Layout,
    bufs: *mut u8,
    bufs_layout: Layout,
    entries: u16,
    buf_size: usize,
    bgid: u16,
    tail: u16,
}

impl BufRing {
    /// Allocates `entries` (a power of two, at most 32768) buffers of `buf_size` bytes,
    /// all initially given to the kernel, for buffer group `bgid`.
    pub fn new(entries: u16, buf_size: usize, bgid: u16) -> io::Result<Self> {
        if !entries.is_power_of_two() || entries > 32768 || buf_size == 0 {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let n = entries as usize;
        let ring_layout = Layout::from_size_align(n * size_of::<BufRingEntry>(), PAGE)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let bufs_layout = Layout::from_size_align(n * buf_size, PAGE)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: both layouts have non-zero size.
        let ring = unsafe { alloc_zeroed(ring_layout) }.cast::<BufRingEntry>();
        if ring.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        // SAFETY: as above.
        let bufs = unsafe { alloc_zeroed(bufs_layout) };
        if bufs.is_null() {
            // SAFETY: allocated just above with this layout.
            unsafe { dealloc(ring.cast(), ring_layout) };
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let mut me = Self {
            ring,
            ring_layout,
            bufs,
            bufs_layout,
            entries,
            buf_size,
            bgid,
            tail: 0,
        };
        for bid in 0..entries {
            me.recycle(bid);
        }
        me.publish();
        Ok(me)
    }

    /// Registers the ring with `submitter`'s io_uring.
    pub fn register(&self, submitter: &Submitter<'_>) -> io::Result<()> {
        // SAFETY: the ring memory lives as long as self, and the owner unregisters (or
        // drops the io_uring) before dropping self.
        unsafe {
            submitter.register_buf_ring_with_flags(self.ring as u64, self.entries, self.bgid, 0)
        }
    }

    /// The buffer group id.
    pub fn bgid(&self) -> u16 {
        self.bgid
    }

    /// The first `len` bytes of buffer `bid` (clamped to the buffer; empty for an unknown
    /// id). Only valid to read between the completion that picked it and its recycling.
    pub fn buffer(&self, bid: u16, len: usize) -> &[u8] {
        if bid >= self.entries {
            return &[];
        }
        let len = len.min(self.buf_size);
        // SAFETY: bid < entries, so the range lies inside the allocation; the kernel does
        // not write a buffer between picking it and getting it back from `recycle`.
        unsafe { std::slice::from_raw_parts(self.bufs.add(bid as usize * self.buf_size), len) }
    }

    /// Gives buffer `bid` back (visible to the kernel after [`BufRing::publish`]).
    pub fn recycle(&mut self, bid: u16) {
        if bid >= self.entries {
            return;
        }
        let mask = self.entries - 1;
        let i = (self.tail & mask) as usize;
        // SAFETY: i < entries; the kernel only reads entries between its head and the
        // published tail, and this slot lies past the published tail.
        let e = unsafe { &mut *self.ring.add(i) };
        // SAFETY: bid < entries.
        e.set_addr(unsafe { self.bufs.add(bid as usize * self.buf_size) } as u64);
        e.set_len(self.buf_size as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes the recycled buffers to the kernel.
    pub fn publish(&self) {
        // SAFETY: the ring base is valid and page aligned; the tail field is a naturally
        // aligned u16 the kernel reads with acquire semantics.
        let tail = unsafe { &*BufRingEntry::tail(self.ring).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with these layouts.
        unsafe {
            dealloc(self.ring.cast(), self.ring_layout);
            dealloc(self.bufs, self.bufs_layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_sizes() {
        assert!(BufRing::new(100, 2048, 0).is_err());
        assert!(BufRing::new(0, 2048, 0).is_err());
        assert!(BufRing::new(8, 0, 0).is_err());
    }

    #[test]
    fn recycle_and_bounds() {
        let mut r = BufRing::new(4, 64, 7).expect("ring");
        assert_eq!(r.entries, 4);
        assert_eq!(r.bgid(), 7);
        assert_eq!(r.buffer(3, 1000).len(), 64, "clamped to the buffer");
        assert!(r.buffer(4, 10).is_empty(), "unknown id");
        // All four were published at construction: tail = 4.
        // SAFETY: reading our own ring's tail.
        let tail = unsafe { *BufRingEntry::tail(r.ring) };
        assert_eq!(tail, 4);
        r.recycle(2);
        r.recycle(9); // ignored
        r.publish();
        // SAFETY: as above.
        let tail = unsafe { *BufRingEntry::tail(r.ring) };
        assert_eq!(tail, 5);
        // Slot 0 of the ring (4 & 3) now describes buffer 2.
        // SAFETY: index 0 is inside the ring.
        let e = unsafe { &*r.ring };
        assert_eq!(e.bid(), 2);
        assert_eq!(e.len(), 64);
        assert_eq!(e.addr(), r.buffer(2, 1).as_ptr() as u64);
    }
}
