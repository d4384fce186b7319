//! `mediagw-load scaleout` end to end, one tiny step (about 15 s): three real nodes behind
//! the real Kamailio dispatcher, 30 SIPp calls at 10/s through the proxy, then 30 media
//! channels from the generator. Every call completes, calls reach all three nodes, every
//! SDP answer names a node's own address (never the proxy's), the prompt comes back on
//! every channel, and the proxy's CPU per call is measured. Skipped (with the reason
//! printed) only where Kamailio is not installed; tests/setup.sh installs it.

mod common;

use serde_json::Value;

#[test]
fn calls_through_the_proxy_reach_all_three_nodes_and_complete() {
    if !mediagw_testkit::Kamailio::available() {
        eprintln!("SKIPPED: kamailio is not installed (tests/setup.sh installs it)");
        return;
    }
    let run = common::run_load(
        &[
            "scaleout",
            "--rates",
            "10",
            "--secs",
            "3",
            "--channels",
            "30",
            "--setup-cps",
            "30",
            "--window-secs",
            "3",
            "--budget",
            "60",
        ],
        &["scaleout.json", "scaleout.md"],
    );
    let (text, md, stderr) = (&run.reports[0], &run.reports[1], &run.stderr);
    assert!(run.success, "{:?}\n{stderr}\n{md}", run.status);
    let r: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let n = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("{v} in {r:#}"));

    let step = &r["steps"][0];
    assert_eq!(n(&step["placed"]), 30, "{md}");
    assert_eq!(n(&step["succeeded"]), 30, "every call completed:\n{md}");
    assert_eq!(n(&step["failed"]), 0, "{md}");
    let per_node: Vec<u64> = step["per_node"]
        .as_array()
        .expect("per_node")
        .iter()
        .map(n)
        .collect();
    assert_eq!(per_node.len(), 3, "{md}");
    assert!(
        per_node.iter().all(|&c| c > 0),
        "calls reached every node: {per_node:?}\n{md}"
    );
    assert_eq!(per_node.iter().sum::<u64>(), 30, "{md}");
    assert_eq!(
        n(&step["released"]),
        30,
        "every call released at its node:\n{md}"
    );
    let proxy_ms = r["proxy_cpu_ms_per_call"].as_f64().unwrap_or(0.0);
    assert!(
        proxy_ms > 0.0,
        "the proxy's CPU per call was measured:\n{md}"
    );

    let d = &r["density"];
    assert_eq!(n(&d["established"]), 30, "{md}");
    assert_eq!(n(&d["via_proxy"]), 0, "media never names the proxy:\n{md}");
    assert_eq!(n(&d["elsewhere"]), 0, "{md}");
    let nodes = d["nodes"].as_array().expect("density nodes");
    assert!(
        nodes.iter().all(|x| n(&x["channels"]) > 0),
        "channels on every node:\n{md}"
    );
    assert_eq!(
        n(&d["dead"]),
        0,
        "the prompt came back on every channel:\n{md}"
    );
    // 30 channels x 50 frames/s x 3 s come back from the nodes; allow a little loss on a
    // loaded machine.
    let received = n(&d["received"]);
    assert!(received * 100 >= 4500 * 95, "received {received}:\n{md}");
    assert_eq!(
        n(&d["hung_up"]),
        30,
        "every call hung up through the proxy:\n{md}"
    );
}
