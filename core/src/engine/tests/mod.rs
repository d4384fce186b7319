//! The engine driven without sockets or sleeps: datagrams, API frames and a hand-moved
//! clock in, SIP datagrams and client frames out.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Boot, Gateway, Output};
use crate::api::jsonrpc::parse_frame;
use crate::config::Config;
use crate::media_msg::{MediaCommand, MediaEvent, MediaSink};
use crate::sip::Message;

mod bus;
mod conferences;
mod drain;
mod faults;
mod joins;
mod media;
mod release;
mod reload;
mod session;

const PEER: &str = "127.0.0.1:5099";

/// The media plane, played by the test: every command the engine sends is recorded
/// (with its worker); while `full`, every queue is full and commands are handed back.
#[derive(Clone, Default)]
struct Script(Arc<Mutex<ScriptState>>);

#[derive(Default)]
struct ScriptState {
    sent: Vec<(usize, MediaCommand)>,
    full: bool,
}

impl MediaSink for Script {
    fn try_send(&mut self, worker: usize, cmd: MediaCommand) -> Result<(), MediaCommand> {
        let mut s = self.0.lock().unwrap();
        if s.full {
            return Err(cmd);
        }
        s.sent.push((worker, cmd));
        Ok(())
    }
}

struct Harness {
    gw: Gateway,
    now: Instant,
    sip: Vec<(SocketAddr, Message)>,
    client: Vec<Value>,
    script: Script,
    /// Media commands taken from the script so far (tests inspect and answer them).
    media: Vec<(usize, MediaCommand)>,
    /// Answer every `Open` at once with `Opened` (the usual, quick worker).
    auto_open: bool,
    /// Answer every `Close` with `Closed`: at once, or, for a call in a join or a
    /// conference, after the test reports the join's end or the member's `ConfLeft` (as
    /// the media plane orders them).
    auto_close: bool,
    /// Joined calls' `Closed`, waiting for a `JoinEnded`.
    held_closes: Vec<u64>,
    /// Call records the engine put out.
    cdr: Vec<Value>,
    /// What went to the bus's connection ([`BUS`]), once a test connects it.
    bus: Vec<Value>,
}

/// The connection a test gives the control bus.
const BUS: u64 = 99;

impl Harness {
    fn new() -> Harness {
        Harness::with(|_| {})
    }

    /// A harness whose configuration `edit` adjusts.
    fn with(edit: impl FnOnce(&mut Config)) -> Harness {
        let mut cfg = Config::default();
        cfg.sip.listen = "127.0.0.1:5060".parse().unwrap();
        cfg.media.rtp_ports = "20000-20009".into();
        edit(&mut cfg);
        let now = Instant::now();
        let script = Script::default();
        let boot = Boot {
            local: cfg.sip.listen,
            public_ip: cfg.sip.listen.ip(),
            now,
            unix_now: 1_700_000_000,
            process_id: 7,
            seed: 1,
            workers: 2,
            media_root: "/srv/media".into(),
            record_root: "/srv/media/records".into(),
        };
        let gw = Gateway::new(&cfg, boot, Box::new(script.clone())).unwrap();
        let mut h = Harness {
            gw,
            now,
            sip: vec![],
            client: vec![],
            script,
            media: vec![],
            auto_open: true,
            auto_close: true,
            held_closes: vec![],
            cdr: vec![],
            bus: vec![],
        };
        h.gw.connect(1, true);
        h
    }

