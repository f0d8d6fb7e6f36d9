//! `/metrics`, `/ready` and the separate metrics listener, checked after a known workload.

mod common;

use common::{http_get, metric, scrape, Client, TestServer};
use wampd_proto::wamp::{Dict, Message, Serializer, Value};

#[tokio::test]
async fn counters_match_a_known_workload() {
    let server = TestServer::start(&[("WEBSOCKET_V1", "false")]).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let mut a = Client::join(&server, Serializer::Json).await;
    let mut b = Client::join(&server, Serializer::MsgPack).await;
    a.subscribe("t.m").await;
    b.subscribe("t.m").await;
    for n in 0..10u64 {
        publisher
            .publish_acked("t.m", vec![Value::UInt(n)], Dict::new())
            .await;
    }
    for _ in 0..10 {
        a.event().await;
        b.event().await;
    }
    // One refused handshake (no subprotocol) and one protocol violation.
    let _ = common::connect_ws(&server.url(), Some("mqtt")).await;
    let mut bad = Client::open(&server, Serializer::Json).await;
    bad.send(&Message::Subscribe {
        request: 1,
        options: Dict::new(),
        topic: "t".into(),
    })
    .await;
    let _ = bad.expect_close().await;

    let m = scrape(server.addr).await;
    assert_eq!(metric(&m, "wampd_publishes_total"), 10.0);
    assert_eq!(metric(&m, "wampd_deliveries_total"), 20.0);
    assert_eq!(
        metric(&m, "wampd_messages_received_total{type=\"PUBLISH\"}"),
        10.0
    );
    assert_eq!(
        metric(&m, "wampd_messages_received_total{type=\"SUBSCRIBE\"}"),
        3.0
    );
    assert_eq!(
        metric(&m, "wampd_messages_received_total{type=\"HELLO\"}"),
        3.0
    );
    assert_eq!(
        metric(&m, "wampd_messages_sent_total{type=\"EVENT\"}"),
        20.0
    );
    assert_eq!(
        metric(&m, "wampd_messages_sent_total{type=\"PUBLISHED\"}"),
        10.0
    );
    assert_eq!(metric(&m, "wampd_messages_sent_total{type=\"ABORT\"}"), 1.0);
    assert_eq!(
        metric(
            &m,
            "wampd_handshake_failures_total{reason=\"bad_subprotocol\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            "wampd_sessions{transport=\"websocket\",protocol=\"wamp.2.json\",realm=\"realm1\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &m,
            "wampd_sessions{transport=\"websocket\",protocol=\"wamp.2.msgpack\",realm=\"realm1\"}"
        ),
        1.0
    );
    assert_eq!(metric(&m, "wampd_publish_enqueue_seconds_count"), 10.0);
    assert!(metric(&m, "wampd_received_bytes_total") > 0.0);
    assert!(metric(&m, "wampd_sent_bytes_total") > 0.0);
    assert!(metric(&m, "wampd_connections{transport=\"websocket\"}") >= 3.0);
    assert_eq!(
        metric(&m, "wampd_outbound_queue_depth_sessions{depth=\"0\"}"),
        3.0
    );

    drop(a);
    // Sessions are counted down when they leave.
    let mut left = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let m = scrape(server.addr).await;
        if metric(
            &m,
            "wampd_sessions{transport=\"websocket\",protocol=\"wamp.2.json\",realm=\"realm1\"}",
        ) == 1.0
        {
            left = true;
            break;
        }
    }
    assert!(left, "the session gauge went down");
    server.shutdown().await;
}

#[tokio::test]
async fn ready_turns_unavailable_during_shutdown() {
    let (public, metrics_addr, stop) = wampd_with_metrics_listener().await;
    assert_eq!(http_get(metrics_addr, "/ready").await.0, 200);
    let ws = common::connect_ws(&format!("ws://{public}/ws"), Some("wamp.2.json")).await;
    let mut client = Client {
        ws: ws.expect("connects"),
        serializer: Serializer::Json,
        session: 0,
        welcome: Dict::new(),
        next_request: 1,
    };
    client.hello("realm1").await;
    assert!(matches!(client.recv().await, Message::Welcome { .. }));
    stop.cancel();
    match client.recv().await {
        Message::Goodbye { .. } => {}
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    // While the session has not answered, the server drains: the public port refuses new
    // connections and the metrics port says not ready.
    assert!(tokio::net::TcpStream::connect(public).await.is_err());
    let (status, body) = http_get(metrics_addr, "/ready").await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = http_get(metrics_addr, "/health").await;
    assert_eq!(status, 503);
    assert!(body.contains("shutting_down"));
}

#[tokio::test]
async fn a_separate_metrics_listener_keeps_metrics_off_the_public_port() {
    let server = wampd_with_metrics_listener().await;
    let (public, metrics_addr) = (server.0, server.1);
    let (status, _) = http_get(public, "/metrics").await;
    assert_eq!(status, 426, "the public listener does not serve /metrics");
    let (status, body) = http_get(metrics_addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("wampd_publishes_total"));
    assert_eq!(http_get(metrics_addr, "/ready").await.0, 200);
    assert_eq!(http_get(metrics_addr, "/health").await.0, 200);
    // No WebSocket sessions on the metrics port.
    let ws = common::connect_ws(&format!("ws://{metrics_addr}/"), Some("wamp.2.json")).await;
    assert!(ws.is_err());
    server.2.cancel();
}

async fn wampd_with_metrics_listener() -> (
    std::net::SocketAddr,
    std::net::SocketAddr,
    tokio_util::sync::CancellationToken,
) {
    let mut env = std::collections::HashMap::new();
    env.insert(
        "WEBSOCKET_SERVER_DSN".to_owned(),
        "//127.0.0.1:0".to_owned(),
    );
    env.insert(
        "WEBSOCKET_METRICS_DSN".to_owned(),
        "//127.0.0.1:0".to_owned(),
    );
    let settings = wampd::config::Settings::from_env(&env).expect("settings");
    let server = wampd::server::Server::bind(&settings).await.expect("bind");
    let public = server.local_addr().expect("addr");
    let metrics = server.metrics_addr().expect("metrics listener");
    let stop = tokio_util::sync::CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move { server.run(signal.cancelled_owned()).await });
    (public, metrics, stop)
}
