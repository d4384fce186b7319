//! Target `sip_parse`: one datagram through the SIP message layer as the gateway reads
//! it: keep-alive check, `Message::parse`, `validate`, every accessor the engine uses,
//! and the responses the gateway would build from it.
//!
//! Beyond "no panic" it checks what the gateway relies on: a parsed message serialises
//! to bytes that parse to the same message, and every response built from a request
//! (the stateless 400 for a broken one, a final response for a valid one) parses, and
//! for a valid request also validates.

use mediagw::sip::{Message, Method, NameAddr, SipUri, Via, is_absolute_uri, is_keepalive};

/// The target.
pub fn run(data: &[u8]) {
    if is_keepalive(data) {
        return;
    }
    let msg = match Message::parse(data) {
        Ok(msg) => msg,
        Err(e) => {
            // The transaction layer answers a broken request from what could be parsed.
            if let Some(partial) = e.partial() {
                read_like_the_engine(partial);
                reject(partial, e.status(), e.reason());
            }
            return;
        }
    };
    read_like_the_engine(&msg);
    round_trip(&msg);
    match msg.validate() {
        Ok(()) => {
            if msg.is_request() && msg.method() != Some(&Method::Ack) {
                for (status, reason) in [(100, "Trying"), (200, "OK"), (486, "Busy Here")] {
                    let resp = answer(&msg, status, reason);
                    let parsed =
                        Message::parse(&resp).expect("our response to a valid request parses");
                    parsed
                        .validate()
                        .expect("our response to a valid request validates");
                }
            }
        }
        Err(e) => reject(&msg, e.status(), e.reason()),
    }
}

/// Every accessor the engine calls on a message it received.
fn read_like_the_engine(msg: &Message) {
    let _ = (msg.call_id(), msg.cseq(), msg.from_tag(), msg.to_tag());
    let _ = (msg.status(), msg.reason_phrase(), msg.content_type());
    let _ = (
        msg.max_forwards(),
        msg.reasons(),
        msg.option_tags("Supported"),
    );
    let _ = msg.unsupported_requires("Require", &["timer", "100rel"]);
    let _ = msg.unsupported_requires("Proxy-Require", &[]);
    for via in msg.vias() {
        let _ = (
            via.rfc3261_branch(),
            via.port_or_default(),
            via.host_unbracketed(),
        );
        let _ = Via::parse(&via.to_string()).expect("a Via we print parses");
    }
    for contact in msg.contacts() {
        let _ = SipUri::parse(&contact.uri);
    }
    for na in [msg.from(), msg.to()].into_iter().flatten() {
        let _ = na.tag();
        let _ = SipUri::parse(&na.uri);
        let printed = na.to_string();
        NameAddr::parse(&printed).expect("a name-addr we print parses");
    }
    if let Some(uri) = msg.request_uri() {
        let _ = is_absolute_uri(uri);
        if let Ok(u) = SipUri::parse(uri) {
            let _ = (u.user_decoded(), u.host_unbracketed(), u.is_loose_route());
        }
    }
}

/// What `to_bytes` writes parses back to the same message (Content-Length aside, which
/// it rewrites).
fn round_trip(msg: &Message) {
    let bytes = msg.to_bytes();
    let again = Message::parse(&bytes).expect("a parsed message, serialised, parses again");
    assert_eq!(again.start, msg.start, "start line survives a round trip");
    assert_eq!(again.body, msg.body, "body survives a round trip");
    let headers = |m: &Message| -> Vec<(String, String)> {
        m.headers
            .iter()
            .filter(|h| h.name != "Content-Length")
            .map(|h| (h.name.to_string(), h.value.clone()))
            .collect()
    };
    assert_eq!(
        headers(&again),
        headers(msg),
        "headers survive a round trip"
    );
}

/// A response to `req` as the engine builds one (To tag added), serialised.
fn answer(req: &Message, status: u16, reason: &str) -> Vec<u8> {
    let mut resp = Message::response_to(req, status, reason);
    if status > 100 && resp.to_tag().is_none() {
        resp.set_to_tag("fuzz1");
    }
    resp.to_bytes()
}

/// The stateless rejection of a broken request (as the transaction layer sends it) must
/// still be a message the peer can parse.
fn reject(req: &Message, status: u16, reason: &str) {
    if !req.is_request() || req.method() == Some(&Method::Ack) || req.top_via().is_none() {
        return;
    }
    let resp = answer(req, status, reason);
    Message::parse(&resp).expect("our rejection of a broken request parses");
}
