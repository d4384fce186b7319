//! Target `engine`: the whole signalling core (`engine::Gateway`, with a scripted media
//! plane that answers every command at once, as a quick worker would) fed a
//! sequence of messages (split on [`crate::split::SEPARATOR`]) from one SIP peer and one
//! API client, with the clock moved 200 ms per message, then drained (as on SIGTERM)
//! and run until no timer is left.
//!
//! A message is
//! - an API text frame when it starts with `{` or `[`;
//! - `@NNN` then an optional SDP body on the next line: the peer's response NNN to the
//!   last request the gateway sent (so outbound calls get past their INVITE, whose
//!   branch and tags are random);
//! - otherwise a SIP datagram from the peer.
//!
//! In frames and datagrams `$res` stands for the last `res_id` the gateway reported and
//! `$tag` for the last To tag it sent, so inputs can answer, play to and hang up the calls
//! they create.
//!
//! Checks: every SIP datagram the gateway sends parses, every text frame is JSON; a frame
//! that needs a reply gets it first, before any event it caused (API.md's ordering rule),
//! with the ids of its requests in order, and a frame of notifications gets none; after
//! the drain no call and no RTP port is left.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use std::sync::{Arc, Mutex};

use mediagw::api::jsonrpc::parse_frame;
use mediagw::config::Config;
use mediagw::engine::{Boot, Gateway, Output};
use mediagw::media_msg::{MediaCommand, MediaEvent, MediaSink};
use mediagw::sip::Message;

use crate::jsonrpc::{ids_of_reply, reply_ids};
use crate::split::messages;

const PEER: &str = "127.0.0.1:5099";
const CONN: u64 = 1;
/// Bound on timer rounds (each fires every timer due).
const MAX_TIMER_ROUNDS: usize = 20_000;

/// The media plane, scripted: it takes every command and answers each at once.
#[derive(Clone, Default)]
struct Plane(Arc<Mutex<Vec<MediaCommand>>>);

impl MediaSink for Plane {
    fn try_send(&mut self, _worker: usize, cmd: MediaCommand) -> Result<(), MediaCommand> {
        self.0.lock().expect("plane").push(cmd);
        Ok(())
    }
}

/// What a quick media plane answers to `cmd`.
fn answers(cmd: MediaCommand) -> Vec<MediaEvent> {
    match cmd {
        MediaCommand::Open { call, local } => vec![MediaEvent::Opened { call, local }],
        MediaCommand::Close { call } | MediaCommand::ConfClose { conf: call } => {
            vec![MediaEvent::Closed {
                call,
                stats: Default::default(),
            }]
        }
        MediaCommand::Play { call, token, .. }
        | MediaCommand::JoinPlay { a: call, token, .. }
        | MediaCommand::ConfPlay {
            conf: call, token, ..
        }
        | MediaCommand::Join { a: call, token, .. }
        | MediaCommand::ConfEnter { call, token, .. } => {
            vec![MediaEvent::Started {
                call,
                token,
                path: None,
            }]
        }
        MediaCommand::Record { call, token, spec }
        | MediaCommand::ConfRecord {
            conf: call,
            token,
            spec,
        } => {
            vec![MediaEvent::Started {
                call,
                token,
                path: Some(format!("/records/{}", spec.path.display())),
            }]
        }
        MediaCommand::Move { call, to } => vec![MediaEvent::Moved { call, worker: to }],
        MediaCommand::Unjoin { a } => vec![MediaEvent::JoinEnded {
            a,
            error: None,
            record_path: None,
        }],
        MediaCommand::ConfExit { conf, call } => vec![MediaEvent::ConfLeft {
            conf,
            call,
            error: None,
        }],
        MediaCommand::SendDtmf { call, .. } => {
            vec![MediaEvent::SendDtmfCompleted { call, error: None }]
        }
        _ => Vec::new(),
    }
}

/// What the harness remembers for the placeholders and the `@` replies.
#[derive(Default)]
struct Seen {
    res_id: String,
    to_tag: String,
    last_request: Option<Message>,
}

