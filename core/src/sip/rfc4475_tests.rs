//! RFC 4475 torture tests: every message of §3.1.1 (valid), §3.1.2 (invalid), §3.2 and §3.3
//! (application semantics) and §3.4, read byte-exact from `tests/data/rfc4475/`.

use super::*;

macro_rules! data {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/data/rfc4475/", $name, ".dat")).as_slice()
    };
}

fn ok(buf: &[u8]) -> Message {
    let m = Message::parse(buf).unwrap_or_else(|e| panic!("parse failed: {e}"));
    if let Err(e) = m.validate() {
        panic!("validate failed: {e}");
    }
    m
}

fn via_branches(m: &Message) -> Vec<Option<String>> {
    m.vias().into_iter().map(|v| v.branch).collect()
}

/// Parse, serialise, parse again: same start line, same headers (Content-Length aside), same body.
fn round_trip(m: &Message) {
    let again = Message::parse(&m.to_bytes()).expect("reparse");
    assert_eq!(again.start, m.start);
    assert_eq!(again.body, m.body);
    let strip = |h: &[Header]| {
        h.iter()
            .filter(|h| h.name != "Content-Length")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&again.headers), strip(&m.headers));
    assert_eq!(
        again.header("Content-Length"),
        Some(m.body.len().to_string().as_str())
    );
}

