//! mediagw: a SIP/RTP media gateway driven by the sys.call JSON-RPC API.
//!
//! Control plane (tokio): [`server`] binds SIP/UDP and the WebSocket API and drives the
//! sans-IO [`engine`], which owns the call resources ([`call`]), the SIP stack
//! ([`sip`]) and SDP offer/answer ([`sdp`]). Data plane: per-core [`worker`]s on
//! io_uring carry RTP ([`rtp`], [`codec`]), prompts ([`speech`]) and DTMF ([`dtmf`]).

pub mod api;
pub mod call;
pub mod codec;
pub mod config;
pub mod dtmf;
pub mod engine;
pub mod media;
pub mod metrics;
pub mod rtp;
pub mod sdp;
pub mod server;
pub mod sip;
pub mod speech;
pub mod tools;
pub mod worker;
