//! RFC 4733 §2.3 telephone-event payload (DTMF digits and other named events):
//! the 4-byte event block, plus the DTMF event-code ↔ character mapping (§3.2).

use super::error::RtpError;

/// One telephone-event block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TelephoneEvent {
    /// Event code (0-9, 10 = `*`, 11 = `#`, 12-15 = A-D, 16 = flash, ...).
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level as -dBm0, 0..=63 (higher is quieter).
    pub volume: u8,
    /// Duration so far, in timestamp units from the event's RTP timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Length of one event block.
    pub const LEN: usize = 4;

    /// Parses the first event block of a payload (the R bit is ignored, as the
    /// RFC asks; trailing bytes are ignored).
    pub fn parse(payload: &[u8]) -> Result<Self, RtpError> {
        let b = payload.first_chunk::<4>().ok_or(RtpError::TooShort)?;
        Ok(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// Writes the block (R bit zero); returns 4. Volume must be at most 63.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, RtpError> {
        if self.volume > 63 {
            return Err(RtpError::Invalid("telephone-event volume"));
        }
        let out = buf.first_chunk_mut::<4>().ok_or(RtpError::BufferTooSmall)?;
        out[0] = self.event;
        out[1] = ((self.end as u8) << 7) | self.volume;
        out[2..4].copy_from_slice(&self.duration.to_be_bytes());
        Ok(Self::LEN)
    }

    /// The DTMF character of this event, if it is one of the 16 DTMF events.
    pub fn digit(&self) -> Option<char> {
        dtmf_char(self.event)
    }
}

const DTMF_CHARS: &[u8; 16] = b"0123456789*#ABCD";

/// DTMF event code → character (`0-9`, `*`, `#`, `A-D`).
pub fn dtmf_char(event: u8) -> Option<char> {
    DTMF_CHARS.get(event as usize).map(|&c| c as char)
}

/// Character → DTMF event code; accepts lower-case `a-d`.
pub fn dtmf_event(c: char) -> Option<u8> {
    let upper = c.to_ascii_uppercase();
    DTMF_CHARS
        .iter()
        .position(|&d| d as char == upper)
        .map(|i| i as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_events() {
        // Digit 5, volume 10, duration 400, from a SIPp dtmf_2833 capture style packet.
        let start = TelephoneEvent::parse(&[0x05, 0x0A, 0x01, 0x90]).expect("valid");
        assert_eq!(
            start,
            TelephoneEvent {
                event: 5,
                end: false,
                volume: 10,
                duration: 400
            }
        );
        assert_eq!(start.digit(), Some('5'));
        // End packet with the reserved bit set: R is ignored.
        let end = TelephoneEvent::parse(&[0x0B, 0xCA, 0x03, 0x20, 0xFF]).expect("valid");
        assert_eq!(
            end,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(end.digit(), Some('#'));
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), Err(RtpError::TooShort));
    }

    #[test]
    fn write_round_trips_and_validates() {
        let ev = TelephoneEvent {
            event: 16,
            end: true,
            volume: 63,
            duration: 65535,
        };
        let mut buf = [0u8; 4];
        assert_eq!(ev.write(&mut buf), Ok(4));
        assert_eq!(buf, [16, 0xBF, 0xFF, 0xFF]);
        assert_eq!(TelephoneEvent::parse(&buf), Ok(ev));
        assert_eq!(ev.digit(), None);
        assert_eq!(ev.write(&mut buf[..3]), Err(RtpError::BufferTooSmall));
        let loud = TelephoneEvent { volume: 64, ..ev };
        assert_eq!(
            loud.write(&mut buf),
            Err(RtpError::Invalid("telephone-event volume"))
        );
    }

    #[test]
    fn dtmf_mapping_is_a_bijection() {
        for code in 0..16u8 {
            let c = dtmf_char(code).expect("DTMF code");
            assert_eq!(dtmf_event(c), Some(code));
        }
        assert_eq!(dtmf_event('*'), Some(10));
        assert_eq!(dtmf_event('d'), Some(15));
        assert_eq!(dtmf_event('E'), None);
        assert_eq!(dtmf_char(16), None);
    }
}
