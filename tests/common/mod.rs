//! Shared helpers for integration tests: start a real server on an ephemeral loopback port and
//! talk to it over real WebSocket connections with a small WAMP client built on our own codec.

#![allow(dead_code)]

pub mod check_app;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use wampd::config::Settings;
use wampd::server::Server;
use wampd_proto::wamp::{codec, Dict, Id, Message, Serializer, Value};

/// The `Content-Length` of an HTTP head (0 when absent or unreadable).
pub fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// How long a test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(5);

/// A server running inside the test process.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The ZeroMQ PULL socket, when `WEBSOCKET_ZMQ_DSN` was set.
    pub zmq: Option<SocketAddr>,
    pub stop: CancellationToken,
    pub task: JoinHandle<bool>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1 with an ephemeral port and the given extra variables.
    pub async fn start(vars: &[(&str, &str)]) -> TestServer {
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("WEBSOCKET_SERVER_DSN".into(), "//127.0.0.1:0".into());
        // No separate backend listener unless a test asks for one.
        env.insert("WEBSOCKET_BACKEND_DSN".into(), "".into());
        // Test clients rarely answer the shutdown GOODBYE; keep the drain short.
        env.insert("WEBSOCKET_SHUTDOWN_TIMEOUT".into(), "2".into());
        // Most tests publish and register from plain WebSocket clients; the default policy
        // ("browsers subscribe, backends publish") is tested on its own in tests/authorization.rs.
        env.insert("WEBSOCKET_AUTHORIZATION_DEFAULT".into(), "open".into());
        for (k, v) in vars {
            env.insert((*k).into(), (*v).into());
        }
        let settings = Settings::from_env(&env).expect("test settings are valid");
        let server = Server::bind(&settings).await.expect("bind");
        let addr = server.local_addr().expect("local addr");
        let zmq = server.zmq_addr();
        let stop = CancellationToken::new();
        let signal = stop.clone();
        let task = tokio::spawn(async move { server.run(signal.cancelled_owned()).await });
        TestServer {
            addr,
            zmq,
            stop,
            task,
        }
    }

    /// The ws:// URL of the server.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Stops the server and returns whether it drained in time.
    pub async fn shutdown(self) -> bool {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("server stops")
            .expect("server task")
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket offering `protocols` (comma-separated) on `url`.
pub async fn connect_ws(
    url: &str,
    protocols: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = url.into_client_request()?;
    // Test clients stand for browsers, which always send Origin; without it a loopback client
    // counts as a program on this machine and gets the backend role (tests/authorization.rs).
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_static("http://localhost"));
    if let Some(p) = protocols {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(p).expect("header"),
        );
    }
    let (ws, _response) = tokio_tungstenite::connect_async(request).await?;
    Ok(ws)
}

/// A minimal WAMP v2 client for tests.
pub struct Client {
    pub ws: Ws,
    pub serializer: Serializer,
    pub session: Id,
    pub welcome: Dict,
    pub next_request: Id,
}

impl Client {
    /// Connects and opens a WebSocket, without sending HELLO.
    pub async fn open(server: &TestServer, serializer: Serializer) -> Client {
        Client::open_at(server.addr, serializer).await
    }

    /// Opens a WebSocket to a router at `addr` (any listener), without sending HELLO.
    pub async fn open_at(addr: SocketAddr, serializer: Serializer) -> Client {
        let ws = connect_ws(&format!("ws://{addr}/ws"), Some(serializer.subprotocol()))
            .await
            .expect("WebSocket connects");
        Client::over(ws, serializer)
    }

    /// Connects and joins `realm1`.
    pub async fn join(server: &TestServer, serializer: Serializer) -> Client {
        Client::join_at(server.addr, serializer).await
    }

    /// Connects to a router at `addr` (any listener) and joins `realm1`.
    pub async fn join_at(addr: SocketAddr, serializer: Serializer) -> Client {
        Client::open_at(addr, serializer).await.welcomed().await
    }

