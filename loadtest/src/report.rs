//! The report: a text table on stdout, JSON, and Markdown with PNG plots (channels vs
//! latency percentiles; density vs the ceiling) drawn with `plotters`.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde_json::{Value, json};

use crate::ramp::{Limit, Step};

/// One ramp (a target: echo baseline or gateway scenario) and its result.
pub struct Series {
    /// Name, e.g. `echo-recvmmsg`, `gateway-ivr`.
    pub name: String,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Largest channel count that held.
    pub held: u32,
    /// What bounded the ramp.
    pub limit: Limit,
}

impl Series {
    /// A target that was not measured.
    pub fn empty(name: &str) -> Series {
        Series {
            name: name.into(),
            steps: Vec::new(),
            held: 0,
            limit: Limit::Unfinished { held: 0 },
        }
    }

    /// A ramp's steps, judged against its maximum `max_n`.
    pub fn new(name: &str, steps: Vec<Step>, max_n: u32) -> Series {
        let limit = Limit::of(&steps, max_n);
        Series {
            name: name.into(),
            held: limit.held(),
            steps,
            limit,
        }
    }
}

/// Plain-text table of a series.
pub fn table(s: &Series) -> String {
    let mut t = format!(
        "== {} ({})\n{:>6} {:>9} {:>6} {:>5} {:>5} {:>5} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}  {}\n",
        s.name,
        s.limit.describe(),
        "N",
        "rx",
        "lost",
        "reord",
        "late",
        "dead",
        "digits",
        "dev50us",
        "dev99us",
        "dev999us",
        "devmax",
        "rtt99us",
        "genlate999",
        "verdict"
    );
    for st in &s.steps {
        let _ = writeln!(
            t,
            "{:>6} {:>9} {:>6} {:>5} {:>5} {:>5} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}  {}",
            st.n,
            st.received,
            st.lost,
            st.reordered,
            st.late,
            st.dead,
            format!("{}/{}", st.digits_ok, st.digits_sent),
            st.dev[0],
            st.dev[1],
            st.dev[2],
            st.dev[3],
            st.rtt[1],
            st.gen_late_p999,
            if st.pass() {
                "ok".to_string()
            } else {
                format!("FAIL: {}", st.fail)
            }
        );
    }
    t
}

/// JSON of a series.
pub fn series_json(s: &Series) -> Value {
    json!({
        "name": s.name,
        "held_channels": s.held,
        "limit": s.limit.describe(),
        "generator_bound": s.limit.generator_bound(),
        "steps": s.steps.iter().map(|st| json!({
            "channels": st.n, "sent": st.sent, "received": st.received, "lost": st.lost, "reordered": st.reordered,
            "late": st.late, "dead_channels": st.dead, "digits_sent": st.digits_sent, "digits_ok": st.digits_ok,
            "deviation_us": {"p50": st.dev[0], "p99": st.dev[1], "p99.9": st.dev[2], "max": st.dev[3]},
            "rtt_us": {"p50": st.rtt[0], "p99": st.rtt[1], "p99.9": st.rtt[2], "max": st.rtt[3]},
            "generator_late_p99.9_us": st.gen_late_p999, "setup_missing": st.setup_missing,
            "call_setup_us": {"p50": st.setup_us[0], "p99": st.setup_us[1], "p99.9": st.setup_us[2], "max": st.setup_us[3]},
            "gateway": st.gateway.map(|g| json!({
                "send_deviation_p99.9_us": g.send_dev_p999_us, "tick_work_p99.9_us": g.tick_work_p999_us,
                "packet_p99_us": g.packet_p99_us, "rss_per_channel_kib": g.rss_per_channel_kib,
            })),
            "target_cpu": st.target_cpu.map(|c| json!({"busy": c.busy(), "waited": c.waited(), "exec_ns": c.exec_ns, "ksoftirqd_ns": c.ksoftirqd_ns})),
            "generator_cpu": st.gen_cpu.map(|c| json!({"busy": c.busy(), "waited": c.waited()})),
            "generator_bound": st.gen_bound,
            "spread": st.spread.map(|sp| json!({"windows": sp.windows, "passed": sp.passed, "deviation_p99.9_us": [sp.dev999.0, sp.dev999.1], "generator_p99.9_us": [sp.gen999.0, sp.gen999.1], "lost_late": [sp.bad.0, sp.bad.1]})),
            "pass": st.pass(), "fail": st.fail,
        })).collect::<Vec<_>>(),
    })
}

/// Where the plots' font is looked for (Debian's fonts-dejavu-core, installed by
/// `tests/setup.sh`), unless `MEDIAGW_LOAD_FONT` names a TTF file.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a TTF font as "sans-serif" for plotters' ab_glyph text renderer (once).
pub fn register_font() -> Result<(), Box<dyn std::error::Error>> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let r = DONE.get_or_init(|| {
        let paths: Vec<String> = std::env::var("MEDIAGW_LOAD_FONT")
            .into_iter()
            .chain(FONT_PATHS.iter().map(|p| p.to_string()))
            .collect();
        let bytes = paths
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .ok_or_else(|| {
                format!("no TTF font found (tried {paths:?}; install fonts-dejavu-core)")
            })?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| "invalid TTF font".to_string())
    });
    r.clone().map_err(Into::into)
}

