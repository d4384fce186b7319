//! The sys.call methods as the engine carries them out: look up the resource, ask the
//! seed's state machine, act (SIP, timers, events), and answer. A refused request
//! changes nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::call_params::{CallAnswer, CallConstruct, CallDrop, CallRedirect, CallReject};
use crate::api::errors::RpcError;
use crate::api::methods::ApiRequest;
use crate::call::state::{self, CallDirection, Denied, Op, State};
use crate::sdp::{self, LocalMedia, SdpSession};
use crate::sip::session_timer::{UasDecision, uac_headers, uac_learn, uas_decide};
use crate::sip::{Dialog, Message, Method, resolve};

use super::clients::ConnId;
use super::figures::Shed;
use super::resource::{Call, MediaLink, NewCall, OpenWaiter, PreparedDial, SipLeg};
use super::sip_in::allows_update;
use super::sip_out::{ALLOW, SUPPORTED};
use super::{Gateway, TimerKind, events};
use crate::media_msg::MediaCommand;

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
                // On the bus, asking about a call claims it (a restarted application
                // instance's `exists` ends the orphan time; see `bus.rs`).
                if self.bus == Some(conn)
                    && let Some(&serial) = self.by_res.get(&p.res_id)
                {
                    self.take_ownership(serial, conn);
                }
                Ok(Value::Bool(self.by_res.contains_key(&p.res_id)))
            }
            R::CallAnswer(p) => self.answer(conn, p, now),
            R::CallReject(p) => self.reject(conn, p, now),
            R::CallRedirect(p) => self.redirect(conn, p, now),
            R::CallDrop(p) => self.drop_call(conn, p, now),
            R::CallPlayStart(p) => self.play_start(conn, p, now),
            R::CallPlayStop(p) => self.play_stop(conn, &p.res_id, now),
            R::CallRecordStart(p) => self.record_start(conn, p, now),
            R::CallRecordStop(p) => self.record_stop(conn, &p.res_id, now),
            R::CallSendDtmfStart(p) => self.send_dtmf_start(conn, p, now),
            R::CallReceiveDtmfStart(p) => self.receive_dtmf_start(conn, p, now),
            R::CallStopReceiveDtmfStart(p) => self.stop_receive_dtmf(conn, &p.res_id, now),
            R::CallConnectStart(p) => self.connect_start(conn, p, now),
            R::CallConnectStop(p) => self.connect_stop(conn, &p.res_id, now),
            R::CallConfEnter(p) => self.conf_enter(conn, p, now),
            R::CallConfExit(p) => self.conf_exit(conn, p, now),
            R::ConfConstruct(p) => self.conf_construct(conn, p, now),
            R::ConfExists(p) => Ok(Value::Bool(self.conf_exists(&p.res_id))),
            R::ConfRelease(p) => self.conf_release_req(conn, &p.res_id, now),
            R::ConfPlayStart(p) => self.conf_play_start(conn, p, now),
            R::ConfPlayStop(p) => self.conf_play_stop(conn, &p.res_id, now),
            R::ConfRecordStart(p) => self.conf_record_start(conn, p, now),
            R::ConfRecordStop(p) => self.conf_record_stop(conn, &p.res_id, now),
            R::ConfSetVoiceMode(p) => self.conf_set_voice_mode(conn, p, now),
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
        self.involve(serial);
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
        if call.waiting.is_some() && op != Op::Drop {
            // An answer waits for the call's ports: nothing else but a hang-up meanwhile.
            return Err(RpcError::bad_state(&call.res_id, State::Answer.name()));
        }
        state::admit(op, call.state, call.dir).map_err(|d| match d {
            Denied::State(s) => RpcError::bad_state(&call.res_id, s.name()),
            Denied::Forbidden(reason) => RpcError::not_allowed(reason),
        })
    }

    /// `answer`: at once when the call's ports are bound, else once they are (the SDP
    /// answer names the port).
    fn answer(&mut self, conn: ConnId, p: CallAnswer, now: Instant) -> Result<Value, RpcError> {
        let serial = self.lookup(conn, &p.res_id)?;
        self.admit(serial, Op::Answer)?;
        if self.calls[&serial].link == MediaLink::Open {
            return self.answer_now(serial, p, now);
        }
        let ticket = self.defer();
        if let Some(c) = self.calls.get_mut(&serial) {
            c.waiting = Some(OpenWaiter::Answer { ticket, params: p });
        }
        Ok(Value::Null)
    }

    /// Sends the 2xx with our SDP answer (or offer) for an answered inbound call.
    pub(crate) fn answer_now(
        &mut self,
        serial: u64,
        p: CallAnswer,
        now: Instant,
    ) -> Result<Value, RpcError> {
        self.admit(serial, Op::Answer)?;
        let local = LocalMedia::new(self.public_ip, self.calls[&serial].rtp_port.unwrap_or(9));
        let call = self.calls.get_mut(&serial).expect("admitted");
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
        let policy = self.timer_policy();
        let call = self.calls.get_mut(&serial).expect("admitted");
        call.state = State::Answer;
        call.answer_begin = Some(t);
        // (Test builds: a fault injected half-way through, the state already changed.)
        #[cfg(debug_assertions)]
        self.maybe_fault(p.user_data.as_deref());
        let call = self.calls.get_mut(&serial).expect("admitted");
        call.max_answer_seconds = Some(u64::from(p.max_answer_seconds));
        if p.user_data.is_some() {
            call.user_data = p.user_data;
        }
        call.media = media;
        let decision = call
            .leg
            .invite
            .as_ref()
            .map_or(UasDecision::None, |i| uas_decide(i, policy));
        self.push_remote(serial, now);
        let session_headers = self.apply_session_decision(serial, decision, now);
        self.respond_invite(
            serial,
            200,
            "OK",
            |r| {
                r.add_header("Allow", ALLOW);
                for (k, v) in session_headers {
                    r.add_header(k, &v);
                }
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
            (CallDirection::Outbound, _) if !call.dial_done => {
                self.fail_dial(
                    serial,
                    text.unwrap_or("cancelled by drop"),
                    cause,
                    dropped_by,
                    now,
                );
            }
            (CallDirection::Inbound, State::Initiated) => {
                let status = if (300..700).contains(&cause) {
                    cause
                } else {
                    603
                };
                self.respond_invite(serial, status, reason_phrase(status), |_| {}, now);
                self.release(serial, dropped_by, cause, now);
            }
            (CallDirection::Inbound, State::Answer) => {
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
        self.ring_done(serial, now);
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
            self.figures.shed(Shed::Draining);
            return Err(RpcError::no_capacity("the gateway is shutting down"));
        }
        if self.cfg.sip.max_calls > 0 && self.by_res.len() >= self.cfg.sip.max_calls {
            self.figures.shed(Shed::MaxCalls);
            return Err(RpcError::no_capacity("sip.max_calls reached"));
        }
        if p.parent_call_res_id.is_some() && p.parent_conf_res_id.is_some() {
            return Err(RpcError::invalid_param(
                "parent_conf_res_id",
                "parent_call_res_id and parent_conf_res_id cannot both be given",
            ));
        }
        let parent_conf = match &p.parent_conf_res_id {
            Some(id) => Some(self.conf_parent(conn, id)?),
            None => None,
        };
        let parent = match &p.parent_call_res_id {
            Some(id) => {
                let ps = self.lookup(conn, id)?;
                self.admit(ps, Op::DialFromParent)?;
                Some(ps)
            }
            None => None,
        };
        // The first URI whose gateway has room.
        let mut chosen = None;
        let mut unresolvable = None;
        for uri in &p.to_uri {
            let host = uri.host_unbracketed().to_ascii_lowercase();
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
            self.figures.shed(Shed::Gateway);
            return Err(RpcError::no_capacity(
                "every gateway in to_uri is at its max_concurrent",
            ));
        };
        let serial = self.new_serial();
        // A call dialled on a parent lives on the parent's worker: the parent hears it.
        let worker = match (parent, parent_conf) {
            (Some(ps), _) => self.calls[&ps].worker,
            (None, Some(cs)) => self.conf_worker(cs).unwrap_or(0),
            (None, None) => self.pick_worker(),
        };
        if let Some(ps) = parent {
            self.plan_ringback(
                serial,
                ps,
                p.ring_play_file.as_deref(),
                p.ring_play_mode,
                false,
            )?;
        }
        if let Some(cs) = parent_conf {
            self.plan_ringback(
                serial,
                cs,
                p.ring_play_file.as_deref(),
                p.ring_play_mode,
                true,
            )?;
        }
        let port = match self.open_media(serial, worker) {
            Ok(port) => port,
            Err(e) => {
                self.joins.dials.remove(&serial);
                self.figures.shed(e.shed());
                return Err(e.rpc());
            }
        };
        let res_id = self.res_id_for(serial, "sys.call");
        let to_uri = to.to_string();
        let from_uri = match &p.from_uri {
            Some(u) => u.to_string(),
            None => format!("sip:{}@{}", self.cfg.sip.contact_user, self.hostport()),
        };
        let hostport = self.hostport();
        let call_id = self.ids.call_id(&hostport);
        let local_tag = self.ids.tag();
        // Through sip.outbound_proxy: the INVITE goes there with a loose Route naming it,
        // the Request-URI stays the to_uri (RFC 3261 §8.1.2).
        let (dest, proxy_route) = match self.cfg.sip.outbound_proxy_addr() {
            Some(p) => (p, Some(format!("<sip:{p};lr>"))),
            None => (addr, None),
        };
        let branch = self.ids.branch();
        let mut invite = Message::request(Method::Invite, &to_uri);
        invite.add_header("Via", &self.via(&branch));
        if let Some(r) = &proxy_route {
            invite.add_header("Route", r);
        }
        invite.add_header("Max-Forwards", "70");
        invite.add_header("From", &format!("<{from_uri}>;tag={local_tag}"));
        invite.add_header("To", &format!("<{to_uri}>"));
        invite.add_header("Call-ID", &call_id);
        invite.add_header("CSeq", "1 INVITE");
        invite.add_header("Contact", &self.contact());
        invite.add_header("Allow", ALLOW);
        invite.add_header("Supported", &SUPPORTED.join(", "));
        if self.cfg.sip.session_expires > 0 {
            for (k, v) in uac_headers(self.cfg.sip.session_expires, None, self.cfg.sip.min_se) {
                invite.add_header(k, &v);
            }
        }
        let origin = self.ids.number(1..1 << 62);
        let mut leg = SipLeg::new(Dialog::uac(&invite), dest);
        leg.sdp = SdpSession::with_origin(origin, 1);
        let mut call = Call::new(NewCall {
            serial,
            res_id: res_id.clone(),
            dir: CallDirection::Outbound,
            from_uri,
            to_uri: to_uri.clone(),
            begin_time: self.unix(now),
            owner: conn,
            rtp_port: port,
            leg,
            worker,
        });
        call.user_data = p.user_data.clone();
        call.max_answer_seconds = Some(u64::from(p.max_answer_seconds));
        call.max_ring_seconds = u64::from(p.max_ring_seconds);
        call.gateway = slot;
        call.parent = parent;
        if let Some(i) = slot {
            self.gateways[i].active += 1;
        }
        if let Some(ps) = parent
            && let Some(pc) = self.calls.get_mut(&ps)
        {
            pc.state = State::Dial;
        }
        self.calls.insert(serial, call);
        self.by_call_id.insert(call_id, serial);
        self.involve(serial);
        // The INVITE offers the port: it goes, and construct is answered, once bound.
        let ticket = self.defer();
        if let Some(c) = self.calls.get_mut(&serial) {
            c.waiting = Some(OpenWaiter::Dial {
                ticket,
                dial: Box::new(PreparedDial { invite }),
            });
        }
        Ok(Value::Null)
    }

    /// The call's ports are bound: its INVITE goes out with the SDP offer, and the
    /// resource exists for the application from now on (construct's answer).
    pub(crate) fn send_invite(
        &mut self,
        serial: u64,
        dial: PreparedDial,
        now: Instant,
    ) -> Result<Value, RpcError> {
        let PreparedDial { mut invite } = dial;
        let call = self.calls.get_mut(&serial).expect("dialling");
        let port = call.rtp_port.unwrap_or(9);
        let offer = call.leg.sdp.offer(&LocalMedia::new(self.public_ip, port));
        invite.add_header("Content-Type", "application/sdp");
        invite.body = offer.to_string().into_bytes();
        let dest = call.leg.peer;
        let key = match self.tx.send_request(invite.clone(), dest, now) {
            Ok(k) => k,
            Err(e) => {
                self.discard_dial(serial, now);
                return Err(RpcError::internal(format!("INVITE not sent: {e}")));
            }
        };
        let call = self.calls.get_mut(&serial).expect("dialling");
        call.leg.invite_tx = Some(key);
        call.leg.invite = Some(invite);
        let res_id = call.res_id.clone();
        let to_uri = call.to_uri.clone();
        let user_data = call.user_data.clone();
        self.by_res.insert(res_id.clone(), serial);
        self.by_tx.insert(key, serial);
        tracing::debug!(to = %dest, "call dialled");
        Ok(json!({
            "res_id": res_id,
            "to_uri": to_uri,
            "user_data": user_data,
            "ipsc_info": events::ipsc_info(self.process_id, None),
        }))
    }

    /// An outbound call that never got its media and was never sent: it vanishes
    /// without a trace (its construct was answered with the error).
    pub(crate) fn discard_dial(&mut self, serial: u64, now: Instant) {
        self.joins.dials.remove(&serial);
        let Some(call) = self.calls.remove(&serial) else {
            return;
        };
        if let Some(p) = call.rtp_port {
            self.ports.release(p);
        }
        if let Some(g) = call.gateway
            && let Some(slot) = self.gateways.get_mut(g)
        {
            slot.active = slot.active.saturating_sub(1);
        }
        if let Some(ps) = call.parent
            && let Some(pc) = self.calls.get_mut(&ps)
            && pc.state == State::Dial
        {
            pc.state = State::Idle;
        }
        if self.by_call_id.get(&call.leg.dialog.call_id) == Some(&serial) {
            self.by_call_id.remove(&call.leg.dialog.call_id);
        }
        // Its worker may hold the port (bound after all): close it there.
        self.worker_load[call.worker] = self.worker_load[call.worker].saturating_sub(1);
        let worker = call.worker;
        self.deliver(worker, MediaCommand::Close { call: serial }, now);
    }

    /// A response to one of our client transactions: the INVITE of an outbound call
    /// (provisionals with PRACK where reliable, the 2xx confirming the dialog, a failure,
    /// or a 422 retried once), a session refresh, or a BYE, CANCEL or PRACK.
    pub(crate) fn on_response(&mut self, key: crate::sip::TxKey, msg: Message, now: Instant) {
        let t_now = self.unix(now);
        let Some(&serial) = self.by_tx.get(&key) else {
            return;
        };
        let Some(status) = msg.status() else { return };
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if call.leg.refresh_tx == Some(key)
            || (call.leg.invite_tx != Some(key)
                && msg.cseq().is_some_and(|c| c.1 == Method::Invite))
        {
            self.on_refresh_response(serial, key, &msg, now);
            if status >= 200 {
                self.by_tx.remove(&key);
            }
            return;
        }
        if call.leg.invite_tx != Some(key) {
            // BYE / CANCEL / PRACK answered: once a released call's BYE is answered, forget it.
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
            call.leg.dialog.uac_response(&msg);
            if call.released || call.leg.cancelled {
                return;
            }
            // Early media (a 183 with SDP): the far end's RTP can reach a parent now.
            let early_sdp = !msg.body.is_empty();
            if early_sdp
                && let Ok(m) = sdp::SessionDescription::parse_bytes(&msg.body)
                    .and_then(|a| call.leg.sdp.accept_answer(&a))
            {
                call.media = Some(m);
                self.push_remote(serial, now);
            }
            let Some(call) = self.calls.get_mut(&serial) else {
                return;
            };
            let first = !call.ringing;
            if first {
                call.ringing = true;
                call.state = State::Ring;
                let p = events::on_ringing(call, t_now);
                let ring = Duration::from_secs(call.max_ring_seconds);
                self.emit(serial, "on_ringing", p);
                self.arm(serial, TimerKind::MaxRing, now + ring);
            }
            self.prack_if_reliable(serial, &msg, now);
            self.ring_on_ringing(serial, status == 183 || early_sdp, now);
            return;
        }
        if status < 300 {
            call.leg.dialog.uac_response(&msg);
            call.leg.peer_allows_update = allows_update(&msg);
            let cseq = msg.cseq().map(|c| c.0).unwrap_or(1);
            self.send_ack_for_2xx(serial, cseq);
            let Some(call) = self.calls.get_mut(&serial) else {
                return;
            };
            if call.answer_time.is_some() {
                return; // a retransmitted 2xx: ACKed again, nothing else
            }
            if call.released || call.leg.cancelled {
                // Answered after we gave up (CANCEL crossed the 200): hang up, once.
                call.answer_time = Some(t_now);
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
            call.media = Some(media);
            call.state = State::Idle;
            call.answer_time = Some(t_now);
            let limit = call.max_answer_seconds;
            self.figures.count_setup(CallDirection::Outbound);
            self.push_remote(serial, now);
            self.restart_session_timer(serial, uac_learn(&msg), now);
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
        // 3xx-6xx: the transaction ACKs it; the dial failed (unless a 422 can be retried).
        if call.released {
            return;
        }
        if status == 422 && self.retry_invite_after_422(serial, &msg, now) {
            self.by_tx.remove(&key);
            return;
        }
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
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