    /// Wraps a WebSocket the test opened itself (with its own headers), without sending HELLO.
    pub fn over(ws: Ws, serializer: Serializer) -> Client {
        Client {
            ws,
            serializer,
            session: 0,
            welcome: Dict::new(),
            next_request: 1,
        }
    }

    /// Sends HELLO for `realm1` and expects WELCOME.
    pub async fn welcomed(mut self) -> Client {
        self.hello("realm1").await;
        match self.recv().await {
            Message::Welcome { session, details } => {
                self.session = session;
                self.welcome = details;
            }
            other => panic!("expected WELCOME, got {other:?}"),
        }
        self
    }

    /// The authid the router assigned.
    pub fn authid(&self) -> String {
        self.welcome
            .get("authid")
            .and_then(Value::as_str)
            .expect("authid in WELCOME")
            .to_owned()
    }

    pub async fn hello(&mut self, realm: &str) {
        self.hello_with(realm, true).await;
    }

    /// HELLO announcing every role; the callee announces `call_canceling` when `cancels`.
    pub async fn hello_with(&mut self, realm: &str, cancels: bool) {
        let mut callee_features = Dict::new();
        callee_features.insert("call_canceling".into(), Value::Bool(cancels));
        callee_features.insert("progressive_call_results".into(), Value::Bool(true));
        let mut callee = Dict::new();
        callee.insert("features".into(), Value::Dict(callee_features));
        let mut roles = Dict::new();
        roles.insert("subscriber".into(), Value::Dict(Dict::new()));
        roles.insert("publisher".into(), Value::Dict(Dict::new()));
        roles.insert("caller".into(), Value::Dict(Dict::new()));
        roles.insert("callee".into(), Value::Dict(callee));
        let mut details = Dict::new();
        details.insert("roles".into(), Value::Dict(roles));
        self.send(&Message::Hello {
            realm: realm.into(),
            details,
        })
        .await;
    }

    /// HELLO to realm1 announcing, per role, the given features; returns WELCOME's dealer
    /// features (panics on anything but WELCOME).
    pub async fn hello_announcing(&mut self, roles: &[(&str, Dict)]) -> Dict {
        let roles: Dict = roles
            .iter()
            .map(|(role, features)| {
                let mut entry = Dict::new();
                entry.insert("features".into(), Value::Dict(features.clone()));
                ((*role).to_owned(), Value::Dict(entry))
            })
            .collect();
        let mut details = Dict::new();
        details.insert("roles".into(), Value::Dict(roles));
        self.send(&Message::Hello {
            realm: "realm1".into(),
            details,
        })
        .await;
        match self.recv().await {
            Message::Welcome { details, .. } => details
                .get("roles")
                .and_then(Value::as_dict)
                .and_then(|r| r.get("dealer"))
                .and_then(Value::as_dict)
                .and_then(|d| d.get("features"))
                .and_then(Value::as_dict)
                .cloned()
                .unwrap_or_default(),
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    pub fn request_id(&mut self) -> Id {
        let id = self.next_request;
        self.next_request += 1;
        id
    }

    pub async fn send(&mut self, msg: &Message) {
        let bytes = codec::encode(self.serializer, msg);
        let frame = if self.serializer.is_binary() {
            WsMessage::Binary(bytes)
        } else {
            WsMessage::Text(String::from_utf8(bytes.to_vec()).expect("utf8").into())
        };
        self.ws.send(frame).await.expect("send");
    }

    /// Sends a raw WebSocket message.
    pub async fn send_raw(&mut self, frame: WsMessage) {
        self.ws.send(frame).await.expect("send raw");
    }

    /// Next data message, decoded; panics on timeout, close or decode failure.
    pub async fn recv(&mut self) -> Message {
        self.recv_within(WAIT).await
    }

    /// [`Client::recv`] with a longer (or shorter) wait.
    pub async fn recv_within(&mut self, wait: Duration) -> Message {
        loop {
            let next = tokio::time::timeout(wait, self.ws.next())
                .await
                .expect("a message within the wait time");
            match next {
                Some(Ok(WsMessage::Text(t))) => {
                    return codec::decode(Serializer::Json, t.as_bytes()).expect("valid JSON WAMP")
                }
                Some(Ok(WsMessage::Binary(b))) => {
                    return codec::decode(self.serializer, &b).expect("valid binary WAMP")
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                other => panic!("expected a WAMP message, got {other:?}"),
            }
        }
    }

    /// Asserts that no data message arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => continue,
                Ok(other) => panic!("expected silence, got {other:?}"),
            }
        }
    }

