//! The scale-out topology of issue 13, in the pieces its tests share (`tests/scaleout.rs`,
//! `tests/scaleout_sip.rs`, `tests/nats.rs`): mediagw nodes on their own loopback
//! addresses (127.0.0.2, .3, ...) that only the proxy on [`PROXY_IP`] may call, optionally
//! on the NATS control bus; SIPp calls placed through the Kamailio dispatcher and the
//! node that answered each one, read back from the scenario's log.

use std::net::SocketAddr;

use crate::sipp::SippCommand;
use crate::{NatsServer, Sipp, SippResult};

/// Where the tests run the dispatcher (`deploy/kamailio/kamailio.cfg`).
pub const PROXY_IP: [u8; 4] = [127, 0, 0, 10];

/// The configuration of a node on `127.0.0.<k>` (`port`, 0 for any free one) that only
/// the proxy may call, with no per-source INVITE limit (every call comes from the proxy)
/// and `drain_seconds` of drain on SIGTERM.
pub fn node_toml(k: u8, port: u16, drain_seconds: u32) -> String {
    let [a, b, c, d] = PROXY_IP;
    format!(
        "[sip]\nlisten = \"127.0.0.{k}:{port}\"\nallow = [\"{a}.{b}.{c}.{d}/32\"]\n\
         max_invites_per_second_per_source = 0\ndrain_seconds = {drain_seconds}\n"
    )
}

/// The `[api.nats]` section putting a node named `node` on the bus of `nats`, with
/// `extra` lines after it (more `[api.nats]` keys, then other sections).
pub fn bus_toml(nats: &NatsServer, node: &str, extra: &str) -> String {
    format!(
        "[api.nats]\nurl = \"{}\"\nnode = \"{node}\"\n{extra}",
        nats.url()
    )
}

/// SIPp placing `n` calls through `proxy` with scenario `scenario` (one that logs
/// `node ADDR media IP` on the 200, as `dispatch_uac_call` does), `rate` a second, each
/// pausing `pause_ms` (`-d`) where its scenario pauses; SIPp gives up on a call after 50 s.
pub fn dispatch_calls(scenario: &str, proxy: SocketAddr, n: u64, rate: u32, pause_ms: u32) -> Sipp {
    let (rate, pause) = (rate.to_string(), pause_ms.to_string());
    let target = proxy.to_string();
    SippCommand::new(scenario)
        .args([target.as_str(), "-s", "95588", "-r", &rate, "-d", &pause])
        .args([
            "-timeout",
            "50s",
            "-l",
            "40",
            "-default_behaviors",
            "all,-abortunexp",
        ])
        .calls(n)
        .spawn()
        .unwrap_or_else(|e| panic!("sipp {scenario}: {e:#}"))
}

/// `(node address, media address)` of every call SIPp logged as answered (the
/// `dispatch_*` scenarios log the 200's Contact and its SDP's `c=` address).
pub fn answered_by(r: &SippResult) -> Vec<(SocketAddr, String)> {
    r.logs
        .lines()
        .filter_map(|l| {
            let rest = l.split(" node ").nth(1)?;
            let mut w = rest.split_whitespace();
            let node = w.next()?.parse().ok()?;
            let media = w.nth(1)?.to_string();
            Some((node, media))
        })
        .collect()
}
