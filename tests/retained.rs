//! Topic-level retention (`WEBSOCKET_RETAIN_TOPICS`) for the clients that cannot ask: every
//! publication to a configured topic is retained whoever makes it, and WAMP v1 and Socket.IO
//! subscribers get it on subscribe in their own protocol; WAMP v2 subscribers still only when
//! they ask with `get_retained`. (WAMP v2 retention by option is driven by autobahn-python in
//! tests/interop_autobahn_python.rs.)

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use common::{connect_ws, next_text, Client, TestServer};
use wampd_proto::wamp::{Dict, Serializer, Value};

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn configured_topics_are_retained_for_v1_and_socket_io_subscribers() {
    let server =
        TestServer::start(&[("WEBSOCKET_RETAIN_TOPICS", "oro/ping,socketio._.all.*")]).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    // No retain option: the topics are configured.
    for (topic, n) in [
        ("oro/ping", 1u64),
        ("oro/ping", 2),
        ("socketio._.all.news", 3),
        ("oro/other", 4),
    ] {
        publisher
            .publish_acked(topic, vec![Value::UInt(n)], Dict::new())
            .await;
    }

    // A WAMP v1 browser subscribing gets the last one at once, as an EVENT of its protocol.
    let mut v1 = connect_ws(&server.url(), Some("wamp")).await.expect("v1");
    assert!(next_text(&mut v1).await.starts_with("[0,"));
    v1.send(WsMessage::text(r#"[5,"oro/ping"]"#))
        .await
        .expect("subscribe");
    // (slashes escaped as PHP's json_encode, and so Ratchet, writes them)
    assert_eq!(next_text(&mut v1).await, r#"[8,"oro\/ping",2]"#);
    // A topic not configured is not retained.
    v1.send(WsMessage::text(r#"[5,"oro/other"]"#))
        .await
        .expect("subscribe");
    assert!(tokio::time::timeout(QUIET, v1.next()).await.is_err());

    // A Socket.IO socket joining namespace "/" gets the namespace's retained event.
    let mut sio = common::socketio_websocket(server.addr).await;
    let event = sio.next().await.expect("event").expect("frame");
    assert_eq!(event.to_text().unwrap_or(""), r#"42["news",3]"#);

    // WAMP v2: only when asked.
    let mut plain = Client::join(&server, Serializer::Json).await;
    plain.subscribe("oro/ping").await;
    assert!(tokio::time::timeout(QUIET, plain.ws.next()).await.is_err());
    let mut asking = Client::join(&server, Serializer::MsgPack).await;
    let mut options = Dict::new();
    options.insert("get_retained".into(), Value::Bool(true));
    let sub = asking.subscribe_with("oro/ping", options).await;
    match asking.recv().await {
        wampd_proto::wamp::Message::Event {
            subscription,
            args,
            details,
            ..
        } => {
            assert_eq!(subscription, sub);
            assert_eq!(args, vec![Value::UInt(2)]);
            assert_eq!(details.get("retained"), Some(&Value::Bool(true)));
        }
        other => panic!("expected the retained EVENT, got {other:?}"),
    }
    assert!(server.shutdown().await);
}

#[tokio::test]
async fn a_bad_retain_topics_list_stops_start_up_naming_the_variable() {
    let env: std::collections::HashMap<String, String> =
        [("WEBSOCKET_RETAIN_TOPICS".to_string(), "news,*".to_string())].into();
    let err = wampd::config::Settings::from_env(&env).expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("WEBSOCKET_RETAIN_TOPICS") && text.contains("news,*"),
        "{text}"
    );
}
