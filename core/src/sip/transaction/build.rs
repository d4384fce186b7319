//! Requests the transaction layer builds itself — the ACK for a non-2xx final response
//! (§17.1.1.3) and CANCEL (§9.1) — and the transport rules for received requests: the
//! `received`/`rport` Via parameters (§18.2.1, RFC 3581) and where responses go (§18.2.2).

use std::net::SocketAddr;

use super::super::grammar::CommaSplit;
use super::super::message::Message;
use super::super::method::Method;
use super::super::via::Via;

/// The ACK for a non-2xx final `response` to `invite` (§17.1.1.3): same Request-URI,
/// Call-ID, From and CSeq number, the To of the response (with its tag), only the top Via of
/// the INVITE (same branch), and the INVITE's Route headers.
pub fn build_ack(invite: &Message, response: &Message) -> Message {
    derived_request(
        invite,
        Method::Ack,
        response.header("To").or(invite.header("To")),
    )
}

/// The CANCEL for `invite` (§9.1): same Request-URI, Call-ID, To, From and CSeq number, the
/// INVITE's top Via (same branch) and Route headers.
pub fn build_cancel(invite: &Message) -> Message {
    derived_request(invite, Method::Cancel, invite.header("To"))
}

fn derived_request(invite: &Message, method: Method, to: Option<&str>) -> Message {
    let mut m = Message::request(method.clone(), invite.request_uri().unwrap_or_default());
    if let Some(top) = invite.headers("Via").next() {
        m.add_header("Via", top);
    }
    for h in invite.headers.iter().filter(|h| h.name == "Route") {
        m.add_header("Route", &h.value);
    }
    m.add_header("Max-Forwards", "70");
    for (name, value) in [
        ("From", invite.header("From")),
        ("To", to),
        ("Call-ID", invite.call_id()),
    ] {
        if let Some(v) = value {
            m.add_header(name, v);
        }
    }
    if let Some((seq, _)) = invite.cseq() {
        m.add_header("CSeq", &format!("{seq} {method}"));
    }
    m
}

/// Adds `received` (when the sent-by host is not the source address) and fills an empty
/// `rport` with the source port on the top Via of a received request; returns that Via.
pub fn stamp_top_via(msg: &mut Message, from: SocketAddr) -> Option<Via> {
    let idx = msg.headers.iter().position(|h| h.name == "Via")?;
    let value = &msg.headers[idx].value;
    let top = CommaSplit::new(value).next()?;
    let mut via = Via::parse(top).ok()?;
    let ip = from.ip().to_string();
    let fill_rport = via.rport == Some(None);
    if via.host_unbracketed() != ip || fill_rport {
        if fill_rport {
            via.rport = Some(Some(from.port()));
        }
        via.received = Some(ip); // RFC 3261 grammar: an IPv6 address goes without brackets
        replace_top_via(msg, &via);
    }
    Some(via)
}

/// Rewrites the first Via value of the message (other values of that header line are kept).
pub fn replace_top_via(msg: &mut Message, via: &Via) {
    if let Some(h) = msg.headers.iter_mut().find(|h| h.name == "Via") {
        let rest = h
            .value
            .get(top_item_len(&h.value)..)
            .unwrap_or_default()
            .to_string();
        h.value = format!("{via}{rest}");
    }
}

/// Byte length of the first comma-list item of `value`, leading whitespace included.
fn top_item_len(value: &str) -> usize {
    super::super::grammar::find_top_level(value, ',').unwrap_or(value.len())
}

/// Where responses to a request go (§18.2.2 for UDP, RFC 3581): the source address when the
/// top Via carries `rport`, otherwise the source IP (the `received` address) and the sent-by
/// port, 5060 by default.
pub fn response_destination(via: &Via, from: SocketAddr) -> SocketAddr {
    if via.rport.is_some() {
        from
    } else {
        SocketAddr::new(from.ip(), via.port_or_default())
    }
}
