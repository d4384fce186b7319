//! Call-level timers of the engine (ring and answer limits, orphan release, ...):
//! a min-heap of deadlines with lazy cancellation by generation, so that thousands
//! of calls cost O(log n) per timer and nothing is scanned.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// A timer's identity: the resource's serial number and what the timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerKey<K: Ord + Copy> {
    pub serial: u64,
    pub kind: K,
    /// Generation at arming time; a timer fires only if its generation is still current.
    pub generation: u64,
}

/// Deadlines ordered earliest first.
#[derive(Debug)]
pub struct Timers<K: Ord + Copy> {
    heap: BinaryHeap<Reverse<(Instant, TimerKey<K>)>>,
}

impl<K: Ord + Copy> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy> Timers<K> {
    pub fn arm(&mut self, at: Instant, key: TimerKey<K>) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest deadline (possibly of a stale timer: firing it is harmless).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Pop one timer due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<TimerKey<K>> {
        match self.heap.peek() {
            Some(Reverse((t, _))) if *t <= now => self.heap.pop().map(|Reverse((_, k))| k),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let t0 = Instant::now();
        let mut t: Timers<u8> = Timers::default();
        let k = |s, kind| TimerKey {
            serial: s,
            kind,
            generation: 0,
        };
        t.arm(t0 + Duration::from_secs(3), k(1, 1));
        t.arm(t0 + Duration::from_secs(1), k(2, 2));
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.pop_due(t0), None);
        assert_eq!(t.pop_due(t0 + Duration::from_secs(2)), Some(k(2, 2)));
        assert_eq!(t.pop_due(t0 + Duration::from_secs(2)), None);
        assert_eq!(t.pop_due(t0 + Duration::from_secs(3)), Some(k(1, 1)));
        assert!(t.is_empty());
    }
}
