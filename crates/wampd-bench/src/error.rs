//! Error types of the load generator.
//!
//! A benchmark run either produces figures or stops with one line saying why (target
//! unreachable, handshake refused, session aborted...). Keeping the reasons typed lets scenarios
//! tell a fatal set-up failure from an error they merely count.

use std::fmt;
use std::net::SocketAddr;

/// A framing violation by the peer (WebSocket or RawSocket), or a frame we cannot handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(String);

impl FrameError {
    /// A framing error with a human-readable reason.
    pub fn new(reason: impl Into<String>) -> Self {
        FrameError(reason.into())
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FrameError {}

impl From<wampd_proto::websocket::HeaderError> for FrameError {
    fn from(e: wampd_proto::websocket::HeaderError) -> Self {
        FrameError(e.to_string())
    }
}

/// Why a connection, a session or a whole run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Bad command-line input that clap could not catch (e.g. a URL without a host).
    #[error("{0}")]
    Usage(String),
    /// The TCP connection could not be opened.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where we tried to connect.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A socket read or write failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The WebSocket opening handshake or the RawSocket handshake was refused or malformed.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The peer broke WebSocket/RawSocket framing.
    #[error("framing error: {0}")]
    Frame(#[from] FrameError),
    /// The peer sent an unexpected or undecodable WAMP message.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The router refused the session (ABORT) or a request (ERROR).
    #[error("refused by the router: {0}")]
    Refused(String),
    /// The connection ended.
    #[error("connection closed: {0}")]
    Closed(String),
    /// Something did not happen in time.
    #[error("timed out {0}")]
    Timeout(String),
    /// The run as a whole could not produce figures.
    #[error("{0}")]
    Failed(String),
}
