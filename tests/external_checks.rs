//! External checks over HTTP (`WEBSOCKET_CONNECT_CHECK` and `WEBSOCKET_SUBSCRIBE_CHECK` as URLs)
//! with WAMP v2 clients: the application answers a real HTTP POST, the router admits or refuses.
//! (The exec runner, with Espo's console, is covered by tests/espocrm.rs.)

mod common;

use std::time::Duration;

use common::check_app::{app, subscribe_checked};
use common::*;
use wampd_proto::wamp::{error_uri, Dict, Message, Serializer};

#[tokio::test]
async fn an_http_subscribe_check_decides_wamp_v2_subscriptions() {
    let (app, server) = subscribe_checked(|body| {
        Some(if body["params"]["topic"] == "com.app.allowed" {
            (200, "true")
        } else {
            (403, "no")
        })
    })
    .await;
    let mut client = Client::join(&server, Serializer::Json).await;
    client.subscribe("com.app.allowed").await;
    let request = client.request_id();
    client
        .send(&Message::Subscribe {
            request,
            options: Dict::new(),
            topic: "com.app.secret".into(),
        })
        .await;
    match client.recv().await {
        Message::Error {
            request: r, error, ..
        } => {
            assert_eq!(r, request);
            assert_eq!(error, error_uri::NOT_AUTHORIZED);
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    let bodies = app.bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["check"], "subscribe");
    assert_eq!(bodies[0]["params"]["authid"], client.authid().as_str());
    assert_eq!(bodies[0]["params"]["authrole"], "anonymous");
    server.shutdown().await;
}

#[tokio::test]
async fn an_http_connect_check_gives_v2_sessions_their_identity() {
    let app = app(|body| {
        Some(if body["params"]["key"] == "k1" {
            (200, "ok")
        } else {
            (401, "")
        })
    })
    .await;
    let server = TestServer::start(&[
        ("WEBSOCKET_CONNECT_CHECK", app.url.as_str()),
        ("WEBSOCKET_CONNECT_CHECK_AUTHID", ":user"),
        ("WEBSOCKET_CONNECT_CHECK_ROLE", "customer"),
    ])
    .await;
    let url = |q: &str| format!("ws://{}/ws{q}", server.addr);
    let ws = connect_ws(&url("?user=alice&key=k1"), Some("wamp.2.json"))
        .await
        .expect("admitted");
    let client = Client::over(ws, Serializer::Json).welcomed().await;
    assert_eq!(client.authid(), "alice");
    assert_eq!(client.welcome["authrole"], "customer".into());
    assert!(connect_ws(&url("?user=alice&key=bad"), Some("wamp.2.json"))
        .await
        .is_err());
    // Without the parameter the identity needs, the application is not even asked.
    let asked = app.bodies.lock().expect("lock").len();
    assert!(connect_ws(&url("?key=k1"), Some("wamp.2.json"))
        .await
        .is_err());
    assert_eq!(app.bodies.lock().expect("lock").len(), asked);
    let metrics = scrape(server.addr).await;
    assert_eq!(
        metric(
            &metrics,
            "wampd_external_checks_total{check=\"connect\",outcome=\"denied\"}"
        ),
        2.0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_connect_check_without_an_answer_refuses_with_503_in_time() {
    let app = app(|_| None).await;
    let server = TestServer::start(&[
        ("WEBSOCKET_CONNECT_CHECK", app.url.as_str()),
        ("WEBSOCKET_CHECK_TIMEOUT", "300ms"),
    ])
    .await;
    let started = std::time::Instant::now();
    let err = connect_ws(
        &format!("ws://{}/ws?userId=u1", server.addr),
        Some("wamp.2.json"),
    )
    .await
    .expect_err("refused");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.to_string().contains("503"), "{err}");
    server.shutdown().await;
}
