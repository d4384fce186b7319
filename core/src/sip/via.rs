//! `Via`: one value of a Via header (RFC 3261 §20.42, §18.2.1 and RFC 3581 `rport`).

use std::fmt;

use super::grammar::{self, Params};
use super::uri::parse_hostport;

/// The RFC 3261 branch magic cookie.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value: `SIP/2.0/UDP host:port;branch=...;received=...;rport=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport, upper case (`UDP`, `TCP`, `TLS`, `SCTP`, or any token).
    pub transport: String,
    /// The sent-by host (IPv6 references keep their brackets).
    pub host: String,
    /// The sent-by port.
    pub port: Option<u16>,
    /// The `branch` parameter.
    pub branch: Option<String>,
    /// The `received` parameter.
    pub received: Option<String>,
    /// The `rport` parameter: `Some(None)` when present without a value.
    pub rport: Option<Option<u16>>,
    /// Every other parameter, in order.
    pub params: Params,
}

impl Via {
    /// A `SIP/2.0/{transport} host[:port];branch=...` value.
    pub fn new(transport: &str, host: &str, port: Option<u16>, branch: &str) -> Self {
        Self {
            transport: transport.to_ascii_uppercase(),
            host: host.to_string(),
            port,
            branch: Some(branch.to_string()),
            received: None,
            rport: None,
            params: Vec::new(),
        }
    }

    /// Parses one Via value (LWS allowed around `/`, `:`, `;` and `=`).
    pub fn parse(s: &str) -> Result<Via, &'static str> {
        const BAD: &str = "Malformed Via";
        let mut parts = s.splitn(3, '/');
        let name = parts.next().ok_or(BAD)?.trim();
        let version = parts.next().ok_or(BAD)?.trim();
        let rest = parts.next().ok_or(BAD)?.trim_start();
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err("Unsupported Via protocol");
        }
        let tlen = rest
            .find(|c: char| !grammar::is_token_char(c))
            .unwrap_or(rest.len());
        let transport = &rest[..tlen];
        if transport.is_empty() {
            return Err(BAD);
        }
        let rest = &rest[tlen..];
        if !rest.starts_with(grammar::is_wsp) {
            return Err(BAD);
        }
        let rest = rest.trim_start();
        let end = grammar::find_top_level(rest, ';').unwrap_or(rest.len());
        let sent_by = strip_colon_lws(rest[..end].trim()).ok_or("Malformed Via sent-by")?;
        let (host, port) = parse_hostport(&sent_by).ok_or("Malformed Via sent-by")?;
        let mut via = Via {
            transport: transport.to_ascii_uppercase(),
            host: host.to_string(),
            port,
            branch: None,
            received: None,
            rport: None,
            params: Vec::new(),
        };
        if end < rest.len() {
            for (name, value) in grammar::parse_params(&rest[end + 1..])? {
                match name.to_ascii_lowercase().as_str() {
                    "branch" => via.branch = Some(value.ok_or(BAD)?),
                    "received" => via.received = Some(value.ok_or(BAD)?),
                    "rport" => {
                        via.rport = Some(match value {
                            None => None,
                            Some(v) => Some(
                                grammar::parse_digits(&v)
                                    .and_then(|p| u16::try_from(p).ok())
                                    .ok_or("Malformed rport")?,
                            ),
                        })
                    }
                    _ => via.params.push((name, value)),
                }
            }
        }
        Ok(via)
    }

    /// The branch when it is an RFC 3261 branch (magic cookie followed by something).
    pub fn rfc3261_branch(&self) -> Option<&str> {
        self.branch
            .as_deref()
            .filter(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
    }

    /// The sent-by port, or the transport's default (5061 for TLS, 5060 otherwise).
    pub fn port_or_default(&self) -> u16 {
        self.port
            .unwrap_or(if self.transport == "TLS" { 5061 } else { 5060 })
    }

    /// The sent-by host without IPv6 brackets.
    pub fn host_unbracketed(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }

    /// A parameter other than branch/received/rport, by name.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        grammar::param(&self.params, name)
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = format!("SIP/2.0/{} {}", self.transport, self.host);
        if let Some(p) = self.port {
            out.push(':');
            out.push_str(&p.to_string());
        }
        if let Some(b) = &self.branch {
            out.push_str(";branch=");
            out.push_str(b);
        }
        if let Some(r) = &self.received {
            out.push_str(";received=");
            out.push_str(r);
        }
        match self.rport {
            Some(Some(p)) => out.push_str(&format!(";rport={p}")),
            Some(None) => out.push_str(";rport"),
            None => {}
        }
        grammar::write_params(&mut out, &self.params);
        f.write_str(&out)
    }
}

/// Removes the LWS allowed around the colon of `host : port`; other whitespace is an error.
fn strip_colon_lws(s: &str) -> Option<String> {
    if !s.contains(grammar::is_wsp) {
        return Some(s.to_string());
    }
    let colon = s.rfind(':')?;
    let (host, port) = (s[..colon].trim_end(), s[colon + 1..].trim_start());
    if host.contains(grammar::is_wsp) || port.contains(grammar::is_wsp) {
        return None;
    }
    Some(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_folded_lws_forms() {
        let v = Via::parse("SIP  /   2.0 /UDP 192.0.2.2;rport;branch=390skdjuw").expect("via");
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.2");
        assert_eq!(v.port, None);
        assert_eq!(v.branch.as_deref(), Some("390skdjuw"));
        assert_eq!(v.rport, Some(None));
        assert_eq!(v.rfc3261_branch(), None);
        let v =
            Via::parse("SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8")
                .expect("via");
        assert_eq!(v.transport, "TCP");
        assert_eq!(v.host, "spindle.example.com");
        assert_eq!(v.rfc3261_branch(), Some("z9hG4bK9ikj8"));
    }

    #[test]
    fn ipv6_ports_and_params() {
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3;received=[2001:db8::9:255];rport=9;ttl=1")
            .expect("via");
        assert_eq!(v.host, "[2001:db8::9:1]");
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.received.as_deref(), Some("[2001:db8::9:255]"));
        assert_eq!(v.rport, Some(Some(9)));
        assert_eq!(v.param("ttl"), Some(Some("1")));
        let again = Via::parse(&v.to_string()).expect("reparse");
        assert_eq!(again, v);
    }

    #[test]
    fn rejects() {
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0/UDP host:70000").is_err());
        assert!(Via::parse("").is_err());
        assert!(Via::parse("SIP/2.0/UDP host;rport=x").is_err());
        assert!(Via::parse("SIP/2.0/UDP ho st;branch=z9hG4bKx").is_err());
        assert_eq!(
            Via::parse("SIP/2.0/UDP host : 5070")
                .expect("colon lws")
                .port,
            Some(5070)
        );
        let v = Via::parse("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK").expect("bare cookie parses");
        assert_eq!(v.rfc3261_branch(), None);
        assert_eq!(v.port_or_default(), 5060);
    }
}
