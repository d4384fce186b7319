//! Bridges and dialling on a parent through the engine, the media plane scripted: which
//! commands go to which worker, when the replies and events come, and every misuse
//! refused without a change.

use super::*;
use crate::media_msg::{JoinSpec, Ringback};
use crate::speech::PlayStep;

/// Offers, answers and ACKs inbound call number `n`; returns (serial, res_id, worker).
fn call(h: &mut Harness, n: u32) -> (u64, String, usize) {
    let call_id = format!("join-{n}");
    h.sip_in(
        &invite()
            .replace("z9hG4bKe1", &format!("z9hG4bKj{n}"))
            .replace("engine-test-1", &call_id)
            .replace("tag=a1", &format!("tag=a{n}")),
    );
    let id = h.event("on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = h.api(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 600}),
    );
    assert_eq!(r["result"], Value::Null, "{r}");
    let ok = h.sip_status(200);
    let tag = ok.to_tag().unwrap();
    h.sip_in(&format!(
        "ACK sip:mediagw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKack{n}\nMax-Forwards: 70\nFrom: <sip:1001@127.0.0.1>;tag=a{n}\nTo: <sip:95588@127.0.0.1>;tag={tag}\nCall-ID: {call_id}\nCSeq: 1 ACK\nContent-Length: 0\n\n"
    ));
    assert_eq!(h.event("on_answer_completed")["error"], Value::Null);
    let serial = h.gw.by_res[&id];
    let worker = h.gw.calls[&serial].worker;
    (serial, id, worker)
}

fn state(h: &Harness, serial: u64) -> &'static str {
    h.gw.calls[&serial].state.name()
}

fn bye(h: &mut Harness, serial: u64, n: u32) {
    let tag = h.gw.calls[&serial].leg.dialog.local_tag.clone();
    h.sip_in(&format!(
        "BYE sip:mediagw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKbye{n}\nMax-Forwards: 70\nFrom: <sip:1001@127.0.0.1>;tag=a{n}\nTo: <sip:95588@127.0.0.1>;tag={tag}\nCall-ID: join-{n}\nCSeq: 2 BYE\nContent-Length: 0\n\n"
    ));
}

/// Two calls on different workers bridged: the second moves, then they are joined.
fn bridged(h: &mut Harness, params: Value) -> (u64, String, u64, String, JoinSpec) {
    let (a, ida, wa) = call(h, 1);
    let (b, idb, wb) = call(h, 2);
    assert_ne!(wa, wb, "the least loaded worker takes the second call");
    h.take_media();
    let mut p = params;
    p["res_id"] = json!(ida);
    p["call_res_id"] = json!(idb);
    h.api_send(1, "sys.call.connect_start", p);
    if let Some(r) = h.reply(1) {
        panic!("answered before the join: {r}");
    }
    assert_eq!((state(h, a), state(h, b)), ("Connect", "Connect"));
    assert_eq!(
        h.take_media(),
        vec![(wb, MediaCommand::Move { call: b, to: wa })],
        "the second party's media moves to the first's worker"
    );
    h.media_event(MediaEvent::Moved {
        call: b,
        worker: wa,
    });
    let (token, spec) = match h.take_media().as_slice() {
        [
            (
                w,
                MediaCommand::Join {
                    a: ja,
                    b: jb,
                    token,
                    spec,
                },
            ),
        ] if *w == wa && (*ja, *jb) == (a, b) => (*token, spec.clone()),
        other => panic!("{other:?}"),
    };
    assert!(h.reply(1).is_none(), "answered once joined");
    h.media_event(MediaEvent::Started {
        call: a,
        token,
        path: None,
    });
    assert_eq!(h.reply(1).expect("reply")["result"], Value::Null);
    (a, ida, b, idb, spec)
}

