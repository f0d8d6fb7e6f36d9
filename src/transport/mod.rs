//! Transports: listeners, HTTP, WebSocket and RawSocket, and the per-connection reader and writer.
//!
//! This is the only layer that touches sockets. Every listener sniffs the first byte of a
//! connection: `0x7F` starts a WAMP RawSocket handshake, anything else is HTTP (WebSocket
//! upgrades, `/health`, `/metrics`), so one port serves all. Either way the bytes become
//! [`wampd_proto::wamp::Message`]s for a [`crate::router::session::Session`], driven by one shared
//! [`connection`] loop, and the session's outbound queue drains back onto the wire
//! (`transport → router → wamp`, DESIGN.md §2).

pub mod batch_writer;
pub mod client_addr;
pub mod connection;
pub mod demo;
pub mod http;
pub mod http_head;
pub mod http_publish;
pub mod listener;
pub mod origin;
pub mod per_ip;
pub mod prefixed;
pub mod rawsocket;
pub mod socketio;
pub mod socketio_emit;
pub mod socketio_polling;
pub mod tls;
pub mod upgrade;
pub mod websocket;
pub mod websocket_wire;
pub mod wire;
pub mod writer;
pub mod zmq_publish;
pub mod zmq_pull;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::transport::connection::ConnectionContext;

/// What one open connection holds against the server's limits: its place under
/// `WEBSOCKET_MAX_CONNECTIONS` and its address's slot. It moves with the connection into
/// whichever task serves it last (a session runs in a task of its own, so the handshake's state
/// is freed), and releases both when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _ip: per_ip::IpSlot,
}

impl ConnectionSlot {
    /// Holds `permit` and the address's slot `ip`.
    pub fn new(permit: tokio::sync::OwnedSemaphorePermit, ip: per_ip::IpSlot) -> Self {
        ConnectionSlot {
            _permit: permit,
            _ip: ip,
        }
    }
}

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerRole {
    /// WebSocket sessions and `/health`, `/ready`; metrics live on a separate listener.
    Public,
    /// WebSocket sessions and `/health`, `/ready`, `/metrics`.
    PublicWithMetrics,
    /// Only `/metrics`, `/health` and `/ready` (the operator's private port).
    Metrics,
}

impl ListenerRole {
    /// Whether WebSocket upgrades are accepted.
    pub fn accepts_sessions(self) -> bool {
        self != ListenerRole::Metrics
    }

    /// Whether `/metrics` is served.
    pub fn serves_metrics(self) -> bool {
        self != ListenerRole::Public
    }
}

/// One listening socket's duties.
#[derive(Clone)]
pub struct ListenerSpec {
    /// What it serves.
    pub role: ListenerRole,
    /// TLS, when its DSN is `ssl://`.
    pub tls: Option<tokio_native_tls::TlsAcceptor>,
    /// Auth role of anonymous sessions arriving here (`anonymous`, or the backend role).
    pub authrole: Arc<str>,
}

impl std::fmt::Debug for ListenerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerSpec")
            .field("role", &self.role)
            .field("tls", &self.tls.is_some())
            .field("authrole", &self.authrole)
            .finish()
    }
}

/// Connections the operations listener (`WEBSOCKET_METRICS_DSN`) serves at once, apart from the
/// main connection limit: probes and scrapers still get an answer when the router is full.
pub const OPERATIONS_CONNECTIONS: usize = 64;

/// tungstenite writes its buffer out once it holds this much.
const WRITE_BUFFER: usize = 16 * 1024;

/// Timeouts and sizes every connection obeys.
#[derive(Debug, Clone, Copy)]
pub struct TransportLimits {
    /// Largest accepted WebSocket message.
    pub max_message_size: usize,
    /// Largest accepted message on backend connections (backend role).
    pub backend_max_message_size: usize,
    /// Most bytes tungstenite's own write buffer may hold beyond a full outbound queue: the
    /// outbound queue's byte limit plus room for control frames. Sessions' frames are written by
    /// wampd ([`websocket_wire`]), so for them it holds only pongs and the close echo; a Socket.IO
    /// polling session upgraded to WebSocket still writes everything through it.
    pub max_write_buffer: usize,
    /// TCP accept → WebSocket upgrade must finish within this.
    pub handshake_timeout: Duration,
    /// Upgrade → HELLO must finish within this.
    pub hello_timeout: Duration,
    /// Keepalive ping period; `None` disables pings and dead-peer detection.
    pub ping_interval: Option<Duration>,
    /// The same for WAMP v1 peers (`WEBSOCKET_V1_PING_INTERVAL`): `None` for Ratchet's and Oro's
    /// behaviour, 60 s under the EspoCRM profile as Espo's daemon does.
    pub v1_ping_interval: Option<Duration>,
    /// Extra silence tolerated after a ping before the peer is considered dead.
    pub ping_timeout: Duration,
    /// How long a session may take to answer the shutdown GOODBYE.
    pub goodbye_timeout: Duration,
    /// How long the close handshake (and the writer's last flush) may take.
    pub close_grace: Duration,
}

