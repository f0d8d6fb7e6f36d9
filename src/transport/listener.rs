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
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::transport::rawsocket::{self, ERROR_MAX_CONNECTIONS, MAGIC};
use crate::transport::{http, ListenerRole, ServerState};

const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 32\r\n\r\nconnection limit reached; retry\n";

/// How long a refused connection may take to show its first byte.
const REFUSAL_PEEK: Duration = Duration::from_millis(500);

/// Accepts connections until `stop` is cancelled.
pub async fn accept_loop(
    listener: TcpListener,
    state: Arc<ServerState>,
    role: ListenerRole,
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
        let Ok(permit) = state.connections.clone().try_acquire_owned() else {
            warn!(%peer, limit = state.max_connections, "connection limit reached; refusing");
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
        if let Err(err) = stream.set_nodelay(true) {
            debug!(%peer, error = %err, "cannot set TCP_NODELAY");
        }
        debug!(%peer, "connection accepted");
        state.tracker.spawn(dispatch(
            state.clone(),
            stream,
            peer,
            permit,
            role,
            stop.clone(),
        ));
    }
    debug!("listener stopped accepting");
}

/// Routes a connection by its first byte.
async fn dispatch(
    state: Arc<ServerState>,
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    role: ListenerRole,
    stop: CancellationToken,
) {
    let mut first = [0u8; 1];
    let timeout = state.connection.limits.handshake_timeout;
    match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        Ok(_) => return,
        Err(_) => {
            debug!(%peer, "no bytes within the handshake timeout");
            state
                .connection
                .router
                .metrics()
                .handshake_failure("handshake_timeout");
            return;
        }
    }
    if first[0] == MAGIC {
        if role.accepts_sessions() {
            rawsocket::serve(state, stream, peer, permit).await;
        }
        return;
    }
    http::serve(state, stream, peer, permit, role, stop).await;
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
