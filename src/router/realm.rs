//! A realm: the routing namespace sessions join. It owns the broker, the dealer, the session
//! table, the retained events and the event history.
//!
//! Shared state sits behind short `std::sync` critical sections that never span an `.await`
//! (DESIGN.md §3, rule 5): publishing takes the broker's read lock, so publishers on different
//! threads fan out in parallel, and only (un)subscribe takes the write lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use prometheus_client::metrics::counter::Counter;

use crate::metrics::Metrics;
use crate::router::backplane::Incoming;
use crate::router::broker::{self, Broker, Position, Publication, PublishStats, Subscribed};
use crate::router::dealer::Dealer;
use crate::router::handle::SessionHandle;
use crate::router::history::{
    Appended, History, HistorySettings, Stored, StreamLimits, Unrecoverable,
};
use crate::router::meta::events as meta;
use crate::router::outbound::{Frame, OutboundRx, OverflowPolicy, Pushed};
use crate::router::publish_options::PublishOptions;
use crate::router::retained::{
    Kept, RetainTopics, Retained, DEFAULT_RETAINED_BYTES, DEFAULT_RETAINED_TOPICS,
};
use crate::router::stored::StoredEvent;
use wampd_proto::wamp::{id, Dict, Id, MatchPolicy, Value};

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
    /// The identity meta events are published under.
    router_identity: SessionHandle,
    _router_identity_rx: OutboundRx,
    /// Sessions in this realm across the cluster, as the backplane last summed them.
    cluster_sessions: Mutex<ClusterCount>,
    /// The role trusted with personal data in meta events (the client address).
    trusted_role: String,
    /// Wakes the realm's one call-deadline task when a deadline is armed.
    call_timer: Arc<tokio::sync::Notify>,
    /// Whether that task runs (it starts with the first deadline).
    call_timer_running: AtomicBool,
    /// The last `retain: true` event per topic.
    retained: Retained,
    /// The history streams of `WEBSOCKET_HISTORY_TOPICS`.
    history: History,
}

