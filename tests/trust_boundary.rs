//! The trust boundary, tried as an attacker would, over real sockets: one test for each hole
//! issue 15 found (each failed on 9ec2f0a). A deep URI cannot abort the process, WAMP v1 is
//! authorized exactly like v2, kept-alive upgrades pass the same admission as fresh ones,
//! anonymous browsers cannot watch other sessions, health answers at capacity, replies come
//! before events, every quantity a client chooses is bounded, close handshakes are answered,
//! floods cost bounded memory and log lines, and GOODBYE then HELLO works at any age.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use common::{connect_ws, dict, metric, scrape, Client, TestServer, WAIT};
use wampd_proto::ticket::{mint, Claims};
use wampd_proto::wamp::{Dict, Message, Serializer, Value};

/// A wampd process of its own, for what could take a process down or floods its log.
struct Spawned {
    child: Child,
    addr: SocketAddr,
    lines: std::sync::mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl Spawned {
    fn start(vars: &[(&str, &str)]) -> Spawned {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wampd"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(dir.path())
            .args(["websocket:server", "--env=prod", "-v"])
            .env("WEBSOCKET_SERVER_DSN", "//127.0.0.1:0")
            .env("WEBSOCKET_BACKEND_DSN", "");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let (child, addr, lines) = common::spawn_wampd(cmd);
        Spawned {
            child,
            addr: addr.parse().expect("address"),
            lines,
            _dir: dir,
        }
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Lines logged so far that contain `needle`.
    fn count_lines(&self, needle: &str) -> usize {
        self.lines.try_iter().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prefix() -> Dict {
    dict(vec![("match", Value::from("prefix"))])
}

fn wildcard() -> Dict {
    dict(vec![("match", Value::from("wildcard"))])
}

async fn subscribe_reply(c: &mut Client, topic: &str, options: Dict) -> Message {
    let request = c.request_id();
    c.send(&Message::Subscribe {
        request,
        options,
        topic: topic.into(),
    })
    .await;
    c.recv().await
}

fn error_uri(reply: &Message) -> Option<&str> {
    match reply {
        Message::Error { error, .. } => Some(error),
        _ => None,
    }
}

#[tokio::test]
async fn a_deep_uri_cannot_abort_the_process() {
    let mut server = Spawned::start(&[("WEBSOCKET_AUTHORIZATION_DEFAULT", "open")]);
    let mut attacker = Client::join_at(server.addr, Serializer::Json).await;
    let long = "a".repeat(20_000);
    let deep = ".".repeat(10_000);
    let reply = subscribe_reply(&mut attacker, &long, prefix()).await;
    assert_eq!(
        error_uri(&reply),
        Some("wamp.error.invalid_uri"),
        "{reply:?}"
    );
    let reply = subscribe_reply(&mut attacker, &deep, wildcard()).await;
    assert_eq!(
        error_uri(&reply),
        Some("wamp.error.invalid_uri"),
        "{reply:?}"
    );
    drop(attacker);
    // Even at the largest settings, subscribing and leaving costs no recursion.
    let mut roomy = Spawned::start(&[
        ("WEBSOCKET_AUTHORIZATION_DEFAULT", "open"),
        ("WEBSOCKET_MAX_URI_LENGTH", "65536"),
        ("WEBSOCKET_MAX_URI_COMPONENTS", "1024"),
    ]);
    let mut attacker = Client::join_at(roomy.addr, Serializer::Json).await;
    let long = "a".repeat(60_000);
    let deep = ".".repeat(1_023);
    assert!(matches!(
        subscribe_reply(&mut attacker, &long, prefix()).await,
        Message::Subscribed { .. }
    ));
    assert!(matches!(
        subscribe_reply(&mut attacker, &deep, wildcard()).await,
        Message::Subscribed { .. }
    ));
    drop(attacker);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for s in [&mut server, &mut roomy] {
        assert!(s.alive(), "the router survived");
        let mut other = Client::join_at(s.addr, Serializer::Json).await;
        other.subscribe("com.example.fine").await;
    }
}

const SUBSCRIBE_ONLY: &str = r#"
[[rule]]
role = "anonymous"
uri = "com."
match = "prefix"
allow = ["subscribe"]
"#;

/// A WAMP v1 browser: subprotocol `wamp`, JSON text frames.
async fn v1_client(addr: SocketAddr) -> common::Ws {
    let mut ws = connect_ws(&format!("ws://{addr}/ws"), Some("wamp"))
        .await
        .expect("v1 connects");
    let welcome = common::next_text(&mut ws).await;
    assert!(welcome.starts_with("[0,"), "{welcome}");
    ws
}

async fn v1_send(ws: &mut common::Ws, text: &str) {
    ws.send(WsMessage::Text(text.to_owned().into()))
        .await
        .expect("send");
}

#[tokio::test]
async fn what_v2_may_not_do_v1_may_not_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.toml");
    std::fs::write(&file, SUBSCRIBE_ONLY).expect("rules");
    let server = TestServer::start(&[
        ("WEBSOCKET_AUTHORIZATION_DEFAULT", "standard"),
        (
            "WEBSOCKET_AUTHORIZATION_FILE",
            file.to_str().expect("utf-8"),
        ),
    ])
    .await;
    // A backend (a local program: no Origin) provides a procedure and watches a topic.
    let ws = tokio_tungstenite::connect_async({
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = server.url().into_client_request().expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "wamp.2.json".parse().expect("header"),
        );
        request
    })
    .await
    .expect("backend connects")
    .0;
    let mut backend = Client::over(ws, Serializer::Json).welcomed().await;
    let request = backend.request_id();
    backend
        .send(&Message::Register {
            request,
            options: Dict::new(),
            procedure: "com.example.add".into(),
        })
        .await;
    assert!(matches!(backend.recv().await, Message::Registered { .. }));
    backend.subscribe("com.example.news").await;

    // Over v2, an anonymous browser may subscribe but not call or publish.
    let mut v2 = Client::join(&server, Serializer::Json).await;
    assert_eq!(
        v2.call("com.example.add", vec![Value::UInt(1)]).await,
        Err("wamp.error.not_authorized".into())
    );
    let request = v2.request_id();
    v2.send(&Message::Publish {
        request,
        options: dict(vec![("acknowledge", Value::Bool(true))]),
        topic: "com.example.news".into(),
        args: vec![Value::from("v2")],
        kwargs: Dict::new(),
    })
    .await;
    assert_eq!(
        error_uri(&v2.recv().await),
        Some("wamp.error.not_authorized")
    );
    let reply = subscribe_reply(&mut v2, "org.other", Dict::new()).await;
    assert_eq!(error_uri(&reply), Some("wamp.error.not_authorized"));

    // Over v1 the same requests are refused the same way.
    let mut v1 = v1_client(server.addr).await;
    v1_send(&mut v1, r#"[2,"call-1","com.example.add",1]"#).await;
    let answer: serde_json::Value =
        serde_json::from_str(&common::next_text(&mut v1).await).expect("JSON");
    assert_eq!(answer[0], 4, "CALLERROR: {answer}");
    assert_eq!(answer[1], "call-1");
    assert_eq!(answer[2], "wamp.error.not_authorized");
    v1_send(&mut v1, r#"[7,"com.example.news","v1"]"#).await;
    v1_send(&mut v1, r#"[5,"org.other"]"#).await;
    let refusal = common::next_text(&mut v1).await;
    assert!(refusal.contains("not allowed to subscribe"), "{refusal}");
    // The callee saw no INVOCATION and the subscriber no EVENT.
    backend.expect_silence(Duration::from_millis(300)).await;
    server.shutdown().await;
}

/// Sends `request` on `stream` and reads one HTTP response head (and whatever body came with it).
async fn http_exchange(stream: &mut TcpStream, request: &str) -> String {
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    loop {
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .expect("an answer")
            .expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let length = common::content_length(head);
            if head.starts_with("HTTP/1.1 101") || got.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn upgrade_request(addr: SocketAddr, target: &str, origin: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: wamp.2.json\r\nOrigin: {origin}\r\n\r\n"
    )
}

async fn kept_alive(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let health = http_exchange(
        &mut stream,
        &format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    stream
}

#[tokio::test]
async fn upgrades_on_kept_alive_connections_pass_admission() {
    const SECRET: &str = "kept-alive secret";
    let server = TestServer::start(&[
        ("WEBSOCKET_TICKET_SECRET", SECRET),
        ("WEBSOCKET_AUTH_FAILURES_PER_MINUTE", "1"),
        ("WEBSOCKET_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let addr = server.addr;
    // A forbidden Origin is refused on a kept-alive connection as on a fresh one.
    for mut stream in [
        TcpStream::connect(addr).await.expect("fresh"),
        kept_alive(addr).await,
    ] {
        let answer = http_exchange(
            &mut stream,
            &upgrade_request(addr, "/ws", "https://evil.example"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    }
    // A valid ?ticket= is honoured there: the session is the ticket's, not anonymous.
    let token = mint(
        SECRET.as_bytes(),
        &Claims {
            authid: "alice".into(),
            authrole: "user".into(),
            expires: common::unix_now() + 300,
            topics: None,
        },
    );
    let mut stream = kept_alive(addr).await;
    let answer = http_exchange(
        &mut stream,
        &upgrade_request(addr, &format!("/ws?ticket={token}"), "http://localhost"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    let client = Client::over(ws, Serializer::Json).welcomed().await;
    assert_eq!(client.authid(), "alice");
    // A forged ticket there is refused and counted by the failed-auth limiter. Loopback is
    // exempt from the limiter, so the client is a remote one named by a trusted proxy: after
    // its one allowed failure, even a valid ticket is refused for the rest of the minute.
    let forwarded = |target: &str| {
        upgrade_request(addr, target, "http://localhost")
            .replace("\r\n\r\n", "\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n")
    };
    let mut stream = kept_alive(addr).await;
    let answer = http_exchange(&mut stream, &forwarded("/ws?ticket=forged")).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let mut stream = kept_alive(addr).await;
    let answer = http_exchange(&mut stream, &forwarded(&format!("/ws?ticket={token}"))).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    server.shutdown().await;
}

#[tokio::test]
async fn anonymous_browsers_cannot_watch_other_sessions() {
    let server = TestServer::start(&[("WEBSOCKET_AUTHORIZATION_DEFAULT", "standard")]).await;
    let mut browser = Client::join(&server, Serializer::Json).await;
    for (topic, options) in [
        ("wamp.session.on_join", Dict::new()),
        ("wamp.", prefix()),
        ("wa", prefix()),
        (".session.on_join", wildcard()),
        ("wamp..on_join", wildcard()),
    ] {
        let reply = subscribe_reply(&mut browser, topic, options).await;
        assert_eq!(
            error_uri(&reply),
            Some("wamp.error.not_authorized"),
            "{topic}: {reply:?}"
        );
    }
    assert_eq!(
        browser.call("wamp.session.list", vec![]).await,
        Err("wamp.error.not_authorized".into())
    );
    // Ordinary prefixes stay open to browsers.
    let reply = subscribe_reply(&mut browser, "com.", prefix()).await;
    assert!(matches!(reply, Message::Subscribed { .. }), "{reply:?}");
    server.shutdown().await;

    // Where an operator opens the meta events to browsers, they still do not learn addresses.
    let open = TestServer::start(&[]).await;
    let mut watcher = Client::join(&open, Serializer::Json).await;
    watcher.subscribe("wamp.session.on_join").await;
    let _joiner = Client::join(&open, Serializer::Json).await;
    let (_, _, args, _) = watcher.event().await;
    let transport = args[0]
        .as_dict()
        .and_then(|d| d.get("transport"))
        .and_then(Value::as_dict)
        .cloned()
        .expect("transport details");
    assert!(transport.contains_key("type"));
    assert!(!transport.contains_key("peer"), "{transport:?}");
    open.shutdown().await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test]
async fn health_answers_at_full_capacity() {
    let port = free_port();
    let dsn = format!("//127.0.0.1:{port}");
    let server = TestServer::start(&[
        ("WEBSOCKET_MAX_CONNECTIONS", "2"),
        ("WEBSOCKET_METRICS_DSN", &dsn),
    ])
    .await;
    let _a = Client::join(&server, Serializer::Json).await;
    let _b = Client::join(&server, Serializer::Json).await;
    let operations: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    for path in ["/health", "/ready", "/metrics"] {
        let (status, _) = common::http_get(operations, path).await;
        assert_eq!(status, 200, "{path} at capacity");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn replies_come_before_events_and_requests_are_bounded() {
    let server = TestServer::start(&[
        ("WEBSOCKET_MAX_SUBSCRIPTIONS", "3"),
        ("WEBSOCKET_MAX_REGISTRATIONS", "1"),
        ("WEBSOCKET_MAX_PENDING_CALLS", "2"),
    ])
    .await;
    // A publisher floods a topic while a subscriber subscribes to it, again and again: the first
    // thing after each SUBSCRIBE is its SUBSCRIBED.
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let flood = tokio::spawn(async move {
        for i in 0..20_000u64 {
            publisher
                .send(&Message::Publish {
                    request: i + 1,
                    options: Dict::new(),
                    topic: "com.example.hot".into(),
                    args: vec![Value::UInt(i)],
                    kwargs: Dict::new(),
                })
                .await;
        }
        publisher
    });
    for _ in 0..50 {
        let mut subscriber = Client::join(&server, Serializer::Json).await;
        let reply = subscribe_reply(&mut subscriber, "com.example.hot", Dict::new()).await;
        assert!(
            matches!(reply, Message::Subscribed { .. }),
            "the reply first: {reply:?}"
        );
    }
    let _publisher = flood.await.expect("publisher");

    let mut c = Client::join(&server, Serializer::Json).await;
    for topic in ["com.a", "com.b", "com.c"] {
        c.subscribe(topic).await;
    }
    let reply = subscribe_reply(&mut c, "com.d", Dict::new()).await;
    assert_eq!(error_uri(&reply), Some("wampd.error.limit_exceeded"));
    // Subscribing again to what it holds is not a new subscription.
    let reply = subscribe_reply(&mut c, "com.a", Dict::new()).await;
    assert!(matches!(reply, Message::Subscribed { .. }), "{reply:?}");

    let mut callee = Client::join(&server, Serializer::Json).await;
    assert!(callee.register("com.slow").await.is_ok());
    assert_eq!(
        callee.register("com.other").await,
        Err("wampd.error.limit_exceeded".into())
    );
    // Calls in flight are bounded per caller; the callee never answers.
    let mut caller = Client::join(&server, Serializer::Json).await;
    for request in [1, 2, 3] {
        caller
            .send(&Message::Call {
                request,
                options: Dict::new(),
                procedure: "com.slow".into(),
                args: vec![],
                kwargs: Dict::new(),
            })
            .await;
    }
    match caller.recv().await {
        Message::Error { request, error, .. } => {
            assert_eq!((request, error.as_str()), (3, "wampd.error.limit_exceeded"))
        }
        other => panic!("expected the third call refused, got {other:?}"),
    }
    // Reusing the ID of a call in flight is a protocol violation: it could not be cancelled.
    caller
        .send(&Message::Call {
            request: 1,
            options: Dict::new(),
            procedure: "com.slow".into(),
            args: vec![],
            kwargs: Dict::new(),
        })
        .await;
    let (seen, code) = caller.expect_close().await;
    assert!(
        matches!(seen.last(), Some(Message::Abort { reason, .. }) if reason == "wamp.error.protocol_violation"),
        "{seen:?}"
    );
    assert_eq!(code, Some(1002));
    // Request ID 0 is outside [1, 2^53].
    let mut zero = Client::join(&server, Serializer::Json).await;
    zero.send(&Message::Subscribe {
        request: 0,
        options: Dict::new(),
        topic: "com.zero".into(),
    })
    .await;
    let (seen, _) = zero.expect_close().await;
    assert!(
        matches!(seen.last(), Some(Message::Abort { .. })),
        "{seen:?}"
    );
    let metrics = scrape(server.addr).await;
    assert!(
        metric(
            &metrics,
            "wampd_limit_refusals_total{reason=\"subscriptions\"}"
        ) >= 1.0
    );
    assert!(
        metric(
            &metrics,
            "wampd_limit_refusals_total{reason=\"pending_calls\"}"
        ) >= 1.0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn call_timeouts_are_capped_by_the_ceiling() {
    let server = TestServer::start(&[("WEBSOCKET_MAX_CALL_TIMEOUT", "300ms")]).await;
    let mut callee = Client::join(&server, Serializer::Json).await;
    callee
        .send(&Message::Register {
            request: 1,
            options: Dict::new(),
            procedure: "com.never".into(),
        })
        .await;
    assert!(matches!(callee.recv().await, Message::Registered { .. }));
    let mut caller = Client::join(&server, Serializer::Json).await;
    caller
        .send(&Message::Call {
            request: 7,
            options: dict(vec![("timeout", Value::UInt(3_600_000))]),
            procedure: "com.never".into(),
            args: vec![],
            kwargs: Dict::new(),
        })
        .await;
    let started = std::time::Instant::now();
    match caller.recv().await {
        Message::Error { request, error, .. } => {
            assert_eq!((request, error.as_str()), (7, "wamp.error.timeout"))
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut to the ceiling"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn kept_alive_http_connections_live_past_the_handshake_timeout() {
    let server = TestServer::start(&[("WEBSOCKET_HANDSHAKE_TIMEOUT", "1s")]).await;
    let addr = server.addr;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    for _ in 0..5 {
        let answer = http_exchange(
            &mut stream,
            &format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // An idle connection is still closed after the timeout.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "idle connection closed");
    server.shutdown().await;
}

#[tokio::test]
async fn close_handshakes_are_answered_for_v1_and_v2() {
    let server = TestServer::start(&[]).await;
    let mut v2 = Client::join(&server, Serializer::Json).await;
    let mut v1 = v1_client(server.addr).await;
    for ws in [&mut v2.ws, &mut v1] {
        ws.send(WsMessage::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await
        .expect("send close");
        let echo = tokio::time::timeout(WAIT, async {
            loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => continue,
                    other => panic!("expected the close echo, got {other:?}"),
                }
            }
        })
        .await
        .expect("echo in time");
        assert_eq!(echo, Some(1000));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn unclean_ends_are_counted_not_warned() {
    let server = Spawned::start(&[]);
    for _ in 0..20 {
        let ws = connect_ws(&format!("ws://{}/ws", server.addr), Some("wamp"))
            .await
            .expect("connects");
        // FIN without a close frame, as Oro's PHP publisher ends every publish.
        drop(ws);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.count_lines("WARN"), 0, "no warning for unclean ends");
    let metrics = scrape(server.addr).await;
    assert!(metric(&metrics, "wampd_unclean_disconnects_total") >= 20.0);
}

/// A masked client frame with `opcode` and `payload` (< 126 bytes).
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[tokio::test]
async fn pings_a_peer_never_reads_cost_bounded_memory() {
    let server = TestServer::start(&[("WEBSOCKET_OUTBOUND_QUEUE_BYTES", "1MiB")]).await;
    let addr = server.addr;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = http_exchange(
        &mut stream,
        &upgrade_request(addr, "/ws", "http://localhost"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let ping = masked(0x9, &[0x55; 125]);
    let batch: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 1000)
        .collect();
    let mut dropped = false;
    for _ in 0..1_000 {
        // 1,000 × 1,000 pings of 125 bytes: 125 MB of pongs, never read.
        match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&batch)).await {
            Ok(Ok(())) => {}
            _ => {
                dropped = true;
                break;
            }
        }
    }
    assert!(
        dropped,
        "the router dropped the connection instead of growing"
    );
    let metrics = scrape(addr).await;
    assert_eq!(
        metric(&metrics, "wampd_limit_refusals_total{reason=\"ping_rate\"}"),
        1.0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_v1_flood_costs_a_dozen_log_lines() {
    let server = Spawned::start(&[]);
    let mut v1 = v1_client(server.addr).await;
    let long_prefix = format!(r#"[1,"p","{}"]"#, "x".repeat(4000));
    for i in 0..20_000 {
        let text = if i % 2 == 0 { "not json" } else { &long_prefix };
        v1.feed(WsMessage::Text(text.to_owned().into()))
            .await
            .expect("feed");
    }
    v1.flush().await.expect("flush");
    // The session still works afterwards.
    v1_send(&mut v1, r#"[5,"com.example.after"]"#).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let warnings = server.count_lines("WARN");
    assert!(
        warnings <= 12,
        "{warnings} warning lines for 20,000 bad messages"
    );
    let metrics = scrape(server.addr).await;
    assert!(metric(&metrics, "wampd_suppressed_log_lines_total") >= 19_000.0);
}

#[tokio::test]
async fn a_dropped_slow_consumer_is_told_1008() {
    let server = TestServer::start(&[
        ("WEBSOCKET_OUTBOUND_QUEUE_MESSAGES", "64"),
        ("WEBSOCKET_OUTBOUND_QUEUE_BYTES", "1MiB"),
    ])
    .await;
    let mut slow = Client::join(&server, Serializer::Json).await;
    slow.subscribe("com.example.flood").await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let payload = Value::from("x".repeat(8_000));
    for i in 0..2_000u64 {
        publisher
            .send(&Message::Publish {
                request: i + 1,
                options: Dict::new(),
                topic: "com.example.flood".into(),
                args: vec![payload.clone()],
                kwargs: Dict::new(),
            })
            .await;
        if i % 100 == 99 {
            let m = scrape(server.addr).await;
            if metric(&m, "wampd_slow_consumer_disconnects_total") >= 1.0 {
                break;
            }
        }
    }
    let m = scrape(server.addr).await;
    assert_eq!(metric(&m, "wampd_slow_consumer_disconnects_total"), 1.0);
    let (_, code) = slow.expect_close().await;
    assert_eq!(code, Some(1008));
    server.shutdown().await;
}

#[tokio::test]
async fn goodbye_then_hello_works_at_any_connection_age() {
    let server = TestServer::start(&[("WEBSOCKET_HELLO_TIMEOUT", "1s")]).await;
    let mut c = Client::join(&server, Serializer::Json).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    c.send(&Message::Goodbye {
        details: Dict::new(),
        reason: "wamp.close.normal".into(),
    })
    .await;
    assert!(matches!(c.recv().await, Message::Goodbye { .. }));
    let c = c.welcomed().await;
    assert!(c.session > 0);
    // And the new deadline holds: a connection that stays without a session is closed.
    let mut c = c;
    c.send(&Message::Goodbye {
        details: Dict::new(),
        reason: "wamp.close.normal".into(),
    })
    .await;
    let (_, code) = c.expect_close().await;
    assert_eq!(code, Some(1008), "HELLO timeout after the second GOODBYE");
    server.shutdown().await;
}

#[tokio::test]
async fn rawsocket_headers_do_not_reserve_what_never_arrives() {
    let server = Spawned::start(&[
        ("WEBSOCKET_MAX_MESSAGE_SIZE", "16MiB"),
        ("WEBSOCKET_OUTBOUND_QUEUE_BYTES", "16MiB"),
    ]);
    let vm = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmSize:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse().ok())
            })
            .unwrap_or(0)
    };
    let pid = server.child.id();
    let before = vm(pid);
    let mut streams = Vec::new();
    for _ in 0..40 {
        let mut s = TcpStream::connect(server.addr).await.expect("connect");
        s.write_all(&[0x7F, 0xF1, 0, 0]).await.expect("handshake");
        let mut reply = [0u8; 4];
        s.read_exact(&mut reply).await.expect("reply");
        // A message header announcing 16 MiB - 1, and nothing after it.
        s.write_all(&[0, 0xFF, 0xFF, 0xFF]).await.expect("header");
        streams.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown_mib = vm(pid).saturating_sub(before) / 1024;
    assert!(
        grown_mib < 200,
        "40 announced 16 MiB frames grew the router by {grown_mib} MiB"
    );
}

#[tokio::test]
async fn refused_connection_floods_cost_bounded_log_lines() {
    let server = Spawned::start(&[]);
    for _ in 0..300 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        let answer = http_exchange(
            &mut stream,
            &upgrade_request(server.addr, "/ws", "https://evil.example"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let warnings = server.count_lines("WARN");
    assert!(
        (1..=61).contains(&warnings),
        "{warnings} warning lines for 300 refused connections"
    );
}
