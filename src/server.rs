//! Wiring: one configured server = router + listeners + connection tasks, with graceful shutdown.
//!
//! Listeners: the server DSN's (browsers; WebSocket, RawSocket and HTTP on one port), the backend
//! DSN's when it is set and names another address (backends; sessions get the backend role), and
//! optionally a private metrics listener. A DSN with `ssl://` gets TLS.
//!
//! [`Server::bind`] opens the listening sockets (so tests can bind port 0 and read the address);
//! [`Server::run`] serves until the given shutdown future resolves, then stops accepting, lets
//! every session say GOODBYE `wamp.close.system_shutdown`, and waits for connections to drain, at
//! most for the configured deadline.

use crate::oro::verified_tickets::VerifiedTickets;
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

use crate::checks::Checker;
use crate::cluster::redis::{RedisBackplane, RedisConfig, RedisTasks};
use crate::config::choices::UriCheck;
use crate::config::{BackendListen, Settings, SlowConsumerPolicy};
use crate::database::{Database, DatabaseConfig};
use crate::metrics::Metrics;
use crate::oro::user_store::UserStore;
use crate::router::authorizer::Authorizer;
use crate::router::outbound::{OverflowPolicy, QueueLimits};
use crate::router::subscribe_gate::SubscribeGate;
use crate::router::{demo_clock, oro_ping, AuthConfig, Router, RouterConfig};
use crate::socketio::queue_consumer::QueueConsumer;
use crate::socketio::room_secrets::RoomSecrets;
use crate::transport::client_addr::TrustedProxies;
use crate::transport::connection::ConnectionContext;
use crate::transport::demo::DemoPage;
use crate::transport::http_publish::HttpPublisher;
use crate::transport::origin::OriginList;
use crate::transport::per_ip::PerIpLimit;
use crate::transport::socketio_emit::EmitEndpoint;
use crate::transport::upgrade::{Admission, ConnectCheck};
use crate::transport::zmq_publish::ZmqIngest;
use crate::transport::zmq_pull::{self, ZmqSpec};
use crate::transport::{listener, tls, ListenerRole, ListenerSpec, ServerState, TransportLimits};
use wampd_proto::wamp::UriPolicy;

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    oro_ping_interval: Duration,
    demo: bool,
    listener: TcpListener,
    public: Arc<ListenerSpec>,
    backend: Option<(TcpListener, Arc<ListenerSpec>)>,
    metrics_listener: Option<TcpListener>,
    /// The ZeroMQ PULL socket and what its messages become, when configured.
    zmq: Option<(TcpListener, ZmqSpec, Arc<ZmqIngest>)>,
    state: Arc<ServerState>,
    shutdown_timeout: Duration,
    /// The cluster backplane's tasks, started by [`Server::run`] (cluster mode only).
    cluster: Option<RedisTasks>,
    /// The Socket.IO queue consumer, when configured.
    socketio_queue: Option<QueueConsumer>,
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

/// Whether the server listener bound at `server` already accepts connections for every address
/// the backend DSN resolves to (same port, and the server bound to all interfaces or to that
/// very address). Port 0 ("any free port") is never covered.
fn covered(server: SocketAddr, backend: &[SocketAddr]) -> bool {
    !backend.is_empty()
        && backend.iter().all(|b| {
            b.port() == server.port() && (server.ip().is_unspecified() || b.ip() == server.ip())
        })
}

