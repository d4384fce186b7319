//! Conferences through the engine, the media plane scripted: the resource's API, members
//! entering (their media moving to the conference's worker), voice modes, plays, the
//! release that ends memberships but not calls, and every misuse refused unchanged.

use super::*;
use crate::media_msg::MemberMode;
use crate::speech::PlayStep;

fn call(h: &mut Harness, n: u32) -> (u64, String) {
    let call_id = format!("conf-{n}");
    h.sip_in(
        &invite()
            .replace("z9hG4bKe1", &format!("z9hG4bKc{n}"))
            .replace("engine-test-1", &call_id)
            .replace("tag=a1", &format!("tag=a{n}")),
    );
    let id = h.event("on_incoming")["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    h.api(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 600}),
    );
    let tag = h.sip_status(200).to_tag().unwrap();
    h.sip_in(&format!(
        "ACK sip:mediagw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKca{n}\nMax-Forwards: 70\nFrom: <sip:1001@127.0.0.1>;tag=a{n}\nTo: <sip:95588@127.0.0.1>;tag={tag}\nCall-ID: {call_id}\nCSeq: 1 ACK\nContent-Length: 0\n\n"
    ));
    h.event("on_answer_completed");
    (h.gw.by_res[&id], id)
}

/// A conference and its worker.
fn conference(h: &mut Harness, params: Value) -> (u64, String, usize) {
    let r = h.api("sys.conf.construct", params);
    let id = r["result"]["res_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    assert!(id.contains("sys.conf"), "{id}");
    let (w, conf) = match h.take_media().as_slice() {
        [(w, MediaCommand::ConfOpen { conf })] => (*w, *conf),
        other => panic!("{other:?}"),
    };
    (conf, id, w)
}

/// `call` enters; the engine moves it if needed; the media plane confirms.
fn enter(
    h: &mut Harness,
    req: u64,
    call: u64,
    id: &str,
    conf_id: &str,
    conf_worker: usize,
    mode: u8,
) {
    h.api_send(
        req,
        "sys.call.conf_enter",
        json!({"res_id": id, "conf_res_id": conf_id, "max_seconds": 3600, "voice_mode": mode}),
    );
    assert!(h.reply(req).is_none(), "answered once in");
    let mut token = None;
    for (w, c) in h.take_media() {
        match c {
            MediaCommand::Move { call: m, to } => {
                assert_eq!((m, to), (call, conf_worker));
                h.media_event(MediaEvent::Moved { call, worker: to });
            }
            MediaCommand::ConfEnter {
                call: m, token: t, ..
            } => {
                assert_eq!((m, w), (call, conf_worker));
                token = Some(t);
            }
            _ => {}
        }
    }
    let token = token.or_else(|| {
        h.take_media().into_iter().find_map(|(w, c)| match c {
            MediaCommand::ConfEnter { call: m, token, .. } if m == call && w == conf_worker => {
                Some(token)
            }
            _ => None,
        })
    });
    h.media_event(MediaEvent::Started {
        call,
        token: token.expect("ConfEnter"),
        path: None,
    });
    assert_eq!(h.reply(req).expect("reply")["result"], Value::Null);
    assert_eq!(h.gw.calls[&call].state.name(), "Conference");
}

#[test]
fn a_conference_from_construct_to_release() {
    let mut h = Harness::new();
    let (c1, id1) = call(&mut h, 1);
    let (c2, id2) = call(&mut h, 2);
    let (c3, id3) = call(&mut h, 3);
    h.take_media();
    let (conf, conf_id, w) = conference(
        &mut h,
        json!({"max_seconds": 3600, "max_parts": 3, "user_data": "room"}),
    );
    assert_eq!(
        h.api("sys.conf.exists", json!({"res_id": conf_id}))["result"],
        true
    );
    enter(&mut h, 1, c1, &id1, &conf_id, w, 1);
    enter(&mut h, 2, c2, &id2, &conf_id, w, 2);
    enter(&mut h, 3, c3, &id3, &conf_id, w, 3);
    // Full: a fourth gets -32004, nothing changes.
    let (c4, id4) = call(&mut h, 4);
    let e = h.api(
        "sys.call.conf_enter",
        json!({"res_id": id4, "conf_res_id": conf_id, "max_seconds": 60}),
    );
    assert_eq!(e["error"]["code"], -32004, "{e}");
    assert_eq!(h.gw.calls[&c4].state.name(), "Idle");
    // A member mutes another.
    let r = h.api(
        "sys.conf.set_voice_mode",
        json!({"res_id": conf_id, "call_res_id": id2, "voice_mode": 4}),
    );
    assert_eq!(r["result"], Value::Null);
    assert!(h.take_media().contains(&(
        w,
        MediaCommand::ConfMode {
            conf,
            call: c2,
            mode: MemberMode {
                talks: false,
                listens: false
            }
        }
    )));
    // A play to every member.
    h.api_send(
        9,
        "sys.conf.play_start",
        json!({"res_id": conf_id, "content": [["hello.wav", 0, ""]]}),
    );
    let token = h.take_media().into_iter().find_map(|(_, c)| match c {
        MediaCommand::ConfPlay { token, .. } => Some(token),
        _ => None,
    });
    h.media_event(MediaEvent::Started {
        call: conf,
        token: token.expect("ConfPlay"),
        path: None,
    });
    assert_eq!(h.reply(9).expect("reply")["result"], Value::Null);
    h.media_event(MediaEvent::PlayCompleted {
        call: conf,
        error: None,
        finish_key: None,
    });
    let done = h
        .client
        .iter()
        .find(|v| v["method"] == "sys.conf.on_play_completed")
        .expect("conf play completed")
        .clone();
    assert_eq!(done["params"]["res_id"], conf_id.as_str());
    // Release: ConfClose; each member leaves (calls live on, Idle), then on_released.
    assert_eq!(
        h.api("sys.conf.release", json!({"res_id": conf_id}))["result"],
        Value::Null
    );
    assert!(
        h.take_media()
            .contains(&(w, MediaCommand::ConfClose { conf }))
    );
    for c in [c1, c2, c3] {
        h.media_event(MediaEvent::ConfLeft {
            conf,
            call: c,
            error: None,
        });
    }
    h.media_event(MediaEvent::Closed {
        call: conf,
        stats: Default::default(),
    });
    let completions: Vec<Value> = h
        .client
        .iter()
        .filter(|v| v["method"] == "sys.call.on_conf_completed")
        .cloned()
        .collect();
    assert_eq!(completions.len(), 3, "one per member");
    assert!(
        completions
            .iter()
            .all(|c| c["params"]["error"] == "conference released")
    );
    let rel = h
        .client
        .iter()
        .find(|v| v["method"] == "sys.conf.on_released")
        .expect("released")
        .clone();
    assert_eq!(rel["params"]["user_data"], "room");
    for c in [c1, c2, c3] {
        assert_eq!(h.gw.calls[&c].state.name(), "Idle", "the call lives on");
    }
    assert_eq!(
        h.api("sys.conf.exists", json!({"res_id": conf_id}))["result"],
        false
    );
}

#[test]
fn conference_misuse_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    let (c1, id1) = call(&mut h, 1);
    h.take_media();
    let (_, a_id, wa) = conference(&mut h, json!({"max_seconds": 60}));
    let (_, b_id, _) = conference(&mut h, json!({"max_seconds": 60}));
    let e = h.api(
        "sys.call.conf_enter",
        json!({"res_id": id1, "conf_res_id": "0.0.77-sys.conf-7", "max_seconds": 60}),
    );
    assert_eq!(e["error"]["code"], -32001, "{e}");
    let e = h.api(
        "sys.call.conf_exit",
        json!({"res_id": id1, "conf_res_id": a_id}),
    );
    assert_eq!(e["error"]["code"], -32002, "not in it: {e}");
    enter(&mut h, 1, c1, &id1, &a_id, wa, 1);
    let e = h.api(
        "sys.call.conf_enter",
        json!({"res_id": id1, "conf_res_id": b_id, "max_seconds": 60}),
    );
    assert_eq!(e["error"]["code"], -32002, "already in a conference: {e}");
    assert_eq!(e["error"]["data"]["state"], "Conference");
    let e = h.api(
        "sys.call.conf_exit",
        json!({"res_id": id1, "conf_res_id": b_id}),
    );
    assert_eq!(e["error"]["code"], -32002, "not that conference: {e}");
    let e = h.api("sys.conf.play_stop", json!({"res_id": a_id}));
    assert_eq!(e["error"]["code"], -32002, "nothing playing: {e}");
    let e = h.api("sys.conf.release", json!({"res_id": "0.0.1-sys.conf-9"}));
    assert_eq!(e["error"]["code"], -32001, "{e}");
}

