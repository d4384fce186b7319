//! Dialog state and in-dialog request construction: route sets through one, two and
//! three proxies, loose and strict routing, target refresh, forks and CSeq order.

use super::*;

fn parse(text: &str) -> Message {
    let text = text.replace('\n', "\r\n");
    Message::parse(text.as_bytes()).expect("parses")
}

/// An INVITE as it reaches the UAS through proxies that record-routed (`rr` lines in the
/// order the last proxy left them: nearest proxy first).
fn invite_via(rr: &[&str]) -> Message {
    let mut s = String::from(
        "INVITE sip:95588@10.0.0.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKp2\n\
         Via: SIP/2.0/UDP 10.0.0.8:5060;branch=z9hG4bKp1\n\
         Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKua\n\
         Max-Forwards: 68\n\
         From: \"Alice\" <sip:alice@carrier.example>;tag=a1\n\
         To: <sip:95588@10.0.0.1>\n\
         Call-ID: c1@10.9.9.9\n\
         CSeq: 7 INVITE\n\
         Contact: <sip:alice@10.9.9.9:5060;transport=udp>\n",
    );
    for r in rr {
        s.push_str(&format!("Record-Route: {r}\n"));
    }
    s.push_str("Content-Length: 0\n\n");
    parse(&s)
}

fn via() -> &'static str {
    "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKus;rport"
}

fn routes(m: &Message) -> Vec<String> {
    m.headers("Route").map(str::to_string).collect()
}

#[test]
fn uas_copies_record_route_in_order_into_responses() {
    for rr in [
        vec!["<sip:10.0.0.9;lr;ftag=a1>"],
        vec!["<sip:10.0.0.9;lr>", "<sip:10.0.0.8;lr;did=xy.1>"],
        vec![
            "<sip:10.0.0.9;lr>",
            "<sip:10.0.0.8:5070;lr;unknown=1;nat=yes>",
            "<sip:p3.example;lr>;foo=bar",
        ],
    ] {
        let inv = invite_via(&rr);
        let mut resp = Message::response_to(&inv, 200, "OK");
        copy_record_route(&inv, &mut resp);
        let got: Vec<&str> = resp.headers("Record-Route").collect();
        assert_eq!(got, rr, "every value, in order, unchanged");
        // ... and they survive serialisation.
        let again = Message::parse(&resp.to_bytes()).expect("reparse");
        assert_eq!(again.headers("Record-Route").collect::<Vec<_>>(), rr);
    }
}

#[test]
fn uas_keeps_two_values_on_one_line_as_one_line() {
    let inv = invite_via(&["<sip:10.0.0.9;lr>, <sip:10.0.0.8;lr>"]);
    let mut resp = Message::response_to(&inv, 180, "Ringing");
    copy_record_route(&inv, &mut resp);
    assert_eq!(resp.header_count("Record-Route"), 1);
    assert_eq!(
        resp.headers("Record-Route").collect::<Vec<_>>(),
        ["<sip:10.0.0.9;lr>", "<sip:10.0.0.8;lr>"]
    );
}

#[test]
fn uas_requests_follow_the_route_set_in_request_order() {
    let inv = invite_via(&["<sip:10.0.0.9;lr;ftag=a1>", "<sip:10.0.0.8;lr>"]);
    let mut d = Dialog::uas(&inv, "b2", 100);
    assert_eq!(d.remote_target, "sip:alice@10.9.9.9:5060;transport=udp");
    assert_eq!(d.remote_cseq, Some(7));
    let r = d.request(Method::Bye, via(), None);
    assert_eq!(
        r.msg.request_uri(),
        Some("sip:alice@10.9.9.9:5060;transport=udp")
    );
    assert_eq!(
        routes(&r.msg),
        ["<sip:10.0.0.9;lr;ftag=a1>", "<sip:10.0.0.8;lr>"]
    );
    assert_eq!(r.next_hop, "sip:10.0.0.9;lr;ftag=a1");
    assert_eq!(r.msg.cseq(), Some((101, Method::Bye)));
    assert_eq!(r.msg.from_tag().as_deref(), Some("b2"));
    assert_eq!(r.msg.to_tag().as_deref(), Some("a1"));
    assert!(r.msg.header("From").unwrap().contains("sip:95588@10.0.0.1"));
    assert!(r.msg.header("To").unwrap().contains("Alice"));
}

