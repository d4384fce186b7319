//! `NameAddr`: the `[display-name] <URI> *(;param)` value of From, To, Contact, Route,
//! Record-Route and similar headers (RFC 3261 §20.10, §25.1 `name-addr / addr-spec`).

use std::fmt;

use super::grammar::{self, Params};
use super::uri::is_absolute_uri;

/// A name-addr or addr-spec with its header parameters. The URI is kept as text (any scheme);
/// parse it with [`super::SipUri::parse`] when a SIP URI is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted and unescaped.
    pub display: Option<String>,
    /// The URI, as written.
    pub uri: String,
    /// Header parameters (`;tag=...;expires=...`), values as written.
    pub params: Params,
}

impl NameAddr {
    /// A name-addr with no display name and no parameters.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            display: None,
            uri: uri.into(),
            params: Vec::new(),
        }
    }

    /// Parses one name-addr or addr-spec followed by parameters. Strict where RFC 4475 asks
    /// for strictness: an unterminated quote, whitespace inside `<...>`, non-token display
    /// names, an addr-spec holding `?` or `,`, and empty parameters are errors.
    pub fn parse(s: &str) -> Result<NameAddr, &'static str> {
        let s = s.trim();
        let (display, uri, rest) = if s.starts_with('"') {
            let qlen = grammar::quoted_len(s).ok_or("Unterminated quoted string")?;
            let display = grammar::unquote(&s[..qlen]);
            let rest = s[qlen..].trim_start();
            let (uri, rest) = angle_uri(rest)?;
            (Some(display), uri, rest)
        } else if let Some(lt) = s.find('<') {
            let display = s[..lt].trim();
            let display = if display.is_empty() {
                None
            } else {
                let tokens: Vec<&str> = display
                    .split([' ', '\t'])
                    .filter(|t| !t.is_empty())
                    .collect();
                if !tokens.iter().all(|t| grammar::is_token(t)) {
                    return Err("Malformed display name");
                }
                Some(tokens.join(" "))
            };
            let (uri, rest) = angle_uri(&s[lt..])?;
            (display, uri, rest)
        } else {
            let end = s.find([';', ' ', '\t']).unwrap_or(s.len());
            let uri = &s[..end];
            if uri.contains(['?', ',']) {
                return Err("URI with '?' or ',' must be enclosed in <>");
            }
            (None, uri, s[end..].trim_start())
        };
        if !is_absolute_uri(uri) {
            return Err("Malformed URI");
        }
        let params = if rest.is_empty() {
            Vec::new()
        } else {
            let p = rest.strip_prefix(';').ok_or("Unexpected text after URI")?;
            grammar::parse_params(p)?
        };
        Ok(NameAddr {
            display,
            uri: uri.to_string(),
            params,
        })
    }

    /// A parameter by name (case-insensitive): `Some(None)` for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        grammar::param(&self.params, name)
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    /// Sets (or replaces) a parameter.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_string);
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(p) => p.1 = value,
            None => self.params.push((name.to_string(), value)),
        }
    }

    /// Sets the `tag` parameter.
    pub fn set_tag(&mut self, tag: &str) {
        self.set_param("tag", Some(tag));
    }
}

/// `<uri>` at the start of `s`: returns the URI and the text after `>` (trimmed at the start).
fn angle_uri(s: &str) -> Result<(&str, &str), &'static str> {
    let inner = s.strip_prefix('<').ok_or("Expected '<'")?;
    let close = inner.find('>').ok_or("Unterminated '<'")?;
    let uri = &inner[..close];
    if uri.chars().any(|c| c.is_whitespace()) {
        return Err("Whitespace inside <>");
    }
    Ok((uri, inner[close + 1..].trim_start()))
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(self.uri.len() + 32);
        if let Some(d) = &self.display {
            out.push_str(&grammar::quote(d));
            out.push(' ');
        }
        out.push('<');
        out.push_str(&self.uri);
        out.push('>');
        grammar::write_params(&mut out, &self.params);
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = NameAddr::parse("\"A \\\"B\\\"\" <sip:a@b;lr>;tag=1;x").expect("quoted");
        assert_eq!(n.display.as_deref(), Some("A \"B\""));
        assert_eq!(n.uri, "sip:a@b;lr");
        assert_eq!(n.tag(), Some("1"));
        assert_eq!(n.param("x"), Some(None));
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323").expect("token display");
        assert_eq!(n.display.as_deref(), Some("caller"));
        let n = NameAddr::parse("sip:u@h ;   tag    = 1n").expect("addr-spec");
        assert_eq!(n.uri, "sip:u@h");
        assert_eq!(n.tag(), Some("1n"));
        let n =
            NameAddr::parse("sip:+1972@gw1.example.net;unknownparam").expect("addr-spec params");
        assert_eq!(n.uri, "sip:+1972@gw1.example.net");
        assert_eq!(n.param("unknownparam"), Some(None));
        let n = NameAddr::parse("<sip:+1972@gw1.example.net;unknownparam>").expect("uri params");
        assert!(n.params.is_empty());
    }

    #[test]
    fn strictness() {
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse("\"Watson, Thomas\" < sip:t.watson@example.org >").is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;").is_err());
        assert!(NameAddr::parse("<sip:a@b").is_err());
        assert!(NameAddr::parse("").is_err());
    }

    #[test]
    fn display_round_trip() {
        let mut n = NameAddr::parse("Alice <sip:alice@example.com>").expect("parse");
        n.set_tag("abc");
        let s = n.to_string();
        assert_eq!(s, "\"Alice\" <sip:alice@example.com>;tag=abc");
        assert_eq!(NameAddr::parse(&s).expect("reparse"), n);
    }
}
