//! The ZeroMQ backend channel: a PULL socket that libzmq PUSH peers connect to, each message one
//! publication.
//!
//! EspoCRM's PHP backend connects a new PUSH socket for every message, sends one frame and
//! disconnects; other applications keep one PUSH socket open. Both are served: every accepted
//! connection does the ZMTP 3.x greeting and NULL-mechanism READY exchange
//! ([`wampd_proto::zmtp`]), then each complete message is handed to [`ZmqIngest`]. The channel is
//! bounded like every other front door: a connection limit (over it, connections are closed at
//! once), the handshake timeout for the greeting and READY, and the backend message size limit,
//! checked from each frame's header. ZMTP has no refusal message for a publication, so a message
//! that cannot be published is dropped, logged within a budget and counted in
//! `wampd_zmq_messages_total`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::router::Router;
use crate::transport::zmq_publish::ZmqIngest;
use wampd_proto::zmtp::{self, Assembler, Command, Frame};

/// Read buffer growth step.
const READ_CHUNK: usize = 8 * 1024;

/// What the ZMQ listener needs.
#[derive(Debug, Clone)]
pub struct ZmqSpec {
    /// Most simultaneous PUSH connections.
    pub max_connections: usize,
    /// Greeting and READY must be done within this.
    pub handshake_timeout: Duration,
    /// Largest message (all parts together).
    pub max_message_size: usize,
}

/// Accepts PUSH peers until `stop` is cancelled.
pub async fn accept_loop(
    listener: TcpListener,
    spec: ZmqSpec,
    router: Arc<Router>,
    ingest: Arc<ZmqIngest>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(spec.max_connections.max(1)));
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                warn!(error = %err, "ZMQ accept failed; backing off");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            crate::router::log_budget::connection_warning(|suppressed| {
                warn!(%peer, limit = spec.max_connections, suppressed, "ZMQ connection limit reached; refusing");
            });
            router.metrics().handshake_failure("zmq_connection_limit");
            drop(stream);
            continue;
        };
        let (spec, router, ingest, stop) =
            (spec.clone(), router.clone(), ingest.clone(), stop.clone());
        tracker.spawn(async move {
            let _permit = permit;
            let gauge = router.metrics().connection_gauge("zmq");
            gauge.inc();
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = serve(stream, peer, &spec, &router, &ingest) => {}
            }
            gauge.dec();
        });
    }
    debug!("ZMQ listener stopped accepting");
}

/// One PUSH peer: handshake, then messages until it disconnects or breaks the protocol.
async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    spec: &ZmqSpec,
    router: &Router,
    ingest: &ZmqIngest,
) {
    let _ = stream.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(256);
    match tokio::time::timeout(spec.handshake_timeout, handshake(&mut stream, &mut buf)).await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            info!(%peer, "ZMQ handshake refused: {why}");
            router.metrics().handshake_failure("zmq_handshake");
            let _ = stream.write_all(&zmtp::error(&why)).await;
            return;
        }
        Err(_) => {
            info!(%peer, "ZMQ handshake timed out");
            router.metrics().handshake_failure("zmq_handshake_timeout");
            return;
        }
    }
    debug!(%peer, "ZMQ PUSH peer connected");
    let mut assembler = Assembler::default();
    loop {
        let frame = match zmtp::read_frame(&mut buf, spec.max_message_size) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                if read_more(&mut stream, &mut buf).await.is_err() {
                    break;
                }
                continue;
            }
            Err(err) => {
                info!(%peer, "closing a ZMQ peer: {err}");
                if matches!(err, zmtp::FrameError::TooLarge { .. }) {
                    router.metrics().limit_refused("zmq_message_size");
                    router.metrics().zmq_message("too_large");
                }
                let _ = stream.write_all(&zmtp::error(&err.to_string())).await;
                break;
            }
        };
        match frame {
            Frame::Part { body, more } => match assembler.push(body, more, spec.max_message_size) {
                Ok(Some(parts)) => ingest.ingest(router, peer, parts),
                Ok(None) => {}
                Err(err) => {
                    info!(%peer, "closing a ZMQ peer: {err}");
                    router.metrics().zmq_message("too_large");
                    break;
                }
            },
            Frame::Command(body) => match zmtp::parse_command(&body) {
                Ok(Command::Ping { context }) => {
                    if stream.write_all(&zmtp::pong(&context)).await.is_err() {
                        break;
                    }
                }
                Ok(Command::Error(reason)) => {
                    debug!(%peer, %reason, "ZMQ peer sent ERROR");
                    break;
                }
                Ok(_) => {}
                Err(err) => {
                    info!(%peer, "closing a ZMQ peer: {err}");
                    break;
                }
            },
        }
    }
    debug!(%peer, "ZMQ PUSH peer disconnected");
}

/// Reads more bytes into `buf`; `Err` when the peer is gone.
async fn read_more(stream: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<()> {
    buf.reserve(READ_CHUNK);
    match stream.read_buf(buf).await? {
        0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
        _ => Ok(()),
    }
}

/// Greeting both ways, then READY both ways; the peer must be a PUSH socket.
async fn handshake(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<(), String> {
    stream
        .write_all(&zmtp::greeting())
        .await
        .map_err(|e| e.to_string())?;
    while buf.len() < zmtp::GREETING_LEN {
        read_more(stream, buf)
            .await
            .map_err(|_| "the peer closed during the greeting".to_string())?;
        // Anything that does not start like a ZMTP signature is refused at once.
        if buf[0] != 0xFF {
            return Err("not a ZMTP peer".into());
        }
    }
    let mut greeting = [0u8; zmtp::GREETING_LEN];
    greeting.copy_from_slice(&buf.split_to(zmtp::GREETING_LEN));
    zmtp::check_greeting(&greeting).map_err(|e| e.to_string())?;
    stream
        .write_all(&zmtp::ready("PULL"))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match zmtp::read_frame(buf, zmtp::MAX_COMMAND).map_err(|e| e.to_string())? {
            Some(Frame::Command(body)) => {
                return match zmtp::parse_command(&body).map_err(|e| e.to_string())? {
                    Command::Ready { socket_type } if socket_type.as_deref() == Some("PUSH") => {
                        Ok(())
                    }
                    Command::Ready { socket_type } => Err(format!(
                        "socket type {} cannot connect to PULL (only PUSH)",
                        socket_type.as_deref().unwrap_or("(none)")
                    )),
                    other => Err(format!("expected READY, got {other:?}")),
                };
            }
            Some(Frame::Part { .. }) => return Err("a message before READY".into()),
            None => read_more(stream, buf)
                .await
                .map_err(|_| "the peer closed during the handshake".to_string())?,
        }
    }
}
