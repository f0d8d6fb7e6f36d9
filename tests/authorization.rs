//! Authorization and the authentication methods that feed it, over real sockets: the default
//! policy (browsers subscribe, backends publish), every rule kind of the rules file including
//! `{authid}`, denials counted by action, `config:check` on a bad file, WAMP-CRA (plain and
//! salted, with our client and with autobahn-python) and per-realm anonymous access.
//! Oro named tickets against a real PostgreSQL are in tests/oro_named_tickets.rs.

mod common;

use std::path::Path;
use std::process::Command;

use common::{connect_ws, dict, Client, TestServer};
use wampd_proto::ticket::{mint, Claims};
use wampd_proto::wamp::{Dict, Message, Serializer, Value};
use wampd_proto::wampcra;

const SECRET: &str = "correct horse battery staple";

/// A session authenticated by a wampd ticket on the upgrade.
async fn join_as(server: &TestServer, authid: &str, role: &str) -> Client {
    let token = mint(
        SECRET.as_bytes(),
        &Claims {
            authid: authid.into(),
            authrole: role.into(),
            expires: common::unix_now() + 300,
            topics: None,
        },
    );
    let url = format!("ws://{}/ws?ticket={token}", server.addr);
    let ws = connect_ws(&url, Some("wamp.2.json"))
        .await
        .expect("connects");
    let client = Client::over(ws, Serializer::Json).welcomed().await;
    assert_eq!(client.welcome.get("authrole"), Some(&Value::from(role)));
    client
}

/// A session from a WebSocket client that, unlike a browser, sends no Origin; `forwarded` adds
/// an X-Forwarded-For header as a proxy would.
async fn program_session(server: &TestServer, forwarded: Option<&str>) -> Client {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = server.url().into_client_request().expect("request");
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        "wamp.2.json".parse().expect("header"),
    );
    if let Some(addr) = forwarded {
        headers.insert("X-Forwarded-For", addr.parse().expect("header"));
    }
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects");
    Client::over(ws, Serializer::Json).welcomed().await
}

/// `Ok` when the router accepted the request, `Err(error URI)` when it answered ERROR.
fn outcome(reply: Message) -> Result<(), String> {
    match reply {
        Message::Subscribed { .. }
        | Message::Published { .. }
        | Message::Registered { .. }
        | Message::Result { .. } => Ok(()),
        Message::Error { error, .. } => Err(error),
        other => panic!("expected a reply to the request, got {other:?}"),
    }
}

/// `match` option for a SUBSCRIBE or REGISTER (none for exact).
fn match_option(policy: &str) -> Dict {
    let mut options = Dict::new();
    if policy != "exact" {
        options.insert("match".into(), Value::from(policy));
    }
    options
}

async fn subscribe(c: &mut Client, topic: &str, policy: &str) -> Result<(), String> {
    let request = c.request_id();
    c.send(&Message::Subscribe {
        request,
        options: match_option(policy),
        topic: topic.into(),
    })
    .await;
    outcome(c.recv().await)
}

async fn publish(c: &mut Client, topic: &str) -> Result<(), String> {
    let request = c.request_id();
    c.send(&Message::Publish {
        request,
        options: dict(vec![("acknowledge", Value::Bool(true))]),
        topic: topic.into(),
        args: vec![Value::from("x")],
        kwargs: Dict::new(),
    })
    .await;
    outcome(c.recv().await)
}

async fn register(c: &mut Client, procedure: &str, policy: &str) -> Result<(), String> {
    let request = c.request_id();
    c.send(&Message::Register {
        request,
        options: match_option(policy),
        procedure: procedure.into(),
    })
    .await;
    outcome(c.recv().await)
}

async fn call(c: &mut Client, procedure: &str) -> Result<(), String> {
    let request = c.request_id();
    c.send(&Message::Call {
        request,
        options: Dict::new(),
        procedure: procedure.into(),
        args: vec![],
        kwargs: Dict::new(),
    })
    .await;
    outcome(c.recv().await)
}

const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";

fn denied() -> Result<(), String> {
    Err(NOT_AUTHORIZED.into())
}

/// A minimal WAMP RawSocket session (JSON) from loopback: what a local backend opens.
struct RawSession {
    stream: tokio::net::TcpStream,
}

