//! `SipUri`: parsing and writing of `sip:` and `sips:` URIs (RFC 3261 §19.1), plus a check
//! for generic absolute URIs used where any scheme is allowed.

use std::fmt;

use super::grammar::{self, Params};

/// A `sip:` or `sips:` URI. User, password, parameter and header texts are kept as written
/// (escapes not decoded: see [`grammar::pct_decode`] via [`SipUri::user_decoded`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sip` or `sips`, lower case.
    pub scheme: String,
    /// The user part, as written (`%HH` escapes kept).
    pub user: Option<String>,
    /// The password, as written.
    pub password: Option<String>,
    /// Host name, IPv4 address, or IPv6 reference with its brackets (`[2001:db8::1]`).
    pub host: String,
    /// The port, when given.
    pub port: Option<u16>,
    /// URI parameters (`;transport=udp;lr`), names and values as written.
    pub params: Params,
    /// URI headers (`?Route=...&Subject=...`), as written.
    pub headers: Vec<(String, String)>,
}

/// Why a URI was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// The scheme is not `sip` or `sips` (answer 416 where a SIP URI is required).
    UnsupportedScheme,
    /// The URI is not well formed.
    Malformed(&'static str),
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriError::UnsupportedScheme => f.write_str("Unsupported URI Scheme"),
            UriError::Malformed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for UriError {}

impl SipUri {
    /// A `sip:` URI with the given user and host.
    pub fn new(user: Option<&str>, host: &str, port: Option<u16>) -> Self {
        Self {
            scheme: "sip".into(),
            user: user.map(str::to_string),
            password: None,
            host: host.to_string(),
            port,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Parses a `sip:`/`sips:` URI.
    pub fn parse(s: &str) -> Result<SipUri, UriError> {
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UriError::Malformed("Malformed URI"));
        }
        let colon = s.find(':').ok_or(UriError::Malformed("Malformed URI"))?;
        let scheme = &s[..colon];
        if !grammar::is_scheme(scheme) {
            return Err(UriError::Malformed("Malformed URI scheme"));
        }
        if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
            return Err(UriError::UnsupportedScheme);
        }
        let rest = &s[colon + 1..];
        // '@' cannot appear unescaped after the userinfo, so the first one ends it.
        let (user, password, rest) = match rest.find('@') {
            Some(at) => {
                let userinfo = &rest[..at];
                let (user, password) = match userinfo.find(':') {
                    Some(c) => (&userinfo[..c], Some(userinfo[c + 1..].to_string())),
                    None => (userinfo, None),
                };
                if user.is_empty() {
                    return Err(UriError::Malformed("Empty URI user"));
                }
                (Some(user.to_string()), password, &rest[at + 1..])
            }
            None => (None, None, rest),
        };
        let (rest, headers) = match rest.find('?') {
            Some(q) => (&rest[..q], parse_uri_headers(&rest[q + 1..])?),
            None => (rest, Vec::new()),
        };
        let (hostport, params) = match rest.find(';') {
            Some(sc) => (&rest[..sc], parse_uri_params(&rest[sc + 1..])?),
            None => (rest, Vec::new()),
        };
        let (host, port) =
            parse_hostport(hostport).ok_or(UriError::Malformed("Malformed URI host"))?;
        Ok(SipUri {
            scheme: scheme.to_ascii_lowercase(),
            user,
            password,
            host: host.to_string(),
            port,
            params,
            headers,
        })
    }

    /// A URI parameter by name (case-insensitive): `Some(None)` for a flag such as `lr`.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        grammar::param(&self.params, name)
    }

    /// True when the URI has the `lr` parameter (loose routing).
    pub fn is_loose_route(&self) -> bool {
        self.param("lr").is_some()
    }

    /// The user part with `%HH` escapes decoded (bytes: it may hold NUL or non-UTF-8).
    pub fn user_decoded(&self) -> Option<Vec<u8>> {
        self.user.as_deref().map(grammar::pct_decode)
    }

    /// The host without IPv6 brackets.
    pub fn host_unbracketed(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(64);
        out.push_str(&self.scheme);
        out.push(':');
        if let Some(user) = &self.user {
            out.push_str(user);
            if let Some(pw) = &self.password {
                out.push(':');
                out.push_str(pw);
            }
            out.push('@');
        }
        out.push_str(&self.host);
        if let Some(port) = self.port {
            out.push(':');
            out.push_str(&port.to_string());
        }
        grammar::write_params(&mut out, &self.params);
        for (i, (name, value)) in self.headers.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(name);
            out.push('=');
            out.push_str(value);
        }
        f.write_str(&out)
    }
}

