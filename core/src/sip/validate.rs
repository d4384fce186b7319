//! `Message::validate`: the semantic checks a transaction user applies to a parsed message
//! before acting on it (RFC 3261 §8.2 and the RFC 4475 invalid cases that parse):
//! mandatory and single-instance headers, CSeq, Max-Forwards, Via, From/To/Contact syntax,
//! the Request-URI, Date and Warning, and NUL bytes in header values.

use super::error::ParseError;
use super::grammar::{self, CommaSplit};
use super::message::{Message, StartLine};
use super::name_addr::NameAddr;
use super::uri::{SipUri, UriError};
use super::via::Via;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl Message {
    /// Checks what a parse alone does not: a failure means "answer 400 with
    /// [`ParseError::reason`]" for a request (never for an ACK) and "discard" for a response.
    ///
    /// Requests need To, From, Call-ID, CSeq, Via and Max-Forwards (this rejects pre-RFC 3261
    /// requests that omit Max-Forwards, such as RFC 4475 §3.4's); responses need all but
    /// Max-Forwards. A `sip:`/`sips:` Request-URI must parse and carry no headers; other
    /// schemes pass (the TU answers 416).
    pub fn validate(&self) -> Result<(), ParseError> {
        let request = match &self.start {
            StartLine::Request { method, uri } => Some((method, uri)),
            StartLine::Response { .. } => None,
        };
        if let Some(h) = self.headers.iter().find(|h| has_bare_nul(&h.value)) {
            return Err(ParseError::bad_request(format!(
                "NUL byte in {} header",
                h.name
            )));
        }
        let mut mandatory = vec!["To", "From", "Call-ID", "CSeq", "Via"];
        if request.is_some() {
            mandatory.push("Max-Forwards");
        }
        for name in mandatory {
            if self.header(name).is_none() {
                return Err(ParseError::bad_request(format!("Missing {name} header")));
            }
        }
        for name in [
            "To",
            "From",
            "Call-ID",
            "CSeq",
            "Max-Forwards",
            "Content-Type",
        ] {
            if self.header_count(name) > 1 {
                return Err(ParseError::bad_request(format!("Multiple {name} headers")));
            }
        }
        let (_, cseq_method) = self
            .cseq()
            .ok_or_else(|| ParseError::bad_request("Malformed CSeq header"))?;
        if self
            .call_id()
            .is_none_or(|c| c.is_empty() || c.contains(char::is_whitespace))
        {
            return Err(ParseError::bad_request("Malformed Call-ID header"));
        }
        for name in ["From", "To"] {
            if let Some(v) = self.header(name) {
                NameAddr::parse(v).map_err(|why| {
                    ParseError::bad_request(format!("Malformed {name} header: {why}"))
                })?;
            }
        }
        for h in self.headers.iter().filter(|h| h.name == "Via") {
            for v in CommaSplit::new(&h.value) {
                Via::parse(v).map_err(|why| {
                    ParseError::bad_request(format!("Malformed Via header: {why}"))
                })?;
            }
        }
        for h in self.headers.iter().filter(|h| h.name == "Contact") {
            if h.value.trim() == "*" {
                continue;
            }
            for v in CommaSplit::new(&h.value) {
                NameAddr::parse(v).map_err(|why| {
                    ParseError::bad_request(format!("Malformed Contact header: {why}"))
                })?;
            }
        }
        if let Some(date) = self.header("Date") {
            if !is_rfc1123_gmt(date) {
                return Err(ParseError::bad_request("Malformed Date header"));
            }
        }
        for w in self.headers("Warning") {
            let code = w.split(grammar::is_wsp).next().unwrap_or_default();
            if code.len() != 3 || grammar::parse_digits(code).is_none() {
                return Err(ParseError::bad_request("Malformed Warning header"));
            }
        }
        if let Some((method, uri)) = request {
            if *method != cseq_method {
                return Err(ParseError::bad_request("CSeq method does not match"));
            }
            if self.max_forwards().is_none_or(|m| m > 255) {
                return Err(ParseError::bad_request("Malformed Max-Forwards header"));
            }
            match SipUri::parse(uri) {
                Ok(u) if !u.headers.is_empty() => {
                    return Err(ParseError::bad_request("Request-URI with headers"));
                }
                Err(UriError::Malformed(_)) => {
                    return Err(ParseError::bad_request("Malformed Request-URI"));
                }
                Ok(_) | Err(UriError::UnsupportedScheme) => {}
            }
        }
        Ok(())
    }
}

