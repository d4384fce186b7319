//! DTMF detection over the audio of a WAV file, for `mediagw dtmf-detect FILE.wav`: the
//! file image (read by [`crate::codec::wav`]) must be 8 kHz mono PCM 16-bit, A-law or
//! µ-law; its samples feed a [`Detector`].

use super::{Detector, DtmfEvent, SAMPLE_RATE};
use crate::codec::wav::{Encoding, Wav, WavError};
use std::fmt;

/// A digit found in a file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectedDigit {
    pub digit: char,
    /// Start, seconds from the beginning of the audio (block resolution, 8 ms).
    pub start_s: f64,
    /// End, seconds from the beginning of the audio.
    pub end_s: f64,
}

/// Why a WAV file could not be analysed.
#[derive(Debug, PartialEq, Eq)]
pub enum DetectError {
    /// Not a RIFF/WAVE file, or a malformed one.
    Wav(WavError),
    /// An encoding other than PCM 16-bit, A-law or µ-law.
    UnsupportedFormat { format_tag: u16, bits: u16 },
    /// A sample rate other than 8000 Hz.
    UnsupportedRate(u32),
    /// More than one channel.
    UnsupportedChannels(u16),
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectError::Wav(e @ WavError::NotWav) => write!(f, "{e}"),
            DetectError::Wav(e) => write!(f, "not a valid WAV file: {e}"),
            DetectError::UnsupportedFormat { format_tag, bits } => write!(
                f,
                "unsupported WAV encoding (format tag {format_tag}, {bits} bits); \
                 expected PCM 16-bit, A-law or µ-law"
            ),
            DetectError::UnsupportedRate(r) => {
                write!(
                    f,
                    "unsupported sample rate {r} Hz; only {SAMPLE_RATE} Hz is supported"
                )
            }
            DetectError::UnsupportedChannels(c) => {
                write!(f, "unsupported channel count {c}; only mono is supported")
            }
        }
    }
}

impl std::error::Error for DetectError {}

impl From<WavError> for DetectError {
    fn from(e: WavError) -> Self {
        match e {
            WavError::UnsupportedFormat { format_tag, bits } => {
                DetectError::UnsupportedFormat { format_tag, bits }
            }
            e => DetectError::Wav(e),
        }
    }
}

