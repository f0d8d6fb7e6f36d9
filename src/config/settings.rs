//! The validated settings the server runs with, built from the merged environment.
//!
//! All validation happens here, once, at startup: the server gets plain typed values and never has to wonder
//! whether a timeout is zero or a queue smaller than the largest message. Every knob has a safe default, so an
//! Oro install that only sets the three DSNs (or only `ORO_*` ones) works unchanged; an empty value means
//! "default" too, because `.env` templates are full of `NAME=` lines. The three DSNs follow Oro's rules
//! (oro-gos §2): unset means Oro's application default, set-but-empty means "websockets are off".
//!
//! Every variable is declared once, in [`super::table`] (name, aliases, kind, default, doc line); this file
//! turns the values into typed settings and checks what relates two of them.

use std::time::Duration;

use super::choices::{BackendListen, LogFormat, OriginMatch, SlowConsumerSettings, UriCheck};
use super::describe::format_size;
use super::env_files::EnvMap;
use super::error::ConfigError;
use super::ip_net::{parse_ip_nets, IpNet};
use super::limits::{self, DEFAULT_BACKEND_MAX_MESSAGE_SIZE};
use super::table::*;
use crate::auth::rules::{AuthFile, DefaultPolicy};
use wampd_proto::dsn::{mask_dsn_text, Dsn};
use wampd_proto::units::{parse_bool, parse_duration, parse_list, parse_size, parse_usize};
use wampd_proto::wamp::Limits;

/// Oro's application default for the server DSN.
pub const DEFAULT_SERVER_DSN: &str = "//0.0.0.0:8080";
/// Oro's application default for the frontend DSN.
pub const DEFAULT_FRONTEND_DSN: &str = "//*:8080/ws";
/// Oro's application default for the backend DSN.
pub const DEFAULT_BACKEND_DSN: &str = "tcp://127.0.0.1:8080";
/// The realm served when none is configured (what Oro's clients use).
pub const DEFAULT_REALM: &str = "realm1";
/// Default [`Settings::ping_interval`].
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(25);
/// Default [`Settings::ping_timeout`].
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Default [`Settings::max_message_size`] (1 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 20;
/// Smallest allowed [`Settings::max_message_size`].
pub const MIN_MESSAGE_SIZE: usize = 512;
/// Largest allowed [`Settings::max_message_size`] (16 MiB).
pub const MAX_MESSAGE_SIZE_LIMIT: usize = 16 << 20;
/// Default [`Settings::handshake_timeout`].
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Settings::hello_timeout`].
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Settings::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default [`Settings::outbound_queue_messages`].
pub const DEFAULT_OUTBOUND_QUEUE_MESSAGES: usize = 4096;
/// Default [`Settings::outbound_queue_bytes`] (8 MiB).
pub const DEFAULT_OUTBOUND_QUEUE_BYTES: usize = 8 << 20;
/// Default [`Settings::shutdown_timeout`].
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Settings::demo_autobahn_url`]: autobahn-browser from jsDelivr's npm mirror.
pub const DEFAULT_DEMO_AUTOBAHN_URL: &str =
    "https://cdn.jsdelivr.net/npm/autobahn-browser@22.11.1/autobahn.min.js";

