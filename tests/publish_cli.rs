//! `wampd publish` as an operator runs it: the real binary, with the environment cleared except
//! `PATH`, against routers running in the test process, checked by a WAMP subscriber.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{Client, TestServer};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use wampd::config::Settings;
use wampd::server::Server;
use wampd_proto::wamp::{Dict, Message, Serializer, Value};

/// `wampd publish ARGS...` run in `dir` with only `PATH` and `vars` in its environment.
fn publish_command(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_wampd"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir)
        .arg("publish")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

async fn finish(child: tokio::process::Child) -> Output {
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("wampd publish finishes")
        .expect("wampd publish runs")
}

async fn publish(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let child = publish_command(dir, args, vars)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wampd starts");
    finish(child).await
}

async fn publish_stdin(dir: &Path, args: &[&str], vars: &[(&str, &str)], input: &str) -> Output {
    let mut child = publish_command(dir, args, vars)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wampd starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.as_bytes())
        .await
        .expect("write stdin");
    drop(stdin);
    finish(child).await
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failure: the exit status and exactly one line on stderr containing every `needle`.
fn assert_fails(o: &Output, status: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(status),
        "stdout: {}\nstderr: {err}",
        stdout(o)
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in {err:?}");
    }
}

fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

fn tcp_dsn(addr: SocketAddr) -> String {
    format!("tcp://{addr}")
}

/// The next EVENT: (publication, details, args, kwargs).
async fn next_event(client: &mut Client) -> (u64, Dict, Vec<Value>, Dict) {
    match client.recv().await {
        Message::Event {
            publication,
            details,
            args,
            kwargs,
            ..
        } => (publication, details, args, kwargs),
        other => panic!("expected EVENT, got {other:?}"),
    }
}

fn s(text: &str) -> Value {
    Value::from(text)
}

