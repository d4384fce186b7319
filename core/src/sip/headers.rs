//! Header names (full and compact forms, which headers are comma lists) and small typed
//! helpers: CSeq, Reason (RFC 3326) and option-tag lists (Require, Supported, ...).

use std::fmt;

use super::grammar;
use super::method::Method;

/// `(full name, compact form, comma-separated list?)` for the headers the stack knows.
const KNOWN: &[(&str, Option<char>, bool)] = &[
    ("Accept", None, true),
    ("Accept-Contact", Some('a'), true),
    ("Accept-Encoding", None, true),
    ("Accept-Language", None, true),
    ("Alert-Info", None, true),
    ("Allow", None, true),
    ("Allow-Events", Some('u'), true),
    ("Authentication-Info", None, false),
    ("Authorization", None, false),
    ("Call-ID", Some('i'), false),
    ("Call-Info", None, true),
    ("Contact", Some('m'), true),
    ("Content-Disposition", None, false),
    ("Content-Encoding", Some('e'), true),
    ("Content-Language", None, true),
    ("Content-Length", Some('l'), false),
    ("Content-Type", Some('c'), false),
    ("CSeq", None, false),
    ("Date", None, false),
    ("Error-Info", None, true),
    ("Event", Some('o'), false),
    ("Expires", None, false),
    ("From", Some('f'), false),
    ("History-Info", None, true),
    ("Identity", Some('y'), false),
    ("Identity-Info", Some('n'), false),
    ("In-Reply-To", None, true),
    ("Max-Forwards", None, false),
    ("MIME-Version", None, false),
    ("Min-Expires", None, false),
    ("Min-SE", None, false),
    ("Organization", None, false),
    ("P-Asserted-Identity", None, true),
    ("P-Preferred-Identity", None, true),
    ("Path", None, true),
    ("Priority", None, false),
    ("Privacy", None, false),
    ("Proxy-Authenticate", None, false),
    ("Proxy-Authorization", None, false),
    ("Proxy-Require", None, true),
    ("RAck", None, false),
    ("Reason", None, true),
    ("Record-Route", None, true),
    ("Refer-To", Some('r'), false),
    ("Referred-By", Some('b'), false),
    ("Reject-Contact", Some('j'), true),
    ("Replaces", None, false),
    ("Reply-To", None, false),
    ("Request-Disposition", Some('d'), true),
    ("Require", None, true),
    ("Retry-After", None, false),
    ("Route", None, true),
    ("RSeq", None, false),
    ("Server", None, false),
    ("Service-Route", None, true),
    ("Session-Expires", Some('x'), false),
    ("Subject", Some('s'), false),
    ("Subscription-State", None, false),
    ("Supported", Some('k'), true),
    ("Timestamp", None, false),
    ("To", Some('t'), false),
    ("Unsupported", None, true),
    ("User-Agent", None, false),
    ("Via", Some('v'), true),
    ("Warning", None, true),
    ("WWW-Authenticate", None, false),
];

/// `COMPACT[c - b'a']` is the index in [`KNOWN`] of the header whose compact form is the
/// lowercase letter `c`, or [`EMPTY_SLOT`].
const COMPACT: [u8; 26] = {
    let mut table = [EMPTY_SLOT; 26];
    let mut i = 0;
    while i < KNOWN.len() {
        if let Some(c) = KNOWN[i].1 {
            table[(c as u8 - b'a') as usize] = i as u8;
        }
        i += 1;
    }
    table
};

// `COMPACT` and `NAME_SLOTS` hold indices into `KNOWN` as `u8`.
const _: () = assert!(KNOWN.len() < EMPTY_SLOT as usize);

/// Multiplier of [`name_hash`], picked so that every name of [`KNOWN`] gets a slot of its
/// own in [`NAME_SLOTS`] (a test checks; a collision would only cost an extra probe).
const NAME_HASH_MULT: u64 = 0x0cad_3aef_3da6_4bc1;

/// Hashes a header name of two bytes or more to a slot of [`NAME_SLOTS`]: its length and its
/// first, third and last bytes, with ASCII case folded (`| 0x20` lowercases letters; other
/// bytes only need to hash consistently, since the look-up compares whole names).
const fn name_hash(name: &[u8]) -> usize {
    let len = name.len();
    let third = if len > 2 { name[2] } else { name[len - 1] };
    let key = (len as u64) << 32
        | (name[0] | 0x20) as u64
        | ((third | 0x20) as u64) << 8
        | ((name[len - 1] | 0x20) as u64) << 16;
    (key.wrapping_mul(NAME_HASH_MULT) >> 56) as usize
}

