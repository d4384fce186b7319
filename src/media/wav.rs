//! WAV files: decoding prompts into [`Audio`] (8 kHz mono; PCM 8/16/24/32-bit, 32-bit
//! float, A-law and µ-law; other rates resampled, several channels mixed down; anything
//! else refused with a reason), and the header layout the recording writer keeps valid.
//!
//! A-law and µ-law files at 8 kHz mono keep their original bytes next to the decoded
//! samples, so a prompt played to a call of the same law goes out byte for byte (and to
//! a call of the other law through the exact G.711 transcoding tables).

use super::commands::G711;

/// Decoded audio, shared (in an `Arc`) by every call that plays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    /// 8 kHz mono linear samples.
    pub samples: Box<[i16]>,
    /// The file's own G.711 bytes (same length as `samples`) when it was 8 kHz mono A-law or µ-law.
    pub encoded: Option<(G711, Box<[u8]>)>,
}

impl Audio {
    /// Audio from linear samples.
    pub fn from_samples(samples: Vec<i16>) -> Self {
        Self {
            samples: samples.into_boxed_slice(),
            encoded: None,
        }
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
    pub fn encode_into(&self, law: G711, from: usize, out: &mut [u8]) {
        let to = from + out.len();
        match &self.encoded {
            Some((file_law, bytes)) => {
                for (o, &b) in out.iter_mut().zip(&bytes[from..to]) {
                    *o = law.from_law(*file_law, b);
                }
            }
            None => {
                for (o, &s) in out.iter_mut().zip(&self.samples[from..to]) {
                    *o = law.encode(s);
                }
            }
        }
    }
}

const FMT_PCM: u16 = 1;
const FMT_FLOAT: u16 = 3;
const FMT_ALAW: u16 = 6;
const FMT_ULAW: u16 = 7;
const FMT_EXTENSIBLE: u16 = 0xFFFE;

/// Sample rate of everything the media layer plays and records.
pub const RATE: u32 = 8000;

struct Fmt {
    tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Decodes a WAV file held in memory. The error says what is wrong, for the client.
pub fn decode(bytes: &[u8]) -> Result<Audio, String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a WAV file (no RIFF/WAVE header)".into());
    }
    let mut at = 12;
    let mut fmt = None;
    let mut data = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4).unwrap_or(0) as usize;
        let body_start = at + 8;
        // A streaming writer may leave the data size at 0 or 0xFFFFFFFF: take what is there.
        let body_end = body_start.saturating_add(size).min(bytes.len());
        let body = &bytes[body_start..body_end];
        match id {
            b"fmt " => {
                let tag = u16_at(body, 0).ok_or("fmt chunk too short")?;
                let channels = u16_at(body, 2).ok_or("fmt chunk too short")?;
                let rate = u32_at(body, 4).ok_or("fmt chunk too short")?;
                let bits = u16_at(body, 14).ok_or("fmt chunk too short")?;
                let tag = if tag == FMT_EXTENSIBLE {
                    u16_at(body, 24).ok_or("WAVE_FORMAT_EXTENSIBLE without a subformat")?
                } else {
                    tag
                };
                fmt = Some(Fmt {
                    tag,
                    channels,
                    rate,
                    bits,
                });
            }
            b"data" => {
                let body = if size == 0 || size == u32::MAX as usize {
                    &bytes[body_start..]
                } else {
                    body
                };
                data = Some(body);
                if fmt.is_some() {
                    break;
                }
            }
            _ => {}
        }
        at = body_start.saturating_add(size).saturating_add(size & 1);
    }
    let fmt = fmt.ok_or("WAV file without a fmt chunk")?;
    let data = data.ok_or("WAV file without a data chunk")?;
    if fmt.channels == 0 {
        return Err("WAV file with 0 channels".into());
    }
    if fmt.rate == 0 {
        return Err("WAV file with a sample rate of 0".into());
    }
    let (law, width) = match (fmt.tag, fmt.bits) {
        (FMT_PCM, 8) => (None, 1),
        (FMT_PCM, 16) => (None, 2),
        (FMT_PCM, 24) => (None, 3),
        (FMT_PCM, 32) | (FMT_FLOAT, 32) => (None, 4),
        (FMT_ALAW, 8) => (Some(G711::Alaw), 1),
        (FMT_ULAW, 8) => (Some(G711::Ulaw), 1),
        (tag, bits) => {
            return Err(format!(
                "unsupported WAV format (format tag {tag}, {bits} bits): \
                 use PCM, A-law or µ-law"
            ));
        }
    };
    let channels = fmt.channels as usize;
    let frame = width * channels;
    let frames = data.len() / frame;
    let sample = |b: &[u8]| -> i16 {
        match (fmt.tag, width) {
            (_, 1) => match law {
                Some(l) => l.decode(b[0]),
                None => ((b[0] as i16) - 128) << 8,
            },
            (_, 2) => i16::from_le_bytes([b[0], b[1]]),
            (_, 3) => i16::from_le_bytes([b[1], b[2]]),
            (FMT_FLOAT, _) => {
                let f = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                (f.clamp(-1.0, 1.0) * 32767.0) as i16
            }
            _ => i16::from_le_bytes([b[2], b[3]]),
        }
    };
    let mut samples = Vec::with_capacity(frames);
    for f in data[..frames * frame].chunks_exact(frame) {
        let sum: i32 = f.chunks_exact(width).map(|s| sample(s) as i32).sum();
        samples.push((sum / channels as i32) as i16);
    }
    if fmt.rate != RATE {
        let resampled = crate::codec::resample(&samples, fmt.rate, RATE)
            .map_err(|e| format!("cannot resample from {} Hz: {e}", fmt.rate))?;
        return Ok(Audio::from_samples(resampled));
    }
    let encoded = match law {
        Some(l) if channels == 1 => Some((l, data[..frames].to_vec().into_boxed_slice())),
        _ => None,
    };
    Ok(Audio {
        samples: samples.into_boxed_slice(),
        encoded,
    })
}

