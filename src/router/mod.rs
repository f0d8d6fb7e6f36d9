//! The router: realms, sessions, the broker and the dealer. It never touches a socket.
//!
//! Transports hand the router decoded [`wampd_proto::wamp::Message`]s through a [`session::Session`] and
//! receive ready-to-send [`outbound::Frame`]s from a bounded per-session queue. Because WAMP v1 and
//! v2 sessions (and any transport) reach the same realm operations, a topic is one topic whoever
//! publishes to it.

pub mod auth_limiter;
pub mod authorizer;
pub mod backplane;
pub mod broker;
pub mod dealer;
pub mod demo_clock;
pub mod handle;
pub mod history;
pub mod log_budget;
pub mod meta;
pub mod operations;
pub mod oro_ping;
pub mod outbound;
pub mod passthru;
pub mod publish_options;
pub mod publisher;
pub mod realm;
pub mod refusal;
pub mod remote_calls;
pub mod retained;
pub mod session;
pub mod session_v1;
pub mod stored;
pub mod subscribe_gate;
pub mod testament;
pub mod ticket_clock;
pub mod topic_index;

use std::collections::HashMap;
use std::sync::Arc;

use crate::auth::rules::{CraUser, CryptosignPrincipals, RealmAuth, TicketPrincipals};
use crate::metrics::Metrics;
use crate::router::auth_limiter::AuthLimiter;
use crate::router::authorizer::Authorizer;
use crate::router::backplane::Backplane;
use crate::router::outbound::{OverflowPolicy, QueueLimits};
use crate::router::realm::Realm;
use wampd_proto::wamp::{Limits, UriPolicy};

/// What the router needs from configuration.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Realms sessions may join.
    pub realms: Vec<String>,
    /// How strictly topic URIs are checked.
    pub uri_policy: UriPolicy,
    /// Bounds of every session's outbound queue.
    pub queue: QueueLimits,
    /// Slow-consumer policy of realms not named in `overflow_by_realm`.
    pub overflow: OverflowPolicy,
    /// Per-realm slow-consumer policies.
    pub overflow_by_realm: HashMap<String, OverflowPolicy>,
    /// How sessions may authenticate.
    pub auth: AuthConfig,
    /// Who may do what once authenticated.
    pub authorizer: Authorizer,
    /// What one session may hold and ask for (URI sizes, subscriptions, calls in flight).
    pub limits: Limits,
    /// Most topics with a retained event, per realm ([`retained::Retained`]).
    pub retained_topics: usize,
    /// Most payload bytes of retained events, per realm.
    pub retained_bytes: usize,
    /// Topics retained without the `retain` option.
    pub retain_topics: retained::RetainTopics,
    /// Which topics keep an event history, and the realm-wide bounds on it.
    pub history: history::HistorySettings,
}

/// Authentication methods the router offers.
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// Secret of wampd tickets; `None` disables `ticket` authentication.
    pub ticket_secret: Option<Vec<u8>>,
    /// Whether `anonymous` authentication is allowed.
    pub anonymous: bool,
    /// Failed authentications allowed per client address and minute (0 = unlimited).
    pub max_failures: u32,
    /// WAMP-CRA users by authid.
    pub cra_users: HashMap<String, CraUser>,
    /// Static WAMP-Ticket principals.
    pub ticket_principals: TicketPrincipals,
    /// WAMP-cryptosign principals.
    pub cryptosign_principals: CryptosignPrincipals,
    /// Per-realm overrides of `anonymous` and the anonymous role.
    pub realms: HashMap<String, RealmAuth>,
    /// The role of backends, which realm overrides of the anonymous role never replace.
    pub backend_role: String,
}

impl AuthConfig {
    /// Whether `anonymous` is offered in `realm`.
    pub fn anonymous_in(&self, realm: &str) -> bool {
        self.realms
            .get(realm)
            .and_then(|r| r.anonymous)
            .unwrap_or(self.anonymous)
    }

    /// The role of an anonymous session in `realm` that arrived with `listener_role`: a realm's
    /// `anonymous_role` replaces the listener's browser role, never the backend role.
    pub fn anonymous_role<'a>(&'a self, realm: &str, listener_role: &'a str) -> &'a str {
        if listener_role == self.backend_role {
            return listener_role;
        }
        self.realms
            .get(realm)
            .and_then(|r| r.anonymous_role.as_deref())
            .unwrap_or(listener_role)
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("ticket_secret", &self.ticket_secret.as_ref().map(|_| "***"))
            .field("anonymous", &self.anonymous)
            .field("max_failures", &self.max_failures)
            .field("cra_users", &self.cra_users.len())
            .field("ticket_principals", &self.ticket_principals)
            .field("cryptosign_principals", &self.cryptosign_principals.len())
            .field("realms", &self.realms)
            .field("backend_role", &self.backend_role)
            .finish()
    }
}

