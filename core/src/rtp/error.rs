//! The error type shared by the RTP, RTCP and telephone-event parsers and builders.

use thiserror::Error;

/// Why a packet could not be parsed or built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// The input ends before the structure it announces.
    #[error("packet too short")]
    TooShort,
    /// The version field is not 2.
    #[error("unsupported RTP version {0}")]
    BadVersion(u8),
    /// The padding count is zero or larger than the space after the header.
    #[error("invalid padding")]
    BadPadding,
    /// An RTCP length field does not fit the packet.
    #[error("invalid RTCP length")]
    BadLength,
    /// A field holds a value the format does not allow (named).
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The output buffer cannot hold the packet.
    #[error("output buffer too small")]
    BufferTooSmall,
}
