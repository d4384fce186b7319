//! Transaction layer tests: the clock is driven by hand, no sockets, no sleeps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::super::{Message, Method, Reason};
use super::*;

const UAC: &str = "192.0.2.10:5060";
const UAS: &str = "192.0.2.20:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn request(method: Method, branch: &str, cseq: u32) -> Message {
    let mut m = Message::request(method.clone(), "sip:bob@192.0.2.20");
    m.add_header(
        "Via",
        &format!("SIP/2.0/UDP 192.0.2.10:5060;branch={branch}"),
    );
    m.add_header("Route", "<sip:proxy.example.com;lr>");
    m.add_header("Max-Forwards", "70");
    m.add_header("From", "\"Alice\" <sip:alice@example.com>;tag=a1");
    m.add_header("To", "<sip:bob@example.com>");
    m.add_header("Call-ID", "call-1@192.0.2.10");
    m.add_header("CSeq", &format!("{cseq} {method}"));
    m.add_header("Contact", "<sip:alice@192.0.2.10>");
    m
}

fn invite(branch: &str) -> Message {
    request(Method::Invite, branch, 1)
}

fn reply(req: &Message, status: u16, tag: Option<&str>) -> Message {
    let mut r = Message::response_to(req, status, "Reason");
    if let Some(t) = tag {
        r.set_to_tag(t);
    }
    r
}

fn transmits(l: &mut TransactionLayer) -> Vec<(SocketAddr, Message)> {
    std::iter::from_fn(|| l.poll_transmit())
        .map(|(to, bytes)| {
            (
                to,
                Message::parse(&bytes).expect("we send parsable messages"),
            )
        })
        .collect()
}

fn events(l: &mut TransactionLayer) -> Vec<TxEvent> {
    std::iter::from_fn(|| l.poll_event()).collect()
}

/// What happened while timers ran: datagrams and events with their offsets from `t0`.
#[derive(Default)]
struct Run {
    sent: Vec<(Duration, SocketAddr, Vec<u8>)>,
    events: Vec<(Duration, TxEvent)>,
}

impl Run {
    fn sent_ms(&self) -> Vec<u128> {
        self.sent.iter().map(|(t, _, _)| t.as_millis()).collect()
    }
}

/// Runs every timer due up to `until`, exactly at its deadline.
fn run(l: &mut TransactionLayer, t0: Instant, until: Instant) -> Run {
    let mut out = Run::default();
    while let Some(t) = l.poll_timeout() {
        if t > until {
            break;
        }
        l.handle_timeout(t);
        while let Some((to, bytes)) = l.poll_transmit() {
            out.sent.push((t - t0, to, bytes));
        }
        while let Some(e) = l.poll_event() {
            out.events.push((t - t0, e));
        }
    }
    out
}

fn layer() -> TransactionLayer {
    TransactionLayer::new(TimerConfig::default(), crate::sip::Ids::seeded(1))
}

