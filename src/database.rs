//! The application's database, PostgreSQL or MySQL/MariaDB, for the lookups wampd makes in it:
//! Oro's users for named tickets ([`crate::oro::user_store`]) and `sql:` external checks
//! ([`crate::checks`]).
//!
//! Oro runs on PostgreSQL or MySQL, EspoCRM usually on MariaDB; `WEBSOCKET_DATABASE_DSN` (or Oro's
//! `ORO_DB_DSN` / `ORO_DB_URL`) is a Doctrine-style URL of either. Both drivers are pure Rust on
//! tokio. Every lookup is one parameterised statement returning at most one row as text, with a
//! timeout; PostgreSQL shares one connection (reopened after a failure), MySQL a pool of at most
//! [`MYSQL_POOL_MAX`]. No lock is held across an `.await`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use tokio_postgres::config::SslMode;
use tokio_postgres::NoTls;
use tracing::{debug, warn};

/// How long connecting, or one statement, may take.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most MySQL connections open at once.
pub const MYSQL_POOL_MAX: usize = 4;

/// Which SQL dialect a statement must be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL: parameters are `$1`, `$2`, …
    Postgres,
    /// MySQL and MariaDB: parameters are `?`.
    MySql,
}

/// A parsed database URL.
#[derive(Clone)]
pub enum DatabaseConfig {
    /// PostgreSQL.
    Postgres(Box<tokio_postgres::Config>),
    /// MySQL or MariaDB.
    MySql(mysql_async::Opts),
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseConfig::Postgres(c) => write!(f, "Postgres({:?})", c.get_dbname()),
            DatabaseConfig::MySql(o) => write!(f, "MySql({:?})", o.db_name()),
        }
    }
}

const EXPECTED: &str = "a PostgreSQL or MySQL URL such as postgres://user:password@127.0.0.1:5432/database or mysql://user:password@127.0.0.1:3306/database";

fn percent_decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|d| d.into_owned())
        .map_err(|_| format!("{EXPECTED} (bad percent-encoding)"))
}

impl DatabaseConfig {
    /// Parses a database URL as Oro and Doctrine write them (`postgres://`, `postgresql://`,
    /// `pgsql://`, `pdo-pgsql://`, `mysql://`, `mariadb://`, `pdo-mysql://`, with parameters such
    /// as `serverVersion` or `charset` that only Doctrine uses ignored). The `Err` says what was
    /// expected and never contains the password.
    pub fn parse(dsn: &str) -> Result<DatabaseConfig, String> {
        let url = url::Url::parse(dsn.trim()).map_err(|_| EXPECTED.to_string())?;
        let mysql = match url.scheme() {
            "postgres" | "postgresql" | "pgsql" | "pdo-pgsql" => false,
            "mysql" | "mariadb" | "pdo-mysql" | "mysql2" => true,
            other => {
                return Err(format!(
                    "{EXPECTED} (scheme {other} is neither PostgreSQL nor MySQL)"
                ))
            }
        };
        let database = percent_decode(url.path().trim_start_matches('/'))?;
        if database.is_empty() {
            return Err(format!("{EXPECTED} (no database name)"));
        }
        let user = (!url.username().is_empty())
            .then(|| percent_decode(url.username()))
            .transpose()?;
        let password = url.password().map(percent_decode).transpose()?;
        let mut host = url
            .host_str()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let mut tls = false;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "host" => host = value.into_owned(),
                "sslmode" | "ssl-mode" | "ssl_mode" => match value.to_ascii_lowercase().as_str() {
                    "disable" | "disabled" | "allow" | "prefer" | "preferred" => tls = false,
                    "require" | "required" if mysql => tls = true,
                    other => {
                        return Err(format!(
                            "{EXPECTED} with sslmode disable, allow or prefer{} (sslmode={other})",
                            if mysql {
                                ", or require"
                            } else {
                                " (TLS to PostgreSQL is not supported)"
                            }
                        ))
                    }
                },
                _ => {}
            }
        }
        if host.is_empty() {
            host = "127.0.0.1".into();
        }
        if !mysql {
            let mut config = tokio_postgres::Config::new();
            config
                .application_name("wampd")
                .dbname(&database)
                .host(&host)
                .port(url.port().unwrap_or(5432))
                .user(user.as_deref().unwrap_or("postgres"))
                .ssl_mode(SslMode::Disable)
                .connect_timeout(STATEMENT_TIMEOUT);
            if let Some(password) = password {
                config.password(password);
            }
            return Ok(DatabaseConfig::Postgres(Box::new(config)));
        }
        let pool = mysql_async::PoolOpts::default().with_constraints(
            mysql_async::PoolConstraints::new(0, MYSQL_POOL_MAX)
                .ok_or_else(|| EXPECTED.to_string())?,
        );
        let mut builder = mysql_async::OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(url.port().unwrap_or(3306))
            .user(Some(user.unwrap_or_else(|| "root".into())))
            .pass(password)
            .db_name(Some(database))
            .prefer_socket(false)
            .pool_opts(pool);
        if tls {
            builder = builder.ssl_opts(mysql_async::SslOpts::default());
        }
        Ok(DatabaseConfig::MySql(builder.into()))
    }
}

