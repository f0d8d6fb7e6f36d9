//! The limit variables (listed with the others in [`super::table`]): what one
//! session may hold and ask for, and how large a backend's messages may be. Read into
//! [`wampd_proto::wamp::Limits`], which every protocol front end obeys through the router's operations
//! layer.

use super::describe::{format_duration, format_size};
use super::env_files::EnvMap;
use super::settings::knob;
use super::table::*;
use super::ConfigError;
use wampd_proto::units::{parse_duration, parse_size, parse_usize};
use wampd_proto::wamp::limits::{Limits, MAX_URI_LENGTH_LIMIT};

/// Default [`WEBSOCKET_BACKEND_MAX_MESSAGE_SIZE`]: Ratchet set no limit, and Oro's PHP backend
/// publishes whole entities; 16 MiB is room for those without being unbounded.
pub const DEFAULT_BACKEND_MAX_MESSAGE_SIZE: usize = 16 << 20;
/// Largest [`WEBSOCKET_BACKEND_MAX_MESSAGE_SIZE`] accepted.
pub const BACKEND_MAX_MESSAGE_SIZE_LIMIT: usize = 64 << 20;

fn in_range(s: &str, range: std::ops::RangeInclusive<usize>) -> Result<usize, String> {
    let n = parse_usize(s)?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "a whole number from {} to {}",
            range.start(),
            range.end()
        ))
    }
}

/// Reads the session limits.
pub fn limits_from_env(env: &EnvMap) -> Result<Limits, ConfigError> {
    let d = Limits::default();
    Ok(Limits {
        max_uri_length: knob(env, WEBSOCKET_MAX_URI_LENGTH, d.max_uri_length, |s| {
            in_range(s, 16..=MAX_URI_LENGTH_LIMIT)
        })?,
        max_uri_components: knob(
            env,
            WEBSOCKET_MAX_URI_COMPONENTS,
            d.max_uri_components,
            |s| in_range(s, 1..=1024),
        )?,
        max_subscriptions: knob(
            env,
            WEBSOCKET_MAX_SUBSCRIPTIONS,
            d.max_subscriptions,
            parse_usize,
        )?,
        max_registrations: knob(
            env,
            WEBSOCKET_MAX_REGISTRATIONS,
            d.max_registrations,
            parse_usize,
        )?,
        max_pending_calls: knob(
            env,
            WEBSOCKET_MAX_PENDING_CALLS,
            d.max_pending_calls,
            parse_usize,
        )?,
        max_pending_invocations: knob(
            env,
            WEBSOCKET_MAX_PENDING_INVOCATIONS,
            d.max_pending_invocations,
            parse_usize,
        )?,
        max_call_timeout: knob(env, WEBSOCKET_MAX_CALL_TIMEOUT, d.max_call_timeout, |s| {
            match parse_duration(s)? {
                t if t.is_zero() => Err("a duration greater than 0 such as 5m".to_string()),
                t => Ok(t),
            }
        })?,
    })
}

/// Reads [`WEBSOCKET_BACKEND_MAX_MESSAGE_SIZE`]; never below `max_message_size`.
pub fn backend_max_message_size(
    env: &EnvMap,
    max_message_size: usize,
) -> Result<usize, ConfigError> {
    knob(
        env,
        WEBSOCKET_BACKEND_MAX_MESSAGE_SIZE,
        DEFAULT_BACKEND_MAX_MESSAGE_SIZE.max(max_message_size),
        |s| {
            let n = parse_size(s)?;
            if (512..=BACKEND_MAX_MESSAGE_SIZE_LIMIT).contains(&n) {
                Ok(n.max(max_message_size))
            } else {
                Err("a size from 512 bytes to 64MiB such as 16MiB".to_string())
            }
        },
    )
}

/// The rows `config:check` prints.
pub fn describe(limits: &Limits, backend_max_message_size: usize) -> Vec<(&'static str, String)> {
    vec![
        (WEBSOCKET_MAX_URI_LENGTH, limits.max_uri_length.to_string()),
        (
            WEBSOCKET_MAX_URI_COMPONENTS,
            limits.max_uri_components.to_string(),
        ),
        (
            WEBSOCKET_MAX_SUBSCRIPTIONS,
            limits.max_subscriptions.to_string(),
        ),
        (
            WEBSOCKET_MAX_REGISTRATIONS,
            limits.max_registrations.to_string(),
        ),
        (
            WEBSOCKET_MAX_PENDING_CALLS,
            limits.max_pending_calls.to_string(),
        ),
        (
            WEBSOCKET_MAX_PENDING_INVOCATIONS,
            limits.max_pending_invocations.to_string(),
        ),
        (
            WEBSOCKET_MAX_CALL_TIMEOUT,
            format_duration(limits.max_call_timeout),
        ),
        (
            WEBSOCKET_BACKEND_MAX_MESSAGE_SIZE,
            format_size(backend_max_message_size),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(limits_from_env(&env(&[])).ok(), Some(Limits::default()));
        let limits = limits_from_env(&env(&[
            (WEBSOCKET_MAX_URI_LENGTH, "256"),
            (WEBSOCKET_MAX_CALL_TIMEOUT, "30s"),
        ]))
        .expect("valid");
        assert_eq!(limits.max_uri_length, 256);
        assert_eq!(limits.max_call_timeout, Duration::from_secs(30));
    }

    #[test]
    fn bad_values_name_the_variable_and_the_expectation() {
        for (name, value, expected) in [
            (WEBSOCKET_MAX_URI_LENGTH, "8", "from 16 to 65536"),
            (WEBSOCKET_MAX_URI_COMPONENTS, "0", "positive"),
            (WEBSOCKET_MAX_SUBSCRIPTIONS, "many", "positive"),
            (WEBSOCKET_MAX_CALL_TIMEOUT, "0", "greater than 0"),
        ] {
            let text = limits_from_env(&env(&[(name, value)]))
                .expect_err("refused")
                .to_string();
            assert!(text.contains(name) && text.contains(value), "{text}");
            assert!(text.contains(expected), "{text}");
        }
        let text =
            backend_max_message_size(&env(&[(WEBSOCKET_BACKEND_MAX_MESSAGE_SIZE, "1GiB")]), 1024)
                .expect_err("refused")
                .to_string();
        assert!(text.contains("64MiB"), "{text}");
    }
}
