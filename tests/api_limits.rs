//! The API listener against slow, stalled, silent and too many clients, through the
//! real gateway and raw TCP on loopback: a request head trickled one byte at a time is
//! closed by ~10 s, a WebSocket frame stalled half-way and a peer that never answers
//! pings by ~30 s (never before), `api.max_connections` refuses the next connection
//! with 503 and accepts again once one closes; a refused token is logged without it.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use mediagw_testkit::{Client, Gateway, Launch, start_gateway};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

fn upgrade_request(addr: std::net::SocketAddr, extra: &str) -> String {
    format!(
        "GET /rpc HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Connects and completes the WebSocket upgrade by hand; returns the socket and any
/// bytes read past the response head.
async fn raw_upgrade(addr: std::net::SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(upgrade_request(addr, "").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let head_end = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed during the upgrade: {got:?}");
            got.extend_from_slice(&buf[..n]);
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                return i + 4;
            }
        }
    })
    .await
    .expect("upgrade answered");
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (s, got[head_end..].to_vec())
}

/// Reads until the gateway closes the connection (EOF or reset), within `limit`.
/// Returns when it closed and every byte it sent meanwhile.
async fn wait_closed(s: &mut TcpStream, limit: Duration) -> (Instant, Vec<u8>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let r = tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (r.expect("the gateway closed the connection in time"), seen)
}

/// Waits (bounded) until the gateway's log holds a line containing `needle`.
async fn log_line(gw: &Gateway, needle: &str) -> String {
    log_lines(gw, needle, 1).await.swap_remove(0)
}

/// Waits (bounded) until the gateway's log holds at least `n` lines with `needle`: the
/// log is written by another process, so a line may land after the event that caused it.
async fn log_lines(gw: &Gateway, needle: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines: Vec<String> = gw
            .log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} log lines with {needle:?}:\n{}",
            lines.len(),
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_trickled_byte_by_byte_is_closed_after_10_s() {
    let gw = start_gateway!("");
    let req = upgrade_request(gw.api, "");
    let mut s = TcpStream::connect(gw.api).await.unwrap();
    let t0 = Instant::now();
    let (mut rd, mut wr) = s.split();
    // One byte every 400 ms: the whole head would take about a minute.
    let trickle = async {
        for b in req.as_bytes() {
            if wr.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        std::future::pending::<()>().await;
    };
    let closed = async {
        let mut buf = [0u8; 256];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {}
            }
        }
    };
    let at = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::select! {
            t = closed => t,
            _ = trickle => unreachable!(),
        }
    })
    .await
    .expect("closed within 60 s");
    let took = at - t0;
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(30),
        "closed after {took:?}, expected about 10 s"
    );
    let line = log_line(&gw, "no complete HTTP request within 10 s").await;
    assert!(line.contains("127.0.0.1:"), "names the peer: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_stalled_half_way_is_closed_after_30_s() {
    let gw = start_gateway!("");
    let (mut s, _) = raw_upgrade(gw.api).await;
    let t0 = Instant::now();
    // A masked text frame announcing 100 bytes; only 10 of them ever come.
    let mut frame = vec![0x81, 0x80 | 100, 1, 2, 3, 4];
    frame.extend_from_slice(&[b'{' ^ 1; 10]);
    s.write_all(&frame).await.unwrap();
    let (at, _) = wait_closed(&mut s, Duration::from_secs(90)).await;
    let took = at - t0;
    assert!(
        took >= Duration::from_secs(29) && took < Duration::from_secs(60),
        "closed after {took:?}, expected about 30 s"
    );
    let line = log_line(&gw, "stalled half-way").await;
    assert!(line.contains("127.0.0.1:"), "names the peer: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_pings_is_closed_after_30_s_and_one_that_does_stays() {
    let gw = start_gateway!("");
    // A well-behaved client, idle but reading (its library answers every ping).
    let (ws, _) = tokio_tungstenite::connect_async(gw.ws_url()).await.unwrap();
    let (mut w, mut r) = ws.split();
    let (texts, mut text_rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(Ok(m)) = r.next().await {
            if let Message::Text(t) = m {
                let _ = texts.send(t.to_string());
            }
        }
    });
    // The silent one: upgraded, then nothing, not even pongs.
    let (mut s, rest) = raw_upgrade(gw.api).await;
    let t0 = Instant::now();
    let (at, seen) = wait_closed(&mut s, Duration::from_secs(90)).await;
    let took = at - t0;
    assert!(
        took >= Duration::from_secs(29) && took < Duration::from_secs(60),
        "closed after {took:?}, expected about 30 s"
    );
    let all = [rest, seen].concat();
    assert!(
        all.windows(2).any(|p| p == [0x89, 0x00]),
        "the gateway pinged it: {all:?}"
    );
    let line = log_line(&gw, "not even a pong").await;
    assert!(line.contains("127.0.0.1:"), "names the peer: {line}");
    // The other client was as idle as long, answered the pings, and is still served.
    assert!(
        !reader.is_finished(),
        "the pong-answering client is still open"
    );
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": "sys.call.exists", "params": {"res_id": "0.0.0-sys.call-0"}});
    w.send(Message::Text(req.to_string().into())).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(20), text_rx.recv())
        .await
        .expect("reply in time")
        .expect("reply");
    assert!(reply.contains("\"result\":false"), "{reply}");
}

