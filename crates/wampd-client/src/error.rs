//! Why a client operation failed.
//!
//! `wampd publish` reports any failure as one line on stderr, so each variant's `Display` is a
//! complete sentence fragment that names what failed and why (the address, the TLS reason, the
//! router's error URI and message), never a bare "I/O error". Text that came from the router is
//! flattened to a single line.

use std::io;
use std::time::Duration;

/// A client failure.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The DSN or its `context_options` cannot be used (bad value, unreadable `cafile`, ...).
    #[error("{0}")]
    Config(String),
    /// The TCP connection could not be made (refused, unreachable, name not resolved).
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// `host:port` as dialled.
        address: String,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed (certificate not trusted, wrong name, not a TLS server).
    #[error("TLS handshake with {address} failed: {reason}")]
    Tls {
        /// `host:port` as dialled.
        address: String,
        /// native-tls' reason, e.g. "certificate verify failed (self-signed certificate)".
        reason: String,
    },
    /// The RawSocket or WebSocket opening handshake failed.
    #[error("{0}")]
    Handshake(String),
    /// Nothing arrived (or nothing could be sent) in time.
    #[error("timed out after {after:?} {waiting}")]
    Timeout {
        /// What was being waited for, e.g. "waiting for WELCOME".
        waiting: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// The router sent ABORT instead of WELCOME (unknown realm, authentication refused, ...).
    #[error("the router aborted the session: {reason}{}", detail(.message))]
    Abort {
        /// The ABORT reason URI, e.g. `wamp.error.no_such_realm`.
        reason: String,
        /// The router's explanation, if it gave one.
        message: Option<String>,
    },
    /// The router ended the session with GOODBYE (e.g. `wamp.close.system_shutdown`).
    #[error("the router closed the session: {reason}")]
    Goodbye {
        /// The GOODBYE reason URI.
        reason: String,
    },
    /// The router answered an acknowledged PUBLISH with ERROR.
    #[error("the router refused the publication: {uri}{}", detail(.message))]
    Refused {
        /// The error URI, e.g. `wamp.error.invalid_uri`.
        uri: String,
        /// The router's explanation, if it gave one.
        message: Option<String>,
    },
    /// Authentication could not proceed (a challenge we cannot answer).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// A message is larger than the router accepts.
    #[error("a message of {size} bytes exceeds the router's limit of {limit} bytes")]
    TooLarge {
        /// The encoded message size.
        size: usize,
        /// The router's announced limit.
        limit: usize,
    },
    /// The router broke the protocol (undecodable or unexpected message, bad frame).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The router closed the WebSocket with an error code (1009 message too big, 1008 policy
    /// violation, ...).
    #[error("the router closed the WebSocket with code {code}{}", detail(.reason))]
    ClosedWith {
        /// The WebSocket close code.
        code: u16,
        /// The close frame's reason, if any.
        reason: Option<String>,
    },
    /// The connection ended without a GOODBYE or ABORT.
    #[error("the router closed the connection unexpectedly")]
    Closed,
    /// Reading or writing the established connection failed.
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
}

impl ClientError {
    /// The `Display` text on one line: line breaks (which router-supplied messages may contain)
    /// become spaces.
    pub fn one_line(&self) -> String {
        self.to_string()
            .split(['\r', '\n'])
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// ` (message)` when there is a message, else nothing.
fn detail(message: &Option<String>) -> String {
    match message {
        Some(message) if !message.is_empty() => format!(" ({message})"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_uri_and_fit_on_one_line() {
        let err = ClientError::Refused {
            uri: "wamp.error.invalid_uri".into(),
            message: Some("invalid topic URI \"a b\"\nsecond line".into()),
        };
        assert_eq!(
            err.one_line(),
            "the router refused the publication: wamp.error.invalid_uri (invalid topic URI \"a b\" second line)"
        );
        let err = ClientError::Abort {
            reason: "wamp.error.no_such_realm".into(),
            message: None,
        };
        assert_eq!(
            err.to_string(),
            "the router aborted the session: wamp.error.no_such_realm"
        );
        let err = ClientError::Timeout {
            waiting: "waiting for WELCOME",
            after: Duration::from_millis(1500),
        };
        assert_eq!(err.to_string(), "timed out after 1.5s waiting for WELCOME");
    }
}
