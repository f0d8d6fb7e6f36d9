//! ws-emit's `POST /emit`: `{"event", "room", "data", "namespace", "secret"}` emits `data` as
//! `event` to `room` (or the whole namespace) of `namespace` (`/` when null).
//!
//! It exists only when `WEBSOCKET_EMIT_SECRET` is set (otherwise 404, as ws-emit has no route),
//! and the secret travels in the body, as ws-emit's clients send it; it is compared in constant
//! time and a wrong one gets 403 without being echoed (ws-emit echoes it). The answers are
//! ws-emit's: `200 OK`, `403`, and 400 for a body that is not such an object. The emit is an
//! ordinary publication on the Socket.IO topics, made as the backend role, so it reaches every
//! node of a cluster and WAMP subscribers too.

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use subtle::ConstantTimeEq;
use tracing::info;

use crate::router::handle::SessionHandle;
use crate::router::operations::Actor;
use crate::router::outbound::OutboundRx;
use crate::router::publisher::PublishRequest;
use crate::router::Router;
use crate::socketio::mapping;
use crate::transport::http::{text_response, Body};
use wampd_proto::wamp::{codec, Dict, Serializer, Value};

/// The endpoint.
pub struct EmitEndpoint {
    secret: String,
    max_body: usize,
    identity: Arc<SessionHandle>,
    _identity_rx: OutboundRx,
}

impl std::fmt::Debug for EmitEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmitEndpoint").finish_non_exhaustive()
    }
}

/// ws-emit's answers are short texts served as HTML (Flask's default).
fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    text_response(status, "text/html; charset=utf-8", body)
}

impl EmitEndpoint {
    /// `POST /emit` with `secret`, bodies up to `max_body`, publishing as `role`.
    pub fn new(secret: String, max_body: usize, role: &str) -> EmitEndpoint {
        let (identity, rx) = SessionHandle::publisher_only("ws-emit", role, "http");
        EmitEndpoint {
            secret,
            max_body,
            identity: Arc::new(identity),
            _identity_rx: rx,
        }
    }

    /// Answers one request.
    pub async fn handle(&self, router: &Router, req: Request<Incoming>) -> Response<Body> {
        if req.method() != hyper::Method::POST {
            return text(StatusCode::METHOD_NOT_ALLOWED, "use POST\n");
        }
        let body = match Limited::new(req.into_body(), self.max_body).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "too large\n"),
        };
        let Ok(Value::Dict(mut fields)) = codec::decode_value(Serializer::Json, &body) else {
            return text(StatusCode::BAD_REQUEST, "expected a JSON object\n");
        };
        let secret = match fields.remove("secret") {
            Some(Value::Str(s)) => s,
            _ => String::new(),
        };
        if !bool::from(secret.as_bytes().ct_eq(self.secret.as_bytes())) {
            info!("POST /emit refused: incorrect secret");
            router.metrics().auth_failures.inc();
            return text(StatusCode::FORBIDDEN, "Incorrect secret\n");
        }
        let string = |v: Option<Value>| match v {
            Some(Value::Str(s)) => Ok(Some(s)),
            None | Some(Value::Null) => Ok(None),
            Some(_) => Err(()),
        };
        let (Ok(Some(event)), Ok(room), Ok(namespace)) = (
            string(fields.remove("event")),
            string(fields.remove("room")),
            string(fields.remove("namespace")),
        ) else {
            return text(
                StatusCode::BAD_REQUEST,
                "event must be a string; room and namespace strings or null\n",
            );
        };
        let namespace = namespace.unwrap_or_else(|| "/".into());
        let topic = mapping::emit_topic(&namespace, room.as_deref(), &event);
        let args = match fields.remove("data") {
            None | Some(Value::Null) => Vec::new(),
            Some(data) => vec![data],
        };
        let Some(realm) = router.default_realm() else {
            return text(StatusCode::SERVICE_UNAVAILABLE, "no realm\n");
        };
        let actor = Actor::publisher(realm, &self.identity, false);
        let request = PublishRequest {
            topic: &topic,
            args: &args,
            kwargs: &Dict::new(),
            options: &Dict::new(),
            any_topic: false,
            v1_payload: None,
        };
        match router.op_publish(actor, request) {
            Ok(_) => text(StatusCode::OK, "OK\n"),
            Err(refusal) => {
                info!(topic, "POST /emit refused: {}", refusal.message);
                text(StatusCode::BAD_REQUEST, "refused\n")
            }
        }
    }
}
