//! The session description carried by a SIP message's body, sans-IO: which bytes are
//! the SDP, or why the body cannot be used and what to answer.
//!
//! - No body: no SDP (an INVITE without an offer).
//! - `Content-Encoding` other than `identity`: 415 with `Accept-Encoding: identity`
//!   (RFC 3261 §8.2.3, §20.12).
//! - `application/sdp`, or no `Content-Type` at all (lenient, as many peers send it): the
//!   whole body.
//! - `multipart/mixed` (RFC 5621, RFC 2046 §5.1): the first `application/sdp` part whose
//!   disposition is `session` (the default for SDP). The `boundary` parameter may be
//!   quoted; the preamble and epilogue are ignored; parts carry their own headers
//!   (`Content-Type` defaults to `text/plain`). Other parts are ignored unless they say
//!   `handling=required` (RFC 5621 §9), which is answered 415: we understand no other
//!   type. A part with a transfer encoding other than 7bit/8bit/binary is not read.
//!   Nested `multipart/mixed` parts are searched too (a few levels deep).
//! - Any other type: 415 with `Accept` listing what we read (RFC 3261 §21.4.13).

use super::message::Message;

/// The body types we read, for the `Accept` header of a 415.
pub const ACCEPT: &str = "application/sdp, multipart/mixed";

/// How deep nested multiparts are searched.
const MAX_DEPTH: usize = 4;

/// Why a body holds no usable session description, and how to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// A type we do not read (the body's, or a part's marked `handling=required`): 415
    /// with `Accept: `[`ACCEPT`].
    UnsupportedType(String),
    /// A content or transfer encoding we do not decode: 415 with `Accept-Encoding: identity`.
    UnsupportedEncoding(String),
    /// A multipart body that cannot be taken apart: 400.
    Malformed(&'static str),
}

