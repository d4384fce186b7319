//! The SIP URIs the API accepts (`from_uri`, `to_uri`, `redirect_uri`):
//! `[sip:]user@host[:port][;params]`, with the user part optional where the
//! seed allows it (`redirect_uri` is `[sip:]address[:port]`).
//!
//! Accepted: the `sip:` scheme in any case or no scheme at all; a user part of
//! printable ASCII without `@ < > " ?` (user parameters such as
//! `;phone-context=` kept as they are); a host that is a DNS name, an IPv4
//! address or a bracketed IPv6 address; a port 1..=65535; URI parameters after
//! `;` kept as text. Refused: `sips:` and other schemes, headers (`?`),
//! whitespace, control and non-ASCII characters.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest accepted URI (bytes).
pub const MAX_URI_LEN: usize = 1024;

/// A validated SIP URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipUri {
    /// The user part (the called or calling number); `None` when absent.
    pub user: Option<String>,
    /// The host: a DNS name, an IPv4 address, or an IPv6 address without brackets.
    pub host: String,
    /// The port, when given.
    pub port: Option<u16>,
    /// The URI parameters after the host, without the leading `;` (e.g. `transport=udp`).
    pub params: Option<String>,
}

impl SipUri {
    /// Parses `text`; `need_user` makes a missing user part an error.
    pub fn parse(text: &str, need_user: bool) -> Result<SipUri, String> {
        let bad = |why: &str| format!("{why} in SIP URI {text:?}");
        if text.is_empty() {
            return Err("empty SIP URI".to_string());
        }
        if text.len() > MAX_URI_LEN {
            return Err(format!(
                "SIP URI of {} bytes, at most {MAX_URI_LEN} allowed",
                text.len()
            ));
        }
        if let Some(c) = text.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(bad(&format!("character {c:?} not allowed")));
        }
        if let Some(c) = text.chars().find(|c| matches!(c, '<' | '>' | '"' | '?')) {
            return Err(bad(&format!("character {c:?} not allowed")));
        }
        let rest = match text.get(..4) {
            Some(s) if s.eq_ignore_ascii_case("sip:") => &text[4..],
            _ => {
                let lower = text.to_ascii_lowercase();
                if lower.starts_with("sips:") || lower.starts_with("tel:") {
                    return Err(bad("only the sip: scheme is supported"));
                }
                text
            }
        };
        let (user, hostpart) = match rest.split_once('@') {
            Some((u, h)) => {
                if h.contains('@') {
                    return Err(bad("more than one '@'"));
                }
                if u.is_empty() {
                    return Err(bad("empty user part"));
                }
                (Some(u.to_string()), h)
            }
            None => (None, rest),
        };
        if need_user && user.is_none() {
            return Err(bad("no user part (expected user@host[:port])"));
        }
        let (hostport, params) = match hostpart.split_once(';') {
            Some((hp, p)) => {
                if p.split(';').any(str::is_empty) {
                    return Err(bad("empty URI parameter"));
                }
                (hp, Some(p.to_string()))
            }
            None => (hostpart, None),
        };
        let (host, port) = split_host_port(hostport).map_err(|e| bad(&e))?;
        Ok(SipUri {
            user,
            host,
            port,
            params,
        })
    }
}

fn split_host_port(hp: &str) -> Result<(String, Option<u16>), String> {
    if hp.is_empty() {
        return Err("no host".to_string());
    }
    let (host, port) = if let Some(inner) = hp.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| "unclosed '[' in host".to_string())?;
        addr.parse::<Ipv6Addr>()
            .map_err(|_| format!("bad IPv6 address {addr:?}"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("unexpected {p:?} after IPv6 address"))?,
            ),
        };
        (addr.to_string(), port)
    } else {
        let (h, p) = match hp.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        };
        check_host(h)?;
        (h.to_ascii_lowercase(), p)
    };
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p)?),
    };
    Ok((host, port))
}

fn parse_port(p: &str) -> Result<u16, String> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad port {p:?}"));
    }
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("port {p} not in 1..=65535")),
    }
}

fn check_host(h: &str) -> Result<(), String> {
    if h.is_empty() {
        return Err("no host".to_string());
    }
    if h.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return h
            .parse::<Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| format!("bad IPv4 address {h:?}"));
    }
    if h.len() > 253 {
        return Err("host name longer than 253 characters".to_string());
    }
    for label in h.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("bad host name {h:?}"));
        }
    }
    Ok(())
}

impl fmt::Display for SipUri {
    /// The canonical form: `sip:[user@]host[:port][;params]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sip:")?;
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if let Some(p) = &self.params {
            write!(f, ";{p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str, need_user: bool) -> SipUri {
        SipUri::parse(s, need_user).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn accepted_forms() {
        let u = ok("sip:95588@10.0.0.1", true);
        assert_eq!(u.user.as_deref(), Some("95588"));
        assert_eq!((u.host.as_str(), u.port), ("10.0.0.1", None));
        assert_eq!(u.to_string(), "sip:95588@10.0.0.1");

        let u = ok("1001@gw.example.com:5080", true);
        assert_eq!((u.host.as_str(), u.port), ("gw.example.com", Some(5080)));
        assert_eq!(u.to_string(), "sip:1001@gw.example.com:5080");

        let u = ok("SIP:+8613800000000@[2001:db8::1]:5060;transport=udp", true);
        assert_eq!(u.host, "2001:db8::1");
        assert_eq!(u.params.as_deref(), Some("transport=udp"));
        assert_eq!(
            u.to_string(),
            "sip:+8613800000000@[2001:db8::1]:5060;transport=udp"
        );

        let u = ok("10.1.2.3:5070", false);
        assert_eq!((u.user, u.port), (None, Some(5070)));
        let u = ok("sip:ipsc2.local", false);
        assert_eq!(u.host, "ipsc2.local");

        // Dial strings with * and # in the user part.
        assert_eq!(ok("*86#@gw", true).user.as_deref(), Some("*86#"));
    }

    #[test]
    fn refused_forms() {
        for (s, need_user, why) in [
            ("", true, "empty"),
            ("sip:10.0.0.1", true, "user"),
            ("10.0.0.1", true, "user"),
            ("sip:@10.0.0.1", true, "empty user"),
            ("sip:1001@", true, "host"),
            ("sip:1001@10.0.0.1:", true, "port"),
            ("sip:1001@10.0.0.1:0", true, "port"),
            ("sip:1001@10.0.0.1:65536", true, "port"),
            ("sip:1001@10.0.0.1:50a", true, "port"),
            ("sip:1001@10.0.0.256", true, "IPv4"),
            ("sip:1001@[::1", true, "unclosed"),
            ("sip:1001@[zz::1]", true, "IPv6"),
            ("sip:1001@[::1]x", true, "after IPv6"),
            ("sip:1001@gw_1", true, "host name"),
            ("sip:1001@-gw", true, "host name"),
            ("sip:1001@gw..x", true, "host name"),
            ("sip:a@b@c", true, "'@'"),
            ("sips:1001@gw", true, "scheme"),
            ("tel:+1234", false, "scheme"),
            ("sip:10 01@gw", true, "' '"),
            ("sip:1001@gw?subject=x", true, "'?'"),
            ("<sip:1001@gw>", true, "'<'"),
            ("sip:1001@gw;", true, "parameter"),
            ("sip:１@gw", true, "character"),
        ] {
            let e = SipUri::parse(s, need_user).expect_err(s);
            assert!(e.contains(why), "{s}: {e}");
        }
        assert!(SipUri::parse(&format!("sip:1@{}", "a".repeat(MAX_URI_LEN)), true).is_err());
    }
}