/// A NUL byte that is not escaped inside a quoted string. RFC 3261's grammar has no
/// place for NUL in a header value but a `quoted-pair` (`"\" %x00-09 ...`), which RFC
/// 4475 §3.1.1.2 uses in a display name.
fn has_bare_nul(value: &str) -> bool {
    if !value.contains('\0') {
        return false;
    }
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '\0' => return true,
            _ => {}
        }
    }
    false
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 3261 §20.17: RFC 1123 form, GMT only).
fn is_rfc1123_gmt(s: &str) -> bool {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [wkday, day, month, year, time, zone] = parts[..] else {
        return false;
    };
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    let time_ok = {
        let t: Vec<&str> = time.split(':').collect();
        t.len() == 3 && t.iter().all(|p| digits(p, 2))
    };
    wkday.strip_suffix(',').is_some_and(|d| DAYS.contains(&d))
        && digits(day, 2)
        && MONTHS.contains(&month)
        && digits(year, 4)
        && time_ok
        && zone == "GMT"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> String {
        "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nTo: <sip:a@example.com>\r\n\
         From: <sip:c@d>;tag=1\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            .to_string()
    }

    fn check(extra: &str) -> Result<(), ParseError> {
        Message::parse(format!("{}{extra}\r\n", base()).as_bytes())
            .expect("parses")
            .validate()
    }

    #[test]
    fn accepts_minimal_and_extras() {
        assert!(check("").is_ok());
        assert!(check("Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n").is_ok());
        assert!(check("Contact: *\r\n").is_ok());
        assert!(check("Warning: 399 host \"text\"\r\n").is_ok());
    }

    #[test]
    fn rejects() {
        for (extra, reason) in [
            (
                "Date: Fri, 01 Jan 2010 16:00:00 EST\r\n",
                "Malformed Date header",
            ),
            (
                "Warning: 1812 overture \"In Progress\"\r\n",
                "Malformed Warning header",
            ),
            ("Call-ID: y\r\n", "Multiple Call-ID headers"),
            (
                "Contact: <sip:x@y>;;\r\n",
                "Malformed Contact header: Empty parameter",
            ),
            (
                "Via: SIP/2.0/UDP h2;;\r\n",
                "Malformed Via header: Empty parameter",
            ),
        ] {
            assert_eq!(check(extra).expect_err(extra).reason(), reason);
        }
        let missing = base().replace("Max-Forwards: 70\r\n", "");
        let e = Message::parse(format!("{missing}\r\n").as_bytes())
            .expect("parse")
            .validate()
            .expect_err("mf");
        assert_eq!(e.reason(), "Missing Max-Forwards header");
        let over = base().replace("Max-Forwards: 70", "Max-Forwards: 256");
        assert!(
            Message::parse(format!("{over}\r\n").as_bytes())
                .expect("p")
                .validate()
                .is_err()
        );
        let mism = base().replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
        let e = Message::parse(format!("{mism}\r\n").as_bytes())
            .expect("p")
            .validate()
            .expect_err("cseq");
        assert_eq!(e.reason(), "CSeq method does not match");
    }

    #[test]
    fn nul_bytes_only_as_quoted_pairs() {
        assert_eq!(
            check("Subject: a\0b\r\n").expect_err("nul").reason(),
            "NUL byte in Subject header"
        );
        assert!(check("X-Thing: \"in \0 quotes\"\r\n").is_err());
        assert!(check("X-Thing: \\\0 escaped outside quotes\r\n").is_err());
        assert!(check("X-Thing: \"escaped \\\0 in quotes\"\r\n").is_ok());
        assert!(has_bare_nul("\0"));
        assert!(!has_bare_nul("plain"));
    }

    #[test]
    fn date_format() {
        assert!(is_rfc1123_gmt("Sat, 15 Oct 2005 04:44:56 GMT"));
        assert!(!is_rfc1123_gmt("Sat, 15 Oct 2005 04:44:56 UTC"));
        assert!(!is_rfc1123_gmt("Sat 15 Oct 2005 04:44:56 GMT"));
        assert!(!is_rfc1123_gmt("Sat, 5 Oct 2005 04:44:56 GMT"));
        assert!(!is_rfc1123_gmt(""));
    }
}
