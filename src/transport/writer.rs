//! The per-connection writer task: drains the outbound queue into the WebSocket, batching writes.
//!
//! It takes every frame already queued, feeds them to the socket and flushes once, so under load
//! one syscall carries many events (DESIGN.md §3, "Batch writes"). It also sends keepalive pings,
//! which is the router's job because browsers cannot send WebSocket pings, and closes the socket with
//! 1008 when the router asks for a slow consumer to be dropped.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::metrics::Metrics;
use crate::router::outbound::{Frame, OutboundRx};

/// WebSocket close code sent to a consumer that fell too far behind.
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;

/// Upper bound of frames taken per batch, so one busy session cannot starve the ping timer.
const MAX_BATCH: usize = 512;

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

fn to_ws(frame: Frame) -> WsMessage {
    match frame {
        Frame::Text(text) => WsMessage::Text(text),
        Frame::Binary(bytes) => WsMessage::Binary(bytes),
        Frame::Close(code, reason) => close_message(code, &reason),
    }
}

/// Feeds `first` and every frame already queued behind it, then flushes once. Returns whether a
/// close frame was written and the payload bytes written.
async fn write_batch<S>(
    sink: &mut S,
    rx: &mut OutboundRx,
    first: Frame,
) -> Result<(bool, u64), WsError>
where
    S: Sink<WsMessage, Error = WsError> + Unpin,
{
    let mut closing = matches!(first, Frame::Close(..));
    let mut bytes = first.len() as u64;
    sink.feed(to_ws(first)).await?;
    let mut batched = 1;
    while !closing && batched < MAX_BATCH {
        let Some(next) = rx.try_recv() else { break };
        closing = matches!(next, Frame::Close(..));
        bytes += next.len() as u64;
        sink.feed(to_ws(next)).await?;
        batched += 1;
    }
    sink.flush().await?;
    Ok((closing, bytes))
}

/// Runs until the queue closes, a close frame was written, `done` is cancelled or the socket
/// fails. `ping_interval` of `None` disables keepalive pings.
pub async fn run<S>(
    mut sink: S,
    mut rx: OutboundRx,
    ping_interval: Option<Duration>,
    done: CancellationToken,
    metrics: Arc<Metrics>,
) where
    S: Sink<WsMessage, Error = WsError> + Unpin,
{
    let kill = rx.kill_token();
    let period = ping_interval.unwrap_or(Duration::from_secs(3600));
    let mut ping = interval_at(Instant::now() + period, period);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let result: Result<(), WsError> = async {
        loop {
            tokio::select! {
                biased;
                _ = kill.cancelled() => {
                    debug!("closing a slow consumer");
                    let reason = "slow consumer: outbound queue limit exceeded";
                    tokio::select! {
                        biased;
                        sent = sink.send(close_message(CLOSE_POLICY_VIOLATION, reason)) => sent?,
                        _ = done.cancelled() => {}
                    }
                    return Ok(());
                }
                _ = done.cancelled() => return Ok(()),
                frame = rx.recv() => {
                    let Some(frame) = frame else { return Ok(()) };
                    // A peer that stops reading blocks the write; the router's kill or the
                    // connection's end must still get through, so race the write against them.
                    let write = write_batch(&mut sink, &mut rx, frame);
                    let (closing, bytes) = tokio::select! {
                        biased;
                        written = write => written?,
                        _ = kill.cancelled() => return Ok(()),
                        _ = done.cancelled() => return Ok(()),
                    };
                    metrics.bytes_out.inc_by(bytes);
                    if closing {
                        return Ok(());
                    }
                }
                _ = ping.tick(), if ping_interval.is_some() => {
                    tokio::select! {
                        biased;
                        sent = sink.send(WsMessage::Ping(Bytes::new())) => sent?,
                        _ = kill.cancelled() => return Ok(()),
                        _ = done.cancelled() => return Ok(()),
                    }
                }
            }
        }
    }
    .await;
    if let Err(err) = result {
        debug!(error = %err, "writer stopped");
    }
}
