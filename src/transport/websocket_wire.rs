//! WebSocket as a wire: tungstenite reads, wampd writes.
//!
//! Reading stays with tungstenite: framing, masking rules, UTF-8 checks, size limits, and the
//! answers to pings and close frames. Everything the server sends is wampd's own: the writer task
//! appends each queued frame's header ([`wampd_proto::websocket`], the one framing module the
//! server, the client and the bench share) and its already-encoded payload to one
//! [`BatchWriter`], so an event encoded once is copied once per subscriber, into the batch, and
//! never goes through a per-message library path.
//!
//! What tungstenite itself writes (pongs, the close echo) arrives at the read half's write side
//! (`ReadSide`) and is handed to the writer task through a small bounded `Control` buffer, so
//! the two never interleave inside a frame.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, warn};
use wampd_proto::websocket::{self as framing, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT};

use crate::router::outbound::Frame;
use crate::router::session::CLOSE_PROTOCOL_ERROR;
use crate::transport::batch_writer::BatchWriter;
use crate::transport::wire::{Inbound, ReadFailure, WireSink};
use wampd_proto::wamp::codec::JSON_BATCH_SEPARATOR;

/// WebSocket close code sent to a consumer that fell too far behind.
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
/// WebSocket close code for a message larger than the configured limit.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// WebSocket close code for invalid UTF-8 in a text frame.
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;

/// Most bytes of tungstenite's own frames (pongs, close echo) waiting for the writer; beyond it
/// tungstenite's read waits, so a peer that floods pings without reading cannot grow it.
const CONTROL_LIMIT: usize = 4 * 1024;

/// tungstenite's frames on their way to the writer task.
#[derive(Debug, Default)]
struct Control {
    state: Mutex<ControlState>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct ControlState {
    bytes: Vec<u8>,
    /// tungstenite's task, waiting for room.
    waiting: Option<Waker>,
}

impl Control {
    fn lock(&self) -> std::sync::MutexGuard<'_, ControlState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes what is waiting, and lets tungstenite write again.
    fn take(&self) -> Vec<u8> {
        let mut state = self.lock();
        let bytes = std::mem::take(&mut state.bytes);
        if let Some(waker) = state.waiting.take() {
            waker.wake();
        }
        bytes
    }
}

/// The stream tungstenite reads: the connection's read half. Its writes (complete frames:
/// tungstenite writes out its buffer whole) go to `Control`.
#[derive(Debug)]
struct ReadSide<R> {
    read: R,
    control: Arc<Control>,
}

impl<R: AsyncRead + Unpin> AsyncRead for ReadSide<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl<R: Unpin> AsyncWrite for ReadSide<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut state = self.control.lock();
        if state.bytes.len() >= CONTROL_LIMIT {
            state.waiting = Some(cx.waker().clone());
            return Poll::Pending;
        }
        state.bytes.extend_from_slice(buf);
        drop(state);
        self.control.ready.notify_one();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The writing half of a WebSocket: wampd's own server frames.
pub struct WebSocketSink<W> {
    out: BatchWriter<W>,
    control: Arc<Control>,
    /// A batched WAMP transport (`wamp.2.json.batched`, …): each data frame's message gets the
    /// batch framing (JSON: a trailing `0x1E`; binary: a 32-bit length prefix).
    batched: bool,
}

/// Completes the server side of a WebSocket whose 101 was sent (`rest`: bytes the client sent
/// after its request head) and splits it into the driver's inbound stream and a [`WireSink`];
/// `batched` for the batched WAMP subprotocols.
pub async fn split<S>(
    stream: S,
    rest: Vec<u8>,
    config: WebSocketConfig,
    batched: bool,
) -> (
    impl Stream<Item = Result<Inbound, ReadFailure>> + Unpin + Send,
    WebSocketSink<WriteHalf<S>>,
)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (read, write) = tokio::io::split(stream);
    let control = Arc::new(Control::default());
    let side: ReadSide<ReadHalf<S>> = ReadSide {
        read,
        control: control.clone(),
    };
    let ws = WebSocketStream::from_partially_read(side, rest, Role::Server, Some(config)).await;
    let inbound = ws.map(|item| match item {
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
    let sink = WebSocketSink {
        out: BatchWriter::new(write),
        control,
        batched,
    };
    (inbound, sink)
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

impl<W: AsyncWrite + Unpin + Send + 'static> WebSocketSink<W> {
    /// Appends a frame (header and payload) to the batch.
    async fn push(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        framing::write_server_frame(self.out.buffer(payload.len() + 10), opcode, payload);
        self.out.maybe_write().await
    }

    /// Appends a WAMP message's data frame: as it is, or with the batch framing.
    async fn push_message(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        if !self.batched {
            return self.push(opcode, payload).await;
        }
        let out = self.out.buffer(payload.len() + 14);
        if opcode == OP_TEXT {
            framing::write_server_frame_parts(out, opcode, &[payload, &[JSON_BATCH_SEPARATOR]]);
        } else {
            let len = u32::try_from(payload.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes();
            framing::write_server_frame_parts(out, opcode, &[&len, payload]);
        }
        self.out.maybe_write().await
    }

    /// Writes the batch, then tungstenite's frames, which go between batches.
    async fn write_out(&mut self) -> io::Result<()> {
        self.out.write_out().await?;
        let control = self.control.take();
        if !control.is_empty() {
            self.out.buffer(control.len()).extend_from_slice(&control);
            self.out.write_out().await?;
        }
        Ok(())
    }

    /// One control frame, written at once.
    async fn send_control(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.push(opcode, payload).await?;
        self.flush().await
    }
}

impl<W> WireSink for WebSocketSink<W>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    async fn feed(&mut self, frame: Frame) -> io::Result<()> {
        match frame {
            Frame::Text(text) => self.push_message(OP_TEXT, text.as_bytes()).await,
            Frame::Binary(bytes) => self.push_message(OP_BINARY, &bytes).await,
            Frame::Attached(text, attachments) => {
                self.push(OP_TEXT, text.as_bytes()).await?;
                for attachment in attachments.iter() {
                    self.push(OP_BINARY, attachment).await?;
                }
                Ok(())
            }
            Frame::Close(code, reason) => {
                self.push(OP_CLOSE, &framing::close_payload(code, &reason))
                    .await
            }
        }
    }

    fn expect(&mut self, bytes: usize) {
        self.out.expect(bytes);
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.write_out().await?;
        self.out.flush().await
    }

    async fn ping(&mut self) -> io::Result<()> {
        self.send_control(OP_PING, &[]).await
    }

    async fn pong(&mut self, payload: Bytes) -> io::Result<()> {
        self.send_control(OP_PONG, &payload).await
    }

    async fn close_slow_consumer(&mut self) -> io::Result<()> {
        let reason = "slow consumer: outbound queue limit exceeded";
        let payload = framing::close_payload(CLOSE_POLICY_VIOLATION, reason);
        self.send_control(OP_CLOSE, &payload).await
    }

    async fn control(&mut self) -> io::Result<()> {
        self.control.ready.notified().await;
        self.flush().await
    }
}
