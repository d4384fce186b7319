//! Audio sample codecs for the media path: ITU-T G.711 µ-law and A-law companding
//! (bit-exact with the ITU-T G.191 reference), A-law/µ-law transcoding, and a
//! windowed-sinc polyphase resampler used to bring prompts to 8 kHz.
//!
//! Everything here is pure computation: no IO, no allocation on the per-frame
//! paths (the slice functions write into caller-provided buffers).

mod alaw;
mod resample;
mod transcode;
mod ulaw;

pub use alaw::{ALAW_TO_LINEAR, alaw_to_linear, decode_alaw, encode_alaw, linear_to_alaw};
pub use resample::{ResampleError, Resampler, resample};
pub use transcode::{ALAW_TO_ULAW, ULAW_TO_ALAW, alaw_to_ulaw, ulaw_to_alaw};
pub use ulaw::{ULAW_TO_LINEAR, decode_ulaw, encode_ulaw, linear_to_ulaw, ulaw_to_linear};

/// The µ-law code of digital silence (positive zero).
pub const ULAW_SILENCE: u8 = 0xFF;
/// The A-law code of the smallest positive level (A-law has no exact zero).
pub const ALAW_SILENCE: u8 = 0xD5;
