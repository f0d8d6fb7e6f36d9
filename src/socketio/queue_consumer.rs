//! The Flask-SocketIO / python-socketio Redis queue consumer: every emit an application makes with
//! `SocketIO(message_queue="redis://…").emit(…)` (a Celery worker, a cron job, another web
//! process) reaches this node's subscribers.
//!
//! The consumer SUBSCRIBEs to `WEBSOCKET_SOCKETIO_CHANNEL` (Flask-SocketIO's `flask-socketio` by
//! default) on `WEBSOCKET_SOCKETIO_QUEUE`, reads each message ([`wampd_proto::socketio::queue`]:
//! JSON or a data-only pickle) and publishes it on the topics of [`super::mapping`], excluding the
//! sessions its `skip_sid` names. Each node consumes the queue for its own sessions, as every
//! python-socketio server does, so its publications are never forwarded to the cluster
//! backplane: in cluster mode every node receives the message from Redis once, and nothing is
//! delivered twice. It reconnects with the cluster's backoff and counts what it received in
//! `wampd_socketio_queue_messages_total{outcome}`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::mapping;
use crate::cluster::redis::{pause, Backoff};
use crate::router::handle::SessionHandle;
use crate::router::operations::Actor;
use crate::router::outbound::OutboundRx;
use crate::router::publisher::PublishRequest;
use crate::router::Router;
use wampd_proto::socketio::queue::{self, QueueMessage};
use wampd_proto::wamp::{Dict, Value};

/// Largest queue message read; bigger ones are dropped.
pub const MAX_MESSAGE: usize = 16 << 20;
/// How long connecting and subscribing may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What the consumer needs.
pub struct QueueConsumer {
    client: redis::Client,
    channel: String,
    identity: Arc<SessionHandle>,
    _identity_rx: OutboundRx,
}

impl std::fmt::Debug for QueueConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueConsumer")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl QueueConsumer {
    /// A consumer of `channel` on the Redis at `url`, publishing as `role`.
    pub fn new(url: &str, channel: &str, role: &str) -> Result<QueueConsumer, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let (identity, rx) = SessionHandle::publisher_only("socketio-queue", role, "redis");
        Ok(QueueConsumer {
            client,
            channel: channel.to_owned(),
            identity: Arc::new(identity),
            _identity_rx: rx,
        })
    }

    /// Consumes until `stop`.
    pub async fn run(self, router: Arc<Router>, stop: CancellationToken) {
        let mut backoff = Backoff::new();
        loop {
            let stopped = tokio::select! {
                _ = stop.cancelled() => true,
                _ = self.consume(&router, &mut backoff) => false,
            };
            if stopped || !pause(backoff.delay(), &stop).await {
                return;
            }
        }
    }

    async fn consume(&self, router: &Router, backoff: &mut Backoff) {
        let connect = self.client.get_async_pubsub();
        let pubsub = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(err)) => {
                debug!(error = %err, "Socket.IO queue: cannot connect to Redis");
                return;
            }
            Err(_) => return,
        };
        let (mut sink, mut stream) = pubsub.split();
        if !matches!(
            tokio::time::timeout(CONNECT_TIMEOUT, sink.subscribe(&self.channel)).await,
            Ok(Ok(()))
        ) {
            return;
        }
        backoff.reset();
        info!(channel = self.channel, "Socket.IO queue: subscribed");
        while let Some(message) = stream.next().await {
            self.deliver(router, message.get_payload_bytes());
        }
        warn!(
            channel = self.channel,
            "Socket.IO queue: Redis connection lost; reconnecting"
        );
    }

    fn deliver(&self, router: &Router, payload: &[u8]) {
        let metrics = router.metrics();
        if payload.len() > MAX_MESSAGE {
            metrics.socketio_queue_message("too_large");
            return;
        }
        let emit = match queue::decode(payload) {
            Ok((QueueMessage::Emit(emit), _)) => emit,
            Ok((QueueMessage::Other(_), _)) => {
                metrics.socketio_queue_message("ignored");
                return;
            }
            Err(err) => {
                metrics.socketio_queue_message("invalid");
                crate::router::log_budget::connection_warning(|suppressed| {
                    info!(suppressed, "Socket.IO queue message dropped: {err}");
                });
                return;
            }
        };
        let Some(realm) = router.default_realm() else {
            return;
        };
        let topics: Vec<String> = match &emit.rooms {
            None => vec![mapping::emit_topic(&emit.namespace, None, &emit.event)],
            Some(rooms) => rooms
                .iter()
                .map(|room| mapping::emit_topic(&emit.namespace, Some(room), &emit.event))
                .collect(),
        };
        let mut options = Dict::new();
        let skipped = router.socketio_sids().sessions(&emit.skip_sids);
        if !skipped.is_empty() {
            options.insert(
                "exclude".into(),
                Value::List(skipped.into_iter().map(Value::UInt).collect()),
            );
        }
        let actor = Actor::publisher(realm, &self.identity, false);
        for topic in &topics {
            let request = PublishRequest {
                topic,
                args: &emit.args,
                kwargs: &Dict::new(),
                options: &options,
                any_topic: false,
                v1_payload: None,
            };
            match router.op_publish_local(actor, request) {
                Ok(_) => metrics.socketio_queue_message("published"),
                Err(refusal) => {
                    metrics.socketio_queue_message("refused");
                    crate::router::log_budget::connection_warning(|suppressed| {
                        info!(
                            suppressed,
                            topic, "Socket.IO queue emit refused: {}", refusal.message
                        );
                    });
                }
            }
        }
    }
}
