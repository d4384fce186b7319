//! `mediagw-load conf`: conferences at growing member counts (issue 10). For each
//! conference size (3 and 50 by default) a gateway with one media worker is started;
//! calls are placed over SIP from the generator's one RTP socket, the bench application
//! (`Scenario::Conf`) answers them, constructs conference `i / size` and enters channel
//! `i` (voice mode 1: talks and listens). The streamer sends every member's voice on the
//! 20 ms grid ([`crate::voice`]: in conferences of 3 every member its own tone, in
//! conferences of 50 three rotating talkers and silence from the rest) and judges every
//! frame each member hears: received against the frames its RTP timestamps span (loss),
//! off the grid (late), its own voice, a talker missing.
//!
//! A step's bound: the generator when its own send lateness exceeds the late threshold
//! (as in `mediagw-load bridge`), else "held" when nothing failed, else the gateway with
//! what failed. The exit status is 1 when a step the generator kept up with shows own
//! voice, missing talkers or nothing judged.

use std::time::Duration;

use crate::app::{App, Scenario};
use crate::bridge::{cpu_us, window_of};
use crate::cli::ConfArgs;
use crate::ramp::pct;
use crate::rig::{start_gateway, worker_probe};
use crate::sip::SipDriver;
use crate::stream::{Ctl, Demux, Streamer, WindowStats};
use crate::voice::Voices;

/// The gateway's jitter-buffer delay (`JB_PREFILL`, 2 frames, in
/// `src/media/channel/mod.rs`): a frame the generator sends later than this after its
/// deadline can arrive after its playout time and be dropped as late, by design.
const JITTER_DELAY_US: u64 = 40_000;

/// One measured step.
struct Row {
    size: u32,
    talkers: u32,
    members: u32,
    w: WindowStats,
    /// The gateway process's CPU time over the window, µs.
    cpu_us: u64,
}

impl Row {
    fn gen_bound(&self, late_ms: u64) -> bool {
        pct(&self.w.gen_late_us)[1] > late_ms * 1000
    }

    /// Frames the generator sent later than the gateway's jitter-buffer delay.
    fn stalled_sends(&self) -> u64 {
        let h = &self.w.gen_late_us;
        h.len().saturating_sub(h.count_between(0, JITTER_DELAY_US))
    }

    /// Can the generator's stalls explain the missing-talker frames? Each stalled send
    /// can cost each other member of its conference one frame of that talker.
    fn missing_explained(&self) -> bool {
        self.w.voice.missing <= self.stalled_sends() * u64::from(self.size.saturating_sub(1))
    }

    /// What failed in the step (empty: nothing).
    fn failures(&self) -> Vec<&'static str> {
        let w = &self.w;
        let mut f = Vec::new();
        if w.grid_lost > 0 || w.lost > 0 || w.dead > 0 {
            f.push("loss");
        }
        if w.late > 0 {
            f.push("late");
        }
        if w.voice.own > 0 {
            f.push("own voice");
        }
        if w.voice.missing > 0 {
            f.push("missing talkers");
        }
        if w.voice.judged == 0 {
            f.push("nothing judged");
        }
        f
    }

    /// Own voice, missing talkers (more than the generator's stalls explain) or nothing
    /// judged at a load the generator kept up with.
    fn voice_error(&self, late_ms: u64) -> bool {
        let v = &self.w.voice;
        !self.gen_bound(late_ms)
            && (v.own > 0 || (v.missing > 0 && !self.missing_explained()) || v.judged == 0)
    }
}

/// Runs every scenario; the exit status (see the module doc).
pub async fn run(a: &ConfArgs) -> i32 {
    let mut rows = Vec::new();
    let mut failed = false;
    for &size in &a.sizes {
        match scenario(a, size.max(1), &mut rows).await {
            Ok(()) => {}
            Err(e) => {
                eprintln!("conferences of {size}: {e:#}");
                failed = true;
            }
        }
    }
    if !crate::report::print_and_write(&report(a, &rows), a.out.as_deref(), "conf.md") {
        return 1;
    }
    let errors = rows.iter().filter(|r| r.voice_error(a.late_ms)).count();
    if errors > 0 {
        eprintln!("{errors} step(s) with own voice, missing talkers or nothing judged");
    }
    i32::from(failed || errors > 0)
}

/// The steps of conferences of `size`, appended to `rows` as they are measured.
async fn scenario(a: &ConfArgs, size: u32, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let cores = crate::host::cores();
    let gen_core = if cores > 1 { Some(1) } else { None };
    let gw = start_gateway(1)?;
    let app = App::start(&gw.ws_url(), Scenario::Conf { size }).await?;
    let st = Streamer::spawn(Demux::SrcPort, gen_core, false)?;
    let voices = Voices::new(size, a.rotate_secs.max(1) * 50, a.guard_ms);
    let talkers = voices.talkers();
    let _ = st.ctl.send(Ctl::Voices(voices));
    let mut sipd = SipDriver::new(gw.sip, st.local).await?;
    let probe = worker_probe(&gw, 0);
    let warmup = Duration::from_secs(a.warmup_secs);
    let window = Duration::from_secs(a.window_secs);
    let mut placed = 0u32;
    let result = async {
        for &want in &a.members {
            let n = want.div_ceil(size).max(1) * size;
            if n > placed {
                let up = sipd.place_all(placed..n, a.cps).await?;
                let _ = st
                    .ctl
                    .send(Ctl::Add(up.iter().map(|e| (e.idx, e.rtp)).collect()));
                placed = n;
            }
            // Every member in its conference before the window.
            app.wait_started(u64::from(n), "members entered", &mut sipd)
                .await?;
            let cpu0 = cpu_us(gw.pid());
            let w = window_of(&st, warmup, window, a.late_ms, probe.clone(), &mut sipd).await?;
            let cpu = cpu_us(gw.pid()).saturating_sub(cpu0);
            eprintln!(
                "{n} members in conferences of {size}: received {} of {} on the grid, late {}, own voice {}, missing talkers {} ({} judged)",
                w.received,
                w.grid_expected,
                w.late,
                w.voice.own,
                w.voice.missing,
                w.voice.judged
            );
            rows.push(Row {
                size,
                talkers,
                members: n,
                w,
                cpu_us: cpu,
            });
        }
        Ok(())
    }
    .await;
    let _ = st.ctl.send(Ctl::Stop);
    sipd.hangup_all(Duration::from_secs(10)).await;
    app.close().await;
    drop(gw);
    result
}

