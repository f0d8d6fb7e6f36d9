//! External checks: the application decides whether a connection or a subscription is admitted.
//!
//! Some applications keep their permissions where only they can evaluate them: EspoCRM's ACL
//! (roles, teams, portals) runs in PHP, so its websocket daemon asks `php command.php AclCheck`
//! for every subscription and `AuthTokenCheck` for every connection. wampd does the same, for Espo
//! and for any application, in one mechanism with two runners:
//!
//! * [`Runner::Exec`]: a program with an argument [`template::Template`], run without a shell in
//!   a working directory; the check passes when it exits 0 and, where an expectation is set, its
//!   standard output (trimmed) equals it (`:userId` for Espo's `AuthTokenCheck`, `true` for
//!   `AclCheck`, which fits every Espo version).
//! * [`Runner::Sql`]: a statement on the application database (PostgreSQL or MySQL/MariaDB)
//!   with the placeholders bound as parameters, for checks the database alone can answer (Espo's
//!   token table); it passes when a row comes back.
//! * [`Runner::Http`]: a `POST` of the parameters as a JSON object to a URL the operator
//!   configures, as Centrifugo's connect and subscribe proxies do, for applications on another
//!   host; the check passes on a 2xx answer (and the expectation against the body, when set).
//!
//! Every check is bounded: a timeout (the process is killed), a concurrency limit with a bounded
//! queue behind it (beyond it, a check fails at once rather than piling up processes), a bounded
//! output, and a short positive cache that also makes concurrent identical checks share one run
//! ([`cache`]). A check that cannot run (timeout, full queue, spawn error) fails closed.

pub mod cache;
pub mod http;
pub mod template;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

use self::template::Template;
use crate::database::{Database, SqlTemplate};

/// Most bytes of a check's output read.
pub const MAX_OUTPUT: usize = 4096;

/// What a check said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed; the output (trimmed), for callers that read an identity from it.
    Allowed(String),
    /// The application said no.
    Denied(String),
    /// The check could not give an answer (timeout, overload, spawn or network error).
    Failed(String),
}

impl Outcome {
    /// Whether the check passed.
    pub fn allowed(&self) -> bool {
        matches!(self, Outcome::Allowed(_))
    }

    /// The `outcome` label of `wampd_external_checks_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Allowed(_) => "allowed",
            Outcome::Denied(_) => "denied",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// How a check is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// Run `program` with `args` in `cwd`.
    Exec {
        /// The program (a path or a name looked up in `PATH`).
        program: String,
        /// Its arguments.
        args: Template,
        /// Working directory (Espo: the installation root).
        cwd: Option<PathBuf>,
    },
    /// POST the parameters to this `http://` or `https://` URL.
    Http(url::Url),
    /// Run this statement on the application database (`WEBSOCKET_DATABASE_DSN`) with the
    /// placeholders bound as parameters; the check passes when it returns a row (its first column
    /// is the output).
    Sql(SqlTemplate),
}

/// One configured check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// A short name for logs and metrics (`connect`, `subscribe`).
    pub name: &'static str,
    /// How it is asked.
    pub runner: Runner,
    /// What the output must be (trimmed), with placeholders; `None` = exit status / HTTP status
    /// alone decides.
    pub expect: Option<Template>,
}

/// The values a check's placeholders take.
pub type Params = Vec<(String, String)>;