/// Everything the server is configured with, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen (host and port are used).
    pub server_dsn: Dsn,
    /// The browser-facing URL, `None` when set empty or not configured.
    pub frontend_dsn: Option<Dsn>,
    /// The PHP backend's connection target, `None` when set empty or not configured.
    pub backend_dsn: Option<Dsn>,
    /// WEBSOCKET_REALMS, default ["realm1"]; each a loose WAMP URI (no whitespace, '#', empty components), not starting with "wamp.".
    pub realms: Vec<String>,
    /// WEBSOCKET_LOG_FORMAT: text|json (also "human" = text), default text.
    pub log_format: LogFormat,
    /// WEBSOCKET_URI_CHECK: loose|strict, default loose.
    pub uri_check: UriCheck,
    /// WEBSOCKET_PING_INTERVAL, default 25s; 0 disables pings.
    pub ping_interval: Duration,
    /// WEBSOCKET_PING_TIMEOUT, default 20s: a peer silent for ping_interval+ping_timeout is dead.
    pub ping_timeout: Duration,
    /// WEBSOCKET_MAX_MESSAGE_SIZE, default 1 MiB; min 512 bytes, max 16 MiB.
    pub max_message_size: usize,
    /// WEBSOCKET_HANDSHAKE_TIMEOUT, default 10s (TCP accept → WebSocket upgrade done); > 0.
    pub handshake_timeout: Duration,
    /// WEBSOCKET_HELLO_TIMEOUT, default 10s (upgrade → HELLO); > 0.
    pub hello_timeout: Duration,
    /// WEBSOCKET_MAX_CONNECTIONS, default 10000; > 0.
    pub max_connections: usize,
    /// WEBSOCKET_MAX_CONNECTIONS_PER_IP, default 256; 0 = unlimited.
    pub max_connections_per_ip: usize,
    /// WEBSOCKET_OUTBOUND_QUEUE_MESSAGES, default 4096; > 0.
    pub outbound_queue_messages: usize,
    /// WEBSOCKET_OUTBOUND_QUEUE_BYTES, default 8 MiB; >= max_message_size.
    pub outbound_queue_bytes: usize,
    /// WEBSOCKET_RETAINED_TOPICS, default 10,000: topics per realm with a retained event.
    pub retained_topics: usize,
    /// WEBSOCKET_RETAINED_BYTES, default 64 MiB: payload bytes per realm of retained events.
    pub retained_bytes: usize,
    /// WEBSOCKET_HISTORY_TOPICS, WEBSOCKET_HISTORY_STREAMS, WEBSOCKET_HISTORY_BYTES: the event
    /// history.
    pub history: crate::router::history::HistorySettings,
    /// WEBSOCKET_RETAIN_TOPICS: topics retained without the `retain` option.
    pub retain_topics: crate::router::retained::RetainTopics,
    /// WEBSOCKET_SHUTDOWN_TIMEOUT, default 10s: drain deadline on SIGTERM.
    pub shutdown_timeout: Duration,
    /// WEBSOCKET_SLOW_CONSUMER_POLICY, default disconnect for every realm.
    pub slow_consumer: SlowConsumerSettings,
    /// WEBSOCKET_METRICS_DSN: a separate listener for /metrics, /health and /ready; `None` = the
    /// server DSN's listener serves them.
    pub metrics_dsn: Option<Dsn>,
    /// HTTP publish settings.
    pub publish: PublishSettings,
    /// External checks (WEBSOCKET_CONNECT_CHECK, WEBSOCKET_SUBSCRIBE_CHECK, WEBSOCKET_CHECK_*).
    pub checks: super::checks::CheckSettings,
    /// WEBSOCKET_V1_PING_INTERVAL: pings to WAMP v1 peers; zero = none.
    pub v1_ping_interval: Duration,
    /// The EspoCRM profile (WEBSOCKET_ESPOCRM_*).
    pub espocrm: super::espocrm::EspoSettings,
    /// Socket.IO (WEBSOCKET_SOCKETIO_*).
    pub socketio: super::socketio::SocketIoSettings,
    /// The ZeroMQ backend channel (WEBSOCKET_ZMQ_*), `None` = off.
    pub zmq: Option<super::zmq::ZmqSettings>,
    /// True when the backend DSN came from a variable rather than Oro's default.
    pub backend_dsn_explicit: bool,
    /// WEBSOCKET_BACKEND_LISTEN.
    pub backend_listen: BackendListen,
    /// WEBSOCKET_BACKEND_ROLE.
    pub backend_role: String,
    /// ORO_SECRET (alias WEBSOCKET_SECRET).
    pub oro_secret: Option<String>,
    /// WEBSOCKET_TICKET_SECRET.
    pub ticket_secret: Option<String>,
    /// WEBSOCKET_ANONYMOUS.
    pub anonymous: bool,
    /// WEBSOCKET_ANONYMOUS_ROLE.
    pub anonymous_role: String,
    /// WEBSOCKET_AUTH_FAILURES_PER_MINUTE.
    pub auth_failures_per_minute: u32,
    /// WEBSOCKET_ALLOWED_ORIGINS, as written (hosts or URLs; origins in `exact` mode).
    pub allowed_origins: Vec<String>,
    /// WEBSOCKET_ORIGIN_MATCH.
    pub origin_match: OriginMatch,
    /// WEBSOCKET_ORIGIN_CHECK.
    pub origin_check: bool,
    /// WEBSOCKET_V1.
    pub v1: bool,
    /// WEBSOCKET_ORO_PING_INTERVAL (zero = off).
    pub oro_ping_interval: Duration,
    /// WEBSOCKET_AUTHORIZATION_DEFAULT.
    pub authorization_default: DefaultPolicy,
    /// WEBSOCKET_AUTHORIZATION_FILE: its path and parsed content.
    pub authorization_file: Option<(String, AuthFile)>,
    /// WEBSOCKET_DATABASE_DSN (or ORO_DB_DSN / ORO_DB_URL), checked to parse.
    pub database_dsn: Option<String>,
    /// WEBSOCKET_ORO_USER_CACHE_TTL.
    pub oro_user_cache_ttl: Duration,
    /// WEBSOCKET_CLUSTER_DSN: a `redis://` or `rediss://` URL; `None` = single node.
    pub cluster_dsn: Option<String>,
    /// WEBSOCKET_CLUSTER_CHANNEL_PREFIX.
    pub cluster_channel_prefix: String,
    /// WEBSOCKET_TRUSTED_PROXIES: TCP peers whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// WEBSOCKET_DEMO.
    pub demo: bool,
    /// WEBSOCKET_DEMO_AUTOBAHN_URL (checked to be safe inside an HTML attribute).
    pub demo_autobahn_url: String,
    /// WEBSOCKET_MAX_URI_LENGTH and the other per-session limits ([`limits`]).
    pub limits: Limits,
    /// WEBSOCKET_BACKEND_MAX_MESSAGE_SIZE: the message size limit of backend connections.
    pub backend_max_message_size: usize,
}

