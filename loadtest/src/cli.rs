//! The command line (clap): `quick` (the default), `full` and `smoke` density runs,
//! `app` (the bench application alone) and `dial` (the outbound dialler alone), the last
//! two for `loadtest/sipp/flood.sh`; `cps`, `bridge`, `scaleout` and `soak-plot`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The load generator and report of mediagw.
#[derive(Parser, Debug)]
#[command(name = "mediagw-load", version)]
pub struct Cli {
    /// What to run (`quick` when omitted).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The modes.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Density: echo ramps (the ceiling), CPU time per packet of four echoes and of the
    /// gateway (IVR scenario) at the same loads, the gateway's ramp, the control plane
    /// with SIPp; writes the report and ends with the line `density: N channels/core, R%
    /// of the ceiling (C channels)` by CPU time per packet (< 4 min).
    Quick(DensityArgs),
    /// As `quick`, with 10 s windows, every ramp step measured three times (spread
    /// printed) and 10 s CPU-cost windows.
    Full(DensityArgs),
    /// One step of 40 channels per target, no SIPp: proves the harness end to end.
    Smoke(DensityArgs),
    /// Runs only the bench application: answers every call on the API and runs a
    /// scenario on it (the inbound flood of `loadtest/sipp/flood.sh`).
    App(AppArgs),
    /// Runs only the outbound dialler: places calls through the API, plays a prompt on
    /// each answered call, hangs up, prints a summary (exit 1 unless every call was
    /// answered and released).
    Dial(DialArgs),
    /// Calls per second on one core: the gateway pinned to one core, SIPp processes and
    /// the application on the other, the rate raised until calls fail or SIPp is the
    /// limit; says which.
    Cps(CpsArgs),
    /// Draws the plot of a soak run (`loadtest/soak.sh`) from its samples table.
    SoakPlot(SoakPlotArgs),
    /// Bridged pairs (straight relay) at growing counts: loss, grid deviation and relay
    /// latency through the gateway beside the bare echo's at the same packet rate.
    Bridge(BridgeArgs),
    /// Calls through the Kamailio dispatcher (`deploy/kamailio/kamailio.cfg`) to several
    /// nodes: per-node and total calls per second at rising offered rates (SIPp), per-node
    /// and total media channels with loss and lateness (the generator's own RTP, straight
    /// to the nodes), and the proxy's own CPU cost per call, all in one run.
    Scaleout(ScaleoutArgs),
    /// Conferences of 3 and of 50 at growing member counts: every member talks (in
    /// conferences of 3) or a rotating few do (of 50), and every frame each member hears
    /// is checked for loss, lateness, its own voice and missing talkers.
    Conf(ConfArgs),
    /// CPU time per packet of several gateway builds at the same fixed loads, round by
    /// round (A, B, A, B, ...) beside the one-socket echo: an optimisation's before and
    /// after from one run.
    Ab(AbArgs),
}

/// Options of `ab`.
#[derive(Args, Debug)]
pub struct AbArgs {
    /// A gateway binary to measure (give two or more; the first is the baseline).
    #[arg(long, value_name = "PATH", required = true)]
    pub bin: Vec<PathBuf>,
    /// Channel counts (IVR calls) measured.
    #[arg(long, value_name = "N[,N...]", value_delimiter = ',', default_values_t = [1200, 2000])]
    pub loads: Vec<u32>,
    /// Rounds (each build once per round).
    #[arg(long, value_name = "R", default_value_t = 3)]
    pub rounds: usize,
    /// Seconds of each measuring window.
    #[arg(long, value_name = "S", default_value_t = 3)]
    pub window: u64,
}

/// Options of `scaleout`.
#[derive(Args, Debug)]
pub struct ScaleoutArgs {
    /// mediagw nodes behind the proxy (on 127.0.0.2, 127.0.0.3...).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub nodes: u8,
    /// Offered calls per second through the proxy, one step each, in order.
    #[arg(long, value_name = "R[,R...]", value_delimiter = ',', default_values_t = [50, 150, 250, 400, 600, 800, 1000, 1300])]
    pub rates: Vec<u32>,
    /// Seconds of calls per rate.
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub secs: u32,
    /// Media channels up at once for the density step, over all nodes (0: skip it).
    #[arg(long, value_name = "N", default_value_t = 900)]
    pub channels: u32,
    /// Call setup rate of the density step.
    #[arg(long, value_name = "R", default_value_t = 100)]
    pub setup_cps: u32,
    /// Media measurement window, seconds (after a 2 s warm-up).
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub window_secs: u64,
    /// A frame more than this off the 20 ms grid counts as late.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pub late_ms: u64,
    /// Bound on the whole run, seconds (steps not started by then are skipped).
    #[arg(long, value_name = "S", default_value_t = 900)]
    pub budget: u64,
    /// Report directory (scaleout.md, scaleout.json).
    #[arg(long, value_name = "DIR", default_value = "loadtest/report")]
    pub out: PathBuf,
}

