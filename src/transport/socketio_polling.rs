//! Engine.IO's HTTP long-polling transport, and the upgrade from it to a WebSocket.
//!
//! socket.io-client starts with polling unless told otherwise: `GET ?EIO=4&transport=polling`
//! opens a session (the answer is the OPEN packet), then `GET …&sid=X` waits for what the server
//! has to say and `POST …&sid=X` carries what the client says, packets joined by `\x1e`. Later the
//! client opens `…&transport=websocket&sid=X`, probes it (`2probe` / `3probe`), and switches
//! (`5`); the pending GET is answered with NOOP and polling ends.
//!
//! The session in between is the ordinary session driver ([`super::connection::run`]) with a
//! [`crate::socketio::session::SioSession`], fed through two channels instead of a socket:
//! inbound packets (from POSTs, later from the WebSocket) and the downlink (to GETs, later to the
//! WebSocket). Both are bounded: a POST that finds the inbound channel full is refused, and the
//! downlink holds [`DOWNLINK_FRAMES`] frames, so a client that stops polling fills the session's
//! outbound queue and meets the slow-consumer policy like any other. A session counts against the
//! connection limit for its whole life, polling or upgraded, and ends when its client stops
//! answering pings, like a WebSocket session.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use crate::router::outbound::Frame;
use crate::socketio::session::{random_sid, SioIdentity};
use crate::transport::connection::{self, Flavor, Wire};
use crate::transport::upgrade::{admit_browser, origin_refusal};
use crate::transport::wire::{Inbound, ReadFailure, WireSink};
use crate::transport::{ListenerSpec, ServerState};
use wampd_proto::socketio::engineio;

/// Frames waiting for the next GET (or the WebSocket); more make the session's writer wait.
pub const DOWNLINK_FRAMES: usize = 256;
/// Packets of POSTs waiting for the session; a POST that finds no room is refused.
pub const INBOUND_PACKETS: usize = 256;
/// Most packets one POST may carry.
pub const MAX_POST_PACKETS: usize = 128;

type Body = Full<Bytes>;

/// One polling session, as its requests find it.
struct Polling {
    inbound: mpsc::Sender<Result<Inbound, ReadFailure>>,
    downlink: tokio::sync::Mutex<mpsc::Receiver<Frame>>,
    /// Set when the client switched to its WebSocket: polling answers NOOP / 400 from then on.
    upgraded: std::sync::atomic::AtomicBool,
    upgrade: Notify,
}

/// The live polling sessions, by Engine.IO sid.
#[derive(Default)]
pub struct PollingSessions {
    sessions: Mutex<HashMap<String, Arc<Polling>>>,
}

impl std::fmt::Debug for PollingSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollingSessions").finish_non_exhaustive()
    }
}

