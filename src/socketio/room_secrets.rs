//! ws-emit's roomspace secrets: a room named `space::name` may be joined only with the secret
//! the application stored in Redis under `ws-emit::secret::<space>` (read at join time, so the
//! application may rotate it). ws-emit's own `dir2web` example still writes the key's old name,
//! `ws-emit::room_secret::<space>`, which is read when the new one is missing. The comparison is
//! constant-time and an empty secret never matches; the Redis is `WEBSOCKET_SOCKETIO_QUEUE`'s.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use std::sync::{Mutex, MutexGuard};
use subtle::ConstantTimeEq;

use crate::checks::Outcome;

/// How long reading a secret may take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Reads roomspace secrets from Redis.
pub struct RoomSecrets {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl std::fmt::Debug for RoomSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomSecrets").finish_non_exhaustive()
    }
}

/// The roomspace of a room name, `None` for a public room (no `::`).
pub fn roomspace(room: &str) -> Option<&str> {
    room.split_once("::").map(|(space, _)| space)
}

impl RoomSecrets {
    /// Secrets from the Redis at `url`.
    pub fn new(url: &str) -> Result<RoomSecrets, String> {
        Ok(RoomSecrets {
            client: redis::Client::open(url).map_err(|e| e.to_string())?,
            connection: Mutex::new(None),
        })
    }

    fn slot(&self) -> MutexGuard<'_, Option<MultiplexedConnection>> {
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The shared connection, opened on first use (not under the lock: two joins racing to
    /// connect open two connections and keep the last, which is harmless).
    async fn connection(&self) -> Result<MultiplexedConnection, String> {
        if let Some(c) = self.slot().clone() {
            return Ok(c);
        }
        let c = tokio::time::timeout(TIMEOUT, self.client.get_multiplexed_async_connection())
            .await
            .map_err(|_| "Redis did not answer".to_string())?
            .map_err(|e| format!("cannot connect to Redis: {e}"))?;
        *self.slot() = Some(c.clone());
        Ok(c)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let mut c = self.connection().await?;
        let mut command = redis::cmd("GET");
        command.arg(key);
        let read = command.query_async::<Option<Vec<u8>>>(&mut c);
        match tokio::time::timeout(TIMEOUT, read).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                *self.slot() = None;
                Err(e.to_string())
            }
            Err(_) => {
                *self.slot() = None;
                Err("Redis did not answer".into())
            }
        }
    }

    /// Whether `secret` opens the rooms of `space`.
    pub async fn check(&self, space: &str, secret: &str) -> Outcome {
        if secret.is_empty() {
            return Outcome::Denied("no secret".into());
        }
        let stored = match self.get(&format!("ws-emit::secret::{space}")).await {
            Ok(Some(v)) => Some(v),
            Ok(None) => match self.get(&format!("ws-emit::room_secret::{space}")).await {
                Ok(v) => v,
                Err(e) => return Outcome::Failed(e),
            },
            Err(e) => return Outcome::Failed(e),
        };
        match stored {
            Some(stored) if !stored.is_empty() && bool::from(stored.ct_eq(secret.as_bytes())) => {
                Outcome::Allowed(String::new())
            }
            Some(_) => Outcome::Denied("wrong secret".into()),
            None => Outcome::Denied("no secret stored for this roomspace".into()),
        }
    }
}
