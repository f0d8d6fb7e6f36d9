//! What a message received on the ZeroMQ channel becomes: a publication, in one of two formats.
//!
//! * `espocrm`: Espo's push ([`crate::espocrm::push`]): the topic is `topicId`, the payload the
//!   whole object, and a `userId` restricts delivery to that user's sessions through
//!   `eligible_authid` (the user's sessions have `authid` = Espo user id). Topics outside Espo's
//!   categories are dropped.
//! * `publish`: the body of `POST /publish`, one object `{"topic", "args", "kwargs", "options"}`
//!   or a list of them, for any application that pushes over ZeroMQ.
//!
//! Publications act as the backend role, through the same operations layer (URI checks, limits,
//! authorization) as every other publisher. ZMTP has no answer to a message, so a refusal is a log
//! line (within the connection log budget) and a count in `wampd_zmq_messages_total{outcome}`.

use std::net::SocketAddr;
use std::sync::Arc;

use tracing::{debug, info};

use crate::config::choices::ZmqFormat;
use crate::espocrm::categories::Categories;
use crate::espocrm::push;
use crate::router::handle::SessionHandle;
use crate::router::operations::Actor;
use crate::router::outbound::OutboundRx;
use crate::router::publisher::PublishRequest;
use crate::router::Router;
use crate::transport::http_publish;
use wampd_proto::wamp::{Dict, Value};

/// Turns received messages into publications.
pub struct ZmqIngest {
    format: ZmqFormat,
    categories: Arc<Categories>,
    identity: Arc<SessionHandle>,
    _identity_rx: OutboundRx,
}

impl std::fmt::Debug for ZmqIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZmqIngest")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl ZmqIngest {
    /// An ingest for `format`, publishing as `role`; `categories` apply to the `espocrm` format.
    pub fn new(format: ZmqFormat, categories: Arc<Categories>, role: &str) -> ZmqIngest {
        let (identity, rx) = SessionHandle::publisher_only("zmq-publisher", role, "zmq");
        ZmqIngest {
            format,
            categories,
            identity: Arc::new(identity),
            _identity_rx: rx,
        }
    }

    /// Publishes one message (its parts, usually one).
    pub fn ingest(&self, router: &Router, peer: SocketAddr, parts: Vec<bytes::Bytes>) {
        let metrics = router.metrics();
        let [body] = parts.as_slice() else {
            metrics.zmq_message("multipart");
            refused(peer, "a multi-part message (one frame expected)");
            return;
        };
        match self.format {
            ZmqFormat::Espocrm => self.espocrm(router, peer, body),
            ZmqFormat::Publish => self.publish_body(router, peer, body),
        }
    }

    fn actor<'a>(&'a self, realm: &'a Arc<crate::router::realm::Realm>, any: bool) -> Actor<'a> {
        Actor::publisher(realm, &self.identity, any)
    }

    fn espocrm(&self, router: &Router, peer: SocketAddr, body: &[u8]) {
        let metrics = router.metrics();
        let push = match push::parse(body, &self.categories) {
            Ok(push) => push,
            Err(dropped) => {
                metrics.zmq_message(dropped.label());
                refused(peer, &format!("Espo push dropped: {dropped}"));
                return;
            }
        };
        let Some(realm) = router.default_realm() else {
            return;
        };
        let mut options = Dict::new();
        if let Some(user) = &push.user_id {
            options.insert(
                "eligible_authid".into(),
                Value::List(vec![Value::Str(user.clone())]),
            );
        }
        let args = [push.payload.value().clone()];
        let request = PublishRequest {
            topic: &push.topic,
            args: &args,
            kwargs: &Dict::new(),
            options: &options,
            any_topic: true,
            v1_payload: Some(&push.payload),
        };
        match router.op_publish(self.actor(realm, true), request) {
            Ok((publication, stats)) => {
                metrics.zmq_message("published");
                debug!(%peer, topic = push.topic, user = ?push.user_id, publication, delivered = stats.delivered, "ZMQ push published");
            }
            Err(refusal) => {
                metrics.zmq_message("refused");
                refused(
                    peer,
                    &format!("Espo push to {:?} refused: {}", push.topic, refusal.message),
                );
            }
        }
    }

    fn publish_body(&self, router: &Router, peer: SocketAddr, body: &[u8]) {
        let metrics = router.metrics();
        let items = match http_publish::parse_items(body) {
            Ok(items) => items,
            Err(why) => {
                metrics.zmq_message("invalid");
                refused(peer, &format!("ZMQ message dropped: {why}"));
                return;
            }
        };
        for item in &items {
            let realm = match item.realm.as_deref() {
                Some(name) => router.realm(name),
                None => router.default_realm(),
            };
            let Some(realm) = realm else {
                metrics.zmq_message("refused");
                refused(
                    peer,
                    &format!("ZMQ publication to an unknown realm {:?}", item.realm),
                );
                continue;
            };
            match router.op_publish(self.actor(realm, false), item.request()) {
                Ok(_) => metrics.zmq_message("published"),
                Err(refusal) => {
                    metrics.zmq_message("refused");
                    refused(
                        peer,
                        &format!(
                            "ZMQ publication to {:?} refused: {}",
                            item.topic, refusal.message
                        ),
                    );
                }
            }
        }
    }
}

/// Logs a dropped message within the shared connection-warning budget.
fn refused(peer: SocketAddr, why: &str) {
    crate::router::log_budget::connection_warning(|suppressed| {
        info!(%peer, suppressed, "{why}");
    });
}