/// How `POST /publish` is authenticated and bounded.
#[derive(Clone, PartialEq, Eq)]
pub struct PublishSettings {
    /// WEBSOCKET_PUBLISH_SECRET; `None` = only loopback clients may publish over HTTP.
    pub secret: Option<String>,
    /// WEBSOCKET_PUBLISH_REQUIRE_SIGNATURE.
    pub require_signature: bool,
    /// WEBSOCKET_PUBLISH_SIGNATURE_WINDOW.
    pub signature_window: Duration,
    /// WEBSOCKET_PUBLISH_MAX_BODY.
    pub max_body: usize,
    /// WEBSOCKET_PUBLISH_CONCURRENCY.
    pub concurrency: usize,
}

impl std::fmt::Debug for PublishSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishSettings")
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("require_signature", &self.require_signature)
            .field("signature_window", &self.signature_window)
            .field("max_body", &self.max_body)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl Default for PublishSettings {
    fn default() -> Self {
        PublishSettings {
            secret: None,
            require_signature: false,
            signature_window: Duration::from_secs(300),
            max_body: 4 << 20,
            concurrency: 64,
        }
    }
}

impl Default for Settings {
    /// What [`Settings::from_env`] returns for an empty environment (Oro's application defaults).
    fn default() -> Settings {
        Settings {
            server_dsn: plain_dsn(DEFAULT_SERVER_DSN, "tcp", "0.0.0.0", ""),
            frontend_dsn: Some(plain_dsn(DEFAULT_FRONTEND_DSN, "tcp", "*", "ws")),
            backend_dsn: Some(plain_dsn(DEFAULT_BACKEND_DSN, "tcp", "127.0.0.1", "")),
            realms: vec![DEFAULT_REALM.to_string()],
            log_format: LogFormat::default(),
            uri_check: UriCheck::default(),
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_timeout: DEFAULT_PING_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: 256,
            outbound_queue_messages: DEFAULT_OUTBOUND_QUEUE_MESSAGES,
            outbound_queue_bytes: DEFAULT_OUTBOUND_QUEUE_BYTES,
            retained_topics: crate::router::retained::DEFAULT_RETAINED_TOPICS,
            retained_bytes: crate::router::retained::DEFAULT_RETAINED_BYTES,
            retain_topics: Default::default(),
            history: Default::default(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            slow_consumer: SlowConsumerSettings::default(),
            metrics_dsn: None,
            publish: PublishSettings::default(),
            checks: Default::default(),
            v1_ping_interval: Duration::ZERO,
            espocrm: Default::default(),
            socketio: Default::default(),
            zmq: None,
            backend_dsn_explicit: false,
            backend_listen: BackendListen::default(),
            backend_role: "backend".to_string(),
            oro_secret: None,
            ticket_secret: None,
            anonymous: true,
            anonymous_role: "anonymous".to_string(),
            auth_failures_per_minute: 10,
            allowed_origins: Vec::new(),
            origin_match: OriginMatch::Host,
            origin_check: true,
            v1: true,
            oro_ping_interval: Duration::from_secs(50),
            authorization_default: DefaultPolicy::Standard,
            authorization_file: None,
            database_dsn: None,
            oro_user_cache_ttl: Duration::from_secs(60),
            cluster_dsn: None,
            cluster_channel_prefix: "wampd".to_string(),
            trusted_proxies: Vec::new(),
            demo: false,
            demo_autobahn_url: DEFAULT_DEMO_AUTOBAHN_URL.to_string(),
            limits: Limits::default(),
            backend_max_message_size: DEFAULT_BACKEND_MAX_MESSAGE_SIZE,
        }
    }
}

/// A default DSN built directly (its text is known to parse to this; a test checks it).
fn plain_dsn(raw: &str, scheme: &str, host: &str, path: &str) -> Dsn {
    Dsn {
        scheme: scheme.to_string(),
        host: host.to_string(),
        port: 8080,
        path: path.to_string(),
        params: Default::default(),
        raw: raw.to_string(),
    }
}

impl Settings {
    /// Builds and validates the settings from the merged variables (see
    /// [`env_files::load`](super::env_files::load)).
    pub fn from_env(env: &EnvMap) -> Result<Settings, ConfigError> {
        // The EspoCRM profile turns Espo's own configuration into variables under `env`.
        let layered = crate::espocrm::config::with_profile(env).map_err(|why| {
            let root = env.get(WEBSOCKET_ESPOCRM_ROOT).cloned().unwrap_or_default();
            ConfigError::invalid(WEBSOCKET_ESPOCRM_ROOT, root, why)
        })?;
        let env = layered.as_ref().unwrap_or(env);
        let server_dsn = match dsn_variable(env, WEBSOCKET_SERVER_DSN, ORO_WEBSOCKET_SERVER_DSN) {
            None => Settings::default().server_dsn,
            Some((_, "")) => return Err(ConfigError::NotConfigured),
            Some((variable, value)) => {
                let dsn = parse_dsn(variable, value)?;
                if dsn.host == "null" {
                    return Err(ConfigError::NotConfigured);
                }
                if !dsn.is_configured() {
                    // Set, but not to anything a server can listen on (`foo`, `tcp://`): say
                    // which variable and what it should look like, not "not configured".
                    return Err(ConfigError::invalid(
                        variable,
                        value,
                        "a DSN with a host, such as //0.0.0.0:8080 or tcp://127.0.0.1:8080 (empty leaves the websocket server off)",
                    ));
                }
                dsn
            }
        };
        let defaults = Settings::default();
        let frontend_dsn = optional_dsn(
            env,
            WEBSOCKET_FRONTEND_DSN,
            ORO_WEBSOCKET_FRONTEND_DSN,
            defaults.frontend_dsn,
        )?;
        let backend_dsn = optional_dsn(
            env,
            WEBSOCKET_BACKEND_DSN,
            ORO_WEBSOCKET_BACKEND_DSN,
            defaults.backend_dsn,
        )?;

        let realms = knob(env, WEBSOCKET_REALMS, defaults.realms, parse_realms)?;
        let log_format = knob(
            env,
            WEBSOCKET_LOG_FORMAT,
            defaults.log_format,
            LogFormat::parse,
        )?;
        let uri_check = knob(
            env,
            WEBSOCKET_URI_CHECK,
            defaults.uri_check,
            UriCheck::parse,
        )?;

        let ping_interval = knob(
            env,
            WEBSOCKET_PING_INTERVAL,
            defaults.ping_interval,
            parse_duration,
        )?;
        let ping_timeout = knob(env, WEBSOCKET_PING_TIMEOUT, defaults.ping_timeout, |s| {
            let d = parse_duration(s)?;
            if d.is_zero() && !ping_interval.is_zero() {
                return Err(format!(
                    "a duration greater than 0 such as 20s while pings are on ({WEBSOCKET_PING_INTERVAL} is not 0)"
                ));
            }
            Ok(d)
        })?;

        let max_message_size = knob(
            env,
            WEBSOCKET_MAX_MESSAGE_SIZE,
            defaults.max_message_size,
            |s| {
                let n = parse_size(s)?;
                if (MIN_MESSAGE_SIZE..=MAX_MESSAGE_SIZE_LIMIT).contains(&n) {
                    Ok(n)
                } else {
                    Err("a size from 512 bytes to 16MiB such as 1MiB".to_string())
                }
            },
        )?;
        let handshake_timeout = knob(
            env,
            WEBSOCKET_HANDSHAKE_TIMEOUT,
            defaults.handshake_timeout,
            positive_duration,
        )?;
        let hello_timeout = knob(
            env,
            WEBSOCKET_HELLO_TIMEOUT,
            defaults.hello_timeout,
            positive_duration,
        )?;
        let max_connections = knob(
            env,
            WEBSOCKET_MAX_CONNECTIONS,
            defaults.max_connections,
            parse_usize,
        )?;
        let max_connections_per_ip = knob(
            env,
            WEBSOCKET_MAX_CONNECTIONS_PER_IP,
            defaults.max_connections_per_ip,
            |s| {
                s.parse::<usize>()
                    .map_err(|_| "a whole number such as 256 (0 = unlimited)".to_string())
            },
        )?;
        let outbound_queue_messages = knob(
            env,
            WEBSOCKET_OUTBOUND_QUEUE_MESSAGES,
            defaults.outbound_queue_messages,
            parse_usize,
        )?;
        let outbound_queue_bytes = knob(
            env,
            WEBSOCKET_OUTBOUND_QUEUE_BYTES,
            defaults.outbound_queue_bytes,
            parse_size,
        )?;
        if outbound_queue_bytes < max_message_size {
            // Checked outside `knob` because a too-small default can fail too (a large max message size).
            let shown = value_of(env, WEBSOCKET_OUTBOUND_QUEUE_BYTES)
                .map_or_else(|| format_size(outbound_queue_bytes), str::to_string);
            return Err(ConfigError::invalid(
                WEBSOCKET_OUTBOUND_QUEUE_BYTES,
                shown,
                format!(
                    "a size of at least {WEBSOCKET_MAX_MESSAGE_SIZE} ({max_message_size} bytes), so one largest message fits"
                ),
            ));
        }
        let shutdown_timeout = knob(
            env,
            WEBSOCKET_SHUTDOWN_TIMEOUT,
            defaults.shutdown_timeout,
            parse_duration,
        )?;

        let slow_consumer = knob(
            env,
            WEBSOCKET_SLOW_CONSUMER_POLICY,
            defaults.slow_consumer,
            |s| SlowConsumerSettings::parse(s, &realms),
        )?;
        let metrics_dsn = match value_of(env, WEBSOCKET_METRICS_DSN) {
            None => None,
            Some(value) => {
                let dsn = parse_dsn(WEBSOCKET_METRICS_DSN, value)?;
                if !dsn.is_configured() {
                    return Err(ConfigError::invalid(
                        WEBSOCKET_METRICS_DSN,
                        value,
                        "a DSN with a host such as //127.0.0.1:9100, or nothing",
                    ));
                }
                Some(dsn)
            }
        };

        let publish_defaults = PublishSettings::default();
        let publish = PublishSettings {
            secret: secret_of(env, WEBSOCKET_PUBLISH_SECRET)?.map(str::to_string),
            require_signature: knob(
                env,
                WEBSOCKET_PUBLISH_REQUIRE_SIGNATURE,
                publish_defaults.require_signature,
                parse_bool,
            )?,
            signature_window: knob(
                env,
                WEBSOCKET_PUBLISH_SIGNATURE_WINDOW,
                publish_defaults.signature_window,
                positive_duration,
            )?,
            max_body: knob(
                env,
                WEBSOCKET_PUBLISH_MAX_BODY,
                publish_defaults.max_body,
                parse_size,
            )?,
            concurrency: knob(
                env,
                WEBSOCKET_PUBLISH_CONCURRENCY,
                publish_defaults.concurrency,
                parse_usize,
            )?,
        };
        if publish.require_signature && publish.secret.is_none() {
            return Err(ConfigError::invalid(
                WEBSOCKET_PUBLISH_REQUIRE_SIGNATURE,
                "true",
                format!("{WEBSOCKET_PUBLISH_SECRET} to be set: signatures are keyed with it"),
            ));
        }

        let backend_dsn_explicit =
            dsn_variable(env, WEBSOCKET_BACKEND_DSN, ORO_WEBSOCKET_BACKEND_DSN).is_some();
        let backend_listen = knob(
            env,
            WEBSOCKET_BACKEND_LISTEN,
            defaults.backend_listen,
            BackendListen::parse,
        )?;
        let backend_role = knob(
            env,
            WEBSOCKET_BACKEND_ROLE,
            defaults.backend_role,
            parse_role,
        )?;

        let oro_secret = match secret_of(env, ORO_SECRET)? {
            Some(secret) => Some(secret),
            None => secret_of(env, WEBSOCKET_SECRET)?,
        }
        .map(str::to_string);
        if oro_secret
            .as_deref()
            .is_some_and(|s| s.contains(['{', '}']))
        {
            return Err(ConfigError::invalid(
                ORO_SECRET,
                "",
                "a secret without '{' or '}' (Symfony's password hasher refuses them as salt)",
            ));
        }
        let origin_match = knob(
            env,
            WEBSOCKET_ORIGIN_MATCH,
            defaults.origin_match,
            OriginMatch::parse,
        )?;
        let allowed_origins = knob(env, WEBSOCKET_ALLOWED_ORIGINS, Vec::new(), |s| {
            let list = parse_list(s)?;
            if origin_match == OriginMatch::Exact {
                if let Some(bad) = list.iter().find(|o| normalize_origin(o).is_none()) {
                    return Err(format!(
                        "origins such as https://crm.example.com (WEBSOCKET_ORIGIN_MATCH=exact), not {bad:?}"
                    ));
                }
            }
            Ok(list)
        })?;
        let origin_check = knob(
            env,
            WEBSOCKET_ORIGIN_CHECK,
            defaults.origin_check,
            parse_bool,
        )?;
        let v1 = knob(env, WEBSOCKET_V1, defaults.v1, parse_bool)?;
        let oro_ping_interval = knob(
            env,
            WEBSOCKET_ORO_PING_INTERVAL,
            defaults.oro_ping_interval,
            parse_duration,
        )?;

        let ticket_secret = secret_of(env, WEBSOCKET_TICKET_SECRET)?.map(str::to_string);
        let anonymous = knob(env, WEBSOCKET_ANONYMOUS, defaults.anonymous, parse_bool)?;
        let anonymous_role = knob(
            env,
            WEBSOCKET_ANONYMOUS_ROLE,
            defaults.anonymous_role.clone(),
            parse_role,
        )?;
        let auth_failures_per_minute = knob(
            env,
            WEBSOCKET_AUTH_FAILURES_PER_MINUTE,
            defaults.auth_failures_per_minute,
            |s| {
                s.parse::<u32>()
                    .map_err(|_| "a whole number such as 10 (0 = unlimited)".to_string())
            },
        )?;
        let authorization_default = knob(
            env,
            WEBSOCKET_AUTHORIZATION_DEFAULT,
            defaults.authorization_default,
            |s| DefaultPolicy::parse(s.trim()).ok_or_else(|| "standard, open or deny".to_string()),
        )?;
        let authorization_file = match value_of(env, WEBSOCKET_AUTHORIZATION_FILE) {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|err| {
                    ConfigError::invalid(
                        WEBSOCKET_AUTHORIZATION_FILE,
                        path,
                        format!("a readable TOML file ({err})"),
                    )
                })?;
                let lookup = |name: &str| env.get(name).cloned();
                let file = AuthFile::parse(&text, &lookup).map_err(|why| {
                    ConfigError::invalid(
                        WEBSOCKET_AUTHORIZATION_FILE,
                        path,
                        format!("a valid rules file: {why}"),
                    )
                })?;
                if let Some(unknown) = file.realm_names().find(|r| !realms.iter().any(|n| n == r)) {
                    return Err(ConfigError::invalid(
                        WEBSOCKET_AUTHORIZATION_FILE,
                        path,
                        format!("a rules file naming only realms of {WEBSOCKET_REALMS} (it names \"{unknown}\")"),
                    ));
                }
                Some((path.to_string(), file))
            }
        };
        let database_dsn = [WEBSOCKET_DATABASE_DSN, ORO_DB_DSN, ORO_DB_URL]
            .into_iter()
            .find_map(|name| value_of(env, name).map(|value| (name, value)));
        let database_dsn = match database_dsn {
            None => None,
            Some((name, value)) => {
                crate::database::DatabaseConfig::parse(value)
                    .map_err(|why| ConfigError::invalid(name, mask_dsn_text(value), why))?;
                Some(value.to_string())
            }
        };
        let oro_user_cache_ttl = knob(
            env,
            WEBSOCKET_ORO_USER_CACHE_TTL,
            defaults.oro_user_cache_ttl,
            parse_duration,
        )?;

