//! The timer queue: a min-heap of `(deadline, transaction, slot)` with lazy deletion. Each
//! transaction holds the live deadline of each slot; a heap entry whose deadline no longer
//! matches is stale and skipped, so cancelling or re-arming a timer costs nothing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::TxKey;

/// The three timers a transaction can have running at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    /// A, E, G and the 2xx retransmission timer.
    Retransmit = 0,
    /// B, F, H, L, and the guards that end forgotten transactions.
    Timeout = 1,
    /// D, I, J, K and M: the transaction ends silently.
    Linger = 2,
}

/// Deadlines of one transaction, indexed by [`Slot`].
pub type Deadlines = [Option<Instant>; 3];

/// A heap of deadlines.
#[derive(Debug, Default)]
pub struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, TxKey, Slot)>>,
}

impl TimerQueue {
    /// Arms `slot` of `key` at `at` (recording it in `deadlines`).
    pub fn set(&mut self, deadlines: &mut Deadlines, key: TxKey, slot: Slot, at: Instant) {
        deadlines[slot as usize] = Some(at);
        self.heap.push(Reverse((at, key, slot)));
    }

    /// The earliest entry, stale or not.
    pub fn peek(&self) -> Option<(Instant, TxKey, Slot)> {
        self.heap.peek().map(|Reverse(e)| *e)
    }

    /// Removes the earliest entry.
    pub fn pop(&mut self) -> Option<(Instant, TxKey, Slot)> {
        self.heap.pop().map(|Reverse(e)| e)
    }

    /// Number of entries, stale ones included.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}