/// True when `s` looks like an absolute URI of any scheme (`scheme:rest`, no whitespace).
/// This is what a Request-URI or a name-addr URI must be before its scheme is known.
pub fn is_absolute_uri(s: &str) -> bool {
    match s.find(':') {
        Some(colon) => {
            colon + 1 < s.len() && grammar::is_scheme(&s[..colon]) && !has_forbidden_uri_char(s)
        }
        None => false,
    }
}

/// True when `s` holds whitespace, a control character, `<`, `>` or `"`, none of which a
/// Request-URI may contain. All-ASCII text (the usual case) is checked byte by byte.
fn has_forbidden_uri_char(s: &str) -> bool {
    if s.is_ascii() {
        // ASCII whitespace and controls are the bytes up to SP, and DEL. A fold without
        // early exit, so that it vectorises: URIs are short and nearly always clean.
        return s.bytes().fold(false, |found, b| {
            found | (b <= b' ') | (b == 0x7f) | (b == b'<') | (b == b'>') | (b == b'"')
        });
    }
    s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
}

/// Splits `host[:port]`; the host is a name, an IPv4 address or a bracketed IPv6 reference.
pub fn parse_hostport(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']')?;
        let inner = &s[1..close];
        if inner.is_empty()
            || !inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return None;
        }
        (&s[..=close], &s[close + 1..])
    } else {
        let end = s.find(':').unwrap_or(s.len());
        let host = &s[..end];
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return None;
        }
        (host, &s[end..])
    };
    if port.is_empty() {
        return Some((host, None));
    }
    let digits = port.strip_prefix(':')?;
    let port = grammar::parse_digits(digits)?;
    Some((host, Some(u16::try_from(port).ok()?)))
}

fn parse_uri_params(s: &str) -> Result<Params, UriError> {
    s.split(';')
        .map(|item| {
            let (name, value) = match item.find('=') {
                Some(eq) => (&item[..eq], Some(&item[eq + 1..])),
                None => (item, None),
            };
            if name.is_empty() || value == Some("") {
                return Err(UriError::Malformed("Malformed URI parameter"));
            }
            Ok((name.to_string(), value.map(str::to_string)))
        })
        .collect()
}

fn parse_uri_headers(s: &str) -> Result<Vec<(String, String)>, UriError> {
    s.split('&')
        .map(|item| match item.find('=') {
            Some(eq) if eq > 0 => Ok((item[..eq].to_string(), item[eq + 1..].to_string())),
            _ => Err(UriError::Malformed("Malformed URI header")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_uri_round_trip() {
        let s =
            "sips:alice:secret@[2001:db8::10]:5061;transport=tcp;lr?Subject=hi&Route=%3Csip:x%3E";
        let u = SipUri::parse(s).expect("uri");
        assert_eq!(u.scheme, "sips");
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, "[2001:db8::10]");
        assert_eq!(u.host_unbracketed(), "2001:db8::10");
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.param("TRANSPORT"), Some(Some("tcp")));
        assert!(u.is_loose_route());
        assert_eq!(u.headers.len(), 2);
        assert_eq!(u.to_string(), s);
    }

    #[test]
    fn user_with_semicolon_and_escapes() {
        let u = SipUri::parse("sip:user;par=u%40example.net@example.com").expect("uri");
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(u.host, "example.com");
        assert!(u.params.is_empty());
        let u = SipUri::parse("sip:%75se%72@example.com").expect("uri");
        assert_eq!(u.user_decoded().as_deref(), Some(&b"user"[..]));
    }

    #[test]
    fn rejects_bad_uris() {
        assert_eq!(SipUri::parse("tel:+123"), Err(UriError::UnsupportedScheme));
        assert!(matches!(SipUri::parse("sip:"), Err(UriError::Malformed(_))));
        assert!(SipUri::parse("sip:host:99999").is_err());
        assert!(SipUri::parse("sip:@host").is_err());
        assert!(SipUri::parse("sip:host; lr").is_err());
        assert!(SipUri::parse("sip:[zz]").is_err());
        assert!(SipUri::parse("sip:host;=x").is_err());
        assert!(SipUri::parse("<sip:host>").is_err());
    }

    #[test]
    fn absolute_uri_check() {
        assert!(is_absolute_uri("soap.beep://192.0.2.103:3002"));
        assert!(is_absolute_uri(
            "nobodyKnowsThisScheme:totallyopaquecontent"
        ));
        assert!(!is_absolute_uri("<sip:user@example.com>"));
        assert!(!is_absolute_uri("sip:"));
        assert!(!is_absolute_uri("noscheme"));
    }

    #[test]
    fn forbidden_uri_chars_ascii_and_not() {
        for c in (0..0x3001u32).filter_map(char::from_u32) {
            let forbidden = c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"');
            for s in [format!("sip:a{c}b"), format!("sip:\u{e9}{c}")] {
                assert_eq!(has_forbidden_uri_char(&s), forbidden, "{s:?}");
            }
        }
    }
}
