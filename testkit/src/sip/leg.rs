//! [`CallLeg`]: the calling side of one call placed by a test UA (RFC 3261 §12.1.2,
//! §13.2.2.4, §17.1.1.3), sans-IO: it builds the requests with the gateway's own
//! [`Message`] and learns the dialog from the responses it is shown. In-dialog requests
//! go to the address the INVITE went to. Without a Record-Route in the 2xx (the gateway
//! itself does not record-route) they keep the INVITE's Request-URI; behind a
//! record-routing proxy (§12.1.2) they carry the route set (the 2xx's Record-Route
//! reversed) as Route headers and the callee's Contact as Request-URI.

use std::net::SocketAddr;

use mediagw::sip::{Message, Method, NameAddr};

/// One call from `user@local` to `callee` at the gateway.
#[derive(Clone, Debug)]
pub struct CallLeg {
    local: SocketAddr,
    uri: String,
    from: String,
    call_id: String,
    from_tag: String,
    to_tag: Option<String>,
    cseq: u32,
    /// The 2xx's Record-Route reversed (empty: no proxy record-routed).
    route_set: Vec<String>,
    /// The 2xx's Contact URI (the Request-URI of in-dialog requests behind a proxy).
    remote_target: Option<String>,
}

/// A 200 OK to a request of the gateway (BYE, INFO, OPTIONS, UPDATE...).
pub fn ok_to(req: &Message) -> Message {
    Message::response_to(req, 200, "OK")
}

