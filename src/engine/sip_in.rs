//! What the engine does with SIP that arrives: parsing and the 400 for garbage, new
//! INVITEs (checks, the resource, `on_incoming`), ACK, BYE, CANCEL, OPTIONS,
//! re-INVITE, unsupported methods, and responses to our own requests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::call::state::{Direction, State};
use crate::sdp;
use crate::sdp::LocalMedia;
use crate::sip::new_tag;
use crate::sip::{Message, Method, StartLine, TxEvent, TxKey};

use super::call::{Call, SipLeg};
use super::clients::HeldEvents;
use super::sip_out::{ALLOW, SUPPORTED, without_tag};
use super::{Gateway, TimerKind, events};

impl Gateway {
    /// One datagram: the transaction layer parses it, validates it (answering broken
    /// requests 400/505 statelessly, dropping broken responses), absorbs
    /// retransmissions and reports the rest as events.
    pub(crate) fn sip_datagram(&mut self, data: &[u8], from: SocketAddr, now: Instant) {
        self.tx.handle_bytes(data, from, now);
    }

    /// Hand every transaction event to its handler.
    pub(crate) fn drain_tx(&mut self, now: Instant) {
        while let Some(ev) = self.tx.poll_event() {
            match ev {
                TxEvent::Request { key, msg, from } => self.on_request(key, msg, from, now),
                TxEvent::Response { key, msg } => self.on_response(key, msg, now),
                TxEvent::Timeout { key } => self.on_tx_timeout(key, now),
                TxEvent::Ack { key, msg, .. } => self.on_ack(key, msg, now),
                TxEvent::AckTimeout { key } => {
                    if let Some(&serial) = self.by_tx.get(&key) {
                        self.ack_timeout(serial, now);
                    }
                }
                TxEvent::StrayResponse { msg, .. } => self.on_stray_response(msg),
                TxEvent::Malformed { from, reason } => {
                    tracing::debug!("malformed SIP from {from}: {reason}");
                }
                TxEvent::Terminated { key } => {
                    self.by_tx.remove(&key);
                }
            }
        }
    }

    fn on_request(&mut self, key: TxKey, msg: Message, from: SocketAddr, now: Instant) {
        let Some(method) = msg.method().cloned() else {
            return;
        };
        if !self.cfg.sip.allow.iter().any(|n| n.contains(&from.ip())) {
            self.respond_tx(key, &msg, 403, "Forbidden", now);
            return;
        }
        let in_dialog = msg.to_tag().is_some();
        match method {
            Method::Invite if in_dialog => self.on_reinvite(key, msg, from, now),
            Method::Invite => self.on_new_invite(key, msg, from, now),
            Method::Bye => self.on_bye(key, msg, now),
            Method::Cancel => self.on_cancel(key, msg, now),
            Method::Options => {
                let mut r = Message::response_to(&msg, 200, "OK");
                if r.to_tag().is_none() {
                    r.set_to_tag(&new_tag());
                }
                r.add_header("Allow", ALLOW);
                r.add_header("Accept", "application/sdp");
                let _ = self.tx.send_response(key, r, now);
            }
            Method::Info if in_dialog => match self.dialog_of(&msg) {
                Some(serial) => {
                    self.respond_tx(key, &msg, 200, "OK", now);
                    if let Some(d) = info_digit(&msg) {
                        self.info_dtmf(serial, d, now);
                    }
                }
                None => self.respond_tx(key, &msg, 481, "Call/Transaction Does Not Exist", now),
            },
            Method::Ack => {} // a 2xx ACK arrives as TxEvent::Ack
            Method::Other(_) => self.respond_allow(key, &msg, 501, "Not Implemented", now),
            _ => self.respond_allow(key, &msg, 405, "Method Not Allowed", now),
        }
    }

    fn respond_allow(
        &mut self,
        key: TxKey,
        req: &Message,
        status: u16,
        reason: &str,
        now: Instant,
    ) {
        let mut r = Message::response_to(req, status, reason);
        if r.to_tag().is_none() {
            r.set_to_tag(&new_tag());
        }
        r.add_header("Allow", ALLOW);
        let _ = self.tx.send_response(key, r, now);
    }

