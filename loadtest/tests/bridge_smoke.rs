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
    let row = cells(report, "| 8 | 16 |")
        .unwrap_or_else(|| panic!("no row for 8 pairs:\n{report}\n{stderr}"));
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
    assert!(first_number(row[7]) > 0, "{report}");
    assert!(
        row[8].contains('/'),
        "the echo baseline was measured: {report}"
    );
    let section = report
        .split("relayed by rtpengine")
        .nth(1)
        .unwrap_or_else(|| panic!("no rtpengine section:\n{report}\n{stderr}"));
    let row = cells(section, "| 8 |")
        .unwrap_or_else(|| panic!("no rtpengine row for 8 pairs:\n{report}"));
    // | pairs | ours r/l/l | ours latency | ours CPU | theirs r/l/l | theirs latency | theirs CPU | ratio |
    // 16 legs x 50 frames/s x 2 s, relayed by each.
    for col in [row[2], row[5]] {
        let r = first_number(col);
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

/// The trimmed cells of the first table row of `text` starting with `prefix`.
fn cells<'a>(text: &'a str, prefix: &str) -> Option<Vec<&'a str>> {
    let line = text.lines().find(|l| l.starts_with(prefix))?;
    Some(line.split('|').map(str::trim).collect())
}

/// The number before the first `/` of a cell such as `94 / 743 / 3537`.
fn first_number(cell: &str) -> u64 {
    cell.split('/')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no number in {cell:?}"))
}
