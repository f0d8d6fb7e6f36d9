//! PUBLISH.Options as the broker uses them: parsed and type-checked once per publication.
//!
//! Covers `acknowledge`, `exclude_me`, `disclose_me`, `retain` and the black/white-listing options
//! (`exclude`, `exclude_authid`, `exclude_authrole`, `eligible`, `eligible_authid`,
//! `eligible_authrole`). All listing conditions must hold for a subscriber to receive the event
//! (AND semantics, WAMP Advanced Profile "Subscriber Black- and Whitelisting"). Unknown keys are
//! ignored as the spec requires; a known key with the wrong type is an `invalid_argument` error.

use std::collections::HashSet;

use crate::router::handle::SessionHandle;
use crate::router::passthru::Passthru;
use wampd_proto::wamp::OptionError;
use wampd_proto::wamp::{Dict, Id, Value};

/// Parsed PUBLISH options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    /// Send PUBLISHED (or ERROR) back to the publisher.
    pub acknowledge: bool,
    /// Do not deliver to the publishing session (default true).
    pub exclude_me: bool,
    /// Disclose the publisher's identity in `EVENT.Details`.
    pub disclose_me: bool,
    /// Keep the event as the topic's retained event ([`crate::router::retained`]).
    pub retain: bool,
    /// Session IDs that must not receive the event.
    pub exclude: HashSet<Id>,
    /// Auth IDs that must not receive the event.
    pub exclude_authid: HashSet<String>,
    /// Auth roles that must not receive the event.
    pub exclude_authrole: HashSet<String>,
    /// If present, only these session IDs may receive the event.
    pub eligible: Option<HashSet<Id>>,
    /// If present, only these auth IDs may receive the event.
    pub eligible_authid: Option<HashSet<String>>,
    /// If present, only these auth roles may receive the event.
    pub eligible_authrole: Option<HashSet<String>>,
    /// Payload passthru attributes, copied into every EVENT ([`crate::router::passthru`]).
    pub passthru: Option<Passthru>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            acknowledge: false,
            exclude_me: true,
            disclose_me: false,
            retain: false,
            exclude: HashSet::new(),
            exclude_authid: HashSet::new(),
            exclude_authrole: HashSet::new(),
            eligible: None,
            eligible_authid: None,
            eligible_authrole: None,
            passthru: None,
        }
    }
}

impl PublishOptions {
    /// Parses options; `Err` describes the first badly typed key (for an `invalid_argument` ERROR).
    pub fn parse(options: &Dict) -> Result<PublishOptions, OptionError> {
        let mut parsed = PublishOptions {
            acknowledge: flag(options, "acknowledge", false)?,
            exclude_me: flag(options, "exclude_me", true)?,
            disclose_me: flag(options, "disclose_me", false)?,
            retain: flag(options, "retain", false)?,
            passthru: Passthru::from_options(options)?,
            ..PublishOptions::default()
        };
        if let Some(v) = options.get("exclude") {
            parsed.exclude = ids(v, "exclude")?;
        }
        if let Some(v) = options.get("exclude_authid") {
            parsed.exclude_authid = strings(v, "exclude_authid")?;
        }
        if let Some(v) = options.get("exclude_authrole") {
            parsed.exclude_authrole = strings(v, "exclude_authrole")?;
        }
        if let Some(v) = options.get("eligible") {
            parsed.eligible = Some(ids(v, "eligible")?);
        }
        if let Some(v) = options.get("eligible_authid") {
            parsed.eligible_authid = Some(strings(v, "eligible_authid")?);
        }
        if let Some(v) = options.get("eligible_authrole") {
            parsed.eligible_authrole = Some(strings(v, "eligible_authrole")?);
        }
        Ok(parsed)
    }

    /// True when any black- or white-listing option is present (most publications have none,
    /// and then [`admits`](Self::admits) is a single comparison per subscriber).
    pub fn has_lists(&self) -> bool {
        !self.exclude.is_empty()
            || !self.exclude_authid.is_empty()
            || !self.exclude_authrole.is_empty()
            || self.eligible.is_some()
            || self.eligible_authid.is_some()
            || self.eligible_authrole.is_some()
    }

