//! The datagram parser: bytes → [`Message`]. Strict on the start line (RFC 4475 §3.1.2),
//! liberal on header layout (folding, compact names, any case, LWS around colons), and exact
//! about the UDP body: Content-Length bytes, extra bytes dropped, too few an error, the rest
//! of the datagram when Content-Length is absent. Never panics.
//!
//! Built for speed on the hot path: one `memchr` sweep finds the end of the header section,
//! a second splits it into lines (and catches bare CRs) without re-scanning each line,
//! header names are checked against a token table and resolved with a hash look-up, known
//! names are stored without allocating, and the usual `METHOD SP URI SP SIP/2.0` request
//! line is split without intermediate vectors. Odd inputs take the slower general paths.

use std::iter::Peekable;

use super::error::ParseError;
use super::grammar;
use super::message::{Header, Message, StartLine};
use super::method::Method;
use super::uri::is_absolute_uri;

/// Header lines beyond this count make the message malformed.
const MAX_HEADERS: usize = 512;

impl Message {
    /// Parses one UDP datagram. On error, [`ParseError::partial`] holds the start line and
    /// headers when they were readable, so that a request can still be answered.
    pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
        parse(buf)
    }
}

/// True for a keep-alive datagram: empty or only CR, LF and whitespace (RFC 5626 §3.5.1).
pub fn is_keepalive(buf: &[u8]) -> bool {
    buf.iter()
        .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
}

fn parse(buf: &[u8]) -> Result<Message, ParseError> {
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let start = buf
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(buf.len());
    if start == buf.len() {
        return Err(ParseError::bad_request("Empty message"));
    }
    let frame =
        find_head_end(buf, start).ok_or_else(|| ParseError::bad_request("Truncated header"))?;
    let head = std::str::from_utf8(&buf[start..frame.head_end])
        .map_err(|_| ParseError::bad_request("Invalid UTF-8 in header"))?;
    // the last header line's own line end precedes the empty line
    let head = head.strip_suffix('\n').unwrap_or(head);
    let mut lines = Lines::new(head).peekable();
    // A bare CR anywhere in the head outranks every later error: the error paths below
    // finish the scan with `reject_bare_cr` before returning.
    let first = lines.next().unwrap_or(Ok("")).map_err(bare_cr)?;
    let (start_line, mut error) = match parse_start_line(first) {
        Ok(parsed) => parsed,
        Err(e) => {
            reject_bare_cr(lines)?;
            return Err(e);
        }
    };
    // one header per remaining line at most, and never more than the limit allows
    let mut headers: Vec<Header> = Vec::with_capacity(frame.lines.min(MAX_HEADERS + 1));
    // reused for every folded value, which is then copied once at its final size
    let mut unfolded = String::new();
    while let Some(line) = lines.next() {
        let line = line.map_err(bare_cr)?;
        if is_continuation(line) {
            // only after a malformed line or none: a header takes its own continuations
            match headers.last_mut() {
                Some(h) => append_folded(&mut h.value, line),
                None => {
                    error
                        .get_or_insert(ParseError::bad_request("Continuation line without header"));
                }
            }
            continue;
        }
        match split_header_line(line) {
            Some((name, mut value)) => {
                if take_continuations(value, &mut lines, &mut unfolded) {
                    value = &unfolded;
                }
                headers.push(Header::parsed(name, value));
            }
            None => {
                error.get_or_insert(ParseError::bad_request("Malformed header line"));
            }
        }
        if headers.len() > MAX_HEADERS {
            reject_bare_cr(lines)?;
            return Err(ParseError::bad_request("Too many headers"));
        }
    }
    let mut msg = Message {
        start: start_line,
        headers,
        body: Vec::new(),
    };
    if let Some(e) = error {
        return Err(e.with_partial(msg));
    }
    let body_start = frame.body_start;
    let available = buf.len() - body_start;
    let body_len = match content_length(&msg) {
        Ok(Some(len)) if len <= available => len,
        Ok(Some(_)) => {
            return Err(
                ParseError::bad_request("Content-Length larger than body").with_partial(msg)
            );
        }
        Ok(None) => available,
        Err(e) => return Err(e.with_partial(msg)),
    };
    msg.body = buf[body_start..body_start + body_len].to_vec();
    Ok(msg)
}

/// Where the header section of a datagram ends.
struct HeadFrame {
    /// End of the header section: the start of the empty line (or of the body).
    head_end: usize,
    /// Start of the body: just after the empty line.
    body_start: usize,
    /// Line ends (LF) in the header section: an upper bound on its header count.
    lines: usize,
}