        let cluster_dsn = match value_of(env, WEBSOCKET_CLUSTER_DSN) {
            None => None,
            Some(value) => Some(parse_cluster_dsn(value).map_err(|expected| {
                ConfigError::invalid(WEBSOCKET_CLUSTER_DSN, mask_dsn_text(value), expected)
            })?),
        };
        let cluster_channel_prefix = knob(
            env,
            WEBSOCKET_CLUSTER_CHANNEL_PREFIX,
            defaults.cluster_channel_prefix.clone(),
            parse_channel_prefix,
        )?;
        let trusted_proxies = knob(
            env,
            WEBSOCKET_TRUSTED_PROXIES,
            defaults.trusted_proxies,
            parse_ip_nets,
        )?;
        let demo = knob(env, WEBSOCKET_DEMO, defaults.demo, parse_bool)?;
        let demo_autobahn_url = knob(
            env,
            WEBSOCKET_DEMO_AUTOBAHN_URL,
            defaults.demo_autobahn_url,
            parse_script_url,
        )?;

        let has_principals = authorization_file.as_ref().is_some_and(|(_, file)| {
            !file.users.is_empty() || !file.tickets.is_empty() || !file.cryptosign.is_empty()
        });
        if !anonymous && ticket_secret.is_none() && !has_principals {
            return Err(ConfigError::invalid(
                WEBSOCKET_ANONYMOUS,
                "false",
                format!("{WEBSOCKET_TICKET_SECRET} to be set, or WAMP-CRA users, static tickets or cryptosign keys in {WEBSOCKET_AUTHORIZATION_FILE}: without anonymous sessions, clients must authenticate somehow"),
            ));
        }