#[tokio::test]
async fn rawsocket_json_and_msgpack_carry_args_kwargs_and_options() {
    let server = TestServer::start(&[]).await;
    let mut sub = Client::join(&server, Serializer::MsgPack).await;
    sub.subscribe("com.example.news").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dsn = tcp_dsn(server.addr);

    let out = publish(
        dir.path(),
        &[
            "com.example.news",
            r#"[1, "two", {"three": 3}, -4, 5.5, null]"#,
            "--kwargs",
            r#"{"color": "orange", "sizes": [23, 42]}"#,
            "-o",
            "disclose_me=true",
            "--serializer",
            "json",
            "--dsn",
            &dsn,
        ],
        &[],
    )
    .await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "", "nothing printed without --acknowledge");
    let (_, details, args, kwargs) = next_event(&mut sub).await;
    assert_eq!(
        args,
        vec![
            Value::UInt(1),
            s("two"),
            Value::Dict([("three".to_string(), Value::UInt(3))].into()),
            Value::Int(-4),
            Value::Float(5.5),
            Value::Null,
        ]
    );
    assert_eq!(kwargs.get("color"), Some(&s("orange")));
    assert_eq!(
        kwargs.get("sizes"),
        Some(&Value::List(vec![Value::UInt(23), Value::UInt(42)]))
    );
    assert!(
        details.contains_key("publisher"),
        "disclose_me was passed through: {details:?}"
    );

    // MessagePack is the RawSocket default; a single JSON value is wrapped into [value].
    let out = publish(
        dir.path(),
        &["com.example.news", "\"hello\"", "--dsn", &dsn],
        &[],
    )
    .await;
    assert_ok(&out);
    let (_, details, args, kwargs) = next_event(&mut sub).await;
    assert_eq!(args, vec![s("hello")]);
    assert!(kwargs.is_empty());
    assert!(!details.contains_key("publisher"));

    // Options reach the broker: an event for another role is not delivered to us.
    let out = publish(
        dir.path(),
        &[
            "com.example.news",
            "1",
            "-o",
            r#"eligible_authrole=["nobody"]"#,
            "--acknowledge",
            "--dsn",
            &dsn,
        ],
        &[],
    )
    .await;
    assert_ok(&out);
    sub.expect_silence(Duration::from_millis(300)).await;
    // A topic without arguments.
    let out = publish(dir.path(), &["com.example.news", "--dsn", &dsn], &[]).await;
    assert_ok(&out);
    let (_, _, args, kwargs) = next_event(&mut sub).await;
    assert!(args.is_empty() && kwargs.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_transport_uses_the_dsn_path() {
    let server = TestServer::start(&[]).await;
    let mut sub = Client::join(&server, Serializer::Json).await;
    sub.subscribe("com.example.ws").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dsn = format!("tcp://{}/ws", server.addr);
    for (serializer, value) in [("json", "1"), ("msgpack", "2")] {
        let out = publish(
            dir.path(),
            &[
                "com.example.ws",
                &format!("[{value}]"),
                "--transport",
                "websocket",
                "--serializer",
                serializer,
                "--acknowledge",
                "--dsn",
                &dsn,
            ],
            &[],
        )
        .await;
        assert_ok(&out);
        let (_, _, args, _) = next_event(&mut sub).await;
        assert_eq!(args, vec![Value::UInt(value.parse().expect("number"))]);
    }
    // JSON is the WebSocket default.
    let out = publish(
        dir.path(),
        &[
            "com.example.ws",
            "[3]",
            "--transport",
            "websocket",
            "--dsn",
            &dsn,
        ],
        &[],
    )
    .await;
    assert_ok(&out);
    let (_, _, args, _) = next_event(&mut sub).await;
    assert_eq!(args, vec![Value::UInt(3)]);
    server.shutdown().await;
}

#[tokio::test]
async fn acknowledge_prints_the_publication_id() {
    let server = TestServer::start(&[]).await;
    let mut sub = Client::join(&server, Serializer::Json).await;
    sub.subscribe("com.example.ack").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dsn = tcp_dsn(server.addr);
    let out = publish(
        dir.path(),
        &["com.example.ack", "[1]", "--acknowledge", "--dsn", &dsn],
        &[],
    )
    .await;
    assert_ok(&out);
    let printed: u64 = stdout(&out)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("a publication ID on stdout: {:?}", stdout(&out)));
    let (publication, _, _, _) = next_event(&mut sub).await;
    assert_eq!(printed, publication);
    assert_eq!(stderr(&out), "");

    // --quiet prints nothing.
    let out = publish(
        dir.path(),
        &["com.example.ack", "--acknowledge", "-q", "--dsn", &dsn],
        &[],
    )
    .await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "");
    next_event(&mut sub).await;
    server.shutdown().await;
}

#[tokio::test]
async fn stream_mode_publishes_every_line_in_order_on_one_session() {
    let server = TestServer::start(&[]).await;
    let mut sub = Client::join(&server, Serializer::MsgPack).await;
    sub.subscribe("com.example.stream").await;
    sub.subscribe("com.example.other").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dsn = tcp_dsn(server.addr);

    // Arrays for TOPIC, objects naming their own topic, blank lines skipped, CRLF tolerated.
    let mut input = String::new();
    for i in 0..100 {
        if i % 3 == 0 {
            input.push_str(&format!(
                "{{\"topic\": \"com.example.other\", \"args\": [{i}], \"kwargs\": {{\"n\": {i}}}}}\r\n"
            ));
        } else {
            input.push_str(&format!("[{i}]\n"));
        }
        if i % 10 == 0 {
            input.push_str("\n   \n");
        }
    }
    let out = publish_stdin(
        dir.path(),
        &["com.example.stream", "--stdin", "--dsn", &dsn],
        &[],
        &input,
    )
    .await;
    assert_ok(&out);
    assert_eq!(stderr(&out).trim_end(), "published 100 events");
    assert_eq!(stdout(&out), "");
    for i in 0..100u64 {
        let (_, _, args, kwargs) = next_event(&mut sub).await;
        assert_eq!(args, vec![Value::UInt(i)], "event {i} in order");
        if i % 3 == 0 {
            assert_eq!(kwargs.get("n"), Some(&Value::UInt(i)));
        }
    }
    sub.expect_silence(Duration::from_millis(200)).await;

    // Acknowledged: one ID per line on stdout.
    let input: String = (0..10).map(|i| format!("[{i}]\n")).collect();
    let out = publish_stdin(
        dir.path(),
        &[
            "com.example.stream",
            "--stdin",
            "--acknowledge",
            "--dsn",
            &dsn,
        ],
        &[],
        &input,
    )
    .await;
    assert_ok(&out);
    let ids: Vec<u64> = stdout(&out)
        .lines()
        .map(|l| l.parse().expect("an ID per line"))
        .collect();
    assert_eq!(ids.len(), 10);
    for (i, id) in ids.iter().enumerate() {
        let (publication, _, args, _) = next_event(&mut sub).await;
        assert_eq!((publication, args), (*id, vec![Value::UInt(i as u64)]));
    }
    assert_eq!(stderr(&out).trim_end(), "published 10 events");
    server.shutdown().await;
}

