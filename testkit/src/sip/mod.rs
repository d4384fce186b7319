//! The SIP test agent, in layers:
//! - [`Peer`]: a UDP socket on loopback that sends hand-written text (malformed on
//!   purpose where a test wants it) or built messages to the gateway, and waits, bounded,
//!   for the next message whose first line matches.
//! - [`CallLeg`]: the calling side of one call (Call-ID, tags, CSeq, branches), building
//!   well-formed INVITE, ACK, BYE and INFO requests with the gateway's own
//!   [`mediagw::sip::Message`] and learning the dialog from its responses; [`ok_to`]
//!   answers what the gateway sends.
//! - [`sdp`]: the audio offer a test UA makes and the RTP address of an answer, read
//!   with the gateway's SDP parser.
//! - [`RtpEnd`]: a real RTP socket that keeps what it receives and sends on the 20 ms
//!   grid; [`Ua`] (one call to the gateway) and [`Callee`] (the far end of a call the
//!   gateway places) each hold one, for end-to-end media tests (blocking).
//!
//! The load generator drives many [`CallLeg`]s over one async socket with the same
//! messages.

mod callee;
mod leg;
mod peer;
mod rtp_end;
pub mod sdp;
mod ua;

pub use callee::Callee;
pub use leg::{CallLeg, ok_to};
pub use peer::Peer;
pub use rtp_end::{RtpEnd, Rx};
pub use ua::Ua;
