//! The accept loop: enforces the connection limit, sniffs the first byte, and hands each socket
//! to RawSocket (`0x7F`) or HTTP (anything else).
//!
//! A connection over the limit is told so in its own protocol (RawSocket error 4 or HTTP `503`)
//! and closed at once, so a flood cannot exhaust file descriptors or memory; answering the
//! refused is itself bounded. Accept errors (such as running out of descriptors) back off
//! briefly instead of spinning.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::transport::http_head::{self, HeadError};
use crate::transport::prefixed::Prefixed;
use crate::transport::rawsocket::{self, ERROR_MAX_CONNECTIONS, MAGIC};
use crate::transport::{
    http, upgrade, websocket, ConnectionSlot, ListenerRole, ListenerSpec, ServerState,
};

const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 32\r\n\r\nconnection limit reached; retry\n";

/// How long a refused connection may take to show its first byte.
const REFUSAL_PEEK: Duration = Duration::from_millis(500);

/// Accepts connections until `stop` is cancelled.
pub async fn accept_loop(
    listener: TcpListener,
    state: Arc<ServerState>,
    spec: Arc<ListenerSpec>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                error!(error = %err, "accept failed; backing off");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (budget, limit) = if spec.role == ListenerRole::Metrics {
            (&state.operations_connections, super::OPERATIONS_CONNECTIONS)
        } else {
            (&state.connections, state.max_connections)
        };
        let Ok(permit) = budget.clone().try_acquire_owned() else {
            crate::router::log_budget::connection_warning(|suppressed| {
                warn!(%peer, limit, suppressed, "connection limit reached; refusing");
            });
            state
                .connection
                .router
                .metrics()
                .handshake_failure("connection_limit");
            if let Ok(refusal) = state.refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(refusal);
                });
            }
            continue;
        };
        // A trusted proxy carries many clients: they are counted one by one once the request
        // head names them (upgrade::serve), not under the proxy's address.
        let slot = if state.trusted_proxies.trusts(peer.ip()) || spec.role == ListenerRole::Metrics
        {
            Some(state.per_ip.exempt())
        } else {
            state.per_ip.acquire(peer.ip())
        };
        let Some(slot) = slot else {
            crate::router::log_budget::connection_warning(|suppressed| {
                warn!(%peer, suppressed, "per-address connection limit reached; refusing");
            });
            state
                .connection
                .router
                .metrics()
                .handshake_failure("ip_limit");
            drop(permit);
            if let Ok(refusal) = state.refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(refusal);
                });
            }
            continue;
        };
        if let Err(err) = stream.set_nodelay(true) {
            debug!(%peer, error = %err, "cannot set TCP_NODELAY");
        }
        debug!(%peer, "connection accepted");
        // The future is made inside the task: made outside and moved in, it would be stored
        // twice in the task (the moved value and the awaited one), for the connection's life.
        let (task_state, task_spec, task_stop) = (state.clone(), spec.clone(), stop.clone());
        let slot = ConnectionSlot::new(permit, slot);
        state.tracker.spawn(async move {
            dispatch(task_state, stream, peer, slot, task_spec, task_stop).await;
        });
    }
    debug!("listener stopped accepting");
}

/// Completes TLS when the listener has it, then routes the connection by its first byte.
async fn dispatch(
    state: Arc<ServerState>,
    stream: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot,
    spec: Arc<ListenerSpec>,
    stop: CancellationToken,
) {
    let timeout = state.connection.limits.handshake_timeout;
    let Some(acceptor) = spec.tls.clone() else {
        let mut first = [0u8; 1];
        match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
            Ok(Ok(1)) => route(state, stream, first[0], peer, slot, spec, stop).await,
            Ok(_) => {}
            Err(_) => no_bytes(&state, peer),
        }
        return;
    };
    let handshake = async {
        let mut tls = acceptor
            .accept(stream)
            .await
            .map_err(|err| err.to_string())?;
        let mut first = [0u8; 1];
        match tls.read(&mut first).await {
            Ok(1) => Ok(Some((tls, first[0]))),
            Ok(_) => Ok(None),
            Err(err) => Err(err.to_string()),
        }
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(Some((tls, first)))) => {
            let stream = Prefixed::new(vec![first], tls);
            // Boxed, as every rarely taken branch whose future is large: a task is as large as
            // its largest branch for the whole life of the connection (docs/benchmarks.md).
            Box::pin(route(state, stream, first, peer, slot, spec, stop)).await;
        }
        Ok(Ok(None)) => {}
        Ok(Err(err)) => {
            debug!(%peer, error = %err, "TLS handshake failed");
            state.connection.router.metrics().handshake_failure("tls");
        }
        Err(_) => no_bytes(&state, peer),
    }
}

fn no_bytes(state: &ServerState, peer: SocketAddr) {
    debug!(%peer, "no bytes within the handshake timeout");
    state
        .connection
        .router
        .metrics()
        .handshake_failure("handshake_timeout");
}

/// `0x7F` starts RawSocket; anything else is HTTP.
async fn route<S>(
    state: Arc<ServerState>,
    stream: S,
    first: u8,
    peer: SocketAddr,
    slot: ConnectionSlot,
    spec: Arc<ListenerSpec>,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if first == MAGIC {
        if spec.role.accepts_sessions() {
            rawsocket::serve(state, stream, peer, slot, spec).await;
        }
        return;
    }
    let mut stream = stream;
    let timeout = state.connection.limits.handshake_timeout;
    let head = match tokio::time::timeout(timeout, http_head::read(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(HeadError::TooLarge)) => {
            state
                .connection
                .router
                .metrics()
                .handshake_failure("head_too_large");
            let _ = stream
                .write_all(b"HTTP/1.1 413 Request Entity Too Large\r\nConnection: close\r\n\r\n")
                .await;
            return;
        }
        Ok(Err(HeadError::Malformed(why))) => {
            debug!(%peer, %why, "not an HTTP request");
            state
                .connection
                .router
                .metrics()
                .handshake_failure("bad_request");
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await;
            return;
        }
        Ok(Err(_)) => return,
        Err(_) => return no_bytes(&state, peer),
    };
    if spec.role.accepts_sessions() && websocket::is_upgrade_request(&head.headers) {
        upgrade::serve(state, stream, head, peer, slot, spec).await;
        return;
    }
    // Everything else is hyper's, with the bytes read so far replayed.
    let stream = Prefixed::new(head.bytes, stream);
    Box::pin(http::serve(state, stream, peer, slot, spec, stop)).await;
}

/// Tells an over-limit client to come back later, in its own protocol.
async fn refuse(mut stream: TcpStream) {
    let mut first = [0u8; 1];
    let answer: &[u8] = match tokio::time::timeout(REFUSAL_PEEK, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == MAGIC => &rawsocket::error_reply(ERROR_MAX_CONNECTIONS),
        _ => OVER_CAPACITY,
    };
    let _ = stream.write_all(answer).await;
    let _ = stream.shutdown().await;
}
