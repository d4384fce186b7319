//! mediagw's sans-IO core: everything that decides, nothing that waits. Inputs (SIP
//! datagrams, API frames, media events, the time) go in, outputs (datagrams, API
//! frames, media commands, deadlines) come out; the `mediagw` crate drives it with
//! sockets, threads and clocks. `clippy.toml` beside this crate forbids clocks, files,
//! sockets, processes, threads and unseeded randomness here, and CI runs clippy on it.
//!
//! - [`sip`]: RFC 3261 messages, transactions and dialogs, RFC 4028 session timers.
//! - [`sdp`]: offer/answer for G.711 audio with telephone-event.
//! - [`rtp`], [`codec`], [`dtmf`], [`mixer`]: the per-packet DSP the media workers run
//!   (RTP/RTCP, G.711, jitter buffer, DTMF detection and generation, N-1 mixing).
//! - [`speech`]: Mandarin reading rules and the prompt set (the audio bytes are
//!   compiled in; loading files is the media plane's).
//! - [`call`]: the seed's call state machine and digit collection.
//! - [`api`]: JSON-RPC framing and typed parameters of sys.call and sys.conf.
//! - [`engine`]: the control plane: call resources, events, timers, placement of calls
//!   on media workers, talking to them only through [`media_msg`].
//! - [`config`]: the configuration's keys, defaults and checks (reading the file is the
//!   driver's).
#![cfg_attr(test, allow(clippy::disallowed_methods, clippy::disallowed_types))]

pub mod api;
pub mod call;
pub mod codec;
pub mod config;
pub mod dtmf;
pub mod engine;
pub mod media_msg;
pub mod mixer;
pub mod rtp;
pub mod sdp;
pub mod simd;
pub mod sip;
pub mod speech;
