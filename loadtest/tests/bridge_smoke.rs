//! `mediagw-load bridge` end to end: 8 bridged pairs through the real gateway (straight
//! relay), a short window: every frame each leg sends comes out of its partner's port,
//! none lost, with a relay latency measured, and the bare echo's beside it.

use std::process::Command;

#[test]
fn eight_bridged_pairs_relay_every_frame() {
    let exe = env!("CARGO_BIN_EXE_mediagw-load");
    let gw = std::path::Path::new(exe).with_file_name("mediagw");
    let dir = tempfile_dir();
    let mut cmd = Command::new(exe);
    cmd.args([
        "bridge",
        "--pairs",
        "8",
        "--window-secs",
        "2",
        "--cps",
        "50",
    ])
    .arg("--out")
    .arg(&dir);
    if std::env::var_os("MEDIAGW_BIN").is_none() {
        assert!(
            gw.exists(),
            "{} missing: run through cargo test --workspace",
            gw.display()
        );
        cmd.env("MEDIAGW_BIN", &gw);
    }
    let out = cmd.output().expect("run mediagw-load bridge");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = std::fs::read_to_string(dir.join("bridge.md")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    let row: Vec<&str> = report
        .lines()
        .find(|l| l.starts_with("| 8 | 16 |"))
        .unwrap_or_else(|| panic!("no row for 8 pairs:\n{report}\n{stderr}"))
        .split('|')
        .map(str::trim)
        .collect();
    // | pairs | legs | sent | relayed | lost | late | latency | echo | ratio | gen | bound |
    let num = |i: usize| row[i].parse::<u64>().unwrap_or_else(|_| panic!("{row:?}"));
    let (sent, relayed, lost) = (num(3), num(4), num(5));
    // 16 legs x 50 frames/s x 2 s.
    assert_eq!(sent, 1600, "{report}");
    assert_eq!(lost, 0, "{report}");
    assert!(
        relayed * 100 >= sent * 97,
        "relayed {relayed} of {sent}:\n{report}"
    );
    let p50: u64 = row[7]
        .split('/')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("latency {:?}", row[7]));
    assert!(p50 > 0, "{report}");
    assert!(
        row[8].contains('/'),
        "the echo baseline was measured: {report}"
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mediagw-load-bridge-test-{}", std::process::id()))
}