/// Binds the backend listener per `WEBSOCKET_BACKEND_LISTEN`; `auto` skips (with a log line)
/// what looks like a proxy or another machine instead of failing.
async fn bind_backend(
    settings: &Settings,
    server: SocketAddr,
) -> io::Result<Option<(TcpListener, Arc<ListenerSpec>)>> {
    let Some(dsn) = settings.backend_dsn.as_ref() else {
        return Ok(None);
    };
    let auto = match settings.backend_listen {
        BackendListen::Off => return Ok(None),
        BackendListen::Auto if !settings.backend_dsn_explicit => return Ok(None),
        BackendListen::Auto => true,
        BackendListen::On => false,
    };
    let address = dsn.socket_addr_string();
    let resolved: Vec<SocketAddr> = match tokio::net::lookup_host(&address).await {
        Ok(addrs) => addrs.collect(),
        Err(err) if auto => {
            info!(dsn = %dsn.display_masked(), error = %err, "not listening on the backend DSN: its host does not resolve here");
            return Ok(None);
        }
        Err(err) => {
            return Err(io::Error::new(
                err.kind(),
                format!("WEBSOCKET_BACKEND_DSN: cannot resolve {address}: {err}"),
            ))
        }
    };
    if covered(server, &resolved) {
        return Ok(None);
    }
    let tls = match tls::acceptor(dsn, "WEBSOCKET_BACKEND_DSN") {
        Ok(tls) => tls,
        Err(why)
            if auto && dsn.wants_tls() && !dsn.context_options().contains_key("local_cert") =>
        {
            info!(dsn = %dsn.display_masked(), "not listening on the backend DSN: it is TLS without a certificate, so a TLS-terminating proxy is assumed in front ({why})");
            return Ok(None);
        }
        Err(why) => return Err(io::Error::new(io::ErrorKind::InvalidInput, why)),
    };
    let listener = match bind(address).await {
        Ok(listener) => listener,
        Err(err) if auto && err.kind() == io::ErrorKind::AddrNotAvailable => {
            info!(dsn = %dsn.display_masked(), "not listening on the backend DSN: its host is not an address of this machine");
            return Ok(None);
        }
        Err(err) => return Err(err),
    };
    let spec = ListenerSpec {
        role: ListenerRole::Public,
        tls,
        authrole: Arc::from(settings.backend_role.as_str()),
    };
    Ok(Some((listener, Arc::new(spec))))
}

/// Derives the router's configuration from settings.
pub fn router_config(settings: &Settings) -> RouterConfig {
    let file = settings
        .authorization_file
        .as_ref()
        .map(|(_, file)| file.clone())
        .unwrap_or_default();
    RouterConfig {
        limits: settings.limits,
        retained_topics: settings.retained_topics,
        retained_bytes: settings.retained_bytes,
        retain_topics: settings.retain_topics.clone(),
        history: {
            let mut history = settings.history.clone();
            if settings.demo {
                // The demo page recovers what it missed while reconnecting (docs/protocol.md).
                history.topics = history.topics.or(
                    crate::router::demo_clock::NOTIFICATIONS_TOPIC,
                    crate::router::history::StreamLimits {
                        size: 100,
                        ttl: None,
                    },
                );
            }
            history
        },
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
        auth: AuthConfig {
            ticket_secret: settings
                .ticket_secret
                .as_ref()
                .map(|s| s.as_bytes().to_vec()),
            anonymous: settings.anonymous,
            max_failures: settings.auth_failures_per_minute,
            cra_users: file.users,
            ticket_principals: file.tickets,
            cryptosign_principals: file.cryptosign,
            realms: file.realms,
            backend_role: settings.backend_role.clone(),
        },
        authorizer: Authorizer::new(
            settings.authorization_default,
            &settings.backend_role,
            file.rules,
        ),
    }
}

/// Derives transport limits from settings.
pub fn transport_limits(settings: &Settings) -> TransportLimits {
    TransportLimits {
        max_message_size: settings.max_message_size,
        backend_max_message_size: settings.backend_max_message_size,
        max_write_buffer: settings.outbound_queue_bytes + 64 * 1024,
        handshake_timeout: settings.handshake_timeout,
        hello_timeout: settings.hello_timeout,
        ping_interval: (!settings.ping_interval.is_zero()).then_some(settings.ping_interval),
        v1_ping_interval: (!settings.v1_ping_interval.is_zero())
            .then_some(settings.v1_ping_interval),
        ping_timeout: settings.ping_timeout,
        // GOODBYE wait plus two close-grace periods must fit within the drain deadline.
        goodbye_timeout: (settings.shutdown_timeout / 2).min(Duration::from_secs(5)),
        close_grace: (settings.shutdown_timeout / 5).min(Duration::from_secs(2)),
    }
}

