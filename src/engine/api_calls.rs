//! The sys.call methods as the engine carries them out: look up the resource, ask the
//! seed's state machine, act (SIP, timers, events), and answer. A refused request
//! changes nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::call_params::{CallAnswer, CallConstruct, CallDrop, CallRedirect, CallReject};
use crate::api::errors::RpcError;
use crate::api::methods::ApiRequest;
use crate::call::state::{self, Denied, Direction, Op, State};
use crate::sdp::{self, LocalMedia, SdpSession};
use crate::sip::{Message, Method, new_branch, new_call_id, new_tag};

use super::call::{Call, SipLeg};
use super::clients::{ConnId, HeldEvents};
use super::sip_out::{ALLOW, resolve};
use super::{Gateway, TimerKind, events};

impl Gateway {
    /// Carry out one decoded request from `conn`.
    pub(crate) fn dispatch(
        &mut self,
        conn: ConnId,
        req: ApiRequest,
        now: Instant,
    ) -> Result<Value, RpcError> {
        use ApiRequest as R;
        match req {
            R::CallConstruct(p) => self.construct(conn, p, now),
            R::CallExists(p) => {
                self.collect_released(conn, &p.res_id);
                Ok(Value::Bool(self.by_res.contains_key(&p.res_id)))
            }
            R::CallAnswer(p) => self.answer(conn, p, now),
            R::CallReject(p) => self.reject(conn, p, now),
            R::CallRedirect(p) => self.redirect(conn, p, now),
            R::CallDrop(p) => self.drop_call(conn, p, now),
            R::CallPlayStart(p) => self.play_start(conn, p, now),
            R::CallPlayStop(p) => self.play_stop(conn, &p.res_id),
            R::CallRecordStart(p) => self.record_start(conn, p, now),
            R::CallRecordStop(p) => self.record_stop(conn, &p.res_id),
            R::CallSendDtmfStart(p) => self.send_dtmf_start(conn, p, now),
            R::CallReceiveDtmfStart(p) => self.receive_dtmf_start(conn, p, now),
            R::CallStopReceiveDtmfStart(p) => self.stop_receive_dtmf(conn, &p.res_id, now),
            R::CallConnectStart(p) => {
                self.lookup(conn, &p.call_res_id)?;
                self.media_op(conn, &p.res_id, Op::ConnectStart)
            }
            R::CallConnectStop(p) => self.media_op(conn, &p.res_id, Op::ConnectStop),
            R::CallConfEnter(p) => {
                self.lookup(conn, &p.res_id)?;
                Err(RpcError::no_such_resource(&p.conf_res_id))
            }
            R::CallConfExit(p) => {
                self.lookup(conn, &p.res_id)?;
                Err(RpcError::no_such_resource(&p.conf_res_id))
            }
            R::ConfExists(p) => {
                let _ = p;
                Ok(Value::Bool(false))
            }
            R::ConfConstruct(_) => Err(RpcError::no_capacity(
                "conferences are not available in this version",
            )),
            R::ConfRelease(p) | R::ConfPlayStop(p) | R::ConfRecordStop(p) => {
                Err(RpcError::no_such_resource(&p.res_id))
            }
            R::ConfPlayStart(p) => Err(RpcError::no_such_resource(&p.res_id)),
            R::ConfRecordStart(p) => Err(RpcError::no_such_resource(&p.res_id)),
            R::ConfSetVoiceMode(p) => Err(RpcError::no_such_resource(&p.res_id)),
        }
    }

    /// The live call `res_id`, made owned by `conn` (held events flushed to it).
    pub(crate) fn lookup(&mut self, conn: ConnId, res_id: &str) -> Result<u64, RpcError> {
        self.collect_released(conn, res_id);
        let serial = *self
            .by_res
            .get(res_id)
            .ok_or_else(|| RpcError::no_such_resource(res_id))?;
        self.take_ownership(serial, conn);
        Ok(serial)
    }

