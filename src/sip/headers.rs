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

fn lookup(name: &str) -> Option<&'static (&'static str, Option<char>, bool)> {
    if name.len() == 1 {
        let c = name.chars().next()?.to_ascii_lowercase();
        return KNOWN.iter().find(|(_, compact, _)| *compact == Some(c));
    }
    KNOWN
        .iter()
        .find(|(full, _, _)| full.eq_ignore_ascii_case(name))
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
