//! Who may do what on SIP, through the real binary on loopback: real sipvicious scans
//! (`svmap`, `svwar`) from 127.0.0.2 against a gateway that allows only 127.0.0.1, with
//! `sip.deny_action` "reject" (one stateless 403 per request, nothing else) and "drop"
//! (silence); neither creates a call, an event, a transaction or a retransmission:
//! one datagram out at most per datagram in. And the per-source INVITE rate limit
//! (`sip.max_invites_per_second_per_source`): past it a source gets 503 with
//! `Retry-After`, another source does not notice, and the source is admitted again once
//! its bucket refills.

use std::process::{Command, Stdio};
use std::time::Duration;

use mediagw_testkit::http::{metrics, series, wait_metric};
use mediagw_testkit::{Client, Gateway, Peer, start_gateway};
use serde_json::json;

/// The gateway's CPU time (user + system), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which is in parentheses): utime is the 14th field.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

/// Runs a scanner to its end (bounded to 90 s); returns what it printed.
fn scan(program: &str, args: &[&str]) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e} (tests/setup.sh installs sipvicious)"));
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// svmap (OPTIONS and INVITE sweeps) and svwar (an INVITE extension scan) from 127.0.0.2.
fn scans(gw: &Gateway) -> String {
    let port = gw.sip.port().to_string();
    let svwar = mediagw_testkit::repo_path("tests/data/sipvicious/svwar_bound.py");
    let svwar = svwar.to_str().expect("path");
    let mut out = String::new();
    for args in [
        vec!["svmap", "-b", "127.0.0.2", "-p", &port, "127.0.0.1"],
        vec![
            "svmap",
            "-b",
            "127.0.0.2",
            "-p",
            &port,
            "-m",
            "INVITE",
            "127.0.0.1",
        ],
        vec![
            "/usr/bin/python3",
            svwar,
            "127.0.0.2",
            "-m",
            "INVITE",
            "-e",
            "100-199",
            "--force",
            "--maximumtime",
            "5",
            "-p",
            &port,
            "127.0.0.1",
        ],
        vec![
            "/usr/bin/python3",
            svwar,
            "127.0.0.2",
            "-e",
            "100-199",
            "--force",
            "--maximumtime",
            "5",
            "-p",
            &port,
            "127.0.0.1",
        ],
    ] {
        out.push_str(&scan(args[0], &args[1..]));
    }
    out
}

