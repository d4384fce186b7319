//! SIGHUP through the real binary: `[[gateways]]`, `sip.allow` and the limits are read
//! again and take effect at once while a call (a real SIPp call) stays up untouched; a
//! file that cannot be used is refused with a log line and the running configuration
//! stays; a change that needs a restart is named.

use std::time::{Duration, Instant};

use mediagw_testkit::sipp::SippCommand;
use mediagw_testkit::{Client, Gateway, Peer, start_gateway};
use serde_json::json;

/// Waits for the `n`th log line containing `needle`.
async fn nth_log_line(gw: &Gateway, needle: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(l) = gw
            .log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .nth(n - 1)
        {
            return l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} (#{n}):\n{}",
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config(trunk: &str, allow: &str, max_calls: u32, trunk_max: u32) -> String {
    format!(
        "[sip]\nallow = [{allow}]\nmax_calls = {max_calls}\n\n[[gateways]]\naddress = \"{trunk}\"\nmax_concurrent = {trunk_max}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_gateways_allow_and_limits_without_touching_a_call() {
    let trunk = format!("127.0.0.1:{}", mediagw_testkit::ports::free_udp_port());
    let only_local = "\"127.0.0.1/32\"";
    let mut gw = start_gateway!(&config(&trunk, only_local, 2, 1));
    let mut app = Client::connect(&gw.ws_url()).await;

    // A live call from SIPp, answered; it waits for our BYE.
    let sipp = SippCommand::new("uac_wait_bye")
        .args([gw.sip.to_string().as_str(), "-s", "100", "-timeout", "120s"])
        .spawn()
        .expect("sipp");
    let live = app.event("on_incoming").await["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.ok(
        "sys.call.answer",
        json!({"res_id": live, "max_answer_seconds": 300}),
    )
    .await;
    app.event_of("on_answer_completed", &live).await;

    // Before: 127.0.0.2 is not allowed; the trunk has room for one call only.
    let outsider = Peer::bind("127.0.0.2:0", gw.sip);
    outsider.send(&outsider.request("OPTIONS", "before", "", ""));
    let r = tokio::task::block_in_place(|| outsider.final_response());
    assert!(r.starts_with("SIP/2.0 403"), "{r}");
    let t = Peer::bind(&trunk, gw.sip);
    t.send(&t.request("INVITE", "trunk-1", "", ""));
    let trunk1 = app.event("on_incoming").await["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    t.send(&t.request("INVITE", "trunk-2", "", ""));
    let r = tokio::task::block_in_place(|| t.expect("SIP/2.0 503"));
    assert!(r.contains("Retry-After"), "{r}");

    // Reload: 127.0.0.2 allowed, room for more calls and trunk calls.
    gw.rewrite_config(&config(&trunk, "\"127.0.0.1/32\", \"127.0.0.2/32\"", 4, 3))
        .expect("rewrite");
    gw.signal(libc::SIGHUP);
    let line = nth_log_line(&gw, "configuration reloaded", 1).await;
    for key in ["gateways", "sip.allow", "sip.max_calls"] {
        assert!(line.contains(key), "{line}");
    }
    outsider.send(&outsider.request("OPTIONS", "after", "", ""));
    let r = tokio::task::block_in_place(|| outsider.final_response());
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    t.send(&t.request("INVITE", "trunk-3", "", ""));
    app.event("on_incoming").await;
    // The trunk counts its two live calls after the reload: one more fits, then 503.
    t.send(&t.request("INVITE", "trunk-4", "", ""));
    app.event("on_incoming").await;
    t.send(&t.request("INVITE", "trunk-5", "", ""));
    let r = tokio::task::block_in_place(|| t.expect("SIP/2.0 503"));
    assert!(r.contains("Call-ID: trunk-5"), "{r}");

    // A broken file is refused with a log line; the running configuration stays.
    gw.write_config_text("[sip]\nmax_calls = \"lots\"\n")
        .expect("write");
    gw.signal(libc::SIGHUP);
    let line = nth_log_line(&gw, "reload refused", 1).await;
    assert!(line.contains("max_calls"), "names the key: {line}");
    // A file that parses but fails validation, too.
    gw.rewrite_config(&format!(
        "{}\n[api]\nmax_connections = 0\n",
        config(&trunk, only_local, 4, 3)
    ))
    .expect("rewrite");
    gw.signal(libc::SIGHUP);
    let line = nth_log_line(&gw, "reload refused", 2).await;
    assert!(line.contains("api.max_connections"), "{line}");
    outsider.send(&outsider.request("OPTIONS", "still", "", ""));
    let r = tokio::task::block_in_place(|| outsider.final_response());
    assert!(r.starts_with("SIP/2.0 200"), "the allow-list stayed: {r}");

    // A key that needs a restart is named, and the rest still applies.
    gw.rewrite_config(&format!(
        "{}\n[media]\nrtp_timeout_seconds = 99\n",
        config(&trunk, only_local, 4, 3)
    ))
    .expect("rewrite");
    gw.signal(libc::SIGHUP);
    let line = nth_log_line(&gw, "take effect only at the next start", 1).await;
    assert!(line.contains("[media]"), "{line}");
    nth_log_line(&gw, "configuration reloaded", 2).await;
    outsider.send(&outsider.request("OPTIONS", "last", "", ""));
    let r = tokio::task::block_in_place(|| outsider.final_response());
    assert!(r.starts_with("SIP/2.0 403"), "127.0.0.2 is out again: {r}");

    // The first call lived through all of it: it ends now, by our drop, as usual.
    assert_eq!(
        app.ok("sys.call.exists", json!({"res_id": live})).await,
        json!(true)
    );
    assert!(
        !app.queued_names_of(&live)
            .iter()
            .any(|n| n == "sys.call.on_released"),
        "{:?}",
        app.queued()
    );
    app.ok("sys.call.drop", json!({"res_id": live, "cause": 200}))
        .await;
    let rel = app.event_of("on_released", &live).await;
    assert_eq!(
        (rel["dropped_by"].as_str(), rel["cause"].as_u64()),
        (Some("sys"), Some(200))
    );
    let r = tokio::task::block_in_place(|| sipp.wait_for(Duration::from_secs(30)));
    assert!(r.success(), "{}\n{}", r.stdout, r.logs);
    assert!(
        r.logs.contains("BYE reason Reason: SIP;cause=200"),
        "{}",
        r.logs
    );
    let _ = trunk1;
}