enum Backend {
    Postgres {
        config: Box<tokio_postgres::Config>,
        client: Mutex<Option<Arc<tokio_postgres::Client>>>,
    },
    MySql(mysql_async::Pool),
}

/// A connection (or pool) to the application database. Connects lazily, on the first lookup.
pub struct Database {
    backend: Backend,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("dialect", &self.dialect())
            .finish_non_exhaustive()
    }
}

/// One row, its columns as text (`None` for NULL).
pub type Row = Vec<Option<String>>;

impl Database {
    /// A database for `config`; nothing is opened yet.
    pub fn new(config: DatabaseConfig) -> Database {
        Database {
            backend: match config {
                DatabaseConfig::Postgres(config) => Backend::Postgres {
                    config,
                    client: Mutex::new(None),
                },
                DatabaseConfig::MySql(opts) => Backend::MySql(mysql_async::Pool::new(opts)),
            },
        }
    }

    /// The dialect statements for this database are written in.
    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Postgres { .. } => Dialect::Postgres,
            Backend::MySql(_) => Dialect::MySql,
        }
    }

    /// Runs `sql` (in [`Database::dialect`]) with text `params`; the first row, if any.
    pub async fn query_row(&self, sql: &str, params: &[&str]) -> Result<Option<Row>, String> {
        match tokio::time::timeout(STATEMENT_TIMEOUT, self.query_row_untimed(sql, params)).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "the application database did not answer within {STATEMENT_TIMEOUT:?}"
            )),
        }
    }

    async fn query_row_untimed(&self, sql: &str, params: &[&str]) -> Result<Option<Row>, String> {
        match &self.backend {
            Backend::Postgres { config, client } => {
                match postgres_row(config, client, sql, params).await {
                    Ok(row) => Ok(row),
                    Err(first) => {
                        // A connection that broke since the last lookup: reconnect once.
                        debug!(error = %first, "database lookup failed; reconnecting");
                        *client.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        postgres_row(config, client, sql, params).await
                    }
                }
            }
            Backend::MySql(pool) => {
                let mut conn = pool
                    .get_conn()
                    .await
                    .map_err(|e| format!("cannot connect to the application database: {e}"))?;
                let values: Vec<mysql_async::Value> = params
                    .iter()
                    .map(|p| mysql_async::Value::Bytes(p.as_bytes().to_vec()))
                    .collect();
                let row: Option<mysql_async::Row> = conn
                    .exec_first(sql, mysql_async::Params::Positional(values))
                    .await
                    .map_err(|e| format!("the application database refused a lookup: {e}"))?;
                Ok(row.map(|row| (0..row.len()).map(|i| mysql_text(row.as_ref(i))).collect()))
            }
        }
    }
}

fn mysql_text(value: Option<&mysql_async::Value>) -> Option<String> {
    use mysql_async::Value;
    match value? {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

async fn postgres_client(
    config: &tokio_postgres::Config,
    slot: &Mutex<Option<Arc<tokio_postgres::Client>>>,
) -> Result<Arc<tokio_postgres::Client>, String> {
    let current = slot.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(client) = current.filter(|c| !c.is_closed()) {
        return Ok(client);
    }
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| format!("cannot connect to the application database: {e}"))?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            warn!(error = %err, "connection to the application database lost");
        }
    });
    let client = Arc::new(client);
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(client.clone());
    Ok(client)
}

async fn postgres_row(
    config: &tokio_postgres::Config,
    slot: &Mutex<Option<Arc<tokio_postgres::Client>>>,
    sql: &str,
    params: &[&str],
) -> Result<Option<Row>, String> {
    let client = postgres_client(config, slot).await?;
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
        .iter()
        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let row = client
        .query_opt(sql, &params)
        .await
        .map_err(|e| format!("the application database refused a lookup: {e}"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(
        (0..row.len())
            .map(|i| {
                row.try_get::<_, Option<String>>(i)
                    .ok()
                    .flatten()
                    .or_else(|| {
                        row.try_get::<_, Option<i64>>(i)
                            .ok()
                            .flatten()
                            .map(|v| v.to_string())
                    })
                    .or_else(|| {
                        row.try_get::<_, Option<i32>>(i)
                            .ok()
                            .flatten()
                            .map(|v| v.to_string())
                    })
                    .or_else(|| {
                        row.try_get::<_, Option<bool>>(i)
                            .ok()
                            .flatten()
                            .map(|v| v.to_string())
                    })
            })
            .collect(),
    ))
}

/// A statement with `:name` placeholders, turned into the dialect's positional parameters once.
/// Placeholders inside quotes and PostgreSQL's `::type` casts are left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlTemplate {
    text: String,
    names: Vec<String>,
}

