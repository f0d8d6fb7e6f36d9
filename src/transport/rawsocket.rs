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

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, WriteHalf};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::codec::{Decoder, FramedRead};
use tracing::{debug, info, warn};

use crate::router::outbound::Frame;
use crate::transport::connection::{self, Wire};
use crate::transport::wire::{Inbound, ReadFailure, WireSink};
use crate::transport::{ListenerSpec, ServerState};
use crate::wamp::Serializer;

/// First octet of every RawSocket handshake; no HTTP request can start with it.
pub const MAGIC: u8 = 0x7F;
/// Handshake error: serializer unsupported.
pub const ERROR_SERIALIZER_UNSUPPORTED: u8 = 1;
/// Handshake error: maximum message length unacceptable.
pub const ERROR_MAX_LENGTH_UNACCEPTABLE: u8 = 2;
/// Handshake error: use of reserved bits.
pub const ERROR_RESERVED_BITS: u8 = 3;
/// Handshake error: maximum connection count reached.
pub const ERROR_MAX_CONNECTIONS: u8 = 4;
/// Smallest receive limit a client may announce (2^12 = 4 KiB, length exponent 3).
pub const MIN_CLIENT_LENGTH: usize = 1 << 12;
/// Largest payload a frame header can describe without the 25th length bit, which older peers
/// reject: never send more (`wamp-v2.md` §6.5).
const MAX_FRAME_PAYLOAD: usize = (1 << 24) - 1;

/// Most buffer space reserved ahead of the bytes of a frame still arriving.
const RESERVE_STEP: usize = 64 * 1024;

const FRAME_MESSAGE: u8 = 0;
const FRAME_PING: u8 = 1;
const FRAME_PONG: u8 = 2;

/// A handshake error reply.
pub fn error_reply(code: u8) -> [u8; 4] {
    [MAGIC, code << 4, 0, 0]
}

/// The outcome of a client's handshake octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// Accepted: the serializer, the client's receive limit, and the reply to send.
    Accepted {
        /// Negotiated serializer.
        serializer: Serializer,
        /// The most the client will receive in one message.
        client_max: usize,
        /// The 4 octets to answer with.
        reply: [u8; 4],
    },
    /// Refused with this error code.
    Refused(u8),
}

/// Length exponent (`LLLL`) for a limit: the largest `l` with `2^(9+l) <= limit`.
pub fn length_exponent(limit: usize) -> u8 {
    let mut l = 0u8;
    while l < 15 && (1usize << (9 + l + 1)) <= limit {
        l += 1;
    }
    l
}

/// Evaluates a client handshake given the router's own receive limit.
pub fn negotiate(request: [u8; 4], own_limit: usize) -> Handshake {
    let [magic, lengths, r1, r2] = request;
    if magic != MAGIC || r1 != 0 || r2 != 0 {
        return Handshake::Refused(ERROR_RESERVED_BITS);
    }
    let serializer = match lengths & 0x0F {
        1 => Serializer::Json,
        2 => Serializer::MsgPack,
        _ => return Handshake::Refused(ERROR_SERIALIZER_UNSUPPORTED),
    };
    let client_max = 1usize << (9 + (lengths >> 4));
    if client_max < MIN_CLIENT_LENGTH {
        return Handshake::Refused(ERROR_MAX_LENGTH_UNACCEPTABLE);
    }
    Handshake::Accepted {
        serializer,
        client_max,
        reply: [
            MAGIC,
            (length_exponent(own_limit) << 4) | (lengths & 0x0F),
            0,
            0,
        ],
    }
}

/// Why a RawSocket frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Reserved header bits set, or an unknown frame type.
    #[error("invalid RawSocket frame header: {0}")]
    Header(&'static str),
    /// A message longer than the router announced.
    #[error("RawSocket message of {size} bytes exceeds the announced limit of {limit}")]
    TooLong {
        /// Declared length.
        size: usize,
        /// The router's announced limit.
        limit: usize,
    },
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Decodes RawSocket frames (`RRRR XTTT` + 24-bit length) into [`Inbound`] items.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    /// The router's announced receive limit.
    pub limit: usize,
}

impl Decoder for FrameDecoder {
    type Item = Inbound;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, FrameError> {
        let Some(&[b0, b1, b2, b3]) = src.get(..4) else {
            return Ok(None);
        };
        if b0 & 0xF0 != 0 {
            return Err(FrameError::Header("reserved bits set"));
        }
        let low = (usize::from(b1) << 16) | (usize::from(b2) << 8) | usize::from(b3);
        let size = if b0 & 0x08 != 0 {
            if low != 0 {
                return Err(FrameError::Header("25th length bit with a non-zero length"));
            }
            1 << 24
        } else {
            low
        };
        if size > self.limit {
            return Err(FrameError::TooLong {
                size,
                limit: self.limit,
            });
        }
        if src.len() < 4 + size {
            // Grow with the bytes that actually arrive, not with what the header announces: a
            // header alone must not make the router allocate 16 MiB.
            src.reserve((4 + size - src.len()).min(RESERVE_STEP));
            return Ok(None);
        }
        src.advance(4);
        let payload = src.split_to(size).freeze();
        match b0 & 0x07 {
            FRAME_MESSAGE => Ok(Some(Inbound::Message {
                data: payload,
                text: None,
            })),
            FRAME_PING => Ok(Some(Inbound::Ping(payload))),
            FRAME_PONG => Ok(Some(Inbound::Alive)),
            _ => Err(FrameError::Header("reserved frame type")),
        }
    }
}