/// The target.
pub fn run(data: &[u8]) {
    let mut cfg = Config::default();
    cfg.sip.listen = "127.0.0.1:5060".parse().expect("addr");
    cfg.media.rtp_ports = "20000-20009".into();
    let peer: SocketAddr = PEER.parse().expect("addr");
    let mut now = Instant::now();
    let plane = Plane::default();
    let boot = Boot {
        local: cfg.sip.listen,
        public_ip: cfg.sip.listen.ip(),
        now,
        unix_now: 1_700_000_000,
        process_id: 7,
        seed: 1,
        workers: 2,
        media_root: "/media".into(),
        record_root: "/media/records".into(),
    };
    let mut gw =
        Gateway::new(&cfg, boot, Box::new(plane.clone())).expect("the test configuration is valid");
    gw.connect(CONN, true);
    let mut seen = Seen::default();
    for msg in messages(data) {
        match msg.first() {
            Some(b'{' | b'[') => {
                let Ok(text) = std::str::from_utf8(msg) else {
                    continue;
                };
                let text = text.replace("$res", &seen.res_id);
                let frame = parse_frame(&text);
                let ids = reply_ids(&frame);
                gw.handle_frame(CONN, frame, now);
                check_reply(&pump(&mut gw, &mut seen, &plane, now), ids.as_deref());
            }
            Some(b'@') => {
                if let Some(resp) = reply(msg, &seen) {
                    gw.handle_sip(&resp, peer, now);
                }
            }
            _ => {
                let datagram = substitute(msg, &seen);
                gw.handle_sip(&datagram, peer, now);
            }
        }
        pump(&mut gw, &mut seen, &plane, now);
        now += Duration::from_millis(200);
        gw.handle_timeout(now);
        pump(&mut gw, &mut seen, &plane, now);
    }
    gw.start_drain(now);
    pump(&mut gw, &mut seen, &plane, now);
    for _ in 0..MAX_TIMER_ROUNDS {
        let Some(at) = gw.poll_timeout() else {
            break;
        };
        now = now.max(at);
        gw.handle_timeout(now);
        pump(&mut gw, &mut seen, &plane, now);
    }
    assert_eq!(gw.live_calls(), 0, "calls left after a drain");
    assert_eq!(gw.ports_in_use(), 0, "RTP ports left after a drain");
}

/// The first frame sent after a request frame is its reply, if one is due; otherwise no
/// frame sent is a reply.
fn check_reply(sent: &[Value], ids: Option<&[Value]>) {
    let is_reply = |v: &Value| v.is_array() || v.get("method").is_none();
    let Some(ids) = ids else {
        assert!(
            !sent.iter().any(is_reply),
            "a reply to notifications only: {sent:?}"
        );
        return;
    };
    let reply = sent.first().expect("a request frame gets a reply");
    assert!(is_reply(reply), "an event before the reply: {sent:?}");
    assert_eq!(ids_of_reply(reply), ids, "reply ids");
    assert!(
        !sent[1..].iter().any(is_reply),
        "two replies to one frame: {sent:?}"
    );
}

/// Takes every output and answers every media command, until nothing is left.
fn pump(gw: &mut Gateway, seen: &mut Seen, plane: &Plane, now: Instant) -> Vec<Value> {
    let mut sent = Vec::new();
    loop {
        sent.extend(take_outputs(gw, seen));
        let cmds = std::mem::take(&mut *plane.0.lock().expect("plane"));
        if cmds.is_empty() {
            return sent;
        }
        for ev in cmds.into_iter().flat_map(answers) {
            gw.handle_media(ev, now);
        }
    }
}

/// Takes every output: SIP must parse, frames must be JSON; remembers ids for later
/// inputs. Returns the text frames sent.
fn take_outputs(gw: &mut Gateway, seen: &mut Seen) -> Vec<Value> {
    let mut sent = Vec::new();
    while let Some(out) = gw.poll_output() {
        match out {
            Output::Sip { data, .. } => {
                let msg = Message::parse(&data).expect("the gateway sends SIP that parses");
                if let Some(tag) = msg.to_tag() {
                    seen.to_tag = tag;
                }
                if msg.is_request() {
                    seen.last_request = Some(msg);
                }
            }
            Output::Client { text, .. } => {
                let v: Value = serde_json::from_str(&text).expect("the gateway sends JSON");
                let res = v
                    .pointer("/params/res_id")
                    .or_else(|| v.pointer("/result/res_id"));
                if let Some(Value::String(id)) = res {
                    seen.res_id = id.clone();
                }
                sent.push(v);
            }
            Output::Cdr { record } => {
                assert!(
                    record.is_object(),
                    "a call record is a JSON object: {record}"
                );
            }
        }
    }
    sent
}

fn substitute(msg: &[u8], seen: &Seen) -> Vec<u8> {
    match std::str::from_utf8(msg) {
        Ok(text) if text.contains('$') => text
            .replace("$res", &seen.res_id)
            .replace("$tag", &seen.to_tag)
            .into_bytes(),
        _ => msg.to_vec(),
    }
}

/// `@NNN[\n<body>]`: the peer's response to the gateway's last request.
fn reply(msg: &[u8], seen: &Seen) -> Option<Vec<u8>> {
    let req = seen.last_request.as_ref()?;
    let text = std::str::from_utf8(&msg[1..]).ok()?;
    let (code, body) = text.split_once('\n').unwrap_or((text, ""));
    let status: u16 = code
        .trim()
        .parse()
        .ok()
        .filter(|s| (100..700).contains(s))?;
    let mut resp = Message::response_to(req, status, "Fuzz");
    if status > 100 {
        resp.set_to_tag("fuzzpeer");
    }
    resp.add_header("Contact", "<sip:peer@127.0.0.1:5099>");
    if !body.is_empty() {
        resp.add_header("Content-Type", "application/sdp");
        resp.body = body.replace('\n', "\r\n").into_bytes();
    }
    Some(resp.to_bytes())
}