#[test]
fn invite_client_timer_a_doubles_until_timer_b() {
    let mut l = layer();
    let t0 = Instant::now();
    let key = l
        .send_request(invite("z9hG4bKa1"), addr(UAS), t0)
        .expect("send");
    let (to, first) = l.poll_transmit().expect("first send");
    assert_eq!(to, addr(UAS));
    assert_eq!(l.poll_timeout(), Some(t0 + ms(500)));
    let r = run(&mut l, t0, t0 + Duration::from_secs(100));
    assert_eq!(r.sent_ms(), [500, 1500, 3500, 7500, 15500, 31500]);
    assert!(
        r.sent
            .iter()
            .all(|(_, to, b)| *to == addr(UAS) && *b == first)
    );
    assert_eq!(
        r.events,
        [
            (ms(32000), TxEvent::Timeout { key }),
            (ms(32000), TxEvent::Terminated { key })
        ]
    );
    assert_eq!(l.len(), 0);
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn non_invite_client_timer_e_caps_at_t2_until_timer_f() {
    let mut l = layer();
    let t0 = Instant::now();
    let key = l
        .send_request(request(Method::Options, "z9hG4bKo1", 1), addr(UAS), t0)
        .expect("send");
    let _ = l.poll_transmit();
    let r = run(&mut l, t0, t0 + Duration::from_secs(100));
    assert_eq!(
        r.sent_ms(),
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        r.events,
        [
            (ms(32000), TxEvent::Timeout { key }),
            (ms(32000), TxEvent::Terminated { key })
        ]
    );
    assert!(l.is_empty());
}

#[test]
fn non_invite_client_proceeding_then_completed() {
    let mut l = layer();
    let t0 = Instant::now();
    let key = l
        .send_request(request(Method::Bye, "z9hG4bKb1", 2), addr(UAS), t0)
        .expect("send");
    let (_, bye) = transmits(&mut l).remove(0);
    assert_eq!(run(&mut l, t0, t0 + ms(700)).sent_ms(), [500]);
    l.handle_datagram(reply(&bye, 100, None), addr(UAS), t0 + ms(700));
    assert!(
        matches!(&events(&mut l)[..], [TxEvent::Response { key: k, msg }] if *k == key && msg.status() == Some(100))
    );
    let r = run(&mut l, t0, t0 + ms(10_000));
    assert_eq!(
        r.sent_ms(),
        [1500, 5500, 9500],
        "E resets to T2 in Proceeding"
    );
    l.handle_datagram(reply(&bye, 200, Some("b1")), addr(UAS), t0 + ms(10_000));
    assert!(
        matches!(&events(&mut l)[..], [TxEvent::Response { msg, .. }] if msg.status() == Some(200))
    );
    l.handle_datagram(reply(&bye, 200, Some("b1")), addr(UAS), t0 + ms(10_100));
    assert!(events(&mut l).is_empty(), "retransmitted final absorbed");
    let r = run(&mut l, t0, t0 + ms(60_000));
    assert!(r.sent.is_empty());
    assert_eq!(
        r.events,
        [(ms(15_000), TxEvent::Terminated { key })],
        "Timer K = T4"
    );
}

#[test]
fn invite_client_acks_non_2xx_itself() {
    let mut l = layer();
    let t0 = Instant::now();
    let key = l
        .send_request(invite("z9hG4bKi1"), addr(UAS), t0)
        .expect("send");
    let (_, inv) = transmits(&mut l).remove(0);
    l.handle_datagram(reply(&inv, 180, Some("b1")), addr(UAS), t0 + ms(100));
    assert!(
        matches!(&events(&mut l)[..], [TxEvent::Response { msg, .. }] if msg.status() == Some(180))
    );
    assert!(
        run(&mut l, t0, t0 + ms(5000)).sent.is_empty(),
        "no retransmission after a provisional"
    );
    l.handle_datagram(reply(&inv, 486, Some("b1")), addr(UAS), t0 + ms(5000));
    assert!(
        matches!(&events(&mut l)[..], [TxEvent::Response { key: k, msg }] if *k == key && msg.status() == Some(486))
    );
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    let (to, ack) = &sent[0];
    assert_eq!(*to, addr(UAS));
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.request_uri(), inv.request_uri());
    assert_eq!(
        ack.headers("Via").collect::<Vec<_>>(),
        inv.headers("Via").collect::<Vec<_>>()
    );
    assert_eq!(
        ack.top_via().and_then(|v| v.branch).as_deref(),
        Some("z9hG4bKi1")
    );
    assert_eq!(ack.to_tag().as_deref(), Some("b1"));
    assert_eq!(ack.header("From"), inv.header("From"));
    assert_eq!(ack.call_id(), inv.call_id());
    assert_eq!(ack.cseq(), Some((1, Method::Ack)));
    assert_eq!(ack.header("Route"), inv.header("Route"));
    assert_eq!(ack.max_forwards(), Some(70));
    assert!(ack.validate().is_ok());
    // a retransmitted final response is answered with the same ACK, and not reported
    l.handle_datagram(reply(&inv, 486, Some("b1")), addr(UAS), t0 + ms(5200));
    assert_eq!(transmits(&mut l), [(addr(UAS), ack.clone())]);
    assert!(events(&mut l).is_empty());
    let r = run(&mut l, t0, t0 + ms(100_000));
    assert_eq!(
        r.events,
        [(ms(37_000), TxEvent::Terminated { key })],
        "Timer D = 32 s"
    );
    assert!(l.is_empty());
}

#[test]
fn invite_client_2xx_accepted_then_stray() {
    let mut l = layer();
    let t0 = Instant::now();
    let key = l
        .send_request(invite("z9hG4bKi2"), addr(UAS), t0)
        .expect("send");
    let (_, inv) = transmits(&mut l).remove(0);
    let ok = reply(&inv, 200, Some("b2"));
    l.handle_datagram(ok.clone(), addr(UAS), t0 + ms(100));
    l.handle_datagram(ok.clone(), addr(UAS), t0 + ms(600));
    let ev = events(&mut l);
    assert_eq!(ev.len(), 2, "every 2xx reaches the TU while Accepted");
    assert!(
        ev.iter()
            .all(|e| matches!(e, TxEvent::Response { key: k, .. } if *k == key))
    );
    assert!(
        transmits(&mut l).is_empty(),
        "the ACK for a 2xx is the TU's"
    );
    let r = run(&mut l, t0, t0 + ms(100_000));
    assert_eq!(
        r.events,
        [(ms(32_100), TxEvent::Terminated { key })],
        "Timer M = 64*T1"
    );
    l.handle_datagram(ok.clone(), addr(UAS), t0 + ms(40_000));
    assert_eq!(
        events(&mut l),
        [TxEvent::StrayResponse {
            msg: ok,
            from: addr(UAS)
        }]
    );
}

