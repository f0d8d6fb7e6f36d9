//! Socket.IO clients on wampd's broker, with the real socket.io-client (the current 4.x, and
//! 3.0.4 as ws-emit's pages load it) in Node.js over the WebSocket transport: namespaces, rooms
//! (`join`/`leave`), events published by WAMP sessions reaching exactly the sockets they address,
//! and client emits reaching WAMP subscribers under the authorization rules.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use wampd_proto::wamp::{Dict, Serializer, Value};

/// The JSON lines a peer script prints on `out`, as they come (other lines are skipped).
fn json_lines(out: std::process::ChildStdout) -> mpsc::Receiver<serde_json::Value> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str(&line) {
                let _ = tx.send(value);
            }
        }
    });
    lines
}

struct NodeClient {
    child: std::process::Child,
    lines: mpsc::Receiver<serde_json::Value>,
}

impl NodeClient {
    fn start(url: &str, package: &str) -> NodeClient {
        NodeClient::start_with(url, package, "websocket")
    }

    /// With `transports` ("websocket", "polling" or "polling,websocket").
    fn start_with(url: &str, package: &str, transports: &str) -> NodeClient {
        let dir = socketio_node();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/interop/socketio_client.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .arg(url)
            .arg(dir.join("node_modules").join(package))
            .env("SIO_TRANSPORTS", transports)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs");
        let out = child.stdout.take().expect("stdout");
        NodeClient {
            child,
            lines: json_lines(out),
        }
    }

    /// The next line, within a few seconds.
    fn next(&self) -> serde_json::Value {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the Socket.IO client said something in time")
    }

    /// Waits for a line that `pick` accepts, skipping others.
    fn until(&self, pick: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        loop {
            let line = self.next();
            if pick(&line) {
                return line;
            }
        }
    }

    fn command(&mut self, cmd: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        let _ = writeln!(stdin, "{cmd}");
    }

    fn stop(mut self) {
        self.command("exit");
        let _ = self.child.wait();
    }
}

impl Drop for NodeClient {
    /// A failed test leaves no node behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn publish(publisher: &mut Client, topic: &str, args: Vec<Value>) {
    publisher.publish_acked(topic, args, Dict::new()).await;
}

async fn events_reach_exactly_the_addressed_sockets(package: &str) {
    events_over(package, "websocket").await;
}

