//! The typed results and inputs of negotiation: stream direction, our local media
//! description, and the negotiated media parameters (the codec is [`Codec`]).

use std::net::{IpAddr, SocketAddr};

use crate::codec::Codec;

/// Stream direction (RFC 3264 §5.1, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MediaDirection {
    /// Send and receive.
    #[default]
    SendRecv,
    /// Send only.
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl MediaDirection {
    /// The direction allowing exactly these.
    pub fn from_flags(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }

    /// True when media may be sent.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// True when media may be received.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }

    /// The same stream seen from the other end (sendonly ↔ recvonly).
    pub fn reversed(self) -> Self {
        Self::from_flags(self.receives(), self.sends())
    }

    /// What both allow.
    pub fn intersect(self, other: Self) -> Self {
        Self::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// The attribute name (`sendrecv`, `sendonly`, `recvonly`, `inactive`).
    pub fn attribute(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// Parses a direction attribute name.
    pub fn from_attribute(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// Our side of the audio stream, as we offer or answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address for `o=` and `c=` (the RTP socket's public address).
    pub addr: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// What we are willing to do: `SendRecv` normally; `SendOnly` or `Inactive`
    /// while we hold the peer. Combined with the offer's direction.
    pub direction: MediaDirection,
    /// Codecs we accept when answering and offer (in this order) when offering.
    pub codecs: Vec<Codec>,
    /// Payload type for telephone-event in our offers (101).
    pub dtmf_pt: u8,
    /// Packet time we offer, in ms (20).
    pub ptime_ms: u32,
    /// Whether our offers include `a=rtcp-mux` (answers accept it whenever offered).
    pub offer_rtcp_mux: bool,
}

impl LocalMedia {
    /// Defaults: sendrecv, PCMU then PCMA, telephone-event 101, 20 ms, no rtcp-mux offer.
    pub fn new(addr: IpAddr, port: u16) -> Self {
        Self {
            addr,
            port,
            direction: MediaDirection::SendRecv,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            dtmf_pt: 101,
            ptime_ms: 20,
            offer_rtcp_mux: false,
        }
    }
}

/// The outcome of a negotiation: what to send where, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// Where to send RTP.
    pub remote_rtp: SocketAddr,
    /// Where to send RTCP (equal to `remote_rtp` with rtcp-mux).
    pub remote_rtcp: SocketAddr,
    /// The audio codec.
    pub codec: Codec,
    /// Its payload type on this stream.
    pub payload_type: u8,
    /// telephone-event payload type (8000 Hz), when both sides have it.
    pub dtmf_pt: Option<u8>,
    /// Comfort-noise payload type, when the peer offered CN (received CN is silence).
    pub cn_pt: Option<u8>,
    /// Packet time in ms: 10, 20 or 30.
    pub ptime_ms: u32,
    /// Our direction: whether we may send and whether the peer will send to us.
    pub direction: MediaDirection,
    /// RTP and RTCP share one port (RFC 5761).
    pub rtcp_mux: bool,
}

impl NegotiatedMedia {
    /// Samples (and bytes, for G.711) per packet.
    pub fn samples_per_packet(&self) -> u32 {
        self.ptime_ms * self.codec.clock_rate() / 1000
    }
}
