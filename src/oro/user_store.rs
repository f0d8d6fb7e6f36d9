//! Oro back-office users read from the application's PostgreSQL database, for named tickets.
//!
//! A named Oro ticket is signed with the user's stored password hash (`oro_user.password`), and
//! Oro's user-scoped topics need the user's id (`oro_user.id`) (`protocol/oro-gos.md` §7, step 4).
//! Only the application database knows them, so the router reads them the way Oro's user provider
//! does: by `username`, else by `email` when the login looks like an address. No enabled/locked
//! check, as in Oro.
//!
//! Lookups are cached for a short time (negative answers for a tenth of it), because every browser
//! tab of a user opens a connection with a fresh ticket, and the cache is bounded. One connection
//! is shared by all lookups and reopened on the next lookup after it fails; no lock is held across
//! an `.await`. The only module of `oro` that does I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};
use tracing::{debug, warn};

/// Most cached logins; beyond it expired entries are purged, then everything.
const MAX_CACHED: usize = 10_000;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A back-office user as Oro's ticket check needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct OroUser {
    /// `oro_user.id`.
    pub id: u64,
    /// `oro_user.username`.
    pub username: String,
    /// `oro_user.password`: the stored hash, the "password" a named ticket is signed with.
    pub password: String,
}

impl std::fmt::Debug for OroUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OroUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// Turns a database URL as Oro writes it (`ORO_DB_URL` / `ORO_DB_DSN`:
/// `postgres://user:pass@host:5432/db?sslmode=disable&serverVersion=13.7&charset=utf8`) into a
/// connection configuration. Parameters only Doctrine uses are ignored. `Err` says what was
/// expected and never contains the password.
pub fn connect_config(dsn: &str) -> Result<Config, String> {
    let expected = "a PostgreSQL URL such as postgres://user:password@127.0.0.1:5432/database";
    let url = url::Url::parse(dsn.trim()).map_err(|_| expected.to_string())?;
    if !matches!(
        url.scheme(),
        "postgres" | "postgresql" | "pgsql" | "pdo-pgsql"
    ) {
        return Err(format!(
            "{expected} (scheme {} is not PostgreSQL)",
            url.scheme()
        ));
    }
    let decode =
        |s: &str| percent_decode(s).ok_or_else(|| format!("{expected} (bad percent-encoding)"));
    let mut config = Config::new();
    config.application_name("wampd");
    let mut host = url.host_str().unwrap_or("").to_string();
    let database = decode(url.path().trim_start_matches('/'))?;
    if database.is_empty() {
        return Err(format!("{expected} (no database name)"));
    }
    config.dbname(&database);
    if !url.username().is_empty() {
        config.user(&decode(url.username())?);
    }
    if let Some(password) = url.password() {
        config.password(decode(password)?);
    }
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "sslmode" => match value.as_ref() {
                "disable" | "allow" | "prefer" => {
                    config.ssl_mode(SslMode::Disable);
                }
                other => {
                    return Err(format!(
                        "{expected} with sslmode disable, allow or prefer (TLS to PostgreSQL is not supported; sslmode={other})"
                    ))
                }
            },
            "host" => host = value.into_owned(),
            "application_name" => {
                config.application_name(value.as_ref());
            }
            _ => {}
        }
    }
    if host.is_empty() {
        host = "127.0.0.1".into();
    }
    config.host(host.trim_start_matches('[').trim_end_matches(']'));
    config.port(url.port().unwrap_or(5432));
    if config.get_user().is_none() {
        config.user("postgres");
    }
    config.connect_timeout(CONNECT_TIMEOUT);
    Ok(config)
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

type Cached = (Instant, Option<OroUser>);

