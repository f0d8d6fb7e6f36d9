//! The client side of WAMP RawSocket (`wamp-v2.md` §6.4–6.5).
//!
//! RawSocket is what backends should use: four bytes of handshake, four bytes of framing per
//! message, no HTTP upgrade and no masking. The router's side lives in
//! `wampd::transport::rawsocket`; both frame with [`wampd_proto::wamp::rawsocket`], so the two ends
//! agree on the format by construction.
//!
//! Reads and writes keep their state in `self` (an input buffer the decoder consumes whole frames
//! from, an output buffer that shrinks as bytes reach the socket), so [`RawSocket::recv`] and
//! [`RawSocket::flush`] can be cancelled, e.g. by `tokio::select!`, without losing or
//! half-writing a frame. A PING from the router is answered with its PONG before `recv` returns.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use wampd_proto::wamp::rawsocket::{
    self as framing, ReplyError, KIND_MESSAGE, KIND_PING, KIND_PONG,
};
use wampd_proto::wamp::Serializer;

use super::error::ClientError;

/// Length exponent announced to the router: 2^(9+15) = 16 MiB, the most RawSocket allows. The
/// client only receives small replies, but a router's ERROR or ABORT text is never cut off.
const RECEIVE_EXPONENT: u8 = 15;
/// Buffered output is written once it reaches this size, even before an explicit flush.
const FLUSH_THRESHOLD: usize = 64 * 1024;

/// The 4-octet handshake request for `serializer`, announcing a 16 MiB receive limit.
pub fn handshake_request(serializer: Serializer) -> [u8; 4] {
    framing::handshake_request(serializer, RECEIVE_EXPONENT)
}

/// Checks the router's handshake reply; `Ok` holds the most the router accepts in one message.
pub fn check_reply(reply: [u8; 4], serializer: Serializer) -> Result<usize, ClientError> {
    framing::parse_handshake_reply(reply, serializer).map_err(|err| {
        ClientError::Handshake(match err {
            ReplyError::NotRawSocket(first) => format!(
                "not a WAMP RawSocket router (the reply starts with 0x{first:02X}, not 0x7F); if this is a WebSocket-only endpoint, use --transport websocket"
            ),
            ReplyError::Reserved => {
                "the router's RawSocket handshake reply sets reserved bits".to_string()
            }
            ReplyError::OtherSerializer { answered, .. } => format!(
                "the router answered the RawSocket handshake with serializer {answered}, not the {} requested",
                serializer.subprotocol()
            ),
            refused @ ReplyError::Refused(_) => refused.to_string(),
        })
    })
}

/// An established RawSocket connection over `S`.
pub struct RawSocket<S> {
    stream: S,
    serializer: Serializer,
    send_limit: usize,
    input: BytesMut,
    output: BytesMut,
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> RawSocket<S> {
    /// Performs the handshake for `serializer` on a fresh stream.
    pub async fn handshake(mut stream: S, serializer: Serializer) -> Result<Self, ClientError> {
        let failed = |err: std::io::Error| {
            ClientError::Handshake(if err.kind() == std::io::ErrorKind::UnexpectedEof {
                "the router closed the connection during the RawSocket handshake (is it a WAMP RawSocket router?)".to_string()
            } else {
                format!("the RawSocket handshake failed: {err}")
            })
        };
        stream
            .write_all(&handshake_request(serializer))
            .await
            .map_err(failed)?;
        stream.flush().await.map_err(failed)?;
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).await.map_err(failed)?;
        let send_limit = check_reply(reply, serializer)?.min(framing::MAX_PAYLOAD);
        Ok(RawSocket {
            stream,
            serializer,
            send_limit,
            input: BytesMut::with_capacity(4096),
            output: BytesMut::with_capacity(4096),
        })
    }

    /// The negotiated serializer.
    pub fn serializer(&self) -> Serializer {
        self.serializer
    }

    /// The most the router accepts in one message.
    pub fn send_limit(&self) -> usize {
        self.send_limit
    }

