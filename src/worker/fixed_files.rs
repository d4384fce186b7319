//! The io_uring worker's registered file table: one sparse table per ring, one entry per
//! slot of the worker's socket table, so that each send and receive names its socket by
//! that index (`IOSQE_FIXED_FILE`) and the kernel skips looking the descriptor up and
//! taking a reference on it for every request (`fget`/`fput` in the profile of one
//! socket per call). A socket whose slot lies beyond the table, or whose registration
//! failed, keeps working through its plain descriptor.

use std::os::fd::RawFd;

use io_uring::Submitter;

/// Entries registered at most (the kernel also caps the table at `RLIMIT_NOFILE`).
const MAX_ENTRIES: u32 = 1 << 16;

/// Which socket slots are in the ring's registered file table.
pub struct FixedFiles {
    size: u32,
    registered: Vec<bool>,
}

impl FixedFiles {
    /// Registers a sparse table as large as the open-file limit allows (at most
    /// [`MAX_ENTRIES`]); a table of size 0 (registration refused) makes every socket use
    /// its plain descriptor.
    pub fn new(sub: &Submitter<'_>) -> Self {
        let limit = nofile_limit().min(MAX_ENTRIES);
        let size = if limit > 0 && sub.register_files_sparse(limit).is_ok() {
            limit
        } else {
            0
        };
        Self {
            size,
            registered: Vec::new(),
        }
    }

    /// Entries of the table (0: none registered).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Whether slot `idx` is registered (its requests use the fixed index).
    pub fn is_registered(&self, idx: u32) -> bool {
        self.registered.get(idx as usize).copied().unwrap_or(false)
    }

    /// Puts `fd` in entry `idx`; false when the slot is beyond the table or the kernel
    /// refused (the socket then uses its plain descriptor).
    pub fn register(&mut self, sub: &Submitter<'_>, idx: u32, fd: RawFd) -> bool {
        if idx >= self.size || fd < 0 {
            return false;
        }
        let ok = matches!(sub.register_files_update(idx, &[fd]), Ok(1));
        let i = idx as usize;
        if self.registered.len() <= i {
            self.registered.resize(i + 1, false);
        }
        self.registered[i] = ok;
        ok
    }

    /// Empties entry `idx` (before its descriptor is closed or handed to another worker:
    /// the table holds its own reference, which would keep the socket and its port).
    /// Requests already submitted keep their reference until they complete.
    pub fn unregister(&mut self, sub: &Submitter<'_>, idx: u32) {
        if self.is_registered(idx) {
            let _ = sub.register_files_update(idx, &[-1]);
            self.registered[idx as usize] = false;
        }
    }
}

/// The soft `RLIMIT_NOFILE` (0 when unknown).
fn nofile_limit() -> u32 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 0;
    }
    u32::try_from(r.rlim_cur).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn slots_register_and_unregister_within_the_table() {
        let ring = io_uring::IoUring::new(8).expect("io_uring");
        let sub = ring.submitter();
        let mut f = FixedFiles::new(&sub);
        assert!(f.size() > 0, "a sparse table registers");
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(f.register(&sub, 3, s.as_raw_fd()));
        assert!(f.is_registered(3));
        assert!(!f.is_registered(2));
        assert!(
            !f.register(&sub, f.size(), s.as_raw_fd()),
            "beyond the table"
        );
        f.unregister(&sub, 3);
        assert!(!f.is_registered(3));
    }

    #[test]
    fn an_unregistered_socket_is_really_released() {
        // The table's reference must go with the entry: the port is free again once the
        // descriptor is closed.
        let ring = io_uring::IoUring::new(8).expect("io_uring");
        let sub = ring.submitter();
        let mut f = FixedFiles::new(&sub);
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        assert!(f.register(&sub, 0, s.as_raw_fd()));
        f.unregister(&sub, 0);
        drop(s);
        UdpSocket::bind(addr).expect("port released");
    }
}
