//! Prompt audio: [`Audio`], a WAV file (read by [`crate::codec::wav`]) brought to 8 kHz
//! mono (other rates resampled, several channels mixed down; anything else refused with
//! a reason), as every call that plays it shares it.
//!
//! A-law and µ-law files at 8 kHz mono keep their original bytes next to the decoded
//! samples, so a prompt played to a call of the same law goes out byte for byte (and to
//! a call of the other law through the exact G.711 transcoding tables).
//!
//! Both G.711 encodings are made once, when the audio is loaded (on the file service
//! thread), so that playing a frame is a copy: the media worker never encodes a prompt
//! sample by sample for every call that plays it.

use crate::codec::Codec;
use crate::codec::wav::{Encoding, RATE, Wav};

/// Decoded audio, shared (in an `Arc`) by every call that plays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    /// 8 kHz mono linear samples.
    pub samples: Box<[i16]>,
    /// The file's own law when it was 8 kHz mono A-law or µ-law (its bytes are kept as
    /// they are, in `laws`).
    file_law: Option<Codec>,
    /// The audio in µ-law and in A-law (`Codec` order), each as long as `samples`.
    laws: [Box<[u8]>; 2],
}

impl Audio {
    /// Audio from linear samples.
    pub fn from_samples(samples: Vec<i16>) -> Self {
        Self::new(samples.into_boxed_slice(), None)
    }

    /// Audio from G.711 bytes in `law` (kept as they are).
    pub fn from_g711(law: Codec, bytes: &[u8]) -> Self {
        let samples = bytes.iter().map(|&b| law.decode(b)).collect();
        Self::new(samples, Some((law, bytes.into())))
    }

    /// Encodes both laws once (a G.711 file's own bytes are kept for its law).
    fn new(samples: Box<[i16]>, encoded: Option<(Codec, Box<[u8]>)>) -> Self {
        let file_law = encoded.as_ref().map(|(law, _)| *law);
        let laws = match encoded {
            Some((from, bytes)) => {
                let other = |law: Codec| -> Box<[u8]> {
                    bytes.iter().map(|&b| law.from_law(from, b)).collect()
                };
                match from {
                    Codec::Pcmu => {
                        let alaw = other(Codec::Pcma);
                        [bytes, alaw]
                    }
                    Codec::Pcma => {
                        let ulaw = other(Codec::Pcmu);
                        [ulaw, bytes]
                    }
                }
            }
            None => {
                let encode =
                    |law: Codec| -> Box<[u8]> { samples.iter().map(|&s| law.encode(s)).collect() };
                [encode(Codec::Pcmu), encode(Codec::Pcma)]
            }
        };
        Self {
            samples,
            file_law,
            laws,
        }
    }

    /// The file's own G.711 bytes (as long as `samples`) and their law, when it was 8 kHz
    /// mono A-law or µ-law.
    pub fn encoded(&self) -> Option<(Codec, &[u8])> {
        self.file_law.map(|law| (law, self.in_law(law)))
    }

    /// The audio in `law`.
    fn in_law(&self, law: Codec) -> &[u8] {
        match law {
            Codec::Pcmu => &self.laws[0],
            Codec::Pcma => &self.laws[1],
        }
    }

    /// Decodes a WAV file held in memory. The error says what is wrong, for the client.
    pub fn from_wav(bytes: &[u8]) -> Result<Audio, String> {
        let wav = Wav::parse(bytes).map_err(|e| e.to_string())?;
        let samples = wav.mono_samples();
        if wav.rate != RATE {
            let resampled = crate::codec::resample(&samples, wav.rate, RATE)
                .map_err(|e| format!("cannot resample from {} Hz: {e}", wav.rate))?;
            return Ok(Audio::from_samples(resampled));
        }
        let encoded = match wav.encoding {
            Encoding::G711(c) if wav.channels == 1 => {
                Some((c, wav.data.to_vec().into_boxed_slice()))
            }
            _ => None,
        };
        Ok(Audio::new(samples.into_boxed_slice(), encoded))
    }

