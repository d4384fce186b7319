//! SIP signalling, sans-IO: the message layer (parsing, building and serialising RFC 3261
//! messages, with the header helpers the gateway needs) and the RFC 3261 §17 transaction
//! layer for UDP. Nothing here touches a socket or a clock: datagrams and instants go in,
//! datagrams, events and deadlines come out.

pub mod body;
mod dialog;
mod error;
mod grammar;
mod headers;
mod ids;
mod message;
mod method;
mod name_addr;
mod parser;
pub mod session_timer;
mod target;
pub mod transaction;
mod uri;
mod uri_address;
mod validate;
mod via;

#[cfg(test)]
mod rfc4475_tests;

pub use dialog::{
    Dialog, DialogRequest, DialogState, copy_record_route, route_uri, with_tag, without_tag,
};
pub use error::ParseError;
pub use grammar::{CommaSplit, pct_decode};
pub use headers::{Reason, canonical_name, is_list, join_tokens, parse_cseq, same_name};
pub use ids::Ids;
pub use message::{Header, Message, StartLine};
pub use method::Method;
pub use name_addr::NameAddr;
pub use parser::is_keepalive;
pub use target::{resolve, split_host_port, target_of};
pub use transaction::{TimerConfig, TransactionLayer, Transmit, TxEvent, TxKey, TxSendError};
pub use uri::{SipUri, UriError, is_absolute_uri};
pub use via::{MAGIC_COOKIE, Via};