fn lookup<'p>(params: &'p Params) -> impl Fn(&str) -> Option<&'p str> + 'p {
    move |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Limits every check obeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckLimits {
    /// Longest a check may take, waiting for a slot included.
    pub timeout: Duration,
    /// Checks running at once.
    pub concurrency: usize,
    /// Checks waiting for a slot; more fail at once.
    pub queue: usize,
    /// How long a passing answer is remembered.
    pub cache_ttl: Duration,
}

impl Default for CheckLimits {
    fn default() -> CheckLimits {
        CheckLimits {
            timeout: Duration::from_secs(5),
            concurrency: 8,
            queue: 1000,
            cache_ttl: Duration::from_secs(30),
        }
    }
}

/// Runs checks within [`CheckLimits`]; one per router, shared by every check.
pub struct Checker {
    limits: CheckLimits,
    database: Option<Arc<Database>>,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    cache: cache::Cache,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Checker {
    /// A checker with `limits`; `sql:` checks run on `database`.
    pub fn new(limits: CheckLimits, database: Option<Arc<Database>>) -> Checker {
        Checker {
            database,
            slots: Arc::new(Semaphore::new(limits.concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            cache: cache::Cache::new(limits.cache_ttl),
            limits,
        }
    }

    /// Asks `check` with `params`.
    pub async fn run(&self, check: &Check, params: &Params) -> Outcome {
        let mut key = String::from(check.name);
        for (k, v) in params {
            key.push('\0');
            key.push_str(k);
            key.push('=');
            key.push_str(v);
        }
        self.cache
            .get_or_run(key, || async {
                match tokio::time::timeout(self.limits.timeout, self.run_uncached(check, params))
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        Outcome::Failed(format!("no answer within {:?}", self.limits.timeout))
                    }
                }
            })
            .await
    }

    async fn run_uncached(&self, check: &Check, params: &Params) -> Outcome {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.limits.queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Outcome::Failed("too many checks waiting".into());
        }
        let permit = self.slots.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let Ok(_permit) = permit else {
            return Outcome::Failed("the checker is closed".into());
        };
        let expected = match &check.expect {
            None => None,
            Some(t) => match t.render(lookup(params)) {
                Ok(words) => Some(words.join(" ")),
                Err(why) => return Outcome::Denied(why),
            },
        };
        let answer = match &check.runner {
            Runner::Exec { program, args, cwd } => exec(program, args, cwd.as_ref(), params).await,
            Runner::Http(url) => http::post(url, check.name, params).await,
            Runner::Sql(statement) => self.sql(statement, params).await,
        };
        match answer {
            Err(outcome) => outcome,
            Ok(output) => match expected {
                Some(expected) if output != expected => {
                    Outcome::Denied(format!("answered {:?}", truncate(&output)))
                }
                _ => Outcome::Allowed(output),
            },
        }
    }
}

impl Checker {
    async fn sql(&self, statement: &SqlTemplate, params: &Params) -> Result<String, Outcome> {
        let Some(database) = &self.database else {
            return Err(Outcome::Failed("no application database configured".into()));
        };
        let (sql, names) = statement.render(database.dialect());
        let mut values = Vec::with_capacity(names.len());
        for name in names {
            let value = lookup(params)(name).unwrap_or("");
            if value.len() > 256 {
                return Err(Outcome::Denied(format!(":{name} is longer than 256 bytes")));
            }
            values.push(value);
        }
        match database.query_row(&sql, &values).await {
            Ok(Some(row)) => Ok(row
                .into_iter()
                .next()
                .flatten()
                .unwrap_or_default()
                .trim()
                .to_string()),
            Ok(None) => Err(Outcome::Denied("no matching row".into())),
            Err(why) => Err(Outcome::Failed(why)),
        }
    }
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Runs the program; `Ok` = exit status 0 with its trimmed output.
async fn exec(
    program: &str,
    args: &Template,
    cwd: Option<&PathBuf>,
    params: &Params,
) -> Result<String, Outcome> {
    let argv = args.render(lookup(params)).map_err(Outcome::Denied)?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(&argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(dir) = cwd {
        command.current_dir(dir);
    }
    let mut child = command
        .spawn()
        .map_err(|err| Outcome::Failed(format!("cannot run {program}: {err}")))?;
    let mut output = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = stdout
            .take(MAX_OUTPUT as u64)
            .read_to_end(&mut output)
            .await;
    }
    let status = child
        .wait()
        .await
        .map_err(|err| Outcome::Failed(format!("{program}: {err}")))?;
    let output = String::from_utf8_lossy(&output).trim().to_string();
    if status.success() {
        Ok(output)
    } else {
        Err(Outcome::Denied(format!("exited with {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(program: &str, args: &str) -> Check {
        Check {
            name: "test",
            runner: Runner::Exec {
                program: program.into(),
                args: Template::parse(args).expect("template"),
                cwd: None,
            },
            expect: None,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn exit_status_and_expected_output_decide() {
        let checker = Checker::new(
            CheckLimits {
                cache_ttl: Duration::ZERO,
                ..CheckLimits::default()
            },
            None,
        );
        assert!(checker
            .run(&exec("test", "-n x"), &Params::new())
            .await
            .allowed());
        assert!(matches!(
            checker.run(&exec("test", "-z x"), &Params::new()).await,
            Outcome::Denied(_)
        ));
        let mut echo = Check {
            name: "echo",
            runner: Runner::Exec {
                program: "echo".into(),
                args: Template::parse(":userId").expect("template"),
                cwd: None,
            },
            expect: Some(Template::parse(":userId").expect("template")),
        };
        assert_eq!(
            checker.run(&echo, &params(&[("userId", "u1")])).await,
            Outcome::Allowed("u1".into())
        );
        echo.expect = Some(Template::parse("true").expect("template"));
        assert!(!checker
            .run(&echo, &params(&[("userId", "u1")]))
            .await
            .allowed());
    }

    #[tokio::test]
    async fn a_slow_check_is_killed_at_the_timeout_and_fails_closed() {
        let checker = Checker::new(
            CheckLimits {
                timeout: Duration::from_millis(200),
                ..CheckLimits::default()
            },
            None,
        );
        let started = std::time::Instant::now();
        let outcome = checker.run(&exec("sleep", "5"), &Params::new()).await;
        assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_missing_program_fails_closed() {
        let checker = Checker::new(CheckLimits::default(), None);
        let check = Check {
            name: "missing",
            runner: Runner::Exec {
                program: "/nonexistent/wampd-check".into(),
                args: Template::parse("x").expect("template"),
                cwd: None,
            },
            expect: None,
        };
        assert!(matches!(
            checker.run(&check, &Params::new()).await,
            Outcome::Failed(_)
        ));
    }
}