impl BodyError {
    /// The status code and reason phrase to answer a request with.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            BodyError::UnsupportedType(_) | BodyError::UnsupportedEncoding(_) => {
                (415, "Unsupported Media Type")
            }
            BodyError::Malformed(_) => (400, "Bad Request - Malformed Multipart Body"),
        }
    }

    /// The response to `req` (its To tag is the caller's to set).
    pub fn response_to(&self, req: &Message) -> Message {
        let (status, reason) = self.status();
        let mut r = Message::response_to(req, status, reason);
        if let Some((name, value)) = self.header() {
            r.add_header(name, value);
        }
        r
    }

    /// The header to add to that response (RFC 3261 §8.2.3), if any.
    pub fn header(&self) -> Option<(&'static str, &'static str)> {
        match self {
            BodyError::UnsupportedType(_) => Some(("Accept", ACCEPT)),
            BodyError::UnsupportedEncoding(_) => Some(("Accept-Encoding", "identity")),
            BodyError::Malformed(_) => None,
        }
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::UnsupportedType(t) => write!(f, "unsupported body type {t}"),
            BodyError::UnsupportedEncoding(e) => write!(f, "unsupported body encoding {e}"),
            BodyError::Malformed(why) => write!(f, "malformed multipart body: {why}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// The SDP bytes of `msg`'s body (see the module documentation); `None` when there is
/// no session description.
pub fn sdp_of(msg: &Message) -> Result<Option<&[u8]>, BodyError> {
    if msg.body.is_empty() {
        return Ok(None);
    }
    for enc in msg.headers("Content-Encoding") {
        for e in enc.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if !e.eq_ignore_ascii_case("identity") {
                return Err(BodyError::UnsupportedEncoding(e.to_string()));
            }
        }
    }
    match msg.content_type() {
        None => Ok(Some(&msg.body)),
        Some(ct) => find_sdp(&MediaType::parse(ct), &msg.body, 0),
    }
}

/// A parsed `type/subtype;param=value` (type and subtype lower-cased, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
struct MediaType {
    essence: String,
    params: Vec<(String, String)>,
}

impl MediaType {
    fn parse(s: &str) -> MediaType {
        let mut items = split_unquoted(s, ';').into_iter();
        let essence = items
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
            .split_whitespace()
            .collect::<String>();
        let params = items
            .filter_map(|item| {
                let (name, value) = item.split_once('=')?;
                let value = value.trim();
                let value = if super::grammar::quoted_len(value) == Some(value.len()) {
                    super::grammar::unquote(value)
                } else {
                    value.to_string()
                };
                Some((name.trim().to_ascii_lowercase(), value))
            })
            .collect();
        MediaType { essence, params }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits at `sep` outside quoted strings.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn find_sdp<'a>(
    ty: &MediaType,
    body: &'a [u8],
    depth: usize,
) -> Result<Option<&'a [u8]>, BodyError> {
    match ty.essence.as_str() {
        "application/sdp" => Ok(Some(body)),
        "multipart/mixed" if depth < MAX_DEPTH => {
            let boundary = ty
                .param("boundary")
                .filter(|b| !b.is_empty() && b.len() <= 70)
                .ok_or(BodyError::Malformed("no boundary parameter"))?;
            let mut found = None;
            for part in split_multipart(body, boundary.as_bytes())? {
                let part = Part::parse(part)?;
                let cte = part.header("content-transfer-encoding").map(str::trim);
                let disposition = part.header("content-disposition").map(MediaType::parse);
                let required = disposition
                    .as_ref()
                    .and_then(|d| d.param("handling"))
                    .is_some_and(|h| h.eq_ignore_ascii_case("required"));
                let ty = MediaType::parse(part.header("content-type").unwrap_or("text/plain"));
                let readable = cte.is_none_or(|e| {
                    ["7bit", "8bit", "binary"]
                        .iter()
                        .any(|k| e.eq_ignore_ascii_case(k))
                });
                let session = disposition.as_ref().is_none_or(|d| d.essence == "session");
                let is_sdp = ty.essence == "application/sdp";
                let is_mixed = ty.essence == "multipart/mixed";
                if (is_sdp || is_mixed) && !readable {
                    if required || is_sdp {
                        return Err(BodyError::UnsupportedEncoding(
                            cte.unwrap_or_default().to_string(),
                        ));
                    }
                    continue;
                }
                if is_sdp && session {
                    found = found.or(Some(part.body));
                } else if is_mixed {
                    match find_sdp(&ty, part.body, depth + 1) {
                        Ok(Some(sdp)) => found = found.or(Some(sdp)),
                        Ok(None) => {}
                        Err(e) if required => return Err(e),
                        Err(_) => {}
                    }
                } else if required && !is_sdp {
                    return Err(BodyError::UnsupportedType(ty.essence));
                }
            }
            Ok(found)
        }
        other => Err(BodyError::UnsupportedType(other.to_string())),
    }
}

/// The body parts between the delimiters of `boundary` (RFC 2046 §5.1.1): a delimiter
/// line is `--boundary` at the start of the body or after a line break, followed by
/// optional white space; the close delimiter adds `--`. The line break before a
/// delimiter belongs to it, not to the part. A missing close delimiter ends the last
/// part at the end of the body.
fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Result<Vec<&'a [u8]>, BodyError> {
    let mut dash = Vec::with_capacity(boundary.len() + 2);
    dash.extend_from_slice(b"--");
    dash.extend_from_slice(boundary);
    // Every delimiter: (where its line break starts, where the part after it starts or
    // None for the close delimiter).
    let mut delims: Vec<(usize, Option<usize>)> = Vec::new();
    let mut i = 0;
    while let Some(off) = memchr::memmem::find(&body[i..], &dash) {
        let at = i + off;
        i = at + dash.len();
        let line_start = at == 0 || body[at - 1] == b'\n';
        if !line_start {
            continue;
        }
        let before = if at >= 2 && &body[at - 2..at] == b"\r\n" {
            at - 2
        } else {
            at.saturating_sub(1)
        };
        let rest = &body[i..];
        if rest.starts_with(b"--") {
            delims.push((before, None));
            break;
        }
        // Transport padding, then the line break.
        let pad = rest
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        let after = &rest[pad..];
        let eol = if after.starts_with(b"\r\n") {
            2
        } else if after.starts_with(b"\n") {
            1
        } else {
            // `--boundaryX`: a longer string that merely starts like the boundary.
            continue;
        };
        delims.push((before, Some(i + pad + eol)));
        i += pad + eol;
    }
    if delims.is_empty() {
        return Err(BodyError::Malformed("boundary not found"));
    }
    let mut parts = Vec::new();
    for (k, &(_, start)) in delims.iter().enumerate() {
        let Some(start) = start else { break };
        let end = delims.get(k + 1).map_or(body.len(), |&(b, _)| b);
        let end = end.max(start);
        parts.push(&body[start..end]);
    }
    Ok(parts)
}

/// One body part: its headers (names lower-cased, folded lines joined) and its body.
struct Part<'a> {
    headers: Vec<(String, String)>,
    body: &'a [u8],
}

