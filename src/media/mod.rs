//! The per-call media layer: what each call's RTP does on its worker, and the
//! control-plane facade ([`MediaPlane`]) the engine drives.
//!
//! - [`plane`]: starts the workers, the recording writer thread and an event pump; owns
//!   the prompt cache; routes commands to the worker that owns a call.
//! - [`handler`]: the worker-side [`MediaHandler`](crate::worker::MediaHandler), holding
//!   the worker's calls ([`channel`]).
//! - Actions, each a small state machine ending in one completion event: [`play`],
//!   [`record`] (plus its writer thread), [`dtmf_tx`] (send DTMF); received DTMF is decoded
//!   in [`channel`] (RFC 4733) or by an [`InbandDetector`] plugged in through
//!   [`MediaConfig::inband`].
//! - Audio: [`wav`] (decoding files, the recording header), [`prompts`] (the cache of
//!   decoded files and prompt words), [`tones`] (beep, in-band DTMF).
//!
//! Event order per call: every action's completion event precedes the call's
//! [`MediaEvent::Closed`]; a `RecordCompleted` is delivered only once the file is
//! finalized on disk.

pub mod channel;
pub mod commands;
pub mod dtmf_tx;
pub mod event_dedup;
pub mod handler;
pub mod inband_pool;
pub mod latency;
pub mod plane;
pub mod play;
pub mod prompts;
pub mod record;
pub mod tones;
pub mod wav;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use commands::{
    CallId, CallStats, DigitSource, G711, MediaError, MediaEvent, PlayRequest, RecordRequest,
    RemoteMedia,
};
pub use plane::{MediaConfig, MediaPlane};
pub use record::RecordFormat;

/// The hook for in-band DTMF detection: fed every received frame of a call (8 kHz linear
/// samples, silence for lost frames) on the call's worker, it reports each detected key
/// press once through `digit`. One instance per call; must not block or allocate per call
/// of `rx`. Not used on calls that negotiated RFC 4733 (the far end signals digits there).
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