        let checks = super::checks::checks_from_env(env, database_dsn.is_some())?;
        Ok(Settings {
            cluster_dsn,
            cluster_channel_prefix,
            trusted_proxies,
            demo,
            demo_autobahn_url,
            limits: limits::limits_from_env(env)?,
            backend_max_message_size: limits::backend_max_message_size(env, max_message_size)?,
            authorization_default,
            authorization_file,
            database_dsn,
            oro_user_cache_ttl,
            auth_failures_per_minute,
            ticket_secret,
            anonymous,
            anonymous_role,
            oro_secret,
            allowed_origins,
            origin_match,
            origin_check,
            v1,
            oro_ping_interval,
            backend_dsn_explicit,
            backend_listen,
            backend_role,
            publish,
            checks,
            v1_ping_interval: knob(
                env,
                WEBSOCKET_V1_PING_INTERVAL,
                Duration::ZERO,
                parse_duration,
            )?,
            retained_topics: knob(
                env,
                WEBSOCKET_RETAINED_TOPICS,
                defaults.retained_topics,
                parse_usize,
            )?,
            retained_bytes: knob(
                env,
                WEBSOCKET_RETAINED_BYTES,
                defaults.retained_bytes,
                parse_size,
            )?,
            retain_topics: knob(env, WEBSOCKET_RETAIN_TOPICS, Default::default(), |s| {
                crate::router::retained::RetainTopics::parse(s).map_err(|why| {
                    format!("a comma-separated list of topics, a prefix ending in * ({why})")
                })
            })?,
            history: crate::router::history::HistorySettings {
                topics: knob(env, WEBSOCKET_HISTORY_TOPICS, Default::default(), |s| {
                    crate::router::history::HistoryTopics::parse(s).map_err(|why| {
                        format!("a comma-separated list of pattern[=size[/age]] entries ({why})")
                    })
                })?,
                streams: knob(
                    env,
                    WEBSOCKET_HISTORY_STREAMS,
                    defaults.history.streams,
                    parse_usize,
                )?,
                bytes: knob(
                    env,
                    WEBSOCKET_HISTORY_BYTES,
                    defaults.history.bytes,
                    parse_size,
                )?,
            },
            espocrm: super::espocrm::espocrm_from_env(env)?,
            zmq: super::zmq::zmq_from_env(env)?,
            socketio: super::socketio::socketio_from_env(env)?,
            slow_consumer,
            metrics_dsn,
            server_dsn,
            frontend_dsn,
            backend_dsn,
            realms,
            log_format,
            uri_check,
            ping_interval,
            ping_timeout,
            max_message_size,
            handshake_timeout,
            hello_timeout,
            max_connections,
            max_connections_per_ip,
            outbound_queue_messages,
            outbound_queue_bytes,
            shutdown_timeout,
        })
    }

    /// Applies the command line's `-a/--host` and `-p/--port`, which win over the server DSN (as in Oro's
    /// `WebsocketServerCommand`).
    pub fn override_listen(&mut self, host: Option<&str>, port: Option<u16>) {
        if let Some(host) = host {
            self.server_dsn.host = host.trim().to_string();
        }
        if let Some(port) = port {
            self.server_dsn.port = port;
        }
    }
}

