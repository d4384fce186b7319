//! Test support: a plain HTTP/1.1 GET on the gateway's API listener (/healthz, /metrics).

#![allow(dead_code)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The whole response (status line, headers, body) of `GET path`.
pub async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}