/// All realms of this process.
#[derive(Debug)]
pub struct Router {
    realms: HashMap<String, Arc<Realm>>,
    config: RouterConfig,
    metrics: Arc<Metrics>,
    auth_limiter: AuthLimiter,
    /// Where publications go to reach other nodes; `None` in single-node mode.
    backplane: Option<Arc<dyn Backplane>>,
    /// The application's consent to subscriptions; `None` = no external check.
    gate: Option<subscribe_gate::SubscribeGate>,
    /// This node's Socket.IO socket ids, for `skip_sid`.
    socketio_sids: crate::socketio::registry::Sids,
    /// ws-emit's roomspace secrets, when a Redis is configured.
    room_secrets: Option<Arc<crate::socketio::room_secrets::RoomSecrets>>,
}

impl Router {
    /// Creates the configured realms.
    pub fn new(config: RouterConfig, metrics: Arc<Metrics>) -> Router {
        let realms = config
            .realms
            .iter()
            .map(|name| {
                let policy = config
                    .overflow_by_realm
                    .get(name)
                    .copied()
                    .unwrap_or(config.overflow);
                let realm = Realm::new(
                    name.clone(),
                    policy,
                    metrics.clone(),
                    &config.auth.backend_role,
                )
                .with_retained(
                    config.retained_topics,
                    config.retained_bytes,
                    config.retain_topics.clone(),
                )
                .with_history(&config.history);
                (name.clone(), Arc::new(realm))
            })
            .collect();
        let auth_limiter =
            AuthLimiter::new(config.auth.max_failures, std::time::Duration::from_secs(60));
        Router {
            realms,
            config,
            metrics,
            auth_limiter,
            backplane: None,
            gate: None,
            socketio_sids: Default::default(),
            room_secrets: None,
        }
    }

    /// Makes this router a cluster node: publications are also handed to `backplane`, and
    /// calls may go to callees on other nodes.
    pub fn with_backplane(mut self, backplane: Arc<dyn Backplane>) -> Router {
        for realm in self.realms.values() {
            realm.dealer().join_cluster(backplane.clone(), realm.name());
        }
        self.backplane = Some(backplane);
        self
    }

    /// Makes subscriptions wait for `gate`'s external check.
    pub fn with_subscribe_gate(mut self, gate: subscribe_gate::SubscribeGate) -> Router {
        self.gate = Some(gate);
        self
    }

    /// Reads roomspace secrets from `secrets` (ws-emit's `space::room` rooms).
    pub fn with_room_secrets(
        mut self,
        secrets: Arc<crate::socketio::room_secrets::RoomSecrets>,
    ) -> Router {
        self.room_secrets = Some(secrets);
        self
    }

    /// ws-emit's roomspace secrets, when configured.
    pub fn room_secrets(&self) -> Option<&Arc<crate::socketio::room_secrets::RoomSecrets>> {
        self.room_secrets.as_ref()
    }

    /// This node's Socket.IO socket ids.
    pub fn socketio_sids(&self) -> &crate::socketio::registry::Sids {
        &self.socketio_sids
    }

    /// The subscribe gate, when one is configured.
    pub fn subscribe_gate(&self) -> Option<&subscribe_gate::SubscribeGate> {
        self.gate.as_ref()
    }

    /// The cluster backplane, when this node is part of a cluster.
    pub fn backplane(&self) -> Option<&Arc<dyn Backplane>> {
        self.backplane.as_ref()
    }

    /// Failed-authentication limits per client address.
    pub fn auth_limiter(&self) -> &AuthLimiter {
        &self.auth_limiter
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Outbound queue depth of every established session (for the metrics scrape).
    pub fn queue_depths(&self) -> Vec<usize> {
        self.realms
            .values()
            .flat_map(|r| r.queue_depths())
            .collect()
    }

    /// The realm HTTP publishers and v1 sessions use when none is named: the first configured.
    pub fn default_realm(&self) -> Option<&Arc<Realm>> {
        self.config
            .realms
            .first()
            .and_then(|name| self.realms.get(name))
    }

    /// Every realm.
    pub fn realms(&self) -> impl Iterator<Item = &Arc<Realm>> {
        self.realms.values()
    }

    /// The realm named `name`, if configured.
    pub fn realm(&self, name: &str) -> Option<&Arc<Realm>> {
        self.realms.get(name)
    }

    /// The authorization rules.
    pub fn authorizer(&self) -> &Authorizer {
        &self.config.authorizer
    }

    /// The router's configuration.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Sessions established across all realms.
    pub fn session_count(&self) -> usize {
        self.realms.values().map(|r| r.session_count()).sum()
    }
}
