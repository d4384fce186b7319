//! Scale-out, the SIP half (issue 13): three mediagw nodes behind the deployable Kamailio
//! dispatcher (`deploy/kamailio/kamailio.cfg`), all on loopback: nodes on 127.0.0.2-4,
//! the proxy on 127.0.0.10, SIPp on 127.0.0.1. Each node's `sip.allow` names only the
//! proxy. Shown here:
//! - calls from SIPp spread over the three nodes (hash of the Call-ID), each answered by
//!   the node's own application, each 200's SDP naming the node's own address (media goes
//!   straight to the node, never through the proxy), ACK and BYE reaching the node that
//!   holds the call through the route set; a direct INVITE to a node is refused (403);
//! - a node drained with SIGTERM answers OPTIONS 503 and is out of rotation within a few
//!   seconds while its live call runs to its end; new calls all go to the others; it exits 0;
//! - a node killed with SIGKILL: calls hashed to it fail over to the others (the proxy's
//!   INVITE timer), the probe takes it out, and a node started again at its address is put
//!   back in rotation and takes calls.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mediagw_testkit::cluster::{PROXY_IP, answered_by, dispatch_calls, node_toml};
use mediagw_testkit::{Client, Gateway, Kamailio, Sipp, start_gateway};
use serde_json::json;

/// How often the proxy probes the nodes (seconds).
const PING: u32 = 1;

/// A node on `127.0.0.<k>` (port `port`, 0 for any) that only the proxy may call.
fn node(k: u8, port: u16, drain_seconds: u32) -> Gateway {
    start_gateway!(&node_toml(k, port, drain_seconds))
}

/// Calls each node's application answered, by node index.
type Answered = Arc<Mutex<BTreeMap<usize, usize>>>;

/// An application on node `i` answering every call it is offered (and counting them).
fn answer_all(rt: &tokio::runtime::Runtime, gw: &Gateway, i: usize, answered: Answered) {
    let url = gw.ws_url();
    let mut app = rt.block_on(Client::connect(&url));
    rt.spawn(async move {
        while let Ok(v) = app.recv().await {
            if v["method"] == "sys.call.on_incoming" {
                *answered.lock().expect("count").entry(i).or_default() += 1;
                let id = v["params"]["res_id"].clone();
                let p = json!({"res_id": id, "max_answer_seconds": 120});
                if app.request("sys.call.answer", p).await.is_err() {
                    return;
                }
            }
        }
    });
}

/// Waits until the proxy has taken `node` out of rotation; how long it took.
fn taken_out(proxy: &Kamailio, node: SocketAddr) -> Duration {
    proxy.wait_out_of_rotation(node, Duration::from_secs(15))
}

