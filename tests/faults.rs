//! Faults, through the real binary. A panic in one call's handling never takes down
//! another call, a worker or the process: with fault injection armed (a test build and
//! `MEDIAGW_FAULT_INJECTION`; release builds have no such switch), an `answer` whose
//! `user_data` carries the marker panics in the engine half-way through, and an RTP
//! packet carrying it panics in the media worker; each time that call is released with
//! cause 500 and the panic logged with its res_id, while another call on the same worker
//! keeps recording exactly what it is sent. And a peer that never answers our BYE is let
//! go by the transaction timers. (A peer that vanishes without a BYE is released after
//! the RTP timeout: `tests/media.rs` `silent_peer_is_hung_up_after_rtp_timeout`; one that
//! never ACKs our 200: `tests/sip_edge.rs` `answer_without_ack_fails_the_answer_and_releases`.)

use std::time::Duration;

use mediagw::engine::faults::FAULT_MARKER;
use mediagw_testkit::{Client, Launch, Peer, Ua, start_gateway};
use serde_json::{Value, json};

/// Test builds only: a release build has no fault switch (see the test after this).
#[cfg(debug_assertions)]
mod injected {
    use super::*;
    use mediagw_testkit::calls::answer_offered as answer;
    use mediagw_testkit::http::{get, wait_metric};