#[test]
fn client_cancel_waits_for_a_provisional() {
    let mut l = layer();
    let t0 = Instant::now();
    let key = l
        .send_request(invite("z9hG4bKc1"), addr(UAS), t0)
        .expect("send");
    let (_, inv) = transmits(&mut l).remove(0);
    assert_eq!(
        l.cancel(key, Some(Reason::sip(487, Some("drop"))), t0 + ms(10)),
        Ok(None)
    );
    assert!(
        transmits(&mut l).is_empty(),
        "no CANCEL before a provisional response"
    );
    l.handle_datagram(reply(&inv, 100, None), addr(UAS), t0 + ms(200));
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    let cancel = &sent[0].1;
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.request_uri(), inv.request_uri());
    assert_eq!(cancel.top_via(), inv.top_via());
    assert_eq!(cancel.cseq(), Some((1, Method::Cancel)));
    assert_eq!(cancel.header("To"), inv.header("To"));
    assert_eq!(cancel.reasons(), [Reason::sip(487, Some("drop"))]);
    let _ = events(&mut l);
    l.handle_datagram(reply(cancel, 200, Some("b3")), addr(UAS), t0 + ms(300));
    let ev = events(&mut l);
    assert!(
        matches!(&ev[..], [TxEvent::Response { key: k, msg }] if *k != key && msg.cseq() == Some((1, Method::Cancel)))
    );
    l.handle_datagram(reply(&inv, 487, Some("b3")), addr(UAS), t0 + ms(400));
    assert!(
        matches!(&events(&mut l)[..], [TxEvent::Response { key: k, msg }] if *k == key && msg.status() == Some(487))
    );
    assert_eq!(transmits(&mut l)[0].1.method(), Some(&Method::Ack));
    assert_eq!(
        l.cancel(key, None, t0 + ms(500)),
        Err(TxSendError::InvalidState)
    );
    run(&mut l, t0, t0 + ms(100_000));
    assert!(l.is_empty());
}

#[test]
fn pending_cancel_dropped_when_final_comes_first() {
    let mut l = layer();
    let t0 = Instant::now();
    let key = l
        .send_request(invite("z9hG4bKc2"), addr(UAS), t0)
        .expect("send");
    let (_, inv) = transmits(&mut l).remove(0);
    assert_eq!(l.cancel(key, None, t0), Ok(None));
    l.handle_datagram(reply(&inv, 486, Some("x")), addr(UAS), t0 + ms(100));
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.method(), Some(&Method::Ack));
}

#[test]
fn cancelled_invite_without_final_times_out() {
    let mut l = layer();
    let t0 = Instant::now();
    let key = l
        .send_request(invite("z9hG4bKc3"), addr(UAS), t0)
        .expect("send");
    let (_, inv) = transmits(&mut l).remove(0);
    l.handle_datagram(reply(&inv, 180, Some("r")), addr(UAS), t0 + ms(100));
    let r = run(&mut l, t0, t0 + ms(200_000));
    assert!(
        r.events.is_empty() && r.sent.is_empty(),
        "Proceeding has no timer: the TU decides"
    );
    let now = t0 + ms(200_000);
    let ckey = l
        .cancel(key, None, now)
        .expect("cancel")
        .expect("sent at once");
    let r = run(&mut l, t0, now + ms(100_000));
    let at = now - t0 + ms(32_000);
    assert!(r.events.contains(&(at, TxEvent::Timeout { key })));
    assert!(r.events.contains(&(at, TxEvent::Timeout { key: ckey })));
    assert!(l.is_empty());
}

