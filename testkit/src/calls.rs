//! Calls set up end to end for a test: a real inbound call from the test agent, answered
//! by the test's API client.

use mediagw::codec::Codec;
use serde_json::json;

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

/// Answers the next call offered to `app` (`ua`'s INVITE) and waits until it is Idle
/// (the UA took the 200, its ACK arrived); the call's res_id.
pub async fn answer_offered(app: &mut Client, ua: &mut Ua) -> String {
    let id = app.event("on_incoming").await["res_id"]
        .as_str()
        .expect("res_id")
        .to_string();
    app.ok(
        "sys.call.answer",
        json!({"res_id": id, "max_answer_seconds": 300}),
    )
    .await;
    tokio::task::block_in_place(|| ua.wait_answer());
    app.event_of("on_answer_completed", &id).await;
    id
}
