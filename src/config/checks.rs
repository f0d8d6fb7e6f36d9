//! The external-check variables (listed with the others in [`super::table`]): the connect check
//! on WebSocket upgrades, the subscribe check, and the limits every check obeys. Mechanism:
//! [`crate::checks`]; the EspoCRM profile fills these in from Espo's own configuration.

use std::path::PathBuf;

use super::describe::format_duration;
use super::env_files::EnvMap;
use super::settings::knob;
use super::table::*;
use super::ConfigError;
use crate::checks::template::Template;
use crate::checks::{Check, CheckLimits, Runner};
use crate::database::SqlTemplate;
use wampd_proto::units::{parse_duration, parse_usize};

/// The connect check and how its answer becomes an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectCheckSettings {
    /// WEBSOCKET_CONNECT_CHECK (with its expectation).
    pub check: Check,
    /// WEBSOCKET_CONNECT_CHECK_AUTHID: the admitted session's authid.
    pub authid: Template,
    /// WEBSOCKET_CONNECT_CHECK_ROLE.
    pub authrole: String,
}

/// Every external-check setting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckSettings {
    /// The connect check, `None` = none.
    pub connect: Option<ConnectCheckSettings>,
    /// WEBSOCKET_SUBSCRIBE_CHECK (with its expectation), `None` = none (the EspoCRM profile has
    /// its own per-category checks).
    pub subscribe: Option<Check>,
    /// WEBSOCKET_CHECK_DIR.
    pub dir: Option<PathBuf>,
    /// WEBSOCKET_CHECK_TIMEOUT and the other limits.
    pub limits: CheckLimits,
}