#[test]
fn invite_server_absorbs_retransmissions_and_repeats_last_response() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKs1");
    l.handle_datagram(inv.clone(), addr(UAC), t0);
    let ev = events(&mut l);
    let TxEvent::Request { key, msg, from } = &ev[0] else {
        panic!("{ev:?}")
    };
    let key = *key;
    assert_eq!(
        (ev.len(), *from, msg.method()),
        (1, addr(UAC), Some(&Method::Invite))
    );
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].0, sent[0].1.status()),
        (addr(UAC), Some(100)),
        "100 Trying at once"
    );
    l.handle_datagram(inv.clone(), addr(UAC), t0 + ms(500));
    assert!(events(&mut l).is_empty(), "retransmission absorbed");
    assert_eq!(transmits(&mut l)[0].1.status(), Some(100));
    l.send_response(key, reply(msg, 180, Some("s1")), t0 + ms(600))
        .expect("180");
    assert_eq!(transmits(&mut l).len(), 1);
    l.handle_datagram(inv.clone(), addr(UAC), t0 + ms(1000));
    assert_eq!(transmits(&mut l)[0].1.status(), Some(180));
    l.send_response(key, reply(msg, 486, Some("s1")), t0 + ms(2000))
        .expect("486");
    assert_eq!(transmits(&mut l)[0].1.status(), Some(486));
    l.handle_datagram(inv.clone(), addr(UAC), t0 + ms(2100));
    assert_eq!(transmits(&mut l)[0].1.status(), Some(486));
    assert!(events(&mut l).is_empty());
    assert_eq!(
        l.send_response(key, reply(msg, 500, None), t0 + ms(2200)),
        Err(TxSendError::InvalidState)
    );
    let r = run(&mut l, t0, t0 + ms(100_000));
    assert_eq!(
        r.sent_ms(),
        [
            2500, 3500, 5500, 9500, 13500, 17500, 21500, 25500, 29500, 33500
        ],
        "Timer G doubles from T1 and caps at T2"
    );
    assert!(r.sent.iter().all(|(_, to, _)| *to == addr(UAC)));
    assert_eq!(
        r.events,
        [
            (ms(34_000), TxEvent::Timeout { key }),
            (ms(34_000), TxEvent::Terminated { key })
        ]
    );
    assert!(l.is_empty());
}

#[test]
fn invite_server_ack_for_non_2xx_confirms() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_datagram(invite("z9hG4bKs2"), addr(UAC), t0);
    let TxEvent::Request { key, msg, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    let _ = transmits(&mut l);
    let busy = reply(&msg, 486, Some("s2"));
    l.send_response(key, busy.clone(), t0).expect("486");
    let _ = transmits(&mut l);
    let r = run(&mut l, t0, t0 + ms(700));
    assert_eq!(r.sent_ms(), [500]);
    let ack = build_ack(&invite("z9hG4bKs2"), &busy);
    l.handle_datagram(ack.clone(), addr(UAC), t0 + ms(700));
    l.handle_datagram(ack, addr(UAC), t0 + ms(800));
    assert!(
        events(&mut l).is_empty(),
        "the ACK of a non-2xx stays in the transaction"
    );
    let r = run(&mut l, t0, t0 + ms(100_000));
    assert!(r.sent.is_empty(), "no retransmission once Confirmed");
    assert_eq!(
        r.events,
        [(ms(5700), TxEvent::Terminated { key })],
        "Timer I = T4"
    );
}

#[test]
fn invite_server_2xx_retransmitted_until_ack() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKs3");
    l.handle_datagram(inv.clone(), addr(UAC), t0);
    let TxEvent::Request { key, msg, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    let _ = transmits(&mut l);
    l.send_response(key, reply(&msg, 200, Some("s3")), t0)
        .expect("200");
    let (_, ok) = transmits(&mut l).remove(0);
    let r = run(&mut l, t0, t0 + ms(4000));
    assert_eq!(r.sent_ms(), [500, 1500, 3500]);
    let mut ack = request(Method::Ack, "z9hG4bKnewbranch", 1);
    ack.set_to_tag("s3");
    l.handle_datagram(ack.clone(), addr(UAC), t0 + ms(4000));
    let ev = events(&mut l);
    assert!(
        matches!(&ev[..], [TxEvent::Ack { key: Some(k), msg, .. }] if *k == key && msg.method() == Some(&Method::Ack))
    );
    l.handle_datagram(ack, addr(UAC), t0 + ms(4100));
    l.handle_datagram(inv, addr(UAC), t0 + ms(4200));
    assert!(
        events(&mut l).is_empty(),
        "duplicate ACK and INVITE absorbed"
    );
    assert!(transmits(&mut l).is_empty());
    assert_eq!(ok.status(), Some(200));
    let r = run(&mut l, t0, t0 + ms(100_000));
    assert!(r.sent.is_empty(), "2xx retransmission stopped by the ACK");
    assert_eq!(
        r.events,
        [(ms(32_000), TxEvent::Terminated { key })],
        "Timer L, no AckTimeout"
    );
}

