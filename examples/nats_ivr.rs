//! The IVR over the NATS control bus, in one screen: takes inbound calls offered on
//! `mediagw.incoming` (queue group `ivr`, so several copies share the calls), answers
//! each, plays a prompt while collecting up to 4 digits ending with `#`, reads the
//! digits back, and hangs up. Every event is acknowledged and printed.
//!
//! ```text
//! cargo run --example nats_ivr -- --url nats://127.0.0.1:4222
//! ```

use futures_util::StreamExt;
use serde_json::{Value, json};

#[derive(clap::Parser, Debug)]
#[command(name = "nats_ivr")]
struct Args {
    /// The NATS server the gateways use (`api.nats.url`).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    let nats = async_nats::connect(args.url.as_str()).await?;
    let mut offers = nats
        .queue_subscribe("mediagw.incoming", "ivr".to_string())
        .await?;
    // The server has the subscription once the flush's round trip is back.
    nats.flush().await?;
    println!("waiting for calls on {}", args.url);
    while let Some(offer) = offers.next().await {
        let v: Value = serde_json::from_slice(&offer.payload)?;
        let res_id = v["params"]["res_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(node) = mediagw::engine::res_id::node_of(&res_id).map(String::from) else {
            continue;
        };
        // Subscribe to the call's events before claiming it, then claim it.
        let events = nats
            .subscribe(format!("mediagw.{node}.events.{res_id}"))
            .await?;
        if let Some(reply) = offer.reply {
            nats.publish(reply, "".into()).await?;
        }
        println!("call {res_id} on node {node}");
        tokio::spawn(run_call(nats.clone(), node, res_id, events));
    }
    Ok(())
}

/// One call's menu, driven by its events.
async fn run_call(
    nats: async_nats::Client,
    node: String,
    res_id: String,
    mut events: async_nats::Subscriber,
) {
    let rpc = |method: &str, params: Value| {
        let nats = nats.clone();
        let subject = format!("mediagw.{node}.rpc");
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        async move {
            match nats.request(subject, body.to_string().into()).await {
                Ok(m) => println!("  {}", String::from_utf8_lossy(&m.payload)),
                Err(e) => println!("  request failed: {e}"),
            }
        }
    };
    rpc(
        "sys.call.answer",
        json!({"res_id": res_id, "max_answer_seconds": 120}),
    )
    .await;
    while let Some(msg) = events.next().await {
        if let Some(reply) = msg.reply {
            let _ = nats.publish(reply, "".into()).await; // the acknowledgement
        }
        let ev: Value = serde_json::from_slice(&msg.payload).unwrap_or_default();
        let p = &ev["params"];
        println!("  event {} {p}", ev["method"]);
        match ev["method"].as_str().unwrap_or_default() {
            "sys.call.on_answer_completed" => {
                let collect = json!({"res_id": res_id, "max_keys": 4, "finish_keys": "#",
                    "play_content": [["0", 1, ""]], "first_key_timeout": 10});
                rpc("sys.call.receive_dtmf_start", collect).await;
            }
            "sys.call.on_receive_dtmf_completed" => {
                let keys = p["keys"].as_str().unwrap_or_default();
                let content = if keys.is_empty() { "0" } else { keys };
                let play = json!({"res_id": res_id, "content": [[content, 1, ""]]});
                rpc("sys.call.play_start", play).await;
            }
            "sys.call.on_play_completed" => {
                rpc("sys.call.drop", json!({"res_id": res_id})).await;
            }
            "sys.call.on_released" => return,
            _ => {}
        }
    }
}