/// Hash table of the full names of [`KNOWN`] (open addressing, linear probing): the entry
/// for `name` is in the run of occupied slots starting at `name_hash(name)`, if anywhere.
/// Slots hold indices into [`KNOWN`] or [`EMPTY_SLOT`]; the table is mostly empty, so
/// runs are short.
const NAME_SLOTS: [u8; 256] = {
    let mut slots = [EMPTY_SLOT; 256];
    let mut i = 0;
    while i < KNOWN.len() {
        let mut slot = name_hash(KNOWN[i].0.as_bytes());
        while slots[slot] != EMPTY_SLOT {
            slot = (slot + 1) % slots.len();
        }
        slots[slot] = i as u8;
        i += 1;
    }
    slots
};

/// An unused slot of [`COMPACT`] or [`NAME_SLOTS`].
const EMPTY_SLOT: u8 = u8::MAX;

/// The [`KNOWN`] entry for a header name in any case, full or compact form: one table
/// look-up, and for a full name a comparison (usually one) with the names in its slot run.
fn lookup(name: &str) -> Option<&'static (&'static str, Option<char>, bool)> {
    let mut slot = match *name.as_bytes() {
        [] => return None,
        [c] => {
            let letter = usize::from(c.to_ascii_lowercase().checked_sub(b'a')?);
            return KNOWN.get(usize::from(*COMPACT.get(letter)?));
        }
        _ => name_hash(name.as_bytes()),
    };
    // ends at an empty slot: the table is never full
    loop {
        let entry = KNOWN.get(usize::from(NAME_SLOTS[slot]))?;
        if same_spelling(entry.0, name) {
            return Some(entry);
        }
        slot = (slot + 1) % NAME_SLOTS.len();
    }
}

/// `full.eq_ignore_ascii_case(name)`, with a quick exact comparison first: most messages
/// spell known names canonically.
fn same_spelling(full: &str, name: &str) -> bool {
    full == name || full.eq_ignore_ascii_case(name)
}

/// The canonical full name of a known header (`v` → `Via`, `call-id` → `Call-ID`).
pub fn canonical_name(name: &str) -> Option<&'static str> {
    lookup(name).map(|(full, _, _)| *full)
}

