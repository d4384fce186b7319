//! `TransactionLayer`: the four RFC 3261 §17 state machines for UDP, their matching indexes
//! and timers, and the queues of datagrams and events they produce.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use super::super::headers::Reason;
use super::super::ids::Ids;
use super::super::message::Message;
use super::super::method::Method;
use super::super::parser::is_keepalive;
use super::build::{build_ack, build_cancel, replace_top_via, response_destination, stamp_top_via};
use super::matching::{AckKey, ClientKey, ServerKey};
use super::timers::{Deadlines, Slot, TimerQueue};
use super::{TimerConfig, Transmit, TxEvent, TxKey, TxSendError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    InviteClient,
    NonInviteClient,
    InviteServer,
    NonInviteServer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

#[derive(Debug)]
struct Transaction {
    kind: Kind,
    state: State,
    /// Client: where the request goes. Server: where responses go.
    peer: SocketAddr,
    request: Message,
    /// Client: the request as sent.
    request_bytes: Vec<u8>,
    /// Server: the last response sent. INVITE client in Completed: the ACK.
    reply_bytes: Option<Vec<u8>>,
    /// Current retransmission interval.
    interval: std::time::Duration,
    deadlines: Deadlines,
    client_key: Option<ClientKey>,
    server_key: Option<ServerKey>,
    ack_key: Option<AckKey>,
    /// INVITE server in Accepted: the ACK for the 2xx arrived.
    acked: bool,
    /// INVITE client in Calling: a CANCEL waits for the first provisional response.
    pending_cancel: Option<Option<Reason>>,
    /// INVITE server in Proceeding: the last response sent is a reliable provisional
    /// (RFC 3262) still waiting for its PRACK.
    reliable_pending: bool,
}

impl Transaction {
    fn new(
        kind: Kind,
        state: State,
        peer: SocketAddr,
        request: Message,
        cfg: &TimerConfig,
    ) -> Self {
        Self {
            kind,
            state,
            peer,
            request,
            request_bytes: Vec::new(),
            reply_bytes: None,
            interval: cfg.t1,
            deadlines: [None; 3],
            client_key: None,
            server_key: None,
            ack_key: None,
            acked: false,
            pending_cancel: None,
            reliable_pending: false,
        }
    }
}

/// The transaction layer. See the [module docs](super) for the model.
#[derive(Debug)]
pub struct TransactionLayer {
    cfg: TimerConfig,
    auto_trying: bool,
    next_key: u64,
    txs: HashMap<TxKey, Transaction>,
    client_index: HashMap<ClientKey, TxKey>,
    server_index: HashMap<ServerKey, TxKey>,
    ack_index: HashMap<AckKey, TxKey>,
    timers: TimerQueue,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
    /// Branches for requests that come without one, tags for stateless responses.
    ids: Ids,
}

impl TransactionLayer {
    /// A layer with these timers, drawing identifiers from `ids`. It answers every new
    /// INVITE with 100 Trying at once; see [`TransactionLayer::set_auto_trying`].
    pub fn new(cfg: TimerConfig, ids: Ids) -> Self {
        Self {
            cfg,
            auto_trying: true,
            next_key: 0,
            txs: HashMap::new(),
            client_index: HashMap::new(),
            server_index: HashMap::new(),
            ack_index: HashMap::new(),
            timers: TimerQueue::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            ids,
        }
    }

    /// Whether a new INVITE server transaction sends 100 Trying itself (default on). Off, the
    /// TU sends its own provisional response.
    pub fn set_auto_trying(&mut self, on: bool) {
        self.auto_trying = on;
    }

    /// The timer configuration.
    pub fn config(&self) -> &TimerConfig {
        &self.cfg
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// True when no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// The request that opened a live transaction.
    pub fn request(&self, key: TxKey) -> Option<&Message> {
        self.txs.get(&key).map(|tx| &tx.request)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    /// When [`TransactionLayer::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|(at, _, _)| at)
    }

    /// A received datagram: keep-alives are ignored; a malformed message is reported as
    /// [`TxEvent::Malformed`] and, if it is a request other than ACK that can be answered,
    /// answered statelessly with 400 (505 for a wrong version).
    pub fn handle_bytes(&mut self, buf: &[u8], from: SocketAddr, now: Instant) {
        if is_keepalive(buf) {
            return;
        }
        match Message::parse(buf) {
            Ok(msg) => self.handle_datagram(msg, from, now),
            Err(e) => {
                if let Some(req) = e.partial() {
                    self.reject_stateless(req, from, e.status(), e.reason());
                }
                self.events.push_back(TxEvent::Malformed {
                    from,
                    reason: e.reason().to_string(),
                });
            }
        }
    }

    /// A received, parsed message. It is first checked with [`Message::validate`] (a failing
    /// request other than ACK is answered 400 statelessly), then matched to a transaction:
    /// retransmissions are absorbed here, everything new becomes an event.
    pub fn handle_datagram(&mut self, msg: Message, from: SocketAddr, now: Instant) {
        if let Err(e) = msg.validate() {
            self.reject_stateless(&msg, from, e.status(), e.reason());
            self.events.push_back(TxEvent::Malformed {
                from,
                reason: e.reason().to_string(),
            });
        } else if msg.is_request() {
            self.on_request(msg, from, now);
        } else {
            self.on_response(msg, from, now);
        }
        self.prune();
    }

    /// Starts a client transaction for `msg` (any request but ACK: send an ACK for a 2xx with
    /// [`TransactionLayer::send_stateless`]) towards `to`. The top Via gets a fresh branch
    /// when it has none.
    pub fn send_request(
        &mut self,
        mut msg: Message,
        to: SocketAddr,
        now: Instant,
    ) -> Result<TxKey, TxSendError> {
        let method = msg.method().ok_or(TxSendError::WrongMessage)?.clone();
        if method == Method::Ack {
            return Err(TxSendError::WrongMessage);
        }
        let mut via = msg.top_via().ok_or(TxSendError::MissingHeaders)?;
        if via.branch.is_none() {
            via.branch = Some(self.ids.branch());
            replace_top_via(&mut msg, &via);
        }
        let ckey = ClientKey::of(&msg).ok_or(TxSendError::MissingHeaders)?;
        if self.client_index.contains_key(&ckey) {
            return Err(TxSendError::DuplicateBranch);
        }
        let (kind, state) = if method == Method::Invite {
            (Kind::InviteClient, State::Calling)
        } else {
            (Kind::NonInviteClient, State::Trying)
        };
        let key = self.new_key();
        let bytes = msg.to_bytes();
        self.transmits.push_back((to, bytes.clone()));
        let mut tx = Transaction::new(kind, state, to, msg, &self.cfg);
        tx.request_bytes = bytes;
        tx.client_key = Some(ckey.clone());
        self.timers
            .set(&mut tx.deadlines, key, Slot::Retransmit, now + self.cfg.t1);
        self.timers
            .set(&mut tx.deadlines, key, Slot::Timeout, now + self.cfg.t64());
        self.txs.insert(key, tx);
        self.client_index.insert(ckey, key);
        Ok(key)
    }

    /// Sends a response on server transaction `key`. A 2xx to INVITE moves it to Accepted:
    /// the layer retransmits the 2xx until the ACK comes ([`TxEvent::Ack`]) or 64*T1 pass
    /// ([`TxEvent::AckTimeout`]). Responses after the final one are refused, except further
    /// 2xx to an INVITE.
    pub fn send_response(
        &mut self,
        key: TxKey,
        msg: Message,
        now: Instant,
    ) -> Result<(), TxSendError> {
        let status = msg.status().ok_or(TxSendError::WrongMessage)?;
        let tx = self
            .txs
            .get_mut(&key)
            .ok_or(TxSendError::NoSuchTransaction)?;
        let next = match (tx.kind, tx.state, status) {
            (Kind::InviteServer, State::Proceeding, 100..=199) => State::Proceeding,
            (Kind::InviteServer, State::Proceeding | State::Accepted, 200..=299) => State::Accepted,
            (Kind::InviteServer, State::Proceeding, 300..=699) => State::Completed,
            (Kind::NonInviteServer, State::Trying | State::Proceeding, 100..=199) => {
                State::Proceeding
            }
            (Kind::NonInviteServer, State::Trying | State::Proceeding, 200..=699) => {
                State::Completed
            }
            _ => return Err(TxSendError::InvalidState),
        };
        let bytes = msg.to_bytes();
        self.transmits.push_back((tx.peer, bytes.clone()));
        tx.reply_bytes = Some(bytes);
        if tx.reliable_pending {
            // A final response (or an unreliable provisional) ends the retransmissions.
            tx.reliable_pending = false;
            tx.deadlines[Slot::Retransmit as usize] = None;
            tx.deadlines[Slot::Timeout as usize] = None;
        }
        let entering = tx.state != next;
        tx.state = next;
        let cfg = self.cfg;
        match (tx.kind, next) {
            (Kind::InviteServer, State::Accepted) if entering => {
                tx.interval = cfg.t1;
                self.timers
                    .set(&mut tx.deadlines, key, Slot::Retransmit, now + cfg.t1);
                self.timers
                    .set(&mut tx.deadlines, key, Slot::Timeout, now + cfg.t64());
                if let Some(ak) = AckKey::of(&tx.request) {
                    tx.ack_key = Some(ak.clone());
                    self.ack_index.insert(ak, key);
                }
            }
            (Kind::InviteServer, State::Completed) => {
                tx.interval = cfg.t1;
                self.timers
                    .set(&mut tx.deadlines, key, Slot::Retransmit, now + cfg.t1);
                self.timers
                    .set(&mut tx.deadlines, key, Slot::Timeout, now + cfg.t64());
            }
            (Kind::NonInviteServer, State::Completed) => {
                tx.deadlines[Slot::Timeout as usize] = None;
                self.timers
                    .set(&mut tx.deadlines, key, Slot::Linger, now + cfg.t64());
            }
            _ => {}
        }
        self.prune();
        Ok(())
    }

    /// Sends a reliable provisional response (RFC 3262 §3) on INVITE server transaction
    /// `key`: the layer retransmits it at T1, 2*T1, 4*T1... until
    /// [`TransactionLayer::provisional_acked`] or a final response, and reports
    /// [`TxEvent::PrackTimeout`] when no PRACK came within 64*T1. One at a time: the TU
    /// sends the next only once this one is acknowledged.
    pub fn send_reliable_provisional(
        &mut self,
        key: TxKey,
        msg: Message,
        now: Instant,
    ) -> Result<(), TxSendError> {
        let status = msg.status().ok_or(TxSendError::WrongMessage)?;
        if !(101..200).contains(&status) {
            return Err(TxSendError::WrongMessage);
        }
        let cfg = self.cfg;
        let tx = self
            .txs
            .get_mut(&key)
            .ok_or(TxSendError::NoSuchTransaction)?;
        if tx.kind != Kind::InviteServer || tx.state != State::Proceeding || tx.reliable_pending {
            return Err(TxSendError::InvalidState);
        }
        let bytes = msg.to_bytes();
        self.transmits.push_back((tx.peer, bytes.clone()));
        tx.reply_bytes = Some(bytes);
        tx.reliable_pending = true;
        tx.interval = cfg.t1;
        self.timers
            .set(&mut tx.deadlines, key, Slot::Retransmit, now + cfg.t1);
        self.timers
            .set(&mut tx.deadlines, key, Slot::Timeout, now + cfg.t64());
        Ok(())
    }

    /// The PRACK for the reliable provisional response of `key` arrived: its
    /// retransmissions stop. Returns false when none was pending.
    pub fn provisional_acked(&mut self, key: TxKey) -> bool {
        let Some(tx) = self.txs.get_mut(&key) else {
            return false;
        };
        if !tx.reliable_pending {
            return false;
        }
        tx.reliable_pending = false;
        tx.deadlines[Slot::Retransmit as usize] = None;
        tx.deadlines[Slot::Timeout as usize] = None;
        self.prune();
        true
    }

    /// Sends a message outside any transaction (the ACK for a 2xx, a stateless response).
    pub fn send_stateless(&mut self, msg: Message, to: SocketAddr) {
        self.transmits.push_back((to, msg.to_bytes()));
    }

    /// Cancels INVITE client transaction `key` (§9.1), with an optional Reason header. Before
    /// any provisional response the CANCEL is held back until one arrives (and dropped if a
    /// final response comes first): `Ok(None)`. Otherwise it is sent at once: `Ok(Some(key
    /// of the CANCEL's own transaction))`; if the INVITE then gets no final response within
    /// 64*T1 it ends with [`TxEvent::Timeout`].
    pub fn cancel(
        &mut self,
        key: TxKey,
        reason: Option<Reason>,
        now: Instant,
    ) -> Result<Option<TxKey>, TxSendError> {
        let tx = self
            .txs
            .get_mut(&key)
            .ok_or(TxSendError::NoSuchTransaction)?;
        match (tx.kind, tx.state) {
            (Kind::InviteClient, State::Calling) => {
                tx.pending_cancel = Some(reason);
                Ok(None)
            }
            (Kind::InviteClient, State::Proceeding) => self.send_cancel(key, reason, now).map(Some),
            _ => Err(TxSendError::InvalidState),
        }
    }

    /// The INVITE server transaction a received CANCEL targets (§9.2): same branch, sent-by
    /// and CSeq number. The TU answers the CANCEL 200 and, if the INVITE has no final
    /// response yet, the INVITE 487.
    pub fn find_invite_for_cancel(&self, cancel: &Message) -> Option<TxKey> {
        let via = cancel.top_via()?;
        let key = *self
            .server_index
            .get(&ServerKey::of_cancelled_invite(cancel, &via)?)?;
        (self.txs.get(&key)?.kind == Kind::InviteServer).then_some(key)
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, key, slot)) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(tx) = self.txs.get_mut(&key) else {
                continue;
            };
            if tx.deadlines[slot as usize] != Some(at) {
                continue;
            }
            tx.deadlines[slot as usize] = None;
            self.fire(key, slot, at);
        }
        self.prune();
    }

    fn fire(&mut self, key: TxKey, slot: Slot, at: Instant) {
        let cfg = self.cfg;
        let Some(tx) = self.txs.get_mut(&key) else {
            return;
        };
        match slot {
            Slot::Retransmit => {
                let (bytes, next) = match (tx.kind, tx.state) {
                    (Kind::InviteClient, State::Calling) => {
                        (Some(&tx.request_bytes), tx.interval * 2)
                    }
                    (Kind::NonInviteClient, State::Trying) => {
                        (Some(&tx.request_bytes), (tx.interval * 2).min(cfg.t2))
                    }
                    (Kind::NonInviteClient, State::Proceeding) => (Some(&tx.request_bytes), cfg.t2),
                    (Kind::InviteServer, State::Completed) => {
                        (tx.reply_bytes.as_ref(), (tx.interval * 2).min(cfg.t2))
                    }
                    (Kind::InviteServer, State::Accepted) if !tx.acked => {
                        (tx.reply_bytes.as_ref(), (tx.interval * 2).min(cfg.t2))
                    }
                    // RFC 3262 §3: the interval doubles without the T2 cap.
                    (Kind::InviteServer, State::Proceeding) if tx.reliable_pending => {
                        (tx.reply_bytes.as_ref(), tx.interval * 2)
                    }
                    _ => (None, tx.interval),
                };
                if let Some(bytes) = bytes {
                    self.transmits.push_back((tx.peer, bytes.clone()));
                    tx.interval = next;
                    self.timers
                        .set(&mut tx.deadlines, key, Slot::Retransmit, at + next);
                }
            }
            Slot::Timeout => match (tx.kind, tx.state) {
                (Kind::InviteServer, State::Proceeding) => {
                    // No PRACK for the reliable provisional: the TU rejects the INVITE.
                    tx.reliable_pending = false;
                    tx.deadlines[Slot::Retransmit as usize] = None;
                    self.events.push_back(TxEvent::PrackTimeout { key });
                }
                (Kind::InviteServer, State::Accepted) => {
                    if !tx.acked {
                        self.events.push_back(TxEvent::AckTimeout { key });
                    }
                    self.terminate(key);
                }
                (Kind::NonInviteServer, _) => self.terminate(key),
                _ => {
                    self.events.push_back(TxEvent::Timeout { key });
                    self.terminate(key);
                }
            },
            Slot::Linger => self.terminate(key),
        }
    }

    fn on_request(&mut self, mut msg: Message, from: SocketAddr, now: Instant) {
        let Some(via) = stamp_top_via(&mut msg, from) else {
            return;
        };
        let Some(skey) = ServerKey::of(&msg, &via) else {
            return;
        };
        let is_invite = match msg.method() {
            Some(Method::Ack) => return self.on_ack(msg, from, &skey, now),
            Some(Method::Invite) => true,
            _ => false,
        };
        if let Some(&key) = self.server_index.get(&skey) {
            return self.on_retransmitted_request(key);
        }
        let dest = response_destination(&via, from);
        let key = self.new_key();
        let mut tx = if is_invite {
            Transaction::new(
                Kind::InviteServer,
                State::Proceeding,
                dest,
                msg.clone(),
                &self.cfg,
            )
        } else {
            Transaction::new(
                Kind::NonInviteServer,
                State::Trying,
                dest,
                msg.clone(),
                &self.cfg,
            )
        };
        tx.server_key = Some(skey.clone());
        if is_invite && self.auto_trying {
            let bytes = Message::response_to(&msg, 100, "Trying").to_bytes();
            self.transmits.push_back((dest, bytes.clone()));
            tx.reply_bytes = Some(bytes);
        }
        if !is_invite {
            // the client gives up after 64*T1: so does a server transaction the TU forgot
            self.timers
                .set(&mut tx.deadlines, key, Slot::Timeout, now + self.cfg.t64());
        }
        self.txs.insert(key, tx);
        self.server_index.insert(skey, key);
        self.events.push_back(TxEvent::Request { key, msg, from });
    }

    fn on_retransmitted_request(&mut self, key: TxKey) {
        let Some(tx) = self.txs.get(&key) else { return };
        let resend = matches!(
            (tx.kind, tx.state),
            (Kind::InviteServer, State::Proceeding | State::Completed)
                | (Kind::NonInviteServer, State::Proceeding | State::Completed)
        );
        if let (true, Some(bytes)) = (resend, &tx.reply_bytes) {
            self.transmits.push_back((tx.peer, bytes.clone()));
        }
    }

    fn on_ack(&mut self, msg: Message, from: SocketAddr, skey: &ServerKey, now: Instant) {
        if let Some(&key) = self.server_index.get(skey) {
            if let Some(tx) = self.txs.get_mut(&key) {
                match tx.state {
                    State::Completed => {
                        tx.state = State::Confirmed;
                        tx.deadlines[Slot::Retransmit as usize] = None;
                        tx.deadlines[Slot::Timeout as usize] = None;
                        self.timers
                            .set(&mut tx.deadlines, key, Slot::Linger, now + self.cfg.t4);
                        return;
                    }
                    State::Accepted => return self.on_ack_for_2xx(key, msg, from),
                    _ => return,
                }
            }
        }
        match AckKey::of(&msg).and_then(|ak| self.ack_index.get(&ak).copied()) {
            Some(key) => self.on_ack_for_2xx(key, msg, from),
            None => self.events.push_back(TxEvent::Ack {
                key: None,
                msg,
                from,
            }),
        }
    }

    fn on_ack_for_2xx(&mut self, key: TxKey, msg: Message, from: SocketAddr) {
        let Some(tx) = self.txs.get_mut(&key) else {
            return;
        };
        if tx.acked {
            return;
        }
        tx.acked = true;
        tx.deadlines[Slot::Retransmit as usize] = None;
        self.events.push_back(TxEvent::Ack {
            key: Some(key),
            msg,
            from,
        });
    }

    fn on_response(&mut self, msg: Message, from: SocketAddr, now: Instant) {
        let key = ClientKey::of(&msg).and_then(|ck| self.client_index.get(&ck).copied());
        let (Some(key), Some(status)) = (key, msg.status()) else {
            self.events.push_back(TxEvent::StrayResponse { msg, from });
            return;
        };
        let cfg = self.cfg;
        let Some(tx) = self.txs.get_mut(&key) else {
            return;
        };
        let mut send_pending_cancel = None;
        let deliver = match (tx.kind, tx.state, status) {
            (Kind::InviteClient, State::Calling | State::Proceeding, 100..=199) => {
                if tx.state == State::Calling {
                    tx.deadlines[Slot::Retransmit as usize] = None;
                    tx.deadlines[Slot::Timeout as usize] = None;
                }
                tx.state = State::Proceeding;
                send_pending_cancel = tx.pending_cancel.take();
                true
            }
            (Kind::InviteClient, State::Calling | State::Proceeding, 200..=299) => {
                tx.state = State::Accepted;
                tx.pending_cancel = None;
                tx.deadlines[Slot::Retransmit as usize] = None;
                tx.deadlines[Slot::Timeout as usize] = None;
                self.timers
                    .set(&mut tx.deadlines, key, Slot::Linger, now + cfg.t64());
                true
            }
            (Kind::InviteClient, State::Calling | State::Proceeding, _) => {
                tx.state = State::Completed;
                tx.pending_cancel = None;
                let ack = build_ack(&tx.request, &msg).to_bytes();
                self.transmits.push_back((tx.peer, ack.clone()));
                tx.reply_bytes = Some(ack);
                tx.deadlines[Slot::Retransmit as usize] = None;
                tx.deadlines[Slot::Timeout as usize] = None;
                self.timers
                    .set(&mut tx.deadlines, key, Slot::Linger, now + cfg.timer_d);
                true
            }
            (Kind::InviteClient, State::Accepted, 200..=299) => true,
            (Kind::InviteClient, State::Completed, 300..) => {
                if let Some(ack) = &tx.reply_bytes {
                    self.transmits.push_back((tx.peer, ack.clone()));
                }
                false
            }
            (Kind::NonInviteClient, State::Trying | State::Proceeding, 100..=199) => {
                tx.state = State::Proceeding;
                true
            }
            (Kind::NonInviteClient, State::Trying | State::Proceeding, _) => {
                tx.state = State::Completed;
                tx.deadlines[Slot::Retransmit as usize] = None;
                tx.deadlines[Slot::Timeout as usize] = None;
                self.timers
                    .set(&mut tx.deadlines, key, Slot::Linger, now + cfg.t4);
                true
            }
            _ => false,
        };
        if deliver {
            self.events.push_back(TxEvent::Response { key, msg });
        }
        if let Some(reason) = send_pending_cancel {
            // a failed CANCEL here leaves the INVITE to its own fate (Timer B or a final)
            let _ = self.send_cancel(key, reason, now);
        }
    }

    /// Sends the CANCEL of INVITE client transaction `invite` and guards the INVITE with
    /// 64*T1 (§9.1).
    fn send_cancel(
        &mut self,
        invite: TxKey,
        reason: Option<Reason>,
        now: Instant,
    ) -> Result<TxKey, TxSendError> {
        let tx = self
            .txs
            .get(&invite)
            .ok_or(TxSendError::NoSuchTransaction)?;
        let mut cancel = build_cancel(&tx.request);
        if let Some(r) = reason {
            cancel.add_header("Reason", &r.to_string());
        }
        let peer = tx.peer;
        let key = self.send_request(cancel, peer, now)?;
        if let Some(tx) = self.txs.get_mut(&invite) {
            if tx.deadlines[Slot::Timeout as usize].is_none() {
                self.timers.set(
                    &mut tx.deadlines,
                    invite,
                    Slot::Timeout,
                    now + self.cfg.t64(),
                );
            }
        }
        Ok(key)
    }

    /// Answers an unacceptable request statelessly (never an ACK; only with a parsable Via).
    fn reject_stateless(&mut self, req: &Message, from: SocketAddr, status: u16, reason: &str) {
        self.respond_stateless(req, from, status, reason, &[]);
    }

    /// Answers a request received from `from` without a transaction (never an ACK; only
    /// with a parsable Via), with `headers` added; the response goes to the source IP
    /// (§18.2.2), never to another host a Via names. A retransmission of the request
    /// gets the same answer again, so nothing has to be remembered.
    pub fn respond_stateless(
        &mut self,
        req: &Message,
        from: SocketAddr,
        status: u16,
        reason: &str,
        headers: &[(&str, &str)],
    ) {
        if !req.is_request() || req.method() == Some(&Method::Ack) {
            return;
        }
        let Some(via) = req.top_via() else { return };
        let mut resp = Message::response_to(req, status, reason);
        if resp.header("To").is_some() && resp.to_tag().is_none() {
            let tag = self.ids.tag();
            resp.set_to_tag(&tag);
        }
        for (k, v) in headers {
            resp.add_header(k, v);
        }
        self.transmits
            .push_back((response_destination(&via, from), resp.to_bytes()));
    }

    /// Whether `req` belongs to a server transaction already under way (a retransmission,
    /// or the ACK of a non-2xx final response).
    pub fn has_server_transaction(&self, req: &Message) -> bool {
        req.top_via()
            .and_then(|via| ServerKey::of(req, &via))
            .is_some_and(|k| self.server_index.contains_key(&k))
    }

    fn terminate(&mut self, key: TxKey) {
        let Some(tx) = self.txs.remove(&key) else {
            return;
        };
        if let Some(k) = tx.client_key {
            if self.client_index.get(&k) == Some(&key) {
                self.client_index.remove(&k);
            }
        }
        if let Some(k) = tx.server_key {
            if self.server_index.get(&k) == Some(&key) {
                self.server_index.remove(&k);
            }
        }
        if let Some(k) = tx.ack_key {
            if self.ack_index.get(&k) == Some(&key) {
                self.ack_index.remove(&k);
            }
        }
        self.events.push_back(TxEvent::Terminated { key });
    }

    /// Sizes of the client, server and ACK indexes and of the timer heap (leak checks).
    #[cfg(test)]
    pub(super) fn internal_sizes(&self) -> [usize; 4] {
        [
            self.client_index.len(),
            self.server_index.len(),
            self.ack_index.len(),
            self.timers.len(),
        ]
    }

    /// The highest key handed out so far.
    #[cfg(test)]
    pub(super) fn next_key_for_tests(&self) -> u64 {
        self.next_key
    }

    fn new_key(&mut self) -> TxKey {
        self.next_key += 1;
        TxKey(self.next_key)
    }

    /// Drops stale entries from the top of the timer heap so `poll_timeout` is exact.
    fn prune(&mut self) {
        while let Some((at, key, slot)) = self.timers.peek() {
            let live = self
                .txs
                .get(&key)
                .is_some_and(|tx| tx.deadlines[slot as usize] == Some(at));
            if live {
                break;
            }
            self.timers.pop();
        }
    }
}
