//! WAMP RawSocket (`wamp-v2.md` §6.4–6.5): the 4-byte handshake, the 4-byte frame headers, and
//! PING/PONG, on the same port as HTTP (the listener routes connections whose first byte is
//! `0x7F` here).
//!
//! Backends prefer RawSocket: no HTTP upgrade, no masking, 4 bytes of framing. The handshake
//! negotiates the serializer (JSON or MessagePack) and each side's maximum message length; the
//! router announces `WEBSOCKET_MAX_MESSAGE_SIZE` (rounded down to a power of two) and never sends
//! a message larger than the client announced: such a message is skipped and logged. A client
//! that cannot receive at least [`MIN_CLIENT_LENGTH`] bytes is refused with error 2, because it
//! would silently miss ordinary events.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio_util::codec::{Decoder, FramedRead};
use tracing::{debug, info, warn};

use crate::router::outbound::Frame;
use crate::transport::batch_writer::BatchWriter;
use crate::transport::connection::{self, Wire};
use crate::transport::wire::{Inbound, ReadFailure, WireSink};
use crate::transport::{ConnectionSlot, ListenerSpec, ServerState};
use wampd_proto::wamp::rawsocket;

pub use wampd_proto::wamp::rawsocket::{
    error_reply, length_exponent, negotiate, Handshake, ERROR_MAX_CONNECTIONS,
    ERROR_MAX_LENGTH_UNACCEPTABLE, ERROR_RESERVED_BITS, ERROR_SERIALIZER_UNSUPPORTED, MAGIC,
    MIN_CLIENT_LENGTH,
};

/// Why a RawSocket frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A malformed or oversized frame.
    #[error(transparent)]
    Frame(#[from] rawsocket::FrameError),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Decodes RawSocket frames ([`rawsocket::read_frame`]) into [`Inbound`] items for the session
/// driver.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    /// The router's announced receive limit.
    pub limit: usize,
}

impl Decoder for FrameDecoder {
    type Item = Inbound;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, FrameError> {
        Ok(match rawsocket::read_frame(src, self.limit)? {
            None => None,
            Some((rawsocket::KIND_MESSAGE, data)) => Some(Inbound::Message { data, text: None }),
            Some((rawsocket::KIND_PING, payload)) => Some(Inbound::Ping(payload)),
            Some(_) => Some(Inbound::Alive),
        })
    }
}

