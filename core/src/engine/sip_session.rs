//! The INVITE session on top of a call's dialog: responses to in-dialog requests,
//! ringing and reliable provisionals with PRACK (RFC 3262) in both roles, UPDATE (RFC
//! 3311), session timers (RFC 4028: negotiation, our refreshes by UPDATE or re-INVITE,
//! and the end of a session whose refreshes stop), and the retry of an INVITE refused
//! with 422.

use std::time::{Duration, Instant};

use crate::call::state::State;
use crate::sdp::{self, LocalMedia};
use crate::sip::session_timer::{
    Refresher, SessionTimer, TimerPolicy, UasDecision, min_se_of, uac_headers, uac_learn,
    uas_decide,
};
use crate::sip::{Message, Method, TxKey, copy_record_route};

use super::sip_in::allows_update;
use super::sip_out::{ALLOW, SUPPORTED};
use super::{Gateway, TimerKind};

/// How long to wait before retrying a refresh refused with 491 (RFC 3261 §14.1 asks for
/// a random 2.1–4 s when we own the Call-ID, 0–2 s otherwise; the middle serves both).
const GLARE_RETRY: Duration = Duration::from_millis(2100);

impl Gateway {
    pub(crate) fn timer_policy(&self) -> TimerPolicy {
        TimerPolicy {
            session_expires: self.cfg.sip.session_expires,
            min_se: self.cfg.sip.min_se,
        }
    }

    /// A response to an in-dialog request of the call: a 2xx to a target refresh (INVITE,
    /// UPDATE) carries our Contact, Allow and Supported; every 1xx/2xx the request's
    /// Record-Route.
    pub(crate) fn respond_in_dialog(
        &mut self,
        serial: u64,
        key: TxKey,
        req: &Message,
        status: u16,
        reason: &str,
        now: Instant,
    ) {
        self.respond_in_dialog_with(serial, key, req, status, reason, |_| {}, now);
    }

