//! [`Callee`]: the far end of a call the gateway places (`sys.call.construct`), with a
//! real RTP socket (the [`RtpEnd`] it derefs to). It waits for the gateway's INVITE,
//! answers it step by step as a test scripts it (180, 183 with or without SDP, early
//! media on its RTP socket, 200 with SDP, a failure), and hangs up with BYE or answers
//! the gateway's BYE. Blocking: async tests call it inside `block_in_place`.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};

use mediagw::codec::Codec;
use mediagw::sip::{Message, NameAddr};

use super::rtp_end::RtpEnd;
use super::{Peer, ok_to, sdp};

/// The answering side of one call from the gateway.
pub struct Callee {
    peer: Peer,
    rtp: RtpEnd,
    codec: Codec,
    te: Option<u8>,
    tag: String,
    invite: Option<Message>,
    cseq: u32,
}

impl Callee {
    /// A callee on ephemeral loopback ports for the gateway at `gw`, answering with
    /// `codec` and telephone-event under payload type `te` when given.
    pub fn bind(gw: SocketAddr, codec: Codec, te: Option<u8>) -> Callee {
        Callee {
            peer: Peer::new(gw),
            rtp: RtpEnd::bind(),
            codec,
            te,
            tag: format!("callee{:08x}", rand::random::<u32>()),
            invite: None,
            cseq: 0,
        }
    }

    /// The URI to dial to reach it (`to_uri` of `construct`).
    pub fn uri(&self, user: &str) -> String {
        format!("sip:{user}@{}", self.peer.addr())
    }

    /// Waits (bounded) for a SIP message whose first line contains `needle`.
    pub fn expect(&self, needle: &str) -> String {
        self.peer.expect(needle)
    }

    /// Waits for the gateway's INVITE and learns where it wants RTP (its offer).
    pub fn wait_invite(&mut self) -> Message {
        let text = self.peer.expect("INVITE ");
        let invite = Message::parse(text.as_bytes()).expect("the gateway's INVITE parses");
        self.rtp.gw_rtp = sdp::rtp_target(&invite.body);
        self.invite = Some(invite.clone());
        invite
    }

    /// The SDP this callee answers with.
    pub fn answer_sdp(&self) -> String {
        sdp::audio_offer_with(self.rtp.local(), self.codec, self.te)
    }

    /// Sends a response to the INVITE: `status` with our tag and Contact, and our SDP
    /// answer when `with_sdp`.
    pub fn respond(&self, status: u16, reason: &str, with_sdp: bool) {
        let invite = self.invite.as_ref().expect("an INVITE to answer");
        let mut r = Message::response_to(invite, status, reason);
        if status > 100 {
            r.set_to_tag(&self.tag);
        }
        r.add_header("Contact", &format!("<sip:callee@{}>", self.peer.addr()));
        if with_sdp {
            r.add_header("Content-Type", "application/sdp");
            r.body = self.answer_sdp().into_bytes();
        }
        self.peer.send_message(&r);
    }

    /// Answers with 200 and SDP, then waits for the ACK.
    pub fn answer(&self) {
        self.respond(200, "OK", true);
        self.peer.expect("ACK ");
    }

    /// Hangs up with BYE (to the gateway's Contact) and waits for its 200.
    pub fn bye(&mut self) {
        let invite = self.invite.as_ref().expect("a call to hang up");
        let target = invite
            .contacts()
            .first()
            .map(|c| c.uri.clone())
            .expect("the gateway's Contact");
        let mut from = invite.to().expect("To");
        from.set_tag(&self.tag);
        let to: NameAddr = invite.from().expect("From");
        self.cseq += 1;
        let a = self.peer.addr();
        let mut bye = Message::request(mediagw::sip::Method::Bye, &target);
        bye.add_header(
            "Via",
            &format!(
                "SIP/2.0/UDP {a};branch=z9hG4bK{}-bye{}",
                self.tag, self.cseq
            ),
        );
        bye.add_header("Max-Forwards", "70");
        bye.add_header("From", &from.to_string());
        bye.add_header("To", &to.to_string());
        bye.add_header("Call-ID", invite.call_id().expect("Call-ID"));
        bye.add_header("CSeq", &format!("{} BYE", self.cseq));
        self.peer.send_message(&bye);
        self.peer.expect("SIP/2.0 200");
    }

    /// Waits for the gateway's BYE and answers it.
    pub fn answer_bye(&self) {
        let text = self.peer.expect("BYE ");
        let bye = Message::parse(text.as_bytes()).expect("the gateway's BYE parses");
        self.peer.send_message(&ok_to(&bye));
    }
}

impl Deref for Callee {
    type Target = RtpEnd;

    fn deref(&self) -> &RtpEnd {
        &self.rtp
    }
}

impl DerefMut for Callee {
    fn deref_mut(&mut self) -> &mut RtpEnd {
        &mut self.rtp
    }
}
