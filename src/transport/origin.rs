//! The Origin allow-list, in the two ways the servers wampd replaces compare origins.
//!
//! Gos' `OriginCheck` (Oro) compares only the host of the Origin header, exactly and
//! case-sensitively, and always allows `localhost` and `127.0.0.1`: that is `host` matching, the
//! default. Flask-SocketIO's `cors_allowed_origins` (ws-emit, Burp-UI) compares the whole origin,
//! `scheme://host[:port]`, with a list that has nothing implicit: that is `exact` matching, which
//! `wampd ws-emit` turns on. Entries and headers are normalised the same way in `exact` mode
//! (lower-case scheme and host, the scheme's default port dropped), as browsers send them.
//! Requests without an Origin header pass in both modes: they do not come from a browser page.

use crate::config::choices::OriginMatch;
use crate::config::settings::{normalize_origin, origin_host};

/// The allowed origins, ready to compare.
#[derive(Debug, Clone)]
pub struct OriginList {
    mode: OriginMatch,
    entries: Vec<String>,
}

/// An `Origin` header that the list does not allow.
#[derive(Debug, thiserror::Error)]
#[error("origin {origin:?} (compared as {compared:?}) is not allowed")]
pub struct OriginRefused {
    /// The header as sent.
    pub origin: String,
    /// What was compared with the list (its host, or its normalised origin).
    pub compared: String,
}

impl OriginList {
    /// The list for `configured` entries (hosts or URLs in `host` mode, whose hosts count; origins
    /// in `exact` mode, validated by the settings).
    pub fn new(mode: OriginMatch, configured: &[String]) -> OriginList {
        let entries = match mode {
            OriginMatch::Host => mode
                .implicit_hosts()
                .iter()
                .map(|h| h.to_string())
                .chain(configured.iter().map(|o| origin_host(o)))
                .collect(),
            OriginMatch::Exact => configured
                .iter()
                .filter_map(|o| normalize_origin(o))
                .collect(),
        };
        OriginList { mode, entries }
    }

    /// The entries as compared, for `config:check`.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Whether a page at `origin` (an Origin header's value) may connect.
    pub fn allows(&self, origin: &str) -> Result<(), OriginRefused> {
        let compared = match self.mode {
            OriginMatch::Host => origin_host(origin),
            OriginMatch::Exact => normalize_origin(origin).unwrap_or_default(),
        };
        if !compared.is_empty() && self.entries.contains(&compared) {
            Ok(())
        } else {
            Err(OriginRefused {
                origin: origin.to_owned(),
                compared,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_mode_compares_hosts_and_allows_localhost() {
        let list = OriginList::new(OriginMatch::Host, &["https://crm.example.com".into()]);
        assert!(list.allows("http://crm.example.com:8080").is_ok());
        assert!(list.allows("http://localhost:3000").is_ok());
        assert!(list.allows("127.0.0.1").is_ok(), "Oro's PHP backend");
        assert!(list.allows("https://evil.example.com").is_err());
        assert!(list.allows("https://CRM.example.com").is_err(), "as Gos");
    }

    #[test]
    fn exact_mode_compares_whole_origins_with_nothing_implicit() {
        let list = OriginList::new(
            OriginMatch::Exact,
            &[
                "https://a.example:443".into(),
                "http://localhost:7788/".into(),
            ],
        );
        assert_eq!(
            list.entries(),
            ["https://a.example", "http://localhost:7788"]
        );
        assert!(list.allows("https://a.example").is_ok());
        assert!(
            list.allows("https://A.example").is_ok(),
            "hosts are case-free"
        );
        assert!(list.allows("http://a.example").is_err(), "scheme counts");
        assert!(
            list.allows("https://a.example:8443").is_err(),
            "port counts"
        );
        assert!(list.allows("http://localhost:7788").is_ok());
        assert!(
            list.allows("http://localhost").is_err(),
            "no implicit localhost"
        );
        assert!(list.allows("null").is_err());
    }

    #[test]
    fn origins_normalise_as_browsers_send_them() {
        assert_eq!(
            normalize_origin("HTTPS://Example.com:443/path").as_deref(),
            Some("https://example.com")
        );
        assert_eq!(
            normalize_origin("http://[::1]:8080").as_deref(),
            Some("http://[::1]:8080")
        );
        assert_eq!(normalize_origin("example.com"), None);
        assert_eq!(normalize_origin("http://"), None);
    }
}
