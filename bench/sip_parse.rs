//! SIP message benches: `Message::parse` on the datagrams the gateway really
//! receives (an INVITE with SDP as SIPp sends it, a 200 OK with SDP, an
//! in-dialog BYE, and RFC 4475 §3.1.1.1 `wsinv`, the folded, compact,
//! whitespace-heavy torture INVITE), and building and serialising the 200 OK
//! answering a parsed INVITE the way `engine::sip_in` does. Each sits next to
//! a naive baseline in the same group (a line splitter into owned
//! `Vec<(String, String)>` headers; `format!`-built output) so results read as
//! ratios. One iteration is one message: the mean time is ns/message.
//! Run with `cargo bench --bench sip_parse`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mediagw::sip::{Message, StartLine};

/// The SDP offer of the project's SIPp scenarios (`loadtest/sipp/uac_wait_bye.xml`).
const OFFER_SDP: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 10.0.0.9\r\n\
s=-\r\n\
c=IN IP4 10.0.0.9\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n";

/// The SDP answer of a carrier's 200 OK to one of the gateway's INVITEs.
const ANSWER_SDP: &str = "v=0\r\n\
o=- 3919455602 3919455603 IN IP4 10.20.0.1\r\n\
s=SBC\r\n\
c=IN IP4 10.20.0.1\r\n\
t=0 0\r\n\
m=audio 31544 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// The answer the gateway puts in its own 200 OK (the serialisation bench).
const OUR_ANSWER_SDP: &str = "v=0\r\n\
o=mediagw 1764072000 1764072000 IN IP4 10.0.0.5\r\n\
s=mediagw\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 20000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// As in `engine::sip_out::ALLOW` (not public).
const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";
const OUR_CONTACT: &str = "<sip:mediagw@10.0.0.5:5060>";
const OUR_TAG: &str = "3f9c2a7be1d04c58";

