//! Publish/subscribe over real WebSocket connections: every publish option, pattern
//! subscriptions, both serializers and their bridging.

mod common;

use std::time::Duration;

use common::{dict, Client, TestServer};
use wampd_proto::wamp::{Dict, Message, Serializer, Value};

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn event_reaches_subscribers_in_both_serializers() {
    let server = TestServer::start(&[]).await;
    let mut json = Client::join(&server, Serializer::Json).await;
    let mut pack = Client::join(&server, Serializer::MsgPack).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let sj = json.subscribe("com.example.news").await;
    let sm = pack.subscribe("com.example.news").await;
    assert_eq!(sj, sm, "one subscription per topic, shared by subscribers");

    let mut kwargs = Dict::new();
    kwargs.insert("color".into(), Value::from("orange"));
    kwargs.insert("blob".into(), Value::Bin(vec![0, 1, 2, 255]));
    publisher
        .send(&Message::Publish {
            request: 1,
            options: Dict::new(),
            topic: "com.example.news".into(),
            args: vec![Value::from("hello"), Value::UInt(42)],
            kwargs: kwargs.clone(),
        })
        .await;
    for client in [&mut json, &mut pack] {
        let (sub, details, args, kw) = client.event().await;
        assert_eq!(sub, sj);
        assert!(
            details.is_empty(),
            "no topic detail for an exact subscription"
        );
        assert_eq!(args, vec![Value::from("hello"), Value::UInt(42)]);
        assert_eq!(kw, kwargs, "binary survives JSON and MessagePack");
    }
    // Not acknowledged: the publisher hears nothing back.
    publisher.expect_silence(QUIET).await;
    server.shutdown().await;
}

