//! The backend listener and TLS listeners: a separate port for backends whose sessions get the
//! backend role, `auto` skipping DSNs that point at a proxy, and native TLS (PEM and PKCS#12)
//! exercised with autobahn-python (wss://, rss://) and curl.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{connect_ws, Client};
use tokio_util::sync::CancellationToken;
use wampd::config::Settings;
use wampd::server::Server;
use wampd_proto::wamp::{Dict, Serializer, Value};

struct Running {
    addr: SocketAddr,
    backend: Option<SocketAddr>,
    stop: CancellationToken,
}

async fn start(vars: &[(&str, &str)]) -> Result<Running, String> {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("WEBSOCKET_SERVER_DSN".into(), "//127.0.0.1:0".into());
    env.insert("WEBSOCKET_SHUTDOWN_TIMEOUT".into(), "2".into());
    for (k, v) in vars {
        env.insert((*k).into(), (*v).into());
    }
    let settings = Settings::from_env(&env).map_err(|e| e.to_string())?;
    let server = Server::bind(&settings).await.map_err(|e| e.to_string())?;
    let addr = server.local_addr().map_err(|e| e.to_string())?;
    let backend = server.backend_addr();
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move { server.run(signal.cancelled_owned()).await });
    Ok(Running {
        addr,
        backend,
        stop,
    })
}

#[tokio::test]
async fn backend_listener_gives_the_backend_role() {
    let server = start(&[
        ("WEBSOCKET_BACKEND_DSN", "tcp://127.0.0.1:0"),
        ("WEBSOCKET_BACKEND_ROLE", "php_backend"),
    ])
    .await
    .expect("starts");
    let backend_addr = server.backend.expect("a backend listener of its own");
    assert_ne!(backend_addr, server.addr);

    let mut browser = Client::join_at(server.addr, Serializer::Json).await;
    let mut backend = Client::join_at(backend_addr, Serializer::MsgPack).await;
    assert_eq!(
        browser.welcome.get("authrole"),
        Some(&Value::from("anonymous"))
    );
    assert_eq!(
        backend.welcome.get("authrole"),
        Some(&Value::from("php_backend"))
    );

    browser.subscribe("oro.notifications").await;
    backend
        .publish_acked("oro.notifications", vec![Value::from("hi")], Dict::new())
        .await;
    let (_, _, args, _) = browser.event().await;
    assert_eq!(args, vec![Value::from("hi")]);
    // Browsers can be excluded by role, which is what the backend role is for.
    let mut options = Dict::new();
    options.insert(
        "eligible_authrole".into(),
        Value::List(vec![Value::from("php_backend")]),
    );
    backend
        .publish_acked("oro.notifications", vec![], options)
        .await;
    browser
        .expect_silence(std::time::Duration::from_millis(300))
        .await;
    server.stop.cancel();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test]
async fn the_same_address_or_an_unset_dsn_adds_no_listener() {
    // Oro's default backend DSN (unset).
    let server = start(&[]).await.expect("starts");
    assert!(server.backend.is_none());
    server.stop.cancel();
    // The server's own address (the wildcard cases are unit-tested in server.rs: tests listen on
    // loopback only).
    for (server_host, backend_host) in [("127.0.0.1", "127.0.0.1")] {
        let port = free_port();
        let server_dsn = format!("//{server_host}:{port}");
        let backend_dsn = format!("tcp://{backend_host}:{port}");
        let server = start(&[
            ("WEBSOCKET_SERVER_DSN", server_dsn.as_str()),
            ("WEBSOCKET_BACKEND_DSN", backend_dsn.as_str()),
        ])
        .await
        .expect("starts");
        assert!(
            server.backend.is_none(),
            "{server_dsn} covers {backend_dsn}"
        );
        // Backends reach the router on the shared port.
        let backend =
            Client::join_at(SocketAddr::from(([127, 0, 0, 1], port)), Serializer::Json).await;
        assert_eq!(
            backend.welcome.get("authrole"),
            Some(&Value::from("anonymous"))
        );
        server.stop.cancel();
    }
}

