//! The parameters of a density run (`quick`, `full`, `smoke`): the presets and what the
//! command line changes in them.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::DensityArgs;

/// Run parameters.
#[derive(Clone, Debug)]
pub struct Opts {
    /// Measuring window per step.
    pub window: Duration,
    /// Streaming before a window counts.
    pub warmup: Duration,
    /// A frame later than this off the 20 ms grid is late.
    pub late_ms: u64,
    /// First channel count.
    pub start_n: u32,
    /// Growth factor between steps.
    pub growth: f64,
    /// Highest channel count tried.
    pub max_n: u32,
    /// Bisection stops when the last count that held and the first that failed are
    /// within this fraction of the former (0.03: 3 %).
    pub precision: f64,
    /// Windows measured per step (`full`: 3, the spread printed); with 1, a small
    /// failure or one with the generator behind is measured once more.
    pub repeats: usize,
    /// Offered loads of the CPU-cost measurement, as fractions of the ceiling.
    pub cost_loads: Vec<f64>,
    /// Window of each CPU-cost point (after `warmup`).
    pub cost_window: Duration,
    /// Time budget of one ramp.
    pub budget: Duration,
    /// Call setup rate.
    pub cps: u32,
    /// Report directory.
    pub out: PathBuf,
    /// Core of the generator's streamer.
    pub gen_core: usize,
    /// Core of the target (echo or gateway worker).
    pub target_core: usize,
    /// Measure the control plane with SIPp.
    pub sipp: bool,
    /// Measure the echo ceilings.
    pub echo: bool,
    /// The gateway binary (`None`: `$MEDIAGW_BIN` or the one next to this program).
    pub gateway_bin: Option<PathBuf>,
}

impl Opts {
    /// `quick`: under 4 minutes on an idle 2-core machine.
    pub fn quick() -> Self {
        Opts {
            window: Duration::from_millis(2000),
            warmup: Duration::from_millis(600),
            late_ms: 20,
            start_n: 250,
            growth: 1.8,
            max_n: 12_000,
            precision: 0.03,
            repeats: 1,
            cost_loads: vec![0.25, 0.5, 0.75],
            cost_window: Duration::from_secs(3),
            budget: Duration::from_secs(40),
            cps: 500,
            out: PathBuf::from("loadtest/report"),
            gen_core: 1,
            target_core: 0,
            sipp: true,
            echo: true,
            gateway_bin: None,
        }
    }

    /// `smoke`: one small step per target, proving the harness end to end (CI runs it).
    pub fn smoke() -> Self {
        Opts {
            window: Duration::from_millis(2000),
            warmup: Duration::from_millis(500),
            start_n: 40,
            max_n: 40,
            precision: 0.03,
            cost_loads: vec![1.0],
            cost_window: Duration::from_secs(1),
            budget: Duration::from_secs(30),
            cps: 100,
            out: std::env::temp_dir().join(format!("mediagw-load-smoke-{}", std::process::id())),
            sipp: false,
            ..Self::quick()
        }
    }

    /// `full`: 10 s windows and finer steps.
    pub fn full() -> Self {
        Opts {
            window: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            growth: 1.4,
            repeats: 3,
            cost_window: Duration::from_secs(10),
            budget: Duration::from_secs(600),
            ..Self::quick()
        }
    }

    /// The preset with the command line's changes, fitted to this machine's cores.
    pub fn with(mut self, a: &DensityArgs, cores: usize) -> Self {
        if let Some(out) = &a.out {
            self.out = out.clone();
        }
        if let Some(max) = a.max {
            self.max_n = max;
        }
        if let Some(late) = a.late_ms {
            self.late_ms = late;
        }
        self.sipp &= !a.no_sipp;
        self.echo &= !a.no_echo;
        self.start_n = self.start_n.min(self.max_n);
        if cores < 2 {
            self.gen_core = 0;
        }
        self
    }
}