#[test]
fn without_a_route_set_requests_go_to_the_remote_target() {
    let inv = invite_via(&[]);
    let mut d = Dialog::uas(&inv, "b2", 1);
    let r = d.request(Method::Info, via(), Some("<sip:gw@10.0.0.1>"));
    assert!(routes(&r.msg).is_empty());
    assert_eq!(r.next_hop, "sip:alice@10.9.9.9:5060;transport=udp");
    assert_eq!(r.msg.header("Contact"), Some("<sip:gw@10.0.0.1>"));
}

#[test]
fn uac_route_set_is_the_2xx_record_route_reversed() {
    let inv = parse(
        "INVITE sip:bob@10.2.2.2 SIP/2.0\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\n\
         Max-Forwards: 70\n\
         From: <sip:gw@10.0.0.1>;tag=ours\n\
         To: <sip:bob@10.2.2.2>\n\
         Call-ID: out1\n\
         CSeq: 1 INVITE\n\
         Route: <sip:10.0.0.9:5070;lr>\n\
         Contact: <sip:gw@10.0.0.1:5060>\n\
         Content-Length: 0\n\n",
    );
    let mut d = Dialog::uac(&inv);
    assert_eq!(d.route_set, ["<sip:10.0.0.9:5070;lr>"], "preloaded");
    let ok = parse(
        "SIP/2.0 200 OK\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\n\
         Record-Route: <sip:p3.example;lr>\n\
         Record-Route: <sip:10.0.0.8;lr;x=y>, <sip:10.0.0.9:5070;lr;ftag=ours>\n\
         From: <sip:gw@10.0.0.1>;tag=ours\n\
         To: <sip:bob@10.2.2.2>;tag=theirs\n\
         Call-ID: out1\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:bob@10.2.2.2:5062>\n\
         Content-Length: 0\n\n",
    );
    assert!(d.uac_response(&ok));
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(
        d.route_set,
        [
            "<sip:10.0.0.9:5070;lr;ftag=ours>",
            "<sip:10.0.0.8;lr;x=y>",
            "<sip:p3.example;lr>"
        ]
    );
    let ack = d.ack(1, via(), None);
    assert_eq!(ack.msg.cseq(), Some((1, Method::Ack)));
    assert_eq!(ack.msg.request_uri(), Some("sip:bob@10.2.2.2:5062"));
    assert_eq!(routes(&ack.msg), d.route_set);
    assert_eq!(ack.next_hop, "sip:10.0.0.9:5070;lr;ftag=ours");
    assert_eq!(ack.msg.to_tag().as_deref(), Some("theirs"));
    let bye = d.request(Method::Bye, via(), None);
    assert_eq!(bye.msg.cseq(), Some((2, Method::Bye)));
    assert_eq!(routes(&bye.msg), d.route_set);
}

#[test]
fn uac_2xx_without_record_route_empties_the_preloaded_route() {
    let inv = parse(
        "INVITE sip:bob@10.2.2.2 SIP/2.0\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\n\
         From: <sip:gw@10.0.0.1>;tag=ours\n\
         To: <sip:bob@10.2.2.2>\n\
         Call-ID: out2\n\
         CSeq: 1 INVITE\n\
         Route: <sip:10.0.0.9:5070;lr>\n\
         Content-Length: 0\n\n",
    );
    let mut d = Dialog::uac(&inv);
    let ok = parse(
        "SIP/2.0 200 OK\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\n\
         From: <sip:gw@10.0.0.1>;tag=ours\n\
         To: <sip:bob@10.2.2.2>;tag=t\n\
         Call-ID: out2\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:bob@10.2.2.2:5062>\n\
         Content-Length: 0\n\n",
    );
    d.uac_response(&ok);
    assert!(d.route_set.is_empty());
    let bye = d.request(Method::Bye, via(), None);
    assert_eq!(bye.next_hop, "sip:bob@10.2.2.2:5062");
}