/// The trimmed value of a variable, `None` when unset or blank.
/// A variable's value, trimmed; `None` when unset or blank.
pub(crate) fn value_of<'a>(env: &'a EnvMap, name: &str) -> Option<&'a str> {
    env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Reads a secret: unset or empty means none, but a value of only spaces is refused rather
/// than taken for "unset", which would silently turn the authentication it guards off.
pub(crate) fn secret_of<'a>(env: &'a EnvMap, name: &str) -> Result<Option<&'a str>, ConfigError> {
    match env.get(name) {
        Some(v) if !v.is_empty() && v.trim().is_empty() => Err(ConfigError::invalid(
            name,
            v.as_str(),
            "a secret that is not blank (leave it empty or unset for none)",
        )),
        _ => Ok(value_of(env, name)),
    }
}

/// Reads a knob: unset or blank means `default`, otherwise `parse` decides (its `Err` is the expectation).
pub(super) fn knob<T>(
    env: &EnvMap,
    name: &str,
    default: T,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match value_of(env, name) {
        None => Ok(default),
        Some(value) => parse(value).map_err(|expected| ConfigError::invalid(name, value, expected)),
    }
}

/// Checks a cluster backplane URL: `redis://` or `rediss://`, a host, an optional port and an
/// optional numeric database (`/0`). The `Err` is the expectation, for the error message.
pub(super) fn parse_cluster_dsn(value: &str) -> Result<String, String> {
    const EXPECTED: &str =
        "a Redis URL such as redis://127.0.0.1:6379/0 or rediss://:password@host:6380/0";
    let url = url::Url::parse(value).map_err(|err| format!("{EXPECTED} ({err})"))?;
    if url.scheme() != "redis" && url.scheme() != "rediss" {
        return Err(format!(
            "{EXPECTED} (scheme \"{}\" is neither redis nor rediss)",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{EXPECTED} (no host)"));
    }
    let db = url.path().trim_matches('/');
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err(format!("{EXPECTED} (database \"{db}\" is not a number)"));
    }
    Ok(value.to_string())
}

/// Checks a channel prefix: 1 to 64 of letters, digits, `.`, `_`, `-` and `:`.
fn parse_channel_prefix(value: &str) -> Result<String, String> {
    let ok = value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'));
    if ok {
        Ok(value.to_string())
    } else {
        Err("1 to 64 of letters, digits, '.', '_', '-' and ':'".to_string())
    }
}

/// Which of a DSN's two names is in effect and its trimmed value: the `WEBSOCKET_*` one when set at all (even
/// empty), else the `ORO_WEBSOCKET_*` one; `None` when neither is set.
fn dsn_variable<'a>(
    env: &'a EnvMap,
    name: &'static str,
    alias: &'static str,
) -> Option<(&'static str, &'a str)> {
    [name, alias]
        .into_iter()
        .find_map(|variable| env.get(variable).map(|value| (variable, value.trim())))
}

