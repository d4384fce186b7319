//! Target `sip_transaction`: a sequence of datagrams (split on [`crate::split::SEPARATOR`])
//! from one peer through the RFC 3261 §17 transaction layer, with a transaction user that
//! answers every request (180 then 200 or 486 to an INVITE, 200 otherwise, 200 + 487 to a
//! CANCEL), two client transactions of our own (an INVITE, cancelled after the third
//! datagram, and a BYE) whose fixed branches fuzzed responses can match, and the clock run
//! until every timer has fired.
//!
//! Checks: every datagram the layer sends parses; once no timer is left, every
//! transaction has ended (none leaks). An INVITE client transaction in Proceeding has no
//! timer of its own (RFC 3261 §17.1.1.2: the TU ends it, as the engine's max-ring timer
//! does), so the TU cancels its INVITE before the clock is run out.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mediagw::sip::{Message, Method, TimerConfig, TransactionLayer, TxEvent, TxKey};

use crate::split::messages;

/// The fuzzed peer.
const PEER: &str = "192.0.2.7:5060";
/// Branches of our own client transactions (the corpus's responses use them).
pub const INVITE_BRANCH: &str = "z9hG4bKfuzzinvite";
/// See [`INVITE_BRANCH`].
pub const BYE_BRANCH: &str = "z9hG4bKfuzzbye";

/// Bound on the timer loop at the end (each round fires every timer due).
const MAX_TIMER_ROUNDS: usize = 20_000;

/// The target.
pub fn run(data: &[u8]) {
    let peer: SocketAddr = PEER.parse().expect("peer address");
    let mut now = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default(), mediagw::sip::Ids::seeded(1));
    let invite = layer
        .send_request(our_request(Method::Invite, INVITE_BRANCH, 1), peer, now)
        .expect("our INVITE starts a transaction");
    layer
        .send_request(our_request(Method::Bye, BYE_BRANCH, 2), peer, now)
        .expect("our BYE starts a transaction");
    drain(&mut layer, now);
    for (i, datagram) in messages(data).enumerate() {
        layer.handle_bytes(datagram, peer, now);
        drain(&mut layer, now);
        if i == 2 {
            let _ = layer.cancel(invite, None, now);
            drain(&mut layer, now);
        }
        now += Duration::from_millis(100);
        layer.handle_timeout(now);
        drain(&mut layer, now);
    }
    let _ = layer.cancel(invite, None, now);
    drain(&mut layer, now);
    for _ in 0..MAX_TIMER_ROUNDS {
        let Some(at) = layer.poll_timeout() else {
            assert!(
                layer.is_empty(),
                "{} transactions left with no timer to end them",
                layer.len()
            );
            return;
        };
        now = now.max(at);
        layer.handle_timeout(now);
        drain(&mut layer, now);
    }
    panic!("timers still pending after {MAX_TIMER_ROUNDS} rounds");
}

/// A request of ours, as the engine's dialog layer builds one.
fn our_request(method: Method, branch: &str, cseq: u32) -> Message {
    let mut m = Message::request(method.clone(), "sip:peer@192.0.2.7");
    m.add_header(
        "Via",
        &format!("SIP/2.0/UDP 192.0.2.1:5060;branch={branch};rport"),
    );
    m.add_header("Max-Forwards", "70");
    m.add_header("From", "<sip:gw@192.0.2.1>;tag=fuzzfrom");
    if method == Method::Bye {
        m.add_header("To", "<sip:peer@192.0.2.7>;tag=fuzzto");
    } else {
        m.add_header("To", "<sip:peer@192.0.2.7>");
    }
    m.add_header("Call-ID", "fuzz-call@192.0.2.1");
    m.add_header("CSeq", &format!("{cseq} {method}"));
    m.add_header("Contact", "<sip:gw@192.0.2.1:5060>");
    m
}

/// Takes every datagram (each must parse) and plays the transaction user for every event.
fn drain(layer: &mut TransactionLayer, now: Instant) {
    loop {
        while let Some((_, bytes)) = layer.poll_transmit() {
            Message::parse(&bytes).expect("the transaction layer sends SIP that parses");
        }
        let Some(event) = layer.poll_event() else {
            return;
        };
        if let TxEvent::Request { key, msg, .. } = event {
            answer(layer, key, &msg, now);
        }
    }
}

/// The transaction user's answers.
fn answer(layer: &mut TransactionLayer, key: TxKey, req: &Message, now: Instant) {
    let respond = |layer: &mut TransactionLayer, key: TxKey, req: &Message, status: u16| {
        let mut resp = Message::response_to(req, status, "Fuzz");
        if resp.to_tag().is_none() {
            resp.set_to_tag("fuzztag");
        }
        let _ = layer.send_response(key, resp, now);
    };
    match req.method() {
        Some(Method::Invite) => {
            respond(layer, key, req, 180);
            let status = if req.body.is_empty() { 486 } else { 200 };
            respond(layer, key, req, status);
        }
        Some(Method::Cancel) => {
            let invite = layer.find_invite_for_cancel(req);
            respond(layer, key, req, 200);
            if let Some(invite) = invite
                && let Some(original) = layer.request(invite).cloned()
            {
                respond(layer, invite, &original, 487);
            }
        }
        _ => respond(layer, key, req, 200),
    }
}