    /// A request on a released call whose events nobody took: they go to `conn` now.
    fn collect_released(&mut self, conn: ConnId, res_id: &str) {
        if let Some(serial) = self.released_held.remove(res_id) {
            self.take_ownership(serial, conn);
            self.forget(serial);
        }
    }

    /// Ask the state machine; map a refusal to -32002 / -32003.
    pub(crate) fn admit(&self, serial: u64, op: Op) -> Result<(), RpcError> {
        let call = &self.calls[&serial];
        state::admit(op, call.state, call.dir).map_err(|d| match d {
            Denied::State(s) => RpcError::bad_state(&call.res_id, s.name()),
            Denied::Forbidden(reason) => RpcError::not_allowed(reason),
        })
    }

    /// Connect and conference need the bridge/mixer, which is not built yet.
    fn media_op(&mut self, conn: ConnId, res_id: &str, op: Op) -> Result<Value, RpcError> {
        let serial = self.lookup(conn, res_id)?;
        self.admit(serial, op)?;
        Err(RpcError::not_allowed(
            "bridging (connect_start/connect_stop) is not available in this version",
        ))
    }

    fn answer(&mut self, conn: ConnId, p: CallAnswer, now: Instant) -> Result<Value, RpcError> {
        let serial = self.lookup(conn, &p.res_id)?;
        self.admit(serial, Op::Answer)?;
        let local = LocalMedia::new(self.public_ip, self.calls[&serial].rtp_port.unwrap_or(9));
        let call = self.calls.get_mut(&serial).expect("looked up");
        let (body, media) = match call.offer.take() {
            Some(offer) => {
                let r = call.leg.sdp.answer(&offer, &local);
                call.offer = Some(offer);
                let (a, m) = r.map_err(|e| {
                    RpcError::not_allowed(&format!("cannot answer the caller's SDP offer: {e}"))
                })?;
                (a.to_string(), Some(m))
            }
            None => (call.leg.sdp.offer(&local).to_string(), None),
        };
        let t = self.unix(now);
        let call = self.calls.get_mut(&serial).expect("looked up");
        call.state = State::Answer;
        call.answer_begin = Some(t);
        call.max_answer_seconds = Some(u64::from(p.max_answer_seconds));
        if p.user_data.is_some() {
            call.user_data = p.user_data;
        }
        call.media = media;
        self.push_remote(serial);
        self.respond_invite(
            serial,
            200,
            "OK",
            |r| {
                r.add_header("Allow", ALLOW);
                r.add_header("Content-Type", "application/sdp");
                r.body = body.into_bytes();
            },
            now,
        );
        Ok(Value::Null)
    }

    fn reject(&mut self, conn: ConnId, p: CallReject, now: Instant) -> Result<Value, RpcError> {
        let serial = self.lookup(conn, &p.res_id)?;
        self.admit(serial, Op::Reject)?;
        if let Some(c) = self.calls.get_mut(&serial)
            && p.user_data.is_some()
        {
            c.user_data = p.user_data;
        }
        self.respond_invite(serial, p.cause, reason_phrase(p.cause), |_| {}, now);
        self.release(serial, "sys", p.cause, now);
        Ok(Value::Null)
    }

    fn redirect(&mut self, conn: ConnId, p: CallRedirect, now: Instant) -> Result<Value, RpcError> {
        let serial = self.lookup(conn, &p.res_id)?;
        self.admit(serial, Op::Redirect)?;
        if let Some(c) = self.calls.get_mut(&serial)
            && p.user_data.is_some()
        {
            c.user_data = p.user_data;
        }
        let target = p.redirect_uri.to_string();
        self.respond_invite(
            serial,
            302,
            "Moved Temporarily",
            |r| {
                r.remove_header("Contact");
                r.add_header("Contact", &format!("<{target}>"));
            },
            now,
        );
        self.release(serial, "sys", 302, now);
        Ok(Value::Null)
    }

