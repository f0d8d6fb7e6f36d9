//! Unit tests of `settings`: defaults, aliases, every rejection, and config:check's rows.

use super::*;
use crate::config::choices::AppEnv;
use crate::config::describe::format_duration;
use wampd_proto::dsn::EXPECTED_DSN;

fn env(pairs: &[(&str, &str)]) -> EnvMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn settings(pairs: &[(&str, &str)]) -> Settings {
    Settings::from_env(&env(pairs)).unwrap_or_else(|e| panic!("{pairs:?}: {e}"))
}

fn error(pairs: &[(&str, &str)]) -> ConfigError {
    match Settings::from_env(&env(pairs)) {
        Ok(s) => panic!("{pairs:?} accepted: {s:?}"),
        Err(e) => e,
    }
}

#[test]
fn cluster_dsn_is_redis_or_rediss_and_named_on_error() {
    let s = settings(&[]);
    assert_eq!(s.cluster_dsn, None);
    assert_eq!(s.cluster_channel_prefix, "wampd");
    let s = settings(&[
        (WEBSOCKET_CLUSTER_DSN, "redis://127.0.0.1:6379/2"),
        (WEBSOCKET_CLUSTER_CHANNEL_PREFIX, "shop-prod"),
    ]);
    assert_eq!(s.cluster_dsn.as_deref(), Some("redis://127.0.0.1:6379/2"));
    assert_eq!(s.cluster_channel_prefix, "shop-prod");
    let s = settings(&[(
        WEBSOCKET_CLUSTER_DSN,
        "rediss://:s3cr3t@redis.internal:6380",
    )]);
    assert!(s.cluster_dsn.is_some());
    let shown = s
        .describe()
        .into_iter()
        .find(|(name, _)| name == WEBSOCKET_CLUSTER_DSN)
        .map(|(_, value)| value)
        .unwrap_or_default();
    assert!(
        shown.contains("redis.internal") && !shown.contains("s3cr3t"),
        "{shown}"
    );
    for bad in [
        "http://127.0.0.1:6379",
        "redis://",
        "127.0.0.1:6379",
        "redis://h/db1",
    ] {
        let text = error(&[(WEBSOCKET_CLUSTER_DSN, bad)]).to_string();
        assert!(text.contains(WEBSOCKET_CLUSTER_DSN), "{bad}: {text}");
        assert!(text.contains("redis://"), "{bad}: {text}");
    }
    let text = error(&[(WEBSOCKET_CLUSTER_DSN, "http://u:topsecret@h:1")]).to_string();
    assert!(!text.contains("topsecret"), "{text}");
    let text = error(&[(WEBSOCKET_CLUSTER_CHANNEL_PREFIX, "a b")]).to_string();
    assert!(text.contains(WEBSOCKET_CLUSTER_CHANNEL_PREFIX), "{text}");
}

