//! Cluster mode over a real, private `redis-server` on a loopback port and three wampd nodes:
//! every subscription kind and publish option across nodes, exactly once; Redis killed and
//! restarted mid-stream; a node killed without notice; a bad WEBSOCKET_CLUSTER_DSN.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    connect_ws, dict, http_get, metric, scrape, wait_backplane, Client, ClusterProcess, Redis,
    TestServer, WAIT,
};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wampd_proto::wamp::{Dict, Id, Message, Serializer, Value};

/// How long a test listens to conclude that nothing more arrives.
const QUIET: Duration = Duration::from_millis(600);

/// A node in this test process, in cluster mode.
async fn node(redis: &Redis, extra: &[(&str, &str)]) -> TestServer {
    let dsn = redis.dsn();
    let mut vars = vec![("WEBSOCKET_CLUSTER_DSN", dsn.as_str())];
    vars.extend_from_slice(extra);
    TestServer::start(&vars).await
}

/// Three connected nodes on one private Redis.
async fn cluster(redis: &Redis) -> [TestServer; 3] {
    let nodes = [
        node(redis, &[]).await,
        node(redis, &[]).await,
        node(redis, &[]).await,
    ];
    for n in &nodes {
        wait_backplane(n.addr, true).await;
    }
    nodes
}

/// Collects EVENTs until nothing arrives for [`QUIET`]: (subscription, args, details) in order.
async fn drain_events(client: &mut Client) -> Vec<(Id, Vec<Value>, Dict)> {
    events(client, 0).await
}

/// Waits (up to [`WAIT`] per event) for `expected` EVENTs, then keeps listening for [`QUIET`] so
/// that duplicates show: a slow machine delays events, it does not make this fail.
async fn events(client: &mut Client, expected: usize) -> Vec<(Id, Vec<Value>, Dict)> {
    let mut got = Vec::new();
    loop {
        let wait = if got.len() < expected { WAIT } else { QUIET };
        match tokio::time::timeout(wait, client.ws.next()).await {
            Err(_) => return got,
            Ok(Some(Ok(WsMessage::Text(t)))) => {
                match wampd_proto::wamp::codec::decode(Serializer::Json, t.as_bytes()) {
                    Ok(Message::Event {
                        subscription,
                        args,
                        details,
                        ..
                    }) => got.push((subscription, args, details)),
                    other => panic!("expected EVENT, got {other:?}"),
                }
            }
            Ok(Some(Ok(WsMessage::Binary(b)))) => {
                match wampd_proto::wamp::codec::decode(Serializer::MsgPack, &b) {
                    Ok(Message::Event {
                        subscription,
                        args,
                        details,
                        ..
                    }) => got.push((subscription, args, details)),
                    other => panic!("expected EVENT, got {other:?}"),
                }
            }
            Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => continue,
            Ok(other) => panic!("expected EVENT, got {other:?}"),
        }
    }
}

fn count(events: &[(Id, Vec<Value>, Dict)], subscription: Id) -> usize {
    events.iter().filter(|(s, _, _)| *s == subscription).count()
}

fn ids(list: &[Id]) -> Value {
    Value::List(list.iter().map(|id| Value::UInt(*id)).collect())
}

