//! RFC 3261 §12 dialogs, sans-IO: the state a user agent keeps for one dialog (Call-ID,
//! tags, URIs, sequence numbers, remote target, route set), built from the request and
//! response that create it, and the requests it sends: every in-dialog request (BYE,
//! re-INVITE, UPDATE, INFO, PRACK) and the ACK for a 2xx take their Request-URI and
//! Route headers from here, with loose routing and the strict-routing fallback of
//! §12.2.1.1. Also the UAS rule of §12.1.1: the Record-Route of the request is copied,
//! in order, into every response that creates or belongs to the dialog.

use super::message::Message;
use super::method::Method;
use super::name_addr::NameAddr;
use super::uri::SipUri;

/// Early (created by a provisional response with a To tag) or confirmed (by a 2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
}

/// One dialog as one side of it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    /// The peer's tag (an outbound dialog learns it from the first response with one).
    pub remote_tag: Option<String>,
    /// Our From (UAC) or To (UAS) header value, without the tag.
    pub local_uri: String,
    /// The peer's From (UAS) or To (UAC) header value, without the tag.
    pub remote_uri: String,
    /// The CSeq number of the last request we sent in this dialog.
    pub local_cseq: u32,
    /// The CSeq number of the last request the peer sent (None: none yet).
    pub remote_cseq: Option<u32>,
    /// The peer's Contact URI: where in-dialog requests go (through the route set).
    pub remote_target: String,
    /// Route header values, in the order our requests carry them.
    pub route_set: Vec<String>,
    pub state: DialogState,
}

/// A request built for the dialog and the URI of its first hop (the first loose route, a
/// strict router in the Request-URI, or the remote target when there is no route set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogRequest {
    pub msg: Message,
    pub next_hop: String,
}

impl Dialog {
    /// The UAS side of the dialog `req` (an INVITE) creates, once we answer it with a tag
    /// (§12.1.1): the route set is the request's Record-Route in order, the remote target
    /// its Contact. `local_cseq` is where our own requests' numbering starts.
    pub fn uas(req: &Message, local_tag: &str, local_cseq: u32) -> Dialog {
        Dialog {
            call_id: req.call_id().unwrap_or_default().to_string(),
            local_tag: local_tag.to_string(),
            remote_tag: req.from_tag(),
            local_uri: without_tag(req.header("To").unwrap_or_default()),
            remote_uri: without_tag(req.header("From").unwrap_or_default()),
            local_cseq,
            remote_cseq: req.cseq().map(|c| c.0),
            remote_target: contact_uri(req)
                .unwrap_or_else(|| req.request_uri().unwrap_or_default().to_string()),
            route_set: req.headers("Record-Route").map(str::to_string).collect(),
            state: DialogState::Early,
        }
    }

    /// The UAC side before any response: what our INVITE `req` says, with no remote tag
    /// yet, the Request-URI as remote target and `preloaded` routes (an outbound proxy)
    /// as the route set, so a CANCEL or an early request goes where the INVITE went.
    pub fn uac(req: &Message) -> Dialog {
        Dialog {
            call_id: req.call_id().unwrap_or_default().to_string(),
            local_tag: req.from_tag().unwrap_or_default(),
            remote_tag: None,
            local_uri: without_tag(req.header("From").unwrap_or_default()),
            remote_uri: without_tag(req.header("To").unwrap_or_default()),
            local_cseq: req.cseq().map(|c| c.0).unwrap_or(1),
            remote_cseq: None,
            remote_target: req.request_uri().unwrap_or_default().to_string(),
            route_set: req.headers("Route").map(str::to_string).collect(),
            state: DialogState::Early,
        }
    }

    /// A response to our dialog-creating INVITE (§12.1.2, §13.2.2.4): a provisional with a
    /// To tag makes the dialog early, a 2xx confirms it. The route set is the response's
    /// Record-Route reversed, taken from the first response that creates the dialog and
    /// recomputed from the 2xx; the remote target is its Contact. A response with another
    /// To tag than the early dialog's (a fork) replaces it. Returns false when the
    /// response creates nothing (no To tag, or not a 1xx/2xx).
    pub fn uac_response(&mut self, resp: &Message) -> bool {
        let Some(status) = resp.status() else {
            return false;
        };
        let Some(tag) = resp.to_tag() else {
            return false;
        };
        if !(101..300).contains(&status) {
            return false;
        }
        let confirmed = status >= 200;
        if self.state == DialogState::Confirmed && self.remote_tag.as_deref() == Some(&tag) {
            return true;
        }
        let new_dialog = self.remote_tag.as_deref() != Some(&tag);
        if new_dialog || confirmed {
            self.route_set = resp
                .headers("Record-Route")
                .map(str::to_string)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
        }
        self.remote_tag = Some(tag);
        if let Some(c) = contact_uri(resp) {
            self.remote_target = c;
        }
        if confirmed {
            self.state = DialogState::Confirmed;
        }
        true
    }

    /// The UAS side is confirmed once its 2xx is sent.
    pub fn confirm(&mut self) {
        self.state = DialogState::Confirmed;
    }

    /// Target refresh (§12.2): a re-INVITE or UPDATE, or a 2xx to one we sent, carries the
    /// peer's new Contact.
    pub fn refresh_target(&mut self, msg: &Message) {
        if let Some(c) = contact_uri(msg) {
            self.remote_target = c;
        }
    }