#[test]
fn a_member_hanging_up_completes_its_membership_before_its_release() {
    let mut h = Harness::new();
    let (c1, id1) = call(&mut h, 1);
    h.take_media();
    let (conf, conf_id, w) = conference(&mut h, json!({"max_seconds": 60}));
    enter(&mut h, 1, c1, &id1, &conf_id, w, 1);
    let tag = h.gw.calls[&c1].leg.dialog.local_tag.clone();
    h.sip_in(&format!(
        "BYE sip:mediagw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKcb\nMax-Forwards: 70\nFrom: <sip:1001@127.0.0.1>;tag=a1\nTo: <sip:95588@127.0.0.1>;tag={tag}\nCall-ID: conf-1\nCSeq: 2 BYE\nContent-Length: 0\n\n"
    ));
    assert!(
        !h.client
            .iter()
            .any(|v| v["method"] == "sys.call.on_released")
    );
    h.media_event(MediaEvent::ConfLeft {
        conf,
        call: c1,
        error: Some("call released".into()),
    });
    let names: Vec<&str> = h
        .client
        .iter()
        .filter_map(|v| v["method"].as_str())
        .collect();
    let c = names
        .iter()
        .position(|n| *n == "sys.call.on_conf_completed")
        .expect("completed");
    let r = names
        .iter()
        .position(|n| *n == "sys.call.on_released")
        .expect("released");
    assert!(c < r, "{names:?}");
    // The conference lives on, empty.
    assert_eq!(
        h.api("sys.conf.exists", json!({"res_id": conf_id}))["result"],
        true
    );
}