/// The subscribe gate the settings ask for: Espo's categories and checks under the EspoCRM
/// profile (unless `WEBSOCKET_SUBSCRIBE_CHECK` replaces them), the configured check otherwise.
fn subscribe_gate(
    settings: &Settings,
    checker: &Arc<Checker>,
) -> io::Result<Option<SubscribeGate>> {
    if let Some(check) = &settings.checks.subscribe {
        return Ok(Some(SubscribeGate::command(
            checker.clone(),
            check.clone(),
            &settings.backend_role,
        )));
    }
    let Some(root) = &settings.espocrm.root else {
        return Ok(None);
    };
    SubscribeGate::espocrm(
        checker.clone(),
        &settings.espocrm.categories,
        &settings.espocrm.php,
        root,
        &settings.backend_role,
    )
    .map(Some)
    .map_err(|why| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("WEBSOCKET_ESPOCRM_ROOT: {why}"),
        )
    })
}

/// The TLS set-up start-up would do, without binding anything: the server DSN's certificate
/// and key (when it is `ssl://`/`tls://`), and the backend DSN's when it names one. For
/// `wampd config:check`, so a configuration it passes does not then fail to start.
pub fn check_certificates(settings: &Settings) -> Result<(), String> {
    tls::acceptor(&settings.server_dsn, "WEBSOCKET_SERVER_DSN")?;
    if let Some(dsn) = &settings.backend_dsn {
        if dsn.context_options().contains_key("local_cert") {
            tls::acceptor(dsn, "WEBSOCKET_BACKEND_DSN")?;
        }
    }
    Ok(())
}

