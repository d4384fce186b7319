//! Small typed values shared by the sys.call / sys.conf parameters: DTMF key
//! strings and the seed's enumerations (`ring_play_mode`, `record_format`,
//! `connect_mode`, `voice_mode`), with their wire codes and validation.

use crate::codec::Codec;
use crate::codec::wav::Encoding;

/// The DTMF keys a key string may hold, in the seed's `valid_keys` default order.
pub const DTMF_KEYS: &str = "0123456789*#ABCD";

/// Validates a DTMF key string and returns it normalized: only characters of
/// [`DTMF_KEYS`], with `a`..`d` accepted and turned into `A`..`D`. Duplicates
/// are kept (they are harmless in a set and meaningful in `send_dtmf_start`).
/// The error names the first bad character and its position.
pub fn normalize_dtmf(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        let c = match c {
            '0'..='9' | '*' | '#' | 'A'..='D' => c,
            'a'..='d' => c.to_ascii_uppercase(),
            other => {
                return Err(format!(
                    "{other:?} at position {i} is not a DTMF key (allowed: {DTMF_KEYS})"
                ));
            }
        };
        out.push(c);
    }
    Ok(out)
}

/// `ring_play_mode` of `construct` (seed table): when `ring_play_file` plays to
/// the parent call while dialling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RingPlayMode {
    /// 0: start when the far end rings.
    OnRingback,
    /// 1: start at dial time, stop when the far end rings (then pass its ring back through).
    DialUntilRingback,
    /// 2: start at dial time, stop when the far end answers or hangs up.
    DialUntilAnswer,
    /// 3: play the whole file before dialling, then pass the far end's ring back through.
    BeforeDial,
}

impl RingPlayMode {
    /// The wire code (0..=3).
    pub fn code(self) -> u8 {
        match self {
            RingPlayMode::OnRingback => 0,
            RingPlayMode::DialUntilRingback => 1,
            RingPlayMode::DialUntilAnswer => 2,
            RingPlayMode::BeforeDial => 3,
        }
    }

    /// The mode for a wire code, `None` outside 0..=3.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => RingPlayMode::OnRingback,
            1 => RingPlayMode::DialUntilRingback,
            2 => RingPlayMode::DialUntilAnswer,
            3 => RingPlayMode::BeforeDial,
            _ => return None,
        })
    }

    /// Text for error messages.
    pub const ALLOWED: &'static str = "one of 0, 1, 2, 3";
}

/// `record_format` (seed's `record_start` table).
///
/// Code 2, the seed's default for `connect_start` although its table has no
/// entry 2, is read as "the default format" and decodes to [`RecordFormat::Alaw`]
/// (the `record_start` default), wherever `record_format` is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordFormat {
    /// 0x01: OKI ADPCM.
    OkiAdpcm,
    /// 0x03: CCITT A-law 8 kHz 8 bit (the default).
    Alaw,
    /// 0x04: G.726.
    G726,
    /// 0x07: CCITT µ-law 8 kHz 8 bit.
    Ulaw,
    /// 0x08: linear PCM 8 kHz 8 bit.
    PcmLinear8,
    /// 0x10: linear PCM 8 kHz 16 bit (our extension; not in the seed's table).
    PcmLinear16,
    /// 0x15: G.721.
    G721,
}

impl RecordFormat {
    /// The wire code (1, 3, 4, 7, 8 or 21).
    pub fn code(self) -> u8 {
        match self {
            RecordFormat::OkiAdpcm => 0x01,
            RecordFormat::Alaw => 0x03,
            RecordFormat::G726 => 0x04,
            RecordFormat::Ulaw => 0x07,
            RecordFormat::PcmLinear8 => 0x08,
            RecordFormat::PcmLinear16 => 0x10,
            RecordFormat::G721 => 0x15,
        }
    }

    /// The format for a wire code; 2 means the default (A-law); `None` otherwise.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0x01 => RecordFormat::OkiAdpcm,
            0x02 | 0x03 => RecordFormat::Alaw,
            0x04 => RecordFormat::G726,
            0x07 => RecordFormat::Ulaw,
            0x08 => RecordFormat::PcmLinear8,
            0x10 => RecordFormat::PcmLinear16,
            0x15 => RecordFormat::G721,
            _ => return None,
        })
    }

    /// The WAV sample encoding the recorder writes for this format; `None` for the
    /// formats it cannot write yet (OKI ADPCM, G.726, G.721).
    pub fn encoding(self) -> Option<Encoding> {
        Some(match self {
            RecordFormat::Alaw => Encoding::G711(Codec::Pcma),
            RecordFormat::Ulaw => Encoding::G711(Codec::Pcmu),
            RecordFormat::PcmLinear8 => Encoding::Pcm8,
            RecordFormat::PcmLinear16 => Encoding::Pcm16,
            RecordFormat::OkiAdpcm | RecordFormat::G726 | RecordFormat::G721 => return None,
        })
    }

    /// Text for error messages.
    pub const ALLOWED: &'static str = "one of 1 (OKI ADPCM), 2 (default: A-law), 3 (A-law), \
         4 (G.726), 7 (mu-law), 8 (PCM linear 8 bit), 16 (0x10, PCM linear 16 bit), \
         21 (0x15, G.721)";
}