    /// Reads until the server closes; returns the data messages seen and the close code.
    pub async fn expect_close(&mut self) -> (Vec<Message>, Option<u16>) {
        let mut seen = Vec::new();
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the server closes within the wait time");
            match next {
                Some(Ok(WsMessage::Text(t))) => {
                    seen.extend(codec::decode(Serializer::Json, t.as_bytes()).ok())
                }
                Some(Ok(WsMessage::Binary(b))) => {
                    seen.extend(codec::decode(self.serializer, &b).ok())
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    return (seen, frame.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(err)) => {
                    eprintln!("connection ended with {err}");
                    return (seen, None);
                }
                None => return (seen, None),
            }
        }
    }

    pub async fn subscribe_with(&mut self, topic: &str, options: Dict) -> Id {
        let request = self.request_id();
        self.send(&Message::Subscribe {
            request,
            options,
            topic: topic.into(),
        })
        .await;
        match self.recv().await {
            Message::Subscribed {
                request: r,
                subscription,
            } if r == request => subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    pub async fn subscribe(&mut self, topic: &str) -> Id {
        self.subscribe_with(topic, Dict::new()).await
    }

    /// Publishes with `acknowledge: true` merged into `options` and waits for PUBLISHED.
    pub async fn publish_acked(&mut self, topic: &str, args: Vec<Value>, mut options: Dict) -> Id {
        options.insert("acknowledge".into(), Value::Bool(true));
        let request = self.request_id();
        self.send(&Message::Publish {
            request,
            options,
            topic: topic.into(),
            args,
            kwargs: Dict::new(),
        })
        .await;
        match self.recv().await {
            Message::Published {
                request: r,
                publication,
            } if r == request => publication,
            other => panic!("expected PUBLISHED, got {other:?}"),
        }
    }

    /// CALLs `procedure` with `args`: `Ok(result args)` or `Err(error URI)`; events arriving
    /// meanwhile are skipped.
    pub async fn call(&mut self, procedure: &str, args: Vec<Value>) -> Result<Vec<Value>, String> {
        let request = self.request_id();
        self.send(&Message::Call {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
            args,
            kwargs: Dict::new(),
        })
        .await;
        loop {
            match self.recv().await {
                Message::Result {
                    request: r, args, ..
                } if r == request => return Ok(args),
                Message::Error {
                    request: r, error, ..
                } if r == request => return Err(error),
                Message::Event { .. } => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// REGISTERs `procedure`: `Ok(registration)` or `Err(error URI)`.
    pub async fn register(&mut self, procedure: &str) -> Result<Id, String> {
        self.register_with(procedure, Dict::new()).await
    }

    /// REGISTERs `procedure` with `options`: `Ok(registration)` or `Err(error URI)`.
    pub async fn register_with(&mut self, procedure: &str, options: Dict) -> Result<Id, String> {
        let request = self.request_id();
        self.send(&Message::Register {
            request,
            options,
            procedure: procedure.into(),
        })
        .await;
        match self.recv().await {
            Message::Registered {
                request: r,
                registration,
            } if r == request => Ok(registration),
            Message::Error {
                request: r, error, ..
            } if r == request => Err(error),
            other => panic!("expected REGISTERED or ERROR, got {other:?}"),
        }
    }

    /// Expects an EVENT and returns (subscription, details, args, kwargs).
    pub async fn event(&mut self) -> (Id, Dict, Vec<Value>, Dict) {
        match self.recv().await {
            Message::Event {
                subscription,
                details,
                args,
                kwargs,
                ..
            } => (subscription, details, args, kwargs),
            other => panic!("expected EVENT, got {other:?}"),
        }
    }
}

/// Builds a Dict from pairs.
pub fn dict(pairs: Vec<(&str, Value)>) -> Dict {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// GETs `path` from `addr` over a fresh connection and returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Scrapes `/metrics` and returns `series → value`, where a series is the metric name with its
/// label set exactly as rendered (e.g. `wampd_deliveries_total` or
/// `wampd_messages_received_total{type="PUBLISH"}`).
pub async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// A metric value, 0 when absent.
pub fn metric(metrics: &HashMap<String, f64>, series: &str) -> f64 {
    metrics.get(series).copied().unwrap_or(0.0)
}

/// The python of virtualenv `name` under `target/`, created with pip's `packages` on first use
/// (or when `imports` no longer imports).
pub fn python_venv(name: &str, imports: &str, packages: &[&str]) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let venv = target.join(name);
    let python = venv.join("bin").join("python");
    // Tests in one binary run in parallel; two pip installs into one venv must not.
    static PIP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _pip = PIP.lock().unwrap_or_else(|p| p.into_inner());
    let ready = python.exists()
        && std::process::Command::new(&python)
            .args(["-c", &format!("import {imports}")])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let status = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 is installed");
        assert!(status.success(), "creating the virtualenv {name} failed");
        let status = std::process::Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(packages)
            .status()
            .expect("pip runs");
        assert!(status.success(), "installing {packages:?} failed");
    }
    python
}

/// The interop virtualenv's python, installing autobahn with its MessagePack and CBOR
/// serializers' libraries and its `encryption` extra (PyNaCl, for cryptosign), and pyzmq, on
/// first use.
pub fn autobahn_python() -> std::path::PathBuf {
    // pyzmq (with its bundled libzmq 4.x) is the ZeroMQ PUSH peer of tests/espocrm.rs.
    python_venv(
        "interop-venv",
        "autobahn, msgpack, cbor2, nacl, base58, zmq",
        &[
            "autobahn[encryption]>=23.1",
            "msgpack>=1.0",
            "cbor2>=5",
            "pyzmq>=25",
        ],
    )
}

/// A self-signed certificate for localhost and 127.0.0.1, made with the openssl CLI:
/// (certificate PEM, PKCS#8 key PEM).
pub fn self_signed_certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let output = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (cert, key)
}

/// The interop Node packages' directory (`target/interop-node`), installing AutobahnJS there with
/// npm on first use: `autobahn` 26 (with `msgpack5`, its MessagePack serializer's dependency), `ws`
/// 8 (Node 20 has no global `WebSocket`) and `when` 3.7.8 (AutobahnJS reports progressive results
/// through when.js deferreds). Panics when node or npm is missing: that is a broken test machine,
/// not a reason to skip.
pub fn autobahn_node() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("interop-node");
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .expect("node is installed (the AutobahnJS interop tests need Node.js >= 20)");
    assert!(node.status.success(), "node --version failed");
    let modules = dir.join("node_modules");
    let installed = |package: &str| modules.join(package).join("package.json").exists();
    let autobahn_26 = std::fs::read_to_string(modules.join("autobahn/package.json"))
        .is_ok_and(|manifest| manifest.contains("\"version\": \"26."));
    if !(autobahn_26 && ["ws", "when", "msgpack5"].iter().all(|p| installed(p))) {
        std::fs::create_dir_all(&dir).expect("create target/interop-node");
        let status = std::process::Command::new("npm")
            .arg("install")
            .arg("--prefix")
            .arg(&dir)
            .args(["--no-audit", "--no-fund", "--loglevel=error"])
            .args(["autobahn@^26", "ws@^8", "when@3.7.8"])
            .status()
            .expect("npm is installed (the AutobahnJS interop tests install autobahn with it)");
        assert!(status.success(), "installing autobahn with npm failed");
    }
    dir
}

/// The `wampd-bench` binary, built for this test run.
///
/// The load generator is its own crate (crates/wampd-bench), so Cargo gives this package no
/// `CARGO_BIN_EXE_wampd-bench`. The first caller in a test binary builds it with the same Cargo
/// and profile that built the test (a no-op when `cargo test` at the root already did), so the
/// binary under test is never a stale one left in `target/`.
#[allow(dead_code)]
pub fn wampd_bench_binary() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let profile = if cfg!(debug_assertions) {
                "dev"
            } else {
                "release"
            };
            let out = std::process::Command::new(env!("CARGO"))
                .args(["build", "-q", "-p", "wampd-bench", "--bin", "wampd-bench"])
                .args(["--profile", profile])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .expect("cargo runs");
            assert!(
                out.status.success(),
                "building wampd-bench failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // Test executables live in target/<profile>/deps; binaries one level up.
            let exe = std::env::current_exe().expect("test executable path");
            let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
            let bench = dir.join("wampd-bench");
            assert!(bench.exists(), "{} was not built", bench.display());
            bench
        })
        .clone()
}

