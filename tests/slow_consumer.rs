//! Slow-consumer policies with a subscriber that stops reading: memory stays bounded, the
//! publisher and the other subscribers keep their pace, drops are counted and reported.

mod common;

use std::time::Duration;

use common::{metric, scrape, Client, TestServer};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wampd_proto::wamp::{codec, Dict, Message, Serializer, Value};

const QUEUE: usize = 8;
const TOTAL: u64 = 1200;

struct Outcome {
    /// Sequence numbers the slow subscriber received, in order.
    received: Vec<u64>,
    /// Sum of `_dropped` reported to it.
    reported_drops: u64,
    /// Whether its connection was closed, and with which code.
    closed: Option<Option<u16>>,
    metrics: std::collections::HashMap<String, f64>,
    max_depth_while_stalled: f64,
}

/// Publishes TOTAL large events (acknowledged one by one) to a fast and a stalled subscriber,
/// then lets the stalled one read everything it still gets, plus one final marker event.
async fn flood(policy: &str) -> Outcome {
    let queue = QUEUE.to_string();
    let server = TestServer::start(&[
        ("WEBSOCKET_SLOW_CONSUMER_POLICY", policy),
        ("WEBSOCKET_OUTBOUND_QUEUE_MESSAGES", &queue),
    ])
    .await;
    let mut publisher = Client::join(&server, Serializer::MsgPack).await;
    let mut fast = Client::join(&server, Serializer::MsgPack).await;
    let mut slow = Client::join(&server, Serializer::MsgPack).await;
    fast.subscribe("t.flood").await;
    slow.subscribe("t.flood").await;

    let payload = Value::Str("z".repeat(32 * 1024));
    // The publisher moves in lockstep with the reading subscriber (the next event is published
    // once it received the previous one), so only the stalled subscriber can fall behind, however
    // loaded the machine running the test is.
    for n in 0..TOTAL {
        publisher
            .publish_acked(
                "t.flood",
                vec![payload.clone(), Value::UInt(n)],
                Dict::new(),
            )
            .await;
        let (_, _, args, _) = fast.event().await;
        assert_eq!(
            args.get(1),
            Some(&Value::UInt(n)),
            "the reading subscriber misses nothing"
        );
    }
    let stalled = scrape(server.addr).await;
    let max_depth_while_stalled = metric(&stalled, "wampd_outbound_queue_depth_max");

    // The stalled subscriber now reads what it still gets until the stream goes quiet; then a
    // final marker event tells it (if still connected) how many events it lost at the end.
    let mut outcome = Outcome {
        received: Vec::new(),
        reported_drops: 0,
        closed: None,
        metrics: Default::default(),
        max_depth_while_stalled,
    };
    read_until_quiet(&mut slow, &mut outcome).await;
    if outcome.closed.is_none() {
        publisher
            .publish_acked(
                "t.flood",
                vec![Value::Str("marker".into()), Value::UInt(TOTAL)],
                Dict::new(),
            )
            .await;
        read_until_quiet(&mut slow, &mut outcome).await;
    }
    outcome.metrics = scrape(server.addr).await;
    server.shutdown().await;
    outcome
}

