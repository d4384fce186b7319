//! Transaction matching keys: §17.1.3 for responses to client transactions and §17.2.3 for
//! requests to server transactions (RFC 3261 branches, with the RFC 2543 fallback), plus the
//! dialog-level key that ties an ACK for a 2xx to the INVITE server transaction that sent it.

use super::super::message::Message;
use super::super::method::Method;
use super::super::via::Via;

/// Matches a response to a client transaction: top Via branch and CSeq method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    branch: String,
    method: String,
}

impl ClientKey {
    /// The key of an outgoing request or of a received response.
    pub fn of(msg: &Message) -> Option<ClientKey> {
        let branch = msg.top_via()?.branch?;
        let (_, method) = msg.cseq()?;
        Some(ClientKey {
            branch,
            method: method.as_str().to_string(),
        })
    }
}

/// Matches a request to a server transaction. ACK is filed under INVITE, so that the ACK of
/// a non-2xx response finds its INVITE; CANCEL stays separate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// RFC 3261: branch, sent-by, method.
    Branch {
        branch: String,
        host: String,
        port: Option<u16>,
        method: String,
    },
    /// RFC 2543 peers (no magic cookie): Request-URI, From tag, Call-ID, CSeq number, top Via,
    /// method. The To tag is left out so that the ACK (which carries the tag we chose)
    /// matches; the Request-URI is left out for the ACK's sake too.
    Legacy {
        call_id: String,
        from_tag: String,
        cseq: u32,
        via: String,
        method: String,
    },
}

impl ServerKey {
    /// The key of a received request, ACK filed under INVITE.
    pub fn of(msg: &Message, via: &Via) -> Option<ServerKey> {
        let (cseq, method) = msg.cseq()?;
        let method = match msg.method()? {
            Method::Ack => Method::Invite,
            _ => method,
        };
        Some(Self::with_method(msg, via, cseq, &method))
    }

    /// The key the INVITE that `cancel` targets was filed under.
    pub fn of_cancelled_invite(cancel: &Message, via: &Via) -> Option<ServerKey> {
        let (cseq, _) = cancel.cseq()?;
        Some(Self::with_method(cancel, via, cseq, &Method::Invite))
    }

    fn with_method(msg: &Message, via: &Via, cseq: u32, method: &Method) -> ServerKey {
        match via.rfc3261_branch() {
            Some(branch) => ServerKey::Branch {
                branch: branch.to_string(),
                host: via.host.to_ascii_lowercase(),
                port: via.port,
                method: method.as_str().to_string(),
            },
            None => ServerKey::Legacy {
                call_id: msg.call_id().unwrap_or_default().to_string(),
                from_tag: msg.from_tag().unwrap_or_default(),
                cseq,
                via: format!(
                    "{}:{:?}:{:?}",
                    via.host.to_ascii_lowercase(),
                    via.port,
                    via.branch
                ),
                method: method.as_str().to_string(),
            },
        }
    }
}

/// Ties the ACK for a 2xx (a new transaction, new branch) to the INVITE it acknowledges:
/// Call-ID, CSeq number and From tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AckKey {
    call_id: String,
    cseq: u32,
    from_tag: String,
}

impl AckKey {
    /// The key of an INVITE or of its ACK.
    pub fn of(msg: &Message) -> Option<AckKey> {
        Some(AckKey {
            call_id: msg.call_id()?.to_string(),
            cseq: msg.cseq()?.0,
            from_tag: msg.from_tag().unwrap_or_default(),
        })
    }
}