    fn pattern(frames: usize, seed: u32) -> Vec<Vec<u8>> {
        let mut x = seed;
        (0..frames)
            .map(|_| {
                (0..160)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        let b = (x >> 16) as u8;
                        if b & 0x7f == 0x7f { 0x70 } else { b }
                    })
                    .collect()
            })
            .collect()
    }

    /// The `data` chunk of a WAV file.
    fn wav_data(path: &str) -> Vec<u8> {
        let b = std::fs::read(path).expect("recording");
        let mut i = 12;
        while i + 8 <= b.len() {
            let len = u32::from_le_bytes(b[i + 4..i + 8].try_into().unwrap()) as usize;
            if &b[i..i + 4] == b"data" {
                return b[i + 8..i + 8 + len].to_vec();
            }
            i += 8 + len + (len & 1);
        }
        panic!("no data chunk in {path}");
    }

    /// Waits (up to 10 s: the log is read from the child's stderr by a thread) for a
    /// line holding both `needle` and `res_id`.
    fn logged_with(gw: &mediagw_testkit::Gateway, needle: &str, res_id: &str) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if gw
                .log_text()
                .lines()
                .any(|l| l.contains(needle) && l.contains(res_id))
            {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_in_one_calls_request_or_media_releases_that_call_only() {
        let gw = Launch::new(env!("CARGO_BIN_EXE_mediagw"))
            .env("MEDIAGW_FAULT_INJECTION", "1")
            .start()
            .unwrap_or_else(|e| panic!("{e:#}"));
        let mut app = Client::connect(&gw.ws_url()).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !gw.log_text().contains("fault injection armed") {
            assert!(std::time::Instant::now() < deadline, "{}", gw.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // The survivor: answered, recording, on the one media worker.
        let mut keep = Ua::invite(gw.sip, 0, false);
        let kept = answer(&mut app, &mut keep).await;
        let path = app
            .ok(
                "sys.call.record_start",
                json!({"res_id": kept, "max_seconds": 60, "beep": false, "record_format": 7}),
            )
            .await;

        // 1. An API request that panics in the engine: an error reply, its call released.
        let doomed = Ua::invite(gw.sip, 0, false);
        let id = app.event("on_incoming").await["res_id"]
            .as_str()
            .unwrap()
            .to_string();
        let e = app
            .err(
                "sys.call.answer",
                json!({"res_id": id, "max_answer_seconds": 60, "user_data": FAULT_MARKER}),
                -32603,
            )
            .await;
        assert!(
            e["message"].as_str().unwrap().contains("internal error"),
            "{e}"
        );
        let rel = app.event_of("on_released", &id).await;
        assert_eq!(
            (rel["dropped_by"].as_str(), rel["cause"].as_u64()),
            (Some("sys"), Some(500))
        );
        let resp = tokio::task::block_in_place(|| doomed.expect("SIP/2.0 500"));
        assert!(resp.contains("Call-ID:"), "{resp}");
        // The answer runs when the request arrives, or, when the call's port was not yet
        // bound, when the media plane reports it: the panic is logged under either.
        assert!(
            logged_with(&gw, "released with cause 500", &id)
                && logged_with(&gw, "panic while handling", &id),
            "{}",
            gw.log_text()
        );

        // 2. A datagram that panics in the media worker: that call's media closes, the call
        //    is released with cause 500 (BYE), the worker carries on.
        let mut faulty = Ua::invite(gw.sip, 0, false);
        let fid = answer(&mut app, &mut faulty).await;
        let mut payload = FAULT_MARKER.as_bytes().to_vec();
        payload.resize(160, 0x55);
        tokio::task::block_in_place(|| faulty.send_rtp(0, true, 1000, &payload));
        let rel = app.event_of("on_released", &fid).await;
        assert_eq!(
            (rel["dropped_by"].as_str(), rel["cause"].as_u64()),
            (Some("sys"), Some(500))
        );
        let bye = tokio::task::block_in_place(|| faulty.expect("BYE "));
        assert!(bye.contains("cause=500"), "{bye}");
        assert!(logged_with(&gw, "media failed", &fid));

        // The survivor's media went on on the same worker: it records what it is sent now.
        let frames = pattern(25, 7);
        tokio::task::block_in_place(|| {
            keep.stream(0, &frames);
            std::thread::sleep(Duration::from_millis(200));
        });
        app.ok("sys.call.record_stop", json!({"res_id": kept}))
            .await;
        app.event_of("on_record_completed", &kept).await;
        let data = wav_data(path.as_str().unwrap());
        let sent = frames.concat();
        assert!(
            data.windows(sent.len()).any(|w| w == sent.as_slice()),
            "the surviving call's recording holds what it was sent after the faults"
        );
        assert_eq!(
            app.ok("sys.call.exists", json!({"res_id": kept})).await,
            Value::Bool(true)
        );
        // The process is well: healthy, counting the two contained panics, taking calls.
        assert!(get(gw.api, "/healthz").await.starts_with("HTTP/1.1 200"));
        wait_metric(gw.api, "mediagw_panics_total", |v| v == 2.0).await;
        let mut fresh = Ua::invite(gw.sip, 0, false);
        answer(&mut app, &mut fresh).await;
    }
}

/// A release build ignores the switch: the marked `answer` is an ordinary answer.
#[cfg(not(debug_assertions))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_build_cannot_be_made_to_panic() {
    let gw = Launch::new(env!("CARGO_BIN_EXE_mediagw"))
        .env("MEDIAGW_FAULT_INJECTION", "1")
        .start()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let mut app = Client::connect(&gw.ws_url()).await;
    let mut ua = Ua::invite(gw.sip, 0, false);
    let id = app.event("on_incoming").await["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60, "user_data": FAULT_MARKER}),
    )
    .await;
    tokio::task::block_in_place(|| ua.wait_answer());
    app.event_of("on_answer_completed", &id).await;
    assert!(
        !gw.log_text().contains("fault injection"),
        "{}",
        gw.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_bye_is_let_go_by_timer_f() {
    // T1 = 50 ms: the BYE is retransmitted, then given up after 64*T1 = 3.2 s.
    let gw = start_gateway!("[sip]\nt1_ms = 50\n");
    let mut app = Client::connect(&gw.ws_url()).await;
    let p = Peer::new(gw.sip);
    p.send(&p.request("INVITE", "mute-peer", "", ""));
    let id = app.event("on_incoming").await["res_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 60}),
    )
    .await;
    let ok = tokio::task::block_in_place(|| p.expect("SIP/2.0 200"));
    let tag = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split("tag=").nth(1))
        .unwrap()
        .trim()
        .to_string();
    p.send(&p.request("ACK", "mute-peer", "", "").replace(
        &format!("To: <sip:100@{}>", gw.sip),
        &format!("To: <sip:100@{}>;tag={tag}", gw.sip),
    ));
    app.event_of("on_answer_completed", &id).await;
    app.ok("sys.call.drop", json!({"res_id": id, "cause": 200}))
        .await;
    // The application learns at once; the BYE is retransmitted for 64*T1 and no longer.
    app.event_of("on_released", &id).await;
    let sent = tokio::task::block_in_place(|| p.collect(Duration::from_millis(5000)));
    let byes = sent.iter().filter(|m| m.starts_with("BYE ")).count();
    assert!((4..=12).contains(&byes), "{byes} BYEs: {sent:#?}");
    let after = tokio::task::block_in_place(|| p.collect(Duration::from_millis(2000)));
    assert!(after.is_empty(), "still sending after Timer F: {after:#?}");
    assert_eq!(
        app.ok("sys.call.exists", json!({"res_id": id})).await,
        Value::Bool(false)
    );
}
