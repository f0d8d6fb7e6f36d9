//! Wiring: one configured server = router + listener + connection tasks, with graceful shutdown.
//!
//! [`Server::bind`] opens the listening socket (so tests can bind port 0 and read the address);
//! [`Server::run`] serves until the given shutdown future resolves, then stops accepting, lets
//! every session say GOODBYE `wamp.close.system_shutdown`, and waits for connections to drain, at
//! most for the configured deadline.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::settings::UriCheck;
use crate::config::{Settings, SlowConsumerPolicy};
use crate::metrics::Metrics;
use crate::router::outbound::{OverflowPolicy, QueueLimits};
use crate::router::{Router, RouterConfig};
use crate::transport::connection::ConnectionContext;
use crate::transport::http_publish::HttpPublisher;
use crate::transport::{listener, ListenerRole, ServerState, TransportLimits};
use crate::wamp::UriPolicy;

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: Arc<ServerState>,
    shutdown_timeout: Duration,
}

fn overflow_policy(policy: SlowConsumerPolicy) -> OverflowPolicy {
    match policy {
        SlowConsumerPolicy::Disconnect => OverflowPolicy::Disconnect,
        SlowConsumerPolicy::DropOldest => OverflowPolicy::DropOldest,
        SlowConsumerPolicy::DropNewest => OverflowPolicy::DropNewest,
        SlowConsumerPolicy::Latest => OverflowPolicy::Latest,
    }
}

async fn bind(address: String) -> io::Result<TcpListener> {
    TcpListener::bind(&address)
        .await
        .map_err(|err| io::Error::new(err.kind(), format!("cannot listen on {address}: {err}")))
}

/// Derives the router's configuration from settings.
pub fn router_config(settings: &Settings) -> RouterConfig {
    RouterConfig {
        realms: settings.realms.clone(),
        uri_policy: match settings.uri_check {
            UriCheck::Loose => UriPolicy::Loose,
            UriCheck::Strict => UriPolicy::Strict,
        },
        queue: QueueLimits {
            messages: settings.outbound_queue_messages,
            bytes: settings.outbound_queue_bytes,
        },
        overflow: overflow_policy(settings.slow_consumer.default),
        overflow_by_realm: settings
            .slow_consumer
            .by_realm
            .iter()
            .map(|(realm, policy)| (realm.clone(), overflow_policy(*policy)))
            .collect(),
    }
}

/// Derives transport limits from settings.
pub fn transport_limits(settings: &Settings) -> TransportLimits {
    TransportLimits {
        max_message_size: settings.max_message_size,
        handshake_timeout: settings.handshake_timeout,
        hello_timeout: settings.hello_timeout,
        ping_interval: (!settings.ping_interval.is_zero()).then_some(settings.ping_interval),
        ping_timeout: settings.ping_timeout,
        // GOODBYE wait plus two close-grace periods must fit within the drain deadline.
        goodbye_timeout: (settings.shutdown_timeout / 2).min(Duration::from_secs(5)),
        close_grace: (settings.shutdown_timeout / 5).min(Duration::from_secs(2)),
    }
}

impl Server {
    /// Binds the server DSN's address (and the metrics DSN's, when configured).
    pub async fn bind(settings: &Settings) -> io::Result<Server> {
        let listener = bind(settings.server_dsn.socket_addr_string()).await?;
        let metrics_listener = match &settings.metrics_dsn {
            Some(dsn) => Some(bind(dsn.socket_addr_string()).await?),
            None => None,
        };
        let metrics = Arc::new(Metrics::new());
        let router = Arc::new(Router::new(router_config(settings), metrics));
        let state = Arc::new(ServerState {
            connection: ConnectionContext {
                router,
                limits: transport_limits(settings),
                shutdown: CancellationToken::new(),
            },
            tracker: TaskTracker::new(),
            connections: Arc::new(Semaphore::new(settings.max_connections)),
            refusals: Arc::new(Semaphore::new(64)),
            max_connections: settings.max_connections,
            started: Instant::now(),
            publisher: HttpPublisher::new(settings.publish.clone()),
        });
        Ok(Server {
            listener,
            metrics_listener,
            state,
            shutdown_timeout: settings.shutdown_timeout,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the separate metrics listener, if one is configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The router this server routes with.
    pub fn router(&self) -> Arc<Router> {
        self.state.connection.router.clone()
    }

    /// Serves until `shutdown` resolves, then drains. Returns true when every connection finished
    /// within the deadline.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> bool {
        let state = self.state.clone();
        let public_role = if self.metrics_listener.is_some() {
            ListenerRole::Public
        } else {
            ListenerRole::PublicWithMetrics
        };
        let accepting = tokio::spawn(listener::accept_loop(
            self.listener,
            state.clone(),
            public_role,
            state.connection.shutdown.clone(),
        ));
        // The private metrics listener stays up while connections drain, so operators can watch
        // the drain and load balancers see /ready answer 503.
        let metrics_stop = CancellationToken::new();
        let metrics_accepting = self.metrics_listener.map(|l| {
            tokio::spawn(listener::accept_loop(
                l,
                state.clone(),
                ListenerRole::Metrics,
                metrics_stop.clone(),
            ))
        });
        shutdown.await;
        let open = state.open_connections();
        info!(open_connections = open, "Stopping server ...");
        state.connection.shutdown.cancel();
        let _ = accepting.await;
        state.tracker.close();
        let drained = tokio::time::timeout(self.shutdown_timeout, state.tracker.wait())
            .await
            .is_ok();
        metrics_stop.cancel();
        if let Some(task) = metrics_accepting {
            let _ = task.await;
        }
        if drained {
            info!("Server stopped!");
        } else {
            warn!(
                remaining = state.open_connections(),
                "drain deadline reached; closing the remaining connections"
            );
        }
        drained
    }
}
