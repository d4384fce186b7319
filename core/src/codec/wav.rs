//! WAV (RIFF/WAVE) files, the gateway's one reader and writer, on bytes in memory.
//!
//! Reading ([`Wav::parse`]): the `fmt ` chunk (plain or `WAVE_FORMAT_EXTENSIBLE`) and the
//! `data` chunk, skipping any other chunk (padded to even sizes). Encodings: PCM 8, 16,
//! 24 and 32 bit, 32-bit float, A-law and µ-law, any rate and channel count; what a
//! caller can use (the prompts resample and mix down, the DTMF tool wants 8 kHz mono) is
//! its own decision. A `data` chunk whose size was never written (0 or `0xFFFFFFFF`, a
//! streaming writer that stopped) or runs past the end of the file holds the bytes that
//! are there; a trailing part-frame is dropped.
//!
//! Writing: [`Encoding::encode`] for the samples and [`header`] for an 8 kHz mono file,
//! of fixed length for the encoding so a growing file's header can be rewritten in place
//! as its data grows (the recorder does that every second and at the end, so a file cut
//! short still opens).
//!
//! Why not `hound` (kept as the independent reader in the tests): it refuses A-law and
//! µ-law (format tags 6 and 7, the prompts' and recordings' native formats) and a data
//! chunk whose size was never finalized, and its writer cannot rewrite the header of a
//! file another thread appends to.

use std::fmt;

use super::Codec;

/// Sample rate of the files the gateway writes, Hz.
pub const RATE: u32 = 8000;

const FMT_PCM: u16 = 1;
const FMT_FLOAT: u16 = 3;
const FMT_ALAW: u16 = 6;
const FMT_ULAW: u16 = 7;
const FMT_EXTENSIBLE: u16 = 0xFFFE;

/// How the samples of a file are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Unsigned 8-bit linear PCM.
    Pcm8,
    /// Signed 16-bit linear PCM.
    Pcm16,
    /// Signed 24-bit linear PCM.
    Pcm24,
    /// Signed 32-bit linear PCM.
    Pcm32,
    /// 32-bit IEEE float.
    Float32,
    /// G.711, 8 bits: A-law ([`Codec::Pcma`]) or µ-law ([`Codec::Pcmu`]).
    G711(Codec),
}

impl Encoding {
    /// The encoding of a format tag (after resolving `WAVE_FORMAT_EXTENSIBLE`) and bit depth.
    fn of(tag: u16, bits: u16) -> Option<Encoding> {
        Some(match (tag, bits) {
            (FMT_PCM, 8) => Encoding::Pcm8,
            (FMT_PCM, 16) => Encoding::Pcm16,
            (FMT_PCM, 24) => Encoding::Pcm24,
            (FMT_PCM, 32) => Encoding::Pcm32,
            (FMT_FLOAT, 32) => Encoding::Float32,
            (FMT_ALAW, 8) => Encoding::G711(Codec::Pcma),
            (FMT_ULAW, 8) => Encoding::G711(Codec::Pcmu),
            _ => return None,
        })
    }

    /// The WAVE format tag (1 PCM, 3 float, 6 A-law, 7 µ-law).
    pub fn format_tag(self) -> u16 {
        match self {
            Encoding::Pcm8 | Encoding::Pcm16 | Encoding::Pcm24 | Encoding::Pcm32 => FMT_PCM,
            Encoding::Float32 => FMT_FLOAT,
            Encoding::G711(Codec::Pcma) => FMT_ALAW,
            Encoding::G711(Codec::Pcmu) => FMT_ULAW,
        }
    }

    /// Bits per sample.
    pub fn bits(self) -> u16 {
        self.width() as u16 * 8
    }

    /// Bytes per sample (of one channel).
    pub fn width(self) -> usize {
        match self {
            Encoding::Pcm8 | Encoding::G711(_) => 1,
            Encoding::Pcm16 => 2,
            Encoding::Pcm24 => 3,
            Encoding::Pcm32 | Encoding::Float32 => 4,
        }
    }

