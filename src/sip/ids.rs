//! Fresh identifiers: From/To tags, RFC 3261 branches and Call-IDs.

use super::via::MAGIC_COOKIE;

fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        let b: u8 = rand::random();
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A new tag for From or To: 64 random bits, hex.
pub fn new_tag() -> String {
    random_hex(8)
}

/// A new RFC 3261 branch: the magic cookie `z9hG4bK` and 80 random bits.
pub fn new_branch() -> String {
    format!("{MAGIC_COOKIE}{}", random_hex(10))
}

/// A new Call-ID, `128 random bits@host`.
pub fn new_call_id(host: &str) -> String {
    format!("{}@{host}", random_hex(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_uniqueness() {
        let b = new_branch();
        assert!(b.starts_with("z9hG4bK") && b.len() == 27);
        assert_ne!(new_branch(), b);
        let t = new_tag();
        assert_eq!(t.len(), 16);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(new_tag(), t);
        let c = new_call_id("gw.example.com");
        assert!(c.ends_with("@gw.example.com") && c.len() == 32 + 15);
    }
}
