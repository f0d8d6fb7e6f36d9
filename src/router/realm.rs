//! A realm: the routing namespace sessions join. It owns the broker, the dealer and the session
//! table.
//!
//! Shared state sits behind short `std::sync` critical sections that never span an `.await`
//! (DESIGN.md §3, rule 5): publishing takes the broker's read lock, so publishers on different
//! threads fan out in parallel, and only (un)subscribe takes the write lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use prometheus_client::metrics::counter::Counter;

use crate::metrics::Metrics;
use crate::router::broker::{Broker, Publication, PublishStats, Subscribed};
use crate::router::dealer::Dealer;
use crate::router::handle::SessionHandle;
use crate::router::outbound::OverflowPolicy;
use crate::wamp::{Id, MatchPolicy};

/// One realm and its live state.
#[derive(Debug)]
pub struct Realm {
    name: String,
    policy: OverflowPolicy,
    broker: RwLock<Broker>,
    dealer: Mutex<Dealer>,
    sessions: RwLock<HashMap<Id, Arc<SessionHandle>>>,
    metrics: Arc<Metrics>,
    dropped: Counter,
}

/// Takes a read lock, ignoring poisoning: every critical section here leaves the data consistent
/// at each step, so a panic elsewhere must not take the realm down with it.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Realm {
    /// Creates an empty realm whose slow subscribers are treated by `policy`.
    pub fn new(name: impl Into<String>, policy: OverflowPolicy, metrics: Arc<Metrics>) -> Realm {
        let dropped = metrics.dropped_counter(policy.as_str());
        Realm {
            name: name.into(),
            policy,
            broker: RwLock::new(Broker::default()),
            dealer: Mutex::new(Dealer::default()),
            sessions: RwLock::new(HashMap::new()),
            metrics,
            dropped,
        }
    }

    /// The realm's slow-consumer policy.
    pub fn policy(&self) -> OverflowPolicy {
        self.policy
    }

    /// The realm's URI.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Registers an established session.
    pub fn join(&self, session: Arc<SessionHandle>) {
        write(&self.sessions).insert(session.id, session);
    }

    /// Removes a session and its subscriptions.
    pub fn leave(&self, session: Id, subscriptions: impl IntoIterator<Item = Id>) {
        {
            let mut broker = write(&self.broker);
            for subscription in subscriptions {
                broker.unsubscribe(session, subscription);
            }
        }
        self.dealer().remove_session(session);
        write(&self.sessions).remove(&session);
    }

    /// The realm's dealer, locked for one short, non-awaiting operation.
    pub fn dealer(&self) -> MutexGuard<'_, Dealer> {
        self.dealer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// See [`Broker::subscribe`].
    pub fn subscribe(
        &self,
        session: &Arc<SessionHandle>,
        uri: &str,
        policy: MatchPolicy,
    ) -> Subscribed {
        write(&self.broker).subscribe(session, uri, policy)
    }

    /// See [`Broker::unsubscribe`].
    pub fn unsubscribe(&self, session: Id, subscription: Id) -> Option<bool> {
        write(&self.broker).unsubscribe(session, subscription)
    }

    /// See [`Broker::publish`]; also counts the publication in metrics.
    pub fn publish(&self, publication: &Publication<'_>) -> PublishStats {
        let stats = read(&self.broker).publish(publication);
        let metrics = &self.metrics;
        metrics.publishes.inc();
        if stats.delivered > 0 {
            metrics.deliveries.inc_by(stats.delivered);
            metrics.messages_out(crate::wamp::message::code::EVENT, stats.delivered);
        }
        if stats.dropped > 0 {
            self.dropped.inc_by(stats.dropped);
        }
        stats
    }

    /// Outbound queue depth of every session in the realm.
    pub fn queue_depths(&self) -> Vec<usize> {
        read(&self.sessions)
            .values()
            .map(|s| s.outbound.depth())
            .collect()
    }

    /// Number of sessions joined to this realm.
    pub fn session_count(&self) -> usize {
        read(&self.sessions).len()
    }

    /// Number of live subscriptions.
    pub fn subscription_count(&self) -> usize {
        read(&self.broker).subscription_count()
    }
}
