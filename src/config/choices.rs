//! The settings whose value is one of a few words: the slow-consumer policy (per realm), the
//! application environment, the log format, the URI check and whether the backend listener runs.
//!
//! Each type parses its variable's spellings and writes its canonical one back, so `config:check`
//! shows a value that reads back to the same setting.

use wampd_proto::units::parse_list;

/// What happens to events for a subscriber whose outbound queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowConsumerPolicy {
    /// Disconnect the subscriber (close code 1008).
    #[default]
    Disconnect,
    /// Discard the oldest queued events.
    DropOldest,
    /// Discard the new event.
    DropNewest,
    /// Keep only the newest pending event per topic.
    Latest,
}

impl SlowConsumerPolicy {
    /// Parses a policy name.
    pub fn parse(s: &str) -> Result<SlowConsumerPolicy, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "disconnect" => Ok(SlowConsumerPolicy::Disconnect),
            "drop_oldest" => Ok(SlowConsumerPolicy::DropOldest),
            "drop_newest" => Ok(SlowConsumerPolicy::DropNewest),
            "latest" => Ok(SlowConsumerPolicy::Latest),
            _ => Err(SLOW_CONSUMER_EXPECTED.to_string()),
        }
    }

    /// The policy's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SlowConsumerPolicy::Disconnect => "disconnect",
            SlowConsumerPolicy::DropOldest => "drop_oldest",
            SlowConsumerPolicy::DropNewest => "drop_newest",
            SlowConsumerPolicy::Latest => "latest",
        }
    }
}

const SLOW_CONSUMER_EXPECTED: &str = "disconnect, drop_oldest, drop_newest or latest, or a list like realm1=latest,*=disconnect naming realms from WEBSOCKET_REALMS";

/// The slow-consumer policy of every realm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlowConsumerSettings {
    /// Policy of realms not listed in `by_realm`.
    pub default: SlowConsumerPolicy,
    /// Realm-specific policies.
    pub by_realm: std::collections::BTreeMap<String, SlowConsumerPolicy>,
}

impl SlowConsumerSettings {
    /// Parses `policy` or `realm=policy,*=policy` lists; realms must be among `realms`.
    pub fn parse(s: &str, realms: &[String]) -> Result<SlowConsumerSettings, String> {
        let mut settings = SlowConsumerSettings::default();
        for item in parse_list(s)? {
            match item.split_once('=') {
                None => settings.default = SlowConsumerPolicy::parse(&item)?,
                Some((realm, policy)) => {
                    let (realm, policy) = (realm.trim(), SlowConsumerPolicy::parse(policy)?);
                    if realm == "*" {
                        settings.default = policy;
                    } else if realms.iter().any(|r| r == realm) {
                        settings.by_realm.insert(realm.to_string(), policy);
                    } else {
                        return Err(SLOW_CONSUMER_EXPECTED.to_string());
                    }
                }
            }
        }
        Ok(settings)
    }

    /// Text form for `config:check`.
    pub fn describe(&self) -> String {
        let mut parts = vec![self.default.as_str().to_string()];
        parts.extend(
            self.by_realm
                .iter()
                .map(|(realm, policy)| format!("{realm}={}", policy.as_str())),
        );
        parts.join(",")
    }
}

/// Which environment the command runs in (`--env`); it picks the `.env-app.<env>` files and the log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppEnv {
    /// Production (`prod`, `production`): quieter logs.
    #[default]
    Prod,
    /// Development (`dev`, `development`, and `test`, which logs like dev).
    Dev,
}

