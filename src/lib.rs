//! mediagw: a SIP/RTP media gateway driven by the sys.call JSON-RPC API.
//!
//! The sans-IO core lives in the `mediagw-core` crate and is re-exported here under the
//! same paths ([`sip`], [`sdp`], [`rtp`], [`codec`], [`dtmf`], [`mixer`], [`speech`],
//! [`call`], [`api`], [`engine`], [`media_msg`], [`config`]). This crate is its IO:
//! [`server`] binds SIP/UDP and the WebSocket API and drives the [`engine`] with them and
//! a clock; [`media`] is the media plane (per-core [`worker`]s on io_uring, the file
//! service, the recording writer) the engine commands through [`media_msg`];
//! [`config_file`] reads the configuration and the machine; [`metrics`], [`cdr`] (call
//! detail records on disk) and [`tools`] serve operators. See ARCHITECTURE.md for the layers and the messages between them.

pub use mediagw_core::{
    api, call, codec, config, dtmf, engine, media_msg, mixer, rtp, sdp, simd, sip, speech,
};

pub mod cdr;
pub mod config_file;
pub mod media;
pub mod metrics;
pub mod server;
pub mod tools;
pub mod worker;