/// The writing half of a RawSocket connection.
pub struct RawSocketSink<S> {
    out: BatchWriter<WriteHalf<S>>,
    client_max: usize,
    peer: SocketAddr,
    pings: u64,
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> RawSocketSink<S> {
    async fn frame(&mut self, kind: u8, payload: &[u8]) -> io::Result<()> {
        let buf = self.out.buffer(payload.len() + 4);
        buf.extend_from_slice(&rawsocket::header(kind, payload.len()));
        buf.extend_from_slice(payload);
        self.out.maybe_write().await
    }
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> WireSink for RawSocketSink<S> {
    fn expect(&mut self, bytes: usize) {
        self.out.expect(bytes);
    }

    async fn feed(&mut self, frame: Frame) -> io::Result<()> {
        let payload: &[u8] = match &frame {
            Frame::Text(text) => text.as_bytes(),
            Frame::Binary(bytes) => bytes,
            // Only Socket.IO sessions get attachments, and they never use RawSocket.
            Frame::Attached(text, _) => text.as_bytes(),
            Frame::Close(..) => {
                // RawSocket has no close frame: flush what is queued and end the stream.
                return self.out.shutdown().await;
            }
        };
        if payload.len() > self.client_max.min(rawsocket::MAX_PAYLOAD) {
            let (peer, size, limit) = (self.peer, payload.len(), self.client_max);
            crate::router::log_budget::connection_warning(|suppressed| {
                warn!(%peer, size, limit, suppressed, "message larger than the RawSocket client accepts; skipped");
            });
            return Ok(());
        }
        self.frame(rawsocket::KIND_MESSAGE, payload).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.out.flush().await
    }

    async fn ping(&mut self) -> io::Result<()> {
        self.pings += 1;
        let payload = self.pings.to_be_bytes();
        self.frame(rawsocket::KIND_PING, &payload).await?;
        self.out.flush().await
    }

    async fn pong(&mut self, payload: Bytes) -> io::Result<()> {
        self.frame(rawsocket::KIND_PONG, &payload).await?;
        self.out.flush().await
    }

    async fn close_slow_consumer(&mut self) -> io::Result<()> {
        // No close frame to explain it; the log line and metrics do.
        self.out.shutdown().await
    }
}

/// Serves a connection whose first byte was `0x7F`: handshake, then a WAMP session.
pub async fn serve<S>(
    state: Arc<ServerState>,
    mut stream: S,
    peer: SocketAddr,
    slot: ConnectionSlot,
    spec: Arc<ListenerSpec>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = *state.connection.limits;
    let metrics = state.connection.router.metrics().clone();
    let mut request = [0u8; 4];
    match tokio::time::timeout(limits.handshake_timeout, stream.read_exact(&mut request)).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            debug!(%peer, error = %err, "RawSocket handshake failed");
            return;
        }
        Err(_) => {
            info!(%peer, "RawSocket handshake timeout");
            metrics.handshake_failure("handshake_timeout");
            return;
        }
    }
    let authrole = state.admission.rawsocket_role(peer, &spec.authrole);
    let backend_role = &state.connection.router.config().auth.backend_role;
    let own_limit = limits.max_message_size_for(&authrole, backend_role);
    let (serializer, client_max) = match negotiate(request, own_limit) {
        Handshake::Accepted {
            serializer,
            client_max,
            reply,
        } => {
            if let Err(err) = stream.write_all(&reply).await {
                debug!(%peer, error = %err, "RawSocket handshake reply failed");
                return;
            }
            (serializer, client_max)
        }
        Handshake::Refused(code) => {
            info!(%peer, code, request = ?request, "RawSocket handshake refused");
            metrics.handshake_failure(match code {
                ERROR_SERIALIZER_UNSUPPORTED => "rawsocket_serializer",
                ERROR_MAX_LENGTH_UNACCEPTABLE => "rawsocket_max_length",
                _ => "rawsocket_reserved_bits",
            });
            let _ = stream.write_all(&error_reply(code)).await;
            let _ = stream.shutdown().await;
            return;
        }
    };
    debug!(%peer, serializer = serializer.subprotocol(), client_max, "RawSocket established");
    let (read, write) = tokio::io::split(stream);
    let decoder = FrameDecoder {
        limit: 1 << (9 + length_exponent(own_limit)),
    };
    let inbound = FramedRead::with_capacity(read, decoder, 4096).map(move |item| {
        item.map_err(|err| {
            let unclean = matches!(err, FrameError::Io(_));
            match &err {
                FrameError::Io(_) => debug!(%peer, error = %err, "RawSocket connection failed"),
                _ => {
                    crate::router::log_budget::connection_warning(|suppressed| {
                        warn!(%peer, error = %err, suppressed, "RawSocket protocol violation; closing");
                    });
                }
            }
            ReadFailure {
                close: None,
                unclean,
                limit: None,
            }
        })
    });
    let sink = RawSocketSink {
        out: BatchWriter::new(write),
        client_max,
        peer,
        pings: 0,
    };
    let wire = Wire {
        inbound,
        sink,
        serializer,
        transport: "rawsocket",
        authrole,
        flavor: connection::Flavor::V2 {
            preauth: None,
            batched: false,
        },
    };
    // The session in a task of its own: this one's state (the handshake's) is freed.
    let ctx = state.connection.clone();
    state.tracker.spawn(connection::run(ctx, wire, peer, slot));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], limit: usize) -> Result<Vec<Inbound>, FrameError> {
        let mut decoder = FrameDecoder { limit };
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(item) = decoder.decode(&mut buf)? {
            out.push(item);
        }
        Ok(out)
    }

    #[test]
    fn frames_decode_and_errors_are_typed() {
        let mut bytes = vec![0x00, 0x00, 0x00, 0x03, b'[', b'1', b']'];
        bytes.extend_from_slice(&[0x01, 0x00, 0x00, 0x02, 0xAB, 0xCD]);
        bytes.extend_from_slice(&[0x02, 0x00, 0x00, 0x00]);
        bytes.extend_from_slice(&[0x00, 0x00, 0x00, 0x05, b'['] /* partial */);
        let items = decode_all(&bytes, 1024).expect("valid");
        assert_eq!(items.len(), 3);
        assert!(matches!(&items[0], Inbound::Message { data, text: None } if &data[..] == b"[1]"));
        assert!(matches!(&items[1], Inbound::Ping(p) if p[..] == [0xAB, 0xCD]));
        assert!(matches!(items[2], Inbound::Alive));

        assert!(matches!(
            decode_all(&[0x10, 0, 0, 0], 1024),
            Err(FrameError::Frame(rawsocket::FrameError::Header(_)))
        ));
        assert!(matches!(
            decode_all(&[0x03, 0, 0, 0], 1024),
            Err(FrameError::Frame(rawsocket::FrameError::Header(_)))
        ));
        assert!(matches!(
            decode_all(&[0x08, 0, 0, 1], 1 << 25),
            Err(FrameError::Frame(rawsocket::FrameError::Header(_)))
        ));
        assert!(matches!(
            decode_all(&[0x00, 0, 4, 1], 1024),
            Err(FrameError::Frame(rawsocket::FrameError::TooLong {
                size: 1025,
                limit: 1024
            }))
        ));
    }
}
