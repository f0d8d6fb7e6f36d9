//! The EspoCRM profile against real peers: a libzmq PUSH sender (pyzmq) doing what Espo's
//! `ZeroMQSender` does (a new socket per message, one frame, LINGER 1000, disconnect), and WAMP v1
//! clients connecting with Espo's URL shape (`?authToken=…&userId=…`, subprotocol `wamp`).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Pushes each of `messages` the way Espo's PHP backend does: one PUSH socket per message.
fn espo_push(zmq: SocketAddr, messages: &[&str]) {
    let script = r#"
import sys, zmq
ctx = zmq.Context()
for body in sys.argv[2:]:
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.LINGER, 1000)
    s.connect(sys.argv[1])
    s.send(body.encode())
    s.close()
ctx.term()
"#;
    let status = std::process::Command::new(autobahn_python())
        .arg("-c")
        .arg(script)
        .arg(format!("tcp://{zmq}"))
        .args(messages)
        .status()
        .expect("python runs");
    assert!(status.success(), "the PUSH sender failed");
}

async fn espo_server(extra: &[(&str, &str)]) -> TestServer {
    let dsn = format!("tcp://127.0.0.1:{}", free_port());
    let mut vars = vec![
        ("WEBSOCKET_ZMQ_DSN", dsn.as_str()),
        ("WEBSOCKET_ZMQ_FORMAT", "espocrm"),
    ];
    vars.extend_from_slice(extra);
    TestServer::start(&vars).await
}

/// A WAMP v1 client subscribed to `topics`, past its WELCOME.
async fn v1_subscriber(server: &TestServer, query: &str, topics: &[&str]) -> Ws {
    let url = format!("ws://{}/{query}", server.addr);
    let mut ws = connect_ws(&url, Some("wamp")).await.expect("connects");
    let welcome = next_text(&mut ws).await;
    assert!(welcome.starts_with("[0,"), "{welcome}");
    for topic in topics {
        send_text(&mut ws, &format!("[5,\"{topic}\"]")).await;
    }
    // Let the subscriptions land before anything is pushed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    ws
}

async fn send_text(ws: &mut Ws, text: &str) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
        .await
        .expect("send");
}