    /// True when `subscriber` may receive an event published by session `publisher`.
    pub fn admits(&self, subscriber: &SessionHandle, publisher: Id) -> bool {
        if self.exclude_me && subscriber.id == publisher {
            return false;
        }
        if !self.has_lists() {
            return true;
        }
        if self.exclude.contains(&subscriber.id)
            || self.exclude_authid.contains(&subscriber.authid)
            || self.exclude_authrole.contains(&subscriber.authrole)
        {
            return false;
        }
        self.eligible
            .as_ref()
            .is_none_or(|set| set.contains(&subscriber.id))
            && self
                .eligible_authid
                .as_ref()
                .is_none_or(|set| set.contains(&subscriber.authid))
            && self
                .eligible_authrole
                .as_ref()
                .is_none_or(|set| set.contains(&subscriber.authrole))
    }
}

/// A boolean option: `default` when absent, [`OptionError`] when it is not a boolean. Also
/// read by SUBSCRIBE (`get_retained`).
pub(crate) fn flag(options: &Dict, key: &'static str, default: bool) -> Result<bool, OptionError> {
    match options.get(key) {
        None => Ok(default),
        Some(v) => v.as_bool().ok_or(OptionError::invalid(key, "a boolean")),
    }
}

fn ids(v: &Value, key: &'static str) -> Result<HashSet<Id>, OptionError> {
    let list = v
        .as_list()
        .ok_or(OptionError::invalid(key, "a list of session IDs"))?;
    list.iter()
        .map(|item| {
            item.as_id()
                .ok_or(OptionError::invalid(key, "a list of session IDs"))
        })
        .collect()
}

fn strings(v: &Value, key: &'static str) -> Result<HashSet<String>, OptionError> {
    let list = v
        .as_list()
        .ok_or(OptionError::invalid(key, "a list of strings"))?;
    list.iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .ok_or(OptionError::invalid(key, "a list of strings"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wampd_proto::wamp::Serializer;

    fn handle(id: Id, authid: &str, authrole: &str) -> SessionHandle {
        SessionHandle::for_test(id, authid, authrole, Serializer::Json).0
    }

    fn opts(pairs: Vec<(&str, Value)>) -> Dict {
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    #[test]
    fn defaults_exclude_the_publisher_only() {
        let o = PublishOptions::parse(&Dict::new()).expect("empty options parse");
        assert!(!o.admits(&handle(1, "a", "r"), 1));
        assert!(o.admits(&handle(2, "a", "r"), 1));
        let o = PublishOptions::parse(&opts(vec![("exclude_me", false.into())])).expect("parse");
        assert!(o.admits(&handle(1, "a", "r"), 1));
    }

    #[test]
    fn black_and_white_lists_all_must_hold() {
        let o = PublishOptions::parse(&opts(vec![
            ("eligible", Value::List(vec![2u64.into(), 3u64.into()])),
            ("exclude_authrole", Value::List(vec!["bot".into()])),
        ]))
        .expect("parse");
        assert!(o.admits(&handle(2, "x", "user"), 1));
        assert!(!o.admits(&handle(3, "x", "bot"), 1));
        assert!(!o.admits(&handle(4, "x", "user"), 1));

        let o = PublishOptions::parse(&opts(vec![
            ("eligible_authid", Value::List(vec!["alice".into()])),
            ("exclude", Value::List(vec![5u64.into()])),
        ]))
        .expect("parse");
        assert!(o.admits(&handle(6, "alice", "r"), 1));
        assert!(!o.admits(&handle(5, "alice", "r"), 1));
        assert!(!o.admits(&handle(7, "bob", "r"), 1));
    }

    #[test]
    fn wrong_types_are_reported() {
        for (k, v) in [
            ("acknowledge", Value::from("yes")),
            ("exclude", Value::List(vec!["x".into()])),
            ("eligible", Value::from(3u64)),
            ("eligible_authrole", Value::List(vec![1u64.into()])),
        ] {
            let err = PublishOptions::parse(&opts(vec![(k, v)])).expect_err("must fail");
            assert!(err.to_string().contains(k), "{err}");
        }
    }
}
