//! Typed readers for the SDP fields negotiation needs: `c=` connection data,
//! `a=rtpmap`, the telephone-event list of `a=fmtp`, `a=rtcp` (RFC 3605) and
//! the packet-time choice.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::SdpError;

/// Packet times we send and receive, in ms.
pub const SUPPORTED_PTIMES: [u32; 3] = [10, 20, 30];
/// Packet time when the peer states none.
pub const DEFAULT_PTIME: u32 = 20;

/// Parses the value of a `c=` line (`IN IP4 <addr>[/ttl[/n]]` or `IN IP6 <addr>[/n]`)
/// into an IP address. Host names are refused: resolving is not our job here.
pub fn parse_connection(value: &str) -> Result<IpAddr, SdpError> {
    let unsupported = || SdpError::UnsupportedAddress(value.to_string());
    let mut tokens = value.split_ascii_whitespace();
    let (net, addr_type, addr) = match (tokens.next(), tokens.next(), tokens.next()) {
        (Some(n), Some(t), Some(a)) => (n, t, a),
        _ => return Err(unsupported()),
    };
    if net != "IN" {
        return Err(unsupported());
    }
    let literal = addr.split('/').next().unwrap_or(addr);
    match addr_type {
        "IP4" => literal
            .parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| unsupported()),
        "IP6" => literal
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| unsupported()),
        _ => Err(unsupported()),
    }
}

/// Formats a `c=`/`o=` address: `IN IP4 a.b.c.d` or `IN IP6 x::y`.
pub fn format_address(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => format!("IN IP4 {a}"),
        IpAddr::V6(a) => format!("IN IP6 {a}"),
    }
}

/// An `a=rtpmap` value: `<pt> <encoding>/<rate>[/<channels>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMap<'a> {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as written.
    pub encoding: &'a str,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count (1 when absent).
    pub channels: u32,
}

impl<'a> RtpMap<'a> {
    /// Parses an `a=rtpmap` value; `None` when it does not follow the grammar.
    pub fn parse(value: &'a str) -> Option<Self> {
        let (pt, rest) = value.trim().split_once(' ')?;
        let mut parts = rest.trim().split('/');
        let encoding = parts.next().filter(|e| !e.is_empty())?;
        let clock_rate = parts.next()?.trim().parse().ok()?;
        let channels = match parts.next() {
            Some(c) => c.trim().parse().ok()?,
            None => 1,
        };
        Some(Self {
            payload_type: pt.parse().ok().filter(|pt| *pt < 128)?,
            encoding,
            clock_rate,
            channels,
        })
    }

    /// The implied mapping of a static payload type we understand (RFC 3551).
    pub fn for_static(payload_type: u8) -> Option<Self> {
        let encoding = match payload_type {
            0 => "PCMU",
            8 => "PCMA",
            13 => "CN",
            _ => return None,
        };
        Some(Self {
            payload_type,
            encoding,
            clock_rate: 8000,
            channels: 1,
        })
    }
}

/// A set of telephone events 0..=31 as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSet(pub u32);

impl EventSet {
    /// DTMF 0-9 * # A-D and flash: events 0-16.
    pub const DTMF_AND_FLASH: Self = Self(0x1_FFFF);
    /// RFC 4733's default when no fmtp is given: events 0-15.
    pub const DEFAULT: Self = Self(0xFFFF);

    /// Parses an fmtp event list like `0-15,66,70` (events above 31 are ignored);
    /// `None` when malformed.
    pub fn parse(value: &str) -> Option<Self> {
        let mut mask = 0u32;
        for item in value.trim().split(',') {
            let item = item.trim();
            let (low, high) = match item.split_once('-') {
                Some((l, h)) => (l.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?),
                None => {
                    let v = item.parse::<u32>().ok()?;
                    (v, v)
                }
            };
            if low > high || high > 255 {
                return None;
            }
            for event in low..=high.min(31) {
                mask |= 1 << event;
            }
        }
        Some(Self(mask))
    }

    /// Events in both sets.
    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// True when no event is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Formats as ranges (`0-15`, `0-11,16`).
    pub fn format(self) -> String {
        let mut parts = Vec::new();
        let mut event = 0;
        while event < 32 {
            if self.0 & (1 << event) == 0 {
                event += 1;
                continue;
            }
            let start = event;
            while event < 32 && self.0 & (1 << event) != 0 {
                event += 1;
            }
            let end = event - 1;
            parts.push(if start == end {
                format!("{start}")
            } else {
                format!("{start}-{end}")
            });
        }
        parts.join(",")
    }
}

/// Parses an `a=ptime`/`a=maxptime` value in ms (decimals truncated); `None`
/// when malformed or zero.
pub fn parse_ms(value: &str) -> Option<u32> {
    let value = value.trim();
    let integer = value.split('.').next().unwrap_or(value);
    integer.parse::<u32>().ok().filter(|v| *v > 0)
}

