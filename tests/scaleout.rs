//! Scale-out, the whole topology at once (issue 13): a real Kamailio running the
//! deployable dispatcher (`deploy/kamailio/kamailio.cfg`) on 127.0.0.10, a real
//! nats-server, three mediagw nodes `n2`, `n3`, `n4` on 127.0.0.2-4 that only the proxy
//! may call, all on the bus, and the application only on the bus (a [`BusIvr`]: no
//! WebSocket client anywhere). SIPp calls the proxy. Shown here:
//! - calls spread over the three nodes; one application answers, plays a prompt and
//!   collects the RFC 2833 digit SIPp sends, on calls of every node;
//! - a node drained with SIGTERM leaves rotation, new calls go to the others while its
//!   live call runs to its end, and it exits 0;
//! - a node killed with SIGKILL mid-call: the application gets `on_released`
//!   (`error: "node <name> lost"`) for exactly that node's calls within the stated 5 s;
//!   the other calls go on;
//! - two application instances in one queue group take each offer once, and the second
//!   takes every offer once the first stops;
//! - the application redirects (`sys.call.redirect`) calls offered on one node to another
//!   node: the proxy follows the 302 and the caller ends up answered on that node; a
//!   redirect to an address that is not a node (even a node's IP on another port) is not
//!   followed: the caller gets the 302; nodes redirecting in a ring are followed
//!   `REDIRECT_HOPS` (2) times, then the caller gets 482.
//!
//! The tests run one at a time (each starts six processes and SIPp on a 2-core machine).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use mediagw_testkit::bus_ivr::{CallLog, Calls};
use mediagw_testkit::cluster::{self, PROXY_IP};
use mediagw_testkit::{
    BusApp, BusIvr, Gateway, Kamailio, NatsServer, Plan, Sipp, SippResult, start_gateway,
};
use serde_json::{Value, json};

/// The nodes' names on the bus; node `i` listens on 127.0.0.(i+2).
const NAMES: [&str; 3] = ["n2", "n3", "n4"];
/// How often the proxy probes the nodes (seconds).
const PING: u32 = 1;
/// The bound deploy/README.md states for `on_released` of a lost node's calls.
const LOST_BOUND: Duration = Duration::from_secs(5);

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The proxy, the bus and the three nodes.
struct Topology {
    nats: NatsServer,
    nodes: Vec<Gateway>,
    addrs: Vec<SocketAddr>,
    proxy: Kamailio,
    _dir: tempfile::TempDir,
}

impl Topology {
    /// Starts it all; each node has been heard on the bus when this returns.
    async fn start(drain_seconds: u32) -> Topology {
        let nats = NatsServer::start();
        let probe = BusApp::connect(&nats.url()).await;
        let mut nodes = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let toml = format!(
                "{}{}",
                cluster::node_toml(2 + i as u8, 0, drain_seconds),
                cluster::bus_toml(&nats, name, "")
            );
            nodes.push(start_gateway!(&toml));
            probe.wait_node(name).await;
        }
        let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.sip).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let list = dir.path().join("ds.list");
        let proxy = Kamailio::dispatcher(PROXY_IP, &addrs, PING, &list);
        Topology {
            nats,
            nodes,
            addrs,
            proxy,
            _dir: dir,
        }
    }

    /// The node index of bus name `name`.
    fn index(name: &str) -> usize {
        NAMES
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{name} is not a node"))
    }

    /// The bus name of the node at SIP address `addr`.
    fn name_at(&self, addr: SocketAddr) -> &'static str {
        let i = self.addrs.iter().position(|a| *a == addr);
        NAMES[i.unwrap_or_else(|| panic!("{addr} is not a node"))]
    }

    /// SIPp calls through the proxy (`dispatch_ivr`: the digit `pause_ms` after the
    /// answer, then the application's BYE).
    fn calls(&self, n: u64, rate: u32, pause_ms: u32) -> Sipp {
        cluster::dispatch_calls("dispatch_ivr", self.proxy.addr, n, rate, pause_ms)
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// SIPp's run, every call of it a success.
async fn sipp_ok(sipp: Sipp, limit: Duration) -> SippResult {
    blocking(move || sipp.expect_success_within(limit)).await
}

/// Calls answered per node, by bus name, as SIPp saw them (the 200's Contact); checks
/// that each 200's SDP names the node's own address.
fn sipp_per_node(t: &Topology, r: &SippResult) -> BTreeMap<&'static str, usize> {
    let mut per = BTreeMap::new();
    for (node, media) in cluster::answered_by(r) {
        assert_eq!(media, node.ip().to_string(), "{node}'s SDP names itself");
        *per.entry(t.name_at(node)).or_default() += 1;
    }
    per
}