async fn read_until_quiet(slow: &mut Client, outcome: &mut Outcome) {
    loop {
        let next = match tokio::time::timeout(Duration::from_millis(700), slow.ws.next()).await {
            Ok(next) => next,
            Err(_) => return,
        };
        match next {
            Some(Ok(WsMessage::Binary(bytes))) => {
                match codec::decode(Serializer::MsgPack, &bytes) {
                    Ok(Message::Event { details, args, .. }) => {
                        if let Some(Value::UInt(n)) = args.get(1) {
                            outcome.received.push(*n);
                        }
                        outcome.reported_drops +=
                            details.get("_dropped").and_then(Value::as_u64).unwrap_or(0);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            Some(Ok(WsMessage::Close(frame))) => {
                outcome.closed = Some(frame.map(|f| u16::from(f.code)));
                return;
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => {
                outcome.closed = Some(None);
                return;
            }
        }
    }
}

fn assert_bounded(outcome: &Outcome) {
    // Replies may exceed the bound by a factor of two; events never do.
    assert!(
        outcome.max_depth_while_stalled <= (2 * QUEUE) as f64,
        "queue depth {} exceeds its bound",
        outcome.max_depth_while_stalled
    );
}

fn assert_increasing(received: &[u64]) {
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "events arrive in order: {received:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_policy_closes_the_slow_subscriber() {
    let outcome = flood("disconnect").await;
    assert!(
        outcome.closed.is_some(),
        "the slow subscriber was disconnected"
    );
    if let Some(Some(code)) = outcome.closed {
        assert_eq!(code, 1008);
    }
    assert!((outcome.received.len() as u64) < TOTAL);
    assert_eq!(
        metric(&outcome.metrics, "wampd_slow_consumer_disconnects_total"),
        1.0
    );
    assert_eq!(
        metric(&outcome.metrics, "wampd_publishes_total"),
        TOTAL as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_newest_keeps_the_head_and_reports_the_loss() {
    let outcome = flood("drop_newest").await;
    assert_eq!(outcome.closed, None, "still connected");
    assert_bounded(&outcome);
    assert_increasing(&outcome.received);
    assert_eq!(outcome.received.last(), Some(&TOTAL), "the marker arrives");
    let lost = TOTAL + 1 - outcome.received.len() as u64;
    assert!(lost > 0, "something was dropped");
    assert_eq!(
        outcome.reported_drops, lost,
        "every drop is reported in _dropped"
    );
    assert_eq!(
        metric(
            &outcome.metrics,
            "wampd_dropped_events_total{policy=\"drop_newest\"}"
        ),
        lost as f64
    );
    assert_eq!(
        metric(&outcome.metrics, "wampd_slow_consumer_disconnects_total"),
        0.0
    );
    // Drop-newest keeps a contiguous head: 0, 1, 2, … then a gap.
    assert_eq!(outcome.received.first(), Some(&0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_keeps_the_tail_and_reports_the_loss() {
    let outcome = flood("drop_oldest").await;
    assert_eq!(outcome.closed, None, "still connected");
    assert_bounded(&outcome);
    assert_increasing(&outcome.received);
    let lost = TOTAL + 1 - outcome.received.len() as u64;
    assert!(lost > 0);
    assert_eq!(outcome.reported_drops, lost);
    assert_eq!(
        metric(
            &outcome.metrics,
            "wampd_dropped_events_total{policy=\"drop_oldest\"}"
        ),
        lost as f64
    );
    // Drop-oldest keeps the newest events: the last QUEUE published before the marker arrive.
    let tail: Vec<u64> = ((TOTAL - QUEUE as u64 + 1)..=TOTAL).collect();
    assert!(
        outcome.received.ends_with(&tail),
        "tail {:?}",
        &outcome.received[outcome.received.len().saturating_sub(12)..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_keeps_only_the_newest_pending_event() {
    let outcome = flood("latest").await;
    assert_eq!(outcome.closed, None, "still connected");
    assert_bounded(&outcome);
    assert_increasing(&outcome.received);
    assert_eq!(outcome.received.last(), Some(&TOTAL));
    let lost = TOTAL + 1 - outcome.received.len() as u64;
    assert!(lost > 0);
    assert_eq!(outcome.reported_drops, lost);
    assert_eq!(
        metric(
            &outcome.metrics,
            "wampd_dropped_events_total{policy=\"latest\"}"
        ),
        lost as f64
    );
}

#[tokio::test]
async fn per_realm_policies_apply_to_their_realm_only() {
    let server = TestServer::start(&[
        ("WEBSOCKET_REALMS", "realm1,state"),
        (
            "WEBSOCKET_SLOW_CONSUMER_POLICY",
            "state=latest,*=disconnect",
        ),
    ])
    .await;
    let metrics = scrape(server.addr).await;
    assert!(metrics.contains_key("wampd_dropped_events_total{policy=\"latest\"}"));
    assert!(metrics.contains_key("wampd_dropped_events_total{policy=\"disconnect\"}"));
    server.shutdown().await;
}

/// The sequence number of a `42["update", "zzz…", n]` frame.
fn socketio_seq(frame: &str) -> Option<u64> {
    let event: serde_json::Value = serde_json::from_str(frame.strip_prefix("42")?).ok()?;
    event.get(2)?.as_u64()
}

/// Socket.IO subscribers are under the same policy: with `disconnect`, a stalled Socket.IO client
/// is closed while a reading one and the WAMP publisher keep their pace; with `drop_newest` the
/// stalled one stays connected, gets a contiguous head in order, and the loss is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_clients_are_under_the_same_slow_consumer_policy() {
    for policy in ["disconnect", "drop_newest"] {
        let queue = QUEUE.to_string();
        let server = TestServer::start(&[
            ("WEBSOCKET_SLOW_CONSUMER_POLICY", policy),
            ("WEBSOCKET_OUTBOUND_QUEUE_MESSAGES", &queue),
            // The raw clients do not answer Engine.IO pings; none comes during the test.
            ("WEBSOCKET_PING_INTERVAL", "10m"),
        ])
        .await;
        let mut publisher = Client::join(&server, Serializer::MsgPack).await;
        let mut fast = common::socketio_websocket(server.addr).await;
        let mut slow = common::socketio_websocket(server.addr).await;
        let payload = Value::Str("z".repeat(32 * 1024));
        for n in 0..TOTAL {
            publisher
                .publish_acked(
                    "socketio._.all.update",
                    vec![payload.clone(), Value::UInt(n)],
                    Dict::new(),
                )
                .await;
            let seq = loop {
                let frame = fast.next().await.expect("frame").expect("frame");
                if let Some(seq) = frame.to_text().ok().and_then(socketio_seq) {
                    break seq;
                }
            };
            assert_eq!(seq, n, "the reading Socket.IO client misses nothing");
        }
        // The stalled one reads what it still gets.
        let mut received = Vec::new();
        let mut closed = false;
        loop {
            match tokio::time::timeout(Duration::from_millis(700), slow.next()).await {
                Err(_) => break,
                Ok(Some(Ok(WsMessage::Text(t)))) => received.extend(socketio_seq(t.as_str())),
                Ok(Some(Ok(WsMessage::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => {
                    closed = true;
                    break;
                }
                Ok(Some(Ok(_))) => {}
            }
        }
        let metrics = scrape(server.addr).await;
        assert!((received.len() as u64) < TOTAL, "{policy}: it fell behind");
        assert_increasing(&received);
        match policy {
            "disconnect" => {
                assert!(closed, "the stalled Socket.IO client was disconnected");
                assert_eq!(
                    metric(&metrics, "wampd_slow_consumer_disconnects_total"),
                    1.0
                );
            }
            _ => {
                assert!(!closed, "drop_newest keeps it connected");
                assert_eq!(received.first(), Some(&0), "a contiguous head");
                let lost = TOTAL - received.len() as u64;
                assert_eq!(
                    metric(
                        &metrics,
                        "wampd_dropped_events_total{policy=\"drop_newest\"}"
                    ),
                    lost as f64
                );
            }
        }
        server.shutdown().await;
    }
}
