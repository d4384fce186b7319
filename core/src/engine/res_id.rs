//! The shape of a resource id, and the node it names.
//!
//! The seed's shape is `0.0.{serial}-sys.call-{process_id}` (`sys.conf` for
//! conferences). With the NATS control bus on (`api.nats.url`), the node's name follows
//! after one more `-`: `0.0.{serial}-sys.call-{process_id}-{node}`. The process id is
//! digits only and a node name never holds a `.`, so the node is everything after the
//! first `-` that follows the process id; any application instance can tell from a
//! res_id which node holds the resource (and its subject, `mediagw.<node>.rpc`).
//! Without the bus a res_id is exactly the seed's shape, as before.

/// The res_id of resource `serial` of `kind` (`sys.call`, `sys.conf`).
pub fn format(serial: u64, kind: &str, process_id: u64, node: Option<&str>) -> String {
    match node {
        Some(n) => format!("0.0.{serial}-{kind}-{process_id}-{n}"),
        None => format!("0.0.{serial}-{kind}-{process_id}"),
    }
}

/// The node a res_id names, if it names one.
pub fn node_of(res_id: &str) -> Option<&str> {
    let (_, tail) = ["-sys.call-", "-sys.conf-"]
        .iter()
        .find_map(|k| res_id.split_once(k))?;
    let (pid, node) = tail.split_once('-')?;
    (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && !node.is_empty()).then_some(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_is_recovered_and_the_seed_shape_kept() {
        assert_eq!(format(7, "sys.call", 42, None), "0.0.7-sys.call-42");
        assert_eq!(node_of("0.0.7-sys.call-42"), None);
        assert_eq!(node_of("0.0.0-sys.call-23479873432234"), None);
        let id = format(7, "sys.call", 42, Some("gw-b_2"));
        assert_eq!(id, "0.0.7-sys.call-42-gw-b_2");
        assert_eq!(node_of(&id), Some("gw-b_2"));
        let conf = format(9, "sys.conf", 1, Some("n1"));
        assert_eq!(node_of(&conf), Some("n1"));
        assert_eq!(node_of("garbage"), None);
        assert_eq!(node_of("0.0.1-sys.call-x-node"), None);
        assert_eq!(node_of("0.0.1-sys.call-12-"), None);
    }
}
