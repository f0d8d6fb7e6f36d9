//! Interoperability with autobahn-python, a WAMP client written by others.
//!
//! The test installs autobahn into a virtualenv under `target/` the first time it runs (CI starts
//! from a clean clone), then runs `tests/interop/autobahn_pubsub.py` against a real server for
//! every pair of serializers over WebSocket, and over RawSocket on the same port.

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
    ];
    for (url, sub, publisher) in runs {
        let output = tokio::process::Command::new(&python)
            .arg(&script)
            .arg(&url)
            .args([sub, publisher])
            .output()
            .await
            .expect("the script runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("OK"),
            "autobahn-python at {url} ({sub} subscriber, {publisher} publisher) failed:\n{stdout}\n{stderr}"
        );
    }
    assert!(server.shutdown().await);
}
