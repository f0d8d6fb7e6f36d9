//! Oro's `oro/ping` keep-alive: while the topic has subscribers, the router publishes
//! `"Connection keep alive"` to it every 50 seconds (Oro's `WebsocketPingTopic`).
//!
//! Oro's browsers subscribe to it so that proxies (`proxy_read_timeout`) never see an idle socket:
//! WAMP v1 clients get no WebSocket pings from wampd, exactly as from Ratchet. Publishing to a
//! topic nobody subscribes to costs one index lookup, so the timer simply runs.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::oro::topics::{PING_PAYLOAD, PING_TOPIC};
use crate::router::handle::SessionHandle;
use crate::router::publisher::PublishRequest;
use crate::router::Router;
use wampd_proto::wamp::{Dict, Value};

/// Publishes the keep-alive every `interval` until `stop` is cancelled.
pub async fn run(router: Arc<Router>, interval: Duration, stop: CancellationToken) {
    let (identity, _rx) = SessionHandle::internal();
    let args = [Value::from(PING_PAYLOAD)];
    let kwargs = Dict::new();
    let options = Dict::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        for realm in router.realms() {
            let request = PublishRequest {
                topic: PING_TOPIC,
                args: &args,
                kwargs: &kwargs,
                options: &options,
                any_topic: false,
                v1_payload: None,
            };
            if let Ok((_, stats)) = router.publish_local(realm, &identity, request) {
                if stats.delivered > 0 {
                    debug!(
                        realm = realm.name(),
                        subscribers = stats.delivered,
                        "oro/ping keep-alive sent"
                    );
                }
            }
        }
    }
}
