//! The JSON bodies of the sys.call events, with every parameter of the seed present
//! (`null` where it does not apply), built from the call record.

use serde_json::{Value, json};

use super::resource::Call;

/// The `ipsc_info` object: our process id and, for events that name it, the SIP Call-ID.
pub fn ipsc_info(process_id: u64, call_id: Option<&str>) -> Value {
    match call_id {
        Some(c) => json!({ "process_id": process_id, "call_id": c }),
        None => json!({ "process_id": process_id }),
    }
}

pub fn on_incoming(c: &Call, process_id: u64) -> Value {
    json!({
        "res_id": c.res_id,
        "from_uri": c.from_uri,
        "to_uri": c.to_uri,
        "begin_time": c.begin_time,
        "user_data": c.user_data,
        "ipsc_info": ipsc_info(process_id, Some(&c.leg.dialog.call_id)),
    })
}

pub fn on_released(
    c: &Call,
    end_time: u64,
    dropped_by: &str,
    cause: u16,
    process_id: u64,
) -> Value {
    json!({
        "res_id": c.res_id,
        "call_dir": c.dir.as_str(),
        "from_uri": c.from_uri,
        "to_uri": c.to_uri,
        "begin_time": c.begin_time,
        "answer_time": c.answer_time,
        "end_time": end_time,
        "dropped_by": dropped_by,
        "cause": cause,
        "user_data": c.user_data,
        "ipsc_info": ipsc_info(process_id, Some(&c.leg.dialog.call_id)),
    })
}

pub fn on_ringing(c: &Call, ring_time: u64) -> Value {
    json!({ "res_id": c.res_id, "ring_time": ring_time, "user_data": c.user_data })
}

pub fn on_dial_completed(c: &Call, error: Option<&str>, end_time: u64) -> Value {
    json!({
        "res_id": c.res_id,
        "error": error,
        "begin_time": c.begin_time,
        "answer_time": c.answer_time,
        "end_time": end_time,
        "user_data": c.user_data,
    })
}

pub fn on_answer_completed(c: &Call, error: Option<&str>, begin_time: u64, end_time: u64) -> Value {
    json!({
        "res_id": c.res_id,
        "error": error,
        "begin_time": begin_time,
        "end_time": end_time,
        "user_data": c.user_data,
    })
}
