//! External checks over HTTP (`WEBSOCKET_CONNECT_CHECK` and `WEBSOCKET_SUBSCRIBE_CHECK` as URLs)
//! with WAMP v2 clients: the application answers a real HTTP POST, the router admits or refuses.
//! (The exec runner, with Espo's console, is covered by tests/espocrm.rs.)

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wampd_proto::wamp::{error_uri, Dict, Message, Serializer};

/// A tiny application: answers each POST with `decide(body)` as (status, body), or never answers
/// when `decide` returns `None`; remembers the bodies it got.
struct App {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

async fn app(decide: fn(&serde_json::Value) -> Option<(u16, &'static str)>) -> App {
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
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
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

#[tokio::test]
async fn an_http_subscribe_check_decides_wamp_v2_subscriptions() {
    let app = app(|body| {
        Some(if body["params"]["topic"] == "com.app.allowed" {
            (200, "true")
        } else {
            (403, "no")
        })
    })
    .await;
    let server = TestServer::start(&[
        ("WEBSOCKET_SUBSCRIBE_CHECK", app.url.as_str()),
        ("WEBSOCKET_SUBSCRIBE_CHECK_EXPECT", "true"),
    ])
    .await;
    let mut client = Client::join(&server, Serializer::Json).await;
    client.subscribe("com.app.allowed").await;
    let request = client.request_id();
    client
        .send(&Message::Subscribe {
            request,
            options: Dict::new(),
            topic: "com.app.secret".into(),
        })
        .await;
    match client.recv().await {
        Message::Error {
            request: r, error, ..
        } => {
            assert_eq!(r, request);
            assert_eq!(error, error_uri::NOT_AUTHORIZED);
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    let bodies = app.bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["check"], "subscribe");
    assert_eq!(bodies[0]["params"]["authid"], client.authid().as_str());
    assert_eq!(bodies[0]["params"]["authrole"], "anonymous");
    server.shutdown().await;
}

#[tokio::test]
async fn an_http_connect_check_gives_v2_sessions_their_identity() {
    let app = app(|body| {
        Some(if body["params"]["key"] == "k1" {
            (200, "ok")
        } else {
            (401, "")
        })
    })
    .await;
    let server = TestServer::start(&[
        ("WEBSOCKET_CONNECT_CHECK", app.url.as_str()),
        ("WEBSOCKET_CONNECT_CHECK_AUTHID", ":user"),
        ("WEBSOCKET_CONNECT_CHECK_ROLE", "customer"),
    ])
    .await;
    let url = |q: &str| format!("ws://{}/ws{q}", server.addr);
    let ws = connect_ws(&url("?user=alice&key=k1"), Some("wamp.2.json"))
        .await
        .expect("admitted");
    let client = Client::over(ws, Serializer::Json).welcomed().await;
    assert_eq!(client.authid(), "alice");
    assert_eq!(client.welcome["authrole"], "customer".into());
    assert!(connect_ws(&url("?user=alice&key=bad"), Some("wamp.2.json"))
        .await
        .is_err());
    // Without the parameter the identity needs, the application is not even asked.
    let asked = app.bodies.lock().expect("lock").len();
    assert!(connect_ws(&url("?key=k1"), Some("wamp.2.json"))
        .await
        .is_err());
    assert_eq!(app.bodies.lock().expect("lock").len(), asked);
    let metrics = scrape(server.addr).await;
    assert_eq!(
        metric(
            &metrics,
            "wampd_external_checks_total{check=\"connect\",outcome=\"denied\"}"
        ),
        2.0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_connect_check_without_an_answer_refuses_with_503_in_time() {
    let app = app(|_| None).await;
    let server = TestServer::start(&[
        ("WEBSOCKET_CONNECT_CHECK", app.url.as_str()),
        ("WEBSOCKET_CHECK_TIMEOUT", "300ms"),
    ])
    .await;
    let started = std::time::Instant::now();
    let err = connect_ws(
        &format!("ws://{}/ws?userId=u1", server.addr),
        Some("wamp.2.json"),
    )
    .await
    .expect_err("refused");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.to_string().contains("503"), "{err}");
    server.shutdown().await;
}