/// Finds the empty line ending the header section (an LF followed by LF or CRLF) that
/// starts at `start` (not a line end). A datagram whose last header line ends the buffer
/// without the empty line is accepted.
fn find_head_end(buf: &[u8], start: usize) -> Option<HeadFrame> {
    let mut lines = 0;
    for nl in memchr::memchr_iter(b'\n', &buf[start..]) {
        let next = start + nl + 1;
        lines += 1;
        let empty_line_len = match &buf[next..] {
            [b'\n', ..] => 1,
            [b'\r', b'\n', ..] => 2,
            _ => continue,
        };
        return Some(HeadFrame {
            head_end: next,
            body_start: next + empty_line_len,
            lines,
        });
    }
    buf.ends_with(b"\n").then_some(HeadFrame {
        head_end: buf.len(),
        body_start: buf.len(),
        lines,
    })
}

/// A CR in a header section that does not end a line.
struct BareCr;

fn bare_cr(_: BareCr) -> ParseError {
    ParseError::bad_request("Bare CR in header")
}

/// The lines of a header section (its last line end removed), in one pass: split at each
/// LF, one CR right before the LF (or at the very end) dropped, like
/// `split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))`. Any other CR yields
/// [`BareCr`] and ends the iteration.
struct Lines<'a> {
    head: &'a str,
    /// Start of the next line; `None` once the last line (or an error) was yielded.
    pos: Option<usize>,
}

impl<'a> Lines<'a> {
    fn new(head: &'a str) -> Self {
        Self { head, pos: Some(0) }
    }
}

/// Scans the lines not read yet for a bare CR.
fn reject_bare_cr<'a>(
    mut lines: impl Iterator<Item = Result<&'a str, BareCr>>,
) -> Result<(), ParseError> {
    lines.try_for_each(|line| line.map(drop)).map_err(bare_cr)
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<&'a str, BareCr>;

    fn next(&mut self) -> Option<Self::Item> {
        let pos = self.pos?;
        let bytes = self.head.as_bytes();
        let Some(end) = memchr::memchr2(b'\r', b'\n', &bytes[pos..]).map(|i| pos + i) else {
            self.pos = None;
            return Some(Ok(&self.head[pos..]));
        };
        let next = match (bytes[end], bytes.get(end + 1)) {
            (b'\n', _) => Some(end + 1),
            (_, Some(b'\n')) => Some(end + 2),
            (_, None) => None,
            (_, Some(_)) => {
                self.pos = None;
                return Some(Err(BareCr));
            }
        };
        self.pos = next;
        // `end` is an ASCII byte, so a char boundary
        Some(Ok(&self.head[pos..end]))
    }
}

/// True for a folded continuation line (RFC 3261 §7.3.1): it starts with SP or HTAB.
fn is_continuation(line: &str) -> bool {
    line.starts_with([' ', '\t'])
}

/// Appends a continuation line to a header value: its LWS is equivalent to a single SP, and
/// a blank continuation adds nothing.
fn append_folded(value: &mut String, line: &str) {
    let more = grammar::trim(line);
    if !more.is_empty() {
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str(more);
    }
}

/// Consumes the continuation lines following a header line whose value is `value`. When
/// there are any, `unfolded` receives the joined value and the result is true; otherwise
/// nothing is touched. A line with a bare CR is left for the caller to reject.
fn take_continuations<'a>(
    value: &str,
    lines: &mut Peekable<Lines<'a>>,
    unfolded: &mut String,
) -> bool {
    let mut folded = false;
    while let Some(Ok(line)) = lines.next_if(|l| l.as_ref().is_ok_and(|l| is_continuation(l))) {
        if !folded {
            unfolded.clear();
            unfolded.push_str(value);
            folded = true;
        }
        append_folded(unfolded, line);
    }
    folded
}

/// Splits a (non-folded) header line `token *WSP ":" value` into the name and the trimmed
/// value; `None` when the line has no colon or the text before it is not a token.
fn split_header_line(line: &str) -> Option<(&str, &str)> {
    let name_len = grammar::token_prefix_len(line);
    let colon = name_len
        + line.as_bytes()[name_len..]
            .iter()
            .position(|&b| b != b' ' && b != b'\t')?;
    (name_len > 0 && line.as_bytes()[colon] == b':')
        .then(|| (&line[..name_len], grammar::trim(&line[colon + 1..])))
}

