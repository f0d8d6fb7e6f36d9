//! `POST /publish`: backends publish over plain HTTP, in any language.
//!
//! The body is Crossbar's HTTP publisher shape, `{"topic", "args", "kwargs", "options"}` (plus an
//! optional `"realm"`), or a JSON array of such objects to publish a batch in one request; a batch
//! is validated whole before anything is published. The answer is `{"id": N}` or `{"ids": [...]}`,
//! or `{"error", "message"}` with the status that fits (400 bad JSON or URI, 401/403
//! authentication, 413 too large, 503 overloaded).
//!
//! Authentication: with `WEBSOCKET_PUBLISH_SECRET` set, a request presents it as
//! `Authorization: Bearer SECRET`, or signs itself with `X-Wampd-Timestamp: <unix seconds>` and
//! `X-Wampd-Signature: hex(HMAC-SHA256(secret, "<timestamp>.<body>"))` within the configured
//! window (required when `WEBSOCKET_PUBLISH_REQUIRE_SIGNATURE=true`). Without a secret only
//! local clients (a loopback peer, not forwarded by a proxy) may publish. Secrets and signatures are compared in constant time.
//! An `Idempotency-Key` header makes a retried request publish once: the first answer is
//! remembered for ten minutes and replayed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Request, Response, StatusCode};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use tracing::{debug, info};

use crate::config::PublishSettings;
use crate::router::handle::SessionHandle;
use crate::router::operations::Actor;
use crate::router::outbound::OutboundRx;
use crate::router::publisher::PublishRequest;
use crate::router::realm::Realm;
use crate::router::Router;
use crate::transport::client_addr::ClientAddr;
use wampd_proto::wamp::{codec, error_uri, Dict, Serializer, Value};

/// How long an idempotency key's answer is remembered.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(600);
/// How many idempotency keys are remembered at most.
const IDEMPOTENCY_CAPACITY: usize = 10_000;

type Body = Full<Bytes>;

/// State of the HTTP publish endpoint.
pub struct HttpPublisher {
    settings: PublishSettings,
    in_flight: Arc<Semaphore>,
    remembered: Mutex<Remembered>,
    /// The session identity HTTP publications carry (never subscribed; its queue stays empty).
    identity: Arc<SessionHandle>,
    _identity_rx: OutboundRx,
}

impl std::fmt::Debug for HttpPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPublisher")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Remembered {
    answers: HashMap<String, (Instant, StatusCode, String)>,
    order: VecDeque<(Instant, String)>,
}

impl Remembered {
    fn get(&mut self, key: &str) -> Option<(StatusCode, String)> {
        self.expire();
        self.answers
            .get(key)
            .map(|(_, status, body)| (*status, body.clone()))
    }

    fn put(&mut self, key: String, status: StatusCode, body: String) {
        self.expire();
        while self.answers.len() >= IDEMPOTENCY_CAPACITY {
            match self.order.pop_front() {
                Some((_, oldest)) => {
                    self.answers.remove(&oldest);
                }
                None => break,
            }
        }
        let now = Instant::now();
        self.order.push_back((now, key.clone()));
        self.answers.insert(key, (now, status, body));
    }

    fn expire(&mut self) {
        while let Some((at, _)) = self.order.front() {
            if at.elapsed() < IDEMPOTENCY_TTL {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.answers.remove(&key);
            }
        }
    }
}

/// An error answer.
struct Failure {
    status: StatusCode,
    error: &'static str,
    message: String,
}

fn failure(status: StatusCode, error: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        status,
        error,
        message: message.into(),
    }
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error_body(error: &str, message: &str) -> String {
    let value = serde_json::json!({ "error": error, "message": message });
    value.to_string()
}

/// One item of a publish request, parsed.
pub(crate) struct Item {
    /// `"realm"`, when given.
    pub realm: Option<String>,
    /// `"topic"`.
    pub topic: String,
    args: Vec<Value>,
    kwargs: Dict,
    options: Dict,
}

impl Item {
    /// The publication this item asks for.
    pub fn request(&self) -> PublishRequest<'_> {
        request(self)
    }
}

/// Parses a body in the `POST /publish` shape (one item or a list) for other channels that take
/// it (the ZeroMQ `publish` format); the `Err` says what is wrong.
pub(crate) fn parse_items(body: &[u8]) -> Result<Vec<Item>, String> {
    parse_body(body)
        .map(|(items, _)| items)
        .map_err(|f| f.message)
}

