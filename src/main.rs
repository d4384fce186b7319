//! The `mediagw` command: runs the gateway (embedded defaults, `--config FILE`, flags
//! over both), prints the effective configuration, or runs a tool subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use mediagw::config::Config;
use mediagw::server::Control;

#[derive(Parser, Debug, Clone)]
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
    /// Log lines as text, or as one JSON object per line (fields and the current span's
    /// fields, such as a call's res_id and call_id, as keys).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug, Clone)]
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
        Some(path) => mediagw::config_file::load(path)?,
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
    let filter = tracing_subscriber::EnvFilter::try_from_env("MEDIAGW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match cli.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
    // A panic is logged like every other line (JSON too); the engine and the workers
    // catch it where it cannot take down more than one call.
    std::panic::set_hook(Box::new(|info| {
        let text = info.to_string().replace('\n', " ");
        tracing::error!("panic: {text}");
    }));
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
        let (control, controls) = tokio::sync::mpsc::channel(8);
        tokio::spawn(signals(control, cli));
        mediagw::server::run(cfg, controls, |_| {}).await
    })
}

/// Turns the process's signals into what they ask of the gateway: SIGTERM and SIGINT
/// drain it (a second one ends the drain at once); SIGHUP reads the configuration again
/// (the file, then the flags over it, as at start).
async fn signals(control: tokio::sync::mpsc::Sender<Control>, cli: Cli) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install the signal handlers");
        return;
    };
    loop {
        let what = tokio::select! {
            _ = term.recv() => Control::Terminate,
            _ = int.recv() => Control::Terminate,
            _ = hup.recv() => Control::Reload(
                effective_config(&cli).map(Box::new).map_err(|e| format!("{e:#}")),
            ),
        };
        if control.send(what).await.is_err() {
            return;
        }
    }
}
