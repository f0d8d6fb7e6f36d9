//! Drives one WAMP session over any wire (WebSocket or RawSocket).
//!
//! The reader loop (this task) decodes incoming messages and feeds the [`Session`]; a separate
//! writer task ([`super::writer`]) drains the session's outbound queue onto the wire. The reader
//! also enforces the HELLO timeout and dead-peer detection (no frame at all from the client for
//! `ping_interval + ping_timeout`; any frame, including a pong, counts as liveness), and turns
//! router shutdown into a GOODBYE `wamp.close.system_shutdown` exchange. Doing this once here keeps
//! every transport's behaviour identical.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::router::outbound::{self, Frame};
use crate::router::session::{Arrival, Session, Step, CLOSE_GOING_AWAY};
use crate::router::session_v1::{V1Identity, V1Session};
use crate::router::subscribe_gate::{gate_channel, GateDone};
use crate::router::Router;
use crate::socketio::session::{SioIdentity, SioSession};
use crate::transport::websocket_wire::CLOSE_POLICY_VIOLATION;
use crate::transport::wire::{Inbound, ReadFailure, WireSink};
use crate::transport::{writer, TransportLimits};
use wampd_proto::ticket::Claims;
use wampd_proto::wamp::{codec, Id, Serializer};

/// How long a connection whose input is unusable stays open after its close frame was sent.
const CLOSE_LINGER: Duration = Duration::from_millis(250);
/// Peer pings waiting for their pong; more are dropped (a peer flooding pings gets fewer pongs).
const PENDING_PONGS: usize = 4;
/// Most pings a peer may send per [`PING_WINDOW`]. Browsers cannot send pings at all and
/// libraries send one every few seconds; a peer far beyond that is flooding (each ping costs a
/// pong it may never read) and is closed with 1008.
const MAX_PEER_PINGS: u32 = 100;
/// The window [`MAX_PEER_PINGS`] counts over.
const PING_WINDOW: Duration = Duration::from_secs(10);

/// Everything a connection needs from the server.
#[derive(Debug, Clone)]
pub struct ConnectionContext {
    /// The router sessions join.
    pub router: Arc<Router>,
    /// Timeouts and sizes, shared: every session's task holds this context for its lifetime.
    pub limits: Arc<TransportLimits>,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
}

/// Why the reader loop ended.
enum End {
    /// The router decided to close with this code and reason.
    Close(u16, String),
    /// The router dropped a slow consumer; the writer says so if it still can.
    Killed,
    /// The peer closed or vanished; nothing left to say.
    Gone,
    /// The peer sent a close frame: its echo (queued by the wire) must still be flushed.
    PeerClosed,
}

/// One connection's wire, as the transport hands it to the driver.
pub struct Wire<R, W> {
    /// Incoming messages.
    pub inbound: R,
    /// Outgoing frames.
    pub sink: W,
    /// The negotiated serializer.
    pub serializer: Serializer,
    /// Metrics label and log name: `websocket` or `rawsocket`.
    pub transport: &'static str,
    /// Auth role anonymous sessions get on this listener.
    pub authrole: Arc<str>,
    /// WAMP v2, or a v1 session already welcomed by the handshake.
    pub flavor: Flavor,
}

/// Which WAMP version a connection speaks.
#[derive(Debug, Clone)]
pub enum Flavor {
    /// WAMP v2: the session starts with HELLO; `preauth` is a ticket verified on the upgrade.
    V2 {
        /// Claims of a `?ticket=` presented on the WebSocket upgrade.
        preauth: Option<Claims>,
        /// A batched subprotocol (`wamp.2.json.batched`, …): a WebSocket message may carry
        /// several WAMP messages.
        batched: bool,
    },
    /// Socket.IO v5 over Engine.IO v4: the session starts with Engine.IO's OPEN packet.
    SocketIo {
        /// Who admission says the client is.
        identity: SioIdentity,
        /// The Engine.IO session id: set for a polling session (whose OPEN offers the upgrade),
        /// and on a WebSocket that upgrades one; `None` for a WebSocket from the start.
        engine_sid: Option<String>,
    },
    /// WAMP v1: the handshake already sent WELCOME for this session.
    V1 {
        /// The session ID announced in the WELCOME.
        session_id: Id,
        /// Who the ticket says the client is.
        identity: V1Identity,
    },
}

