//! A publication kept for later: what retained events ([`crate::router::retained`]) and event
//! history ([`crate::router::history`]) store, and the rules both apply when handing it out
//! again (which subscriptions cover a topic, what an event weighs against a byte bound).
//!
//! Kept once, in one shape, so a late subscriber's EVENT is encoded by the same code as a live
//! one ([`crate::router::broker::replay_frame`]).

use std::fmt;

use wampd_proto::wamp::codec::msgpack_writer;
use wampd_proto::wamp::{Dict, Id, MatchPolicy, Value};

use crate::router::broker::{Position, Publication, Publisher};
use crate::router::publish_options::PublishOptions;
use wampd_proto::wamp::v1::Payload;

/// One publication as it was made: what a late subscriber's EVENT is built from.
#[derive(Debug)]
pub struct StoredEvent {
    /// The publication's ID.
    pub publication: Id,
    /// Positional payload.
    pub args: Vec<Value>,
    /// Keyword payload.
    pub kwargs: Dict,
    /// The publisher: session (for `exclude_me`), authid and authrole (for `disclose_me`).
    pub publisher: (Id, String, String),
    /// The publication's options: a late subscriber gets the event only if its black- and
    /// white-lists would have let it through live.
    pub options: PublishOptions,
    /// A WAMP v1 publisher's payload as sent, for v1 subscribers.
    pub v1_payload: Option<Payload>,
    /// Its place in its topic's history stream, if the topic keeps one.
    pub position: Option<Position>,
    /// What it counts against a byte bound ([`payload_size`]).
    pub size: usize,
}

impl StoredEvent {
    /// Copies `publication` (its payload is borrowed from the PUBLISH being routed).
    pub fn capture(publication: &Publication<'_>) -> StoredEvent {
        let p = &publication.publisher;
        StoredEvent {
            publication: publication.id,
            args: publication.args.to_vec(),
            kwargs: publication.kwargs.clone(),
            publisher: (p.id, p.authid.to_owned(), p.authrole.to_owned()),
            options: publication.options.clone(),
            v1_payload: publication.v1_payload.cloned(),
            position: publication.position.cloned(),
            size: payload_size(publication.args, publication.kwargs),
        }
    }

    /// The publication again, on `topic`, for encoding.
    pub fn publication<'a>(&'a self, topic: &'a str) -> Publication<'a> {
        let (id, authid, authrole) = &self.publisher;
        Publication {
            id: self.publication,
            topic,
            args: &self.args,
            kwargs: &self.kwargs,
            options: &self.options,
            publisher: Publisher {
                id: *id,
                authid,
                authrole,
            },
            v1_payload: self.v1_payload.as_ref(),
            position: self.position.as_ref(),
        }
    }
}

/// A payload's size as its MessagePack encoding (compact, and what the cluster ships), written
/// from the borrowed values.
pub fn payload_size(args: &[Value], kwargs: &Dict) -> usize {
    thread_local! {
        // One scratch buffer per thread: a history topic measures every publication.
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| {
        let mut out = scratch.borrow_mut();
        out.clear();
        msgpack_writer::list(&mut out, args);
        msgpack_writer::dict(&mut out, kwargs);
        let size = out.len();
        if out.capacity() > 64 << 10 {
            // Not kept for a rare large payload.
            *out = Vec::new();
        }
        size
    })
}

/// Whether a subscription `(pattern, policy)` receives events published to `topic`: the same
/// rule the broker's topic index applies.
pub fn covers(pattern: &str, policy: MatchPolicy, topic: &str) -> bool {
    match policy {
        MatchPolicy::Exact => pattern == topic,
        MatchPolicy::Prefix => topic.starts_with(pattern),
        MatchPolicy::Wildcard => {
            let (p, t): (Vec<&str>, Vec<&str>) =
                (pattern.split('.').collect(), topic.split('.').collect());
            p.len() == t.len()
                && p.iter()
                    .zip(&t)
                    .all(|(p, t)| if p.is_empty() { !t.is_empty() } else { p == t })
        }
    }
}

/// A topic an operator names in a setting (`WEBSOCKET_RETAIN_TOPICS`, `WEBSOCKET_HISTORY_TOPICS`):
/// exact, or every topic under a prefix when it ends with `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicPattern {
    /// This topic only.
    Exact(String),
    /// Every topic starting with this.
    Prefix(String),
}

impl TopicPattern {
    /// Parses `oro/ping` or `news.*`; `Err` says what is wrong with `entry`.
    pub fn parse(entry: &str) -> Result<TopicPattern, String> {
        match entry.strip_suffix('*') {
            Some("") => Err("\"*\" alone would cover every topic: name a prefix".into()),
            Some(prefix) if prefix.contains('*') => {
                Err(format!("{entry:?}: only a final * is allowed"))
            }
            Some(prefix) => Ok(TopicPattern::Prefix(prefix.to_owned())),
            None if entry.contains('*') => Err(format!("{entry:?}: only a final * is allowed")),
            None => Ok(TopicPattern::Exact(entry.to_owned())),
        }
    }

    /// Whether `topic` is covered.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            TopicPattern::Exact(t) => t == topic,
            TopicPattern::Prefix(p) => topic.starts_with(p.as_str()),
        }
    }
}

impl fmt::Display for TopicPattern {
    /// As configured.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicPattern::Exact(t) => f.write_str(t),
            TopicPattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_exact_or_a_prefix_with_a_final_star() {
        let exact = TopicPattern::parse("oro/ping").expect("valid");
        assert!(exact.matches("oro/ping") && !exact.matches("oro/ping2"));
        let prefix = TopicPattern::parse("news.*").expect("valid");
        assert!(prefix.matches("news.sport") && !prefix.matches("new"));
        assert_eq!(prefix.to_string(), "news.*");
        assert!(TopicPattern::parse("*").is_err());
        assert!(TopicPattern::parse("a*b").is_err());
        assert!(TopicPattern::parse("a**").is_err());
    }

    #[test]
    fn wildcards_need_every_other_component_equal_and_a_non_empty_one_for_empty() {
        assert!(covers("a..c", MatchPolicy::Wildcard, "a.b.c"));
        assert!(!covers("a..c", MatchPolicy::Wildcard, "a..c"));
        assert!(!covers("a..c", MatchPolicy::Wildcard, "a.b.c.d"));
        assert!(covers("a.", MatchPolicy::Prefix, "a.b"));
        assert!(!covers("a.b", MatchPolicy::Exact, "a.b.c"));
    }
}
