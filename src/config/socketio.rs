//! The Socket.IO variables (listed with the others in [`super::table`]): the Flask-SocketIO /
//! python-socketio Redis queue to consume.

use super::env_files::EnvMap;
use super::settings::{knob, parse_cluster_dsn, value_of};
use super::table::*;
use super::ConfigError;
use wampd_proto::dsn::mask_dsn_text;

/// Flask-SocketIO's default channel.
pub const DEFAULT_CHANNEL: &str = "flask-socketio";

/// The Socket.IO settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketIoSettings {
    /// WEBSOCKET_SOCKETIO_QUEUE: the Redis URL; `None` = no queue consumer.
    pub queue: Option<String>,
    /// WEBSOCKET_SOCKETIO_CHANNEL.
    pub channel: String,
    /// WEBSOCKET_EMIT_SECRET: turns on ws-emit's `POST /emit`.
    pub emit_secret: Option<String>,
}

impl Default for SocketIoSettings {
    fn default() -> SocketIoSettings {
        SocketIoSettings {
            queue: None,
            channel: DEFAULT_CHANNEL.to_string(),
            emit_secret: None,
        }
    }
}

/// Reads the Socket.IO settings.
pub fn socketio_from_env(env: &EnvMap) -> Result<SocketIoSettings, ConfigError> {
    let queue = match value_of(env, WEBSOCKET_SOCKETIO_QUEUE) {
        None => None,
        Some(value) => Some(parse_cluster_dsn(value).map_err(|expected| {
            ConfigError::invalid(WEBSOCKET_SOCKETIO_QUEUE, mask_dsn_text(value), expected)
        })?),
    };
    let channel = knob(
        env,
        WEBSOCKET_SOCKETIO_CHANNEL,
        DEFAULT_CHANNEL.to_string(),
        |s| {
            if s.len() <= 256 && !s.chars().any(char::is_whitespace) {
                Ok(s.to_string())
            } else {
                Err("a Redis channel name without whitespace, at most 256 bytes".to_string())
            }
        },
    )?;
    let emit_secret = super::settings::secret_of(env, WEBSOCKET_EMIT_SECRET)?.map(str::to_string);
    Ok(SocketIoSettings {
        queue,
        channel,
        emit_secret,
    })
}

/// `config:check` rows, in table order.
pub fn describe(s: &SocketIoSettings) -> Vec<(&'static str, String)> {
    vec![
        (
            WEBSOCKET_SOCKETIO_QUEUE,
            s.queue
                .as_deref()
                .map_or_else(|| "(not set: no queue consumer)".to_string(), mask_dsn_text),
        ),
        (WEBSOCKET_SOCKETIO_CHANNEL, s.channel.clone()),
        (
            WEBSOCKET_EMIT_SECRET,
            if s.emit_secret.is_some() {
                "*** (set: POST /emit on)".to_string()
            } else {
                "(not set: no POST /emit)".to_string()
            },
        ),
    ]
}
