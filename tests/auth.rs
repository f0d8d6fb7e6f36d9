//! Authentication over real sockets: wampd tickets in HELLO (also with autobahn-python) and on
//! the WebSocket upgrade, topic-restricted tickets, anonymous on and off, and `wampd ticket`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{connect_ws, dict, Client, TestServer};
use wampd_proto::ticket::{mint, Claims};
use wampd_proto::wamp::{Dict, Message, Serializer, Value};

const SECRET: &str = "correct horse battery staple";

fn token(authid: &str, role: &str, ttl: i64, topics: Option<Vec<&str>>) -> String {
    let claims = Claims {
        authid: authid.into(),
        authrole: role.into(),
        expires: common::unix_now() + ttl,
        topics: topics.map(|t| t.into_iter().map(str::to_owned).collect()),
    };
    mint(SECRET.as_bytes(), &claims)
}

/// HELLO offering `methods`, answering a ticket CHALLENGE with `ticket`.
async fn hello_ticket(server: &TestServer, methods: Vec<&str>, ticket: &str) -> (Client, Message) {
    let mut client = Client::open(server, Serializer::Json).await;
    let details = dict(vec![(
        "authmethods",
        Value::List(methods.into_iter().map(Value::from).collect()),
    )]);
    client
        .send(&Message::Hello {
            realm: "realm1".into(),
            details,
        })
        .await;
    let mut reply = client.recv().await;
    if let Message::Challenge { authmethod, .. } = &reply {
        assert_eq!(authmethod, "ticket");
        client
            .send(&Message::Authenticate {
                signature: ticket.into(),
                extra: Dict::new(),
            })
            .await;
        reply = client.recv().await;
    }
    (client, reply)
}

