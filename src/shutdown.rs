//! Waiting for the operator's stop signal.
//!
//! supervisord and systemd stop a program with SIGTERM, a terminal with SIGINT (Ctrl-C); both start
//! the same graceful shutdown: stop accepting, GOODBYE every session, drain with a deadline, exit 0.

use tracing::error;

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = ctrl_c() => {}
                }
            }
            Err(err) => {
                error!(error = %err, "cannot listen for SIGTERM; only SIGINT will stop the server");
                ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    ctrl_c().await;
}

async fn ctrl_c() {
    if let Err(err) = tokio::signal::ctrl_c().await {
        error!(error = %err, "cannot listen for SIGINT");
        std::future::pending::<()>().await;
    }
}