impl PollingSessions {
    fn get(&self, sid: &str) -> Option<Arc<Polling>> {
        self.lock().get(sid).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Polling>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The session's side of the downlink.
struct DownlinkSink {
    tx: mpsc::Sender<Frame>,
}

impl WireSink for DownlinkSink {
    async fn feed(&mut self, frame: Frame) -> std::io::Result<()> {
        self.tx
            .send(frame)
            .await
            .map_err(|_| std::io::ErrorKind::BrokenPipe.into())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    async fn ping(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    async fn pong(&mut self, _payload: Bytes) -> std::io::Result<()> {
        Ok(())
    }

    async fn close_slow_consumer(&mut self) -> std::io::Result<()> {
        let _ = self.tx.try_send(Frame::Close(1008, "slow consumer".into()));
        Ok(())
    }
}

fn response(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    response
}

fn error(body: &'static str) -> Response<Body> {
    let mut r = response(StatusCode::BAD_REQUEST, body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

const UNKNOWN_SID: &str = r#"{"code":1,"message":"Session ID unknown"}"#;
const BAD_REQUEST: &str = r#"{"code":3,"message":"Bad request"}"#;
const UNSUPPORTED_VERSION: &str = r#"{"code":5,"message":"Unsupported protocol version"}"#;
const TRANSPORT_UNKNOWN: &str = r#"{"code":0,"message":"Transport unknown"}"#;

struct Query {
    eio: Option<String>,
    transport: Option<String>,
    sid: Option<String>,
}

fn query(q: Option<&str>) -> Query {
    let mut out = Query {
        eio: None,
        transport: None,
        sid: None,
    };
    for (k, v) in url::form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "EIO" => out.eio = Some(v.into_owned()),
            "transport" => out.transport = Some(v.into_owned()),
            "sid" => out.sid = Some(v.into_owned()),
            _ => {}
        }
    }
    out
}

/// An Engine.IO WebSocket request whose `sid` names no live polling session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownSid;

/// The sid of an Engine.IO WebSocket request that upgrades a polling session, when it names a
/// live one.
pub fn upgrade_target(state: &ServerState, q: Option<&str>) -> Result<Option<String>, UnknownSid> {
    match query(q).sid {
        None => Ok(None),
        Some(sid) if state.polling.get(&sid).is_some() => Ok(Some(sid)),
        Some(_) => Err(UnknownSid),
    }
}

/// Serves an Engine.IO request over plain HTTP: the handshake, a poll, or a POST.
pub async fn serve(
    state: &Arc<ServerState>,
    req: Request<Incoming>,
    peer: SocketAddr,
    spec: &ListenerSpec,
) -> Response<Body> {
    // A page from an origin that is not allowed gets 400 on every request, as python-engineio
    // answers; the sid of a session is no way around the allow-list.
    if let Err(why) = state.admission.origin_allowed(req.headers()) {
        let client = state.trusted_proxies.resolve(peer, req.headers());
        let refusal = origin_refusal(state, &client, why, true);
        return response(refusal.status, refusal.body);
    }
    // Pages are often served from another origin than the router (ws-emit: port 7788 against
    // 8899): an allowed Origin is echoed for CORS, with credentials, as python-engineio does.
    let cors = req.headers().get(header::ORIGIN).cloned();
    if req.method() == Method::OPTIONS {
        let mut answer = response(StatusCode::NO_CONTENT, "");
        if let Some(origin) = cors {
            let h = answer.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type"),
            );
        }
        return answer;
    }
    let mut answer = serve_request(state, req, peer, spec).await;
    if let Some(origin) = cors {
        let h = answer.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    answer
}

async fn serve_request(
    state: &Arc<ServerState>,
    req: Request<Incoming>,
    peer: SocketAddr,
    spec: &ListenerSpec,
) -> Response<Body> {
    let q = query(req.uri().query());
    if q.eio.as_deref() != Some("4") {
        return error(UNSUPPORTED_VERSION);
    }
    if q.transport.as_deref() != Some("polling") {
        return error(TRANSPORT_UNKNOWN);
    }
    let mut answer = match (req.method().clone(), q.sid) {
        (Method::GET, None) => handshake(state, &req, peer, spec).await,
        (Method::GET, Some(sid)) => poll(state, &sid).await,
        (Method::POST, Some(sid)) => post(state, &sid, req).await,
        _ => error(BAD_REQUEST),
    };
    answer
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}

async fn handshake(
    state: &Arc<ServerState>,
    req: &Request<Incoming>,
    peer: SocketAddr,
    spec: &ListenerSpec,
) -> Response<Body> {
    let client = state.trusted_proxies.resolve(peer, req.headers());
    let metrics = state.connection.router.metrics();
    let (authrole, checked) =
        match admit_browser(state, spec, &client, req.headers(), req.uri().query(), true).await {
            Ok(admitted) => admitted,
            Err(refusal) => return response(refusal.status, refusal.body),
        };
    // The session holds a connection slot for its whole life, across its requests.
    let Ok(permit) = state.connections.clone().try_acquire_owned() else {
        metrics.handshake_failure("connection_limit");
        return response(
            StatusCode::SERVICE_UNAVAILABLE,
            "connection limit reached; retry",
        );
    };
    let identity = SioIdentity {
        authid: checked.as_ref().map(|(authid, _)| authid.clone()),
        authrole: checked
            .map(|(_, role)| role)
            .unwrap_or_else(|| authrole.to_string()),
    };
    let sid = random_sid();
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_PACKETS);
    let (downlink_tx, downlink_rx) = mpsc::channel(DOWNLINK_FRAMES);
    let polling = Arc::new(Polling {
        inbound: inbound_tx,
        downlink: tokio::sync::Mutex::new(downlink_rx),
        upgraded: false.into(),
        upgrade: Notify::new(),
    });
    state.polling.lock().insert(sid.clone(), polling);
    let wire = Wire {
        inbound: tokio_stream_from(inbound_rx),
        sink: DownlinkSink { tx: downlink_tx },
        serializer: wampd_proto::wamp::Serializer::Json,
        transport: "polling",
        authrole,
        flavor: Flavor::SocketIo {
            identity,
            engine_sid: Some(sid.clone()),
        },
    };
    let ctx = state.connection.clone();
    let registry = state.clone();
    let session_sid = sid.clone();
    state.tracker.spawn(async move {
        let permit: OwnedSemaphorePermit = permit;
        connection::run(ctx, wire, client.addr, permit).await;
        registry.polling.lock().remove(&session_sid);
    });
    debug!(%peer, %sid, "Engine.IO polling session opened");
    // The OPEN packet is the session's first frame: answer with it.
    poll(state, &sid).await
}

fn tokio_stream_from(
    rx: mpsc::Receiver<Result<Inbound, ReadFailure>>,
) -> impl futures_util::Stream<Item = Result<Inbound, ReadFailure>> + Unpin + Send {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) })
        .boxed()
}

