//! Messages the engine builds: responses to a call's INVITE, in-dialog requests
//! (BYE, re-sent ACK), CANCEL, and the host/address helpers they need.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::sip::{Message, Method, NameAddr, SipUri};
use crate::sip::{Reason, new_branch};

use super::Gateway;

/// Methods we accept, for `Allow`.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";
/// Option tags we support, for `Supported` (none beyond the base protocol yet).
pub const SUPPORTED: &[&str] = &[];

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

impl Gateway {
    /// `host:port` as written in our Via and Contact.
    pub(crate) fn hostport(&self) -> String {
        match self.public_ip {
            IpAddr::V6(ip) => format!("[{ip}]:{}", self.local.port()),
            IpAddr::V4(ip) => format!("{ip}:{}", self.local.port()),
        }
    }

    pub(crate) fn contact(&self) -> String {
        format!("<sip:{}@{}>", self.cfg.sip.contact_user, self.hostport())
    }

    pub(crate) fn via(&self, branch: &str) -> String {
        format!("SIP/2.0/UDP {};branch={branch};rport", self.hostport())
    }

    /// A response to the call's INVITE through its server transaction (a 2xx is
    /// retransmitted by the layer until its ACK arrives).
    pub(crate) fn respond_invite(
        &mut self,
        serial: u64,
        status: u16,
        reason: &str,
        edit: impl FnOnce(&mut Message),
        now: Instant,
    ) {
        let contact = self.contact();
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let (Some(key), Some(invite)) = (call.leg.invite_tx, call.leg.invite.as_ref()) else {
            return;
        };
        let mut resp = Message::response_to(invite, status, reason);
        if status > 100 {
            resp.set_to_tag(&call.leg.local_tag);
        }
        if status < 300 {
            resp.add_header("Contact", &contact);
        }
        edit(&mut resp);
        if (200..300).contains(&status) {
            call.leg.awaiting_ack = Some(key);
        }
        if let Err(e) = self.tx.send_response(key, resp, now) {
            tracing::debug!("response {status} on {key} not sent: {e}");
        }
    }

    /// A new in-dialog request of the call (RFC 3261 §12.2.1.1), with a fresh Via
    /// and the next CSeq, and the address it goes to.
    pub(crate) fn in_dialog_request(
        &mut self,
        serial: u64,
        method: Method,
    ) -> Option<(Message, SocketAddr)> {
        let contact = self.contact();
        let via = self.via(&new_branch());
        let call = self.calls.get_mut(&serial)?;
        let leg = &mut call.leg;
        leg.local_cseq += 1;
        let (ruri, routes): (String, Vec<String>) = match leg.route_set.first() {
            Some(first) if !is_loose(first) => {
                let mut rest: Vec<String> = leg.route_set[1..].to_vec();
                rest.push(format!("<{}>", leg.remote_target));
                (strip_brackets(first), rest)
            }
            _ => (leg.remote_target.clone(), leg.route_set.clone()),
        };
        let mut m = Message::request(method.clone(), &ruri);
        m.add_header("Via", &via);
        m.add_header("Max-Forwards", "70");
        m.add_header("From", &with_tag(&leg.local_uri, Some(&leg.local_tag)));
        m.add_header("To", &with_tag(&leg.remote_uri, leg.remote_tag.as_deref()));
        m.add_header("Call-ID", &leg.call_id);
        m.add_header("CSeq", &format!("{} {}", leg.local_cseq, method.as_str()));
        for r in &routes {
            m.add_header("Route", r);
        }
        if method != Method::Bye {
            m.add_header("Contact", &contact);
        }
        let first_hop = routes.first().map(|r| strip_brackets(r)).unwrap_or(ruri);
        let to = target_of(&first_hop, leg.peer);
        Some((m, to))
    }

    /// Send BYE with `Reason: SIP;cause=N` on an established dialog.
    pub(crate) fn send_bye(&mut self, serial: u64, cause: u16, text: Option<&str>, now: Instant) {
        if let Some((mut m, to)) = self.in_dialog_request(serial, Method::Bye) {
            m.add_header("Reason", &reason_value(cause, text));
            match self.tx.send_request(m, to, now) {
                Ok(key) => {
                    self.by_tx.insert(key, serial);
                }
                Err(e) => tracing::debug!("BYE not sent: {e}"),
            }
        }
    }

