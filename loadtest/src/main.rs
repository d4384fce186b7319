//! `mediagw-load`: the load generator and report of mediagw.
//!
//! `mediagw-load quick` (the default) starts everything it needs on loopback (the echo
//! baselines, the gateway, the bench API application), ramps channel counts against each,
//! measures the control-plane CPS with SIPp, writes the report, and prints as its last
//! line `density: N channels/core, R% of the ceiling (C channels)`. `full` does the same
//! with longer windows and more steps, `smoke` one small step per target.
//! `mediagw-load app --url WS [--mode ivr|record|hangup|digit]` runs only the bench
//! application, and `mediagw-load dial --url WS --to URI[,URI...]` only the outbound
//! dialler (both for `loadtest/sipp/flood.sh`); `mediagw-load cps` the calls-per-second
//! limit of one core; `mediagw-load soak-plot` draws the plot of `loadtest/soak.sh`;
//! `mediagw-load bridge` ramps bridged pairs (relay latency and loss beside the echo's);
//! `mediagw-load scaleout` places calls through Kamailio to several nodes (per-node and
//! total CPS and channels, the proxy's own cost).
//! `mediagw-load conf` conferences of 3 and of 50 (loss, own voice, missing talkers).
//! `mediagw-load ab --bin A --bin B` the CPU time per packet of two gateway builds at
//! the same loads, interleaved, beside the one-socket echo.
//! `--help` on each says more.
//!
//! Where things are: `cli` and `opts` (command line, run parameters), `density` (the
//! run and its report), `ceiling` and `echo` (the echo baselines), `gateway_ramp`,
//! `rig`, `sip`, `stream` and `app` (the gateway run: process, SIP calls, RTP, the API
//! application), `cost` and `cpu` (CPU time per packet from `/proc`), `cps` (calls per
//! second on one core), `ramp` (steps and their verdicts), `control_plane` (SIPp CPS),
//! `profile` (perf), `metrics` (`/metrics`), `report` (tables, JSON, Markdown, plots),
//! `serve` and `dialer` (the `app` and `dial` modes), `bridge`, `scaleout` and
//! `scaleout_report` (nodes behind Kamailio), `conf` and `voice` (the conference run
//! and its signal), `soak_plot`, `host` (machine, limits, runtime).
//! What it shares with the integration tests (the gateway launcher, SIPp, the API
//! client, the SIP call leg) is in the `mediagw-testkit` crate.

mod ab;
mod app;
mod bridge;
mod ceiling;
mod cli;
mod conf;
mod control_plane;
mod cost;
mod cps;
mod cpu;
mod density;
mod dialer;
mod echo;
mod gateway_ramp;
mod host;
mod metrics;
mod opts;
mod profile;
mod ramp;
mod report;
mod rig;
mod rtpengine;
mod scaleout;
mod scaleout_report;
mod serve;
mod sip;
mod soak_plot;
mod stream;
mod voice;

use clap::Parser;

use cli::{Cli, Command};
use opts::Opts;

fn main() {
    let cli = Cli::parse();
    let command: Vec<String> = std::env::args().skip(1).collect();
    let command = command.join(" ");
    let cores = host::cores();
    let code = match &cli.command {
        None => {
            density::run(&Opts::quick().with(&Default::default(), cores), &command);
            0
        }
        Some(Command::Quick(a)) => {
            density::run(&Opts::quick().with(a, cores), &command);
            0
        }
        Some(Command::Full(a)) => {
            density::run(&Opts::full().with(a, cores), &command);
            0
        }
        Some(Command::Smoke(a)) => {
            density::run(&Opts::smoke().with(a, cores), &command);
            0
        }
        Some(Command::App(a)) => host::runtime().block_on(serve::run(a)),
        Some(Command::Dial(a)) => host::runtime().block_on(dialer::main(a)),
        Some(Command::Cps(a)) => cps::run(&cps::CpsOpts {
            procs: a.procs,
            rates: a.rates.clone(),
            secs: a.secs,
            budget: std::time::Duration::from_secs(a.budget),
            gw_core: 0,
            gen_core: if cores > 1 { 1 } else { 0 },
            out: a.out.clone(),
        }),
        Some(Command::SoakPlot(a)) => soak_plot::run(a),
        Some(Command::Bridge(a)) => host::runtime().block_on(bridge::run(a)),
        Some(Command::Scaleout(a)) => scaleout::run(a),
        Some(Command::Conf(a)) => host::runtime().block_on(conf::run(a)),
        Some(Command::Ab(a)) => ab::run(a),
    };
    std::process::exit(code);
}