impl<'a> Part<'a> {
    fn parse(raw: &'a [u8]) -> Result<Part<'a>, BodyError> {
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut pos = 0;
        loop {
            let nl = memchr::memchr(b'\n', &raw[pos..]).map(|n| pos + n);
            let line_end = nl.unwrap_or(raw.len());
            let line = &raw[pos..line_end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let next = nl.map_or(raw.len(), |n| n + 1);
            if line.is_empty() {
                return Ok(Part {
                    headers,
                    body: &raw[next.min(raw.len())..],
                });
            }
            let text =
                std::str::from_utf8(line).map_err(|_| BodyError::Malformed("part header"))?;
            if text.starts_with([' ', '\t']) {
                let (_, v) = headers
                    .last_mut()
                    .ok_or(BodyError::Malformed("part header"))?;
                v.push(' ');
                v.push_str(text.trim());
            } else {
                let (name, value) = text
                    .split_once(':')
                    .ok_or(BodyError::Malformed("part header"))?;
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
            if nl.is_none() {
                // Headers and no blank line: a part without a body.
                return Ok(Part {
                    headers,
                    body: &raw[raw.len()..],
                });
            }
            pos = next;
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

    fn msg(headers: &str, body: &[u8]) -> Message {
        let mut text = format!(
            "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{headers}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        text.extend_from_slice(body);
        Message::parse(&text).expect("parses")
    }

    #[test]
    fn plain_sdp_and_no_body() {
        let m = msg("Content-Type: application/sdp\r\n", SDP.as_bytes());
        assert_eq!(sdp_of(&m), Ok(Some(SDP.as_bytes())));
        let m = msg(
            "Content-Type: Application/SDP ; charset=utf-8\r\n",
            SDP.as_bytes(),
        );
        assert_eq!(sdp_of(&m), Ok(Some(SDP.as_bytes())));
        let m = msg("", SDP.as_bytes());
        assert_eq!(sdp_of(&m), Ok(Some(SDP.as_bytes())), "no Content-Type: SDP");
        let m = msg("Content-Type: application/sdp\r\n", b"");
        assert_eq!(sdp_of(&m), Ok(None));
    }

    #[test]
    fn multipart_mixed_gives_the_sdp_part() {
        let body = format!(
            "This is the preamble.\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1\r\nContent-Type: application/sdp\r\nContent-Disposition: session;handling=required\r\n\r\n{SDP}\r\n--b1--\r\nepilogue, ignored\r\n"
        );
        let m = msg(
            "Content-Type: multipart/mixed;boundary=b1\r\n",
            body.as_bytes(),
        );
        assert_eq!(sdp_of(&m), Ok(Some(SDP.as_bytes())));
    }

    #[test]
    fn quoted_boundary_padding_folding_and_bare_line_feeds() {
        let body = format!(
            "--simple boundary  \n\ncontent without headers is text/plain\n--simple boundary\nContent-Type:\n application/sdp\n\n{SDP}\n--simple boundary--"
        );
        let m = msg(
            "Content-Type: multipart/mixed; boundary=\"simple boundary\"\r\n",
            body.as_bytes(),
        );
        assert_eq!(sdp_of(&m), Ok(Some(SDP.as_bytes())));
    }

    #[test]
    fn missing_close_delimiter_and_look_alike_boundaries() {
        let body = format!(
            "--b2x is not a delimiter\r\n--b2\r\nContent-Type: application/sdp\r\n\r\n{SDP}"
        );
        let m = msg(
            "Content-Type: multipart/mixed; boundary=b2\r\n",
            body.as_bytes(),
        );
        assert_eq!(sdp_of(&m), Ok(Some(SDP.as_bytes())));
    }

    #[test]
    fn nested_multipart_is_searched() {
        let inner = format!("--in\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--in--");
        let body = format!(
            "--out\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n{inner}\r\n--out--\r\n"
        );
        let m = msg(
            "Content-Type: multipart/mixed; boundary=out\r\n",
            body.as_bytes(),
        );
        assert_eq!(sdp_of(&m), Ok(Some(SDP.as_bytes())));
    }

    #[test]
    fn parts_we_cannot_use() {
        // No SDP part, nothing required: no offer.
        let body = "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n";
        let m = msg(
            "Content-Type: multipart/mixed;boundary=b\r\n",
            body.as_bytes(),
        );
        assert_eq!(sdp_of(&m), Ok(None));
        // A required part of a type we do not read: 415.
        let body = format!(
            "--b\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--b\r\nContent-Type: application/isup\r\nContent-Disposition: signal;handling=required\r\n\r\nxx\r\n--b--\r\n"
        );
        let m = msg(
            "Content-Type: multipart/mixed;boundary=b\r\n",
            body.as_bytes(),
        );
        assert_eq!(
            sdp_of(&m),
            Err(BodyError::UnsupportedType("application/isup".into()))
        );
        // An SDP part not meant as the session (disposition render) is not the offer.
        let body = format!(
            "--b\r\nContent-Type: application/sdp\r\nContent-Disposition: render\r\n\r\n{SDP}\r\n--b--\r\n"
        );
        let m = msg(
            "Content-Type: multipart/mixed;boundary=b\r\n",
            body.as_bytes(),
        );
        assert_eq!(sdp_of(&m), Ok(None));
        // An SDP part in base64: not decoded.
        let body = "--b\r\nContent-Type: application/sdp\r\nContent-Transfer-Encoding: base64\r\n\r\ndj0w\r\n--b--\r\n";
        let m = msg(
            "Content-Type: multipart/mixed;boundary=b\r\n",
            body.as_bytes(),
        );
        assert_eq!(
            sdp_of(&m),
            Err(BodyError::UnsupportedEncoding("base64".into()))
        );
    }

    #[test]
    fn malformed_multipart_is_400() {
        let m = msg(
            "Content-Type: multipart/mixed\r\n",
            b"--b\r\n\r\nx\r\n--b--",
        );
        let e = sdp_of(&m).unwrap_err();
        assert_eq!(e, BodyError::Malformed("no boundary parameter"));
        assert_eq!(e.status().0, 400);
        let m = msg(
            "Content-Type: multipart/mixed;boundary=zz\r\n",
            b"no delimiter here",
        );
        assert_eq!(sdp_of(&m), Err(BodyError::Malformed("boundary not found")));
        let m = msg(
            "Content-Type: multipart/mixed;boundary=zz\r\n",
            b"--zz\r\nno colon in this header\r\n\r\nx\r\n--zz--",
        );
        assert_eq!(sdp_of(&m), Err(BodyError::Malformed("part header")));
    }

    #[test]
    fn other_types_and_encodings_are_415() {
        let m = msg("Content-Type: application/x-unknown\r\n", b"stuff");
        let e = sdp_of(&m).unwrap_err();
        assert_eq!(
            e,
            BodyError::UnsupportedType("application/x-unknown".into())
        );
        assert_eq!(e.status().0, 415);
        assert_eq!(e.header(), Some(("Accept", ACCEPT)));
        let r = e.response_to(&m);
        assert_eq!(r.status(), Some(415));
        assert_eq!(r.header("Accept"), Some(ACCEPT));
        let m = msg(
            "Content-Type: multipart/alternative;boundary=b\r\n",
            b"--b--",
        );
        assert!(matches!(sdp_of(&m), Err(BodyError::UnsupportedType(_))));
        let m = msg(
            "Content-Type: application/sdp\r\nContent-Encoding: gzip\r\n",
            SDP.as_bytes(),
        );
        let e = sdp_of(&m).unwrap_err();
        assert_eq!(e, BodyError::UnsupportedEncoding("gzip".into()));
        assert_eq!(e.header(), Some(("Accept-Encoding", "identity")));
        let m = msg(
            "Content-Type: application/sdp\r\nContent-Encoding: identity\r\n",
            SDP.as_bytes(),
        );
        assert_eq!(sdp_of(&m), Ok(Some(SDP.as_bytes())));
    }

    #[test]
    fn rfc4475_mpart01_parts_are_split() {
        let raw = include_bytes!("../../../tests/data/rfc4475/mpart01.dat");
        let m = Message::parse(raw).expect("parses");
        let ty = MediaType::parse(m.content_type().expect("type"));
        let parts =
            split_multipart(&m.body, ty.param("boundary").expect("b").as_bytes()).expect("split");
        assert_eq!(parts.len(), 2);
        let text = Part::parse(parts[0]).expect("part");
        assert_eq!(text.header("content-type"), Some("text/plain"));
        assert_eq!(text.body, b"Hello");
        let sig = Part::parse(parts[1]).expect("part");
        assert_eq!(sig.header("content-type"), Some("application/octet-stream"));
        assert!(sig.body.starts_with(b"0\x82\x01R"), "{:?}", &sig.body[..4]);
        // A body with no SDP part and nothing required: no session description.
        assert_eq!(sdp_of(&m), Ok(None));
    }
}