#[test]
fn a_bridge_from_start_to_stop() {
    let mut h = Harness::new();
    let (a, ida, b, idb, spec) = bridged(
        &mut h,
        json!({"max_seconds": 3600, "connect_mode": 2, "local_volume": -6, "remote_volume": 3,
               "record_file": "talk.wav", "record_format": 16}),
    );
    assert!(
        !spec.a_hears_b && spec.b_hears_a,
        "mode 2: only the second hears the first"
    );
    assert_eq!((spec.a_gain_db, spec.b_gain_db), (-6, 3));
    let rec = spec.record.expect("recorded");
    assert!(rec.stereo && rec.path.to_str() == Some("talk.wav"));
    // Misuse: every refusal changes nothing.
    let e = h.api("sys.call.connect_stop", json!({"res_id": idb}));
    assert_eq!(e["error"]["code"], -32003, "only the first party: {e}");
    let e = h.api(
        "sys.call.play_start",
        json!({"res_id": ida, "content": [["x.wav", 0, ""]]}),
    );
    assert_eq!(e["error"]["data"]["state"], "Connect", "{e}");
    assert_eq!((state(&h, a), state(&h, b)), ("Connect", "Connect"));
    // connect_stop: Unjoin to the worker, on_connect_completed (first party only) once ended.
    assert_eq!(
        h.api("sys.call.connect_stop", json!({"res_id": ida}))["result"],
        Value::Null
    );
    assert_eq!(
        h.take_media()
            .iter()
            .map(|(_, c)| c.clone())
            .collect::<Vec<_>>(),
        vec![MediaCommand::Unjoin { a }]
    );
    h.advance(Duration::from_secs(3));
    h.media_event(MediaEvent::JoinEnded {
        a,
        error: None,
        record_path: Some("/srv/media/records/talk.wav".into()),
    });
    let done = h.event("on_connect_completed");
    assert_eq!(
        (done["res_id"].as_str(), done["error"].clone()),
        (Some(ida.as_str()), Value::Null)
    );
    assert_eq!(
        done["end_time"].as_u64().unwrap() - done["begin_time"].as_u64().unwrap(),
        3
    );
    assert!(
        !h.client
            .iter()
            .any(|v| v["method"] == "sys.call.on_connect_completed"),
        "once"
    );
    assert_eq!((state(&h, a), state(&h, b)), ("Idle", "Idle"));
    let e = h.api("sys.call.connect_stop", json!({"res_id": ida}));
    assert_eq!(e["error"]["code"], -32002, "no connection: {e}");
    // They can be bridged again (both are on one worker now: no move).
    h.api_send(
        2,
        "sys.call.connect_start",
        json!({"res_id": idb, "call_res_id": ida, "max_seconds": 3600}),
    );
    assert!(matches!(h.take_media().as_slice(), [(_, MediaCommand::Join { a: x, .. })] if *x == b));
}

#[test]
fn the_second_party_hanging_up_ends_the_bridge_normally() {
    let mut h = Harness::new();
    let (a, ida, b, _, _) = bridged(&mut h, json!({"max_seconds": 3600}));
    bye(&mut h, b, 2);
    assert!(
        h.take_media()
            .contains(&(h.gw.calls[&a].worker, MediaCommand::Close { call: b }))
    );
    h.media_event(MediaEvent::JoinEnded {
        a,
        error: Some("call released".into()),
        record_path: None,
    });
    let done = h.event("on_connect_completed");
    assert_eq!(
        (done["res_id"].as_str(), done["error"].clone()),
        (Some(ida.as_str()), Value::Null)
    );
    assert_eq!(state(&h, a), "Idle");
}

#[test]
fn the_first_party_hanging_up_completes_before_its_release() {
    let mut h = Harness::new();
    let (a, ida, b, _, _) = bridged(&mut h, json!({"max_seconds": 3600}));
    bye(&mut h, a, 1);
    assert!(
        !h.client
            .iter()
            .any(|v| v["method"] == "sys.call.on_released"),
        "on_released waits for the bridge's end"
    );
    h.media_event(MediaEvent::JoinEnded {
        a,
        error: Some("call released".into()),
        record_path: None,
    });
    let names: Vec<String> = h
        .client
        .iter()
        .filter_map(|v| v["method"].as_str().map(String::from))
        .collect();
    let c = names
        .iter()
        .position(|n| n == "sys.call.on_connect_completed")
        .expect("completed");
    let r = names
        .iter()
        .position(|n| n == "sys.call.on_released")
        .expect("released");
    assert!(c < r, "{names:?}");
    assert_eq!(h.event("on_released")["res_id"], ida.as_str());
    assert_eq!(state(&h, b), "Idle");
}

#[test]
fn max_seconds_ends_the_bridge_with_an_error() {
    let mut h = Harness::new();
    let (a, _, _, _, _) = bridged(&mut h, json!({"max_seconds": 20}));
    h.advance(Duration::from_secs(19));
    assert!(h.take_media().is_empty());
    h.advance(Duration::from_secs(2));
    assert_eq!(
        h.take_media()
            .iter()
            .map(|(_, c)| c.clone())
            .collect::<Vec<_>>(),
        vec![MediaCommand::Unjoin { a }]
    );
    h.media_event(MediaEvent::JoinEnded {
        a,
        error: None,
        record_path: None,
    });
    assert_eq!(
        h.event("on_connect_completed")["error"],
        "max_seconds reached"
    );
}

