//! Whole calls through the engine with the media plane scripted by the test: every media
//! command the engine sends is inspected, every media event it gets is made up here.
//! No socket, no thread, no sleep: each test runs in milliseconds, and the same seed
//! gives byte-identical output.

use super::*;
use crate::media_msg::{DigitSource, PlaySpec, RecordSpec, Refusal};
use crate::speech::PlayStep;

/// Offers an inbound call and answers it; returns its serial, res_id and the worker it
/// was placed on.
pub(super) fn answered_call(h: &mut Harness) -> (u64, String, usize) {
    h.sip_in(&invite());
    let id = h.event("on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (worker, serial) = h
        .take_media()
        .into_iter()
        .find_map(|(w, c)| match c {
            MediaCommand::Open { call, .. } => Some((w, call)),
            _ => None,
        })
        .expect("Open");
    let r = h.api(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 600}),
    );
    assert_eq!(r["result"], Value::Null, "{r}");
    let ok = h.sip_status(200);
    let tag = ok.to_tag().unwrap();
    h.sip_in(&format!(
        "ACK sip:mediagw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKack\nMax-Forwards: 70\nFrom: <sip:1001@127.0.0.1>;tag=a1\nTo: <sip:95588@127.0.0.1>;tag={tag}\nCall-ID: engine-test-1\nCSeq: 1 ACK\nContent-Length: 0\n\n"
    ));
    assert_eq!(h.event("on_answer_completed")["error"], Value::Null);
    (serial, id, worker)
}

/// The commands sent since the last look, without their workers.
fn commands(h: &mut Harness) -> Vec<MediaCommand> {
    h.take_media().into_iter().map(|(_, c)| c).collect()
}

fn token_of(cmds: &[MediaCommand]) -> u64 {
    cmds.iter()
        .find_map(|c| match c {
            MediaCommand::Play { token, .. } | MediaCommand::Record { token, .. } => Some(*token),
            _ => None,
        })
        .expect("a play or a recording")
}

/// The whole life of an IVR call: answer, play, collect digits, record, hang-up.
fn ivr_call(h: &mut Harness) {
    let (serial, id, worker) = answered_call(h);
    let cmds = h.take_media();
    assert!(
        cmds.iter().all(|(w, _)| *w == worker),
        "one worker per call: {cmds:?}"
    );
    assert!(
        matches!(cmds.as_slice(), [(_, MediaCommand::SetRemote { remote, .. })] if remote.rtp.port() == 40000),
        "{cmds:?}"
    );
    // play_start: answered once the media plane started it.
    h.api_send(
        1,
        "sys.call.play_start",
        json!({"res_id": id, "content": [["hello.wav", 0, ""]]}),
    );
    assert!(h.reply(1).is_none(), "the reply waits for the media plane");
    let cmds = commands(h);
    let token = token_of(&cmds);
    assert_eq!(
        cmds,
        vec![MediaCommand::Play {
            call: serial,
            token,
            spec: PlaySpec {
                steps: vec![PlayStep::File("hello.wav".into())],
                finish_keys: String::new(),
                repeat: 0,
            },
        }]
    );
    h.media_event(MediaEvent::Started {
        call: serial,
        token,
        path: None,
    });
    assert_eq!(h.reply(1).expect("reply")["result"], Value::Null);
    h.advance(Duration::from_secs(2));
    h.media_event(MediaEvent::PlayCompleted {
        call: serial,
        error: None,
        finish_key: None,
    });
    let done = h.event("on_play_completed");
    assert_eq!(
        (done["begin_time"].as_u64(), done["end_time"].as_u64()),
        (Some(1_700_000_000), Some(1_700_000_002))
    );
    // receive_dtmf_start: two keys.
    let r = h.api(
        "sys.call.receive_dtmf_start",
        json!({"res_id": id, "max_keys": 2, "first_key_timeout": 10}),
    );
    assert_eq!(r["result"], Value::Null);
    for d in ['4', '2'] {
        h.media_event(MediaEvent::Digit {
            call: serial,
            digit: d,
            source: DigitSource::Rfc4733,
        });
    }
    assert_eq!(h.event("on_receive_dtmf_completed")["keys"], "42");
    // record_start: answered with the file's full path once it exists.
    h.api_send(
        2,
        "sys.call.record_start",
        json!({"res_id": id, "record_file": "msg/a.wav", "max_seconds": 30}),
    );
    assert!(h.reply(2).is_none());
    let cmds = commands(h);
    let token = token_of(&cmds);
    assert!(
        matches!(&cmds[..], [MediaCommand::Record { spec: RecordSpec { path, max_seconds: 30, .. }, .. }] if path.to_str() == Some("msg/a.wav")),
        "{cmds:?}"
    );
    h.media_event(MediaEvent::Started {
        call: serial,
        token,
        path: Some("/srv/media/records/msg/a.wav".into()),
    });
    assert_eq!(
        h.reply(2).expect("reply")["result"],
        "/srv/media/records/msg/a.wav"
    );
    assert_eq!(
        h.api("sys.call.record_stop", json!({"res_id": id}))["result"],
        Value::Null
    );
    assert_eq!(commands(h), vec![MediaCommand::StopRecord { call: serial }]);
    h.media_event(MediaEvent::RecordCompleted {
        call: serial,
        error: Some("stopped".into()),
        finish_key: None,
        path: "/srv/media/records/msg/a.wav".into(),
    });
    let rec = h.event("on_record_completed");
    assert_eq!(rec["error"], "stopped");
    assert_eq!(rec["record_file"], "/srv/media/records/msg/a.wav");
    // The caller hangs up: the media is closed and the resource released.
    let tag = h.gw.calls[&serial].leg.dialog.local_tag.clone();
    h.sip_in(&format!(
        "BYE sip:mediagw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKbye\nMax-Forwards: 70\nFrom: <sip:1001@127.0.0.1>;tag=a1\nTo: <sip:95588@127.0.0.1>;tag={tag}\nCall-ID: engine-test-1\nCSeq: 2 BYE\nContent-Length: 0\n\n"
    ));
    assert_eq!(commands(h), vec![MediaCommand::Close { call: serial }]);
    assert_eq!(h.event("on_released")["dropped_by"], "usr");
}