    /// Whether `msg` belongs to this dialog: same Call-ID, our tag on our side and the
    /// peer's on theirs (a request before the peer's tag is known matches on Call-ID and
    /// our tag alone).
    pub fn matches(&self, msg: &Message) -> bool {
        if msg.call_id() != Some(self.call_id.as_str()) {
            return false;
        }
        let (ours, theirs) = if msg.is_request() {
            (msg.to_tag(), msg.from_tag())
        } else {
            (msg.from_tag(), msg.to_tag())
        };
        ours.as_deref() == Some(self.local_tag.as_str())
            && (self.remote_tag.is_none() || theirs == self.remote_tag)
    }

    /// §12.2.2: a request whose CSeq is lower than the last one the peer sent is out of
    /// order (answered 500); otherwise its number is remembered.
    pub fn accept_remote_cseq(&mut self, req: &Message) -> bool {
        let Some((n, method)) = req.cseq() else {
            return false;
        };
        if method == Method::Ack {
            return true;
        }
        match self.remote_cseq {
            Some(last) if n < last => false,
            _ => {
                self.remote_cseq = Some(n);
                true
            }
        }
    }

    /// A new request in the dialog (§12.2.1.1) with the next CSeq. `via` is the whole Via
    /// value (a fresh branch), `contact` our Contact for requests that carry one.
    pub fn request(&mut self, method: Method, via: &str, contact: Option<&str>) -> DialogRequest {
        self.local_cseq += 1;
        let cseq = self.local_cseq;
        self.build(method, cseq, via, contact)
    }

    /// The ACK for a 2xx to our INVITE numbered `cseq` (§13.2.2.4): it takes the route set
    /// and remote target like any in-dialog request, but the INVITE's CSeq number.
    pub fn ack(&self, cseq: u32, via: &str, contact: Option<&str>) -> DialogRequest {
        self.build(Method::Ack, cseq, via, contact)
    }

    fn build(&self, method: Method, cseq: u32, via: &str, contact: Option<&str>) -> DialogRequest {
        let (ruri, routes) = self.target_and_routes();
        let mut m = Message::request(method.clone(), &ruri);
        m.add_header("Via", via);
        m.add_header("Max-Forwards", "70");
        m.add_header("From", &with_tag(&self.local_uri, Some(&self.local_tag)));
        m.add_header(
            "To",
            &with_tag(&self.remote_uri, self.remote_tag.as_deref()),
        );
        m.add_header("Call-ID", &self.call_id);
        m.add_header("CSeq", &format!("{cseq} {}", method.as_str()));
        for r in &routes {
            m.add_header("Route", r);
        }
        if let Some(c) = contact {
            m.add_header("Contact", c);
        }
        let next_hop = match routes.first() {
            Some(r) if self.first_route_is_loose() => route_uri(r),
            _ => ruri,
        };
        DialogRequest { msg: m, next_hop }
    }

    /// The Request-URI and Route headers of a request (§12.2.1.1): with no route set, the
    /// remote target and no Route; with a loose first route, the remote target and the
    /// whole route set; with a strict first route, that route's URI as Request-URI (its
    /// parameters not allowed there removed) and the rest of the route set followed by
    /// the remote target.
    fn target_and_routes(&self) -> (String, Vec<String>) {
        match self.route_set.first() {
            Some(first) if !self.first_route_is_loose() => {
                let mut rest: Vec<String> = self.route_set[1..].to_vec();
                rest.push(format!("<{}>", self.remote_target));
                (request_uri_form(&route_uri(first)), rest)
            }
            _ => (self.remote_target.clone(), self.route_set.clone()),
        }
    }

    fn first_route_is_loose(&self) -> bool {
        self.route_set.first().is_none_or(|r| {
            SipUri::parse(&route_uri(r))
                .map(|u| u.is_loose_route())
                .unwrap_or(false)
        })
    }
}

/// §12.1.1: the Record-Route header lines of `req`, in order and unchanged (unknown
/// parameters included), copied into `resp`, a response that creates or belongs to the
/// dialog. Any Record-Route `resp` already has is replaced.
pub fn copy_record_route(req: &Message, resp: &mut Message) {
    resp.remove_header("Record-Route");
    for h in req.headers.iter().filter(|h| h.name == "Record-Route") {
        resp.add_header("Record-Route", &h.value);
    }
}

/// The URI of a Route or Record-Route value (`<sip:p1;lr>;x=1` → `sip:p1;lr`).
pub fn route_uri(route: &str) -> String {
    NameAddr::parse(route)
        .map(|na| na.uri)
        .unwrap_or_else(|_| route.trim().trim_matches(['<', '>']).to_string())
}

/// A URI as a Request-URI may carry it: RFC 3261 §19.1.1's table allows neither the
/// `method` parameter nor headers there (`lr` stays, so a router can tell).
fn request_uri_form(uri: &str) -> String {
    match uri.split_once('?') {
        Some((base, _headers)) => base,
        None => uri,
    }
    .split(';')
    .filter(|p| {
        !p.split('=')
            .next()
            .is_some_and(|k| k.trim().eq_ignore_ascii_case("method"))
    })
    .collect::<Vec<_>>()
    .join(";")
}

fn contact_uri(msg: &Message) -> Option<String> {
    msg.contacts().into_iter().next().map(|c| c.uri)
}

/// A From/To value with the tag set (or left without one).
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

#[cfg(test)]
mod tests;
