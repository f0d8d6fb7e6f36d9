//! The per-session outbound queue: the only path from the router to a client.
//!
//! Every message a session receives (replies, events, GOODBYE) is pushed here as a ready-to-send
//! [`Frame`]; the transport's writer task drains it. The queue is bounded twice, by message count and
//! by queued bytes, so a slow subscriber can never grow the router's memory, and pushing never waits,
//! so a publisher is never blocked by a slow subscriber. A push that would exceed either bound marks the
//! session overflowed and asks the transport to disconnect it (the default slow-consumer policy in
//! DESIGN.md §3).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use crate::wamp::Serializer;

/// One encoded WAMP message in the form its transport sends it.
///
/// Text frames carry [`Utf8Bytes`] so UTF-8 is validated once when the event is encoded, not once per
/// subscriber; cloning either variant is a reference-count increment.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A JSON message (WebSocket text frame).
    Text(Utf8Bytes),
    /// A MessagePack message (WebSocket binary frame).
    Binary(Bytes),
    /// Close the transport after everything queued before it: WebSocket close code and reason.
    Close(u16, String),
}

impl Frame {
    /// Wraps encoder output for `serializer`. JSON output that is not UTF-8 (impossible for our own
    /// encoder) is sent as binary rather than panicking.
    pub fn from_encoded(serializer: Serializer, bytes: Bytes) -> Frame {
        if serializer.is_binary() {
            return Frame::Binary(bytes);
        }
        match Utf8Bytes::try_from(bytes.clone()) {
            Ok(text) => Frame::Text(text),
            Err(_) => Frame::Binary(bytes),
        }
    }

    /// Payload length in bytes, used for the byte bound.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
            Frame::Close(_, reason) => reason.len(),
        }
    }

    /// True for an empty payload (never produced by the codec).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a session's transport is being closed by the router side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The outbound queue exceeded its message or byte bound.
    SlowConsumer,
}

/// Limits of one outbound queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Maximum number of queued frames.
    pub messages: usize,
    /// Maximum number of queued payload bytes.
    pub bytes: usize,
}

/// The sending half, held by the session handle (and through it by the broker).
#[derive(Debug, Clone)]
pub struct Outbound {
    tx: mpsc::Sender<Frame>,
    shared: Arc<QueueState>,
}

#[derive(Debug)]
struct QueueState {
    queued_bytes: AtomicUsize,
    max_bytes: usize,
    overflowed: AtomicBool,
    kill: CancellationToken,
}

/// Error returned when a frame could not be queued; the session is being disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// The receiving half, owned by the transport's writer task.
#[derive(Debug)]
pub struct OutboundRx {
    rx: mpsc::Receiver<Frame>,
    shared: Arc<QueueState>,
}

/// Creates a bounded outbound queue.
pub fn channel(limits: QueueLimits) -> (Outbound, OutboundRx) {
    let (tx, rx) = mpsc::channel(limits.messages.max(1));
    let shared = Arc::new(QueueState {
        queued_bytes: AtomicUsize::new(0),
        max_bytes: limits.bytes,
        overflowed: AtomicBool::new(false),
        kill: CancellationToken::new(),
    });
    (
        Outbound {
            tx,
            shared: shared.clone(),
        },
        OutboundRx { rx, shared },
    )
}

impl Outbound {
    /// Queues a frame without waiting. On overflow the session is marked for disconnection and
    /// every later push fails too, so a disconnected consumer never receives a gap-filled stream.
    pub fn push(&self, frame: Frame) -> Result<(), QueueFull> {
        let state = &self.shared;
        if state.overflowed.load(Ordering::Relaxed) {
            return Err(QueueFull);
        }
        let len = frame.len();
        let before = state.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if before + len > state.max_bytes || self.tx.try_send(frame).is_err() {
            state.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            if !self.tx.is_closed() {
                state.overflowed.store(true, Ordering::Relaxed);
                state.kill.cancel();
            }
            return Err(QueueFull);
        }
        Ok(())
    }

    /// Cancelled when the router wants the transport to drop this session (slow consumer).
    pub fn kill_token(&self) -> CancellationToken {
        self.shared.kill.clone()
    }

    /// Why the session is being disconnected, if it is.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared
            .overflowed
            .load(Ordering::Relaxed)
            .then_some(CloseReason::SlowConsumer)
    }
}

impl OutboundRx {
    /// Waits for the next frame; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<Frame> {
        let frame = self.rx.recv().await?;
        self.release(&frame);
        Some(frame)
    }

    /// Takes a frame that is already queued, without waiting (for batching).
    pub fn try_recv(&mut self) -> Option<Frame> {
        let frame = self.rx.try_recv().ok()?;
        self.release(&frame);
        Some(frame)
    }

    fn release(&self, frame: &Frame) {
        self.shared
            .queued_bytes
            .fetch_sub(frame.len(), Ordering::AcqRel);
    }

    /// Cancelled when the router asks for this session to be dropped.
    pub fn kill_token(&self) -> CancellationToken {
        self.shared.kill.clone()
    }

    /// Why the router asked for a disconnect, if it did.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared
            .overflowed
            .load(Ordering::Relaxed)
            .then_some(CloseReason::SlowConsumer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Frame {
        Frame::Text(Utf8Bytes::from(s))
    }

    #[tokio::test]
    async fn message_bound_overflows_and_kills() {
        let (tx, mut rx) = channel(QueueLimits {
            messages: 2,
            bytes: 1024,
        });
        assert!(tx.push(text("a")).is_ok());
        assert!(tx.push(text("b")).is_ok());
        assert_eq!(tx.push(text("c")), Err(QueueFull));
        assert!(tx.kill_token().is_cancelled());
        assert_eq!(rx.close_reason(), Some(CloseReason::SlowConsumer));
        // Once overflowed, further pushes fail even though the queue drains.
        assert!(rx.recv().await.is_some());
        assert_eq!(tx.push(text("d")), Err(QueueFull));
    }

    #[tokio::test]
    async fn byte_bound_counts_queued_payload() {
        let (tx, mut rx) = channel(QueueLimits {
            messages: 100,
            bytes: 10,
        });
        assert!(tx.push(text("12345")).is_ok());
        assert!(tx.push(text("12345")).is_ok());
        let first = rx.recv().await.map(|f| f.len());
        assert_eq!(first, Some(5));
        // Five bytes were released, so five more fit.
        assert!(tx.push(text("12345")).is_ok());
        assert_eq!(tx.push(text("1")), Err(QueueFull));
    }

    #[test]
    fn json_frames_are_text_and_msgpack_binary() {
        let j = Frame::from_encoded(Serializer::Json, Bytes::from_static(b"[1]"));
        assert!(matches!(j, Frame::Text(_)));
        let m = Frame::from_encoded(Serializer::MsgPack, Bytes::from_static(b"\x91\x01"));
        assert!(matches!(m, Frame::Binary(_)));
    }
}
