//! Fuzz targets for mediagw: one module per target, each with a `run(&[u8])` that drives
//! the gateway's real code the way the gateway drives it, and panics only on a bug.
//! The afl binaries (`src/bin/`, feature `afl`) and the stable replay test
//! (`tests/replay.rs`, every file under `corpus/` and `regressions/`) both call these.

pub mod engine;
pub mod jsonrpc;
pub mod rfc4733;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod sip_parse;
pub mod sip_transaction;
pub mod split;

/// A target: its name (the directory under `corpus/`, `regressions/` and `dict/`, and
/// the afl binary `fuzz_<name>`) and its entry point.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("sip_parse", sip_parse::run),
    ("sip_transaction", sip_transaction::run),
    ("sdp", sdp::run),
    ("rtp", rtp::run),
    ("rtcp", rtcp::run),
    ("rfc4733", rfc4733::run),
    ("jsonrpc", jsonrpc::run),
    ("engine", engine::run),
];