/// The sample format of a WAV file the recorder writes (8 kHz mono).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WavFormat {
    /// WAVE_FORMAT_ALAW, 8 bits.
    Alaw,
    /// WAVE_FORMAT_MULAW, 8 bits.
    Ulaw,
    /// 8-bit unsigned linear PCM.
    Pcm8,
    /// 16-bit signed linear PCM.
    Pcm16,
}

impl WavFormat {
    /// Bytes per sample.
    pub fn width(self) -> usize {
        match self {
            WavFormat::Pcm16 => 2,
            _ => 1,
        }
    }

    fn tag(self) -> u16 {
        match self {
            WavFormat::Alaw => FMT_ALAW,
            WavFormat::Ulaw => FMT_ULAW,
            WavFormat::Pcm8 | WavFormat::Pcm16 => FMT_PCM,
        }
    }

    /// Non-PCM formats carry an 18-byte fmt chunk and a fact chunk.
    fn companded(self) -> bool {
        matches!(self, WavFormat::Alaw | WavFormat::Ulaw)
    }

    /// Length of the header in front of the audio bytes.
    pub fn header_len(self) -> usize {
        if self.companded() { 58 } else { 44 }
    }
}

/// A header for `data_len` bytes of audio in `format`. The writer rewrites it (same
/// length) as the file grows.
pub fn header(format: WavFormat, data_len: u32) -> Vec<u8> {
    let width = format.width() as u16;
    let mut h = Vec::with_capacity(format.header_len());
    let riff_len = (format.header_len() as u32 - 8).saturating_add(data_len);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&riff_len.to_le_bytes());
    h.extend_from_slice(b"WAVE");
    h.extend_from_slice(b"fmt ");
    h.extend_from_slice(&(if format.companded() { 18u32 } else { 16 }).to_le_bytes());
    h.extend_from_slice(&format.tag().to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&RATE.to_le_bytes());
    h.extend_from_slice(&(RATE * width as u32).to_le_bytes());
    h.extend_from_slice(&width.to_le_bytes());
    h.extend_from_slice(&(width * 8).to_le_bytes());
    if format.companded() {
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(b"fact");
        h.extend_from_slice(&4u32.to_le_bytes());
        h.extend_from_slice(&(data_len / width as u32).to_le_bytes());
    }
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_with(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        let align = channels * bits / 8;
        v.extend_from_slice(&(rate * align as u32).to_le_bytes());
        v.extend_from_slice(&align.to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        v.extend_from_slice(b"LIST");
        v.extend_from_slice(&3u32.to_le_bytes());
        v.extend_from_slice(b"abc\0"); // odd chunk + pad byte
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn ulaw_file_keeps_its_bytes() {
        let data: Vec<u8> = (0..=255u8).collect();
        let a = decode(&wav_with(7, 1, 8000, 8, &data)).expect("ulaw");
        let (law, bytes) = a.encoded.as_ref().expect("encoded kept");
        assert_eq!(*law, G711::Ulaw);
        assert_eq!(&bytes[..], &data[..]);
        let mut out = vec![0u8; 256];
        a.encode_into(G711::Ulaw, 0, &mut out);
        assert_eq!(out, data, "byte-exact, 0x7F and 0xFF included");
        a.encode_into(G711::Alaw, 0, &mut out);
        let want: Vec<u8> = data
            .iter()
            .map(|&b| crate::codec::ULAW_TO_ALAW[b as usize])
            .collect();
        assert_eq!(out, want);
        assert_eq!(a.samples[5], crate::codec::ulaw_to_linear(5));
    }

    #[test]
    fn pcm_formats_decode() {
        let s16: Vec<u8> = [1000i16, -2000, 32767]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let a = decode(&wav_with(1, 1, 8000, 16, &s16)).expect("pcm16");
        assert_eq!(&a.samples[..], &[1000, -2000, 32767]);
        assert!(a.encoded.is_none());
        let a = decode(&wav_with(1, 1, 8000, 8, &[128, 255, 0])).expect("pcm8");
        assert_eq!(&a.samples[..], &[0, 127 << 8, -128 << 8]);
        // Stereo is mixed down.
        let st: Vec<u8> = [100i16, 300, -50, -150]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let a = decode(&wav_with(1, 2, 8000, 16, &st)).expect("stereo");
        assert_eq!(&a.samples[..], &[200, -100]);
        let a = decode(&wav_with(6, 1, 8000, 8, &[0xD5, 0x55])).expect("alaw");
        assert_eq!(a.encoded.as_ref().map(|e| e.0), Some(G711::Alaw));
    }

    #[test]
    fn other_rates_are_resampled() {
        let s: Vec<u8> = (0..16000)
            .flat_map(|i| (((i as f64 * 0.05).sin() * 8000.0) as i16).to_le_bytes())
            .collect();
        let a = decode(&wav_with(1, 1, 16000, 16, &s)).expect("16k");
        assert!((7990..=8010).contains(&a.len()), "{}", a.len());
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert!(decode(b"hello").unwrap_err().contains("not a WAV"));
        let e = decode(&wav_with(2, 1, 8000, 4, &[0, 0])).unwrap_err();
        assert!(e.contains("unsupported WAV format"), "{e}");
        let e = decode(&wav_with(1, 1, 8000, 12, &[0, 0])).unwrap_err();
        assert!(e.contains("12 bits"), "{e}");
        let mut v = wav_with(1, 1, 8000, 16, &[0, 0]);
        v.truncate(30);
        assert!(decode(&v).is_err());
        assert!(decode(&wav_with(1, 0, 8000, 16, &[0, 0])).is_err());
    }

    #[test]
    fn header_round_trips_through_hound_and_decode() {
        for (f, tag) in [
            (WavFormat::Pcm16, 1),
            (WavFormat::Pcm8, 1),
            (WavFormat::Alaw, 6),
            (WavFormat::Ulaw, 7),
        ] {
            let mut v = header(f, 4);
            assert_eq!(v.len(), f.header_len());
            assert_eq!(u16_at(&v, 20), Some(tag));
            v.extend_from_slice(&[1, 2, 3, 4]);
            let a = decode(&v).expect("own header");
            assert_eq!(a.len(), 4 / f.width());
            if f == WavFormat::Pcm16 {
                let r = hound::WavReader::new(std::io::Cursor::new(&v)).expect("hound");
                assert_eq!(r.spec().sample_rate, 8000);
                assert_eq!(r.len(), 2);
            }
        }
    }
}
