//! Overload and limits through the real binary: past `sip.max_calls`, a gateway's
//! `max_concurrent` or the RTP port range, an INVITE gets 503 with `Retry-After` and
//! `construct` -32004, and nothing of the refused call remains. Under 2× overload from
//! SIPp (40 calls offered at once to `max_calls = 20`, each streaming SIPp's
//! g711a.pcap) the excess is shed and every admitted call's media is perfect: all 236
//! packets, none lost, and its recording holds the pcap's audio byte for byte.

use std::collections::HashMap;
use std::time::Duration;

use mediagw_testkit::http::wait_metric;
use mediagw_testkit::sipp::SippCommand;
use mediagw_testkit::{Client, Peer, start_gateway};
use serde_json::{Value, json};

/// The RTP payloads of a pcap of one RTP stream (Ethernet, IPv4, UDP), in order.
fn pcap_payloads(path: &str) -> Vec<Vec<u8>> {
    let b = std::fs::read(path).expect("pcap");
    assert_eq!(&b[0..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut i = 24;
    let mut out = Vec::new();
    while i + 16 <= b.len() {
        let len = u32::from_le_bytes(b[i + 8..i + 12].try_into().unwrap()) as usize;
        let frame = &b[i + 16..i + 16 + len];
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let rtp = &frame[14 + ihl + 8..];
        out.push(rtp[12..].to_vec());
        i += 16 + len;
    }
    out
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twice_max_calls_sheds_the_excess_and_admitted_calls_keep_perfect_media() {
    const MAX: u64 = 20;
    const OFFERED: u64 = 40;
    let gw = start_gateway!("[sip]\nmax_calls = 20\n[media]\nworkers = 2\n");
    let mut app = Client::connect(&gw.ws_url()).await;
    let sipp = SippCommand::new("uac_pcap_or_503")
        .calls(OFFERED)
        .traces(false)
        .args([
            gw.sip.to_string().as_str(),
            "-s",
            "100",
            "-r",
            "40",
            "-l",
            "40",
            "-timeout",
            "90s",
        ])
        .spawn()
        .expect("sipp");
    // The application answers every call it is offered and records it (A-law, as sent).
    let mut recordings: HashMap<String, String> = HashMap::new();
    let mut released: HashMap<String, Value> = HashMap::new();
    let mut live = 0u64;
    let mut most_live = 0u64;
    let mut offered = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while offered == 0 || (released.len() as u64) < offered {
        let v = tokio::time::timeout_at(deadline, app.recv())
            .await
            .expect("calls end within 120 s")
            .expect("connection");
        let p = &v["params"];
        let id = p["res_id"].as_str().unwrap_or_default().to_string();
        match v["method"].as_str().unwrap_or_default() {
            "sys.call.on_incoming" => {
                offered += 1;
                live += 1;
                most_live = most_live.max(live);
                app.request(
                    "sys.call.answer",
                    json!({"res_id": id, "max_answer_seconds": 60}),
                )
                .await
                .expect("send");
            }
            "sys.call.on_answer_completed" => {
                assert_eq!(p["error"], Value::Null, "{v}");
                app.request(
                    "sys.call.record_start",
                    json!({"res_id": id, "max_seconds": 30, "beep": false, "record_format": 3}),
                )
                .await
                .expect("send");
            }
            "sys.call.on_record_completed" => {
                recordings.insert(id, p["record_file"].as_str().expect("file").into());
            }
            "sys.call.on_released" => {
                live -= 1;
                released.insert(id, p.clone());
            }
            _ => assert!(v.get("error").is_none(), "a request failed: {v}"),
        }
    }
    let r = tokio::task::block_in_place(|| sipp.wait_for(Duration::from_secs(60)));
    assert!(r.success(), "SIPp: {}\n{}\n{}", r.stdout, r.stderr, r.logs);
    let shed = wait_metric(gw.api, "mediagw_shed_total{reason=\"max_calls\"}", |v| {
        v >= (OFFERED - MAX) as f64
    })
    .await as u64;
    // Every call was offered at once: exactly max_calls admitted, the rest shed.
    assert_eq!((offered, shed), (MAX, OFFERED - MAX));
    assert_eq!(most_live, MAX);

    let pcap = pcap_payloads("/usr/share/sip-tester/g711a.pcap");
    assert_eq!(pcap.len(), 236);
    for (id, rel) in &released {
        assert_eq!(rel["cause"], 200, "{rel}");
        assert_eq!(rel["packets_in"], 236, "every packet arrived: {rel}");
        assert_eq!(rel["packets_lost"], 0, "{rel}");
        // Every packet's audio is in the recording, intact and in order.
        let data = wav_data(&recordings[id]);
        let mut at = 0;
        for (n, pkt) in pcap.iter().enumerate() {
            let found = data[at..]
                .windows(pkt.len())
                .position(|w| w == pkt.as_slice());
            let Some(i) = found else {
                panic!("{id}: packet {n} of the pcap is not in the recording after byte {at}")
            };
            at += i + pkt.len();
        }
    }
}

/// Sends `n` INVITEs from `peer` of which `refused` are expected to get 503: returns
/// those 503s and the res_ids of the calls offered to the application.
async fn offer(
    app: &mut Client,
    peer: &Peer,
    tag: &str,
    n: usize,
    refused: usize,
) -> (Vec<String>, Vec<String>) {
    for i in 0..n {
        peer.send(&peer.request("INVITE", &format!("{tag}-{i}"), "", ""));
    }
    let shed: Vec<String> =
        tokio::task::block_in_place(|| (0..refused).map(|_| peer.expect("SIP/2.0 503")).collect());
    let mut offered = Vec::new();
    for _ in refused..n {
        offered.push(
            app.event("on_incoming").await["res_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    (shed, offered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateways_max_concurrent_counts_its_calls_both_ways() {
    let trunk_addr = format!("127.0.0.1:{}", mediagw_testkit::ports::free_udp_port());
    let gw = start_gateway!(&format!(
        "[[gateways]]\naddress = \"{trunk_addr}\"\nmax_concurrent = 2\n"
    ));
    let trunk = Peer::bind(&trunk_addr, gw.sip);
    let mut app = Client::connect(&gw.ws_url()).await;
    let (refused, offered) = offer(&mut app, &trunk, "trunk", 3, 1).await;
    assert_eq!(offered.len(), 2);
    assert!(refused[0].contains("\r\nRetry-After: "), "{}", refused[0]);
    // Dialling out through it is refused too while both calls are up.
    let e = app
        .err(
            "sys.call.construct",
            json!({"to_uri": format!("sip:1@{trunk_addr}"), "max_answer_seconds": 60}),
            -32004,
        )
        .await;
    assert!(
        e["message"].as_str().unwrap().contains("max_concurrent"),
        "{e}"
    );
    // Another peer is not limited by the trunk's count.
    let other = Peer::new(gw.sip);
    let _ = offer(&mut app, &other, "other", 1, 0).await;
    // One trunk call ends: the trunk has room again.
    app.ok(
        "sys.call.reject",
        json!({"res_id": offered[0], "cause": 486}),
    )
    .await;
    app.event_of("on_released", &offered[0]).await;
    let _ = offer(&mut app, &trunk, "again", 1, 0).await;
    let shed = wait_metric(
        gw.api,
        "mediagw_shed_total{reason=\"gateway_max_concurrent\"}",
        |v| v >= 2.0,
    )
    .await;
    assert_eq!(shed, 2.0, "one INVITE and one construct");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_port_exhaustion_is_503_with_retry_after_and_minus_32004() {
    // Three RTP/RTCP pairs.
    let first = mediagw_testkit::ports::rtp_block();
    let gw = start_gateway!(&format!("[media]\nrtp_ports = \"{first}-{}\"\n", first + 5));
    let mut app = Client::connect(&gw.ws_url()).await;
    let p = Peer::new(gw.sip);
    let (refused, offered) = offer(&mut app, &p, "ports", 4, 1).await;
    assert_eq!(offered.len(), 3);
    assert!(refused[0].contains("\r\nRetry-After: "), "{}", refused[0]);
    let e = app
        .err(
            "sys.call.construct",
            json!({"to_uri": format!("sip:1@{}", p.addr()), "max_answer_seconds": 60}),
            -32004,
        )
        .await;
    assert!(e["message"].as_str().unwrap().contains("RTP port"), "{e}");
    // Nothing of the refused ones: three live calls; one ends, a new call gets its ports.
    let m = mediagw_testkit::http::metrics(gw.api).await;
    assert!(m.contains("mediagw_calls 3\n"), "{m}");
    app.ok("sys.call.reject", json!({"res_id": offered[0]}))
        .await;
    app.event_of("on_released", &offered[0]).await;
    let _ = offer(&mut app, &p, "after", 1, 0).await;
    let shed = wait_metric(gw.api, "mediagw_shed_total{reason=\"rtp_ports\"}", |v| {
        v >= 2.0
    })
    .await;
    assert_eq!(shed, 2.0, "one INVITE and one construct");
}
