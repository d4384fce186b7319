//! The JSON-RPC surface through the real binary: every error code of API.md with the
//! parameter or resource it names, batches, notifications, token auth, /healthz and
//! /metrics, and refused requests leaving the call as it was.

use mediagw_testkit::calls::res_id;
use mediagw_testkit::{Client, Sipp, start_gateway};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_errors() {
    let gw = start_gateway!("");
    let mut c = Client::connect(&gw.ws_url()).await;
    c.send_text("{not json").await;
    let r = c.next_reply().await;
    assert_eq!(r["error"]["code"], -32700, "{r}");
    assert_eq!(r["id"], Value::Null);
    c.send_text(r#"{"jsonrpc":"1.0","id":1,"method":"sys.call.exists"}"#)
        .await;
    assert_eq!(c.next_reply().await["error"]["code"], -32600);
    c.send_text("[]").await;
    assert_eq!(c.next_reply().await["error"]["code"], -32600);
    c.send_text(r#"{"jsonrpc":"2.0","id":"x","method":"sys.call.fly"}"#)
        .await;
    let r = c.next_reply().await;
    assert_eq!(r["error"]["code"], -32601, "{r}");
    assert_eq!(r["id"], "x");
    // A batch: answers in order, the notification gets none, invalid members get -32600.
    c.send_text(
        r#"[{"jsonrpc":"2.0","id":1,"method":"sys.call.exists","params":{"res_id":"nope"}},
            {"jsonrpc":"2.0","method":"sys.call.exists","params":["nope"]},
            1,
            {"jsonrpc":"2.0","id":2,"method":"sys.call.exists","params":["nope"]}]"#,
    )
    .await;
    let r = c.next_reply().await;
    let arr = r.as_array().expect("batch response");
    assert_eq!(arr.len(), 3, "{r}");
    assert_eq!(arr[0]["result"], false);
    assert_eq!(arr[1]["error"]["code"], -32600);
    assert_eq!(arr[2]["id"], 2);
    // An all-notification batch gets no answer: the next reply is for the next request.
    c.send_text(r#"[{"jsonrpc":"2.0","method":"sys.call.exists","params":["a"]}]"#)
        .await;
    assert_eq!(c.ok("sys.call.exists", json!(["b"])).await, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_params_name_the_parameter() {
    let gw = start_gateway!("");
    let mut c = Client::connect(&gw.ws_url()).await;
    let cases = [
        (
            "sys.call.answer",
            json!({"res_id": "x"}),
            "max_answer_seconds",
        ),
        (
            "sys.call.answer",
            json!({"res_id": "x", "max_answer_seconds": "10"}),
            "max_answer_seconds",
        ),
        (
            "sys.call.answer",
            json!({"res_id": "x", "max_answer_seconds": 10, "colour": 1}),
            "colour",
        ),
        (
            "sys.call.reject",
            json!({"res_id": "x", "cause": 200}),
            "cause",
        ),
        (
            "sys.call.construct",
            json!({"to_uri": [], "max_answer_seconds": 5}),
            "to_uri",
        ),
        (
            "sys.call.construct",
            json!({"to_uri": "sip:1@127.0.0.1", "max_answer_seconds": 5, "max_ring_seconds": -1}),
            "max_ring_seconds",
        ),
        (
            "sys.call.construct",
            json!({"to_uri": "sip:1@127.0.0.1", "max_answer_seconds": 5, "parent_call_res_id": "a", "parent_conf_res_id": "b"}),
            "parent_conf_res_id",
        ),
        (
            "sys.call.receive_dtmf_start",
            json!({"res_id": "x", "valid_keys": "12x"}),
            "valid_keys",
        ),
        (
            "sys.call.play_start",
            json!({"res_id": "x", "content": [["2012-13-40", 4, ""]]}),
            "content",
        ),
        (
            "sys.call.record_start",
            json!({"res_id": "x", "max_seconds": 5, "record_format": 99}),
            "record_format",
        ),
        ("sys.call.exists", json!([]), "res_id"),
    ];
    for (method, params, param) in cases {
        let e = c.err(method, params.clone(), -32602).await;
        assert_eq!(e["data"]["param"], param, "{method} {params}: {e}");
        assert!(e["message"].as_str().unwrap().contains(param), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_and_state_errors_change_nothing() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    // -32001: unknown resource.
    let e = app
        .err(
            "sys.call.answer",
            json!({"res_id": "0.0.9-sys.call-1", "max_answer_seconds": 5}),
            -32001,
        )
        .await;
    assert_eq!(e["data"]["res_id"], "0.0.9-sys.call-1");
    let sipp = Sipp::uac("uac_wait_bye", gw.sip, "1000", &[]);
    let id = res_id(&app.event("on_incoming").await);
    // -32002: stopping an action that is not running; the call stays Initiated.
    let e = app
        .err("sys.call.play_stop", json!({"res_id": id}), -32002)
        .await;
    assert_eq!(e["data"]["state"], "Initiated", "{e}");
    assert_eq!(e["data"]["res_id"], id);
    let e = app
        .err(
            "sys.call.play_start",
            json!({"res_id": id, "content": "x.wav"}),
            -32002,
        )
        .await;
    assert_eq!(e["data"]["state"], "Initiated", "{e}");
    // The refused requests changed nothing: answering still works.
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 30}),
    )
    .await;
    app.event_of("on_answer_completed", &id).await;
    // -32002: answering twice.
    let e = app
        .err(
            "sys.call.answer",
            json!({"res_id": id, "max_answer_seconds": 30}),
            -32002,
        )
        .await;
    assert_eq!(e["data"]["state"], "Idle");
    // -32003: redirect and reject after answer.
    let e = app
        .err(
            "sys.call.redirect",
            json!({"res_id": id, "redirect_uri": "sip:10.0.0.1"}),
            -32003,
        )
        .await;
    assert!(
        e["data"]["reason"].as_str().unwrap().contains("answered"),
        "{e}"
    );
    app.err("sys.call.reject", json!({"res_id": id}), -32003)
        .await;
    assert_eq!(app.ok("sys.call.exists", json!({"res_id": id})).await, true);
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    app.event_of("on_released", &id).await;
    sipp.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direction_and_capacity_errors() {
    let uas = Sipp::uas("uas_answer_wait_bye", &[]);
    let cfg = format!(
        "[[gateways]]\naddress = \"{}\"\nmax_concurrent = 1\n",
        uas.addr()
    );
    let gw = start_gateway!(&cfg);
    let mut app = Client::connect(&gw.ws_url()).await;
    let to = format!("sip:1@{}", uas.addr());
    let id = res_id(
        &app.ok(
            "sys.call.construct",
            json!({"to_uri": to, "max_answer_seconds": 30}),
        )
        .await,
    );
    // -32003: answer/reject/redirect are for inbound calls.
    let e = app
        .err(
            "sys.call.answer",
            json!({"res_id": id, "max_answer_seconds": 5}),
            -32003,
        )
        .await;
    assert!(
        e["data"]["reason"].as_str().unwrap().contains("inbound"),
        "{e}"
    );
    app.err("sys.call.reject", json!({"res_id": id}), -32003)
        .await;
    // -32004: the only gateway is at its max_concurrent.
    let e = app
        .err(
            "sys.call.construct",
            json!({"to_uri": to, "max_answer_seconds": 30}),
            -32004,
        )
        .await;
    assert!(e["data"]["reason"].is_string(), "{e}");
    // -32001: a parent that does not exist; nothing was dialled.
    app.err("sys.call.construct", json!({"to_uri": format!("sip:2@{}", uas.addr()), "max_answer_seconds": 30, "parent_call_res_id": "0.0.77-sys.call-5"}), -32001).await;
    let d = app.event_of("on_dial_completed", &id).await;
    assert_eq!(d["error"], Value::Null);
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    app.event_of("on_released", &id).await;
    uas.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_error_for_a_missing_prompt() {
    let gw = start_gateway!("");
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("uac_wait_bye", gw.sip, "1000", &[]);
    let id = res_id(&app.event("on_incoming").await);
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 30}),
    )
    .await;
    app.event_of("on_answer_completed", &id).await;
    let e = app
        .err(
            "sys.call.play_start",
            json!({"res_id": id, "content": "no-such-prompt.wav"}),
            -32005,
        )
        .await;
    assert!(
        e["data"]["path"].is_string() && e["data"]["reason"].is_string(),
        "{e}"
    );
    // The call is still Idle: stopping a play that never started is a state error.
    let e = app
        .err("sys.call.play_stop", json!({"res_id": id}), -32002)
        .await;
    assert_eq!(e["data"]["state"], "Idle");
    app.ok("sys.call.drop", json!({"res_id": id})).await;
    app.event_of("on_released", &id).await;
    sipp.succeeded().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_events_go_to_the_next_requester() {
    let gw = start_gateway!("");
    let mut first = Client::connect(&gw.ws_url()).await;
    let sipp = Sipp::uac("uac_wait_bye", gw.sip, "1000", &[]);
    let id = res_id(&first.event("on_incoming").await);
    first
        .ok(
            "sys.call.answer",
            json!({"res_id": id, "max_answer_seconds": 2}),
        )
        .await;
    first.event_of("on_answer_completed", &id).await;
    first.close().await;
    // The call ends (max_answer_seconds) while nobody owns it: on_released is held.
    sipp.succeeded().await;
    let mut second = Client::connect(&format!("{}?incoming=false", gw.ws_url())).await;
    assert!(second.queued().is_empty());
    // The call is gone, but its held events reach the next requester of its res_id.
    assert_eq!(
        second.ok("sys.call.exists", json!({"res_id": id})).await,
        false
    );
    assert_eq!(second.queued_names_of(&id), vec!["sys.call.on_released"]);
    let rel = second.event_of("on_released", &id).await;
    assert_eq!(rel["dropped_by"], "sys");
    assert_eq!(rel["cause"], 408);
    // Delivered once: asking again yields nothing more.
    assert_eq!(
        second.ok("sys.call.exists", json!({"res_id": id})).await,
        false
    );
    assert!(second.queued().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_required_when_set_and_health_endpoints() {
    let gw = start_gateway!("[api]\ntoken = \"s3cret\"\n");
    let url = gw.ws_url();
    assert!(
        tokio_tungstenite::connect_async(&url).await.is_err(),
        "connected without token"
    );
    assert!(
        tokio_tungstenite::connect_async(format!("{url}?token=wrong"))
            .await
            .is_err()
    );
    let mut c = Client::connect(&format!("{url}?token=s3cret")).await;
    assert_eq!(c.ok("sys.call.exists", json!(["x"])).await, false);
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", "Bearer s3cret".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
    let h = mediagw_testkit::http::get(gw.api, "/healthz").await;
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    let m = mediagw_testkit::http::get(gw.api, "/metrics").await;
    assert!(m.contains("mediagw_api_connections"), "{m}");
}
