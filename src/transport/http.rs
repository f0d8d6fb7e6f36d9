//! The HTTP side of a listener: hyper serves each TCP connection; WebSocket upgrades become WAMP
//! sessions, `GET /health` answers load balancers, and `GET /` serves the demo page when it is on.
//!
//! Each request must arrive and be answered within the handshake timeout, and a kept-alive
//! connection may sit idle between requests for as long (hyper's header read timeout), so
//! pooled `POST /publish` clients keep their connection while slow-loris clients are cut.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::transport::{
    connection, upgrade, websocket, websocket_wire, ConnectionSlot, ListenerSpec, ServerState,
};

/// Response body of every HTTP answer.
pub type Body = Full<Bytes>;

/// A response with `body` of `content_type`.
pub(crate) fn text_response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Serves one accepted connection until it closes, is upgraded, or times out in the HTTP phase;
/// when `stop` (its listener's) is cancelled, hyper finishes the request in flight and closes.
pub async fn serve<S>(
    state: Arc<ServerState>,
    io: S,
    peer: SocketAddr,
    slot: ConnectionSlot,
    spec: Arc<ListenerSpec>,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Shared with the sessions this connection is upgraded to, which outlive it.
    let permit = Arc::new(slot);
    let service_state = state.clone();
    let request_timeout = state.connection.limits.handshake_timeout;
    let service = service_fn(move |req: Request<Incoming>| {
        let state = service_state.clone();
        let permit = permit.clone();
        let spec = spec.clone();
        async move {
            // Each request has its own deadline; the connection lives on between requests.
            let answer =
                tokio::time::timeout(request_timeout, route(state, req, peer, permit, spec));
            Ok::<_, Infallible>(match answer.await {
                Ok(response) => response,
                Err(_) => text_response(
                    StatusCode::REQUEST_TIMEOUT,
                    "text/plain; charset=utf-8",
                    "request timeout\n",
                ),
            })
        }
    });
    let limits = &state.connection.limits;
    // hyper's header read timeout runs from the end of one response to the end of the next
    // request's head: it is both the idle timeout of a kept-alive connection and the slow-loris
    // guard.
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.handshake_timeout)
        .max_buf_size(16 * 1024)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    match result {
        Ok(()) => {}
        Err(err) if err.is_timeout() => {
            debug!(%peer, "HTTP connection idle or slow beyond the timeout; closed");
            state
                .connection
                .router
                .metrics()
                .handshake_failure("handshake_timeout");
        }
        Err(err) => debug!(%peer, error = %err, "HTTP connection failed"),
    }
}

async fn route(
    state: Arc<ServerState>,
    req: Request<Incoming>,
    peer: SocketAddr,
    permit: Arc<ConnectionSlot>,
    spec: Arc<ListenerSpec>,
) -> Response<Body> {
    let state = &state;
    let role = spec.role;
    if role.accepts_sessions() && websocket::is_upgrade_request(req.headers()) {
        return upgrade(state, req, peer, &permit, &spec).await;
    }
    if role.accepts_sessions() && super::socketio::is_engineio(req.uri().path()) {
        return super::socketio_polling::serve(state, req, peer, &spec).await;
    }
    let client = state.trusted_proxies.resolve(peer, req.headers());
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    let path = req.uri().path();
    if let (true, true, Some(demo)) = (get, role.accepts_sessions(), &state.demo) {
        if let Some(response) = demo.serve(path) {
            return response;
        }
    }
    match path {
        // ws-emit has the route only with a secret.
        "/emit" if role.accepts_sessions() => match &state.emit {
            Some(emit) => emit.handle(&state.connection.router, req).await,
            None => text_response(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found: POST /emit needs WEBSOCKET_EMIT_SECRET\n",
            ),
        },
        "/health" if get => health(state),
        "/ready" if get => ready(state),
        "/metrics" if get && role.serves_metrics() => metrics(state),
        "/publish" if role.accepts_sessions() => {
            if req.method() != Method::POST {
                let mut response = text_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "application/json",
                    "{\"error\":\"method_not_allowed\",\"message\":\"use POST\"}",
                );
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("POST"));
                return response;
            }
            state
                .publisher
                .handle(&state.connection.router, req, client)
                .await
        }
        _ if !role.accepts_sessions() => text_response(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: this listener serves /metrics, /health and /ready\n",
        ),
        _ => text_response(
            StatusCode::UPGRADE_REQUIRED,
            "text/plain; charset=utf-8",
            "This is a WAMP router: connect with a WebSocket client (wamp.2.json or wamp.2.msgpack).\n",
        ),
    }
}