    /// One sample (`width()` bytes) as 16-bit linear: wider PCM keeps its top 16 bits,
    /// float is clamped to ±1.0.
    pub fn decode(self, b: &[u8]) -> i16 {
        match (self, b) {
            (Encoding::Pcm8, [s, ..]) => (i16::from(*s) - 128) << 8,
            (Encoding::G711(c), [code, ..]) => c.decode(*code),
            (Encoding::Pcm16, [lo, hi, ..]) => i16::from_le_bytes([*lo, *hi]),
            (Encoding::Pcm24, [_, lo, hi, ..]) => i16::from_le_bytes([*lo, *hi]),
            (Encoding::Pcm32, [_, _, lo, hi, ..]) => i16::from_le_bytes([*lo, *hi]),
            (Encoding::Float32, [a, b, c, d, ..]) => {
                let f = f32::from_le_bytes([*a, *b, *c, *d]);
                (f.clamp(-1.0, 1.0) * 32767.0) as i16
            }
            _ => 0,
        }
    }

    /// Writes one 16-bit linear sample into `out` (`width()` bytes): wider PCM gets it
    /// in its top 16 bits, float scaled to ±1.0. The inverse of [`Encoding::decode`]
    /// (float to within one step).
    pub fn encode(self, sample: i16, out: &mut [u8]) {
        let [lo, hi] = sample.to_le_bytes();
        match self {
            Encoding::Pcm8 => out[0] = ((sample >> 8) + 128) as u8,
            Encoding::G711(c) => out[0] = c.encode(sample),
            Encoding::Pcm16 => out[..2].copy_from_slice(&[lo, hi]),
            Encoding::Pcm24 => out[..3].copy_from_slice(&[0, lo, hi]),
            Encoding::Pcm32 => out[..4].copy_from_slice(&[0, 0, lo, hi]),
            Encoding::Float32 => {
                out[..4].copy_from_slice(&(f32::from(sample) / 32767.0).to_le_bytes())
            }
        }
    }

    /// Anything but integer PCM carries an 18-byte fmt chunk and a fact chunk.
    fn needs_fact(self) -> bool {
        self.format_tag() != FMT_PCM
    }

    /// Length of the [`header`] in front of the audio bytes.
    pub fn header_len(self) -> usize {
        if self.needs_fact() { 58 } else { 44 }
    }
}

/// Why a file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WavError {
    /// No RIFF/WAVE header.
    NotWav,
    /// A RIFF/WAVE file, but not well formed.
    Malformed(&'static str),
    /// An encoding [`Encoding`] does not cover.
    UnsupportedFormat {
        /// The format tag (the sub-format's for `WAVE_FORMAT_EXTENSIBLE`).
        format_tag: u16,
        /// Bits per sample.
        bits: u16,
    },
}

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WavError::NotWav => f.write_str("not a WAV file (no RIFF/WAVE header)"),
            WavError::Malformed(why) => f.write_str(why),
            WavError::UnsupportedFormat { format_tag, bits } => write!(
                f,
                "unsupported WAV format (format tag {format_tag}, {bits} bits): \
                 use PCM, A-law or µ-law"
            ),
        }
    }
}

impl std::error::Error for WavError {}

/// A parsed WAV file: its format and its audio bytes (whole frames only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wav<'a> {
    /// The sample encoding.
    pub encoding: Encoding,
    /// Channels per frame (at least 1).
    pub channels: u16,
    /// Frames per second (at least 1).
    pub rate: u32,
    /// The audio: whole frames, channels interleaved.
    pub data: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

struct Fmt {
    tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
}

fn parse_fmt(body: &[u8]) -> Result<Fmt, WavError> {
    let short = WavError::Malformed("fmt chunk too short");
    let tag = u16_at(body, 0).ok_or(short.clone())?;
    let channels = u16_at(body, 2).ok_or(short.clone())?;
    let rate = u32_at(body, 4).ok_or(short.clone())?;
    let bits = u16_at(body, 14).ok_or(short)?;
    let tag = if tag == FMT_EXTENSIBLE {
        // cbSize(2) validBits(2) channelMask(4), then the sub-format GUID whose first two
        // bytes are the plain format tag.
        u16_at(body, 24).ok_or(WavError::Malformed(
            "WAVE_FORMAT_EXTENSIBLE without a subformat",
        ))?
    } else {
        tag
    };
    Ok(Fmt {
        tag,
        channels,
        rate,
        bits,
    })
}

