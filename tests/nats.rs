//! The NATS control bus end to end: a real `nats-server` per test on a free loopback
//! port, mediagw nodes on 127.0.0.1 (each its own SIP, API and RTP ports), SIPp calls
//! sent to each node directly, applications written as [`BusApp`]s.

use std::time::{Duration, Instant};

use mediagw::engine::res_id;
use mediagw_testkit::calls;
use mediagw_testkit::cluster::bus_toml;
use mediagw_testkit::sipp::SippCommand;
use mediagw_testkit::{BusApp, Client, Gateway, NatsServer, Sipp, start_gateway};
use serde_json::{Value, json};

/// Nodes named `names` on the bus, each heard on it before this returns.
async fn nodes(nats: &NatsServer, names: &[&str], extra: &str) -> Vec<Gateway> {
    let probe = BusApp::connect(&nats.url()).await;
    let mut gws = Vec::new();
    for n in names {
        gws.push(start_gateway!(&bus_toml(nats, n, extra)));
        probe.wait_node(n).await;
    }
    gws
}

/// SIPp placing `n` calls to `target`, five a second.
fn uac_calls(scn: &str, target: std::net::SocketAddr, n: u64) -> Sipp {
    SippCommand::new(scn)
        .calls(n)
        .args([target.to_string().as_str(), "-s", "1000", "-r", "5"])
        .spawn()
        .expect("sipp")
}

