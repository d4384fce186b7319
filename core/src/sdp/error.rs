//! Errors of SDP parsing and offer/answer negotiation, with the SIP status a
//! failed offer should be answered with.

use thiserror::Error;

/// Why an SDP could not be parsed or negotiated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// A line breaks the RFC 4566 grammar (1-based line number).
    #[error("malformed SDP at line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The body exceeds the size we accept.
    #[error("SDP body too large")]
    TooLarge,
    /// No audio RTP/AVP stream with a non-zero port was offered.
    #[error("no acceptable media stream")]
    NoAcceptableMedia,
    /// The audio stream offers no codec we support (PCMU, PCMA).
    #[error("no common codec")]
    NoCommonCodec,
    /// Neither the media section nor the session has a `c=` line.
    #[error("no connection address for the audio stream")]
    NoConnection,
    /// The connection address is not an IP literal (or does not match its type).
    #[error("unsupported connection address {0:?}")]
    UnsupportedAddress(String),
    /// The answer rejected our audio stream (port 0).
    #[error("the answer rejected the audio stream")]
    Rejected,
    /// The answer does not match the offer (m-line count or formats).
    #[error("answer does not match the offer")]
    AnswerMismatch,
    /// An answer arrived but we have no offer outstanding.
    #[error("no offer is pending")]
    NoPendingOffer,
}

impl SdpError {
    /// The SIP status to answer an offer that failed this way: 400 for a
    /// malformed body, 488 (Not Acceptable Here) for a negotiation failure.
    pub fn sip_status(&self) -> u16 {
        match self {
            Self::Malformed { .. } | Self::TooLarge => 400,
            _ => 488,
        }
    }
}
