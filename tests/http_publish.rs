//! `POST /publish` driven with curl (a real HTTP client): single and batch publishes, every
//! authentication path, idempotency, limits and errors, with WAMP subscribers receiving.

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Client, TestServer};
use tokio::io::AsyncWriteExt;
use wampd_proto::wamp::{Dict, Serializer, Value};

/// Runs curl and returns (status, body).
async fn curl(
    url: String,
    body: &str,
    headers: &[String],
    method: &str,
) -> (u16, serde_json::Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method, &url]);
    cmd.args([
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        body,
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    (status.trim().parse().unwrap_or(0), json)
}

fn url(server: &TestServer) -> String {
    format!("http://{}/publish", server.addr)
}

async fn post(server: &TestServer, body: &str, headers: &[String]) -> (u16, serde_json::Value) {
    curl(url(server), body, headers, "POST").await
}

#[tokio::test]
async fn single_and_batch_publishes_reach_subscribers() {
    let server = TestServer::start(&[]).await;
    let mut sub = Client::join(&server, Serializer::MsgPack).await;
    sub.subscribe("com.example.news").await;

    let (status, body) = post(
        &server,
        r#"{"topic":"com.example.news","args":["hello",1],"kwargs":{"k":"v"}}"#,
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_u64().expect("publication id");
    assert!(id >= 1);
    let (_, _, args, kwargs) = sub.event().await;
    assert_eq!(args, vec![Value::from("hello"), Value::UInt(1)]);
    assert_eq!(kwargs.get("k"), Some(&Value::from("v")));

    let (status, body) = post(
        &server,
        r#"[{"topic":"com.example.news","args":[1]},{"topic":"com.example.news","args":[2]}]"#,
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ids"].as_array().map(Vec::len), Some(2));
    for n in [1u64, 2] {
        let (_, _, args, _) = sub.event().await;
        assert_eq!(args, vec![Value::UInt(n)]);
    }

    // A batch with one bad item publishes nothing.
    let (status, body) = post(
        &server,
        r#"[{"topic":"com.example.news","args":[3]},{"topic":"bad topic"}]"#,
        &[],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "wamp.error.invalid_uri");
    assert!(
        body["message"].as_str().unwrap_or("").contains("item 1"),
        "{body}"
    );
    sub.expect_silence(Duration::from_millis(300)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_json_errors_with_the_right_status() {
    let server = TestServer::start(&[("WEBSOCKET_PUBLISH_MAX_BODY", "1KiB")]).await;
    for (body, status, error) in [
        ("{not json", 400, "invalid_json"),
        (r#"{"args":[1]}"#, 400, "invalid_request"),
        (r#"{"topic":"t","args":{"a":1}}"#, 400, "invalid_request"),
        (
            r#"{"topic":"wamp.session.on_join"}"#,
            400,
            "wamp.error.invalid_uri",
        ),
        (
            r#"{"topic":"t","options":{"exclude":"x"}}"#,
            400,
            "wamp.error.invalid_argument",
        ),
        (
            r#"{"topic":"t","realm":"nope"}"#,
            400,
            "wamp.error.no_such_realm",
        ),
    ] {
        let (got, json) = post(&server, body, &[]).await;
        assert_eq!(got, status, "{body}: {json}");
        assert_eq!(json["error"], error, "{body}");
    }
    let big = format!(r#"{{"topic":"t","args":["{}"]}}"#, "x".repeat(2000));
    let (status, json) = post(&server, &big, &[]).await;
    assert_eq!(status, 413, "{json}");
    let (status, _) = curl(url(&server), "", &[], "GET").await;
    assert_eq!(status, 405);
    server.shutdown().await;
}

#[tokio::test]
async fn bearer_secret_is_required_when_configured() {
    let server = TestServer::start(&[("WEBSOCKET_PUBLISH_SECRET", "s3cret")]).await;
    let body = r#"{"topic":"t.auth"}"#;
    assert_eq!(post(&server, body, &[]).await.0, 401);
    assert_eq!(
        post(&server, body, &["Authorization: Bearer wrong".into()])
            .await
            .0,
        403
    );
    assert_eq!(
        post(&server, body, &["Authorization: Bearer s3cret".into()])
            .await
            .0,
        200
    );
    server.shutdown().await;
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[tokio::test]
async fn signed_requests_within_the_window() {
    let server = TestServer::start(&[
        ("WEBSOCKET_PUBLISH_SECRET", "s3cret"),
        ("WEBSOCKET_PUBLISH_REQUIRE_SIGNATURE", "true"),
        ("WEBSOCKET_PUBLISH_SIGNATURE_WINDOW", "60s"),
    ])
    .await;
    let mut sub = Client::join(&server, Serializer::Json).await;
    sub.subscribe("t.signed").await;
    let body = r#"{"topic":"t.signed","args":["signed"]}"#;
    let signed = |ts: u64, body: &str| {
        let ts = ts.to_string();
        let sig = wampd::transport::http_publish::signature("s3cret", &ts, body.as_bytes());
        vec![
            format!("X-Wampd-Timestamp: {ts}"),
            format!("X-Wampd-Signature: {sig}"),
        ]
    };
    let (status, json) = post(&server, body, &signed(now(), body)).await;
    assert_eq!(status, 200, "{json}");
    let (_, _, args, _) = sub.event().await;
    assert_eq!(args, vec![Value::from("signed")]);

    // Signed for another body, too old, or not signed at all (a bearer is not enough here).
    let other = r#"{"topic":"t.signed","args":["tampered"]}"#;
    assert_eq!(post(&server, other, &signed(now(), body)).await.0, 403);
    assert_eq!(post(&server, body, &signed(now() - 600, body)).await.0, 403);
    assert_eq!(
        post(&server, body, &["Authorization: Bearer s3cret".into()])
            .await
            .0,
        401
    );
    sub.expect_silence(Duration::from_millis(300)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_idempotency_key_publishes_once() {
    let server = TestServer::start(&[]).await;
    let mut sub = Client::join(&server, Serializer::Json).await;
    sub.subscribe("t.once").await;
    let body = r#"{"topic":"t.once","args":["x"]}"#;
    let key = vec!["Idempotency-Key: order-42".to_string()];
    let (s1, first) = post(&server, body, &key).await;
    let (s2, second) = post(&server, body, &key).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first["id"], second["id"], "the retry gets the first answer");
    sub.event().await;
    sub.expect_silence(Duration::from_millis(300)).await;
    // Another key publishes again.
    let (_, third) = post(&server, body, &["Idempotency-Key: order-43".into()]).await;
    assert_ne!(first["id"], third["id"]);
    sub.event().await;
    server.shutdown().await;
}

#[tokio::test]
async fn overload_answers_503() {
    let server = TestServer::start(&[("WEBSOCKET_PUBLISH_CONCURRENCY", "1")]).await;
    // A slow upload holds the only slot.
    let mut slow = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    slow.write_all(b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"topic\"")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, json) = post(&server, r#"{"topic":"t"}"#, &[]).await;
    assert_eq!(status, 503, "{json}");
    assert_eq!(json["error"], "overloaded");
    drop(slow);
    let mut ok = false;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if post(&server, r#"{"topic":"t"}"#, &[]).await.0 == 200 {
            ok = true;
            break;
        }
    }
    assert!(ok, "the slot frees when the slow client leaves");
    server.shutdown().await;
}

#[tokio::test]
async fn args_and_kwargs_round_trip_to_both_serializers() {
    let server = TestServer::start(&[]).await;
    let mut json = Client::join(&server, Serializer::Json).await;
    let mut pack = Client::join(&server, Serializer::MsgPack).await;
    json.subscribe("t.shape").await;
    pack.subscribe("t.shape").await;
    let (status, _) = post(
        &server,
        r#"{"topic":"t.shape","args":[{"id":7,"nested":[1.5,null,true]}],"options":{"exclude_me":false}}"#,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    for client in [&mut json, &mut pack] {
        let (_, _, args, kwargs) = client.event().await;
        let Some(Value::Dict(d)) = args.first() else {
            panic!("{args:?}")
        };
        assert_eq!(d.get("id"), Some(&Value::UInt(7)));
        assert_eq!(kwargs, Dict::new());
    }
    server.shutdown().await;
}
