//! The seam between a session driver and a concrete wire protocol (WebSocket or RawSocket).
//!
//! The session driver ([`super::connection`]) enforces timeouts, keepalive, shutdown and
//! slow-consumer handling once for every transport; a transport only supplies a stream of
//! [`Inbound`] items and a [`WireSink`] that puts [`Frame`]s on the wire in its own framing.

use std::future::Future;
use std::io;

use bytes::Bytes;

use crate::router::outbound::Frame;

/// Something received from the peer.
#[derive(Debug)]
pub enum Inbound {
    /// One WAMP message. `text` says which WebSocket frame type carried it (`None` for
    /// transports without frame types), so the driver can enforce the serializer's frame type.
    Message {
        /// The serialized message.
        data: Bytes,
        /// `Some(true)` for a text frame, `Some(false)` for binary, `None` when not applicable.
        text: Option<bool>,
    },
    /// A peer's ping. RawSocket pings must be answered with a pong carrying `payload`;
    /// WebSocket pings are answered by tungstenite itself. The driver counts both.
    Ping(Bytes),
    /// Any other sign of life (pong, WebSocket control frame).
    Alive,
    /// The peer closed the connection cleanly.
    Closed,
}

/// Why reading failed, and what to tell the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFailure {
    /// Close code and reason to send (WebSocket), `None` when the connection is simply gone.
    pub close: Option<(u16, String)>,
    /// True when the peer went away without a close handshake (FIN or reset only): ordinary
    /// for Oro's PHP publisher and vanished browsers, so logged at debug and counted.
    pub unclean: bool,
    /// The limit the peer exceeded, for `wampd_limit_refusals_total` (`write_buffer`).
    pub limit: Option<&'static str>,
}

/// Puts frames on the wire. Methods buffer; [`WireSink::flush`] writes.
pub trait WireSink: Send + 'static {
    /// Buffers one frame. [`Frame::Close`] ends the connection after what is buffered.
    fn feed(&mut self, frame: Frame) -> impl Future<Output = io::Result<()>> + Send;
    /// Tells the sink that about `bytes` (payloads and frame headers) are coming in this batch,
    /// so its buffer is sized once instead of growing by doubling (and copying) frame after
    /// frame.
    fn expect(&mut self, bytes: usize) {
        let _ = bytes;
    }
    /// Writes everything buffered.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// Sends a keepalive ping and flushes.
    fn ping(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// Answers a peer's ping and flushes.
    fn pong(&mut self, payload: Bytes) -> impl Future<Output = io::Result<()>> + Send;
    /// Tells a slow consumer why it is being dropped, if the wire can say so, and flushes.
    fn close_slow_consumer(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// Resolves after writing what the wire's reading side had to send itself (WebSocket pongs
    /// and close echoes); never, for wires whose reading side sends nothing.
    fn control(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        std::future::pending()
    }
}
