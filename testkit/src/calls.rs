//! Calls set up end to end for a test: a real inbound call from the test agent, answered
//! by the test's API client.

use mediagw::codec::Codec;
use serde_json::{Value, json};

use crate::{Client, Gateway, Ua};

/// An inbound call from a [`Ua`] offering `codec` (and telephone-event under payload type
/// `te`), answered by `app` and Idle (its ACK arrived); the agent and the call's res_id.
/// Blocking parts run in `block_in_place`: call it from a multi-threaded runtime.
pub async fn answered(
    gw: &Gateway,
    app: &mut Client,
    codec: Codec,
    te: Option<u8>,
) -> (Ua, String) {
    let mut ua = Ua::invite_with(gw.sip, codec, te);
    let id = answer_offered(app, &mut ua).await;
    (ua, id)
}

/// The `res_id` of a reply or event.
pub fn res_id(v: &Value) -> String {
    v["res_id"].as_str().expect("res_id").to_string()
}

/// Answers the next call offered to `app` (from any peer: SIPp, through a proxy) and
/// waits for its `on_answer_completed`, which must carry no error (the ACK arrived);
/// the call's res_id.
pub async fn answer_next(app: &mut Client, max_answer_seconds: u32) -> String {
    let id = res_id(&app.event("on_incoming").await);
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": max_answer_seconds}),
    )
    .await;
    let done = app.event_of("on_answer_completed", &id).await;
    assert_eq!(done["error"], Value::Null, "the ACK did not arrive: {done}");
    id
}

/// Answers the next call offered to `app` (`ua`'s INVITE) and waits until it is Idle
/// (the UA took the 200, its ACK arrived); the call's res_id.
pub async fn answer_offered(app: &mut Client, ua: &mut Ua) -> String {
    let id = res_id(&app.event("on_incoming").await);
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 300}),
    )
    .await;
    tokio::task::block_in_place(|| ua.wait_answer());
    app.event_of("on_answer_completed", &id).await;
    id
}