#[tokio::test]
async fn espo_pushes_reach_v1_subscribers_with_the_whole_object() {
    let server = espo_server(&[]).await;
    let zmq = server.zmq.expect("ZMQ bound");
    let mut ws = v1_subscriber(&server, "", &["appParamsUpdate"]).await;
    let pushed = r#"{"rates":{"EUR":1.1},"topicId":"appParamsUpdate"}"#;
    tokio::task::spawn_blocking(move || espo_push(zmq, &[pushed]))
        .await
        .expect("push");
    let event = next_text(&mut ws).await;
    assert_eq!(
        event,
        r#"[8,"appParamsUpdate",{"rates":{"EUR":1.1},"topicId":"appParamsUpdate"}]"#
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pushes_without_topic_or_outside_the_categories_are_dropped_and_counted() {
    let server = espo_server(&[]).await;
    let zmq = server.zmq.expect("ZMQ bound");
    let mut ws = v1_subscriber(&server, "", &["newNotification", "evil.topic"]).await;
    tokio::task::spawn_blocking(move || {
        espo_push(
            zmq,
            &[
                r#"{"x":1}"#,
                r#"{"topicId":"evil.topic"}"#,
                "not json",
                r#"{"topicId":"newNotification","n":2}"#,
            ],
        )
    })
    .await
    .expect("push");
    // Only the allowed one arrives; the others were dropped before the broker.
    let event = next_text(&mut ws).await;
    assert_eq!(
        event,
        r#"[8,"newNotification",{"topicId":"newNotification","n":2}]"#
    );
    let metrics = scrape(server.addr).await;
    for (outcome, n) in [
        ("no_topic", 1.0),
        ("category", 1.0),
        ("invalid", 1.0),
        ("published", 1.0),
    ] {
        assert_eq!(
            metric(
                &metrics,
                &format!("wampd_zmq_messages_total{{outcome=\"{outcome}\"}}")
            ),
            n,
            "{outcome}"
        );
    }
    server.shutdown().await;
}

/// A stand-in Espo installation: `tests/fixtures/espocrm/command.php` (Espo's console contract),
/// its token and ACL tables, and a real `data/config.php` / `data/config-internal.php`.
struct EspoTree {
    dir: tempfile::TempDir,
    zmq_port: u16,
}

impl EspoTree {
    fn new(tokens: &[(&str, &str)], acl: &[&str]) -> EspoTree {
        php();
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("data")).expect("data dir");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/espocrm/command.php"),
            root.join("command.php"),
        )
        .expect("command.php");
        let tokens: serde_json::Map<String, serde_json::Value> = tokens
            .iter()
            .map(|(t, u)| (t.to_string(), serde_json::Value::from(*u)))
            .collect();
        std::fs::write(
            root.join("data/tokens.json"),
            serde_json::to_vec(&tokens).expect("json"),
        )
        .expect("tokens");
        std::fs::write(
            root.join("data/acl.json"),
            serde_json::to_vec(acl).expect("json"),
        )
        .expect("acl");
        let zmq_port = free_port();
        std::fs::write(
            root.join("data/config.php"),
            format!(
                "<?php\nreturn [\n    'useWebSocket' => true,\n    'webSocketPort' => 8090,\n    \
                 'webSocketZeroMQSubscriberDsn' => 'tcp://127.0.0.1:{zmq_port}',\n    \
                 'siteUrl' => 'http://localhost',\n];\n"
            ),
        )
        .expect("config.php");
        std::fs::write(
            root.join("data/config-internal.php"),
            "<?php\nreturn ['database' => ['password' => 'espo-db-secret'], 'webSocketUseSecureServer' => false];\n",
        )
        .expect("config-internal.php");
        EspoTree { dir, zmq_port }
    }

    fn root(&self) -> &str {
        self.dir.path().to_str().expect("utf-8 path")
    }

    /// The most `command.php` processes that ran at once.
    fn max_concurrent(&self) -> u32 {
        std::fs::read_to_string(self.dir.path().join("data/max"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// How many times `command.php` ran a command.
    fn calls(&self, command: &str) -> usize {
        std::fs::read_to_string(self.dir.path().join("data/calls"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(command))
            .count()
    }
}

async fn espo_profile_server(tree: &EspoTree, extra: &[(&str, &str)]) -> TestServer {
    let mut vars = vec![("WEBSOCKET_ESPOCRM_ROOT", tree.root())];
    vars.extend_from_slice(extra);
    let server = TestServer::start(&vars).await;
    assert_eq!(
        server.zmq.map(|a| a.port()),
        Some(tree.zmq_port),
        "the ZMQ socket binds where data/config.php says"
    );
    server
}

#[tokio::test]
async fn the_profile_reads_espos_config_and_docker_variables_override_it() {
    let tree = EspoTree::new(&[], &[]);
    let env: std::collections::HashMap<String, String> = [(
        "WEBSOCKET_ESPOCRM_ROOT".to_string(),
        tree.root().to_string(),
    )]
    .into();
    let settings = wampd::config::Settings::from_env(&env).expect("valid");
    assert_eq!(settings.server_dsn.port, 8090, "webSocketPort");
    let zmq = settings.zmq.clone().expect("ZMQ on");
    assert_eq!(zmq.bind, format!("127.0.0.1:{}", tree.zmq_port));
    assert_eq!(zmq.format.as_str(), "espocrm");
    assert_eq!(settings.v1_ping_interval, Duration::from_secs(60));
    assert!(settings.allowed_origins.contains(&"localhost".to_string()));
    // Nothing but the websocket keys came out of PHP: the database password is not shown.
    let shown = format!("{:?}", settings.describe());
    assert!(!shown.contains("espo-db-secret"), "{shown}");

    let mut docker = env.clone();
    docker.insert(
        "ESPOCRM_CONFIG_WEB_SOCKET_ZERO_M_Q_SUBSCRIBER_DSN".into(),
        "tcp://*:7777".into(),
    );
    docker.insert("ESPOCRM_CONFIG_WEB_SOCKET_PORT".into(), "8081".into());
    let settings = wampd::config::Settings::from_env(&docker).expect("valid");
    assert_eq!(settings.zmq.expect("ZMQ on").bind, "0.0.0.0:7777");
    assert_eq!(settings.server_dsn.port, 8081);

    // wampd's own variables win over both.
    let mut own = docker.clone();
    own.insert("WEBSOCKET_ZMQ_DSN".into(), "tcp://127.0.0.1:6000".into());
    own.insert("WEBSOCKET_SERVER_DSN".into(), "//127.0.0.1:9000".into());
    let settings = wampd::config::Settings::from_env(&own).expect("valid");
    assert_eq!(settings.zmq.expect("ZMQ on").bind, "127.0.0.1:6000");
    assert_eq!(settings.server_dsn.port, 9000);

    // A root that is not an Espo installation stops start-up, naming the variable.
    let bad: std::collections::HashMap<String, String> = [(
        "WEBSOCKET_ESPOCRM_ROOT".to_string(),
        "/nonexistent".to_string(),
    )]
    .into();
    let err = wampd::config::Settings::from_env(&bad)
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("WEBSOCKET_ESPOCRM_ROOT") && err.contains("/nonexistent"),
        "{err}"
    );
}

/// A v1 client with Espo's URL shape, past its WELCOME, subscribed to `topics`.
async fn espo_client(server: &TestServer, token: &str, user: &str, topics: &[&str]) -> Ws {
    v1_subscriber(server, &format!("?authToken={token}&userId={user}"), topics).await
}

/// A v1 client with the query `admitted` gets its WELCOME; each of `refused` is refused before
/// the upgrade.
async fn admits_only(server: &TestServer, admitted: &str, refused: &[&str]) {
    let url = |q: &str| format!("ws://{}/wss{q}", server.addr);
    let mut ws = connect_ws(&url(admitted), Some("wamp"))
        .await
        .expect("a valid token is admitted");
    assert!(next_text(&mut ws).await.starts_with("[0,"));
    for query in refused {
        assert!(
            connect_ws(&url(query), Some("wamp")).await.is_err(),
            "{query:?} was admitted"
        );
    }
}

#[tokio::test]
async fn tokens_are_checked_with_espos_console_before_the_welcome() {
    let tree = EspoTree::new(&[("tok1", "u1")], &[]);
    let server = espo_profile_server(&tree, &[]).await;
    admits_only(
        &server,
        "?authToken=tok1&userId=u1",
        &[
            "?authToken=bad&userId=u1",
            "?authToken=tok1&userId=u2",
            "?authToken=tok1",
            "",
            "?authToken=tok1&userId=u1;rm",
        ],
    )
    .await;
    let metrics = scrape(server.addr).await;
    assert_eq!(
        metric(
            &metrics,
            "wampd_external_checks_total{check=\"connect\",outcome=\"allowed\"}"
        ),
        1.0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pushes_for_one_user_reach_only_that_users_sessions() {
    let tree = EspoTree::new(&[("tok1", "u1"), ("tok2", "u2")], &[]);
    let server = espo_profile_server(&tree, &[]).await;
    let zmq = server.zmq.expect("ZMQ bound");
    let mut alice = espo_client(&server, "tok1", "u1", &["newNotification"]).await;
    let mut bob = espo_client(&server, "tok2", "u2", &["newNotification"]).await;
    tokio::task::spawn_blocking(move || {
        espo_push(
            zmq,
            &[
                r#"{"userId":"u1","topicId":"newNotification"}"#,
                r#"{"topicId":"newNotification","all":true}"#,
            ],
        )
    })
    .await
    .expect("push");
    // Each push comes on a connection of its own (as Espo's PHP sends them), served side by
    // side: the two may be published in either order.
    let mut got = vec![next_text(&mut alice).await, next_text(&mut alice).await];
    got.sort();
    assert_eq!(
        got,
        [
            r#"[8,"newNotification",{"topicId":"newNotification","all":true}]"#,
            r#"[8,"newNotification",{"userId":"u1","topicId":"newNotification"}]"#,
        ]
    );
    // Bob gets the broadcast and nothing else: the one for u1 never reaches him.
    assert_eq!(
        next_text(&mut bob).await,
        r#"[8,"newNotification",{"topicId":"newNotification","all":true}]"#
    );
    assert!(
        tokio::time::timeout(
            std::time::Duration::from_millis(300),
            futures_util::StreamExt::next(&mut bob)
        )
        .await
        .is_err(),
        "bob got a second event"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn subscriptions_exist_only_when_espos_acl_check_says_true() {
    let tree = EspoTree::new(&[("tok1", "u1")], &["u1:Account:a1:read"]);
    let server = espo_profile_server(&tree, &[]).await;
    let zmq = server.zmq.expect("ZMQ bound");
    let mut ws = espo_client(
        &server,
        "tok1",
        "u1",
        &[
            "recordUpdate.Account.a2",
            "recordUpdate.Account.a1",
            "not.a.category",
        ],
    )
    .await;
    // The checks run off the session's read loop; wait until both have answered.
    let deadline = std::time::Instant::now() + WAIT;
    while tree.calls("AclCheck") < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::spawn_blocking(move || {
        espo_push(
            zmq,
            &[
                r#"{"topicId":"recordUpdate.Account.a2"}"#,
                r#"{"topicId":"recordUpdate.Account.a1"}"#,
            ],
        )
    })
    .await
    .expect("push");
    assert_eq!(
        next_text(&mut ws).await,
        r#"[8,"recordUpdate.Account.a1",{"topicId":"recordUpdate.Account.a1"}]"#
    );
    assert_eq!(
        tree.calls("AclCheck"),
        2,
        "no check for a topic outside the categories"
    );
    let metrics = scrape(server.addr).await;
    assert_eq!(
        metric(
            &metrics,
            "wampd_external_checks_total{check=\"subscribe\",outcome=\"denied\"}"
        ),
        1.0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_hundred_concurrent_connects_share_a_bounded_number_of_processes() {
    let tokens: Vec<(String, String)> = (0..100)
        .map(|i| (format!("t{i}"), format!("u{i}")))
        .collect();
    let pairs: Vec<(&str, &str)> = tokens
        .iter()
        .map(|(t, u)| (t.as_str(), u.as_str()))
        .collect();
    let tree = EspoTree::new(&pairs, &[]);
    let server = espo_profile_server(
        &tree,
        &[
            ("WEBSOCKET_CHECK_CONCURRENCY", "4"),
            ("WEBSOCKET_CHECK_TIMEOUT", "30s"),
        ],
    )
    .await;
    let url = |i: usize| format!("ws://{}/?authToken=t{i}&userId=u{i}", server.addr);
    let connects: Vec<_> = (0..100)
        .map(|i| {
            let url = url(i);
            tokio::spawn(async move {
                let mut ws = connect_ws(&url, Some("wamp")).await.expect("admitted");
                next_text(&mut ws).await
            })
        })
        .collect();
    for c in connects {
        assert!(c.await.expect("task").starts_with("[0,"));
    }
    assert_eq!(tree.calls("AuthTokenCheck"), 100);
    let max = tree.max_concurrent();
    assert!((1..=4).contains(&max), "{max} checks ran at once");
    // The same user's tabs reconnecting share the cached answer: no further process.
    let mut again = connect_ws(&url(7), Some("wamp")).await.expect("admitted");
    assert!(next_text(&mut again).await.starts_with("[0,"));
    assert_eq!(tree.calls("AuthTokenCheck"), 100);
    server.shutdown().await;
}

#[tokio::test]
async fn espo_clients_are_pinged_and_their_keepalive_publish_is_a_quiet_no_op() {
    let tree = EspoTree::new(&[("tok1", "u1")], &[]);
    let server = espo_profile_server(&tree, &[("WEBSOCKET_V1_PING_INTERVAL", "1s")]).await;
    let mut ws = espo_client(&server, "tok1", "u1", &[]).await;
    send_text(&mut ws, r#"[7,"",""]"#).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut pinged = false;
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout_at(deadline, futures_util::StreamExt::next(&mut ws)).await
    {
        if let WsMessage::Ping(_) = frame {
            pinged = true;
            break;
        }
    }
    assert!(pinged, "no WebSocket ping within 5 s");
    let metrics = scrape(server.addr).await;
    assert_eq!(
        metric(
            &metrics,
            "wampd_authorization_denials_total{action=\"publish\"}"
        ),
        0.0
    );
    assert_eq!(metric(&metrics, "wampd_suppressed_log_lines_total"), 0.0);
    server.shutdown().await;
}

#[tokio::test]
async fn the_keepalive_publish_logs_nothing_at_info() {
    let tree = EspoTree::new(&[("tok1", "u1")], &[]);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wampd"));
    command
        .args(["websocket:server", "--env=prod", "-vv"])
        .env("WEBSOCKET_ESPOCRM_ROOT", tree.root())
        .env("WEBSOCKET_SERVER_DSN", "//127.0.0.1:0")
        .env("WEBSOCKET_BACKEND_DSN", "")
        // The default policy, as an Espo installation runs: browsers may not publish.
        .env("WEBSOCKET_AUTHORIZATION_DEFAULT", "standard");
    let (mut child, addr, logs) = spawn_wampd(command);
    let url = format!("ws://{addr}/wss?authToken=tok1&userId=u1");
    let mut ws = connect_ws(&url, Some("wamp")).await.expect("admitted");
    assert!(next_text(&mut ws).await.starts_with("[0,"));
    for _ in 0..3 {
        send_text(&mut ws, r#"[7,"",""]"#).await;
    }
    // A subscription logs one info line: everything the keepalives logged comes before it.
    send_text(&mut ws, r#"[5,"newNotification"]"#).await;
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if let Ok(line) = logs.recv_timeout(Duration::from_millis(100)) {
            let done = line.contains("subscribed to newNotification");
            seen.push(line);
            if done {
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter()
            .any(|l| l.contains("subscribed to newNotification")),
        "{seen:#?}"
    );
    let noisy: Vec<_> = seen
        .iter()
        .filter(|l| l.contains("publish") || l.contains("refused") || l.contains("denied"))
        .collect();
    assert!(noisy.is_empty(), "{noisy:#?}");
}

/// The statement Espo's `AuthTokenCheck` runs, asked of Espo's MariaDB directly.
const AUTH_TOKEN_SQL: &str = "sql:SELECT t.user_id FROM auth_token t JOIN user u ON u.id = t.user_id \
     WHERE t.token = :authToken AND t.is_active = 1 AND t.deleted = 0 AND u.is_active = 1 AND u.deleted = 0";

#[tokio::test]
async fn the_token_check_can_ask_espos_mariadb_instead_of_php() {
    let db = MySqlDatabase::create(
        "CREATE TABLE user (id VARCHAR(24) PRIMARY KEY, is_active TINYINT(1) NOT NULL DEFAULT 1,
            deleted TINYINT(1) NOT NULL DEFAULT 0);
         CREATE TABLE auth_token (id INT AUTO_INCREMENT PRIMARY KEY, token VARCHAR(36) NOT NULL,
            user_id VARCHAR(24) NOT NULL, is_active TINYINT(1) NOT NULL DEFAULT 1,
            deleted TINYINT(1) NOT NULL DEFAULT 0);
         INSERT INTO user (id, is_active) VALUES ('u1', 1), ('u2', 0);
         INSERT INTO auth_token (token, user_id, is_active) VALUES ('live1', 'u1', 1), ('dead1', 'u1', 0),
            ('live2', 'u2', 1)",
    )
    .await;
    let tree = EspoTree::new(&[], &[]);
    let server = espo_profile_server(
        &tree,
        &[
            ("WEBSOCKET_DATABASE_DSN", db.dsn.as_str()),
            ("WEBSOCKET_CONNECT_CHECK", AUTH_TOKEN_SQL),
        ],
    )
    .await;
    admits_only(
        &server,
        "?authToken=live1&userId=u1",
        &[
            "?authToken=dead1&userId=u1",
            "?authToken=live1&userId=u2",
            "?authToken=live2&userId=u2",
            "?authToken=nope&userId=u1",
        ],
    )
    .await;
    assert_eq!(tree.calls("AuthTokenCheck"), 0, "PHP was not asked");
    server.shutdown().await;
    db.drop().await;
}
