//! Fresh identifiers: From/To tags, RFC 3261 branches and Call-IDs, drawn from an
//! [`Ids`] generator the driver seeds (sans-IO: the same seed gives the same ids).

use std::fmt::Write;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::via::MAGIC_COOKIE;

/// A seeded source of identifiers and of the other random values a SIP user agent
/// draws (initial CSeq and RSeq numbers, SDP session ids).
#[derive(Debug, Clone)]
pub struct Ids {
    rng: StdRng,
}

impl Ids {
    /// A generator whose whole output is fixed by `seed`.
    pub fn seeded(seed: u64) -> Ids {
        Ids {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn hex(&mut self, bytes: usize) -> String {
        let mut out = String::with_capacity(bytes * 2);
        for _ in 0..bytes {
            let b: u8 = self.rng.random();
            let _ = write!(out, "{b:02x}");
        }
        out
    }

    /// A new tag for From or To: 64 random bits, hex.
    pub fn tag(&mut self) -> String {
        self.hex(8)
    }

    /// A new RFC 3261 branch: the magic cookie `z9hG4bK` and 80 random bits.
    pub fn branch(&mut self) -> String {
        format!("{MAGIC_COOKIE}{}", self.hex(10))
    }

    /// A new Call-ID, `128 random bits@host`.
    pub fn call_id(&mut self, host: &str) -> String {
        format!("{}@{host}", self.hex(16))
    }

    /// A number drawn uniformly from `range` (initial CSeq and RSeq, SDP session ids).
    pub fn number(&mut self, range: std::ops::Range<u64>) -> u64 {
        self.rng.random_range(range)
    }

    /// A seed for another generator (a transaction layer's), drawn from this one.
    pub fn fork(&mut self) -> Ids {
        Ids::seeded(self.rng.random())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_uniqueness_and_determinism() {
        let mut ids = Ids::seeded(7);
        let b = ids.branch();
        assert!(b.starts_with("z9hG4bK") && b.len() == 27);
        assert_ne!(ids.branch(), b);
        let t = ids.tag();
        assert_eq!(t.len(), 16);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(ids.tag(), t);
        let c = ids.call_id("gw.example.com");
        assert!(c.ends_with("@gw.example.com") && c.len() == 32 + 15);
        let mut a = Ids::seeded(42);
        let mut b = Ids::seeded(42);
        assert_eq!(
            (a.tag(), a.branch(), a.number(1..1000)),
            (b.tag(), b.branch(), b.number(1..1000))
        );
        assert_ne!(Ids::seeded(1).tag(), Ids::seeded(2).tag());
    }
}