    /// CANCEL the outbound INVITE (RFC 3261 §9.1); the transaction layer holds it
    /// back until a provisional response has arrived.
    pub(crate) fn send_cancel(
        &mut self,
        serial: u64,
        cause: u16,
        text: Option<&str>,
        now: Instant,
    ) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let Some(key) = call.leg.invite_tx else {
            return;
        };
        if call.leg.cancelled {
            return;
        }
        call.leg.cancelled = true;
        match self.tx.cancel(key, Some(Reason::sip(cause, text)), now) {
            Ok(Some(ck)) => {
                self.by_tx.insert(ck, serial);
            }
            Ok(None) => {}
            Err(e) => tracing::debug!("CANCEL of {key} not sent: {e}"),
        }
    }

    /// ACK a 2xx to our INVITE (a new transaction-less request, RFC 3261 §13.2.2.4);
    /// kept to answer retransmissions of the same 2xx.
    pub(crate) fn send_ack_for_2xx(&mut self, serial: u64, cseq: u32) {
        let hostport = self.hostport();
        let via = self.via(&new_branch());
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let leg = &mut call.leg;
        let (ruri, routes): (String, Vec<String>) = match leg.route_set.first() {
            Some(first) if !is_loose(first) => {
                let mut rest: Vec<String> = leg.route_set[1..].to_vec();
                rest.push(format!("<{}>", leg.remote_target));
                (strip_brackets(first), rest)
            }
            _ => (leg.remote_target.clone(), leg.route_set.clone()),
        };
        let mut m = Message::request(Method::Ack, &ruri);
        m.add_header("Via", &via);
        m.add_header("Max-Forwards", "70");
        m.add_header("From", &with_tag(&leg.local_uri, Some(&leg.local_tag)));
        m.add_header("To", &with_tag(&leg.remote_uri, leg.remote_tag.as_deref()));
        m.add_header("Call-ID", &leg.call_id);
        m.add_header("CSeq", &format!("{cseq} ACK"));
        for r in &routes {
            m.add_header("Route", r);
        }
        m.add_header("Contact", &format!("<sip:mediagw@{hostport}>"));
        let first_hop = routes.first().map(|r| strip_brackets(r)).unwrap_or(ruri);
        let to = target_of(&first_hop, leg.peer);
        let bytes = m.to_bytes();
        leg.ack_bytes = Some(bytes.clone());
        self.tx.send_stateless(m, to);
    }
}

/// `Reason: SIP;cause=N;text="..."` (RFC 3326).
pub fn reason_value(cause: u16, text: Option<&str>) -> String {
    match text {
        Some(t) => format!("SIP;cause={cause};text=\"{}\"", t.replace(['"', '\\'], "")),
        None => format!("SIP;cause={cause}"),
    }
}

/// A From/To value with our tag parameter set (or none).
pub fn with_tag(addr: &str, tag: Option<&str>) -> String {
    match NameAddr::parse(addr) {
        Ok(mut na) => {
            if let Some(t) = tag {
                na.set_tag(t);
            }
            na.to_string()
        }
        Err(_) => addr.to_string(),
    }
}

/// A From/To header value without its tag.
pub fn without_tag(value: &str) -> String {
    match NameAddr::parse(value) {
        Ok(mut na) => {
            na.params.retain(|(k, _)| !k.eq_ignore_ascii_case("tag"));
            na.to_string()
        }
        Err(_) => value.to_string(),
    }
}

fn is_loose(route: &str) -> bool {
    NameAddr::parse(route)
        .ok()
        .and_then(|na| SipUri::parse(&na.uri).ok())
        .is_some_and(|u| u.is_loose_route())
}

fn strip_brackets(route: &str) -> String {
    NameAddr::parse(route)
        .map(|na| na.uri)
        .unwrap_or_else(|_| route.trim_matches(['<', '>', ' ']).to_string())
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

    #[test]
    fn reason_header() {
        assert_eq!(reason_value(603, None), "SIP;cause=603");
        assert_eq!(
            reason_value(408, Some("max \"x\"")),
            "SIP;cause=408;text=\"max x\""
        );
    }

    #[test]
    fn tags() {
        assert_eq!(without_tag("<sip:a@b>;tag=1"), "<sip:a@b>");
        assert!(with_tag("<sip:a@b>", Some("xyz")).contains("tag=xyz"));
    }
}
