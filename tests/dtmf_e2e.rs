//! DTMF end to end through the real gateway: `receive_dtmf_start` with every parameter
//! fed by RFC 4733 events (our UA and SIPp's pcap play), SIP INFO and in-band tones
//! streamed as RTP; `send_dtmf_start` checked at the receiving end as RFC 4733 events
//! and as tones (decoded with the same detector).

use mediagw_testkit::{Client, Gateway, Sipp, Ua, start_gateway};
use serde_json::{Value, json};

async fn answered(pt_dtmf: bool) -> (Gateway, Client, Ua, String) {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let mut ua = Ua::invite(gw.sip, 0, pt_dtmf);
    let id = mediagw_testkit::calls::answer_offered(&mut app, &mut ua).await;
    (gw, app, ua, id)
}

fn digits(ua: &mut Ua, keys: &str) {
    tokio::task::block_in_place(|| {
        for k in keys.chars() {
            ua.send_digit(k, 101);
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4733_collection_finish_key_max_keys_valid_keys() {
    let (_gw, mut app, mut ua, id) = answered(true).await;
    // Defaults: finish key '#', excluded.
    app.ok("sys.call.receive_dtmf_start", json!({"res_id": id}))
        .await;
    digits(&mut ua, "123#");
    let r = app.event_of("on_receive_dtmf_completed", &id).await;
    assert_eq!(r["keys"], "123", "{r}");
    assert_eq!(r["error"], Value::Null);
    assert!(r["begin_time"].is_u64() && r["end_time"].is_u64());
    // including_finish_key with a custom finish key.
    app.ok(
        "sys.call.receive_dtmf_start",
        json!({"res_id": id, "finish_keys": "*", "including_finish_key": true}),
    )
    .await;
    digits(&mut ua, "45*");
    assert_eq!(
        app.event_of("on_receive_dtmf_completed", &id).await["keys"],
        "45*"
    );
    // max_keys ends the collection; valid_keys filters.
    app.ok(
        "sys.call.receive_dtmf_start",
        json!({"res_id": id, "valid_keys": "123", "max_keys": 2}),
    )
    .await;
    digits(&mut ua, "9183");
    assert_eq!(
        app.event_of("on_receive_dtmf_completed", &id).await["keys"],
        "13"
    );
    // A finish key outside valid_keys does not end it.
    app.ok(
        "sys.call.receive_dtmf_start",
        json!({"res_id": id, "valid_keys": "12", "max_keys": 3, "finish_keys": "#"}),
    )
    .await;
    digits(&mut ua, "1#21");
    assert_eq!(
        app.event_of("on_receive_dtmf_completed", &id).await["keys"],
        "121"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_prompt_repeat_and_stop() {
    let (_gw, mut app, mut ua, id) = answered(true).await;
    // No key: the prompt plays, times out, plays once more (play_repeat 1), then "timeout".
    app.ok(
        "sys.call.receive_dtmf_start",
        json!({"res_id": id, "play_content": [["5", 1, ""]], "play_repeat": 1, "first_key_timeout": 1}),
    )
    .await;
    let r = app.event_of("on_receive_dtmf_completed", &id).await;
    assert_eq!(r["error"], "timeout", "{r}");
    assert_eq!(r["keys"], "");
    let plays = count_talkspurts(&ua.packets(0));
    assert_eq!(plays, 2, "the prompt was played twice (initial + 1 repeat)");
    // Inter-key timeout keeps what was received.
    app.ok(
        "sys.call.receive_dtmf_start",
        json!({"res_id": id, "continues_keys_timeout": 1}),
    )
    .await;
    digits(&mut ua, "7");
    let r = app.event_of("on_receive_dtmf_completed", &id).await;
    assert_eq!(
        (r["error"].as_str(), r["keys"].as_str()),
        (Some("timeout"), Some("7")),
        "{r}"
    );
    // stop_receive_dtmf_start ends it with the keys so far, error null.
    app.ok("sys.call.receive_dtmf_start", json!({"res_id": id}))
        .await;
    digits(&mut ua, "98");
    // Each digit is reported at its first packet, ~180 ms before send_digit returns.
    app.ok("sys.call.stop_receive_dtmf_start", json!({"res_id": id}))
        .await;
    let r = app.event_of("on_receive_dtmf_completed", &id).await;
    assert_eq!(r["error"], Value::Null);
    assert_eq!(r["keys"], "98", "{r}");
    app.err(
        "sys.call.stop_receive_dtmf_start",
        json!({"res_id": id}),
        -32002,
    )
    .await;
}

/// Number of talk spurts (marker bits) among received packets.
fn count_talkspurts(pkts: &[mediagw_testkit::Rx]) -> usize {
    pkts.iter().filter(|p| p.marker).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_stops_the_prompt() {
    let (_gw, mut app, mut ua, id) = answered(true).await;
    let long = json!([
        ["13800138000", 1, ""],
        ["13800138000", 1, ""],
        ["13800138000", 1, ""]
    ]);
    app.ok(
        "sys.call.receive_dtmf_start",
        json!({"res_id": id, "play_content": long, "max_keys": 2}),
    )
    .await;
    let before = tokio::task::block_in_place(|| ua.wait_packets(0, 10)).len();
    assert!(before >= 10);
    digits(&mut ua, "4");
    // The prompt stops at the key: far fewer packets than the ~7 s prompt.
    digits(&mut ua, "2");
    let r = app.event_of("on_receive_dtmf_completed", &id).await;
    assert_eq!(r["keys"], "42");
    let total = ua.packets(0).len();
    assert!(
        total < 200,
        "prompt stopped by the key: {total} packets (the full prompt is ~350)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_info_and_inband_digits_are_collected() {
    let (_gw, mut app, mut ua, id) = answered(true).await;
    app.ok(
        "sys.call.receive_dtmf_start",
        json!({"res_id": id, "max_keys": 3}),
    )
    .await;
    tokio::task::block_in_place(|| {
        ua.info('3');
        ua.info('1');
        ua.info('4');
    });
    assert_eq!(
        app.event_of("on_receive_dtmf_completed", &id).await["keys"],
        "314"
    );
    // A call without telephone-event: digits as tones inside the audio.
    let (_gw, mut app, mut ua, id) = answered(false).await;
    app.ok(
        "sys.call.receive_dtmf_start",
        json!({"res_id": id, "max_keys": 4}),
    )
    .await;
    tokio::task::block_in_place(|| ua.stream_inband("2580", 80, 80));
    let r = app.event_of("on_receive_dtmf_completed", &id).await;
    assert_eq!(r["keys"], "2580", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_pcap_digit_is_collected() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("uac_pcap_dtmf", gw.sip, "1000", &[]);
    let id = app.event("on_incoming").await["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    )
    .await;
    app.event_of("on_answer_completed", &id).await;
    app.ok(
        "sys.call.receive_dtmf_start",
        json!({"res_id": id, "max_keys": 1}),
    )
    .await;
    let r = app.event_of("on_receive_dtmf_completed", &id).await;
    assert_eq!(r["keys"], "1", "{r}");
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    sipp.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_dtmf_arrives_as_events_and_as_tones() {
    // Peer offered telephone-event: RFC 4733 packets, one event per digit, 3 end packets.
    let (_gw, mut app, ua, id) = answered(true).await;
    app.ok(
        "sys.call.send_dtmf_start",
        json!({"res_id": id, "keys": "19#"}),
    )
    .await;
    let done = app.event_of("on_send_dtmf_completed", &id).await;
    assert_eq!(done["error"], Value::Null, "{done}");
    let ev = ua.packets(101);
    let mut got = String::new();
    let mut last_ts = None;
    for p in &ev {
        if Some(p.ts) != last_ts {
            assert!(p.marker, "marker on the first packet of each event");
            got.push(mediagw::rtp::dtmf_char(p.payload[0]).unwrap());
            last_ts = Some(p.ts);
        }
    }
    assert_eq!(got, "19#");
    let ends = ev.iter().filter(|p| p.payload[1] & 0x80 != 0).count();
    assert_eq!(ends, 9, "three end packets per digit");
    // Peer without telephone-event: tones in the audio, found by the detector.
    let (_gw, mut app, ua, id) = answered(false).await;
    app.ok(
        "sys.call.send_dtmf_start",
        json!({"res_id": id, "keys": "7*3"}),
    )
    .await;
    app.event_of("on_send_dtmf_completed", &id).await;
    let pcm: Vec<i16> = ua
        .packets(0)
        .iter()
        .flat_map(|p| {
            p.payload
                .iter()
                .map(|b| mediagw::codec::ulaw_to_linear(*b))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut det = mediagw::dtmf::Detector::new();
    let mut found = String::new();
    det.rx(&pcm, |e| {
        if e.end.is_none() {
            found.push(e.digit)
        }
    });
    det.finish(|e| {
        if e.end.is_none() {
            found.push(e.digit)
        }
    });
    assert_eq!(found, "7*3");
}
