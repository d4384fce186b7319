//! `mediagw-testkit`: what the integration tests (`tests/`) and the load generator
//! (`loadtest/`) share, each piece once:
//!
//! - [`audio`]: received RTP decoded, tones measured, DTMF digits and events read back,
//!   tone files written.
//! - [`calls`]: an inbound call from the test agent answered by the test's client.
//! - [`gateway`]: the real `mediagw` process on loopback (free ports, a temporary
//!   configuration merged from a snippet, its addresses read from the start-up log line,
//!   SIGTERM, its log and memory).
//! - [`client`]: a WebSocket JSON-RPC client of the API that queues the events it meets
//!   while waiting for replies, and also exposes the raw send/receive the load generator
//!   pipelines with.
//! - [`sip`]: the SIP test agent: a raw peer for hand-written (and malformed) messages,
//!   a call leg building well-formed requests with the gateway's own
//!   [`mediagw::sip::Message`], SDP offers and answers, and a one-call UA with RTP.
//! - [`sipp`] and [`kamailio`]: real SIPp and Kamailio processes, bounded in time.
//! - [`nats`]: a real nats-server, an application instance on the bus driven step by step
//!   by a test ([`BusApp`]), and [`bus_ivr`]: one that serves many calls at once by
//!   itself and records what happened to each ([`BusIvr`]).
//! - [`cluster`]: the scale-out topology's pieces (nodes behind the Kamailio dispatcher,
//!   on the bus; calls through the proxy and the node that answered each).
//! - [`http`]: a plain HTTP GET on the API listener (`/healthz`, `/metrics`).
//! - [`signals`]: DTMF test signals, noise and talk-off material.
//! - [`pcap`]: the RTP packets of a capture file (what SIPp plays).
//! - [`ports`]: free loopback ports.
//! - [`examples`]: the `examples/` programs built and run as child processes.
//!
//! Tests start the gateway with [`start_gateway!`], which passes the binary cargo built
//! for the calling test (`CARGO_BIN_EXE_mediagw`); other users give the path to
//! [`Gateway::start_with`] or [`Launch`], or find it with [`gateway::find_binary`].

pub mod audio;
pub mod bus_ivr;
pub mod calls;
pub mod client;
pub mod cluster;
pub mod examples;
pub mod gateway;
pub mod http;
pub mod kamailio;
pub mod nats;
pub mod pcap;
pub mod ports;
pub mod signals;
pub mod sip;
pub mod sipp;

mod config;

use std::path::PathBuf;

pub use bus_ivr::{BusIvr, Plan};
pub use client::Client;
pub use gateway::{Gateway, Launch};
pub use kamailio::Kamailio;
pub use nats::{BusApp, NatsServer};
pub use sip::{Callee, Peer, RtpEnd, Rx, Ua};
pub use sipp::{Sipp, SippResult};

/// A path inside the repository this kit belongs to (`loadtest/sipp`, `tests/data/...`).
pub fn repo_path(rel: &str) -> PathBuf {
    let kit = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    kit.parent().unwrap_or(kit).join(rel)
}

/// Starts the gateway binary cargo built for the calling integration test, with
/// `extra_toml` merged over the loopback defaults; panics (with the gateway's log) when it
/// does not start. Only usable in the `mediagw` package's own tests, where cargo sets
/// `CARGO_BIN_EXE_mediagw`.
#[macro_export]
macro_rules! start_gateway {
    ($extra_toml:expr) => {
        $crate::Gateway::start_with(
            ::std::path::Path::new(env!("CARGO_BIN_EXE_mediagw")),
            $extra_toml,
        )
        .unwrap_or_else(|e| panic!("{e:#}"))
    };
}
