//! Drives one WAMP v2 session over an established WebSocket.
//!
//! The reader loop (this task) decodes frames and feeds the [`Session`]; a separate writer task
//! ([`super::writer`]) drains the session's outbound queue. The reader also enforces the HELLO
//! timeout and dead-peer detection (no frame at all from the client for `ping_interval +
//! ping_timeout`; any frame, including a pong, counts as liveness), and turns router shutdown into
//! a GOODBYE `wamp.close.system_shutdown` exchange.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::router::outbound::{self, Frame};
use crate::router::session::{Session, Step, CLOSE_GOING_AWAY, CLOSE_PROTOCOL_ERROR};
use crate::router::Router;
use crate::transport::writer::{self, CLOSE_POLICY_VIOLATION};
use crate::transport::TransportLimits;
use crate::wamp::{codec, Serializer};

/// WebSocket close code for a message larger than the configured limit.
const CLOSE_TOO_BIG: u16 = 1009;
/// WebSocket close code for invalid UTF-8 in a text frame.
const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// How long a connection whose input is unusable stays open after its close frame was sent.
const CLOSE_LINGER: Duration = Duration::from_millis(250);

/// Everything a connection needs from the server.
#[derive(Debug, Clone)]
pub struct ConnectionContext {
    /// The router sessions join.
    pub router: Arc<Router>,
    /// Timeouts and sizes.
    pub limits: TransportLimits,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
}

/// Why the reader loop ended.
enum End {
    /// The router decided to close with this code and reason.
    Close(u16, String),
    /// The router dropped a slow consumer; the writer sends the close frame if it still can.
    Killed,
    /// The peer closed or vanished; nothing left to say.
    Gone,
}

/// Runs the session until the connection ends.
pub async fn run<S>(
    ctx: ConnectionContext,
    ws: WebSocketStream<S>,
    serializer: Serializer,
    peer: SocketAddr,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, mut stream) = ws.split();
    let metrics = ctx.router.metrics().clone();
    let connections = metrics.connection_gauge("websocket");
    connections.inc();
    let (outbound, rx) = outbound::channel(ctx.router.config().queue, serializer);
    let kill = outbound.kill_token();
    let done = CancellationToken::new();
    let ping = ctx.limits.ping_interval;
    let mut writer = tokio::spawn(writer::run(sink, rx, ping, done.clone(), metrics.clone()));
    let mut session = Session::new(
        ctx.router.clone(),
        serializer,
        outbound.clone(),
        peer,
        "websocket",
    );

    let silence = ping.map(|p| p + ctx.limits.ping_timeout);
    let hello_deadline = Instant::now() + ctx.limits.hello_timeout;
    let mut last_seen = Instant::now();
    let mut goodbye_deadline: Option<Instant> = None;
    let mut read_failed = false;

    let end = loop {
        let mut deadline = silence.map(|s| last_seen + s);
        if !session.is_established() && goodbye_deadline.is_none() {
            deadline = Some(deadline.map_or(hello_deadline, |d| d.min(hello_deadline)));
        }
        if let Some(g) = goodbye_deadline {
            deadline = Some(deadline.map_or(g, |d| d.min(g)));
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
                warn!(%peer, session = ?session.id(), "disconnecting a slow consumer: outbound queue limit exceeded");
                metrics.slow_consumer_disconnects.inc();
                break End::Killed;
            }
            _ = ctx.shutdown.cancelled(), if goodbye_deadline.is_none() => {
                if session.begin_shutdown() {
                    goodbye_deadline = Some(Instant::now() + ctx.limits.goodbye_timeout);
                } else {
                    break End::Close(CLOSE_GOING_AWAY, "server shutting down".into());
                }
            }
            _ = timer => {
                let now = Instant::now();
                if goodbye_deadline.is_some_and(|g| now >= g) {
                    break End::Close(CLOSE_GOING_AWAY, "server shutting down".into());
                }
                if silence.is_some_and(|s| now >= last_seen + s) {
                    info!(%peer, session = ?session.id(), "peer unresponsive to keepalive pings; dropping the connection");
                    break End::Gone;
                }
                if !session.is_established() {
                    info!(%peer, "no HELLO within the handshake timeout");
                    metrics.handshake_failure("hello_timeout");
                    break End::Close(CLOSE_POLICY_VIOLATION, "HELLO timeout".into());
                }
            }
            incoming = stream.next() => {
                let message = match incoming {
                    None => break End::Gone,
                    Some(Ok(message)) => message,
                    Some(Err(err)) => {
                        read_failed = true;
                        break read_error(&err, peer);
                    }
                };
                last_seen = Instant::now();
                let step = match message {
                    WsMessage::Text(ref text) if serializer == Serializer::Json => {
                        metrics.bytes_in.inc_by(text.len() as u64);
                        dispatch(&mut session, serializer, text.as_bytes())
                    }
                    WsMessage::Binary(ref bytes) if serializer == Serializer::MsgPack => {
                        metrics.bytes_in.inc_by(bytes.len() as u64);
                        dispatch(&mut session, serializer, bytes)
                    }
                    WsMessage::Text(_) | WsMessage::Binary(_) => session.protocol_violation(format!(
                        "{} requires {} frames",
                        serializer.subprotocol(),
                        if serializer.is_binary() { "binary" } else { "text" }
                    )),
                    WsMessage::Close(_) => break End::Gone,
                    WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => Step::Continue,
                };
                if let Step::Close { code, reason } = step {
                    break End::Close(code, reason);
                }
            }
        }
    };

    session.leave();
    let mut writer_finished = false;
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
                        while let Some(Ok(_)) = stream.next().await {}
                    })
                    .await;
                }
            }
        }
        End::Killed => {
            writer_finished = timeout(ctx.limits.close_grace, &mut writer).await.is_ok();
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

fn read_error(err: &WsError, peer: SocketAddr) -> End {
    match err {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            warn!(%peer, size, max_size, "message exceeds the size limit");
            End::Close(
                CLOSE_TOO_BIG,
                format!("message too big: limit is {max_size} bytes"),
            )
        }
        WsError::Utf8(_) => {
            warn!(%peer, "text frame with invalid UTF-8");
            End::Close(
                CLOSE_INVALID_PAYLOAD,
                "invalid UTF-8 in a text frame".into(),
            )
        }
        WsError::Protocol(why) => {
            warn!(%peer, error = %why, "WebSocket protocol error");
            End::Close(CLOSE_PROTOCOL_ERROR, why.to_string())
        }
        WsError::ConnectionClosed | WsError::AlreadyClosed => End::Gone,
        other => {
            debug!(%peer, error = %other, "connection failed");
            End::Gone
        }
    }
}