#[test]
fn a_scheduled_play_goes_into_the_bridge_at_its_time() {
    let mut h = Harness::new();
    let (a, _, _, _, _) = bridged(
        &mut h,
        json!({"max_seconds": 3600, "schedule_play_time": 1_700_000_030u64, "schedule_play_file": "notice.wav", "schedule_play_loop": 2}),
    );
    h.advance(Duration::from_secs(29));
    assert!(h.take_media().is_empty());
    h.advance(Duration::from_secs(2));
    match h.take_media().as_slice() {
        [(_, MediaCommand::JoinPlay { a: x, spec, .. })] => {
            assert_eq!(*x, a);
            assert_eq!(spec.steps, vec![PlayStep::File("notice.wav".into())]);
            assert_eq!(spec.repeat, 1, "loop 2: played twice");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bridge_misuse_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    let (a, ida, _, _) = {
        let (a, ida, _) = call(&mut h, 1);
        (a, ida, 0, 0)
    };
    let (b, idb, _) = call(&mut h, 2);
    h.take_media();
    let e = h.api(
        "sys.call.connect_start",
        json!({"res_id": ida, "call_res_id": ida, "max_seconds": 60}),
    );
    assert_eq!(e["error"]["code"], -32602, "{e}");
    assert_eq!(e["error"]["data"]["param"], "call_res_id");
    let e = h.api(
        "sys.call.connect_start",
        json!({"res_id": ida, "call_res_id": "0.0.99-sys.call-7", "max_seconds": 60}),
    );
    assert_eq!(e["error"]["code"], -32001, "{e}");
    // b busy playing: -32002 naming its state.
    h.api_send(
        5,
        "sys.call.play_start",
        json!({"res_id": idb, "content": [["x.wav", 0, ""]]}),
    );
    let e = h.api(
        "sys.call.connect_start",
        json!({"res_id": ida, "call_res_id": idb, "max_seconds": 60}),
    );
    assert_eq!(e["error"]["code"], -32002, "{e}");
    assert_eq!(e["error"]["data"]["state"], "Play");
    assert_eq!(state(&h, a), "Idle");
    assert!(
        h.take_media()
            .iter()
            .all(|(_, c)| matches!(c, MediaCommand::Play { .. }))
    );
    let _ = b;
}

#[test]
fn dialling_on_a_parent_joins_it_with_the_call_until_dial_completed() {
    let mut h = Harness::new();
    let (parent, idp, wp) = call(&mut h, 1);
    // Another call so that the least loaded worker is not the parent's.
    let _ = call(&mut h, 2);
    h.take_media();
    let e = h.api(
        "sys.call.construct",
        json!({"to_uri": "sip:1@127.0.0.1:5099", "max_answer_seconds": 60,
               "parent_call_res_id": idp, "parent_conf_res_id": "0.0.1-sys.conf-7"}),
    );
    assert_eq!(e["error"]["code"], -32602, "both parents: {e}");
    let e = h.api(
        "sys.call.construct",
        json!({"to_uri": "sip:1@127.0.0.1:5099", "max_answer_seconds": 60, "parent_conf_res_id": "0.0.1-sys.conf-7"}),
    );
    assert_eq!(e["error"]["code"], -32001, "an unknown conference: {e}");
    assert_eq!(state(&h, parent), "Idle");
    let r = h.api(
        "sys.call.construct",
        json!({"to_uri": "sip:1@127.0.0.1:5099", "max_answer_seconds": 60, "parent_call_res_id": idp,
               "ring_play_file": "ring.wav", "ring_play_mode": 1}),
    );
    let child_id = r["result"]["res_id"].as_str().expect("res_id").to_string();
    let child = h.gw.by_res[&child_id];
    assert_eq!(state(&h, parent), "Dial");
    let cmds = h.take_media();
    assert!(
        cmds.iter().all(|(w, _)| *w == wp),
        "the child lives on the parent's worker: {cmds:?}"
    );
    let join = cmds.iter().find_map(|(_, c)| match c {
        MediaCommand::Join { a, b, spec, .. } if (*a, *b) == (parent, child) => Some(spec.clone()),
        _ => None,
    });
    let spec = join.expect("the parent joined with the call it dials");
    assert!(spec.a_hears_b && !spec.b_hears_a);
    assert_eq!(
        spec.ringback,
        Some(Ringback {
            steps: vec![PlayStep::File("ring.wav".into())],
            until_media: true
        }),
        "mode 1: the file until the far end's media"
    );
    // The far end answers: on_dial_completed, the parent back to Idle, the join ended.
    let (_, inv) = h.sip_request("INVITE");
    h.far_end_answers(&inv, 200, "OK");
    h.pump();
    assert_eq!(h.event("on_dial_completed")["error"], Value::Null);
    assert_eq!(state(&h, parent), "Idle");
    assert!(
        h.take_media()
            .iter()
            .any(|(_, c)| *c == MediaCommand::Unjoin { a: parent })
    );
    h.media_event(MediaEvent::JoinEnded {
        a: parent,
        error: None,
        record_path: None,
    });
    assert!(
        !h.client
            .iter()
            .any(|v| v["method"] == "sys.call.on_connect_completed")
    );
    // Now they can be bridged, on one worker already.
    h.api_send(
        3,
        "sys.call.connect_start",
        json!({"res_id": idp, "call_res_id": child_id, "max_seconds": 3600}),
    );
    assert!(matches!(
        h.take_media().as_slice(),
        [(_, MediaCommand::Join { .. })]
    ));
}

/// The application bridges the parent with the call it dialled as soon as
/// `on_dial_completed` comes, before the worker's `JoinEnded` of the ring-back join: that
/// late event ends nothing (it ended a click-to-call bridge at once, found on a loaded
/// machine by `tests/example_click_to_call.rs`); the bridge's own end still does.
#[test]
fn a_late_ring_back_join_end_does_not_end_the_bridge_that_follows() {
    let mut h = Harness::new();
    let (parent, idp, _) = call(&mut h, 1);
    h.take_media();
    let r = h.api(
        "sys.call.construct",
        json!({"to_uri": "sip:1@127.0.0.1:5099", "max_answer_seconds": 60, "parent_call_res_id": idp,
               "ring_play_file": "ring.wav", "ring_play_mode": 1}),
    );
    let child_id = r["result"]["res_id"].as_str().expect("res_id").to_string();
    let child = h.gw.by_res[&child_id];
    h.take_media();
    let (_, inv) = h.sip_request("INVITE");
    h.far_end_answers(&inv, 200, "OK");
    h.pump();
    assert_eq!(h.event("on_dial_completed")["error"], Value::Null);
    assert!(
        h.take_media()
            .iter()
            .any(|(_, c)| *c == MediaCommand::Unjoin { a: parent })
    );
    // The bridge, before the ring-back join's end has come back.
    h.api_send(
        3,
        "sys.call.connect_start",
        json!({"res_id": idp, "call_res_id": child_id, "max_seconds": 3600}),
    );
    let token = match h.take_media().as_slice() {
        [(_, MediaCommand::Join { a, b, token, .. })] if (*a, *b) == (parent, child) => *token,
        other => panic!("{other:?}"),
    };
    // The worker ends the ring-back join (the Unjoin), then starts the bridge.
    h.media_event(MediaEvent::JoinEnded {
        a: parent,
        error: None,
        record_path: None,
    });
    h.media_event(MediaEvent::Started {
        call: parent,
        token,
        path: None,
    });
    assert_eq!(h.reply(3).expect("reply")["result"], Value::Null);
    assert!(
        !h.client
            .iter()
            .any(|v| v["method"] == "sys.call.on_connect_completed"),
        "the ring-back join's end ended the bridge"
    );
    assert_eq!(
        (state(&h, parent), state(&h, child)),
        ("Connect", "Connect")
    );
    // The bridge's own end.
    h.api("sys.call.connect_stop", json!({"res_id": idp}));
    assert_eq!(
        h.take_media()
            .iter()
            .map(|(_, c)| c.clone())
            .collect::<Vec<_>>(),
        vec![MediaCommand::Unjoin { a: parent }]
    );
    h.media_event(MediaEvent::JoinEnded {
        a: parent,
        error: None,
        record_path: None,
    });
    assert_eq!(h.event("on_connect_completed")["error"], Value::Null);
    assert_eq!((state(&h, parent), state(&h, child)), ("Idle", "Idle"));
}
