//! What a gateway run needs, started together: the `mediagw` process (through the test
//! kit's launcher, quiet and pinned, with a wide RTP range), a long prompt under its media
//! root, the bench application, the RTP streamer and the SIP driver.

use std::f64::consts::PI;
use std::path::Path;

use mediagw::codec::wav::{Encoding, RATE, header};
use mediagw_testkit::gateway::{Gateway, Launch, find_binary};
use serde_json::json;

use crate::app::{App, Scenario};
use crate::cpu::{Probe, find_thread, pinned_core};
use crate::opts::Opts;
use crate::sip::SipDriver;
use crate::stream::{Demux, Streamer};

/// Starts the gateway with `workers` pinned media workers, RTP ports 2000-19998, a
/// `warn` log (logging costs CPU at thousands of channels), and no per-source INVITE
/// rate limit (the load generator is one source placing thousands of calls per second).
/// The ports lie below the kernel's ephemeral range and apart from the 20000-39998 of
/// other load runs on this machine: ports held by another process there made calls
/// fail with "no free RTP port". The binary is `$MEDIAGW_BIN`
/// or the `mediagw` next to this executable.
pub fn start_gateway(workers: usize) -> anyhow::Result<Gateway> {
    start_gateway_bin(workers, None)
}

/// As [`start_gateway`], running `bin` when given (`mediagw-load ab` compares builds).
pub fn start_gateway_bin(workers: usize, bin: Option<&Path>) -> anyhow::Result<Gateway> {
    let bin = match bin {
        Some(b) => b.to_path_buf(),
        None => find_binary().ok_or_else(|| {
            anyhow::anyhow!(
                "no mediagw binary next to this one: cargo build --release --workspace, or set MEDIAGW_BIN"
            )
        })?,
    };
    Launch::new(bin)
        .log_filter("warn,mediagw::server=info")
        .config(&format!(
            "[sip]\nmax_invites_per_second_per_source = 0\n[media]\nworkers = {workers}\npin_cores = true\nrtp_ports = \"2000-19998\"\nrtp_timeout_seconds = 60\n"
        ))
        .start()
}

/// Writes a WAV prompt (16-bit PCM, 8 kHz, mono) of `secs` seconds of a soft 440 Hz tone
/// (far from every DTMF frequency) under the gateway's media root; returns its name.
pub fn write_prompt(gw: &Gateway, secs: u32) -> anyhow::Result<String> {
    let n = secs * RATE;
    let mut v = header(Encoding::Pcm16, n * 2);
    let mut s = [0u8; 2];
    for i in 0..n {
        let x = 1500.0 * (2.0 * PI * 440.0 * f64::from(i) / f64::from(RATE)).sin();
        Encoding::Pcm16.encode(x as i16, &mut s);
        v.extend_from_slice(&s);
    }
    std::fs::write(gw.media_root().join("prompt.wav"), v)?;
    Ok("prompt.wav".into())
}

/// The gateway, the bench application (IVR scenario over the prompt), the RTP generator
/// and the SIP driver.
pub struct Rig {
    /// Places and releases calls.
    pub sipd: SipDriver,
    /// Streams RTP to the calls.
    pub st: Streamer,
    /// Answers the calls and collects their digits.
    pub app: App,
    /// The gateway under test.
    pub gw: Gateway,
    /// Its media worker's thread (the first), for CPU time.
    pub probe: Option<Probe>,
}

impl Rig {
    /// Starts everything, the generator's streamer pinned to `o.gen_core`, the prompt
    /// long enough for one step.
    pub async fn start(o: &Opts, workers: usize) -> Result<Rig, String> {
        let secs = (o.window + o.warmup).as_secs() as u32 + 20;
        Rig::start_with_prompt(o, workers, secs).await
    }

    /// As [`Rig::start`], with a prompt of `secs` seconds.
    pub async fn start_with_prompt(o: &Opts, workers: usize, secs: u32) -> Result<Rig, String> {
        let gw =
            start_gateway_bin(workers, o.gateway_bin.as_deref()).map_err(|e| format!("{e:#}"))?;
        let prompt = write_prompt(&gw, secs).map_err(|e| e.to_string())?;
        let scenario = Scenario::Ivr {
            prompt: json!(prompt),
        };
        let app = App::start(&gw.ws_url(), scenario)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let st =
            Streamer::spawn(Demux::SrcPort, Some(o.gen_core), false).map_err(|e| e.to_string())?;
        let sipd = SipDriver::new(gw.sip, st.local)
            .await
            .map_err(|e| e.to_string())?;
        let probe = worker_probe(&gw, o.target_core);
        Ok(Rig {
            sipd,
            st,
            app,
            gw,
            probe,
        })
    }
}

/// A probe on the gateway's first media worker thread (`media-worker-0`), on the core it
/// is pinned to (`fallback` when its affinity is wider).
pub fn worker_probe(gw: &Gateway, fallback: usize) -> Option<Probe> {
    let pid = gw.pid();
    let tid = find_thread(pid, "media-worker-")?;
    Some(Probe::new(
        pid,
        tid,
        Some(pinned_core(tid).unwrap_or(fallback)),
    ))
}