/// The Content-Length value, if any; several Content-Length headers or a value that is not
/// a plain number are errors.
fn content_length(msg: &Message) -> Result<Option<usize>, ParseError> {
    let mut values = msg.headers.iter().filter(|h| h.name == "Content-Length");
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ParseError::bad_request("Multiple Content-Length headers"));
    }
    grammar::parse_digits(&first.value)
        .and_then(|v| usize::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| ParseError::bad_request("Malformed Content-Length"))
}

/// Parses the start line. A request line that breaks the strict grammar but is still
/// recognisable yields the start line plus the error to report, so the caller can keep the
/// headers as a partial message; a hopeless line is an error straight away.
fn parse_start_line(line: &str) -> Result<(StartLine, Option<ParseError>), ParseError> {
    if line.starts_with("SIP/") || line.starts_with("sip/") {
        return parse_status_line(line).map(|s| (s, None));
    }
    if let Some((method, uri, version)) = split_simple_request_line(line) {
        if !grammar::is_token(method) {
            return Err(ParseError::bad_request("Malformed start line"));
        }
        let error = request_line_error(uri, version);
        let method = Method::from_token(method);
        let uri = uri.to_string();
        return Ok((StartLine::Request { method, uri }, error));
    }
    // Anything else (extra or missing spaces, tabs) is malformed, but it may still name a
    // method and a URI worth keeping in the partial message.
    let tokens: Vec<&str> = line.split([' ', '\t']).filter(|t| !t.is_empty()).collect();
    if tokens.len() < 3 || !grammar::is_token(tokens[0]) {
        return Err(ParseError::bad_request("Malformed start line"));
    }
    let method = Method::from_token(tokens[0]);
    let version = tokens[tokens.len() - 1];
    let uri = tokens[1..tokens.len() - 1].join(" ");
    let strict: Vec<&str> = line.split(' ').collect();
    let error = if strict.len() != 3 || strict.iter().any(|p| p.is_empty()) {
        Some(ParseError::bad_request("Malformed Request-Line"))
    } else {
        request_line_error(&uri, version)
    };
    Ok((StartLine::Request { method, uri }, error))
}

/// `method SP uri SP version` with exactly two spaces, no tab and no empty part: the usual
/// request line, for which splitting at SP and HT and the strict split at SP agree.
fn split_simple_request_line(line: &str) -> Option<(&str, &str, &str)> {
    let bytes = line.as_bytes();
    let mut spaces = memchr::memchr_iter(b' ', bytes);
    let (sp1, sp2) = (spaces.next()?, spaces.next()?);
    if spaces.next().is_some() || memchr::memchr(b'\t', bytes).is_some() {
        return None;
    }
    let (method, uri, version) = (&line[..sp1], &line[sp1 + 1..sp2], &line[sp2 + 1..]);
    (!method.is_empty() && !uri.is_empty() && !version.is_empty()).then_some((method, uri, version))
}

/// The error for a request line laid out as `method SP uri SP version`: an unsupported or
/// malformed version, or a Request-URI that is not an absolute URI.
fn request_line_error(uri: &str, version: &str) -> Option<ParseError> {
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        let looks_sip = version
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"));
        Some(if looks_sip {
            ParseError::with_status(505, "Version Not Supported")
        } else {
            ParseError::bad_request("Malformed SIP version")
        })
    } else if !is_absolute_uri(uri) {
        Some(ParseError::bad_request("Malformed Request-URI"))
    } else {
        None
    }
}

