//! Oro back-office users read from the application's database (PostgreSQL or MySQL), for named
//! tickets.
//!
//! A named Oro ticket is signed with the user's stored password hash (`oro_user.password`), and
//! Oro's user-scoped topics need the user's id (`oro_user.id`) (`protocol/oro-gos.md` §7, step 4).
//! Only the application database knows them, so the router reads them the way Oro's user provider
//! does: by `username`, else by `email` when the login looks like an address. No enabled/locked
//! check, as in Oro.
//!
//! Lookups are cached for a short time (negative answers for a tenth of it), because every browser
//! tab of a user opens a connection with a fresh ticket, and the cache is bounded. The connection
//! itself is [`crate::database::Database`]'s. No lock is held across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::database::{Database, Dialect};

/// Most cached logins; beyond it expired entries are purged, then everything.
const MAX_CACHED: usize = 10_000;

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

type Cached = (Instant, Option<OroUser>);

/// Looks up and caches Oro users.
pub struct UserStore {
    db: Arc<Database>,
    ttl: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for UserStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserStore")
            .field("db", &self.db)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl UserStore {
    /// A store reading `db`, caching answers for `ttl` (zero: no cache).
    pub fn new(db: Arc<Database>, ttl: Duration) -> UserStore {
        UserStore {
            db,
            ttl,
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
        let user = self.query(login).await?;
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

    async fn query(&self, login: &str) -> Result<Option<OroUser>, String> {
        let (by_username, by_email) = match self.db.dialect() {
            Dialect::Postgres => (
                "SELECT id::text, username::text, password::text FROM oro_user WHERE username = $1 LIMIT 1",
                "SELECT id::text, username::text, password::text FROM oro_user WHERE email = $1 LIMIT 1",
            ),
            Dialect::MySql => (
                "SELECT CAST(id AS CHAR), username, password FROM oro_user WHERE username = ? LIMIT 1",
                "SELECT CAST(id AS CHAR), username, password FROM oro_user WHERE email = ? LIMIT 1",
            ),
        };
        let mut row = self
            .db
            .query_row(by_username, &[login])
            .await
            .map_err(|e| format!("reading oro_user failed: {e}"))?;
        if row.is_none() && login.contains('@') {
            row = self
                .db
                .query_row(by_email, &[login])
                .await
                .map_err(|e| format!("reading oro_user failed: {e}"))?;
        }
        let Some(mut row) = row else {
            return Ok(None);
        };
        row.resize(3, None);
        let id = row[0]
            .as_deref()
            .and_then(|id| id.parse::<u64>().ok())
            .ok_or("oro_user.id is not a number")?;
        Ok(Some(OroUser {
            id,
            username: row[1].take().unwrap_or_default(),
            password: row[2].take().unwrap_or_default(),
        }))
    }
}
