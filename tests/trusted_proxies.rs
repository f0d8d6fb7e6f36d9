//! The real client address behind a proxy: `X-Forwarded-For`, `X-Real-IP` and `Forwarded` are
//! believed only from `WEBSOCKET_TRUSTED_PROXIES`, and then the forwarded client is what the
//! session meta shows, what the logs name, and what the per-address connection limit and the
//! failed-authentication limiter count. A forwarded request is never "local" for HTTP publish.
//!
//! The test client connects from 127.0.0.1 and plays the proxy by sending the headers itself.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use common::{Client, TestServer, WAIT};
use wampd_proto::wamp::{Dict, Message, Serializer, Value};

/// Opens a WebSocket upgrade with extra headers over raw TCP and returns the response status and
/// the stream (kept open by the caller to hold the connection).
async fn upgrade(addr: SocketAddr, query: &str, headers: &[(&str, &str)]) -> (u16, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!(
        "GET /ws{query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: wamp.2.json\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(WAIT, stream.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, stream)
}

/// POSTs a publication without a secret and returns the status.
async fn publish(addr: SocketAddr, headers: &[(&str, &str)]) -> u16 {
    let body = r#"{"topic":"com.example.t","args":[1]}"#;
    let mut request = format!(
        "POST /publish HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Joins realm1 over a WebSocket sent with `headers` and returns the `transport.peer` that
/// `wamp.session.get` reports for the session itself.
async fn reported_peer(server: &TestServer, headers: &[(&'static str, &'static str)]) -> String {
    let mut request = server.url().into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("wamp.2.json"),
    );
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_static(value));
    }
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket connects");
    let mut client = Client::over(ws, Serializer::Json);
    client.hello("realm1").await;
    let Message::Welcome { session, .. } = client.recv().await else {
        panic!("expected WELCOME");
    };
    let request = client.request_id();
    client
        .send(&Message::Call {
            request,
            options: Dict::new(),
            procedure: "wamp.session.get".into(),
            args: vec![Value::UInt(session)],
            kwargs: Dict::new(),
        })
        .await;
    let Message::Result { args, .. } = client.recv().await else {
        panic!("expected RESULT");
    };
    args.first()
        .and_then(Value::as_dict)
        .and_then(|d| d.get("transport"))
        .and_then(Value::as_dict)
        .and_then(|t| t.get("peer"))
        .and_then(Value::as_str)
        .expect("transport.peer")
        .to_owned()
}

#[tokio::test]
async fn session_meta_shows_the_forwarded_client_only_from_a_trusted_proxy() {
    // The client address is shown to the trusted (backend) role only (tests/hostile.rs checks
    // that others are not told it); the forwarded clients here are anonymous, so make that role
    // the backend's.
    let trusting = TestServer::start(&[
        ("WEBSOCKET_TRUSTED_PROXIES", "127.0.0.1,::1"),
        ("WEBSOCKET_ANONYMOUS_ROLE", "backend"),
    ])
    .await;
    assert_eq!(
        reported_peer(
            &trusting,
            &[("X-Forwarded-For", "198.51.100.1, 203.0.113.7")]
        )
        .await,
        "203.0.113.7:0",
        "rightmost untrusted hop"
    );
    assert_eq!(
        reported_peer(&trusting, &[("X-Real-IP", "203.0.113.8")]).await,
        "203.0.113.8:0"
    );
    assert_eq!(
        reported_peer(&trusting, &[("Forwarded", "for=\"[2001:db8::5]:4711\"")]).await,
        "[2001:db8::5]:4711"
    );
    assert_eq!(
        reported_peer(
            &trusting,
            &[
                ("Forwarded", "for=198.51.100.66"),
                ("X-Forwarded-For", "203.0.113.9")
            ]
        )
        .await,
        "203.0.113.9:0",
        "a browser's own Forwarded header, passed through by nginx, does not win"
    );
    assert!(reported_peer(&trusting, &[])
        .await
        .starts_with("127.0.0.1:"));
    trusting.shutdown().await;

    let untrusting = TestServer::start(&[("WEBSOCKET_ANONYMOUS_ROLE", "backend")]).await;
    let peer = reported_peer(&untrusting, &[("X-Forwarded-For", "203.0.113.7")]).await;
    assert!(peer.starts_with("127.0.0.1:"), "headers ignored: {peer}");
    untrusting.shutdown().await;
}