/// Calls the application answered per node.
fn answered_per_node(calls: &Calls) -> BTreeMap<&'static str, usize> {
    let mut per = BTreeMap::new();
    for c in calls
        .values()
        .filter(|c| c.event("on_answer_completed").is_some())
    {
        *per.entry(NAMES[Topology::index(&c.node)]).or_default() += 1;
    }
    per
}

/// The call ran the whole menu: answered, digit 1 collected, read back, hung up by the
/// application, released once with no error.
fn served(id: &str, c: &CallLog) {
    assert!(c.errors.is_empty(), "{id}: {:?}", c.errors);
    let a = c
        .event("on_answer_completed")
        .unwrap_or_else(|| panic!("{id}: {c:?}"));
    assert_eq!(a["error"], Value::Null, "{id}: {a}");
    assert_eq!(c.keys(), Some("1"), "{id} collected digit 1: {c:?}");
    let p = c
        .event("on_play_completed")
        .unwrap_or_else(|| panic!("{id}: {c:?}"));
    assert_eq!(p["error"], Value::Null, "{id}: {p}");
    assert_eq!(c.count("on_released"), 1, "{id}: {c:?}");
    let r = c.event("on_released").expect("released");
    assert!(r["answer_time"].is_u64(), "{id}: {r}");
    assert_eq!(r["error"], Value::Null, "{id}: {r}");
}

