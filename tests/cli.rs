//! The `wampd` binary as an operator runs it: configuration from files and environment, error
//! messages, start-up logging, and SIGTERM handling.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use common::{connect_ws, dict};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wampd_proto::wamp::{codec, Message, Serializer};

fn wampd(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wampd"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir)
        .args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    wampd(dir, args, vars).output().expect("wampd runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn env_files_load_in_order_and_the_real_environment_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (file, realm) in [
        (".env-app", "from.app"),
        (".env-app.local", "from.local"),
        (".env-app.dev", "from.dev"),
        (".env-app.dev.local", "from.dev.local"),
    ] {
        std::fs::write(dir.path().join(file), format!("WEBSOCKET_REALMS={realm}\n"))
            .expect("write");
    }
    let prod = run(dir.path(), &["config:check"], &[]);
    assert!(prod.status.success(), "{}", stderr(&prod));
    assert!(
        stdout(&prod).contains("WEBSOCKET_REALMS = from.local"),
        "{}",
        stdout(&prod)
    );
    let dev = run(dir.path(), &["config:check", "--env=dev"], &[]);
    assert!(
        stdout(&dev).contains("WEBSOCKET_REALMS = from.dev.local"),
        "{}",
        stdout(&dev)
    );
    let real = run(
        dir.path(),
        &["config:check", "--env=dev"],
        &[("WEBSOCKET_REALMS", "from.env")],
    );
    assert!(
        stdout(&real).contains("WEBSOCKET_REALMS = from.env"),
        "{}",
        stdout(&real)
    );
    assert!(stdout(&real).contains("configuration OK"));
}

#[test]
fn oro_aliases_are_read_and_secrets_are_masked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        dir.path(),
        &["config:check"],
        &[
            ("ORO_WEBSOCKET_SERVER_DSN", "//127.0.0.1:9123"),
            (
                "ORO_WEBSOCKET_BACKEND_DSN",
                "ssl://ws.example.com:443/ws?context_options[passphrase]=hunter2&context_options[verify_peer]=false",
            ),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("127.0.0.1:9123"), "{text}");
    assert!(text.contains("ws.example.com"), "{text}");
    assert!(!text.contains("hunter2"), "secret leaked: {text}");
}

#[test]
fn misspelled_variables_are_warned_about_with_the_nearest_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        dir.path(),
        &["config:check"],
        &[
            ("WEBSOCKET_SERVER_DSN", "//127.0.0.1:9124"),
            ("WEBSOCKET_MAX_CONECTIONS", "5"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("WEBSOCKET_MAX_CONECTIONS is not a wampd variable")
            && err.contains("did you mean WEBSOCKET_MAX_CONNECTIONS?"),
        "{err}"
    );
    let clean = run(
        dir.path(),
        &["config:check"],
        &[("WEBSOCKET_SERVER_DSN", "//127.0.0.1:9124")],
    );
    assert!(!stderr(&clean).contains("warning"), "{}", stderr(&clean));
}

#[test]
fn invalid_values_stop_start_up_naming_variable_value_and_expectation() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (var, value, expected) in [
        ("WEBSOCKET_PING_INTERVAL", "soon", "duration"),
        ("WEBSOCKET_MAX_CONNECTIONS", "-3", "whole number"),
        ("WEBSOCKET_LOG_FORMAT", "xml", "json"),
        ("WEBSOCKET_URI_CHECK", "lenient", "strict"),
        ("WEBSOCKET_SERVER_DSN", "//host:99999", "DSN"),
        ("WEBSOCKET_SERVER_DSN", "foo", "a DSN with a host"),
    ] {
        for args in [&["config:check"][..], &["websocket:server"][..]] {
            let out = run(dir.path(), args, &[(var, value)]);
            assert!(!out.status.success(), "{var}={value} accepted by {args:?}");
            let err = stderr(&out);
            assert!(
                err.contains(var) && err.contains(value) && err.contains(expected),
                "{err}"
            );
        }
    }
    // A blank secret would silently turn off what it guards: refused, named, not echoed.
    for var in [
        "ORO_SECRET",
        "WEBSOCKET_TICKET_SECRET",
        "WEBSOCKET_PUBLISH_SECRET",
    ] {
        let out = run(dir.path(), &["config:check"], &[(var, "   ")]);
        assert!(!out.status.success(), "{var}=' ' accepted");
        let err = stderr(&out);
        assert!(err.contains(var) && err.contains("not blank"), "{err}");
    }
    let out = run(
        dir.path(),
        &["websocket:server"],
        &[("ORO_WEBSOCKET_SERVER_DSN", "")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("not configured") && err.contains("ORO_WEBSOCKET_SERVER_DSN"),
        "{err}"
    );

    let out = run(dir.path(), &["websocket:server", "-p", "http"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("numeric"), "{}", stderr(&out));
}

#[test]
fn help_lists_the_symfony_style_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(dir.path(), &["websocket:server", "--help"], &[]);
    let text = stdout(&out);
    for option in ["--env", "--verbose", "--quiet", "--host", "--port"] {
        assert!(text.contains(option), "{option} missing from:\n{text}");
    }
}