#[test]
fn s3_1_1_1_wsinv() {
    let m = ok(data!("wsinv"));
    assert_eq!(m.method(), Some(&Method::Invite));
    assert_eq!(
        m.request_uri(),
        Some("sip:vivekg@chair-dnrc.example.com;unknownparam")
    );
    assert_eq!(m.call_id(), Some("wsinv.ndaksdj@192.0.2.1"));
    assert_eq!(m.cseq(), Some((9, Method::Invite)));
    assert_eq!(m.max_forwards(), Some(68));
    assert_eq!(
        via_branches(&m),
        ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"].map(|b| Some(b.to_string()))
    );
    let vias = m.vias();
    assert_eq!(
        (vias[1].transport.as_str(), vias[1].host.as_str()),
        ("TCP", "spindle.example.com")
    );
    assert_eq!(vias[2].host, "192.168.255.111");
    assert_eq!(m.top_via().and_then(|v| v.rport), None);
    let from = m.from().expect("from");
    assert_eq!(from.display.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(m.to_tag().as_deref(), Some("1918181833n"));
    assert_eq!(
        m.to().map(|t| t.uri),
        Some("sip:vivekg@chair-dnrc.example.com".into())
    );
    assert_eq!(m.header("Subject"), Some(""));
    assert_eq!(
        m.header("newfangledheader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(m.header("UnknownHeaderWithUnusualValue"), Some(";;,,;;,;"));
    assert_eq!(
        m.headers("UnknownHeaderWithUnusualValue").count(),
        1,
        "unknown headers never split"
    );
    let contact = &m.contacts()[0];
    assert_eq!(contact.display.as_deref(), Some("Quoted string \"\""));
    assert_eq!(contact.param("newparam"), Some(Some("newvalue")));
    assert_eq!(contact.param("secondparam"), Some(None));
    assert_eq!(contact.param("q"), Some(Some("0.33")));
    let route = SipUri::parse(
        &NameAddr::parse(m.header("Route").expect("route"))
            .expect("na")
            .uri,
    )
    .expect("uri");
    assert_eq!(route.param("unknownwith"), Some(Some("value")));
    assert!(route.is_loose_route());
    assert_eq!(m.content_type(), Some("application/sdp"));
    assert_eq!(m.body.len(), 150);
    round_trip(&m);
}

#[test]
fn s3_1_1_2_intmeth() {
    let m = ok(data!("intmeth"));
    let method = "!interesting-Method0123456789_*+`.%indeed'~";
    assert_eq!(m.method(), Some(&Method::Other(method.into())));
    assert_eq!(m.cseq(), Some((139122385, Method::Other(method.into()))));
    assert_eq!(
        m.call_id(),
        Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    );
    assert_eq!(
        m.top_via().and_then(|v| v.branch).as_deref(),
        Some("z9hG4bK-.!%66*_+`'~")
    );
    let ruri = SipUri::parse(m.request_uri().expect("ruri")).expect("sip uri");
    assert_eq!(
        ruri.user.as_deref(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        ruri.password.as_deref(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(ruri.host, "example.com");
    let to = m.to().expect("to");
    assert_eq!(to.display.as_deref(), Some("BEL:\x07 NUL:\0 DEL:\x7f"));
    assert_eq!(m.to_tag(), None);
    let from = m.from().expect("from");
    assert_eq!(
        from.display.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(
        from.param("fromParam''~+*_!.-%"),
        Some(Some("\"работающий\""))
    );
    assert_eq!(m.from_tag().as_deref(), Some("_token~1'+`*%!-."));
    assert_eq!(m.max_forwards(), Some(255));
    assert_eq!(
        m.header("extensionHeader-!.%*+_`'~"),
        Some("\u{feff}大停電")
    );
    round_trip(&m);
}

#[test]
fn s3_1_1_3_esc01() {
    let m = ok(data!("esc01"));
    let ruri = SipUri::parse(m.request_uri().expect("ruri")).expect("uri");
    assert_eq!(ruri.user.as_deref(), Some("sips%3Auser%40example.com"));
    assert_eq!(
        ruri.user_decoded().as_deref(),
        Some(&b"sips:user@example.com"[..])
    );
    assert_eq!(ruri.host, "example.net");
    let to = SipUri::parse(&m.to().expect("to").uri).expect("uri");
    assert_eq!(to.user_decoded().as_deref(), Some(&b"user"[..]));
    let from = SipUri::parse(&m.from().expect("from").uri).expect("uri");
    assert_eq!(from.user_decoded().as_deref(), Some(&b"I have spaces"[..]));
    assert_eq!(m.from_tag().as_deref(), Some("938"));
    assert_eq!(m.call_id(), Some("esc01.239409asdfakjkn23onasd0-3234"));
    assert_eq!(m.cseq(), Some((234234, Method::Invite)));
    assert_eq!(m.content_type(), Some("application/sdp"));
    let contact = SipUri::parse(&m.contacts()[0].uri).expect("contact");
    assert_eq!(contact.param("%6C%72"), Some(None));
    assert_eq!(contact.param("n%61me"), Some(Some("v%61lue%25%34%31")));
    assert_eq!(via_branches(&m), [Some("z9hG4bKkdjuw".to_string())]);
    assert_eq!(m.body.len(), 150);
    round_trip(&m);
}

#[test]
fn s3_1_1_4_escnull() {
    let m = ok(data!("escnull"));
    assert_eq!(m.method(), Some(&Method::Register));
    assert_eq!(
        m.call_id(),
        Some("escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd")
    );
    assert_eq!(m.cseq(), Some((14398234, Method::Register)));
    let to = SipUri::parse(&m.to().expect("to").uri).expect("uri");
    assert_eq!(to.user_decoded().as_deref(), Some(&b"null-\0-null"[..]));
    assert_eq!(m.from_tag().as_deref(), Some("839923423"));
    let users: Vec<_> = m
        .contacts()
        .iter()
        .map(|c| SipUri::parse(&c.uri).expect("uri").user)
        .collect();
    assert_eq!(users, [Some("%00".to_string()), Some("%00%00".to_string())]);
    assert!(m.body.is_empty());
    round_trip(&m);
}

#[test]
fn s3_1_1_5_esc02() {
    let m = ok(data!("esc02"));
    assert_eq!(m.method(), Some(&Method::Other("RE%47IST%45R".into())));
    assert_eq!(
        m.cseq(),
        Some((29344, Method::Other("RE%47IST%45R".into())))
    );
    assert_eq!(m.to().and_then(|t| t.display).as_deref(), Some("%Z%45"));
    assert_eq!(m.from_tag().as_deref(), Some("f232jadfj23"));
    assert_eq!(
        m.top_via().and_then(|v| v.branch).as_deref(),
        Some("z9hG4bK209%fzsnel234")
    );
    assert_eq!(m.contacts().len(), 2, "C%6Fntact is not Contact");
    assert_eq!(
        m.header("C%6Fntact"),
        Some("<sip:alias2@host2.example.com>")
    );
    round_trip(&m);
}

#[test]
fn s3_1_1_6_lwsdisp() {
    let m = ok(data!("lwsdisp"));
    let from = m.from().expect("from");
    assert_eq!(from.display.as_deref(), Some("caller"));
    assert_eq!(from.tag(), Some("323"));
    assert_eq!(m.call_id(), Some("lwsdisp.1234abcd@funky.example.com"));
    assert_eq!(m.cseq(), Some((60, Method::Options)));
    round_trip(&m);
}

#[test]
fn s3_1_1_7_longreq() {
    let m = ok(data!("longreq"));
    let to = m.to().expect("to");
    assert_eq!(
        to.display,
        Some(format!(
            "I have a user name of {} proportion",
            "extreme".repeat(10)
        ))
    );
    let to_uri = SipUri::parse(&to.uri).expect("uri");
    assert_eq!(to_uri.port, Some(6000));
    assert_eq!(to_uri.params.len(), 3);
    assert_eq!(m.from_tag(), Some(format!("12{}424", "982".repeat(50))));
    assert_eq!(
        m.call_id(),
        Some(format!("longreq.one{}longcallid", "really".repeat(20)).as_str())
    );
    assert_eq!(m.cseq(), Some((3882340, Method::Invite)));
    let vias = m.vias();
    assert_eq!(vias.len(), 34);
    assert_eq!(vias[0].host, "sip33.example.com");
    assert_eq!(vias[21].host, "sip12.example.com");
    assert_eq!(vias[33].received.as_deref(), Some("192.0.2.5"));
    assert_eq!(
        vias[33].branch,
        Some(format!("very{}branchvalue", "long".repeat(50)))
    );
    let unknown = format!("Unknown-{}-Name", "Long".repeat(20));
    assert!(
        m.header(&unknown)
            .is_some_and(|v| v.starts_with("unknown-long"))
    );
    assert_eq!(m.body.len(), 150);
    round_trip(&m);
}

#[test]
fn s3_1_1_8_dblreq() {
    let m = ok(data!("dblreq"));
    assert_eq!(m.method(), Some(&Method::Register));
    assert_eq!(m.call_id(), Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412"));
    assert_eq!(m.cseq(), Some((8, Method::Register)));
    assert_eq!(via_branches(&m), [Some("z9hG4bKkdjuw23492".to_string())]);
    assert!(
        m.body.is_empty(),
        "the second request is not part of this one"
    );
    assert_eq!(m.header_count("To"), 1);
}

#[test]
fn s3_1_1_9_semiuri() {
    let m = ok(data!("semiuri"));
    let ruri = SipUri::parse(m.request_uri().expect("ruri")).expect("uri");
    assert_eq!(ruri.user.as_deref(), Some("user;par=u%40example.net"));
    assert_eq!(ruri.host, "example.com");
    assert!(ruri.params.is_empty());
    assert_eq!(m.headers("Accept").count(), 6);
    assert_eq!(m.from_tag().as_deref(), Some("33242"));
    round_trip(&m);
}

#[test]
fn s3_1_1_10_transports() {
    let m = ok(data!("transports"));
    let t: Vec<_> = m.vias().into_iter().map(|v| v.transport).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(m.call_id(), Some("transports.kijh4akdnaqjkwendsasfdj"));
    assert_eq!(
        m.top_via().and_then(|v| v.branch).as_deref(),
        Some("z9hG4bKkdjuw")
    );
    round_trip(&m);
}

#[test]
fn s3_1_1_11_mpart01() {
    let m = ok(data!("mpart01"));
    assert_eq!(m.method(), Some(&Method::Message));
    let via = m.top_via().expect("via");
    assert_eq!(
        (via.host.as_str(), via.port, via.rport),
        ("127.0.0.1", Some(5070), Some(None))
    );
    assert_eq!(
        via.branch.as_deref(),
        Some("z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-")
    );
    assert_eq!(
        m.call_id(),
        Some("3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..")
    );
    assert_eq!(m.from_tag().as_deref(), Some("2fb0dcc9"));
    assert_eq!(
        m.content_type(),
        Some("multipart/mixed;boundary=7a9cbec02ceef655")
    );
    assert_eq!(m.body.len(), 553);
    assert!(m.body.starts_with(b"--7a9cbec02ceef655\r\n"));
    assert!(m.body.ends_with(b"--7a9cbec02ceef655--\r\n"));
    round_trip(&m);
}

#[test]
fn s3_1_1_12_unreason() {
    let m = ok(data!("unreason"));
    assert_eq!(m.status(), Some(200));
    assert_eq!(
        m.reason_phrase(),
        Some("= 2**3 * 5**2 но сто девяносто девять - простое")
    );
    assert_eq!(m.call_id(), Some("unreason.1234ksdfak3j2erwedfsASdf"));
    assert_eq!(m.cseq(), Some((35, Method::Invite)));
    assert_eq!(
        (m.from_tag().as_deref(), m.to_tag().as_deref()),
        (Some("11141343"), Some("2229"))
    );
    assert_eq!(m.body.len(), 154);
    round_trip(&m);
}

#[test]
fn s3_1_1_13_noreason() {
    let m = ok(data!("noreason"));
    assert_eq!(m.status(), Some(100));
    assert_eq!(m.reason_phrase(), Some(""));
    assert_eq!(m.to_tag().as_deref(), Some("902jndnke3"));
    assert_eq!(
        m.top_via().and_then(|v| v.branch).as_deref(),
        Some("z9hG4bK2398ndaoe")
    );
    round_trip(&m);
}

/// Where an invalid message is caught.
enum Caught {
    /// The parser refuses it with this status and reason.
    Parse(u16, &'static str),
    /// It parses, and `validate` refuses it with this reason.
    Validate(&'static str),
}

fn check_invalid(name: &str, buf: &[u8], call_id: &str, caught: Caught) {
    match (Message::parse(buf), caught) {
        (Err(e), Caught::Parse(status, reason)) => {
            assert_eq!((e.status(), e.reason()), (status, reason), "{name}");
            if let Some(p) = e.partial() {
                assert_eq!(
                    p.call_id(),
                    Some(call_id),
                    "{name}: partial message keeps the headers"
                );
                assert!(p.is_request(), "{name}");
            }
        }
        (Ok(m), Caught::Validate(reason)) => {
            assert_eq!(m.call_id(), Some(call_id), "{name}");
            let e = m.validate().expect_err(name);
            assert_eq!((e.status(), e.reason()), (400, reason), "{name}");
        }
        (Ok(_), Caught::Parse(..)) => panic!("{name}: parsed but should not"),
        (Err(e), Caught::Validate(_)) => panic!("{name}: parse failed: {e}"),
    }
}

#[test]
fn s3_1_2_invalid_messages() {
    use Caught::*;
    let cases: [(&str, &[u8], &str, Caught); 19] = [
        (
            "badinv01",
            data!("badinv01"),
            "badinv01.0ha0isndaksdjasdf3234nas",
            Validate("Malformed Via header: Empty parameter"),
        ),
        (
            "clerr",
            data!("clerr"),
            "clerr.0ha0isndaksdjweiafasdk3",
            Parse(400, "Content-Length larger than body"),
        ),
        (
            "ncl",
            data!("ncl"),
            "ncl.0ha0isndaksdj2193423r542w35",
            Parse(400, "Malformed Content-Length"),
        ),
        (
            "scalar02",
            data!("scalar02"),
            "scalar02.23o0pd9vanlq3wnrlnewofjas9ui32",
            Validate("Malformed CSeq header"),
        ),
        (
            "scalarlg",
            data!("scalarlg"),
            "scalarlg.noase0of0234hn2qofoaf0232aewf2394r",
            Validate("Malformed CSeq header"),
        ),
        (
            "quotbal",
            data!("quotbal"),
            "quotbal.aksdj",
            Validate("Malformed To header: Unterminated quoted string"),
        ),
        (
            "ltgtruri",
            data!("ltgtruri"),
            "ltgtruri.1@192.0.2.5",
            Parse(400, "Malformed Request-URI"),
        ),
        (
            "lwsruri",
            data!("lwsruri"),
            "lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423",
            Parse(400, "Malformed Request-Line"),
        ),
        (
            "lwsstart",
            data!("lwsstart"),
            "lwsstart.dfknq234oi243099adsdfnawe3@example.com",
            Parse(400, "Malformed Request-Line"),
        ),
        (
            "trws",
            data!("trws"),
            "trws.oicu34958239neffasdhr2345r",
            Parse(400, "Malformed Request-Line"),
        ),
        (
            "escruri",
            data!("escruri"),
            "escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5",
            Validate("Request-URI with headers"),
        ),
        (
            "baddate",
            data!("baddate"),
            "baddate.239423mnsadf3j23lj42--sedfnm234",
            Validate("Malformed Date header"),
        ),
        (
            "regbadct",
            data!("regbadct"),
            "regbadct.k345asrl3fdbv@10.0.0.1",
            Validate("Malformed Contact header: URI with '?' or ',' must be enclosed in <>"),
        ),
        (
            "badaspec",
            data!("badaspec"),
            "badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3",
            Validate("Malformed To header: Whitespace inside <>"),
        ),
        (
            "baddn",
            data!("baddn"),
            "baddn.31415@c.example.com",
            Validate("Malformed From header: Malformed display name"),
        ),
        (
            "badvers",
            data!("badvers"),
            "badvers.31417@c.example.com",
            Parse(505, "Version Not Supported"),
        ),
        (
            "mismatch01",
            data!("mismatch01"),
            "mismatch01.dj0234sxdfl3",
            Validate("CSeq method does not match"),
        ),
        (
            "mismatch02",
            data!("mismatch02"),
            "mismatch02.dj0234sxdfl3",
            Validate("CSeq method does not match"),
        ),
        (
            "bigcode",
            data!("bigcode"),
            "bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i",
            Parse(400, "Malformed Status-Line"),
        ),
    ];
    for (name, buf, call_id, caught) in cases {
        check_invalid(name, buf, call_id, caught);
    }
}

#[test]
fn s3_1_2_partial_messages_can_be_answered() {
    for buf in [data!("clerr"), data!("lwsstart"), data!("badvers")] {
        let e = Message::parse(buf).expect_err("invalid");
        let req = e.partial().expect("partial");
        let resp = Message::response_to(req, e.status(), e.reason());
        assert_eq!(resp.call_id(), req.call_id());
        assert_eq!(resp.top_via(), req.top_via());
        assert_eq!(resp.cseq(), req.cseq());
    }
}

#[test]
fn s3_2_1_badbranch() {
    let m = ok(data!("badbranch"));
    let via = m.top_via().expect("via");
    assert_eq!(via.branch.as_deref(), Some("z9hG4bK"));
    assert_eq!(
        via.rfc3261_branch(),
        None,
        "the bare cookie is not an RFC 3261 branch"
    );
}

#[test]
fn s3_3_application_semantics() {
    // 3.3.1: missing mandatory headers
    let e = Message::parse(data!("insuf"))
        .expect("parses")
        .validate()
        .expect_err("insuf");
    assert_eq!(e.reason(), "Missing To header");
    // 3.3.2, 3.3.3: unknown schemes in the Request-URI parse; the TU answers 416
    for buf in [data!("unkscm"), data!("novelsc")] {
        let m = ok(buf);
        assert_eq!(
            SipUri::parse(m.request_uri().expect("ruri")),
            Err(UriError::UnsupportedScheme)
        );
    }
    // 3.3.4: unknown schemes in headers
    let m = ok(data!("unksm2"));
    assert_eq!(m.to().map(|t| t.uri), Some("isbn:2983792873".into()));
    assert_eq!(
        m.from().map(|t| t.uri),
        Some("http://www.example.com".into())
    );
    assert_eq!(m.contacts()[0].uri, "name:John_Smith");
    // 3.3.5: Require / Proxy-Require
    let m = ok(data!("bext01"));
    assert_eq!(
        m.unsupported_requires("Require", &["100rel"]),
        ["nothingSupportsThis", "nothingSupportsThisEither"]
    );
    assert_eq!(
        m.option_tags("Proxy-Require"),
        ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
    );
    // 3.3.6: unknown Content-Type
    let m = ok(data!("invut"));
    assert_eq!(m.content_type(), Some("application/unknownformat"));
    assert_eq!(m.body, b"<audio>\r\n <pcmu port=\"443\"/>\r\n</audio>\r\n");
    // 3.3.7: unknown authorization scheme
    let m = ok(data!("regaut01"));
    assert_eq!(
        m.header("Authorization"),
        Some("NoOneKnowsThisScheme opaque-data=here")
    );
    // 3.3.8: several values in single-value headers
    let e = Message::parse(data!("multi01"))
        .expect("parses")
        .validate()
        .expect_err("multi01");
    assert_eq!(e.reason(), "Multiple To headers");
    // 3.3.9: several Content-Length values
    let e = Message::parse(data!("mcl01")).expect_err("mcl01");
    assert_eq!(e.reason(), "Multiple Content-Length headers");
    // 3.3.10: broadcast Via in a response
    let m = ok(data!("bcast"));
    assert_eq!(m.vias()[1].host, "255.255.255.255");
    // 3.3.11: Max-Forwards of zero
    assert_eq!(ok(data!("zeromf")).max_forwards(), Some(0));
    // 3.3.12 / 3.3.13: Contact parameter vs URI parameter
    let c = ok(data!("cparam01")).contacts().remove(0);
    assert_eq!(
        (c.uri.as_str(), c.param("unknownparam")),
        ("sip:+19725552222@gw1.example.net", Some(None))
    );
    let c = ok(data!("cparam02")).contacts().remove(0);
    assert!(c.params.is_empty());
    assert_eq!(
        SipUri::parse(&c.uri).expect("uri").param("unknownparam"),
        Some(None)
    );
    // 3.3.14: escaped header in a Contact URI
    let c = ok(data!("regescrt")).contacts().remove(0);
    let uri = SipUri::parse(&c.uri).expect("uri");
    assert_eq!(
        uri.headers,
        [("Route".to_string(), "%3Csip:sip.example.com%3E".to_string())]
    );
    assert_eq!(pct_decode(&uri.headers[0].1), b"<sip:sip.example.com>");
    // 3.3.15: unacceptable Accept
    assert_eq!(
        ok(data!("sdp01")).header("Accept"),
        Some("text/nobodyKnowsThis")
    );
}

#[test]
fn s3_4_inv2543() {
    let m = Message::parse(data!("inv2543")).expect("parses");
    assert_eq!(m.call_id(), Some("inv2543.1717@ift.client.example.com"));
    assert_eq!(m.top_via().map(|v| v.branch), Some(None));
    assert_eq!(
        m.body.len(),
        105,
        "no Content-Length on UDP: the rest of the datagram"
    );
    assert_eq!(
        m.validate().expect_err("no Max-Forwards").reason(),
        "Missing Max-Forwards header"
    );
}
