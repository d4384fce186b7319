//! The end of a call resource: `on_released` goes once the call's running action has
//! reported its completion and the media plane has reported `Closed` (which follows every
//! completion event of the call and carries its RTP figures), or after `RELEASE_FLUSH`
//! when the media plane stays silent. Its parameters then gain the call's media figures
//! (codec, packets, loss and jitter from RTP and the far end's RTCP, round trip, an
//! estimated MOS), the same record goes out as [`Output::Cdr`] for the call detail record,
//! and the figures are counted for `/metrics`.

use std::time::Instant;

use serde_json::{Value, json};

use super::resource::Call;
use super::{Gateway, Output};
use crate::media_msg::CallStats;
use crate::rtp::quality;

impl Gateway {
    /// The media plane reports the call's media gone, with its figures. For a call still
    /// up, its media failed (a worker contained a fault in it): the call is hung up with
    /// an error, as a call without media cannot go on.
    pub(crate) fn media_closed(&mut self, serial: u64, stats: CallStats, now: Instant) {
        if self.calls.get(&serial).is_some_and(|c| c.is_live()) {
            tracing::error!("the call's media failed: the call is released with cause 500");
            self.figures.panics += 1;
            self.release_after_fault(serial, now);
        }
        if let Some(c) = self.calls.get_mut(&serial) {
            c.media_stats = Some(stats);
            c.awaiting_close = false;
        }
    }

    /// Sends `on_released` once nothing is left to wait for (or at once, `force`: the
    /// media plane did not answer in time; a running action is reported ended first).
    pub(crate) fn settle_release(&mut self, serial: u64, force: bool, now: Instant) {
        let Some(c) = self.calls.get(&serial) else {
            return;
        };
        if c.pending_release.is_none() || (!force && (c.awaiting_close || c.action.is_some())) {
            return;
        }
        if c.action.is_some() {
            self.complete_action(serial, Some("call released"), None, now);
        }
        let Some(c) = self.calls.get_mut(&serial) else {
            return;
        };
        let Some(mut params) = c.pending_release.take() else {
            return;
        };
        c.awaiting_close = false;
        if let Some(obj) = params.as_object_mut()
            && let Value::Object(media) = media_figures(c)
        {
            obj.extend(media);
        }
        tracing::debug!(
            dropped_by = params["dropped_by"].as_str().unwrap_or_default(),
            cause = params["cause"].as_u64().unwrap_or_default(),
            "call released"
        );
        self.count_release(serial, &params);
        self.outputs.push_back(Output::Cdr {
            record: params.clone(),
        });
        self.announce_release(serial, params, now);
    }

    /// `/metrics`: released calls, failures by cause, RTP quality.
    fn count_release(&mut self, serial: u64, params: &Value) {
        let Some(c) = self.calls.get(&serial) else {
            return;
        };
        let dir = c.dir.as_str();
        let f = &mut self.figures;
        *f.released.entry(dir).or_default() += 1;
        if c.answer_time.is_none() {
            let cause = params["cause"].as_u64().unwrap_or(0) as u16;
            *f.failures.entry((dir, cause)).or_default() += 1;
        }
        if let Some(loss) = params["loss_percent"].as_f64() {
            f.rtp_loss_pct.observe(loss);
        }
        if let Some(j) = params["jitter_ms"].as_f64() {
            f.rtp_jitter_ms.observe(j);
        }
        if let Some(m) = params["mos"].as_f64() {
            f.mos.observe(m);
        }
    }
}

/// A call's media figures, added to `on_released` and the call record: `null` where the
/// call had no media (never answered) or no report says (no RTCP from the far end).
///
/// - `codec`: the negotiated codec; `packets_in`, `packets_out`: RTP packets;
/// - `packets_lost`, `loss_percent`, `jitter_ms`: what we received (RFC 3550 counters);
/// - `remote_packets_lost`, `remote_jitter_ms`, `rtt_ms`: the far end's last RTCP
///   reception report about our stream, and the round trip it gives;
/// - `mos`: the E-model estimate (`rtp::quality`) of the worse direction, with the
///   one-way delay taken as half the round trip (0 when unknown), plus one packet time,
///   plus twice the jitter (a jitter buffer sized for it).
pub fn media_figures(c: &Call) -> Value {
    let codec = c.media.as_ref().map(|m| m.codec.encoding_name());
    let ptime = c.media.as_ref().map_or(20, |m| m.ptime_ms);
    let Some(s) = c.media_stats.filter(|s| s.packets_in + s.packets_out > 0) else {
        return json!({
            "codec": codec,
            "packets_in": 0,
            "packets_out": 0,
            "packets_lost": null,
            "loss_percent": null,
            "jitter_ms": null,
            "remote_packets_lost": null,
            "remote_jitter_ms": null,
            "rtt_ms": null,
            "mos": null,
        });
    };
    let lost = s.lost.max(0) as u64;
    let received = (s.packets_in > 0).then(|| percent(lost, s.packets_in + lost));
    let remote = s
        .remote_lost
        .map(|l| percent(l.max(0) as u64, s.packets_out.max(l.max(0) as u64)));
    let delay = f64::from(s.rtt_ms.unwrap_or(0)) / 2.0 + f64::from(ptime);
    let mos_of = |loss: f64, jitter: u32| quality::g711_mos(loss, delay + 2.0 * f64::from(jitter));
    let heard = received.map(|l| mos_of(l, s.jitter_ms));
    let theirs = remote.map(|l| mos_of(l, s.remote_jitter_ms.unwrap_or(0)));
    let mos = match (heard, theirs) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    json!({
        "codec": codec,
        "packets_in": s.packets_in,
        "packets_out": s.packets_out,
        "packets_lost": received.map(|_| lost),
        "loss_percent": received.map(round2),
        "jitter_ms": received.map(|_| s.jitter_ms),
        "remote_packets_lost": s.remote_lost,
        "remote_jitter_ms": s.remote_jitter_ms,
        "rtt_ms": s.rtt_ms,
        "mos": mos.map(round2),
    })
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
