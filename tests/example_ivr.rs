//! The `examples/ivr.rs` client works against the real gateway: it answers a SIPp call
//! and hangs it up after the given time (SIPp sees the BYE), and dials out on request.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use support::gateway::Gateway;
use support::sipp::Sipp;

fn example_binary() -> PathBuf {
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
        assert!(st.success());
    }
    bin
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
    let gw = Gateway::start("");
    let _ivr = Kill(
        Command::new(example_binary())
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
    let uas = Sipp::uas("uas_answer_wait_bye", &[]);
    let gw = Gateway::start("");
    let _ivr = Kill(
        Command::new(example_binary())
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
