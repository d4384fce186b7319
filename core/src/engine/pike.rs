//! The per-source INVITE rate limit (`sip.max_invites_per_second_per_source`), like
//! Kamailio's pike: a token bucket per source IP holding `rate` tokens and refilled at
//! `rate` per second; a new INVITE takes one, and one that finds the bucket empty is
//! refused. State is bounded: a bucket that has been refilled to the brim says nothing a
//! new bucket would not, so full buckets are forgotten by a sweep (every
//! [`SWEEP_EVERY`], and whenever the table reaches [`MAX_SOURCES`]); a table still full
//! of busy sources after a sweep admits the newcomer untracked (a flood from that many
//! sources is for `sip.max_calls` to shed, and legitimate peers must not be locked out).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Sources tracked at most.
pub const MAX_SOURCES: usize = 65_536;
/// How often full buckets are forgotten.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per source IP.
#[derive(Debug)]
pub struct Pike {
    rate: u32,
    buckets: HashMap<IpAddr, Bucket>,
    last_sweep: Option<Instant>,
}

impl Pike {
    /// `rate` INVITEs per second per source (0: no limit).
    pub fn new(rate: u32) -> Pike {
        Pike {
            rate,
            buckets: HashMap::new(),
            last_sweep: None,
        }
    }

    /// A new rate (SIGHUP); the buckets start over.
    pub fn set_rate(&mut self, rate: u32) {
        if rate != self.rate {
            self.rate = rate;
            self.buckets.clear();
        }
    }

    /// Sources currently tracked.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Whether an INVITE from `ip` at `now` is within the limit (it takes a token).
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.rate == 0 {
            return true;
        }
        if self
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY)
        {
            self.sweep(now);
        }
        let cap = f64::from(self.rate);
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= MAX_SOURCES {
            self.sweep(now);
            if self.buckets.len() >= MAX_SOURCES {
                return true;
            }
        }
        let b = self.buckets.entry(ip).or_insert(Bucket {
            tokens: cap,
            at: now,
        });
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * cap;
        b.tokens = (b.tokens + refill).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets every bucket that has refilled to the brim.
    fn sweep(&mut self, now: Instant) {
        self.last_sweep = Some(now);
        let cap = f64::from(self.rate);
        self.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * cap < cap
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn a_burst_of_rate_then_rate_per_second() {
        let t0 = Instant::now();
        let mut p = Pike::new(5);
        let admitted = (0..20).filter(|_| p.admit(ip(1), t0)).count();
        assert_eq!(admitted, 5);
        // Another source has its own bucket.
        assert!(p.admit(ip(2), t0));
        // 200 ms later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(200);
        assert!(p.admit(ip(1), t1));
        assert!(!p.admit(ip(1), t1));
        // A second of silence fills the bucket again, never beyond the rate.
        let t2 = t1 + Duration::from_secs(3);
        assert_eq!((0..20).filter(|_| p.admit(ip(1), t2)).count(), 5);
    }

    #[test]
    fn zero_is_no_limit() {
        let t0 = Instant::now();
        let mut p = Pike::new(0);
        assert!((0..1000).all(|_| p.admit(ip(1), t0)));
        assert!(p.is_empty(), "nothing tracked");
    }

    #[test]
    fn full_buckets_are_forgotten_and_the_table_is_bounded() {
        let t0 = Instant::now();
        let mut p = Pike::new(2);
        for n in 0..100 {
            assert!(p.admit(ip(n), t0));
        }
        assert_eq!(p.len(), 100);
        // The next sweep (SWEEP_EVERY later) forgets them all: they refilled long ago.
        assert!(p.admit(ip(1000), t0 + SWEEP_EVERY));
        assert_eq!(p.len(), 1);
        // A table full of busy sources admits newcomers without tracking them.
        let t1 = t0 + SWEEP_EVERY * 2;
        for n in 0..MAX_SOURCES as u32 {
            p.admit(ip(10_000 + n), t1);
        }
        assert_eq!(p.len(), MAX_SOURCES);
        assert!(p.admit(ip(1 << 20), t1));
        assert_eq!(p.len(), MAX_SOURCES);
        // A busy source in the table is still limited.
        assert!(p.admit(ip(10_000), t1));
        assert!(!p.admit(ip(10_000), t1));
    }
}
