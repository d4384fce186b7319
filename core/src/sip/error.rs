//! `ParseError`: why a datagram is not an acceptable SIP message, with the status code and
//! reason phrase to answer it with.

use std::borrow::Cow;
use std::fmt;

use super::message::Message;

/// A message that could not be parsed, or that a semantic check ([`Message::validate`])
/// rejected. `status` is 400 (or 505 for an unsupported SIP version); `reason` is short and
/// fit for the reason phrase of that response ("Bad Request - Malformed Via").
#[derive(Debug, Clone)]
pub struct ParseError {
    status: u16,
    reason: Cow<'static, str>,
    partial: Option<Box<Message>>,
}

impl ParseError {
    /// A 400 error with the given reason.
    pub fn bad_request(reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: 400,
            reason: reason.into(),
            partial: None,
        }
    }

    /// An error with an explicit status code.
    pub fn with_status(status: u16, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            reason: reason.into(),
            partial: None,
        }
    }

    /// Attaches what could be parsed (start line and headers, no body), so that a request can
    /// still be answered.
    pub(super) fn with_partial(mut self, msg: Message) -> Self {
        self.partial = Some(Box::new(msg));
        self
    }

    /// The status code to answer a request with: 400, or 505 for a wrong SIP version.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// A short description, usable as the reason phrase.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The start line and headers as far as they could be parsed (body empty), when the start
    /// line was recognisable and the header section well framed.
    pub fn partial(&self) -> Option<&Message> {
        self.partial.as_deref()
    }

    /// Consumes the error, returning the partial message.
    pub fn into_partial(self) -> Option<Message> {
        self.partial.map(|b| *b)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

impl std::error::Error for ParseError {}
