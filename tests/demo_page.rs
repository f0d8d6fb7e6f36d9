//! The built-in demo page: off by default; with `WEBSOCKET_DEMO=true` the page and its script are
//! served with a strict Content-Security-Policy, and the router's clock publishes
//! `wampd.demo.time` every second, which an anonymous subscriber receives under the default
//! ("standard") authorization policy. The browser side is tested in tests/deployment.rs.

mod common;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{Client, TestServer, WAIT};
use wampd_proto::wamp::{Serializer, Value};

/// GETs `path` and returns the whole response (head and body).
async fn get(server: &TestServer, path: &str) -> String {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn the_demo_is_off_by_default() {
    let server = TestServer::start(&[]).await;
    let page = get(&server, "/").await;
    assert!(!page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(!page.contains("wampd demo"));
    assert!(!get(&server, "/demo.js").await.starts_with("HTTP/1.1 200"));
    let mut client = Client::join(&server, Serializer::Json).await;
    client.subscribe("wampd.demo.time").await;
    client.expect_silence(Duration::from_millis(1500)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_demo_page_is_served_and_the_clock_ticks() {
    let server = TestServer::start(&[
        ("WEBSOCKET_DEMO", "true"),
        (
            "WEBSOCKET_DEMO_AUTOBAHN_URL",
            "https://cdn.example.net/autobahn.min.js",
        ),
        ("WEBSOCKET_REALMS", "com.example.demo,realm1"),
        ("WEBSOCKET_AUTHORIZATION_DEFAULT", "standard"),
    ])
    .await;
    for path in ["/", "/ws/"] {
        let page = get(&server, path).await;
        let lower = page.to_ascii_lowercase();
        assert!(page.starts_with("HTTP/1.1 200"), "{path}: {page}");
        assert!(lower.contains("content-type: text/html; charset=utf-8"));
        assert!(lower.contains(
            "content-security-policy: default-src 'none'; script-src 'self' https://cdn.example.net/autobahn.min.js;"
        ), "{page}");
        assert!(page.contains("<script src=\"https://cdn.example.net/autobahn.min.js\"></script>"));
        assert!(
            page.contains("data-realm=\"com.example.demo\""),
            "the first realm"
        );
    }
    let script = get(&server, "/ws/demo.js").await;
    assert!(script.starts_with("HTTP/1.1 200"), "{script}");
    assert!(script.contains("wampd.demo.notifications"));
    // the WebSocket endpoint and the other routes are unchanged
    let (status, _) = common::http_get(server.addr, "/health").await;
    assert_eq!(status, 200);

    // an anonymous browser-like session may subscribe (standard policy) and sees the clock
    let mut client = Client::open(&server, Serializer::Json).await;
    client.hello("com.example.demo").await;
    let wampd_proto::wamp::Message::Welcome { details, .. } = client.recv().await else {
        panic!("expected WELCOME");
    };
    assert_eq!(details.get("authrole"), Some(&Value::from("anonymous")));
    client.subscribe("wampd.demo.time").await;
    let mut times = Vec::new();
    for _ in 0..2 {
        let (_, _, args, _) = client.event().await;
        let time = args[0].as_str().expect("a string").to_owned();
        assert_eq!(time.len(), 20, "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
        times.push(time);
    }
    assert_ne!(times[0], times[1], "one event per second");
    server.shutdown().await;
}
