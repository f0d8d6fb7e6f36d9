//! The ZeroMQ backend channel's variables (listed with the others in [`super::table`]): where the
//! PULL socket binds, what its messages hold and how many PUSH peers it takes at once.

use super::choices::ZmqFormat;
use super::describe::format_size;
use super::env_files::EnvMap;
use super::settings::knob;
use super::table::*;
use super::ConfigError;
use wampd_proto::units::parse_usize;

/// Default [`ZmqSettings::max_connections`].
pub const DEFAULT_ZMQ_MAX_CONNECTIONS: usize = 256;

/// The ZeroMQ channel, when configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZmqSettings {
    /// WEBSOCKET_ZMQ_DSN as written.
    pub dsn: String,
    /// The address to bind (`*` written as `0.0.0.0`).
    pub bind: String,
    /// WEBSOCKET_ZMQ_FORMAT.
    pub format: ZmqFormat,
    /// WEBSOCKET_ZMQ_MAX_CONNECTIONS.
    pub max_connections: usize,
}

/// Reads `tcp://host:port` (ZeroMQ's endpoint syntax; `*` = every interface) into a bind address.
fn parse_endpoint(value: &str) -> Result<String, String> {
    const EXPECTED: &str = "a ZeroMQ endpoint such as tcp://127.0.0.1:5555 or tcp://*:7777";
    let Some(rest) = value.strip_prefix("tcp://") else {
        return Err(format!("{EXPECTED} (only tcp:// is supported)"));
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(format!("{EXPECTED} (no port)"));
    };
    let port = match port.parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ => return Err(format!("{EXPECTED} (port {port:?} is not 1 to 65535)")),
    };
    let host = match host {
        "" => return Err(format!("{EXPECTED} (no host)")),
        "*" => "0.0.0.0",
        // Espo's documented default submission DSN is tcp://localhost:5555.
        "localhost" => "127.0.0.1",
        other => other,
    };
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .map_err(|_| format!("{EXPECTED} (host {host:?} is not an IP address, * or localhost)"))?;
    Ok(std::net::SocketAddr::new(ip, port).to_string())
}

/// Reads the channel's settings; `None` when `WEBSOCKET_ZMQ_DSN` is unset or empty.
pub fn zmq_from_env(env: &EnvMap) -> Result<Option<ZmqSettings>, ConfigError> {
    let format = knob(
        env,
        WEBSOCKET_ZMQ_FORMAT,
        ZmqFormat::default(),
        ZmqFormat::parse,
    )?;
    let max_connections = knob(
        env,
        WEBSOCKET_ZMQ_MAX_CONNECTIONS,
        DEFAULT_ZMQ_MAX_CONNECTIONS,
        |s| match parse_usize(s)? {
            0 => Err("a whole number greater than 0 such as 256".to_string()),
            n => Ok(n),
        },
    )?;
    let Some(dsn) = knob(env, WEBSOCKET_ZMQ_DSN, None, |s| Ok(Some(s.to_string())))? else {
        return Ok(None);
    };
    let bind = parse_endpoint(&dsn)
        .map_err(|expected| ConfigError::invalid(WEBSOCKET_ZMQ_DSN, dsn.clone(), expected))?;
    Ok(Some(ZmqSettings {
        dsn,
        bind,
        format,
        max_connections,
    }))
}

/// `config:check` rows, in table order.
pub fn describe(zmq: Option<&ZmqSettings>, max_message_size: usize) -> Vec<(&'static str, String)> {
    match zmq {
        None => vec![
            (
                WEBSOCKET_ZMQ_DSN,
                "(not set: no ZeroMQ channel)".to_string(),
            ),
            (
                WEBSOCKET_ZMQ_FORMAT,
                ZmqFormat::default().as_str().to_string(),
            ),
            (
                WEBSOCKET_ZMQ_MAX_CONNECTIONS,
                DEFAULT_ZMQ_MAX_CONNECTIONS.to_string(),
            ),
        ],
        Some(z) => vec![
            (
                WEBSOCKET_ZMQ_DSN,
                format!(
                    "{} (PULL bound on {}, messages up to {})",
                    z.dsn,
                    z.bind,
                    format_size(max_message_size)
                ),
            ),
            (WEBSOCKET_ZMQ_FORMAT, z.format.as_str().to_string()),
            (WEBSOCKET_ZMQ_MAX_CONNECTIONS, z.max_connections.to_string()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_espo_spellings() {
        assert_eq!(
            parse_endpoint("tcp://127.0.0.1:5555"),
            Ok("127.0.0.1:5555".into())
        );
        assert_eq!(parse_endpoint("tcp://*:7777"), Ok("0.0.0.0:7777".into()));
        assert_eq!(
            parse_endpoint("tcp://localhost:5555"),
            Ok("127.0.0.1:5555".into())
        );
        assert!(parse_endpoint("ipc:///tmp/x").is_err());
        assert!(parse_endpoint("tcp://127.0.0.1").is_err());
        assert!(parse_endpoint("tcp://127.0.0.1:0").is_err());
        assert!(parse_endpoint("tcp://espo.example:5555").is_err());
        assert_eq!(parse_endpoint("tcp://[::1]:5555"), Ok("[::1]:5555".into()));
    }

    #[test]
    fn a_bad_endpoint_names_the_variable() {
        let env: EnvMap = [(WEBSOCKET_ZMQ_DSN.to_string(), "udp://x:1".to_string())].into();
        let err = zmq_from_env(&env).expect_err("refused").to_string();
        assert!(
            err.contains(WEBSOCKET_ZMQ_DSN) && err.contains("udp://x:1"),
            "{err}"
        );
        assert!(zmq_from_env(&EnvMap::new())
            .expect("unset is fine")
            .is_none());
    }
}