impl Server {
    /// Binds the server DSN's address (and the backend and metrics DSNs', when configured).
    pub async fn bind(settings: &Settings) -> io::Result<Server> {
        let tls = tls::acceptor(&settings.server_dsn, "WEBSOCKET_SERVER_DSN")
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
        let listener = bind(settings.server_dsn.socket_addr_string()).await?;
        let backend = bind_backend(settings, listener.local_addr()?).await?;
        let metrics_listener = match &settings.metrics_dsn {
            Some(dsn) => Some(bind(dsn.socket_addr_string()).await?),
            None => None,
        };
        let zmq = match &settings.zmq {
            None => None,
            Some(z) => {
                let listener = TcpListener::bind(&z.bind).await.map_err(|err| {
                    io::Error::new(
                        err.kind(),
                        format!("WEBSOCKET_ZMQ_DSN: cannot bind {}: {err}", z.bind),
                    )
                })?;
                let spec = ZmqSpec {
                    max_connections: z.max_connections,
                    handshake_timeout: settings.handshake_timeout,
                    max_message_size: settings.backend_max_message_size,
                };
                let ingest = ZmqIngest::new(
                    z.format,
                    Arc::new(settings.espocrm.categories.clone()),
                    &settings.backend_role,
                );
                Some((listener, spec, Arc::new(ingest)))
            }
        };
        let metrics = Arc::new(Metrics::new());
        let mut router = Router::new(router_config(settings), metrics.clone());
        let mut cluster = None;
        if let Some(dsn) = &settings.cluster_dsn {
            let config = RedisConfig {
                dsn: dsn.clone(),
                channel_prefix: settings.cluster_channel_prefix.clone(),
            };
            let (backplane, tasks) = RedisBackplane::new(config, &metrics).map_err(|why| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("WEBSOCKET_CLUSTER_DSN: {why}"),
                )
            })?;
            info!(
                node = crate::router::backplane::Backplane::node(backplane.as_ref()),
                "cluster mode: publications and calls are shared through Redis"
            );
            router = router.with_backplane(backplane);
            cluster = Some(tasks);
        }
        // Validated by Settings::from_env; connecting happens on the first lookup.
        let database = settings
            .database_dsn
            .as_deref()
            .and_then(|dsn| DatabaseConfig::parse(dsn).ok())
            .map(|config| Arc::new(Database::new(config)));
        if let Some(url) = &settings.socketio.queue {
            let secrets = RoomSecrets::new(url).map_err(|why| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("WEBSOCKET_SOCKETIO_QUEUE: {why}"),
                )
            })?;
            router = router.with_room_secrets(Arc::new(secrets));
        }
        let checker = Arc::new(Checker::new(settings.checks.limits, database.clone()));
        if let Some(gate) = subscribe_gate(settings, &checker)? {
            router = router.with_subscribe_gate(gate);
        }
        let router = Arc::new(router);
        let state = Arc::new(ServerState {
            connection: ConnectionContext {
                router,
                limits: Arc::new(transport_limits(settings)),
                shutdown: CancellationToken::new(),
            },
            tracker: TaskTracker::new(),
            connections: Arc::new(Semaphore::new(settings.max_connections)),
            operations_connections: Arc::new(Semaphore::new(
                crate::transport::OPERATIONS_CONNECTIONS,
            )),
            refusals: Arc::new(Semaphore::new(64)),
            per_ip: PerIpLimit::new(settings.max_connections_per_ip),
            max_connections: settings.max_connections,
            started: Instant::now(),
            publisher: HttpPublisher::new(settings.publish.clone(), &settings.backend_role),
            admission: Admission {
                origins: settings
                    .origin_check
                    .then(|| OriginList::new(settings.origin_match, &settings.allowed_origins)),
                v1: settings.v1,
                oro_secret: settings.oro_secret.clone(),
                ticket_secret: settings
                    .ticket_secret
                    .as_ref()
                    .map(|s| s.as_bytes().to_vec()),
                // Validated by Settings::from_env; connecting happens on the first named ticket.
                oro_users: database
                    .clone()
                    .map(|db| Arc::new(UserStore::new(db, settings.oro_user_cache_ttl))),
                backend_role: Arc::from(settings.backend_role.as_str()),
                connect: settings.checks.connect.clone().map(|settings| {
                    Arc::new(ConnectCheck {
                        checker: checker.clone(),
                        settings,
                    })
                }),
                verified_tickets: Arc::new(VerifiedTickets::new(
                    wampd_proto::oro_ticket::DEFAULT_TTL,
                    metrics.clone(),
                )),
            },
            trusted_proxies: TrustedProxies::new(settings.trusted_proxies.clone()),
            demo: settings.demo.then(|| {
                let realm = settings.realms.first().map_or("realm1", String::as_str);
                DemoPage::new(&settings.demo_autobahn_url, realm)
            }),
            polling: Default::default(),
            emit: settings.socketio.emit_secret.clone().map(|secret| {
                EmitEndpoint::new(secret, settings.publish.max_body, &settings.backend_role)
            }),
        });
        let public = Arc::new(ListenerSpec {
            role: if metrics_listener.is_some() {
                ListenerRole::Public
            } else {
                ListenerRole::PublicWithMetrics
            },
            tls,
            authrole: Arc::from(settings.anonymous_role.as_str()),
        });
        Ok(Server {
            oro_ping_interval: settings.oro_ping_interval,
            demo: settings.demo,
            listener,
            public,
            backend,
            metrics_listener,
            zmq,
            state,
            shutdown_timeout: settings.shutdown_timeout,
            cluster,
            socketio_queue: match &settings.socketio.queue {
                None => None,
                Some(url) => Some(
                    QueueConsumer::new(url, &settings.socketio.channel, &settings.backend_role)
                        .map_err(|why| {
                            io::Error::new(
                                io::ErrorKind::InvalidInput,
                                format!("WEBSOCKET_SOCKETIO_QUEUE: {why}"),
                            )
                        })?,
                ),
            },
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the backend listener, if it has one of its own.
    pub fn backend_addr(&self) -> Option<SocketAddr> {
        self.backend.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The address of the separate metrics listener, if one is configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The address of the ZeroMQ PULL socket, if one is configured.
    pub fn zmq_addr(&self) -> Option<SocketAddr> {
        self.zmq.as_ref().and_then(|(l, _, _)| l.local_addr().ok())
    }

    /// The router this server routes with.
    pub fn router(&self) -> Arc<Router> {
        self.state.connection.router.clone()
    }

    /// Serves until `shutdown` resolves, then drains. Returns true when every connection finished
    /// within the deadline.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> bool {
        let state = self.state.clone();
        let mut accepting = vec![tokio::spawn(listener::accept_loop(
            self.listener,
            state.clone(),
            self.public,
            state.connection.shutdown.clone(),
        ))];
        if let Some((backend, spec)) = self.backend {
            accepting.push(tokio::spawn(listener::accept_loop(
                backend,
                state.clone(),
                spec,
                state.connection.shutdown.clone(),
            )));
        }
        if let Some((listener, spec, ingest)) = self.zmq {
            info!(address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "ZeroMQ PULL socket bound");
            accepting.push(tokio::spawn(zmq_pull::accept_loop(
                listener,
                spec,
                state.connection.router.clone(),
                ingest,
                state.tracker.clone(),
                state.connection.shutdown.clone(),
            )));
        }
        // The private metrics listener stays up while connections drain, so operators can watch
        // the drain and load balancers see /ready answer 503.
        let metrics_stop = CancellationToken::new();
        let metrics_accepting = self.metrics_listener.map(|l| {
            let spec = Arc::new(ListenerSpec {
                role: ListenerRole::Metrics,
                tls: None,
                authrole: Arc::from("anonymous"),
            });
            tokio::spawn(listener::accept_loop(
                l,
                state.clone(),
                spec,
                metrics_stop.clone(),
            ))
        });
        // Stopped only after the drain, so sessions still connected keep getting other nodes'
        // publications until they are gone.
        let cluster_stop = CancellationToken::new();
        if let Some(tasks) = self.cluster {
            tasks.spawn(state.connection.router.clone(), cluster_stop.clone());
        }
        if let Some(consumer) = self.socketio_queue {
            tokio::spawn(consumer.run(state.connection.router.clone(), cluster_stop.clone()));
        }
        if !self.oro_ping_interval.is_zero() {
            tokio::spawn(oro_ping::run(
                state.connection.router.clone(),
                self.oro_ping_interval,
                state.connection.shutdown.clone(),
            ));
        }
        if self.demo {
            tokio::spawn(demo_clock::run(
                state.connection.router.clone(),
                state.connection.shutdown.clone(),
            ));
        }
        shutdown.await;
        let open = state.open_connections();
        info!(target: crate::logging::LIFECYCLE, open_connections = open, "Stopping server ...");
        state.connection.shutdown.cancel();
        for task in accepting {
            let _ = task.await;
        }
        state.tracker.close();
        let drained = tokio::time::timeout(self.shutdown_timeout, state.tracker.wait())
            .await
            .is_ok();
        metrics_stop.cancel();
        cluster_stop.cancel();
        if let Some(task) = metrics_accepting {
            let _ = task.await;
        }
        if drained {
            info!(target: crate::logging::LIFECYCLE, "Server stopped!");
        } else {
            warn!(
                remaining = state.open_connections(),
                "drain deadline reached; closing the remaining connections"
            );
        }
        drained
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn backend_listener_only_for_an_address_the_server_does_not_cover() {
        for (server, backend, covers) in [
            ("0.0.0.0:8080", vec!["127.0.0.1:8080"], true),
            ("0.0.0.0:8080", vec!["10.1.2.3:8080"], true),
            ("127.0.0.1:8080", vec!["127.0.0.1:8080"], true),
            (
                "127.0.0.1:8080",
                vec!["127.0.0.1:8080", "[::1]:8080"],
                false,
            ),
            ("127.0.0.1:8080", vec!["127.0.0.1:8081"], false),
            ("0.0.0.0:8080", vec!["127.0.0.1:9000"], false),
            ("10.1.2.3:8080", vec!["127.0.0.1:8080"], false),
            ("127.0.0.1:8080", vec!["127.0.0.1:0"], false),
        ] {
            let backend: Vec<SocketAddr> = backend.into_iter().map(addr).collect();
            assert_eq!(
                covered(addr(server), &backend),
                covers,
                "{server} / {backend:?}"
            );
        }
    }
}