#[tokio::test]
async fn acknowledge_and_exclude_me() {
    let server = TestServer::start(&[]).await;
    let mut me = Client::join(&server, Serializer::MsgPack).await;
    me.subscribe("t.self").await;
    let publication = me
        .publish_acked("t.self", vec![Value::from(1u64)], Dict::new())
        .await;
    assert!((1..=1 << 53).contains(&publication));
    me.expect_silence(QUIET).await;

    me.send(&Message::Publish {
        request: 77,
        options: dict(vec![
            ("exclude_me", Value::Bool(false)),
            ("acknowledge", Value::Bool(true)),
        ]),
        topic: "t.self".into(),
        args: vec![Value::from(2u64)],
        kwargs: Dict::new(),
    })
    .await;
    // The EVENT and the PUBLISHED may arrive in either order.
    let (mut event, mut published) = (None, None);
    for _ in 0..2 {
        match me.recv().await {
            Message::Event {
                args, publication, ..
            } => event = Some((args, publication)),
            Message::Published {
                request: 77,
                publication,
            } => published = Some(publication),
            other => panic!("unexpected {other:?}"),
        }
    }
    let (args, event_publication) = event.expect("own event with exclude_me=false");
    assert_eq!(args, vec![Value::UInt(2)]);
    assert_eq!(
        Some(event_publication),
        published,
        "PUBLISHED names the same publication"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn exclude_and_eligible_by_session_authid_and_authrole() {
    let server = TestServer::start(&[]).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let mut a = Client::join(&server, Serializer::Json).await;
    let mut b = Client::join(&server, Serializer::MsgPack).await;
    let mut c = Client::join(&server, Serializer::Json).await;
    for s in [&mut a, &mut b, &mut c] {
        s.subscribe("t.lists").await;
    }
    let (ida, idb, idc) = (a.session, b.session, c.session);

    let cases: Vec<(Dict, [bool; 3])> = vec![
        (
            dict(vec![("exclude", Value::List(vec![ida.into()]))]),
            [false, true, true],
        ),
        (
            dict(vec![(
                "eligible",
                Value::List(vec![idb.into(), idc.into()]),
            )]),
            [false, true, true],
        ),
        (
            dict(vec![
                ("eligible", Value::List(vec![idb.into(), idc.into()])),
                ("exclude", Value::List(vec![idc.into()])),
            ]),
            [false, true, false],
        ),
        (
            dict(vec![(
                "exclude_authid",
                Value::List(vec![b.authid().into()]),
            )]),
            [true, false, true],
        ),
        (
            dict(vec![(
                "eligible_authid",
                Value::List(vec![c.authid().into()]),
            )]),
            [false, false, true],
        ),
        (
            dict(vec![(
                "exclude_authrole",
                Value::List(vec!["anonymous".into()]),
            )]),
            [false, false, false],
        ),
        (
            dict(vec![(
                "eligible_authrole",
                Value::List(vec!["anonymous".into()]),
            )]),
            [true, true, true],
        ),
        (
            dict(vec![(
                "eligible_authrole",
                Value::List(vec!["admin".into()]),
            )]),
            [false, false, false],
        ),
    ];
    for (n, (options, expected)) in cases.into_iter().enumerate() {
        let marker = Value::UInt(n as u64);
        publisher
            .publish_acked("t.lists", vec![marker.clone()], options)
            .await;
        for (client, want) in [&mut a, &mut b, &mut c].into_iter().zip(expected) {
            if want {
                let (_, _, args, _) = client.event().await;
                assert_eq!(args, vec![marker.clone()], "case {n}");
            } else {
                client.expect_silence(Duration::from_millis(150)).await;
            }
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn disclose_me_adds_publisher_identity() {
    let server = TestServer::start(&[]).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let mut sub = Client::join(&server, Serializer::MsgPack).await;
    sub.subscribe("t.who").await;
    publisher
        .publish_acked(
            "t.who",
            vec![],
            dict(vec![("disclose_me", Value::Bool(true))]),
        )
        .await;
    let (_, details, _, _) = sub.event().await;
    assert_eq!(
        details.get("publisher"),
        Some(&Value::UInt(publisher.session))
    );
    assert_eq!(
        details.get("publisher_authid").and_then(Value::as_str),
        Some(publisher.authid().as_str())
    );
    assert_eq!(
        details.get("publisher_authrole"),
        Some(&Value::from("anonymous"))
    );
    publisher.publish_acked("t.who", vec![], Dict::new()).await;
    let (_, details, _, _) = sub.event().await;
    assert!(
        !details.contains_key("publisher"),
        "not disclosed unless asked"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn prefix_and_wildcard_subscriptions_carry_the_topic() {
    let server = TestServer::start(&[]).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let mut sub = Client::join(&server, Serializer::Json).await;
    let exact = sub.subscribe("com.app.product.create").await;
    let prefix = sub
        .subscribe_with("com.app.", dict(vec![("match", Value::from("prefix"))]))
        .await;
    let wild = sub
        .subscribe_with(
            "com.app..create",
            dict(vec![("match", Value::from("wildcard"))]),
        )
        .await;
    assert!(exact != prefix && prefix != wild && exact != wild);

    publisher
        .publish_acked("com.app.product.create", vec![], Dict::new())
        .await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let (subscription, details, _, _) = sub.event().await;
        got.push((subscription, details.get("topic").cloned()));
    }
    got.sort_by_key(|(s, _)| *s);
    let mut want = vec![
        (exact, None),
        (prefix, Some(Value::from("com.app.product.create"))),
        (wild, Some(Value::from("com.app.product.create"))),
    ];
    want.sort_by_key(|(s, _)| *s);
    assert_eq!(got, want, "one event per matching subscription");

    publisher
        .publish_acked("com.app.user.delete", vec![], Dict::new())
        .await;
    let (subscription, details, _, _) = sub.event().await;
    assert_eq!(subscription, prefix);
    assert_eq!(
        details.get("topic"),
        Some(&Value::from("com.app.user.delete"))
    );
    sub.expect_silence(QUIET).await;

    publisher
        .publish_acked("org.other.create", vec![], Dict::new())
        .await;
    sub.expect_silence(QUIET).await;
    server.shutdown().await;
}

#[tokio::test]
async fn resubscribe_is_idempotent_and_unsubscribe_stops_events() {
    let server = TestServer::start(&[]).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let mut sub = Client::join(&server, Serializer::Json).await;
    let first = sub.subscribe("t.re").await;
    let second = sub.subscribe("t.re").await;
    assert_eq!(first, second);
    publisher.publish_acked("t.re", vec![], Dict::new()).await;
    sub.event().await;
    sub.expect_silence(QUIET).await; // delivered once, not twice

    sub.send(&Message::Unsubscribe {
        request: 50,
        subscription: first,
    })
    .await;
    assert_eq!(
        sub.recv().await,
        Message::Unsubscribed {
            request: 50,
            details: None
        }
    );
    publisher.publish_acked("t.re", vec![], Dict::new()).await;
    sub.expect_silence(QUIET).await;

    sub.send(&Message::Unsubscribe {
        request: 51,
        subscription: first,
    })
    .await;
    match sub.recv().await {
        Message::Error {
            request_type: 34,
            request: 51,
            error,
            ..
        } => {
            assert_eq!(error, "wamp.error.no_such_subscription")
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_uris_and_options_get_errors() {
    let server = TestServer::start(&[]).await;
    let mut c = Client::join(&server, Serializer::Json).await;
    let bad_subscriptions = [
        ("a..b", Dict::new(), "wamp.error.invalid_uri"),
        ("has space", Dict::new(), "wamp.error.invalid_uri"),
        (
            "t",
            dict(vec![("match", Value::from("regex"))]),
            "wamp.error.invalid_argument",
        ),
    ];
    for (n, (topic, options, error_uri)) in bad_subscriptions.into_iter().enumerate() {
        let request = 100 + n as u64;
        c.send(&Message::Subscribe {
            request,
            options,
            topic: topic.into(),
        })
        .await;
        match c.recv().await {
            Message::Error {
                request_type: 32,
                request: r,
                error,
                ..
            } if r == request => {
                assert_eq!(error, error_uri, "{topic}")
            }
            other => panic!("expected ERROR for {topic}, got {other:?}"),
        }
    }
    let ack = || dict(vec![("acknowledge", Value::Bool(true))]);
    let bad_publishes = [
        ("a..b", ack(), "wamp.error.invalid_uri"),
        ("wamp.session.on_join", ack(), "wamp.error.invalid_uri"),
        (
            "t",
            dict(vec![
                ("acknowledge", Value::Bool(true)),
                ("exclude", Value::from("x")),
            ]),
            "wamp.error.invalid_argument",
        ),
    ];
    for (n, (topic, options, error_uri)) in bad_publishes.into_iter().enumerate() {
        let request = 200 + n as u64;
        c.send(&Message::Publish {
            request,
            options,
            topic: topic.into(),
            args: vec![],
            kwargs: Dict::new(),
        })
        .await;
        match c.recv().await {
            Message::Error {
                request_type: 16,
                request: r,
                error,
                ..
            } if r == request => {
                assert_eq!(error, error_uri, "{topic}")
            }
            other => panic!("expected ERROR for {topic}, got {other:?}"),
        }
    }
    // Without acknowledge a refused publish is silent.
    c.send(&Message::Publish {
        request: 300,
        options: Dict::new(),
        topic: "a..b".into(),
        args: vec![],
        kwargs: Dict::new(),
    })
    .await;
    c.expect_silence(QUIET).await;
    server.shutdown().await;
}

#[tokio::test]
async fn strict_uri_check_is_configurable() {
    let server = TestServer::start(&[("WEBSOCKET_URI_CHECK", "strict")]).await;
    let mut c = Client::join(&server, Serializer::Json).await;
    c.send(&Message::Subscribe {
        request: 1,
        options: Dict::new(),
        topic: "oro/data/update".into(),
    })
    .await;
    match c.recv().await {
        Message::Error { error, .. } => assert_eq!(error, "wamp.error.invalid_uri"),
        other => panic!("expected ERROR, got {other:?}"),
    }
    c.subscribe("com.example.ok_1").await;
    server.shutdown().await;

    // The default (loose) accepts Oro-style topics.
    let server = TestServer::start(&[]).await;
    let mut c = Client::join(&server, Serializer::Json).await;
    c.subscribe("oro/data/update").await;
    server.shutdown().await;
}