fn released(c: &CallLog) -> bool {
    c.event("on_released").is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_application_on_the_bus_serves_calls_of_every_node_through_the_proxy() {
    let _one = ONE_AT_A_TIME.lock().await;
    let t = Topology::start(30).await;
    let ivr = BusIvr::start(&t.nats.url(), "ivr", Plan::default()).await;
    // 24 Call-IDs hashed over 3 nodes: one left without a call is a 3 × (2/3)^24 chance.
    const N: usize = 24;
    let r = sipp_ok(t.calls(N as u64, 8, 1500), Duration::from_secs(60)).await;
    let by_sipp = sipp_per_node(&t, &r);
    assert_eq!(by_sipp.values().sum::<usize>(), N, "{}", r.logs);
    assert_eq!(by_sipp.len(), 3, "every node took calls: {by_sipp:?}");
    let calls = ivr
        .wait_until("every call released", Duration::from_secs(20), |c| {
            c.len() == N && c.values().all(released)
        })
        .await;
    for (id, c) in &calls {
        served(id, c);
    }
    assert_eq!(
        answered_per_node(&calls),
        by_sipp,
        "the application served each call on the node SIPp reached"
    );
    // In-dialog requests went through the proxy: SIPp's ACKs, the application's BYEs
    // (a retransmission on a loaded machine counts twice).
    assert!(t.proxy.routed("proxy: ACK ") >= N, "{}", t.proxy.log_text());
    assert!(t.proxy.routed("proxy: BYE ") >= N, "{}", t.proxy.log_text());
    eprintln!("calls per node: {by_sipp:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_takes_no_new_calls_while_its_live_call_runs_to_its_end() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut t = Topology::start(60).await;
    let ivr = BusIvr::start(&t.nats.url(), "ivr", Plan::default()).await;
    // One long call: its caller sends the digit 8 s after the answer.
    let long = t.calls(1, 1, 8000);
    let calls = ivr
        .wait_until("the long call answered", Duration::from_secs(20), |c| {
            c.values().any(|c| c.event("on_answer_completed").is_some())
        })
        .await;
    let (long_id, busy_node) = calls
        .iter()
        .map(|(id, c)| (id.clone(), c.node.clone()))
        .next()
        .expect("one call");
    let busy = Topology::index(&busy_node);
    t.nodes[busy].signal(libc::SIGTERM);
    let (proxy, addr) = (&t.proxy, t.addrs[busy]);
    let out =
        tokio::task::block_in_place(|| proxy.wait_out_of_rotation(addr, Duration::from_secs(15)));
    eprintln!("draining {busy_node} out of rotation {out:?} after SIGTERM");

    // New calls all go to the other two nodes, and all are served.
    let r = sipp_ok(t.calls(12, 6, 1000), Duration::from_secs(60)).await;
    let by_sipp = sipp_per_node(&t, &r);
    assert_eq!(by_sipp.values().sum::<usize>(), 12, "{}", r.logs);
    assert!(!by_sipp.contains_key(busy_node.as_str()), "{by_sipp:?}");
    let calls = ivr
        .wait_until("the new calls released", Duration::from_secs(20), |c| {
            c.len() == 13
                && c.iter()
                    .filter(|(id, _)| **id != long_id)
                    .all(|(_, c)| released(c))
        })
        .await;
    for (id, c) in calls.iter().filter(|(id, _)| **id != long_id) {
        assert_ne!(c.node, busy_node, "{id}");
        served(id, c);
    }
    assert!(!released(&calls[&long_id]), "the long call still runs");

    // The live call ran to its end: digit, read back, the application's BYE; the node
    // then exits 0.
    sipp_ok(long, Duration::from_secs(40)).await;
    let calls = ivr
        .wait_until("the long call released", Duration::from_secs(20), |c| {
            released(&c[&long_id])
        })
        .await;
    served(&long_id, &calls[&long_id]);
    let node = &mut t.nodes[busy];
    let st = tokio::task::block_in_place(|| node.wait_exit(Duration::from_secs(30)));
    assert!(st.is_some_and(|s| s.success()), "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_node_mid_call_releases_exactly_its_calls_within_the_bound() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut t = Topology::start(30).await;
    // The callers send no digit during the test (they would after 60 s).
    let plan = Plan {
        first_key_timeout: 120,
        ..Plan::default()
    };
    let ivr = BusIvr::start(&t.nats.url(), "ivr", plan).await;
    const N: usize = 9;
    let _callers = t.calls(N as u64, 9, 60_000);
    let calls = ivr
        .wait_until("every call answered", Duration::from_secs(30), |c| {
            c.len() == N && c.values().all(|c| c.event("on_answer_completed").is_some())
        })
        .await;
    let per = answered_per_node(&calls);
    let (victim, _) = per.iter().max_by_key(|(_, n)| **n).expect("calls");
    let victim = victim.to_string();
    assert!(per.len() > 1, "calls on more than one node: {per:?}");
    let lost: BTreeSet<String> = calls
        .iter()
        .filter(|(_, c)| c.node == victim)
        .map(|(id, _)| id.clone())
        .collect();
    // The victim's heartbeat lists all its calls (so the survivors know them).
    let probe = BusApp::connect(&t.nats.url()).await;
    heartbeat_listing(&probe, &victim, &lost).await;

    let killed = Instant::now();
    t.nodes[Topology::index(&victim)].signal(libc::SIGKILL);
    let calls = ivr
        .wait_until("on_released of the lost node's calls", LOST_BOUND, |c| {
            lost.iter().all(|id| released(&c[id]))
        })
        .await;
    let took = killed.elapsed();
    for id in &lost {
        let r = calls[id].event("on_released").expect("released");
        assert_eq!(r["error"], format!("node {victim} lost"), "{r}");
        assert_eq!(r["dropped_by"], "sys", "{r}");
    }
    // Nothing for the other nodes' calls, and nothing twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = ivr.calls();
    for (id, c) in &calls {
        let n = if lost.contains(id) { 1 } else { 0 };
        assert_eq!(c.count("on_released"), n, "{id} on {}: {c:?}", c.node);
    }
    // The survivors' calls are alive; any instance may end them (here another one).
    let live: Vec<&String> = calls.keys().filter(|id| !lost.contains(*id)).collect();
    for id in &live {
        assert_eq!(
            probe.ok("sys.call.exists", json!({"res_id": id})).await,
            json!(true)
        );
        probe.ok("sys.call.drop", json!({"res_id": id})).await;
    }
    let calls = ivr
        .wait_until("the survivors released", Duration::from_secs(20), |c| {
            live.iter().all(|id| released(&c[*id]))
        })
        .await;
    for id in &live {
        let r = calls[*id].event("on_released").expect("released");
        assert_eq!(r["error"], Value::Null, "{id}: {r}");
        assert_eq!(calls[*id].count("on_released"), 1, "{id}");
    }
    eprintln!(
        "{} calls of {victim} released {took:?} after SIGKILL; {} others went on",
        lost.len(),
        live.len()
    );
}

/// Waits (bounded) for a heartbeat of `node` that lists every call of `ids`.
async fn heartbeat_listing(probe: &BusApp, node: &str, ids: &BTreeSet<String>) {
    use futures_util::StreamExt;
    let subject = mediagw::server::nats::subjects::heartbeat(node);
    let mut sub = probe.client.subscribe(subject).await.expect("subscribe");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout_at(deadline, sub.next())
            .await
            .unwrap_or_else(|_| panic!("no heartbeat of {node} listing {ids:?}"))
            .expect("heartbeat");
        let v: Value = serde_json::from_slice(&m.payload).expect("JSON");
        let listed: BTreeSet<String> = v["calls"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_subset(&listed) {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_application_instance_takes_the_offers_when_the_first_stops() {
    let _one = ONE_AT_A_TIME.lock().await;
    let t = Topology::start(30).await;
    let one = BusIvr::start(&t.nats.url(), "ivr", Plan::default()).await;
    let two = BusIvr::start(&t.nats.url(), "ivr", Plan::default()).await;
    sipp_ok(t.calls(10, 5, 1000), Duration::from_secs(60)).await;
    let all_released = |c: &Calls| c.values().all(released);
    let limit = Duration::from_secs(20);
    let deadline = Instant::now() + limit;
    let (a, b) = loop {
        let (a, b) = (one.calls(), two.calls());
        if a.len() + b.len() >= 10 && all_released(&a) && all_released(&b) {
            break (a, b);
        }
        assert!(Instant::now() < deadline, "not all served: {a:?} {b:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ids_a: BTreeSet<&String> = a.keys().collect();
    let ids_b: BTreeSet<&String> = b.keys().collect();
    assert!(ids_a.is_disjoint(&ids_b), "an offer taken twice");
    assert_eq!(ids_a.len() + ids_b.len(), 10, "each offer taken once");
    for (id, c) in a.iter().chain(b.iter()) {
        served(id, c);
    }
    eprintln!("queue group: {} and {} calls", a.len(), b.len());

    // The first instance stops: the second takes every offer, on whatever node.
    one.stop().await;
    let r = sipp_ok(t.calls(9, 6, 1000), Duration::from_secs(60)).await;
    assert_eq!(cluster::answered_by(&r).len(), 9, "{}", r.logs);
    let b = two
        .wait_until("the later calls served", limit, |c| {
            c.len() == ids_b.len() + 9 && c.values().all(released)
        })
        .await;
    for (id, c) in b.iter().filter(|(id, _)| !ids_b.contains(id)) {
        served(id, c);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_node_is_followed_by_the_proxy_and_one_elsewhere_is_not() {
    let _one = ONE_AT_A_TIME.lock().await;
    let t = Topology::start(30).await;
    // The application sends every call offered on n2 or n4 to n3.
    let b = t.addrs[1];
    let to_b = format!("sip:95588@{b}");
    let plan = Plan {
        redirect: vec![("n2".into(), to_b.clone()), ("n4".into(), to_b.clone())],
        ..Plan::default()
    };
    let ivr = BusIvr::start(&t.nats.url(), "ivr", plan).await;
    // 8 Call-IDs: none hashed to n2 or n4 is a (1/3)^8 chance.
    const N: usize = 8;
    let r = sipp_ok(t.calls(N as u64, 4, 1000), Duration::from_secs(60)).await;
    let by_sipp = sipp_per_node(&t, &r);
    assert_eq!(
        by_sipp,
        BTreeMap::from([("n3", N)]),
        "every caller answered by n3:\n{}",
        r.logs
    );
    let calls = ivr
        .wait_until("every call served on n3", Duration::from_secs(20), |c| {
            c.values().filter(|c| c.node == "n3").count() == N && c.values().all(released)
        })
        .await;
    let mut redirected = 0;
    for (id, c) in &calls {
        if c.node == "n3" {
            served(id, c);
            continue;
        }
        // Offered on n2 or n4, redirected: released there with the 302, never answered,
        // and the same SIP call offered again on n3.
        redirected += 1;
        assert!(c.errors.is_empty(), "{id}: {:?}", c.errors);
        assert!(c.event("on_answer_completed").is_none(), "{id}: {c:?}");
        let rel = c.event("on_released").expect("released");
        assert_eq!(rel["cause"], 302, "{id}: {rel}");
        let sip_id = c.sip_call_id().expect("ipsc_info.call_id");
        assert!(
            calls
                .values()
                .any(|o| o.node == "n3" && o.sip_call_id() == Some(sip_id)),
            "call {sip_id} redirected from {} reached n3",
            c.node
        );
    }
    assert!(redirected > 0, "some calls were hashed to n2 or n4");
    eprintln!("{redirected} of {N} calls redirected to n3 by the proxy");
    assert_eq!(
        t.proxy.routed("proxy: follow redirect "),
        redirected,
        "{}",
        t.proxy.log_text()
    );
    // Each redirected call's ACK and BYE went through the proxy to n3 too.
    assert!(t.proxy.routed("proxy: ACK ") >= N, "{}", t.proxy.log_text());
    assert!(t.proxy.routed("proxy: BYE ") >= N, "{}", t.proxy.log_text());
    ivr.stop().await;

    // A redirect elsewhere, here to n3's own IP on a port that is not in the dispatcher
    // list: the proxy sends nothing there and relays the 302 to the caller.
    let trap = UdpSocket::bind((b.ip(), 0)).expect("bind");
    let outside = format!("sip:95588@{}", trap.local_addr().expect("addr"));
    let plan = Plan {
        redirect: NAMES
            .iter()
            .map(|n| (n.to_string(), outside.clone()))
            .collect(),
        ..Plan::default()
    };
    let out = BusIvr::start(&t.nats.url(), "ivr", plan).await;
    let r = sipp_ok(
        Sipp::uac("uac_expect_302", t.proxy.addr, "95588", &[]),
        Duration::from_secs(40),
    )
    .await;
    let expect = format!("target {}", outside.trim_start_matches("sip:"));
    assert!(r.logs.contains(&expect), "302 to {outside}:\n{}", r.logs);
    trap.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut buf = [0u8; 2048];
    if let Ok((n, from)) = trap.recv_from(&mut buf) {
        panic!(
            "the proxy followed a redirect outside the nodes ({from}):\n{}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    assert_eq!(
        t.proxy.routed("not followed: not a node"),
        1,
        "{}",
        t.proxy.log_text()
    );
    out.stop().await;

    // Nodes redirecting in a ring (n2 -> n3 -> n4 -> n2): the proxy follows two hops
    // (REDIRECT_HOPS) and then answers the caller 482 instead of looping.
    let ring: Vec<(String, String)> = (0..3)
        .map(|i| {
            (
                NAMES[i].to_string(),
                format!("sip:95588@{}", t.addrs[(i + 1) % 3]),
            )
        })
        .collect();
    let plan = Plan {
        redirect: ring,
        ..Plan::default()
    };
    let looping = BusIvr::start(&t.nats.url(), "ivr", plan).await;
    let followed = t.proxy.routed("proxy: follow redirect ");
    sipp_ok(
        Sipp::uac("uac_expect_482", t.proxy.addr, "95588", &[]),
        Duration::from_secs(40),
    )
    .await;
    let offers = looping
        .wait_until("three offers released", Duration::from_secs(10), |c| {
            c.len() == 3 && c.values().all(released)
        })
        .await;
    let nodes: BTreeSet<&str> = offers.values().map(|c| c.node.as_str()).collect();
    assert_eq!(nodes.len(), 3, "offered once on each node: {offers:?}");
    assert_eq!(t.proxy.routed("proxy: follow redirect ") - followed, 2);
    assert_eq!(t.proxy.routed("not followed: loop"), 1);
}
