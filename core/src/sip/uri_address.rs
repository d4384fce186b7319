//! The address form applications write for a [`SipUri`] (the API's `from_uri`, `to_uri`,
//! `redirect_uri`): `[sip:]user@host[:port][;params]`, the user part optional where the
//! caller allows it. Stricter than RFC 3261 §19.1 where a dialled address must be usable
//! as written, laxer in that the scheme may be left out.
//!
//! Accepted: the `sip:` scheme in any case or no scheme at all; a user part of printable
//! ASCII without `@ < > " ?` (user parameters such as `;phone-context=` kept as they are);
//! a host that is a DNS name (lowered), an IPv4 address or a bracketed IPv6 address; a
//! port 1..=65535; URI parameters after `;`. Refused: `sips:` and other schemes, headers
//! (`?`), whitespace, control and non-ASCII characters.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::grammar::Params;
use super::uri::SipUri;

/// Longest accepted address (bytes).
pub const MAX_ADDRESS_LEN: usize = 1024;

impl SipUri {
    /// Parses an address as an application writes it (see the module doc); `need_user`
    /// makes a missing user part an error. The error says what is wrong, quoting `text`.
    pub fn parse_address(text: &str, need_user: bool) -> Result<SipUri, String> {
        let bad = |why: &str| format!("{why} in SIP URI {text:?}");
        if text.is_empty() {
            return Err("empty SIP URI".to_string());
        }
        if text.len() > MAX_ADDRESS_LEN {
            return Err(format!(
                "SIP URI of {} bytes, at most {MAX_ADDRESS_LEN} allowed",
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
        let (userinfo, hostpart) = match rest.split_once('@') {
            Some((u, h)) => {
                if h.contains('@') {
                    return Err(bad("more than one '@'"));
                }
                if u.is_empty() {
                    return Err(bad("empty user part"));
                }
                (Some(u), h)
            }
            None => (None, rest),
        };
        if need_user && userinfo.is_none() {
            return Err(bad("no user part (expected user@host[:port])"));
        }
        let (hostport, params) = match hostpart.split_once(';') {
            Some((hp, p)) => {
                if p.split(';').any(str::is_empty) {
                    return Err(bad("empty URI parameter"));
                }
                (hp, split_params(p))
            }
            None => (hostpart, Vec::new()),
        };
        let (host, port) = split_host_port(hostport).map_err(|e| bad(&e))?;
        // `user:password`, as RFC 3261 reads a userinfo; written back the same.
        let (user, password) = match userinfo {
            Some(ui) => match ui.split_once(':') {
                Some((u, pw)) if !u.is_empty() => (Some(u.to_string()), Some(pw.to_string())),
                _ => (Some(ui.to_string()), None),
            },
            None => (None, None),
        };
        Ok(SipUri {
            scheme: "sip".into(),
            user,
            password,
            host,
            port,
            params,
            headers: Vec::new(),
        })
    }
}

/// `a=1;lr` into name/value pairs, as written.
fn split_params(p: &str) -> Params {
    p.split(';')
        .map(|item| match item.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (item.to_string(), None),
        })
        .collect()
}

/// `host[:port]`; an IPv6 host keeps its brackets, a DNS name is lowered.
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
        (format!("[{addr}]"), port)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str, need_user: bool) -> SipUri {
        SipUri::parse_address(s, need_user).unwrap_or_else(|e| panic!("{s}: {e}"))
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
        assert_eq!(u.host_unbracketed(), "2001:db8::1");
        assert_eq!(u.param("transport"), Some(Some("udp")));
        assert_eq!(
            u.to_string(),
            "sip:+8613800000000@[2001:db8::1]:5060;transport=udp"
        );

        let u = ok("10.1.2.3:5070", false);
        assert_eq!((u.user, u.port), (None, Some(5070)));
        let u = ok("sip:IPSC2.local", false);
        assert_eq!(u.host, "ipsc2.local");

        // Dial strings with * and # in the user part.
        assert_eq!(ok("*86#@gw", true).user.as_deref(), Some("*86#"));

        // A userinfo with a password and user parameters is written back as it came.
        let u = ok("alice:pw@gw;lr;x=", true);
        assert_eq!(
            (u.user.as_deref(), u.password.as_deref()),
            (Some("alice"), Some("pw"))
        );
        assert!(u.is_loose_route());
        assert_eq!(u.to_string(), "sip:alice:pw@gw;lr;x=");
        let u = ok("123;phone-context=+86@gw", true);
        assert_eq!(u.user.as_deref(), Some("123;phone-context=+86"));
    }

    #[test]
    fn same_uri_as_the_rfc_parser_reads() {
        for s in [
            "sip:95588@10.0.0.1",
            "sip:1001@gw.example.com:5080",
            "sip:+86@[2001:db8::1]:5060;transport=udp",
            "sip:alice:pw@gw;lr",
            "sip:10.1.2.3:5070",
        ] {
            assert_eq!(ok(s, false), SipUri::parse(s).expect(s), "{s}");
        }
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
            let e = SipUri::parse_address(s, need_user).expect_err(s);
            assert!(e.contains(why), "{s}: {e}");
        }
        assert!(
            SipUri::parse_address(&format!("sip:1@{}", "a".repeat(MAX_ADDRESS_LEN)), true).is_err()
        );
    }
}
