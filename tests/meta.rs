//! The WAMP meta API over real sockets: session, subscription and registration procedures and
//! their events, and killing sessions.

mod common;

use common::{dict, Client, TestServer};
use wampd_proto::wamp::{Dict, Id, Message, Serializer, Value};

fn id_list(value: &Value) -> Vec<Id> {
    let mut ids: Vec<Id> = value
        .as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_id)
        .collect();
    ids.sort_unstable();
    ids
}

/// Reads and discards events until the connection is quiet for a moment (the watcher's own
/// subscriptions to meta topics produce meta events too).
async fn drain(client: &mut Client) {
    use futures_util::StreamExt;
    while let Ok(Some(Ok(_))) =
        tokio::time::timeout(std::time::Duration::from_millis(300), client.ws.next()).await
    {}
}

/// Subscribes, skipping any EVENT that arrives before SUBSCRIBED.
async fn watch(client: &mut Client, topic: &str) -> Id {
    let request = client.request_id();
    client
        .send(&Message::Subscribe {
            request,
            options: Dict::new(),
            topic: topic.into(),
        })
        .await;
    loop {
        match client.recv().await {
            Message::Subscribed {
                request: r,
                subscription,
            } if r == request => return subscription,
            Message::Event { .. } => continue,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }
}

/// The next EVENT's (topic-subscription, args).
async fn next_event(client: &mut Client) -> (Id, Vec<Value>) {
    let (subscription, _, args, _) = client.event().await;
    (subscription, args)
}

#[tokio::test]
async fn sessions_can_be_counted_listed_inspected_and_watched() {
    let server = TestServer::start(&[]).await;
    let mut admin = Client::join(&server, Serializer::Json).await;
    let on_join = watch(&mut admin, "wamp.session.on_join").await;
    let on_leave = watch(&mut admin, "wamp.session.on_leave").await;
    drain(&mut admin).await;

    let other = Client::join(&server, Serializer::MsgPack).await;
    let (sub, args) = next_event(&mut admin).await;
    assert_eq!(sub, on_join);
    let details = args[0].as_dict().expect("details");
    assert_eq!(details.get("session"), Some(&Value::UInt(other.session)));
    assert_eq!(details.get("authrole"), Some(&Value::from("anonymous")));

    assert_eq!(
        admin.call("wamp.session.count", vec![]).await,
        Ok(vec![Value::UInt(2)])
    );
    let list = admin.call("wamp.session.list", vec![]).await.expect("list");
    let mut expected = vec![admin.session, other.session];
    expected.sort_unstable();
    assert_eq!(id_list(&list[0]), expected);
    let got = admin
        .call("wamp.session.get", vec![Value::UInt(other.session)])
        .await
        .expect("get");
    let transport = got[0]
        .as_dict()
        .and_then(|d| d.get("transport"))
        .and_then(Value::as_dict)
        .expect("transport");
    assert_eq!(
        transport.get("protocol"),
        Some(&Value::from("wamp.2.msgpack"))
    );
    assert_eq!(
        admin.call("wamp.session.get", vec![Value::UInt(1)]).await,
        Err("wamp.error.no_such_session".into())
    );
    assert_eq!(
        admin
            .call(
                "wamp.session.count",
                vec![Value::List(vec![Value::from("nobody")])]
            )
            .await,
        Ok(vec![Value::UInt(0)])
    );

    drop(other);
    let (sub, args) = next_event(&mut admin).await;
    assert_eq!(sub, on_leave);
    assert!(args.first().and_then(Value::as_id).is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn subscriptions_are_visible_with_their_lifecycle_events() {
    let server = TestServer::start(&[]).await;
    let mut admin = Client::join(&server, Serializer::Json).await;
    let create = watch(&mut admin, "wamp.subscription.on_create").await;
    let subscribe = watch(&mut admin, "wamp.subscription.on_subscribe").await;
    let unsubscribe = watch(&mut admin, "wamp.subscription.on_unsubscribe").await;
    let delete = watch(&mut admin, "wamp.subscription.on_delete").await;
    drain(&mut admin).await;

    let mut user = Client::join(&server, Serializer::Json).await;
    let prefix = user
        .subscribe_with("com.app.", dict(vec![("match", Value::from("prefix"))]))
        .await;
    let (sub, args) = next_event(&mut admin).await;
    assert_eq!(sub, create);
    assert_eq!(args[0], Value::UInt(user.session));
    assert_eq!(
        args[1].as_dict().and_then(|d| d.get("uri")),
        Some(&Value::from("com.app."))
    );
    let (sub, args) = next_event(&mut admin).await;
    assert_eq!(
        (sub, args),
        (
            subscribe,
            vec![Value::UInt(user.session), Value::UInt(prefix)]
        )
    );

    let listed = admin
        .call("wamp.subscription.list", vec![])
        .await
        .expect("list");
    let by_policy = listed[0].as_dict().expect("dict");
    assert!(id_list(&by_policy["prefix"]).contains(&prefix));
    assert_eq!(
        admin
            .call(
                "wamp.subscription.lookup",
                vec![
                    Value::from("com.app."),
                    Value::Dict(dict(vec![("match", Value::from("prefix"))]))
                ]
            )
            .await,
        Ok(vec![Value::UInt(prefix)])
    );
    assert_eq!(
        admin
            .call("wamp.subscription.lookup", vec![Value::from("com.app.")])
            .await,
        Ok(vec![Value::Null])
    );
    assert_eq!(
        admin
            .call("wamp.subscription.match", vec![Value::from("com.app.x")])
            .await
            .map(|a| id_list(&a[0])),
        Ok(vec![prefix])
    );
    let got = admin
        .call("wamp.subscription.get", vec![Value::UInt(prefix)])
        .await
        .expect("get");
    assert_eq!(
        got[0].as_dict().and_then(|d| d.get("match")),
        Some(&Value::from("prefix"))
    );
    assert_eq!(
        admin
            .call(
                "wamp.subscription.list_subscribers",
                vec![Value::UInt(prefix)]
            )
            .await
            .map(|a| id_list(&a[0])),
        Ok(vec![user.session])
    );
    assert_eq!(
        admin
            .call(
                "wamp.subscription.count_subscribers",
                vec![Value::UInt(prefix)]
            )
            .await,
        Ok(vec![Value::UInt(1)])
    );

    user.send(&Message::Unsubscribe {
        request: 77,
        subscription: prefix,
    })
    .await;
    let (sub, _) = next_event(&mut admin).await;
    assert_eq!(sub, unsubscribe);
    let (sub, args) = next_event(&mut admin).await;
    assert_eq!(
        (sub, args),
        (delete, vec![Value::UInt(user.session), Value::UInt(prefix)])
    );
    assert_eq!(
        admin
            .call("wamp.subscription.get", vec![Value::UInt(prefix)])
            .await,
        Err("wamp.error.no_such_subscription".into())
    );
    server.shutdown().await;
}

#[tokio::test]
async fn registrations_are_visible_with_their_lifecycle_events() {
    let server = TestServer::start(&[]).await;
    let mut admin = Client::join(&server, Serializer::Json).await;
    let create = watch(&mut admin, "wamp.registration.on_create").await;
    let register = watch(&mut admin, "wamp.registration.on_register").await;
    let unregister = watch(&mut admin, "wamp.registration.on_unregister").await;
    let delete = watch(&mut admin, "wamp.registration.on_delete").await;
    drain(&mut admin).await;

    let mut callee = Client::join(&server, Serializer::Json).await;
    callee
        .send(&Message::Register {
            request: 5,
            options: Dict::new(),
            procedure: "com.example.ping".into(),
        })
        .await;
    let registration = match callee.recv().await {
        Message::Registered { registration, .. } => registration,
        other => panic!("{other:?}"),
    };
    let (sub, args) = next_event(&mut admin).await;
    assert_eq!(sub, create);
    assert_eq!(
        args[1].as_dict().and_then(|d| d.get("uri")),
        Some(&Value::from("com.example.ping"))
    );
    let (sub, args) = next_event(&mut admin).await;
    assert_eq!(
        (sub, args),
        (
            register,
            vec![Value::UInt(callee.session), Value::UInt(registration)]
        )
    );

    let listed = admin
        .call("wamp.registration.list", vec![])
        .await
        .expect("list");
    assert_eq!(
        id_list(&listed[0].as_dict().expect("dict")["exact"]),
        vec![registration]
    );
    assert_eq!(
        admin
            .call(
                "wamp.registration.lookup",
                vec![Value::from("com.example.ping")]
            )
            .await,
        Ok(vec![Value::UInt(registration)])
    );
    assert_eq!(
        admin
            .call(
                "wamp.registration.match",
                vec![Value::from("com.example.ping")]
            )
            .await,
        Ok(vec![Value::UInt(registration)])
    );
    assert_eq!(
        admin
            .call(
                "wamp.registration.list_callees",
                vec![Value::UInt(registration)]
            )
            .await
            .map(|a| id_list(&a[0])),
        Ok(vec![callee.session])
    );
    assert_eq!(
        admin
            .call(
                "wamp.registration.count_callees",
                vec![Value::UInt(registration)]
            )
            .await,
        Ok(vec![Value::UInt(1)])
    );

    drop(callee); // leaving unregisters: on_unregister then on_delete
    let (sub, _) = next_event(&mut admin).await;
    assert_eq!(sub, unregister);
    let (sub, _) = next_event(&mut admin).await;
    assert_eq!(sub, delete);
    assert_eq!(
        admin
            .call("wamp.registration.get", vec![Value::UInt(registration)])
            .await,
        Err("wamp.error.no_such_registration".into())
    );
    server.shutdown().await;
}

#[tokio::test]
async fn sessions_can_be_killed() {
    let server = TestServer::start(&[]).await;
    let mut admin = Client::join(&server, Serializer::Json).await;
    let mut victim = Client::join(&server, Serializer::MsgPack).await;
    let own = admin.session;
    assert_eq!(
        admin
            .call("wamp.session.kill", vec![Value::UInt(own)])
            .await,
        Err("wamp.error.no_such_session".into()),
        "a session cannot kill itself"
    );
    assert_eq!(
        admin
            .call("wamp.session.kill", vec![Value::UInt(victim.session)])
            .await,
        Ok(vec![])
    );
    let (seen, code) = victim.expect_close().await;
    match seen.first() {
        Some(Message::Goodbye { reason, .. }) => assert_eq!(reason, "wamp.close.killed"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    assert_eq!(code, Some(1000));

    // Wait until the victim is gone, then two more sessions join.
    for _ in 0..50 {
        if admin.call("wamp.session.count", vec![]).await == Ok(vec![Value::UInt(1)]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _a = Client::join(&server, Serializer::Json).await;
    let _b = Client::join(&server, Serializer::Json).await;
    let killed = admin
        .call(
            "wamp.session.kill_by_authrole",
            vec![Value::from("anonymous")],
        )
        .await;
    assert_eq!(killed, Ok(vec![Value::UInt(2)]), "everyone but the caller");
    server.shutdown().await;
}
