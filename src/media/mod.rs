//! The media plane: what each call's RTP does on its worker, the threads around the
//! workers, and the [`PlaneSink`] through which the engine's commands arrive.
//!
//! - [`plane`]: starts and stops the workers, the recording writer, the file service
//!   ([`files`]: loads prompts, creates recordings, runs the speech synthesiser) and the
//!   event [`pump`]; [`sink`] routes each engine command to its worker's lock-free queue
//!   (or to the file service first); [`figures`] renders the workers' `/metrics` series.
//! - [`handler`]: the worker-side [`MediaHandler`](crate::worker::MediaHandler), holding
//!   the worker's calls ([`calls`], each a [`channel`]), moving a call to another worker
//!   (`handler::handover`) and joining two of its calls ([`join`]: the straight relay
//!   or the mixing path, DTMF across, ring-back, the join's play and recording), and its conferences ([`conf`]: every member on the
//!   conference's worker, one N-1 mix per 20 ms).
//! - Actions, each a small state machine ending in one completion event: [`play`],
//!   [`record`] (plus its writer thread), [`dtmf_tx`] (send DTMF); received DTMF is decoded
//!   in [`channel`] (RFC 4733) or by an [`InbandDetector`] plugged in through
//!   [`PlaneConfig::inband`] (or the worker's SIMD banks, [`inband_pool`]); a press seen
//!   both ways is reported once ([`digit_dedup`]).
//! - Audio: [`audio`] (prompt audio from WAV files, read by [`crate::codec::wav`]),
//!   [`prompts`] (the cache of decoded files and prompt words), [`tones`] (beep, in-band
//!   DTMF).
//! - Files: [`beneath`] opens media files and creates recordings beneath their roots,
//!   never following a link out of them.
//!
//! Event order per call: every action's completion event precedes the call's
//! [`MediaEvent::Closed`] (a join's `JoinEnded` too); a `RecordCompleted`, or the
//! `JoinEnded` of a recorded join, is delivered only once the file is finalized on disk.

pub mod audio;
pub mod beneath;
pub mod calls;
pub mod channel;
pub mod commands;
pub mod conf;
pub mod digit_dedup;
pub mod dtmf_tx;
pub mod event_dedup;
#[cfg(debug_assertions)]
pub mod faults;
pub mod figures;
pub mod files;
pub mod handler;
pub mod inband_pool;
pub mod join;
pub mod latency;
pub mod plane;
pub mod play;
pub mod prompts;
pub mod pump;
pub mod record;
pub mod sink;
pub mod tones;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use commands::{CallId, CallStats, DigitSource, MediaError, MediaEvent, RemoteMedia};
pub use plane::{MediaPlane, PlaneConfig};
pub use sink::PlaneSink;

/// The hook for in-band DTMF detection: fed every received frame of a call (8 kHz linear
/// samples, silence for lost frames) on the call's worker, it reports each detected key
/// press once through `digit`. One instance per call; must not block or allocate per call
/// of `rx`. Not used on calls that negotiated RFC 4733 (the far end signals digits there)
/// unless `media.inband_with_telephone_event` says so ([`digit_dedup`] then reports a
/// press seen both ways once).
pub trait InbandDetector: Send {
    /// Consumes one frame of samples.
    fn rx(&mut self, samples: &[i16], digit: &mut dyn FnMut(char));
}

/// Creates one [`InbandDetector`] per call (on the worker, when the call is opened).
pub type InbandFactory = Arc<dyn Fn() -> Box<dyn InbandDetector> + Send + Sync>;

/// The gateway's in-band detector: the Goertzel DTMF receiver of [`crate::dtmf`],
/// reporting each digit once, when it is validated.
impl InbandDetector for crate::dtmf::Detector {
    fn rx(&mut self, samples: &[i16], digit: &mut dyn FnMut(char)) {
        crate::dtmf::Detector::rx(self, samples, |ev| {
            if ev.end.is_none() {
                digit(ev.digit);
            }
        });
    }
}