    /// A final response through a server transaction, with a To tag where missing.
    pub(crate) fn respond_tx(
        &mut self,
        key: TxKey,
        req: &Message,
        status: u16,
        reason: &str,
        now: Instant,
    ) {
        let mut r = Message::response_to(req, status, reason);
        if r.to_tag().is_none() && status > 100 {
            r.set_to_tag(&new_tag());
        }
        let _ = self.tx.send_response(key, r, now);
    }

    /// The live dialog a request belongs to (Call-ID and our tag in To).
    fn dialog_of(&self, msg: &Message) -> Option<u64> {
        let serial = *self.by_call_id.get(msg.call_id()?)?;
        let call = self.calls.get(&serial)?;
        let ours = if msg.is_request() {
            msg.to_tag()
        } else {
            msg.from_tag()
        };
        (ours.as_deref() == Some(call.leg.local_tag.as_str())).then_some(serial)
    }

    fn on_new_invite(&mut self, key: TxKey, msg: Message, from: SocketAddr, now: Instant) {
        let unsupported = msg.unsupported_requires("Require", SUPPORTED);
        if !unsupported.is_empty() {
            let mut r = Message::response_to(&msg, 420, "Bad Extension");
            r.set_to_tag(&new_tag());
            r.add_header("Unsupported", &unsupported.join(", "));
            let _ = self.tx.send_response(key, r, now);
            return;
        }
        let call_id = msg.call_id().unwrap_or_default().to_string();
        if self.by_call_id.contains_key(&call_id) {
            // Same Call-ID, new transaction, no To tag: a merged or looped request.
            self.respond_tx(key, &msg, 482, "Loop Detected", now);
            return;
        }
        if self.draining {
            self.respond_tx(key, &msg, 503, "Service Unavailable", now);
            return;
        }
        if self.cfg.sip.max_calls > 0 && self.by_res.len() >= self.cfg.sip.max_calls {
            self.respond_tx(key, &msg, 503, "Service Unavailable", now);
            return;
        }
        let offer = if msg.body.is_empty() {
            None
        } else {
            match sdp::SessionDescription::parse_bytes(&msg.body) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.respond_tx(key, &msg, e.sip_status(), "Bad Request (SDP)", now);
                    return;
                }
            }
        };
        if let Some(o) = &offer
            && let Err(e) = sdp::SdpSession::new().answer(o, &LocalMedia::new(self.public_ip, 9))
        {
            let mut r = Message::response_to(&msg, e.sip_status(), "Not Acceptable Here");
            r.set_to_tag(&new_tag());
            r.add_header("Warning", &format!("304 mediagw \"{e}\""));
            let _ = self.tx.send_response(key, r, now);
            return;
        }
        let Some(owner) = self.clients.next_incoming() else {
            self.respond_tx(key, &msg, 480, "Temporarily Unavailable", now);
            return;
        };
        let serial = self.new_serial();
        let Some(port) = self.open_media(serial) else {
            self.respond_tx(key, &msg, 503, "Service Unavailable", now);
            return;
        };
        let res_id = self.res_id_for(serial, "sys.call");
        let from_value = msg.header("From").unwrap_or_default();
        let to_value = msg.header("To").unwrap_or_default();
        let contact = msg
            .contacts()
            .into_iter()
            .next()
            .map(|c| c.uri)
            .unwrap_or_else(|| msg.request_uri().unwrap_or_default().to_string());
        let route_set: Vec<String> = msg.headers("Record-Route").map(str::to_string).collect();
        let leg = SipLeg {
            call_id: call_id.clone(),
            local_tag: new_tag(),
            remote_tag: msg.from_tag(),
            local_uri: without_tag(to_value),
            remote_uri: without_tag(from_value),
            local_cseq: rand::random::<u16>() as u32 + 1,
            remote_cseq: msg.cseq().map(|c| c.0),
            remote_target: contact,
            route_set,
            peer: from,
            invite_tx: Some(key),
            invite: Some(msg.clone()),
            awaiting_ack: None,
            ack_bytes: None,
            cancelled: false,
            reinvite_pending: false,
            bye_after_ack: None,
            sdp: sdp::SdpSession::new(),
        };
        let call = Call {
            serial,
            res_id: res_id.clone(),
            dir: Direction::Inbound,
            state: State::Initiated,
            from_uri: uri_of(from_value),
            to_uri: uri_of(to_value),
            begin_time: self.unix(now),
            answer_time: None,
            user_data: None,
            owner: Some(owner),
            held: HeldEvents::default(),
            owner_generation: 0,
            max_answer_seconds: None,
            max_ring_seconds: 0,
            rtp_port: Some(port),
            leg,
            gateway: None,
            parent: None,
            answer_begin: None,
            media: None,
            released: false,
            dial_done: true,
            ringing: false,
            offer,
            action: None,
            action_begin: 0,
            collect_generation: 0,
            pending_release: None,
        };
        let params = events::on_incoming(&call, self.process_id);
        self.calls.insert(serial, call);
        self.by_res.insert(res_id, serial);
        self.by_call_id.insert(call_id, serial);
        self.by_tx.insert(key, serial);
        self.emit(serial, "on_incoming", params);
    }

    fn on_reinvite(&mut self, key: TxKey, msg: Message, _from: SocketAddr, now: Instant) {
        let Some(serial) = self.dialog_of(&msg) else {
            self.respond_tx(key, &msg, 481, "Call/Transaction Does Not Exist", now);
            return;
        };
        if !self.check_cseq(serial, &msg) {
            self.respond_tx(key, &msg, 500, "Server Internal Error", now);
            return;
        }
        let Some(call) = self.calls.get(&serial) else {
            return;
        };
        if call.released || call.leg.awaiting_ack.is_some() || !call.state.is_answered() {
            // RFC 3261 §14.2: an INVITE while ours is unfinished gets 491.
            let mut r = Message::response_to(&msg, 491, "Request Pending");
            r.set_to_tag(&call.leg.local_tag.clone());
            let _ = self.tx.send_response(key, r, now);
            return;
        }
        let local = LocalMedia::new(self.public_ip, call.rtp_port.unwrap_or(9));
        let contact = self.contact();
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let answer = if msg.body.is_empty() {
            Ok((call.leg.sdp.offer(&local), None))
        } else {
            sdp::SessionDescription::parse_bytes(&msg.body)
                .and_then(|o| call.leg.sdp.answer(&o, &local))
                .map(|(a, m)| (a, Some(m)))
        };
        let local_tag = call.leg.local_tag.clone();
        let (answer, media) = match answer {
            Ok(x) => x,
            Err(e) => {
                let mut r = Message::response_to(&msg, e.sip_status(), "Not Acceptable Here");
                r.set_to_tag(&local_tag);
                let _ = self.tx.send_response(key, r, now);
                return;
            }
        };
        if let Some(m) = media {
            call.media = Some(m);
        }
        call.leg.reinvite_pending = true;
        call.leg.awaiting_ack = Some(key);
        if let Some(ct) = msg.contacts().into_iter().next() {
            call.leg.remote_target = ct.uri;
        }
        self.by_tx.insert(key, serial);
        self.push_remote(serial);
        let mut r = Message::response_to(&msg, 200, "OK");
        r.set_to_tag(&local_tag);
        r.add_header("Contact", &contact);
        r.add_header("Allow", ALLOW);
        r.add_header("Content-Type", "application/sdp");
        r.body = answer.to_string().into_bytes();
        let _ = self.tx.send_response(key, r, now);
    }

    /// RFC 3261 §12.2.2: a lower CSeq than the last one is out of order.
    fn check_cseq(&mut self, serial: u64, msg: &Message) -> bool {
        let Some((n, _)) = msg.cseq() else {
            return false;
        };
        let Some(call) = self.calls.get_mut(&serial) else {
            return false;
        };
        match call.leg.remote_cseq {
            Some(last) if n < last => false,
            _ => {
                call.leg.remote_cseq = Some(n);
                true
            }
        }
    }

    fn on_bye(&mut self, key: TxKey, msg: Message, now: Instant) {
        let Some(serial) = self.dialog_of(&msg) else {
            self.respond_tx(key, &msg, 481, "Call/Transaction Does Not Exist", now);
            return;
        };
        self.respond_tx(key, &msg, 200, "OK", now);
        let end = self.unix(now);
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        call.leg.awaiting_ack = None;
        if call.released {
            return;
        }
        let cause = msg
            .reasons()
            .into_iter()
            .find(|r| r.protocol.eq_ignore_ascii_case("SIP"))
            .and_then(|r| r.cause)
            .unwrap_or(200);
        if call.state == State::Answer {
            // BYE before our 2xx was ACKed: the answer failed.
            let begin = call.answer_begin.unwrap_or(call.begin_time);
            let p =
                events::on_answer_completed(call, Some("caller hung up before ACK"), begin, end);
            self.emit(serial, "on_answer_completed", p);
        }
        if matches!(
            call_dir_state(self, serial),
            Some((Direction::Outbound, false))
        ) {
            self.complete_dial(serial, Some("hung up by the far end"), now);
        }
        self.release(serial, "usr", cause, now);
    }

    fn on_cancel(&mut self, key: TxKey, msg: Message, now: Instant) {
        let Some(invite_key) = self.tx.find_invite_for_cancel(&msg) else {
            self.respond_tx(key, &msg, 481, "Call/Transaction Does Not Exist", now);
            return;
        };
        self.respond_tx(key, &msg, 200, "OK", now);
        let Some(&serial) = self.by_tx.get(&invite_key) else {
            return;
        };
        let Some(call) = self.calls.get(&serial) else {
            return;
        };
        // Only an INVITE without a final response can be cancelled.
        if call.released || call.state != State::Initiated {
            return;
        }
        self.respond_invite(serial, 487, "Request Terminated", |_| {}, now);
        self.release(serial, "usr", 487, now);
    }

    /// An ACK for a 2xx we sent (initial answer or re-INVITE).
    fn on_ack(&mut self, key: Option<TxKey>, msg: Message, now: Instant) {
        let t_now = self.unix(now);
        let Some(serial) = self.dialog_of(&msg) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        match (call.leg.awaiting_ack, key) {
            (Some(a), Some(k)) if a == k => call.leg.awaiting_ack = None,
            _ => return, // a retransmitted or unrelated ACK
        }
        if call.leg.reinvite_pending {
            call.leg.reinvite_pending = false;
            return;
        }
        if let Some(cause) = call.leg.bye_after_ack.take() {
            self.send_bye(serial, cause, None, now);
            return;
        }
        if call.released || call.state != State::Answer {
            return;
        }
        // Late offer: the ACK carries the answer to the offer in our 2xx.
        let mut late_answer = false;
        if call.media.is_none()
            && !msg.body.is_empty()
            && let Ok(answer) = sdp::SessionDescription::parse_bytes(&msg.body)
            && let Ok(m) = call.leg.sdp.accept_answer(&answer)
        {
            call.media = Some(m);
            late_answer = true;
        }
        let t = t_now;
        call.state = State::Idle;
        call.answer_time = Some(t);
        let begin = call.answer_begin.unwrap_or(t);
        let p = events::on_answer_completed(call, None, begin, t);
        let limit = call.max_answer_seconds;
        self.emit(serial, "on_answer_completed", p);
        if late_answer {
            self.push_remote(serial);
        }
        if let Some(secs) = limit {
            self.arm(
                serial,
                TimerKind::MaxAnswer,
                now + Duration::from_secs(secs),
            );
        }
    }

    /// Our 2xx was never ACKed within 64*T1.
    pub(crate) fn ack_timeout(&mut self, serial: u64, now: Instant) {
        let end = self.unix(now);
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        call.leg.awaiting_ack = None;
        if call.leg.reinvite_pending {
            // RFC 3261 §14.2: a re-INVITE 2xx without ACK ends the dialog.
            call.leg.reinvite_pending = false;
            if !call.released {
                self.send_bye(serial, 408, Some("no ACK for re-INVITE"), now);
                self.release(serial, "sys", 408, now);
            }
            return;
        }
        if let Some(cause) = call.leg.bye_after_ack.take() {
            self.send_bye(serial, cause, None, now);
            return;
        }
        if call.released || call.state != State::Answer {
            return;
        }
        let begin = call.answer_begin.unwrap_or(call.begin_time);
        let p = events::on_answer_completed(call, Some("no ACK received for 200 OK"), begin, end);
        self.emit(serial, "on_answer_completed", p);
        self.send_bye(serial, 408, Some("no ACK"), now);
        self.release(serial, "sys", 408, now);
    }

    fn on_stray_response(&mut self, msg: Message) {
        // A retransmitted 2xx to our INVITE after its transaction ended: ACK again.
        let is_invite_2xx = matches!(msg.start, StartLine::Response { status, .. } if (200..300).contains(&status))
            && msg.cseq().is_some_and(|(_, m)| m == Method::Invite);
        if !is_invite_2xx {
            return;
        }
        let Some(serial) = msg.call_id().and_then(|c| self.by_call_id.get(c)).copied() else {
            return;
        };
        if let Some(call) = self.calls.get(&serial)
            && let Some(bytes) = call.leg.ack_bytes.clone()
        {
            let to = call.leg.peer;
            self.push_sip(to, bytes);
        }
    }

    fn on_tx_timeout(&mut self, key: TxKey, now: Instant) {
        let Some(serial) = self.by_tx.remove(&key) else {
            return;
        };
        let Some(call) = self.calls.get(&serial) else {
            return;
        };
        if call.leg.invite_tx == Some(key) && call.dir == Direction::Outbound && !call.dial_done {
            self.fail_dial(
                serial,
                "no response from the far end (Timer B)",
                408,
                "sys",
                now,
            );
        }
    }
}

