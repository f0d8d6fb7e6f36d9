//! The WebSocket transport over real sockets: HTTP endpoints, the handshake, limits, keepalive,
//! slow consumers and graceful shutdown.

mod common;

use std::time::Duration;

use common::{connect_ws, Client, TestServer, WAIT};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wampd_proto::wamp::{Dict, Message, Serializer, Value};

/// Sends a raw HTTP request and returns the whole response (the server closes or we time out).
async fn http(server: &TestServer, request: &str) -> String {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn health_answers_with_json() {
    let server = TestServer::start(&[]).await;
    let _c = Client::join(&server, Serializer::Json).await;
    let response = http(
        &server,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("application/json"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");
    assert!(response.contains("\"sessions\":1"), "{response}");
    server.shutdown().await;
}

#[tokio::test]
async fn any_path_is_accepted_and_subprotocols_are_negotiated() {
    // WAMP v1 off: an offer without a v2 subprotocol is then refused (with v1 on, it is a v1
    // session, as Ratchet answers it: see tests/oro_v1.rs).
    let server = TestServer::start(&[("WEBSOCKET_V1", "false")]).await;
    for path in ["/", "/ws", "/some/deep/path?x=1"] {
        let url = format!("ws://{}{}", server.addr, path);
        let ws = connect_ws(&url, Some("wamp.2.msgpack")).await;
        assert!(ws.is_ok(), "{path}");
    }
    // The client's preference order wins.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            server.url(),
        )
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "wamp.2.ubjson, wamp.2.json, wamp.2.msgpack"
            .parse()
            .expect("header"),
    );
    let (_ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("wamp.2.json")
    );
    // No supported subprotocol: refused with 400 and a reason.
    let response = http(
        &server,
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("wamp.2.json"), "{response}");
    // A plain GET elsewhere explains what this is.
    let response = http(
        &server,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 426"), "{response}");
    server.shutdown().await;
}

#[tokio::test]
async fn connection_limit_refuses_extra_connections() {
    let server = TestServer::start(&[("WEBSOCKET_MAX_CONNECTIONS", "2")]).await;
    let a = Client::join(&server, Serializer::Json).await;
    let _b = Client::join(&server, Serializer::Json).await;
    let response = http(&server, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    drop(a);
    // The slot frees once the server notices the close.
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if connect_ws(&server.url(), Some("wamp.2.json")).await.is_ok() {
            ok = true;
            break;
        }
    }
    assert!(ok, "a slot frees up after a client leaves");
    server.shutdown().await;
}

#[tokio::test]
async fn handshake_timeout_drops_silent_tcp_connections() {
    let server = TestServer::start(&[("WEBSOCKET_HANDSHAKE_TIMEOUT", "1")]).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET /ws HTTP/1.1\r\n")
        .await
        .expect("partial request");
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(WAIT, stream.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "the server closes the connection"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn keepalive_pings_and_dead_peer_detection() {
    let server = TestServer::start(&[
        ("WEBSOCKET_PING_INTERVAL", "1"),
        ("WEBSOCKET_PING_TIMEOUT", "1"),
    ])
    .await;
    // A live client (tungstenite answers pings while we read) stays connected and sees pings.
    let mut live = Client::join(&server, Serializer::Json).await;
    let mut pings = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(3500);
    while let Ok(next) = tokio::time::timeout_at(deadline, live.ws.next()).await {
        match next {
            Some(Ok(WsMessage::Ping(_))) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 2, "saw {pings} pings");
    live.subscribe("t.alive").await;

    // A client that never reads never answers pings and is dropped.
    let mut dead = Client::join(&server, Serializer::Json).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut saw_end = false;
    while let Ok(next) = tokio::time::timeout(WAIT, dead.ws.next()).await {
        match next {
            Some(Ok(WsMessage::Ping(_))) => continue,
            _ => {
                saw_end = true;
                break;
            }
        }
    }
    assert!(saw_end, "the unresponsive connection was closed");
    server.shutdown().await;
}

#[tokio::test]
async fn slow_consumer_is_disconnected_without_hurting_others() {
    let server = TestServer::start(&[
        ("WEBSOCKET_OUTBOUND_QUEUE_MESSAGES", "16"),
        ("WEBSOCKET_OUTBOUND_QUEUE_BYTES", "1MiB"),
    ])
    .await;
    let mut publisher = Client::join(&server, Serializer::MsgPack).await;
    let mut fast = Client::join(&server, Serializer::MsgPack).await;
    let mut slow = Client::join(&server, Serializer::MsgPack).await;
    fast.subscribe("t.flood").await;
    slow.subscribe("t.flood").await;
    let payload = Value::Str("z".repeat(16 * 1024));
    let total = 1500u64;
    let reader = tokio::spawn(async move {
        for n in 0..total {
            let (_, _, args, _) = fast.event().await;
            assert_eq!(args.get(1), Some(&Value::UInt(n)));
        }
        fast
    });
    // Acknowledged one at a time, so the publisher never outruns the reading subscriber by more
    // than the socket buffers; only the subscriber that never reads falls behind.
    for n in 0..total {
        publisher
            .publish_acked(
                "t.flood",
                vec![payload.clone(), Value::UInt(n)],
                Dict::new(),
            )
            .await;
    }
    let _fast = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("the fast subscriber keeps up")
        .expect("reader");
    // The slow one now reads: it gets some events, then the connection ends.
    let mut events = 0u64;
    let mut close_code = None;
    loop {
        match tokio::time::timeout(WAIT, slow.ws.next())
            .await
            .expect("ends in time")
        {
            Some(Ok(WsMessage::Binary(_))) => events += 1,
            Some(Ok(WsMessage::Close(frame))) => {
                close_code = frame.map(|f| u16::from(f.code));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break,
        }
    }
    assert!(
        events < total,
        "the slow consumer was cut off ({events} of {total})"
    );
    if let Some(code) = close_code {
        assert_eq!(code, 1008);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_says_goodbye_and_drains() {
    let server = TestServer::start(&[("WEBSOCKET_SHUTDOWN_TIMEOUT", "4")]).await;
    let mut polite = Client::join(&server, Serializer::Json).await;
    let mut silent = Client::join(&server, Serializer::MsgPack).await;
    let stop = server.stop.clone();
    let task = server.task;
    stop.cancel();
    match polite.recv().await {
        Message::Goodbye { reason, .. } => assert_eq!(reason, "wamp.close.system_shutdown"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    polite
        .send(&Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.goodbye_and_out".into(),
        })
        .await;
    let (_, code) = polite.expect_close().await;
    assert_eq!(code, Some(1001));
    // The other client never answers GOODBYE; the server closes it after the goodbye timeout.
    match silent.recv().await {
        Message::Goodbye { reason, .. } => assert_eq!(reason, "wamp.close.system_shutdown"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    let drained = tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("shutdown finishes")
        .expect("task");
    assert!(drained, "all connections drained before the deadline");
    // No longer accepting.
    assert!(TcpStream::connect(server.addr).await.is_err());
}

/// A client offering only WAMP v2 serializers wampd does not speak (AutobahnJS configured for
/// UBJSON) is refused on the handshake with 400 and the list it can use, instead of being handed a
/// WAMP v1 session it cannot read; one also offering a spoken serializer gets it; a client
/// offering nothing still gets WAMP v1, as Ratchet answers it.
#[tokio::test]
async fn an_offer_of_only_unspoken_wamp_v2_serializers_is_refused_on_the_handshake() {
    let server = TestServer::start(&[]).await;
    for offer in ["wamp.2.ubjson", "wamp.2.flatbuffers, wamp.2.ubjson.batched"] {
        match connect_ws(&server.url(), Some(offer)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 400, "{offer}");
                let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned();
                assert!(body.contains("wamp.2.json"), "{offer}: {body}");
            }
            Err(other) => panic!("{offer}: expected HTTP 400, got {other}"),
            Ok(_) => panic!("{offer}: the upgrade was accepted"),
        }
    }
    let mut both = Client::over(
        connect_ws(&server.url(), Some("wamp.2.ubjson, wamp.2.msgpack"))
            .await
            .expect("msgpack is spoken"),
        Serializer::MsgPack,
    )
    .welcomed()
    .await;
    both.subscribe("com.example.t").await;
    let mut v1 = connect_ws(&server.url(), None)
        .await
        .expect("no offer: WAMP v1");
    assert!(common::next_text(&mut v1).await.starts_with("[0,"));
    server.shutdown().await;
}

/// `wamp.2.json.batched` as the spec frames it: one WebSocket message carrying HELLO and
/// SUBSCRIBE, each ended by `0x1E`, is handled in order; every message back ends with `0x1E`;
/// a broken batch (a length prefix that claims more than follows, on `wamp.2.msgpack.batched`)
/// and an empty one are protocol violations.
#[tokio::test]
async fn batched_subprotocols_carry_several_messages_per_websocket_message() {
    use futures_util::SinkExt;
    let server = TestServer::start(&[]).await;
    let mut ws = connect_ws(&server.url(), Some("wamp.2.json.batched"))
        .await
        .expect("json.batched is spoken");
    ws.send(WsMessage::Text(
        "[1,\"realm1\",{\"roles\":{\"subscriber\":{}}}]\u{1e}[32,7,{},\"com.example.batched\"]\u{1e}"
            .into(),
    ))
    .await
    .expect("send");
    let mut codes = Vec::new();
    while codes.len() < 2 {
        let Some(Ok(WsMessage::Text(text))) = ws.next().await else {
            panic!("expected text frames");
        };
        let text = text.as_str();
        assert!(text.ends_with('\u{1e}'), "{text:?}");
        for message in text.split('\u{1e}').filter(|m| !m.is_empty()) {
            let value: serde_json::Value = serde_json::from_str(message).expect("JSON");
            codes.push(value[0].as_u64().expect("code"));
        }
    }
    assert_eq!(codes, [2, 33], "WELCOME, then SUBSCRIBED");

    for (offer, broken) in [
        ("wamp.2.msgpack.batched", vec![0, 0, 0, 9, 0x91]),
        ("wamp.2.cbor.batched", vec![]),
    ] {
        let mut ws = connect_ws(&server.url(), Some(offer)).await.expect(offer);
        ws.send(WsMessage::Binary(broken.into()))
            .await
            .expect("send");
        let mut closed_with = None;
        while let Some(Ok(message)) = ws.next().await {
            if let WsMessage::Close(frame) = message {
                closed_with = frame.map(|f| u16::from(f.code));
                break;
            }
        }
        assert_eq!(closed_with, Some(1002), "{offer}: protocol error");
    }
    server.shutdown().await;
}
