//! Audio sample codecs for the media path: [`Codec`], the payload codec of a call (PCMU or
//! PCMA) used by SDP, media and WAV files alike; ITU-T G.711 µ-law and A-law companding
//! (bit-exact with the ITU-T G.191 reference), A-law/µ-law transcoding, a windowed-sinc
//! polyphase resampler used to bring prompts to 8 kHz, and [`wav`], the one WAV file
//! reader and header writer.
//!
//! Everything here is pure computation: no IO, no allocation on the per-frame
//! paths (the slice functions write into caller-provided buffers).

mod alaw;
mod payload;
mod resample;
mod transcode;
mod ulaw;
pub mod wav;

pub use alaw::{ALAW_TO_LINEAR, alaw_to_linear, decode_alaw, encode_alaw, linear_to_alaw};
pub use payload::Codec;
pub use resample::{ResampleError, Resampler, resample};
pub use transcode::{ALAW_TO_ULAW, ULAW_TO_ALAW, alaw_to_ulaw, ulaw_to_alaw};
pub use ulaw::{ULAW_TO_LINEAR, decode_ulaw, encode_ulaw, linear_to_ulaw, ulaw_to_linear};

/// The µ-law code of digital silence (positive zero).
pub const ULAW_SILENCE: u8 = 0xFF;
/// The A-law code of the smallest positive level (A-law has no exact zero).
pub const ALAW_SILENCE: u8 = 0xD5;