#[test]
fn an_ivr_call_from_answer_to_hang_up_with_scripted_media() {
    let mut h = Harness::new();
    ivr_call(&mut h);
    assert_eq!(h.gw.live_calls(), 0);
    assert_eq!(h.gw.ports_in_use(), 0);
}

#[test]
fn the_same_seed_gives_the_same_output() {
    let run = || {
        let mut h = Harness::new();
        h.sip_in(&invite());
        let id = h.event("on_incoming")["res_id"].clone();
        h.api(
            "sys.call.answer",
            json!({"res_id": id, "max_answer_seconds": 600}),
        );
        h.api(
            "sys.call.construct",
            json!({"to_uri": "sip:1@127.0.0.1:5099", "max_answer_seconds": 60}),
        );
        h.api("sys.call.drop", json!({"res_id": id}));
        let sip: Vec<_> = h.sip.iter().map(|(to, m)| (*to, m.to_bytes())).collect();
        (sip, h.client.clone(), h.take_media())
    };
    let (sip, client, media) = run();
    assert_eq!(sip.len(), 4, "100, 180, 200 and our INVITE");
    assert_eq!(
        (sip, client, media),
        run(),
        "tags, branches, CSeq, ports and SDP ids come from the seed"
    );
}

#[test]
fn answer_waits_for_the_port_and_a_bind_failure_takes_another() {
    let mut h = Harness::new();
    h.auto_open = false;
    h.sip_in(&invite());
    let id = h.event("on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (serial, first) = match commands(&mut h).as_slice() {
        [MediaCommand::Open { call, local }] => (*call, *local),
        other => panic!("{other:?}"),
    };
    h.api_send(
        1,
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    );
    assert!(h.reply(1).is_none(), "answer waits for the port");
    assert!(h.sip.iter().all(|(_, m)| m.status() != Some(200)));
    // Meanwhile the call refuses anything but a hang-up.
    let e = h.api(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    );
    assert_eq!(e["error"]["code"], -32002, "{e}");
    // The worker cannot bind that port: the engine tries another.
    h.media_event(MediaEvent::OpenFailed {
        call: serial,
        reason: "Address in use".into(),
    });
    let second = match commands(&mut h).as_slice() {
        [MediaCommand::Open { call, local }] if *call == serial => *local,
        other => panic!("{other:?}"),
    };
    assert_ne!(second.port(), first.port());
    assert!(h.reply(1).is_none());
    h.media_event(MediaEvent::Opened {
        call: serial,
        local: second,
    });
    assert_eq!(h.reply(1).expect("answered")["result"], Value::Null);
    let ok = h.sip_status(200);
    let sdp = String::from_utf8(ok.body).unwrap();
    assert!(
        sdp.contains(&format!("m=audio {} ", second.port())),
        "the answer names the port that was bound: {sdp}"
    );
    assert_eq!(h.gw.ports_in_use(), 1, "the refused port went back");
}

