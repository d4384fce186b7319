//! One call resource as the engine keeps it: its API-facing record (ids, times, owner,
//! state) and its SIP leg (dialog identifiers, route set, the INVITE transaction).

use std::net::SocketAddr;

use crate::call::state::{Direction, State};
use crate::sdp::{NegotiatedMedia, SdpSession, SessionDescription};
use crate::sip::{Message, TxKey};

use super::clients::{ConnId, HeldEvents};

/// The SIP side of a call: RFC 3261 §12 dialog state plus what we need to finish the
/// INVITE transaction.
#[derive(Debug)]
pub struct SipLeg {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// Our From (outbound) or To (inbound) header value without the tag.
    pub local_uri: String,
    /// The peer's From (inbound) or To (outbound) header value without the tag.
    pub remote_uri: String,
    pub local_cseq: u32,
    pub remote_cseq: Option<u32>,
    /// The peer's Contact URI (in-dialog requests go there, or through the route set).
    pub remote_target: String,
    /// Route set, in the order requests must carry it.
    pub route_set: Vec<String>,
    /// Transport address in-dialog requests are sent to.
    pub peer: SocketAddr,
    /// The INVITE server (inbound) or client (outbound) transaction while it lives.
    pub invite_tx: Option<TxKey>,
    /// The initial INVITE (inbound: to build responses; outbound: to build CANCEL).
    pub invite: Option<Message>,
    /// Inbound: the INVITE (or re-INVITE) server transaction whose 2xx awaits its ACK
    /// (the transaction layer retransmits the 2xx meanwhile).
    pub awaiting_ack: Option<TxKey>,
    /// Outbound: the ACK we sent for the 2xx, repeated when the 2xx is retransmitted.
    pub ack_bytes: Option<Vec<u8>>,
    /// Outbound: a CANCEL has been asked for (the layer sends it after a provisional).
    pub cancelled: bool,
    /// The 2xx awaiting its ACK answers a re-INVITE, not the initial INVITE.
    pub reinvite_pending: bool,
    /// Send BYE (with this cause) once the ACK for our 2xx arrives.
    pub bye_after_ack: Option<u16>,
    /// Our SDP origin/version and any offer awaiting its answer.
    pub sdp: SdpSession,
}

/// A call resource.
#[derive(Debug)]
pub struct Call {
    pub serial: u64,
    pub res_id: String,
    pub dir: Direction,
    pub state: State,
    pub from_uri: String,
    pub to_uri: String,
    pub begin_time: u64,
    pub answer_time: Option<u64>,
    pub user_data: Option<String>,
    pub owner: Option<ConnId>,
    pub held: HeldEvents,
    /// Bumped whenever the owner changes, so an orphan timer armed earlier is stale.
    pub owner_generation: u64,
    pub max_answer_seconds: Option<u64>,
    pub max_ring_seconds: u64,
    /// Reserved RTP port (RTCP is `rtp_port + 1`), freed at release.
    pub rtp_port: Option<u16>,
    pub leg: SipLeg,
    /// Index into the engine's gateway list, for `max_concurrent` accounting.
    pub gateway: Option<usize>,
    /// Outbound with `parent_call_res_id`: the parent's serial (parent is in `Dial`).
    pub parent: Option<u64>,
    /// Inbound: Unix time `answer` was called (for `on_answer_completed.begin_time`).
    pub answer_begin: Option<u64>,
    /// Negotiated media (codec, remote address), once known.
    pub media: Option<NegotiatedMedia>,
    /// The resource has ended (`on_released` sent); the SIP leg may still be finishing.
    pub released: bool,
    /// Outbound: `on_dial_completed` has been sent.
    pub dial_done: bool,
    pub ringing: bool,
    /// The CTI action running (state Play, Record, SendDtmf or ReceiveDtmf).
    pub action: Option<super::actions::Action>,
    /// Unix time the running action started.
    pub action_begin: u64,
    /// Bumped whenever the digit-collection timer is re-armed or cancelled.
    pub collect_generation: u64,
    /// `on_released`, held back until the running action's completion event.
    pub pending_release: Option<serde_json::Value>,
    /// Inbound: the caller's SDP offer, answered by `answer` (None: late offer).
    pub offer: Option<SessionDescription>,
}

impl Call {
    pub fn is_live(&self) -> bool {
        !self.released
    }
}