#[tokio::test]
async fn stream_mode_stops_at_a_bad_line_and_names_it() {
    let server = TestServer::start(&[]).await;
    let mut sub = Client::join(&server, Serializer::Json).await;
    sub.subscribe("com.example.bad").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dsn = tcp_dsn(server.addr);
    let input = "[1]\n[2]\nnot json\n[4]\n";
    for acknowledge in [true, false] {
        let mut args = vec!["com.example.bad", "--stdin", "--dsn", &dsn];
        if acknowledge {
            args.push("--acknowledge");
        }
        let out = publish_stdin(dir.path(), &args, &[], input).await;
        assert_fails(
            &out,
            1,
            &["line 3", "invalid JSON", "published 2 events before it"],
        );
        // The lines before it were delivered, the ones after it were not.
        for i in [1u64, 2] {
            let (_, _, args, _) = next_event(&mut sub).await;
            assert_eq!(args, vec![Value::UInt(i)], "acknowledge={acknowledge}");
        }
        sub.expect_silence(Duration::from_millis(300)).await;
    }
    // A router refusal on an acknowledged line names the line and the URI.
    let out = publish_stdin(
        dir.path(),
        &["com.example.bad", "--stdin", "--acknowledge", "--dsn", &dsn],
        &[],
        "[1]\n{\"topic\": \"bad topic\"}\n[3]\n",
    )
    .await;
    assert_fails(&out, 1, &["line 2", "wamp.error.invalid_uri"]);
    let (_, _, args, _) = next_event(&mut sub).await;
    assert_eq!(args, vec![Value::UInt(1)]);
    sub.expect_silence(Duration::from_millis(300)).await;
    // An array line needs TOPIC.
    let out = publish_stdin(dir.path(), &["--stdin", "--dsn", &dsn], &[], "[1]\n").await;
    assert_fails(&out, 1, &["line 1", "no topic"]);
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_arguments_fail_before_connecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens there: exit status 2 shows no connection was attempted.
    let dsn = format!("tcp://127.0.0.1:{}", free_port());
    let out = publish(dir.path(), &["t", "[1,", "--dsn", &dsn], &[]).await;
    assert_fails(&out, 2, &["JSON-ARGS", "invalid JSON"]);
    let out = publish(dir.path(), &["t", "not-json", "--dsn", &dsn], &[]).await;
    assert_fails(&out, 2, &["JSON-ARGS", "invalid JSON"]);
    let out = publish(dir.path(), &["t", "--kwargs", "[1]", "--dsn", &dsn], &[]).await;
    assert_fails(&out, 2, &["--kwargs", "expected a JSON object"]);
    let out = publish(dir.path(), &["t", "-o", "novalue", "--dsn", &dsn], &[]).await;
    assert_fails(&out, 2, &["KEY=VALUE"]);
    let out = publish(dir.path(), &["t", "--dsn", "unix:/run/wampd.sock"], &[]).await;
    assert_fails(&out, 2, &["--dsn", "scheme"]);
    // clap's own usage errors
    let out = publish(dir.path(), &["--dsn", &dsn], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("TOPIC"), "{}", stderr(&out));
}