#[test]
fn defaults_when_unset() {
    let s = settings(&[]);
    assert_eq!(s.server_dsn, Dsn::parse(DEFAULT_SERVER_DSN).unwrap());
    assert_eq!(s.server_dsn.socket_addr_string(), "0.0.0.0:8080");
    assert_eq!(
        s.frontend_dsn,
        Some(Dsn::parse(DEFAULT_FRONTEND_DSN).unwrap())
    );
    assert_eq!(
        s.backend_dsn,
        Some(Dsn::parse(DEFAULT_BACKEND_DSN).unwrap())
    );
    assert_eq!(s.realms, ["realm1"]);
    assert_eq!(s.log_format, LogFormat::Text);
    assert_eq!(s.uri_check, UriCheck::Loose);
    assert_eq!(s.ping_interval, Duration::from_secs(25));
    assert_eq!(s.ping_timeout, Duration::from_secs(20));
    assert_eq!(s.max_message_size, 1 << 20);
    assert_eq!(s.handshake_timeout, Duration::from_secs(10));
    assert_eq!(s.hello_timeout, Duration::from_secs(10));
    assert_eq!(s.max_connections, 10_000);
    assert_eq!(s.outbound_queue_messages, 4096);
    assert_eq!(s.outbound_queue_bytes, 8 << 20);
    assert_eq!(s.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(s.describe(), Settings::default().describe());
}

#[test]
fn empty_values_mean_default() {
    let secrets = [
        ORO_SECRET,
        WEBSOCKET_SECRET,
        WEBSOCKET_TICKET_SECRET,
        WEBSOCKET_PUBLISH_SECRET,
        WEBSOCKET_EMIT_SECRET,
    ];
    let blanks: Vec<(&str, &str)> = known_names()
        .filter(|name| !name.contains("_DSN") && !secrets.contains(name))
        .map(|name| (name, "  "))
        .collect();
    assert_eq!(settings(&blanks).describe(), Settings::default().describe());
    // A secret set to nothing is none; set to only spaces it is refused (issue 22), since taking
    // it for "unset" would turn its authentication off without a word.
    let empty: Vec<(&str, &str)> = secrets.iter().map(|name| (*name, "")).collect();
    assert_eq!(settings(&empty).describe(), Settings::default().describe());
    for name in secrets {
        match error(&[(name, "  ")]) {
            ConfigError::Invalid {
                variable, expected, ..
            } => assert_eq!(
                (variable.as_str(), expected.contains("not blank")),
                (name, true)
            ),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn documented_defaults_are_the_real_defaults() {
    let written: Vec<(&str, &str)> = SETTINGS.iter().map(|s| (s.name, s.default)).collect();
    assert_eq!(
        settings(&written).describe(),
        Settings::default().describe()
    );
}

#[test]
fn values_are_read_and_trimmed() {
    let s = settings(&[
        (WEBSOCKET_SERVER_DSN, " tcp://127.0.0.1:9000 "),
        (WEBSOCKET_FRONTEND_DSN, "//*:443/ws"),
        (
            WEBSOCKET_BACKEND_DSN,
            "ssl://ws.example.com:443/ws?context_options[verify_peer]=false",
        ),
        (WEBSOCKET_REALMS, " realm1 , com.example.app,realm1 "),
        (WEBSOCKET_LOG_FORMAT, "JSON"),
        (WEBSOCKET_URI_CHECK, "strict"),
        (WEBSOCKET_PING_INTERVAL, "0"),
        (WEBSOCKET_PING_TIMEOUT, "0"),
        (WEBSOCKET_MAX_MESSAGE_SIZE, "64KiB"),
        (WEBSOCKET_HANDSHAKE_TIMEOUT, "500ms"),
        (WEBSOCKET_HELLO_TIMEOUT, "1m"),
        (WEBSOCKET_MAX_CONNECTIONS, "5"),
        (WEBSOCKET_OUTBOUND_QUEUE_MESSAGES, "10"),
        (WEBSOCKET_OUTBOUND_QUEUE_BYTES, "64KiB"),
        (WEBSOCKET_SHUTDOWN_TIMEOUT, "0"),
    ]);
    assert_eq!(s.server_dsn.socket_addr_string(), "127.0.0.1:9000");
    assert_eq!(s.server_dsn.raw, "tcp://127.0.0.1:9000");
    assert_eq!(s.frontend_dsn.as_ref().map(|d| d.port), Some(443));
    let backend = s.backend_dsn.as_ref().unwrap();
    assert_eq!(backend.scheme, "ssl");
    assert_eq!(backend.context_options()["verify_peer"], "false");
    assert_eq!(s.realms, ["realm1", "com.example.app"]);
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.uri_check, UriCheck::Strict);
    assert_eq!(s.ping_interval, Duration::ZERO);
    assert_eq!(s.ping_timeout, Duration::ZERO);
    assert_eq!(s.max_message_size, 65_536);
    assert_eq!(s.handshake_timeout, Duration::from_millis(500));
    assert_eq!(s.hello_timeout, Duration::from_secs(60));
    assert_eq!(s.max_connections, 5);
    assert_eq!(s.outbound_queue_messages, 10);
    assert_eq!(s.outbound_queue_bytes, 65_536);
    assert_eq!(s.shutdown_timeout, Duration::ZERO);
    assert_eq!(
        settings(&[(WEBSOCKET_LOG_FORMAT, "human")]).log_format,
        LogFormat::Text
    );
}

#[test]
fn oro_aliases() {
    let s = settings(&[
        (ORO_WEBSOCKET_SERVER_DSN, "//127.0.0.2:1"),
        (ORO_WEBSOCKET_FRONTEND_DSN, "//ws.example.com:2/ws"),
        (ORO_WEBSOCKET_BACKEND_DSN, "tcp://127.0.0.3:3"),
    ]);
    assert_eq!(s.server_dsn.socket_addr_string(), "127.0.0.2:1");
    assert_eq!(s.frontend_dsn.map(|d| d.port), Some(2));
    assert_eq!(s.backend_dsn.map(|d| d.port), Some(3));

    // both set: WEBSOCKET_* wins
    let s = settings(&[
        (ORO_WEBSOCKET_SERVER_DSN, "//127.0.0.2:1"),
        (WEBSOCKET_SERVER_DSN, "//127.0.0.4:4"),
        (ORO_WEBSOCKET_FRONTEND_DSN, "//a:2/ws"),
        (WEBSOCKET_FRONTEND_DSN, "//b:5/ws"),
        (ORO_WEBSOCKET_BACKEND_DSN, "tcp://127.0.0.3:3"),
        (WEBSOCKET_BACKEND_DSN, ""),
    ]);
    assert_eq!(s.server_dsn.socket_addr_string(), "127.0.0.4:4");
    assert_eq!(s.frontend_dsn.map(|d| d.host), Some("b".to_string()));
    assert_eq!(s.backend_dsn, None, "an empty WEBSOCKET_* still wins");

    // Oro's .env-app ships the aliases empty; a WEBSOCKET_* value turns the server on
    let s = settings(&[
        (ORO_WEBSOCKET_SERVER_DSN, ""),
        (WEBSOCKET_SERVER_DSN, "//0.0.0.0:8080"),
    ]);
    assert_eq!(s.server_dsn.port, 8080);
    assert!(matches!(
        error(&[
            (ORO_WEBSOCKET_SERVER_DSN, "//0.0.0.0:8080"),
            (WEBSOCKET_SERVER_DSN, "")
        ]),
        ConfigError::NotConfigured
    ));
}

#[test]
fn empty_server_dsn_is_not_configured() {
    for value in ["", "   ", "//null:8080"] {
        for name in [WEBSOCKET_SERVER_DSN, ORO_WEBSOCKET_SERVER_DSN] {
            assert!(
                matches!(error(&[(name, value)]), ConfigError::NotConfigured),
                "{name}={value:?}"
            );
        }
    }
}

/// Issue 22: a value that is set but names no host is a mistake to point at, not Oro's
/// "not configured" (which lists all three variables and blames none).
#[test]
fn a_server_dsn_without_a_host_is_named_as_invalid() {
    for value in ["foo", "ws/path-only", "tcp:"] {
        for name in [WEBSOCKET_SERVER_DSN, ORO_WEBSOCKET_SERVER_DSN] {
            match error(&[(name, value)]) {
                ConfigError::Invalid {
                    variable,
                    value: shown,
                    expected,
                } => {
                    assert_eq!((variable.as_str(), shown.as_str()), (name, value));
                    assert!(expected.contains("//0.0.0.0:8080"), "{expected}");
                }
                other => panic!("{name}={value:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn empty_or_unconfigured_client_dsns_are_none() {
    for value in ["", " ", "ws/path-only", "//null"] {
        let s = settings(&[
            (ORO_WEBSOCKET_FRONTEND_DSN, value),
            (WEBSOCKET_BACKEND_DSN, value),
        ]);
        assert_eq!(s.frontend_dsn, None, "{value:?}");
        assert_eq!(s.backend_dsn, None, "{value:?}");
    }
}

#[test]
fn invalid_dsn_names_the_variable_used() {
    let text = error(&[(ORO_WEBSOCKET_SERVER_DSN, "//host:99999")]).to_string();
    assert!(text.contains("ORO_WEBSOCKET_SERVER_DSN"), "{text}");
    assert!(text.contains("\"//host:99999\""), "{text}");
    assert!(text.contains(EXPECTED_DSN), "{text}");

    let text = error(&[(WEBSOCKET_BACKEND_DSN, "tcp://user:hunter2@h:abc")]).to_string();
    assert!(
        text.starts_with("invalid value \"tcp://user:***@h:abc\" for WEBSOCKET_BACKEND_DSN"),
        "{text}"
    );
    assert!(!text.contains("hunter2"));

    let text = error(&[(ORO_WEBSOCKET_FRONTEND_DSN, "//:80")]).to_string();
    assert!(text.contains("ORO_WEBSOCKET_FRONTEND_DSN"), "{text}");
}

#[test]
fn each_invalid_knob_is_reported() {
    let cases: &[(&str, &str, &str)] = &[
        (WEBSOCKET_REALMS, "has space", "WAMP realms"),
        (WEBSOCKET_REALMS, "a..b", "WAMP realms"),
        (WEBSOCKET_REALMS, "a.#", "WAMP realms"),
        (WEBSOCKET_REALMS, ".a", "WAMP realms"),
        (WEBSOCKET_REALMS, "wamp.realm", "WAMP realms"),
        (WEBSOCKET_REALMS, ",,", "WAMP realms"),
        (WEBSOCKET_LOG_FORMAT, "xml", "text (or human) or json"),
        (WEBSOCKET_URI_CHECK, "medium", "loose or strict"),
        (WEBSOCKET_ORIGIN_MATCH, "scheme", "host or exact"),
        (WEBSOCKET_PING_INTERVAL, "soon", "a duration"),
        (WEBSOCKET_PING_TIMEOUT, "-1", "a duration"),
        (WEBSOCKET_PING_TIMEOUT, "0", "greater than 0"),
        (WEBSOCKET_MAX_MESSAGE_SIZE, "big", "a size"),
        (WEBSOCKET_MAX_MESSAGE_SIZE, "511", "from 512 bytes to 16MiB"),
        (
            WEBSOCKET_MAX_MESSAGE_SIZE,
            "17MiB",
            "from 512 bytes to 16MiB",
        ),
        (WEBSOCKET_HANDSHAKE_TIMEOUT, "0", "greater than 0"),
        (WEBSOCKET_HANDSHAKE_TIMEOUT, "x", "a duration"),
        (WEBSOCKET_HELLO_TIMEOUT, "0ms", "greater than 0"),
        (WEBSOCKET_MAX_CONNECTIONS, "0", "positive whole number"),
        (WEBSOCKET_MAX_CONNECTIONS, "-5", "positive whole number"),
        (
            WEBSOCKET_OUTBOUND_QUEUE_MESSAGES,
            "many",
            "positive whole number",
        ),
        (
            WEBSOCKET_OUTBOUND_QUEUE_BYTES,
            "1KiB",
            "at least WEBSOCKET_MAX_MESSAGE_SIZE",
        ),
        (WEBSOCKET_OUTBOUND_QUEUE_BYTES, "lots", "a size"),
        (WEBSOCKET_SHUTDOWN_TIMEOUT, "1d", "a duration"),
        (WEBSOCKET_TRUSTED_PROXIES, "nginx", "CIDR networks"),
        (WEBSOCKET_TRUSTED_PROXIES, "10.0.0.0/33", "CIDR networks"),
        (WEBSOCKET_DEMO, "maybe", "a boolean"),
        (
            WEBSOCKET_DEMO_AUTOBAHN_URL,
            "javascript:alert(1)",
            "http(s) URL",
        ),
        (
            WEBSOCKET_DEMO_AUTOBAHN_URL,
            "/a.js\"onload=x",
            "without quotes",
        ),
        (
            WEBSOCKET_DEMO_AUTOBAHN_URL,
            "//evil.example/a.js",
            "http(s) URL",
        ),
    ];
    for &(name, value, expectation) in cases {
        let err = error(&[(name, value)]);
        let text = err.to_string();
        assert!(
            matches!(err, ConfigError::Invalid { .. }),
            "{name}={value}: {err:?}"
        );
        assert!(
            text.starts_with(&format!("invalid value {value:?} for {name}: expected ")),
            "{name}={value}: {text}"
        );
        assert!(text.contains(expectation), "{name}={value}: {text}");
    }
}

#[test]
fn exact_origin_matching_needs_whole_origins() {
    let text = error(&[
        (WEBSOCKET_ORIGIN_MATCH, "exact"),
        (
            WEBSOCKET_ALLOWED_ORIGINS,
            "https://a.example,crm.example.com",
        ),
    ])
    .to_string();
    assert!(
        text.starts_with(
            "invalid value \"https://a.example,crm.example.com\" for WEBSOCKET_ALLOWED_ORIGINS"
        ),
        "{text}"
    );
    assert!(text.contains("not \"crm.example.com\""), "{text}");
    // a bare host is fine where hosts are compared
    let s = settings(&[(WEBSOCKET_ALLOWED_ORIGINS, "crm.example.com")]);
    assert_eq!(s.origin_match, OriginMatch::Host);
}

#[test]
fn queue_bytes_must_hold_a_largest_message() {
    let text = error(&[
        (WEBSOCKET_MAX_MESSAGE_SIZE, "16MiB"),
        (WEBSOCKET_OUTBOUND_QUEUE_BYTES, "8MiB"),
    ])
    .to_string();
    assert!(text.contains("WEBSOCKET_OUTBOUND_QUEUE_BYTES"), "{text}");
    assert!(text.contains("16777216 bytes"), "{text}");
    // a large message size alone makes the default queue too small, and says so
    let text = error(&[(WEBSOCKET_MAX_MESSAGE_SIZE, "9MiB")]).to_string();
    assert!(
        text.contains("\"8MiB\" for WEBSOCKET_OUTBOUND_QUEUE_BYTES"),
        "{text}"
    );
    // equal is fine
    let s = settings(&[
        (WEBSOCKET_MAX_MESSAGE_SIZE, "16MiB"),
        (WEBSOCKET_OUTBOUND_QUEUE_BYTES, "16MiB"),
    ]);
    assert_eq!(s.outbound_queue_bytes, s.max_message_size);
}

#[test]
fn ping_timeout_may_be_zero_only_without_pings() {
    let s = settings(&[
        (WEBSOCKET_PING_INTERVAL, "0"),
        (WEBSOCKET_PING_TIMEOUT, "0s"),
    ]);
    assert!(s.ping_interval.is_zero() && s.ping_timeout.is_zero());
}

#[test]
fn describe_lists_everything_and_masks_secrets() {
    let s = settings(&[
        (WEBSOCKET_SERVER_DSN, "tcp://admin:hunter2@0.0.0.0:8080"),
        (
            WEBSOCKET_BACKEND_DSN,
            "ssl://h:443/ws?context_options[passphrase]=hunter2&user_agent=x",
        ),
        (ORO_WEBSOCKET_FRONTEND_DSN, "//*:8080/ws?token=hunter2"),
        (WEBSOCKET_PUBLISH_SECRET, "hunter2"),
    ]);
    let rows = s.describe();
    for row in &rows {
        assert!(!row.1.contains("hunter2"), "{row:?}");
    }
    assert!(!format!("{s:?}").contains("hunter2"));
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
    assert_eq!(names, expected);
    let value = |name: &str| {
        rows.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(
        value(WEBSOCKET_SERVER_DSN),
        "tcp://admin:***@0.0.0.0:8080 (listening on 0.0.0.0:8080)"
    );
    assert!(value(WEBSOCKET_BACKEND_DSN).contains("passphrase]=***&user_agent=x"));
    assert_eq!(value(WEBSOCKET_PING_INTERVAL), "25s");
    assert_eq!(value(WEBSOCKET_MAX_MESSAGE_SIZE), "1MiB");

    let off = settings(&[(WEBSOCKET_FRONTEND_DSN, ""), (WEBSOCKET_PING_INTERVAL, "0")]);
    let rows = off.describe();
    assert!(rows.contains(&(
        WEBSOCKET_FRONTEND_DSN.to_string(),
        "(not configured)".to_string()
    )));
    assert!(rows.contains(&(
        WEBSOCKET_PING_INTERVAL.to_string(),
        "0 (pings disabled)".to_string()
    )));
}

#[test]
fn override_listen_wins() {
    let mut s = settings(&[(WEBSOCKET_SERVER_DSN, "//127.0.0.1:9000")]);
    s.override_listen(None, None);
    assert_eq!(s.server_dsn.socket_addr_string(), "127.0.0.1:9000");
    s.override_listen(None, Some(7000));
    assert_eq!(s.server_dsn.socket_addr_string(), "127.0.0.1:7000");
    s.override_listen(Some("::1"), None);
    assert_eq!(s.server_dsn.socket_addr_string(), "[::1]:7000");
    s.override_listen(Some("*"), Some(1));
    assert_eq!(s.server_dsn.socket_addr_string(), "0.0.0.0:1");
    assert!(s.describe()[0].1.ends_with("(listening on 0.0.0.0:1)"));
}

#[test]
fn app_env() {
    for (text, env) in [
        ("prod", AppEnv::Prod),
        ("PRODUCTION", AppEnv::Prod),
        ("dev", AppEnv::Dev),
        ("development", AppEnv::Dev),
        (" test ", AppEnv::Dev),
    ] {
        assert_eq!(AppEnv::parse(text), Ok(env), "{text}");
    }
    assert!(AppEnv::parse("staging").is_err());
    assert!(AppEnv::parse("").is_err());
    assert_eq!(AppEnv::Prod.as_str(), "prod");
    assert_eq!(AppEnv::Dev.as_str(), "dev");
    assert_eq!(AppEnv::default(), AppEnv::Prod);
}

#[test]
fn formatting_round_trips() {
    for d in [0, 500, 1_000, 25_000, 120_000, 3_600_000, 90_000, 1_500] {
        let d = Duration::from_millis(d);
        assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }
    for n in [0, 1, 512, 1000, 1024, 65_536, 1 << 20, 8 << 20, 1_048_577] {
        assert_eq!(parse_size(&format_size(n)), Ok(n));
    }
}
