//! One call resource as the engine keeps it: its API-facing record (ids, times, owner,
//! state) and its SIP leg (dialog identifiers, route set, the INVITE transaction).

use std::net::SocketAddr;

use crate::call::state::{CallDirection, State};
use crate::sdp::{NegotiatedMedia, SdpSession, SessionDescription};
use crate::sip::session_timer::SessionTimer;
use crate::sip::{Dialog, Message, TxKey};

use super::clients::{ConnId, HeldEvents};
use super::replies::Ticket;

/// The SIP side of a call: its RFC 3261 §12 dialog (identifiers, route set, remote
/// target), the INVITE transaction and what the INVITE session adds on top: the 2xx/ACK
/// handshake, reliable provisionals (RFC 3262), session timers (RFC 4028) and SDP.
#[derive(Debug)]
pub struct SipLeg {
    pub dialog: Dialog,
    /// Where the INVITE came from (inbound) or went (outbound): the next hop when a
    /// target's host is not an IP literal.
    pub peer: SocketAddr,
    /// The INVITE server (inbound) or client (outbound) transaction while it lives.
    pub invite_tx: Option<TxKey>,
    /// The initial INVITE (inbound: to build responses; outbound: to build CANCEL).
    pub invite: Option<Message>,
    /// Inbound: the INVITE (or re-INVITE) server transaction whose 2xx awaits its ACK
    /// (the transaction layer retransmits the 2xx meanwhile).
    pub awaiting_ack: Option<TxKey>,
    /// Outbound: the ACK we sent for the 2xx and where it went, repeated when the 2xx is
    /// retransmitted.
    pub ack_bytes: Option<(SocketAddr, Vec<u8>)>,
    /// Outbound: a CANCEL has been asked for (the layer sends it after a provisional).
    pub cancelled: bool,
    /// The 2xx awaiting its ACK answers a re-INVITE, not the initial INVITE.
    pub reinvite_pending: bool,
    /// Send BYE (with this cause) once the ACK for our 2xx arrives.
    pub bye_after_ack: Option<u16>,
    /// Our SDP origin/version and any offer awaiting its answer.
    pub sdp: SdpSession,
    /// The peer listed UPDATE in its Allow (session refreshes use it then).
    pub peer_allows_update: bool,
    /// Inbound: the RSeq of our reliable provisional awaiting its PRACK.
    pub rseq_pending: Option<u32>,
    /// Outbound: the RSeq of the last reliable provisional we acknowledged.
    pub last_rseq: Option<u32>,
    /// The session timer in force (RFC 4028), if any.
    pub session: Option<SessionTimer>,
    /// Bumped whenever the session timer restarts, so older timer events are stale.
    pub session_generation: u64,
    /// Our refresh (re-INVITE or UPDATE) in flight.
    pub refresh_tx: Option<TxKey>,
    /// Outbound: the INVITE was already retried once after a 422.
    pub retried_422: bool,
}

impl SipLeg {
    /// A leg with nothing in flight yet (the INVITE transaction is set once it exists).
    pub fn new(dialog: Dialog, peer: SocketAddr) -> SipLeg {
        SipLeg {
            dialog,
            peer,
            invite_tx: None,
            invite: None,
            awaiting_ack: None,
            ack_bytes: None,
            cancelled: false,
            reinvite_pending: false,
            bye_after_ack: None,
            sdp: SdpSession::with_origin(1, 1),
            peer_allows_update: false,
            rseq_pending: None,
            last_rseq: None,
            session: None,
            session_generation: 0,
            refresh_tx: None,
            retried_422: false,
        }
    }
}