/// True when two header names denote the same header (case and compact forms ignored).
pub fn same_name(a: &str, b: &str) -> bool {
    match (canonical_name(a), canonical_name(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// True when the header's grammar is a comma-separated list whose values may be split
/// (Via, Contact, Route, ...). Unknown headers are never split.
pub fn is_list(name: &str) -> bool {
    lookup(name).is_some_and(|(_, _, list)| *list)
}

/// Parses a CSeq value (`0009 INVITE` is 9, INVITE). The number must be below 2^31.
pub fn parse_cseq(value: &str) -> Option<(u32, Method)> {
    let value = value.trim();
    let split = value.find(grammar::is_wsp)?;
    let num = grammar::parse_digits(&value[..split])?;
    let method = value[split..].trim_start();
    if num >= 1 << 31 || !grammar::is_token(method) {
        return None;
    }
    Some((num as u32, Method::from_token(method)))
}

/// A Reason header value (RFC 3326): `SIP;cause=487;text="Request Terminated"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// Protocol token: `SIP`, `Q.850`, ...
    pub protocol: String,
    /// The `cause` parameter.
    pub cause: Option<u16>,
    /// The `text` parameter, unquoted.
    pub text: Option<String>,
}

impl Reason {
    /// A `SIP` reason with a cause and optional text.
    pub fn sip(cause: u16, text: Option<&str>) -> Self {
        Self {
            protocol: "SIP".into(),
            cause: Some(cause),
            text: text.map(str::to_string),
        }
    }

    /// A `Q.850` reason with a cause and optional text.
    pub fn q850(cause: u16, text: Option<&str>) -> Self {
        Self {
            protocol: "Q.850".into(),
            cause: Some(cause),
            text: text.map(str::to_string),
        }
    }

    /// Parses one Reason value.
    pub fn parse(s: &str) -> Option<Reason> {
        let s = s.trim();
        let end = grammar::find_top_level(s, ';').unwrap_or(s.len());
        let protocol = s[..end].trim();
        if !grammar::is_token(protocol) {
            return None;
        }
        let params = if end < s.len() {
            grammar::parse_params(&s[end + 1..]).ok()?
        } else {
            Vec::new()
        };
        let cause = match grammar::param(&params, "cause") {
            Some(v) => Some(grammar::parse_digits(v?).and_then(|c| u16::try_from(c).ok())?),
            None => None,
        };
        let text = grammar::param(&params, "text").flatten().map(|t| {
            if t.starts_with('"') {
                grammar::unquote(t)
            } else {
                t.to_string()
            }
        });
        Some(Reason {
            protocol: protocol.to_string(),
            cause,
            text,
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.protocol)?;
        if let Some(c) = self.cause {
            write!(f, ";cause={c}")?;
        }
        if let Some(t) = &self.text {
            write!(f, ";text={}", grammar::quote(t))?;
        }
        Ok(())
    }
}

/// Joins option tags into a header value (`100rel, timer`).
pub fn join_tokens<S: AsRef<str>>(tags: &[S]) -> String {
    tags.iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(canonical_name("v"), Some("Via"));
        assert_eq!(canonical_name("I"), Some("Call-ID"));
        assert_eq!(canonical_name("cseq"), Some("CSeq"));
        assert_eq!(canonical_name("X-Foo"), None);
        assert!(same_name("m", "CONTACT"));
        assert!(same_name("x-foo", "X-FOO"));
        assert!(!same_name("l", "Content-Type"));
        assert!(is_list("Route") && is_list("k") && !is_list("Date") && !is_list("X-Unknown"));
    }

    #[test]
    fn every_known_name_resolves() {
        for &(full, compact, list) in KNOWN {
            for spelling in [full.to_string(), full.to_lowercase(), full.to_uppercase()] {
                assert_eq!(canonical_name(&spelling), Some(full), "{spelling}");
                assert_eq!(is_list(&spelling), list, "{spelling}");
            }
            if let Some(c) = compact {
                assert_eq!(canonical_name(&c.to_string()), Some(full));
                assert_eq!(
                    canonical_name(&c.to_ascii_uppercase().to_string()),
                    Some(full)
                );
            }
        }
        assert!(
            (0..KNOWN.len())
                .all(|i| usize::from(NAME_SLOTS[name_hash(KNOWN[i].0.as_bytes())]) == i),
            "name_hash collisions cost extra probes: pick another NAME_HASH_MULT"
        );
        for unknown in [
            "",
            "b2",
            "X",
            "z",
            "1",
            "~",
            "\u{e9}",
            "Vias",
            "Vi",
            "Call-I",
            "WWW-Authenticatf",
        ] {
            let linear = KNOWN.iter().any(|(full, compact, _)| {
                full.eq_ignore_ascii_case(unknown)
                    || (unknown.len() == 1
                        && *compact == unknown.chars().next().map(|c| c.to_ascii_lowercase()))
            });
            assert_eq!(canonical_name(unknown).is_some(), linear, "{unknown}");
        }
    }

    #[test]
    fn cseq() {
        assert_eq!(parse_cseq("0009 INVITE"), Some((9, Method::Invite)));
        assert_eq!(parse_cseq(" 1\t BYE "), Some((1, Method::Bye)));
        assert_eq!(parse_cseq("36893488147419103232 REGISTER"), None);
        assert_eq!(parse_cseq("2147483648 INVITE"), None);
        assert_eq!(parse_cseq("12"), None);
        assert_eq!(parse_cseq("-1 INVITE"), None);
    }

    #[test]
    fn reason() {
        let r = Reason::sip(487, Some("Request \"Terminated\""));
        let s = r.to_string();
        assert_eq!(s, "SIP;cause=487;text=\"Request \\\"Terminated\\\"\"");
        assert_eq!(Reason::parse(&s), Some(r));
        let q = Reason::parse("Q.850 ; cause=16").expect("q850");
        assert_eq!(
            (q.protocol.as_str(), q.cause, q.text),
            ("Q.850", Some(16), None)
        );
        assert_eq!(Reason::parse("SIP;cause=abc"), None);
        assert_eq!(join_tokens(&["100rel", "timer"]), "100rel, timer");
    }
}
