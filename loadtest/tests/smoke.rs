//! `mediagw-load smoke` end to end: the generator streams to the echo baselines and to
//! the real gateway (40 channels, IVR scenario, RFC 4733 and in-band digits), and every
//! target must hold with zero loss and every digit right.

mod common;

#[test]
fn smoke_run_holds_every_target_and_prints_the_density_line() {
    let run = common::run_load(&["smoke"], &["report.md"]);
    let report = &run.reports[0];
    assert!(
        report.contains("gateway-ivr"),
        "the report was written:\n{report}"
    );
    let (stdout, stderr) = (&run.stdout, &run.stderr);
    let last = stdout.lines().last().unwrap_or("");
    let (n, r, c) = parse_density(last)
        .unwrap_or_else(|| panic!("last line: {last}\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    // By CPU time per packet: a gateway and an echo that handle packets at all cost
    // something, and R is N over C.
    assert!(n > 0 && c > 0, "{last}");
    let want = 100.0 * f64::from(n) / f64::from(c);
    assert!(
        (r - want).abs() <= 0.05 * want + 0.2,
        "R {r} is not N/C {want:.1}: {last}"
    );
    assert!(
        report.contains("CPU time per packet") && report.contains("gateway held 40 channels/core"),
        "the report gives the CPU cost and the ramp figure beside it:\n{report}"
    );
    assert!(
        stdout.contains("40/40"),
        "every digit string right:\n{stdout}"
    );
}

/// `density: N channels/core, R% of the ceiling (C channels)` -> (N, R, C).
fn parse_density(line: &str) -> Option<(u32, f64, u32)> {
    let rest = line.strip_prefix("density: ")?;
    let (n, rest) = rest.split_once(" channels/core, ")?;
    let (r, rest) = rest.split_once("% of the ceiling (")?;
    let c = rest.strip_suffix(" channels)")?;
    Some((n.parse().ok()?, r.parse().ok()?, c.parse().ok()?))
}
