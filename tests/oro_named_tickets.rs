//! Oro named tickets against a real PostgreSQL: a ticket minted for a back-office user (as Oro's
//! PHP does, with the user's password hash) is checked against the `oro_user` table of the
//! application database, and the user's user-scoped Oro topics then admit that user only.
//!
//! The test creates its own database (and drops it) on the PostgreSQL server at
//! `WAMPD_TEST_POSTGRES` (default `postgres://postgres:postgres@127.0.0.1:5432/postgres`; the
//! machine's server trusts loopback, and `.ci/run` starts one with that password when missing).

mod common;

use std::time::Duration;

use common::{connect_ws, Client, TestServer};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wampd_proto::oro_ticket as ticket;
use wampd_proto::wamp::{Dict, Serializer, Value};

const SECRET: &str = "ThisTokenIsNotSoSecretChangeIt";
const ADMIN_HASH: &str = "$2y$13$Qx1mVL1W1l2Yc8rKMQzWZOTzHk0HOJ9mCG5z.T5/jW.4jqhJbW9Wy";

fn admin_dsn() -> String {
    std::env::var("WAMPD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

/// `admin_dsn()` pointing at database `name`.
fn dsn_for(name: &str) -> String {
    let base = admin_dsn();
    let (server, _) = base.rsplit_once('/').expect("DSN has a database");
    format!("{server}/{name}")
}

async fn connect(dsn: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(dsn, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {dsn} (set WAMPD_TEST_POSTGRES): {e}"));
    tokio::spawn(connection);
    client
}

/// A fresh database holding Oro's `oro_user` table, dropped on `drop_database`.
struct OroDatabase {
    name: String,
    client: tokio_postgres::Client,
}

impl OroDatabase {
    async fn create() -> OroDatabase {
        let admin = connect(&admin_dsn()).await;
        let name = format!(
            "wampd_test_{}_{}",
            std::process::id(),
            wampd_proto::wamp::id::random_id()
        );
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let client = connect(&dsn_for(&name)).await;
        // The columns Oro's UserProvider reads (oro_user is much wider in Oro).
        client
            .batch_execute(
                "CREATE TABLE oro_user (
                    id SERIAL PRIMARY KEY,
                    username VARCHAR(255) NOT NULL UNIQUE,
                    email VARCHAR(255) NOT NULL UNIQUE,
                    password VARCHAR(255) NOT NULL,
                    enabled BOOLEAN NOT NULL DEFAULT TRUE
                 )",
            )
            .await
            .expect("create oro_user");
        OroDatabase { name, client }
    }

    async fn drop_database(self) {
        drop(self.client);
        let admin = connect(&admin_dsn()).await;
        let _ = admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await;
    }
}

/// A named ticket as Oro's `TicketProvider::generateTicket($user)` makes it.
fn named_ticket(username: &str, password_hash: &str) -> String {
    ticket::generate(
        SECRET,
        username,
        password_hash,
        "89abcdef01234567",
        &common::php_date_c(common::unix_now()),
    )
}

/// Opens a WAMP v1 connection with `ticket`; `Err(status)` when the upgrade is refused.
async fn v1_connect(server: &TestServer, ticket: &str) -> Result<common::Ws, u16> {
    let url = format!(
        "ws://{}/ws?ticket={}",
        server.addr,
        common::php_form_encode(ticket)
    );
    match connect_ws(&url, Some("wamp")).await {
        Ok(mut ws) => {
            let welcome = common::next_text(&mut ws).await;
            assert!(welcome.starts_with("[0,"), "{welcome}");
            Ok(ws)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("unexpected connection error {other}"),
    }
}

async fn send(ws: &mut common::Ws, text: &str) {
    ws.send(WsMessage::Text(text.into())).await.expect("send");
}

/// Admin (user 7) connects with a named ticket; another user's reminders are refused with Oro's
/// text.
async fn admin_with_its_own_topics(server: &TestServer) -> common::Ws {
    let mut admin = v1_connect(server, &named_ticket("admin", ADMIN_HASH))
        .await
        .expect("admin's ticket is accepted");
    send(&mut admin, r#"[5,"oro/reminder_remind/8"]"#).await;
    assert_eq!(
        common::next_text(&mut admin).await,
        r#"You are not allowed to subscribe on topic "oro/reminder_remind/8"."#
    );
    admin
}

/// Oro also finds users by e-mail; a ticket signed with another hash fails.
async fn by_email_and_only_with_the_right_hash(server: &TestServer) {
    assert!(
        v1_connect(server, &named_ticket("admin@example.com", ADMIN_HASH))
            .await
            .is_ok()
    );
    assert_eq!(
        v1_connect(server, &named_ticket("admin", "$2y$13$another"))
            .await
            .err(),
        Some(403)
    );
}

/// After admin's password hash changed to `changed` (cache off): old tickets fail, new ones work.
async fn the_new_password_hash_signs_from_now_on(server: &TestServer) {
    assert_eq!(
        v1_connect(server, &named_ticket("admin", ADMIN_HASH))
            .await
            .err(),
        Some(403)
    );
    assert!(v1_connect(server, &named_ticket("admin", "changed"))
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_tickets_are_checked_against_oro_user() {
    let db = OroDatabase::create().await;
    db.client
        .execute(
            "INSERT INTO oro_user (id, username, email, password) VALUES ($1, $2, $3, $4)",
            &[&7i32, &"admin", &"admin@example.com", &ADMIN_HASH],
        )
        .await
        .expect("insert admin");
    let dsn = dsn_for(&db.name);
    let server = TestServer::start(&[
        ("ORO_SECRET", SECRET),
        ("ORO_DB_DSN", dsn.as_str()),
        ("WEBSOCKET_ORO_USER_CACHE_TTL", "0"),
        ("WEBSOCKET_AUTHORIZATION_DEFAULT", "standard"),
    ])
    .await;

    let mut admin = admin_with_its_own_topics(&server).await;
    send(&mut admin, r#"[5,"oro/reminder_remind/7"]"#).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A browser's publish is dropped (the user role may only subscribe under the default
    // policy); the PHP backend's, with an anonymous ticket, is delivered.
    send(&mut admin, r#"[7,"oro/reminder_remind/7","spoofed"]"#).await;
    let anonymous = ticket::generate(
        SECRET,
        "",
        SECRET,
        "0123456789abcdef",
        &common::php_date_c(common::unix_now()),
    );
    let mut php = v1_connect(&server, &anonymous)
        .await
        .expect("the backend's anonymous ticket is accepted");
    send(
        &mut php,
        r#"[7,"oro/reminder_remind/7","call the customer",true]"#,
    )
    .await;
    assert_eq!(
        common::next_text(&mut admin).await,
        r#"[8,"oro\/reminder_remind\/7","call the customer"]"#
    );
    // WAMP v2 browsers (anonymous) may not publish there either.
    let mut browser = Client::join(&server, Serializer::Json).await;
    let mut options = Dict::new();
    options.insert("acknowledge".into(), Value::Bool(true));
    browser
        .send(&wampd_proto::wamp::Message::Publish {
            request: 1,
            options,
            topic: "oro/reminder_remind/7".into(),
            args: vec![Value::from("spoofed")],
            kwargs: Dict::new(),
        })
        .await;
    match browser.recv().await {
        wampd_proto::wamp::Message::Error { error, .. } => {
            assert_eq!(error, "wamp.error.not_authorized")
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    by_email_and_only_with_the_right_hash(&server).await;
    // A ticket for an unknown user, or after a password change, fails.
    assert_eq!(
        v1_connect(&server, &named_ticket("nobody", ADMIN_HASH))
            .await
            .err(),
        Some(403)
    );
    db.client
        .execute("UPDATE oro_user SET password = 'changed' WHERE id = 7", &[])
        .await
        .expect("update");
    the_new_password_hash_signs_from_now_on(&server).await;
    let m = common::scrape(server.addr).await;
    assert!(common::metric(&m, "wampd_authentication_failures_total") >= 3.0);
    server.shutdown().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_refuses_named_tickets_and_keeps_serving() {
    // Nothing listens on port 9 of loopback (discard), so the lookup fails at once.
    let server = TestServer::start(&[
        ("ORO_SECRET", SECRET),
        (
            "WEBSOCKET_DATABASE_DSN",
            "postgres://oro:secret@127.0.0.1:9/oro",
        ),
    ])
    .await;
    assert_eq!(
        v1_connect(&server, &named_ticket("admin", ADMIN_HASH))
            .await
            .err(),
        Some(403)
    );
    // Anonymous (backend) tickets and v2 sessions are unaffected.
    let created = common::php_date_c(common::unix_now());
    let anonymous = ticket::generate(SECRET, "", SECRET, "0123456789abcdef", &created);
    assert!(v1_connect(&server, &anonymous).await.is_ok());
    Client::join(&server, Serializer::Json).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_tickets_work_with_a_mysql_application_database() {
    let db = common::MySqlDatabase::create(
        "CREATE TABLE oro_user (
            id INT AUTO_INCREMENT PRIMARY KEY,
            username VARCHAR(255) NOT NULL UNIQUE,
            email VARCHAR(255) NOT NULL UNIQUE,
            password VARCHAR(255) NOT NULL
         );
         INSERT INTO oro_user (id, username, email, password)
            VALUES (7, 'admin', 'admin@example.com', '$2y$13$Qx1mVL1W1l2Yc8rKMQzWZOTzHk0HOJ9mCG5z.T5/jW.4jqhJbW9Wy')",
    )
    .await;
    // Doctrine's parameters ride along in Oro's URL; the driver ignores them.
    let dsn = format!("{}?serverVersion=mariadb-10.11.0&charset=utf8mb4", db.dsn);
    let server = TestServer::start(&[
        ("ORO_SECRET", SECRET),
        ("ORO_DB_DSN", dsn.as_str()),
        ("WEBSOCKET_ORO_USER_CACHE_TTL", "0"),
        ("WEBSOCKET_AUTHORIZATION_DEFAULT", "standard"),
    ])
    .await;
    // The user id came from MySQL: the user-scoped topic of user 8 is refused.
    let _admin = admin_with_its_own_topics(&server).await;
    by_email_and_only_with_the_right_hash(&server).await;
    db.execute("UPDATE oro_user SET password = 'changed' WHERE id = 7")
        .await;
    the_new_password_hash_signs_from_now_on(&server).await;
    server.shutdown().await;
    db.drop().await;
}