/// After a scan: nothing was created and the client heard nothing. An allowed OPTIONS
/// answered means every datagram sent before it was handled (one socket, one engine
/// task); an API round trip after it means any event would have arrived before it.
async fn nothing_was_created(gw: &Gateway, app: &mut Client) -> String {
    let ok = Peer::new(gw.sip);
    ok.send(&ok.request("OPTIONS", "after-scan", "", ""));
    let r = tokio::task::block_in_place(|| ok.expect("SIP/2.0"));
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    app.ok("sys.call.exists", json!({"res_id": "0.0.1-sys.call-1"}))
        .await;
    assert!(app.queued().is_empty(), "events: {:?}", app.queued());
    // The engine's figures are copied out twice a second: wait for ours to show.
    wait_metric(gw.api, "mediagw_sip_denied_total", |v| v > 0.0).await;
    let m = metrics(gw.api).await;
    assert_eq!(series(&m, "mediagw_calls"), Some(0.0), "{m}");
    for line in m
        .lines()
        .filter(|l| l.starts_with("mediagw_calls_by_state{"))
    {
        assert!(line.ends_with(" 0"), "{line}");
    }
    assert!(!m.contains("mediagw_shed_total{"), "nothing shed: {m}");
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sipvicious_scan_from_a_denied_address_gets_403s_and_creates_nothing() {
    let gw = start_gateway!("[sip]\nallow = [\"127.0.0.1/32\"]\ndeny_action = \"reject\"\n");
    let mut app = Client::connect(&gw.ws_url()).await;
    let cpu_before = cpu_ticks(gw.pid());
    let out = tokio::task::block_in_place(|| scans(&gw));
    let cpu = cpu_ticks(gw.pid()) - cpu_before;
    // svmap saw a SIP device (it answered 403); svwar found no extension.
    assert!(
        out.contains(&format!("127.0.0.1:{}", gw.sip.port())),
        "{out}"
    );
    assert!(!out.contains("| 100 "), "an extension was found: {out}");
    let m = nothing_was_created(&gw, &mut app).await;
    let denied = series(&m, "mediagw_sip_denied_total").unwrap();
    let got = series(&m, "mediagw_sip_datagrams_in_total").unwrap();
    let sent = series(&m, "mediagw_sip_datagrams_out_total").unwrap();
    // Everything but our own OPTIONS came from the scanners and was denied; each got at
    // most one answer (an ACK none), and nothing was retransmitted.
    assert!(denied >= 4.0, "{m}");
    assert_eq!(got, denied + 1.0, "{m}");
    assert!(sent <= denied + 1.0, "more answers than requests: {m}");
    assert!(sent >= 2.0, "the scanners got their 403s: {m}");
    // Answered without a transaction: the only one alive is our own OPTIONS's (a
    // non-INVITE server transaction lingers for 64*T1).
    assert!(
        series(&m, "mediagw_sip_transactions").unwrap() <= 1.0,
        "the scan left transactions: {m}"
    );
    eprintln!("gateway CPU during the scan (including its idle ticking): {cpu} ticks");
    assert!(gw.log_text().lines().all(|l| !l.contains("on_incoming")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_deny_action_drop_a_scan_hears_nothing_at_all() {
    let gw = start_gateway!("[sip]\nallow = [\"127.0.0.1/32\"]\ndeny_action = \"drop\"\n");
    let mut app = Client::connect(&gw.ws_url()).await;
    let out = tokio::task::block_in_place(|| scans(&gw));
    assert!(
        !out.contains(&format!("127.0.0.1:{}", gw.sip.port())),
        "svmap found the gateway: {out}"
    );
    let m = nothing_was_created(&gw, &mut app).await;
    let denied = series(&m, "mediagw_sip_denied_total").unwrap();
    assert!(denied >= 3.0, "{m}");
    // The only datagram sent is the answer to our own OPTIONS.
    assert_eq!(
        series(&m, "mediagw_sip_datagrams_out_total"),
        Some(1.0),
        "{m}"
    );
}

/// `n` new INVITEs from `peer`, tagged `tag`; the first final response to each (a
/// retransmitted one is skipped).
fn invite_burst(peer: &Peer, tag: &str, n: usize) -> Vec<String> {
    for i in 0..n {
        peer.send(&peer.request("INVITE", &format!("{tag}-{i}"), "", ""));
    }
    let mut got = std::collections::BTreeMap::new();
    for _ in 0..4 * n {
        if got.len() == n {
            break;
        }
        let r = peer.final_response();
        let call_id = r
            .lines()
            .find_map(|l| l.strip_prefix("Call-ID: "))
            .expect("Call-ID")
            .trim()
            .to_string();
        got.entry(call_id).or_insert(r);
    }
    assert_eq!(got.len(), n, "answers to {tag}: {got:#?}");
    got.into_values().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_past_a_sources_rate_get_503_with_retry_after() {
    let gw = start_gateway!("[sip]\nmax_invites_per_second_per_source = 10\n");
    // No API client: an admitted INVITE gets 480 (no resource), a limited one 503.
    let flood = Peer::bind("127.0.0.3:0", gw.sip);
    let quiet = Peer::new(gw.sip);
    let (flooded, calm) = tokio::task::block_in_place(|| {
        let flooded = invite_burst(&flood, "flood", 60);
        let calm = invite_burst(&quiet, "calm", 5);
        (flooded, calm)
    });
    let shed: Vec<&String> = flooded
        .iter()
        .filter(|r| r.starts_with("SIP/2.0 503"))
        .collect();
    let admitted = flooded
        .iter()
        .filter(|r| r.starts_with("SIP/2.0 480"))
        .count();
    assert_eq!(shed.len() + admitted, 60, "{flooded:#?}");
    // A bucket of 10, refilled at 10/s while the burst is handled.
    assert!((10..=20).contains(&admitted), "{admitted} admitted");
    assert!(
        shed.iter().all(|r| r.contains("\r\nRetry-After: ")),
        "{shed:#?}"
    );
    assert!(
        calm.iter().all(|r| r.starts_with("SIP/2.0 480")),
        "another source is not limited: {calm:#?}"
    );
    let shed_metric = wait_metric(gw.api, "mediagw_shed_total{reason=\"rate_limit\"}", |v| {
        v > 0.0
    })
    .await;
    assert_eq!(shed_metric, shed.len() as f64);
    // Its bucket refills: a second later the source is admitted again.
    let later = Peer::bind("127.0.0.3:0", gw.sip);
    let mut again = String::new();
    for attempt in 0..30 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = tokio::task::block_in_place(|| invite_burst(&later, &format!("later{attempt}"), 1));
        again = r[0].clone();
        if again.starts_with("SIP/2.0 480") {
            break;
        }
    }
    assert!(again.starts_with("SIP/2.0 480"), "{again}");
}