#[test]
fn the_conference_max_seconds_releases_it() {
    let mut h = Harness::new();
    let (conf, _, w) = conference(&mut h, json!({"max_seconds": 30}));
    h.advance(Duration::from_secs(29));
    assert!(h.take_media().is_empty());
    h.advance(Duration::from_secs(2));
    assert_eq!(h.take_media(), vec![(w, MediaCommand::ConfClose { conf })]);
}

#[test]
fn dialling_on_a_conference_lets_it_hear_the_call_until_dial_completed() {
    let mut h = Harness::new();
    let (conf, conf_id, cw) = conference(&mut h, json!({"max_seconds": 3600}));
    let r = h.api(
        "sys.call.construct",
        json!({"to_uri": "sip:1@127.0.0.1:5099", "max_answer_seconds": 60,
               "parent_conf_res_id": conf_id, "ring_play_file": "ring.wav", "ring_play_mode": 1}),
    );
    let child_id = r["result"]["res_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    let child = h.gw.by_res[&child_id];
    let cmds = h.take_media();
    assert!(
        cmds.iter().all(|(w, _)| *w == cw),
        "the call lives on the conference's worker: {cmds:?}"
    );
    let entered = cmds.iter().find_map(|(_, c)| match c {
        MediaCommand::ConfEnter {
            conf: k,
            call,
            mode,
            ..
        } if (*k, *call) == (conf, child) => Some(*mode),
        _ => None,
    });
    assert_eq!(
        entered,
        Some(MemberMode {
            talks: true,
            listens: false
        }),
        "the conference hears the call, the far end hears nothing: {cmds:?}"
    );
    assert!(
        cmds.iter().any(
            |(_, c)| matches!(c, MediaCommand::ConfPlay { conf: k, spec, .. }
            if *k == conf && spec.steps == vec![PlayStep::File("ring.wav".into())])
        ),
        "mode 1: the ring-back file plays to the conference: {cmds:?}"
    );
    // The far end rings with early media: the file stops (the conference hears it).
    let (_, inv) = h.sip_request("INVITE");
    h.far_end_answers(&inv, 183, "Session Progress");
    let cmds = h.take_media();
    assert!(
        cmds.iter()
            .any(|(_, c)| *c == MediaCommand::ConfStopPlay { conf }),
        "{cmds:?}"
    );
    // Answered: on_dial_completed, and the call leaves the conference.
    h.far_end_answers(&inv, 200, "OK");
    h.pump();
    assert_eq!(h.event("on_dial_completed")["error"], Value::Null);
    let cmds = h.take_media();
    assert!(
        cmds.iter()
            .any(|(_, c)| *c == MediaCommand::ConfExit { conf, call: child }),
        "{cmds:?}"
    );
    // A conference that is not there: -32001, nothing dialled.
    let e = h.api(
        "sys.call.construct",
        json!({"to_uri": "sip:1@127.0.0.1:5099", "max_answer_seconds": 60,
               "parent_conf_res_id": "0.0.1-sys.conf-99"}),
    );
    assert_eq!(e["error"]["code"], -32001, "{e}");
}