impl RawSession {
    async fn join(server: &TestServer) -> (RawSession, Dict) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        // Max length 2^24, serializer 1 = JSON.
        stream
            .write_all(&[0x7F, 0xF1, 0, 0])
            .await
            .expect("handshake");
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).await.expect("reply");
        assert_eq!(reply[0], 0x7F);
        assert_eq!(reply[1] & 0x0F, 1, "JSON accepted");
        let mut raw = RawSession { stream };
        raw.send(&Message::Hello {
            realm: "realm1".into(),
            details: dict(vec![(
                "roles",
                Value::Dict(dict(vec![("publisher", Value::Dict(Dict::new()))])),
            )]),
        })
        .await;
        match raw.recv().await {
            Message::Welcome { details, .. } => (raw, details),
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    async fn send(&mut self, msg: &Message) {
        use tokio::io::AsyncWriteExt;
        let bytes = wampd_proto::wamp::codec::encode(Serializer::Json, msg);
        let len = bytes.len() as u32;
        let mut frame = vec![0u8, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        frame.extend_from_slice(&bytes);
        self.stream.write_all(&frame).await.expect("write");
    }

    async fn recv(&mut self) -> Message {
        use tokio::io::AsyncReadExt;
        loop {
            let mut head = [0u8; 4];
            tokio::time::timeout(common::WAIT, self.stream.read_exact(&mut head))
                .await
                .expect("a frame in time")
                .expect("read");
            let len =
                (usize::from(head[1]) << 16) | (usize::from(head[2]) << 8) | usize::from(head[3]);
            let mut body = vec![0u8; len];
            self.stream.read_exact(&mut body).await.expect("body");
            if head[0] & 0x07 != 0 {
                continue; // PING/PONG
            }
            return wampd_proto::wamp::codec::decode(Serializer::Json, &body).expect("decode");
        }
    }
}

#[tokio::test]
async fn by_default_browsers_subscribe_and_backends_publish() {
    let server = TestServer::start(&[("WEBSOCKET_AUTHORIZATION_DEFAULT", "standard")]).await;
    let mut browser = Client::join(&server, Serializer::Json).await;
    assert_eq!(
        browser.welcome.get("authrole"),
        Some(&Value::from("anonymous"))
    );
    assert_eq!(
        subscribe(&mut browser, "com.app.news", "exact").await,
        Ok(())
    );
    assert_eq!(subscribe(&mut browser, "com.app.", "prefix").await, Ok(()));
    assert_eq!(publish(&mut browser, "com.app.news").await, denied());
    assert_eq!(
        register(&mut browser, "com.app.add", "exact").await,
        denied()
    );
    // Calls outside the router's own wamp.* procedures are allowed; nothing is registered.
    assert_eq!(
        call(&mut browser, "com.app.add").await,
        Err("wamp.error.no_such_procedure".into())
    );
    assert_eq!(call(&mut browser, "wamp.session.list").await, denied());

    // A loopback RawSocket session is a local backend: it publishes, and browsers receive.
    let (mut backend, welcome) = RawSession::join(&server).await;
    assert_eq!(welcome.get("authrole"), Some(&Value::from("backend")));
    backend
        .send(&Message::Publish {
            request: 1,
            options: dict(vec![("acknowledge", Value::Bool(true))]),
            topic: "com.app.news".into(),
            args: vec![Value::from("from the backend")],
            kwargs: Dict::new(),
        })
        .await;
    assert!(matches!(
        backend.recv().await,
        Message::Published { request: 1, .. }
    ));
    let (_, _, args, _) = browser.event().await;
    assert_eq!(args, vec![Value::from("from the backend")]);
    // The same event matched the prefix subscription too.
    let (_, _, args, _) = browser.event().await;
    assert_eq!(args, vec![Value::from("from the backend")]);

    // So is a loopback WebSocket client without Origin (`wampd publish ws://…`); one relayed by a
    // proxy on this machine is not.
    for (forwarded, role) in [(None, "backend"), (Some("203.0.113.9"), "anonymous")] {
        let mut program = program_session(&server, forwarded).await;
        assert_eq!(program.welcome.get("authrole"), Some(&Value::from(role)));
        let expected = if role == "backend" { Ok(()) } else { denied() };
        assert_eq!(publish(&mut program, "com.app.news").await, expected);
    }
    let (_, _, args, _) = browser.event().await;
    assert_eq!(args, vec![Value::from("x")]);

    let m = common::scrape(server.addr).await;
    for (action, count) in [
        ("publish", 2.0),
        ("register", 1.0),
        ("call", 1.0),
        ("subscribe", 0.0),
    ] {
        assert_eq!(
            common::metric(
                &m,
                &format!("wampd_authorization_denials_total{{action=\"{action}\"}}")
            ),
            count,
            "{action}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_deny_default_refuses_everything_no_rule_allows() {
    let server = TestServer::start(&[("WEBSOCKET_AUTHORIZATION_DEFAULT", "deny")]).await;
    let mut browser = Client::join(&server, Serializer::MsgPack).await;
    assert_eq!(
        subscribe(&mut browser, "com.app.news", "exact").await,
        denied()
    );
    assert_eq!(publish(&mut browser, "com.app.news").await, denied());
    server.shutdown().await;
}

const RULES: &str = r#"
# Users: their own topics, the news, any room's status, and one procedure.
[[rule]]
role = "user"
uri = "com.app.user.{authid}."
match = "prefix"
allow = ["subscribe"]

[[rule]]
role = "user"
uri = "com.app.news"
allow = ["subscribe"]

[[rule]]
role = "user"
uri = "com.app..status"
match = "wildcard"
allow = ["subscribe"]

[[rule]]
role = "user"
uri = "com.app.time"
allow = ["call"]

# Editors publish the news.
[[rule]]
role = "editor"
uri = "com.app.news"
allow = ["publish", "subscribe"]

# Workers provide procedures under com.app.rpc., in realm1 only.
[[rule]]
role = "worker"
realm = "realm1"
uri = "com.app.rpc."
match = "prefix"
allow = ["register"]

# Everyone may call the status procedure.
[[rule]]
role = "*"
uri = "com.app.status"
allow = ["call"]
"#;

#[tokio::test]
async fn every_rule_kind_and_authid_substitution() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("authorization.toml");
    std::fs::write(&file, RULES).expect("write rules");
    let server = TestServer::start(&[
        ("WEBSOCKET_AUTHORIZATION_DEFAULT", "standard"),
        (
            "WEBSOCKET_AUTHORIZATION_FILE",
            file.to_str().expect("utf-8"),
        ),
        ("WEBSOCKET_TICKET_SECRET", SECRET),
    ])
    .await;
    let mut user = join_as(&server, "42", "user").await;
    let ok = Ok(());
    for (topic, policy, expected) in [
        // {authid} with a prefix rule: own topics only, and not a wider pattern.
        ("com.app.user.42.inbox", "exact", &ok),
        ("com.app.user.42.", "prefix", &ok),
        ("com.app.user.42..x", "wildcard", &ok),
        ("com.app.user.43.inbox", "exact", &denied()),
        ("com.app.user.420.inbox", "exact", &denied()),
        ("com.app.user.", "prefix", &denied()),
        // Exact rule: that URI only.
        ("com.app.news", "exact", &ok),
        ("com.app.news.sport", "exact", &denied()),
        ("com.app.news", "prefix", &denied()),
        // Wildcard rule: concrete matches and narrower wildcards, not wider ones.
        ("com.app.room7.status", "exact", &ok),
        ("com.app..status", "wildcard", &ok),
        ("com.app.room7.chat", "exact", &denied()),
        ("com...", "wildcard", &denied()),
    ] {
        assert_eq!(
            &subscribe(&mut user, topic, policy).await,
            expected,
            "{topic} ({policy})"
        );
    }
    // A role named by rules gets nothing the rules do not grant, not even the default's.
    assert_eq!(publish(&mut user, "com.app.news").await, denied());
    assert_eq!(call(&mut user, "com.app.other").await, denied());
    assert_eq!(
        register(&mut user, "com.app.rpc.add", "exact").await,
        denied()
    );

    let mut editor = join_as(&server, "ed", "editor").await;
    assert_eq!(publish(&mut editor, "com.app.news").await, Ok(()));
    assert_eq!(publish(&mut editor, "com.app.news.sport").await, denied());
    let (_, _, args, _) = user.event().await;
    assert_eq!(
        args,
        vec![Value::from("x")],
        "the user's news subscription got it"
    );

    let mut worker = join_as(&server, "w1", "worker").await;
    for (procedure, policy, expected) in [
        ("com.app.rpc.add", "exact", &ok),
        ("com.app.rpc.", "prefix", &ok),
        ("com.app.time", "exact", &denied()),
        ("com.app.", "prefix", &denied()),
    ] {
        assert_eq!(
            &register(&mut worker, procedure, policy).await,
            expected,
            "{procedure} ({policy})"
        );
    }

    // "*" applies to every role; the call is allowed and fails only for lack of a callee.
    for client in [&mut user, &mut editor, &mut worker] {
        assert_eq!(
            call(client, "com.app.status").await,
            Err("wamp.error.no_such_procedure".into())
        );
    }
    // A "*" rule names every role, so a role without rules of its own gets only what "*" grants.
    let mut guest = join_as(&server, "g", "guest").await;
    assert_eq!(
        subscribe(&mut guest, "com.app.user.42.inbox", "exact").await,
        denied()
    );
    assert_eq!(
        call(&mut guest, "com.app.status").await,
        Err("wamp.error.no_such_procedure".into())
    );
    // An authid that cannot stand in a URI component matches no {authid} rule.
    let mut dotted = join_as(&server, "4.2", "user").await;
    assert_eq!(
        subscribe(&mut dotted, "com.app.user.4.2.inbox", "exact").await,
        denied()
    );

    let m = common::scrape(server.addr).await;
    assert!(
        common::metric(
            &m,
            "wampd_authorization_denials_total{action=\"subscribe\"}"
        ) >= 9.0,
        "{m:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn realm_scoped_rules_and_per_realm_anonymous_access() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("authorization.toml");
    std::fs::write(
        &file,
        r#"
[[realm]]
name = "realm1"
anonymous_role = "visitor"

[[realm]]
name = "private"
anonymous = false

[[rule]]
role = "visitor"
realm = "realm1"
uri = "com.app.public."
match = "prefix"
allow = ["subscribe"]
"#,
    )
    .expect("write");
    let server = TestServer::start(&[
        ("WEBSOCKET_REALMS", "realm1,private"),
        (
            "WEBSOCKET_AUTHORIZATION_FILE",
            file.to_str().expect("utf-8"),
        ),
        ("WEBSOCKET_AUTHORIZATION_DEFAULT", "standard"),
        ("WEBSOCKET_TICKET_SECRET", SECRET),
    ])
    .await;
    let mut visitor = Client::join(&server, Serializer::Json).await;
    assert_eq!(
        visitor.welcome.get("authrole"),
        Some(&Value::from("visitor"))
    );
    assert_eq!(
        subscribe(&mut visitor, "com.app.public.news", "exact").await,
        Ok(())
    );
    assert_eq!(
        subscribe(&mut visitor, "com.app.private", "exact").await,
        denied()
    );
    // A role no rule names falls back to the default policy: subscribe yes, publish no.
    let mut member = join_as(&server, "m", "member").await;
    assert_eq!(
        subscribe(&mut member, "com.app.private", "exact").await,
        Ok(())
    );
    assert_eq!(publish(&mut member, "com.app.private").await, denied());

    let mut anonymous = Client::open(&server, Serializer::Json).await;
    anonymous.hello("private").await;
    match anonymous.recv().await {
        Message::Abort { reason, .. } => {
            assert_eq!(reason, "wamp.error.no_matching_auth_method")
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
    server.shutdown().await;
}

#[test]
fn config_check_validates_the_rules_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, RULES).expect("write");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nrole = \"user\"\nuri = \"com.app.\"\nmatch = \"prefix\"\nallow = [\"subscribe\", \"delete\"]\n",
    )
    .expect("write");
    let run = |file: &Path, extra: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wampd"));
        cmd.env_clear()
            .current_dir(dir.path())
            .env("WEBSOCKET_SERVER_DSN", "//127.0.0.1:8080")
            .env("WEBSOCKET_AUTHORIZATION_FILE", file)
            .arg("config:check");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().expect("wampd runs")
    };
    let ok = run(&good, &[]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let failed = run(&bad, &[]);
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("WEBSOCKET_AUTHORIZATION_FILE"), "{err}");
    assert!(err.contains("delete"), "{err}");
    let missing = run(&dir.path().join("absent.toml"), &[]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("absent.toml"));
    let bad_default = run(&good, &[("WEBSOCKET_AUTHORIZATION_DEFAULT", "maybe")]);
    assert!(!bad_default.status.success());
    let err = String::from_utf8_lossy(&bad_default.stderr);
    assert!(
        err.contains("WEBSOCKET_AUTHORIZATION_DEFAULT") && err.contains("maybe"),
        "{err}"
    );
}

const CRA_USERS: &str = r#"
[[user]]
authid = "peter"
role = "backend"
secret = "secret1"

[[user]]
authid = "joe"
role = "user"
secret_env = "JOE_KEY"
salt = "salt123"
iterations = 100
keylen = 16
"#;

/// HELLO with wampcra as `authid`, answering the CHALLENGE with `secret` (derived when salted).
async fn hello_wampcra(server: &TestServer, authid: &str, secret: &str) -> Message {
    let mut client = Client::open(server, Serializer::Json).await;
    client
        .send(&Message::Hello {
            realm: "realm1".into(),
            details: dict(vec![
                ("authmethods", Value::List(vec![Value::from("wampcra")])),
                ("authid", Value::from(authid)),
            ]),
        })
        .await;
    let Message::Challenge { authmethod, extra } = client.recv().await else {
        panic!("expected CHALLENGE");
    };
    assert_eq!(authmethod, "wampcra");
    let challenge = extra
        .get("challenge")
        .and_then(Value::as_str)
        .expect("challenge string")
        .to_owned();
    let key = match extra.get("salt").and_then(Value::as_str) {
        Some(salt) => {
            let number = |k: &str| extra.get(k).and_then(Value::as_u64).expect("number") as u32;
            wampcra::derive_key(secret, salt, number("iterations"), number("keylen"))
        }
        None => secret.to_owned(),
    };
    client
        .send(&Message::Authenticate {
            signature: wampcra::sign(key.as_bytes(), &challenge),
            extra: Dict::new(),
        })
        .await;
    client.recv().await
}

#[tokio::test]
async fn wampcra_plain_and_salted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("users.toml");
    std::fs::write(&file, CRA_USERS).expect("write");
    // Salted users are configured with the derived key, as in Crossbar.
    let joe_key = wampcra::derive_key("joe's password", "salt123", 100, 16);
    let server = TestServer::start(&[
        (
            "WEBSOCKET_AUTHORIZATION_FILE",
            file.to_str().expect("utf-8"),
        ),
        ("JOE_KEY", joe_key.as_str()),
    ])
    .await;
    for (authid, secret, role) in [
        ("peter", "secret1", "backend"),
        ("joe", "joe's password", "user"),
    ] {
        match hello_wampcra(&server, authid, secret).await {
            Message::Welcome { details, .. } => {
                assert_eq!(details.get("authid"), Some(&Value::from(authid)));
                assert_eq!(details.get("authrole"), Some(&Value::from(role)));
                assert_eq!(details.get("authmethod"), Some(&Value::from("wampcra")));
            }
            other => panic!("{authid}: expected WELCOME, got {other:?}"),
        }
    }
    // Wrong secrets and unknown users are challenged alike and then refused.
    for (authid, secret) in [("peter", "wrong"), ("joe", "secret1"), ("nobody", "x")] {
        match hello_wampcra(&server, authid, secret).await {
            Message::Abort { reason, .. } => {
                assert_eq!(reason, "wamp.error.authentication_failed", "{authid}")
            }
            other => panic!("{authid}: expected ABORT, got {other:?}"),
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_python_authenticates_with_wampcra() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("users.toml");
    std::fs::write(&file, CRA_USERS).expect("write");
    let joe_key = wampcra::derive_key("joe's password", "salt123", 100, 16);
    let server = TestServer::start(&[
        (
            "WEBSOCKET_AUTHORIZATION_FILE",
            file.to_str().expect("utf-8"),
        ),
        ("JOE_KEY", joe_key.as_str()),
    ])
    .await;
    let python = tokio::task::spawn_blocking(common::autobahn_python)
        .await
        .expect("venv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/autobahn_wampcra.py");
    for (serializer, authid, secret, expected) in [
        ("json", "peter", "secret1", "OK peter backend wampcra"),
        ("msgpack", "joe", "joe's password", "OK joe user wampcra"),
        ("json", "joe", "not joe's password", "authentication_failed"),
    ] {
        let output = tokio::process::Command::new(&python)
            .arg(&script)
            .args([&server.url(), serializer, authid, secret])
            .output()
            .await
            .expect("script runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(expected),
            "{authid}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    server.shutdown().await;
}
