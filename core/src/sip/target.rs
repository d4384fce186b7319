//! Where a SIP request goes without DNS: `HOST[:PORT]` strings and URIs turned into
//! transport addresses for IP literals and `localhost` (anything else is refused by the
//! caller, or falls back to the address the peer's messages came from).

use std::net::{IpAddr, SocketAddr};

use super::uri::SipUri;

/// `HOST[:PORT]` (IPv6 in brackets) into lower-level parts, default port 5060.
pub fn split_host_port(s: &str) -> Option<(String, u16)> {
    let s = s.trim();
    let s = s
        .strip_prefix("sip:")
        .or_else(|| s.strip_prefix("SIP:"))
        .unwrap_or(s);
    let s = s.rsplit_once('@').map_or(s, |(_, h)| h);
    let s = s.split(';').next()?;
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 5060,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), p.parse().ok()?)),
        Some(_) => Some((s.to_string(), 5060)), // bare IPv6
        None if !s.is_empty() => Some((s.to_string(), 5060)),
        None => None,
    }
}

/// A transport address for `host:port` without DNS: IP literals and `localhost`.
pub fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return Some(SocketAddr::new(
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            port,
        ));
    }
    h.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, port))
}

/// Where a request to `uri` goes: its host and port (or `fallback` when the host
/// is a name we cannot resolve without DNS).
pub fn target_of(uri: &str, fallback: SocketAddr) -> SocketAddr {
    SipUri::parse(uri)
        .ok()
        .and_then(|u| resolve(u.host_unbracketed(), u.port.unwrap_or(5060)))
        .unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            split_host_port("10.0.0.1:5080"),
            Some(("10.0.0.1".into(), 5080))
        );
        assert_eq!(
            split_host_port("sip:95588@10.0.0.1"),
            Some(("10.0.0.1".into(), 5060))
        );
        assert_eq!(split_host_port("[::1]:5070"), Some(("::1".into(), 5070)));
        assert_eq!(
            split_host_port("gw.example.com"),
            Some(("gw.example.com".into(), 5060))
        );
        assert_eq!(split_host_port("1.2.3.4:x"), None);
        assert_eq!(split_host_port(""), None);
    }

    #[test]
    fn resolve_literals_only() {
        assert_eq!(
            resolve("127.0.0.1", 5060),
            Some("127.0.0.1:5060".parse().unwrap())
        );
        assert_eq!(resolve("[::1]", 5060), Some("[::1]:5060".parse().unwrap()));
        assert_eq!(
            resolve("localhost", 7),
            Some("127.0.0.1:7".parse().unwrap())
        );
        assert_eq!(resolve("gw.example.com", 5060), None);
    }
}