#[tokio::test]
async fn router_errors_are_reported_with_their_uri() {
    let server = TestServer::start(&[]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dsn = tcp_dsn(server.addr);
    let out = publish(
        dir.path(),
        &["bad topic", "[1]", "--acknowledge", "--dsn", &dsn],
        &[],
    )
    .await;
    assert_fails(
        &out,
        1,
        &["refused the publication", "wamp.error.invalid_uri"],
    );
    let out = publish(
        dir.path(),
        &["com.example.t", "--realm", "no.such.realm", "--dsn", &dsn],
        &[],
    )
    .await;
    assert_fails(&out, 1, &["aborted", "wamp.error.no_such_realm"]);
    server.shutdown().await;
}

#[tokio::test]
async fn events_larger_than_the_router_accepts_are_reported() {
    // `wampd publish` on this machine is a backend, which has its own (larger) limit.
    let server = TestServer::start(&[
        ("WEBSOCKET_MAX_MESSAGE_SIZE", "1KiB"),
        ("WEBSOCKET_BACKEND_MAX_MESSAGE_SIZE", "1KiB"),
    ])
    .await;
    let mut sub = Client::join(&server, Serializer::Json).await;
    sub.subscribe("com.example.big").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dsn = tcp_dsn(server.addr);
    let big = format!("\"{}\"", "x".repeat(4000));
    // RawSocket: the router announced its limit in the handshake; nothing is sent.
    let out = publish(dir.path(), &["com.example.big", &big, "--dsn", &dsn], &[]).await;
    assert_fails(&out, 1, &["4", "exceeds the router's limit of 1024 bytes"]);
    // WebSocket: the router closes with 1009, which is not mistaken for a clean GOODBYE.
    let out = publish(
        dir.path(),
        &[
            "com.example.big",
            &big,
            "--transport",
            "websocket",
            "--dsn",
            &dsn,
        ],
        &[],
    )
    .await;
    assert_fails(&out, 1, &["1009"]);
    sub.expect_silence(Duration::from_millis(200)).await;
    server.shutdown().await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test]
async fn connection_refused_fails_with_the_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let dsn = format!("tcp://127.0.0.1:{port}");
    for transport in ["rawsocket", "websocket"] {
        let out = publish(
            dir.path(),
            &["t", "--transport", transport, "--dsn", &dsn],
            &[],
        )
        .await;
        assert_fails(&out, 1, &["cannot connect", &format!("127.0.0.1:{port}")]);
    }
}

