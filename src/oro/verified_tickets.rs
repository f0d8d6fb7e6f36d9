//! Oro tickets whose digest already checked out, so the 5000 SHA-512 rounds (3–4 ms of CPU per
//! connection here) are paid once per ticket, not once per connection.
//!
//! Tickets are reusable until they expire (`oro-gos.md` §7): a browser reconnecting after a
//! proxy timeout presents the same named ticket again, and a backend that keeps its ticket for
//! several connections does the same. A ticket that passed is remembered for the ticket lifetime
//! from the moment it passed; its creation time is still checked on every connection before this
//! cache is asked, so a remembered ticket expires exactly when Oro's would.
//!
//! Entries are keyed by SHA-256 of the ticket and the password it was checked against (the
//! kernel secret for anonymous tickets, the user's stored hash for named ones), so a changed
//! password or secret is checked afresh. The cache is bounded ([`MAX_ENTRIES`]): when it is full,
//! expired entries are swept, and if it is still full a new ticket is simply not remembered.
//! Only tickets that passed can enter, so filling it takes the secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::metrics::Metrics;

use sha2::{Digest, Sha256};

/// Most tickets remembered at once (about 48 bytes each).
pub const MAX_ENTRIES: usize = 4096;

/// A remembered ticket's key.
pub type Key = [u8; 32];

/// See the module docs.
#[derive(Debug)]
pub struct VerifiedTickets {
    ttl: i64,
    entries: Mutex<HashMap<Key, i64>>,
    /// Counts `wampd_oro_ticket_digests_total`.
    metrics: Arc<Metrics>,
}

impl VerifiedTickets {
    /// Remembers tickets for `ttl` (Oro's ticket lifetime).
    pub fn new(ttl: Duration, metrics: Arc<Metrics>) -> Self {
        VerifiedTickets {
            ttl: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
            entries: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, i64>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key of `ticket` (as sent, still base64) checked against `password`.
    pub fn key(ticket: &str, password: &str) -> Key {
        let mut hash = Sha256::new();
        hash.update((password.len() as u64).to_be_bytes());
        hash.update(password.as_bytes());
        hash.update(ticket.as_bytes());
        hash.finalize().into()
    }

    /// Whether the ticket of `key` passed within the last lifetime.
    pub fn passed(&self, key: &Key, now_unix: i64) -> bool {
        let passed = self.lock().get(key).is_some_and(|&until| now_unix <= until);
        if passed {
            self.metrics.oro_ticket_digest("remembered");
        }
        passed
    }

    /// Remembers that the ticket of `key` passed its computed digest check at `now_unix`.
    pub fn remember(&self, key: Key, now_unix: i64) {
        self.metrics.oro_ticket_digest("computed");
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, until| now_unix <= *until);
            if entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        entries.insert(key, now_unix.saturating_add(self.ttl));
    }

    /// Tickets remembered now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when none is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_remembered_for_its_lifetime_and_per_password() {
        let cache = VerifiedTickets::new(Duration::from_secs(300), Arc::new(Metrics::new()));
        let key = VerifiedTickets::key("dGlja2V0", "hash-1");
        assert!(!cache.passed(&key, 1000));
        cache.remember(key, 1000);
        assert!(cache.passed(&key, 1300));
        assert!(!cache.passed(&key, 1301), "expired");
        assert!(
            !cache.passed(&VerifiedTickets::key("dGlja2V0", "hash-2"), 1000),
            "another password is checked afresh"
        );
    }

    #[test]
    fn a_full_cache_sweeps_expired_entries_and_otherwise_stays_full() {
        let cache = VerifiedTickets::new(Duration::from_secs(10), Arc::new(Metrics::new()));
        for i in 0..MAX_ENTRIES {
            cache.remember(VerifiedTickets::key(&i.to_string(), "p"), 0);
        }
        let late = VerifiedTickets::key("late", "p");
        cache.remember(late, 5);
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert!(
            !cache.passed(&late, 5),
            "full of live entries: not remembered"
        );
        cache.remember(late, 11);
        assert_eq!(cache.len(), 1, "expired entries swept");
        assert!(cache.passed(&late, 11));
    }
}
