//! Hostile input, class by class, against one router while a canary subscriber receives a steady
//! stream: every malformed input gets its protocol's answer (ERROR, ABORT, a close code, a
//! RawSocket error, an HTTP status) and the canary sees every event, in order, without a gap.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use common::{connect_ws, Client, TestServer, WAIT};
use wampd_proto::wamp::{Dict, Message, Serializer, Value};

const SECRET: &str = "hostile input secret";

/// Reads until the server closes the WebSocket; the close code, if a close frame came.
async fn close_code(ws: &mut common::Ws) -> Option<u16> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

/// Sends one raw message on a fresh v2 session (after HELLO/WELCOME) and returns the WAMP
/// messages seen before the close and the close code.
async fn after_welcome(
    server: &TestServer,
    serializer: Serializer,
    raw: WsMessage,
) -> (Vec<Message>, Option<u16>) {
    let mut c = Client::join(server, serializer).await;
    c.send_raw(raw).await;
    c.expect_close().await
}

fn is_abort(seen: &[Message], reason: &str) -> bool {
    matches!(seen.last(), Some(Message::Abort { reason: r, .. }) if r == reason)
}

/// A raw TCP exchange: write `bytes`, read what comes back until the server closes or 1 s of
/// silence.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn upgrade_head(addr: SocketAddr, protocol: &str, extra: &str) -> String {
    format!(
        "GET /ws{extra} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {protocol}\r\nOrigin: http://localhost\r\n\r\n"
    )
}

