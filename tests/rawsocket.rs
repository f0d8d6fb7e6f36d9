//! WAMP RawSocket on the shared port, from raw bytes: every handshake reply, framing, PING/PONG,
//! limits, and pub/sub with WebSocket sessions on the same topics.

mod common;

use std::time::Duration;

use common::{Client, TestServer, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wampd_proto::wamp::{codec, Dict, Message, Serializer, Value};

async fn handshake(server: &TestServer, request: [u8; 4]) -> (TcpStream, [u8; 4]) {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(&request).await.expect("write");
    let mut reply = [0u8; 4];
    tokio::time::timeout(WAIT, stream.read_exact(&mut reply))
        .await
        .expect("reply in time")
        .expect("reply");
    (stream, reply)
}

/// Reads until EOF (or reset) and returns what came.
async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
    rest
}

struct RawClient {
    stream: TcpStream,
    serializer: Serializer,
}

impl RawClient {
    async fn join(server: &TestServer, serializer: Serializer) -> (RawClient, u64) {
        let s = if serializer == Serializer::Json { 1 } else { 2 };
        let (stream, reply) = handshake(server, [0x7F, 0xF0 | s, 0, 0]).await;
        assert_eq!(reply[0], 0x7F);
        assert_eq!(reply[1] & 0x0F, s, "the serializer is echoed");
        assert_eq!(&reply[2..], &[0, 0]);
        let mut client = RawClient { stream, serializer };
        client
            .send(&Message::Hello {
                realm: "realm1".into(),
                details: Dict::new(),
            })
            .await;
        match client.recv().await {
            Message::Welcome { session, .. } => (client, session),
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    async fn send_frame(&mut self, kind: u8, payload: &[u8]) {
        let len = payload.len();
        let header = [kind, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        self.stream.write_all(&header).await.expect("header");
        self.stream.write_all(payload).await.expect("payload");
    }

    async fn send(&mut self, msg: &Message) {
        let bytes = codec::encode(self.serializer, msg);
        self.send_frame(0, &bytes).await;
    }

    /// Next frame: (type, payload).
    async fn frame(&mut self) -> (u8, Vec<u8>) {
        let mut header = [0u8; 4];
        tokio::time::timeout(WAIT, self.stream.read_exact(&mut header))
            .await
            .expect("frame in time")
            .expect("frame header");
        let len =
            (usize::from(header[1]) << 16) | (usize::from(header[2]) << 8) | usize::from(header[3]);
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).await.expect("payload");
        (header[0], payload)
    }

    async fn recv(&mut self) -> Message {
        loop {
            let (kind, payload) = self.frame().await;
            match kind {
                0 => return codec::decode(self.serializer, &payload).expect("valid WAMP"),
                1 | 2 => continue,
                other => panic!("unexpected frame type {other}"),
            }
        }
    }
}

#[tokio::test]
async fn every_handshake_error_code() {
    let server = TestServer::start(&[]).await;
    let (_ok, reply) = handshake(&server, [0x7F, 0xF1, 0, 0]).await;
    assert_eq!(
        reply,
        [0x7F, 0xF1, 0, 0],
        "JSON accepted; a loopback RawSocket peer is a backend: limit 16 MiB (2^(9+15))"
    );
    let (_cbor, reply) = handshake(&server, [0x7F, 0xF3, 0, 0]).await;
    assert_eq!(reply, [0x7F, 0xF3, 0, 0], "CBOR (serializer 3) accepted");
    for (request, expected) in [
        ([0x7F, 0xF4, 0, 0], [0x7F, 0x10, 0, 0]), // FlatBuffers: serializer unsupported
        ([0x7F, 0xF0, 0, 0], [0x7F, 0x10, 0, 0]), // serializer 0 is illegal
        ([0x7F, 0x01, 0, 0], [0x7F, 0x20, 0, 0]), // 512-byte client limit is unacceptable
        ([0x7F, 0xF1, 0, 1], [0x7F, 0x30, 0, 0]), // reserved bits
    ] {
        let (mut stream, reply) = handshake(&server, request).await;
        assert_eq!(reply, expected, "request {request:02x?}");
        assert!(
            read_to_end(&mut stream).await.is_empty(),
            "then the router closes"
        );
    }
    server.shutdown().await;

    let server = TestServer::start(&[("WEBSOCKET_MAX_CONNECTIONS", "1")]).await;
    let (_held, _) = RawClient::join(&server, Serializer::Json).await;
    let (_, reply) = handshake(&server, [0x7F, 0xF1, 0, 0]).await;
    assert_eq!(
        reply,
        [0x7F, 0x40, 0, 0],
        "maximum connection count reached"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rawsocket_and_websocket_share_topics_in_both_serializers() {
    let server = TestServer::start(&[]).await;
    let mut ws_publisher = Client::join(&server, Serializer::Json).await;
    for serializer in [Serializer::Json, Serializer::MsgPack] {
        let (mut raw, session) = RawClient::join(&server, serializer).await;
        assert!(session >= 1);
        raw.send(&Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: "t.raw".into(),
        })
        .await;
        let subscription = match raw.recv().await {
            Message::Subscribed {
                request: 1,
                subscription,
            } => subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        };
        ws_publisher
            .publish_acked("t.raw", vec![Value::from("from ws")], Dict::new())
            .await;
        match raw.recv().await {
            Message::Event {
                subscription: s,
                args,
                ..
            } => {
                assert_eq!(s, subscription);
                assert_eq!(args, vec![Value::from("from ws")]);
            }
            other => panic!("expected EVENT, got {other:?}"),
        }
        // And the other way round.
        let mut ws_sub = Client::join(&server, Serializer::MsgPack).await;
        ws_sub.subscribe("t.back").await;
        let mut options = Dict::new();
        options.insert("acknowledge".into(), Value::Bool(true));
        raw.send(&Message::Publish {
            request: 2,
            options,
            topic: "t.back".into(),
            args: vec![Value::from("from raw")],
            kwargs: Dict::new(),
        })
        .await;
        assert!(matches!(
            raw.recv().await,
            Message::Published { request: 2, .. }
        ));
        let (_, _, args, _) = ws_sub.event().await;
        assert_eq!(args, vec![Value::from("from raw")]);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn pings_are_answered_and_sent() {
    let server = TestServer::start(&[
        ("WEBSOCKET_PING_INTERVAL", "1"),
        ("WEBSOCKET_PING_TIMEOUT", "5"),
    ])
    .await;
    let (mut raw, _) = RawClient::join(&server, Serializer::MsgPack).await;
    raw.send_frame(1, b"12345678").await;
    let mut got_pong = false;
    let mut got_ping = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline && !(got_pong && got_ping) {
        let (kind, payload) = raw.frame().await;
        match kind {
            2 => {
                assert_eq!(payload, b"12345678", "the pong echoes the ping payload");
                got_pong = true;
            }
            1 => {
                got_ping = true;
                raw.send_frame(2, &payload).await;
            }
            other => panic!("unexpected frame {other}"),
        }
    }
    assert!(got_pong && got_ping);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_frames_close_only_the_offender() {
    let server = TestServer::start(&[("WEBSOCKET_MAX_MESSAGE_SIZE", "4KiB")]).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let mut bystander = Client::join(&server, Serializer::Json).await;
    bystander.subscribe("t.ok").await;
    let oversized: [u8; 4] = [0x00, 0x00, 0x10, 0x01]; // 4097 bytes > 4 KiB announced
    for (name, header) in [
        ("reserved bits", [0x40u8, 0, 0, 1]),
        ("reserved frame type", [0x05, 0, 0, 1]),
        ("oversized message", oversized),
    ] {
        let (mut raw, _) = RawClient::join(&server, Serializer::Json).await;
        raw.stream.write_all(&header).await.expect("write");
        let _ = raw.stream.write_all(b"x").await;
        let rest = read_to_end(&mut raw.stream).await;
        assert!(rest.is_empty(), "{name}: connection closed without a reply");
        publisher
            .publish_acked("t.ok", vec![Value::from(name)], Dict::new())
            .await;
        let (_, _, args, _) = bystander.event().await;
        assert_eq!(args, vec![Value::from(name)]);
    }
    // Invalid WAMP inside a valid frame gets the usual ABORT.
    let (mut raw, _) = RawClient::join(&server, Serializer::Json).await;
    raw.send_frame(0, b"[999]").await;
    match raw.recv().await {
        Message::Abort { reason, .. } => assert_eq!(reason, "wamp.error.protocol_violation"),
        other => panic!("expected ABORT, got {other:?}"),
    }
    server.shutdown().await;
}