/// Bytes tungstenite reads per call, and the read buffer every WebSocket holds from the start.
/// Browsers send little (SUBSCRIBE, CALL, pings), so an idle session keeps this small; a large
/// message is read in calls of this size into a buffer reserved for its whole length.
/// Measured: 1,024 → 512 takes 0.5 KiB off every idle session (docs/benchmarks.md).
const READ_BUFFER: usize = 512;

impl TransportLimits {
    /// tungstenite's settings for a WebSocket accepting messages up to `max_message_size`:
    /// small buffers, since an idle notification session should cost a few KiB (the read buffer
    /// is allocated eagerly; larger messages grow it as needed), and a bounded write buffer. A
    /// peer that sends pings but never reads its pongs fills the write buffer (tungstenite queues
    /// a pong per ping, and [`websocket_wire`]'s control buffer stops taking them at 4 KiB);
    /// beyond [`TransportLimits::max_write_buffer`] tungstenite keeps only the latest pong
    /// instead of growing, and the driver's ping-rate limit closes the flooder.
    pub fn websocket_config(
        &self,
        max_message_size: usize,
    ) -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(WRITE_BUFFER)
            .max_write_buffer_size(WRITE_BUFFER + self.max_write_buffer)
            .max_message_size(Some(max_message_size))
            .max_frame_size(Some(max_message_size))
    }

    /// The message size limit for a connection whose sessions get `role`.
    pub fn max_message_size_for(&self, role: &str, backend_role: &str) -> usize {
        if role == backend_role {
            self.backend_max_message_size
        } else {
            self.max_message_size
        }
    }
}

/// State shared by the listener and every connection of one server.
#[derive(Debug)]
pub struct ServerState {
    /// What each connection needs.
    pub connection: ConnectionContext,
    /// Every connection task, so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// One permit per open connection.
    pub connections: Arc<Semaphore>,
    /// The operations listener's own budget (`/health`, `/ready`, `/metrics`), so that a router
    /// at its connection limit still answers its probes.
    pub operations_connections: Arc<Semaphore>,
    /// Bounds the tasks that answer connections refused over the limit.
    pub refusals: Arc<Semaphore>,
    /// Open connections per client address.
    pub per_ip: Arc<per_ip::PerIpLimit>,
    /// The configured connection limit.
    pub max_connections: usize,
    /// When the server started.
    pub started: Instant,
    /// The `POST /publish` endpoint.
    pub publisher: http_publish::HttpPublisher,
    /// Who may open WebSockets.
    pub admission: upgrade::Admission,
    /// Proxies whose forwarding headers name the real client.
    pub trusted_proxies: client_addr::TrustedProxies,
    /// The demo page, when `WEBSOCKET_DEMO` is on.
    pub demo: Option<demo::DemoPage>,
    /// Engine.IO sessions on the polling transport, by sid.
    pub polling: socketio_polling::PollingSessions,
    /// ws-emit's `POST /emit`, when `WEBSOCKET_EMIT_SECRET` is set.
    pub emit: Option<socketio_emit::EmitEndpoint>,
}

impl ServerState {
    /// The per-address slot of a WebSocket client that came through a trusted proxy: such
    /// connections were accepted without one (the proxy's address names nobody), so the client
    /// the proxy names takes one now. `Ok(None)` for direct clients (counted at accept time);
    /// `Err` when the client is over its limit (logged and counted; the caller refuses).
    pub fn proxied_client_slot(
        &self,
        peer: std::net::SocketAddr,
        client: &client_addr::ClientAddr,
    ) -> Result<Option<per_ip::IpSlot>, per_ip::OverLimit> {
        if !self.trusted_proxies.trusts(peer.ip()) {
            return Ok(None);
        }
        match self.per_ip.acquire(client.ip()) {
            Some(slot) => Ok(Some(slot)),
            None => {
                crate::router::log_budget::connection_warning(|suppressed| {
                    tracing::warn!(%client, suppressed, "per-address connection limit reached; refusing");
                });
                self.connection
                    .router
                    .metrics()
                    .handshake_failure("ip_limit");
                Err(per_ip::OverLimit)
            }
        }
    }

    /// The WebSocket settings of a connection whose sessions get `role` (backends may send
    /// larger messages).
    pub fn websocket_config(
        &self,
        role: &str,
    ) -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
        let limits = &self.connection.limits;
        let backend = &self.connection.router.config().auth.backend_role;
        limits.websocket_config(limits.max_message_size_for(role, backend))
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        self.max_connections
            .saturating_sub(self.connections.available_permits())
    }
}
