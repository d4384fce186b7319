//! Messages the engine builds: responses to a call's INVITE (Record-Route copied),
//! in-dialog requests through the dialog's route set (BYE, refreshes, PRACK, the ACK
//! for a 2xx), CANCEL, and our Via and Contact.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::sip::{Message, Method, Reason, copy_record_route, target_of};

use super::Gateway;

/// Methods we accept, for `Allow`.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, PRACK";
/// Option tags we support, for `Supported`: reliable provisional responses (RFC 3262)
/// and session timers (RFC 4028).
pub const SUPPORTED: &[&str] = &["100rel", "timer"];

impl Gateway {
    /// `host:port` as written in our Via and Contact.
    pub(crate) fn hostport(&self) -> String {
        match self.public_ip {
            IpAddr::V6(ip) => format!("[{ip}]:{}", self.local.port()),
            IpAddr::V4(ip) => format!("{ip}:{}", self.local.port()),
        }
    }

    pub(crate) fn contact(&self) -> String {
        format!("<sip:{}@{}>", self.cfg.sip.contact_user, self.hostport())
    }

    pub(crate) fn via(&self, branch: &str) -> String {
        format!("SIP/2.0/UDP {};branch={branch};rport", self.hostport())
    }

    /// A response to the call's INVITE through its server transaction (a 2xx is
    /// retransmitted by the layer until its ACK arrives). A response that creates or
    /// belongs to the dialog (1xx with our tag, 2xx) carries the INVITE's Record-Route
    /// (RFC 3261 §12.1.1) and our Contact.
    pub(crate) fn respond_invite(
        &mut self,
        serial: u64,
        status: u16,
        reason: &str,
        edit: impl FnOnce(&mut Message),
        now: Instant,
    ) {
        let Some(resp) = self.invite_response(serial, status, reason, edit) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let Some(key) = call.leg.invite_tx else {
            return;
        };
        if (200..300).contains(&status) {
            call.leg.awaiting_ack = Some(key);
            call.leg.dialog.confirm();
        }
        if status >= 200 {
            call.leg.rseq_pending = None;
        }
        if let Err(e) = self.tx.send_response(key, resp, now) {
            tracing::debug!("response {status} on {key} not sent: {e}");
        }
    }

    /// The response `status` to the call's INVITE, as [`Gateway::respond_invite`] sends it.
    pub(crate) fn invite_response(
        &self,
        serial: u64,
        status: u16,
        reason: &str,
        edit: impl FnOnce(&mut Message),
    ) -> Option<Message> {
        let call = self.calls.get(&serial)?;
        let invite = call.leg.invite.as_ref()?;
        let mut resp = Message::response_to(invite, status, reason);
        if status > 100 {
            resp.set_to_tag(&call.leg.dialog.local_tag);
        }
        if (101..300).contains(&status) {
            copy_record_route(invite, &mut resp);
            resp.add_header("Contact", &self.contact());
            resp.add_header("Supported", SUPPORTED.join(", ").as_str());
        }
        edit(&mut resp);
        Some(resp)
    }

    /// A new in-dialog request of the call (RFC 3261 §12.2.1.1): the next CSeq, a fresh
    /// Via, Request-URI and Route from the dialog; and the address of its first hop.
    pub(crate) fn in_dialog_request(
        &mut self,
        serial: u64,
        method: Method,
    ) -> Option<(Message, SocketAddr)> {
        let contact = self.contact();
        let branch = self.ids.branch();
        let via = self.via(&branch);
        let call = self.calls.get_mut(&serial)?;
        let with_contact = !matches!(method, Method::Bye | Method::Prack | Method::Info);
        let r = call
            .leg
            .dialog
            .request(method, &via, with_contact.then_some(contact.as_str()));
        let to = target_of(&r.next_hop, call.leg.peer);
        Some((r.msg, to))
    }

    /// Send BYE with `Reason: SIP;cause=N` on an established dialog.
    pub(crate) fn send_bye(&mut self, serial: u64, cause: u16, text: Option<&str>, now: Instant) {
        if let Some((mut m, to)) = self.in_dialog_request(serial, Method::Bye) {
            m.add_header("Reason", &reason_value(cause, text));
            match self.tx.send_request(m, to, now) {
                Ok(key) => {
                    self.by_tx.insert(key, serial);
                }
                Err(e) => tracing::debug!("BYE not sent: {e}"),
            }
        }
    }

    /// CANCEL the outbound INVITE (RFC 3261 §9.1); the transaction layer holds it
    /// back until a provisional response has arrived.
    pub(crate) fn send_cancel(
        &mut self,
        serial: u64,
        cause: u16,
        text: Option<&str>,
        now: Instant,
    ) {
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let Some(key) = call.leg.invite_tx else {
            return;
        };
        if call.leg.cancelled {
            return;
        }
        call.leg.cancelled = true;
        match self.tx.cancel(key, Some(Reason::sip(cause, text)), now) {
            Ok(Some(ck)) => {
                self.by_tx.insert(ck, serial);
            }
            Ok(None) => {}
            Err(e) => tracing::debug!("CANCEL of {key} not sent: {e}"),
        }
    }

    /// ACK a 2xx to our INVITE numbered `cseq` (a new transaction-less request, RFC 3261
    /// §13.2.2.4, through the dialog's route set); kept to answer retransmissions of the
    /// same 2xx.
    pub(crate) fn send_ack_for_2xx(&mut self, serial: u64, cseq: u32) {
        let contact = self.contact();
        let branch = self.ids.branch();
        let via = self.via(&branch);
        let Some(call) = self.calls.get_mut(&serial) else {
            return;
        };
        let leg = &mut call.leg;
        let r = leg.dialog.ack(cseq, &via, Some(&contact));
        let to = target_of(&r.next_hop, leg.peer);
        leg.ack_bytes = Some((to, r.msg.to_bytes()));
        self.tx.send_stateless(r.msg, to);
    }
}

/// `Reason: SIP;cause=N;text="..."` (RFC 3326).
pub fn reason_value(cause: u16, text: Option<&str>) -> String {
    match text {
        Some(t) => format!("SIP;cause={cause};text=\"{}\"", t.replace(['"', '\\'], "")),
        None => format!("SIP;cause={cause}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_header() {
        assert_eq!(reason_value(603, None), "SIP;cause=603");
        assert_eq!(
            reason_value(408, Some("max \"x\"")),
            "SIP;cause=408;text=\"max x\""
        );
    }
}
