//! Configuration errors.
//!
//! One error type for everything that can go wrong between "read the `.env-app*` files" and "hand the server a
//! validated [`Settings`](super::Settings)". Messages are written for an operator reading supervisord logs or
//! `wampd config:check`: they name the variable, the offending value and what would have been accepted.
//! Configuration routinely carries secrets (`ORO_SECRET`, TLS passphrases inside DSNs), so an error must never
//! echo one: values of variables that look secret are replaced by `***` both when the error is built and again
//! when it is displayed, so even a hand-built error cannot leak through `Display`.

use wampd_proto::secret::{is_secret_name, MASK};

/// Why the configuration could not be loaded or validated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// variable has a value we can't use
    #[error(
        "invalid value {:?} for {variable}: expected {expected}",
        shown_value(.variable, .value)
    )]
    Invalid {
        /// The environment variable that held the value.
        variable: String,
        /// The value as found (already masked if the variable is secret).
        value: String,
        /// What would have been accepted, phrased to follow "expected".
        expected: String,
    },
    /// the server DSN is set but empty (Oro's .env-app ships it empty = websockets off)
    #[error("websocket server is not configured: ensure that the following environment variables are not empty: WEBSOCKET_SERVER_DSN (or ORO_WEBSOCKET_SERVER_DSN), WEBSOCKET_FRONTEND_DSN (or ORO_WEBSOCKET_FRONTEND_DSN), WEBSOCKET_BACKEND_DSN (or ORO_WEBSOCKET_BACKEND_DSN)")]
    NotConfigured,
    /// A `.env-app*` file exists but could not be read or parsed.
    #[error("cannot read {path}: {reason}")]
    File {
        /// The file that failed.
        path: String,
        /// What went wrong; never contains the file's values.
        reason: String,
    },
}

impl ConfigError {
    /// Builds [`ConfigError::Invalid`], storing `***` instead of the value when `variable` looks secret
    /// (see [`is_secret_name`]), so the secret is not even in the `Debug` output.
    pub fn invalid(
        variable: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> ConfigError {
        let variable = variable.into();
        let value = value.into();
        let value = shown_value(&variable, &value).to_string();
        ConfigError::Invalid {
            variable,
            value,
            expected: expected.into(),
        }
    }
}

/// The value as it may be shown for `variable`: itself, or [`MASK`] for secret variables.
fn shown_value<'a>(variable: &str, value: &'a str) -> &'a str {
    if is_secret_name(variable) {
        MASK
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_variable_value_and_expectation() {
        let e = ConfigError::invalid("WEBSOCKET_PING_INTERVAL", "soon", "a duration");
        assert_eq!(
            e.to_string(),
            r#"invalid value "soon" for WEBSOCKET_PING_INTERVAL: expected a duration"#
        );
    }

    #[test]
    fn secret_values_are_masked_in_display_and_debug() {
        for name in ["ORO_SECRET", "DB_PASSWORD", "api_token", "TLS_PASSPHRASE"] {
            let e = ConfigError::invalid(name, "hunter2", "something");
            assert!(!e.to_string().contains("hunter2"), "{name}: {e}");
            assert!(!format!("{e:?}").contains("hunter2"), "{name}: {e:?}");
            assert!(e.to_string().contains(r#""***""#));
        }
    }

    #[test]
    fn display_masks_even_a_hand_built_error() {
        let e = ConfigError::Invalid {
            variable: "ORO_SECRET".into(),
            value: "hunter2".into(),
            expected: "x".into(),
        };
        assert!(!e.to_string().contains("hunter2"));
    }

    #[test]
    fn not_configured_and_file_messages() {
        assert!(ConfigError::NotConfigured
            .to_string()
            .contains("ORO_WEBSOCKET_SERVER_DSN"));
        let e = ConfigError::File {
            path: "/app/.env-app".into(),
            reason: "permission denied".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot read /app/.env-app: permission denied"
        );
    }
}