impl AppEnv {
    /// Parses `--env`: `prod`/`production` or `dev`/`development`/`test`, in any case.
    pub fn parse(s: &str) -> Result<AppEnv, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "prod" | "production" => Ok(AppEnv::Prod),
            "dev" | "development" | "test" => Ok(AppEnv::Dev),
            _ => Err("one of prod, dev or test".to_string()),
        }
    }

    /// `"prod"` or `"dev"`. To pick `.env-app.<env>` files pass the raw `--env` value instead, so `test`
    /// reads `.env-app.test`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppEnv::Prod => "prod",
            AppEnv::Dev => "dev",
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// Parses `text` (or `human`) and `json`, in any case.
    pub fn parse(s: &str) -> Result<LogFormat, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "human" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("text (or human) or json".to_string()),
        }
    }

    /// `"text"` or `"json"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// How strictly WAMP URIs (topics, procedures) are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriCheck {
    /// WAMP's loose rules: no whitespace, `#` or empty components.
    #[default]
    Loose,
    /// WAMP's strict rules: lower-case letters, digits and `_` only.
    Strict,
}

impl UriCheck {
    /// Parses `loose` or `strict`, in any case.
    pub fn parse(s: &str) -> Result<UriCheck, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "loose" => Ok(UriCheck::Loose),
            "strict" => Ok(UriCheck::Strict),
            _ => Err("loose or strict".to_string()),
        }
    }

    /// `"loose"` or `"strict"`.
    pub fn as_str(self) -> &'static str {
        match self {
            UriCheck::Loose => "loose",
            UriCheck::Strict => "strict",
        }
    }
}

/// Whether to listen on the backend DSN (`WEBSOCKET_BACKEND_LISTEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendListen {
    /// Listen when the DSN was set explicitly and names another address; skip (logged) when it
    /// cannot be bound here or is TLS without a certificate (a proxy in front).
    #[default]
    Auto,
    /// Listen when the DSN names another address; any failure stops start-up.
    On,
    /// Never listen on the backend DSN.
    Off,
}

impl BackendListen {
    /// Parses `auto`, `on`/`true` or `off`/`false`.
    pub fn parse(s: &str) -> Result<BackendListen, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendListen::Auto),
            "on" | "true" | "yes" | "1" => Ok(BackendListen::On),
            "off" | "false" | "no" | "0" => Ok(BackendListen::Off),
            _ => Err("auto, on or off".to_string()),
        }
    }

    /// The setting's name.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendListen::Auto => "auto",
            BackendListen::On => "on",
            BackendListen::Off => "off",
        }
    }
}

/// What a message on the ZeroMQ channel holds (`WEBSOCKET_ZMQ_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZmqFormat {
    /// The `POST /publish` body: `{"topic", "args", "kwargs", "options"}` or a list of them.
    #[default]
    Publish,
    /// EspoCRM's push: a JSON object with `topicId` and optionally `userId`.
    Espocrm,
}

impl ZmqFormat {
    /// Parses `publish` or `espocrm`, in any case.
    pub fn parse(s: &str) -> Result<ZmqFormat, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "publish" => Ok(ZmqFormat::Publish),
            "espocrm" => Ok(ZmqFormat::Espocrm),
            _ => Err("publish or espocrm".to_string()),
        }
    }

    /// The setting's word.
    pub fn as_str(self) -> &'static str {
        match self {
            ZmqFormat::Publish => "publish",
            ZmqFormat::Espocrm => "espocrm",
        }
    }
}

/// How Origin headers are compared with the allow-list (`WEBSOCKET_ORIGIN_MATCH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OriginMatch {
    /// The host only, as Gos; `localhost` and `127.0.0.1` always allowed.
    #[default]
    Host,
    /// The whole `scheme://host[:port]`, as Flask-SocketIO; nothing implicit.
    Exact,
}

impl OriginMatch {
    /// Parses `host` or `exact`.
    pub fn parse(s: &str) -> Result<OriginMatch, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "host" => Ok(OriginMatch::Host),
            "exact" => Ok(OriginMatch::Exact),
            _ => Err("host or exact".to_string()),
        }
    }

    /// What is allowed without being listed: pages on this machine in `host` mode (Gos).
    pub fn implicit_hosts(self) -> &'static [&'static str] {
        match self {
            OriginMatch::Host => &["localhost", "127.0.0.1"],
            OriginMatch::Exact => &[],
        }
    }

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OriginMatch::Host => "host",
            OriginMatch::Exact => "exact",
        }
    }
}