/// The DTMF digit a SIP INFO carries: `application/dtmf-relay` (`Signal=5`,
/// `Signal=10`/`11` for `*`/`#` as some gateways send) or `application/dtmf` (`5`).
pub fn info_digit(msg: &Message) -> Option<char> {
    let ct = msg
        .content_type()?
        .split(';')
        .next()?
        .trim()
        .to_ascii_lowercase();
    let body = std::str::from_utf8(&msg.body).ok()?;
    let raw = match ct.as_str() {
        "application/dtmf-relay" => body.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| v.trim().to_string())
        })?,
        "application/dtmf" => body.trim().to_string(),
        _ => return None,
    };
    match raw.as_str() {
        "10" => Some('*'),
        "11" => Some('#'),
        s if s.chars().count() == 1 => {
            let c = s.chars().next()?.to_ascii_uppercase();
            "0123456789*#ABCD".contains(c).then_some(c)
        }
        _ => None,
    }
}

fn call_dir_state(gw: &Gateway, serial: u64) -> Option<(Direction, bool)> {
    gw.calls.get(&serial).map(|c| (c.dir, c.dial_done))
}

/// The URI inside a From/To value (`"Bob" <sip:b@h>;tag=x` → `sip:b@h`).
pub fn uri_of(value: &str) -> String {
    crate::sip::NameAddr::parse(value)
        .map(|na| na.uri)
        .unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(ct: &str, body: &str) -> Message {
        let text = format!(
            "INFO sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 2 INFO\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Message::parse(text.as_bytes()).expect("parses")
    }

    #[test]
    fn info_dtmf_bodies() {
        assert_eq!(
            info_digit(&info(
                "application/dtmf-relay",
                "Signal=5\r\nDuration=160\r\n"
            )),
            Some('5')
        );
        assert_eq!(
            info_digit(&info(
                "application/dtmf-relay",
                "Signal= 11\r\nDuration=100\r\n"
            )),
            Some('#')
        );
        assert_eq!(
            info_digit(&info("application/dtmf-relay", "signal=*\r\n")),
            Some('*')
        );
        assert_eq!(info_digit(&info("application/dtmf", "a")), Some('A'));
        assert_eq!(info_digit(&info("application/dtmf", "x")), None);
        assert_eq!(info_digit(&info("text/plain", "5")), None);
        assert_eq!(
            info_digit(&info("application/dtmf-relay", "Duration=160\r\n")),
            None
        );
    }
}