/// Chooses our packet time from the peer's `ptime` and `maxptime`: the nearest
/// of 10/20/30 ms (≤ 14 → 10, 15..=25 → 20, ≥ 26 → 30; none → 20), then lowered
/// to the largest supported value not above `maxptime` (10 at least).
pub fn choose_ptime(ptime: Option<u32>, maxptime: Option<u32>) -> u32 {
    let chosen = match ptime {
        None => DEFAULT_PTIME,
        Some(p) if p <= 14 => 10,
        Some(p) if p <= 25 => 20,
        Some(_) => 30,
    };
    match maxptime {
        Some(max) if chosen > max => SUPPORTED_PTIMES
            .iter()
            .rev()
            .copied()
            .find(|p| *p <= max)
            .unwrap_or(SUPPORTED_PTIMES[0]),
        _ => chosen,
    }
}

/// Parses an `a=rtcp` value (RFC 3605): port and optional address.
pub fn parse_rtcp_attribute(value: &str) -> Option<(u16, Option<IpAddr>)> {
    let value = value.trim();
    let (port, rest) = match value.split_once(' ') {
        Some((p, r)) => (p, Some(r)),
        None => (value, None),
    };
    let port = port.parse().ok()?;
    let addr = match rest {
        Some(rest) => Some(parse_connection(rest).ok()?),
        None => None,
    };
    Some((port, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_lines() {
        assert_eq!(
            parse_connection("IN IP4 192.0.2.1"),
            Ok("192.0.2.1".parse().expect("ip"))
        );
        assert_eq!(
            parse_connection("IN IP4 224.2.1.1/127/3"),
            Ok("224.2.1.1".parse().expect("ip"))
        );
        assert_eq!(
            parse_connection("IN  IP6   2001:db8::7"),
            Ok("2001:db8::7".parse().expect("ip"))
        );
        for bad in [
            "IN IP4 pbx.example.com",
            "IN IP4 2001:db8::1",
            "IN IP6 10.0.0.1",
            "IN IP4",
            "ATM NSAP 47",
            "",
        ] {
            assert!(
                matches!(parse_connection(bad), Err(SdpError::UnsupportedAddress(_))),
                "{bad}"
            );
        }
        assert_eq!(format_address("::1".parse().expect("ip")), "IN IP6 ::1");
    }

    #[test]
    fn rtpmap_values() {
        let m = RtpMap::parse("101 telephone-event/8000").expect("valid");
        assert_eq!(
            (m.payload_type, m.encoding, m.clock_rate, m.channels),
            (101, "telephone-event", 8000, 1)
        );
        let opus = RtpMap::parse("96 opus/48000/2").expect("valid");
        assert_eq!(opus.channels, 2);
        for bad in [
            "",
            "96",
            "96 opus",
            "300 PCMU/8000",
            "x PCMU/8000",
            "0 /8000",
            "0 PCMU/abc",
        ] {
            assert_eq!(RtpMap::parse(bad), None, "{bad}");
        }
        assert_eq!(RtpMap::for_static(8).map(|m| m.encoding), Some("PCMA"));
        assert_eq!(RtpMap::for_static(18), None);
    }

    #[test]
    fn event_sets() {
        assert_eq!(EventSet::parse("0-16"), Some(EventSet::DTMF_AND_FLASH));
        assert_eq!(EventSet::parse("0-15,66,70"), Some(EventSet::DEFAULT));
        let partial = EventSet::parse("0-11, 16").expect("valid");
        assert_eq!(partial.format(), "0-11,16");
        assert_eq!(EventSet::parse("32-41").map(|s| s.is_empty()), Some(true));
        assert_eq!(EventSet::parse("5-3"), None);
        assert_eq!(EventSet::parse("a-b"), None);
        assert_eq!(EventSet::parse("0-99999"), None);
        assert_eq!(
            EventSet::DEFAULT
                .intersect(EventSet::DTMF_AND_FLASH)
                .format(),
            "0-15"
        );
        assert_eq!(EventSet(1 << 31 | 1).format(), "0,31");
    }

    #[test]
    fn ptime_choice() {
        assert_eq!(choose_ptime(None, None), 20);
        assert_eq!(choose_ptime(Some(10), None), 10);
        assert_eq!(choose_ptime(Some(30), None), 30);
        assert_eq!(choose_ptime(Some(15), None), 20);
        assert_eq!(choose_ptime(Some(40), None), 30);
        assert_eq!(choose_ptime(Some(60), None), 30);
        assert_eq!(choose_ptime(Some(5), None), 10);
        assert_eq!(choose_ptime(Some(30), Some(20)), 20);
        assert_eq!(choose_ptime(None, Some(150)), 20);
        assert_eq!(choose_ptime(Some(20), Some(5)), 10);
        assert_eq!(parse_ms("20"), Some(20));
        assert_eq!(parse_ms(" 20.0 "), Some(20));
        assert_eq!(parse_ms("0"), None);
        assert_eq!(parse_ms("abc"), None);
    }

    #[test]
    fn rtcp_attribute() {
        assert_eq!(parse_rtcp_attribute("53020"), Some((53020, None)));
        assert_eq!(
            parse_rtcp_attribute("53020 IN IP4 126.16.64.4"),
            Some((53020, Some("126.16.64.4".parse().expect("ip"))))
        );
        assert_eq!(parse_rtcp_attribute("x"), None);
        assert_eq!(parse_rtcp_attribute("5 IN IP4 host.example"), None);
    }
}