/// Parses `exec:PROGRAM ARGS…`, `sql:STATEMENT` or an `http(s)://` URL.
fn parse_runner(value: &str, dir: Option<&PathBuf>, has_database: bool) -> Result<Runner, String> {
    const EXPECTED: &str =
        "exec:PROGRAM ARGUMENTS (with :placeholders), sql:STATEMENT or an http:// or https:// URL";
    if let Some(statement) = value.strip_prefix("sql:") {
        if !has_database {
            return Err(format!(
                "{EXPECTED}; sql: needs WEBSOCKET_DATABASE_DSN (the application database)"
            ));
        }
        return SqlTemplate::parse(statement)
            .map(Runner::Sql)
            .map_err(|why| format!("{EXPECTED} ({why})"));
    }
    if let Some(command) = value.strip_prefix("exec:") {
        let mut words = command.split_whitespace();
        let program = words
            .next()
            .ok_or_else(|| format!("{EXPECTED} (no program after exec:)"))?;
        let args = Template::parse(&words.collect::<Vec<_>>().join(" "))?;
        return Ok(Runner::Exec {
            program: program.to_owned(),
            args,
            cwd: dir.cloned(),
        });
    }
    let url = url::Url::parse(value).map_err(|err| format!("{EXPECTED} ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(EXPECTED.to_string());
    }
    Ok(Runner::Http(url))
}

fn expectation(env: &EnvMap, name: &str) -> Result<Option<Template>, ConfigError> {
    knob(env, name, None, |s| Template::parse(s).map(Some))
}

/// `:userId`, the default WEBSOCKET_CONNECT_CHECK_AUTHID.
fn default_authid() -> Template {
    Template::literal(":userId")
}

/// Reads the external-check settings.
pub fn checks_from_env(env: &EnvMap, has_database: bool) -> Result<CheckSettings, ConfigError> {
    let d = CheckLimits::default();
    let limits =
        CheckLimits {
            timeout: knob(
                env,
                WEBSOCKET_CHECK_TIMEOUT,
                d.timeout,
                |s| match parse_duration(s)? {
                    t if t.is_zero() => Err("a duration greater than 0 such as 5s".to_string()),
                    t => Ok(t),
                },
            )?,
            concurrency: knob(env, WEBSOCKET_CHECK_CONCURRENCY, d.concurrency, |s| {
                match parse_usize(s)? {
                    0 => Err("a whole number greater than 0 such as 8".to_string()),
                    n => Ok(n),
                }
            })?,
            queue: knob(env, WEBSOCKET_CHECK_QUEUE, d.queue, parse_usize)?,
            cache_ttl: knob(env, WEBSOCKET_CHECK_CACHE_TTL, d.cache_ttl, parse_duration)?,
        };
    let dir = knob(env, WEBSOCKET_CHECK_DIR, None, |s| {
        let path = PathBuf::from(s);
        if path.is_dir() {
            Ok(Some(path))
        } else {
            Err("an existing directory".to_string())
        }
    })?;
    let connect = match knob(env, WEBSOCKET_CONNECT_CHECK, None, |s| {
        parse_runner(s, dir.as_ref(), has_database).map(Some)
    })? {
        None => None,
        Some(runner) => Some(ConnectCheckSettings {
            check: Check {
                name: "connect",
                runner,
                expect: expectation(env, WEBSOCKET_CONNECT_CHECK_EXPECT)?,
            },
            authid: knob(
                env,
                WEBSOCKET_CONNECT_CHECK_AUTHID,
                default_authid(),
                Template::parse,
            )?,
            authrole: knob(env, WEBSOCKET_CONNECT_CHECK_ROLE, "user".to_string(), |s| {
                Ok(s.to_string())
            })?,
        }),
    };
    let subscribe = match knob(env, WEBSOCKET_SUBSCRIBE_CHECK, None, |s| {
        parse_runner(s, dir.as_ref(), has_database).map(Some)
    })? {
        None => None,
        Some(runner) => Some(Check {
            name: "subscribe",
            runner,
            expect: expectation(env, WEBSOCKET_SUBSCRIBE_CHECK_EXPECT)?,
        }),
    };
    Ok(CheckSettings {
        connect,
        subscribe,
        dir,
        limits,
    })
}

fn runner_text(runner: &Runner) -> String {
    match runner {
        Runner::Exec { program, .. } => format!("exec {program}"),
        Runner::Http(url) => crate::checks::http::masked(url),
        Runner::Sql(statement) => format!("sql {statement}"),
    }
}

/// `config:check` rows, in table order.
pub fn describe(checks: &CheckSettings) -> Vec<(&'static str, String)> {
    let none = || "(none)".to_string();
    let connect = checks.connect.as_ref();
    vec![
        (
            WEBSOCKET_CONNECT_CHECK,
            connect.map_or_else(none, |c| runner_text(&c.check.runner)),
        ),
        (
            WEBSOCKET_CONNECT_CHECK_EXPECT,
            connect.and_then(|c| c.check.expect.as_ref()).map_or_else(
                || "(exit status 0 / HTTP 2xx)".to_string(),
                |t| t.to_string(),
            ),
        ),
        (
            WEBSOCKET_CONNECT_CHECK_AUTHID,
            connect.map_or_else(|| ":userId".to_string(), |c| c.authid.to_string()),
        ),
        (
            WEBSOCKET_CONNECT_CHECK_ROLE,
            connect.map_or_else(|| "user".to_string(), |c| c.authrole.clone()),
        ),
        (
            WEBSOCKET_SUBSCRIBE_CHECK,
            checks
                .subscribe
                .as_ref()
                .map_or_else(none, |c| runner_text(&c.runner)),
        ),
        (
            WEBSOCKET_SUBSCRIBE_CHECK_EXPECT,
            checks
                .subscribe
                .as_ref()
                .and_then(|c| c.expect.as_ref())
                .map_or_else(
                    || "(exit status 0 / HTTP 2xx)".to_string(),
                    |t| t.to_string(),
                ),
        ),
        (
            WEBSOCKET_CHECK_DIR,
            checks
                .dir
                .as_ref()
                .map_or_else(|| "(the router's)".to_string(), |d| d.display().to_string()),
        ),
        (
            WEBSOCKET_CHECK_TIMEOUT,
            format_duration(checks.limits.timeout),
        ),
        (
            WEBSOCKET_CHECK_CONCURRENCY,
            checks.limits.concurrency.to_string(),
        ),
        (WEBSOCKET_CHECK_QUEUE, checks.limits.queue.to_string()),
        (
            WEBSOCKET_CHECK_CACHE_TTL,
            format_duration(checks.limits.cache_ttl),
        ),
    ]
}