/// A frame as polling packets: text as it is, binary as `b` + base64, attachments as one `b`
/// packet each after their text, a close as CLOSE.
fn packet(frame: Frame) -> String {
    match frame {
        Frame::Text(t) => t.to_string(),
        Frame::Binary(b) => engineio::binary_for_polling(&b),
        Frame::Attached(t, attachments) => {
            let mut out = t.to_string();
            for attachment in attachments.iter() {
                out.push(engineio::SEPARATOR);
                out.push_str(&engineio::binary_for_polling(attachment));
            }
            out
        }
        Frame::Close(..) => engineio::CLOSE.to_string(),
    }
}

async fn poll(state: &Arc<ServerState>, sid: &str) -> Response<Body> {
    let Some(polling) = state.polling.get(sid) else {
        return error(UNKNOWN_SID);
    };
    if polling.upgraded.load(std::sync::atomic::Ordering::Acquire) {
        return response(StatusCode::OK, engineio::NOOP);
    }
    // One poll at a time, as Engine.IO requires.
    let Ok(mut downlink) = polling.downlink.try_lock() else {
        return error(BAD_REQUEST);
    };
    // Wait for something to say: the session pings within its interval, so this ends in time.
    let wait = state
        .connection
        .limits
        .ping_interval
        .unwrap_or(Duration::from_secs(25))
        + Duration::from_secs(5);
    let first = tokio::select! {
        frame = tokio::time::timeout(wait, downlink.recv()) => frame,
        _ = polling.upgrade.notified() => return response(StatusCode::OK, engineio::NOOP),
    };
    let first = match first {
        Ok(Some(frame)) => frame,
        Ok(None) => return response(StatusCode::OK, engineio::CLOSE),
        Err(_) => return response(StatusCode::OK, engineio::NOOP),
    };
    let limit = state.connection.limits.max_message_size;
    let mut body = packet(first);
    while body.len() < limit {
        match downlink.try_recv() {
            Ok(frame) => {
                body.push(engineio::SEPARATOR);
                body.push_str(&packet(frame));
            }
            Err(_) => break,
        }
    }
    response(StatusCode::OK, body)
}

