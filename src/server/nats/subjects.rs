//! The subjects of the control bus (deploy/README.md, "Control bus"):
//!
//! | subject | what |
//! |---|---|
//! | `mediagw.<node>.rpc` | JSON-RPC requests to node `<node>` (NATS request/reply) |
//! | `mediagw.<node>.events.<res_id>` | the events of resource `<res_id>`, each a NATS request the application acknowledges by replying |
//! | `mediagw.incoming` | inbound call offers (`sys.call.on_incoming`), a request answered by the instance that takes the call (subscribe in a queue group) |
//! | `mediagw.<node>.heartbeat` | `{"node","boot","calls":[res_id...]}` every `api.nats.heartbeat_ms` |
//!
//! A res_id holds dots, so an events subject spans several tokens after `events`.

/// Inbound call offers.
pub const INCOMING: &str = "mediagw.incoming";
/// Every node's heartbeat.
pub const ALL_HEARTBEATS: &str = "mediagw.*.heartbeat";
/// Every event of every node.
pub const ALL_EVENTS: &str = "mediagw.*.events.>";

/// Requests to `node`.
pub fn rpc(node: &str) -> String {
    format!("mediagw.{node}.rpc")
}

/// The events of `res_id`, held by `node`.
pub fn events(node: &str, res_id: &str) -> String {
    format!("mediagw.{node}.events.{res_id}")
}

/// `node`'s heartbeat.
pub fn heartbeat(node: &str) -> String {
    format!("mediagw.{node}.heartbeat")
}

/// The node token of a `mediagw.<node>.…` subject.
pub fn node_of(subject: &str) -> Option<&str> {
    let rest = subject.strip_prefix("mediagw.")?;
    rest.split('.').next().filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_the_node_and_the_resource() {
        assert_eq!(rpc("a"), "mediagw.a.rpc");
        let e = events("b", "0.0.3-sys.call-9-b");
        assert_eq!(e, "mediagw.b.events.0.0.3-sys.call-9-b");
        assert_eq!(node_of(&e), Some("b"));
        assert_eq!(node_of(&heartbeat("c-1")), Some("c-1"));
        assert_eq!(node_of("other.c"), None);
    }
}