#[test]
fn every_port_failing_refuses_the_call_with_503() {
    let mut h = Harness::new();
    h.auto_open = false;
    h.sip_in(&invite());
    let id = h.event("on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    h.api_send(
        1,
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    );
    for _ in 0..8 {
        let serial = match commands(&mut h).as_slice() {
            [MediaCommand::Open { call, .. }] => *call,
            other => panic!("{other:?}"),
        };
        h.media_event(MediaEvent::OpenFailed {
            call: serial,
            reason: "in use".into(),
        });
    }
    let r = h.reply(1).expect("answered");
    assert_eq!(r["error"]["code"], -32004, "{r}");
    h.sip_status(503);
    let rel = h.event("on_released");
    assert_eq!(
        (rel["dropped_by"].as_str(), rel["cause"].as_u64()),
        (Some("sys"), Some(503))
    );
    assert_eq!(h.gw.live_calls(), 0);
    assert_eq!(h.gw.ports_in_use(), 0);
}

#[test]
fn a_full_worker_queue_is_an_immediate_error_never_a_wait() {
    let mut h = Harness::new();
    h.script.0.lock().unwrap().full = true;
    h.sip_in(
        &invite()
            .replace("z9hG4bKe1", "z9hG4bKfull")
            .replace("engine-test-1", "engine-test-full"),
    );
    h.sip_status(503);
    assert!(h.client.is_empty(), "no call offered");
    assert_eq!((h.gw.live_calls(), h.gw.ports_in_use()), (0, 0));
    let r = h.api(
        "sys.call.construct",
        json!({"to_uri": "sip:1@127.0.0.1:5099", "max_answer_seconds": 60}),
    );
    assert_eq!(r["error"]["code"], -32005, "{r}");
    assert_eq!((h.gw.live_calls(), h.gw.ports_in_use()), (0, 0));

    // With room again a call is set up; then the queue fills while it talks.
    h.script.0.lock().unwrap().full = false;
    let (serial, id, _) = answered_call(&mut h);
    h.take_media();
    h.script.0.lock().unwrap().full = true;
    let r = h.api(
        "sys.call.play_start",
        json!({"res_id": id, "content": [["a.wav", 0, ""]]}),
    );
    assert_eq!(r["error"]["code"], -32005, "{r}");
    let e = h.api("sys.call.play_stop", json!({"res_id": id}));
    assert_eq!(e["error"]["data"]["state"], "Idle", "nothing changed: {e}");
    // A digit from SIP INFO must arrive: it waits for room, in order, and is retried.
    let tag = h.gw.calls[&serial].leg.dialog.local_tag.clone();
    h.sip_in(&format!(
        "INFO sip:mediagw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKinfo\nMax-Forwards: 70\nFrom: <sip:1001@127.0.0.1>;tag=a1\nTo: <sip:95588@127.0.0.1>;tag={tag}\nCall-ID: engine-test-1\nCSeq: 3 INFO\nContent-Type: application/dtmf-relay\nContent-Length: 10\n\nSignal=7\r\n"
    ));
    h.sip_status(200);
    assert!(h.take_media().is_empty());
    h.script.0.lock().unwrap().full = false;
    h.advance(Duration::from_millis(5));
    assert_eq!(
        commands(&mut h),
        vec![MediaCommand::Digit {
            call: serial,
            digit: '7'
        }]
    );
}

#[test]
fn a_missing_file_refuses_play_start_and_changes_nothing() {
    let mut h = Harness::new();
    let (serial, id, _) = answered_call(&mut h);
    h.take_media();
    h.api_send(
        1,
        "sys.call.play_start",
        json!({"res_id": id, "content": [["nope.wav", 0, ""]]}),
    );
    let token = token_of(&commands(&mut h));
    h.media_event(MediaEvent::Refused {
        call: serial,
        token,
        refusal: Refusal::File {
            path: "/srv/media/nope.wav".into(),
            reason: "No such file or directory (os error 2)".into(),
        },
    });
    let r = h.reply(1).expect("reply");
    assert_eq!(r["error"]["code"], -32005, "{r}");
    assert_eq!(r["error"]["data"]["path"], "/srv/media/nope.wav");
    assert!(
        !h.client
            .iter()
            .any(|v| v["method"] == "sys.call.on_play_completed"),
        "a play that never started has no completion"
    );
    // The call is Idle: another play starts.
    h.api_send(
        2,
        "sys.call.play_start",
        json!({"res_id": id, "content": [["yes.wav", 0, ""]]}),
    );
    assert!(matches!(
        commands(&mut h).as_slice(),
        [MediaCommand::Play { .. }]
    ));
}