/// Parses a DSN variable's value; the error names the variable and shows the value with secrets masked.
fn parse_dsn(variable: &str, value: &str) -> Result<Dsn, ConfigError> {
    Dsn::parse(value)
        .map_err(|expected| ConfigError::invalid(variable, mask_dsn_text(value), expected))
}

/// A frontend or backend DSN: Oro's default when neither name is set, `None` when set empty or not
/// configured (host `""` or `"null"`), an error when it does not parse.
fn optional_dsn(
    env: &EnvMap,
    name: &'static str,
    alias: &'static str,
    default: Option<Dsn>,
) -> Result<Option<Dsn>, ConfigError> {
    match dsn_variable(env, name, alias) {
        None => Ok(default),
        Some((_, "")) => Ok(None),
        Some((variable, value)) => {
            let dsn = parse_dsn(variable, value)?;
            Ok(dsn.is_configured().then_some(dsn))
        }
    }
}

/// A role name: letters, digits, `_`, `-` or `.`.
fn parse_role(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if ok {
        Ok(s.to_string())
    } else {
        Err("a role name of letters, digits, '_', '-' or '.' such as backend".to_string())
    }
}

/// The host an Origin value names, compared like Gos' OriginCheck: `parse_url(origin, HOST)`,
/// or the value itself when it has no host part (the PHP backend sends a bare `127.0.0.1`).
pub fn origin_host(origin: &str) -> String {
    let origin = origin.trim();
    match origin.split_once("://") {
        Some((_, rest)) => {
            let host_port = host_port(rest);
            if let Some(v6) = host_port.strip_prefix('[') {
                return v6.split(']').next().unwrap_or("").to_string();
            }
            host_port.split(':').next().unwrap_or("").to_string()
        }
        None => origin.to_string(),
    }
}