impl Flavor {
    /// Whether the connection speaks a batched WAMP v2 subprotocol.
    pub fn is_batched(&self) -> bool {
        matches!(self, Flavor::V2 { batched: true, .. })
    }
}

/// The session state machine of a connection. It lives in every session's task, so its size
/// is the largest variant's: the rarer WAMP v1 and Socket.IO sessions are boxed, which keeps a
/// WAMP v2 session's task 136 bytes smaller (`-Zprint-type-sizes`). Boxing the v2 session
/// too would only move it to the heap and add an allocation's overhead.
#[allow(clippy::large_enum_variant)]
enum Machine {
    V2(Session),
    V1(Box<V1Session>),
    SocketIo(Box<SioSession>),
}

impl Machine {
    fn id(&self) -> Option<Id> {
        match self {
            Machine::V2(s) => s.id(),
            Machine::V1(s) => Some(s.id()),
            Machine::SocketIo(s) => Some(s.id()),
        }
    }

    fn is_established(&self) -> bool {
        match self {
            Machine::V2(s) => s.is_established(),
            Machine::V1(_) | Machine::SocketIo(_) => true,
        }
    }

    fn leave(&mut self) {
        match self {
            Machine::V2(s) => s.leave(),
            Machine::V1(s) => s.leave(),
            Machine::SocketIo(s) => s.leave(),
        }
    }

    fn on_gate_done(&mut self, done: GateDone) -> Step {
        match self {
            Machine::V2(s) => s.on_gate_done(done),
            Machine::V1(s) => s.on_gate_done(done),
            Machine::SocketIo(s) => s.on_gate_done(done),
        }
    }

    /// One WebSocket message of a batched transport: each WAMP message in it, in order, until
    /// one ends the session. A malformed batch is a protocol violation.
    fn on_batch(&mut self, serializer: Serializer, data: &[u8], text: Option<bool>) -> Step {
        let Machine::V2(session) = self else {
            return self.on_message(serializer, data, text);
        };
        match codec::split_batch(serializer, data) {
            Ok(messages) => {
                for message in messages {
                    let step = self.on_message(serializer, message, text);
                    if !matches!(step, Step::Continue) {
                        return step;
                    }
                }
                Step::Continue
            }
            Err(err) => session.handle_decode_error(&err),
        }
    }

    fn on_message(&mut self, serializer: Serializer, data: &[u8], text: Option<bool>) -> Step {
        match self {
            Machine::V2(session) => {
                if text.is_some_and(|t| t == serializer.is_binary()) {
                    session.protocol_violation(format!(
                        "{} requires {} frames",
                        serializer.subprotocol(),
                        if serializer.is_binary() {
                            "binary"
                        } else {
                            "text"
                        }
                    ))
                } else {
                    dispatch(session, serializer, data)
                }
            }
            Machine::SocketIo(session) => {
                if text == Some(false) {
                    session.handle_binary(data.to_vec());
                    return Step::Continue;
                }
                session.handle_text(data)
            }
            Machine::V1(session) => {
                if text == Some(false) {
                    session.warn_budget("binary frame on a WAMP v1 session ignored");
                    return Step::Continue;
                }
                session.handle_text(data)
            }
        }
    }
}

/// What a session's task starts from. Boxed and unpacked at once: an async fn's arguments stay
/// in its state for its whole life, so passed by value they would be stored twice in every idle
/// session.
struct Start<R, W, H> {
    ctx: ConnectionContext,
    wire: Wire<R, W>,
    peer: SocketAddr,
    held: H,
}

