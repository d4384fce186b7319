//! `Message`: a SIP request or response as a start line, an ordered header list and a body;
//! header access (compact forms, comma lists), typed accessors, builders and serialisation.
//! Parsing lives in `parser.rs`, semantic checks in `validate.rs`.

use std::borrow::Cow;

use super::grammar::CommaSplit;
use super::headers::{self, Reason};
use super::method::Method;
use super::name_addr::NameAddr;
use super::via::Via;

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD Request-URI SIP/2.0`.
    Request {
        /// The method.
        method: Method,
        /// The Request-URI as written (any scheme).
        uri: String,
    },
    /// `SIP/2.0 code reason`.
    Response {
        /// The status code, 100..=699.
        status: u16,
        /// The reason phrase (may be empty).
        reason: String,
    },
}

/// One header line: the name (canonical full form for known headers, as received otherwise)
/// and the value, unfolded and trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name. Known names borrow their canonical `'static` spelling, so only unknown
    /// headers allocate one.
    pub name: Cow<'static, str>,
    /// Header value.
    pub value: String,
}

impl Header {
    /// A header, its name mapped to the canonical full form when known; CR and LF in the
    /// value are replaced by spaces so a value can never inject a header line.
    pub fn new(name: &str, value: &str) -> Self {
        let value = if memchr::memchr2(b'\r', b'\n', value.as_bytes()).is_some() {
            value.replace(['\r', '\n'], " ")
        } else {
            value.to_string()
        };
        Self {
            name: stored_name(name),
            value,
        }
    }

    /// A header read from a message: as [`Header::new`], for a value the parser already
    /// knows to hold no CR or LF (it split the lines at them).
    pub(super) fn parsed(name: &str, value: &str) -> Self {
        debug_assert!(!value.contains(['\r', '\n']), "unsplit line: {value:?}");
        Self {
            name: stored_name(name),
            value: value.to_string(),
        }
    }
}

/// The name a header is stored under: the canonical full name of a known header, borrowed,
/// or a copy of the name as written.
fn stored_name(name: &str) -> Cow<'static, str> {
    headers::canonical_name(name).map_or_else(|| Cow::Owned(name.to_string()), Cow::Borrowed)
}

impl Header {
    /// True when this header is `name` (a canonical full name or an unknown header's name),
    /// case-insensitively. Compare with [`headers::same_name`] for arbitrary spellings.
    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// The name headers are stored under: the canonical full name of a known header (compact
/// forms and any case resolved), the name itself otherwise.
fn target(name: &str) -> &str {
    headers::canonical_name(name).unwrap_or(name)
}

/// A SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The start line.
    pub start: StartLine,
    /// Headers in wire order, named as [`Header::new`] names them (the accessors rely on
    /// it). Content-Length is kept as received but rewritten by [`Message::to_bytes`].
    pub headers: Vec<Header>,
    /// The body.
    pub body: Vec<u8>,
}

/// Iterates the values of one header line: the whole value, or its comma-list items.
enum Values<'a> {
    Whole(Option<&'a str>),
    List(CommaSplit<'a>),
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        match self {
            Values::Whole(v) => v.take(),
            Values::List(split) => split.by_ref().find(|v| !v.is_empty()),
        }
    }
}