    /// As [`Gateway::respond_in_dialog`], with `edit` applied last.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn respond_in_dialog_with(
        &mut self,
        serial: u64,
        key: TxKey,
        req: &Message,
        status: u16,
        reason: &str,
        edit: impl FnOnce(&mut Message),
        now: Instant,
    ) {
        let mut r = Message::response_to(req, status, reason);
        if r.to_tag().is_none()
            && let Some(c) = self.calls.get(&serial)
        {
            r.set_to_tag(&c.leg.dialog.local_tag);
        }
        if (101..300).contains(&status) {
            copy_record_route(req, &mut r);
        }
        let refresh = matches!(req.method(), Some(Method::Invite | Method::Update));
        if refresh && (200..300).contains(&status) {
            r.add_header("Contact", &self.contact());
            r.add_header("Allow", ALLOW);
            r.add_header("Supported", &SUPPORTED.join(", "));
        }
        edit(&mut r);
        if let Err(e) = self.tx.send_response(key, r, now) {
            tracing::debug!("response {status} on {key} not sent: {e}");
        }
    }

    /// 422 with our Min-SE (RFC 4028 §6).
    pub(crate) fn refuse_too_small(
        &mut self,
        serial: u64,
        key: TxKey,
        req: &Message,
        min_se: u32,
        now: Instant,
    ) {
        let v = min_se.to_string();
        self.respond_in_dialog_with(
            serial,
            key,
            req,
            422,
            "Session Interval Too Small",
            |r| r.add_header("Min-SE", &v),
            now,
        );
    }

    // ---- ringing and PRACK ----------------------------------------------------

    /// `180 Ringing` for a new inbound call offered to an application: reliable (RFC
    /// 3262, `RSeq`, retransmitted until PRACK) when the caller requires 100rel,
    /// unreliable otherwise.
    pub(crate) fn send_ringing(&mut self, serial: u64, now: Instant) {
        let Some(call) = self.calls.get(&serial) else {
            return;
        };
        let (Some(key), Some(invite)) = (call.leg.invite_tx, call.leg.invite.as_ref()) else {
            return;
        };
        let reliable = invite
            .option_tags("Require")
            .iter()
            .any(|t| t.eq_ignore_ascii_case("100rel"));
        // RFC 3262 §3: the first RSeq is random, below 2^31, leaving room to count up.
        let rseq = reliable.then(|| self.ids.number(1..1 << 30) as u32);
        let Some(resp) = self.invite_response(serial, 180, "Ringing", |r| {
            if let Some(n) = rseq {
                r.add_header("Require", "100rel");
                r.add_header("RSeq", &n.to_string());
            }
        }) else {
            return;
        };
        let sent = match rseq {
            Some(n) => self.tx.send_reliable_provisional(key, resp, now).map(|()| {
                if let Some(c) = self.calls.get_mut(&serial) {
                    c.leg.rseq_pending = Some(n);
                }
            }),
            None => self.tx.send_response(key, resp, now),
        };
        if let Err(e) = sent {
            tracing::debug!("180 on {key} not sent: {e}");
        }
    }

    /// The caller never PRACKed our reliable 180 (RFC 3262 §3): reject the INVITE with a
    /// 5xx and release the call.
    pub(crate) fn prack_timeout(&mut self, serial: u64, now: Instant) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        call.leg.rseq_pending = None;
        if call.released || call.state != State::Initiated {
            return;
        }
        tracing::info!(
            res_id = %call.res_id,
            call_id = %call.leg.dialog.call_id,
            "no PRACK for the reliable 180: rejecting the call with 504"
        );
        self.respond_invite(serial, 504, "No PRACK Received", |_| {}, now);
        self.release(serial, "sys", 504, now);
    }

    /// A PRACK (RFC 3262 §3): its RAck names the reliable provisional we are waiting for,
    /// or it is answered 481.
    pub(crate) fn on_prack(&mut self, key: TxKey, msg: Message, now: Instant) {
        let Some(serial) = self.dialog_of(&msg) else {
            self.respond_tx(key, &msg, 481, "Call/Transaction Does Not Exist", now);
            return;
        };
        if !self.accept_cseq(serial, &msg) {
            self.respond_in_dialog(serial, key, &msg, 500, "Server Internal Error", now);
            return;
        }
        let rack = msg.header("RAck").and_then(parse_rack);
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let invite_cseq = call.leg.invite.as_ref().and_then(|i| i.cseq()).map(|c| c.0);
        let matches = matches!(
            (rack, call.leg.rseq_pending, invite_cseq),
            (Some((rseq, cseq, Method::Invite)), Some(pending), Some(ic))
                if rseq == pending && cseq == ic
        );
        if !matches {
            self.respond_in_dialog(serial, key, &msg, 481, "No Matching Provisional", now);
            return;
        }
        call.leg.rseq_pending = None;
        if let Some(ik) = call.leg.invite_tx {
            self.tx.provisional_acked(ik);
        }
        self.respond_in_dialog(serial, key, &msg, 200, "OK", now);
    }

    /// Outbound: a reliable provisional response to our INVITE gets its PRACK (RFC 3262
    /// §4), once, in order; a retransmission or one out of sequence gets none.
    pub(crate) fn prack_if_reliable(&mut self, serial: u64, resp: &Message, now: Instant) {
        let reliable = resp
            .option_tags("Require")
            .iter()
            .any(|t| t.eq_ignore_ascii_case("100rel"));
        let Some(rseq) = resp
            .header("RSeq")
            .and_then(|v| v.trim().parse::<u32>().ok())
        else {
            return;
        };
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if !reliable
            || call
                .leg
                .last_rseq
                .is_some_and(|last| rseq != last.wrapping_add(1))
        {
            return;
        }
        call.leg.last_rseq = Some(rseq);
        let Some((cseq, _)) = resp.cseq() else {
            return;
        };
        if let Some((mut m, to)) = self.in_dialog_request(serial, Method::Prack) {
            m.add_header("RAck", &format!("{rseq} {cseq} INVITE"));
            match self.tx.send_request(m, to, now) {
                Ok(k) => {
                    self.by_tx.insert(k, serial);
                }
                Err(e) => tracing::debug!("PRACK not sent: {e}"),
            }
        }
    }

    // ---- UPDATE ---------------------------------------------------------------

    /// UPDATE (RFC 3311): a target refresh, a session refresh (RFC 4028) and, with a body,
    /// an SDP offer answered in the 200. Before the call is answered an offer collides
    /// with the INVITE's (500 with Retry-After, §5.2).
    pub(crate) fn on_update(&mut self, key: TxKey, msg: Message, now: Instant) {
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
        let answered = call.state.is_answered() && call.leg.awaiting_ack.is_none();
        if !msg.body.is_empty() && (!answered || self.our_reinvite_pending(serial)) {
            let pending = if answered {
                (491, "Request Pending")
            } else {
                (500, "Offer Pending")
            };
            self.respond_in_dialog_with(
                serial,
                key,
                &msg,
                pending.0,
                pending.1,
                |r| {
                    if pending.0 == 500 {
                        r.add_header("Retry-After", "5");
                    }
                },
                now,
            );
            return;
        }
        let timer = if answered {
            match uas_decide(&msg, self.timer_policy()) {
                UasDecision::TooSmall { min_se } => {
                    self.refuse_too_small(serial, key, &msg, min_se, now);
                    return;
                }
                d => Some(d),
            }
        } else {
            None
        };
        let mut body = None;
        if !msg.body.is_empty() {
            let local = LocalMedia::new(self.public_ip, call.rtp_port.unwrap_or(9));
            let Some(call) = self.calls.get_mut(&serial) else {
                return;
            };
            let r = sdp::SessionDescription::parse_bytes(&msg.body)
                .and_then(|o| call.leg.sdp.answer(&o, &local));
            match r {
                Ok((answer, media)) => {
                    call.media = Some(media);
                    body = Some(answer.to_string().into_bytes());
                }
                Err(e) => {
                    let status = e.sip_status();
                    self.respond_in_dialog(serial, key, &msg, status, "Not Acceptable Here", now);
                    return;
                }
            }
        }
        if let Some(call) = self.calls.get_mut(&serial) {
            call.leg.dialog.refresh_target(&msg);
            if allows_update(&msg) {
                call.leg.peer_allows_update = true;
            }
        }
        if body.is_some() {
            self.push_remote(serial, now);
        }
        let headers = match timer {
            Some(d) => self.apply_session_decision(serial, d, now),
            None => Vec::new(),
        };
        self.respond_in_dialog_with(
            serial,
            key,
            &msg,
            200,
            "OK",
            |r| {
                for (k, v) in headers {
                    r.add_header(k, &v);
                }
                if let Some(b) = body {
                    r.add_header("Content-Type", "application/sdp");
                    r.body = b;
                }
            },
            now,
        );
    }

    // ---- session timers -------------------------------------------------------

    /// Apply what the UAS side decided on a request: the timer restarts (or stops), and
    /// the headers for the 2xx are returned.
    pub(crate) fn apply_session_decision(
        &mut self,
        serial: u64,
        decision: UasDecision,
        now: Instant,
    ) -> Vec<(&'static str, String)> {
        match decision {
            UasDecision::Accept {
                header,
                require_timer,
                timer,
            } => {
                self.restart_session_timer(serial, Some(timer), now);
                let mut h = vec![("Session-Expires", header.to_string())];
                if require_timer {
                    h.push(("Require", "timer".to_string()));
                }
                h
            }
            _ => {
                self.restart_session_timer(serial, None, now);
                Vec::new()
            }
        }
    }

    /// (Re)start the session timer from `now`, or stop it.
    pub(crate) fn restart_session_timer(
        &mut self,
        serial: u64,
        timer: Option<SessionTimer>,
        now: Instant,
    ) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        call.leg.session = timer;
        call.leg.session_generation += 1;
        let Some(t) = timer else {
            return;
        };
        if t.we_refresh {
            self.arm(serial, TimerKind::SessionRefresh, now + t.refresh_after());
        }
        self.arm(serial, TimerKind::SessionExpire, now + t.expire_after());
    }

    /// Half the interval passed and we are the refresher: UPDATE when the peer allows
    /// it, else a re-INVITE with our unchanged SDP (RFC 4028 §7.4).
    pub(crate) fn session_refresh_due(&mut self, serial: u64, now: Instant) {
        let Some(call) = self.calls.get(&serial) else {
            return;
        };
        let Some(t) = call.leg.session else {
            return;
        };
        if call.released || !call.state.is_answered() || call.leg.refresh_tx.is_some() {
            return;
        }
        if call.leg.awaiting_ack.is_some() {
            // The peer's re-INVITE is being completed: try again shortly.
            self.arm(serial, TimerKind::SessionRefresh, now + GLARE_RETRY);
            return;
        }
        let method = if call.leg.peer_allows_update {
            Method::Update
        } else {
            Method::Invite
        };
        let local = LocalMedia::new(self.public_ip, call.rtp_port.unwrap_or(9));
        let min_se = self.cfg.sip.min_se;
        let Some((mut m, to)) = self.in_dialog_request(serial, method.clone()) else {
            return;
        };
        for (k, v) in uac_headers(t.interval, Some(Refresher::Uac), min_se) {
            m.add_header(k, &v);
        }
        m.add_header("Supported", &SUPPORTED.join(", "));
        m.add_header("Allow", ALLOW);
        if method == Method::Invite
            && let Some(call) = self.calls.get_mut(&serial)
        {
            // The unchanged SDP (same version): a refresh changes no media.
            let sdp = call
                .leg
                .sdp
                .reoffer()
                .unwrap_or_else(|| call.leg.sdp.offer(&local));
            m.add_header("Content-Type", "application/sdp");
            m.body = sdp.to_string().into_bytes();
        }
        match self.tx.send_request(m, to, now) {
            Ok(k) => {
                self.by_tx.insert(k, serial);
                if let Some(call) = self.calls.get_mut(&serial) {
                    call.leg.refresh_tx = Some(k);
                }
            }
            Err(e) => tracing::debug!("session refresh not sent: {e}"),
        }
    }

    /// No refresh arrived (or none of ours succeeded) before the session expired (RFC
    /// 4028 §10): BYE, and the call is released by the system.
    pub(crate) fn session_expired(&mut self, serial: u64, now: Instant) {
        let Some(call) = self.calls.get(&serial) else {
            return;
        };
        if call.released || call.leg.session.is_none() {
            return;
        }
        tracing::info!(
            res_id = %call.res_id,
            call_id = %call.leg.dialog.call_id,
            "session timer expired without a refresh: hanging up"
        );
        self.hang_up(serial, 408, "sys", Some("session timer expired"), now);
    }

    /// Our INVITE (not a PRACK or UPDATE) in this dialog awaits its final response.
    pub(crate) fn our_reinvite_pending(&self, serial: u64) -> bool {
        self.calls
            .get(&serial)
            .and_then(|c| c.leg.refresh_tx)
            .and_then(|k| self.tx.request(k))
            .is_some_and(|m| m.method() == Some(&Method::Invite))
    }

    /// A response to our session refresh.
    pub(crate) fn on_refresh_response(
        &mut self,
        serial: u64,
        key: TxKey,
        msg: &Message,
        now: Instant,
    ) {
        let Some(status) = msg.status() else { return };
        if status < 200 {
            return;
        }
        let Some(method) = msg.cseq().map(|c| c.1) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if (200..300).contains(&status) && method == Method::Invite {
            // A 2xx to our re-INVITE is ACKed, retransmissions of it too.
            let cseq = msg.cseq().map(|c| c.0).unwrap_or(0);
            call.leg.dialog.refresh_target(msg);
            if call.leg.refresh_tx == Some(key) {
                let answer = sdp::SessionDescription::parse_bytes(&msg.body)
                    .and_then(|a| call.leg.sdp.accept_answer(&a));
                if let Ok(m) = answer
                    && call.media != Some(m)
                {
                    call.media = Some(m);
                    self.push_remote(serial, now);
                }
            }
            self.send_ack_for_2xx(serial, cseq);
        }
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        if call.leg.refresh_tx != Some(key) {
            return;
        }
        call.leg.refresh_tx = None;
        match status {
            200..=299 => {
                if method == Method::Update {
                    call.leg.dialog.refresh_target(msg);
                }
                let learned = uac_learn(msg);
                self.restart_session_timer(serial, learned, now);
            }
            422 => {
                // Our interval was too small for the peer: refresh again with its Min-SE.
                if let (Some(min), Some(t)) = (min_se_of(msg), call.leg.session) {
                    call.leg.session = Some(SessionTimer {
                        interval: t.interval.max(min),
                        ..t
                    });
                    self.session_refresh_due(serial, now);
                }
            }
            491 => self.arm(serial, TimerKind::SessionRefresh, now + GLARE_RETRY),
            405 | 501 if method == Method::Update => {
                call.leg.peer_allows_update = false;
                self.session_refresh_due(serial, now);
            }
            408 | 481 => self.refresh_failed(serial, status, now),
            _ => {
                tracing::info!(
                    res_id = %call.res_id,
                    "session refresh answered {status}: the session expires unless a refresh succeeds"
                );
            }
        }
    }

    /// RFC 4028 §10 / RFC 3261 §12.2.1.2: a refresh that times out or gets 408/481 means
    /// the dialog is gone: BYE, released by the system.
    pub(crate) fn refresh_failed(&mut self, serial: u64, status: u16, now: Instant) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        call.leg.refresh_tx = None;
        if call.released {
            return;
        }
        tracing::info!(
            res_id = %call.res_id,
            call_id = %call.leg.dialog.call_id,
            "session refresh failed ({status}): hanging up"
        );
        self.hang_up(serial, 408, "sys", Some("session refresh failed"), now);
    }

    /// Outbound: a 422 to our INVITE (RFC 4028 §7.3): send it again once, asking for the
    /// Min-SE the peer named. Returns false when it cannot be retried.
    pub(crate) fn retry_invite_after_422(
        &mut self,
        serial: u64,
        resp: &Message,
        now: Instant,
    ) -> bool {
        let branch = self.ids.branch();
        let via = self.via(&branch);
        let Some(min) = min_se_of(resp) else {
            return false;
        };
        let Some(call) = self.calls.get_mut(&serial) else {
            return false;
        };
        if call.leg.retried_422 || call.leg.cancelled || call.released {
            return false;
        }
        let Some(mut invite) = call.leg.invite.clone() else {
            return false;
        };
        let cseq = call.leg.dialog.local_cseq + 1;
        let interval = min.max(self.cfg.sip.session_expires);
        invite.remove_header("Via");
        invite.insert_header_front("Via", &via);
        invite.set_header("CSeq", &format!("{cseq} INVITE"));
        for (k, v) in uac_headers(interval, None, min) {
            invite.set_header(k, &v);
        }
        let to = call.leg.peer;
        match self.tx.send_request(invite.clone(), to, now) {
            Ok(k) => {
                call.leg.retried_422 = true;
                call.leg.invite_tx = Some(k);
                call.leg.invite = Some(invite);
                call.leg.dialog.local_cseq = cseq;
                self.by_tx.insert(k, serial);
                true
            }
            Err(e) => {
                tracing::debug!("INVITE retry after 422 not sent: {e}");
                false
            }
        }
    }
}

/// `RAck: 776656 1 INVITE` (RFC 3262 §7.2).
fn parse_rack(v: &str) -> Option<(u32, u32, Method)> {
    let mut it = v.split_whitespace();
    let rseq = it.next()?.parse().ok()?;
    let cseq = it.next()?.parse().ok()?;
    let method = Method::from_token(it.next()?);
    Some((rseq, cseq, method))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rack_values() {
        assert_eq!(
            parse_rack("776656 1 INVITE"),
            Some((776656, 1, Method::Invite))
        );
        assert_eq!(parse_rack(" 5  2   INVITE "), Some((5, 2, Method::Invite)));
        assert_eq!(parse_rack("x 1 INVITE"), None);
        assert_eq!(parse_rack("5 1"), None);
    }
}
