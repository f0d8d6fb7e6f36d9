//! Either wire behind one interface of WAMP [`Message`]s.
//!
//! The session logic (HELLO, PUBLISH, GOODBYE) is the same whatever carries the bytes; this enum
//! is the only place that knows there are two wires, and the only place that encodes and decodes
//! with the negotiated [`Serializer`]. An enum rather than a trait object keeps the async methods
//! plain and the dispatch visible.

use wampd_proto::wamp::{codec, Message, Serializer};

use super::error::ClientError;
use super::rawsocket::RawSocket;
use super::websocket::WebSocket;
use super::BoxedStream;

/// An established transport connection (no WAMP session yet).
pub enum Connection {
    /// WAMP RawSocket.
    RawSocket(RawSocket<BoxedStream>),
    /// WAMP over WebSocket.
    /// (Boxed: a WebSocket stream is several times the size of a RawSocket one.)
    WebSocket(Box<WebSocket<BoxedStream>>),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (wire, serializer) = match self {
            Connection::RawSocket(c) => ("RawSocket", c.serializer()),
            Connection::WebSocket(c) => ("WebSocket", c.serializer()),
        };
        f.debug_struct("Connection")
            .field("wire", &wire)
            .field("serializer", &serializer.subprotocol())
            .finish()
    }
}

impl Connection {
    /// The negotiated serializer.
    pub fn serializer(&self) -> Serializer {
        match self {
            Connection::RawSocket(c) => c.serializer(),
            Connection::WebSocket(c) => c.serializer(),
        }
    }

    /// Encodes and buffers `message`; it is written by [`Connection::flush`] (or earlier, when
    /// the buffer is large).
    pub async fn feed(&mut self, message: &Message) -> Result<(), ClientError> {
        let payload = codec::encode(self.serializer(), message);
        match self {
            Connection::RawSocket(c) => c.feed(&payload).await,
            Connection::WebSocket(c) => c.feed(payload).await,
        }
    }

    /// Writes everything buffered.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        match self {
            Connection::RawSocket(c) => c.flush().await,
            Connection::WebSocket(c) => c.flush().await,
        }
    }

    /// Feeds and flushes one message.
    pub async fn send(&mut self, message: &Message) -> Result<(), ClientError> {
        self.feed(message).await?;
        self.flush().await
    }

    /// The next message from the router; [`ClientError::Closed`] when the connection ends.
    /// Cancel-safe.
    pub async fn recv(&mut self) -> Result<Message, ClientError> {
        let payload = match self {
            Connection::RawSocket(c) => c.recv().await?,
            Connection::WebSocket(c) => c.recv().await?,
        };
        let payload = payload.ok_or(ClientError::Closed)?;
        codec::decode(self.serializer(), &payload)
            .map_err(|err| ClientError::Protocol(format!("undecodable message: {err}")))
    }

    /// Flushes and closes the connection (best effort: the session is over either way).
    pub async fn shutdown(&mut self) -> Result<(), ClientError> {
        match self {
            Connection::RawSocket(c) => c.shutdown().await,
            Connection::WebSocket(c) => c.shutdown().await,
        }
    }
}
