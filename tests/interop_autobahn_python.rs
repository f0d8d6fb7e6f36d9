//! Interoperability with autobahn-python, a WAMP client written by others.
//!
//! The test installs autobahn into a virtualenv under `target/` the first time it runs (CI starts
//! from a clean clone), then runs `tests/interop/autobahn_pubsub.py` against a real server for
//! every pair of serializers (JSON, MessagePack, CBOR) over WebSocket, and over RawSocket on the
//! same port.

mod common;

use std::path::Path;

use common::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_python_pubsub_over_websocket_and_rawsocket() {
    let python = tokio::task::spawn_blocking(common::autobahn_python)
        .await
        .expect("venv setup");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/autobahn_pubsub.py");
    let server = TestServer::start(&[]).await;
    let rawsocket = format!("rs://{}", server.addr);
    let runs = [
        (server.url(), "json", "json"),
        (server.url(), "msgpack", "msgpack"),
        (server.url(), "json", "msgpack"),
        (server.url(), "msgpack", "json"),
        (rawsocket.clone(), "json", "msgpack"),
        (rawsocket.clone(), "msgpack", "json"),
        (server.url(), "cbor", "cbor"),
        (server.url(), "cbor", "json"),
        (server.url(), "json", "cbor"),
        (server.url(), "msgpack", "cbor"),
        (rawsocket.clone(), "cbor", "msgpack"),
        (rawsocket.clone(), "json", "cbor"),
        (server.url(), "msgpack.batched", "cbor.batched"),
        (server.url(), "cbor.batched", "json"),
    ];
    for (url, sub, publisher) in runs {
        run_script(&python, &script, &[&url, sub, publisher]).await;
    }
    assert!(server.shutdown().await);
}

/// Retained events (WAMP "Event Retention"), driven by autobahn-python: a late subscriber that
/// asks with `get_retained` gets the topic's last retained event, exact and by prefix, in both
/// serializers; and the `retain` authorization action refuses a session the rules only allow
/// to publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_python_gets_retained_events_and_retaining_is_authorized() {
    let python = tokio::task::spawn_blocking(common::autobahn_python)
        .await
        .expect("venv setup");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/autobahn_retained.py");
    let server = TestServer::start(&[]).await;
    run_script(&python, &script, &[&server.url(), "retain"]).await;
    assert!(server.shutdown().await);

    let dir = tempfile::tempdir().expect("tempdir");
    let rules = publish_and_subscribe_under_com(dir.path());
    let server = TestServer::start(&[("WEBSOCKET_AUTHORIZATION_FILE", rules.as_str())]).await;
    run_script(&python, &script, &[&server.url(), "refused"]).await;
    assert!(server.shutdown().await);
}

/// Event history (WAMP "Event History"), driven by autobahn-python: a late subscriber reads the
/// last N events of its subscription with `wamp.subscription.get_events`, in both serializers,
/// exact and by prefix, with the spec's paging arguments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_python_reads_the_event_history_of_its_subscription() {
    let python = tokio::task::spawn_blocking(common::autobahn_python)
        .await
        .expect("venv setup");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/autobahn_history.py");
    let server = TestServer::start(&[("WEBSOCKET_HISTORY_TOPICS", "com.history.*=10")]).await;
    run_script(&python, &script, &[&server.url()]).await;
    assert!(server.shutdown().await);
}

/// Session testaments, driven by autobahn-python: published when the session's TCP connection
/// is cut, flushed ones not; checked like the session's own publications when added (the rules
/// let it publish under `com.` only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_python_testaments_are_published_when_the_connection_is_cut() {
    let python = tokio::task::spawn_blocking(common::autobahn_python)
        .await
        .expect("venv setup");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/autobahn_testament.py");
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = publish_and_subscribe_under_com(dir.path());
    let server = TestServer::start(&[("WEBSOCKET_AUTHORIZATION_FILE", rules.as_str())]).await;
    run_script(&python, &script, &[&server.url()]).await;
    assert!(server.shutdown().await);
}

/// Runs an interop script with `args`; it must exit 0 and print OK.
async fn run_script(python: &Path, script: &Path, args: &[&str]) {
    let output = tokio::process::Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("the script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("OK"),
        "{} {args:?} failed:\n{stdout}\n{stderr}",
        script.display()
    );
}

/// An authorization file letting every role publish and subscribe under `com.` and nothing else;
/// returns its path.
fn publish_and_subscribe_under_com(dir: &Path) -> String {
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nrole = \"*\"\nuri = \"com.\"\nmatch = \"prefix\"\nallow = [\"publish\", \"subscribe\"]\n",
    )
    .expect("rules");
    rules.to_string_lossy().into_owned()
}
