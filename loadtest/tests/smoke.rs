//! `mediagw-load smoke` end to end: the generator streams to the echo baselines and to
//! the real gateway (40 channels, IVR scenario, RFC 4733 and in-band digits), and every
//! target must hold with zero loss and every digit right.

use std::process::Command;

#[test]
fn smoke_run_holds_every_target_and_prints_the_density_line() {
    let exe = env!("CARGO_BIN_EXE_mediagw-load");
    // The gateway binary sits next to ours in the target directory (built for the
    // workspace's tests), unless MEDIAGW_BIN says otherwise.
    let gw = std::path::Path::new(exe).with_file_name("mediagw");
    let dir = std::env::temp_dir().join(format!("mediagw-load-smoke-test-{}", std::process::id()));
    let mut cmd = Command::new(exe);
    cmd.arg("smoke").arg("--out").arg(&dir);
    if std::env::var_os("MEDIAGW_BIN").is_none() {
        assert!(
            gw.exists(),
            "{} missing: run through cargo test --workspace",
            gw.display()
        );
        cmd.env("MEDIAGW_BIN", &gw);
    }
    let out = cmd.output().expect("run mediagw-load");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        report.contains("gateway-ivr"),
        "the report was written:\n{report}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.starts_with("density: 40 channels/core,") && last.ends_with("(40 channels)"),
        "last line: {last}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("40/40"),
        "every digit string right:\n{stdout}"
    );
}
