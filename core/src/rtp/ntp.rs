//! NTP timestamp helpers for RTCP sender reports (RFC 3550 §4): 64-bit NTP time
//! (seconds since 1900 in the high word, binary fraction in the low word).

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Converts microseconds since the Unix epoch to a 64-bit NTP timestamp.
pub fn ntp_from_unix_micros(micros: u64) -> u64 {
    let seconds = micros / 1_000_000 + NTP_UNIX_OFFSET;
    let fraction = ((micros % 1_000_000) << 32) / 1_000_000;
    (seconds << 32) | fraction
}

/// The middle 32 bits of an NTP timestamp, as carried in LSR fields.
pub fn ntp_middle32(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_unix_time() {
        assert_eq!(ntp_from_unix_micros(0), NTP_UNIX_OFFSET << 32);
        let half = ntp_from_unix_micros(1_500_000);
        assert_eq!(half >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(half as u32, 0x8000_0000);
        assert_eq!(ntp_middle32(0x1234_5678_9ABC_DEF0), 0x5678_9ABC);
    }
}
