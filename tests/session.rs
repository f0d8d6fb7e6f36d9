//! Session lifecycle and bad input over real sockets: every malformed message gets the protocol's
//! answer and a well-behaved session on the same server keeps receiving events.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Client, TestServer};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wampd_proto::wamp::{Dict, Message, Serializer, Value};

/// Asserts the bystander still gets events after some other session misbehaved.
async fn bystander_still_receives(bystander: &mut Client, publisher: &mut Client, marker: u64) {
    publisher
        .publish_acked("t.bystander", vec![Value::UInt(marker)], Dict::new())
        .await;
    let (_, _, args, _) = bystander.event().await;
    assert_eq!(args, vec![Value::UInt(marker)]);
}

fn assert_abort(seen: &[Message], reason_uri: &str) {
    match seen.first() {
        Some(Message::Abort {
            reason, details, ..
        }) => {
            assert_eq!(reason, reason_uri);
            assert!(details.get("message").and_then(Value::as_str).is_some());
        }
        other => panic!("expected ABORT {reason_uri}, got {other:?}"),
    }
}

#[tokio::test]
async fn welcome_announces_broker_features() {
    let server = TestServer::start(&[]).await;
    let client = Client::join(&server, Serializer::Json).await;
    assert!((1..=1 << 53).contains(&client.session));
    let features = client
        .welcome
        .get("roles")
        .and_then(Value::as_dict)
        .and_then(|r| r.get("broker"))
        .and_then(Value::as_dict)
        .and_then(|b| b.get("features"))
        .and_then(Value::as_dict)
        .expect("broker features");
    for f in [
        "publisher_exclusion",
        "publisher_identification",
        "subscriber_blackwhite_listing",
        "pattern_based_subscription",
    ] {
        assert_eq!(features.get(f), Some(&Value::Bool(true)), "{f}");
    }
    assert_eq!(
        client.welcome.get("authmethod"),
        Some(&Value::from("anonymous"))
    );
    assert_eq!(
        client.welcome.get("authrole"),
        Some(&Value::from("anonymous"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_realm_is_aborted_and_configured_realms_work() {
    let server = TestServer::start(&[("WEBSOCKET_REALMS", "realm1, app.realm")]).await;
    let mut c = Client::open(&server, Serializer::Json).await;
    c.hello("nope").await;
    let (seen, code) = c.expect_close().await;
    assert_abort(&seen, "wamp.error.no_such_realm");
    assert_eq!(code, Some(1000));

    let mut c = Client::open(&server, Serializer::MsgPack).await;
    c.hello("app.realm").await;
    assert!(matches!(c.recv().await, Message::Welcome { .. }));
    server.shutdown().await;
}

#[tokio::test]
async fn goodbye_is_echoed() {
    let server = TestServer::start(&[]).await;
    let mut c = Client::join(&server, Serializer::Json).await;
    c.send(&Message::Goodbye {
        details: Dict::new(),
        reason: "wamp.close.close_realm".into(),
    })
    .await;
    assert_eq!(
        c.recv().await,
        Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.goodbye_and_out".into()
        }
    );
    server.shutdown().await;
}

#[tokio::test]
async fn protocol_violations_abort_only_the_offender() {
    let server = TestServer::start(&[]).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let mut bystander = Client::join(&server, Serializer::MsgPack).await;
    bystander.subscribe("t.bystander").await;

    let json = |s: &'static str| WsMessage::Text(s.into());
    let cases: Vec<(&str, Serializer, bool, WsMessage)> = vec![
        (
            "message before HELLO",
            Serializer::Json,
            false,
            json(r#"[32,1,{},"t"]"#),
        ),
        (
            "garbage text",
            Serializer::Json,
            false,
            json("\u{1}\u{2}garbage"),
        ),
        ("invalid JSON", Serializer::Json, true, json("[16, 1, {}, ")),
        (
            "JSON that is not a list",
            Serializer::Json,
            true,
            json(r#"{"a":1}"#),
        ),
        ("empty list", Serializer::Json, true, json("[]")),
        (
            "unknown message code",
            Serializer::Json,
            true,
            json(r#"[99,1,{}]"#),
        ),
        (
            "SUBSCRIBE with an int topic",
            Serializer::Json,
            true,
            json(r#"[32,1,{},7]"#),
        ),
        (
            "PUBLISH with a negative request id",
            Serializer::Json,
            true,
            json(r#"[16,-1,{},"t"]"#),
        ),
        (
            "SUBSCRIBE with too many elements",
            Serializer::Json,
            true,
            json(r#"[32,1,{},"t","x"]"#),
        ),
        (
            "second HELLO",
            Serializer::Json,
            true,
            json(r#"[1,"realm1",{}]"#),
        ),
        (
            "router-only message",
            Serializer::Json,
            true,
            json(r#"[36,1,2,{}]"#),
        ),
        (
            "binary frame on a JSON session",
            Serializer::Json,
            true,
            WsMessage::Binary(Bytes::from_static(b"\x91\x01")),
        ),
        (
            "garbage bytes",
            Serializer::MsgPack,
            true,
            WsMessage::Binary(Bytes::from_static(b"\xc1\xff\x00")),
        ),
        (
            "truncated MessagePack",
            Serializer::MsgPack,
            true,
            WsMessage::Binary(Bytes::from_static(b"\x94\x20\x01")),
        ),
        (
            "text frame on a MessagePack session",
            Serializer::MsgPack,
            true,
            json("[1]"),
        ),
    ];
    for (n, (name, serializer, join_first, frame)) in cases.into_iter().enumerate() {
        let mut offender = if join_first {
            Client::join(&server, serializer).await
        } else {
            Client::open(&server, serializer).await
        };
        offender.send_raw(frame).await;
        let (seen, code) = offender.expect_close().await;
        match seen.first() {
            Some(Message::Abort { reason, .. }) => {
                assert_eq!(reason, "wamp.error.protocol_violation", "{name}")
            }
            other => panic!("{name}: expected ABORT, got {other:?}"),
        }
        assert_eq!(code, Some(1002), "{name}");
        bystander_still_receives(&mut bystander, &mut publisher, n as u64).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_and_invalid_utf8_frames_close_with_the_right_code() {
    let server = TestServer::start(&[("WEBSOCKET_MAX_MESSAGE_SIZE", "4096")]).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let mut bystander = Client::join(&server, Serializer::Json).await;
    bystander.subscribe("t.bystander").await;

    let mut big = Client::join(&server, Serializer::Json).await;
    let payload = format!(r#"[16,1,{{}},"t",["{}"]]"#, "x".repeat(5000));
    big.send_raw(WsMessage::Text(payload.into())).await;
    let (_, code) = big.expect_close().await;
    assert_eq!(code, Some(1009));
    bystander_still_receives(&mut bystander, &mut publisher, 1).await;

    // A message just under the limit is fine.
    let mut ok = Client::join(&server, Serializer::Json).await;
    ok.subscribe("t.big").await;
    publisher
        .publish_acked("t.big", vec![Value::Str("y".repeat(3000))], Dict::new())
        .await;
    let (_, _, args, _) = ok.event().await;
    assert_eq!(args[0].as_str().map(str::len), Some(3000));

    // Invalid UTF-8 in a text frame, sent as a raw frame so the client library cannot refuse it.
    let mut raw = Client::join(&server, Serializer::Json).await;
    use tokio_tungstenite::tungstenite::protocol::frame::{
        coding::Data, coding::OpCode, Frame, FrameHeader,
    };
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    raw.send_raw(WsMessage::Frame(Frame::from_payload(
        header,
        Bytes::from_static(b"[1,\"\xff\xfe\"]"),
    )))
    .await;
    let (_, code) = raw.expect_close().await;
    assert_eq!(code, Some(1007));
    bystander_still_receives(&mut bystander, &mut publisher, 2).await;
    server.shutdown().await;
}

#[tokio::test]
async fn hello_timeout_closes_silent_connections() {
    let server = TestServer::start(&[("WEBSOCKET_HELLO_TIMEOUT", "1")]).await;
    let mut c = Client::open(&server, Serializer::Json).await;
    let started = std::time::Instant::now();
    let (seen, code) = c.expect_close().await;
    assert!(seen.is_empty());
    assert_eq!(code, Some(1008));
    assert!(started.elapsed() >= Duration::from_millis(900));
    server.shutdown().await;
}
