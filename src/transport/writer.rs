//! The per-connection writer task: drains the outbound queue onto the wire, batching writes.
//!
//! It takes every frame already queued, feeds them to the [`WireSink`] and flushes once, so under
//! load one syscall carries many events (DESIGN.md §3, "Batch writes"). It also sends keepalive
//! pings (the router's job: browsers cannot send WebSocket pings), answers RawSocket pings, and
//! tells a slow consumer why it is dropped when the router asks.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::metrics::Metrics;
use crate::router::outbound::{Frame, OutboundRx};
use crate::transport::wire::WireSink;

/// Upper bound of frames taken per batch, so one busy session cannot starve the ping timer.
const MAX_BATCH: usize = 512;

/// Feeds `first` and every frame already queued behind it, then flushes once. Returns whether a
/// close frame was written and the payload bytes written.
async fn write_batch<W: WireSink>(
    sink: &mut W,
    rx: &mut OutboundRx,
    first: Frame,
) -> std::io::Result<(bool, u64)> {
    let mut closing = matches!(first, Frame::Close(..));
    let mut bytes = first.len() as u64;
    sink.expect(first.len() + rx.taken_bytes());
    sink.feed(first).await?;
    let mut batched = 1;
    while !closing && batched < MAX_BATCH {
        let Some(next) = rx.try_recv() else { break };
        closing = matches!(next, Frame::Close(..));
        bytes += next.len() as u64;
        sink.feed(next).await?;
        batched += 1;
    }
    sink.flush().await?;
    Ok((closing, bytes))
}

/// Tells a slow consumer why it is dropped (1008 on WebSocket), unless the connection ends
/// first.
async fn close_slow_consumer<W: WireSink>(
    sink: &mut W,
    done: &CancellationToken,
) -> std::io::Result<()> {
    debug!("closing a slow consumer");
    tokio::select! {
        biased;
        sent = sink.close_slow_consumer() => sent,
        _ = done.cancelled() => Ok(()),
    }
}

async fn next_pong(pongs: &mut Option<mpsc::Receiver<Bytes>>) -> Option<Bytes> {
    match pongs {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs until the queue closes, a close frame was written, `done` is cancelled or the wire
/// fails. `ping_interval` of `None` disables keepalive pings; `pongs` carries payloads of peer
/// pings to answer (RawSocket).
///
/// Sized for idle sessions, which are most of them: the task's future is as large as its
/// largest await point, so the write path (a batch being written) lives in a box allocated
/// per batch, and the body is an `async move` block rather than an `async fn`, whose arguments
/// would be stored twice (measured with `-Zprint-type-sizes` and dhat: docs/benchmarks.md).
#[allow(clippy::manual_async_fn)] // deliberate: see above
pub fn run<W: WireSink>(
    mut sink: W,
    mut rx: OutboundRx,
    ping_interval: Option<Duration>,
    mut pongs: Option<mpsc::Receiver<Bytes>>,
    done: CancellationToken,
    metrics: Arc<Metrics>,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        let kill = rx.kill_token();
        let period = ping_interval.unwrap_or(Duration::from_secs(3600));
        let mut ping = interval_at(Instant::now() + period, period);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let result: std::io::Result<()> = async {
            loop {
                tokio::select! {
                    biased;
                    _ = kill.cancelled() => return close_slow_consumer(&mut sink, &done).await,
                    // What the wire's reading side still has to say (a close echo) goes out; the
                    // driver bounds this by its close grace.
                    _ = done.cancelled() => return sink.flush().await,
                    frame = rx.recv() => {
                        let Some(frame) = frame else { return Ok(()) };
                        // A peer that stops reading blocks the write; the router's kill or the
                        // connection's end must still get through, so race the write against them.
                        let outcome = {
                            let write = Box::pin(write_batch(&mut sink, &mut rx, frame));
                            tokio::select! {
                                biased;
                                written = write => Some(written?),
                                _ = kill.cancelled() => None,
                                _ = done.cancelled() => return Ok(()),
                            }
                        };
                        let Some((closing, bytes)) = outcome else {
                            // Killed while the peer was not reading: the close frame follows what is
                            // already buffered, for a peer that reads again within the grace time.
                            return close_slow_consumer(&mut sink, &done).await;
                        };
                        metrics.bytes_out.inc_by(bytes);
                        if closing {
                            return Ok(());
                        }
                    }
                    written = sink.control() => written?,
                    Some(payload) = next_pong(&mut pongs) => {
                        tokio::select! {
                            biased;
                            sent = sink.pong(payload) => sent?,
                            _ = done.cancelled() => return Ok(()),
                        }
                    }
                    _ = ping.tick(), if ping_interval.is_some() => {
                        rx.release_idle();
                        tokio::select! {
                            biased;
                            sent = sink.ping() => sent?,
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
}