#[test]
fn invite_server_2xx_without_ack_reports_ack_timeout() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_datagram(invite("z9hG4bKs4"), addr(UAC), t0);
    let TxEvent::Request { key, msg, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    l.send_response(key, reply(&msg, 200, Some("s4")), t0)
        .expect("200");
    let _ = transmits(&mut l);
    let r = run(&mut l, t0, t0 + ms(100_000));
    assert_eq!(
        r.sent_ms(),
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        r.events,
        [
            (ms(32_000), TxEvent::AckTimeout { key }),
            (ms(32_000), TxEvent::Terminated { key })
        ]
    );
    let mut late = request(Method::Ack, "z9hG4bKlate", 1);
    late.set_to_tag("s4");
    l.handle_datagram(late, addr(UAC), t0 + ms(40_000));
    assert!(matches!(
        &events(&mut l)[..],
        [TxEvent::Ack { key: None, .. }]
    ));
}

#[test]
fn cancel_finds_its_invite() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_datagram(invite("z9hG4bKs5"), addr(UAC), t0);
    let TxEvent::Request {
        key: ikey,
        msg: inv,
        ..
    } = events(&mut l).remove(0)
    else {
        panic!()
    };
    let _ = transmits(&mut l);
    let cancel = build_cancel(&invite("z9hG4bKs5"));
    l.handle_datagram(cancel.clone(), addr(UAC), t0 + ms(100));
    let TxEvent::Request {
        key: ckey,
        msg: creq,
        ..
    } = events(&mut l).remove(0)
    else {
        panic!()
    };
    assert_ne!(ckey, ikey, "CANCEL is its own transaction");
    assert!(transmits(&mut l).is_empty(), "no automatic 100 for CANCEL");
    assert_eq!(l.find_invite_for_cancel(&creq), Some(ikey));
    assert_eq!(l.find_invite_for_cancel(&cancel), Some(ikey));
    assert_eq!(
        l.find_invite_for_cancel(&build_cancel(&invite("z9hG4bKother"))),
        None
    );
    let mut elsewhere = cancel.clone();
    elsewhere.set_header("Via", "SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKs5");
    assert_eq!(
        l.find_invite_for_cancel(&elsewhere),
        None,
        "sent-by must match too"
    );
    assert_eq!(l.find_invite_for_cancel(&inv), Some(ikey));
    l.send_response(ckey, reply(&creq, 200, Some("s5")), t0 + ms(100))
        .expect("200 CANCEL");
    l.send_response(ikey, reply(&inv, 487, Some("s5")), t0 + ms(100))
        .expect("487 INVITE");
    let sent = transmits(&mut l);
    assert_eq!(
        sent.iter().map(|(_, m)| m.status()).collect::<Vec<_>>(),
        [Some(200), Some(487)]
    );
    assert_eq!(sent[0].1.cseq(), Some((1, Method::Cancel)));
    l.handle_datagram(
        build_ack(&invite("z9hG4bKs5"), &sent[1].1),
        addr(UAC),
        t0 + ms(200),
    );
    assert!(events(&mut l).is_empty());
    run(&mut l, t0, t0 + ms(100_000));
    assert!(l.is_empty());
}