#[tokio::test]
async fn the_dsn_comes_from_env_files_and_the_oro_alias() {
    let server = TestServer::start(&[("WEBSOCKET_REALMS", "realm1,com.example.app")]).await;
    let mut sub = Client::join(&server, Serializer::Json).await;
    sub.subscribe("com.example.env").await;
    let dsn = tcp_dsn(server.addr);
    let cwd = tempfile::tempdir().expect("tempdir");
    let env_dir = tempfile::tempdir().expect("tempdir");

    // .env-app in --env-dir, the realm from WEBSOCKET_REALMS there too (its first entry).
    std::fs::write(
        env_dir.path().join(".env-app"),
        format!("WEBSOCKET_BACKEND_DSN={dsn}\nWEBSOCKET_REALMS=realm1,other\n"),
    )
    .expect("write");
    let dir_arg = env_dir.path().to_str().expect("utf-8 path");
    let out = publish(
        cwd.path(),
        &["com.example.env", "[1]", "--env-dir", dir_arg],
        &[],
    )
    .await;
    assert_ok(&out);
    let (_, _, args, _) = next_event(&mut sub).await;
    assert_eq!(args, vec![Value::UInt(1)]);

    // .env-app.<env>.local overrides per --env, like the server; here it names a realm this
    // router does not serve, which proves it was read.
    std::fs::write(
        env_dir.path().join(".env-app.dev.local"),
        "WEBSOCKET_REALMS=nowhere\n",
    )
    .expect("write");
    let out = publish(
        cwd.path(),
        &["com.example.env", "--env-dir", dir_arg, "--env", "dev"],
        &[],
    )
    .await;
    assert_fails(&out, 1, &["wamp.error.no_such_realm"]);

    // Oro's variable name, from the real environment.
    let out = publish(
        cwd.path(),
        &["com.example.env", "[2]"],
        &[("ORO_WEBSOCKET_BACKEND_DSN", &dsn)],
    )
    .await;
    assert_ok(&out);
    let (_, _, args, _) = next_event(&mut sub).await;
    assert_eq!(args, vec![Value::UInt(2)]);

    // The real environment wins over the files, and WEBSOCKET_* over ORO_*.
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    let out = publish(
        cwd.path(),
        &["com.example.env", "[3]", "--env-dir", dir_arg],
        &[
            ("WEBSOCKET_BACKEND_DSN", &dsn),
            ("ORO_WEBSOCKET_BACKEND_DSN", &closed),
        ],
    )
    .await;
    assert_ok(&out);
    let (_, _, args, _) = next_event(&mut sub).await;
    assert_eq!(args, vec![Value::UInt(3)]);

    // --dsn wins over everything.
    let out = publish(
        cwd.path(),
        &["com.example.env", "[4]", "--dsn", &dsn],
        &[("WEBSOCKET_BACKEND_DSN", &closed)],
    )
    .await;
    assert_ok(&out);
    let (_, _, args, _) = next_event(&mut sub).await;
    assert_eq!(args, vec![Value::UInt(4)]);

    // Set but empty (Oro's stock .env-app): not configured, named.
    let out = publish(
        cwd.path(),
        &["com.example.env"],
        &[("ORO_WEBSOCKET_BACKEND_DSN", "")],
    )
    .await;
    assert_fails(&out, 2, &["ORO_WEBSOCKET_BACKEND_DSN is empty", "--dsn"]);
    let out = publish(
        cwd.path(),
        &["com.example.env"],
        &[("WEBSOCKET_BACKEND_DSN", "tcp://h:99999")],
    )
    .await;
    assert_fails(&out, 2, &["WEBSOCKET_BACKEND_DSN", "tcp://h:99999"]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_publish_secret_is_presented_and_publishing_still_works() {
    let server = TestServer::start(&[("WEBSOCKET_PUBLISH_SECRET", "s3cret")]).await;
    let mut sub = Client::join(&server, Serializer::Json).await;
    sub.subscribe("com.example.secret").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dsn = tcp_dsn(server.addr);
    for transport in ["rawsocket", "websocket"] {
        let out = publish(
            dir.path(),
            &[
                "com.example.secret",
                "[1]",
                "--acknowledge",
                "--authid",
                "deploy",
                "--transport",
                transport,
                "--dsn",
                &dsn,
            ],
            &[("WEBSOCKET_PUBLISH_SECRET", "s3cret")],
        )
        .await;
        assert_ok(&out);
        assert!(!stderr(&out).contains("s3cret"));
        let (_, _, args, _) = next_event(&mut sub).await;
        assert_eq!(args, vec![Value::UInt(1)]);
    }
    server.shutdown().await;
}

/// A router with a TLS listener and a plain backend listener (where the test's subscriber joins).
struct TlsRouter {
    tls: SocketAddr,
    plain: SocketAddr,
    stop: CancellationToken,
}

async fn start_tls_router(cert: &Path, key: &Path) -> TlsRouter {
    let server_dsn = format!(
        "ssl://127.0.0.1:0?context_options[local_cert]={}&context_options[local_pk]={}",
        cert.display(),
        key.display()
    );
    let env: HashMap<String, String> = [
        ("WEBSOCKET_SERVER_DSN", server_dsn.as_str()),
        ("WEBSOCKET_BACKEND_DSN", "tcp://127.0.0.1:0"),
        ("WEBSOCKET_SHUTDOWN_TIMEOUT", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let settings = Settings::from_env(&env).expect("settings");
    let server = Server::bind(&settings).await.expect("bind");
    let tls = server.local_addr().expect("addr");
    let plain = server.backend_addr().expect("a plain backend listener");
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move { server.run(signal.cancelled_owned()).await });
    TlsRouter { tls, plain, stop }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_follows_the_dsn_context_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = common::self_signed_certificate(dir.path());
    let router = start_tls_router(&cert, &key).await;
    let mut sub = Client::join_at(router.plain, Serializer::Json).await;
    sub.subscribe("com.example.tls").await;
    let base = format!("ssl://127.0.0.1:{}", router.tls.port());
    let cafile = format!("context_options[cafile]={}", cert.display());

    let mut n = 0u64;
    // Verified against the certificate as cafile, over RawSocket and WebSocket (wss).
    for (dsn, transport) in [
        (format!("{base}?{cafile}"), "rawsocket"),
        (format!("{base}/ws?{cafile}"), "websocket"),
        // The name as written in the certificate, checked via peer_name.
        (
            format!("{base}?{cafile}&context_options[peer_name]=localhost"),
            "rawsocket",
        ),
        // Verification off, PHP-style booleans.
        (
            format!(
                "{base}?context_options[verify_peer]=false&context_options[verify_peer_name]=0"
            ),
            "rawsocket",
        ),
        // A self-signed certificate allowed without a cafile.
        (
            format!(
                "tls://127.0.0.1:{}?context_options[allow_self_signed]=true",
                router.tls.port()
            ),
            "rawsocket",
        ),
    ] {
        n += 1;
        let value = n.to_string();
        let out = publish(
            dir.path(),
            &[
                "com.example.tls",
                &value,
                "--acknowledge",
                "--transport",
                transport,
                "--dsn",
                &dsn,
            ],
            &[],
        )
        .await;
        assert!(
            out.status.success(),
            "{dsn} over {transport}: {}",
            stderr(&out)
        );
        let (_, _, args, _) = next_event(&mut sub).await;
        assert_eq!(args, vec![Value::UInt(n)], "{dsn}");
    }

    // Without a cafile the self-signed certificate is not trusted.
    let out = publish(
        dir.path(),
        &["com.example.tls", "--acknowledge", "--dsn", &base],
        &[],
    )
    .await;
    assert_fails(&out, 1, &["TLS handshake", "certificate"]);
    // A name the certificate does not carry.
    let wrong_name = format!("{base}?{cafile}&context_options[peer_name]=ws.example.com");
    let out = publish(
        dir.path(),
        &["com.example.tls", "--acknowledge", "--dsn", &wrong_name],
        &[],
    )
    .await;
    assert_fails(&out, 1, &["TLS handshake", "certificate"]);
    // A plain client on the TLS port gets nowhere, and says so on one line.
    let plain = format!("tcp://127.0.0.1:{}", router.tls.port());
    let out = publish(
        dir.path(),
        &["com.example.tls", "--timeout", "2s", "--dsn", &plain],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim_end().lines().count(),
        1,
        "{}",
        stderr(&out)
    );
    // Unusable context options are refused before connecting.
    let bad = format!("{base}?context_options[verify_peer]=maybe");
    let out = publish(dir.path(), &["com.example.tls", "--dsn", &bad], &[]).await;
    assert_fails(&out, 2, &["context_options[verify_peer]", "boolean"]);
    sub.expect_silence(Duration::from_millis(200)).await;
    router.stop.cancel();
}
