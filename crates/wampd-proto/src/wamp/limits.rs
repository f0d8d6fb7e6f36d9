//! Bounds on everything a client chooses, checked before the router spends memory or recursion
//! on it.
//!
//! The message size limit bounds a message as a whole; these bound what is inside it: the length
//! and depth of a URI (a 20 KB prefix pattern is a 20,000-node trie path), how many
//! subscriptions, registrations and calls one session may hold at once, and how long a caller may
//! ask the router to wait. They are plain data here so that every front end (WAMP v2, WAMP v1,
//! HTTP publish) reads the same numbers; the router's operations layer enforces them.

use std::time::Duration;

/// The limits one session obeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest topic, procedure or pattern URI, in bytes.
    pub max_uri_length: usize,
    /// Most `.`-separated components in one URI.
    pub max_uri_components: usize,
    /// Most subscriptions one session may hold.
    pub max_subscriptions: usize,
    /// Most registrations one session may hold.
    pub max_registrations: usize,
    /// Most calls one caller may have waiting for a result.
    pub max_pending_calls: usize,
    /// Most invocations one callee may have waiting for its answer.
    pub max_pending_invocations: usize,
    /// Longest `CALL.Options.timeout` honoured; longer ones are cut to this. Calls without a
    /// timeout wait for their callee (the pending-call limits bound how many can).
    pub max_call_timeout: Duration,
}

/// Default longest URI: far above any real topic (Oro's longest is under 100 bytes), far below
/// what costs anything.
pub const DEFAULT_MAX_URI_LENGTH: usize = 1024;
/// Default most URI components.
pub const DEFAULT_MAX_URI_COMPONENTS: usize = 64;
/// Upper bound an operator may set for the URI length (the trie is iterative, but a bound keeps
/// per-subscription memory predictable).
pub const MAX_URI_LENGTH_LIMIT: usize = 64 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_uri_length: DEFAULT_MAX_URI_LENGTH,
            max_uri_components: DEFAULT_MAX_URI_COMPONENTS,
            max_subscriptions: 1000,
            max_registrations: 100,
            max_pending_calls: 100,
            max_pending_invocations: 1000,
            max_call_timeout: Duration::from_secs(300),
        }
    }
}

/// Why a URI is over the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriTooLarge {
    /// More bytes than allowed.
    Length {
        /// Its length.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// More components than allowed.
    Components {
        /// The limit.
        max: usize,
    },
}

impl std::fmt::Display for UriTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UriTooLarge::Length { length, max } => {
                write!(f, "URI of {length} bytes is longer than the limit of {max}")
            }
            UriTooLarge::Components { max } => {
                write!(f, "URI has more than {max} components")
            }
        }
    }
}

impl Limits {
    /// Checks a URI's length and component count. Cheap: one pass over the bytes, stopping at the
    /// first excess.
    pub fn check_uri(&self, uri: &str) -> Result<(), UriTooLarge> {
        if uri.len() > self.max_uri_length {
            return Err(UriTooLarge::Length {
                length: uri.len(),
                max: self.max_uri_length,
            });
        }
        let mut components = 1usize;
        for b in uri.bytes() {
            if b == b'.' {
                components += 1;
                if components > self.max_uri_components {
                    return Err(UriTooLarge::Components {
                        max: self.max_uri_components,
                    });
                }
            }
        }
        Ok(())
    }

    /// A caller's requested timeout (0 = none) after the ceiling.
    pub fn call_timeout(&self, requested: Duration) -> Option<Duration> {
        (!requested.is_zero()).then(|| requested.min(self.max_call_timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_over_the_length_or_component_limit_are_refused() {
        let limits = Limits {
            max_uri_length: 10,
            max_uri_components: 3,
            ..Limits::default()
        };
        assert!(limits.check_uri("a.b.c").is_ok());
        assert!(limits.check_uri("abcdefghij").is_ok());
        assert_eq!(
            limits.check_uri("abcdefghijk"),
            Err(UriTooLarge::Length {
                length: 11,
                max: 10
            })
        );
        assert_eq!(
            limits.check_uri("a.b.c.d"),
            Err(UriTooLarge::Components { max: 3 })
        );
        assert_eq!(
            limits.check_uri("..."),
            Err(UriTooLarge::Components { max: 3 })
        );
    }

    #[test]
    fn call_timeouts_are_capped() {
        let limits = Limits {
            max_call_timeout: Duration::from_secs(60),
            ..Limits::default()
        };
        assert_eq!(limits.call_timeout(Duration::ZERO), None);
        assert_eq!(
            limits.call_timeout(Duration::from_secs(5)),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            limits.call_timeout(Duration::from_secs(600)),
            Some(Duration::from_secs(60))
        );
    }
}