fn parse_status_line(line: &str) -> Result<StartLine, ParseError> {
    let malformed = || ParseError::bad_request("Malformed Status-Line");
    let (version, rest) = line.split_once(' ').ok_or_else(malformed)?;
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(ParseError::with_status(505, "Version Not Supported"));
    }
    let (code, reason) = match rest.split_once(' ') {
        Some((code, reason)) => (code, reason),
        None => (rest, ""),
    };
    if code.len() != 3 {
        return Err(malformed());
    }
    let status = grammar::parse_digits(code)
        .filter(|c| (100..=699).contains(c))
        .ok_or_else(malformed)?;
    Ok(StartLine::Response {
        status: status as u16,
        reason: reason.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::SipUri;
    use super::*;

    fn msg(s: &str) -> Vec<u8> {
        s.replace('\n', "\r\n").into_bytes()
    }

    const HEAD: &str = "OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nTo: <sip:a@b>\nFrom: <sip:c@d>;tag=1\nCall-ID: x\nCSeq: 1 OPTIONS\nMax-Forwards: 70\n";

    #[test]
    fn body_follows_content_length() {
        let m =
            Message::parse(&msg(&format!("{HEAD}Content-Length: 3\n\nabcdef"))).expect("truncate");
        assert_eq!(m.body, b"abc");
        let e = Message::parse(&msg(&format!("{HEAD}l: 30\n\nabc"))).expect_err("short body");
        assert_eq!(e.status(), 400);
        assert!(e.partial().is_some_and(|p| p.call_id() == Some("x")));
        let m = Message::parse(&msg(&format!("{HEAD}\nrest of datagram"))).expect("no CL");
        assert_eq!(m.body, b"rest of datagram");
        let e = Message::parse(&msg(&format!("{HEAD}l: 1\nl: 1\n\nabc"))).expect_err("two CL");
        assert_eq!(e.reason(), "Multiple Content-Length headers");
        assert!(Message::parse(&msg(&format!("{HEAD}l: +1\n\nabc"))).is_err());
    }

    #[test]
    fn folding_compact_and_case() {
        let m = Message::parse(&msg(
            "INVITE sip:a@b SIP/2.0\nsUbJeCt :\n  hello\n\tworld \ni:\n id@h\ns:\nl: 0\n\n",
        ))
        .expect("parse");
        assert_eq!(m.header("Subject"), Some("hello world"));
        assert_eq!(m.headers[0].name, "Subject");
        assert_eq!(m.call_id(), Some("id@h"));
        assert_eq!(m.headers.iter().filter(|h| h.name == "Subject").count(), 2);
    }

    #[test]
    fn lf_only_and_leading_crlf() {
        let m = Message::parse(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\nCall-ID: z\n\nbody").expect("lf");
        assert_eq!(m.call_id(), Some("z"));
        assert_eq!(m.body, b"body");
        let m =
            Message::parse(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: z\r\n").expect("no empty line");
        assert!(m.body.is_empty());
        assert!(Message::parse(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: z").is_err());
    }

    #[test]
    fn start_line_errors() {
        for (line, status) in [
            ("INVITE  sip:a@b SIP/2.0", 400),
            ("INVITE sip:a@b SIP/2.0 ", 400),
            ("INVITE sip:a@b; lr SIP/2.0", 400),
            ("INVITE <sip:a@b> SIP/2.0", 400),
            ("INVITE sip:a@b SIP/3.0", 505),
            ("INVITE sip:a@b HTTP/1.1", 400),
        ] {
            let e = Message::parse(&msg(&format!("{line}\nCall-ID: q\n\n"))).expect_err(line);
            assert_eq!(e.status(), status, "{line}");
            assert_eq!(e.partial().and_then(|p| p.call_id()), Some("q"), "{line}");
        }
        for line in [
            "SIP/2.0 4294967301 big",
            "SIP/2.0 20 OK",
            "SIP/2.0 099 x",
            "SIP/2.0",
            "INVITE",
            "a b",
            "@ x SIP/2.0",
        ] {
            let e = Message::parse(&msg(&format!("{line}\n\n"))).expect_err(line);
            assert!(e.partial().is_none(), "{line}");
        }
        let m = Message::parse(b"SIP/2.0 180\r\n\r\n").expect("no reason, no SP");
        assert_eq!(m.reason_phrase(), Some(""));
    }

    #[test]
    fn malformed_headers() {
        let e = Message::parse(&msg(
            "OPTIONS sip:a@b SIP/2.0\nno colon here\nCall-ID: c\n\n",
        ))
        .expect_err("colon");
        assert_eq!(e.partial().and_then(|p| p.call_id()), Some("c"));
        assert!(Message::parse(&msg("OPTIONS sip:a@b SIP/2.0\n folded-first: x\n\n")).is_err());
        assert!(Message::parse(&msg("OPTIONS sip:a@b SIP/2.0\nBad Name: x\n\n")).is_err());
        assert!(Message::parse(b"OPTIONS sip:a@b SIP/2.0\r\nX: a\rb\r\n\r\n").is_err());
        assert!(Message::parse(b"OPTIONS sip:a@b SIP/2.0\r\nX: \xff\r\n\r\n").is_err());
        let many = format!("OPTIONS sip:a@b SIP/2.0\n{}\n", "X: y\n".repeat(600));
        assert!(Message::parse(&msg(&many)).is_err());
    }

    #[test]
    fn error_precedence() {
        let reason = |buf: &[u8]| Message::parse(buf).expect_err("error").reason().to_string();
        // a bare CR anywhere in the head outranks start-line and header-count errors
        assert_eq!(reason(b"INVITE\r\nX: a\rb\r\n\r\n"), "Bare CR in header");
        let many = "X: y\r\n".repeat(600);
        let late_cr = format!("OPTIONS sip:a@b SIP/2.0\r\n{many}X: a\rb\r\n\r\n");
        assert_eq!(reason(late_cr.as_bytes()), "Bare CR in header");
        let no_cr = format!("OPTIONS sip:a@b SIP/2.0\r\n{many}\r\n");
        assert_eq!(reason(no_cr.as_bytes()), "Too many headers");
        assert_eq!(
            reason(b"OPTIONS sip:a@b SIP/2.0\r\nI: z\r\r\n\r\n"),
            "Bare CR in header"
        );
        // ... but not truncation or invalid UTF-8
        assert_eq!(
            reason(b"OPTIONS sip:a@b SIP/2.0\r\nX: a\rb"),
            "Truncated header"
        );
        assert_eq!(
            reason(b"OPTIONS sip:a@b SIP/2.0\r\nX: a\rb\xff\r\n\r\n"),
            "Invalid UTF-8 in header"
        );
        // tabs or extra spaces in a request line take the general path
        let m = Message::parse(&msg("INVITE\tsip:a@b SIP/2.0\nCall-ID: q\n\n"));
        let e = m.expect_err("tab");
        assert_eq!(e.reason(), "Malformed Request-Line");
        assert_eq!(e.partial().and_then(|p| p.request_uri()), Some("sip:a@b"));
    }

    #[test]
    fn keepalives() {
        assert!(is_keepalive(b"\r\n\r\n"));
        assert!(is_keepalive(b""));
        assert!(!is_keepalive(b"OPTIONS"));
        assert!(Message::parse(b"\r\n\r\n").is_err());
    }

    #[test]
    fn never_panics_on_garbage() {
        // deterministic pseudo-random byte soup and truncations of a real message
        let mut x: u32 = 0x1234_5678;
        let sample = msg(&format!("{HEAD}Content-Length: 4\n\nbody"));
        for len in 0..sample.len() {
            let _ = Message::parse(&sample[..len]);
        }
        for _ in 0..2000 {
            let mut buf = Vec::new();
            for _ in 0..(x % 200) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let alphabet =
                    b"INVITE sip:@;=,<>\"\\:/ \r\n\t0123456789SIP/2.0 Via: l: \xc3\xa9\x00";
                buf.push(alphabet[(x as usize) % alphabet.len()]);
            }
            if let Ok(m) = Message::parse(&buf) {
                let _ = m.validate();
                let _ = Message::parse(&m.to_bytes());
            }
        }
    }

    #[test]
    fn header_parsers_never_panic() {
        use super::super::{NameAddr, Reason, SipUri, Via, parse_cseq};
        let alphabet: Vec<char> = "sip:@;=,<>\"\\ /[]:.?&%0123456789SIPUDPaébranchz9hG4bK\t*"
            .chars()
            .collect();
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..5000 {
            let mut s = String::new();
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                s.push(alphabet[(x as usize) % alphabet.len()]);
            }
            if let Ok(n) = NameAddr::parse(&s) {
                let _ = NameAddr::parse(&n.to_string());
            }
            if let Ok(v) = Via::parse(&s) {
                assert_eq!(
                    Via::parse(&v.to_string()).as_ref().map(|w| &w.host),
                    Ok(&v.host)
                );
            }
            if let Ok(u) = SipUri::parse(&s) {
                assert_eq!(SipUri::parse(&u.to_string()), Ok(u));
            }
            let _ = (Reason::parse(&s), parse_cseq(&s));
        }
    }

    #[test]
    fn ipv6_references() {
        let m = Message::parse(&msg(
            "REGISTER sip:[2001:db8::10]:5070;transport=udp SIP/2.0\n\
             To: sip:user@example.com\nFrom: sip:user@example.com;tag=81x2\n\
             Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111;received=2001:db8::9:255\n\
             Call-ID: SSG9559905523997077@hlau_4100\nMax-Forwards: 70\n\
             Contact: \"Caller\" <sip:caller@[2001:db8::1]:5060>\nCSeq: 98176 REGISTER\nl: 0\n\n",
        ))
        .expect("parse");
        assert!(m.validate().is_ok());
        let ruri = SipUri::parse(m.request_uri().unwrap_or_default()).expect("uri");
        assert_eq!(
            (ruri.host.as_str(), ruri.port),
            ("[2001:db8::10]", Some(5070))
        );
        let via = m.top_via().expect("via");
        assert_eq!(via.host_unbracketed(), "2001:db8::9:1");
        assert_eq!(via.received.as_deref(), Some("2001:db8::9:255"));
        let contact = SipUri::parse(&m.contacts()[0].uri).expect("contact");
        assert_eq!(contact.host_unbracketed(), "2001:db8::1");
    }
}