#[tokio::test]
async fn every_malformed_input_class_gets_its_answer_and_the_canary_misses_nothing() {
    let server = TestServer::start(&[
        ("WEBSOCKET_TICKET_SECRET", SECRET),
        ("WEBSOCKET_MAX_MESSAGE_SIZE", "64KiB"),
        ("WEBSOCKET_BACKEND_MAX_MESSAGE_SIZE", "64KiB"),
    ])
    .await;
    let addr = server.addr;

    // The canary and its steady stream: one event every 2 ms until told to stop.
    let mut canary = Client::join(&server, Serializer::MsgPack).await;
    canary.subscribe("com.canary").await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let stopping = stop.clone();
    let stream = tokio::spawn(async move {
        let mut seq = 0u64;
        while !stopping.is_cancelled() {
            publisher
                .send(&Message::Publish {
                    request: seq + 1,
                    options: Dict::new(),
                    topic: "com.canary".into(),
                    args: vec![Value::UInt(seq)],
                    kwargs: Dict::new(),
                })
                .await;
            seq += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        seq
    });
    let received = tokio::spawn(async move {
        let mut next = 0u64;
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(3), canary.ws.next()).await;
            let Ok(Some(Ok(WsMessage::Binary(bytes)))) = msg else {
                return next;
            };
            let Ok(Message::Event { args, .. }) =
                wampd_proto::wamp::codec::decode(Serializer::MsgPack, &bytes)
            else {
                continue;
            };
            assert_eq!(
                args,
                vec![Value::UInt(next)],
                "the canary's stream has a gap"
            );
            next += 1;
        }
    });

    // WAMP v2 JSON: garbage, a non-message, a wrong frame type.
    for raw in [
        WsMessage::Text("{{{ not json".into()),
        WsMessage::Text("[999, 1, 2]".into()),
        WsMessage::Text("[16, \"x\", {}, 5]".into()),
        WsMessage::Binary(vec![0x93, 0x01, 0x02, 0x03].into()),
    ] {
        let (seen, code) = after_welcome(&server, Serializer::Json, raw.clone()).await;
        assert!(
            is_abort(&seen, "wamp.error.protocol_violation"),
            "{raw:?}: {seen:?}"
        );
        assert_eq!(code, Some(1002), "{raw:?}");
    }
    // WAMP v2 MessagePack: a reserved byte, a truncated array, a text frame.
    for raw in [
        WsMessage::Binary(vec![0xc1].into()),
        WsMessage::Binary(vec![0x95, 0x10].into()),
        WsMessage::Text("[1]".into()),
    ] {
        let (seen, code) = after_welcome(&server, Serializer::MsgPack, raw.clone()).await;
        assert!(
            is_abort(&seen, "wamp.error.protocol_violation"),
            "{raw:?}: {seen:?}"
        );
        assert_eq!(code, Some(1002), "{raw:?}");
    }
    // WAMP v2 CBOR: a lone break, a forged 2^64-1 element array, a million nested tags, an
    // integer map key, a text frame.
    let mut forged = vec![0x9b];
    forged.extend_from_slice(&u64::MAX.to_be_bytes());
    for raw in [
        WsMessage::Binary(vec![0xff].into()),
        WsMessage::Binary(forged.into()),
        WsMessage::Binary(vec![0xc1; 1_000_000 / 16].into()),
        WsMessage::Binary(vec![0x83, 0x10, 0xa1, 0x01, 0x02, 0x00].into()),
        WsMessage::Text("[1]".into()),
    ] {
        let (seen, code) = after_welcome(&server, Serializer::Cbor, raw.clone()).await;
        assert!(
            is_abort(&seen, "wamp.error.protocol_violation"),
            "{raw:?}: {seen:?}"
        );
        assert_eq!(code, Some(1002), "{raw:?}");
    }
    // Nested too deep for any decoder's recursion.
    let deep = format!(
        "[16,1,{{}},\"com.x\",{}{}]",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let (seen, code) = after_welcome(&server, Serializer::Json, WsMessage::Text(deep.into())).await;
    assert!(is_abort(&seen, "wamp.error.protocol_violation"), "{seen:?}");
    assert_eq!(code, Some(1002));
    // WebSocket framing: too big, invalid UTF-8, an unmasked client frame.
    let (_, code) = after_welcome(
        &server,
        Serializer::Json,
        WsMessage::Text("x".repeat(70_000).into()),
    )
    .await;
    assert_eq!(code, Some(1009), "message over the limit");
    let mut bad_utf8 = Client::join(&server, Serializer::Json).await;
    bad_utf8
        .ws
        .get_mut()
        .write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe])
        .await
        .expect("raw write");
    assert_eq!(
        close_code(&mut bad_utf8.ws).await,
        Some(1007),
        "invalid UTF-8"
    );
    let mut unmasked = Client::join(&server, Serializer::Json).await;
    unmasked
        .ws
        .get_mut()
        .write_all(&[0x81, 0x03, b'[', b'1', b']'])
        .await
        .expect("raw write");
    assert_eq!(
        close_code(&mut unmasked.ws).await,
        Some(1002),
        "unmasked frame"
    );

    // WAMP v1: garbage is logged and ignored, the session keeps working.
    let mut v1 = connect_ws(&format!("ws://{addr}/ws"), Some("wamp"))
        .await
        .expect("v1");
    let _welcome = common::next_text(&mut v1).await;
    for text in ["[[[", "{}", "[99]", "[7]", "[2,5]", "[1,\"p\"]", "\"str\""] {
        v1.send(WsMessage::Text(text.into())).await.expect("send");
    }
    v1.send(WsMessage::Text("[5,\"com.canary\"]".into()))
        .await
        .expect("send");
    let event = common::next_text(&mut v1).await;
    assert!(event.starts_with("[8,\"com.canary\","), "{event}");
    drop(v1);

    // RawSocket: reserved bits, an unknown serializer, then a bad frame header.
    assert_eq!(
        raw_exchange(addr, &[0x7F, 0xF1, 0, 1]).await,
        vec![0x7F, 0x30, 0, 0]
    );
    assert_eq!(
        raw_exchange(addr, &[0x7F, 0xF7, 0, 0]).await,
        vec![0x7F, 0x10, 0, 0]
    );
    let got = raw_exchange(addr, &[0x7F, 0xF1, 0, 0, 0xF0, 0, 0, 1, 0]).await;
    assert_eq!(
        &got[..4],
        &[0x7F, 0x71, 0, 0],
        "handshake answered (64 KiB), then the connection ends"
    );
    assert_eq!(got.len(), 4, "nothing after a bad frame header");

    // HTTP: not HTTP, an oversized head, a publish body that is not JSON.
    let answer = raw_exchange(addr, b"GARBAGE\r\n\r\n").await;
    assert!(
        answer.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(40_000));
    let answer = raw_exchange(addr, huge.as_bytes()).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let body = "{not json";
    let publish = format!(
        "POST /publish HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = raw_exchange(addr, publish.as_bytes()).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // Authentication: a forged ticket on the upgrade and in HELLO.
    let answer = raw_exchange(
        addr,
        upgrade_head(addr, "wamp.2.json", "?ticket=forged.token").as_bytes(),
    )
    .await;
    assert!(
        answer.starts_with(b"HTTP/1.1 403"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let mut liar = Client::open(&server, Serializer::Json).await;
    let mut details = Dict::new();
    details.insert(
        "authmethods".into(),
        Value::List(vec![Value::from("ticket")]),
    );
    liar.send(&Message::Hello {
        realm: "realm1".into(),
        details,
    })
    .await;
    assert!(matches!(liar.recv().await, Message::Challenge { .. }));
    liar.send(&Message::Authenticate {
        signature: "v1.e30.AAAA".into(),
        extra: Dict::new(),
    })
    .await;
    let (seen, _) = liar.expect_close().await;
    assert!(
        is_abort(&seen, "wamp.error.authentication_failed"),
        "{seen:?}"
    );
    // Requests before HELLO, and an unknown realm.
    let mut early = Client::open(&server, Serializer::Json).await;
    early
        .send(&Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: "com.canary".into(),
        })
        .await;
    let (seen, _) = early.expect_close().await;
    assert!(is_abort(&seen, "wamp.error.protocol_violation"), "{seen:?}");
    let mut lost = Client::open(&server, Serializer::Json).await;
    lost.hello("no.such.realm").await;
    let (seen, _) = lost.expect_close().await;
    assert!(is_abort(&seen, "wamp.error.no_such_realm"), "{seen:?}");

    stop.cancel();
    let sent = stream.await.expect("publisher");
    let got = received.await.expect("canary");
    assert!(sent > 100, "the stream ran throughout ({sent} events)");
    assert_eq!(got, sent, "the canary received every event");
    server.shutdown().await;
}
