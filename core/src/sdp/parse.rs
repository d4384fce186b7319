//! Line-preserving RFC 4566 parsing: an SDP is kept as its lines, in order,
//! split into the session section and one section per `m=` line, so unknown
//! lines survive untouched; typed accessors read the lines on demand.
//! Serialising a parsed description gives back the input with CRLF line ends.

use std::fmt;
use std::str::FromStr;

use super::error::SdpError;

/// Largest SDP body we parse.
pub const MAX_SDP_LEN: usize = 64 * 1024;

/// One `<type>=<value>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpLine {
    /// The line type letter (`v`, `o`, `c`, `a`, ...).
    pub kind: char,
    /// Everything after the `=`.
    pub value: String,
}

impl SdpLine {
    /// A line of the given type and value.
    pub fn new(kind: char, value: impl Into<String>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }

    /// For an `a=` line: the attribute name and its value (after the first `:`).
    pub fn attribute(&self) -> Option<(&str, Option<&str>)> {
        if self.kind != 'a' {
            return None;
        }
        Some(match self.value.split_once(':') {
            Some((name, value)) => (name, Some(value)),
            None => (self.value.as_str(), None),
        })
    }
}

impl fmt::Display for SdpLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}\r\n", self.kind, self.value)
    }
}

/// One media section: its `m=` line, parsed, and the lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    m_line: SdpLine,
    media: String,
    port: u16,
    port_count: Option<u16>,
    proto: String,
    formats: Vec<String>,
    lines: Vec<SdpLine>,
}

