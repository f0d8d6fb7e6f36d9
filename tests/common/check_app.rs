//! A tiny application for external checks (`WEBSOCKET_CONNECT_CHECK` / `WEBSOCKET_SUBSCRIBE_CHECK`
//! as URLs): a real HTTP server on loopback that answers each check's POST as the test decides.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A tiny application: answers each POST with `decide(body)` as (status, body), or never answers
/// when `decide` returns `None`; remembers the bodies it got.
pub struct App {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

pub async fn app(decide: fn(&serde_json::Value) -> Option<(u16, &'static str)>) -> App {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/check", listener.local_addr().expect("addr"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let length = super::content_length(head);
                    if body.len() >= length {
                        break body[..length].to_string();
                    }
                };
                let json: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
                let answer = decide(&json);
                seen.lock().expect("lock").push(json);
                let Some((status, text)) = answer else {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                };
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    App { url, bodies }
}

/// A server whose subscribe check is `decide`'s application (expecting `true`).
pub async fn subscribe_checked(
    decide: fn(&serde_json::Value) -> Option<(u16, &'static str)>,
) -> (App, super::TestServer) {
    let app = app(decide).await;
    let server = super::TestServer::start(&[
        ("WEBSOCKET_SUBSCRIBE_CHECK", app.url.as_str()),
        ("WEBSOCKET_SUBSCRIBE_CHECK_EXPECT", "true"),
    ])
    .await;
    (app, server)
}
