//! What the engine does with SIP that arrives: parsing and the 400 for garbage, new
//! INVITEs (checks, the resource, `on_incoming`), ACK, BYE, CANCEL, OPTIONS,
//! re-INVITE, unsupported methods, and responses to our own requests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::call::state::{CallDirection, State};
use crate::sdp;
use crate::sdp::LocalMedia;
use crate::sip::session_timer::{UasDecision, uas_decide};
use crate::sip::{Dialog, Message, Method, StartLine, TxEvent, TxKey};

use super::figures::Shed;
use super::resource::{Call, NewCall, SipLeg};
use super::sip_out::{ALLOW, SUPPORTED};
use super::{Gateway, TimerKind, events};
use crate::config::DenyAction;

impl Gateway {
    /// One datagram: the transaction layer parses it, validates it (answering broken
    /// requests 400/505 statelessly, dropping broken responses), absorbs
    /// retransmissions and reports the rest as events.
    ///
    /// Before that, two gates that cost little: a request from outside `sip.allow` is
    /// answered 403 statelessly (`sip.deny_action = "reject"`) or not at all (`"drop"`,
    /// without even parsing it), and never reaches a transaction or a call; a new INVITE
    /// past its source's rate (`sip.max_invites_per_second_per_source`) gets a stateless
    /// 503 with `Retry-After` (no transaction to retransmit it: a flood is not amplified).
    /// Responses pass: they only ever match our own client transactions.
    pub(crate) fn sip_datagram(&mut self, data: &[u8], from: SocketAddr, now: Instant) {
        let response = is_response(data);
        if !response && !self.allowed(from.ip()) {
            self.figures.sip_denied += 1;
            if self.cfg.sip.deny_action == DenyAction::Reject
                && let Ok(msg) = Message::parse(data)
            {
                self.tx.respond_stateless(&msg, from, 403, "Forbidden", &[]);
            }
            return;
        }
        if !response
            && data.starts_with(b"INVITE ")
            && self.cfg.sip.max_invites_per_second_per_source > 0
        {
            if let Ok(msg) = Message::parse(data) {
                let fresh = msg.to_tag().is_none() && !self.tx.has_server_transaction(&msg);
                if fresh && !self.pike.admit(from.ip(), now) {
                    self.figures.shed(Shed::RateLimit);
                    self.tx.respond_stateless(
                        &msg,
                        from,
                        503,
                        "Service Unavailable",
                        &[("Retry-After", RETRY_AFTER_SECONDS)],
                    );
                    return;
                }
                return self.tx.handle_datagram(msg, from, now);
            }
        }
        self.tx.handle_bytes(data, from, now);
    }

    /// The call a transaction event is about, if any.
    fn tx_event_call(&self, ev: &TxEvent) -> Option<u64> {
        match ev {
            TxEvent::Request { msg, .. } | TxEvent::Ack { msg, .. } => {
                msg.call_id().and_then(|c| self.by_call_id.get(c)).copied()
            }
            TxEvent::Response { key, .. }
            | TxEvent::Timeout { key }
            | TxEvent::AckTimeout { key }
            | TxEvent::PrackTimeout { key } => self.by_tx.get(key).copied(),
            _ => None,
        }
    }

    /// The span of the call a transaction event is about; for a request that belongs
    /// to no call yet, one with its Call-ID (a new INVITE's res_id is recorded in it
    /// once the call exists).
    fn tx_event_span(&self, ev: &TxEvent) -> tracing::Span {
        let serial = match ev {
            TxEvent::Request { msg, .. } | TxEvent::Ack { msg, .. } => {
                match msg.call_id().and_then(|c| self.by_call_id.get(c)) {
                    Some(&s) => Some(s),
                    None => {
                        return tracing::info_span!(
                            "call",
                            res_id = tracing::field::Empty,
                            call_id = msg.call_id().unwrap_or_default()
                        );
                    }
                }
            }
            TxEvent::Response { key, .. }
            | TxEvent::Timeout { key }
            | TxEvent::AckTimeout { key }
            | TxEvent::PrackTimeout { key } => self.by_tx.get(key).copied(),
            _ => None,
        };
        serial.map_or_else(tracing::Span::none, |s| self.call_span(s))
    }

    /// The configured gateway at the address a request came from (its host resolved as
    /// for dialling, and its port).
    pub(crate) fn gateway_at(&self, from: SocketAddr) -> Option<usize> {
        self.gateways
            .iter()
            .position(|g| crate::sip::resolve(&g.host, g.port) == Some(from))
    }

