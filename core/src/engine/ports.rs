//! The pool of RTP ports from `media.rtp_ports`: even ports for RTP, the next odd one
//! for RTCP. A port is reserved for a call from its SDP until its release, and a freed
//! port goes to the back of the queue so a late packet of an old call cannot reach a
//! new call at once.

use std::collections::{HashSet, VecDeque};

#[derive(Debug)]
pub struct PortPool {
    free: VecDeque<u16>,
    in_use: HashSet<u16>,
}

impl PortPool {
    /// Every even port `p` with `p + 1 <= high` in `[low, high]`.
    pub fn new(low: u16, high: u16) -> PortPool {
        let start = low + (low % 2);
        let free = (start..high).step_by(2).collect();
        PortPool {
            free,
            in_use: HashSet::new(),
        }
    }

    /// Reserve the least recently used free port.
    pub fn allocate(&mut self) -> Option<u16> {
        let p = self.free.pop_front()?;
        self.in_use.insert(p);
        Some(p)
    }

    /// Return `port` to the pool; unknown or already free ports are ignored.
    pub fn release(&mut self, port: u16) {
        if self.in_use.remove(&port) {
            self.free.push_back(port);
        }
    }

    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_with_room_for_rtcp() {
        let mut p = PortPool::new(20001, 20008);
        let got: Vec<_> = std::iter::from_fn(|| p.allocate()).collect();
        assert_eq!(got, vec![20002, 20004, 20006]);
        assert_eq!(p.allocate(), None);
        p.release(20004);
        p.release(20004);
        p.release(12345);
        assert_eq!(p.available(), 1);
        assert_eq!(p.allocate(), Some(20004));
        assert_eq!(p.in_use(), 3);
    }

    #[test]
    fn freed_port_goes_to_the_back() {
        let mut p = PortPool::new(20000, 20007);
        let a = p.allocate().unwrap();
        p.release(a);
        assert_ne!(p.allocate(), Some(a));
    }
}