/// `connect_mode` of `connect_start` (seed table): who hears whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectMode {
    /// 1: both parties hear each other.
    Both,
    /// 2: only the second party hears the first.
    SecondHearsFirst,
    /// 3: only the first party hears the second.
    FirstHearsSecond,
}

impl ConnectMode {
    /// The wire code (1..=3).
    pub fn code(self) -> u8 {
        match self {
            ConnectMode::Both => 1,
            ConnectMode::SecondHearsFirst => 2,
            ConnectMode::FirstHearsSecond => 3,
        }
    }

    /// The mode for a wire code, `None` outside 1..=3.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            1 => ConnectMode::Both,
            2 => ConnectMode::SecondHearsFirst,
            3 => ConnectMode::FirstHearsSecond,
            _ => return None,
        })
    }

    /// Text for error messages.
    pub const ALLOWED: &'static str = "one of 1, 2, 3";
}

/// `voice_mode` of a conference member (API.md's reading of the seed's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoiceMode {
    /// 1: the member talks and listens.
    TalkListen,
    /// 2: the member talks only.
    TalkOnly,
    /// 3: the member listens only.
    ListenOnly,
    /// 4: neither.
    Neither,
}

impl VoiceMode {
    /// The wire code (1..=4).
    pub fn code(self) -> u8 {
        match self {
            VoiceMode::TalkListen => 1,
            VoiceMode::TalkOnly => 2,
            VoiceMode::ListenOnly => 3,
            VoiceMode::Neither => 4,
        }
    }

    /// The mode for a wire code, `None` outside 1..=4.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            1 => VoiceMode::TalkListen,
            2 => VoiceMode::TalkOnly,
            3 => VoiceMode::ListenOnly,
            4 => VoiceMode::Neither,
            _ => return None,
        })
    }

    /// Whether the member's voice goes into the mix.
    pub fn talks(self) -> bool {
        matches!(self, VoiceMode::TalkListen | VoiceMode::TalkOnly)
    }

    /// Whether the member hears the mix.
    pub fn listens(self) -> bool {
        matches!(self, VoiceMode::TalkListen | VoiceMode::ListenOnly)
    }

    /// Text for error messages.
    pub const ALLOWED: &'static str = "one of 1, 2, 3, 4";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_normalization() {
        assert_eq!(normalize_dtmf("0123456789*#ABCD").as_deref(), Ok(DTMF_KEYS));
        assert_eq!(normalize_dtmf("abcd#").as_deref(), Ok("ABCD#"));
        assert_eq!(normalize_dtmf("").as_deref(), Ok(""));
        let e = normalize_dtmf("12e4").expect_err("e is not a key");
        assert!(e.contains("'e'") && e.contains("position 2"), "{e}");
        assert!(normalize_dtmf("1 2").is_err());
        assert!(normalize_dtmf("１").is_err(), "full-width digit");
    }

    #[test]
    fn enum_codes_round_trip() {
        for c in 0..=3 {
            assert_eq!(
                RingPlayMode::from_code(c).map(|m| i64::from(m.code())),
                Some(c)
            );
        }
        assert_eq!(RingPlayMode::from_code(4), None);
        assert_eq!(RingPlayMode::from_code(-1), None);
        for c in [1, 3, 4, 7, 8, 0x15] {
            assert_eq!(
                RecordFormat::from_code(c).map(|m| i64::from(m.code())),
                Some(c)
            );
        }
        assert_eq!(RecordFormat::from_code(2), Some(RecordFormat::Alaw));
        for c in [0, 5, 6, 9, 0x14, 0x16, 256] {
            assert_eq!(RecordFormat::from_code(c), None, "{c}");
        }
        // The codes the recorder writes name their WAV format tag and bit depth.
        for (c, tag, bits) in [(3, 6, 8), (7, 7, 8), (8, 1, 8), (0x10, 1, 16)] {
            let e = RecordFormat::from_code(c)
                .and_then(RecordFormat::encoding)
                .expect("writable");
            assert_eq!((e.format_tag(), e.bits()), (tag, bits), "{c}");
        }
        for c in [1, 4, 0x15] {
            assert_eq!(
                RecordFormat::from_code(c).map(RecordFormat::encoding),
                Some(None)
            );
        }
        for c in 1..=3 {
            assert_eq!(
                ConnectMode::from_code(c).map(|m| i64::from(m.code())),
                Some(c)
            );
        }
        assert_eq!(ConnectMode::from_code(0), None);
        for c in 1..=4 {
            assert_eq!(
                VoiceMode::from_code(c).map(|m| i64::from(m.code())),
                Some(c)
            );
        }
        assert_eq!(VoiceMode::from_code(5), None);
    }

    #[test]
    fn voice_mode_talks_and_listens() {
        let t: Vec<(bool, bool)> = [
            VoiceMode::TalkListen,
            VoiceMode::TalkOnly,
            VoiceMode::ListenOnly,
            VoiceMode::Neither,
        ]
        .iter()
        .map(|m| (m.talks(), m.listens()))
        .collect();
        assert_eq!(
            t,
            vec![(true, true), (true, false), (false, true), (false, false)]
        );
    }
}
