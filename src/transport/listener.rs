//! The accept loop: enforces the connection limit and hands each socket to the HTTP layer.
//!
//! A connection over the limit gets a short `503` and is closed at once, so a flood cannot exhaust
//! file descriptors or memory. Accept errors (such as running out of descriptors) back off briefly
//! instead of spinning.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::transport::{http, ListenerRole, ServerState};

const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 32\r\n\r\nconnection limit reached; retry\n";

/// Accepts connections until `stop` is cancelled.
pub async fn accept_loop(
    listener: TcpListener,
    state: Arc<ServerState>,
    role: ListenerRole,
    stop: CancellationToken,
) {
    let shutdown = stop;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
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
            let _ = stream.try_write(OVER_CAPACITY);
            continue;
        };
        if let Err(err) = stream.set_nodelay(true) {
            debug!(%peer, error = %err, "cannot set TCP_NODELAY");
        }
        debug!(%peer, "connection accepted");
        state.tracker.spawn(http::serve(
            state.clone(),
            stream,
            peer,
            permit,
            role,
            shutdown.clone(),
        ));
    }
    debug!("listener stopped accepting");
}
