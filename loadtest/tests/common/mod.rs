//! What the end-to-end tests of `mediagw-load` share: running one of its modes against
//! the gateway built beside it (`MEDIAGW_BIN` overrides), in a report directory of its
//! own that is read back and removed.

#![allow(dead_code)] // each test uses its own part of it

use std::process::Command;

/// What one run left behind.
pub struct Run {
    /// Whether it exited 0.
    pub success: bool,
    /// Its exit status, for messages.
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The report files asked for, in order (empty when missing).
    pub reports: Vec<String>,
}

/// Runs `mediagw-load <args> --out DIR` and reads `reports` from DIR.
pub fn run_load(args: &[&str], reports: &[&str]) -> Run {
    let exe = env!("CARGO_BIN_EXE_mediagw-load");
    // The gateway binary sits next to ours in the target directory (built for the
    // workspace's tests), unless MEDIAGW_BIN says otherwise.
    let gw = std::path::Path::new(exe).with_file_name("mediagw");
    let dir = std::env::temp_dir().join(format!(
        "mediagw-load-{}-test-{}",
        args[0],
        std::process::id()
    ));
    let mut cmd = Command::new(exe);
    cmd.args(args).arg("--out").arg(&dir);
    if std::env::var_os("MEDIAGW_BIN").is_none() {
        assert!(
            gw.exists(),
            "{} missing: cargo build -p mediagw first (or cargo test --workspace)",
            gw.display()
        );
        cmd.env("MEDIAGW_BIN", &gw);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run mediagw-load {}: {e}", args[0]));
    let reports = reports
        .iter()
        .map(|name| std::fs::read_to_string(dir.join(name)).unwrap_or_default())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        success: out.status.success(),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        reports,
    }
}