/// Parses a `POST /publish` body: one item or a batch (a JSON array), and whether it was a
/// batch.
fn parse_body(body: &[u8]) -> Result<(Vec<Item>, bool), Failure> {
    let value = codec::decode_value(Serializer::Json, body).map_err(|err| {
        failure(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {err}"),
        )
    })?;
    Ok(match value {
        Value::List(list) => {
            let items = list
                .into_iter()
                .enumerate()
                .map(|(i, v)| parse_item(v, Some(i)))
                .collect::<Result<Vec<_>, _>>()?;
            (items, true)
        }
        other => (vec![parse_item(other, None)?], false),
    })
}

/// Parses a `POST /publish` body as the endpoint does and returns how many items it holds,
/// or the HTTP status it would be refused with. For the fuzz target `http_publish`.
pub fn check_body(body: &[u8]) -> Result<usize, u16> {
    parse_body(body)
        .map(|(items, _)| items.len())
        .map_err(|f| f.status.as_u16())
}

fn parse_item(value: Value, index: Option<usize>) -> Result<Item, Failure> {
    let at = |what: &str| match index {
        Some(i) => format!("item {i}: {what}"),
        None => what.to_string(),
    };
    let Value::Dict(mut object) = value else {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            at("expected a JSON object with \"topic\""),
        ));
    };
    let topic = match object.remove("topic") {
        Some(Value::Str(topic)) => topic,
        _ => {
            return Err(failure(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                at("\"topic\" must be a string"),
            ))
        }
    };
    let args = match object.remove("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::List(args)) => args,
        Some(_) => {
            return Err(failure(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                at("\"args\" must be a list"),
            ))
        }
    };
    let mut dict = |name: &str| match object.remove(name) {
        None | Some(Value::Null) => Ok(Dict::new()),
        Some(Value::Dict(d)) => Ok(d),
        Some(_) => Err(failure(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            at(&format!("\"{name}\" must be an object")),
        )),
    };
    let kwargs = dict("kwargs")?;
    let options = dict("options")?;
    let realm = match object.remove("realm") {
        None | Some(Value::Null) => None,
        Some(Value::Str(realm)) => Some(realm),
        Some(_) => {
            return Err(failure(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                at("\"realm\" must be a string"),
            ))
        }
    };
    Ok(Item {
        realm,
        topic,
        args,
        kwargs,
        options,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The signature a request must carry: hex HMAC-SHA256 over `"<timestamp>.<body>"`.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

fn equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

impl HttpPublisher {
    /// Creates the endpoint's state.
    /// HTTP publishers act with `role` (the backend role), so authorization rules apply to them
    /// as to any backend session.
    pub fn new(settings: PublishSettings, role: &str) -> HttpPublisher {
        let (identity, rx) = SessionHandle::publisher_only("http-publisher", role, "http");
        HttpPublisher {
            in_flight: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            settings,
            remembered: Mutex::new(Remembered::default()),
            identity: Arc::new(identity),
            _identity_rx: rx,
        }
    }

    fn authenticate(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        client: ClientAddr,
    ) -> Result<(), Failure> {
        let Some(secret) = &self.settings.secret else {
            // Not merely a loopback peer: a request forwarded by a proxy on this machine is
            // from elsewhere.
            if client.is_local() {
                return Ok(());
            }
            return Err(failure(
                StatusCode::FORBIDDEN,
                "forbidden",
                "HTTP publish from other hosts needs WEBSOCKET_PUBLISH_SECRET on the router",
            ));
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(given) = header("x-wampd-signature") {
            let Some(timestamp) = header("x-wampd-timestamp") else {
                return Err(failure(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "X-Wampd-Signature needs X-Wampd-Timestamp",
                ));
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let fresh = timestamp
                .parse::<u64>()
                .ok()
                .is_some_and(|t| t.abs_diff(now) <= self.settings.signature_window.as_secs());
            if !fresh {
                return Err(failure(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "X-Wampd-Timestamp is not a Unix time within the allowed window",
                ));
            }
            if !equal(
                &signature(secret, timestamp, body),
                &given.to_ascii_lowercase(),
            ) {
                return Err(failure(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "bad request signature",
                ));
            }
            return Ok(());
        }
        if self.settings.require_signature {
            return Err(failure(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this router requires signed requests (X-Wampd-Timestamp, X-Wampd-Signature)",
            ));
        }
        let bearer = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
        match bearer {
            None => Err(failure(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send Authorization: Bearer <WEBSOCKET_PUBLISH_SECRET>",
            )),
            Some(given) if equal(given.trim(), secret) => Ok(()),
            Some(_) => Err(failure(
                StatusCode::FORBIDDEN,
                "forbidden",
                "wrong publish secret",
            )),
        }
    }

    /// Handles one `POST /publish`.
    pub async fn handle(
        &self,
        router: &Router,
        req: Request<Incoming>,
        client: ClientAddr,
    ) -> Response<Body> {
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            let mut response = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                error_body("overloaded", "too many publish requests in flight; retry"),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        };
        match self.process(router, req, client).await {
            Ok((status, body)) => json_response(status, body),
            Err(f) => {
                info!(%client, status = f.status.as_u16(), error = f.error, message = %f.message, "HTTP publish refused");
                json_response(f.status, error_body(f.error, &f.message))
            }
        }
    }

    async fn process(
        &self,
        router: &Router,
        req: Request<Incoming>,
        client: ClientAddr,
    ) -> Result<(StatusCode, String), Failure> {
        let (parts, body) = req.into_parts();
        let too_large = || {
            failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "request body exceeds {} bytes (WEBSOCKET_PUBLISH_MAX_BODY)",
                    self.settings.max_body
                ),
            )
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.settings.max_body) {
            return Err(too_large());
        }
        let body = match Limited::new(body, self.settings.max_body).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
            Err(err) => {
                return Err(failure(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("cannot read the body: {err}"),
                ))
            }
        };
        self.authenticate(&parts.headers, &body, client)?;
        let key = parts
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(key) = &key {
            if let Some(answer) = self.lock().get(key) {
                debug!(%client, key, "replaying an idempotent publish");
                return Ok(answer);
            }
        }
        let answer = self.publish_body(router, &body)?;
        if let Some(key) = key {
            self.lock().put(key, answer.0, answer.1.clone());
        }
        Ok(answer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.remembered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The operations layer's view of an HTTP publisher in `realm`.
    fn actor<'a>(&'a self, realm: &'a Arc<Realm>) -> Actor<'a> {
        Actor::publisher(realm, &self.identity, false)
    }

    fn publish_body(&self, router: &Router, body: &[u8]) -> Result<(StatusCode, String), Failure> {
        let (items, batch) = parse_body(body)?;
        // Check the whole request (the operations layer's validate, limits and authorize
        // steps) before publishing any of it.
        let started = std::time::Instant::now();
        let mut checked = Vec::with_capacity(items.len());
        let numbered = |i: usize, message: String| {
            if batch {
                format!("item {i}: {message}")
            } else {
                message
            }
        };
        for (i, item) in items.iter().enumerate() {
            let realm = match &item.realm {
                Some(name) => router.realm(name),
                None => router.default_realm(),
            }
            .ok_or_else(|| {
                failure(
                    StatusCode::BAD_REQUEST,
                    "wamp.error.no_such_realm",
                    format!("no such realm {:?}", item.realm.as_deref().unwrap_or("")),
                )
            })?;
            let options = router
                .op_check_publish(self.actor(realm), request(item))
                .map_err(|refusal| {
                    let status = if refusal.error == error_uri::NOT_AUTHORIZED {
                        StatusCode::FORBIDDEN
                    } else {
                        StatusCode::BAD_REQUEST
                    };
                    failure(status, refusal.error, numbered(i, refusal.message))
                })?;
            checked.push((realm, options));
        }
        let mut ids = Vec::with_capacity(items.len());
        for (item, (realm, options)) in items.iter().zip(&checked) {
            let (publication, _) =
                router.op_publish_checked(self.actor(realm), request(item), options, started);
            ids.push(publication);
        }
        let body = if batch {
            serde_json::json!({ "ids": ids }).to_string()
        } else {
            serde_json::json!({ "id": ids.first().copied().unwrap_or(0) }).to_string()
        };
        Ok((StatusCode::OK, body))
    }
}

fn request(item: &Item) -> PublishRequest<'_> {
    PublishRequest {
        topic: &item.topic,
        args: &item.args,
        kwargs: &item.kwargs,
        options: &item.options,
        any_topic: false,
        v1_payload: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hex_hmac_sha256_of_timestamp_dot_body() {
        // Reference computed with: printf '1700000000.{"topic":"t"}' | openssl dgst -sha256 -hmac s3cret
        let sig = signature("s3cret", "1700000000", br#"{"topic":"t"}"#);
        assert_eq!(
            sig,
            "15b7dd5a9211a6c7502126edebb0c9fa834edb0664d98e1fec601302a83adab9"
        );
        assert_ne!(sig, signature("s3cret", "1700000001", br#"{"topic":"t"}"#));
    }

    #[test]
    fn remembered_answers_expire_by_capacity() {
        let mut r = Remembered::default();
        for i in 0..(IDEMPOTENCY_CAPACITY + 5) {
            r.put(i.to_string(), StatusCode::OK, "{}".into());
        }
        assert!(r.answers.len() <= IDEMPOTENCY_CAPACITY);
        assert!(r.get("0").is_none());
        assert!(r.get(&(IDEMPOTENCY_CAPACITY + 4).to_string()).is_some());
    }
}
