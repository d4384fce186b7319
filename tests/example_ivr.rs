//! The `examples/ivr.rs` client works against the real gateway: it answers a SIPp call
//! and hangs it up after the given time (SIPp sees the BYE), and dials out on request.
//! Its `--help` lists its flags.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use mediagw_testkit::examples::KillOnDrop;
use mediagw_testkit::{Gateway, Sipp, start_gateway};

/// The ivr example's executable (built on first use, before any deadline starts).
fn example_binary() -> PathBuf {
    mediagw_testkit::examples::example_binary("ivr")
}

#[test]
fn ivr_example_help_lists_its_flags() {
    let out = Command::new(example_binary())
        .arg("--help")
        .output()
        .expect("run the ivr example");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}: {text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for flag in ["--url", "--hangup-after", "--dial", "--script", "--help"] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    let bad = Command::new(example_binary())
        .arg("--no-such-flag")
        .output()
        .expect("run the ivr example");
    assert_eq!(bad.status.code(), Some(2), "a usage error, not a panic");
}

#[test]
fn ivr_example_answers_and_hangs_up() {
    let ivr = example_binary();
    let gw = start_gateway!("");
    let _ivr = KillOnDrop(
        Command::new(ivr)
            .args(["--url", &gw.ws_url(), "--hangup-after", "1"])
            .stdout(Stdio::null())
            .spawn()
            .expect("run the ivr example"),
    );
    // Wait until the example is connected: /healthz is up and it accepts calls.
    wait_for_clients(&gw, 1);
    let r = Sipp::uac("uac_wait_bye", gw.sip, "95588", &[]).expect_success();
    assert!(r.logs.contains("cause 603"), "{}", r.logs);
}

#[test]
fn ivr_example_dials_out() {
    // Built before SIPp starts: the scenario's 40 s timeout runs from SIPp's start.
    let ivr = example_binary();
    let uas = Sipp::uas("uas_answer_wait_bye", &[]);
    let gw = start_gateway!("");
    let _ivr = KillOnDrop(
        Command::new(ivr)
            .args([
                "--url",
                &gw.ws_url(),
                "--hangup-after",
                "1",
                "--dial",
                &format!("sip:13800138000@{}", uas.addr()),
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("run the ivr example"),
    );
    uas.expect_success();
}

#[test]
fn ivr_example_script_reads_records_plays_back_collects_and_hangs_up() {
    use std::io::BufRead;
    let ivr = example_binary();
    let gw = start_gateway!("");
    let mut child = Command::new(ivr)
        .args(["--url", &gw.ws_url(), "--script"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the ivr example");
    let stdout = child.stdout.take().unwrap();
    let _ivr = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut wait_for = |needle: &str| -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if let Ok(l) = rx.recv_timeout(std::time::Duration::from_millis(100)) {
                seen.push(l.clone());
                if l.contains(needle) {
                    return l;
                }
            }
        }
        panic!(
            "the IVR never printed {needle:?}; it printed:\n{}",
            seen.join("\n")
        );
    };
    wait_for_clients(&gw, 1);
    let mut ua = mediagw_testkit::Ua::invite(gw.sip, 0, true);
    ua.wait_answer();
    wait_for("phase Record");
    // Every packet of the number prompt has arrived by now (its completion event travelled
    // through the gateway and the example); the beep's 8 packets come next.
    let before_beep = ua.packets(0).len();
    let path_line = wait_for("sys.call.record_start");
    let path = path_line
        .split("-> \"")
        .nth(1)
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    // Say something for 1 s, then end the message with '#'.
    let frames: Vec<Vec<u8>> = (0..50).map(|i| vec![(i * 3) as u8 | 0x10; 160]).collect();
    // The recording starts when the beep ends: wait (bounded) for its packets.
    ua.wait_packets(
        0,
        before_beep + mediagw::media::record::BEEP_MS as usize / 20,
    );
    ua.stream(0, &frames);
    ua.send_digit('#', 101);
    wait_for("phase PlayBack");
    wait_for("phase Collect");
    // Digits count once the collection runs: wait for the gateway's reply to the request.
    wait_for("sys.call.receive_dtmf_start");
    ua.send_digit('4', 101);
    ua.send_digit('2', 101);
    ua.send_digit('#', 101);
    let keys = wait_for("keys ");
    assert!(keys.starts_with("keys 42 "), "{keys}");
    wait_for("phase Done");
    ua.answer_bye();
    wait_for("sys.call.on_released");
    // The message was recorded and holds what the caller said.
    let data = std::fs::read(&path).expect("recorded message");
    let said: Vec<u8> = frames
        .concat()
        .iter()
        .map(|b| mediagw::codec::ULAW_TO_ALAW[*b as usize])
        .collect();
    assert!(
        data.windows(said.len()).any(|w| w == said.as_slice()),
        "recording lacks the message"
    );
}

fn wait_for_clients(gw: &Gateway, n: usize) {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(gw.api) {
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.contains(&format!("mediagw_api_connections {n}")) {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the example did not connect");
}

/// kill -9 of the application mid-call: the gateway notices the connection gone, the call
/// lives on without an owner (no BYE at once), and `api.orphan_timeout_seconds` later the
/// gateway hangs it up itself.
#[test]
fn an_application_killed_mid_call_leaves_the_call_up_until_the_orphan_timeout() {
    let ivr = example_binary();
    let gw = start_gateway!("[api]\norphan_timeout_seconds = 3\n");
    let mut app = KillOnDrop(
        Command::new(ivr)
            .args(["--url", &gw.ws_url(), "--hangup-after", "600"])
            .stdout(Stdio::null())
            .spawn()
            .expect("run the ivr example"),
    );
    wait_for_clients(&gw, 1);
    let mut ua = mediagw_testkit::Ua::invite(gw.sip, 0, false);
    ua.wait_answer();
    // SIGKILL: no WebSocket close, the kernel just drops the connection.
    app.0.kill().expect("kill -9");
    app.0.wait().expect("reaped");
    let killed = std::time::Instant::now();
    wait_for_clients(&gw, 0);
    ua.answer_bye();
    let after = killed.elapsed();
    assert!(
        after >= std::time::Duration::from_millis(2500),
        "the call outlived its application until the orphan timeout, not {after:?}"
    );
    assert!(after < std::time::Duration::from_secs(20), "{after:?}");
    let log = gw.log_text();
    assert!(!log.contains("panic"), "{log}");
}
