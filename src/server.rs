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
use crate::config::Settings;
use crate::router::outbound::QueueLimits;
use crate::router::{Router, RouterConfig};
use crate::transport::connection::ConnectionContext;
use crate::transport::{listener, ServerState, TransportLimits};
use crate::wamp::UriPolicy;

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: Arc<ServerState>,
    shutdown_timeout: Duration,
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
    /// Binds the server DSN's address.
    pub async fn bind(settings: &Settings) -> io::Result<Server> {
        let address = settings.server_dsn.socket_addr_string();
        let listener = TcpListener::bind(&address).await.map_err(|err| {
            io::Error::new(err.kind(), format!("cannot listen on {address}: {err}"))
        })?;
        let router = Arc::new(Router::new(router_config(settings)));
        let state = Arc::new(ServerState {
            connection: ConnectionContext {
                router,
                limits: transport_limits(settings),
                shutdown: CancellationToken::new(),
            },
            tracker: TaskTracker::new(),
            connections: Arc::new(Semaphore::new(settings.max_connections)),
            max_connections: settings.max_connections,
            started: Instant::now(),
        });
        Ok(Server {
            listener,
            state,
            shutdown_timeout: settings.shutdown_timeout,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The router this server routes with.
    pub fn router(&self) -> Arc<Router> {
        self.state.connection.router.clone()
    }

    /// Serves until `shutdown` resolves, then drains. Returns true when every connection finished
    /// within the deadline.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> bool {
        let state = self.state.clone();
        let accepting = tokio::spawn(listener::accept_loop(self.listener, state.clone()));
        shutdown.await;
        let open = state.open_connections();
        info!(open_connections = open, "Stopping server ...");
        state.connection.shutdown.cancel();
        let _ = accepting.await;
        state.tracker.close();
        let drained = tokio::time::timeout(self.shutdown_timeout, state.tracker.wait())
            .await
            .is_ok();
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