    /// Whether `ip` may send us requests (`sip.allow`).
    pub(crate) fn allowed(&self, ip: std::net::IpAddr) -> bool {
        self.cfg.sip.allow.iter().any(|n| n.contains(&ip))
    }

    /// Refuses a new INVITE for lack of capacity: 503 with `Retry-After`, counted.
    pub(crate) fn shed_invite(&mut self, key: TxKey, msg: &Message, why: Shed, now: Instant) {
        self.figures.shed(why);
        tracing::info!(
            call_id = msg.call_id().unwrap_or_default(),
            "INVITE refused with 503: {}",
            why.label()
        );
        let mut r = Message::response_to(msg, 503, "Service Unavailable");
        let tag = self.ids.tag();
        r.set_to_tag(&tag);
        r.add_header("Retry-After", RETRY_AFTER_SECONDS);
        let _ = self.tx.send_response(key, r, now);
    }

    /// Hand every transaction event to its handler.
    pub(crate) fn drain_tx(&mut self, now: Instant) {
        while let Some(ev) = self.tx.poll_event() {
            let serial = self.tx_event_call(&ev);
            let span = self.tx_event_span(&ev);
            let _in_span = span.enter();
            self.guarded(serial, "a SIP message", now, |gw| gw.on_tx_event(ev, now));
        }
    }