async fn post(state: &Arc<ServerState>, sid: &str, req: Request<Incoming>) -> Response<Body> {
    let Some(polling) = state.polling.get(sid) else {
        return error(UNKNOWN_SID);
    };
    let limit = state.connection.limits.max_message_size;
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            state
                .connection
                .router
                .metrics()
                .limit_refused("message_size");
            return response(StatusCode::PAYLOAD_TOO_LARGE, "payload too large");
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return error(BAD_REQUEST);
    };
    let packets = text.split(engineio::SEPARATOR).collect::<Vec<_>>();
    if packets.len() > MAX_POST_PACKETS {
        return error(BAD_REQUEST);
    }
    for p in packets {
        let item = match p.strip_prefix('b') {
            Some(_) => match engineio::decode(p) {
                Ok(engineio::Packet::Binary(bytes)) => Inbound::Message {
                    data: Bytes::from(bytes),
                    text: Some(false),
                },
                _ => return error(BAD_REQUEST),
            },
            None => Inbound::Message {
                data: Bytes::copy_from_slice(p.as_bytes()),
                text: Some(true),
            },
        };
        if polling.inbound.try_send(Ok(item)).is_err() {
            return response(StatusCode::SERVICE_UNAVAILABLE, "slow down");
        }
    }
    response(StatusCode::OK, "ok")
}

/// Takes a polling session over to the WebSocket `ws`: answers the probe, waits for UPGRADE,
/// then carries the session's packets both ways until either side ends.
pub async fn upgrade<S>(state: Arc<ServerState>, sid: String, mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Some(polling) = state.polling.get(&sid) else {
        return;
    };
    // The probe exchange, within the handshake timeout. After answering the probe the client
    // pauses polling, waiting for its pending poll to end: end it (NOOP) right away, and answer
    // any later poll with NOOP too, so the client's UPGRADE follows at once.
    let probed = tokio::time::timeout(state.connection.limits.handshake_timeout, async {
        while let Some(Ok(message)) = ws.next().await {
            match message {
                WsMessage::Text(t) if t.as_str() == "2probe" => {
                    ws.send(WsMessage::Text(engineio::PONG_PROBE.into()))
                        .await
                        .ok()?;
                    polling
                        .upgraded
                        .store(true, std::sync::atomic::Ordering::Release);
                    polling.upgrade.notify_one();
                }
                WsMessage::Text(t) if t.as_str() == "5" => return Some(()),
                WsMessage::Ping(_) | WsMessage::Pong(_) => {}
                _ => return None,
            }
        }
        None
    })
    .await;
    if !matches!(probed, Ok(Some(()))) {
        debug!(%sid, "Engine.IO upgrade abandoned");
        return;
    }
    let mut downlink = polling.downlink.lock().await;
    debug!(%sid, "Engine.IO session upgraded to WebSocket");
    loop {
        tokio::select! {
            frame = downlink.recv() => {
                let (message, attachments) = match frame {
                    None => break,
                    Some(Frame::Text(t)) => (WsMessage::Text(t), None),
                    Some(Frame::Binary(b)) => (WsMessage::Binary(b), None),
                    Some(Frame::Attached(t, a)) => (WsMessage::Text(t), Some(a)),
                    Some(Frame::Close(..)) => {
                        let _ = ws.close(None).await;
                        break;
                    }
                };
                if ws.feed(message).await.is_err() {
                    break;
                }
                let mut failed = false;
                for attachment in attachments.iter().flat_map(|a| a.iter()) {
                    failed |= ws.feed(WsMessage::Binary(attachment.clone())).await.is_err();
                }
                if failed || ws.flush().await.is_err() {
                    break;
                }
            }
            incoming = ws.next() => {
                let item = match incoming {
                    Some(Ok(WsMessage::Text(t))) => Inbound::Message {
                        data: Bytes::copy_from_slice(t.as_bytes()),
                        text: Some(true),
                    },
                    Some(Ok(WsMessage::Binary(b))) => Inbound::Message { data: b, text: Some(false) },
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => {
                        let _ = polling.inbound.send(Ok(Inbound::Closed)).await;
                        break;
                    }
                    Some(Ok(_)) => Inbound::Alive,
                };
                if polling.inbound.send(Ok(item)).await.is_err() {
                    break;
                }
            }
        }
    }
}
