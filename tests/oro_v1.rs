//! WAMP v1 and the Oro drop-in over real sockets: Oro's PHP backend client replayed byte for
//! byte, an autobahn-0.8-shaped browser, tickets, origins, user-scoped topics, oro/ping,
//! bridging with WAMP v2 sessions, and restarts that make Oro's browsers reconnect.

mod common;

use std::time::Duration;

use common::{connect_ws, Client, TestServer, WAIT};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wampd_proto::oro_ticket as ticket;
use wampd_proto::wamp::{Dict, Message, Serializer, Value};

const SECRET: &str = "ThisTokenIsNotSoSecretChangeIt";

/// An anonymous ticket, as Oro's PHP backend generates it, created `age` seconds ago.
fn anonymous_ticket(age: i64) -> String {
    let created = common::php_date_c(common::unix_now() - age);
    ticket::generate(SECRET, "", SECRET, "0123456789abcdef", &created)
}

/// A masked client text frame, as Oro's PayloadGenerator writes it.
fn masked_text(payload: &[u8]) -> Vec<u8> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Oro's backend WampClient: connect, send the exact request, read once like PHP does.
struct PhpBackend {
    stream: TcpStream,
    first_read: Vec<u8>,
}

impl PhpBackend {
    async fn connect(server: &TestServer, absolute_form: bool, ticket: &str) -> PhpBackend {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        let host = format!("127.0.0.1:{}", server.addr.port());
        let target = format!("/?ticket={}", common::php_form_encode(ticket));
        let line = if absolute_form {
            format!("GET ws://{host}{target} HTTP/1.1")
        } else {
            format!("GET {target} HTTP/1.1")
        };
        let request = format!(
            "{line}\r\nHost: {host}\r\nPragma: no-cache\r\nCache-Control: no-cache\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wamp\r\nSec-WebSocket-Version: 13\r\nOrigin: 127.0.0.1\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("request");
        // PHP reads until the first empty read after data: everything must already be there.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut buf = vec![0u8; 65_536];
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .expect("response in time")
            .expect("read");
        buf.truncate(n);
        PhpBackend {
            stream,
            first_read: buf,
        }
    }

    /// What PHP's WampClient extracts: substr(response, strpos('['), strpos(']')) → json_decode.
    fn session_id(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.first_read);
        let start = text.find('[')?;
        let end = text.find(']')?;
        let json = &text[start..=end];
        let value: serde_json::Value = serde_json::from_str(json).ok()?;
        (value[0] == 0).then(|| value[1].as_str().map(str::to_owned))?
    }

    async fn publish(&mut self, frame: &str) {
        self.stream
            .write_all(&masked_text(frame.as_bytes()))
            .await
            .expect("publish");
    }
}

/// A browser-shaped v1 client (autobahn 0.8: subprotocol wamp, JSON text frames).
struct V1Browser {
    ws: common::Ws,
    session: String,
}

impl V1Browser {
    async fn connect(server: &TestServer, query: &str) -> V1Browser {
        let url = format!("ws://{}/ws{}", server.addr, query);
        let mut ws = connect_ws(&url, Some("wamp")).await.expect("connects");
        let welcome = common::next_text(&mut ws).await;
        let value: serde_json::Value = serde_json::from_str(&welcome).expect("WELCOME is JSON");
        assert_eq!(value[0], 0);
        assert_eq!(value[2], 1);
        let session = value[1].as_str().expect("session id string").to_owned();
        V1Browser { ws, session }
    }

    async fn send(&mut self, text: &str) {
        self.ws
            .send(WsMessage::Text(text.to_owned().into()))
            .await
            .expect("send");
    }

    async fn next(&mut self) -> String {
        common::next_text(&mut self.ws).await
    }

    async fn silence(&mut self, wait: Duration) {
        if let Ok(Some(Ok(msg))) = tokio::time::timeout(wait, self.ws.next()).await {
            panic!("expected silence, got {msg:?}");
        }
    }
}

async fn oro_server(extra: &[(&str, &str)]) -> TestServer {
    let mut vars = vec![("ORO_SECRET", SECRET)];
    vars.extend_from_slice(extra);
    TestServer::start(&vars).await
}