/// Channels vs deviation percentiles, one line per series and percentile.
pub fn plot_latency(path: &Path, series: &[&Series]) -> Result<(), Box<dyn std::error::Error>> {
    register_font()?;
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let max_n = series
        .iter()
        .flat_map(|s| s.steps.iter().map(|x| x.n))
        .max()
        .unwrap_or(1)
        .max(1);
    let max_y = series
        .iter()
        .flat_map(|s| s.steps.iter().map(|x| x.dev[2]))
        .max()
        .unwrap_or(1)
        .max(10) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "arrival deviation from the 20 ms grid vs channels",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0u32..max_n + max_n / 10, (1f64..max_y * 2.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("channels")
        .y_desc("µs")
        .draw()?;
    let colors = [RED, BLUE, GREEN, MAGENTA, CYAN, BLACK];
    for (si, s) in series.iter().enumerate() {
        for (pi, label) in [(1usize, "p99"), (2, "p99.9")] {
            let c = colors[si % colors.len()];
            let style = if pi == 1 {
                c.stroke_width(1)
            } else {
                c.stroke_width(3)
            };
            let mut pts: Vec<(u32, f64)> = s
                .steps
                .iter()
                .map(|x| (x.n, x.dev[pi].max(1) as f64))
                .collect();
            pts.sort_by_key(|p| p.0);
            chart
                .draw_series(LineSeries::new(pts, style))?
                .label(format!("{} {label}", s.name))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}

/// Bars: channels held per series (the ceiling and the gateway).
pub fn plot_density(path: &Path, series: &[&Series]) -> Result<(), Box<dyn std::error::Error>> {
    register_font()?;
    let root = BitMapBackend::new(path, (900, 120 + 70 * series.len() as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = series.iter().map(|s| s.held).max().unwrap_or(1).max(1);
    let ceiling = series
        .iter()
        .filter(|s| s.name.starts_with("echo"))
        .map(|s| s.held)
        .max()
        .unwrap_or(0);
    let n = series.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "channels per core held with zero loss, zero late frames",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d(0f64..f64::from(max) * 1.2, 0f64..n)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("channels")
        .draw()?;
    chart.draw_series(series.iter().enumerate().map(|(i, s)| {
        let c = if s.name.starts_with("echo") {
            BLUE.mix(0.5)
        } else {
            RED.mix(0.5)
        };
        let y = n - 1.0 - i as f64;
        Rectangle::new([(0.0, y + 0.15), (f64::from(s.held), y + 0.85)], c.filled())
    }))?;
    chart.draw_series(series.iter().enumerate().map(|(i, s)| {
        let y = n - 1.0 - i as f64;
        Text::new(
            format!("{}: {} channels", s.name, s.held),
            (f64::from(max) * 0.02, y + 0.62),
            ("sans-serif", 16),
        )
    }))?;
    if ceiling > 0 {
        let bar = 0.9 * f64::from(ceiling);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(bar, 0.0), (bar, n)],
            BLACK.stroke_width(2),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            "90% of the ceiling",
            (bar, n - 0.08),
            ("sans-serif", 14),
        )))?;
    }
    root.present()?;
    Ok(())
}

/// Markdown report.
pub fn markdown(header: &str, series: &[&Series], extra: &str) -> String {
    let mut m = String::from(header);
    m.push_str("\n![latency](latency.png)\n\n![density](density.png)\n\n");
    for s in series {
        let _ = writeln!(
            m,
            "### {} — held {} channels\n\n{}\n",
            s.name,
            s.held,
            s.limit.describe()
        );
        m.push_str("| channels | received | lost | reordered | late | dead | digits ok | dev p50 µs | dev p99 µs | dev p99.9 µs | dev max µs | rtt p99 µs | gen late p99.9 µs | call setup p50/p99 ms | verdict |\n");
        m.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for st in &s.steps {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {} |",
                st.n,
                st.received,
                st.lost,
                st.reordered,
                st.late,
                st.dead,
                st.digits_ok,
                st.digits_sent,
                st.dev[0],
                st.dev[1],
                st.dev[2],
                st.dev[3],
                st.rtt[1],
                st.gen_late_p999,
                if st.setup_us[3] == 0 {
                    "-".to_string()
                } else {
                    format!(
                        "{:.1}/{:.1}",
                        st.setup_us[0] as f64 / 1000.0,
                        st.setup_us[1] as f64 / 1000.0
                    )
                },
                if st.pass() {
                    "ok".to_string()
                } else {
                    format!("fail: {}", st.fail)
                }
            );
        }
        m.push('\n');
        if s.steps.iter().any(|st| st.gateway.is_some()) {
            let _ = writeln!(
                m,
                "The gateway's own figures at the end of each step (worst worker, last 2 s, from `/metrics`):\n"
            );
            m.push_str("| channels | send deviation from grid p99.9 µs | the generator's own send deviation p99.9 µs (same window) | tick work p99.9 µs | packet handling p99 µs | RSS per channel KiB | worker thread on CPU | waiting for its CPU |\n");
            m.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for st in &s.steps {
                if let Some(g) = st.gateway {
                    let _ = writeln!(
                        m,
                        "| {} | {} | {} | {} | {} | {:.1} | {} | {} |",
                        st.n,
                        g.send_dev_p999_us,
                        st.gen_late_p999,
                        g.tick_work_p999_us,
                        g.packet_p99_us,
                        g.rss_per_channel_kib,
                        st.target_cpu
                            .map(|c| format!("{:.0}%", 100.0 * c.busy()))
                            .unwrap_or_else(|| "-".into()),
                        st.target_cpu
                            .map(|c| format!("{:.0}%", 100.0 * c.waited()))
                            .unwrap_or_else(|| "-".into())
                    );
                }
            }
            m.push('\n');
        }
    }
    m.push_str(extra);
    m
}

/// Prints a mode's Markdown table and, with `--out DIR`, writes it to `DIR/name` too;
/// false (after saying why) when the file cannot be written.
pub fn print_and_write(text: &str, dir: Option<&std::path::Path>, name: &str) -> bool {
    print!("{text}");
    let Some(dir) = dir else { return true };
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join(name);
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("cannot write {}: {e}", path.display());
        return false;
    }
    eprintln!("report: {}", path.display());
    true
}
