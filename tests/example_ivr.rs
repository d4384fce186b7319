//! The `examples/ivr.rs` client works against the real gateway: it answers a SIPp call
//! and hangs it up after the given time (SIPp sees the BYE), and dials out on request.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use support::gateway::Gateway;
use support::sipp::Sipp;

/// The example's executable, built once per test process. `cargo test` builds examples
/// under hashed names only, so on a clean checkout the first call compiles it (tens of
/// seconds on a loaded 2-core machine): every test calls this before it starts anything
/// with a deadline (a SIPp scenario's global timeout, a wait for an event).
fn example_binary() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<this test> -> target/<profile>/examples/ivr
        let exe = std::env::current_exe().expect("test path");
        let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
        let bin = dir.join("examples").join("ivr");
        if !bin.exists() {
            let st = Command::new(env!("CARGO"))
                .args(["build", "--example", "ivr"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo build --example ivr");
            assert!(st.success(), "cargo build --example ivr failed");
        }
        bin
    })
    .clone()
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ivr_example_answers_and_hangs_up() {
    let ivr = example_binary();
    let gw = Gateway::start("");
    let _ivr = Kill(
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
    let gw = Gateway::start("");
    let _ivr = Kill(
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
    let gw = Gateway::start("");
    let mut child = Command::new(ivr)
        .args(["--url", &gw.ws_url(), "--script"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the ivr example");
    let stdout = child.stdout.take().unwrap();
    let _ivr = Kill(child);
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
    let mut ua = support::ua::Ua::invite(gw.sip, 0, true);
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