    /// One transaction event to its handler.
    fn on_tx_event(&mut self, ev: TxEvent, now: Instant) {
        {
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
                TxEvent::PrackTimeout { key } => {
                    if let Some(&serial) = self.by_tx.get(&key) {
                        self.prack_timeout(serial, now);
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
        #[cfg(debug_assertions)]
        self.maybe_fault(msg.header("X-Mediagw-Test"));
        let in_dialog = msg.to_tag().is_some();
        match method {
            Method::Invite if in_dialog => self.on_reinvite(key, msg, from, now),
            Method::Invite => self.on_new_invite(key, msg, from, now),
            Method::Bye => self.on_bye(key, msg, now),
            Method::Cancel => self.on_cancel(key, msg, now),
            Method::Options if self.draining => {
                // A dispatcher probing with OPTIONS stops sending us calls.
                let mut r = Message::response_to(&msg, 503, "Service Unavailable");
                let tag = self.ids.tag();
                r.set_to_tag(&tag);
                r.add_header("Retry-After", RETRY_AFTER_SECONDS);
                let _ = self.tx.send_response(key, r, now);
            }
            Method::Options => {
                let mut r = Message::response_to(&msg, 200, "OK");
                if r.to_tag().is_none() {
                    let tag = self.ids.tag();
                    r.set_to_tag(&tag);
                }
                r.add_header("Allow", ALLOW);
                r.add_header("Accept", crate::sip::body::ACCEPT);
                r.add_header("Supported", &SUPPORTED.join(", "));
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
            Method::Prack if in_dialog => self.on_prack(key, msg, now),
            Method::Update if in_dialog => self.on_update(key, msg, now),
            Method::Prack | Method::Update => {
                self.respond_tx(key, &msg, 481, "Call/Transaction Does Not Exist", now)
            }
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
            let tag = self.ids.tag();
            r.set_to_tag(&tag);
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
            let tag = self.ids.tag();
            r.set_to_tag(&tag);
        }
        let _ = self.tx.send_response(key, r, now);
    }

    /// The call whose dialog a message belongs to (Call-ID and both tags).
    pub(crate) fn dialog_of(&self, msg: &Message) -> Option<u64> {
        let serial = *self.by_call_id.get(msg.call_id()?)?;
        let call = self.calls.get(&serial)?;
        call.leg.dialog.matches(msg).then_some(serial)
    }

    fn on_new_invite(&mut self, key: TxKey, msg: Message, from: SocketAddr, now: Instant) {
        let unsupported = msg.unsupported_requires("Require", SUPPORTED);
        if !unsupported.is_empty() {
            let mut r = Message::response_to(&msg, 420, "Bad Extension");
            let tag = self.ids.tag();
            r.set_to_tag(&tag);
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
            return self.shed_invite(key, &msg, Shed::Draining, now);
        }
        if self.cfg.sip.max_calls > 0 && self.by_res.len() >= self.cfg.sip.max_calls {
            return self.shed_invite(key, &msg, Shed::MaxCalls, now);
        }
        // A call from a configured gateway counts against its max_concurrent, as the
        // calls we place through it do.
        let gateway = self.gateway_at(from);
        if let Some(g) = gateway.map(|i| &self.gateways[i])
            && g.max_concurrent > 0
            && g.active >= g.max_concurrent
        {
            return self.shed_invite(key, &msg, Shed::Gateway, now);
        }
        if let UasDecision::TooSmall { min_se } = uas_decide(&msg, self.timer_policy()) {
            let mut r = Message::response_to(&msg, 422, "Session Interval Too Small");
            let tag = self.ids.tag();
            r.set_to_tag(&tag);
            r.add_header("Min-SE", &min_se.to_string());
            let _ = self.tx.send_response(key, r, now);
            return;
        }
        let body = match crate::sip::body::sdp_of(&msg) {
            Ok(body) => body,
            Err(e) => {
                let mut r = e.response_to(&msg);
                let tag = self.ids.tag();
                r.set_to_tag(&tag);
                let _ = self.tx.send_response(key, r, now);
                return;
            }
        };
        let offer = match body {
            None => None,
            Some(body) => match sdp::SessionDescription::parse_bytes(body) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.respond_tx(key, &msg, e.sip_status(), "Bad Request (SDP)", now);
                    return;
                }
            },
        };
        if let Some(o) = &offer
            && let Err(e) =
                sdp::SdpSession::with_origin(1, 1).answer(o, &LocalMedia::new(self.public_ip, 9))
        {
            let mut r = Message::response_to(&msg, e.sip_status(), "Not Acceptable Here");
            let tag = self.ids.tag();
            r.set_to_tag(&tag);
            r.add_header("Warning", &format!("304 mediagw \"{e}\""));
            let _ = self.tx.send_response(key, r, now);
            return;
        }
        // The bus (when on) is offered every call first; it falls back to a WebSocket
        // client when no application claims it (`bus.rs`).
        let Some(owner) = self.bus.or_else(|| self.clients.next_incoming()) else {
            self.respond_tx(key, &msg, 480, "Temporarily Unavailable", now);
            return;
        };
        let serial = self.new_serial();
        let worker = self.pick_worker();
        // The ports are bound meanwhile: the call is offered at once, and an `answer`
        // that comes first waits for them (never the other way round).
        let port = match self.open_media(serial, worker) {
            Ok(p) => p,
            Err(why) => {
                tracing::warn!(call_id, "no media for the INVITE: {}", why.rpc().message);
                return self.shed_invite(key, &msg, why.shed(), now);
            }
        };
        let res_id = self.res_id_for(serial, "sys.call");
        let from_value = msg.header("From").unwrap_or_default();
        let to_value = msg.header("To").unwrap_or_default();
        let tag = self.ids.tag();
        let first_cseq = self.ids.number(1..1 << 16) as u32;
        let origin = self.ids.number(1..1 << 62);
        let dialog = Dialog::uas(&msg, &tag, first_cseq);
        let mut leg = SipLeg::new(dialog, from);
        leg.invite_tx = Some(key);
        leg.invite = Some(msg.clone());
        leg.sdp = sdp::SdpSession::with_origin(origin, 1);
        leg.peer_allows_update = allows_update(&msg);
        let mut call = Call::new(NewCall {
            serial,
            res_id: res_id.clone(),
            dir: CallDirection::Inbound,
            from_uri: uri_of(from_value),
            to_uri: uri_of(to_value),
            begin_time: self.unix(now),
            owner,
            rtp_port: port,
            leg,
            worker,
        });
        call.dial_done = true;
        call.offer = offer;
        call.gateway = gateway;
        if let Some(i) = gateway {
            self.gateways[i].active += 1;
        }
        let params = events::on_incoming(&call, self.process_id);
        tracing::Span::current().record("res_id", call.res_id.as_str());
        self.calls.insert(serial, call);
        self.by_res.insert(res_id, serial);
        self.by_call_id.insert(call_id, serial);
        self.by_tx.insert(key, serial);
        tracing::debug!(from = %from, "call offered");
        self.emit(serial, "on_incoming", params);
        self.send_ringing(serial, now);
    }

    fn on_reinvite(&mut self, key: TxKey, msg: Message, _from: SocketAddr, now: Instant) {
        let Some(serial) = self.dialog_of(&msg) else {
            self.respond_tx(key, &msg, 481, "Call/Transaction Does Not Exist", now);
            return;
        };
        if !self.accept_cseq(serial, &msg) {
            self.respond_in_dialog(serial, key, &msg, 500, "Server Internal Error", now);
            return;
        }
        let Some(call) = self.calls.get(&serial) else {
            return;
        };
        if call.released
            || call.leg.awaiting_ack.is_some()
            || !call.state.is_answered()
            || self.our_reinvite_pending(serial)
        {
            // RFC 3261 §14.2: an INVITE while ours is unfinished gets 491.
            self.respond_in_dialog(serial, key, &msg, 491, "Request Pending", now);
            return;
        }
        let timer = match uas_decide(&msg, self.timer_policy()) {
            UasDecision::TooSmall { min_se } => {
                self.refuse_too_small(serial, key, &msg, min_se, now);
                return;
            }
            d => d,
        };
        let body = match crate::sip::body::sdp_of(&msg) {
            Ok(body) => body,
            Err(e) => {
                let mut r = e.response_to(&msg);
                r.set_to_tag(&call.leg.dialog.local_tag.clone());
                let _ = self.tx.send_response(key, r, now);
                return;
            }
        };
        let local = LocalMedia::new(self.public_ip, call.rtp_port.unwrap_or(9));
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let answer = match body {
            None => Ok((call.leg.sdp.offer(&local), None)),
            Some(body) => sdp::SessionDescription::parse_bytes(body)
                .and_then(|o| call.leg.sdp.answer(&o, &local))
                .map(|(a, m)| (a, Some(m))),
        };
        let (answer, media) = match answer {
            Ok(x) => x,
            Err(e) => {
                let status = e.sip_status();
                self.respond_in_dialog(serial, key, &msg, status, "Not Acceptable Here", now);
                return;
            }
        };
        if let Some(m) = media {
            call.media = Some(m);
        }
        call.leg.reinvite_pending = true;
        call.leg.awaiting_ack = Some(key);
        call.leg.dialog.refresh_target(&msg);
        if allows_update(&msg) {
            call.leg.peer_allows_update = true;
        }
        self.by_tx.insert(key, serial);
        self.push_remote(serial, now);
        let body = answer.to_string().into_bytes();
        let session_headers = self.apply_session_decision(serial, timer, now);
        self.respond_in_dialog_with(
            serial,
            key,
            &msg,
            200,
            "OK",
            |r| {
                for (k, v) in session_headers {
                    r.add_header(k, &v);
                }
                r.add_header("Content-Type", "application/sdp");
                r.body = body;
            },
            now,
        );
    }

    /// §12.2.2 on the call's dialog.
    pub(crate) fn accept_cseq(&mut self, serial: u64, msg: &Message) -> bool {
        self.calls
            .get_mut(&serial)
            .is_some_and(|c| c.leg.dialog.accept_remote_cseq(msg))
    }

    fn on_bye(&mut self, key: TxKey, msg: Message, now: Instant) {
        let Some(serial) = self.dialog_of(&msg) else {
            self.respond_tx(key, &msg, 481, "Call/Transaction Does Not Exist", now);
            return;
        };
        self.respond_in_dialog(serial, key, &msg, 200, "OK", now);
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
            Some((CallDirection::Outbound, false))
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
            && let Ok(Some(body)) = crate::sip::body::sdp_of(&msg)
            && let Ok(answer) = sdp::SessionDescription::parse_bytes(body)
            && let Ok(m) = call.leg.sdp.accept_answer(&answer)
        {
            call.media = Some(m);
            late_answer = true;
        }
        let t = t_now;
        call.state = State::Idle;
        call.answer_time = Some(t);
        self.figures.count_setup(CallDirection::Inbound);
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let begin = call.answer_begin.unwrap_or(t);
        let p = events::on_answer_completed(call, None, begin, t);
        let limit = call.max_answer_seconds;
        self.emit(serial, "on_answer_completed", p);
        if late_answer {
            self.push_remote(serial, now);
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
            && let Some((to, bytes)) = call.leg.ack_bytes.clone()
        {
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
        if call.leg.refresh_tx == Some(key) {
            self.refresh_failed(serial, 408, now);
            return;
        }
        if call.leg.invite_tx == Some(key) && call.dir == CallDirection::Outbound && !call.dial_done
        {
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

/// `Retry-After` on a 503 for lack of capacity, seconds.
pub const RETRY_AFTER_SECONDS: &str = "5";

/// A SIP response (its start line), as opposed to a request; leading keep-alive CRLFs
/// are skipped.
fn is_response(data: &[u8]) -> bool {
    let start = data
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(data.len());
    data[start..].starts_with(b"SIP/")
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

/// Whether a message's Allow lists UPDATE.
pub fn allows_update(msg: &Message) -> bool {
    msg.headers("Allow")
        .any(|m| m.trim().eq_ignore_ascii_case("UPDATE"))
}

fn call_dir_state(gw: &Gateway, serial: u64) -> Option<(CallDirection, bool)> {
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