fn header(kind: u8, len: usize) -> [u8; 4] {
    [kind, (len >> 16) as u8, (len >> 8) as u8, len as u8]
}

/// The writing half of a RawSocket connection.
pub struct RawSocketSink<S> {
    out: BufWriter<WriteHalf<S>>,
    client_max: usize,
    peer: SocketAddr,
    pings: u64,
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> RawSocketSink<S> {
    async fn frame(&mut self, kind: u8, payload: &[u8]) -> io::Result<()> {
        self.out.write_all(&header(kind, payload.len())).await?;
        self.out.write_all(payload).await
    }
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> WireSink for RawSocketSink<S> {
    async fn feed(&mut self, frame: Frame) -> io::Result<()> {
        let payload: &[u8] = match &frame {
            Frame::Text(text) => text.as_bytes(),
            Frame::Binary(bytes) => bytes,
            Frame::Close(..) => {
                // RawSocket has no close frame: flush what is queued and end the stream.
                self.out.flush().await?;
                return self.out.shutdown().await;
            }
        };
        if payload.len() > self.client_max.min(MAX_FRAME_PAYLOAD) {
            let (peer, size, limit) = (self.peer, payload.len(), self.client_max);
            crate::router::log_budget::connection_warning(|suppressed| {
                warn!(%peer, size, limit, suppressed, "message larger than the RawSocket client accepts; skipped");
            });
            return Ok(());
        }
        self.frame(FRAME_MESSAGE, payload).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.out.flush().await
    }

    async fn ping(&mut self) -> io::Result<()> {
        self.pings += 1;
        let payload = self.pings.to_be_bytes();
        self.frame(FRAME_PING, &payload).await?;
        self.out.flush().await
    }

    async fn pong(&mut self, payload: Bytes) -> io::Result<()> {
        self.frame(FRAME_PONG, &payload).await?;
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
    _permit: OwnedSemaphorePermit,
    spec: Arc<ListenerSpec>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = state.connection.limits;
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
        out: BufWriter::with_capacity(16 * 1024, write),
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
        flavor: connection::Flavor::V2 { preauth: None },
    };
    connection::run(state.connection.clone(), wire, peer).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_alone_reserves_one_step_not_the_announced_length() {
        let mut decoder = FrameDecoder { limit: 1 << 24 };
        let mut buf = BytesMut::from(&[0u8, 0xFF, 0xFF, 0xFF][..]);
        assert!(matches!(decoder.decode(&mut buf), Ok(None)));
        assert!(buf.capacity() <= 2 * RESERVE_STEP, "{}", buf.capacity());
    }

    #[test]
    fn handshake_examples_from_the_spec() {
        // JSON, client accepts 16 MiB; router limit 1 MiB → exponent 11.
        assert_eq!(
            negotiate([0x7F, 0xF1, 0, 0], 1 << 20),
            Handshake::Accepted {
                serializer: Serializer::Json,
                client_max: 1 << 24,
                reply: [0x7F, 0xB1, 0, 0],
            }
        );
        // MessagePack, 1 MiB.
        assert!(matches!(
            negotiate([0x7F, 0xB2, 0, 0], 1 << 20),
            Handshake::Accepted { serializer: Serializer::MsgPack, client_max, .. } if client_max == 1 << 20
        ));
        assert_eq!(
            negotiate([0x7F, 0x73, 0, 0], 1 << 20),
            Handshake::Refused(1)
        ); // CBOR
        assert_eq!(
            negotiate([0x7F, 0xF0, 0, 0], 1 << 20),
            Handshake::Refused(1)
        ); // illegal 0
        assert_eq!(
            negotiate([0x7F, 0xF1, 1, 0], 1 << 20),
            Handshake::Refused(3)
        );
        assert_eq!(
            negotiate([0x7F, 0x01, 0, 0], 1 << 20),
            Handshake::Refused(2)
        ); // 512 B
        assert_eq!(error_reply(1), [0x7F, 0x10, 0, 0]);
        assert_eq!(error_reply(4), [0x7F, 0x40, 0, 0]);
    }

    #[test]
    fn length_exponents() {
        assert_eq!(length_exponent(512), 0);
        assert_eq!(length_exponent(1000), 0);
        assert_eq!(length_exponent(1 << 20), 11);
        assert_eq!(length_exponent(16 << 20), 15);
        assert_eq!(length_exponent(usize::MAX), 15);
    }

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
            Err(FrameError::Header(_))
        ));
        assert!(matches!(
            decode_all(&[0x03, 0, 0, 0], 1024),
            Err(FrameError::Header(_))
        ));
        assert!(matches!(
            decode_all(&[0x08, 0, 0, 1], 1 << 25),
            Err(FrameError::Header(_))
        ));
        assert!(matches!(
            decode_all(&[0x00, 0, 4, 1], 1024),
            Err(FrameError::TooLong {
                size: 1025,
                limit: 1024
            })
        ));
    }

    #[test]
    fn headers_are_big_endian_24_bit() {
        assert_eq!(header(FRAME_MESSAGE, 300), [0x00, 0x00, 0x01, 0x2C]);
        assert_eq!(header(FRAME_PING, 8), [0x01, 0x00, 0x00, 0x08]);
        assert_eq!(header(FRAME_PONG, 0xABCDEF), [0x02, 0xAB, 0xCD, 0xEF]);
    }
}