impl CallLeg {
    /// A call from `sip:{user}@{local}` to `sip:{callee}@{gw}`, identified by `call_id`
    /// and `from_tag` (both unique per call).
    pub fn new(
        local: SocketAddr,
        user: &str,
        callee: &str,
        gw: SocketAddr,
        call_id: &str,
        from_tag: &str,
    ) -> CallLeg {
        CallLeg {
            local,
            uri: format!("sip:{callee}@{gw}"),
            from: format!("sip:{user}@{local}"),
            call_id: call_id.to_string(),
            from_tag: from_tag.to_string(),
            to_tag: None,
            cseq: 1,
            route_set: Vec::new(),
            remote_target: None,
        }
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The gateway's tag, once a response carried one.
    pub fn to_tag(&self) -> Option<&str> {
        self.to_tag.as_deref()
    }

    /// The INVITE (CSeq 1) offering `sdp`.
    pub fn invite(&self, sdp: &str) -> Message {
        let mut m = self.base(Method::Invite, 1, None);
        m.add_header("Content-Type", "application/sdp");
        m.body = sdp.as_bytes().to_vec();
        m
    }

    /// Learns the gateway's tag from a 2xx to the INVITE, with the route set and remote
    /// target when a proxy record-routed; true the first time (a retransmitted 2xx is
    /// false). Each 2xx wants [`CallLeg::ack`].
    pub fn answered(&mut self, ok: &Message) -> bool {
        let first = self.to_tag.is_none();
        if let Some(tag) = ok.to_tag() {
            self.to_tag = Some(tag);
            if first {
                self.route_set = ok.headers("Record-Route").map(str::to_string).collect();
                self.route_set.reverse();
                self.remote_target = ok.contacts().first().map(|c| c.uri.clone());
            }
        }
        first && self.to_tag.is_some()
    }

    /// The route set learnt from the 2xx (the proxies that record-routed, nearest first).
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// The ACK of a 2xx to the INVITE (its own transaction, CSeq 1 ACK).
    pub fn ack(&self) -> Message {
        self.base(Method::Ack, 1, self.to_tag.as_deref())
    }

    /// The ACK of a final non-2xx response to the INVITE: part of the INVITE transaction
    /// (same branch), To as the response has it.
    pub fn ack_failure(&self, resp: &Message) -> Message {
        let mut m = self.base(Method::Ack, 1, None);
        m.set_header("Via", &self.via(&Method::Invite, 1));
        if let Some(to) = resp.header("To") {
            m.set_header("To", to);
        }
        m
    }

    /// The next in-dialog request (CSeq incremented), with an optional typed body.
    pub fn request(&mut self, method: Method, body: Option<(&str, &[u8])>) -> Message {
        self.cseq += 1;
        let mut m = self.base(method, self.cseq, self.to_tag.as_deref());
        if let Some((content_type, body)) = body {
            m.add_header("Content-Type", content_type);
            m.body = body.to_vec();
        }
        m
    }

    fn via(&self, method: &Method, cseq: u32) -> String {
        format!(
            "SIP/2.0/UDP {};branch=z9hG4bK{}-{}{cseq}",
            self.local,
            self.from_tag,
            method.as_str()
        )
    }

    fn base(&self, method: Method, cseq: u32, to_tag: Option<&str>) -> Message {
        let mut from = NameAddr::new(self.from.clone());
        from.set_tag(&self.from_tag);
        let mut to = NameAddr::new(self.uri.clone());
        if let Some(t) = to_tag {
            to.set_tag(t);
        }
        // In-dialog requests behind a record-routing proxy: to the remote target, along
        // the route set (the proxies are loose routers).
        let in_dialog = to_tag.is_some() && !self.route_set.is_empty();
        let uri = match (&self.remote_target, in_dialog) {
            (Some(t), true) => t.as_str(),
            _ => self.uri.as_str(),
        };
        let mut m = Message::request(method.clone(), uri);
        m.add_header("Via", &self.via(&method, cseq));
        if in_dialog {
            for r in &self.route_set {
                m.add_header("Route", r);
            }
        }
        m.add_header("Max-Forwards", "70");
        m.add_header("From", &from.to_string());
        m.add_header("To", &to.to_string());
        m.add_header("Call-ID", &self.call_id);
        m.add_header("CSeq", &format!("{cseq} {}", method.as_str()));
        m.add_header("Contact", &format!("<{}>", self.from));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg() -> CallLeg {
        CallLeg::new(
            "127.0.0.1:5070".parse().expect("addr"),
            "ua",
            "100",
            "127.0.0.1:5060".parse().expect("addr"),
            "c1@127.0.0.1",
            "t1",
        )
    }

    /// What the gateway's parser reads back from what the leg wrote.
    fn reparsed(m: &Message) -> Message {
        Message::parse(&m.to_bytes()).expect("the gateway parses what the leg builds")
    }

    #[test]
    fn invite_ack_and_bye_form_one_dialog() {
        let mut leg = leg();
        let inv = reparsed(&leg.invite("v=0\r\n"));
        assert_eq!(inv.method(), Some(&Method::Invite));
        assert_eq!(inv.request_uri(), Some("sip:100@127.0.0.1:5060"));
        assert_eq!(inv.from_tag().as_deref(), Some("t1"));
        assert_eq!(inv.to_tag(), None);
        assert_eq!(inv.call_id(), Some("c1@127.0.0.1"));
        assert_eq!(inv.cseq(), Some((1, Method::Invite)));
        assert_eq!(inv.content_type(), Some("application/sdp"));
        assert_eq!(inv.body, b"v=0\r\n");

        let mut ok = ok_to(&inv);
        ok.set_to_tag("gw7");
        assert!(leg.answered(&ok));
        assert!(
            !leg.answered(&ok),
            "a retransmitted 200 is not a new answer"
        );
        let ack = reparsed(&leg.ack());
        assert_eq!(ack.cseq(), Some((1, Method::Ack)));
        assert_eq!(ack.to_tag().as_deref(), Some("gw7"));
        assert_ne!(
            ack.top_via().and_then(|v| v.branch),
            inv.top_via().and_then(|v| v.branch),
            "the ACK of a 2xx is a transaction of its own"
        );
        let bye = reparsed(&leg.request(Method::Bye, None));
        assert_eq!(bye.cseq(), Some((2, Method::Bye)));
        assert_eq!(bye.to_tag().as_deref(), Some("gw7"));
        let info = reparsed(&leg.request(
            Method::Info,
            Some(("application/dtmf-relay", b"Signal=5\r\n")),
        ));
        assert_eq!(info.cseq(), Some((3, Method::Info)));
        assert_eq!(info.body, b"Signal=5\r\n");
    }

    #[test]
    fn behind_a_record_routing_proxy_in_dialog_requests_follow_the_route_set() {
        let mut leg = leg();
        let inv = reparsed(&leg.invite(""));
        let mut ok = ok_to(&inv);
        ok.set_to_tag("gw3");
        ok.add_header("Record-Route", "<sip:127.0.0.10;lr;ftag=t1>");
        ok.add_header("Record-Route", "<sip:127.0.0.11;lr>");
        ok.add_header("Contact", "<sip:node@127.0.0.3:5060>");
        assert!(leg.answered(&ok));
        assert_eq!(
            leg.route_set(),
            ["<sip:127.0.0.11;lr>", "<sip:127.0.0.10;lr;ftag=t1>"]
        );
        for m in [
            reparsed(&leg.ack()),
            reparsed(&leg.request(Method::Bye, None)),
        ] {
            assert_eq!(m.request_uri(), Some("sip:node@127.0.0.3:5060"), "{m:?}");
            let routes: Vec<&str> = m.headers("Route").collect();
            assert_eq!(
                routes,
                ["<sip:127.0.0.11;lr>", "<sip:127.0.0.10;lr;ftag=t1>"]
            );
        }
        let direct = {
            let mut l = self::leg();
            let mut ok = ok_to(&l.invite(""));
            ok.set_to_tag("gw4");
            ok.add_header("Contact", "<sip:node@127.0.0.3:5060>");
            l.answered(&ok);
            reparsed(&l.ack())
        };
        assert_eq!(
            direct.request_uri(),
            Some("sip:100@127.0.0.1:5060"),
            "no Record-Route: the INVITE's Request-URI, as before"
        );
        assert_eq!(direct.header_count("Route"), 0);
    }

    #[test]
    fn a_failure_is_acked_in_the_invite_transaction() {
        let leg = leg();
        let inv = reparsed(&leg.invite(""));
        let mut busy = Message::response_to(&inv, 486, "Busy Here");
        busy.set_to_tag("gw9");
        let ack = reparsed(&leg.ack_failure(&busy));
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(
            ack.top_via().and_then(|v| v.branch),
            inv.top_via().and_then(|v| v.branch)
        );
        assert_eq!(ack.to_tag().as_deref(), Some("gw9"));
        assert_eq!(ack.cseq(), Some((1, Method::Ack)));
    }

    #[test]
    fn ok_to_copies_the_dialog_headers() {
        let mut leg = leg();
        let bye = leg.request(Method::Bye, None);
        let ok = reparsed(&ok_to(&bye));
        assert_eq!(ok.status(), Some(200));
        assert_eq!(ok.call_id(), Some("c1@127.0.0.1"));
        assert_eq!(ok.cseq(), Some((2, Method::Bye)));
    }
}
