//! Oro tickets whose digest already checked out, so the 5000 SHA-512 rounds (3–4 ms of CPU per
//! connection here) are paid once per ticket, not once per connection.
//!
//! Tickets are reusable until they expire (`oro-gos.md` §7): a browser reconnecting after a
//! proxy timeout presents the same named ticket again, and a backend that keeps its ticket for
//! several connections does the same. A ticket that passed is remembered for the ticket lifetime
//! from the moment it passed; its creation time is still checked on every connection before this
//! cache is asked, so a remembered ticket expires exactly when Oro's would.
//!
//! Built on the external checks' cache ([`crate::checks::cache`]): one bounded TTL cache that
//! remembers only passes and shares a computation in flight, so a hundred tabs reconnecting with
//! one ticket compute one digest. Keys are SHA-256 of the ticket and the password it was checked
//! against (the kernel secret for anonymous tickets, the user's stored hash for named ones), so a
//! changed password or secret is checked afresh; only tickets that passed stay, so filling the
//! cache takes the secret.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::checks::cache::Cache;
use crate::checks::Outcome;
use crate::metrics::Metrics;

/// See the module docs.
#[derive(Debug)]
pub struct VerifiedTickets {
    cache: Cache,
    /// Counts `wampd_oro_ticket_digests_total`.
    metrics: Arc<Metrics>,
}

impl VerifiedTickets {
    /// Remembers tickets for `ttl` (Oro's ticket lifetime).
    pub fn new(ttl: Duration, metrics: Arc<Metrics>) -> Self {
        VerifiedTickets {
            cache: Cache::new(ttl),
            metrics,
        }
    }

    /// The key of `ticket` (as sent, still base64) checked against `password`.
    pub fn key(ticket: &str, password: &str) -> String {
        let mut hash = Sha256::new();
        hash.update((password.len() as u64).to_be_bytes());
        hash.update(password.as_bytes());
        hash.update(ticket.as_bytes());
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether the ticket of `key` passes: remembered, or `digest` says so (then remembered).
    pub async fn verify<F, Fut>(&self, key: String, digest: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = bool>,
    {
        let computed = AtomicBool::new(false);
        let outcome = self
            .cache
            .get_or_run(key, || {
                computed.store(true, Ordering::Relaxed);
                async {
                    if digest().await {
                        Outcome::Allowed(String::new())
                    } else {
                        Outcome::Denied("bad digest".into())
                    }
                }
            })
            .await;
        if outcome.allowed() {
            let how = if computed.load(Ordering::Relaxed) {
                "computed"
            } else {
                "remembered"
            };
            self.metrics.oro_ticket_digest(how);
        }
        outcome.allowed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ticket_that_passed_is_remembered_per_password_and_a_refusal_is_not() {
        let tickets = VerifiedTickets::new(Duration::from_secs(300), Arc::new(Metrics::new()));
        let key = VerifiedTickets::key("dGlja2V0", "hash-1");
        assert!(tickets.verify(key.clone(), || async { true }).await);
        assert!(
            tickets
                .verify(key, || async { panic!("not computed again") })
                .await,
            "remembered"
        );
        let other = VerifiedTickets::key("dGlja2V0", "hash-2");
        assert!(!tickets.verify(other.clone(), || async { false }).await);
        assert!(
            tickets.verify(other, || async { true }).await,
            "a refusal is not remembered"
        );
    }
}