#[test]
fn early_dialog_from_18x_then_2xx_recomputes_the_route_set() {
    let inv = parse(
        "INVITE sip:bob@10.2.2.2 SIP/2.0\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\n\
         From: <sip:gw@10.0.0.1>;tag=ours\n\
         To: <sip:bob@10.2.2.2>\n\
         Call-ID: out3\n\
         CSeq: 1 INVITE\n\
         Content-Length: 0\n\n",
    );
    let mut d = Dialog::uac(&inv);
    let trying = parse(
        "SIP/2.0 100 Trying\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\n\
         From: <sip:gw@10.0.0.1>;tag=ours\n\
         To: <sip:bob@10.2.2.2>\n\
         Call-ID: out3\n\
         CSeq: 1 INVITE\n\
         Content-Length: 0\n\n",
    );
    assert!(!d.uac_response(&trying), "no tag: no dialog");
    let ringing = parse(
        "SIP/2.0 180 Ringing\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\n\
         Record-Route: <sip:10.0.0.8;lr>\n\
         From: <sip:gw@10.0.0.1>;tag=ours\n\
         To: <sip:bob@10.2.2.2>;tag=early\n\
         Call-ID: out3\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:bob@10.2.2.2:5062>\n\
         Content-Length: 0\n\n",
    );
    assert!(d.uac_response(&ringing));
    assert_eq!(d.state, DialogState::Early);
    assert_eq!(d.route_set, ["<sip:10.0.0.8;lr>"]);
    let prack = d.request(Method::Prack, via(), None);
    assert_eq!(prack.msg.to_tag().as_deref(), Some("early"));
    assert_eq!(prack.next_hop, "sip:10.0.0.8;lr");
    let ok = parse(
        "SIP/2.0 200 OK\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\n\
         Record-Route: <sip:10.0.0.8;lr>\n\
         Record-Route: <sip:10.0.0.7;lr>\n\
         From: <sip:gw@10.0.0.1>;tag=ours\n\
         To: <sip:bob@10.2.2.2>;tag=early\n\
         Call-ID: out3\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:bob@10.2.2.3:5064>\n\
         Content-Length: 0\n\n",
    );
    assert!(d.uac_response(&ok));
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.route_set, ["<sip:10.0.0.7;lr>", "<sip:10.0.0.8;lr>"]);
    assert_eq!(d.remote_target, "sip:bob@10.2.2.3:5064");
}

#[test]
fn a_fork_with_another_tag_replaces_the_early_dialog() {
    let inv = parse(
        "INVITE sip:bob@10.2.2.2 SIP/2.0\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\n\
         From: <sip:gw@10.0.0.1>;tag=ours\n\
         To: <sip:bob@10.2.2.2>\n\
         Call-ID: out4\n\
         CSeq: 1 INVITE\n\
         Content-Length: 0\n\n",
    );
    let mut d = Dialog::uac(&inv);
    let resp = |tag: &str, rr: &str, status: &str| {
        parse(&format!(
            "SIP/2.0 {status}\n\
             Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\n\
             Record-Route: {rr}\n\
             From: <sip:gw@10.0.0.1>;tag=ours\n\
             To: <sip:bob@10.2.2.2>;tag={tag}\n\
             Call-ID: out4\n\
             CSeq: 1 INVITE\n\
             Contact: <sip:bob@{tag}.example>\n\
             Content-Length: 0\n\n"
        ))
    };
    d.uac_response(&resp("one", "<sip:10.0.0.8;lr>", "180 Ringing"));
    d.uac_response(&resp("two", "<sip:10.0.0.6;lr>", "200 OK"));
    assert_eq!(d.remote_tag.as_deref(), Some("two"));
    assert_eq!(d.route_set, ["<sip:10.0.0.6;lr>"]);
    assert_eq!(d.remote_target, "sip:bob@two.example");
    // A retransmitted 2xx of the confirmed dialog changes nothing.
    d.uac_response(&resp("two", "<sip:10.0.0.5;lr>", "200 OK"));
    assert_eq!(d.route_set, ["<sip:10.0.0.6;lr>"]);
}