/// What this node knows about the realm's cluster-wide session count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterCount {
    /// Single-node mode: this node is the whole cluster.
    Single,
    /// Cluster mode, but no fresh sum (backplane down or not yet heard from).
    Unknown,
    /// The sum of every live node's count, and when it was taken.
    Known(u64, std::time::Instant),
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
    /// Creates an empty realm whose slow subscribers are treated by `policy`; sessions of
    /// `trusted_role` (the backend role) are told client addresses in the session meta API.
    pub fn new(
        name: impl Into<String>,
        policy: OverflowPolicy,
        metrics: Arc<Metrics>,
        trusted_role: &str,
    ) -> Realm {
        let dropped = metrics.dropped_counter(policy.as_str());
        let history = History::new(&HistorySettings::default(), metrics.history.clone());
        let (router_identity, rx) = SessionHandle::internal();
        Realm {
            router_identity,
            _router_identity_rx: rx,
            name: name.into(),
            policy,
            broker: RwLock::new(Broker::default()),
            dealer: Mutex::new(Dealer::default()),
            sessions: RwLock::new(HashMap::new()),
            metrics,
            dropped,
            cluster_sessions: Mutex::new(ClusterCount::Single),
            trusted_role: trusted_role.to_owned(),
            call_timer: Arc::new(tokio::sync::Notify::new()),
            call_timer_running: AtomicBool::new(false),
            retained: Retained::new(
                DEFAULT_RETAINED_TOPICS,
                DEFAULT_RETAINED_BYTES,
                RetainTopics::default(),
            ),
            history,
        }
    }

    /// Keeps the history `settings` configure.
    pub fn with_history(mut self, settings: &HistorySettings) -> Realm {
        self.history = History::new(settings, self.metrics.history.clone());
        self
    }

    /// Whether `topic` keeps an event history.
    pub fn keeps_history(&self, topic: &str) -> bool {
        self.history.keeps(topic)
    }

    /// The realm's event history (`wamp.subscription.get_events` reads it).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Bounds the retained events to `topics` and `bytes`, and retains every publication to
    /// `always`.
    pub fn with_retained(mut self, topics: usize, bytes: usize, always: RetainTopics) -> Realm {
        self.retained = Retained::new(topics, bytes, always);
        self
    }

    /// Tells the realm's call-deadline task that the dealer armed a deadline, starting the task
    /// on first use. One task per realm sleeps until the earliest deadline of
    /// [`Dealer::expire`]; finished calls remove theirs, so nothing lingers per call.
    pub fn arm_call_timer(self: &Arc<Self>) {
        if !self.call_timer_running.swap(true, Ordering::AcqRel) {
            let realm = Arc::downgrade(self);
            let wake = self.call_timer.clone();
            tokio::spawn(async move {
                loop {
                    let next = match realm.upgrade() {
                        Some(realm) => realm.dealer().expire(std::time::Instant::now()),
                        None => return,
                    };
                    let woken = wake.notified();
                    match next {
                        Some(at) => {
                            let at = tokio::time::Instant::from_std(at);
                            tokio::select! {
                                _ = tokio::time::sleep_until(at) => {}
                                _ = woken => {}
                            }
                        }
                        None => woken.await,
                    }
                }
            });
        }
        self.call_timer.notify_one();
    }

    /// Records what the backplane learnt about the cluster-wide session count.
    pub fn set_cluster_sessions(&self, count: ClusterCount) {
        *self
            .cluster_sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = count;
    }

    /// The cluster-wide session count: this node's own in single-node mode, the last sum when
    /// it is at most `max_age` old, otherwise `None`.
    pub fn cluster_session_count(&self, max_age: std::time::Duration) -> Option<u64> {
        let known = *self
            .cluster_sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match known {
            ClusterCount::Single => Some(self.session_count() as u64),
            ClusterCount::Unknown => None,
            ClusterCount::Known(count, at) => (at.elapsed() <= max_age).then_some(count),
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

    /// Whether `session` may be told personal data (client addresses) in meta answers.
    pub fn is_trusted(&self, session: &SessionHandle) -> bool {
        session.authrole == self.trusted_role
    }

    /// Delivers `publication` to its subscribers: matched under the broker lock, delivered after
    /// it is released (see [`crate::router::broker`]).
    /// A history topic's publication is appended first and delivered under the history lock
    /// with its position (see [`crate::router::history`]).
    fn deliver(&self, publication: &Publication<'_>) -> PublishStats {
        self.deliver_appended(self.history.append(publication), publication)
    }

    /// Delivers `publication` as its history append left it: with its position and under the
    /// history lock when kept, as on a topic without history otherwise.
    fn deliver_appended(
        &self,
        appended: Result<Option<Appended<'_>>, &'static str>,
        publication: &Publication<'_>,
    ) -> PublishStats {
        match appended {
            Ok(Some(appended)) => {
                if let Some(bound) = appended.refused {
                    self.history_full(bound, publication.topic);
                }
                let positioned = Publication {
                    position: Some(&appended.position),
                    ..*publication
                };
                let stats = self.retain_and_deliver(&positioned);
                drop(appended);
                stats
            }
            Ok(None) => self.retain_and_deliver(publication),
            Err(bound) => {
                self.history_full(bound, publication.topic);
                self.retain_and_deliver(publication)
            }
        }
    }

    fn history_full(&self, bound: &'static str, topic: &str) {
        self.metrics.limit_refused(bound);
        crate::router::log_budget::connection_warning(|suppressed| {
            tracing::warn!(
                realm = %self.name,
                topic,
                suppressed,
                "not kept in history: the realm's history is at WEBSOCKET_HISTORY_STREAMS or WEBSOCKET_HISTORY_BYTES"
            );
        });
    }

    fn retain_and_deliver(&self, publication: &Publication<'_>) -> PublishStats {
        if self.retained.wants(publication) && self.retained.keep(publication) == Kept::Full {
            self.metrics.limit_refused("retained_topics");
            crate::router::log_budget::connection_warning(|suppressed| {
                tracing::warn!(
                    realm = %self.name,
                    topic = publication.topic,
                    suppressed,
                    "not retained: the realm's retained events are at WEBSOCKET_RETAINED_TOPICS or WEBSOCKET_RETAINED_BYTES"
                );
            });
        }
        let matched = read(&self.broker).matched(publication.topic);
        broker::deliver(&matched, publication)
    }

    /// Queues for `session` the retained events its new subscription `(subscription, uri,
    /// policy)` covers ([`Realm::subscribe`] calls it after the SUBSCRIBED), only those of
    /// configured topics with `configured_only`. Returns how many were queued.
    fn send_retained(
        &self,
        session: &SessionHandle,
        subscription: Id,
        uri: &str,
        policy: MatchPolicy,
        configured_only: bool,
    ) -> u64 {
        let mut sent = 0;
        for (topic, event) in self.retained.matching(uri, policy) {
            if configured_only && !self.retained.always(&topic) {
                continue;
            }
            let Some(frame) = broker::replay_frame(
                session,
                subscription,
                uri,
                policy,
                &event.publication(&topic),
                true,
            ) else {
                continue;
            };
            if let Pushed::Queued { .. } = session.outbound.push_event(frame, &Arc::from(topic)) {
                sent += 1;
            }
        }
        self.count_deliveries(PublishStats {
            delivered: sent,
            dropped: 0,
        });
        sent
    }

    /// Queues for `session` the events its new subscription `(subscription, uri, policy)`
    /// recovers, as replies (never dropped by the overflow policy: past its margin the session
    /// is disconnected instead, so a recovery is complete or visibly failed). Returns how many.
    fn send_recovered(
        &self,
        session: &SessionHandle,
        subscription: Id,
        uri: &str,
        policy: MatchPolicy,
        events: &[Arc<StoredEvent>],
    ) -> u64 {
        let mut sent = 0;
        for event in events {
            let Some(frame) = broker::replay_frame(
                session,
                subscription,
                uri,
                policy,
                &event.publication(uri),
                false,
            ) else {
                continue;
            };
            if session.outbound.push(frame).is_err() {
                break;
            }
            sent += 1;
        }
        self.count_deliveries(PublishStats {
            delivered: sent,
            dropped: 0,
        });
        sent
    }

    /// Publishes a meta event (the router may use the reserved `wamp.` namespace).
    fn emit(&self, topic: &str, args: Vec<Value>) {
        self.emit_with(topic, args, &PublishOptions::default());
    }

    fn emit_with(&self, topic: &str, args: Vec<Value>, options: &PublishOptions) {
        let kwargs = Dict::new();
        // Not counted as a publication (wampd_publishes_total counts clients'); its deliveries
        // are real deliveries.
        let stats = self.deliver(&Publication {
            id: id::random_id(),
            topic,
            args: &args,
            kwargs: &kwargs,
            options,
            publisher: (&self.router_identity).into(),
            v1_payload: None,
            position: None,
        });
        self.count_deliveries(stats);
    }

    /// Registers an established session.
    /// `on_join` goes out twice, so that only the trusted role learns the client address.
    pub fn join(&self, session: Arc<SessionHandle>) {
        let trusted = meta::session_details(&session, true);
        let others = meta::session_details(&session, false);
        write(&self.sessions).insert(session.id, session);
        let role: std::collections::HashSet<String> = [self.trusted_role.clone()].into();
        self.emit_with(
            meta::ON_JOIN,
            vec![trusted],
            &PublishOptions {
                eligible_authrole: Some(role.clone()),
                ..PublishOptions::default()
            },
        );
        self.emit_with(
            meta::ON_JOIN,
            vec![others],
            &PublishOptions {
                exclude_authrole: role,
                ..PublishOptions::default()
            },
        );
    }

    /// Removes a session with its subscriptions and registrations.
    pub fn leave(&self, session: Id, subscriptions: impl IntoIterator<Item = Id>) {
        for subscription in subscriptions {
            self.unsubscribe(session, subscription);
        }
        let registrations = self.dealer().remove_session(session);
        for (registration, deleted) in registrations {
            self.registration_events(session, registration, false, deleted);
        }
        let gone = write(&self.sessions).remove(&session);
        if let Some(gone) = gone {
            self.emit(
                meta::ON_LEAVE,
                vec![
                    Value::UInt(session),
                    Value::Str(gone.authid.clone()),
                    Value::Str(gone.authrole.clone()),
                ],
            );
        }
    }

    /// Meta events for a registration change: `created` (with `uri`) when it was new, a
    /// register or unregister, and `deleted` when it went away.
    pub fn registration_events(
        &self,
        session: Id,
        registration: Id,
        register: bool,
        deleted: bool,
    ) {
        let s = Value::UInt(session);
        let r = Value::UInt(registration);
        if register {
            self.emit(meta::REG_ON_REGISTER, vec![s.clone(), r.clone()]);
        } else {
            self.emit(meta::REG_ON_UNREGISTER, vec![s.clone(), r.clone()]);
            if deleted {
                self.emit(meta::REG_ON_DELETE, vec![s, r]);
            }
        }
    }

    /// Announces a new registration (`wamp.registration.on_create`).
    pub fn registration_created(&self, session: Id, details: Value) {
        self.emit(meta::REG_ON_CREATE, vec![Value::UInt(session), details]);
    }

    /// A live session by ID.
    pub fn session(&self, id: Id) -> Option<Arc<SessionHandle>> {
        read(&self.sessions).get(&id).cloned()
    }

    /// Every live session.
    pub fn sessions(&self) -> Vec<Arc<SessionHandle>> {
        read(&self.sessions).values().cloned().collect()
    }

    /// `(id, match policy)` of every subscription.
    pub fn subscriptions(&self) -> Vec<(Id, MatchPolicy)> {
        read(&self.broker).subscription_list()
    }

    /// The subscription for exactly `(uri, policy)`.
    pub fn subscription_lookup(&self, uri: &str, policy: MatchPolicy) -> Option<Id> {
        read(&self.broker).lookup(uri, policy)
    }

    /// Subscriptions matching a concrete topic.
    pub fn subscription_matches(&self, topic: &str) -> Vec<Id> {
        read(&self.broker).matching(topic)
    }

    /// `(uri, policy, subscriber session IDs)` of a subscription.
    pub fn subscription_details(&self, id: Id) -> Option<(String, MatchPolicy, Vec<Id>)> {
        read(&self.broker)
            .subscription(id)
            .map(|s| (s.uri.clone(), s.policy, s.subscriber_ids()))
    }

    /// The realm's dealer, locked for one short, non-awaiting operation.
    pub fn dealer(&self) -> MutexGuard<'_, Dealer> {
        self.dealer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// See [`Broker::subscribe`]. `reply` (the SUBSCRIBED, if the protocol has one) is queued
    /// while the subscription's subscriber list is locked: delivering needs the same lock, so no
    /// EVENT for the subscription can reach the session's queue before its SUBSCRIBED. The caller announces the
    /// subscription with [`Realm::subscribed`] afterwards, so meta events never overtake it.
    /// With `get_retained`, the retained events the subscription covers are queued right after
    /// the SUBSCRIBED under the same lock, so a live event can follow them but never come
    /// between the SUBSCRIBED and them (an event published meanwhile may arrive twice: once
    /// retained, once live).
    ///
    /// With `recover` (an exact subscription to a history topic, checked by the operations
    /// layer), the history lock is taken first and held until the SUBSCRIBED and the events
    /// after `recover` are queued, so live delivery continues exactly where they end; retained
    /// events are not sent then. `Err` (nothing subscribed) when the stream cannot recover
    /// from there, or the events would not fit in the session's outbound queue.
    pub fn subscribe(
        &self,
        session: &Arc<SessionHandle>,
        uri: &str,
        policy: MatchPolicy,
        get_retained: bool,
        recover: Option<&Position>,
        reply: impl FnOnce(Subscribed) -> Option<Frame>,
    ) -> Result<Subscribed, Unrecoverable> {
        if let Some(from) = recover {
            let mut streams = self.history.lock();
            let events = self.history.recover(&mut streams, uri, from)?;
            let bytes: usize = events.iter().map(|e| e.size).sum();
            let (room, room_bytes) = session.outbound.room();
            if events.len() > room || bytes > room_bytes {
                return Err(Unrecoverable {
                    reason: format!(
                        "{} missed events ({bytes} bytes) do not fit in this session's outbound queue ({room} events, {room_bytes} bytes free; WEBSOCKET_OUTBOUND_QUEUE_MESSAGES, WEBSOCKET_OUTBOUND_QUEUE_BYTES)",
                        events.len()
                    ),
                    current: None,
                });
            }
            let result =
                write(&self.broker).subscribe_with(session, uri, policy, reply, |result| {
                    self.send_recovered(session, result.subscription, uri, policy, &events);
                });
            drop(streams);
            return Ok(result);
        }
        // WAMP v1 and Socket.IO clients cannot ask: they get the configured topics' events.
        let configured_only = !get_retained;
        let give = get_retained
            || ((session.v1 || session.socketio) && self.retained.has_configured_topics());
        Ok(
            write(&self.broker).subscribe_with(session, uri, policy, reply, |result| {
                if give {
                    self.send_retained(session, result.subscription, uri, policy, configured_only);
                }
            }),
        )
    }

    /// Whether `session` is a subscriber of exactly `(uri, policy)`.
    pub fn is_subscribed(&self, session: Id, uri: &str, policy: MatchPolicy) -> bool {
        let broker = read(&self.broker);
        broker
            .lookup(uri, policy)
            .and_then(|id| broker.subscription(id))
            .is_some_and(|s| s.has_subscriber(session))
    }

    /// Emits `wamp.subscription.on_create` (when new) and `on_subscribe`.
    pub fn subscribed(&self, session: Id, result: Subscribed, uri: &str, policy: MatchPolicy) {
        let s = Value::UInt(session);
        if result.created {
            let details = meta::entry_details(result.subscription, uri, policy, None);
            self.emit(meta::SUB_ON_CREATE, vec![s.clone(), details]);
        }
        self.emit(
            meta::SUB_ON_SUBSCRIBE,
            vec![s, Value::UInt(result.subscription)],
        );
    }

    /// See [`Broker::unsubscribe`]; also emits the subscription meta events.
    pub fn unsubscribe(&self, session: Id, subscription: Id) -> Option<bool> {
        let deleted = write(&self.broker).unsubscribe(session, subscription)?;
        let (s, sub) = (Value::UInt(session), Value::UInt(subscription));
        self.emit(meta::SUB_ON_UNSUBSCRIBE, vec![s.clone(), sub.clone()]);
        if deleted {
            self.emit(meta::SUB_ON_DELETE, vec![s, sub]);
        }
        Some(deleted)
    }

    /// See [`Broker::publish`]; also counts the publication in metrics.
    pub fn publish(&self, publication: &Publication<'_>) -> PublishStats {
        let stats = self.deliver(publication);
        self.count_publication();
        self.count_deliveries(stats);
        stats
    }

    /// Delivers a publication made on another cluster node to this node's subscribers, with
    /// the same matching, listing and encoding as a local one. Not counted in
    /// `wampd_publishes_total` (the publishing node counted it); its deliveries are.
    ///
    /// A sequenced publication (a history topic's, numbered by the backplane; this node's own
    /// included) is stored at its position and delivered under the history lock, or not at all
    /// when this node already holds that offset.
    pub fn deliver_remote(&self, incoming: &Incoming) -> PublishStats {
        let publication = incoming.publication();
        let stats = match &incoming.sequenced {
            None => self.deliver(&publication),
            Some((position, at)) => match self.history.insert_at(&publication, position, *at) {
                Ok(Some(Stored::Duplicate)) => PublishStats::default(),
                Ok(Some(Stored::Kept(appended))) => {
                    self.deliver_appended(Ok(Some(appended)), &publication)
                }
                Ok(None) => self.deliver_appended(Ok(None), &publication),
                Err(bound) => self.deliver_appended(Err(bound), &publication),
            },
        };
        self.count_deliveries(stats);
        stats
    }

    /// Stores a sequenced publication from a stream's past without delivering it (a node
    /// copying a stream it meets for the first time).
    pub fn remember(&self, incoming: &Incoming) {
        let Some((position, at)) = &incoming.sequenced else {
            return;
        };
        let publication = incoming.publication();
        if let Err(bound) = self.history.insert_at(&publication, position, *at) {
            self.history_full(bound, publication.topic);
        }
    }

    /// What `publication`'s history stream keeps, if it is to be kept (cluster mode sequences
    /// such publications through the backplane).
    pub fn history_wants(&self, publication: &Publication<'_>) -> Option<StreamLimits> {
        self.history.wants(publication)
    }

    /// Like [`Realm::publish`], but not kept in the history (cluster mode, when the publication
    /// could not be sequenced).
    pub fn publish_without_history(&self, publication: &Publication<'_>) -> PublishStats {
        let stats = self.retain_and_deliver(publication);
        self.count_publication();
        self.count_deliveries(stats);
        stats
    }

    /// Counts a publication made on this node that is delivered later (sequenced through the
    /// backplane) in `wampd_publishes_total`.
    pub fn count_publication(&self) {
        self.metrics.publishes.inc();
    }

    fn count_deliveries(&self, stats: PublishStats) {
        let metrics = &self.metrics;
        if stats.delivered > 0 {
            metrics.deliveries.inc_by(stats.delivered);
            metrics.messages_out(wampd_proto::wamp::message::code::EVENT, stats.delivered);
        }
        if stats.dropped > 0 {
            self.dropped.inc_by(stats.dropped);
        }
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
