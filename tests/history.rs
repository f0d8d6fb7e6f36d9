//! Event history and recovery (`WEBSOCKET_HISTORY_TOPICS`): every EVENT of a history topic
//! carries its stream position (`Details.epoch`, `offset`); a subscriber that was away
//! subscribes with `recover_epoch`/`recover_offset` and gets exactly what it missed, in order,
//! before live events, or `wampd.error.recovery_failed` with the current position. Driven by
//! real WebSocket clients; `wamp.subscription.get_events` is also driven by autobahn-python
//! in tests/interop_autobahn_python.rs.

mod common;

use std::time::Duration;

use common::{connect_ws, dict, Client, TestServer};
use wampd_proto::ticket::{mint, Claims};
use wampd_proto::wamp::{Dict, Id, Message, Serializer, Value};

const SECRET: &str = "correct horse battery staple";

/// A session authenticated by a wampd ticket for `role`, limited to `topics` if given.
async fn join_as(server: &TestServer, role: &str, topics: Option<Vec<String>>) -> Client {
    let token = mint(
        SECRET.as_bytes(),
        &Claims {
            authid: format!("{role}-1"),
            authrole: role.into(),
            expires: common::unix_now() + 300,
            topics,
        },
    );
    let url = format!("ws://{}/ws?ticket={token}", server.addr);
    let ws = connect_ws(&url, Some("wamp.2.json"))
        .await
        .expect("connects");
    Client::over(ws, Serializer::Json).welcomed().await
}

const QUIET: Duration = Duration::from_millis(300);

/// `(epoch, offset)` of an EVENT's details.
fn position(details: &Dict) -> (String, u64) {
    let epoch = details
        .get("epoch")
        .and_then(Value::as_str)
        .expect("Details.epoch on a history topic")
        .to_owned();
    let offset = details
        .get("offset")
        .and_then(Value::as_u64)
        .expect("Details.offset on a history topic");
    (epoch, offset)
}

fn recover_options(epoch: &str, offset: u64) -> Dict {
    dict(vec![
        ("recover_epoch", Value::Str(epoch.to_owned())),
        ("recover_offset", Value::UInt(offset)),
    ])
}

/// Sends a SUBSCRIBE with `options` and returns the answer (SUBSCRIBED or ERROR).
async fn subscribe_answer(client: &mut Client, topic: &str, options: Dict) -> Message {
    let request = client.request_id();
    client
        .send(&Message::Subscribe {
            request,
            options,
            topic: topic.into(),
        })
        .await;
    client.recv().await
}