#[test]
fn strict_router_first_goes_into_the_request_uri() {
    let inv = invite_via(&["<sip:10.0.0.9;transport=udp>", "<sip:10.0.0.8;lr>"]);
    let mut d = Dialog::uas(&inv, "b2", 1);
    let r = d.request(Method::Bye, via(), None);
    assert_eq!(r.msg.request_uri(), Some("sip:10.0.0.9;transport=udp"));
    assert_eq!(
        routes(&r.msg),
        [
            "<sip:10.0.0.8;lr>",
            "<sip:alice@10.9.9.9:5060;transport=udp>"
        ]
    );
    assert_eq!(r.next_hop, "sip:10.0.0.9;transport=udp");
}

#[test]
fn strict_router_alone_puts_the_remote_target_last() {
    let inv = invite_via(&["<sip:strict.example;method=INVITE>"]);
    let mut d = Dialog::uas(&inv, "b2", 1);
    let r = d.request(Method::Bye, via(), None);
    assert_eq!(r.msg.request_uri(), Some("sip:strict.example"));
    assert_eq!(routes(&r.msg), ["<sip:alice@10.9.9.9:5060;transport=udp>"]);
}

#[test]
fn target_refresh_takes_the_new_contact() {
    let inv = invite_via(&["<sip:10.0.0.9;lr>"]);
    let mut d = Dialog::uas(&inv, "b2", 1);
    let reinvite = parse(
        "INVITE sip:95588@10.0.0.1 SIP/2.0\n\
         Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKr\n\
         From: <sip:alice@carrier.example>;tag=a1\n\
         To: <sip:95588@10.0.0.1>;tag=b2\n\
         Call-ID: c1@10.9.9.9\n\
         CSeq: 8 INVITE\n\
         Record-Route: <sip:10.0.0.77;lr>\n\
         Contact: <sip:alice@10.9.9.10:5090>\n\
         Content-Length: 0\n\n",
    );
    assert!(d.matches(&reinvite));
    assert!(d.accept_remote_cseq(&reinvite));
    d.refresh_target(&reinvite);
    assert_eq!(d.remote_target, "sip:alice@10.9.9.10:5090");
    // §12.2: a mid-dialog Record-Route does not change the route set.
    assert_eq!(d.route_set, ["<sip:10.0.0.9;lr>"]);
    let r = d.request(Method::Bye, via(), None);
    assert_eq!(r.msg.request_uri(), Some("sip:alice@10.9.9.10:5090"));
}

#[test]
fn out_of_order_cseq_and_foreign_tags() {
    let inv = invite_via(&[]);
    let mut d = Dialog::uas(&inv, "b2", 1);
    let req = |cseq: u32, to_tag: &str, from_tag: &str| {
        parse(&format!(
            "BYE sip:95588@10.0.0.1 SIP/2.0\n\
             Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK{cseq}\n\
             From: <sip:alice@carrier.example>;tag={from_tag}\n\
             To: <sip:95588@10.0.0.1>;tag={to_tag}\n\
             Call-ID: c1@10.9.9.9\n\
             CSeq: {cseq} BYE\n\
             Content-Length: 0\n\n"
        ))
    };
    assert!(d.matches(&req(8, "b2", "a1")));
    assert!(!d.matches(&req(8, "zz", "a1")), "not our tag");
    assert!(!d.matches(&req(8, "b2", "zz")), "not their tag");
    assert!(!d.accept_remote_cseq(&req(6, "b2", "a1")), "lower than 7");
    assert!(d.accept_remote_cseq(&req(7, "b2", "a1")));
    assert!(d.accept_remote_cseq(&req(9, "b2", "a1")));
    assert_eq!(d.remote_cseq, Some(9));
}