/// Runs the session until the connection ends; `held` (the connection's slots) is released
/// then. Spawn the returned future directly: wrapped in another async block it would be stored
/// twice.
pub fn run<R, W, H>(
    ctx: ConnectionContext,
    wire: Wire<R, W>,
    peer: SocketAddr,
    held: H,
) -> impl std::future::Future<Output = ()> + Send
where
    R: Stream<Item = Result<Inbound, ReadFailure>> + Unpin + Send,
    W: WireSink,
    H: Send + 'static,
{
    drive(Box::new(Start {
        ctx,
        wire,
        peer,
        held,
    }))
}

#[allow(clippy::boxed_local)] // taking the box is the point: it is freed on return
fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}

async fn drive<R, W, H>(start: Box<Start<R, W, H>>)
where
    R: Stream<Item = Result<Inbound, ReadFailure>> + Unpin + Send,
    W: WireSink,
    H: Send + 'static,
{
    // Unboxed by a function so the box is freed now: moved out of in place, it would be freed
    // only when the session ends (measured with dhat: 600 bytes per idle session).
    let Start {
        ctx,
        wire,
        peer,
        held: _held,
    } = unbox(start);
    let Wire {
        mut inbound,
        sink,
        serializer,
        transport,
        authrole,
        flavor,
    } = wire;
    // WAMP v1 peers get neither pings nor a liveness deadline unless WEBSOCKET_V1_PING_INTERVAL
    // asks for them (the EspoCRM profile): Oro's PHP backend never reads its socket or answers a
    // ping, and Oro keeps browsers alive with oro/ping instead.
    let v1 = matches!(flavor, Flavor::V1 { .. });
    let batched = flavor.is_batched();
    let socketio = matches!(flavor, Flavor::SocketIo { .. });
    let metrics = ctx.router.metrics().clone();
    let connections = metrics.connection_gauge(transport);
    connections.inc();
    let (outbound, rx) = outbound::channel(ctx.router.config().queue, serializer);
    let kill = outbound.kill_token();
    let done = CancellationToken::new();
    // Socket.IO clients expect Engine.IO's own PING ("2") and close the connection without it;
    // they get that instead of WebSocket pings.
    let ping = if v1 {
        ctx.limits.v1_ping_interval
    } else if socketio {
        None
    } else {
        ctx.limits.ping_interval
    };
    let app_ping = if socketio {
        ctx.limits.ping_interval
    } else {
        None
    };
    let (pong_tx, pong_rx) = if transport == "rawsocket" {
        let (tx, rx) = mpsc::channel::<Bytes>(PENDING_PONGS);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let mut writer = tokio::spawn(writer::run(
        sink,
        rx,
        ping,
        pong_rx,
        done.clone(),
        metrics.clone(),
    ));
    // Subscribe checks answer here; a session holds at most MAX_PENDING_CHECKS of them.
    let (gate_tx, mut gate_rx) = gate_channel();
    let mut session = match flavor {
        Flavor::V2 { preauth, .. } => Machine::V2(Session::new(
            ctx.router.clone(),
            serializer,
            outbound.clone(),
            Arrival {
                peer,
                transport,
                authrole,
                preauth,
            },
            gate_tx,
        )),
        Flavor::SocketIo {
            identity,
            engine_sid,
        } => {
            let limit = match identity.authrole.as_str() {
                role if role == ctx.router.config().auth.backend_role => {
                    ctx.limits.backend_max_message_size
                }
                _ => ctx.limits.max_message_size,
            };
            match SioSession::join(
                ctx.router.clone(),
                outbound.clone(),
                identity,
                peer,
                transport,
                limit,
                gate_tx.clone(),
            ) {
                Some(session) => {
                    let ping_ms = |d: Option<Duration>| d.map_or(0, |d| d.as_millis() as u64);
                    let upgrades: &[&str] = if engine_sid.is_some() {
                        &["websocket"]
                    } else {
                        &[]
                    };
                    let sid = engine_sid.unwrap_or_else(crate::socketio::session::random_sid);
                    let open = wampd_proto::socketio::engineio::open(
                        &sid,
                        upgrades,
                        ping_ms(app_ping),
                        ctx.limits.ping_timeout.as_millis() as u64,
                        limit,
                    );
                    let _ = outbound.push(Frame::Text(open.into()));
                    Machine::SocketIo(Box::new(session))
                }
                None => {
                    done.cancel();
                    connections.dec();
                    return;
                }
            }
        }
        Flavor::V1 {
            session_id,
            identity,
        } => {
            match V1Session::join(
                ctx.router.clone(),
                outbound.clone(),
                session_id,
                identity,
                peer,
                transport,
                gate_tx,
            ) {
                Some(session) => Machine::V1(Box::new(session)),
                None => {
                    done.cancel();
                    connections.dec();
                    return;
                }
            }
        }
    };

    let silence = ping.or(app_ping).map(|p| p + ctx.limits.ping_timeout);
    let mut next_app_ping = app_ping.map(|p| Instant::now() + p);
    // Re-armed whenever the session is not established again (GOODBYE, then a new HELLO).
    let mut hello_deadline = Instant::now() + ctx.limits.hello_timeout;
    let mut was_established = false;
    let mut last_seen = Instant::now();
    let mut ping_window = last_seen;
    let mut peer_pings = 0u32;
    let mut goodbye_deadline: Option<Instant> = None;
    let mut read_failed = false;

    // The writer ends on its own when it wrote a close frame the router queued (a killed
    // session) or when the socket failed; the session ends with it.
    let mut writer_finished = false;
    let end = loop {
        let established = session.is_established();
        if was_established && !established {
            hello_deadline = Instant::now() + ctx.limits.hello_timeout;
        }
        was_established = established;
        let mut deadline = silence.map(|s| last_seen + s);
        if !session.is_established() && goodbye_deadline.is_none() {
            deadline = Some(deadline.map_or(hello_deadline, |d| d.min(hello_deadline)));
        }
        if let Some(g) = goodbye_deadline {
            deadline = Some(deadline.map_or(g, |d| d.min(g)));
        }
        if let Some(p) = next_app_ping {
            deadline = Some(deadline.map_or(p, |d| d.min(p)));
        }
        let timer = async {
            match deadline {
                Some(d) => sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = kill.cancelled() => {
                crate::router::log_budget::connection_warning(|suppressed| {
                    warn!(%peer, session = ?session.id(), suppressed, "disconnecting a slow consumer: outbound queue limit exceeded");
                });
                metrics.slow_consumer_disconnects.inc();
                break End::Killed;
            }
            _ = ctx.shutdown.cancelled(), if goodbye_deadline.is_none() => {
                let Machine::V2(session) = &mut session else {
                    // Oro's browsers reconnect only after an unclean close (oro-gos.md §10):
                    // drop the TCP connection without a close frame.
                    break End::Gone;
                };
                if session.begin_shutdown() {
                    goodbye_deadline = Some(Instant::now() + ctx.limits.goodbye_timeout);
                } else {
                    break End::Close(CLOSE_GOING_AWAY, "server shutting down".into());
                }
            }
            _ = timer => {
                let now = Instant::now();
                if let (Some(at), Some(every)) = (next_app_ping, app_ping) {
                    if now >= at {
                        let _ = outbound.push(Frame::Text(
                            wampd_proto::socketio::engineio::PING.into(),
                        ));
                        next_app_ping = Some(now + every);
                    }
                }
                if goodbye_deadline.is_some_and(|g| now >= g) {
                    break End::Close(CLOSE_GOING_AWAY, "server shutting down".into());
                }
                if silence.is_some_and(|s| now >= last_seen + s) {
                    info!(%peer, session = ?session.id(), "peer unresponsive to keepalive pings; dropping the connection");
                    break End::Gone;
                }
                if let Machine::V2(session) = &mut session {
                    if session.is_established() {
                        continue;
                    }
                    info!(%peer, "no HELLO within the handshake timeout");
                    metrics.handshake_failure("hello_timeout");
                    break End::Close(CLOSE_POLICY_VIOLATION, "HELLO timeout".into());
                }
            }
            Some(done) = gate_rx.next() => {
                if let Step::Close { code, reason } = session.on_gate_done(done) {
                    break End::Close(code, reason);
                }
            }
            _ = &mut writer, if !writer_finished => {
                writer_finished = true;
                break End::Gone;
            }
            incoming = inbound.next() => {
                let item = match incoming {
                    None => break End::Gone,
                    Some(Ok(item)) => item,
                    Some(Err(ReadFailure { close, unclean, limit })) => {
                        read_failed = true;
                        if unclean {
                            metrics.unclean_disconnects.inc();
                        }
                        if let Some(limit) = limit {
                            metrics.limit_refused(limit);
                        }
                        match close {
                            Some((code, reason)) => break End::Close(code, reason),
                            None => break End::Gone,
                        }
                    }
                };
                last_seen = Instant::now();
                let step = match item {
                    Inbound::Message { data, text } => {
                        metrics.bytes_in.inc_by(data.len() as u64);
                        if batched {
                            session.on_batch(serializer, &data, text)
                        } else {
                            session.on_message(serializer, &data, text)
                        }
                    }
                    Inbound::Ping(payload) => {
                        if last_seen.duration_since(ping_window) >= PING_WINDOW {
                            ping_window = last_seen;
                            peer_pings = 0;
                        }
                        peer_pings += 1;
                        if peer_pings > MAX_PEER_PINGS {
                            info!(%peer, session = ?session.id(), "peer floods pings; closing");
                            metrics.limit_refused("ping_rate");
                            break End::Close(CLOSE_POLICY_VIOLATION, "too many pings".into());
                        }
                        if let Some(tx) = &pong_tx {
                            let _ = tx.try_send(payload);
                        }
                        Step::Continue
                    }
                    Inbound::Alive => Step::Continue,
                    Inbound::Closed => break End::PeerClosed,
                };
                if let Step::Close { code, reason } = step {
                    break End::Close(code, reason);
                }
            }
        }
    };

    session.leave();
    match end {
        End::Close(code, reason) => {
            debug!(%peer, code, %reason, "closing the connection");
            if outbound.push(Frame::Close(code, reason)).is_ok() {
                if read_failed {
                    // The stream is unusable after a read error (e.g. the unread rest of an
                    // oversized frame). Let the writer send the close frame and give the peer a
                    // moment to read it: closing a socket with unread input sends a reset, which
                    // can destroy the close frame before the peer reads it.
                    writer_finished = timeout(ctx.limits.close_grace, &mut writer).await.is_ok();
                    tokio::time::sleep(CLOSE_LINGER).await;
                } else {
                    // Read until the peer answers the close so the handshake completes cleanly.
                    let _ = timeout(ctx.limits.close_grace, async {
                        while let Some(Ok(item)) = inbound.next().await {
                            if matches!(item, Inbound::Closed) {
                                break;
                            }
                        }
                    })
                    .await;
                }
            }
        }
        End::Killed => {
            writer_finished = timeout(ctx.limits.close_grace, &mut writer).await.is_ok();
        }
        End::PeerClosed => {
            // tungstenite queued the close echo (RFC 6455 §5.5.1); reading on flushes it, then
            // sees the peer's end of the TCP connection.
            let _ = timeout(ctx.limits.close_grace, async {
                while let Some(Ok(_)) = inbound.next().await {}
            })
            .await;
        }
        End::Gone => {}
    }
    done.cancel();
    if !writer_finished && timeout(ctx.limits.close_grace, &mut writer).await.is_err() {
        writer.abort();
    }
    connections.dec();
}

fn dispatch(session: &mut Session, serializer: Serializer, data: &[u8]) -> Step {
    match codec::decode(serializer, data) {
        Ok(message) => session.handle(message),
        Err(err) => session.handle_decode_error(&err),
    }
}
