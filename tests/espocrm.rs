//! The EspoCRM profile against real peers: a libzmq PUSH sender (pyzmq) doing what Espo's
//! `ZeroMQSender` does (a new socket per message, one frame, LINGER 1000, disconnect), and WAMP v1
//! clients connecting with Espo's URL shape (`?authToken=…&userId=…`, subprotocol `wamp`).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;

/// A loopback port that was free a moment ago (the ZeroMQ DSN needs a fixed one).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Pushes each of `messages` the way Espo's PHP backend does: one PUSH socket per message.
fn espo_push(zmq: SocketAddr, messages: &[&str]) {
    let script = r#"
import sys, zmq
ctx = zmq.Context()
for body in sys.argv[2:]:
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.LINGER, 1000)
    s.connect(sys.argv[1])
    s.send(body.encode())
    s.close()
ctx.term()
"#;
    let status = std::process::Command::new(autobahn_python())
        .arg("-c")
        .arg(script)
        .arg(format!("tcp://{zmq}"))
        .args(messages)
        .status()
        .expect("python runs");
    assert!(status.success(), "the PUSH sender failed");
}

async fn espo_server(extra: &[(&str, &str)]) -> TestServer {
    let dsn = format!("tcp://127.0.0.1:{}", free_port());
    let mut vars = vec![
        ("WEBSOCKET_ZMQ_DSN", dsn.as_str()),
        ("WEBSOCKET_ZMQ_FORMAT", "espocrm"),
    ];
    vars.extend_from_slice(extra);
    TestServer::start(&vars).await
}

/// A WAMP v1 client subscribed to `topics`, past its WELCOME.
async fn v1_subscriber(server: &TestServer, query: &str, topics: &[&str]) -> Ws {
    let url = format!("ws://{}/{query}", server.addr);
    let mut ws = connect_ws(&url, Some("wamp")).await.expect("connects");
    let welcome = next_text(&mut ws).await;
    assert!(welcome.starts_with("[0,"), "{welcome}");
    for topic in topics {
        send_text(&mut ws, &format!("[5,\"{topic}\"]")).await;
    }
    // Let the subscriptions land before anything is pushed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    ws
}

async fn send_text(ws: &mut Ws, text: &str) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
        .await
        .expect("send");
}

#[tokio::test]
async fn espo_pushes_reach_v1_subscribers_with_the_whole_object() {
    let server = espo_server(&[]).await;
    let zmq = server.zmq.expect("ZMQ bound");
    let mut ws = v1_subscriber(&server, "", &["appParamsUpdate"]).await;
    let pushed = r#"{"rates":{"EUR":1.1},"topicId":"appParamsUpdate"}"#;
    tokio::task::spawn_blocking(move || espo_push(zmq, &[pushed]))
        .await
        .expect("push");
    let event = next_text(&mut ws).await;
    assert_eq!(
        event,
        r#"[8,"appParamsUpdate",{"rates":{"EUR":1.1},"topicId":"appParamsUpdate"}]"#
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pushes_without_topic_or_outside_the_categories_are_dropped_and_counted() {
    let server = espo_server(&[]).await;
    let zmq = server.zmq.expect("ZMQ bound");
    let mut ws = v1_subscriber(&server, "", &["newNotification", "evil.topic"]).await;
    tokio::task::spawn_blocking(move || {
        espo_push(
            zmq,
            &[
                r#"{"x":1}"#,
                r#"{"topicId":"evil.topic"}"#,
                "not json",
                r#"{"topicId":"newNotification","n":2}"#,
            ],
        )
    })
    .await
    .expect("push");
    // Only the allowed one arrives; the others were dropped before the broker.
    let event = next_text(&mut ws).await;
    assert_eq!(
        event,
        r#"[8,"newNotification",{"topicId":"newNotification","n":2}]"#
    );
    let metrics = scrape(server.addr).await;
    for (outcome, n) in [
        ("no_topic", 1.0),
        ("category", 1.0),
        ("invalid", 1.0),
        ("published", 1.0),
    ] {
        assert_eq!(
            metric(
                &metrics,
                &format!("wampd_zmq_messages_total{{outcome=\"{outcome}\"}}")
            ),
            n,
            "{outcome}"
        );
    }
    server.shutdown().await;
}