/// Spawns a prepared `wampd websocket:server` command and returns it with the address from its
/// "Launching wampd on ADDR:" start-up line (printed at every verbosity but `-q`) and a channel carrying
/// the rest of its stdout, drained on a thread so the router never blocks on a full pipe.
pub fn spawn_wampd(
    mut command: std::process::Command,
) -> (
    std::process::Child,
    String,
    std::sync::mpsc::Receiver<String>,
) {
    use std::io::{BufRead, BufReader};
    // As TestServer: tests that want the default policy set it explicitly.
    if !command
        .get_envs()
        .any(|(k, _)| k == "WEBSOCKET_AUTHORIZATION_DEFAULT")
    {
        command.env("WEBSOCKET_AUTHORIZATION_DEFAULT", "open");
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn wampd");
    let Some(out) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no stdout from wampd");
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        if let Some(rest) = line.split("Launching wampd on ").nth(1) {
            let addr = rest
                .split(": ")
                .next()
                .unwrap_or_default()
                .trim_end_matches(':')
                .to_owned();
            return (child, addr, rx);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no start-up line from wampd");
}

/// PHP's `date('c')` in UTC, as Oro writes a ticket's creation time.
pub fn php_date_c(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// PHP's `http_build_query(['ticket' => $t])` value encoding.
pub fn php_form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".into(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The next text frame on a raw WebSocket (WAMP v1 traffic), skipping pings and pongs.
pub async fn next_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
        {
            Some(Ok(WsMessage::Text(t))) => return t.to_string(),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// The path of `program` (looked up in the usual directories and on PATH), installing Debian's
/// `package` with apt-get when it is missing (CI starts clean; nothing is skipped). Installs are
/// serialised: apt-get takes a lock and tests run in parallel.
pub fn system_program(program: &str, package: &str) -> std::path::PathBuf {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    static APT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let find = || -> Option<PathBuf> {
        let path_dirs = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default();
        ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"]
            .iter()
            .map(PathBuf::from)
            .chain(path_dirs)
            .map(|dir| dir.join(program))
            .find(|path| Path::new(path).is_file())
    };
    let _guard = APT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = find() {
        return path;
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = Command::new("apt-get").args(["update", "-q"]).status();
        assert!(install(), "installing {package} with apt-get failed");
    }
    find().unwrap_or_else(|| panic!("{program} missing after installing {package}"))
}

/// Locates php, installing Debian's php-cli when the machine has none.
pub fn php() -> std::path::PathBuf {
    system_program("php", "php-cli")
}

/// A fresh database on the MySQL/MariaDB server at `WAMPD_TEST_MYSQL` (default
/// `mysql://root@127.0.0.1:3306/test`: the machine's MariaDB, which `.ci/run` starts where none
/// runs), created with `schema` (statements separated by `;`), dropped by [`MySqlDatabase::drop`].
pub struct MySqlDatabase {
    /// The database's name.
    pub name: String,
    /// A URL of it, for `WEBSOCKET_DATABASE_DSN`.
    pub dsn: String,
    pool: mysql_async::Pool,
}

fn mysql_admin_dsn() -> String {
    std::env::var("WAMPD_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

impl MySqlDatabase {
    pub async fn create(schema: &str) -> MySqlDatabase {
        use mysql_async::prelude::Queryable;
        let admin = mysql_admin_dsn();
        let pool = mysql_async::Pool::from_url(admin.as_str()).expect("WAMPD_TEST_MYSQL is a URL");
        let name = format!(
            "wampd_test_{}_{}",
            std::process::id(),
            wampd_proto::wamp::id::random_id() % 1_000_000_000
        );
        let mut conn = pool
            .get_conn()
            .await
            .unwrap_or_else(|e| panic!("MySQL at {admin} (set WAMPD_TEST_MYSQL): {e}"));
        conn.query_drop(format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        conn.query_drop(format!("USE {name}")).await.expect("use");
        for statement in schema.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            conn.query_drop(statement).await.expect("schema statement");
        }
        drop(conn);
        let (server, _) = admin.rsplit_once('/').expect("URL has a database");
        let dsn = format!("{server}/{name}");
        MySqlDatabase { name, dsn, pool }
    }

    /// Runs one statement in the database.
    pub async fn execute(&self, statement: &str) {
        use mysql_async::prelude::Queryable;
        let mut conn = self.pool.get_conn().await.expect("connect");
        conn.query_drop(format!("USE {}", self.name))
            .await
            .expect("use");
        conn.query_drop(statement).await.expect("statement");
    }

    pub async fn drop(self) {
        use mysql_async::prelude::Queryable;
        if let Ok(mut conn) = self.pool.get_conn().await {
            let _ = conn
                .query_drop(format!("DROP DATABASE IF EXISTS {}", self.name))
                .await;
        }
        let _ = self.pool.disconnect().await;
    }
}

/// A Node.js project under `target/` with socket.io-client installed twice, as `sio4` (the
/// current 4.x) and `sio3` (3.0.4, what ws-emit's pages load); installed with npm on first use.
pub fn socketio_node() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("socketio-node");
    let modules = dir.join("node_modules");
    // Tests run in parallel: one npm install at a time, and nobody reads a half-installed tree.
    static NPM: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _npm = NPM.lock().unwrap_or_else(|p| p.into_inner());
    let installed = ["sio4", "sio3", "playwright-core"]
        .iter()
        .all(|p| modules.join(p).join("package.json").exists());
    if !installed {
        std::fs::create_dir_all(&dir).expect("create target/socketio-node");
        let status = std::process::Command::new("npm")
            .arg("install")
            .arg("--prefix")
            .arg(&dir)
            .args(["--no-audit", "--no-fund", "--loglevel=error"])
            .args([
                "sio4@npm:socket.io-client@^4",
                "sio3@npm:socket.io-client@3.0.4",
                // drives Debian's Chromium in the browser tests
                "playwright-core@^1",
            ])
            .status()
            .expect("npm is installed (the Socket.IO tests install socket.io-client with it)");
        assert!(
            status.success(),
            "installing socket.io-client with npm failed"
        );
    }
    dir
}

/// Finds `redis-server`, installing Debian's package when it is missing (as .ci/run does).
pub fn redis_binary() -> std::path::PathBuf {
    system_program("redis-server", "redis-server")
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A private redis-server; SIGKILLed and reaped on drop.
pub struct Redis {
    pub port: u16,
    /// TLS port, certificate and key, when started with TLS.
    pub tls: Option<(u16, std::path::PathBuf, std::path::PathBuf)>,
    child: Option<std::process::Child>,
}

impl Redis {
    pub async fn start() -> Redis {
        let mut redis = Redis {
            port: free_port(),
            tls: None,
            child: None,
        };
        redis.restart().await;
        redis
    }

    /// Also listens with TLS (self-signed certificate in `dir`) on another port.
    pub async fn start_tls(dir: &std::path::Path) -> Redis {
        let (cert, key) = self_signed_certificate(dir);
        let mut redis = Redis {
            port: free_port(),
            tls: Some((free_port(), cert, key)),
            child: None,
        };
        redis.restart().await;
        redis
    }

    pub fn dsn(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// (Re)starts redis-server on the same port and waits until it answers PING.
    pub async fn restart(&mut self) {
        let mut command = std::process::Command::new(redis_binary());
        command.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        if let Some((port, cert, key)) = &self.tls {
            command
                .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
                .arg("--tls-cert-file")
                .arg(cert)
                .arg("--tls-key-file")
                .arg(key);
        }
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if self.ping().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {} does not answer PING", self.port);
    }

    /// `SET key value`, over a raw connection.
    pub async fn set(&self, key: &str, value: &str) {
        assert_eq!(self.command(&["SET", key, value]).await, "+OK\r\n");
    }

    /// One command over a raw connection; its reply as the server wrote it (a small one).
    pub async fn command(&self, parts: &[&str]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to redis");
        let mut command = format!("*{}\r\n", parts.len());
        for part in parts {
            command.push_str(&format!("${}\r\n{part}\r\n", part.len()));
        }
        stream.write_all(command.as_bytes()).await.expect("write");
        let mut reply = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut reply))
            .await
            .expect("redis answers")
            .expect("read");
        String::from_utf8_lossy(&reply[..n]).into_owned()
    }

    pub async fn ping(&self) -> bool {
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        if tokio::io::AsyncWriteExt::write_all(&mut stream, b"PING\r\n")
            .await
            .is_err()
        {
            return false;
        }
        let mut reply = [0u8; 7];
        matches!(
            tokio::time::timeout(Duration::from_secs(1), tokio::io::AsyncReadExt::read_exact(&mut stream, &mut reply)).await,
            Ok(Ok(_)) if &reply == b"+PONG\r\n"
        )
    }

    /// SIGKILL: no goodbye to anyone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A child process killed when the test ends, passed or failed.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A virtualenv under `target/` with Flask-SocketIO, its python-socketio and redis: `old` pins
/// python-socketio 5.13 (pickled queue messages, `data` the argument itself or a tuple), `new`
/// takes 5.14.2 or later (JSON, `data` the list of arguments). Installed with pip on first use.
pub fn flask_socketio_python(generation: &str) -> std::path::PathBuf {
    let pins: &[&str] = match generation {
        "old" => &["python-socketio==5.13.0", "flask-socketio==5.5.1", "redis"],
        // with python-socketio's client (requests, websocket-client) for tests/socketio.rs
        _ => &[
            "python-socketio[client]>=5.14.2",
            "flask-socketio>=5.5",
            "redis",
        ],
    };
    let imports = match generation {
        "old" => "flask_socketio, redis",
        _ => "flask_socketio, redis, requests, websocket",
    };
    python_venv(&format!("flask-socketio-{generation}"), imports, pins)
}

/// A Socket.IO client on the raw WebSocket transport (`/socket.io/?EIO=4&transport=websocket`),
/// past the Engine.IO open packet and connected to namespace `/`. It answers no pings.
pub async fn socketio_websocket(addr: SocketAddr) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    let open = ws.next().await.expect("open").expect("frame");
    assert!(open.to_text().unwrap_or("").starts_with("0{"), "{open:?}");
    ws.send(WsMessage::text("40")).await.expect("connect /");
    let connected = ws.next().await.expect("40").expect("frame");
    assert!(
        connected.to_text().unwrap_or("").starts_with("40{"),
        "{connected:?}"
    );
    ws
}

/// Runs `tests/interop/flask_socketio_emit.py` with the Flask-SocketIO of `generation`.
pub fn flask_emit(generation: &str, redis: &str, plan: serde_json::Value) {
    let python = flask_socketio_python(generation);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/flask_socketio_emit.py");
    let status = std::process::Command::new(python)
        .arg(script)
        .arg(redis)
        .arg(plan.to_string())
        .status()
        .expect("python runs");
    assert!(status.success(), "the Flask-SocketIO emitter failed");
}

/// Waits until `addr`'s cluster backplane reports connected (or not, per `connected`).
pub async fn wait_backplane(addr: SocketAddr, connected: bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let value = metric(&scrape(addr).await, "wampd_cluster_connected");
        if (value == 1.0) == connected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node {addr}: backplane connected={connected} not reached"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Calls `procedure` on `addr` until it answers with a result: a registration made on another
/// cluster node reaches this one a moment after REGISTERED.
pub async fn wait_callable(addr: SocketAddr, procedure: &str, args: Vec<Value>) -> Vec<Value> {
    let mut client = Client::join_at(addr, Serializer::Json).await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match client.call(procedure, args.clone()).await {
            Ok(result) => return result,
            Err(error) => assert!(
                std::time::Instant::now() < deadline,
                "{procedure} never became callable on {addr}: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls `procedure` from `caller` until `callee` (a session on another cluster node) gets the
/// INVOCATION, which it answers with the arguments: a registration reaches the other nodes a
/// moment after REGISTERED.
pub async fn until_routed(caller: &mut Client, callee: &mut Client, procedure: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let request = caller.request_id();
        caller
            .send(&Message::Call {
                request,
                options: Dict::new(),
                procedure: procedure.into(),
                args: vec![Value::from("probe")],
                kwargs: Dict::new(),
            })
            .await;
        let routed = tokio::select! {
            reply = caller.recv() => match reply {
                Message::Error { request: r, error, .. } if r == request => {
                    assert!(
                        error == "wamp.error.no_such_procedure" && std::time::Instant::now() < deadline,
                        "{procedure} was not routed: {error}"
                    );
                    false
                }
                other => panic!("unexpected {other:?}"),
            },
            invocation = callee.recv() => match invocation {
                Message::Invocation { request: inv, args, .. } => {
                    callee
                        .send(&Message::Yield { request: inv, options: Dict::new(), args, kwargs: Dict::new() })
                        .await;
                    true
                }
                other => panic!("unexpected {other:?}"),
            },
        };
        if routed {
            match caller.recv().await {
                Message::Result { request: r, .. } if r == request => return,
                other => panic!("expected the probe's RESULT, got {other:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A wampd process in cluster mode on `redis`; SIGKILLed and reaped on drop.
pub struct ClusterProcess {
    child: std::process::Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ClusterProcess {
    /// Starts `wampd websocket:server` on a free loopback port, in `dir`.
    pub fn start(redis: &Redis, dir: &std::path::Path) -> ClusterProcess {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wampd"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("WEBSOCKET_SERVER_DSN", "//127.0.0.1:0")
            .env("WEBSOCKET_BACKEND_DSN", "")
            .env("WEBSOCKET_CLUSTER_DSN", redis.dsn())
            .current_dir(dir)
            .args(["websocket:server", "-vv"]);
        let (child, addr, _logs) = spawn_wampd(command);
        let addr = addr.parse().expect("socket address in the start-up line");
        ClusterProcess { child, addr }
    }
}

impl Drop for ClusterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