#[tokio::test]
async fn ticket_authentication_in_hello() {
    let server = TestServer::start(&[("WEBSOCKET_TICKET_SECRET", SECRET)]).await;
    let (_c, reply) = hello_ticket(&server, vec!["ticket"], &token("42", "user", 300, None)).await;
    match reply {
        Message::Welcome { details, .. } => {
            assert_eq!(details.get("authid"), Some(&Value::from("42")));
            assert_eq!(details.get("authrole"), Some(&Value::from("user")));
            assert_eq!(details.get("authmethod"), Some(&Value::from("ticket")));
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
    let tampered = {
        let good = token("42", "user", 300, None);
        let (claims, sig) = good.split_once('.').expect("two parts");
        let forged = mint(
            b"another secret",
            &Claims {
                authid: "1".into(),
                authrole: "admin".into(),
                expires: common::unix_now() + 300,
                topics: None,
            },
        );
        format!(
            "{}.{sig}",
            forged.split_once('.').map(|(c, _)| c).unwrap_or(claims)
        )
    };
    for (name, bad) in [
        ("expired", token("42", "user", -60, None)),
        ("tampered", tampered),
        ("garbage", "not-a-ticket".to_string()),
        (
            "wrong secret",
            mint(
                b"wrong",
                &Claims {
                    authid: "x".into(),
                    authrole: "y".into(),
                    expires: common::unix_now() + 60,
                    topics: None,
                },
            ),
        ),
    ] {
        let (mut client, reply) = hello_ticket(&server, vec!["ticket"], &bad).await;
        match reply {
            Message::Abort { reason, .. } => {
                assert_eq!(reason, "wamp.error.authentication_failed", "{name}")
            }
            other => panic!("{name}: expected ABORT, got {other:?}"),
        }
        let _ = client.expect_close().await;
    }
    // Anonymous is still allowed by default, and preferred in the client's order.
    let (_c, reply) = hello_ticket(&server, vec!["anonymous", "ticket"], "unused").await;
    assert!(
        matches!(reply, Message::Welcome { details, .. } if details.get("authmethod") == Some(&Value::from("anonymous")))
    );
    let m = common::scrape(server.addr).await;
    assert_eq!(
        common::metric(&m, "wampd_authentication_failures_total"),
        4.0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn anonymous_can_be_switched_off() {
    let server = TestServer::start(&[
        ("WEBSOCKET_TICKET_SECRET", SECRET),
        ("WEBSOCKET_ANONYMOUS", "false"),
    ])
    .await;
    let mut c = Client::open(&server, Serializer::Json).await;
    c.hello("realm1").await;
    let (seen, _) = c.expect_close().await;
    assert!(
        matches!(seen.first(), Some(Message::Abort { reason, .. }) if reason == "wamp.error.no_matching_auth_method")
    );
    let (_c, reply) = hello_ticket(
        &server,
        vec!["anonymous", "ticket"],
        &token("7", "user", 60, None),
    )
    .await;
    assert!(
        matches!(reply, Message::Welcome { .. }),
        "falls through to ticket"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn ticket_topics_restrict_subscriptions() {
    let server = TestServer::start(&[("WEBSOCKET_TICKET_SECRET", SECRET)]).await;
    let t = token(
        "42",
        "user",
        300,
        Some(vec!["com.app.user.42.", "com.app.news"]),
    );
    let (mut c, reply) = hello_ticket(&server, vec!["ticket"], &t).await;
    assert!(matches!(reply, Message::Welcome { .. }));
    c.subscribe("com.app.user.42.inbox").await;
    c.subscribe("com.app.news").await;
    for (topic, options) in [
        ("com.app.user.7.inbox", Dict::new()),
        ("com.app.", dict(vec![("match", Value::from("prefix"))])),
        (
            "com.app.user..inbox",
            dict(vec![("match", Value::from("wildcard"))]),
        ),
    ] {
        c.send(&Message::Subscribe {
            request: 99,
            options,
            topic: topic.into(),
        })
        .await;
        match c.recv().await {
            Message::Error { error, .. } => {
                assert_eq!(error, "wamp.error.not_authorized", "{topic}")
            }
            other => panic!("{topic}: expected ERROR, got {other:?}"),
        }
    }
    let m = common::scrape(server.addr).await;
    assert_eq!(
        common::metric(
            &m,
            "wampd_authorization_denials_total{action=\"subscribe\"}"
        ),
        3.0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_ticket_on_the_upgrade_authenticates_the_session() {
    let server = TestServer::start(&[("WEBSOCKET_TICKET_SECRET", SECRET)]).await;
    let t = token("9", "browser", 60, None);
    let url = format!("ws://{}/ws?ticket={t}", server.addr);
    let ws = connect_ws(&url, Some("wamp.2.json"))
        .await
        .expect("connects");
    let mut c = Client::over(ws, Serializer::Json);
    c.hello("realm1").await;
    match c.recv().await {
        Message::Welcome { details, .. } => {
            assert_eq!(details.get("authid"), Some(&Value::from("9")));
            assert_eq!(details.get("authmethod"), Some(&Value::from("ticket")));
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
    let url = format!(
        "ws://{}/ws?ticket={}",
        server.addr,
        token("9", "browser", -10, None)
    );
    match connect_ws(&url, Some("wamp.2.json")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wampd_ticket_mints_what_autobahn_python_presents() {
    let server = TestServer::start(&[("WEBSOCKET_TICKET_SECRET", SECRET)]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_wampd"))
        .env_clear()
        .env("WEBSOCKET_TICKET_SECRET", SECRET)
        .current_dir(dir.path())
        .args([
            "ticket", "--authid", "alice", "--role", "editor", "--ttl", "2m", "--topic", "com.app.",
        ])
        .output()
        .expect("wampd runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let minted = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let no_secret = Command::new(env!("CARGO_BIN_EXE_wampd"))
        .env_clear()
        .current_dir(dir.path())
        .args(["ticket", "--authid", "a", "--role", "b"])
        .output()
        .expect("wampd runs");
    assert!(!no_secret.status.success());
    assert!(String::from_utf8_lossy(&no_secret.stderr).contains("WEBSOCKET_TICKET_SECRET"));

    let python = tokio::task::spawn_blocking(common::autobahn_python)
        .await
        .expect("venv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/autobahn_ticket.py");
    for serializer in ["json", "msgpack"] {
        let output = tokio::process::Command::new(&python)
            .arg(&script)
            .arg(server.url())
            .args([serializer, &minted])
            .output()
            .await
            .expect("script runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("OK alice editor ticket"),
            "{serializer}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(server.url())
        .args(["json", "forged.token"])
        .output()
        .await
        .expect("script runs");
    assert!(String::from_utf8_lossy(&output.stdout).contains("authentication_failed"));
    server.shutdown().await;
}

/// Static WAMP-Ticket principals from the authorization file, as Crossbar's static ticket
/// authentication: autobahn-python joins with a listed authid and its ticket (every serializer)
/// and gets the principal's role; a wrong ticket, an unknown authid and a principal listed only
/// for another realm are refused alike; with signed tickets also on, an unlisted authid may
/// present a signed ticket but a listed one may not; and wampy's own static-ticket scenarios
/// (challenged then welcomed, wrong ticket refused with Crossbar's message) pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_ticket_principals_join_autobahn_python_and_wampy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("auth.toml");
    std::fs::write(
        &rules,
        r#"
        [[ticket]]
        authid = "martin"
        role = "backend"
        ticket = "wEx9TPFtHdRr2Zg7rtRE"

        [[ticket]]
        authid = "ops"
        role = "operator"
        realm = "realm2"
        ticket_env = "OPS_TICKET"
        "#,
    )
    .expect("write rules");
    let rules = rules.to_str().expect("utf-8 path");
    let server = TestServer::start(&[
        ("WEBSOCKET_AUTHORIZATION_FILE", rules),
        ("WEBSOCKET_REALMS", "realm1,realm2"),
        ("OPS_TICKET", "ops-ticket"),
        ("WEBSOCKET_TICKET_SECRET", SECRET),
    ])
    .await;
    let python = tokio::task::spawn_blocking(common::autobahn_python)
        .await
        .expect("venv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/autobahn_ticket.py");
    let url = server.url();
    for serializer in ["json", "msgpack", "cbor"] {
        let out = script_output(
            &python,
            &script,
            &url,
            &[serializer, "wEx9TPFtHdRr2Zg7rtRE", "martin"],
        )
        .await;
        assert!(
            out.contains("OK martin backend ticket"),
            "{serializer}: {out}"
        );
    }
    let out = script_output(
        &python,
        &script,
        &url,
        &["json", "ops-ticket", "ops", "realm2"],
    )
    .await;
    assert!(out.contains("OK ops operator ticket"), "{out}");
    let signed = token("alice", "editor", 60, None);
    for (what, refused) in [
        (
            "a wrong ticket",
            &["json", "wEx9TPFtHdRr2Zg7rtRe", "martin"][..],
        ),
        (
            "another realm",
            &["json", "ops-ticket", "ops", "realm1"][..],
        ),
        (
            "a signed ticket for a listed authid",
            &["json", &signed, "martin"][..],
        ),
    ] {
        let out = script_output(&python, &script, &url, refused).await;
        assert!(
            out.contains("LEFT wamp.error.authentication_failed"),
            "{what}: {out}"
        );
    }
    let out = script_output(&python, &script, &url, &["json", &signed, "someone-else"]).await;
    assert!(out.contains("OK alice editor ticket"), "{out}");

    let wampy = tokio::task::spawn_blocking(|| {
        common::python_venv("wampy-venv", "wampy", &["wampy>=1.1,<2"])
    })
    .await
    .expect("wampy venv");
    let output = tokio::process::Command::new(&wampy)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/wampy_ticket.py"))
        .arg(server.url())
        .args(["martin", "wEx9TPFtHdRr2Zg7rtRE"])
        .output()
        .await
        .expect("wampy runs");
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("OK"),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    server.shutdown().await;

    // Without signed tickets, an unknown authid is challenged and refused like a wrong ticket.
    let server = TestServer::start(&[
        ("WEBSOCKET_AUTHORIZATION_FILE", rules),
        ("WEBSOCKET_REALMS", "realm1,realm2"),
        ("OPS_TICKET", "x"),
    ])
    .await;
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(server.url())
        .args(["json", "whatever", "nobody"])
        .output()
        .await
        .expect("script runs");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("LEFT wamp.error.authentication_failed")
    );
    server.shutdown().await;
}

/// WAMP-cryptosign with autobahn-python: a listed key joins as its principal (every serializer);
/// one key listed for two realms gets each realm's role; a HELLO authid limits the match; a wrong
/// key, an unknown key and a key for another authid are refused alike; and a client asking for
/// channel binding is told the router does not offer it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cryptosign_principals_join_autobahn_python() {
    // Public keys of the seeds 01…01 and 02…02, as autobahn's CryptosignKey computes them.
    const KEY_1: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
    const KEY_2: &str = "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394";
    let seed = |b: &str| b.repeat(32);
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("auth.toml");
    std::fs::write(
        &rules,
        format!(
            r#"
            [[cryptosign]]
            authid = "worker-1"
            role = "backend"
            authorized_keys = ["{KEY_1}"]

            [[cryptosign]]
            authid = "worker-1"
            role = "reader"
            realm = "realm2"
            authorized_keys = ["{KEY_1}"]

            [[cryptosign]]
            authid = "worker-2"
            role = "backend"
            realm = "realm1"
            authorized_keys = ["{KEY_2}"]
            "#
        ),
    )
    .expect("write rules");
    let server = TestServer::start(&[
        (
            "WEBSOCKET_AUTHORIZATION_FILE",
            rules.to_str().expect("utf-8"),
        ),
        ("WEBSOCKET_REALMS", "realm1,realm2"),
    ])
    .await;
    let python = tokio::task::spawn_blocking(common::autobahn_python)
        .await
        .expect("venv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/autobahn_cryptosign.py");
    let url = server.url();
    for serializer in ["json", "msgpack", "cbor"] {
        let out = script_output(&python, &script, &url, &[serializer, &seed("01")]).await;
        assert!(
            out.contains("OK worker-1 backend cryptosign"),
            "{serializer}: {out}"
        );
    }
    let out = script_output(
        &python,
        &script,
        &url,
        &["json", &seed("01"), "worker-1", "realm2"],
    )
    .await;
    assert!(out.contains("OK worker-1 reader cryptosign"), "{out}");
    let out = script_output(&python, &script, &url, &["json", &seed("02"), "worker-2"]).await;
    assert!(out.contains("OK worker-2 backend cryptosign"), "{out}");
    for (what, refused) in [
        ("an unknown key", &["json", &seed("03")][..]),
        (
            "a key for another authid",
            &["json", &seed("01"), "worker-2"][..],
        ),
        (
            "a key for another realm",
            &["json", &seed("02"), "worker-2", "realm2"][..],
        ),
    ] {
        let out = script_output(&python, &script, &url, refused).await;
        assert!(
            out.contains("LEFT wamp.error.authentication_failed"),
            "{what}: {out}"
        );
    }

    // A forged AUTHENTICATE (a signature by another key over the right challenge) and channel
    // binding, driven by hand.
    let mut client = cryptosign_hello(&server, vec![("pubkey", Value::from(KEY_1))]).await;
    let Message::Challenge { authmethod, extra } = client.recv().await else {
        panic!("expected CHALLENGE");
    };
    assert_eq!(authmethod, "cryptosign");
    let challenge = extra.get("challenge").and_then(Value::as_str).expect("hex");
    assert_eq!(challenge.len(), 64);
    client
        .send(&Message::Authenticate {
            signature: "00".repeat(96),
            extra: Dict::new(),
        })
        .await;
    assert!(
        matches!(client.recv().await, Message::Abort { reason, .. } if reason == "wamp.error.authentication_failed")
    );
    let mut client = cryptosign_hello(
        &server,
        vec![
            ("pubkey", Value::from(KEY_1)),
            ("channel_binding", Value::from("tls-unique")),
        ],
    )
    .await;
    match client.recv().await {
        Message::Abort { details, .. } => {
            let message = details.get("message").and_then(Value::as_str).unwrap_or("");
            assert!(message.contains("channel binding"), "{message}");
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
    server.shutdown().await;
}

/// A client that sent HELLO offering cryptosign with `authextra`.
async fn cryptosign_hello(server: &TestServer, authextra: Vec<(&str, Value)>) -> Client {
    let mut client = Client::open(server, Serializer::Json).await;
    client
        .send(&Message::Hello {
            realm: "realm1".into(),
            details: dict(vec![
                ("authmethods", Value::List(vec![Value::from("cryptosign")])),
                ("authextra", Value::Dict(dict(authextra))),
            ]),
        })
        .await;
    client
}

/// Runs an interop `script` with `python` against `url` and returns its stdout and stderr.
async fn script_output(python: &Path, script: &Path, url: &str, args: &[&str]) -> String {
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(url)
        .args(args)
        .output()
        .await
        .expect("script runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