#[tokio::test]
async fn a_subscriber_that_comes_back_gets_exactly_the_events_it_missed_then_live_ones() {
    let server = TestServer::start(&[("WEBSOCKET_HISTORY_TOPICS", "news.*=2000")]).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let mut subscriber = Client::join(&server, Serializer::Json).await;
    subscriber.subscribe("news.sport").await;
    publisher
        .publish_acked("news.sport", vec![Value::UInt(0)], Dict::new())
        .await;
    let (_, details, args, _) = subscriber.event().await;
    assert_eq!(args, vec![Value::UInt(0)]);
    let (epoch, seen) = position(&details);
    assert_eq!(seen, 1, "the stream's first event");

    // The subscriber's connection drops; 1,000 events are published meanwhile.
    drop(subscriber);
    for n in 1..=1000u64 {
        publisher
            .publish_acked("news.sport", vec![Value::UInt(n)], Dict::new())
            .await;
    }

    // It comes back with its position: SUBSCRIBED, the 1,000 it missed in order, then live.
    let mut back = Client::join(&server, Serializer::MsgPack).await;
    let answer = subscribe_answer(&mut back, "news.sport", recover_options(&epoch, seen)).await;
    let Message::Subscribed { subscription, .. } = answer else {
        panic!("expected SUBSCRIBED, got {answer:?}");
    };
    for n in 1..=1000u64 {
        let (sub, details, args, _) = back.event().await;
        assert_eq!(sub, subscription);
        assert_eq!(args, vec![Value::UInt(n)], "event {n} in order");
        assert_eq!(position(&details), (epoch.clone(), n + 1));
    }
    publisher
        .publish_acked("news.sport", vec![Value::UInt(1001)], Dict::new())
        .await;
    let (_, details, args, _) = back.event().await;
    assert_eq!(args, vec![Value::UInt(1001)], "then the live event, once");
    assert_eq!(position(&details).1, 1002);
    back.expect_silence(QUIET).await;

    // Nothing missed: nothing replayed, live events follow.
    let mut current = Client::join(&server, Serializer::Json).await;
    let answer = subscribe_answer(&mut current, "news.sport", recover_options(&epoch, 1002)).await;
    assert!(matches!(answer, Message::Subscribed { .. }), "{answer:?}");
    current.expect_silence(QUIET).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_recovery_the_history_cannot_serve_is_refused_with_the_current_position() {
    let server = TestServer::start(&[("WEBSOCKET_HISTORY_TOPICS", "news.*=10")]).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let mut subscriber = Client::join(&server, Serializer::Json).await;
    subscriber.subscribe("news.sport").await;
    publisher
        .publish_acked("news.sport", vec![Value::UInt(0)], Dict::new())
        .await;
    let (_, details, _, _) = subscriber.event().await;
    let (epoch, seen) = position(&details);
    drop(subscriber);
    for n in 1..=50u64 {
        publisher
            .publish_acked("news.sport", vec![Value::UInt(n)], Dict::new())
            .await;
    }

    let mut back = Client::join(&server, Serializer::Json).await;
    let refused = |answer: Message| match answer {
        Message::Error {
            error,
            args,
            kwargs,
            ..
        } => (error, args, kwargs),
        other => panic!("expected ERROR, got {other:?}"),
    };
    // Trimmed: the stream keeps 10 events, offsets 42 to 51.
    let (error, args, kwargs) =
        refused(subscribe_answer(&mut back, "news.sport", recover_options(&epoch, seen)).await);
    assert_eq!(error, "wampd.error.recovery_failed");
    assert!(
        args[0]
            .as_str()
            .is_some_and(|m| m.contains("no longer holds offsets 2 to 41")),
        "{args:?}"
    );
    assert_eq!(kwargs.get("epoch"), Some(&Value::Str(epoch.clone())));
    assert_eq!(kwargs.get("offset"), Some(&Value::UInt(51)));
    // Another epoch (as after a restart).
    let (error, _, kwargs) =
        refused(subscribe_answer(&mut back, "news.sport", recover_options("0ld", 3)).await);
    assert_eq!(error, "wampd.error.recovery_failed");
    assert_eq!(kwargs.get("offset"), Some(&Value::UInt(51)));
    // Not subscribed by a refused recovery: a publication reaches nobody here.
    publisher
        .publish_acked("news.sport", vec![Value::UInt(51)], Dict::new())
        .await;
    back.expect_silence(QUIET).await;
    // The client subscribes from the position it was told and continues from there.
    let answer = subscribe_answer(&mut back, "news.sport", recover_options(&epoch, 51)).await;
    assert!(matches!(answer, Message::Subscribed { .. }), "{answer:?}");
    let (_, details, args, _) = back.event().await;
    assert_eq!((args, position(&details).1), (vec![Value::UInt(51)], 52));

    // Requests that cannot be a recovery are invalid arguments.
    for (topic, options) in [
        ("other.topic", recover_options(&epoch, 1)),
        ("news.", {
            let mut o = recover_options(&epoch, 1);
            o.insert("match".into(), Value::from("prefix"));
            o
        }),
        ("news.sport", dict(vec![("recover_offset", Value::UInt(1))])),
        (
            "news.sport",
            dict(vec![
                ("recover_epoch", Value::from(epoch.as_str())),
                ("recover_offset", Value::from("1")),
            ]),
        ),
    ] {
        let (error, args, _) = refused(subscribe_answer(&mut back, topic, options).await);
        assert_eq!(error, "wamp.error.invalid_argument", "{topic}: {args:?}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn get_events_answers_the_newest_events_of_a_subscription_to_whoever_may_subscribe() {
    let server = TestServer::start(&[
        ("WEBSOCKET_HISTORY_TOPICS", "news.*=100"),
        ("WEBSOCKET_AUTHORIZATION_DEFAULT", "standard"),
        ("WEBSOCKET_TICKET_SECRET", SECRET),
    ])
    .await;
    // Under the standard policy only the backend publishes and browsers may call nothing in
    // wamp.*, but a subscriber may read the history of what it may subscribe to.
    let mut publisher = join_as(&server, "backend", None).await;
    let mut reader = join_as(&server, "anonymous", None).await;
    let subscription: Id = reader.subscribe("news.sport").await;
    for n in 1..=5u64 {
        publisher
            .publish_acked("news.sport", vec![Value::UInt(n)], Dict::new())
            .await;
    }
    for _ in 1..=5 {
        reader.event().await;
    }
    let request = reader.request_id();
    reader
        .send(&Message::Call {
            request,
            options: Dict::new(),
            procedure: "wamp.subscription.get_events".into(),
            args: vec![Value::UInt(subscription)],
            kwargs: dict(vec![("limit", Value::UInt(3))]),
        })
        .await;
    let Message::Result { args, .. } = reader.recv().await else {
        panic!("expected RESULT");
    };
    let events = args[0].as_list().expect("a list of events");
    let payloads: Vec<&Value> = events
        .iter()
        .map(|e| {
            &e.as_dict().expect("an event")["args"]
                .as_list()
                .expect("args")[0]
        })
        .collect();
    assert_eq!(
        payloads,
        vec![&Value::UInt(3), &Value::UInt(4), &Value::UInt(5)]
    );
    let first = events[0].as_dict().expect("an event");
    assert_eq!(first["subscription"], Value::UInt(subscription));
    assert!(first["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        first["details"].as_dict().map(|d| d["offset"].clone()),
        Some(Value::UInt(3))
    );
    // A session whose ticket does not allow the topic may not read its history either.
    let mut limited = join_as(&server, "anonymous", Some(vec!["other.*".into()])).await;
    assert_eq!(
        limited
            .call(
                "wamp.subscription.get_events",
                vec![Value::UInt(subscription)]
            )
            .await,
        Err("wamp.error.not_authorized".into())
    );
    // An unknown subscription is the meta API's error.
    assert_eq!(
        reader
            .call("wamp.subscription.get_events", vec![Value::UInt(42)])
            .await,
        Err("wamp.error.no_such_subscription".into())
    );
    server.shutdown().await;
}

#[test]
fn a_bad_history_entry_stops_start_up_naming_the_variable_and_the_entry() {
    for (value, says) in [
        ("news.*=0", "size"),
        ("news.*=10/soon", "age"),
        ("*=10", "name a prefix"),
    ] {
        let env: std::collections::HashMap<String, String> =
            [("WEBSOCKET_HISTORY_TOPICS".to_string(), value.to_string())].into();
        let err = wampd::config::Settings::from_env(&env).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("WEBSOCKET_HISTORY_TOPICS")
                && text.contains(value)
                && text.contains(says),
            "{text}"
        );
    }
}