#[tokio::test]
async fn the_per_address_limit_counts_forwarded_clients() {
    let server = TestServer::start(&[
        ("WEBSOCKET_TRUSTED_PROXIES", "127.0.0.0/8"),
        ("WEBSOCKET_MAX_CONNECTIONS_PER_IP", "2"),
    ])
    .await;
    let a = [("X-Forwarded-For", "203.0.113.5")];
    let (first, s1) = upgrade(server.addr, "", &a).await;
    let (second, _s2) = upgrade(server.addr, "", &a).await;
    let (third, _s3) = upgrade(server.addr, "", &a).await;
    assert_eq!((first, second, third), (101, 101, 503));
    let (other, _s4) = upgrade(server.addr, "", &[("X-Forwarded-For", "203.0.113.6")]).await;
    assert_eq!(
        other, 101,
        "another client behind the same proxy is not affected"
    );
    // the proxy itself (no forwarding header) is loopback and exempt
    let (direct, _s5) = upgrade(server.addr, "", &[]).await;
    assert_eq!(direct, 101);
    // a closed connection frees its client's slot
    drop(s1);
    let mut freed = 0;
    for _ in 0..50 {
        let (status, stream) = upgrade(server.addr, "", &a).await;
        if status == 101 {
            freed = status;
            drop(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(freed, 101);
    server.shutdown().await;

    // Without trust the header means nothing: every connection is the loopback proxy's, exempt.
    let server = TestServer::start(&[("WEBSOCKET_MAX_CONNECTIONS_PER_IP", "2")]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let (status, stream) = upgrade(server.addr, "", &a).await;
        assert_eq!(status, 101);
        held.push(stream);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn failed_authentications_are_limited_per_forwarded_client() {
    let server = TestServer::start(&[
        ("WEBSOCKET_TRUSTED_PROXIES", "127.0.0.1"),
        ("WEBSOCKET_TICKET_SECRET", "s3cret-for-tests"),
        ("WEBSOCKET_AUTH_FAILURES_PER_MINUTE", "2"),
    ])
    .await;
    let bad = "?ticket=not-a-ticket";
    let attacker = [("X-Forwarded-For", "203.0.113.9")];
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(upgrade(server.addr, bad, &attacker).await.0);
    }
    assert_eq!(statuses, [403, 403, 429]);
    // another browser behind the same proxy is not locked out
    let (status, _) = upgrade(server.addr, bad, &[("X-Forwarded-For", "203.0.113.10")]).await;
    assert_eq!(status, 403);
    let (status, _) = upgrade(server.addr, "", &[("X-Forwarded-For", "203.0.113.10")]).await;
    assert_eq!(status, 101);
    server.shutdown().await;
}

#[tokio::test]
async fn forwarded_requests_are_not_local_for_http_publish() {
    for trusted in ["", "127.0.0.1"] {
        let server = TestServer::start(&[("WEBSOCKET_TRUSTED_PROXIES", trusted)]).await;
        assert_eq!(publish(server.addr, &[]).await, 200, "local backend");
        assert_eq!(
            publish(server.addr, &[("X-Forwarded-For", "203.0.113.7")]).await,
            403,
            "browser through a local proxy (trusted: {trusted:?})"
        );
        assert_eq!(
            publish(server.addr, &[("X-Forwarded-For", "127.0.0.1")]).await,
            403,
            "a spoofed loopback hop (trusted: {trusted:?})"
        );
        assert_eq!(
            publish(server.addr, &[("Forwarded", "for=127.0.0.1")]).await,
            403
        );
        server.shutdown().await;
    }
}

#[test]
fn logs_name_the_forwarded_client_and_its_proxy() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wampd"));
    command
        .args(["websocket:server", "--env=prod", "-vv"])
        .env("WEBSOCKET_SERVER_DSN", "//127.0.0.1:0")
        .env("WEBSOCKET_BACKEND_DSN", "")
        .env("WEBSOCKET_TRUSTED_PROXIES", "127.0.0.1")
        .env("WEBSOCKET_ALLOWED_ORIGINS", "app.example.com");
    let (mut child, addr, logs) = common::spawn_wampd(command);
    let addr: SocketAddr = addr.parse().expect("listen address");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, _) = runtime.block_on(upgrade(
        addr,
        "",
        &[
            ("X-Forwarded-For", "203.0.113.77"),
            ("Origin", "https://evil.example.com"),
        ],
    ));
    assert_eq!(status, 403);
    let deadline = std::time::Instant::now() + WAIT;
    let mut line = None;
    while std::time::Instant::now() < deadline {
        if let Ok(l) = logs.recv_timeout(Duration::from_millis(100)) {
            if l.contains("bad origin") {
                line = Some(l);
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("a log line about the refused origin");
    assert!(line.contains("203.0.113.77:0 (via 127.0.0.1:"), "{line}");
}