impl Message {
    /// A request with no headers and no body.
    pub fn request(method: Method, uri: &str) -> Message {
        Message {
            start: StartLine::Request {
                method,
                uri: uri.to_string(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A response with no headers and no body.
    pub fn response(status: u16, reason: &str) -> Message {
        Message {
            start: StartLine::Response {
                status,
                reason: reason.to_string(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A response to `req` per RFC 3261 §8.2.6: Via (all, in order), From, To, Call-ID and
    /// CSeq are copied, and Timestamp for a 100. No To tag is added: the caller adds one.
    pub fn response_to(req: &Message, status: u16, reason: &str) -> Message {
        let mut resp = Message::response(status, reason);
        for h in &req.headers {
            let copy = matches!(&*h.name, "Via" | "From" | "To" | "Call-ID" | "CSeq")
                || (status == 100 && h.name == "Timestamp");
            if copy {
                resp.headers.push(h.clone());
            }
        }
        resp
    }

    /// Serialises the message: start line, headers in order under their full names, then a
    /// Content-Length equal to the body length, the empty line and the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                out.extend_from_slice(method.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(uri.as_bytes());
                out.extend_from_slice(b" SIP/2.0\r\n");
            }
            StartLine::Response { status, reason } => {
                out.extend_from_slice(format!("SIP/2.0 {status} {reason}\r\n").as_bytes());
            }
        }
        for h in &self.headers {
            if h.name == "Content-Length" {
                continue;
            }
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// True for a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase of a response.
    pub fn reason_phrase(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    /// The whole value of the first header with this name (any case, compact or full form).
    pub fn header(&self, name: &str) -> Option<&str> {
        let wanted = target(name);
        self.headers
            .iter()
            .find(|h| h.is(wanted))
            .map(|h| h.value.as_str())
    }

    /// Every value of the header, in order: separate header lines, and for list headers
    /// (Via, Contact, Route, Record-Route, Supported, ...) the comma-separated items of each
    /// line. Commas inside quotes or `<...>` do not split. Empty list items are skipped.
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let list = headers::is_list(name);
        let wanted = target(name);
        self.headers
            .iter()
            .filter(move |h| h.is(wanted))
            .flat_map(move |h| {
                if list {
                    Values::List(CommaSplit::new(&h.value))
                } else {
                    Values::Whole(Some(h.value.as_str()))
                }
            })
    }

    /// How many header lines carry this header.
    pub fn header_count(&self, name: &str) -> usize {
        let wanted = target(name);
        self.headers.iter().filter(|h| h.is(wanted)).count()
    }

    /// Replaces the first header with this name by `value` and removes the others; appends
    /// the header when absent.
    pub fn set_header(&mut self, name: &str, value: &str) {
        let wanted = target(name);
        match self.headers.iter().position(|h| h.is(wanted)) {
            Some(i) => {
                self.headers[i] = Header::new(name, value);
                let mut j = 0;
                self.headers.retain(|h| {
                    j += 1;
                    j - 1 == i || !h.is(wanted)
                });
            }
            None => self.headers.push(Header::new(name, value)),
        }
    }

    /// Appends a header.
    pub fn add_header(&mut self, name: &str, value: &str) {
        self.headers.push(Header::new(name, value));
    }

    /// Inserts a header before all others (a new top Via, for instance).
    pub fn insert_header_front(&mut self, name: &str, value: &str) {
        self.headers.insert(0, Header::new(name, value));
    }

    /// Removes every header with this name.
    pub fn remove_header(&mut self, name: &str) {
        let wanted = target(name);
        self.headers.retain(|h| !h.is(wanted));
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, Method)> {
        self.header("CSeq").and_then(headers::parse_cseq)
    }

    /// The From header, parsed.
    pub fn from(&self) -> Option<NameAddr> {
        self.header("From").and_then(|v| NameAddr::parse(v).ok())
    }

    /// The To header, parsed.
    pub fn to(&self) -> Option<NameAddr> {
        self.header("To").and_then(|v| NameAddr::parse(v).ok())
    }

    /// The From tag.
    pub fn from_tag(&self) -> Option<String> {
        self.from().and_then(|n| n.tag().map(str::to_string))
    }

    /// The To tag.
    pub fn to_tag(&self) -> Option<String> {
        self.to().and_then(|n| n.tag().map(str::to_string))
    }

    /// Adds (or replaces) the tag of the To header; does nothing when To is missing or
    /// malformed.
    pub fn set_to_tag(&mut self, tag: &str) {
        if let Some(mut to) = self.to() {
            to.set_tag(tag);
            self.set_header("To", &to.to_string());
        }
    }

    /// The first (topmost) Via value, parsed.
    pub fn top_via(&self) -> Option<Via> {
        self.headers("Via").next().and_then(|v| Via::parse(v).ok())
    }

    /// Every Via value that parses, top first.
    pub fn vias(&self) -> Vec<Via> {
        self.headers("Via")
            .filter_map(|v| Via::parse(v).ok())
            .collect()
    }

    /// Every Contact value that parses (a `*` Contact is skipped).
    pub fn contacts(&self) -> Vec<NameAddr> {
        self.headers("Contact")
            .filter_map(|v| NameAddr::parse(v).ok())
            .collect()
    }

    /// The Content-Type value.
    pub fn content_type(&self) -> Option<&str> {
        self.header("Content-Type")
    }

    /// Max-Forwards, when present and numeric.
    pub fn max_forwards(&self) -> Option<u32> {
        self.header("Max-Forwards")
            .and_then(super::grammar::parse_digits)
            .and_then(|v| u32::try_from(v).ok())
    }

    /// The option tags of a token-list header (Require, Supported, Proxy-Require,
    /// Unsupported, Allow, ...).
    pub fn option_tags<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        self.headers(name).collect()
    }

    /// The option tags of Require (or Proxy-Require, with `name`) that are not in `supported`;
    /// non-empty means the request must be answered 420 with these in Unsupported.
    pub fn unsupported_requires(&self, name: &str, supported: &[&str]) -> Vec<String> {
        self.headers(name)
            .filter(|t| !supported.contains(t))
            .map(str::to_string)
            .collect()
    }

    /// The Reason header values that parse.
    pub fn reasons(&self) -> Vec<Reason> {
        self.headers("Reason").filter_map(Reason::parse).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Message {
        let mut m = Message::request(Method::Invite, "sip:bob@example.com");
        m.add_header(
            "v",
            "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b.example.com;branch=z9hG4bK2",
        );
        m.add_header("Via", "SIP/2.0/UDP c.example.com;branch=z9hG4bK3");
        m.add_header("Max-Forwards", "70");
        m.add_header("f", "\"Alice, A.\" <sip:alice@example.com>;tag=ft");
        m.add_header("t", "<sip:bob@example.com>");
        m.add_header("i", "cid@host");
        m.add_header("CSeq", "7 INVITE");
        m.add_header("Timestamp", "54");
        m.add_header("Contact", "\"x, y\" <sip:a@b>, <sip:c@d;p=1,2>");
        m.add_header("Supported", "100rel, timer");
        m.add_header("Require", "100rel,  foo");
        m.add_header("Date", "Sat, 13 Nov 2010 23:29:00 GMT");
        m.body = b"v=0\r\n".to_vec();
        m
    }

    #[test]
    fn header_access() {
        let m = invite();
        assert_eq!(m.headers[0].name, "Via");
        assert_eq!(m.header("VIA").map(|v| v.len()), Some(84));
        let vias: Vec<_> = m.headers("via").collect();
        assert_eq!(vias.len(), 3);
        assert_eq!(m.top_via().and_then(|v| v.branch), Some("z9hG4bK1".into()));
        assert_eq!(m.vias().len(), 3);
        assert_eq!(m.headers("m").count(), 2);
        assert_eq!(m.contacts()[1].uri, "sip:c@d;p=1,2");
        assert_eq!(m.headers("Date").count(), 1, "Date is not a list");
        assert_eq!(m.call_id(), Some("cid@host"));
        assert_eq!(m.cseq(), Some((7, Method::Invite)));
        assert_eq!(m.from_tag().as_deref(), Some("ft"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.max_forwards(), Some(70));
        assert_eq!(m.option_tags("k"), vec!["100rel", "timer"]);
        assert_eq!(
            m.unsupported_requires("Require", &["100rel", "timer"]),
            vec!["foo".to_string()]
        );
    }

    #[test]
    fn header_editing() {
        let mut m = invite();
        m.set_header("Via", "SIP/2.0/UDP only;branch=z9hG4bKx");
        assert_eq!(m.header_count("v"), 1);
        assert_eq!(m.headers[0].name, "Via", "replaced in place");
        m.insert_header_front("Via", "SIP/2.0/UDP top;branch=z9hG4bKt");
        assert_eq!(m.top_via().map(|v| v.host), Some("top".into()));
        m.remove_header("via");
        assert_eq!(m.header("Via"), None);
        m.set_header("X-New", "a\r\nInjected: yes");
        assert_eq!(m.header("x-new"), Some("a  Injected: yes"));
        m.set_to_tag("tt");
        assert_eq!(m.to_tag().as_deref(), Some("tt"));
    }

    #[test]
    fn response_to_copies_rfc3261_headers() {
        let req = invite();
        let r = Message::response_to(&req, 100, "Trying");
        let names: Vec<_> = r.headers.iter().map(|h| &*h.name).collect();
        assert_eq!(
            names,
            ["Via", "Via", "From", "To", "Call-ID", "CSeq", "Timestamp"]
        );
        assert_eq!(r.status(), Some(100));
        assert_eq!(r.to_tag(), None);
        let r = Message::response_to(&req, 486, "Busy Here");
        assert!(r.header("Timestamp").is_none());
        assert_eq!(r.reason_phrase(), Some("Busy Here"));
        assert!(!r.is_request() && r.method().is_none() && r.request_uri().is_none());
    }

    #[test]
    fn serialisation_round_trip() {
        let mut m = invite();
        m.add_header("l", "999");
        let bytes = m.to_bytes();
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert!(
            text.starts_with(
                "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a.example.com"
            )
        );
        assert!(text.contains("\r\nFrom: \"Alice, A.\""));
        assert!(text.ends_with("Content-Length: 5\r\n\r\nv=0\r\n"));
        assert_eq!(text.matches("Content-Length").count(), 1);
        let back = Message::parse(&bytes).expect("parse back");
        assert_eq!(back.start, m.start);
        assert_eq!(back.body, m.body);
        let mut expected = m.headers.clone();
        expected.retain(|h| h.name != "Content-Length");
        expected.push(Header::new("Content-Length", "5"));
        assert_eq!(back.headers, expected);
        assert_eq!(Message::parse(&back.to_bytes()).expect("again"), back);
    }
}