impl<'a> Wav<'a> {
    /// Parses the WAV file image `bytes` (see the module doc for what is accepted).
    pub fn parse(bytes: &'a [u8]) -> Result<Wav<'a>, WavError> {
        if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err(WavError::NotWav);
        }
        let mut at = 12;
        let mut fmt = None;
        while at + 8 <= bytes.len() {
            let id = &bytes[at..at + 4];
            let size = u32_at(bytes, at + 4).unwrap_or(0) as usize;
            let body_start = at + 8;
            let body_end = body_start.saturating_add(size).min(bytes.len());
            let body = &bytes[body_start..body_end];
            match id {
                b"fmt " => fmt = Some(parse_fmt(body)?),
                b"data" => {
                    let fmt = fmt.ok_or(WavError::Malformed("data chunk before the fmt chunk"))?;
                    // A streaming writer that never finalized leaves 0 or 0xFFFFFFFF.
                    let data = if size == 0 || size == u32::MAX as usize {
                        &bytes[body_start..]
                    } else {
                        body
                    };
                    return Self::new(fmt, data);
                }
                _ => {}
            }
            // Chunks are padded to an even size.
            at = body_start.saturating_add(size).saturating_add(size & 1);
        }
        Err(WavError::Malformed(if fmt.is_some() {
            "WAV file without a data chunk"
        } else {
            "WAV file without a fmt chunk"
        }))
    }

    fn new(fmt: Fmt, data: &'a [u8]) -> Result<Wav<'a>, WavError> {
        let encoding = Encoding::of(fmt.tag, fmt.bits).ok_or(WavError::UnsupportedFormat {
            format_tag: fmt.tag,
            bits: fmt.bits,
        })?;
        if fmt.channels == 0 {
            return Err(WavError::Malformed("WAV file with 0 channels"));
        }
        if fmt.rate == 0 {
            return Err(WavError::Malformed("WAV file with a sample rate of 0"));
        }
        let frame = encoding.width() * usize::from(fmt.channels);
        let whole = data.len() - data.len() % frame;
        Ok(Wav {
            encoding,
            channels: fmt.channels,
            rate: fmt.rate,
            data: &data[..whole],
        })
    }

    /// Number of frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.data.len() / (self.encoding.width() * usize::from(self.channels))
    }

    /// The audio as 16-bit linear mono at the file's rate (channels averaged).
    pub fn mono_samples(&self) -> Vec<i16> {
        let width = self.encoding.width();
        let channels = usize::from(self.channels);
        self.data
            .chunks_exact(width * channels)
            .map(|frame| {
                let sum: i32 = frame
                    .chunks_exact(width)
                    .map(|s| i32::from(self.encoding.decode(s)))
                    .sum();
                (sum / channels as i32) as i16
            })
            .collect()
    }
}

/// The header of an 8 kHz mono file holding `data_len` bytes of audio in `format`,
/// [`Encoding::header_len`] bytes long whatever `data_len`: a writer rewrites it in
/// place as the file grows.
pub fn header(format: Encoding, data_len: u32) -> Vec<u8> {
    header_channels(format, 1, data_len)
}

/// [`header`] for `channels` interleaved channels (a bridge recorded one party per
/// channel).
pub fn header_channels(format: Encoding, channels: u16, data_len: u32) -> Vec<u8> {
    let channels = channels.max(1);
    let width = format.width() as u16;
    let align = width * channels;
    let mut h = Vec::with_capacity(format.header_len());
    let riff_len = (format.header_len() as u32 - 8).saturating_add(data_len);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&riff_len.to_le_bytes());
    h.extend_from_slice(b"WAVE");
    h.extend_from_slice(b"fmt ");
    h.extend_from_slice(&(if format.needs_fact() { 18u32 } else { 16 }).to_le_bytes());
    h.extend_from_slice(&format.format_tag().to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&RATE.to_le_bytes());
    h.extend_from_slice(&(RATE * u32::from(align)).to_le_bytes());
    h.extend_from_slice(&align.to_le_bytes());
    h.extend_from_slice(&(width * 8).to_le_bytes());
    if format.needs_fact() {
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(b"fact");
        h.extend_from_slice(&4u32.to_le_bytes());
        h.extend_from_slice(&(data_len / u32::from(align)).to_le_bytes());
    }
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