impl SqlTemplate {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<SqlTemplate, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("an empty statement".into());
        }
        if text.contains(';') {
            return Err("one statement, without ';'".into());
        }
        let mut names = Vec::new();
        let mut out = String::new();
        let mut quote: Option<char> = None;
        let mut chars = text.chars().peekable();
        let mut previous = ' ';
        while let Some(c) = chars.next() {
            match quote {
                Some(q) => {
                    out.push(c);
                    if c == q {
                        quote = None;
                    }
                }
                None if c == '\'' || c == '"' || c == '`' => {
                    quote = Some(c);
                    out.push(c);
                }
                None if c == ':'
                    && previous != ':'
                    && chars
                        .peek()
                        .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_') =>
                {
                    let mut name = String::new();
                    while let Some(&n) = chars.peek() {
                        if n.is_ascii_alphanumeric() || n == '_' {
                            name.push(n);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    names.push(name);
                    out.push('\u{0}');
                    previous = 'x';
                    continue;
                }
                None => out.push(c),
            }
            previous = c;
        }
        if names.len() > 32 {
            return Err("more than 32 placeholders".into());
        }
        Ok(SqlTemplate { text: out, names })
    }

    /// The statement in `dialect`, and the placeholder names in parameter order.
    pub fn render(&self, dialect: Dialect) -> (String, &[String]) {
        let mut out = String::with_capacity(self.text.len() + 8);
        let mut n = 0;
        for c in self.text.chars() {
            if c == '\u{0}' {
                n += 1;
                match dialect {
                    Dialect::Postgres => out.push_str(&format!("${n}")),
                    Dialect::MySql => out.push('?'),
                }
            } else {
                out.push(c);
            }
        }
        (out, &self.names)
    }

    /// The placeholder names, in order of use.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

impl std::fmt::Display for SqlTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names = self.names.iter();
        for c in self.text.chars() {
            if c == '\u{0}' {
                write!(f, ":{}", names.next().map_or("", String::as_str))?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_both_databases_are_understood_without_showing_passwords() {
        assert!(matches!(
            DatabaseConfig::parse("mysql://espo:p%40ss@127.0.0.1:3306/espocrm?serverVersion=mariadb-10.11&charset=utf8mb4"),
            Ok(DatabaseConfig::MySql(_))
        ));
        match DatabaseConfig::parse("mariadb://espo:pw@db/espo?sslmode=require") {
            Ok(DatabaseConfig::MySql(opts)) => {
                assert_eq!(opts.ip_or_hostname(), "db");
                assert_eq!(opts.tcp_port(), 3306);
                assert_eq!(opts.user(), Some("espo"));
                assert!(opts.ssl_opts().is_some());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            DatabaseConfig::parse("pgsql://root@127.0.0.1/oro"),
            Ok(DatabaseConfig::Postgres(_))
        ));
        for (dsn, expected) in [
            ("sqlite://root:hunter2@x/db", "neither"),
            ("mysql://root:hunter2@127.0.0.1/", "no database"),
            ("postgres://root:hunter2@h/db?sslmode=require", "sslmode"),
            ("not a url", "MySQL URL"),
        ] {
            let err = DatabaseConfig::parse(dsn).expect_err(dsn);
            assert!(err.contains(expected), "{dsn}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn placeholders_become_positional_parameters() {
        let t = SqlTemplate::parse(
            "SELECT t.user_id FROM auth_token t WHERE t.token = :authToken AND t.user_id = :userId AND x::text = ':no'",
        )
        .expect("parses");
        let (pg, names) = t.render(Dialect::Postgres);
        assert_eq!(
            pg,
            "SELECT t.user_id FROM auth_token t WHERE t.token = $1 AND t.user_id = $2 AND x::text = ':no'"
        );
        assert_eq!(names, ["authToken", "userId"]);
        let (my, _) = t.render(Dialect::MySql);
        assert!(my.contains("t.token = ? AND t.user_id = ?"), "{my}");
        assert!(SqlTemplate::parse("SELECT 1; DROP TABLE x").is_err());
        assert_eq!(t.to_string().matches(":authToken").count(), 1);
    }
}