#[tokio::test]
async fn auto_skips_a_proxy_and_on_insists() {
    // TLS without a certificate: nginx terminates TLS in front (Oro's documented setup).
    let proxy = "ssl://127.0.0.1:0/ws?context_options[verify_peer]=false";
    let server = start(&[("WEBSOCKET_BACKEND_DSN", proxy)])
        .await
        .expect("auto skips");
    assert!(server.backend.is_none());
    server.stop.cancel();
    let err = start(&[
        ("WEBSOCKET_BACKEND_DSN", proxy),
        ("WEBSOCKET_BACKEND_LISTEN", "on"),
    ])
    .await
    .err()
    .expect("on fails");
    assert!(
        err.contains("WEBSOCKET_BACKEND_DSN") && err.contains("local_cert"),
        "{err}"
    );

    // An address that is not this machine's (TEST-NET-1; binding sends no traffic).
    let elsewhere = "tcp://192.0.2.10:8080";
    let server = start(&[("WEBSOCKET_BACKEND_DSN", elsewhere)])
        .await
        .expect("auto skips");
    assert!(server.backend.is_none());
    server.stop.cancel();
    let err = start(&[
        ("WEBSOCKET_BACKEND_DSN", elsewhere),
        ("WEBSOCKET_BACKEND_LISTEN", "on"),
    ])
    .await
    .err()
    .expect("on fails");
    assert!(err.contains("192.0.2.10"), "{err}");
}

/// A self-signed certificate for localhost/127.0.0.1, as PEM files and a PKCS#12 bundle.
fn certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (cert, key) = common::self_signed_certificate(dir);
    let p12 = dir.join("identity.p12");
    let status = Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", "pass:hunter2"])
        .arg("-in")
        .arg(&cert)
        .arg("-inkey")
        .arg(&key)
        .arg("-out")
        .arg(&p12)
        .output()
        .expect("openssl");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    (cert, key, p12)
}

fn curl_health(url: &str, cafile: &Path) -> String {
    let output = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(cafile)
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listeners_with_pem_and_pkcs12() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, p12) = certificate(dir.path());
    let pem_dsn = format!(
        "ssl://127.0.0.1:0?context_options[local_cert]={}&context_options[local_pk]={}",
        cert.display(),
        key.display()
    );
    let server = start(&[("WEBSOCKET_SERVER_DSN", &pem_dsn)])
        .await
        .expect("TLS server starts");

    // autobahn-python over wss:// and rss:// (RawSocket over TLS), both serializers.
    let python = tokio::task::spawn_blocking(common::autobahn_python)
        .await
        .expect("venv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/autobahn_pubsub.py");
    for (url, sub, publisher) in [
        (
            format!("wss://localhost:{}/ws", server.addr.port()),
            "json",
            "msgpack",
        ),
        (
            format!("rss://localhost:{}", server.addr.port()),
            "msgpack",
            "json",
        ),
    ] {
        let output = tokio::process::Command::new(&python)
            .arg(&script)
            .arg(&url)
            .args([sub, publisher])
            .env("WAMPD_CAFILE", &cert)
            .output()
            .await
            .expect("the script runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("OK"),
            "{url}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // curl verifies the certificate and reads /health over TLS.
    let cafile = cert.clone();
    let url = format!("https://localhost:{}/health", server.addr.port());
    let body = tokio::task::spawn_blocking(move || curl_health(&url, &cafile))
        .await
        .expect("curl");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    // A plain-text client on the TLS port gets nowhere.
    assert!(
        connect_ws(&format!("ws://{}/ws", server.addr), Some("wamp.2.json"))
            .await
            .is_err()
    );
    server.stop.cancel();

    // PKCS#12 with its passphrase.
    let p12_dsn = format!(
        "ssl://127.0.0.1:0?context_options[local_cert]={}&context_options[passphrase]=hunter2",
        p12.display()
    );
    let server = start(&[("WEBSOCKET_SERVER_DSN", &p12_dsn)])
        .await
        .expect("PKCS#12 server starts");
    let cafile = cert.clone();
    let url = format!("https://localhost:{}/health", server.addr.port());
    let body = tokio::task::spawn_blocking(move || curl_health(&url, &cafile))
        .await
        .expect("curl");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    server.stop.cancel();

    // Clear start-up errors: a wrong passphrase, a missing key file.
    let wrong = p12_dsn.replace("hunter2", "wrong");
    let err = start(&[("WEBSOCKET_SERVER_DSN", &wrong)])
        .await
        .err()
        .expect("refused");
    assert!(
        err.contains("WEBSOCKET_SERVER_DSN") && err.contains("PKCS#12"),
        "{err}"
    );
    assert!(
        !err.contains("wrong"),
        "the passphrase is not echoed: {err}"
    );
    let missing = format!(
        "ssl://127.0.0.1:0?context_options[local_cert]={}&context_options[local_pk]=/nonexistent/key.pem",
        cert.display()
    );
    let err = start(&[("WEBSOCKET_SERVER_DSN", &missing)])
        .await
        .err()
        .expect("refused");
    assert!(
        err.contains("/nonexistent/key.pem") && err.contains("local_pk"),
        "{err}"
    );
}