/// Spawns the server and returns it with its bound address, read from the start-up log line.
fn spawn_server(
    dir: &Path,
    args: &[&str],
    vars: &[(&str, &str)],
) -> (Child, String, mpsc::Receiver<String>) {
    common::spawn_wampd(wampd(dir, args, vars))
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wampd did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn sigterm_says_goodbye_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, addr, _logs) = spawn_server(
        dir.path(),
        &["websocket:server", "--env=prod", "-vv"],
        &[("WEBSOCKET_SERVER_DSN", "//127.0.0.1:0")],
    );
    let mut ws = connect_ws(&format!("ws://{addr}/ws"), Some("wamp.2.json"))
        .await
        .expect("connects");
    ws.send_json(r#"[1,"realm1",{"roles":{"subscriber":{}}}]"#)
        .await;
    let welcome = next_wamp(&mut ws).await;
    assert!(matches!(welcome, Message::Welcome { .. }), "{welcome:?}");

    terminate(&child);
    match next_wamp(&mut ws).await {
        Message::Goodbye { reason, .. } => assert_eq!(reason, "wamp.close.system_shutdown"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    ws.send_json(r#"[6,{},"wamp.close.goodbye_and_out"]"#).await;
    let status =
        tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(15)))
            .await
            .expect("wait");
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn host_and_port_options_override_the_dsn_and_json_logs_are_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let (mut child, addr, logs) = spawn_server(
        dir.path(),
        &[
            "websocket:server",
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-vv",
        ],
        &[
            ("WEBSOCKET_SERVER_DSN", "//127.0.0.1:1"),
            ("WEBSOCKET_LOG_FORMAT", "json"),
        ],
    );
    assert_eq!(addr, format!("127.0.0.1:{port}"));
    let mut ws = connect_ws(&format!("ws://{addr}/"), Some("wamp.2.msgpack"))
        .await
        .expect("connects");
    ws.send(WsMessage::Binary(codec::encode(
        Serializer::MsgPack,
        &Message::Hello {
            realm: "realm1".into(),
            details: dict(vec![]),
        },
    )))
    .await
    .expect("send");
    assert!(matches!(next_wamp(&mut ws).await, Message::Welcome { .. }));
    terminate(&child);
    let status =
        tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(15)))
            .await
            .expect("wait");
    assert!(status.success());
    let lines: Vec<String> = logs.try_iter().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(parsed.get("level").is_some(), "{line}");
    }
    assert!(
        lines.iter().any(|l| l.contains("session joined")),
        "{lines:?}"
    );
}

trait SendJson {
    async fn send_json(&mut self, text: &str);
}

impl SendJson for common::Ws {
    async fn send_json(&mut self, text: &str) {
        self.send(WsMessage::Text(text.to_owned().into()))
            .await
            .expect("send");
    }
}

async fn next_wamp(ws: &mut common::Ws) -> Message {
    loop {
        let next = tokio::time::timeout(common::WAIT, ws.next())
            .await
            .expect("message in time");
        match next {
            Some(Ok(WsMessage::Text(t))) => {
                return codec::decode(Serializer::Json, t.as_bytes()).expect("json")
            }
            Some(Ok(WsMessage::Binary(b))) => {
                return codec::decode(Serializer::MsgPack, &b).expect("msgpack")
            }
            Some(Ok(_)) => continue,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

/// Issue 22: `--env=prod` without `-v` shows warnings only, but the operator still sees the
/// start-up and where the server listens (and its stop); `-q` hides even those.
#[test]
fn a_prod_start_without_v_prints_where_it_listens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_wampd"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("WEBSOCKET_SERVER_DSN", "//127.0.0.1:0")
        .env("WEBSOCKET_BACKEND_DSN", "")
        .current_dir(dir.path())
        .args(["websocket:server", "--env=prod"]);
    // spawn_wampd waits for the "Launching wampd on ADDR" line.
    let (mut child, addr, _logs) = common::spawn_wampd(command);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let _ = child.kill();
    let _ = child.wait();

    let mut quiet = Command::new(env!("CARGO_BIN_EXE_wampd"))
        .env_clear()
        .env("WEBSOCKET_SERVER_DSN", "//127.0.0.1:0")
        .env("WEBSOCKET_BACKEND_DSN", "")
        .current_dir(dir.path())
        .args(["websocket:server", "--env=prod", "-q"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("wampd runs");
    std::thread::sleep(Duration::from_millis(700));
    let _ = quiet.kill();
    let out = quiet.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("Launching"), "-q printed: {stdout}");
}

/// Issue 22: `config:check` does the TLS set-up start-up does, so it fails where start-up would:
/// an `ssl://` server DSN without a certificate, with one that does not exist, or with one that
/// is not a certificate; a good certificate passes.
#[test]
fn config_check_refuses_a_tls_config_that_start_up_would_refuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.pem");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").expect("write");
    let (cert, key) = common::self_signed_certificate(dir.path());
    let dsn = |cert: &Path, key: &Path| {
        format!(
            "ssl://127.0.0.1:0?context_options[local_cert]={}&context_options[local_pk]={}",
            cert.display(),
            key.display()
        )
    };
    for (value, expected) in [
        ("ssl://127.0.0.1:0".to_owned(), "local_cert"),
        (dsn(&missing, &key), "missing.pem"),
        (dsn(&junk, &key), "junk.pem\" is not a"),
    ] {
        let out = run(
            dir.path(),
            &["config:check"],
            &[("WEBSOCKET_SERVER_DSN", value.as_str())],
        );
        let err = stderr(&out);
        assert!(!out.status.success(), "{value} passed config:check");
        assert!(
            err.contains("WEBSOCKET_SERVER_DSN") && err.contains(expected),
            "{err}"
        );
    }
    let good = run(
        dir.path(),
        &["config:check"],
        &[("WEBSOCKET_SERVER_DSN", dsn(&cert, &key).as_str())],
    );
    assert!(good.status.success(), "{}", stderr(&good));
}
