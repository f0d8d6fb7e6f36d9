//! Every variable wampd reads, declared once: name, aliases, kind, default and the operator's doc line.
//!
//! The table is the one place a setting is declared. The name constants the parser uses are generated from it,
//! so a variable cannot be parsed without being listed; the unknown-variable warning
//! ([`super::unknown`]), `config:check` (whose rows must match the table, name for name) and the completeness
//! checks of `.env-app.dist` and `docs/configuration.md` all read it; and each row's [`Kind`] says what the
//! value must look like, which a unit test holds the parser to (a value the kind rejects must stop start-up
//! naming the variable). Parsing into typed [`Settings`](super::Settings) and the checks that relate two
//! variables stay in `settings.rs`, which takes every name from here.
//!
//! Where a change goes: a new setting is one row below, then its field in `Settings`, its line in
//! `Settings::from_env` and in `describe` (config:check), a line in `.env-app.dist` and a row in
//! `docs/configuration.md`; the unit tests name whichever of those is missing.

use std::time::Duration;

use wampd_proto::dsn::Dsn;
use wampd_proto::units::{parse_bool, parse_duration, parse_size};

use super::settings::{
    DEFAULT_BACKEND_DSN, DEFAULT_DEMO_AUTOBAHN_URL, DEFAULT_FRONTEND_DSN, DEFAULT_REALM,
    DEFAULT_SERVER_DSN,
};

/// One variable wampd reads.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The variable's name.
    pub name: &'static str,
    /// Other names read, in order, when `name` is not set (Oro's spellings).
    pub aliases: &'static [&'static str],
    /// What the value must look like.
    pub kind: Kind,
    /// The default, written as `.env-app.dist` and `docs/configuration.md` show it.
    pub default: &'static str,
    /// One line for the operator.
    pub doc: &'static str,
}

/// What a setting's value must look like, before any check that involves another setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A DSN in Oro's grammar (PHP's `parse_url`).
    Dsn,
    /// A duration such as `25s`, `500ms`, `2m`.
    Duration,
    /// A size such as `1MiB`, `512K`, `1048576`.
    Size,
    /// A whole number.
    Count,
    /// `true/false`, `1/0`, `yes/no`, `on/off`.
    Bool,
    /// One of these words, in any case.
    Choice(&'static [&'static str]),
    /// A comma-separated list.
    List,
    /// A secret: never shown, only whether it is set.
    Secret,
    /// A file path.
    Path,
    /// Free text, checked by its parser.
    Text,
}

impl Kind {
    /// Checks `value` against the kind. Empty means "the default" for every kind.
    pub fn check(self, value: &str) -> Result<(), String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(());
        }
        match self {
            Kind::Dsn => Dsn::parse(value).map(drop),
            Kind::Duration => parse_duration(value).map(|_: Duration| ()),
            Kind::Size => parse_size(value).map(drop),
            Kind::Count => value
                .parse::<u64>()
                .map(drop)
                .map_err(|_| "a whole number".to_string()),
            Kind::Bool => parse_bool(value).map(drop),
            Kind::Choice(words) => {
                if words.iter().any(|w| w.eq_ignore_ascii_case(value)) {
                    Ok(())
                } else {
                    Err(format!("one of {}", words.join(", ")))
                }
            }
            Kind::List | Kind::Secret | Kind::Path | Kind::Text => Ok(()),
        }
    }
}

/// Generates a `pub const NAME: &str = "NAME"` for every name and alias, and [`SETTINGS`].
macro_rules! settings_table {
    ($( $name:ident $([$($alias:ident),+])? : $kind:expr, $default:expr, $doc:literal; )*) => {
        $(
            #[doc = $doc]
            pub const $name: &str = stringify!($name);
            $($(
                #[doc = concat!("Another name for [`", stringify!($name), "`], read when that is not set.")]
                pub const $alias: &str = stringify!($alias);
            )+)?
        )*

        /// Every setting, in the order `config:check` shows them.
        pub const SETTINGS: &[Setting] = &[
            $( Setting {
                name: $name,
                aliases: &[$($($alias),+)?],
                kind: $kind,
                default: $default,
                doc: $doc,
            }, )*
        ];
    };
}