#[tokio::test]
async fn every_subscription_kind_gets_each_publication_exactly_once_on_every_node() {
    let redis = Redis::start().await;
    let [a, b, c] = cluster(&redis).await;
    let mut publisher = Client::join(&a, Serializer::Json).await;
    let mut subscribers = Vec::new();
    for (server, serializer) in [
        (&a, Serializer::Json),
        (&b, Serializer::MsgPack),
        (&c, Serializer::Json),
    ] {
        let mut client = Client::join(server, serializer).await;
        let exact = client.subscribe("com.shop.order.created").await;
        let prefix = client
            .subscribe_with("com.shop", dict(vec![("match", Value::from("prefix"))]))
            .await;
        let wildcard = client
            .subscribe_with(
                "com..order.created",
                dict(vec![("match", Value::from("wildcard"))]),
            )
            .await;
        subscribers.push((client, exact, prefix, wildcard));
    }
    const N: u64 = 20;
    for i in 0..N {
        publisher
            .publish_acked("com.shop.order.created", vec![Value::UInt(i)], Dict::new())
            .await;
    }
    for (at, (client, exact, prefix, wildcard)) in subscribers.iter_mut().enumerate() {
        let events = events(client, 3 * N as usize).await;
        for (kind, subscription) in [
            ("exact", *exact),
            ("prefix", *prefix),
            ("wildcard", *wildcard),
        ] {
            assert_eq!(
                count(&events, subscription),
                N as usize,
                "node {at}, {kind} subscription: {events:?}"
            );
            let order: Vec<Value> = events
                .iter()
                .filter(|(s, _, _)| *s == subscription)
                .map(|(_, args, _)| args.first().cloned().unwrap_or(Value::Null))
                .collect();
            assert_eq!(order, (0..N).map(Value::UInt).collect::<Vec<_>>());
        }
        assert_eq!(
            events.len(),
            3 * N as usize,
            "node {at}: nothing else arrives"
        );
        // Pattern subscriptions learn the concrete topic on every node.
        assert!(events
            .iter()
            .filter(|(s, _, _)| *s == *prefix)
            .all(|(_, _, d)| d.get("topic") == Some(&Value::from("com.shop.order.created"))));
    }
    // Metrics: A sent N, B and C each received N, nobody dropped any.
    let (ma, mb) = (scrape(a.addr).await, scrape(b.addr).await);
    assert_eq!(
        metric(&ma, "wampd_cluster_publications_sent_total"),
        N as f64
    );
    assert_eq!(
        metric(&mb, "wampd_cluster_publications_received_total"),
        N as f64
    );
    assert_eq!(metric(&ma, "wampd_cluster_publications_dropped_total"), 0.0);
    for n in [a, b, c] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn listing_options_and_disclosure_work_with_sessions_on_other_nodes() {
    let redis = Redis::start().await;
    let [a, b, c] = cluster(&redis).await;
    let mut publisher = Client::join(&a, Serializer::Json).await;
    let mut on_b = Client::join(&b, Serializer::Json).await;
    let mut on_c = Client::join(&c, Serializer::MsgPack).await;
    let sub_b = on_b.subscribe("t.lists").await;
    let sub_c = on_c.subscribe("t.lists").await;
    // The publisher also subscribes: exclude_me applies on its own node only.
    let sub_me = publisher.subscribe("t.lists").await;
    let (sb, sc) = (on_b.session, on_c.session);
    let authid_c = on_c.authid();

    let cases: Vec<(&str, Dict, bool, bool, bool)> = vec![
        ("default", Dict::new(), false, true, true),
        (
            "exclude_me=false",
            dict(vec![("exclude_me", Value::Bool(false))]),
            true,
            true,
            true,
        ),
        (
            "eligible=[B]",
            dict(vec![("eligible", ids(&[sb]))]),
            false,
            true,
            false,
        ),
        (
            "exclude=[C]",
            dict(vec![("exclude", ids(&[sc]))]),
            false,
            true,
            false,
        ),
        (
            "eligible_authid=[C's]",
            dict(vec![(
                "eligible_authid",
                Value::List(vec![Value::from(authid_c.as_str())]),
            )]),
            false,
            false,
            true,
        ),
        (
            "exclude_authrole=[anonymous]",
            dict(vec![(
                "exclude_authrole",
                Value::List(vec![Value::from("anonymous")]),
            )]),
            false,
            false,
            false,
        ),
    ];
    for (name, mut options, me, to_b, to_c) in cases {
        // The publisher's own EVENT may come before PUBLISHED, so read both together.
        options.insert("acknowledge".into(), Value::Bool(true));
        let request = publisher.request_id();
        publisher
            .send(&Message::Publish {
                request,
                options,
                topic: "t.lists".into(),
                args: vec![Value::from(name)],
                kwargs: Dict::new(),
            })
            .await;
        let mut got_me = Vec::new();
        let mut acknowledged = false;
        while !acknowledged || got_me.len() < usize::from(me) {
            match publisher.recv().await {
                Message::Published { request: r, .. } if r == request => acknowledged = true,
                Message::Event {
                    subscription,
                    args,
                    details,
                    ..
                } => got_me.push((subscription, args, details)),
                other => panic!("{name}: unexpected {other:?}"),
            }
        }
        got_me.extend(drain_events(&mut publisher).await);
        let got_b = events(&mut on_b, usize::from(to_b)).await;
        let got_c = events(&mut on_c, usize::from(to_c)).await;
        assert_eq!(count(&got_me, sub_me), usize::from(me), "{name}: publisher");
        assert_eq!(count(&got_b, sub_b), usize::from(to_b), "{name}: node B");
        assert_eq!(count(&got_c, sub_c), usize::from(to_c), "{name}: node C");
    }

    // disclose_me: the far node learns who published.
    publisher
        .publish_acked(
            "t.lists",
            vec![Value::from("disclosed")],
            dict(vec![("disclose_me", Value::Bool(true))]),
        )
        .await;
    let (_, details, _, _) = on_c.event().await;
    assert_eq!(
        details.get("publisher"),
        Some(&Value::UInt(publisher.session))
    );
    assert_eq!(
        details.get("publisher_authid"),
        Some(&Value::from(publisher.authid().as_str()))
    );
    let (_, details, _, _) = on_b.event().await;
    assert!(details.contains_key("publisher"));
    // Not disclosed: nothing about the publisher travels.
    publisher
        .publish_acked("t.lists", vec![Value::from("quiet")], Dict::new())
        .await;
    let (_, details, _, _) = on_c.event().await;
    assert_eq!(details.get("publisher"), None);
    for n in [a, b, c] {
        n.shutdown().await;
    }
}

/// A WAMP v1 (Oro) browser: the WELCOME, then text frames.
async fn v1_browser(server: &TestServer) -> common::Ws {
    let mut ws = connect_ws(&format!("ws://{}/ws", server.addr), Some("wamp"))
        .await
        .expect("v1 connects");
    let welcome = common::next_text(&mut ws).await;
    assert!(welcome.starts_with("[0,"), "{welcome}");
    ws
}

/// Runs `wampd publish` (a RawSocket peer) against `addr`.
fn rawsocket_publish(addr: SocketAddr, topic: &str, args: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_wampd"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .args([
            "publish",
            topic,
            args,
            "--dsn",
            &format!("tcp://{addr}"),
            "--transport",
            "rawsocket",
            "--acknowledge",
        ])
        .output()
        .expect("wampd publish runs");
    assert!(
        output.status.success(),
        "wampd publish failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn v1_http_and_rawsocket_publications_cross_nodes() {
    let redis = Redis::start().await;
    let [a, b, c] = cluster(&redis).await;
    // A v1 browser on B and a v2 subscriber on C.
    let mut browser = v1_browser(&b).await;
    browser
        .send(WsMessage::Text(r#"[5,"com.example.mixed"]"#.into()))
        .await
        .expect("v1 subscribe");
    let mut v2 = Client::join(&c, Serializer::MsgPack).await;
    let sub = v2.subscribe("com.example.mixed").await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // v2 publish on A → v1 on B (bridged) and v2 on C.
    let mut publisher = Client::join(&a, Serializer::Json).await;
    publisher
        .publish_acked(
            "com.example.mixed",
            vec![Value::from("from v2")],
            Dict::new(),
        )
        .await;
    assert_eq!(
        common::next_text(&mut browser).await,
        r#"[8,"com.example.mixed","from v2"]"#
    );
    let (s, _, args, _) = v2.event().await;
    assert_eq!((s, args), (sub, vec![Value::from("from v2")]));

    // HTTP POST /publish on A.
    let body = r#"{"topic":"com.example.mixed","args":["from http"]}"#;
    let output = tokio::task::spawn_blocking({
        let url = format!("http://{}/publish", a.addr);
        move || {
            Command::new("curl")
                .args([
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "-X",
                    "POST",
                    &url,
                ])
                .args([
                    "-H",
                    "Content-Type: application/json",
                    "--data-binary",
                    body,
                ])
                .output()
        }
    })
    .await
    .expect("join")
    .expect("curl is installed");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "200");
    assert_eq!(
        common::next_text(&mut browser).await,
        r#"[8,"com.example.mixed","from http"]"#
    );
    let (_, _, args, _) = v2.event().await;
    assert_eq!(args, vec![Value::from("from http")]);

    // RawSocket publisher on A.
    let addr = a.addr;
    tokio::task::spawn_blocking(move || {
        rawsocket_publish(addr, "com.example.mixed", r#"["from rawsocket"]"#)
    })
    .await
    .expect("join");
    assert_eq!(
        common::next_text(&mut browser).await,
        r#"[8,"com.example.mixed","from rawsocket"]"#
    );
    let (_, _, args, _) = v2.event().await;
    assert_eq!(args, vec![Value::from("from rawsocket")]);

    // A v1 publish on B keeps its exact JSON (key order) for a v1 browser on C, and reaches v2
    // on C bridged; nothing arrives twice.
    let mut browser_c = v1_browser(&c).await;
    browser_c
        .send(WsMessage::Text(r#"[5,"com.example.mixed"]"#.into()))
        .await
        .expect("v1 subscribe");
    tokio::time::sleep(Duration::from_millis(100)).await;
    browser
        .send(WsMessage::Text(
            r#"[7,"com.example.mixed",{"z":1,"a":[true,null]}]"#.into(),
        ))
        .await
        .expect("v1 publish");
    assert_eq!(
        common::next_text(&mut browser_c).await,
        r#"[8,"com.example.mixed",{"z":1,"a":[true,null]}]"#
    );
    // Ratchet semantics: the v1 publisher gets its own event, once.
    assert_eq!(
        common::next_text(&mut browser).await,
        r#"[8,"com.example.mixed",{"z":1,"a":[true,null]}]"#
    );
    // Bridged per protocol/bridging.md: the v1 payload is the one positional argument.
    let (_, _, args, _) = v2.event().await;
    let z = args
        .first()
        .and_then(Value::as_dict)
        .and_then(|d| d.get("z"));
    assert_eq!(z, Some(&Value::UInt(1)), "{args:?}");
    let rest = drain_events(&mut v2).await;
    assert!(rest.is_empty(), "{rest:?}");
    for ws in [&mut browser, &mut browser_c] {
        if let Ok(Some(Ok(WsMessage::Text(t)))) = tokio::time::timeout(QUIET, ws.next()).await {
            panic!("duplicate delivery: {t}");
        }
    }
    for n in [a, b, c] {
        n.shutdown().await;
    }
}

/// Publishes on `from` until `to` receives (polling, not a fixed long sleep); panics after 20 s.
async fn until_delivered(from: &mut Client, to: &mut Client, topic: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        from.publish_acked(topic, vec![Value::from("probe")], Dict::new())
            .await;
        if let Ok(Some(Ok(WsMessage::Text(_) | WsMessage::Binary(_)))) =
            tokio::time::timeout(Duration::from_millis(250), to.ws.next()).await
        {
            // Let any probes still in flight arrive, then forget them.
            drain_events(to).await;
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cross-node delivery did not resume"
        );
    }
}

#[tokio::test]
async fn redis_killed_and_restarted_local_delivery_continues_and_cross_node_resumes() {
    let mut redis = Redis::start().await;
    let a = node(&redis, &[]).await;
    let b = node(&redis, &[]).await;
    wait_backplane(a.addr, true).await;
    wait_backplane(b.addr, true).await;
    let mut pub_a = Client::join(&a, Serializer::Json).await;
    let mut pub_b = Client::join(&b, Serializer::Json).await;
    let mut sub_a = Client::join(&a, Serializer::Json).await;
    let mut sub_b = Client::join(&b, Serializer::Json).await;
    sub_a.subscribe("t.stream").await;
    sub_b.subscribe("t.stream").await;
    pub_a
        .publish_acked("t.stream", vec![Value::from("before")], Dict::new())
        .await;
    assert_eq!(events(&mut sub_a, 1).await.len(), 1);
    assert_eq!(events(&mut sub_b, 1).await.len(), 1);

    redis.kill();
    wait_backplane(a.addr, false).await;
    wait_backplane(b.addr, false).await;
    let (status, body) = http_get(a.addr, "/ready").await;
    assert_eq!(status, 200);
    assert!(body.contains("degraded"), "{body}");
    let (status, _) = http_get(a.addr, "/health").await;
    assert_eq!(status, 200, "/health stays OK: local service continues");

    // Local delivery continues on each node; cross-node waits in the queue until Redis is back.
    pub_a
        .publish_acked("t.stream", vec![Value::from("down on A")], Dict::new())
        .await;
    pub_b
        .publish_acked("t.stream", vec![Value::from("down on B")], Dict::new())
        .await;
    let got_a = events(&mut sub_a, 1).await;
    let got_b = events(&mut sub_b, 1).await;
    assert_eq!(
        got_a.iter().map(|e| e.1.clone()).collect::<Vec<_>>(),
        vec![vec![Value::from("down on A")]]
    );
    assert_eq!(
        got_b.iter().map(|e| e.1.clone()).collect::<Vec<_>>(),
        vec![vec![Value::from("down on B")]]
    );
    let metrics = scrape(a.addr).await;
    assert!(metric(&metrics, "wampd_cluster_publications_buffered_total") >= 1.0);
    assert!(metric(&metrics, "wampd_cluster_disconnects_total") >= 1.0);

    redis.restart().await;
    until_delivered(&mut pub_a, &mut sub_b, "t.stream").await;
    until_delivered(&mut pub_b, &mut sub_a, "t.stream").await;
    wait_backplane(a.addr, true).await;
    let (_, body) = http_get(a.addr, "/ready").await;
    assert_eq!(body, "ready\n");
    // What was published during the outage went out once Redis was back (a plain publication
    // reaches a node whose subscription was back by then: at most once), and delivery is
    // exactly-once again.
    for (sub, other) in [(&mut sub_a, "down on B"), (&mut sub_b, "down on A")] {
        let got = drain_events(sub).await;
        let copies = got
            .iter()
            .filter(|e| e.1 == vec![Value::from(other)])
            .count();
        assert!(copies <= 1, "{got:?}");
    }
    pub_a
        .publish_acked("t.stream", vec![Value::from("after")], Dict::new())
        .await;
    let got_b = events(&mut sub_b, 1).await;
    assert_eq!(got_b.len(), 1, "{got_b:?}");
    assert_eq!(got_b[0].1, vec![Value::from("after")]);
    for n in [a, b] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn a_node_killed_without_notice_leaves_the_others_working() {
    let redis = Redis::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nodes: Vec<ClusterProcess> = (0..3)
        .map(|_| ClusterProcess::start(&redis, dir.path()))
        .collect();
    for n in &nodes {
        wait_backplane(n.addr, true).await;
    }
    let mut on_a = Client::join_at(nodes[0].addr, Serializer::Json).await;
    let mut on_b = Client::join_at(nodes[1].addr, Serializer::Json).await;
    let mut on_c = Client::join_at(nodes[2].addr, Serializer::Json).await;
    for client in [&mut on_a, &mut on_b, &mut on_c] {
        client.subscribe("t.nodes").await;
    }
    let mut publisher = Client::join_at(nodes[1].addr, Serializer::Json).await;
    publisher
        .publish_acked("t.nodes", vec![Value::UInt(1)], Dict::new())
        .await;
    for client in [&mut on_a, &mut on_b, &mut on_c] {
        assert_eq!(events(client, 1).await.len(), 1);
    }

    // 1 session on A, 2 on B, 1 on C.
    wait_cluster_count(&mut on_c, 4, Duration::from_secs(10)).await;

    // SIGKILL node A: its sessions vanish, nothing is left behind that disturbs B and C.
    let a = nodes.remove(0);
    drop(a);
    for i in 2..5u64 {
        publisher
            .publish_acked("t.nodes", vec![Value::UInt(i)], Dict::new())
            .await;
    }
    let got_b = events(&mut on_b, 3).await;
    let got_c = events(&mut on_c, 3).await;
    assert_eq!(got_b.len(), 3, "{got_b:?}");
    assert_eq!(got_c.len(), 3, "{got_c:?}");
    // And from C to B (nodes is now [B, C]).
    let mut from_c = Client::join_at(nodes[1].addr, Serializer::Json).await;
    from_c
        .publish_acked("t.nodes", vec![Value::from("c")], Dict::new())
        .await;
    assert_eq!(events(&mut on_b, 1).await.len(), 1);
    assert_eq!(events(&mut on_c, 1).await.len(), 1);
    // A's report expires (6 s) and the cluster count forgets its session; from_c joined on C.
    wait_cluster_count(&mut on_c, 4, Duration::from_secs(15)).await;
    drop(from_c);
    wait_cluster_count(&mut on_b, 3, Duration::from_secs(15)).await;
    let metrics = scrape(nodes[0].addr).await;
    assert_eq!(metric(&metrics, "wampd_cluster_connected"), 1.0);
    assert_eq!(
        metric(&metrics, "wampd_cluster_publications_dropped_total"),
        0.0
    );
}

/// Issue 21: a node that dies while its callee serves a call from another node. The caller's
/// node notices when the dead node's report expires (6 s), fails the call with
/// `wamp.error.canceled` and forgets the dead node's procedures.
#[tokio::test]
async fn a_node_killed_mid_call_fails_the_call_and_its_procedures_are_forgotten() {
    let redis = Redis::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nodes: Vec<ClusterProcess> = (0..2)
        .map(|_| ClusterProcess::start(&redis, dir.path()))
        .collect();
    for n in &nodes {
        wait_backplane(n.addr, true).await;
    }
    let mut callee = Client::join_at(nodes[0].addr, Serializer::Json).await;
    callee
        .register("com.example.hang")
        .await
        .expect("registered");
    let mut caller = Client::join_at(nodes[1].addr, Serializer::Json).await;
    common::until_routed(&mut caller, &mut callee, "com.example.hang").await;

    let request = caller.request_id();
    caller
        .send(&Message::Call {
            request,
            options: Dict::new(),
            procedure: "com.example.hang".into(),
            args: vec![],
            kwargs: Dict::new(),
        })
        .await;
    assert!(matches!(callee.recv().await, Message::Invocation { .. }));
    let killed = Instant::now();
    drop(nodes.remove(0));
    match caller.recv_within(Duration::from_secs(20)).await {
        Message::Error {
            request: r, error, ..
        } => assert_eq!((r, error.as_str()), (request, "wamp.error.canceled")),
        other => panic!("expected ERROR, got {other:?}"),
    }
    let waited = killed.elapsed();
    assert!(waited < Duration::from_secs(15), "noticed after {waited:?}");
    assert_eq!(
        caller.call("com.example.hang", vec![]).await,
        Err("wamp.error.no_such_procedure".to_owned())
    );
}

/// Polls `wampd.cluster.session.count` until it answers `expected` (nodes report every 2 s).
async fn wait_cluster_count(client: &mut Client, expected: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = client.call("wampd.cluster.session.count", vec![]).await;
        if got == Ok(vec![Value::UInt(expected)]) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cluster session count: expected {expected}, last answer {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn session_counts_are_node_local_and_the_cluster_count_sums_the_nodes() {
    let mut redis = Redis::start().await;
    let [a, b, c] = cluster(&redis).await;
    let _on_a = Client::join(&a, Serializer::Json).await;
    let _on_b1 = Client::join(&b, Serializer::Json).await;
    let _on_b2 = Client::join(&b, Serializer::Json).await;
    let mut on_c = Client::join(&c, Serializer::Json).await;
    // wamp.session.count stays node-local and exact.
    assert_eq!(
        on_c.call("wamp.session.count", vec![]).await,
        Ok(vec![Value::UInt(1)])
    );
    wait_cluster_count(&mut on_c, 4, Duration::from_secs(10)).await;
    // Without Redis the cluster-wide figure is unknown, and says so.
    redis.kill();
    wait_backplane(c.addr, false).await;
    assert_eq!(
        on_c.call("wampd.cluster.session.count", vec![]).await,
        Err("wampd.error.cluster_unavailable".to_owned())
    );
    assert_eq!(
        on_c.call("wamp.session.count", vec![]).await,
        Ok(vec![Value::UInt(1)])
    );
    for n in [a, b, c] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn a_single_node_counts_its_own_sessions_as_the_cluster() {
    let server = TestServer::start(&[]).await;
    let _other = Client::join(&server, Serializer::Json).await;
    let mut client = Client::join(&server, Serializer::Json).await;
    assert_eq!(
        client.call("wampd.cluster.session.count", vec![]).await,
        Ok(vec![Value::UInt(2)])
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_node_starts_while_redis_is_down_and_joins_when_it_comes_up() {
    let mut redis = Redis::start().await;
    redis.kill();
    let a = node(&redis, &[]).await;
    let b = node(&redis, &[]).await;
    // Both serve locally meanwhile.
    let mut sub_a = Client::join(&a, Serializer::Json).await;
    sub_a.subscribe("t.late").await;
    let mut pub_a = Client::join(&a, Serializer::Json).await;
    pub_a
        .publish_acked("t.late", vec![Value::from("local")], Dict::new())
        .await;
    assert_eq!(events(&mut sub_a, 1).await.len(), 1);
    redis.restart().await;
    let mut sub_b = Client::join(&b, Serializer::Json).await;
    sub_b.subscribe("t.late").await;
    until_delivered(&mut pub_a, &mut sub_b, "t.late").await;
    for n in [a, b] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn rediss_connects_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let redis = Redis::start_tls(dir.path()).await;
    let Some((tls_port, _, _)) = &redis.tls else {
        panic!("started with TLS");
    };
    // Self-signed test certificate: `#insecure` skips verification (testing only).
    let dsn = format!("rediss://127.0.0.1:{tls_port}/0#insecure");
    let vars = [("WEBSOCKET_CLUSTER_DSN", dsn.as_str())];
    let a = TestServer::start(&vars).await;
    let b = TestServer::start(&vars).await;
    wait_backplane(a.addr, true).await;
    wait_backplane(b.addr, true).await;
    let mut publisher = Client::join(&a, Serializer::Json).await;
    let mut subscriber = Client::join(&b, Serializer::Json).await;
    subscriber.subscribe("t.tls").await;
    publisher
        .publish_acked("t.tls", vec![Value::from("over tls")], Dict::new())
        .await;
    let (_, _, args, _) = subscriber.event().await;
    assert_eq!(args, vec![Value::from("over tls")]);
    // A plain redis:// client on the TLS port gets nowhere: the TLS path is what worked.
    let plain = format!("redis://127.0.0.1:{tls_port}/0");
    let c = TestServer::start(&[("WEBSOCKET_CLUSTER_DSN", plain.as_str())]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        metric(&scrape(c.addr).await, "wampd_cluster_connected"),
        0.0
    );
    for n in [a, b, c] {
        n.shutdown().await;
    }
}

#[test]
fn a_bad_cluster_dsn_stops_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in [
        "http://127.0.0.1:6379",
        "redis://",
        "redis://127.0.0.1:6379/zero",
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_wampd"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("WEBSOCKET_SERVER_DSN", "//127.0.0.1:0")
            .env("WEBSOCKET_CLUSTER_DSN", bad)
            .current_dir(dir.path())
            .args(["websocket:server"])
            .output()
            .expect("wampd runs");
        assert!(!output.status.success(), "{bad} accepted");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(text.contains("WEBSOCKET_CLUSTER_DSN"), "{bad}: {text}");
        assert!(text.contains("redis://"), "{bad}: {text}");
    }
}

/// Runs `wampd-bench` with `args` and returns its one JSON line.
async fn bench_report(args: Vec<String>) -> serde_json::Value {
    let output = tokio::task::spawn_blocking(move || {
        Command::new(common::wampd_bench_binary())
            .args(&args)
            .output()
    })
    .await
    .expect("join")
    .expect("wampd-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {stdout}");
    serde_json::from_str(lines[0]).expect("JSON")
}

/// A numeric figure of a bench report.
fn number(report: &serde_json::Value, key: &str) -> f64 {
    report[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {report}"))
}

#[tokio::test]
async fn the_cross_node_bench_scenario_measures_delivery_across_the_backplane() {
    let redis = Redis::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let nodes: Vec<ClusterProcess> = (0..3)
        .map(|_| ClusterProcess::start(&redis, dir.path()))
        .collect();
    for n in &nodes {
        wait_backplane(n.addr, true).await;
    }
    let url = |p: &ClusterProcess| format!("ws://{}/ws", p.addr);
    let args = vec![
        "cross-node".to_string(),
        "--publish-url".into(),
        url(&nodes[0]),
        "--subscribe-url".into(),
        format!("{},{}", url(&nodes[1]), url(&nodes[2])),
        "--subscribers".into(),
        "5".into(),
        "--rate".into(),
        "500".into(),
        "--duration".into(),
        "1s".into(),
    ];
    let report = bench_report(args).await;
    let num = |key: &str| number(&report, key);
    assert_eq!(report["scenario"], "cross-node");
    assert_eq!(num("subscribers_connected"), 10.0, "{report}");
    assert!(num("samples") > 0.0, "{report}");
    assert!(num("deliveries_per_sec") > 0.0, "{report}");
    let (p50, p99) = (num("p50_us"), num("p99_us"));
    assert!(p50 > 0.0 && p99 >= p50, "{report}");
    assert_eq!(num("errors"), 0.0, "{report}");
    // Every delivery crossed the backplane: the publishing node has no subscriber.
    let metrics = scrape(nodes[1].addr).await;
    assert!(metric(&metrics, "wampd_cluster_publications_received_total") >= 1.0);
}

/// `wampd-bench rpc --callee-url`: the callee on one node, the callers on another, so every
/// call and its result cross the backplane.
#[tokio::test]
async fn the_rpc_bench_scenario_measures_calls_across_the_backplane() {
    let redis = Redis::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let nodes: Vec<ClusterProcess> = (0..2)
        .map(|_| ClusterProcess::start(&redis, dir.path()))
        .collect();
    for n in &nodes {
        wait_backplane(n.addr, true).await;
    }
    let url = |p: &ClusterProcess| format!("ws://{}/ws", p.addr);
    let args = vec![
        "rpc".to_string(),
        "--url".into(),
        url(&nodes[1]),
        "--callee-url".into(),
        url(&nodes[0]),
        "--callers".into(),
        "3".into(),
        "--in-flight".into(),
        "4".into(),
        "--warmup".into(),
        "200ms".into(),
        "--duration".into(),
        "1s".into(),
    ];
    let report = bench_report(args).await;
    let num = |key: &str| number(&report, key);
    assert_eq!(report["scenario"], "rpc");
    assert!(
        num("calls_per_sec") > 0.0 && num("samples") > 0.0,
        "{report}"
    );
    let (p50, p99) = (num("p50_us"), num("p99_us"));
    assert!(p50 > 0.0 && p99 >= p50, "{report}");
    assert_eq!(num("errors"), 0.0, "{report}");
    // The calls crossed: the callers' node received their results from the backplane.
    let metrics = scrape(nodes[1].addr).await;
    assert!(metric(&metrics, "wampd_cluster_publications_received_total") >= num("calls"));
}

/// Flask-SocketIO emits in cluster mode: every node consumes the queue for its own sessions and
/// none forwards those publications over the backplane, so a Socket.IO client and a WAMP
/// subscriber on each of two nodes get one emit exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flask_socketio_emits_reach_each_node_s_sessions_exactly_once() {
    let redis = Redis::start().await;
    let dsn = redis.dsn();
    let extra = [("WEBSOCKET_SOCKETIO_QUEUE", dsn.as_str())];
    let nodes = [node(&redis, &extra).await, node(&redis, &extra).await];
    for n in &nodes {
        wait_backplane(n.addr, true).await;
    }
    // Both consumers are on the channel before anything is emitted.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !redis
        .command(&["PUBSUB", "NUMSUB", "flask-socketio"])
        .await
        .ends_with(":2\r\n")
    {
        assert!(Instant::now() < deadline, "both nodes consume the queue");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut sockets = Vec::new();
    let mut wamp = Vec::new();
    for n in &nodes {
        sockets.push(common::socketio_websocket(n.addr).await);
        let mut client = Client::join_at(n.addr, Serializer::Json).await;
        client.subscribe("socketio._.all.update").await;
        wamp.push(client);
    }
    let plan = serde_json::json!([{"event": "update", "args": [{"n": 1}]}]);
    tokio::task::spawn_blocking(move || common::flask_emit("new", &dsn, plan))
        .await
        .expect("emit");
    for (i, socket) in sockets.iter_mut().enumerate() {
        let mut got = Vec::new();
        let wait = |got: &Vec<String>| if got.is_empty() { WAIT } else { QUIET };
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(wait(&got), socket.next()).await {
            if let WsMessage::Text(t) = frame {
                if t.as_str() != "2" {
                    got.push(t.to_string());
                }
            }
        }
        assert_eq!(
            got,
            [r#"42["update",{"n":1}]"#],
            "Socket.IO client on node {i}"
        );
    }
    for (i, client) in wamp.iter_mut().enumerate() {
        let got = events(client, 1).await;
        assert_eq!(got.len(), 1, "WAMP subscriber on node {i}: {got:?}");
    }
    for n in nodes {
        n.shutdown().await;
    }
}

/// A retained publication crosses the backplane with its options, so a late subscriber on
/// another node that asks with `get_retained` gets it there.
#[tokio::test]
async fn a_retained_event_reaches_a_late_subscriber_on_another_node() {
    let redis = Redis::start().await;
    let [a, b, _c] = cluster(&redis).await;
    let mut publisher = Client::join(&a, Serializer::Json).await;
    let mut live = Client::join(&b, Serializer::Json).await;
    let live_sub = live.subscribe("t.retained").await;
    let retain = dict(vec![("retain", Value::Bool(true))]);
    publisher
        .publish_acked("t.retained", vec![Value::from("last")], retain)
        .await;
    // Node B has handled the publication once its live subscriber got it.
    let got = events(&mut live, 1).await;
    assert_eq!(count(&got, live_sub), 1);
    let mut late = Client::join(&b, Serializer::MsgPack).await;
    let late_sub = late
        .subscribe_with(
            "t.retained",
            dict(vec![("get_retained", Value::Bool(true))]),
        )
        .await;
    let got = events(&mut late, 1).await;
    assert_eq!(count(&got, late_sub), 1, "{got:?}");
    let (_, args, details) = &got[0];
    assert_eq!(args, &vec![Value::from("last")]);
    assert_eq!(details.get("retained"), Some(&Value::Bool(true)));
}

/// `(epoch, offset)` of a history topic's EVENT.
fn stream_position(details: &Dict) -> (String, u64) {
    (
        details
            .get("epoch")
            .and_then(Value::as_str)
            .expect("Details.epoch")
            .to_owned(),
        details
            .get("offset")
            .and_then(Value::as_u64)
            .expect("Details.offset"),
    )
}

/// SUBSCRIBE with recovery from `(epoch, offset)`; the answer (SUBSCRIBED or ERROR).
async fn subscribe_recovering(
    client: &mut Client,
    topic: &str,
    epoch: &str,
    offset: u64,
) -> Message {
    let request = client.request_id();
    client
        .send(&Message::Subscribe {
            request,
            options: dict(vec![
                ("recover_epoch", Value::from(epoch)),
                ("recover_offset", Value::UInt(offset)),
            ]),
            topic: topic.into(),
        })
        .await;
    client.recv().await
}

/// History topics are numbered by Redis, so a stream has the same positions on every node: a
/// subscriber that saw offset 1 on node A and comes back on node B recovers exactly the 1,000
/// events published meanwhile (on either node), in stream order, then live ones; a trimmed history
/// refuses the same way it does on one node.
#[tokio::test]
async fn a_subscriber_moving_to_another_node_recovers_exactly_what_it_missed() {
    let redis = Redis::start().await;
    let history = [("WEBSOCKET_HISTORY_TOPICS", "news.*=2000,small.*=5")];
    let a = node(&redis, &history).await;
    let b = node(&redis, &history).await;
    wait_backplane(a.addr, true).await;
    wait_backplane(b.addr, true).await;
    let mut pub_a = Client::join(&a, Serializer::Json).await;
    let mut pub_b = Client::join(&b, Serializer::Json).await;
    let mut on_a = Client::join(&a, Serializer::Json).await;
    on_a.subscribe("news.sport").await;
    pub_b
        .publish_acked("news.sport", vec![Value::UInt(0)], Dict::new())
        .await;
    let (_, details, args, _) = on_a.event().await;
    assert_eq!(args, vec![Value::UInt(0)]);
    let (epoch, seen) = stream_position(&details);
    assert_eq!(seen, 1);
    drop(on_a);

    for n in 1..=1000u64 {
        let publisher = if n % 2 == 0 { &mut pub_a } else { &mut pub_b };
        publisher
            .publish_acked("news.sport", vec![Value::UInt(n)], Dict::new())
            .await;
    }
    let mut on_b = Client::join(&b, Serializer::MsgPack).await;
    let answer = subscribe_recovering(&mut on_b, "news.sport", &epoch, seen).await;
    assert!(matches!(answer, Message::Subscribed { .. }), "{answer:?}");
    // Recovered from node B's copy of the stream, and whatever was still on its way arrives
    // live right after: 1..=1000 in order either way, each once.
    // (Publications from two nodes are numbered in the order Redis got them, which need not be
    // the order the two publishers were acknowledged in: the stream's order is the order.)
    let mut payloads = Vec::new();
    for n in 1..=1000u64 {
        let (_, details, args, _) = on_b.event().await;
        assert_eq!(
            stream_position(&details),
            (epoch.clone(), n + 1),
            "event {n}"
        );
        payloads.push(args[0].as_u64().expect("a number"));
    }
    payloads.sort_unstable();
    assert_eq!(
        payloads,
        (1..=1000).collect::<Vec<_>>(),
        "each missed event once"
    );
    pub_a
        .publish_acked("news.sport", vec![Value::UInt(1001)], Dict::new())
        .await;
    let (_, details, args, _) = on_b.event().await;
    assert_eq!(
        (args, stream_position(&details).1),
        (vec![Value::UInt(1001)], 1002)
    );
    on_b.expect_silence(QUIET).await;
    // The stream lives in Redis with the offset as entry ID.
    let len = redis
        .command(&[
            "XLEN",
            &format!("wampd:history:{}:realm1:news.sport", "realm1".len()),
        ])
        .await;
    assert_eq!(len, ":1002\r\n");

    // A trimmed history: refused with the current position, on any node.
    let mut watcher = Client::join(&a, Serializer::Json).await;
    watcher.subscribe("small.talk").await;
    pub_a
        .publish_acked("small.talk", vec![Value::UInt(0)], Dict::new())
        .await;
    let (_, details, _, _) = watcher.event().await;
    let (small_epoch, small_seen) = stream_position(&details);
    for n in 1..=10u64 {
        pub_b
            .publish_acked("small.talk", vec![Value::UInt(n)], Dict::new())
            .await;
    }
    for _ in 1..=10 {
        watcher.event().await;
    }
    let answer = subscribe_recovering(&mut on_b, "small.talk", &small_epoch, small_seen).await;
    let Message::Error { error, kwargs, .. } = answer else {
        panic!("expected ERROR, got {answer:?}");
    };
    assert_eq!(error, "wampd.error.recovery_failed");
    assert_eq!(kwargs.get("offset"), Some(&Value::UInt(11)));
    for n in [a, b] {
        n.shutdown().await;
    }
}

/// Publishes `count` more numbered events to `feed.orders`, acknowledged, 10 ms apart.
async fn publish(publisher: &mut Client, count: u64, n: &mut u64) {
    for _ in 0..count {
        *n += 1;
        publisher
            .publish_acked("feed.orders", vec![Value::UInt(*n)], Dict::new())
            .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Redis stopped for 5 s while a backend keeps publishing to a history topic: every
/// acknowledged publication reaches the subscriber on the other node exactly once and in order
/// (buffered on the publishing node, numbered when Redis is back, caught up from the stream).
#[tokio::test]
async fn with_redis_stopped_for_5_s_no_acknowledged_history_publication_is_lost() {
    let mut redis = Redis::start().await;
    let history = [("WEBSOCKET_HISTORY_TOPICS", "feed.*")];
    let a = node(&redis, &history).await;
    let b = node(&redis, &history).await;
    wait_backplane(a.addr, true).await;
    wait_backplane(b.addr, true).await;
    let mut publisher = Client::join(&a, Serializer::Json).await;
    let mut subscriber = Client::join(&b, Serializer::Json).await;
    subscriber.subscribe("feed.orders").await;
    let mut n = 0u64;
    publish(&mut publisher, 50, &mut n).await;
    redis.kill();
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(5) {
        publish(&mut publisher, 10, &mut n).await;
    }
    redis.restart().await;
    publish(&mut publisher, 50, &mut n).await;

    let mut got = Vec::new();
    while (got.len() as u64) < n {
        let (_, _, args, _) = subscriber.event().await;
        got.push(args[0].as_u64().expect("a number"));
    }
    assert_eq!(
        got,
        (1..=n).collect::<Vec<_>>(),
        "every publication, in order, once"
    );
    subscriber.expect_silence(QUIET).await;
    let metrics = scrape(a.addr).await;
    assert!(metric(&metrics, "wampd_cluster_publications_buffered_total") >= 1.0);
    for node in [a, b] {
        node.shutdown().await;
    }
}