fn ratio(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

fn report(a: &ConfArgs, rows: &[Row]) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "# Conferences (one media worker, {} s windows after {} s of warm-up)\n\n",
        a.window_secs, a.warmup_secs
    ));
    t.push_str("| size | talkers | members | conferences | frames received / expected | loss % | late % | frames judged | own-voice frames | missing-talker frames | members hearing themselves / missing a talker | weakest other talker / loudest own tone | gateway CPU µs per member-second | media worker busy % / waited % | generator late p99 µs / busy % | generator sends > 40 ms late | bound |\n");
    t.push_str(
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---|---:|---|---|---:|---|\n",
    );
    for r in rows {
        let w = &r.w;
        let member_secs = f64::from(r.members) * a.window_secs as f64;
        let busy = w.target_cpu.as_ref().map_or("-".to_string(), |c| {
            format!("{:.1} / {:.1}", 100.0 * c.busy(), 100.0 * c.waited())
        });
        let gen_busy = w
            .gen_cpu
            .as_ref()
            .map_or("-".to_string(), |c| format!("{:.0}", 100.0 * c.busy()));
        let fails = r.failures();
        let bound = if r.gen_bound(a.late_ms) {
            "generator late".to_string()
        } else if fails.is_empty() {
            "held".to_string()
        } else if fails
            .iter()
            .all(|f| ["missing talkers", "late", "loss"].contains(f))
            && r.w.voice.missing > 0
            && r.missing_explained()
        {
            format!(
                "generator stalls ({} sends > {} ms late): {}",
                r.stalled_sends(),
                JITTER_DELAY_US / 1000,
                fails.join(", ")
            )
        } else {
            let waited = w.target_cpu.as_ref().map_or(0.0, |c| c.waited());
            let starved = if waited > 0.1 {
                format!(
                    " (its worker waited {:.0} % of the window for its core)",
                    100.0 * waited
                )
            } else {
                String::new()
            };
            format!("gateway: {}{starved}", fails.join(", "))
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} / {} | {:.3} | {:.3} | {} | {} | {} | {} / {} | {:.2} / {:.3} | {:.1} | {busy} | {} / {gen_busy} | {} | {bound} |\n",
            r.size,
            r.talkers,
            r.members,
            r.members / r.size,
            w.received,
            w.grid_expected,
            ratio(w.grid_lost, w.grid_expected),
            ratio(w.late, w.received),
            w.voice.judged,
            w.voice.own,
            w.voice.missing,
            w.voice.members_own,
            w.voice.members_missing,
            w.voice.weakest,
            w.voice.loudest_own,
            r.cpu_us as f64 / member_secs.max(1.0),
            pct(&w.gen_late_us)[1],
            r.stalled_sends(),
        ));
    }
    t.push_str(&format!(
        "\nSignal: every talker a steady tone ({} Hz; in rotating conferences odd \
         rotations use {} Hz; amplitude {}), measured in every frame a member receives \
         (decoded PCMU, one DFT bin per talker). Own voice: the member's own tone at 1/8 \
         of a talker or more; missing talker: another talker's tone under half; the \
         weakest other talker and the loudest own tone heard in any judged frame are \
         given in talkers (1.00: a talker's amplitude). In conferences larger than {} the \
         talkers rotate every {} s and frames heard within {} ms of a rotation are not \
         judged. Loss: frames missing from the span of RTP timestamps each member \
         received in the window (a dead member: the whole window). Late: arrivals more \
         than {} ms off the 20 ms grid. Gateway CPU: the whole process's utime+stime \
         (/proc) over the window per member-second; busy / waited: the media worker \
         thread's share of the wall time on its core / runnable but waiting for it (other \
         processes on its core). Generator: its sends' lateness against their deadlines \
         (p99) and its streaming thread's share of its core. The generator is the bound \
         when its own sends are more than the late threshold behind (p99); a frame it \
         sent more than the gateway's jitter-buffer delay (40 ms) late may be dropped by \
         the gateway as late, by design, and cost each other member one frame of that \
         talker: missing-talker frames no more than those sends times the other members \
         are put down to the generator's stalls.\n",
        crate::voice::FREQS[0].map(|f| f.to_string()).join(", "),
        crate::voice::FREQS[1].map(|f| f.to_string()).join(", "),
        crate::voice::AMP,
        crate::voice::TALKERS,
        a.rotate_secs,
        a.guard_ms,
        a.late_ms
    ));
    t
}