/// `n` calls through the proxy, `rate` per second, each talking `hold_ms`.
fn calls(proxy: &Kamailio, n: u32, rate: u32, hold_ms: u32) -> Sipp {
    dispatch_calls("dispatch_uac_call", proxy.addr, n.into(), rate, hold_ms)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn calls_spread_over_the_nodes_with_media_straight_to_each_node() {
    let rt = runtime();
    let nodes: Vec<Gateway> = (2..=4).map(|k| node(k, 0, 30)).collect();
    let answered = Answered::default();
    for (i, n) in nodes.iter().enumerate() {
        answer_all(&rt, n, i, answered.clone());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.sip).collect();
    let proxy = Kamailio::dispatcher(PROXY_IP, &addrs, PING, &dir.path().join("ds.list"));

    let r = calls(&proxy, 30, 10, 300).expect_success();
    let seen = answered_by(&r);
    assert_eq!(seen.len(), 30, "30 calls answered:\n{}", r.logs);
    let mut per_node = BTreeMap::<SocketAddr, usize>::new();
    for (node, media) in &seen {
        assert!(addrs.contains(node), "answered by {node}, not a node");
        assert_eq!(
            media,
            &node.ip().to_string(),
            "the SDP of {node} names its own address, not the proxy's"
        );
        *per_node.entry(*node).or_default() += 1;
    }
    assert_eq!(
        per_node.len(),
        3,
        "every node took calls (hash of 30 Call-IDs): {per_node:?}"
    );
    let by_app = answered.lock().expect("count").clone();
    assert_eq!(by_app.values().sum::<usize>(), 30, "{by_app:?}");
    for (i, a) in addrs.iter().enumerate() {
        assert_eq!(
            by_app.get(&i),
            per_node.get(a),
            "node {a}'s own application"
        );
    }
    // In-dialog requests followed the route set to the node that holds each call.
    assert_eq!(proxy.routed("proxy: ACK "), 30, "{}", proxy.log_text());
    assert_eq!(proxy.routed("proxy: BYE "), 30, "{}", proxy.log_text());

    // A node only lets the proxy in.
    let direct = Sipp::uac("uac_expect_403", nodes[0].sip, "95588", &[]).wait();
    assert!(
        direct.success(),
        "a direct INVITE is refused 403:\n{}",
        direct.logs
    );
}

#[test]
fn a_draining_node_leaves_rotation_while_its_call_runs_to_its_end() {
    let rt = runtime();
    let mut nodes: Vec<Gateway> = (2..=4).map(|k| node(k, 0, 60)).collect();
    let answered = Answered::default();
    for (i, n) in nodes.iter().enumerate() {
        answer_all(&rt, n, i, answered.clone());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.sip).collect();
    let proxy = Kamailio::dispatcher(PROXY_IP, &addrs, PING, &dir.path().join("ds.list"));

    // One long call; the node that took it is drained.
    let long = calls(&proxy, 1, 1, 8000);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let busy = loop {
        if let Some((&i, _)) = answered.lock().expect("count").iter().next() {
            break i;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the long call was never offered"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    nodes[busy].signal(libc::SIGTERM);
    let out = taken_out(&proxy, addrs[busy]);
    eprintln!("draining node out of rotation {out:?} after SIGTERM (probe every {PING} s)");

    // New calls all go to the other two, and all succeed.
    let r = calls(&proxy, 20, 10, 200).expect_success();
    let seen = answered_by(&r);
    assert_eq!(seen.len(), 20, "{}", r.logs);
    assert!(
        seen.iter().all(|(n, _)| *n != addrs[busy]),
        "no new call reached the draining node: {seen:?}"
    );
    assert_eq!(answered.lock().expect("count")[&busy], 1);

    // Its live call ran to its end (SIPp's own BYE after 8 s), then it exited 0.
    let r = long.expect_success_within(Duration::from_secs(40));
    assert_eq!(answered_by(&r).len(), 1, "{}", r.logs);
    let st = nodes[busy]
        .wait_exit(Duration::from_secs(30))
        .expect("the drained node exits once its call ended");
    assert!(st.success(), "{st:?}");
}

#[test]
fn a_killed_node_is_failed_over_then_back_in_rotation_when_it_returns() {
    let rt = runtime();
    let mut nodes: Vec<Gateway> = (2..=4).map(|k| node(k, 0, 30)).collect();
    let answered = Answered::default();
    for (i, n) in nodes.iter().enumerate() {
        answer_all(&rt, n, i, answered.clone());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.sip).collect();
    let proxy = Kamailio::dispatcher(PROXY_IP, &addrs, PING, &dir.path().join("ds.list"));

    // Node 127.0.0.3 dies; calls keep working at once (failover on the INVITE timer).
    nodes[1].signal(libc::SIGKILL);
    nodes[1].wait_exit(Duration::from_secs(10)).expect("killed");
    let r = calls(&proxy, 20, 10, 200).expect_success();
    let seen = answered_by(&r);
    assert_eq!(
        seen.len(),
        20,
        "every call answered by a live node:\n{}",
        r.logs
    );
    assert!(seen.iter().all(|(n, _)| *n != addrs[1]), "{seen:?}");
    taken_out(&proxy, addrs[1]);

    // It comes back at the same address: the probe puts it back and it takes calls.
    let again = node(3, addrs[1].port(), 30);
    assert_eq!(again.sip, addrs[1]);
    answer_all(&rt, &again, 9, answered.clone());
    let back = proxy
        .wait_logged(
            &format!("proxy: node up sip:{}", addrs[1]),
            1,
            Duration::from_secs(15),
        )
        .unwrap_or_else(|| panic!("the node never came back:\n{}", proxy.log_text()));
    eprintln!("restarted node back in rotation after {back:?}");
    let r = calls(&proxy, 30, 10, 200).expect_success();
    let seen = answered_by(&r);
    assert_eq!(seen.len(), 30, "{}", r.logs);
    assert!(
        seen.iter().any(|(n, _)| *n == addrs[1]),
        "the returned node takes calls again: {seen:?}"
    );
    assert!(
        answered
            .lock()
            .expect("count")
            .get(&9)
            .is_some_and(|n| *n > 0)
    );
}
