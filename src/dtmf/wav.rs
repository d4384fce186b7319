//! DTMF detection over a WAV file, for `mediagw dtmf-detect FILE.wav`: a minimal RIFF/WAVE
//! reader (mono, 8 kHz, PCM 16-bit, A-law or µ-law, plain or WAVE_FORMAT_EXTENSIBLE) with a
//! small private G.711 decoder, feeding a [`Detector`].

use super::{Detector, DtmfEvent, SAMPLE_RATE};
use crate::codec::{alaw_to_linear, ulaw_to_linear};
use std::fmt;
use std::path::Path;

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
#[derive(Debug)]
pub enum WavError {
    Io(std::io::Error),
    /// Not a RIFF/WAVE file, or a malformed one.
    Malformed(&'static str),
    /// An encoding other than PCM 16-bit, A-law or µ-law.
    UnsupportedFormat {
        format_tag: u16,
        bits: u16,
    },
    /// A sample rate other than 8000 Hz.
    UnsupportedRate(u32),
    /// More than one channel.
    UnsupportedChannels(u16),
}

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WavError::Io(e) => write!(f, "cannot read the file: {e}"),
            WavError::Malformed(why) => write!(f, "not a valid WAV file: {why}"),
            WavError::UnsupportedFormat { format_tag, bits } => write!(
                f,
                "unsupported WAV encoding (format tag {format_tag}, {bits} bits); \
                 expected PCM 16-bit, A-law or µ-law"
            ),
            WavError::UnsupportedRate(r) => {
                write!(
                    f,
                    "unsupported sample rate {r} Hz; only {SAMPLE_RATE} Hz is supported"
                )
            }
            WavError::UnsupportedChannels(c) => {
                write!(f, "unsupported channel count {c}; only mono is supported")
            }
        }
    }
}

impl std::error::Error for WavError {}

impl From<std::io::Error> for WavError {
    fn from(e: std::io::Error) -> Self {
        WavError::Io(e)
    }
}

/// Reads the WAV file at `path` and returns the DTMF digits it holds, in order.
pub fn detect_wav(path: impl AsRef<Path>) -> Result<Vec<DetectedDigit>, WavError> {
    let bytes = std::fs::read(path)?;
    detect_wav_bytes(&bytes)
}

/// As [`detect_wav`], on the bytes of a WAV file.
pub fn detect_wav_bytes(bytes: &[u8]) -> Result<Vec<DetectedDigit>, WavError> {
    let (enc, data) = parse(bytes)?;
    let mut det = Detector::new();
    let mut events: Vec<DtmfEvent> = Vec::new();
    let mut frame = [0i16; 160];
    let step = enc.bytes_per_sample();
    for chunk in data.chunks(frame.len() * step) {
        let n = chunk.len() / step;
        for (out, s) in frame.iter_mut().zip(chunk.chunks_exact(step)) {
            *out = enc.decode(s);
        }
        det.rx(&frame[..n], |e| events.push(e));
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

#[derive(Clone, Copy, Debug, PartialEq)]
enum Encoding {
    Pcm16,
    ALaw,
    MuLaw,
}

impl Encoding {
    fn bytes_per_sample(self) -> usize {
        match self {
            Encoding::Pcm16 => 2,
            Encoding::ALaw | Encoding::MuLaw => 1,
        }
    }

    /// Decodes one sample from `b` (`bytes_per_sample()` bytes).
    fn decode(self, b: &[u8]) -> i16 {
        match (self, b) {
            (Encoding::Pcm16, [lo, hi, ..]) => i16::from_le_bytes([*lo, *hi]),
            (Encoding::ALaw, [a, ..]) => alaw_to_linear(*a),
            (Encoding::MuLaw, [u, ..]) => ulaw_to_linear(*u),
            _ => 0,
        }
    }
}

const WAVE_FORMAT_PCM: u16 = 1;
const WAVE_FORMAT_ALAW: u16 = 6;
const WAVE_FORMAT_MULAW: u16 = 7;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// Finds the format and the sample data of a RIFF/WAVE file. A data chunk whose declared
/// size runs past the end of the file (a recording that was never finalized) is cut to
/// what is there.
fn parse(b: &[u8]) -> Result<(Encoding, &[u8]), WavError> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err(WavError::Malformed("no RIFF/WAVE header"));
    }
    let mut enc = None;
    let mut i = 12;
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let size = u32_at(b, i + 4).ok_or(WavError::Malformed("truncated chunk header"))? as usize;
        let body_start = i + 8;
        let body_end = body_start.saturating_add(size).min(b.len());
        let body = &b[body_start..body_end];
        if id == b"fmt " {
            enc = Some(format(body)?);
        } else if id == b"data" {
            let enc = enc.ok_or(WavError::Malformed("data chunk before fmt chunk"))?;
            let whole = body.len() - body.len() % enc.bytes_per_sample();
            return Ok((enc, &body[..whole]));
        }
        // Chunks are padded to an even size.
        i = body_start.saturating_add(size).saturating_add(size & 1);
    }
    Err(WavError::Malformed("no data chunk"))
}

