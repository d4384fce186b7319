//! The engine driven without sockets or sleeps: datagrams, API frames and a hand-moved
//! clock in, SIP datagrams and client frames out.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Gateway, Output};
use crate::api::jsonrpc::parse_frame;
use crate::config::Config;
use crate::sip::Message;

const PEER: &str = "127.0.0.1:5099";

struct Harness {
    gw: Gateway,
    now: Instant,
    sip: Vec<(SocketAddr, Message)>,
    client: Vec<Value>,
}

impl Harness {
    fn new() -> Harness {
        let mut cfg = Config::default();
        cfg.sip.listen = "127.0.0.1:5060".parse().unwrap();
        cfg.media.rtp_ports = "20000-20009".into();
        let now = Instant::now();
        let gw = Gateway::new(&cfg, cfg.sip.listen, now, 1_700_000_000, None).unwrap();
        let mut h = Harness {
            gw,
            now,
            sip: vec![],
            client: vec![],
        };
        h.gw.connect(1, true);
        h
    }

    fn pump(&mut self) {
        while let Some(o) = self.gw.poll_output() {
            match o {
                Output::Sip { to, data } => self
                    .sip
                    .push((to, Message::parse(&data).expect("we send valid SIP"))),
                Output::Client { text, .. } => {
                    self.client.push(serde_json::from_str(&text).unwrap())
                }
            }
        }
    }

    fn sip_in(&mut self, text: &str) {
        let text = text.replace('\n', "\r\n");
        self.gw
            .handle_sip(text.as_bytes(), PEER.parse().unwrap(), self.now);
        self.pump();
    }

    fn api(&mut self, method: &str, params: Value) -> Value {
        let req = json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params});
        self.gw
            .handle_frame(1, parse_frame(&req.to_string()), self.now);
        self.pump();
        let i = self
            .client
            .iter()
            .position(|v| v.get("id").is_some())
            .expect("a response");
        self.client.remove(i)
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.gw.poll_timeout().filter(|t| *t <= end) {
            self.now = t.max(self.now);
            self.gw.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
    }

    fn event(&mut self, name: &str) -> Value {
        let full = format!("sys.call.{name}");
        let i = self
            .client
            .iter()
            .position(|v| v["method"] == json!(full))
            .unwrap_or_else(|| panic!("no {full} in {:?}", self.client));
        self.client.remove(i)["params"].clone()
    }

    fn sip_status(&mut self, status: u16) -> Message {
        let i = self
            .sip
            .iter()
            .position(|(_, m)| m.status() == Some(status))
            .unwrap_or_else(|| panic!("no {status} sent"));
        self.sip.remove(i).1
    }
}

/// The test INVITE, CRLF line ends and a correct Content-Length.
fn invite() -> String {
    let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    format!(
        "INVITE sip:95588@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKe1;rport\nMax-Forwards: 70\nFrom: <sip:1001@127.0.0.1>;tag=a1\nTo: <sip:95588@127.0.0.1>\nCall-ID: engine-test-1\nCSeq: 1 INVITE\nContact: <sip:1001@127.0.0.1:5099>\nContent-Type: application/sdp\nContent-Length: {}\n\n{}",
        body.len(),
        body.replace("\r\n", "\n")
    )
}

#[test]
fn inbound_call_lifecycle_without_io() {
    let mut h = Harness::new();
    h.sip_in(&invite());
    h.sip_status(100);
    let inc = h.event("on_incoming");
    let id = inc["res_id"].as_str().unwrap().to_string();
    assert_eq!(inc["begin_time"], 1_700_000_000);
    assert_eq!(
        h.api(
            "sys.call.answer",
            json!({"res_id": id, "max_answer_seconds": 10})
        )["result"],
        Value::Null
    );
    let ok = h.sip_status(200);
    let body = String::from_utf8(ok.body.clone()).unwrap();
    assert!(body.contains("m=audio 20000 RTP/AVP 8 101"), "{body}");
    let tag = ok.to_tag().unwrap();
    // No ACK yet: the layer retransmits the 200 after T1.
    h.advance(Duration::from_millis(600));
    h.sip_status(200);
    h.sip_in(&format!(
        "ACK sip:mediagw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKe2\nMax-Forwards: 70\nFrom: <sip:1001@127.0.0.1>;tag=a1\nTo: <sip:95588@127.0.0.1>;tag={tag}\nCall-ID: engine-test-1\nCSeq: 1 ACK\nContent-Length: 0\n\n"
    ));
    let done = h.event("on_answer_completed");
    assert_eq!(done["error"], Value::Null);
    // max_answer_seconds = 10: nothing at 9 s, BYE at 10 s.
    h.advance(Duration::from_secs(9));
    assert!(
        h.sip.iter().all(|(_, m)| m.method().is_none()),
        "no request before the limit"
    );
    h.advance(Duration::from_secs(2));
    let (to, bye) = h
        .sip
        .iter()
        .find(|(_, m)| m.method().is_some_and(|m| m.as_str() == "BYE"))
        .cloned()
        .expect("BYE");
    assert_eq!(
        to,
        PEER.parse::<SocketAddr>().unwrap(),
        "BYE goes to the Contact"
    );
    assert_eq!(
        bye.header("Reason"),
        Some("SIP;cause=408;text=\"max_answer_seconds reached\"")
    );
    let rel = h.event("on_released");
    assert_eq!(rel["dropped_by"], "sys");
    assert_eq!(rel["answer_time"], 1_700_000_000);
    assert_eq!(rel["end_time"], 1_700_000_010);
    assert_eq!(h.gw.live_calls(), 0);
    assert_eq!(h.gw.ports_in_use(), 0, "the RTP port is freed at release");
}

#[test]
fn refused_request_changes_nothing_and_orphans_are_released() {
    let mut h = Harness::new();
    h.sip_in(&invite());
    let id = h.event("on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = h.api("sys.call.play_stop", json!({"res_id": id}));
    assert_eq!(e["error"]["code"], -32002);
    assert_eq!(e["error"]["data"]["state"], "Initiated");
    assert_eq!(h.gw.live_calls(), 1);
    // The owner goes away; after api.orphan_timeout_seconds the call is refused (480).
    h.gw.disconnect(1, h.now);
    h.advance(Duration::from_secs(59));
    assert_eq!(h.gw.live_calls(), 1);
    h.advance(Duration::from_secs(2));
    h.sip_status(480);
    assert_eq!(h.gw.live_calls(), 0);
}