/// A call that never reached the application: what the node and SIPp said.
fn no_call(gw: &Gateway, sipp: Sipp) -> ! {
    let r = sipp.wait_for(Duration::from_secs(1));
    panic!("no call offered; node log:\n{}\nSIPp: {r:?}", gw.log_text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_on_the_bus_answers_plays_and_collects_on_every_node_directly_and_routed() {
    let nats = NatsServer::start();
    let names = ["a", "b", "c"];
    let gws = nodes(&nats, &names, "").await;
    let mut app = BusApp::connect(&nats.url()).await;
    app.take_offers("apps").await;
    for (i, gw) in gws.iter().enumerate() {
        let me = names[i];
        // Requests for this node's call also go through the next node's subject.
        let other = names[(i + 1) % names.len()];
        let sipp = Sipp::uac("uac_pcap_dtmf", gw.sip, "1000", &[]);
        let Some(offer) = app.offer_within(Duration::from_secs(20)).await else {
            no_call(gw, sipp)
        };
        let id = calls::res_id(&offer);
        assert_eq!(
            res_id::node_of(&id),
            Some(me),
            "the res_id names its node: {id}"
        );
        assert!(id.contains("-sys.call-"), "{id}");
        app.ok(
            "sys.call.answer",
            json!({"res_id": id, "max_answer_seconds": 60}),
        )
        .await;
        let a = app.event("on_answer_completed", &id).await;
        assert_eq!(a["error"], Value::Null, "{a}");
        // Routed: node `other` forwards to node `me` and returns its answer.
        let r = app
            .call_on(
                other,
                "sys.call.receive_dtmf_start",
                json!({"res_id": id, "max_keys": 1, "play_content": [["5", 1, ""]]}),
            )
            .await;
        assert_eq!(r, Ok(Value::Null), "routed through {other}");
        let d = app.event("on_receive_dtmf_completed", &id).await;
        assert_eq!(d["keys"], "1", "{d}");
        app.ok(
            "sys.call.play_start",
            json!({"res_id": id, "content": [["7", 1, ""]]}),
        )
        .await;
        let p = app.event("on_play_completed", &id).await;
        assert_eq!(p["error"], Value::Null, "{p}");
        assert_eq!(
            app.call_on(other, "sys.call.exists", json!({"res_id": id}))
                .await,
            Ok(json!(true))
        );
        app.call_on(other, "sys.call.drop", json!({"res_id": id}))
            .await
            .expect("drop routed");
        let rel = app.event("on_released", &id).await;
        assert_eq!(rel["res_id"], json!(id), "{rel}");
        assert!(rel["answer_time"].is_u64(), "{rel}");
        sipp.succeeded().await;
    }
    // A res_id of a node that is not on the bus: an error naming it, at once.
    let ghost = res_id::format(1, "sys.call", 5, Some("ghost"));
    let t0 = Instant::now();
    let e = app
        .call_on("a", "sys.call.exists", json!({"res_id": ghost}))
        .await
        .expect_err("no such node");
    assert_eq!(e["code"], -32001, "{e}");
    assert_eq!(e["data"]["node"], "ghost", "{e}");
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "no responders is known at once"
    );
    // The same JSON-RPC errors as on the WebSocket, with the caller's own id.
    let v = app
        .raw(
            "b",
            r#"{"jsonrpc":"2.0","id":"x-1","method":"sys.call.nope","params":{}}"#.into(),
        )
        .await
        .expect("reply");
    assert_eq!(
        (v["id"].clone(), v["error"]["code"].clone()),
        (json!("x-1"), json!(-32601))
    );
    let v = app.raw("b", "{oops".into()).await.expect("reply");
    assert_eq!(v["error"]["code"], -32700, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_offer_is_taken_once_and_the_second_instance_takes_over() {
    let nats = NatsServer::start();
    let gws = nodes(&nats, &["a"], "").await;
    let gw = &gws[0];
    let mut one = BusApp::connect(&nats.url()).await;
    let mut two = BusApp::connect(&nats.url()).await;
    one.take_offers("apps").await;
    two.take_offers("apps").await;
    const N: u64 = 6;
    let sipp = uac_calls("uac_expect_486", gw.sip, N);
    let mut taken: Vec<(u8, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (taken.len() as u64) < N && Instant::now() < deadline {
        for (who, app) in [(1u8, &mut one), (2u8, &mut two)] {
            if let Some(o) = app.offer_within(Duration::from_millis(100)).await {
                let id = calls::res_id(&o);
                app.ok("sys.call.reject", json!({"res_id": id, "cause": 486}))
                    .await;
                taken.push((who, id));
            }
        }
    }
    sipp.succeeded().await;
    assert_eq!(taken.len() as u64, N, "{taken:?}");
    let mut ids: Vec<&String> = taken.iter().map(|(_, r)| r).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len() as u64,
        N,
        "each offer taken exactly once: {taken:?}"
    );
    // Nothing more arrives at either (no second delivery of any offer).
    assert!(one.offer_within(Duration::from_millis(300)).await.is_none());
    assert!(two.offer_within(Duration::from_millis(300)).await.is_none());
    // The first instance stops: the second takes every offer.
    one.stop_tasks();
    let sipp = uac_calls("uac_expect_486", gw.sip, 3);
    for _ in 0..3 {
        let o = two.offer().await;
        two.ok(
            "sys.call.reject",
            json!({"res_id": calls::res_id(&o), "cause": 486}),
        )
        .await;
    }
    sipp.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclaimed_offer_goes_to_a_websocket_client_or_gets_480() {
    let nats = NatsServer::start();
    let gws = nodes(&nats, &["a"], "offer_timeout_ms = 500\n").await;
    let gw = &gws[0];
    // Nobody on the bus takes calls and no WebSocket client: 480.
    let sipp = Sipp::uac("uac_expect_480", gw.sip, "1000", &[]);
    sipp.succeeded().await;
    // A WebSocket client: it is offered the call once the bus's offer timed out.
    let mut ws = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("uac_expect_486", gw.sip, "1000", &[]);
    let t0 = Instant::now();
    let o = match tokio::time::timeout(Duration::from_secs(15), ws.event("on_incoming")).await {
        Ok(o) => o,
        Err(_) => no_call(gw, sipp),
    };
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "after the bus's offer timeout"
    );
    ws.ok(
        "sys.call.reject",
        json!({"res_id": o["res_id"], "cause": 486}),
    )
    .await;
    sipp.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_gives_on_released_for_exactly_its_calls_within_the_bound() {
    let nats = NatsServer::start();
    let names = ["a", "b", "c"];
    let mut gws = nodes(&nats, &names, "").await;
    let mut app = BusApp::connect(&nats.url()).await;
    app.take_offers("apps").await;
    // Two calls on b, one each on a and c, all answered.
    let mut calls: Vec<(usize, String, Sipp)> = Vec::new();
    for i in [0usize, 1, 1, 2] {
        let sipp = Sipp::uac("uac_wait_bye", gws[i].sip, "1000", &["-timeout", "60s"]);
        let id = calls::res_id(&app.offer().await);
        assert_eq!(res_id::node_of(&id), Some(names[i]));
        app.ok(
            "sys.call.answer",
            json!({"res_id": id, "max_answer_seconds": 120}),
        )
        .await;
        app.event("on_answer_completed", &id).await;
        calls.push((i, id, sipp));
    }
    // Every node has heard a heartbeat listing them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = Instant::now();
    gws[1].signal(libc::SIGKILL);
    const BOUND: Duration = Duration::from_secs(5);
    for (i, id, _) in calls.iter().filter(|(i, _, _)| *i == 1) {
        let left = BOUND.saturating_sub(killed.elapsed());
        let r = app
            .event_within("on_released", id, left)
            .await
            .unwrap_or_else(|| panic!("no on_released of {id} within {BOUND:?} of the kill"));
        assert_eq!(r["error"], format!("node {} lost", names[*i]), "{r}");
        assert_eq!(r["dropped_by"], "sys");
    }
    let took = killed.elapsed();
    // Exactly once each, and nothing for the calls of the surviving nodes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (i, id, _) in &calls {
        let names_seen = app.queued_names_of(id);
        assert!(
            !names_seen.contains(&"sys.call.on_released".to_string()),
            "node {} call {id}: {names_seen:?}",
            names[*i]
        );
    }
    // The survivors' calls are alive and end normally.
    for (i, id, sipp) in calls.into_iter().filter(|(i, _, _)| *i != 1) {
        assert_eq!(
            app.ok("sys.call.exists", json!({"res_id": id})).await,
            json!(true)
        );
        app.ok("sys.call.drop", json!({"res_id": id})).await;
        let r = app.event("on_released", &id).await;
        assert_eq!(r["error"], Value::Null, "node {}: {r}", names[i]);
        sipp.succeeded().await;
    }
    eprintln!("on_released of the lost node's calls {took:?} after SIGKILL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_restart_loses_no_events() {
    let nats = NatsServer::start();
    let gws = nodes(&nats, &["a"], "event_ack_ms = 300\n").await;
    let gw = &gws[0];
    let mut first = BusApp::connect(&nats.url()).await;
    first.take_offers("apps").await;
    let sipp = Sipp::uac("uac_wait_bye", gw.sip, "1000", &["-timeout", "60s"]);
    let id = calls::res_id(&first.offer().await);
    first
        .ok(
            "sys.call.answer",
            json!({"res_id": id, "max_answer_seconds": 60}),
        )
        .await;
    first.event("on_answer_completed", &id).await;
    first
        .ok(
            "sys.call.play_start",
            json!({"res_id": id, "content": [["123456", 1, ""]]}),
        )
        .await;
    // The instance goes away before the play (six digits read out) ends.
    drop(first);
    // The node holds the completion nobody acknowledged.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gw.log_text().contains("event not acknowledged") {
        assert!(
            Instant::now() < deadline,
            "the event was not held:\n{}",
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A new instance subscribes to the call and makes a request: the held event comes
    // first, then the reply.
    let mut second = BusApp::connect(&nats.url()).await;
    second.watch(&id).await;
    assert_eq!(
        second.ok("sys.call.exists", json!({"res_id": id})).await,
        json!(true)
    );
    let p = second
        .event_within("on_play_completed", &id, Duration::from_secs(1))
        .await
        .expect("the held on_play_completed, delivered before the reply");
    assert_eq!(p["error"], Value::Null, "{p}");
    second.ok("sys.call.drop", json!({"res_id": id})).await;
    second.event("on_released", &id).await;
    assert_eq!(
        second.queued_names_of(&id),
        Vec::<String>::new(),
        "nothing twice"
    );
    sipp.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_back_after_the_call_ended_gets_the_held_on_released() {
    let nats = NatsServer::start();
    let gws = nodes(&nats, &["a"], "event_ack_ms = 300\n").await;
    let gw = &gws[0];
    let mut first = BusApp::connect(&nats.url()).await;
    first.take_offers("apps").await;
    // The caller hangs up 3 s after the answer.
    let sipp = Sipp::uac("uac", gw.sip, "1000", &["-d", "3000"]);
    let id = calls::res_id(&first.offer().await);
    first
        .ok(
            "sys.call.answer",
            json!({"res_id": id, "max_answer_seconds": 60}),
        )
        .await;
    first.event("on_answer_completed", &id).await;
    drop(first);
    sipp.succeeded().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gw.log_text().contains("event not acknowledged") {
        assert!(
            Instant::now() < deadline,
            "the event was not held:\n{}",
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut second = BusApp::connect(&nats.url()).await;
    second.watch(&id).await;
    assert_eq!(
        second.ok("sys.call.exists", json!({"res_id": id})).await,
        json!(false),
        "the call has ended"
    );
    let r = second
        .event_within("on_released", &id, Duration::from_secs(1))
        .await
        .expect("the held on_released, delivered before the reply");
    assert_eq!(r["dropped_by"], "usr", "the caller hung up: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn construct_over_the_bus_then_its_events_on_the_subject() {
    let nats = NatsServer::start();
    let _gws = nodes(&nats, &["a"], "").await;
    let uas = Sipp::uas("uas_answer_wait_bye", &[]);
    let mut app = BusApp::connect(&nats.url()).await;
    let to = format!("sip:1@{}", uas.addr());
    let r = app
        .call_on(
            "a",
            "sys.call.construct",
            json!({"to_uri": to, "max_answer_seconds": 30}),
        )
        .await
        .expect("construct");
    let id = calls::res_id(&r);
    assert_eq!(res_id::node_of(&id), Some("a"), "{r}");
    // Subscribed only now, after the reply: the first event waits for it.
    app.watch(&id).await;
    let d = app.event("on_dial_completed", &id).await;
    assert_eq!(d["error"], Value::Null, "{d}");
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    app.event("on_released", &id).await;
    uas.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_ivr_example_answers_collects_reads_back_and_hangs_up() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let bin = mediagw_testkit::examples::example_binary("nats_ivr");
    let nats = NatsServer::start();
    let gws = nodes(&nats, &["a"], "").await;
    let mut child = Command::new(bin)
        .args(["--url", &nats.url()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the nats_ivr example");
    let out = child.stdout.take().expect("stdout");
    let _ivr = mediagw_testkit::examples::KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the example started");
    assert!(first.contains("waiting for calls"), "{first}");
    // SIPp sends digit 1 after the answer and waits for the example's BYE.
    let sipp = Sipp::uac("uac_pcap_dtmf", gws[0].sip, "1000", &[]);
    sipp.succeeded().await;
    let lines: Vec<String> = rx.try_iter().collect();
    let text = lines.join("\n");
    let collected = lines
        .iter()
        .find(|l| l.contains("on_receive_dtmf_completed"))
        .unwrap_or_else(|| panic!("no digits collected:\n{text}"));
    assert!(collected.contains(r#""keys":"1""#), "{text}");
    assert!(
        text.contains("on_play_completed") && text.contains("on_released"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopping_publishes_its_calls_on_released_before_it_exits() {
    let nats = NatsServer::start();
    let mut gws = nodes(&nats, &["a"], "[sip]\ndrain_seconds = 0\n").await;
    let mut app = BusApp::connect(&nats.url()).await;
    app.take_offers("apps").await;
    let sipp = Sipp::uac("uac_wait_bye", gws[0].sip, "1000", &[]);
    let id = calls::res_id(&app.offer().await);
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    )
    .await;
    app.event("on_answer_completed", &id).await;
    gws[0].signal(libc::SIGTERM);
    let status = tokio::task::block_in_place(|| gws[0].wait_exit(Duration::from_secs(20)));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let r = app.event("on_released", &id).await;
    assert_eq!(r["dropped_by"], "sys", "{r}");
    sipp.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_nats_nothing_changes() {
    let gw = start_gateway!("");
    let mut ws = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("uac_expect_486", gw.sip, "1000", &[]);
    let o = ws.event("on_incoming").await;
    let id = o["res_id"].as_str().expect("res_id").to_string();
    // The seed's shape: 0.0.{serial}-sys.call-{process_id}, no node.
    let (serial, pid) = id
        .strip_prefix("0.0.")
        .and_then(|r| r.split_once("-sys.call-"))
        .expect("seed shape");
    assert!(
        serial.parse::<u64>().is_ok() && pid.parse::<u64>().is_ok(),
        "{id}"
    );
    assert_eq!(res_id::node_of(&id), None);
    ws.ok("sys.call.reject", json!({"res_id": id, "cause": 486}))
        .await;
    sipp.succeeded().await;
    assert!(
        !gw.log_text().contains("control bus"),
        "no bus without api.nats.url"
    );
}