/// Options of `conf`.
#[derive(Args, Debug)]
pub struct ConfArgs {
    /// Conference sizes, one scenario each (its own gateway).
    #[arg(long, value_name = "N[,N...]", value_delimiter = ',', default_values_t = [3, 50])]
    pub sizes: Vec<u32>,
    /// Total members, one step each (rounded up to whole conferences).
    #[arg(long, value_name = "N[,N...]", value_delimiter = ',', default_values_t = [150, 600, 1200])]
    pub members: Vec<u32>,
    /// Measurement window per step, seconds.
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub window_secs: u64,
    /// Warm-up before each window, seconds.
    #[arg(long, value_name = "S", default_value_t = 3)]
    pub warmup_secs: u64,
    /// Call setup rate.
    #[arg(long, value_name = "R", default_value_t = 200)]
    pub cps: u32,
    /// A frame more than this off the 20 ms grid counts as late.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pub late_ms: u64,
    /// In conferences larger than the talkers, the talkers change every this many
    /// seconds.
    #[arg(long, value_name = "S", default_value_t = 3)]
    pub rotate_secs: u64,
    /// Frames heard within this of a rotation are not judged.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub guard_ms: u64,
    /// Also write the table to DIR/conf.md.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Options of `cps`.
#[derive(Args, Debug)]
pub struct CpsArgs {
    /// SIPp processes (one saturates its core first).
    #[arg(long, default_value_t = 3)]
    pub procs: u32,
    /// Rates tried, calls per second, in order.
    #[arg(long, value_delimiter = ',', default_values_t = [500, 1000, 2000, 3000, 4000, 5000, 6000, 8000])]
    pub rates: Vec<u32>,
    /// Seconds of calls per rate.
    #[arg(long, default_value_t = 3)]
    pub secs: u32,
    /// Bound on the whole ramp, seconds.
    #[arg(long, default_value_t = 150)]
    pub budget: u64,
    /// Report directory (cps.md, cps.json).
    #[arg(long, value_name = "DIR", default_value = "loadtest/report")]
    pub out: PathBuf,
}

/// Options of `bridge`.
#[derive(Args, Debug)]
pub struct BridgeArgs {
    /// Pair counts, one step each (rounded up to even).
    #[arg(long, value_name = "N[,N...]", value_delimiter = ',', default_values_t = [50, 200, 500, 1000])]
    pub pairs: Vec<u32>,
    /// Measurement window per step, seconds (after a 2 s warm-up).
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub window_secs: u64,
    /// Call setup rate.
    #[arg(long, value_name = "R", default_value_t = 200)]
    pub cps: u32,
    /// A frame more than this off the 20 ms grid counts as late.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pub late_ms: u64,
    /// Skip the echo baseline.
    #[arg(long)]
    pub no_echo: bool,
    /// Also relay the same pairs through rtpengine (userspace, pinned to the gateway's
    /// core) and compare CPU per packet and latency.
    #[arg(long)]
    pub rtpengine: bool,
    /// Also write the table to DIR/bridge.md.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Options of `soak-plot`.
#[derive(Args, Debug)]
pub struct SoakPlotArgs {
    /// The samples table `loadtest/soak.sh` writes (tab-separated).
    #[arg(long, value_name = "FILE")]
    pub table: PathBuf,
    /// The PNG to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Options of the density runs.
#[derive(Args, Debug, Default)]
pub struct DensityArgs {
    /// Report directory [default: loadtest/report; smoke: a temporary directory].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Highest channel count tried.
    #[arg(long, value_name = "N")]
    pub max: Option<u32>,
    /// Skip the control-plane measurement with SIPp.
    #[arg(long)]
    pub no_sipp: bool,
    /// Skip the echo ceilings.
    #[arg(long)]
    pub no_echo: bool,
    /// A frame more than this off the 20 ms grid counts as late [default: 20].
    #[arg(long, value_name = "MS")]
    pub late_ms: Option<u64>,
}

/// What the bench application does with each call.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppMode {
    /// Collect digits over a long prompt.
    Ivr,
    /// Record the call.
    Record,
    /// Play a short prompt, then hang up.
    Hangup,
    /// Collect one digit over a prompt, count it against `--expect`, hang up.
    Digit,
}

/// Options of `app`.
#[derive(Args, Debug)]
pub struct AppArgs {
    /// The API's WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8088/rpc")]
    pub url: String,
    /// The scenario run on each call.
    #[arg(long, value_enum, default_value_t = AppMode::Hangup)]
    pub mode: AppMode,
    /// `digit` mode: the digit string each call must collect.
    #[arg(long, value_name = "KEYS", default_value = "1")]
    pub expect: String,
    /// Serve for at most this long.
    #[arg(long, value_name = "S", default_value_t = 600)]
    pub seconds: u64,
}

/// Options of `dial`.
#[derive(Args, Debug)]
pub struct DialArgs {
    /// The API's WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8088/rpc")]
    pub url: String,
    /// Destinations, used in turn.
    #[arg(
        long,
        value_name = "URI[,URI...]",
        value_delimiter = ',',
        required = true
    )]
    pub to: Vec<String>,
    /// Calls per second.
    #[arg(long, value_name = "R", default_value_t = 10.0)]
    pub cps: f64,
    /// Calls in all.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub calls: u64,
    /// Most calls up at once.
    #[arg(long, value_name = "L", default_value_t = 100)]
    pub limit: u64,
    /// How long each answered call is held before the application hangs up.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub hold_ms: u64,
    /// Hard bound on the whole run.
    #[arg(long, value_name = "S", default_value_t = 600)]
    pub seconds: u64,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mediagw-load").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn documented_command_lines_parse() {
        assert!(parse(&[]).expect("no mode").command.is_none());
        let Some(Command::Smoke(a)) = parse(&["smoke", "--out", "/tmp/x"]).expect("smoke").command
        else {
            panic!("smoke");
        };
        assert_eq!(a.out, Some(PathBuf::from("/tmp/x")));
        let Some(Command::Quick(a)) = parse(&[
            "quick",
            "--max",
            "500",
            "--no-sipp",
            "--no-echo",
            "--late-ms",
            "5",
        ])
        .expect("quick")
        .command
        else {
            panic!("quick");
        };
        assert_eq!(
            (a.max, a.no_sipp, a.no_echo, a.late_ms),
            (Some(500), true, true, Some(5))
        );
        let Some(Command::App(a)) = parse(&[
            "app",
            "--url",
            "ws://h/rpc",
            "--mode",
            "digit",
            "--expect",
            "1",
            "--seconds",
            "90",
        ])
        .expect("app")
        .command
        else {
            panic!("app");
        };
        assert_eq!(
            (a.mode, a.expect.as_str(), a.seconds),
            (AppMode::Digit, "1", 90)
        );
        let Some(Command::Bridge(b)) = parse(&["bridge", "--pairs", "10,30", "--window-secs", "4"])
            .expect("bridge")
            .command
        else {
            panic!("bridge");
        };
        assert_eq!(
            (b.pairs, b.window_secs, b.no_echo),
            (vec![10, 30], 4, false)
        );
        let Some(Command::Bridge(b)) = parse(&["bridge"]).expect("bridge defaults").command else {
            panic!("bridge");
        };
        assert_eq!(b.pairs, vec![50, 200, 500, 1000]);
        let Some(Command::Conf(c)) = parse(&["conf"]).expect("conf defaults").command else {
            panic!("conf");
        };
        assert_eq!((c.sizes, c.members), (vec![3, 50], vec![150, 600, 1200]));
        let Some(Command::Conf(c)) = parse(&["conf", "--sizes", "3", "--members", "6,9"])
            .expect("conf")
            .command
        else {
            panic!("conf");
        };
        assert_eq!((c.sizes, c.members), (vec![3], vec![6, 9]));
        let Some(Command::Dial(a)) = parse(&[
            "dial",
            "--url",
            "ws://h/rpc",
            "--to",
            "sip:a@h1,sip:b@h2",
            "--cps",
            "2.5",
            "--calls",
            "9",
            "--limit",
            "3",
            "--hold-ms",
            "300",
            "--seconds",
            "60",
        ])
        .expect("dial")
        .command
        else {
            panic!("dial");
        };
        assert_eq!(a.to, ["sip:a@h1", "sip:b@h2"]);
        assert_eq!(
            (a.cps, a.calls, a.limit, a.hold_ms, a.seconds),
            (2.5, 9, 3, 300, 60)
        );
    }

    #[test]
    fn cps_options() {
        let Some(Command::Cps(a)) = parse(&["cps"]).expect("cps").command else {
            panic!("cps");
        };
        assert_eq!((a.procs, a.secs, a.rates.len()), (3, 3, 8));
        let Some(Command::Cps(a)) = parse(&["cps", "--procs", "2", "--rates", "100,200"])
            .expect("cps")
            .command
        else {
            panic!("cps");
        };
        assert_eq!((a.procs, a.rates), (2, vec![100, 200]));
    }

    #[test]
    fn scaleout_options() {
        let Some(Command::Scaleout(a)) = parse(&["scaleout"]).expect("scaleout").command else {
            panic!("scaleout");
        };
        assert_eq!((a.nodes, a.rates.len(), a.channels), (3, 8, 900));
        let Some(Command::Scaleout(a)) = parse(&[
            "scaleout",
            "--rates",
            "10",
            "--secs",
            "3",
            "--channels",
            "30",
            "--window-secs",
            "3",
            "--out",
            "/tmp/s",
        ])
        .expect("scaleout")
        .command
        else {
            panic!("scaleout");
        };
        assert_eq!(
            (a.rates, a.secs, a.channels, a.window_secs),
            (vec![10], 3, 30, 3)
        );
        assert_eq!(a.out, PathBuf::from("/tmp/s"));
        assert!(parse(&["scaleout", "--nodes", "300"]).is_err(), "a u8");
    }

    #[test]
    fn mistakes_are_refused() {
        assert!(
            parse(&["dial", "--url", "ws://h/rpc"]).is_err(),
            "--to is required"
        );
        assert!(parse(&["app", "--mode", "dance"]).is_err());
        assert!(parse(&["quick", "--max", "many"]).is_err());
        assert!(parse(&["bogus"]).is_err());
    }
}