    /// Number of 8 kHz samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when there is nothing to play.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Writes samples `from..from + out.len()` encoded in `law` into `out`: the original
    /// bytes when the file is in `law`, the exact transcoding when in the other law, else
    /// the G.711 encoding of the samples. The range must lie within the audio.
    pub fn encode_into(&self, law: Codec, from: usize, out: &mut [u8]) {
        out.copy_from_slice(&self.in_law(law)[from..from + out.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::wav::wav_with;

    #[test]
    fn ulaw_file_keeps_its_bytes() {
        let data: Vec<u8> = (0..=255u8).collect();
        let a = Audio::from_wav(&wav_with(7, 1, 8000, 8, &data)).expect("ulaw");
        let (law, bytes) = a.encoded().expect("encoded kept");
        assert_eq!(law, Codec::Pcmu);
        assert_eq!(bytes, &data[..]);
        let mut out = vec![0u8; 256];
        a.encode_into(Codec::Pcmu, 0, &mut out);
        assert_eq!(out, data, "byte-exact, 0x7F and 0xFF included");
        a.encode_into(Codec::Pcma, 0, &mut out);
        let want: Vec<u8> = data
            .iter()
            .map(|&b| crate::codec::ULAW_TO_ALAW[b as usize])
            .collect();
        assert_eq!(out, want);
        assert_eq!(a.samples[5], crate::codec::ulaw_to_linear(5));
    }

    #[test]
    fn linear_audio_plays_as_each_law_encodes_its_samples() {
        let samples: Vec<i16> = (0..400)
            .map(|i| ((i * 331) % 60000 - 30000) as i16)
            .collect();
        let a = Audio::from_samples(samples.clone());
        for law in [Codec::Pcmu, Codec::Pcma] {
            let mut out = vec![0u8; 160];
            a.encode_into(law, 123, &mut out);
            let want: Vec<u8> = samples[123..283].iter().map(|&s| law.encode(s)).collect();
            assert_eq!(out, want, "{law:?}");
        }
    }

    #[test]
    fn pcm_formats_decode() {
        let s16: Vec<u8> = [1000i16, -2000, 32767]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let a = Audio::from_wav(&wav_with(1, 1, 8000, 16, &s16)).expect("pcm16");
        assert_eq!(&a.samples[..], &[1000, -2000, 32767]);
        assert!(a.encoded().is_none());
        let a = Audio::from_wav(&wav_with(1, 1, 8000, 8, &[128, 255, 0])).expect("pcm8");
        assert_eq!(&a.samples[..], &[0, 127 << 8, -128 << 8]);
        // Stereo is mixed down.
        let st: Vec<u8> = [100i16, 300, -50, -150]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let a = Audio::from_wav(&wav_with(1, 2, 8000, 16, &st)).expect("stereo");
        assert_eq!(&a.samples[..], &[200, -100]);
        let a = Audio::from_wav(&wav_with(6, 1, 8000, 8, &[0xD5, 0x55])).expect("alaw");
        assert_eq!(a.encoded().map(|e| e.0), Some(Codec::Pcma));
    }

    #[test]
    fn other_rates_are_resampled() {
        let s: Vec<u8> = (0..16000)
            .flat_map(|i| (((i as f64 * 0.05).sin() * 8000.0) as i16).to_le_bytes())
            .collect();
        let a = Audio::from_wav(&wav_with(1, 1, 16000, 16, &s)).expect("16k");
        assert!((7990..=8010).contains(&a.len()), "{}", a.len());
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert!(Audio::from_wav(b"hello").unwrap_err().contains("not a WAV"));
        let e = Audio::from_wav(&wav_with(2, 1, 8000, 4, &[0, 0])).unwrap_err();
        assert!(e.contains("unsupported WAV format"), "{e}");
        let e = Audio::from_wav(&wav_with(1, 1, 8000, 12, &[0, 0])).unwrap_err();
        assert!(e.contains("12 bits"), "{e}");
        let mut v = wav_with(1, 1, 8000, 16, &[0, 0]);
        v.truncate(30);
        assert!(Audio::from_wav(&v).is_err());
        assert!(Audio::from_wav(&wav_with(1, 0, 8000, 16, &[0, 0])).is_err());
    }
}
