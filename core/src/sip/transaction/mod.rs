//! RFC 3261 §17 transactions for UDP, sans-IO in the style of quinn-proto: feed datagrams
//! ([`TransactionLayer::handle_datagram`] / [`TransactionLayer::handle_bytes`]) and clock
//! ticks ([`TransactionLayer::handle_timeout`]) in; take datagrams
//! ([`TransactionLayer::poll_transmit`]), events ([`TransactionLayer::poll_event`]) and the
//! next deadline ([`TransactionLayer::poll_timeout`]) out.
//!
//! Four machines: INVITE client (Timers A, B, D and RFC 6026's M), non-INVITE client (E, F,
//! K), INVITE server (G, H, I and RFC 6026's L) and non-INVITE server (J). The layer also
//! does what RFC 3261 leaves to the TU around a 2xx to INVITE: a server transaction that
//! sent a 2xx retransmits it (T1 doubling up to T2) until the ACK arrives, reports that ACK
//! as [`TxEvent::Ack`] with the transaction's key, and reports [`TxEvent::AckTimeout`] when
//! none came within 64*T1. The ACK *for* a 2xx is still the TU's to build and send (with
//! [`TransactionLayer::send_stateless`]), because it depends on the dialog's route set.

mod build;
mod layer;
mod matching;
mod timers;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::message::Message;

pub use build::{build_ack, build_cancel};
pub use layer::TransactionLayer;

/// RFC 3261 timer values (§17.1.1.1, Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// Round-trip estimate: first retransmission interval (default 500 ms).
    pub t1: Duration,
    /// Cap of the retransmission interval for non-INVITE requests and INVITE responses
    /// (default 4 s).
    pub t2: Duration,
    /// How long a message may stay in the network (default 5 s): Timers I and K.
    pub t4: Duration,
    /// Timer D, how long an INVITE client transaction absorbs retransmitted final responses
    /// (default 32 s, the RFC's minimum for UDP).
    pub timer_d: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
        }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, J, L and M.
    pub fn t64(&self) -> Duration {
        self.t1 * 64
    }
}

/// Names a transaction. Keys are never reused within one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey(pub(super) u64);

impl fmt::Display for TxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{}", self.0)
    }
}

/// What the transaction layer tells its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    /// A new request opened server transaction `key` (retransmissions are absorbed). Answer
    /// with [`TransactionLayer::send_response`]. A CANCEL arrives this way too: look its
    /// INVITE up with [`TransactionLayer::find_invite_for_cancel`].
    Request {
        /// The server transaction.
        key: TxKey,
        /// The request, its top Via completed with `received`/`rport` (§18.2.1, RFC 3581).
        msg: Message,
        /// Where it came from.
        from: SocketAddr,
    },
    /// An ACK that is not the ACK of a non-2xx final response: the ACK for a 2xx. `key` names
    /// the INVITE server transaction whose 2xx it acknowledges while that transaction is still
    /// alive (its 2xx retransmissions stop; later copies of the ACK are absorbed); `None`
    /// otherwise.
    Ack {
        /// The INVITE server transaction, if known.
        key: Option<TxKey>,
        /// The ACK.
        msg: Message,
        /// Where it came from.
        from: SocketAddr,
    },
    /// A response for client transaction `key`: provisionals, the final response, and every
    /// 2xx received while an INVITE client transaction is in the Accepted state (forked or
    /// retransmitted 2xx, which the TU must ACK).
    Response {
        /// The client transaction.
        key: TxKey,
        /// The response.
        msg: Message,
    },
    /// A response matching no client transaction, typically a 2xx retransmission after the
    /// INVITE client transaction ended: the dialog layer re-sends its ACK.
    StrayResponse {
        /// The response.
        msg: Message,
        /// Where it came from.
        from: SocketAddr,
    },
    /// Client transaction without a final response in time (Timer B or F, or 64*T1 after a
    /// CANCEL): act as on a 408. INVITE server transaction whose non-2xx final response was
    /// never acknowledged (Timer H).
    Timeout {
        /// The transaction.
        key: TxKey,
    },
    /// INVITE server transaction whose 2xx was not acknowledged within 64*T1: the TU should
    /// end the dialog with BYE (RFC 3261 §13.3.1.4).
    AckTimeout {
        /// The transaction.
        key: TxKey,
    },
    /// A reliable provisional response of INVITE server transaction `key` got no PRACK
    /// within 64*T1 (RFC 3262 §3): the TU should reject the INVITE with a 5xx.
    PrackTimeout {
        /// The transaction.
        key: TxKey,
    },
    /// A datagram that was not an acceptable message. Requests other than ACK were answered
    /// statelessly (400, or 505) when they carried enough headers to be answered.
    Malformed {
        /// Where it came from.
        from: SocketAddr,
        /// Why it was refused.
        reason: String,
    },
    /// The transaction ended and is forgotten.
    Terminated {
        /// The transaction.
        key: TxKey,
    },
}

/// Why a send was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxSendError {
    /// No live transaction has this key.
    NoSuchTransaction,
    /// The transaction cannot take this now (a response after the final one, a CANCEL after
    /// a final response, a response on a client transaction, ...).
    InvalidState,
    /// The message is not of the expected kind (a response where a request is needed, an
    /// ACK given to `send_request`, ...).
    WrongMessage,
    /// The request has no parsable top Via or CSeq.
    MissingHeaders,
    /// A client transaction with this branch and method already exists.
    DuplicateBranch,
}

impl fmt::Display for TxSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TxSendError::NoSuchTransaction => "no such transaction",
            TxSendError::InvalidState => "invalid transaction state",
            TxSendError::WrongMessage => "wrong kind of message",
            TxSendError::MissingHeaders => "missing Via or CSeq",
            TxSendError::DuplicateBranch => "duplicate branch",
        })
    }
}

impl std::error::Error for TxSendError {}

/// A datagram to send.
pub type Transmit = (SocketAddr, Vec<u8>);
