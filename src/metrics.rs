//! Prometheus metrics: what the router is doing, in the OpenMetrics text format.
//!
//! One [`Metrics`] per server (tests run several servers in one process, each with its own
//! registry). Hot-path counters are plain atomics fetched once at start-up, never looked up by
//! label per message: deliveries are added once per publication, bytes once per written batch.
//! Queue-depth figures are computed when `/metrics` is scraped, by walking the live sessions, so
//! idle sessions cost nothing between scrapes.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use wampd_proto::wamp::message::code;

/// Labels of a session gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SessionLabels {
    /// `websocket` (later also `rawsocket`).
    pub transport: String,
    /// `wamp.2.json`, `wamp.2.msgpack`, …
    pub protocol: String,
    /// The realm joined.
    pub realm: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabel {
    check: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabel {
    policy: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DepthLabel {
    depth: String,
}

/// Message codes in a fixed order, so per-type counters live in an array indexed by code.
const TYPES: [(u64, &str); 24] = [
    (code::HELLO, "HELLO"),
    (code::WELCOME, "WELCOME"),
    (code::ABORT, "ABORT"),
    (code::CHALLENGE, "CHALLENGE"),
    (code::AUTHENTICATE, "AUTHENTICATE"),
    (code::GOODBYE, "GOODBYE"),
    (code::ERROR, "ERROR"),
    (code::PUBLISH, "PUBLISH"),
    (code::PUBLISHED, "PUBLISHED"),
    (code::SUBSCRIBE, "SUBSCRIBE"),
    (code::SUBSCRIBED, "SUBSCRIBED"),
    (code::UNSUBSCRIBE, "UNSUBSCRIBE"),
    (code::UNSUBSCRIBED, "UNSUBSCRIBED"),
    (code::EVENT, "EVENT"),
    (code::CALL, "CALL"),
    (code::CANCEL, "CANCEL"),
    (code::RESULT, "RESULT"),
    (code::REGISTER, "REGISTER"),
    (code::REGISTERED, "REGISTERED"),
    (code::UNREGISTER, "UNREGISTER"),
    (code::UNREGISTERED, "UNREGISTERED"),
    (code::INVOCATION, "INVOCATION"),
    (code::INTERRUPT, "INTERRUPT"),
    (code::YIELD, "YIELD"),
];

/// Upper bounds of the queue-depth buckets reported on scrape.
const DEPTH_BUCKETS: [(usize, &str); 5] = [
    (0, "0"),
    (15, "1-15"),
    (255, "16-255"),
    (4095, "256-4095"),
    (usize::MAX, "4096+"),
];

/// Every metric the server exports, with pre-resolved handles for the hot paths.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections: Family<TransportLabel, Gauge>,
    sessions: Family<SessionLabels, Gauge>,
    messages_in: Vec<Counter>,
    messages_out: Vec<Counter>,
    /// WebSocket payload bytes received.
    pub bytes_in: Counter,
    /// WebSocket payload bytes written.
    pub bytes_out: Counter,
    /// PUBLISH messages accepted.
    pub publishes: Counter,
    /// EVENTs queued for subscribers.
    pub deliveries: Counter,
    dropped: Family<PolicyLabel, Counter>,
    /// Sessions disconnected because they could not keep up.
    pub slow_consumer_disconnects: Counter,
    /// Failed authentications.
    pub auth_failures: Counter,
    /// Requests refused by authorization, by action.
    authorization_denials: Family<ActionLabel, Counter>,
    handshake_failures: Family<ReasonLabel, Counter>,
    /// Requests refused because they would exceed a limit, by limit.
    limit_refusals: Family<ReasonLabel, Counter>,
    zmq_messages: Family<OutcomeLabel, Counter>,
    socketio_queue_messages: Family<OutcomeLabel, Counter>,
    oro_ticket_digests: Family<OutcomeLabel, Counter>,
    external_checks: Family<CheckLabel, Counter>,
    /// Connections that ended without a close handshake (FIN or reset without a close frame).
    pub unclean_disconnects: Counter,
    /// Log lines one peer caused that were suppressed by the per-session warning budget.
    pub suppressed_log_lines: Counter,
    /// Seconds from receiving a PUBLISH to having queued every EVENT.
    pub publish_latency: Histogram,
    queue_depth: Family<DepthLabel, Gauge>,
    queue_depth_max: Gauge,
    /// 1 while both cluster backplane connections are up, 0 otherwise (and in single-node mode).
    pub cluster_connected: Gauge,
    /// Events and payload bytes held in event history, all realms.
    pub history: crate::router::history::Gauges,
    /// Publications handed to the cluster backplane and accepted by it.
    pub cluster_sent: Counter,
    /// Publications received from other nodes.
    pub cluster_received: Counter,
    /// Publications from other nodes dropped because this node's receive queue was full.
    pub cluster_receive_dropped: Counter,
    /// Publications that stayed local: backplane down, its queue full, or a send failed.
    pub cluster_dropped: Counter,
    /// Publications queued for the other nodes while the backplane was down.
    pub cluster_buffered: Counter,
    /// Times the cluster backplane was lost (or found unreachable at start-up).
    pub cluster_disconnects: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn type_index(code: u64) -> Option<usize> {
    TYPES.iter().position(|(c, _)| *c == code)
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("wampd");
        let connections = Family::<TransportLabel, Gauge>::default();
        registry.register(
            "connections",
            "Open client connections by transport",
            connections.clone(),
        );
        let sessions = Family::<SessionLabels, Gauge>::default();
        registry.register(
            "sessions",
            "Established WAMP sessions by transport, protocol and realm",
            sessions.clone(),
        );
        let messages_in_family = Family::<TypeLabel, Counter>::default();
        registry.register(
            "messages_received",
            "WAMP messages received by type",
            messages_in_family.clone(),
        );
        let messages_out_family = Family::<TypeLabel, Counter>::default();
        registry.register(
            "messages_sent",
            "WAMP messages queued for sending by type",
            messages_out_family.clone(),
        );
        let handles = |family: &Family<TypeLabel, Counter>| {
            TYPES
                .iter()
                .map(|(_, name)| {
                    family
                        .get_or_create(&TypeLabel {
                            r#type: (*name).to_owned(),
                        })
                        .clone()
                })
                .collect::<Vec<_>>()
        };
        let messages_in = handles(&messages_in_family);
        let messages_out = handles(&messages_out_family);
        let bytes_in = Counter::default();
        registry.register(
            "received_bytes",
            "WebSocket message payload bytes received",
            bytes_in.clone(),
        );
        let bytes_out = Counter::default();
        registry.register(
            "sent_bytes",
            "WebSocket message payload bytes written",
            bytes_out.clone(),
        );
        let publishes = Counter::default();
        registry.register("publishes", "Publications accepted", publishes.clone());
        let deliveries = Counter::default();
        registry.register(
            "deliveries",
            "Events queued for subscribers",
            deliveries.clone(),
        );
        let dropped = Family::<PolicyLabel, Counter>::default();
        registry.register(
            "dropped_events",
            "Events discarded by a slow-consumer policy",
            dropped.clone(),
        );
        let slow_consumer_disconnects = Counter::default();
        registry.register(
            "slow_consumer_disconnects",
            "Sessions disconnected because their outbound queue overflowed",
            slow_consumer_disconnects.clone(),
        );
        let auth_failures = Counter::default();
        registry.register(
            "authentication_failures",
            "Failed authentications",
            auth_failures.clone(),
        );
        let authorization_denials = Family::<ActionLabel, Counter>::default();
        registry.register(
            "authorization_denials",
            "Requests refused by authorization, by action (subscribe, publish, call, register)",
            authorization_denials.clone(),
        );
        let handshake_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "handshake_failures",
            "Connections refused or failed before a session was established, by reason",
            handshake_failures.clone(),
        );
        let limit_refusals = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "limit_refusals",
            "Requests refused because they would exceed a configured limit, by limit",
            limit_refusals.clone(),
        );
        let zmq_messages = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "zmq_messages",
            "Messages received on the ZeroMQ channel, by outcome (published, or why one was dropped)",
            zmq_messages.clone(),
        );
        let socketio_queue_messages = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "socketio_queue_messages",
            "Messages received from the Flask-SocketIO / python-socketio Redis queue, by outcome",
            socketio_queue_messages.clone(),
        );
        let oro_ticket_digests = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "oro_ticket_digests",
            "Oro ticket digests that passed, by how (computed: 5000 SHA-512 rounds; remembered: the ticket passed before)",
            oro_ticket_digests.clone(),
        );
        let external_checks = Family::<CheckLabel, Counter>::default();
        registry.register(
            "external_checks",
            "External checks answered (connect, subscribe), by outcome (allowed, denied, failed)",
            external_checks.clone(),
        );
        let unclean_disconnects = Counter::default();
        registry.register(
            "unclean_disconnects",
            "Connections that ended without a WebSocket close handshake (FIN or reset only)",
            unclean_disconnects.clone(),
        );
        let suppressed_log_lines = Counter::default();
        registry.register(
            "suppressed_log_lines",
            "Warnings caused by one peer beyond its budget, counted instead of logged",
            suppressed_log_lines.clone(),
        );
        let publish_latency = Histogram::new(exponential_buckets(0.000_005, 2.0, 16));
        registry.register(
            "publish_enqueue_seconds",
            "Time from receiving a PUBLISH to having queued every EVENT",
            publish_latency.clone(),
        );
        let queue_depth = Family::<DepthLabel, Gauge>::default();
        registry.register(
            "outbound_queue_depth_sessions",
            "Sessions by number of frames waiting in their outbound queue (at scrape time)",
            queue_depth.clone(),
        );
        let queue_depth_max = Gauge::default();
        registry.register(
            "outbound_queue_depth_max",
            "Largest outbound queue among live sessions (at scrape time)",
            queue_depth_max.clone(),
        );
        let history = crate::router::history::Gauges::default();
        registry.register(
            "history_events",
            "Events held in event history (WEBSOCKET_HISTORY_TOPICS), all realms",
            history.events.clone(),
        );
        registry.register(
            "history_bytes",
            "Payload bytes (as MessagePack) held in event history, all realms (bounded per realm by WEBSOCKET_HISTORY_BYTES)",
            history.bytes.clone(),
        );
        let cluster_connected = Gauge::default();
        registry.register(
            "cluster_connected",
            "1 while the cluster backplane (Redis) is connected; 0 when down or in single-node mode",
            cluster_connected.clone(),
        );
        let cluster_sent = Counter::default();
        registry.register(
            "cluster_publications_sent",
            "Publications (and messages of calls between nodes) sent to the other nodes through the cluster backplane",
            cluster_sent.clone(),
        );
        let cluster_received = Counter::default();
        registry.register(
            "cluster_publications_received",
            "Publications (and messages of calls between nodes) received from other nodes through the cluster backplane",
            cluster_received.clone(),
        );
        let cluster_receive_dropped = Counter::default();
        registry.register(
            "cluster_receive_dropped",
            "Publications from other nodes dropped because this node could not deliver them as fast as they arrived (receive queue full)",
            cluster_receive_dropped.clone(),
        );
        let cluster_dropped = Counter::default();
        registry.register(
            "cluster_publications_dropped",
            "Publications delivered locally only: the backplane's queue was full, or Redis refused their batch",
            cluster_dropped.clone(),
        );
        let cluster_buffered = Counter::default();
        registry.register(
            "cluster_publications_buffered",
            "Publications queued for the other nodes while the backplane was down, sent in order when it came back",
            cluster_buffered.clone(),
        );
        let cluster_disconnects = Counter::default();
        registry.register(
            "cluster_disconnects",
            "Times the cluster backplane connection was lost or found unreachable",
            cluster_disconnects.clone(),
        );
        Metrics {
            cluster_connected,
            cluster_sent,
            cluster_received,
            cluster_receive_dropped,
            cluster_dropped,
            cluster_buffered,
            cluster_disconnects,
            registry,
            connections,
            sessions,
            messages_in,
            messages_out,
            bytes_in,
            bytes_out,
            publishes,
            deliveries,
            dropped,
            slow_consumer_disconnects,
            auth_failures,
            authorization_denials,
            handshake_failures,
            limit_refusals,
            zmq_messages,
            socketio_queue_messages,
            oro_ticket_digests,
            external_checks,
            unclean_disconnects,
            suppressed_log_lines,
            publish_latency,
            queue_depth,
            queue_depth_max,
            history,
        }
    }

    /// Counts a received message of type `code`.
    pub fn message_in(&self, code: u64) {
        if let Some(counter) = type_index(code).and_then(|i| self.messages_in.get(i)) {
            counter.inc();
        }
    }

    /// Counts `n` queued messages of type `code`.
    pub fn messages_out(&self, code: u64, n: u64) {
        if let Some(counter) = type_index(code).and_then(|i| self.messages_out.get(i)) {
            counter.inc_by(n);
        }
    }

    /// The open-connections gauge of `transport`.
    pub fn connection_gauge(&self, transport: &str) -> Gauge {
        self.connections
            .get_or_create(&TransportLabel {
                transport: transport.to_owned(),
            })
            .clone()
    }

    /// The established-sessions gauge for these labels.
    pub fn session_gauge(&self, labels: &SessionLabels) -> Gauge {
        self.sessions.get_or_create(labels).clone()
    }

    /// Counts a request refused by authorization, by action.
    pub fn authorization_denied(&self, action: &str) {
        self.authorization_denials
            .get_or_create(&ActionLabel {
                action: action.to_owned(),
            })
            .inc();
    }

    /// Counts a request refused by a limit (`uri_length`, `subscriptions`, …).
    pub fn limit_refused(&self, limit: &str) {
        self.limit_refusals
            .get_or_create(&ReasonLabel {
                reason: limit.to_owned(),
            })
            .inc();
    }

    /// Counts a message received on the ZeroMQ channel with its outcome (`published`,
    /// `no_topic`, `category`, `invalid`, `refused`, `multipart`, `too_large`).
    pub fn zmq_message(&self, outcome: &str) {
        self.zmq_messages
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts a message from the Socket.IO queue with its outcome (`published` per topic,
    /// `ignored`, `invalid`, `refused`, `too_large`).
    pub fn socketio_queue_message(&self, outcome: &str) {
        self.socketio_queue_messages
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts an Oro ticket digest that passed: `computed` or `remembered`
    /// ([`crate::oro::verified_tickets`]).
    pub fn oro_ticket_digest(&self, outcome: &str) {
        self.oro_ticket_digests
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts an external check's answer.
    pub fn external_check(&self, check: &str, outcome: &str) {
        self.external_checks
            .get_or_create(&CheckLabel {
                check: check.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts a connection refused or failed before its session was established.
    pub fn handshake_failure(&self, reason: &str) {
        self.handshake_failures
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The dropped-events counter of `policy`.
    pub fn dropped_counter(&self, policy: &str) -> Counter {
        self.dropped
            .get_or_create(&PolicyLabel {
                policy: policy.to_owned(),
            })
            .clone()
    }

    /// Renders every metric, after refreshing the queue-depth figures from `depths`.
    pub fn render(&self, depths: impl IntoIterator<Item = usize>) -> String {
        let mut counts = [0i64; DEPTH_BUCKETS.len()];
        let mut max = 0usize;
        for depth in depths {
            max = max.max(depth);
            if let Some(i) = DEPTH_BUCKETS.iter().position(|(upper, _)| depth <= *upper) {
                counts[i] += 1;
            }
        }
        for ((_, label), count) in DEPTH_BUCKETS.iter().zip(counts) {
            self.queue_depth
                .get_or_create(&DepthLabel {
                    depth: (*label).to_owned(),
                })
                .set(count);
        }
        self.queue_depth_max
            .set(i64::try_from(max).unwrap_or(i64::MAX));
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_openmetrics_with_typed_counters() {
        let m = Metrics::new();
        m.message_in(code::PUBLISH);
        m.messages_out(code::EVENT, 3);
        m.deliveries.inc_by(3);
        m.handshake_failure("bad_subprotocol");
        m.dropped_counter("drop_oldest").inc();
        let text = m.render([0, 3, 300]);
        for needle in [
            "wampd_messages_received_total{type=\"PUBLISH\"} 1",
            "wampd_messages_sent_total{type=\"EVENT\"} 3",
            "wampd_deliveries_total 3",
            "wampd_handshake_failures_total{reason=\"bad_subprotocol\"} 1",
            "wampd_dropped_events_total{policy=\"drop_oldest\"} 1",
            "wampd_outbound_queue_depth_sessions{depth=\"1-15\"} 1",
            "wampd_outbound_queue_depth_max 300",
            "# EOF",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
    }
}
