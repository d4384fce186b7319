//! [`MmsgEcho`]: one batch of datagrams received with `recvmmsg` and sent back to their
//! senders with `sendmmsg`, with the buffers and headers kept between batches. The
//! one-socket echo ([`super::plain`]) and the per-channel one ([`super::perchan`]) both
//! echo through it.

use std::os::fd::RawFd;

/// Largest datagram echoed whole.
const SIZE: usize = 2048;

/// Buffers and message headers for batches of up to `batch` datagrams.
pub struct MmsgEcho {
    /// Backs `iovs` (never resized, so the pointers stay valid).
    _bufs: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl MmsgEcho {
    /// Room for `batch` datagrams of up to 2048 bytes.
    pub fn new(batch: usize) -> MmsgEcho {
        let mut bufs = vec![0u8; batch * SIZE];
        let iovs = (0..batch)
            .map(|i| libc::iovec {
                iov_base: bufs[i * SIZE..].as_mut_ptr().cast(),
                iov_len: SIZE,
            })
            .collect();
        // SAFETY: sockaddr_storage and mmsghdr are plain data, valid all-zero.
        let names = (0..batch).map(|_| unsafe { std::mem::zeroed() }).collect();
        // SAFETY: as above.
        let msgs = (0..batch).map(|_| unsafe { std::mem::zeroed() }).collect();
        MmsgEcho {
            _bufs: bufs,
            names,
            iovs,
            msgs,
        }
    }

    /// Receives one batch on `fd` (`recvmmsg` with `flags`) and sends each datagram back
    /// to where it came from; how many were received (0 on a timeout, EINTR or nothing
    /// waiting). A datagram that cannot be sent is dropped.
    pub fn echo(&mut self, fd: RawFd, flags: libc::c_int) -> usize {
        let batch = self.msgs.len();
        for i in 0..batch {
            let h = &mut self.msgs[i].msg_hdr;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            self.iovs[i].iov_len = SIZE;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
        }
        // SAFETY: the headers point into this struct's live vectors.
        let got = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                batch as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if got <= 0 {
            return 0;
        }
        let got = got as usize;
        for i in 0..got {
            self.iovs[i].iov_len = self.msgs[i].msg_len as usize;
        }
        let mut sent = 0;
        while sent < got {
            // SAFETY: as above; the lengths now match what was received.
            let rc = unsafe {
                libc::sendmmsg(
                    fd,
                    self.msgs[sent..].as_mut_ptr(),
                    (got - sent) as libc::c_uint,
                    0,
                )
            };
            sent += if rc <= 0 { 1 } else { rc as usize };
        }
        got
    }
}