fn format(f: &[u8]) -> Result<Encoding, WavError> {
    let short = WavError::Malformed("fmt chunk too short");
    let mut tag = u16_at(f, 0).ok_or(short)?;
    let channels = u16_at(f, 2).ok_or(WavError::Malformed("fmt chunk too short"))?;
    let rate = u32_at(f, 4).ok_or(WavError::Malformed("fmt chunk too short"))?;
    let bits = u16_at(f, 14).ok_or(WavError::Malformed("fmt chunk too short"))?;
    if tag == WAVE_FORMAT_EXTENSIBLE {
        // cbSize(2) validBits(2) channelMask(4), then the sub-format GUID whose first two
        // bytes are the plain format tag.
        tag = u16_at(f, 24).ok_or(WavError::Malformed("extensible fmt chunk too short"))?;
    }
    let enc = match (tag, bits) {
        (WAVE_FORMAT_PCM, 16) => Encoding::Pcm16,
        (WAVE_FORMAT_ALAW, 8) => Encoding::ALaw,
        (WAVE_FORMAT_MULAW, 8) => Encoding::MuLaw,
        _ => {
            return Err(WavError::UnsupportedFormat {
                format_tag: tag,
                bits,
            });
        }
    };
    if channels != 1 {
        return Err(WavError::UnsupportedChannels(channels));
    }
    if rate != SAMPLE_RATE {
        return Err(WavError::UnsupportedRate(rate));
    }
    Ok(enc)
}

#[cfg(test)]
mod tests {
    use super::super::ToneGenerator;
    use super::*;

    /// A WAV file image: 44-byte header with `tag`, `bits`, `rate`, `channels`, then `data`.
    fn wav(tag: u16, bits: u16, rate: u32, channels: u16, data: &[u8]) -> Vec<u8> {
        let align = channels * bits / 8;
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        v.extend_from_slice(&align.to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        // An unknown chunk of odd size (padded) before the data must be skipped.
        v.extend_from_slice(b"LIST");
        v.extend_from_slice(&3u32.to_le_bytes());
        v.extend_from_slice(&[1, 2, 3, 0]);
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

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

    use crate::codec::{linear_to_alaw, linear_to_ulaw};

    #[test]
    fn g711_decoders_known_values() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        // Round trips through the reference encoders stay within one quantization step.
        for x in (-32000i32..32000).step_by(97) {
            let x = x as i16;
            let u = ulaw_to_linear(linear_to_ulaw(x));
            let a = alaw_to_linear(linear_to_alaw(x));
            let tol = (i32::from(x).abs() / 16).max(16);
            assert!((i32::from(u) - i32::from(x)).abs() <= tol, "µ {x} -> {u}");
            assert!((i32::from(a) - i32::from(x)).abs() <= tol, "A {x} -> {a}");
        }
    }

    #[test]
    fn detects_digits_in_pcm_alaw_and_ulaw_files() {
        let pcm = digits_pcm("19*#");
        let le: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        let a: Vec<u8> = pcm.iter().map(|&s| linear_to_alaw(s)).collect();
        let u: Vec<u8> = pcm.iter().map(|&s| linear_to_ulaw(s)).collect();
        for (name, file) in [
            ("pcm", wav(WAVE_FORMAT_PCM, 16, 8000, 1, &le)),
            ("alaw", wav(WAVE_FORMAT_ALAW, 8, 8000, 1, &a)),
            ("ulaw", wav(WAVE_FORMAT_MULAW, 8, 8000, 1, &u)),
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
    fn reads_a_file_from_disk() {
        let pcm = digits_pcm("7");
        let le: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        let path = std::env::temp_dir().join(format!("dtmf_wav_test_{}.wav", std::process::id()));
        std::fs::write(&path, wav(WAVE_FORMAT_PCM, 16, 8000, 1, &le)).expect("write");
        let found = detect_wav(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            found
                .expect("wav")
                .iter()
                .map(|d| d.digit)
                .collect::<String>(),
            "7"
        );
        assert!(matches!(
            detect_wav("/nonexistent/x.wav"),
            Err(WavError::Io(_))
        ));
    }

    #[test]
    fn rejects_other_rates_formats_and_garbage() {
        let data = [0u8; 320];
        let e = detect_wav_bytes(&wav(WAVE_FORMAT_PCM, 16, 16000, 1, &data)).unwrap_err();
        assert!(matches!(e, WavError::UnsupportedRate(16000)));
        assert!(e.to_string().contains("16000"), "{e}");
        let e = detect_wav_bytes(&wav(WAVE_FORMAT_PCM, 16, 8000, 2, &data)).unwrap_err();
        assert!(matches!(e, WavError::UnsupportedChannels(2)));
        let e = detect_wav_bytes(&wav(3, 32, 8000, 1, &data)).unwrap_err();
        assert!(matches!(
            e,
            WavError::UnsupportedFormat {
                format_tag: 3,
                bits: 32
            }
        ));
        assert!(matches!(
            detect_wav_bytes(b"RIFF"),
            Err(WavError::Malformed(_))
        ));
        assert!(matches!(
            detect_wav_bytes(&[0u8; 100]),
            Err(WavError::Malformed(_))
        ));
        // Every truncation of a valid file either parses or errors; none panics.
        let file = wav(WAVE_FORMAT_MULAW, 8, 8000, 1, &[0xFF; 50]);
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
        f.extend_from_slice(&WAVE_FORMAT_EXTENSIBLE.to_le_bytes());
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
