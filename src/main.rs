//! The `mediagw` command: runs the gateway (embedded defaults, `--config FILE`, flags
//! over both), prints the effective configuration, or runs a tool subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use mediagw::config::Config;

#[derive(Parser, Debug)]
#[command(
    name = "mediagw",
    version,
    about = "SIP/RTP media gateway driven by the sys.call JSON-RPC API"
)]
struct Cli {
    /// TOML configuration file; keys not given keep their embedded defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// UDP address for SIP (sip.listen).
    #[arg(long, value_name = "ADDR")]
    sip_listen: Option<SocketAddr>,
    /// Address of the JSON-RPC WebSocket and HTTP listener (api.listen).
    #[arg(long, value_name = "ADDR")]
    api_listen: Option<SocketAddr>,
    /// Bearer token required by the API (api.token).
    #[arg(long, value_name = "TOKEN")]
    api_token: Option<String>,
    /// Number of media workers (media.workers); default one per core.
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the DTMF digits found in a WAV recording.
    DtmfDetect {
        file: PathBuf,
        /// Print only the digit string.
        #[arg(long)]
        digits: bool,
    },
}

fn effective_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut cfg = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(a) = cli.sip_listen {
        cfg.sip.listen = a;
    }
    if let Some(a) = cli.api_listen {
        cfg.api.listen = a;
    }
    if let Some(t) = &cli.api_token {
        cfg.api.token = Some(t.clone());
    }
    if let Some(n) = cli.workers {
        cfg.media.workers = n;
    }
    cfg.validate()?;
    Ok(cfg)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MEDIAGW_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(Command::DtmfDetect { file, digits }) = &cli.command {
        return mediagw::tools::dtmf_detect(file, *digits);
    }
    let cfg = effective_config(&cli)?;
    if cli.print_config {
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        };
        mediagw::server::run(cfg, shutdown, |_| {}).await
    })
}