/// The DTMF digits the WAV file image `bytes` holds, in order.
pub fn detect_wav_bytes(bytes: &[u8]) -> Result<Vec<DetectedDigit>, DetectError> {
    let wav = Wav::parse(bytes)?;
    if !matches!(wav.encoding, Encoding::Pcm16 | Encoding::G711(_)) {
        return Err(DetectError::UnsupportedFormat {
            format_tag: wav.encoding.format_tag(),
            bits: wav.encoding.bits(),
        });
    }
    if wav.channels != 1 {
        return Err(DetectError::UnsupportedChannels(wav.channels));
    }
    if wav.rate != SAMPLE_RATE {
        return Err(DetectError::UnsupportedRate(wav.rate));
    }
    let mut det = Detector::new();
    let mut events: Vec<DtmfEvent> = Vec::new();
    for frame in wav.mono_samples().chunks(160) {
        det.rx(frame, |e| events.push(e));
    }
    det.finish(|e| events.push(e));
    let secs = |s: u64| s as f64 / f64::from(SAMPLE_RATE);
    Ok(events
        .iter()
        .filter_map(|e| {
            e.end.map(|end| DetectedDigit {
                digit: e.digit,
                start_s: secs(e.start_sample),
                end_s: secs(end),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::ToneGenerator;
    use super::*;
    use crate::codec::wav::wav_with;
    use crate::codec::{linear_to_alaw, linear_to_ulaw};

    fn digits_pcm(digits: &str) -> Vec<i16> {
        let mut out = vec![0i16; 400];
        for d in digits.chars() {
            let mut g = ToneGenerator::new(d, 60, 80).expect("digit");
            let mut buf = [0i16; 160];
            loop {
                let n = g.tx(&mut buf);
                out.extend_from_slice(&buf[..n]);
                if n < buf.len() {
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn detects_digits_in_pcm_alaw_and_ulaw_files() {
        let pcm = digits_pcm("19*#");
        let le: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        let a: Vec<u8> = pcm.iter().map(|&s| linear_to_alaw(s)).collect();
        let u: Vec<u8> = pcm.iter().map(|&s| linear_to_ulaw(s)).collect();
        for (name, file) in [
            ("pcm", wav_with(1, 1, 8000, 16, &le)),
            ("alaw", wav_with(6, 1, 8000, 8, &a)),
            ("ulaw", wav_with(7, 1, 8000, 8, &u)),
        ] {
            let found = detect_wav_bytes(&file).expect(name);
            let digits: String = found.iter().map(|d| d.digit).collect();
            assert_eq!(digits, "19*#", "{name}");
            // First tone starts at 50 ms (400 samples), tones every 140 ms.
            for (i, d) in found.iter().enumerate() {
                let expect = 0.05 + 0.14 * i as f64;
                assert!((d.start_s - expect).abs() < 0.0085, "{name} {d:?}");
                assert!(d.end_s > d.start_s + 0.04, "{name} {d:?}");
            }
        }
    }

    #[test]
    fn rejects_other_rates_formats_and_garbage() {
        let data = [0u8; 320];
        let e = detect_wav_bytes(&wav_with(1, 1, 16000, 16, &data)).unwrap_err();
        assert_eq!(e, DetectError::UnsupportedRate(16000));
        assert!(e.to_string().contains("16000"), "{e}");
        let e = detect_wav_bytes(&wav_with(1, 2, 8000, 16, &data)).unwrap_err();
        assert_eq!(e, DetectError::UnsupportedChannels(2));
        // Readable by the WAV reader but not by the detector, and not readable at all.
        for (tag, bits) in [(3, 32), (1, 8), (2, 4)] {
            let e = detect_wav_bytes(&wav_with(tag, 1, 8000, bits, &data)).unwrap_err();
            assert_eq!(
                e,
                DetectError::UnsupportedFormat {
                    format_tag: tag,
                    bits
                }
            );
        }
        let e = detect_wav_bytes(b"RIFF").unwrap_err();
        assert_eq!(e, DetectError::Wav(WavError::NotWav));
        assert_eq!(e.to_string(), "not a WAV file (no RIFF/WAVE header)");
        let e = detect_wav_bytes(&wav_with(1, 0, 8000, 16, &data)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not a valid WAV file: WAV file with 0 channels"
        );
        assert!(matches!(
            detect_wav_bytes(&[0u8; 100]),
            Err(DetectError::Wav(_))
        ));
        // Every truncation of a valid file either parses or errors; none panics.
        let file = wav_with(7, 1, 8000, 8, &[0xFF; 50]);
        for n in 0..file.len() {
            let _ = detect_wav_bytes(&file[..n]);
        }
    }

    #[test]
    fn extensible_format_and_unfinalized_data_size() {
        let pcm = digits_pcm("4");
        let le: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut f = Vec::new();
        f.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
        f.extend_from_slice(&40u32.to_le_bytes());
        f.extend_from_slice(&0xFFFEu16.to_le_bytes()); // WAVE_FORMAT_EXTENSIBLE
        f.extend_from_slice(&1u16.to_le_bytes());
        f.extend_from_slice(&8000u32.to_le_bytes());
        f.extend_from_slice(&16000u32.to_le_bytes());
        f.extend_from_slice(&2u16.to_le_bytes());
        f.extend_from_slice(&16u16.to_le_bytes());
        f.extend_from_slice(&22u16.to_le_bytes());
        f.extend_from_slice(&16u16.to_le_bytes());
        f.extend_from_slice(&4u32.to_le_bytes());
        f.extend_from_slice(&1u16.to_le_bytes()); // sub-format: PCM
        f.extend_from_slice(&[0u8; 14]);
        f.extend_from_slice(b"data");
        f.extend_from_slice(&u32::MAX.to_le_bytes()); // never finalized
        f.extend_from_slice(&le);
        f.push(0x12); // odd trailing byte: half a sample, ignored
        let found = detect_wav_bytes(&f).expect("extensible");
        assert_eq!(found.iter().map(|d| d.digit).collect::<String>(), "4");
    }
}
