//! [`Ua`]: a SIP user agent with a real RTP socket, for end-to-end media tests. It calls
//! the gateway (an INVITE offering PCMU or PCMA, and telephone-event when asked), ACKs
//! the answer, keeps every RTP packet it receives (a thread reads the socket), sends RTP
//! (audio frames and RFC 4733 events) on the 20 ms grid, sends INFO digits and hangs up
//! with BYE, or answers the gateway's BYE. Blocking: async tests call it inside
//! `block_in_place`.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};

use mediagw::codec::Codec;
use mediagw::sip::{Message, Method};

use super::rtp_end::RtpEnd;
use super::{CallLeg, Peer, ok_to, sdp};

/// One call to the gateway, with its RTP (the [`RtpEnd`] it derefs to).
pub struct Ua {
    peer: Peer,
    leg: CallLeg,
    rtp: RtpEnd,
    /// The gateway's SDP answer.
    pub answer_sdp: String,
}

impl Ua {
    /// Sends an INVITE to `sip:100@gw` offering payload type `pt` (8 PCMA, else PCMU)
    /// plus telephone-event 101 when `dtmf` is set.
    pub fn invite(gw: SocketAddr, pt: u8, dtmf: bool) -> Ua {
        let codec = if pt == 8 { Codec::Pcma } else { Codec::Pcmu };
        Ua::invite_with(gw, codec, dtmf.then_some(sdp::TELEPHONE_EVENT_PT))
    }

    /// Sends an INVITE to `sip:100@gw` offering `codec` plus telephone-event under
    /// payload type `te` when given.
    pub fn invite_with(gw: SocketAddr, codec: Codec, te: Option<u8>) -> Ua {
        let peer = Peer::new(gw);
        let rtp = RtpEnd::bind();
        let tag = format!("ua{:08x}", rand::random::<u32>());
        let call_id = format!("{tag}@127.0.0.1");
        let leg = CallLeg::new(peer.addr(), "ua", "100", gw, &call_id, &tag);
        let offer = sdp::audio_offer_with(rtp.local(), codec, te);
        peer.send_message(&leg.invite(&offer));
        Ua {
            peer,
            leg,
            rtp,
            answer_sdp: String::new(),
        }
    }

    /// Waits (bounded) for a SIP message whose first line contains `needle`; others are
    /// skipped.
    pub fn expect(&self, needle: &str) -> String {
        self.peer.expect(needle)
    }

    /// Waits for the 200 OK, learns the gateway's tag and RTP address, sends the ACK.
    pub fn wait_answer(&mut self) {
        let text = self.expect("SIP/2.0 200");
        let ok = Message::parse(text.as_bytes()).expect("the gateway's 200 OK parses");
        assert!(self.leg.answered(&ok), "no To tag in {text}");
        self.rtp.gw_rtp = Some(sdp::rtp_target(&ok.body).expect("an audio stream in the answer"));
        self.answer_sdp = String::from_utf8_lossy(&ok.body).into_owned();
        self.peer.send_message(&self.leg.ack());
    }

    /// Sends a digit as SIP INFO (application/dtmf-relay) and waits for its 200.
    pub fn info(&mut self, digit: char) {
        let body = format!("Signal={digit}\r\nDuration=160\r\n");
        let info = self.leg.request(
            Method::Info,
            Some(("application/dtmf-relay", body.as_bytes())),
        );
        self.peer.send_message(&info);
        self.expect("SIP/2.0 200");
    }

    /// Hangs up with BYE and waits for its 200.
    pub fn bye(&mut self) {
        let bye = self.leg.request(Method::Bye, None);
        self.peer.send_message(&bye);
        self.expect("SIP/2.0 200");
    }

    /// Waits for the gateway's BYE (after the application dropped the call) and answers it.
    pub fn answer_bye(&self) {
        let text = self.expect("BYE ");
        let bye = Message::parse(text.as_bytes()).expect("the gateway's BYE parses");
        self.peer.send_message(&ok_to(&bye));
    }
}

impl Deref for Ua {
    type Target = RtpEnd;

    fn deref(&self) -> &RtpEnd {
        &self.rtp
    }
}

impl DerefMut for Ua {
    fn deref_mut(&mut self) -> &mut RtpEnd {
        &mut self.rtp
    }
}