    fn drop_call(&mut self, conn: ConnId, p: CallDrop, now: Instant) -> Result<Value, RpcError> {
        let serial = self.lookup(conn, &p.res_id)?;
        self.admit(serial, Op::Drop)?;
        self.hang_up(serial, p.cause, "sys", None, now);
        Ok(Value::Null)
    }

    /// End a live call from our side, whatever its state: final response, CANCEL or
    /// BYE as the state needs, then `on_released`.
    pub(crate) fn hang_up(
        &mut self,
        serial: u64,
        cause: u16,
        dropped_by: &str,
        text: Option<&str>,
        now: Instant,
    ) {
        let Some(call) = self.calls.get(&serial) else {
            return;
        };
        if call.released {
            return;
        }
        match (call.dir, call.state) {
            (Direction::Outbound, _) if !call.dial_done => {
                self.fail_dial(
                    serial,
                    text.unwrap_or("cancelled by drop"),
                    cause,
                    dropped_by,
                    now,
                );
            }
            (Direction::Inbound, State::Initiated) => {
                let status = if (300..700).contains(&cause) {
                    cause
                } else {
                    603
                };
                self.respond_invite(serial, status, reason_phrase(status), |_| {}, now);
                self.release(serial, dropped_by, cause, now);
            }
            (Direction::Inbound, State::Answer) => {
                // RFC 3261 §15: no BYE before the ACK of our 2xx; send it when it comes.
                let begin = call.answer_begin.unwrap_or(call.begin_time);
                let end = self.unix(now);
                let p = events::on_answer_completed(
                    call,
                    Some("dropped before the ACK arrived"),
                    begin,
                    end,
                );
                self.emit(serial, "on_answer_completed", p);
                if let Some(c) = self.calls.get_mut(&serial) {
                    c.leg.bye_after_ack = Some(cause);
                }
                self.release(serial, dropped_by, cause, now);
            }
            _ => {
                self.send_bye(serial, cause, text, now);
                self.release(serial, dropped_by, cause, now);
            }
        }
    }