settings_table! {
    WEBSOCKET_SERVER_DSN [ORO_WEBSOCKET_SERVER_DSN]: Kind::Dsn, DEFAULT_SERVER_DSN,
        "address the server listens on; only host and port are used; empty = websockets off";
    WEBSOCKET_FRONTEND_DSN [ORO_WEBSOCKET_FRONTEND_DSN]: Kind::Dsn, DEFAULT_FRONTEND_DSN,
        "URL browsers connect to (host * = the page's host); empty = not configured";
    WEBSOCKET_BACKEND_DSN [ORO_WEBSOCKET_BACKEND_DSN]: Kind::Dsn, DEFAULT_BACKEND_DSN,
        "where Oro's PHP backend connects to publish; empty = not configured";
    WEBSOCKET_REALMS: Kind::List, DEFAULT_REALM,
        "comma-separated WAMP realms served; no spaces, '#' or empty parts, no wamp. prefix";
    WEBSOCKET_LOG_FORMAT: Kind::Choice(&["text", "human", "json"]), "text",
        "log line format on stdout: text (alias human) or json (one object per line)";
    WEBSOCKET_URI_CHECK: Kind::Choice(&["loose", "strict"]), "loose",
        "WAMP URI validation for topics and procedures: loose or strict";
    WEBSOCKET_PING_INTERVAL: Kind::Duration, "25s",
        "WebSocket ping to idle peers every this long; 0 disables pings";
    WEBSOCKET_PING_TIMEOUT: Kind::Duration, "20s",
        "a peer silent for ping interval + this long is disconnected";
    WEBSOCKET_MAX_MESSAGE_SIZE: Kind::Size, "1MiB",
        "largest WebSocket message accepted, 512 bytes to 16MiB";
    WEBSOCKET_HANDSHAKE_TIMEOUT: Kind::Duration, "10s",
        "time from TCP accept to a finished WebSocket upgrade; more than 0";
    WEBSOCKET_HELLO_TIMEOUT: Kind::Duration, "10s",
        "time from the WebSocket upgrade to the WAMP HELLO; more than 0";
    WEBSOCKET_MAX_CONNECTIONS: Kind::Count, "10000",
        "most simultaneous connections; more are refused";
    WEBSOCKET_MAX_CONNECTIONS_PER_IP: Kind::Count, "256",
        "most simultaneous connections from one client address (loopback exempt); 0 = unlimited";
    WEBSOCKET_OUTBOUND_QUEUE_MESSAGES: Kind::Count, "4096",
        "most messages queued for one slow peer before it is disconnected";
    WEBSOCKET_OUTBOUND_QUEUE_BYTES: Kind::Size, "8MiB",
        "most bytes queued for one slow peer; at least WEBSOCKET_MAX_MESSAGE_SIZE";
    WEBSOCKET_RETAIN_TOPICS: Kind::List, "",
        "topics whose every publication is retained, for clients that cannot ask (WAMP v1, Socket.IO, HTTP): exact topics, or prefixes ending in *; their subscribers get the retained event on subscribe";
    WEBSOCKET_RETAINED_TOPICS: Kind::Count, "10000",
        "most topics per realm that keep a retained event (PUBLISH with retain: true); events for further topics are delivered but not retained";
    WEBSOCKET_RETAINED_BYTES: Kind::Size, "64MiB",
        "most payload bytes per realm of retained events; one that does not fit is delivered but not retained, and the topic's older one is dropped";
    WEBSOCKET_HISTORY_TOPICS: Kind::List, "",
        "topics that keep an event history for wamp.subscription.get_events and for recovery after a reconnect: pattern[=size[/age]] entries, exact topics or prefixes ending in *, size up to 1000000 events (default 1000), age a duration (default: none); the first matching entry decides";
    WEBSOCKET_HISTORY_STREAMS: Kind::Count, "10000",
        "most topics per realm with a history stream; publications to further topics are delivered without history";
    WEBSOCKET_HISTORY_BYTES: Kind::Size, "64MiB",
        "most payload bytes per realm of event history; an append that does not fit trims its own topic's oldest events first";
    WEBSOCKET_SHUTDOWN_TIMEOUT: Kind::Duration, "10s",
        "on SIGTERM/SIGINT, how long connections may drain before the process exits";
    WEBSOCKET_SLOW_CONSUMER_POLICY: Kind::Text, "disconnect",
        "events for a subscriber whose queue is full: disconnect, drop_oldest, drop_newest or latest; per realm as realm1=latest,*=disconnect";
    WEBSOCKET_MAX_URI_LENGTH: Kind::Count, "1024",
        "longest topic, procedure or pattern URI in bytes, 16 to 65536; longer ones get wamp.error.invalid_uri";
    WEBSOCKET_MAX_URI_COMPONENTS: Kind::Count, "64",
        "most dot-separated components in one URI, 1 to 1024; more get wamp.error.invalid_uri";
    WEBSOCKET_MAX_SUBSCRIPTIONS: Kind::Count, "1000",
        "most subscriptions one session may hold; more get wampd.error.limit_exceeded";
    WEBSOCKET_MAX_REGISTRATIONS: Kind::Count, "100",
        "most registrations one session may hold; more get wampd.error.limit_exceeded";
    WEBSOCKET_MAX_PENDING_CALLS: Kind::Count, "100",
        "most calls one caller may have waiting for a result; more get wampd.error.limit_exceeded";
    WEBSOCKET_MAX_PENDING_INVOCATIONS: Kind::Count, "1000",
        "most invocations one callee may leave unanswered; further calls to it get wamp.error.unavailable";
    WEBSOCKET_MAX_CALL_TIMEOUT: Kind::Duration, "5m",
        "ceiling on CALL.Options.timeout; longer timeouts are cut to it (calls without a timeout wait for their callee)";
    WEBSOCKET_BACKEND_MAX_MESSAGE_SIZE: Kind::Size, "16MiB",
        "largest message accepted from backend connections (the backend listener, local programs, holders of Oro's anonymous ticket), 512 bytes to 64MiB";
    WEBSOCKET_TICKET_SECRET: Kind::Secret, "",
        "secret signing wampd tickets (wampd ticket): enables ticket authentication in HELLO and ?ticket= on WAMP v2 upgrades; empty = off";
    WEBSOCKET_ANONYMOUS: Kind::Bool, "true",
        "allow anonymous authentication; false = every session must authenticate (ticket)";
    WEBSOCKET_AUTH_FAILURES_PER_MINUTE: Kind::Count, "10",
        "failed authentications allowed per client address per minute before it is refused for the rest of the minute (loopback exempt); 0 = unlimited";
    WEBSOCKET_ANONYMOUS_ROLE: Kind::Text, "anonymous",
        "auth role of anonymous sessions on the server listener";
    ORO_SECRET [WEBSOCKET_SECRET]: Kind::Secret, "",
        "Oro's kernel secret: WAMP v1 clients must present a valid Oro ticket signed with it (?ticket=...); empty = v1 clients are not authenticated";
    WEBSOCKET_ALLOWED_ORIGINS: Kind::List, "",
        "comma-separated hosts (or URLs) browsers may connect from besides localhost and 127.0.0.1, such as crm.example.com";
    WEBSOCKET_ORIGIN_MATCH: Kind::Choice(&["host", "exact"]), "host",
        "how an Origin is compared with WEBSOCKET_ALLOWED_ORIGINS: host (its host only, localhost and 127.0.0.1 always allowed, as Gos) or exact (the whole scheme://host[:port], nothing implicit, as Flask-SocketIO; wampd ws-emit)";
    WEBSOCKET_ORIGIN_CHECK: Kind::Bool, "true",
        "refuse WebSocket upgrades (403) whose Origin host is not allowed; requests without Origin (non-browser clients) pass";
    WEBSOCKET_V1: Kind::Bool, "true",
        "accept WAMP v1 clients (subprotocol wamp, or none offered) as Ratchet did; false = v2 only";
    WEBSOCKET_ORO_PING_INTERVAL: Kind::Duration, "50s",
        "period of the Connection keep alive event on oro/ping while it has subscribers; 0 disables it";
    WEBSOCKET_BACKEND_LISTEN: Kind::Choice(&["auto", "on", "true", "yes", "1", "off", "false", "no", "0"]), "auto",
        "listen on WEBSOCKET_BACKEND_DSN too when it is set and names another host:port: auto (skip, with a log line, when it points at a proxy or another machine), on (failing to is fatal) or off";
    WEBSOCKET_BACKEND_ROLE: Kind::Text, "backend",
        "auth role of sessions arriving on the backend listener (browsers on the server listener are anonymous)";
    WEBSOCKET_ESPOCRM_ROOT: Kind::Path, "",
        "EspoCRM profile: the Espo installation (holding command.php) whose configuration, categories and console checks wampd uses in place of Espo's websocket daemon (docs/espocrm.md); empty = off";
    WEBSOCKET_ESPOCRM_PHP: Kind::Text, "php",
        "PHP binary that runs Espo's command.php checks and reads its configuration (Espo's phpExecutablePath when set there)";
    WEBSOCKET_CONNECT_CHECK: Kind::Text, "",
        "external check of every WebSocket upgrade from a browser: exec:PROGRAM ARGS, sql:STATEMENT or an http(s):// URL, with the request's query parameters as :placeholders (docs/security.md); empty = none";
    WEBSOCKET_CONNECT_CHECK_EXPECT: Kind::Text, "",
        "what the connect check must print (trimmed), with :placeholders, such as :userId; empty = exit status 0 or HTTP 2xx suffices";
    WEBSOCKET_CONNECT_CHECK_AUTHID: Kind::Text, ":userId",
        "the authid of a session the connect check admitted, with :placeholders";
    WEBSOCKET_CONNECT_CHECK_ROLE: Kind::Text, "user",
        "the auth role of a session the connect check admitted";
    WEBSOCKET_SUBSCRIBE_CHECK: Kind::Text, "",
        "external check of every subscription (backend role exempt): exec:PROGRAM ARGS, sql:STATEMENT or an http(s):// URL, with :topic, :authid and :authrole; empty = none";
    WEBSOCKET_SUBSCRIBE_CHECK_EXPECT: Kind::Text, "",
        "what the subscribe check must print (trimmed), such as true; empty = exit status 0 or HTTP 2xx suffices";
    WEBSOCKET_CHECK_DIR: Kind::Path, "",
        "working directory of exec: checks; empty = the router's";
    WEBSOCKET_CHECK_TIMEOUT: Kind::Duration, "5s",
        "longest an external check may take, waiting included; a check without an answer refuses";
    WEBSOCKET_CHECK_CONCURRENCY: Kind::Count, "8",
        "external checks running at once (processes or HTTP requests)";
    WEBSOCKET_CHECK_QUEUE: Kind::Count, "1000",
        "external checks waiting for a free slot; more are refused at once";
    WEBSOCKET_CHECK_CACHE_TTL: Kind::Duration, "30s",
        "how long a passing check is remembered (refusals never are); identical checks running at once share one run; 0 = no cache";
    WEBSOCKET_V1_PING_INTERVAL: Kind::Duration, "0",
        "WebSocket ping to WAMP v1 peers every this long, with the WEBSOCKET_PING_TIMEOUT dead-peer rule; 0 = none (Ratchet and Oro's PHP client; the EspoCRM profile uses 60s)";
    WEBSOCKET_ZMQ_DSN: Kind::Dsn, "",
        "ZeroMQ PULL socket that backends PUSH publications to, such as tcp://127.0.0.1:5555 (tcp://*:7777 = every interface); empty = off";
    WEBSOCKET_ZMQ_FORMAT: Kind::Choice(&["publish", "espocrm"]), "publish",
        "what a ZeroMQ message holds: publish (the POST /publish body) or espocrm (EspoCRM's {topicId, userId, ...} push)";
    WEBSOCKET_ZMQ_MAX_CONNECTIONS: Kind::Count, "256",
        "most ZeroMQ PUSH peers connected at once; more are closed at once";
    WEBSOCKET_SOCKETIO_QUEUE: Kind::Dsn, "",
        "the Flask-SocketIO / python-socketio Redis message queue to consume, such as redis://127.0.0.1:6379/0: every emit on it reaches this node's Socket.IO clients and WAMP subscribers (docs/socketio.md); empty = none";
    WEBSOCKET_SOCKETIO_CHANNEL: Kind::Text, "flask-socketio",
        "the queue's Redis channel: flask-socketio (Flask-SocketIO) or socketio (plain python-socketio)";
    WEBSOCKET_EMIT_SECRET: Kind::Secret, "",
        "ws-emit's POST /emit secret ({event, room, data, namespace, secret} in the body): set = the endpoint exists; empty = 404";
    WEBSOCKET_PUBLISH_SECRET: Kind::Secret, "",
        "shared secret for POST /publish (Authorization: Bearer SECRET) and request signing; empty = HTTP publish only from loopback addresses";
    WEBSOCKET_PUBLISH_REQUIRE_SIGNATURE: Kind::Bool, "false",
        "when true, POST /publish must carry X-Wampd-Timestamp and X-Wampd-Signature (HMAC-SHA256) instead of the bearer secret";
    WEBSOCKET_PUBLISH_SIGNATURE_WINDOW: Kind::Duration, "300s",
        "how far a signed request's timestamp may be from the router's clock";
    WEBSOCKET_PUBLISH_MAX_BODY: Kind::Size, "4MiB",
        "largest POST /publish body; larger requests get 413";
    WEBSOCKET_PUBLISH_CONCURRENCY: Kind::Count, "64",
        "POST /publish requests processed at once; more get 503 with Retry-After";
    WEBSOCKET_METRICS_DSN: Kind::Dsn, "",
        "separate listener for /metrics, /health and /ready such as //127.0.0.1:9100; empty = served on the server DSN's listener";
    WEBSOCKET_AUTHORIZATION_DEFAULT: Kind::Choice(&["standard", "open", "deny"]), "standard",
        "what sessions may do when no rule of WEBSOCKET_AUTHORIZATION_FILE names their role: standard (browsers subscribe and call, the backend role does everything), open (everything) or deny (nothing)";
    WEBSOCKET_AUTHORIZATION_FILE: Kind::Path, "",
        "TOML file of authorization rules, WAMP-CRA users, static WAMP-Ticket and cryptosign principals and per-realm anonymous settings (docs/security.md); empty = none";
    WEBSOCKET_DATABASE_DSN [ORO_DB_DSN, ORO_DB_URL]: Kind::Dsn, "",
        "the application's PostgreSQL or MySQL/MariaDB database such as postgres://oro:pass@127.0.0.1:5432/oro or mysql://espo:pass@127.0.0.1:3306/espocrm, where Oro named tickets are checked against oro_user and sql: checks run; empty = named tickets refused";
    WEBSOCKET_ORO_USER_CACHE_TTL: Kind::Duration, "60s",
        "how long an Oro user's id and password hash read from the database are cached (unknown users: a tenth of it); 0 = no cache";
    WEBSOCKET_CLUSTER_DSN: Kind::Dsn, "",
        "cluster mode: Redis backplane such as redis://127.0.0.1:6379/0 or rediss://:pass@host:6380/0; publications reach subscribers on every node (docs/clustering.md); empty = single node";
    WEBSOCKET_CLUSTER_CHANNEL_PREFIX: Kind::Text, "wampd",
        "prefix of the cluster's Redis channel names (letters, digits, . _ - :), so several clusters can share one Redis";
    WEBSOCKET_TRUSTED_PROXIES: Kind::List, "",
        "comma-separated proxy addresses or CIDR networks (such as 127.0.0.1,10.0.0.0/8) whose X-Forwarded-For, X-Real-IP or Forwarded header names the real client for logs, limits and the loopback rules; empty = trust none";
    WEBSOCKET_DEMO: Kind::Bool, "false",
        "serve a small demo page at / (and any path ending in /) that subscribes to wampd.demo.time and wampd.demo.notifications; the router publishes the time every second while it is on, and wampd.demo.notifications keeps a history of 100 events (unless WEBSOCKET_HISTORY_TOPICS covers it) so the page recovers what it missed while reconnecting";
    WEBSOCKET_DEMO_AUTOBAHN_URL: Kind::Text, DEFAULT_DEMO_AUTOBAHN_URL,
        "where the demo page loads autobahn-browser from: an http(s) URL or a path on the page's host";
}

/// Every name wampd reads, aliases included.
pub fn known_names() -> impl Iterator<Item = &'static str> {
    SETTINGS
        .iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
}

#[cfg(test)]
mod tests;
