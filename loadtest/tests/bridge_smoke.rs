//! `mediagw-load bridge` end to end: 8 bridged pairs through the real gateway (straight
//! relay), a short window: every frame each leg sends comes out of its partner's port,
//! none lost, with a relay latency measured, and the bare echo's beside it; and the same
//! pairs relayed by a real rtpengine (Debian's `rtpengine-daemon`, userspace, started by
//! the load tool on loopback and driven over its ng protocol) beside ours.

mod common;

#[test]
fn eight_bridged_pairs_relay_every_frame_beside_rtpengine() {
    let run = common::run_load(
        &[
            "bridge",
            "--pairs",
            "8",
            "--window-secs",
            "2",
            "--cps",
            "50",
            "--rtpengine",
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
    let section = report
        .split("relayed by rtpengine")
        .nth(1)
        .unwrap_or_else(|| panic!("no rtpengine section:\n{report}\n{stderr}"));
    let row: Vec<&str> = section
        .lines()
        .find(|l| l.starts_with("| 8 |"))
        .unwrap_or_else(|| panic!("no rtpengine row for 8 pairs:\n{report}"))
        .split('|')
        .map(str::trim)
        .collect();
    // | pairs | ours r/l/l | ours latency | ours CPU | theirs r/l/l | theirs latency | theirs CPU | ratio |
    let relayed = |col: &str| -> u64 {
        col.split('/')
            .next()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("{row:?}"))
    };
    // 16 legs x 50 frames/s x 2 s, relayed by each.
    for col in [row[2], row[5]] {
        let r = relayed(col);
        assert!(
            r >= 1600 * 97 / 100,
            "relayed {r} of 1600: {row:?}\n{report}"
        );
    }
    for col in [row[4], row[7], row[8]] {
        let v: f64 = col.parse().unwrap_or_else(|_| panic!("{row:?}"));
        assert!(v > 0.0, "{row:?}");
    }
}
