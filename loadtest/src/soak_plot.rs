//! `mediagw-load soak-plot`: the plot of a soak run (`loadtest/soak.sh`). Reads the
//! samples table the script writes (tab-separated, a header line, then one row per
//! sample: minute, RSS MiB, open files, live calls, stuck calls, CDR lines) and draws
//! four panels against time: memory, open files, live and stuck calls, call records.

use std::path::Path;

use plotters::prelude::*;

use crate::cli::SoakPlotArgs;

/// One sample of a soak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub minute: f64,
    pub rss_mib: f64,
    pub open_files: f64,
    pub live_calls: f64,
    pub stuck_calls: f64,
    pub cdr_lines: f64,
}

/// The samples of a table (the header and malformed lines are skipped).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter_map(|l| {
            let v: Vec<f64> = l
                .split('\t')
                .map(|x| x.trim().parse().ok())
                .collect::<Option<_>>()?;
            (v.len() >= 6).then(|| Sample {
                minute: v[0],
                rss_mib: v[1],
                open_files: v[2],
                live_calls: v[3],
                stuck_calls: v[4],
                cdr_lines: v[5],
            })
        })
        .collect()
}

type Panel<'a> = (&'a str, Vec<(&'a str, RGBColor, Vec<(f64, f64)>)>);

/// Draws the four panels into `path` (PNG).
pub fn plot(path: &Path, samples: &[Sample]) -> Result<(), Box<dyn std::error::Error>> {
    crate::report::register_font()?;
    let root = BitMapBackend::new(path, (1100, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 2));
    let series = |f: fn(&Sample) -> f64| samples.iter().map(|s| (s.minute, f(s))).collect();
    let all: [Panel; 4] = [
        (
            "gateway RSS, MiB",
            vec![("RSS", RED, series(|s| s.rss_mib))],
        ),
        ("open files", vec![("fds", BLUE, series(|s| s.open_files))]),
        (
            "calls",
            vec![
                ("live", GREEN, series(|s| s.live_calls)),
                ("stuck (up > 60 s)", RED, series(|s| s.stuck_calls)),
            ],
        ),
        (
            "call records written",
            vec![("CDR lines", BLACK, series(|s| s.cdr_lines))],
        ),
    ];
    let t_max = samples.iter().map(|s| s.minute).fold(1.0, f64::max);
    for (area, (title, lines)) in panels.iter().zip(all) {
        let y_max = lines
            .iter()
            .flat_map(|(_, _, pts)| pts.iter().map(|p| p.1))
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..t_max, 0f64..y_max * 1.15)?;
        chart.configure_mesh().x_desc("minutes").draw()?;
        for (label, color, pts) in lines {
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// The `soak-plot` mode.
pub fn run(a: &SoakPlotArgs) -> i32 {
    let text = match std::fs::read_to_string(&a.table) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", a.table.display());
            return 1;
        }
    };
    let samples = parse(&text);
    if samples.is_empty() {
        eprintln!("{}: no samples", a.table.display());
        return 1;
    }
    match plot(&a.out, &samples) {
        Ok(()) => {
            println!("{} ({} samples)", a.out.display(), samples.len());
            0
        }
        Err(e) => {
            eprintln!("cannot draw {}: {e}", a.out.display());
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_scripts_table_and_draws_it() {
        let text = "minute\trss_mib\topen_files\tlive_calls\tstuck_calls\tcdr_lines\n\
                    0\t30.5\t40\t0\t0\t0\n1\t44.0\t1500\t700\t0\t4000\nbroken line\n";
        let s = parse(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].live_calls, 700.0);
        let png = std::env::temp_dir().join(format!("soak-plot-{}.png", std::process::id()));
        if crate::report::register_font().is_ok() {
            plot(&png, &s).expect("plot");
            let b = std::fs::read(&png).expect("png");
            let _ = std::fs::remove_file(&png);
            assert_eq!(&b[1..4], b"PNG");
        }
    }
}