/// The response (head, and body when not 101) to a fresh upgrade request.
async fn try_connect(addr: std::net::SocketAddr) -> String {
    try_connect_with(addr, "", "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_refuses_with_503_and_accepts_again_after_a_close() {
    let gw = start_gateway!("[api]\nmax_connections = 3\n");
    let a = Client::connect(&gw.ws_url()).await;
    let mut b = Client::connect(&gw.ws_url()).await;
    let mut c = Client::connect(&gw.ws_url()).await;
    let refused = try_connect(gw.api).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("api.max_connections = 3"), "{refused}");
    let line = log_line(&gw, "refused with 503").await;
    assert!(
        line.contains("127.0.0.1:") && line.contains("api.max_connections (3)"),
        "{line}"
    );
    // The clients inside the cap are unaffected.
    b.ok("sys.call.exists", json!({"res_id": "0.0.0-sys.call-0"}))
        .await;
    a.close().await;
    // Once the gateway has seen the close, the slot is free again.
    let deadline = Instant::now() + Duration::from_secs(20);
    let accepted = loop {
        let r = try_connect(gw.api).await;
        if r.starts_with("HTTP/1.1 101") {
            break r;
        }
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
        assert!(Instant::now() < deadline, "never accepted again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(accepted.starts_with("HTTP/1.1 101"));
    c.ok("sys.call.exists", json!({"res_id": "0.0.0-sys.call-0"}))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_logged_without_any_token() {
    let secret = "sekrit-token-4f1b9c";
    let gw = start_gateway!(&format!("[api]\ntoken = \"{secret}\"\n"));
    refused_tokens_are_never_logged(&gw, secret).await;
}

/// The same with `--log-format json` and every crate's debug lines: every line is one
/// JSON object, and neither the token nor a guess appears in any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_never_show_the_token_either() {
    let secret = "sekrit-token-json-5e2a";
    let gw = Launch::new(env!("CARGO_BIN_EXE_mediagw"))
        .config(&format!("[api]\ntoken = \"{secret}\"\n"))
        .arg("--log-format")
        .arg("json")
        .log_filter("debug")
        .start()
        .unwrap_or_else(|e| panic!("{e:#}"));
    refused_tokens_are_never_logged(&gw, secret).await;
    let log = gw.log_text();
    let mut refused = 0;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let msg = v["message"].as_str().unwrap_or_default();
        if msg.contains("refused with 401") {
            refused += 1;
            assert_eq!(v["level"], "WARN", "{line}");
        }
    }
    assert_eq!(refused, 2, "{log}");
}

async fn refused_tokens_are_never_logged(gw: &Gateway, secret: &str) {
    let guesses = ["wrong-guess-77aa01", "wrong-query-88bb02"];
    let r = try_connect_with(
        gw.api,
        &format!("Authorization: Bearer {}\r\n", guesses[0]),
        "",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    let r = try_connect_with(gw.api, "", &format!("?token={}", guesses[1])).await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    let ok = try_connect_with(gw.api, &format!("Authorization: Bearer {secret}\r\n"), "").await;
    assert!(ok.starts_with("HTTP/1.1 101"), "{ok}");
    for line in log_lines(gw, "refused with 401", 2).await {
        assert!(line.contains("127.0.0.1:"), "names the peer: {line}");
    }
    let log = gw.log_text();
    assert_eq!(log.matches("refused with 401").count(), 2, "{log}");
    for s in [secret, guesses[0], guesses[1]] {
        assert!(!log.contains(s), "{s} appears in the log:\n{log}");
    }
}

/// Like [`try_connect`], with an extra header line and a query string.
async fn try_connect_with(addr: std::net::SocketAddr, header: &str, query: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = upgrade_request(addr, header).replacen("/rpc", &format!("/rpc{query}"), 1);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let body_len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if head.starts_with("http/1.1 101") || got.len() >= end + 4 + body_len {
                return;
            }
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}
