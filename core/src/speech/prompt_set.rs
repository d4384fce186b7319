//! The Mandarin prompt set: which file holds each [`Word`], and where to find it.
//!
//! The default set lives in `media/prompts/` (8 kHz mono 16-bit PCM WAV, made by
//! `media/prompts/generate.sh`) and is embedded in the binary, so the gateway speaks
//! with no files installed. Config `media.prompts` names a directory holding a
//! replacement set with the same file names ([`PROMPT_FILES`]).

use std::path::{Path, PathBuf};

use super::Word;

macro_rules! prompt_files {
    ($($word:ident => $file:literal,)*) => {
        /// Every word with the name of its prompt file, in [`Word::ALL`] order.
        pub const PROMPT_FILES: &[(Word, &str)] = &[$((Word::$word, $file)),*];

        /// The embedded default set, in [`Word::ALL`] order.
        const EMBEDDED: &[&[u8]] = &[
            $(include_bytes!(concat!("../../../media/prompts/", $file))),*
        ];
    };
}

prompt_files! {
    Zero => "digit_0.wav",
    One => "digit_1.wav",
    Two => "digit_2.wav",
    Three => "digit_3.wav",
    Four => "digit_4.wav",
    Five => "digit_5.wav",
    Six => "digit_6.wav",
    Seven => "digit_7.wav",
    Eight => "digit_8.wav",
    Nine => "digit_9.wav",
    Liang => "liang.wav",
    Shi => "unit_10.wav",
    Bai => "unit_100.wav",
    Qian => "unit_1000.wav",
    Wan => "unit_10k.wav",
    Yi => "unit_100m.wav",
    Dian => "dian.wav",
    Fu => "fu.wav",
    Yuan => "yuan.wav",
    Jiao => "jiao.wav",
    Fen => "fen.wav",
    Zheng => "zheng.wav",
    Nian => "nian.wav",
    Yue => "yue.wav",
    Ri => "ri.wav",
    Miao => "miao.wav",
    XiaoShi => "xiaoshi.wav",
    FenZhong => "fenzhong.wav",
}

/// The file name of `word`'s prompt (e.g. `Word::Wan` → "unit_10k.wav").
pub fn file_name(word: Word) -> &'static str {
    PROMPT_FILES.get(word as usize).map_or("", |(_, f)| f)
}

/// The embedded default WAV of `word` (8 kHz mono 16-bit PCM, with its header).
pub fn embedded(word: Word) -> &'static [u8] {
    EMBEDDED.get(word as usize).copied().unwrap_or_default()
}

/// Where the prompts come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PromptSet {
    /// The set built into the binary (the default).
    #[default]
    Embedded,
    /// A directory holding files named as in [`PROMPT_FILES`] (config `media.prompts`).
    Dir(PathBuf),
}

/// The audio of one prompt word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptAudio {
    /// A complete WAV file built into the binary.
    Embedded(&'static [u8]),
    /// A WAV file to open.
    File(PathBuf),
}

impl PromptSet {
    /// The set for config `media.prompts`: that directory if set, else the embedded set.
    pub fn from_config(dir: Option<&Path>) -> Self {
        dir.map_or(PromptSet::Embedded, |d| PromptSet::Dir(d.to_path_buf()))
    }

    /// Where the audio of `word` is.
    pub fn locate(&self, word: Word) -> PromptAudio {
        match self {
            PromptSet::Embedded => PromptAudio::Embedded(embedded(word)),
            PromptSet::Dir(dir) => PromptAudio::File(dir.join(file_name(word))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Format of a PCM WAV file: (channels, sample rate, bits per sample, data bytes).
    fn wav_format(bytes: &[u8]) -> Option<(u16, u32, u16, usize)> {
        let u16_at = |i: usize| Some(u16::from_le_bytes(bytes.get(i..i + 2)?.try_into().ok()?));
        let u32_at = |i: usize| Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?));
        if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
            return None;
        }
        if u32_at(4)? as usize + 8 != bytes.len() {
            return None;
        }
        let (mut pos, mut fmt, mut data) = (12usize, None, None);
        while pos + 8 <= bytes.len() {
            let id = bytes.get(pos..pos + 4)?;
            let len = u32_at(pos + 4)? as usize;
            let body = pos + 8;
            if body + len > bytes.len() {
                return None;
            }
            match id {
                b"fmt " if u16_at(body)? == 1 => {
                    fmt = Some((u16_at(body + 2)?, u32_at(body + 4)?, u16_at(body + 14)?));
                }
                b"data" => data = Some(len),
                _ => {}
            }
            pos = body + len + (len & 1);
        }
        let (channels, rate, bits) = fmt?;
        Some((channels, rate, bits, data?))
    }

    #[test]
    fn table_follows_word_order() {
        assert_eq!(PROMPT_FILES.len(), Word::ALL.len());
        assert_eq!(EMBEDDED.len(), Word::ALL.len());
        for (i, (w, f)) in PROMPT_FILES.iter().enumerate() {
            assert_eq!(*w, Word::ALL[i]);
            assert_eq!(file_name(*w), *f);
            assert!(f.ends_with(".wav"), "{f}");
        }
        let mut names: Vec<_> = PROMPT_FILES.iter().map(|(_, f)| *f).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PROMPT_FILES.len(), "duplicate file names");
    }

    #[test]
    fn every_embedded_prompt_is_short_8khz_mono_pcm() {
        let mut total = 0;
        for w in Word::ALL {
            let bytes = embedded(w);
            let (channels, rate, bits, data) =
                wav_format(bytes).unwrap_or_else(|| panic!("{w:?}: not a PCM WAV"));
            assert_eq!((channels, rate, bits), (1, 8000, 16), "{w:?}");
            // Between 0.1 s and 1.5 s of audio.
            assert!((1600..=24_000).contains(&data), "{w:?}: {data} bytes");
            total += bytes.len();
        }
        assert!(total < 1_000_000, "prompt set is {total} bytes");
    }

    #[test]
    fn header_check_rejects_other_formats() {
        let good = embedded(Word::One);
        assert!(wav_format(good).is_some());
        assert_eq!(wav_format(&good[..40]), None);
        let mut stereo = good.to_vec();
        stereo[22] = 2;
        assert_eq!(wav_format(&stereo).map(|f| f.0), Some(2));
        let mut not_wave = good.to_vec();
        not_wave[8] = b'X';
        assert_eq!(wav_format(&not_wave), None);
    }

    #[test]
    fn generator_script_makes_exactly_these_files() {
        let script = include_str!("../../../media/prompts/generate.sh");
        let generated: Vec<&str> = script
            .lines()
            .filter_map(|l| l.strip_prefix("gen "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let table: Vec<&str> = PROMPT_FILES.iter().map(|(_, f)| *f).collect();
        assert_eq!(generated, table);
    }

    #[test]
    fn locating_prompts() {
        assert_eq!(PromptSet::from_config(None), PromptSet::Embedded);
        assert_eq!(
            PromptSet::Embedded.locate(Word::Wan),
            PromptAudio::Embedded(embedded(Word::Wan))
        );
        let set = PromptSet::from_config(Some(Path::new("/srv/prompts")));
        assert_eq!(
            set.locate(Word::Wan),
            PromptAudio::File(PathBuf::from("/srv/prompts/unit_10k.wav"))
        );
        assert_ne!(embedded(Word::One), embedded(Word::Two));
    }
}
