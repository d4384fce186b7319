//! [`Calls`]: a worker's table of calls. Channels live in a dense slab (a slot index
//! names a channel for as long as it stays on the worker, so a join can name its two
//! legs by slot and reach both in one step), found by call id (commands) and by socket
//! slot (datagrams: one index, no hashing on the packet path).

use std::collections::HashMap;

use super::channel::Channel;
use super::commands::CallId;
use crate::worker::SocketToken;

/// The channels of one worker.
pub struct Calls {
    chans: Vec<Option<Channel>>,
    free: Vec<u32>,
    by_call: HashMap<CallId, u32>,
    /// Socket slot index → (token, channel slot).
    socks: Vec<Option<(SocketToken, u32)>>,
}

impl Calls {
    /// A table with room for `n` calls before it grows.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            chans: Vec::with_capacity(n),
            free: Vec::with_capacity(n),
            by_call: HashMap::with_capacity(n),
            socks: Vec::with_capacity(2 * n),
        }
    }

    /// Adds a channel (its sockets mapped to it); returns its slot.
    pub fn insert(&mut self, call: CallId, ch: Channel) -> u32 {
        let (rtp, rtcp) = (ch.rtp, ch.rtcp);
        let slot = match self.free.pop() {
            Some(i) => {
                self.chans[i as usize] = Some(ch);
                i
            }
            None => {
                self.chans.push(Some(ch));
                (self.chans.len() - 1) as u32
            }
        };
        self.by_call.insert(call, slot);
        self.map_sock(rtp, Some(slot));
        self.map_sock(rtcp, Some(slot));
        slot
    }

    /// Removes the channel in `slot` (its sockets unmapped).
    pub fn remove(&mut self, slot: u32) -> Option<Channel> {
        let ch = self.chans.get_mut(slot as usize)?.take()?;
        self.by_call.remove(&ch.call());
        self.unmap_sock(ch.rtp);
        self.unmap_sock(ch.rtcp);
        self.free.push(slot);
        Some(ch)
    }

    /// Points `tok` at `slot` (or at nothing).
    pub fn map_sock(&mut self, tok: SocketToken, slot: Option<u32>) {
        let i = tok.index() as usize;
        if self.socks.len() <= i {
            self.socks.resize(i + 1, None);
        }
        self.socks[i] = slot.map(|s| (tok, s));
    }

    /// Forgets `tok` if it is still mapped.
    pub fn unmap_sock(&mut self, tok: SocketToken) {
        if let Some(e) = self.socks.get_mut(tok.index() as usize)
            && e.is_some_and(|(t, _)| t == tok)
        {
            *e = None;
        }
    }

    /// The slot of the channel a socket belongs to.
    #[inline]
    pub fn by_sock(&self, tok: SocketToken) -> Option<u32> {
        match self.socks.get(tok.index() as usize) {
            Some(Some((t, slot))) if *t == tok => Some(*slot),
            _ => None,
        }
    }

    /// The slot of `call`.
    pub fn slot_of(&self, call: CallId) -> Option<u32> {
        self.by_call.get(&call).copied()
    }

    /// The channel of `call`.
    pub fn get_mut(&mut self, call: CallId) -> Option<&mut Channel> {
        let slot = self.slot_of(call)?;
        self.at(slot)
    }

    /// The channel in `slot`.
    #[inline]
    pub fn at(&mut self, slot: u32) -> Option<&mut Channel> {
        self.chans.get_mut(slot as usize)?.as_mut()
    }

    /// The channels in two different slots at once.
    #[inline]
    pub fn pair(&mut self, a: u32, b: u32) -> Option<(&mut Channel, &mut Channel)> {
        let (a, b) = (a as usize, b as usize);
        if a == b || a >= self.chans.len() || b >= self.chans.len() {
            return None;
        }
        let (x, y) = if a < b {
            let (lo, hi) = self.chans.split_at_mut(b);
            (&mut lo[a], &mut hi[0])
        } else {
            let (lo, hi) = self.chans.split_at_mut(a);
            (&mut hi[0], &mut lo[b])
        };
        Some((x.as_mut()?, y.as_mut()?))
    }

    /// One past the highest slot in use (slots below may be empty).
    pub fn slots(&self) -> u32 {
        self.chans.len() as u32
    }

    /// The calls, in no particular order.
    pub fn ids(&self) -> Vec<CallId> {
        self.by_call.keys().copied().collect()
    }

    /// Number of calls.
    pub fn len(&self) -> usize {
        self.by_call.len()
    }

    /// True without calls.
    pub fn is_empty(&self) -> bool {
        self.by_call.is_empty()
    }
}