impl MediaDescription {
    /// Builds a section from the value of an `m=` line and its following lines.
    pub fn new(m_value: &str, lines: Vec<SdpLine>) -> Result<Self, &'static str> {
        let mut tokens = m_value.split(' ').filter(|t| !t.is_empty());
        let media = tokens.next().ok_or("m= without media")?;
        let port_field = tokens.next().ok_or("m= without port")?;
        let proto = tokens.next().ok_or("m= without transport")?;
        let (port, port_count) = match port_field.split_once('/') {
            Some((port, count)) => (
                port,
                Some(count.parse::<u16>().map_err(|_| "bad port count")?),
            ),
            None => (port_field, None),
        };
        let port = port.parse::<u16>().map_err(|_| "bad m= port")?;
        Ok(Self {
            m_line: SdpLine::new('m', m_value),
            media: media.to_string(),
            port,
            port_count,
            proto: proto.to_string(),
            formats: tokens.map(str::to_string).collect(),
            lines,
        })
    }

    /// Builds a section from its fields (the `m=` line is composed from them).
    pub fn from_fields(
        media: &str,
        port: u16,
        proto: &str,
        formats: Vec<String>,
        lines: Vec<SdpLine>,
    ) -> Self {
        let mut m_value = format!("{media} {port} {proto}");
        for format in &formats {
            m_value.push(' ');
            m_value.push_str(format);
        }
        Self {
            m_line: SdpLine::new('m', m_value),
            media: media.to_string(),
            port,
            port_count: None,
            proto: proto.to_string(),
            formats,
            lines,
        }
    }

    /// This section as rejected in an answer (RFC 3264 §6): same media, transport
    /// and formats, port 0, no other lines.
    pub fn rejected(&self) -> Self {
        let formats = if self.formats.is_empty() {
            vec!["0".to_string()]
        } else {
            self.formats.clone()
        };
        Self::from_fields(&self.media, 0, &self.proto, formats, Vec::new())
    }

    /// Media type (`audio`, `video`, `image`, ...).
    pub fn media(&self) -> &str {
        &self.media
    }

    /// Transport port; 0 means the stream is disabled or rejected.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Port count from `port/count`, if given.
    pub fn port_count(&self) -> Option<u16> {
        self.port_count
    }

    /// Transport protocol (`RTP/AVP`, `RTP/SAVP`, `udptl`, ...).
    pub fn proto(&self) -> &str {
        &self.proto
    }

    /// The format list (payload types for RTP), in preference order.
    pub fn formats(&self) -> &[String] {
        &self.formats
    }

    /// The `m=` line itself.
    pub fn m_line(&self) -> &SdpLine {
        &self.m_line
    }

    /// The lines after the `m=` line, as received.
    pub fn lines(&self) -> &[SdpLine] {
        &self.lines
    }

    /// Attributes of this section as (name, value).
    pub fn attributes(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.lines.iter().filter_map(SdpLine::attribute)
    }

    /// The value of the first attribute with this name (`Some(None)` for a flag).
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The value of the first line of this type in the section.
    pub fn line_value(&self, kind: char) -> Option<&str> {
        self.lines
            .iter()
            .find(|l| l.kind == kind)
            .map(|l| l.value.as_str())
    }
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    session: Vec<SdpLine>,
    media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// Assembles a description from session-level lines and media sections.
    pub fn from_parts(session: Vec<SdpLine>, media: Vec<MediaDescription>) -> Self {
        Self { session, media }
    }

    /// Parses an SDP body (CRLF or LF line ends; blank lines ignored). The first
    /// line must be `v=0`; every line must be `<letter>=<value>`; `m=` lines must
    /// carry media, port and transport. Attribute values are checked only when
    /// negotiation reads them.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        if text.len() > MAX_SDP_LEN {
            return Err(SdpError::TooLarge);
        }
        let mut session = Vec::new();
        let mut media: Vec<(usize, String, Vec<SdpLine>)> = Vec::new();
        let mut seen_version = false;
        for (index, raw) in text.split('\n').enumerate() {
            let line_no = index + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.trim().is_empty() {
                continue;
            }
            let malformed = |reason| SdpError::Malformed {
                line: line_no,
                reason,
            };
            let mut chars = raw.chars();
            let kind = chars.next().ok_or_else(|| malformed("empty line"))?;
            if !kind.is_ascii_lowercase() || chars.next() != Some('=') {
                return Err(malformed("expected <type>=<value>"));
            }
            let value = &raw[2..];
            if !seen_version {
                if kind != 'v' || value.trim() != "0" {
                    return Err(malformed("SDP must start with v=0"));
                }
                seen_version = true;
            }
            if kind == 'm' {
                media.push((line_no, value.to_string(), Vec::new()));
            } else if let Some((_, _, lines)) = media.last_mut() {
                lines.push(SdpLine::new(kind, value));
            } else {
                session.push(SdpLine::new(kind, value));
            }
        }
        if !seen_version {
            return Err(SdpError::Malformed {
                line: 1,
                reason: "empty SDP",
            });
        }
        let media = media
            .into_iter()
            .map(|(line, value, lines)| {
                MediaDescription::new(&value, lines)
                    .map_err(|reason| SdpError::Malformed { line, reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { session, media })
    }

    /// Parses a body given as bytes (it must be UTF-8).
    pub fn parse_bytes(body: &[u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(body).map_err(|e| SdpError::Malformed {
            line: 1 + body[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            reason: "not UTF-8",
        })?;
        Self::parse(text)
    }

    /// Session-level lines (before the first `m=`), in order.
    pub fn session_lines(&self) -> &[SdpLine] {
        &self.session
    }

    /// Media sections in order.
    pub fn media(&self) -> &[MediaDescription] {
        &self.media
    }

    /// Session-level attributes as (name, value).
    pub fn attributes(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.session.iter().filter_map(SdpLine::attribute)
    }

    /// The value of the first session-level attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The value of the first session-level line of this type.
    pub fn line_value(&self, kind: char) -> Option<&str> {
        self.session
            .iter()
            .find(|l| l.kind == kind)
            .map(|l| l.value.as_str())
    }
}

impl FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, SdpError> {
        Self::parse(s)
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.session {
            write!(f, "{line}")?;
        }
        for m in &self.media {
            write!(f, "{}", m.m_line)?;
            for line in &m.lines {
                write!(f, "{line}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples;
    use super::*;

    #[test]
    fn round_trips_every_sample_line_for_line() {
        for (name, text) in samples::ALL {
            let sdp = SessionDescription::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected: String = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| format!("{l}\r\n"))
                .collect();
            assert_eq!(sdp.to_string(), expected, "{name}");
        }
    }

    #[test]
    fn splits_sections_and_keeps_unknown_lines() {
        let sdp = SessionDescription::parse(samples::LINPHONE_VIDEO).expect("parses");
        assert_eq!(sdp.media().len(), 2);
        let audio = &sdp.media()[0];
        assert_eq!(audio.media(), "audio");
        assert_eq!(audio.port(), 7078);
        assert_eq!(audio.proto(), "RTP/AVP");
        assert_eq!(audio.formats()[..3], ["96", "0", "8"]);
        assert_eq!(audio.attribute("rtcp-fb"), Some(Some("* trr-int 1000")));
        assert_eq!(sdp.media()[1].media(), "video");
        assert!(
            sdp.session_lines()
                .iter()
                .any(|l| l.value.starts_with("rtcp-xr:"))
        );
        assert_eq!(sdp.line_value('s'), Some("Talk"));
    }

    #[test]
    fn accepts_lf_line_ends_and_port_counts() {
        let sdp = SessionDescription::parse(
            "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 49170/2 RTP/AVP 0\n",
        )
        .expect("parses");
        assert_eq!(sdp.media()[0].port(), 49170);
        assert_eq!(sdp.media()[0].port_count(), Some(2));
    }

    #[test]
    fn rejects_malformed_lines() {
        let cases: &[(&str, usize)] = &[
            ("", 1),
            ("o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n", 1),
            ("v=1\r\n", 1),
            ("v=0\r\nhello world\r\n", 2),
            ("v=0\r\ns=-\r\nA=foo\r\n", 3),
            ("v=0\r\ns=-\r\n a=leading-space\r\n", 3),
            ("v=0\r\nm=audio\r\n", 2),
            ("v=0\r\nm=audio 70000 RTP/AVP 0\r\n", 2),
            ("v=0\r\nm=audio abc RTP/AVP 0\r\n", 2),
            ("v=0\r\nm=audio 4000/x RTP/AVP 0\r\n", 2),
            ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000\r\na=x\r\n", 3),
        ];
        for (text, line) in cases {
            match SessionDescription::parse(text) {
                Err(SdpError::Malformed { line: l, .. }) => assert_eq!(l, *line, "{text:?}"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
        let huge = format!("v=0\r\n{}", "a=x\r\n".repeat(MAX_SDP_LEN / 5));
        assert_eq!(SessionDescription::parse(&huge), Err(SdpError::TooLarge));
        assert!(matches!(
            SessionDescription::parse_bytes(b"v=0\r\ns=\xFF\r\n"),
            Err(SdpError::Malformed { line: 2, .. })
        ));
    }

    #[test]
    fn attribute_lookup() {
        let line = SdpLine::new('a', "rtpmap:0 PCMU/8000");
        assert_eq!(line.attribute(), Some(("rtpmap", Some("0 PCMU/8000"))));
        assert_eq!(
            SdpLine::new('a', "rtcp-mux").attribute(),
            Some(("rtcp-mux", None))
        );
        assert_eq!(SdpLine::new('c', "IN IP4 1.2.3.4").attribute(), None);
    }
}