#[tokio::test]
async fn the_php_backend_client_publishes_to_v1_and_v2_subscribers() {
    let server = oro_server(&[]).await;
    let mut browser = V1Browser::connect(
        &server,
        &format!("?ticket={}", common::php_form_encode(&anonymous_ticket(0))),
    )
    .await;
    browser.send(r#"[5,"oro/data/update"]"#).await;
    browser.send(r#"[5,"oro/maintenance"]"#).await;
    browser.send(r#"[5,"oro/message_queue_heartbeat"]"#).await;
    let mut v2 = Client::join(&server, Serializer::MsgPack).await;
    v2.subscribe("oro/data/update").await;

    for absolute_form in [false, true] {
        let mut php = PhpBackend::connect(&server, absolute_form, &anonymous_ticket(0)).await;
        let text = String::from_utf8_lossy(&php.first_read).into_owned();
        assert!(text.starts_with("HTTP/1.1 101"), "{text}");
        let head_end = text.find("\r\n\r\n").expect("head") + 4;
        assert!(
            !text[..head_end].contains(['[', ']']),
            "no brackets in the head: {text}"
        );
        assert!(text[..head_end].contains("Sec-WebSocket-Protocol: wamp\r\n"));
        assert!(
            php.session_id().is_some(),
            "WELCOME arrives with the 101 in one read: {text:?}"
        );

        // Nothing follows the WELCOME until the client speaks (no ping).
        let mut more = [0u8; 64];
        let extra =
            tokio::time::timeout(Duration::from_millis(500), php.stream.read(&mut more)).await;
        assert!(extra.is_err(), "unexpected bytes after WELCOME");

        php.publish(r#"[7,"oro\/data\/update",[{"username":"admin","tagname":"Oro_Bundle_UserBundle_Entity_User_1"}],[],[]]"#).await;
        assert_eq!(
            browser.next().await,
            r#"[8,"oro\/data\/update",[{"username":"admin","tagname":"Oro_Bundle_UserBundle_Entity_User_1"}]]"#
        );
        let (_, _, args, _) = v2.event().await;
        let Some(Value::List(items)) = args.first() else {
            panic!("{args:?}")
        };
        assert_eq!(items.len(), 1, "v2 gets Args = [payload]");

        php.publish(r#"[7,"oro\/maintenance",{"isOn":true,"userId":null},[],[]]"#)
            .await;
        assert_eq!(
            browser.next().await,
            r#"[8,"oro\/maintenance",{"isOn":true,"userId":null}]"#
        );
        php.publish(r#"[7,"oro\/message_queue_heartbeat","",[],[]]"#)
            .await;
        assert_eq!(
            browser.next().await,
            r#"[8,"oro\/message_queue_heartbeat",""]"#
        );

        // The PHP process ends without a close frame; nothing else is disturbed.
        drop(php);
    }
    v2.publish_acked("oro/maintenance", vec![Value::from("from v2")], Dict::new())
        .await;
    assert_eq!(browser.next().await, r#"[8,"oro\/maintenance","from v2"]"#);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_tickets_are_refused_before_the_upgrade() {
    let server = oro_server(&[]).await;
    let tampered = {
        let good = anonymous_ticket(0);
        let mut raw = base64_decode(&good);
        raw[0] ^= 1;
        base64_encode(&raw)
    };
    for (name, query) in [
        ("no ticket", String::new()),
        (
            "expired",
            format!(
                "?ticket={}",
                common::php_form_encode(&anonymous_ticket(400))
            ),
        ),
        (
            "from the future",
            format!(
                "?ticket={}",
                common::php_form_encode(&anonymous_ticket(-120))
            ),
        ),
        (
            "tampered",
            format!("?ticket={}", common::php_form_encode(&tampered)),
        ),
        ("garbage", "?ticket=%%%not-base64".to_string()),
    ] {
        let url = format!("ws://{}/ws{query}", server.addr);
        match connect_ws(&url, Some("wamp")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 403, "{name}")
            }
            other => panic!("{name}: expected 403, got {other:?}"),
        }
    }
    // Within the 30 s future skew, and the named-ticket refusal.
    V1Browser::connect(
        &server,
        &format!(
            "?ticket={}",
            common::php_form_encode(&anonymous_ticket(-10))
        ),
    )
    .await;
    let named = ticket::generate(
        SECRET,
        "admin",
        "$2y$13$hash",
        "0123456789abcdef",
        &common::php_date_c(common::unix_now()),
    );
    let url = format!(
        "ws://{}/ws?ticket={}",
        server.addr,
        common::php_form_encode(&named)
    );
    assert!(
        connect_ws(&url, Some("wamp")).await.is_err(),
        "named tickets are refused for now"
    );
    // WAMP v2 sessions do not need Oro tickets.
    Client::join(&server, Serializer::Json).await;
    server.shutdown().await;
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test]
async fn origins_are_checked_by_host() {
    let server =
        TestServer::start(&[("WEBSOCKET_ALLOWED_ORIGINS", "https://crm.example.com")]).await;
    for (origin, allowed) in [
        ("https://crm.example.com", true),
        ("http://crm.example.com:8080", true),
        ("http://localhost:3000", true),
        ("https://evil.example.com", false),
    ] {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                server.url(),
            )
            .expect("request");
        request
            .headers_mut()
            .insert("Origin", origin.parse().expect("header"));
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "wamp.2.json".parse().expect("header"),
        );
        let result = tokio_tungstenite::connect_async(request).await;
        assert_eq!(result.is_ok(), allowed, "{origin}: {:?}", result.err());
    }
    server.shutdown().await;
}

#[tokio::test]
async fn an_autobahn_08_shaped_client_uses_prefixes_and_all_publish_forms() {
    let server = TestServer::start(&[]).await;
    let mut a = V1Browser::connect(&server, "").await;
    let mut b = V1Browser::connect(&server, "").await;
    // PREFIX + CURIE: "event:chat" means "http://example.com/simple#chat".
    a.send(r#"[1,"event","http://example.com/simple"]"#).await;
    a.send(r#"[5,"event:chat"]"#).await;
    b.send(r#"[5,"http://example.com/simple#chat"]"#).await;
    b.send(r#"[5,"http://example.com/simple#chat"]"#).await; // idempotent
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Ratchet: the publisher receives its own event unless it excludes itself.
    a.send(r#"[7,"event:chat","hello"]"#).await;
    assert_eq!(
        a.next().await,
        r#"[8,"http:\/\/example.com\/simple#chat","hello"]"#
    );
    assert_eq!(
        b.next().await,
        r#"[8,"http:\/\/example.com\/simple#chat","hello"]"#
    );
    b.silence(Duration::from_millis(200)).await; // delivered once despite the double SUBSCRIBE

    a.send(r#"[7,"event:chat","excluded me",true]"#).await;
    assert_eq!(
        b.next().await,
        r#"[8,"http:\/\/example.com\/simple#chat","excluded me"]"#
    );
    a.silence(Duration::from_millis(200)).await;

    let exclude_b = format!(r#"[7,"event:chat","not b",["{}"]]"#, b.session);
    a.send(&exclude_b).await;
    assert_eq!(
        a.next().await,
        r#"[8,"http:\/\/example.com\/simple#chat","not b"]"#
    );
    b.silence(Duration::from_millis(200)).await;

    let only_b = format!(r#"[7,"event:chat","only b",[],["{}"]]"#, b.session);
    a.send(&only_b).await;
    assert_eq!(
        b.next().await,
        r#"[8,"http:\/\/example.com\/simple#chat","only b"]"#
    );
    a.silence(Duration::from_millis(200)).await;

    // UNSUBSCRIBE, then nothing; a CALL gets a CALLERROR; garbage is ignored, the session lives.
    b.send(r#"[6,"http://example.com/simple#chat"]"#).await;
    a.send(r#"[2,"call-1","com.example.add",1,2]"#).await;
    let error: serde_json::Value = serde_json::from_str(&a.next().await).expect("json");
    assert_eq!(error[0], 4);
    assert_eq!(error[1], "call-1");
    assert_eq!(error[2], "wamp.error.no_such_procedure");
    a.send("this is not json").await;
    a.send(r#"[8,"x","clients may not send EVENT"]"#).await;
    a.send(r#"[7,"event:chat","still alive",true]"#).await;
    b.silence(Duration::from_millis(300)).await;
    a.silence(Duration::from_millis(100)).await;
    a.send(r#"[7,"event:chat","alive"]"#).await;
    assert_eq!(
        a.next().await,
        r#"[8,"http:\/\/example.com\/simple#chat","alive"]"#
    );
    server.shutdown().await;
}

#[tokio::test]
async fn v2_payloads_are_bridged_to_v1() {
    let server = TestServer::start(&[]).await;
    let mut browser = V1Browser::connect(&server, "").await;
    browser.send(r#"[5,"com.example.bridge"]"#).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut v2 = Client::join(&server, Serializer::MsgPack).await;
    let mut kwargs = Dict::new();
    kwargs.insert("k".into(), Value::UInt(1));
    let cases: Vec<(Vec<Value>, Dict, &str)> = vec![
        (vec![Value::from("x")], Dict::new(), r#""x""#),
        (vec![Value::UInt(1), Value::UInt(2)], Dict::new(), "[1,2]"),
        (vec![], kwargs.clone(), r#"{"k":1}"#),
        (
            vec![Value::UInt(1)],
            kwargs.clone(),
            r#"{"args":[1],"kwargs":{"k":1}}"#,
        ),
    ];
    for (args, kw, expected) in cases {
        v2.send(&Message::Publish {
            request: 1,
            options: Dict::new(),
            topic: "com.example.bridge".into(),
            args,
            kwargs: kw,
        })
        .await;
        assert_eq!(
            browser.next().await,
            format!(r#"[8,"com.example.bridge",{expected}]"#)
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn user_scoped_topics_refuse_other_users_with_oros_text() {
    let server = TestServer::start(&[]).await;
    let mut browser = V1Browser::connect(&server, "").await;
    browser.send(r#"[5,"oro/reminder_remind/7"]"#).await;
    assert_eq!(
        browser.next().await,
        r#"You are not allowed to subscribe on topic "oro/reminder_remind/7"."#
    );
    // Open user-scoped topics and plain topics are fine.
    browser.send(r#"[5,"oro/imap_sync_fail/*"]"#).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut v2 = Client::join(&server, Serializer::Json).await;
    v2.publish_acked(
        "oro/imap_sync_fail/*",
        vec![Value::from("sync failed")],
        Dict::new(),
    )
    .await;
    assert_eq!(
        browser.next().await,
        r#"[8,"oro\/imap_sync_fail\/*","sync failed"]"#
    );
    server.shutdown().await;
}

#[tokio::test]
async fn oro_ping_keeps_subscribers_alive() {
    let server = TestServer::start(&[("WEBSOCKET_ORO_PING_INTERVAL", "1")]).await;
    let mut browser = V1Browser::connect(&server, "").await;
    browser.send(r#"[5,"oro/ping"]"#).await;
    assert_eq!(
        browser.next().await,
        r#"[8,"oro\/ping","Connection keep alive"]"#
    );
    // Publications to oro/ping by clients are ignored, as in Oro.
    browser.send(r#"[7,"oro/ping","spoofed"]"#).await;
    assert_eq!(
        browser.next().await,
        r#"[8,"oro\/ping","Connection keep alive"]"#
    );
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_drops_v1_sockets_uncleanly_so_oro_browsers_reconnect() {
    let server = TestServer::start(&[]).await;
    let mut browser = V1Browser::connect(&server, "").await;
    let mut v2 = Client::join(&server, Serializer::Json).await;
    server.stop.cancel();
    match v2.recv().await {
        Message::Goodbye { reason, .. } => assert_eq!(reason, "wamp.close.system_shutdown"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    match tokio::time::timeout(WAIT, browser.ws.next())
        .await
        .expect("ends in time")
    {
        Some(Ok(WsMessage::Close(frame))) => {
            panic!("a clean close stops Oro's reconnects: {frame:?}")
        }
        Some(Ok(other)) => panic!("unexpected {other:?}"),
        Some(Err(_)) | None => {}
    }
}

#[tokio::test]
async fn v1_can_be_switched_off() {
    let server = TestServer::start(&[("WEBSOCKET_V1", "false")]).await;
    assert!(connect_ws(&server.url(), Some("wamp")).await.is_err());
    assert!(connect_ws(&server.url(), None).await.is_err());
    Client::join(&server, Serializer::Json).await;
    server.shutdown().await;
}

/// A masked close frame with a status code and reason.
fn masked_close(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    let mut frame = masked_text(&payload);
    frame[0] = 0x88;
    frame
}

#[tokio::test]
async fn php_backends_are_never_pinged_away_and_their_odd_closes_are_harmless() {
    let server = oro_server(&[
        ("WEBSOCKET_PING_INTERVAL", "1"),
        ("WEBSOCKET_PING_TIMEOUT", "1"),
    ])
    .await;
    let mut browser = V1Browser::connect(
        &server,
        &format!("?ticket={}", common::php_form_encode(&anonymous_ticket(0))),
    )
    .await;
    browser.send(r#"[5,"oro/data/update"]"#).await;
    let mut php = PhpBackend::connect(&server, false, &anonymous_ticket(0)).await;
    assert!(php.session_id().is_some());
    // The PHP process never reads and never answers pings; it must outlive several ping periods.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    php.publish(r#"[7,"oro\/data\/update",[],[],[]]"#).await;
    assert_eq!(browser.next().await, r#"[8,"oro\/data\/update",[]]"#);

    // WampClient::disconnect(): close "ttfn", then a second close frame, then the socket ends.
    let mut frames = masked_close(1000, b"ttfn");
    frames.extend(masked_close(1000, b"Close acknowledged: 2"));
    php.stream.write_all(&frames).await.expect("write");
    drop(php);
    // Another backend connects and publishes; the browser still receives.
    let mut php = PhpBackend::connect(&server, true, &anonymous_ticket(0)).await;
    php.publish(r#"[7,"oro\/data\/update",{"after":"close"},[],[]]"#)
        .await;
    assert_eq!(
        browser.next().await,
        r#"[8,"oro\/data\/update",{"after":"close"}]"#
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_php_backend_may_publish_more_than_a_browser_may_send() {
    // Ratchet set no message limit and Oro publishes whole entities: a 1.5 MiB publish from the
    // PHP backend (anonymous Oro ticket: the backend role) is delivered, and so is the next one
    // on the same connection, while browsers keep the 1 MiB limit.
    let server = oro_server(&[]).await;
    let mut v2 = Client::join(&server, Serializer::Json).await;
    v2.subscribe("oro/data/update").await;
    let mut php = PhpBackend::connect(&server, false, &anonymous_ticket(0)).await;
    assert!(php.session_id().is_some());
    let big = "x".repeat(1_500_000);
    php.publish(&format!(r#"[7,"oro/data/update",{{"entity":"{big}"}}]"#))
        .await;
    php.publish(r#"[7,"oro/data/update",{"entity":"small"}]"#)
        .await;
    for expected in [big.len(), 5] {
        let (_, _, args, _) = v2.event().await;
        let entity = args[0]
            .as_dict()
            .and_then(|d| d.get("entity"))
            .and_then(Value::as_str)
            .map(str::len);
        assert_eq!(entity, Some(expected));
    }
    // A browser sending as much is closed with 1009.
    let mut v2_sender = Client::join(&server, Serializer::Json).await;
    v2_sender
        .send_raw(WsMessage::Text(
            format!("[16,1,{{}},\"a.b\",[\"{big}\"]]").into(),
        ))
        .await;
    let (_, code) = v2_sender.expect_close().await;
    assert_eq!(code, Some(1009));
}

/// A ticket that passed is remembered for its lifetime: Oro's backend presenting it again is
/// admitted without another 5000 SHA-512 rounds (counted `remembered`), while a tampered copy of
/// it and a ticket signed with another secret are still checked and refused.
#[tokio::test]
async fn a_ticket_that_passed_is_remembered_and_others_are_still_checked() {
    let server = oro_server(&[]).await;
    let good = anonymous_ticket(0);
    for _ in 0..3 {
        let php = PhpBackend::connect(&server, false, &good).await;
        assert!(php.session_id().is_some(), "admitted");
    }
    let tampered = {
        let mut raw = base64_decode(&good);
        raw[1] ^= 1;
        base64_encode(&raw)
    };
    let created = common::php_date_c(common::unix_now());
    let other_secret = ticket::generate(
        "another-secret",
        "",
        "another-secret",
        "0123456789abcdef",
        &created,
    );
    for (name, bad) in [("tampered", tampered), ("other secret", other_secret)] {
        let url = format!(
            "ws://{}/ws?ticket={}",
            server.addr,
            common::php_form_encode(&bad)
        );
        assert!(connect_ws(&url, Some("wamp")).await.is_err(), "{name}");
    }
    let metrics = common::scrape(server.addr).await;
    let digests = |outcome: &str| {
        common::metric(
            &metrics,
            &format!("wampd_oro_ticket_digests_total{{outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(digests("computed"), 1.0);
    assert_eq!(digests("remembered"), 2.0);
    server.shutdown().await;
}
