//! API client connections as the engine sees them: who is connected, who accepts
//! incoming calls (round robin), and the bounded queues of events held for resources
//! whose owner has gone. Pure bookkeeping; the WebSocket IO lives in `server`.

use std::collections::{HashMap, VecDeque};

/// Identifies one WebSocket connection for the life of the process.
pub type ConnId = u64;

#[derive(Debug)]
struct Conn {
    accepts_incoming: bool,
}

/// Connected clients and the round-robin cursor for `on_incoming`.
#[derive(Debug, Default)]
pub struct Clients {
    conns: HashMap<ConnId, Conn>,
    /// Connections accepting incoming calls, in connection order.
    incoming_ring: Vec<ConnId>,
    cursor: usize,
}

impl Clients {
    pub fn connect(&mut self, conn: ConnId, accepts_incoming: bool) {
        self.conns.insert(conn, Conn { accepts_incoming });
        if accepts_incoming {
            self.incoming_ring.push(conn);
        }
    }

    pub fn disconnect(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn)
            && c.accepts_incoming
        {
            self.incoming_ring.retain(|&x| x != conn);
        }
    }

    pub fn is_connected(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// The next connection to offer an incoming call to, round robin; `None` when no
    /// connected client accepts incoming calls.
    pub fn next_incoming(&mut self) -> Option<ConnId> {
        if self.incoming_ring.is_empty() {
            return None;
        }
        let i = self.cursor % self.incoming_ring.len();
        self.cursor = i + 1;
        Some(self.incoming_ring[i])
    }
}

/// Events waiting for a resource's next owner, oldest first, bounded.
#[derive(Debug, Default, Clone)]
pub struct HeldEvents {
    queue: VecDeque<String>,
    dropped: u64,
}

impl HeldEvents {
    /// Hold `event`; when `cap` is reached the oldest event is discarded and counted.
    pub fn push(&mut self, event: String, cap: usize) {
        if cap == 0 {
            self.dropped += 1;
            return;
        }
        while self.queue.len() >= cap {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back(event);
    }

    pub fn take(&mut self) -> VecDeque<String> {
        std::mem::take(&mut self.queue)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Events discarded because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_skips_opted_out_and_gone() {
        let mut c = Clients::default();
        assert_eq!(c.next_incoming(), None);
        c.connect(1, true);
        c.connect(2, false);
        c.connect(3, true);
        let picks: Vec<_> = (0..4).map(|_| c.next_incoming().unwrap()).collect();
        assert_eq!(picks, vec![1, 3, 1, 3]);
        c.disconnect(1);
        assert_eq!(c.next_incoming(), Some(3));
        assert_eq!(c.next_incoming(), Some(3));
        c.disconnect(3);
        assert_eq!(c.next_incoming(), None);
        assert!(c.is_connected(2));
    }

    #[test]
    fn held_events_are_bounded_oldest_dropped() {
        let mut h = HeldEvents::default();
        for i in 0..5 {
            h.push(format!("e{i}"), 3);
        }
        assert_eq!(h.dropped(), 2);
        let q: Vec<_> = h.take().into_iter().collect();
        assert_eq!(q, vec!["e2", "e3", "e4"]);
        assert!(h.is_empty());
    }
}