/// The namespace-and-rooms scenario over `transports`; returns the transport the client ended on.
async fn events_over(package: &str, transports: &str) -> String {
    let server = TestServer::start(&[]).await;
    let url = format!("http://{}", server.addr);
    let client = tokio::task::spawn_blocking({
        let url = url.clone();
        let package = package.to_owned();
        let transports = transports.to_owned();
        move || {
            let c = NodeClient::start_with(&url, &package, &transports);
            let joined = c.until(|l| l.get("joined").is_some());
            // The join was acknowledged without an error.
            assert_eq!(joined["answer"], serde_json::json!(null), "{joined}");
            c.until(|l| l.get("ready").is_some());
            c
        }
    })
    .await
    .expect("client starts");
    let mut publisher = Client::join(&server, Serializer::Json).await;
    let mut one = Dict::new();
    one.insert("n".into(), Value::UInt(1));
    publish(
        &mut publisher,
        "socketio._.room.other.update",
        vec![Value::UInt(0)],
    )
    .await;
    publish(
        &mut publisher,
        "socketio._.all.update",
        vec![Value::Dict(one)],
    )
    .await;
    publish(
        &mut publisher,
        "socketio._.room.news.update",
        vec![Value::UInt(2), Value::Str("x".into())],
    )
    .await;
    // Binary values travel as attachments (`451-` and a binary message, `b<base64>` when
    // polling), nested ones too, and arrive as binary.
    let mut file = Dict::new();
    file.insert("data".into(), Value::Bin(vec![0, 1, 254, 255]));
    publish(
        &mut publisher,
        "socketio._.room.news.update",
        vec![
            Value::Str("file".into()),
            Value::Bin(b"\x00wamp".to_vec()),
            Value::Dict(file),
        ],
    )
    .await;
    publish(
        &mut publisher,
        "socketio.ws.all.backup_running",
        vec![Value::Bool(true)],
    )
    .await;
    let lines = tokio::task::spawn_blocking(move || {
        let got: Vec<_> = (0..4).map(|_| client.next()).collect();
        (client, got)
    })
    .await
    .expect("events");
    let (client, got) = lines;
    assert_eq!(
        got[0],
        serde_json::json!({"ns": "/", "event": "update", "args": [{"n": 1}]})
    );
    assert_eq!(
        got[1],
        serde_json::json!({"ns": "/", "event": "update", "args": [2, "x"]})
    );
    assert_eq!(
        got[2],
        serde_json::json!({"ns": "/", "event": "update", "args": [
            "file", {"bin": [0, 119, 97, 109, 112]}, {"data": {"bin": [0, 1, 254, 255]}}
        ]})
    );
    assert_eq!(
        got[3],
        serde_json::json!({"ns": "/ws", "event": "backup_running", "args": [true]})
    );
    // Nothing else arrives: the room the socket is not in stayed silent.
    let extra = client.lines.recv_timeout(Duration::from_millis(300));
    assert!(extra.is_err(), "unexpected {extra:?}");
    let mut client = client;
    client.command("transport");
    let (client, transport) = tokio::task::spawn_blocking(move || {
        let line = client.until(|l| l.get("transport").is_some());
        (client, line["transport"].as_str().unwrap_or("").to_owned())
    })
    .await
    .expect("transport");
    client.stop();
    server.shutdown().await;
    transport
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_only_clients_get_their_events() {
    for package in ["sio4", "sio3"] {
        assert_eq!(
            events_over(package, "polling").await,
            "polling",
            "{package}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_clients_start_polling_and_upgrade_to_websocket() {
    for package in ["sio4", "sio3"] {
        assert_eq!(
            events_over(package, "polling,websocket").await,
            "websocket",
            "{package} did not upgrade"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_client_4_gets_namespace_and_room_events() {
    events_reach_exactly_the_addressed_sockets("sio4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_client_3_0_4_gets_namespace_and_room_events() {
    events_reach_exactly_the_addressed_sockets("sio3").await;
}

/// An external subscribe check (`WEBSOCKET_SUBSCRIBE_CHECK`, here an HTTP application) decides
/// Socket.IO namespaces (by their broadcast prefix) and rooms as it decides WAMP subscriptions:
/// off the read loop, a refused namespace getting CONNECT_ERROR and a refused room an ack with
/// the error; the socket's own room is its address and is not checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscribe_check_decides_socket_io_namespaces_and_rooms() {
    let (app, server) = common::check_app::subscribe_checked(|body| {
        let topic = body["params"]["topic"].as_str().unwrap_or_default();
        Some(
            if ["socketio._.all.", "socketio._.room.news."].contains(&topic) {
                (200, "true")
            } else {
                (403, "no")
            },
        )
    })
    .await;
    let url = format!("http://{}", server.addr);
    let (mut client, joined, refused) = tokio::task::spawn_blocking(move || {
        let c = NodeClient::start(&url, "sio4");
        let (mut joined, mut refused) = (None, None);
        while joined.is_none() || refused.is_none() {
            let line = c.next();
            if line.get("joined").is_some() {
                joined = Some(line);
            } else if line.get("connect_error").is_some() {
                refused = Some(line);
            }
        }
        (c, joined.expect("joined"), refused.expect("refused"))
    })
    .await
    .expect("client");
    assert_eq!(joined["answer"], serde_json::json!(null), "{joined}");
    assert!(
        refused["connect_error"]
            .as_str()
            .unwrap_or_default()
            .contains("subscribe check refused"),
        "namespace /ws refused: {refused}"
    );
    client.command("join:|:private:|:");
    let (client, private) = tokio::task::spawn_blocking(move || {
        let line = client.until(|l| l["joined"] == "private");
        (client, line)
    })
    .await
    .expect("join");
    assert_eq!(
        private["answer"]["error"], "wamp.error.not_authorized",
        "{private}"
    );
    let mut publisher = Client::join(&server, Serializer::Json).await;
    for topic in [
        "socketio._.room.private.update",
        "socketio.ws.all.backup_running",
        "socketio._.room.news.update",
    ] {
        publish(&mut publisher, topic, vec![Value::Str(topic.into())]).await;
    }
    let client = tokio::task::spawn_blocking(move || {
        let line = client.next();
        assert_eq!(
            line,
            serde_json::json!({"ns": "/", "event": "update", "args": ["socketio._.room.news.update"]}),
            "only the room the check allowed delivers"
        );
        client
    })
    .await
    .expect("events");
    let mut topics: Vec<String> = app
        .bodies
        .lock()
        .expect("lock")
        .iter()
        .map(|b| b["params"]["topic"].as_str().unwrap_or_default().to_owned())
        .collect();
    topics.sort();
    assert_eq!(
        topics,
        [
            "socketio._.all.",
            "socketio._.room.news.",
            "socketio._.room.private.",
            "socketio.ws.all."
        ],
        "one check per namespace and room, none for the socket's own room"
    );
    client.stop();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_emits_reach_wamp_subscribers_only_where_the_rules_allow() {
    for (policy, delivered) in [("open", true), ("standard", false)] {
        let server = TestServer::start(&[("WEBSOCKET_AUTHORIZATION_DEFAULT", policy)]).await;
        let mut subscriber = Client::join(&server, Serializer::Json).await;
        subscriber.subscribe("socketio._.client.chat").await;
        let url = format!("http://{}", server.addr);
        let mut client = tokio::task::spawn_blocking(move || {
            let c = NodeClient::start(&url, "sio4");
            c.until(|l| l.get("ready").is_some());
            c
        })
        .await
        .expect("client");
        client.command("chat");
        let client = tokio::task::spawn_blocking(move || {
            let ack = client.until(|l| l.get("chat_ack").is_some());
            (client, ack)
        })
        .await
        .expect("ack");
        let (client, ack) = client;
        if delivered {
            assert_eq!(ack["chat_ack"], serde_json::json!(null), "{ack}");
            let (_, _, args, kwargs) = subscriber.event().await;
            assert_eq!(args[0], Value::Str("hello".into()));
            assert!(kwargs.contains_key("sid"));
        } else {
            assert_eq!(
                ack["chat_ack"]["error"], "wamp.error.not_authorized",
                "{ack}"
            );
            subscriber.expect_silence(Duration::from_millis(300)).await;
        }
        client.stop();
        server.shutdown().await;
    }
}

#[tokio::test]
async fn engine_io_requests_it_does_not_serve_get_engine_io_errors() {
    let server = TestServer::start(&[]).await;
    for (query, expected) in [
        ("EIO=3&transport=websocket", "Unsupported protocol version"),
        ("EIO=4&transport=websocket&sid=abc", "Session ID unknown"),
    ] {
        let url = format!("ws://{}/socket.io/?{query}", server.addr);
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 400);
                let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .to_string();
                assert!(body.contains(expected), "{body}");
            }
            other => panic!("{query}: expected a 400, got {other:?}"),
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_io_pings_keep_an_idle_client_connected() {
    // Pings every 500 ms with a 500 ms timeout: a client that did not answer them would be gone
    // (and socket.io-client itself closes without them) well within the 3 s it stays idle.
    let server = TestServer::start(&[
        ("WEBSOCKET_PING_INTERVAL", "500ms"),
        ("WEBSOCKET_PING_TIMEOUT", "500ms"),
    ])
    .await;
    let url = format!("http://{}", server.addr);
    let client = tokio::task::spawn_blocking(move || {
        let c = NodeClient::start(&url, "sio4");
        c.until(|l| l.get("ready").is_some());
        c
    })
    .await
    .expect("client");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut publisher = Client::join(&server, Serializer::Json).await;
    publish(
        &mut publisher,
        "socketio._.all.update",
        vec![Value::UInt(7)],
    )
    .await;
    let client = tokio::task::spawn_blocking(move || {
        let line = client.next();
        assert_eq!(
            line,
            serde_json::json!({"ns": "/", "event": "update", "args": [7]})
        );
        client
    })
    .await
    .expect("still connected");
    client.stop();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flask_socketio_emits_of_both_queue_encodings_reach_exactly_their_sockets() {
    let redis = Redis::start().await;
    let dsn = redis.dsn();
    let server = TestServer::start(&[("WEBSOCKET_SOCKETIO_QUEUE", dsn.as_str())]).await;
    let url = format!("http://{}", server.addr);
    let client = tokio::task::spawn_blocking(move || {
        let c = NodeClient::start(&url, "sio4");
        let ready = c.until(|l| l.get("ready").is_some());
        (c, ready["sid"].as_str().expect("sid").to_owned())
    })
    .await
    .expect("client");
    let (mut client, sid) = client;
    // A WAMP subscriber sees the room's emits too.
    let mut wamp = Client::join(&server, Serializer::Json).await;
    wamp.subscribe_with("socketio._.room.news.", {
        let mut o = Dict::new();
        o.insert("match".into(), Value::Str("prefix".into()));
        o
    })
    .await;
    for (generation, n) in [("old", 1), ("new", 2)] {
        let plan = serde_json::json!([
            {"event": "update", "args": [{"skipped": n}], "skip_sid": sid},
            {"event": "update", "args": [{"other": n}], "to": "other"},
            {"event": "update", "args": [{"news": n}, "two"], "to": "news"},
            {"event": "backup_running", "args": [true], "namespace": "/ws"},
        ]);
        let dsn = dsn.clone();
        let which = generation.to_owned();
        tokio::task::spawn_blocking(move || flask_emit(&which, &dsn, plan))
            .await
            .expect("emit");
        let (c, got) = tokio::task::spawn_blocking(move || {
            let got: Vec<_> = (0..2).map(|_| client.next()).collect();
            (client, got)
        })
        .await
        .expect("events");
        client = c;
        assert_eq!(
            got[0],
            serde_json::json!({"ns": "/", "event": "update", "args": [{"news": n}, "two"]}),
            "python-socketio {generation}"
        );
        assert_eq!(
            got[1],
            serde_json::json!({"ns": "/ws", "event": "backup_running", "args": [true]})
        );
        let (_, _, args, _) = wamp.event().await;
        assert_eq!(args.len(), 2);
    }
    let extra = client.lines.recv_timeout(Duration::from_millis(300));
    assert!(extra.is_err(), "unexpected {extra:?}");
    let metrics = scrape(server.addr).await;
    assert_eq!(
        metric(
            &metrics,
            "wampd_socketio_queue_messages_total{outcome=\"published\"}"
        ),
        8.0
    );
    client.stop();
    server.shutdown().await;
}

#[tokio::test]
async fn a_polling_client_that_stops_polling_is_dropped() {
    let server = TestServer::start(&[
        ("WEBSOCKET_PING_INTERVAL", "300ms"),
        ("WEBSOCKET_PING_TIMEOUT", "300ms"),
    ])
    .await;
    let (status, body) = http_get(server.addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(status, 200, "{body}");
    let open: serde_json::Value = serde_json::from_str(&body[1..]).expect("OPEN packet");
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(open["pingInterval"], 300);
    let sid = open["sid"].as_str().expect("sid").to_owned();
    let poll = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let sessions = "wampd_sessions{transport=\"polling\",protocol=\"socketio\",realm=\"realm1\"}";
    assert_eq!(metric(&scrape(server.addr).await, sessions), 1.0);
    // The session lives while polled: the next poll gets the server's ping.
    let (status, body) = http_get(server.addr, &poll).await;
    assert_eq!((status, body.as_str()), (200, "2"));
    // Unanswered pings, no polls: gone after interval + timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = http_get(server.addr, &poll).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Session ID unknown"), "{body}");
    assert_eq!(metric(&scrape(server.addr).await, sessions), 0.0);
    server.shutdown().await;
}

/// A POST with a JSON body; (status, body).
async fn http_post(addr: std::net::SocketAddr, path: &str, body: &str) -> (u16, String) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    http_exchange(addr, head + body).await
}

/// Sends `request` and reads the answer until the server closes; (status, what follows the
/// head).
async fn http_exchange(addr: std::net::SocketAddr, request: String) -> (u16, String) {
    let (status, response) = http_response(addr, request).await;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Sends `request`; (status, the whole response, head included).
async fn http_response(addr: std::net::SocketAddr, request: String) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    let read = stream.read_to_string(&mut response);
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server answers and closes")
        .expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// A GET of `path` from a page at `origin`, a WebSocket upgrade when `upgrade` (for refusals:
/// the server must close); (status, the whole response).
async fn get_from(
    addr: std::net::SocketAddr,
    path: &str,
    origin: &str,
    upgrade: bool,
) -> (u16, String) {
    let upgrade = if upgrade {
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    } else {
        "Connection: close\r\n"
    };
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\n{upgrade}\r\n");
    http_response(addr, request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_emit_runs_from_its_own_variables_with_secret_rooms_and_post_emit() {
    let redis = Redis::start().await;
    redis.set("ws-emit::secret::space", "pw").await;
    // ws-emit's dir2web example still writes the old key name.
    redis.set("ws-emit::room_secret::old", "pw2").await;
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_wampd"));
    command
        .args(["ws-emit", "-vv"])
        .env("ADDRESS", format!("127.0.0.1:{port}"))
        .env("REDIS", redis.dsn())
        .env("CORS", "http://localhost")
        .env("SECRET", "s3cret");
    let (wampd, addr, _logs) = spawn_wampd(command);
    let _wampd = common::KillOnDrop(wampd);
    let addr: std::net::SocketAddr = addr.parse().expect("address");
    assert_eq!(addr.port(), port, "ADDRESS decides where it listens");
    // CORS is an exact list: another port or scheme of an allowed host is refused, with 400,
    // on both transports; an allowed origin is echoed for CORS.
    let polling = "/socket.io/?EIO=4&transport=polling";
    let websocket = "/socket.io/?EIO=4&transport=websocket";
    for origin in [
        "http://evil.example",
        "http://localhost:8080",
        "https://localhost",
    ] {
        for (path, upgrade) in [(polling, false), (websocket, true)] {
            let (status, _) = get_from(addr, path, origin, upgrade).await;
            assert_eq!(status, 400, "{origin} on {path}");
        }
    }
    let (status, response) = get_from(addr, polling, "http://localhost", false).await;
    assert_eq!(status, 200);
    assert!(
        response
            .to_ascii_lowercase()
            .contains("access-control-allow-origin: http://localhost\r\n"),
        "{response}"
    );
    let url = format!("http://{addr}");
    let mut client = tokio::task::spawn_blocking(move || {
        let c = NodeClient::start_with(&url, "sio4", "polling,websocket");
        c.until(|l| l.get("ready").is_some());
        c
    })
    .await
    .expect("client");
    for cmd in [
        "join:|:space::r1:|:wrong",
        "join:|:space::r1:|:",
        "join:|:space::r1:|:pw",
        "join:|:old::r2:|:pw2",
    ] {
        client.command(cmd);
    }
    // Secret checks run concurrently: acknowledgements come in the order they finish.
    let (client, answers) = tokio::task::spawn_blocking(move || {
        let answers: std::collections::HashMap<String, serde_json::Value> = (0..4)
            .map(|_| {
                let line = client.until(|l| l.get("joined").is_some());
                (
                    line["secret"].as_str().unwrap_or("").to_owned(),
                    line["answer"].clone(),
                )
            })
            .collect();
        (client, answers)
    })
    .await
    .expect("joins");
    assert_eq!(
        answers["wrong"]["error"], "wamp.error.not_authorized",
        "wrong secret"
    );
    assert_eq!(
        answers[""]["error"], "wamp.error.not_authorized",
        "no secret"
    );
    assert_eq!(answers["pw"], serde_json::json!(null), "right secret");
    assert_eq!(answers["pw2"], serde_json::json!(null), "the old key name");
    let emit = |secret: &str, room: &str| {
        serde_json::json!({"event": "update", "room": room, "data": {"n": 1}, "namespace": null, "secret": secret})
            .to_string()
    };
    let (status, body) = http_post(addr, "/emit", &emit("guess", "space::r1")).await;
    assert_eq!(status, 403);
    assert!(
        !body.contains("guess"),
        "the wrong secret is not echoed: {body}"
    );
    // Bodies that are not ws-emit's object get 400, and nothing is emitted.
    for bad in [
        "not json".to_string(),
        "[1, 2]".to_string(),
        r#"{"event": 5, "secret": "s3cret"}"#.to_string(),
        r#"{"event": "update", "room": ["r"], "secret": "s3cret"}"#.to_string(),
    ] {
        let (status, _) = http_post(addr, "/emit", &bad).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, body) = http_post(addr, "/emit", &emit("s3cret", "space::r1")).await;
    assert_eq!((status, body.as_str()), (200, "OK\n"));
    let client = tokio::task::spawn_blocking(move || {
        let line = client.until(|l| l.get("event").is_some());
        assert_eq!(
            line,
            serde_json::json!({"ns": "/", "event": "update", "args": [{"n": 1}]})
        );
        client
    })
    .await
    .expect("emitted");
    client.stop();
}

#[tokio::test]
async fn post_emit_does_not_exist_without_a_secret() {
    let server = TestServer::start(&[]).await;
    let (status, _) = http_post(server.addr, "/emit", "{}").await;
    assert_eq!(status, 404, "no /emit without a secret, as ws-emit");
    server.shutdown().await;
}

/// Headless Chromium with socket.io-client 4.x and 3.0.4's browser builds, on pages from their own
/// origin as ws-emit's are: both connect with the default transports and upgrade, join a public
/// room and a roomspace room with its secret, and get what `POST /emit` and a WAMP publisher
/// send them, once; pages from another origin do not connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_pages_from_an_allowed_origin_get_emits_in_their_rooms() {
    let chromium = system_program("chromium", "chromium");
    let modules = socketio_node().join("node_modules");
    let redis = Redis::start().await;
    redis.set("ws-emit::secret::space", "pw").await;
    let (port, page_port, other_port) = (free_port(), free_port(), free_port());
    let mut command = Command::new(env!("CARGO_BIN_EXE_wampd"));
    command
        .args(["ws-emit", "-v"])
        .env("ADDRESS", format!("127.0.0.1:{port}"))
        .env("REDIS", redis.dsn())
        .env("CORS", format!("http://127.0.0.1:{page_port}"))
        .env("SECRET", "s3cret");
    let (wampd, addr, _logs) = spawn_wampd(command);
    let _wampd = common::KillOnDrop(wampd);
    let addr: std::net::SocketAddr = addr.parse().expect("address");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/socketio_browser.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg(page_port.to_string())
        .arg(other_port.to_string())
        .arg(&chromium)
        .arg(&modules)
        .env("SECRET_ROOM", "space::r1")
        .env("ROOM_SECRET", "pw")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let out = child.stdout.take().expect("stdout");
    let mut stdin = child.stdin.take().expect("stdin");
    let browser = common::KillOnDrop(child);
    let lines = json_lines(out);
    // Blocking reads, off the runtime's workers.
    let next = || {
        tokio::task::block_in_place(|| {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the browser script said something in time");
            assert!(line.get("failure").is_none(), "{line}");
            line
        })
    };
    for version in ["sio4", "sio3"] {
        assert_eq!(
            next(),
            serde_json::json!({"page": version, "transport": "websocket"}),
            "polling, then the upgrade"
        );
    }
    for version in ["sio4", "sio3"] {
        let line = next();
        assert_eq!(line["refused"], version, "{line}");
        assert!(
            line["state"].as_str().unwrap_or("").starts_with("error"),
            "a page from another origin does not connect: {line}"
        );
    }
    let emit = |room: &str, n: u64| {
        serde_json::json!({"event": "update", "room": room, "data": {"n": n}, "namespace": "/", "secret": "s3cret"})
            .to_string()
    };
    assert_eq!(http_post(addr, "/emit", &emit("space::r1", 1)).await.0, 200);
    assert_eq!(http_post(addr, "/emit", &emit("public", 2)).await.0, 200);
    assert_eq!(http_post(addr, "/emit", &emit("nobody", 3)).await.0, 200);
    // With a binary value (WAMP JSON's "\u0000" + base64): an attachment the page gets as an
    // ArrayBuffer.
    let publish = serde_json::json!({"topic": "socketio._.all.update", "args": [{"n": 4, "blob": "\u{0}AAH+/w=="}]});
    assert_eq!(
        http_post(addr, "/publish", &publish.to_string()).await.0,
        200,
        "a WAMP publication from loopback"
    );
    let expected =
        serde_json::json!([{"n": 1}, {"n": 2}, {"n": 4, "blob": {"bin": [0, 1, 254, 255]}}]);
    let mut events = serde_json::Value::Null;
    for _ in 0..50 {
        writeln!(stdin, "collect").expect("stdin");
        events = next()["events"].clone();
        if events["sio4"] == expected && events["sio3"] == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing more comes (no second delivery).
    tokio::time::sleep(Duration::from_millis(300)).await;
    writeln!(stdin, "collect").expect("stdin");
    if events["sio4"] == expected && events["sio3"] == expected {
        events = next()["events"].clone();
    }
    assert_eq!(
        events,
        serde_json::json!({"sio4": expected, "sio3": expected}),
        "each page got its rooms' events and the namespace's, once"
    );
    writeln!(stdin, "exit").expect("stdin");
    drop(browser);
}

/// python-socketio's own client: default transports (it upgrades), namespaces `/` and `/ws`, an
/// acknowledged join; 60 s idle on the default heartbeat (25 s interval, 20 s timeout: two
/// pings) leave it connected on the same session, and then it gets its events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_socketio_client_stays_connected_through_60_s_idle_and_gets_its_events() {
    let server = TestServer::start(&[]).await;
    let python = tokio::task::spawn_blocking(|| flask_socketio_python("new"))
        .await
        .expect("venv");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/python_socketio_client.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(format!("http://{}", server.addr))
        .arg("60")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python runs");
    let out = child.stdout.take().expect("stdout");
    let mut stdin = child.stdin.take().expect("stdin");
    let _child = common::KillOnDrop(child);
    let lines = json_lines(out);
    let next = |within: u64| {
        tokio::task::block_in_place(|| {
            lines
                .recv_timeout(Duration::from_secs(within))
                .expect("the python client said something in time")
        })
    };
    let ready = next(60);
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["transport"], "websocket", "it upgraded: {ready}");
    let idle = next(80);
    assert_eq!(
        idle,
        serde_json::json!({"idle_done": true, "sid": ready["sid"], "connected": true, "transport": "websocket"}),
        "still the same session after 60 s idle"
    );
    let mut publisher = Client::join(&server, Serializer::Json).await;
    publish(
        &mut publisher,
        "socketio._.room.news.update",
        vec![Value::UInt(5)],
    )
    .await;
    publish(
        &mut publisher,
        "socketio.ws.all.backup_running",
        vec![Value::Bool(false)],
    )
    .await;
    assert_eq!(
        next(10),
        serde_json::json!({"ns": "/", "event": "update", "args": [5]})
    );
    assert_eq!(
        next(10),
        serde_json::json!({"ns": "/ws", "event": "backup_running", "args": [false]})
    );
    writeln!(stdin, "exit").expect("stdin");
    server.shutdown().await;
}

/// A WebSocket client that stops answering pings is dropped after the ping timeout, and the
/// session is gone from the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_that_stops_answering_pings_is_dropped() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let server = TestServer::start(&[
        ("WEBSOCKET_PING_INTERVAL", "300ms"),
        ("WEBSOCKET_PING_TIMEOUT", "300ms"),
    ])
    .await;
    let mut ws = socketio_websocket(server.addr).await;
    let started = std::time::Instant::now();
    let mut pings = 0;
    // Read without answering: pings come, then the server closes.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(frame) = ws.next().await {
            match frame {
                Ok(Message::Text(t)) if t.as_str() == "2" => pings += 1,
                Ok(Message::Close(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server dropped the silent client");
    assert!(pings >= 1, "it was pinged first");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "not before interval + timeout"
    );
    let sessions = "wampd_sessions{protocol=\"socketio\"}";
    let mut left = 1.0;
    for _ in 0..20 {
        left = metric(&scrape(server.addr).await, sessions);
        if left == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0.0);
    server.shutdown().await;
}