    /// An outbound dial ends without an answer: CANCEL if ringing, report, release.
    pub(crate) fn fail_dial(
        &mut self,
        serial: u64,
        error: &str,
        cause: u16,
        dropped_by: &str,
        now: Instant,
    ) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if call.leg.invite_tx.is_some() && !call.leg.cancelled {
            self.send_cancel(serial, cause, Some(error), now);
        }
        self.complete_dial(serial, Some(error), now);
        self.release(serial, dropped_by, cause, now);
    }

    /// Emit `on_dial_completed` once, and put a parent call back to `Idle`.
    pub(crate) fn complete_dial(&mut self, serial: u64, error: Option<&str>, now: Instant) {
        let end = self.unix(now);
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if call.dial_done {
            return;
        }
        call.dial_done = true;
        let p = events::on_dial_completed(call, error, end);
        let parent = call.parent;
        self.emit(serial, "on_dial_completed", p);
        if let Some(ps) = parent
            && let Some(pc) = self.calls.get_mut(&ps)
            && pc.state == State::Dial
        {
            pc.state = State::Idle;
        }
    }

    fn construct(
        &mut self,
        conn: ConnId,
        p: CallConstruct,
        now: Instant,
    ) -> Result<Value, RpcError> {
        if self.draining {
            return Err(RpcError::no_capacity("the gateway is shutting down"));
        }
        if self.cfg.sip.max_calls > 0 && self.by_res.len() >= self.cfg.sip.max_calls {
            return Err(RpcError::no_capacity("sip.max_calls reached"));
        }
        let parent = match &p.parent_call_res_id {
            Some(id) => {
                let ps = self.lookup(conn, id)?;
                self.admit(ps, Op::DialFromParent)?;
                Some(ps)
            }
            None => None,
        };
        if let Some(id) = &p.parent_conf_res_id {
            return Err(RpcError::no_such_resource(id));
        }
        // The first URI whose gateway has room.
        let mut chosen = None;
        let mut unresolvable = None;
        for uri in &p.to_uri {
            let host = uri.host.to_ascii_lowercase();
            let port = uri.port.unwrap_or(5060);
            let slot = self
                .gateways
                .iter()
                .position(|g| g.host == host && g.port == port);
            if let Some(i) = slot {
                let g = &self.gateways[i];
                if g.max_concurrent > 0 && g.active >= g.max_concurrent {
                    continue;
                }
            }
            match resolve(&host, port) {
                Some(addr) => {
                    chosen = Some((uri.clone(), slot, addr));
                    break;
                }
                None => unresolvable = Some(uri.to_string()),
            }
        }
        let Some((to, slot, addr)) = chosen else {
            if let Some(u) = unresolvable {
                return Err(RpcError::not_allowed(&format!(
                    "gateway host of {u} is not an IP address (DNS is not used)"
                )));
            }
            return Err(RpcError::no_capacity(
                "every gateway in to_uri is at its max_concurrent",
            ));
        };
        let serial = self.new_serial();
        let port = self
            .open_media(serial)
            .ok_or_else(|| RpcError::no_capacity("no free RTP port in media.rtp_ports"))?;
        let res_id = self.res_id_for(serial, "sys.call");
        let to_uri = to.to_string();
        let from_uri = match &p.from_uri {
            Some(u) => u.to_string(),
            None => format!("sip:{}@{}", self.cfg.sip.contact_user, self.hostport()),
        };
        let call_id = new_call_id(&self.hostport());
        let local_tag = new_tag();
        let mut sdp = SdpSession::new();
        let offer = sdp
            .offer(&LocalMedia::new(self.public_ip, port))
            .to_string();
        let mut invite = Message::request(Method::Invite, &to_uri);
        invite.add_header("Via", &self.via(&new_branch()));
        invite.add_header("Max-Forwards", "70");
        invite.add_header("From", &format!("<{from_uri}>;tag={local_tag}"));
        invite.add_header("To", &format!("<{to_uri}>"));
        invite.add_header("Call-ID", &call_id);
        invite.add_header("CSeq", "1 INVITE");
        invite.add_header("Contact", &self.contact());
        invite.add_header("Allow", ALLOW);
        invite.add_header("Content-Type", "application/sdp");
        invite.body = offer.into_bytes();
        let key = match self.tx.send_request(invite.clone(), addr, now) {
            Ok(k) => k,
            Err(e) => {
                self.ports.release(port);
                if let Some(m) = &self.media {
                    m.close_call(serial);
                }
                return Err(RpcError::internal(format!("INVITE not sent: {e}")));
            }
        };
        let leg = SipLeg {
            call_id: call_id.clone(),
            local_tag,
            remote_tag: None,
            local_uri: format!("<{from_uri}>"),
            remote_uri: format!("<{to_uri}>"),
            local_cseq: 1,
            remote_cseq: None,
            remote_target: to_uri.clone(),
            route_set: Vec::new(),
            peer: addr,
            invite_tx: Some(key),
            invite: Some(invite),
            awaiting_ack: None,
            ack_bytes: None,
            cancelled: false,
            reinvite_pending: false,
            bye_after_ack: None,
            sdp,
        };
        let call = Call {
            serial,
            res_id: res_id.clone(),
            dir: Direction::Outbound,
            state: State::Initiated,
            from_uri,
            to_uri: to_uri.clone(),
            begin_time: self.unix(now),
            answer_time: None,
            user_data: p.user_data.clone(),
            owner: Some(conn),
            held: HeldEvents::default(),
            owner_generation: 0,
            max_answer_seconds: Some(u64::from(p.max_answer_seconds)),
            max_ring_seconds: u64::from(p.max_ring_seconds),
            rtp_port: Some(port),
            leg,
            gateway: slot,
            parent,
            answer_begin: None,
            media: None,
            released: false,
            dial_done: false,
            ringing: false,
            offer: None,
            action: None,
            action_begin: 0,
            collect_generation: 0,
            pending_release: None,
        };
        if let Some(i) = slot {
            self.gateways[i].active += 1;
        }
        if let Some(ps) = parent
            && let Some(pc) = self.calls.get_mut(&ps)
        {
            pc.state = State::Dial;
        }
        self.calls.insert(serial, call);
        self.by_res.insert(res_id.clone(), serial);
        self.by_call_id.insert(call_id, serial);
        self.by_tx.insert(key, serial);
        Ok(json!({
            "res_id": res_id,
            "to_uri": to_uri,
            "user_data": p.user_data,
            "ipsc_info": events::ipsc_info(self.process_id, None),
        }))
    }

    /// A response to one of our client transactions.
    pub(crate) fn on_response(&mut self, key: crate::sip::TxKey, msg: Message, now: Instant) {
        let t_now = self.unix(now);
        let Some(&serial) = self.by_tx.get(&key) else {
            return;
        };
        let Some(status) = msg.status() else { return };
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if call.leg.invite_tx != Some(key) {
            // BYE / CANCEL answered: once a released call's BYE is answered, forget it.
            if status >= 200 {
                self.by_tx.remove(&key);
                if call.released && msg.cseq().is_some_and(|c| c.1 == Method::Bye) {
                    self.forget(serial);
                }
            }
            return;
        }
        if status < 200 {
            if status == 100 {
                return;
            }
            if let Some(tag) = msg.to_tag() {
                call.leg.remote_tag = Some(tag);
            }
            if !call.ringing && !call.released {
                call.ringing = true;
                call.state = State::Ring;
                let t = t_now;
                let p = events::on_ringing(call, t);
                let ring = Duration::from_secs(call.max_ring_seconds);
                self.emit(serial, "on_ringing", p);
                self.arm(serial, TimerKind::MaxRing, now + ring);
            }
            return;
        }
        if status < 300 {
            call.leg.remote_tag = msg.to_tag();
            if let Some(c) = msg.contacts().into_iter().next() {
                call.leg.remote_target = c.uri;
            }
            call.leg.route_set = msg
                .headers("Record-Route")
                .map(str::to_string)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let cseq = msg.cseq().map(|c| c.0).unwrap_or(1);
            self.send_ack_for_2xx(serial, cseq);
            let Some(call) = self.calls.get_mut(&serial) else {
                return;
            };
            if call.released || call.leg.cancelled {
                // Answered after we gave up (CANCEL crossed the 200): hang up.
                self.send_bye(serial, 487, Some("call was cancelled"), now);
                return;
            }
            let media = sdp::SessionDescription::parse_bytes(&msg.body)
                .and_then(|a| call.leg.sdp.accept_answer(&a));
            let Ok(media) = media else {
                self.send_bye(serial, 488, Some("no acceptable SDP answer"), now);
                self.complete_dial(serial, Some("488 no acceptable SDP answer"), now);
                self.release(serial, "sys", 488, now);
                return;
            };
            let t = t_now;
            call.media = Some(media);
            call.state = State::Idle;
            self.push_remote(serial);
            let Some(call) = self.calls.get_mut(&serial) else {
                return;
            };
            call.answer_time = Some(t);
            let limit = call.max_answer_seconds;
            self.complete_dial(serial, None, now);
            if let Some(secs) = limit {
                self.arm(
                    serial,
                    TimerKind::MaxAnswer,
                    now + Duration::from_secs(secs),
                );
            }
            return;
        }
        // 3xx-6xx: the transaction ACKs it; the dial failed.
        if call.released {
            return;
        }
        let reason = msg.reason_phrase().unwrap_or("").to_string();
        let error = format!("{status} {reason}").trim().to_string();
        call.leg.invite_tx = None;
        self.complete_dial(serial, Some(&error), now);
        self.release(serial, "usr", status, now);
    }
}

/// The standard reason phrase of a status code.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        c if c < 400 => "Redirection",
        c if c < 500 => "Client Error",
        c if c < 600 => "Server Error",
        _ => "Global Failure",
    }
}
