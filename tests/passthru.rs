//! Payload passthru mode (issue 21): payloads the router forwards without reading.
//!
//! autobahn-python's end-to-end encryption (WAMP-cryptobox, its payload transparency form: the
//! ciphertext as one binary in place of the arguments list) between serializers, run by
//! `tests/interop/autobahn_cryptobox.py`; and the spec's Payload Passthru Mode (`ppt_*`
//! options, one binary argument), which neither autobahn library sends, with wampd's own
//! client: the attributes reach EVENT, INVOCATION, RESULT and ERROR unchanged, the bytes too,
//! a callee that did not announce the feature is never sent such a call, and a passthru
//! message with another payload is refused.

mod common;

use common::{dict, Client, TestServer};
use wampd_proto::wamp::{Dict, Message, Serializer, Value};

async fn cryptobox(sender: &str, receiver: &str) {
    let python = common::autobahn_python();
    let server = TestServer::start(&[]).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/autobahn_cryptobox.py");
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new(python)
            .arg(script)
            .args([server.url().as_str(), sender, receiver])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the script finishes")
    .expect("the script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.lines().last() == Some("OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(server.shutdown().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_cryptobox_json_to_msgpack() {
    cryptobox("json", "msgpack").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_cryptobox_cbor_to_json() {
    cryptobox("cbor", "json").await;
}

fn ppt() -> Dict {
    dict(vec![
        ("ppt_scheme", Value::from("x_app")),
        ("ppt_serializer", Value::from("cbor")),
        ("ppt_keyid", Value::from("0xAbC")),
    ])
}

/// The `ppt_*` attributes of `details`.
fn ppt_of(details: &Dict) -> Dict {
    details
        .iter()
        .filter(|(k, _)| k.starts_with("ppt_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A session whose HELLO announces `payload_passthru_mode` for every role.
async fn passthru_peer(server: &TestServer, serializer: Serializer) -> Client {
    let mut client = Client::open(server, serializer).await;
    let features = dict(vec![("payload_passthru_mode", Value::Bool(true))]);
    let roles =
        ["callee", "caller", "publisher", "subscriber"].map(|role| (role, features.clone()));
    let dealer = client.hello_announcing(&roles).await;
    assert_eq!(
        dealer.get("payload_passthru_mode"),
        Some(&Value::Bool(true)),
        "WELCOME announces it"
    );
    client
}

#[tokio::test]
async fn ppt_attributes_and_bytes_reach_subscribers_callees_and_callers_unchanged() {
    let server = TestServer::start(&[]).await;
    let blob = Value::Bin(vec![0, 1, 2, 254, 255]);

    // PUBLISH (JSON) → EVENT (MessagePack).
    let mut subscriber = passthru_peer(&server, Serializer::MsgPack).await;
    subscriber.subscribe("com.example.sealed").await;
    let mut publisher = passthru_peer(&server, Serializer::Json).await;
    let mut options = ppt();
    options.insert("acknowledge".into(), Value::Bool(true));
    publisher
        .publish_acked("com.example.sealed", vec![blob.clone()], options)
        .await;
    let (_, details, args, kwargs) = subscriber.event().await;
    assert_eq!(
        (ppt_of(&details), args, kwargs),
        (ppt(), vec![blob.clone()], Dict::new())
    );

    // CALL (JSON) → INVOCATION (MessagePack) → YIELD → RESULT, and an ERROR.
    let mut callee = passthru_peer(&server, Serializer::MsgPack).await;
    callee
        .register("com.example.sealed.rpc")
        .await
        .expect("registered");
    for fails in [false, true] {
        let request = publisher.request_id();
        publisher
            .send(&Message::Call {
                request,
                options: ppt(),
                procedure: "com.example.sealed.rpc".into(),
                args: vec![blob.clone()],
                kwargs: Dict::new(),
            })
            .await;
        let invocation = match callee.recv().await {
            Message::Invocation {
                request,
                details,
                args,
                ..
            } => {
                assert_eq!((ppt_of(&details), args), (ppt(), vec![blob.clone()]));
                request
            }
            other => panic!("expected INVOCATION, got {other:?}"),
        };
        let reply = Value::Bin(vec![9, 9, 9]);
        if fails {
            callee
                .send(&Message::Error {
                    request_type: 68,
                    request: invocation,
                    details: ppt(),
                    error: "com.example.sealed.failed".into(),
                    args: vec![reply.clone()],
                    kwargs: Dict::new(),
                })
                .await;
        } else {
            callee
                .send(&Message::Yield {
                    request: invocation,
                    options: ppt(),
                    args: vec![reply.clone()],
                    kwargs: Dict::new(),
                })
                .await;
        }
        match publisher.recv().await {
            Message::Result {
                request: r,
                details,
                args,
                ..
            } if !fails => assert_eq!((r, ppt_of(&details), args), (request, ppt(), vec![reply])),
            Message::Error {
                request: r,
                details,
                error,
                args,
                ..
            } if fails => assert_eq!(
                (r, ppt_of(&details), error.as_str(), args),
                (request, ppt(), "com.example.sealed.failed", vec![reply])
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    // A callee that did not announce the feature is never sent a passthru call.
    let mut plain = Client::join(&server, Serializer::Json).await;
    plain
        .register("com.example.plain.rpc")
        .await
        .expect("registered");
    let request = publisher.request_id();
    publisher
        .send(&Message::Call {
            request,
            options: ppt(),
            procedure: "com.example.plain.rpc".into(),
            args: vec![blob.clone()],
            kwargs: Dict::new(),
        })
        .await;
    match publisher.recv().await {
        Message::Error {
            request: r, error, ..
        } => {
            assert_eq!(
                (r, error.as_str()),
                (request, "wamp.error.feature_not_supported")
            )
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    plain
        .expect_silence(std::time::Duration::from_millis(100))
        .await;

    // Passthru with another payload, or without a scheme, is refused.
    for (options, args) in [
        (ppt(), vec![Value::from("not binary")]),
        (
            dict(vec![("ppt_cipher", Value::from("aes256gcm"))]),
            vec![blob.clone()],
        ),
        (
            dict(vec![("ppt_scheme", Value::UInt(1))]),
            vec![blob.clone()],
        ),
    ] {
        let mut options = options;
        options.insert("acknowledge".into(), Value::Bool(true));
        let request = publisher.request_id();
        publisher
            .send(&Message::Publish {
                request,
                options,
                topic: "com.example.sealed".into(),
                args,
                kwargs: Dict::new(),
            })
            .await;
        match publisher.recv().await {
            Message::Error {
                request: r, error, ..
            } => {
                assert_eq!(
                    (r, error.as_str()),
                    (request, "wamp.error.invalid_argument")
                )
            }
            other => panic!("expected ERROR, got {other:?}"),
        }
    }
    subscriber
        .expect_silence(std::time::Duration::from_millis(100))
        .await;
    assert!(server.shutdown().await);
}