fn health(state: &ServerState) -> Response<Body> {
    let shutting_down = state.connection.shutdown.is_cancelled();
    let body = format!(
        "{{\"status\":\"{}\",\"version\":\"{}\",\"sessions\":{},\"connections\":{},\"uptime_seconds\":{}}}\n",
        if shutting_down { "shutting_down" } else { "ok" },
        env!("CARGO_PKG_VERSION"),
        state.connection.router.session_count(),
        state.open_connections(),
        state.started.elapsed().as_secs(),
    );
    let status = if shutting_down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    text_response(status, "application/json", body)
}

/// Readiness for load balancers: not ready while shutting down. A cluster node whose backplane
/// is down stays ready (it still serves its own sessions) but says `ready (degraded: …)`, so a
/// check that looks at the body can tell.
fn ready(state: &ServerState) -> Response<Body> {
    let backplane_down = state
        .connection
        .router
        .backplane()
        .is_some_and(|backplane| !backplane.connected());
    if state.connection.shutdown.is_cancelled() {
        text_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            "shutting down\n",
        )
    } else if backplane_down {
        text_response(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ready (degraded: cluster backplane down, delivering locally)\n",
        )
    } else {
        text_response(StatusCode::OK, "text/plain; charset=utf-8", "ready\n")
    }
}

fn metrics(state: &ServerState) -> Response<Body> {
    let router = &state.connection.router;
    text_response(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        router.metrics().render(router.queue_depths()),
    )
}

async fn upgrade(
    state: &Arc<ServerState>,
    req: Request<Incoming>,
    peer: SocketAddr,
    permit: &Arc<ConnectionSlot>,
    spec: &ListenerSpec,
) -> Response<Body> {
    // Later requests on a kept-alive connection are upgraded by hyper, through the same
    // admission as a first request. WAMP v2 only: the v1 WELCOME must share the 101's write
    // (see `upgrade`), which hyper cannot do.
    let request = upgrade::UpgradeRequest {
        method: req.method(),
        headers: req.headers(),
        query: req.uri().query(),
        path: req.uri().path(),
        http11: req.version() == hyper::Version::HTTP_11,
        v1_possible: false,
    };
    let admitted = match upgrade::admit(state, spec, peer, request).await {
        Ok(admitted) => admitted,
        Err(refusal) => {
            return text_response(
                refusal.status,
                "text/plain; charset=utf-8",
                format!("{}\n", refusal.body),
            )
        }
    };
    let config = state.websocket_config(admitted.effective_role());
    let serializer = admitted.serializer;
    let socketio = matches!(admitted.flavor, connection::Flavor::SocketIo { .. });
    let accept_key = admitted.accepted.accept_key.clone();
    let ctx = state.connection.clone();
    let permit = permit.clone();
    let shared = state.clone();
    state.tracker.spawn(async move {
        let upgrade::Admitted {
            client,
            client_slot,
            flavor,
            authrole,
            ..
        } = admitted;
        // The connection's slots live as long as this task, and then as long as the session.
        let held = (permit, client_slot);
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                let io = TokioIo::new(upgraded);
                debug!(%client, serializer = serializer.subprotocol(), "WebSocket established");
                if let connection::Flavor::SocketIo {
                    engine_sid: Some(sid),
                    ..
                } = &flavor
                {
                    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                    let _held = held;
                    return super::socketio_polling::upgrade(shared, sid.clone(), ws).await;
                }
                let batched = flavor.is_batched();
                let (inbound, sink) = websocket_wire::split(io, Vec::new(), config, batched).await;
                let wire = connection::Wire {
                    inbound,
                    sink,
                    serializer,
                    transport: "websocket",
                    authrole,
                    flavor,
                };
                connection::run(ctx, wire, client.addr, held).await;
            }
            Err(err) => debug!(%client, error = %err, "upgrade failed"),
        }
    });
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if !socketio {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(serializer.subprotocol()),
        );
    }
    if let Ok(accept) = HeaderValue::from_str(&accept_key) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}
