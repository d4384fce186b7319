//! `mediagw-load conf` end to end: two conferences of 3 and one of 50 through the real
//! gateway, short windows: every member hears every other talker and never itself in
//! every judged frame, and (nearly) every frame on the grid arrives.

mod common;

#[test]
fn conferences_of_3_and_50_hear_the_others_never_themselves() {
    let run = common::run_load(
        &[
            "conf",
            "--sizes",
            "3,50",
            "--members",
            "6",
            "--window-secs",
            "4",
            "--warmup-secs",
            "2",
            "--rotate-secs",
            "2",
            "--cps",
            "100",
        ],
        &["conf.md"],
    );
    let (report, stderr) = (&run.reports[0], &run.stderr);
    assert!(run.success, "{:?}\n{report}\n{stderr}", run.status);
    // | size | talkers | members | conferences | received / expected | loss % | late % |
    // judged | own | missing | members own / missing | weakest / loudest own | CPU | busy |
    // generator | bound |
    for (prefix, members, judged_share) in [
        // Every member of 3 talks all the time: all its frames are judged.
        ("| 3 | 3 | 6 | 2 |", 6u64, 0.9),
        // Of 50, frames within 500 ms of a rotation (every 2 s) are not judged.
        ("| 50 | 3 | 50 | 1 |", 50, 0.5),
    ] {
        let row: Vec<&str> = report
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no row {prefix}:\n{report}\n{stderr}"))
            .split('|')
            .map(str::trim)
            .collect();
        let num = |i: usize| {
            row[i]
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("column {i}: {row:?}"))
        };
        let (received, expected) = row[5]
            .split_once(" / ")
            .and_then(|(a, b)| Some((a.parse::<f64>().ok()?, b.parse::<f64>().ok()?)))
            .unwrap_or_else(|| panic!("{row:?}"));
        // 4 s of 50 frames per member.
        let window_frames = (members * 200) as f64;
        assert!(
            received >= 0.95 * window_frames && expected >= 0.95 * window_frames,
            "received {received} / expected {expected} of {window_frames}:\n{report}"
        );
        assert!(num(6) < 2.0, "loss % {}:\n{report}", row[6]);
        assert!(
            num(8) >= judged_share * window_frames,
            "judged {} of {window_frames}:\n{report}",
            row[8]
        );
        assert_eq!(num(9), 0.0, "own-voice frames:\n{report}\n{stderr}");
        assert_eq!(num(10), 0.0, "missing-talker frames:\n{report}\n{stderr}");
        assert_eq!(row[11], "0 / 0", "{report}");
        // The margins the verdicts had: every other talker at nearly a talker's
        // amplitude, the own tone at the µ-law noise floor.
        let (weakest, loudest_own) = row[12]
            .split_once(" / ")
            .and_then(|(a, b)| Some((a.parse::<f64>().ok()?, b.parse::<f64>().ok()?)))
            .unwrap_or_else(|| panic!("{row:?}"));
        assert!(
            weakest >= 0.8 && loudest_own <= 0.05,
            "{weakest} / {loudest_own}:\n{report}"
        );
    }
}