/// The `host[:port]` of what follows a URL's `scheme://`: no path, query, fragment or user.
fn host_port(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit('@').next().unwrap_or(authority)
}

/// `scheme://host[:port]` of an origin or URL, lower-cased, without the scheme's default port,
/// path or user; `None` when it has no scheme or host.
pub fn normalize_origin(s: &str) -> Option<String> {
    let (scheme, rest) = s.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let host_port = host_port(rest).to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" | "ws" => Some(":80"),
        "https" | "wss" => Some(":443"),
        _ => None,
    };
    let host_port = match default_port {
        Some(port) => host_port
            .strip_suffix(port)
            .unwrap_or(&host_port)
            .to_string(),
        None => host_port,
    };
    if scheme.is_empty() || host_port.is_empty() || host_port.starts_with(':') {
        return None;
    }
    Some(format!("{scheme}://{host_port}"))
}

/// A script URL for the demo page: `http(s)://…` or an absolute path, without characters that
/// could leave an HTML attribute (it is written into `<script src="…">`).
fn parse_script_url(s: &str) -> Result<String, String> {
    let safe = (s.starts_with("https://") || s.starts_with("http://") || s.starts_with('/'))
        && !s.starts_with("//")
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !"\"'<>`\\".contains(c));
    if safe {
        Ok(s.to_string())
    } else {
        Err("an http(s) URL or a path starting with / such as /autobahn.min.js, without quotes, <, > or spaces".to_string())
    }
}

/// A duration that must not be zero.
fn positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("a duration greater than 0 such as 10s".to_string()),
        d => Ok(d),
    }
}

/// `WEBSOCKET_REALMS`: a non-empty comma-separated list of loose WAMP URIs outside the reserved `wamp.` space;
/// duplicates are dropped.
fn parse_realms(s: &str) -> Result<Vec<String>, String> {
    let expected = || {
        "a comma-separated list of WAMP realms like realm1 or com.example.app (no spaces, '#' or empty parts; the wamp. prefix is reserved)".to_string()
    };
    let mut realms: Vec<String> = Vec::new();
    for realm in parse_list(s)? {
        let loose_uri = !realm.contains(|c: char| c.is_whitespace() || c == '#')
            && realm.split('.').all(|part| !part.is_empty());
        if !loose_uri || realm.starts_with("wamp.") {
            return Err(expected());
        }
        if !realms.contains(&realm) {
            realms.push(realm);
        }
    }
    if realms.is_empty() {
        return Err(expected());
    }
    Ok(realms)
}

#[cfg(test)]
mod tests;
