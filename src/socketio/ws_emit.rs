//! `wampd ws-emit`: wampd in place of ws-emit (`ws-emit.py`), configured exactly as ws-emit is.
//!
//! ws-emit reads `ADDRESS` (default `0.0.0.0:8899`), `REDIS` (`redis://localhost:6379/0`),
//! `CORS` (space-separated origins, or `*`; default `http://localhost:7788`) and `SECRET` (turns on
//! `POST /emit`) from its environment, which its systemd unit fills from `/etc/default/ws-emit`,
//! or from `-a/--address`, `--redis`, `--cors`, `--secret`. This module turns them into wampd's
//! variables; the unit needs only a new `ExecStart`. Origins are compared as ws-emit compares
//! them (`WEBSOCKET_ORIGIN_MATCH=exact`: scheme, host and port, nothing implicit), and a refused
//! one gets 400 on both transports.

use std::collections::HashMap;

use crate::config::settings::value_of;

/// ws-emit's defaults.
pub const DEFAULT_ADDRESS: &str = "0.0.0.0:8899";
/// ws-emit's default Redis.
pub const DEFAULT_REDIS: &str = "redis://localhost:6379/0";
/// ws-emit's default CORS origin.
pub const DEFAULT_CORS: &str = "http://localhost:7788";

/// The command line of `wampd ws-emit` (each wins over its variable).
#[derive(Debug, Clone, Default)]
pub struct WsEmitOptions {
    /// `-a/--address HOST:PORT`.
    pub address: Option<String>,
    /// `--redis URL`.
    pub redis: Option<String>,
    /// `--cors ORIGIN…` or `*`.
    pub cors: Vec<String>,
    /// `--secret`.
    pub secret: Option<String>,
}

/// `env` with ws-emit's settings written over it as wampd variables.
pub fn translate(
    env: &HashMap<String, String>,
    options: &WsEmitOptions,
) -> HashMap<String, String> {
    let var = |name: &str| value_of(env, name).map(str::to_string);
    let address = options
        .address
        .clone()
        .or_else(|| var("ADDRESS"))
        .unwrap_or_else(|| DEFAULT_ADDRESS.to_string());
    let redis = options
        .redis
        .clone()
        .or_else(|| var("REDIS"))
        .unwrap_or_else(|| DEFAULT_REDIS.to_string());
    let cors: Vec<String> = if options.cors.is_empty() {
        var("CORS")
            .unwrap_or_else(|| DEFAULT_CORS.to_string())
            .split_whitespace()
            .map(str::to_string)
            .collect()
    } else {
        options.cors.clone()
    };
    let secret = options.secret.clone().or_else(|| var("SECRET"));
    let mut out = env.clone();
    out.insert("WEBSOCKET_SERVER_DSN".into(), format!("//{address}"));
    // ws-emit has no backend port of its own; its backends emit through Redis or POST /emit.
    out.insert("WEBSOCKET_BACKEND_DSN".into(), String::new());
    out.insert("WEBSOCKET_SOCKETIO_QUEUE".into(), redis);
    if cors.iter().any(|o| o == "*") {
        out.insert("WEBSOCKET_ORIGIN_CHECK".into(), "false".into());
    } else {
        out.insert("WEBSOCKET_ORIGIN_MATCH".into(), "exact".into());
        out.insert("WEBSOCKET_ALLOWED_ORIGINS".into(), cors.join(","));
    }
    match secret {
        Some(secret) => out.insert("WEBSOCKET_EMIT_SECRET".into(), secret),
        None => out.remove("WEBSOCKET_EMIT_SECRET"),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_emits_variables_and_options_become_wampds() {
        let env: HashMap<String, String> = [
            ("ADDRESS".to_string(), "127.0.0.1:8898".to_string()),
            (
                "CORS".to_string(),
                "https://a.example:7788 http://b.example".to_string(),
            ),
            ("SECRET".to_string(), "s3cret".to_string()),
        ]
        .into();
        let out = translate(&env, &WsEmitOptions::default());
        assert_eq!(out["WEBSOCKET_SERVER_DSN"], "//127.0.0.1:8898");
        assert_eq!(out["WEBSOCKET_SOCKETIO_QUEUE"], DEFAULT_REDIS);
        assert_eq!(
            out["WEBSOCKET_ALLOWED_ORIGINS"],
            "https://a.example:7788,http://b.example"
        );
        assert_eq!(out["WEBSOCKET_ORIGIN_MATCH"], "exact");
        assert_eq!(out["WEBSOCKET_EMIT_SECRET"], "s3cret");
        let options = WsEmitOptions {
            address: Some("0.0.0.0:9000".into()),
            cors: vec!["*".into()],
            ..WsEmitOptions::default()
        };
        let out = translate(&env, &options);
        assert_eq!(out["WEBSOCKET_SERVER_DSN"], "//0.0.0.0:9000");
        assert_eq!(out["WEBSOCKET_ORIGIN_CHECK"], "false");
    }
}
