//! WebSocket as a wire: tokio-tungstenite's stream and sink adapted to [`super::wire`].
//!
//! tungstenite does the framing, masking rules, UTF-8 checks, size limits and control frames
//! (it answers pings and close frames itself); this module only maps its messages and errors to
//! what the session driver understands, with the RFC 6455 close codes for each failure.

use std::io;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, warn};

use crate::router::outbound::Frame;
use crate::router::session::CLOSE_PROTOCOL_ERROR;
use crate::transport::wire::{Inbound, ReadFailure, WireSink};

/// WebSocket close code sent to a consumer that fell too far behind.
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
/// WebSocket close code for a message larger than the configured limit.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// WebSocket close code for invalid UTF-8 in a text frame.
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;

/// The writing half of a WebSocket.
pub struct WebSocketSink<S> {
    sink: SplitSink<WebSocketStream<S>, WsMessage>,
}

/// Splits a WebSocket into the driver's inbound stream and a [`WireSink`].
pub fn split<S>(
    ws: WebSocketStream<S>,
) -> (
    impl Stream<Item = Result<Inbound, ReadFailure>> + Unpin + Send,
    WebSocketSink<S>,
)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, stream): (_, SplitStream<WebSocketStream<S>>) = ws.split();
    let inbound = stream.map(|item| match item {
        Ok(WsMessage::Text(text)) => Ok(Inbound::Message {
            data: Bytes::from(text),
            text: Some(true),
        }),
        Ok(WsMessage::Binary(data)) => Ok(Inbound::Message {
            data,
            text: Some(false),
        }),
        Ok(WsMessage::Close(_)) => Ok(Inbound::Closed),
        // tungstenite answers pings itself; the driver still counts them (ping floods).
        Ok(WsMessage::Ping(payload)) => Ok(Inbound::Ping(payload)),
        Ok(WsMessage::Pong(_) | WsMessage::Frame(_)) => Ok(Inbound::Alive),
        Err(err) => Err(read_failure(&err)),
    });
    (inbound, WebSocketSink { sink })
}

fn read_failure(err: &WsError) -> ReadFailure {
    let close = match err {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            crate::router::log_budget::connection_warning(|suppressed| {
                warn!(size, max_size, suppressed, "message exceeds the size limit");
            });
            Some((
                CLOSE_TOO_BIG,
                format!("message too big: limit is {max_size} bytes"),
            ))
        }
        WsError::Utf8(_) => {
            crate::router::log_budget::connection_warning(|suppressed| {
                warn!(suppressed, "text frame with invalid UTF-8")
            });
            Some((
                CLOSE_INVALID_PAYLOAD,
                "invalid UTF-8 in a text frame".into(),
            ))
        }
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            debug!("peer closed the TCP connection without a close handshake");
            return ReadFailure {
                close: None,
                unclean: true,
                limit: None,
            };
        }
        WsError::Protocol(why) => {
            crate::router::log_budget::connection_warning(
                |suppressed| warn!(error = %why, suppressed, "WebSocket protocol error"),
            );
            Some((CLOSE_PROTOCOL_ERROR, why.to_string()))
        }
        WsError::WriteBufferFull(_) => {
            crate::router::log_budget::connection_warning(|suppressed| {
                warn!(suppressed, "peer does not read what it asked for (write buffer full); dropping the connection");
            });
            return ReadFailure {
                close: None,
                unclean: false,
                limit: Some("write_buffer"),
            };
        }
        other => {
            debug!(error = %other, "connection failed");
            return ReadFailure {
                close: None,
                unclean: matches!(other, WsError::Io(_)),
                limit: None,
            };
        }
    };
    ReadFailure {
        close,
        unclean: false,
        limit: None,
    }
}

fn close_message(code: u16, reason: &str) -> WsMessage {
    // Close reasons are limited to 123 bytes by RFC 6455; cut at a char boundary.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    WsMessage::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason[..end].to_owned().into(),
    }))
}

fn io_error(err: WsError) -> io::Error {
    match err {
        WsError::Io(err) => err,
        other => io::Error::other(other),
    }
}

impl<S> WireSink for WebSocketSink<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn feed(&mut self, frame: Frame) -> io::Result<()> {
        let message = match frame {
            Frame::Text(text) => WsMessage::Text(text),
            Frame::Binary(bytes) => WsMessage::Binary(bytes),
            Frame::Attached(text, attachments) => {
                self.sink
                    .feed(WsMessage::Text(text))
                    .await
                    .map_err(io_error)?;
                for attachment in attachments.iter() {
                    self.sink
                        .feed(WsMessage::Binary(attachment.clone()))
                        .await
                        .map_err(io_error)?;
                }
                return Ok(());
            }
            Frame::Close(code, reason) => close_message(code, &reason),
        };
        self.sink.feed(message).await.map_err(io_error)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.sink.flush().await.map_err(io_error)
    }

    async fn ping(&mut self) -> io::Result<()> {
        self.sink
            .send(WsMessage::Ping(Bytes::new()))
            .await
            .map_err(io_error)
    }

    async fn pong(&mut self, payload: Bytes) -> io::Result<()> {
        self.sink
            .send(WsMessage::Pong(payload))
            .await
            .map_err(io_error)
    }

    async fn close_slow_consumer(&mut self) -> io::Result<()> {
        let reason = "slow consumer: outbound queue limit exceeded";
        self.sink
            .send(close_message(CLOSE_POLICY_VIOLATION, reason))
            .await
            .map_err(io_error)
    }
}