/// A WAV file image of any format tag, channel count, rate and sample size: a 16-byte
/// fmt chunk, an odd-sized unknown chunk (padded), then the data chunk. For tests of
/// readers (here and in the media plane) that must cope with what others write.
pub fn wav_with(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
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
    v.extend_from_slice(b"LIST");
    v.extend_from_slice(&3u32.to_le_bytes());
    v.extend_from_slice(b"abc\0"); // odd chunk + pad byte
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};

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
    fn every_encoding_decodes() {
        for e in [
            Encoding::Pcm8,
            Encoding::Pcm16,
            Encoding::Pcm24,
            Encoding::Pcm32,
            Encoding::Float32,
            Encoding::G711(Codec::Pcma),
            Encoding::G711(Codec::Pcmu),
        ] {
            assert_eq!(Encoding::of(e.format_tag(), e.bits()), Some(e));
            // encode is decode's inverse (float within one step).
            let mut b = [0u8; 4];
            for x in [-32768i16, -12345, -256, 0, 256, 4660, 32767] {
                e.encode(x, &mut b);
                let back = e.decode(&b[..e.width()]);
                let exact = match e {
                    Encoding::Pcm8 => x & !0xFF,
                    Encoding::G711(c) => c.decode(c.encode(x)),
                    _ => x,
                };
                let tol = if e == Encoding::Float32 { 1 } else { 0 };
                assert!(
                    (i32::from(back) - i32::from(exact)).abs() <= tol,
                    "{e:?} {x} -> {back}"
                );
            }
        }
        let s16: Vec<u8> = [1000i16, -2000, 32767]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let file = wav_with(1, 1, 8000, 16, &s16);
        let w = Wav::parse(&file).expect("pcm16");
        assert_eq!((w.encoding, w.channels, w.rate), (Encoding::Pcm16, 1, 8000));
        assert_eq!(w.mono_samples(), [1000, -2000, 32767]);
        let file = wav_with(1, 1, 8000, 8, &[128, 255, 0]);
        let w = Wav::parse(&file).expect("pcm8");
        assert_eq!(w.mono_samples(), [0, 127 << 8, -128 << 8]);
        let file = wav_with(1, 1, 8000, 24, &[0xAA, 0x34, 0x12]);
        let w = Wav::parse(&file).expect("pcm24");
        assert_eq!(w.mono_samples(), [0x1234]);
        let file = wav_with(1, 1, 8000, 32, &[1, 2, 0xCC, 0xED]);
        let w = Wav::parse(&file).expect("pcm32");
        assert_eq!(w.mono_samples(), [0xEDCCu16 as i16]);
        let f: Vec<u8> = [0.5f32, -2.0]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        let file = wav_with(3, 1, 8000, 32, &f);
        let w = Wav::parse(&file).expect("float");
        assert_eq!(w.mono_samples(), [16383, -32767]);
        let file = wav_with(6, 1, 8000, 8, &[0xD5, 0x55]);
        let w = Wav::parse(&file).expect("alaw");
        assert_eq!(
            (w.encoding, w.data),
            (Encoding::G711(Codec::Pcma), &[0xD5, 0x55][..])
        );
        assert_eq!(w.mono_samples(), [8, -8]);
        let file = wav_with(7, 1, 8000, 8, &[0x80, 0x00]);
        let w = Wav::parse(&file).expect("ulaw");
        assert_eq!(w.mono_samples(), [32124, -32124]);
        // Stereo is mixed down; a trailing part-frame is dropped.
        let mut st: Vec<u8> = [100i16, 300, -50, -150]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        st.extend_from_slice(&[1, 2, 3]);
        let file = wav_with(1, 2, 16000, 16, &st);
        let w = Wav::parse(&file).expect("stereo");
        assert_eq!((w.channels, w.rate, w.frames()), (2, 16000, 2));
        assert_eq!(w.mono_samples(), [200, -100]);
    }

    #[test]
    fn extensible_format_and_unfinalized_data_sizes() {
        let le: Vec<u8> = [5i16, -6, 7].iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut f = Vec::new();
        f.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
        f.extend_from_slice(&40u32.to_le_bytes());
        f.extend_from_slice(&FMT_EXTENSIBLE.to_le_bytes());
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
        let size_at = f.len();
        f.extend_from_slice(&u32::MAX.to_le_bytes()); // never finalized
        f.extend_from_slice(&le);
        f.push(0x12); // odd trailing byte: half a sample, ignored
        for size in [u32::MAX, 0, 1000] {
            f[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            let w = Wav::parse(&f).expect("extensible");
            assert_eq!(w.encoding, Encoding::Pcm16, "{size}");
            assert_eq!(w.mono_samples(), [5, -6, 7], "{size}");
        }
        // A declared size shorter than the file is honoured.
        f[size_at..size_at + 4].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(Wav::parse(&f).expect("short").mono_samples(), [5, -6]);
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert_eq!(Wav::parse(b"hello"), Err(WavError::NotWav));
        assert_eq!(Wav::parse(b"RIFF"), Err(WavError::NotWav));
        assert!(WavError::NotWav.to_string().contains("not a WAV"));
        let e = Wav::parse(&wav_with(2, 1, 8000, 4, &[0, 0])).unwrap_err();
        assert_eq!(
            e,
            WavError::UnsupportedFormat {
                format_tag: 2,
                bits: 4
            }
        );
        assert!(e.to_string().contains("unsupported WAV format"), "{e}");
        let e = Wav::parse(&wav_with(1, 1, 8000, 12, &[0, 0])).unwrap_err();
        assert!(e.to_string().contains("12 bits"), "{e}");
        let mut v = wav_with(1, 1, 8000, 16, &[0, 0]);
        v.truncate(30);
        assert!(matches!(Wav::parse(&v), Err(WavError::Malformed(_))));
        let e = Wav::parse(&wav_with(1, 0, 8000, 16, &[0, 0])).unwrap_err();
        assert_eq!(e, WavError::Malformed("WAV file with 0 channels"));
        let e = Wav::parse(&wav_with(1, 1, 0, 16, &[0, 0])).unwrap_err();
        assert_eq!(e, WavError::Malformed("WAV file with a sample rate of 0"));
        assert!(matches!(Wav::parse(&[0u8; 100]), Err(WavError::NotWav)));
        // The data chunk must follow the fmt chunk.
        let mut v = b"RIFF\0\0\0\0WAVEdata\x02\0\0\0\0\0".to_vec();
        v.extend_from_slice(&wav_with(1, 1, 8000, 16, &[])[12..36]);
        assert_eq!(
            Wav::parse(&v),
            Err(WavError::Malformed("data chunk before the fmt chunk"))
        );
        // Every truncation of a valid file either parses or errors; none panics.
        let file = wav_with(7, 1, 8000, 8, &[0xFF; 50]);
        for n in 0..file.len() {
            let _ = Wav::parse(&file[..n]);
        }
    }

    #[test]
    fn header_round_trips_through_hound_and_parse() {
        for f in [
            Encoding::Pcm16,
            Encoding::Pcm8,
            Encoding::G711(Codec::Pcma),
            Encoding::G711(Codec::Pcmu),
            Encoding::Pcm24,
            Encoding::Pcm32,
            Encoding::Float32,
        ] {
            let mut v = header(f, 12);
            assert_eq!(v.len(), f.header_len());
            v.extend_from_slice(&[1; 12]);
            let w = Wav::parse(&v).expect("own header");
            assert_eq!((w.encoding, w.channels, w.rate), (f, 1, RATE));
            assert_eq!(w.frames(), 12 / f.width());
            if !matches!(f, Encoding::G711(_)) {
                let r = hound::WavReader::new(std::io::Cursor::new(&v)).expect("hound");
                assert_eq!(r.spec().sample_rate, 8000);
                assert_eq!(r.len() as usize, 12 / f.width());
            }
        }
    }

    #[test]
    fn stereo_header_round_trips() {
        let samples: [i16; 6] = [100, -100, 200, -200, 300, -300];
        let mut v = header_channels(Encoding::Pcm16, 2, 12);
        assert_eq!(v.len(), Encoding::Pcm16.header_len());
        v.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
        let w = Wav::parse(&v).expect("own header");
        assert_eq!((w.channels, w.frames()), (2, 3));
        let mut r = hound::WavReader::new(std::io::Cursor::new(&v)).expect("hound");
        assert_eq!(r.spec().channels, 2);
        let got: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
        assert_eq!(got, samples);
    }
}
