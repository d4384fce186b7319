//! `mediagw-load bridge` end to end: 8 bridged pairs through the real gateway (straight
//! relay), a short window: every frame each leg sends comes out of its partner's port,
//! none lost, with a relay latency measured, and the bare echo's beside it.

mod common;

#[test]
fn eight_bridged_pairs_relay_every_frame() {
    let run = common::run_load(
        &[
            "bridge",
            "--pairs",
            "8",
            "--window-secs",
            "2",
            "--cps",
            "50",
        ],
        &["bridge.md"],
    );
    let (report, stderr) = (&run.reports[0], &run.stderr);
    assert!(run.success, "{:?}\n{stderr}", run.status);
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
