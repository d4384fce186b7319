//! Which calls every other node holds, and when a node is lost: pure bookkeeping (the
//! time is passed in), fed by the nodes' heartbeats (`{"node","boot","calls"}`, the
//! authoritative list), the offers on `mediagw.incoming` and the events on
//! `mediagw.*.events.>` (calls begun or ended since the last heartbeat).
//!
//! A node is lost when its heartbeat has been missing for `api.nats.node_lost_ms`, or
//! when it comes back with another `boot` (it restarted: the calls of its previous run
//! are gone). Of the nodes still alive, the one with the smallest name acts: it
//! publishes `on_released` for each of the lost node's calls (see `mod.rs`); the others
//! only forget them.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::engine::res_id;

#[derive(Debug)]
struct Peer {
    /// The `boot` of its heartbeats (0: not heard yet).
    boot: u64,
    /// When its last heartbeat came (or its first event, before any heartbeat).
    last: Instant,
    /// Its live calls.
    calls: HashSet<String>,
    /// Calls begun (`true`) or released (`false`) lately, by events: kept across
    /// heartbeats that may have been taken before them.
    recent: HashMap<String, (bool, Instant)>,
}

/// A node found lost, with the calls it held.
#[derive(Debug, PartialEq)]
pub struct Lost {
    pub node: String,
    pub calls: Vec<String>,
    /// This node is the one to publish their `on_released`.
    pub act: bool,
}

/// The other nodes, as this one hears of them.
#[derive(Debug)]
pub struct Tracker {
    me: String,
    lost_after: Duration,
    peers: HashMap<String, Peer>,
}

impl Tracker {
    pub fn new(me: &str, lost_after: Duration) -> Tracker {
        Tracker {
            me: me.to_string(),
            lost_after,
            peers: HashMap::new(),
        }
    }

    fn peer(&mut self, node: &str, now: Instant) -> &mut Peer {
        self.peers.entry(node.to_string()).or_insert_with(|| Peer {
            boot: 0,
            last: now,
            calls: HashSet::new(),
            recent: HashMap::new(),
        })
    }

    /// A heartbeat of `node`; a restarted node's previous calls are lost.
    pub fn heartbeat(
        &mut self,
        node: &str,
        boot: u64,
        calls: Vec<String>,
        now: Instant,
    ) -> Option<Lost> {
        if node == self.me {
            return None;
        }
        let keep = self.lost_after;
        let p = self.peer(node, now);
        let restarted = p.boot != 0 && p.boot != boot;
        let previous = if restarted {
            p.recent.clear();
            Some(std::mem::take(&mut p.calls))
        } else {
            None
        };
        p.boot = boot;
        p.last = now;
        p.recent
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < keep);
        let mut set: HashSet<String> = calls.into_iter().collect();
        for (r, (live, _)) in &p.recent {
            if *live {
                set.insert(r.clone());
            } else {
                set.remove(r);
            }
        }
        p.calls = set;
        let previous = previous?;
        let mut calls: Vec<String> = previous.into_iter().collect();
        calls.sort();
        let act = self.acts_for(node);
        Some(Lost {
            node: node.to_string(),
            calls,
            act,
        })
    }

    /// An offer or an event of `res_id` was seen; `released`: it was its `on_released`.
    pub fn seen(&mut self, res: &str, released: bool, now: Instant) {
        let Some(node) = res_id::node_of(res) else {
            return;
        };
        // Only heartbeats prove a node alive; an event never brings back a node
        // forgotten (the survivor's own on_released of a lost node's calls).
        if node == self.me || (released && !self.peers.contains_key(node)) {
            return;
        }
        let p = self.peer(node, now);
        p.recent.insert(res.to_string(), (!released, now));
        if released {
            p.calls.remove(res);
        } else {
            p.calls.insert(res.to_string());
        }
    }

    /// The nodes not heard of for `lost_after`, forgotten.
    pub fn expire(&mut self, now: Instant) -> Vec<Lost> {
        let gone: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.last) >= self.lost_after)
            .map(|(n, _)| n.clone())
            .collect();
        let mut lost = Vec::new();
        for node in &gone {
            if let Some(p) = self.peers.remove(node) {
                let mut calls: Vec<String> = p.calls.into_iter().collect();
                calls.sort();
                lost.push((node.clone(), calls));
            }
        }
        lost.into_iter()
            .map(|(node, calls)| {
                let act = self.acts_for(&node);
                Lost { node, calls, act }
            })
            .collect()
    }

    /// Whether this node has the smallest name among the live nodes other than `lost`.
    fn acts_for(&self, lost: &str) -> bool {
        self.peers
            .keys()
            .filter(|n| n.as_str() != lost)
            .all(|n| self.me.as_str() < n.as_str())
    }

    /// The calls `node` is known to hold.
    pub fn calls_of(&self, node: &str) -> usize {
        self.peers.get(node).map_or(0, |p| p.calls.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64, node: &str) -> String {
        res_id::format(n, "sys.call", 5, Some(node))
    }

    #[test]
    fn a_silent_node_is_lost_with_its_calls_and_the_smallest_survivor_acts() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut a = Tracker::new("a", 3 * s);
        let mut c = Tracker::new("c", 3 * s);
        for t in [&mut a, &mut c] {
            t.heartbeat("b", 11, vec![id(1, "b"), id(2, "b")], t0);
            t.heartbeat("c", 12, vec![], t0);
            t.heartbeat("a", 10, vec![], t0);
            // A call begun after the heartbeat, one released.
            t.seen(&id(3, "b"), false, t0 + s / 2);
            t.seen(&id(1, "b"), true, t0 + s / 2);
        }
        assert_eq!(a.calls_of("b"), 2);
        // A heartbeat taken before those events does not undo them.
        a.heartbeat("b", 11, vec![id(1, "b"), id(2, "b")], t0 + s);
        assert_eq!(a.calls_of("b"), 2);
        a.heartbeat("c", 12, vec![], t0 + 3 * s);
        c.heartbeat("a", 10, vec![], t0 + 3 * s);
        assert!(a.expire(t0 + 3 * s).is_empty(), "b heard 2 s ago");
        let lost = a.expire(t0 + 4 * s);
        assert_eq!(
            lost,
            vec![Lost {
                node: "b".into(),
                calls: vec![id(2, "b"), id(3, "b")],
                act: true
            }]
        );
        let lost = c.expire(t0 + 4 * s);
        assert_eq!(lost.len(), 1);
        assert!(!lost[0].act, "a is alive and smaller");
        assert!(a.expire(t0 + 5 * s).is_empty(), "reported once");
    }

    #[test]
    fn a_restarted_node_loses_the_calls_of_its_previous_run() {
        let t0 = Instant::now();
        let mut c = Tracker::new("c", Duration::from_secs(3));
        c.heartbeat("b", 11, vec![id(1, "b")], t0);
        assert_eq!(c.heartbeat("b", 11, vec![id(1, "b")], t0), None);
        let lost = c.heartbeat("b", 99, vec![], t0).expect("restart");
        assert_eq!(lost.calls, vec![id(1, "b")]);
        assert!(lost.act, "c is the only other node");
        assert_eq!(c.calls_of("b"), 0);
    }
}