#[test]
fn a_stop_before_the_play_started_is_sent_once_it_has() {
    let mut h = Harness::new();
    let (serial, id, _) = answered_call(&mut h);
    h.take_media();
    h.api_send(
        1,
        "sys.call.play_start",
        json!({"res_id": id, "content": [["a.wav", 0, ""]]}),
    );
    let token = token_of(&commands(&mut h));
    let r = h.api("sys.call.play_stop", json!({"res_id": id}));
    assert_eq!(r["result"], Value::Null);
    assert!(h.take_media().is_empty(), "nothing to stop yet");
    h.media_event(MediaEvent::Started {
        call: serial,
        token,
        path: None,
    });
    assert!(h.reply(1).is_some());
    assert_eq!(
        commands(&mut h),
        vec![MediaCommand::StopPlay { call: serial }]
    );
}

#[test]
fn outbound_waits_for_its_port_then_dials_and_the_ring_timeout_cancels() {
    let mut h = Harness::new();
    h.auto_open = false;
    h.api_send(
        1,
        "sys.call.construct",
        json!({"to_uri": "sip:13800138000@127.0.0.1:5099", "max_ring_seconds": 30, "max_answer_seconds": 60}),
    );
    let (serial, local) = match commands(&mut h).as_slice() {
        [MediaCommand::Open { call, local }] => (*call, *local),
        other => panic!("{other:?}"),
    };
    assert!(
        h.reply(1).is_none() && h.sip.is_empty(),
        "no INVITE before the port is bound"
    );
    h.media_event(MediaEvent::Opened {
        call: serial,
        local,
    });
    let r = h.reply(1).expect("construct answered");
    let id = r["result"]["res_id"].as_str().expect("res_id").to_string();
    let (to, invite) = h.sip_request("INVITE");
    assert_eq!(to, PEER.parse::<SocketAddr>().unwrap());
    let sdp = String::from_utf8(invite.body.clone()).unwrap();
    assert!(sdp.contains(&format!("m=audio {} ", local.port())), "{sdp}");
    let mut ringing = Message::response_to(&invite, 180, "Ringing");
    ringing.set_to_tag("far");
    h.gw.handle_sip(&ringing.to_bytes(), PEER.parse().unwrap(), h.now);
    h.pump();
    assert_eq!(h.event("on_ringing")["res_id"], id.as_str());
    h.advance(Duration::from_secs(29));
    assert!(
        h.sip
            .iter()
            .all(|(_, m)| m.method().is_none_or(|m| m.as_str() != "CANCEL"))
    );
    h.advance(Duration::from_secs(2));
    h.sip_request("CANCEL");
    let dial = h.event("on_dial_completed");
    assert!(
        dial["error"].as_str().unwrap().contains("max_ring_seconds"),
        "{dial}"
    );
    assert_eq!(h.event("on_released")["res_id"], id.as_str());
    assert!(
        commands(&mut h).contains(&MediaCommand::Close { call: serial }),
        "the media is closed"
    );
}

#[test]
fn a_worker_slow_to_answer_gets_no_new_calls() {
    let mut h = Harness::new();
    h.auto_open = false;
    let mut placed = Vec::new();
    for n in 0..4 {
        h.sip_in(
            &invite()
                .replace("z9hG4bKe1", &format!("z9hG4bKp{n}"))
                .replace("engine-test-1", &format!("placement-{n}")),
        );
        let (worker, serial, local) = match h.take_media().as_slice() {
            [(w, MediaCommand::Open { call, local })] => (*w, *call, *local),
            other => panic!("{other:?}"),
        };
        placed.push(worker);
        // Worker 1 answers at once; worker 0 never does (it is saturated).
        if worker == 1 {
            h.media_event(MediaEvent::Opened {
                call: serial,
                local,
            });
        }
    }
    assert_eq!(
        placed,
        vec![0, 1, 1, 1],
        "after one unanswered Open, worker 0 is avoided"
    );
}