/// Looks up and caches Oro users.
pub struct UserStore {
    config: Config,
    ttl: Duration,
    client: Mutex<Option<Arc<Client>>>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for UserStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserStore")
            .field("database", &self.config.get_dbname())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl UserStore {
    /// A store for the database `config`, caching answers for `ttl` (zero: no cache).
    pub fn new(config: Config, ttl: Duration) -> UserStore {
        UserStore {
            config,
            ttl,
            client: Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The user whose username (or, for a login containing `@`, e-mail) is `login`; `Ok(None)`
    /// when there is none; `Err` (for the log) when the database cannot be asked.
    pub async fn find(&self, login: &str) -> Result<Option<OroUser>, String> {
        if let Some((at, user)) = self.cache().get(login) {
            let ttl = if user.is_some() {
                self.ttl
            } else {
                self.ttl / 10
            };
            if at.elapsed() < ttl {
                return Ok(user.clone());
            }
        }
        let user = match self.query(login).await {
            Ok(user) => user,
            Err(first) => {
                // A connection that broke since the last lookup: reconnect once.
                debug!(error = %first, "Oro user lookup failed; reconnecting");
                self.forget_client();
                self.query(login).await?
            }
        };
        if !self.ttl.is_zero() {
            let mut cache = self.cache();
            if cache.len() >= MAX_CACHED {
                let ttl = self.ttl;
                cache.retain(|_, (at, _)| at.elapsed() < ttl);
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(login.to_owned(), (Instant::now(), user.clone()));
        }
        Ok(user)
    }

    fn forget_client(&self) {
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    async fn client(&self) -> Result<Arc<Client>, String> {
        let current = self
            .client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(client) = current.filter(|c| !c.is_closed()) {
            return Ok(client);
        }
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| format!("cannot connect to the application database: {e}"))?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                warn!(error = %err, "connection to the application database lost");
            }
        });
        let client = Arc::new(client);
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client.clone());
        Ok(client)
    }

    async fn query(&self, login: &str) -> Result<Option<OroUser>, String> {
        let client = self.client().await?;
        let by_username = "SELECT id::bigint, username::text, password::text FROM oro_user WHERE username = $1 LIMIT 1";
        let by_email = "SELECT id::bigint, username::text, password::text FROM oro_user WHERE email = $1 LIMIT 1";
        let mut row = client
            .query_opt(by_username, &[&login])
            .await
            .map_err(|e| format!("reading oro_user failed: {e}"))?;
        if row.is_none() && login.contains('@') {
            row = client
                .query_opt(by_email, &[&login])
                .await
                .map_err(|e| format!("reading oro_user failed: {e}"))?;
        }
        let Some(row) = row else {
            return Ok(None);
        };
        let id: i64 = row.try_get(0).map_err(|e| e.to_string())?;
        let username: String = row.try_get(1).map_err(|e| e.to_string())?;
        let password: Option<String> = row.try_get(2).map_err(|e| e.to_string())?;
        Ok(Some(OroUser {
            id: u64::try_from(id).unwrap_or(0),
            username,
            password: password.unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::config::Host;

    #[test]
    fn oro_database_urls_are_understood() {
        let config = connect_config(
            "postgres://oro%40crm:p%3Ass@db.local:6543/oro_crm?sslmode=disable&charset=utf8&serverVersion=13.7",
        )
        .expect("valid");
        assert_eq!(config.get_user(), Some("oro@crm"));
        assert_eq!(config.get_password(), Some(&b"p:ss"[..]));
        assert_eq!(config.get_dbname(), Some("oro_crm"));
        assert_eq!(config.get_ports(), &[6543]);
        assert_eq!(config.get_hosts(), &[Host::Tcp("db.local".into())]);
        let config = connect_config("pgsql://root@127.0.0.1/oro").expect("valid");
        assert_eq!(config.get_hosts(), &[Host::Tcp("127.0.0.1".into())]);
        assert_eq!(config.get_ports(), &[5432]);
    }

    #[test]
    fn bad_urls_say_what_was_expected_without_the_password() {
        for (dsn, expected) in [
            ("mysql://root:hunter2@127.0.0.1/oro", "not PostgreSQL"),
            ("postgres://root:hunter2@127.0.0.1/", "no database"),
            (
                "postgres://root:hunter2@127.0.0.1/db?sslmode=require",
                "sslmode",
            ),
            ("not a url", "PostgreSQL URL"),
        ] {
            let err = connect_config(dsn).expect_err(dsn);
            assert!(err.contains(expected), "{dsn}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
