//! `wampd config:check`: the settings as an operator reads them, one (variable, value) row per
//! row of the settings table, secrets masked, durations and sizes in the units they are written in.

use std::time::Duration;

use super::limits;
use super::settings::Settings;
use super::table::*;
use wampd_proto::dsn::{mask_dsn_text, Dsn};

impl Settings {
    /// (name, value) rows for `wampd config:check`, secrets masked, every setting including defaults, each naming the variable it came from
    ///
    /// Rows are named by the `WEBSOCKET_*` variable even when its `ORO_WEBSOCKET_*` alias supplied the value.
    /// The server DSN row also shows the effective listen address (after `-a`/`-p`).
    pub fn describe(&self) -> Vec<(String, String)> {
        let optional = |dsn: &Option<Dsn>| {
            dsn.as_ref()
                .map_or_else(|| "(not configured)".to_string(), Dsn::display_masked)
        };
        let ping_interval = if self.ping_interval.is_zero() {
            "0 (pings disabled)".to_string()
        } else {
            format_duration(self.ping_interval)
        };
        let rows = [
            (
                WEBSOCKET_SERVER_DSN,
                format!(
                    "{} (listening on {})",
                    self.server_dsn.display_masked(),
                    self.server_dsn.socket_addr_string()
                ),
            ),
            (WEBSOCKET_FRONTEND_DSN, optional(&self.frontend_dsn)),
            (WEBSOCKET_BACKEND_DSN, optional(&self.backend_dsn)),
            (WEBSOCKET_REALMS, self.realms.join(",")),
            (WEBSOCKET_LOG_FORMAT, self.log_format.as_str().to_string()),
            (WEBSOCKET_URI_CHECK, self.uri_check.as_str().to_string()),
            (WEBSOCKET_PING_INTERVAL, ping_interval),
            (WEBSOCKET_PING_TIMEOUT, format_duration(self.ping_timeout)),
            (
                WEBSOCKET_MAX_MESSAGE_SIZE,
                format_size(self.max_message_size),
            ),
            (
                WEBSOCKET_HANDSHAKE_TIMEOUT,
                format_duration(self.handshake_timeout),
            ),
            (WEBSOCKET_HELLO_TIMEOUT, format_duration(self.hello_timeout)),
            (WEBSOCKET_MAX_CONNECTIONS, self.max_connections.to_string()),
            (
                WEBSOCKET_MAX_CONNECTIONS_PER_IP,
                self.max_connections_per_ip.to_string(),
            ),
            (
                WEBSOCKET_OUTBOUND_QUEUE_MESSAGES,
                self.outbound_queue_messages.to_string(),
            ),
            (
                WEBSOCKET_OUTBOUND_QUEUE_BYTES,
                format_size(self.outbound_queue_bytes),
            ),
            (WEBSOCKET_RETAIN_TOPICS, self.retain_topics.to_string()),
            (WEBSOCKET_RETAINED_TOPICS, self.retained_topics.to_string()),
            (WEBSOCKET_RETAINED_BYTES, format_size(self.retained_bytes)),
            (WEBSOCKET_HISTORY_TOPICS, self.history.topics.to_string()),
            (WEBSOCKET_HISTORY_STREAMS, self.history.streams.to_string()),
            (WEBSOCKET_HISTORY_BYTES, format_size(self.history.bytes)),
            (
                WEBSOCKET_SHUTDOWN_TIMEOUT,
                format_duration(self.shutdown_timeout),
            ),
            (
                WEBSOCKET_SLOW_CONSUMER_POLICY,
                self.slow_consumer.describe(),
            ),
        ];
        let rows = rows
            .into_iter()
            .chain(limits::describe(
                &self.limits,
                self.backend_max_message_size,
            ))
            .chain([
                (
                    WEBSOCKET_TICKET_SECRET,
                    if self.ticket_secret.is_some() {
                        "*** (set)".to_string()
                    } else {
                        "(not set: ticket authentication off)".to_string()
                    },
                ),
                (WEBSOCKET_ANONYMOUS, self.anonymous.to_string()),
                (
                    WEBSOCKET_AUTH_FAILURES_PER_MINUTE,
                    self.auth_failures_per_minute.to_string(),
                ),
                (WEBSOCKET_ANONYMOUS_ROLE, self.anonymous_role.clone()),
                (
                    ORO_SECRET,
                    if self.oro_secret.is_some() {
                        "*** (set)".to_string()
                    } else {
                        "(not set: WAMP v1 clients are not authenticated)".to_string()
                    },
                ),
                (WEBSOCKET_ALLOWED_ORIGINS, {
                    let implicit = self.origin_match.implicit_hosts().iter().copied();
                    let listed = self.allowed_origins.iter().map(String::as_str);
                    implicit.chain(listed).collect::<Vec<_>>().join(",")
                }),
                (
                    WEBSOCKET_ORIGIN_MATCH,
                    self.origin_match.as_str().to_string(),
                ),
                (WEBSOCKET_ORIGIN_CHECK, self.origin_check.to_string()),
                (WEBSOCKET_V1, self.v1.to_string()),
                (
                    WEBSOCKET_ORO_PING_INTERVAL,
                    format_duration(self.oro_ping_interval),
                ),
                (
                    WEBSOCKET_BACKEND_LISTEN,
                    self.backend_listen.as_str().to_string(),
                ),
                (WEBSOCKET_BACKEND_ROLE, self.backend_role.clone()),
            ])
            .chain(super::espocrm::describe(&self.espocrm))
            .chain(super::checks::describe(&self.checks))
            .chain([(
                WEBSOCKET_V1_PING_INTERVAL,
                if self.v1_ping_interval.is_zero() {
                    "0 (no pings to WAMP v1 peers)".to_string()
                } else {
                    format_duration(self.v1_ping_interval)
                },
            )])
            .chain(super::zmq::describe(
                self.zmq.as_ref(),
                self.backend_max_message_size,
            ))
            .chain(super::socketio::describe(&self.socketio))
            .chain([
                (
                    WEBSOCKET_PUBLISH_SECRET,
                    if self.publish.secret.is_some() {
                        "*** (set)".to_string()
                    } else {
                        "(not set: HTTP publish from loopback only)".to_string()
                    },
                ),
                (
                    WEBSOCKET_PUBLISH_REQUIRE_SIGNATURE,
                    self.publish.require_signature.to_string(),
                ),
                (
                    WEBSOCKET_PUBLISH_SIGNATURE_WINDOW,
                    format_duration(self.publish.signature_window),
                ),
                (
                    WEBSOCKET_PUBLISH_MAX_BODY,
                    format_size(self.publish.max_body),
                ),
                (
                    WEBSOCKET_PUBLISH_CONCURRENCY,
                    self.publish.concurrency.to_string(),
                ),
                (
                    WEBSOCKET_METRICS_DSN,
                    self.metrics_dsn.as_ref().map_or_else(
                        || "(served on the server DSN's listener)".to_string(),
                        |d| {
                            format!(
                                "{} (listening on {})",
                                d.display_masked(),
                                d.socket_addr_string()
                            )
                        },
                    ),
                ),
                (
                    WEBSOCKET_AUTHORIZATION_DEFAULT,
                    self.authorization_default.as_str().to_string(),
                ),
                (
                    WEBSOCKET_AUTHORIZATION_FILE,
                    self.authorization_file.as_ref().map_or_else(
                        || "(none)".to_string(),
                        |(path, file)| {
                            format!(
                                "{path} ({} rules, {} WAMP-CRA users, {} static ticket principals, {} cryptosign principals, {} realm settings)",
                                file.rules.len(),
                                file.users.len(),
                                file.tickets.len(),
                                file.cryptosign.len(),
                                file.realms.len()
                            )
                        },
                    ),
                ),
                (
                    WEBSOCKET_DATABASE_DSN,
                    self.database_dsn.as_deref().map_or_else(
                        || "(not set: Oro named tickets are refused)".to_string(),
                        mask_dsn_text,
                    ),
                ),
                (
                    WEBSOCKET_ORO_USER_CACHE_TTL,
                    format_duration(self.oro_user_cache_ttl),
                ),
                (
                    WEBSOCKET_CLUSTER_DSN,
                    self.cluster_dsn
                        .as_deref()
                        .map_or_else(|| "(not set: single node)".to_string(), mask_dsn_text),
                ),
                (
                    WEBSOCKET_CLUSTER_CHANNEL_PREFIX,
                    self.cluster_channel_prefix.clone(),
                ),
                (
                    WEBSOCKET_TRUSTED_PROXIES,
                    if self.trusted_proxies.is_empty() {
                        "(none: forwarding headers are ignored)".to_string()
                    } else {
                        self.trusted_proxies
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    },
                ),
                (WEBSOCKET_DEMO, self.demo.to_string()),
                (WEBSOCKET_DEMO_AUTOBAHN_URL, self.demo_autobahn_url.clone()),
            ]);
        rows.map(|(name, value)| (name.to_string(), value))
            .collect()
    }
}

/// A duration in the largest unit [`parse_duration`] reads back exactly: `25s`, `2m`, `1h`, `500ms`.
pub(super) fn format_duration(d: Duration) -> String {
    let millis = d.as_millis();
    match millis {
        0 => "0s".to_string(),
        m if m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{}m", m / 60_000),
        m if m % 1_000 == 0 => format!("{}s", m / 1_000),
        m => format!("{m}ms"),
    }
}

/// A size in the largest binary unit [`parse_size`] reads back exactly: `1MiB`, `64KiB`, `1000`.
pub(super) fn format_size(n: usize) -> String {
    match n {
        0 => "0".to_string(),
        n if n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
        n if n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
        n => n.to_string(),
    }
}