#[test]
fn non_invite_server_absorbs_retransmitted_bye() {
    let mut l = layer();
    let t0 = Instant::now();
    let bye = request(Method::Bye, "z9hG4bKbye", 2);
    l.handle_datagram(bye.clone(), addr(UAC), t0);
    let TxEvent::Request { key, msg, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    assert!(transmits(&mut l).is_empty());
    l.handle_datagram(bye.clone(), addr(UAC), t0 + ms(500));
    assert!(
        events(&mut l).is_empty() && transmits(&mut l).is_empty(),
        "absorbed in Trying"
    );
    l.send_response(key, reply(&msg, 200, Some("b")), t0 + ms(600))
        .expect("200");
    let (_, ok) = transmits(&mut l).remove(0);
    l.handle_datagram(bye.clone(), addr(UAC), t0 + ms(1500));
    assert!(events(&mut l).is_empty());
    assert_eq!(
        transmits(&mut l),
        [(addr(UAC), ok)],
        "answered again with the final response"
    );
    let r = run(&mut l, t0, t0 + ms(100_000));
    assert!(
        r.sent.is_empty(),
        "no retransmission of non-INVITE responses"
    );
    assert_eq!(
        r.events,
        [(ms(32_600), TxEvent::Terminated { key })],
        "Timer J = 64*T1"
    );
    l.handle_datagram(bye, addr(UAC), t0 + ms(40_000));
    assert!(
        matches!(&events(&mut l)[..], [TxEvent::Request { .. }]),
        "after J a copy is new"
    );
}

#[test]
fn non_invite_server_forgotten_by_tu_ends() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_datagram(request(Method::Options, "z9hG4bKopt", 5), addr(UAC), t0);
    let TxEvent::Request { key, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    let r = run(&mut l, t0, t0 + ms(100_000));
    assert_eq!(r.events, [(ms(32_000), TxEvent::Terminated { key })]);
    assert_eq!(
        l.send_response(key, Message::response(200, "OK"), t0),
        Err(TxSendError::NoSuchTransaction)
    );
}

#[test]
fn received_and_rport_decide_where_responses_go() {
    let mut l = layer();
    let t0 = Instant::now();
    let src = addr("198.51.100.7:40000");
    let mut inv = invite("z9hG4bKnat");
    inv.set_header(
        "Via",
        "SIP/2.0/UDP client.example.com:5070;rport;branch=z9hG4bKnat",
    );
    l.handle_datagram(inv, src, t0);
    let TxEvent::Request { msg, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    let via = msg.top_via().expect("via");
    assert_eq!(
        (via.received.as_deref(), via.rport),
        (Some("198.51.100.7"), Some(Some(40000)))
    );
    let (to, trying) = transmits(&mut l).remove(0);
    assert_eq!(to, src, "rport: back to the source port");
    assert_eq!(trying.top_via(), Some(via));
    let mut inv = invite("z9hG4bKnonat");
    inv.set_header(
        "Via",
        "SIP/2.0/UDP client.example.com:5070;branch=z9hG4bKnonat",
    );
    l.handle_datagram(inv, src, t0);
    let (to, trying) = transmits(&mut l).remove(0);
    assert_eq!(
        to,
        addr("198.51.100.7:5070"),
        "no rport: received address, sent-by port"
    );
    assert_eq!(
        trying.top_via().and_then(|v| v.received).as_deref(),
        Some("198.51.100.7")
    );
    let mut inv = invite("z9hG4bKsame");
    inv.set_header(
        "Via",
        "SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKsame, SIP/2.0/UDP p;branch=z9hG4bKp",
    );
    l.handle_datagram(inv.clone(), src, t0);
    let (to, trying) = transmits(&mut l).remove(0);
    assert_eq!(to, addr("198.51.100.7:5060"));
    assert_eq!(
        trying.header("Via"),
        inv.header("Via"),
        "Via untouched when sent-by is the source"
    );
    let v6 = addr("[2001:db8::9]:5062");
    let mut inv = invite("z9hG4bKv6");
    inv.set_header(
        "Via",
        "SIP/2.0/UDP [2001:db8::9]:5062;branch=z9hG4bKv6;rport",
    );
    l.handle_datagram(inv, v6, t0);
    let (to, trying) = transmits(&mut l).remove(0);
    assert_eq!(to, v6);
    let via = trying.top_via().expect("via");
    assert_eq!(
        (via.received.as_deref(), via.rport),
        (Some("2001:db8::9"), Some(Some(5062)))
    );
}

#[test]
fn malformed_input_is_answered_statelessly() {
    let mut l = layer();
    let t0 = Instant::now();
    let mut no_mf = request(Method::Options, "z9hG4bKm1", 1);
    no_mf.remove_header("Max-Forwards");
    l.handle_bytes(&no_mf.to_bytes(), addr(UAC), t0);
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, addr(UAC));
    assert_eq!(
        (sent[0].1.status(), sent[0].1.reason_phrase()),
        (Some(400), Some("Missing Max-Forwards header"))
    );
    assert!(sent[0].1.to_tag().is_some());
    assert_eq!(
        events(&mut l),
        [TxEvent::Malformed {
            from: addr(UAC),
            reason: "Missing Max-Forwards header".into()
        }]
    );
    assert!(l.is_empty());
    let badvers = String::from_utf8(no_mf.to_bytes()).expect("utf8").replacen(
        "SIP/2.0\r\n",
        "SIP/3.0\r\n",
        1,
    );
    l.handle_bytes(badvers.as_bytes(), addr(UAC), t0);
    assert_eq!(transmits(&mut l)[0].1.status(), Some(505));
    let _ = events(&mut l);
    l.handle_bytes(b"\r\n\r\n", addr(UAC), t0);
    assert!(
        events(&mut l).is_empty() && transmits(&mut l).is_empty(),
        "keep-alive ignored"
    );
    l.handle_bytes(b"\x16\x03\x01garbage", addr(UAC), t0);
    assert!(matches!(&events(&mut l)[..], [TxEvent::Malformed { .. }]));
    assert!(transmits(&mut l).is_empty());
    let mut bad_ack = request(Method::Ack, "z9hG4bKm2", 1);
    bad_ack.remove_header("From");
    l.handle_bytes(&bad_ack.to_bytes(), addr(UAC), t0);
    assert!(transmits(&mut l).is_empty(), "an ACK is never answered");
    let mut resp = reply(&request(Method::Options, "z9hG4bKm3", 1), 200, None);
    resp.remove_header("Call-ID");
    l.handle_datagram(resp, addr(UAS), t0);
    assert!(transmits(&mut l).is_empty());
    assert_eq!(events(&mut l).len(), 2);
}

#[test]
fn send_request_checks() {
    let mut l = layer();
    let t0 = Instant::now();
    let ack = request(Method::Ack, "z9hG4bKx", 1);
    assert_eq!(
        l.send_request(ack, addr(UAS), t0),
        Err(TxSendError::WrongMessage)
    );
    assert_eq!(
        l.send_request(Message::response(200, "OK"), addr(UAS), t0),
        Err(TxSendError::WrongMessage)
    );
    let mut no_via = invite("z9hG4bKx");
    no_via.remove_header("Via");
    assert_eq!(
        l.send_request(no_via, addr(UAS), t0),
        Err(TxSendError::MissingHeaders)
    );
    l.send_request(invite("z9hG4bKdup"), addr(UAS), t0)
        .expect("first");
    assert_eq!(
        l.send_request(invite("z9hG4bKdup"), addr(UAS), t0),
        Err(TxSendError::DuplicateBranch)
    );
    let mut no_branch = request(Method::Options, "x", 1);
    no_branch.set_header("Via", "SIP/2.0/UDP 192.0.2.10:5060");
    let key = l
        .send_request(no_branch, addr(UAS), t0)
        .expect("branch added");
    let branch = l
        .request(key)
        .and_then(|m| m.top_via())
        .and_then(|v| v.rfc3261_branch().map(str::to_string));
    assert!(branch.is_some());
    let _ = transmits(&mut l);
    // a response with the right branch but another CSeq method matches nothing
    let mut wrong = reply(&invite("z9hG4bKdup"), 200, Some("t"));
    wrong.set_header("CSeq", "1 CANCEL");
    l.handle_datagram(wrong, addr(UAS), t0);
    assert!(matches!(
        &events(&mut l)[..],
        [TxEvent::StrayResponse { .. }]
    ));
    assert_eq!(
        l.send_response(key, Message::response(200, "OK"), t0),
        Err(TxSendError::InvalidState)
    );
    assert_eq!(l.cancel(key, None, t0), Err(TxSendError::InvalidState));
}

#[test]
fn everything_is_forgotten_after_the_timers() {
    let mut l = layer();
    let t0 = Instant::now();
    for i in 0..40u32 {
        let t = t0 + ms(u64::from(i) * 37);
        // client side
        let k1 = l
            .send_request(invite(&format!("z9hG4bKnoans{i}")), addr(UAS), t)
            .expect("send");
        let k2 = l
            .send_request(invite(&format!("z9hG4bKbusy{i}")), addr(UAS), t)
            .expect("send");
        let k3 = l
            .send_request(invite(&format!("z9hG4bKok{i}")), addr(UAS), t)
            .expect("send");
        let k4 = l
            .send_request(
                request(Method::Options, &format!("z9hG4bKopt{i}"), i),
                addr(UAS),
                t,
            )
            .expect("send");
        let k5 = l
            .send_request(invite(&format!("z9hG4bKring{i}")), addr(UAS), t)
            .expect("send");
        let sent = transmits(&mut l);
        l.handle_datagram(reply(&sent[1].1, 486, Some("x")), addr(UAS), t + ms(5));
        l.handle_datagram(reply(&sent[2].1, 200, Some("y")), addr(UAS), t + ms(5));
        l.handle_datagram(reply(&sent[3].1, 200, Some("z")), addr(UAS), t + ms(5));
        l.handle_datagram(reply(&sent[4].1, 180, Some("w")), addr(UAS), t + ms(5));
        l.cancel(k5, None, t + ms(6)).expect("cancel");
        let _ = (k1, k2, k3, k4);
        // server side
        let mut keys = Vec::new();
        for (j, method) in [
            Method::Invite,
            Method::Invite,
            Method::Invite,
            Method::Options,
            Method::Bye,
        ]
        .into_iter()
        .enumerate()
        {
            let mut req = request(method, &format!("z9hG4bKsrv{i}x{j}"), 1);
            req.set_header("Call-ID", &format!("srv-{i}-{j}"));
            l.handle_datagram(req, addr(UAC), t);
        }
        for e in events(&mut l) {
            if let TxEvent::Request { key, msg, .. } = e {
                keys.push((key, msg));
            }
        }
        l.send_response(keys[0].0, reply(&keys[0].1, 486, Some("a")), t)
            .expect("486");
        l.send_response(keys[1].0, reply(&keys[1].1, 200, Some("b")), t)
            .expect("200");
        let mut ack = build_ack(&keys[1].1, &reply(&keys[1].1, 200, Some("b")));
        ack.set_header(
            "Via",
            &format!("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack{i}"),
        );
        l.handle_datagram(ack, addr(UAC), t + ms(50));
        l.send_response(keys[3].0, reply(&keys[3].1, 200, Some("c")), t)
            .expect("200");
        // keys[2] (INVITE) and keys[4] (BYE) stay unanswered for now
        l.send_response(keys[2].0, reply(&keys[2].1, 180, Some("d")), t)
            .expect("180");
        let _ = transmits(&mut l);
        let _ = events(&mut l);
    }
    assert!(l.len() > 300);
    // the unanswered INVITE server transactions need their TU: answer them late
    let mut guard = 0;
    let mut now = t0;
    while let Some(t) = l.poll_timeout() {
        guard += 1;
        assert!(guard < 100_000, "timers must run out");
        now = t;
        l.handle_timeout(t);
        let _ = transmits(&mut l);
        let _ = events(&mut l);
    }
    assert_eq!(
        l.len(),
        40,
        "only the INVITEs left ringing by their TU remain"
    );
    let ringing: Vec<TxKey> = (1..=l.next_key_for_tests())
        .map(TxKey)
        .filter(|k| l.request(*k).is_some())
        .collect();
    for key in ringing {
        let req = l.request(key).cloned().expect("alive");
        l.send_response(key, reply(&req, 487, Some("d")), now)
            .expect("487");
    }
    while let Some(t) = l.poll_timeout() {
        l.handle_timeout(t);
    }
    let _ = events(&mut l);
    assert!(l.is_empty());
    assert_eq!(l.internal_sizes(), [0, 0, 0, 0]);
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn reliable_provisional_doubles_without_cap_until_prack_timeout() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_datagram(invite("z9hG4bKr1"), addr(UAC), t0);
    let TxEvent::Request { key, msg, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    let _ = transmits(&mut l);
    let mut ringing = reply(&msg, 180, Some("r1"));
    ringing.add_header("RSeq", "1");
    ringing.add_header("Require", "100rel");
    l.send_reliable_provisional(key, ringing.clone(), t0)
        .expect("180");
    assert_eq!(transmits(&mut l).len(), 1);
    assert_eq!(
        l.send_reliable_provisional(key, ringing, t0),
        Err(TxSendError::InvalidState),
        "one unacknowledged reliable provisional at a time"
    );
    let r = run(&mut l, t0, t0 + ms(40_000));
    // T1 doubling past T2 (RFC 3262 §3): 500, 1500, 3500, 7500, 15500, 31500.
    assert_eq!(r.sent_ms(), [500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(r.events, [(ms(32_000), TxEvent::PrackTimeout { key })]);
    // The INVITE transaction lives on: the TU rejects it.
    l.send_response(key, reply(&msg, 500, Some("r1")), t0 + ms(32_000))
        .expect("5xx after the PRACK timeout");
}

#[test]
fn prack_stops_reliable_provisional_and_final_needs_no_prack() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_datagram(invite("z9hG4bKr2"), addr(UAC), t0);
    let TxEvent::Request { key, msg, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    let _ = transmits(&mut l);
    l.send_reliable_provisional(key, reply(&msg, 183, Some("r2")), t0)
        .expect("183");
    let _ = transmits(&mut l);
    let r = run(&mut l, t0, t0 + ms(1000));
    assert_eq!(r.sent_ms(), [500]);
    assert!(l.provisional_acked(key));
    assert!(!l.provisional_acked(key), "already acknowledged");
    let r = run(&mut l, t0, t0 + ms(60_000));
    assert!(r.sent.is_empty() && r.events.is_empty());
    // A second reliable provisional, then the 2xx before its PRACK: retransmissions of the
    // provisional stop, the 2xx's start.
    l.send_reliable_provisional(key, reply(&msg, 180, Some("r2")), t0 + ms(60_000))
        .expect("second reliable provisional");
    l.send_response(key, reply(&msg, 200, Some("r2")), t0 + ms(60_100))
        .expect("200");
    let _ = transmits(&mut l);
    let r = run(&mut l, t0, t0 + ms(61_000));
    assert_eq!(r.sent.len(), 1);
    let resent = Message::parse(&r.sent[0].2).expect("parses");
    assert_eq!(resent.status(), Some(200), "only the 2xx is retransmitted");
}