/// A head (lines joined with CRLF, then the empty line) plus a body. SIPp pads
/// `[len]` to five columns, so Content-Length is written the same way.
fn datagram(head: &[&str], body: &str) -> Vec<u8> {
    let mut s = String::new();
    for line in head {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str(&format!("Content-Length: {:>5}\r\n\r\n", body.len()));
    s.push_str(body);
    s.into_bytes()
}

/// SIPp's INVITE from `uac_wait_bye.xml`, placeholders expanded as SIPp does.
fn sipp_invite() -> Vec<u8> {
    datagram(
        &[
            "INVITE sip:ivr@10.0.0.5:5060 SIP/2.0",
            "Via: SIP/2.0/UDP 10.0.0.9:5061;branch=z9hG4bK-4242-1-0",
            "From: sipp <sip:sipp@10.0.0.9:5061>;tag=4242SIPpTag001",
            "To: <sip:ivr@10.0.0.5:5060>",
            "Call-ID: 1-4242@10.0.0.9",
            "CSeq: 1 INVITE",
            "Contact: <sip:sipp@10.0.0.9:5061>",
            "Max-Forwards: 70",
            "Subject: mediagw test",
            "Content-Type: application/sdp",
        ],
        OFFER_SDP,
    )
}

/// A carrier's 200 OK to an outbound INVITE of the gateway.
fn ok_200_sdp() -> Vec<u8> {
    datagram(
        &[
            "SIP/2.0 200 OK",
            "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK5d1c0e7a93f1b2c4d6e8;rport=5060;received=10.0.0.5",
            "Record-Route: <sip:10.20.0.1;lr;ftag=8d2f61c0a4b93e75>",
            "From: <sip:1001@10.0.0.5>;tag=8d2f61c0a4b93e75",
            "To: <sip:95588@10.20.0.1:5060>;tag=as6b1e07f2",
            "Call-ID: 9a4c1f0e2b7d46a8c3e5f1a9b0d2c4e6@10.0.0.5",
            "CSeq: 1 INVITE",
            "Contact: <sip:95588@10.20.0.1:5060;transport=udp>",
            "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, UPDATE, INFO",
            "Supported: replaces, timer",
            "Server: SBC/4.2",
            "Content-Type: application/sdp",
        ],
        ANSWER_SDP,
    )
}

/// SIPp hanging up the call the INVITE above set up.
fn sipp_bye() -> Vec<u8> {
    datagram(
        &[
            "BYE sip:mediagw@10.0.0.5:5060 SIP/2.0",
            "Via: SIP/2.0/UDP 10.0.0.9:5061;branch=z9hG4bK-4242-1-5",
            "From: sipp <sip:sipp@10.0.0.9:5061>;tag=4242SIPpTag001",
            "To: <sip:ivr@10.0.0.5:5060>;tag=3f9c2a7be1d04c58",
            "Call-ID: 1-4242@10.0.0.9",
            "CSeq: 2 BYE",
            "Contact: <sip:sipp@10.0.0.9:5061>",
            "Max-Forwards: 70",
            "Subject: mediagw test",
        ],
        "",
    )
}

/// RFC 4475 §3.1.1.1, byte-exact: folding, compact forms, LWS everywhere.
const WSINV: &[u8] = include_bytes!("../tests/data/rfc4475/wsinv.dat");

// ---------------------------------------------------------------------------
// BASELINE: a naive parser and serialiser, written the obvious way. Not used by
// the gateway; it is here only to be measured next to `Message`.
// ---------------------------------------------------------------------------

/// What the naive parser produces: the three start-line parts and every header
/// as an owned `(name, value)` pair, all copied.
struct NaiveMessage {
    start: [String; 3],
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// BASELINE parser: splits the head at the empty line, the start line at spaces,
/// each header line at its first colon (name and value trimmed and copied),
/// appends folded continuation lines to the previous value, and takes the body
/// by Content-Length (full or compact name, any case), the rest when absent.
fn naive_parse(buf: &[u8]) -> Option<NaiveMessage> {
    let (head_len, body_start) = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (i, i + 4),
        None => {
            let i = buf.windows(2).position(|w| w == b"\n\n")?;
            (i, i + 2)
        }
    };
    let head = std::str::from_utf8(&buf[..head_len]).ok()?;
    let mut lines = head.lines();
    let mut parts = lines.next()?.splitn(3, ' ').map(str::to_string);
    let start = [parts.next()?, parts.next()?, parts.next()?];
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers.last_mut()?;
            value.push(' ');
            value.push_str(line.trim());
        } else {
            let (name, value) = line.split_once(':')?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let rest = &buf[body_start..];
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length") || n.eq_ignore_ascii_case("l"))
        .map(|(_, v)| v.parse::<usize>())
        .transpose()
        .ok()?
        .unwrap_or(rest.len());
    Some(NaiveMessage {
        start,
        headers,
        body: rest.get(..len)?.to_vec(),
    })
}

/// BASELINE serialiser: `format!` per line into a `String`.
fn naive_to_bytes(m: &NaiveMessage) -> Vec<u8> {
    let mut out = format!("{} {} {}\r\n", m.start[0], m.start[1], m.start[2]);
    for (name, value) in &m.headers {
        if !name.eq_ignore_ascii_case("Content-Length") {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", m.body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(&m.body);
    out
}

/// BASELINE response builder: copies Via, From, To, Call-ID and CSeq, appends
/// the To tag with `format!`, adds Contact, Allow, Content-Type and the body.
fn naive_response_to(req: &NaiveMessage, status: u16, reason: &str) -> NaiveMessage {
    let mut headers = Vec::new();
    for (name, value) in &req.headers {
        if ["Via", "From", "To", "Call-ID", "CSeq"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            let value = if name.eq_ignore_ascii_case("To") {
                format!("{value};tag={OUR_TAG}")
            } else {
                value.clone()
            };
            headers.push((name.clone(), value));
        }
    }
    headers.push(("Contact".to_string(), OUR_CONTACT.to_string()));
    headers.push(("Allow".to_string(), ALLOW.to_string()));
    headers.push(("Content-Type".to_string(), "application/sdp".to_string()));
    NaiveMessage {
        start: [
            "SIP/2.0".to_string(),
            status.to_string(),
            reason.to_string(),
        ],
        headers,
        body: OUR_ANSWER_SDP.as_bytes().to_vec(),
    }
}

// ---------------------------------------------------------------------------
// Ours.
// ---------------------------------------------------------------------------

/// The 200 OK the gateway answers an INVITE with (`engine::sip_in`, answer path).
fn our_200_ok(req: &Message) -> Vec<u8> {
    let mut r = Message::response_to(req, 200, "OK");
    r.set_to_tag(OUR_TAG);
    r.add_header("Contact", OUR_CONTACT);
    r.add_header("Allow", ALLOW);
    r.add_header("Content-Type", "application/sdp");
    r.body = OUR_ANSWER_SDP.as_bytes().to_vec();
    r.to_bytes()
}

fn bench_parse(c: &mut Criterion) {
    let messages: [(&str, Vec<u8>); 4] = [
        ("sip_parse_invite_sdp", sipp_invite()),
        ("sip_parse_200_ok_sdp", ok_200_sdp()),
        ("sip_parse_bye", sipp_bye()),
        ("sip_parse_rfc4475_wsinv", WSINV.to_vec()),
    ];
    // Sanity: both parsers accept every message and agree on its shape.
    for (name, buf) in &messages {
        let ours = Message::parse(buf).unwrap_or_else(|e| panic!("{name}: {e}"));
        ours.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        let naive = naive_parse(buf).unwrap_or_else(|| panic!("{name}: naive parse failed"));
        assert_eq!(ours.headers.len(), naive.headers.len(), "{name}: headers");
        assert_eq!(ours.body, naive.body, "{name}: body");
        assert_eq!(
            matches!(ours.start, StartLine::Response { .. }),
            naive.start[0] == "SIP/2.0",
            "{name}: start line"
        );
    }

    for (name, buf) in &messages {
        let mut g = c.benchmark_group(*name);
        g.throughput(Throughput::Elements(1));
        g.bench_function("naive_baseline", |b| b.iter(|| naive_parse(black_box(buf))));
        g.bench_function("ours", |b| b.iter(|| Message::parse(black_box(buf))));
        g.finish();
    }
}

fn bench_build(c: &mut Criterion) {
    let buf = sipp_invite();
    let ours = Message::parse(&buf).expect("INVITE parses");
    let naive = naive_parse(&buf).expect("INVITE parses naively");
    // Sanity: both builders produce a 200 OK that parses back to the same shape.
    let a = Message::parse(&our_200_ok(&ours)).expect("our 200 OK parses");
    let b = Message::parse(&naive_to_bytes(&naive_response_to(&naive, 200, "OK")))
        .expect("naive 200 OK parses");
    assert_eq!(a.headers, b.headers);
    assert_eq!(a.body, b.body);
    assert_eq!(a.to_tag().as_deref(), Some(OUR_TAG));

    let mut g = c.benchmark_group("sip_build_200_ok_sdp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("naive_baseline", |b| {
        b.iter(|| naive_to_bytes(&naive_response_to(black_box(&naive), 200, "OK")))
    });
    g.bench_function("ours", |b| b.iter(|| our_200_ok(black_box(&ours))));
    g.finish();

    let mut g = c.benchmark_group("sip_to_bytes_invite_sdp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("naive_baseline", |b| {
        b.iter(|| naive_to_bytes(black_box(&naive)))
    });
    g.bench_function("ours", |b| b.iter(|| black_box(&ours).to_bytes()));
    g.finish();
}

criterion_group!(benches, bench_parse, bench_build);
criterion_main!(benches);
