//! [`Codec`]: the RTP payload codec of a call, G.711 µ-law (PCMU) or A-law (PCMA), as SDP
//! negotiates it, the media path encodes and decodes it, and a WAV file stores it.

use super::{
    ALAW_SILENCE, ALAW_TO_ULAW, ULAW_SILENCE, ULAW_TO_ALAW, alaw_to_linear, linear_to_alaw,
    linear_to_ulaw, ulaw_to_linear,
};

/// The audio codecs the gateway speaks, both G.711 at 8 kHz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law (static payload type 0).
    Pcmu,
    /// G.711 A-law (static payload type 8).
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// The encoding name used in `a=rtpmap`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }

    /// RTP clock rate in Hz.
    pub fn clock_rate(self) -> u32 {
        8000
    }

    /// The codec with this encoding name (case-insensitive).
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Self::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Self::Pcma)
        } else {
            None
        }
    }

    /// The code of digital silence.
    pub fn silence(self) -> u8 {
        match self {
            Self::Pcmu => ULAW_SILENCE,
            Self::Pcma => ALAW_SILENCE,
        }
    }

    /// Decodes one code.
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Self::Pcmu => ulaw_to_linear(code),
            Self::Pcma => alaw_to_linear(code),
        }
    }

    /// Encodes one sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Self::Pcmu => linear_to_ulaw(sample),
            Self::Pcma => linear_to_alaw(sample),
        }
    }

    /// Encodes `src` into `dst` (as many as both hold), in one tight loop the compiler
    /// vectorises; returns how many.
    pub fn encode_slice(self, src: &[i16], dst: &mut [u8]) -> usize {
        match self {
            Self::Pcmu => super::encode_ulaw(src, dst),
            Self::Pcma => super::encode_alaw(src, dst),
        }
    }

    /// Decodes `src` into `dst` (as many as both hold); returns how many.
    pub fn decode_slice(self, src: &[u8], dst: &mut [i16]) -> usize {
        match self {
            Self::Pcmu => super::decode_ulaw(src, dst),
            Self::Pcma => super::decode_alaw(src, dst),
        }
    }

    /// Converts a code of `from` into this codec (identity for the same codec; the
    /// exact G.711 transcoding tables otherwise).
    pub fn from_law(self, from: Codec, code: u8) -> u8 {
        match (from, self) {
            (Self::Pcmu, Self::Pcma) => ULAW_TO_ALAW[code as usize],
            (Self::Pcma, Self::Pcmu) => ALAW_TO_ULAW[code as usize],
            _ => code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_payload_types_and_coding() {
        for (c, name, pt, silence) in [
            (Codec::Pcmu, "PCMU", 0, 0xFF),
            (Codec::Pcma, "PCMA", 8, 0xD5),
        ] {
            assert_eq!(c.encoding_name(), name);
            assert_eq!(Codec::from_encoding_name(&name.to_lowercase()), Some(c));
            assert_eq!((c.static_payload_type(), c.clock_rate()), (pt, 8000));
            assert_eq!(c.silence(), silence);
            assert!(c.decode(silence).abs() <= 8, "{c:?}");
            assert_eq!(c.encode(c.decode(0x2A)), 0x2A);
            assert_eq!(c.from_law(c, 0x13), 0x13);
        }
        assert_eq!(Codec::from_encoding_name("G729"), None);
        assert_eq!(Codec::Pcma.from_law(Codec::Pcmu, 0x00), ULAW_TO_ALAW[0]);
        assert_eq!(Codec::Pcmu.from_law(Codec::Pcma, 0x55), ALAW_TO_ULAW[0x55]);
    }
}