    /// Buffers one serialized message; writes the buffer once it is large.
    pub async fn feed(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        if payload.len() > self.send_limit {
            return Err(ClientError::TooLarge {
                size: payload.len(),
                limit: self.send_limit,
            });
        }
        self.output
            .extend_from_slice(&framing::header(KIND_MESSAGE, payload.len()));
        self.output.extend_from_slice(payload);
        if self.output.len() >= FLUSH_THRESHOLD {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes everything buffered. Cancel-safe: what was written stays written.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        while self.output.has_remaining() {
            let written = self.stream.write_buf(&mut self.output).await?;
            if written == 0 {
                return Err(ClientError::Closed);
            }
        }
        self.stream.flush().await?;
        Ok(())
    }

    /// The next message's payload, `None` when the router closed the connection. Answers PINGs.
    /// Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            // Finish answering an earlier PING before reading on.
            if self.output.has_remaining() {
                self.flush().await?;
            }
            let limit = framing::max_len_for_exponent(RECEIVE_EXPONENT);
            match framing::read_frame(&mut self.input, limit) {
                Ok(Some((KIND_MESSAGE, data))) => return Ok(Some(data)),
                Ok(Some((KIND_PING, payload))) => {
                    self.output
                        .extend_from_slice(&framing::header(KIND_PONG, payload.len()));
                    self.output.extend_from_slice(&payload);
                    continue;
                }
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(err) => return Err(ClientError::Protocol(err.to_string())),
            }
            self.input.reserve(4096);
            if self.stream.read_buf(&mut self.input).await? == 0 {
                return if self.input.is_empty() {
                    Ok(None)
                } else {
                    Err(ClientError::Protocol(
                        "the connection ended in the middle of a RawSocket frame".to_string(),
                    ))
                };
            }
        }
    }

    /// Flushes and closes the writing side.
    pub async fn shutdown(&mut self) -> Result<(), ClientError> {
        self.flush().await?;
        self.stream.shutdown().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies() {
        assert_eq!(handshake_request(Serializer::Json), [0x7F, 0xF1, 0, 0]);
        assert_eq!(handshake_request(Serializer::MsgPack), [0x7F, 0xF2, 0, 0]);
        assert_eq!(
            check_reply([0x7F, 0xB2, 0, 0], Serializer::MsgPack).expect("ok"),
            1 << 20
        );
        let refused = |reply, ser| check_reply(reply, ser).unwrap_err().to_string();
        assert!(refused([0x7F, 0x10, 0, 0], Serializer::Json).contains("serializer unsupported"));
        assert!(refused([0x7F, 0x40, 0, 0], Serializer::Json).contains("connection count"));
        assert!(refused([0x7F, 0xB1, 0, 0], Serializer::MsgPack).contains("serializer 1"));
        assert!(refused([0x7F, 0xB1, 0, 1], Serializer::Json).contains("reserved"));
        assert!(refused([b'H', b'T', b'T', b'P'], Serializer::Json).contains("websocket"));
    }

    #[tokio::test]
    async fn pings_are_answered_and_messages_framed() {
        let (client, mut router) = tokio::io::duplex(1024);
        let handshake = tokio::spawn(async move {
            let mut request = [0u8; 4];
            router.read_exact(&mut request).await.expect("request");
            assert_eq!(request, [0x7F, 0xF1, 0, 0]);
            router.write_all(&[0x7F, 0x31, 0, 0]).await.expect("reply");
            // a PING, then a message
            router
                .write_all(&[1, 0, 0, 2, 0xAB, 0xCD, 0, 0, 0, 3, b'[', b'6', b']'])
                .await
                .expect("frames");
            let mut pong = [0u8; 6];
            router.read_exact(&mut pong).await.expect("pong");
            assert_eq!(pong, [2, 0, 0, 2, 0xAB, 0xCD]);
            let mut frame = [0u8; 6];
            router.read_exact(&mut frame).await.expect("frame");
            assert_eq!(frame, [0, 0, 0, 2, b'[', b']']);
        });
        let mut socket = RawSocket::handshake(client, Serializer::Json)
            .await
            .expect("handshake");
        assert_eq!(socket.send_limit(), 4096);
        let message = socket.recv().await.expect("recv").expect("a message");
        assert_eq!(&message[..], b"[6]");
        socket.feed(b"[]").await.expect("feed");
        socket.flush().await.expect("flush");
        let big = vec![b' '; 5000];
        assert!(matches!(
            socket.feed(&big).await,
            Err(ClientError::TooLarge {
                size: 5000,
                limit: 4096
            })
        ));
        handshake.await.expect("router side");
        // the router went away
        assert!(socket.recv().await.expect("clean end").is_none());
    }
}