    fn pump(&mut self) {
        loop {
            while let Some(o) = self.gw.poll_output() {
                match o {
                    Output::Sip { to, data } => self
                        .sip
                        .push((to, Message::parse(&data).expect("we send valid SIP"))),
                    Output::Client { conn: BUS, text } => {
                        self.bus.push(serde_json::from_str(&text).unwrap())
                    }
                    Output::Client { text, .. } => {
                        self.client.push(serde_json::from_str(&text).unwrap())
                    }
                    Output::Cdr { record } => self.cdr.push(record),
                }
            }
            let sent = std::mem::take(&mut self.script.0.lock().unwrap().sent);
            if sent.is_empty() {
                break;
            }
            let opens: Vec<MediaEvent> = sent
                .iter()
                .filter_map(|(_, c)| match c {
                    MediaCommand::Open { call, local } if self.auto_open => {
                        Some(MediaEvent::Opened {
                            call: *call,
                            local: *local,
                        })
                    }
                    MediaCommand::Close { call }
                        if self.auto_close
                            && self.gw.calls.get(call).is_some_and(|c| {
                                c.joined.is_some()
                                    || matches!(
                                        c.action,
                                        Some(super::actions::Action::Conference { .. })
                                    )
                            }) =>
                    {
                        self.held_closes.push(*call);
                        None
                    }
                    MediaCommand::Close { call } if self.auto_close => Some(MediaEvent::Closed {
                        call: *call,
                        stats: Default::default(),
                    }),
                    _ => None,
                })
                .collect();
            self.media.extend(sent);
            for ev in opens {
                self.gw.handle_media(ev, self.now);
            }
        }
    }

    /// The media plane reports `ev` (a join's end or a member leaving lets the held
    /// `Closed`s follow).
    fn media_event(&mut self, ev: MediaEvent) {
        let join_ended = matches!(
            ev,
            MediaEvent::JoinEnded { .. } | MediaEvent::ConfLeft { .. }
        );
        self.gw.handle_media(ev, self.now);
        self.pump();
        if join_ended {
            for call in std::mem::take(&mut self.held_closes) {
                let stats = Default::default();
                self.gw
                    .handle_media(MediaEvent::Closed { call, stats }, self.now);
                self.pump();
            }
        }
    }

    /// Media commands sent so far, taken out of the list.
    fn take_media(&mut self) -> Vec<(usize, MediaCommand)> {
        self.pump();
        std::mem::take(&mut self.media)
    }

    fn sip_in(&mut self, text: &str) {
        let text = text.replace('\n', "\r\n");
        self.gw
            .handle_sip(text.as_bytes(), PEER.parse().unwrap(), self.now);
        self.pump();
    }

    fn api(&mut self, method: &str, params: Value) -> Value {
        self.api_send(9, method, params);
        self.reply(9).expect("a response")
    }

    /// Sends request `id` without waiting for its reply.
    fn api_send(&mut self, id: u64, method: &str, params: Value) {
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.gw
            .handle_frame(1, parse_frame(&req.to_string()), self.now);
        self.pump();
    }

    /// The reply to request `id`, if it has come, taken out of the list.
    fn reply(&mut self, id: u64) -> Option<Value> {
        let i = self.client.iter().position(|v| v["id"] == json!(id))?;
        Some(self.client.remove(i))
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

    /// The first request with this method we sent, taken out of the list.
    fn sip_request(&mut self, method: &str) -> (SocketAddr, Message) {
        let i = self
            .sip
            .iter()
            .position(|(_, m)| m.method().is_some_and(|m| m.as_str() == method))
            .unwrap_or_else(|| panic!("no {method} sent: {:?}", self.sip));
        self.sip.remove(i)
    }

    /// The far end (at [`PEER`]) answers our `inv` with `status` and an SDP offering
    /// PCMU at 127.0.0.1:40010 (`to` tag "far").
    fn far_end_answers(&mut self, inv: &Message, status: u16, reason: &str) {
        let mut r = Message::response_to(inv, status, reason);
        r.set_to_tag("far");
        r.add_header("Contact", "<sip:1@127.0.0.1:5099>");
        r.add_header("Content-Type", "application/sdp");
        r.body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40010 RTP/AVP 0\r\n".to_vec();
        self.gw
            .handle_sip(&r.to_bytes(), PEER.parse().unwrap(), self.now);
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