/// A call resource.
#[derive(Debug)]
pub struct Call {
    pub serial: u64,
    pub res_id: String,
    pub dir: CallDirection,
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
    /// `on_released`, held back until the running action's completion event and the
    /// media plane's `Closed`.
    pub pending_release: Option<serde_json::Value>,
    /// Released, and the media plane's `Closed` has not arrived yet.
    pub awaiting_close: bool,
    /// The call's RTP figures, from the media plane's `Closed`.
    pub media_stats: Option<crate::media_msg::CallStats>,
    /// Inbound: the caller's SDP offer, answered by `answer` (None: late offer).
    pub offer: Option<SessionDescription>,
    /// The media worker the call's RTP lives on.
    pub worker: usize,
    /// Whether its ports are bound yet.
    pub link: MediaLink,
    /// A request waiting for the ports to be bound.
    pub waiting: Option<OpenWaiter>,
    /// An action the media plane has been asked to start and has not confirmed.
    pub starting: Option<Starting>,
    /// The call's media is moving to another worker: commands for it wait here, in
    /// order, until it has arrived.
    pub moving: Option<Vec<crate::media_msg::MediaCommand>>,
    /// Joined (bridged, or hearing the call it dials) with this call, as its first party
    /// (`a`) or second (`b`).
    pub joined: Option<Joined>,
    /// Why the engine made it leave its conference (its own `max_seconds`).
    pub leave_error: Option<String>,
}

/// A call's part in a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// The first party (`connect_start`'s `res_id`, or a parent dialling): the join is
    /// its action; `with` is the other call.
    First { with: u64 },
    /// The second party.
    Second { with: u64 },
}

/// Where a call's media stands on its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaLink {
    /// `Open` sent; `attempts` ports tried so far.
    Opening { attempts: u32 },
    /// The RTP and RTCP ports are bound.
    Open,
}

/// A request that needs the call's ports bound before it can be carried out.
#[derive(Debug)]
pub enum OpenWaiter {
    /// `answer`: the SDP answer names the port.
    Answer {
        ticket: Option<Ticket>,
        params: crate::api::call_params::CallAnswer,
    },
    /// `construct`: the INVITE's offer names the port; it is sent, and `construct`
    /// answered, once bound.
    Dial {
        ticket: Option<Ticket>,
        dial: Box<PreparedDial>,
    },
}

/// An outbound INVITE ready to go but for the SDP offer, which names the port.
#[derive(Debug)]
pub struct PreparedDial {
    pub invite: Message,
}

/// A play or recording the media plane has been asked to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Starting {
    /// Ties the media plane's answer to the request.
    pub token: u64,
    /// The request's reply, when a request is waiting for it (a prompt's replay has none).
    pub ticket: Option<Ticket>,
    /// A stop was asked for before it started: stop it as soon as it has.
    pub stop: bool,
}

/// What every new call starts from; the rest of its fields start empty.
pub(crate) struct NewCall {
    pub serial: u64,
    pub res_id: String,
    pub dir: CallDirection,
    pub from_uri: String,
    pub to_uri: String,
    pub begin_time: u64,
    pub owner: ConnId,
    pub rtp_port: u16,
    pub leg: SipLeg,
    pub worker: usize,
}

impl Call {
    /// A call in `Initiated`, its media opening on `worker`.
    pub(crate) fn new(n: NewCall) -> Call {
        Call {
            serial: n.serial,
            res_id: n.res_id,
            dir: n.dir,
            state: State::Initiated,
            from_uri: n.from_uri,
            to_uri: n.to_uri,
            begin_time: n.begin_time,
            answer_time: None,
            user_data: None,
            owner: Some(n.owner),
            held: HeldEvents::default(),
            owner_generation: 0,
            max_answer_seconds: None,
            max_ring_seconds: 0,
            rtp_port: Some(n.rtp_port),
            leg: n.leg,
            gateway: None,
            parent: None,
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
            awaiting_close: false,
            media_stats: None,
            worker: n.worker,
            link: MediaLink::Opening { attempts: 1 },
            waiting: None,
            starting: None,
            moving: None,
            joined: None,
            leave_error: None,
        }
    }

    pub fn is_live(&self) -> bool {
        !self.released
    }
}
