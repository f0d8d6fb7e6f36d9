//! Retained events (WAMP advanced profile, "Event Retention"): per topic, the last event published
//! with `PUBLISH.Options.retain = true`, handed to a subscriber that asks for it with
//! `SUBSCRIBE.Options.get_retained = true` right after its SUBSCRIBED, marked
//! `EVENT.Details.retained = true`.
//!
//! One store per realm, bounded by topic count (`WEBSOCKET_RETAINED_TOPICS`) and by payload bytes
//! (`WEBSOCKET_RETAINED_BYTES`, measured as MessagePack): a retained event for a topic already
//! held replaces the old one; one that does not fit is not retained (the publication itself is
//! delivered as usual) and is counted, and if it was to replace an older event, that one is
//! dropped too, so a late subscriber never gets a state the publisher has since replaced.
//! Who may retain is an authorization action (`retain`), checked in the operations layer with
//! the publication's other checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use wampd_proto::wamp::MatchPolicy;

use crate::router::broker::Publication;
use crate::router::stored::{covers, StoredEvent, TopicPattern};
use wampd_proto::units::parse_list;

/// Default [`Retained`] bound: topics per realm.
pub const DEFAULT_RETAINED_TOPICS: usize = 10_000;
/// Default [`Retained`] bound: payload bytes per realm.
pub const DEFAULT_RETAINED_BYTES: usize = 64 << 20;

/// Topics whose every publication is retained (`WEBSOCKET_RETAIN_TOPICS`): for publishers and
/// subscribers that cannot send the options (WAMP v1, Socket.IO, HTTP), the operator decides per
/// topic. An entry is an exact topic, or a prefix when it ends with `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetainTopics(Vec<TopicPattern>);

impl RetainTopics {
    /// Parses `a.b,oro/ping,news.*`; `Err` names the bad entry.
    pub fn parse(list: &str) -> Result<RetainTopics, String> {
        parse_list(list)?
            .iter()
            .map(|entry| TopicPattern::parse(entry))
            .collect::<Result<_, _>>()
            .map(RetainTopics)
    }

    /// Whether publications to `topic` are always retained.
    pub fn matches(&self, topic: &str) -> bool {
        self.0.iter().any(|p| p.matches(topic))
    }

    /// True when no topic is named.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for RetainTopics {
    /// The list as configured (`config:check` shows it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let all: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&all.join(","))
    }
}

/// The realm's retained events (see the module docs).
#[derive(Debug)]
pub struct Retained {
    events: Mutex<Events>,
    max_topics: usize,
    max_bytes: usize,
    /// Topics retained without the `retain` option.
    always: RetainTopics,
}

/// What keeping a publication did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Stored (replacing the topic's earlier event, if any).
    Stored,
    /// Not stored: the realm's retained events are at their topic or byte bound.
    Full,
}

impl Retained {
    /// A store for at most `max_topics` topics and `max_bytes` of payload, retaining every
    /// publication to `always`.
    pub fn new(max_topics: usize, max_bytes: usize, always: RetainTopics) -> Retained {
        Retained {
            events: Mutex::new(Events::default()),
            max_topics,
            max_bytes,
            always,
        }
    }

    /// Whether `publication` is to be kept: it asked (`retain`), or its topic is configured.
    pub fn wants(&self, publication: &Publication<'_>) -> bool {
        publication.options.retain || self.always.matches(publication.topic)
    }

    /// Whether publications to `topic` are retained without asking.
    pub fn always(&self, topic: &str) -> bool {
        self.always.matches(topic)
    }

    /// True when some topics are retained without asking (WAMP v1 and Socket.IO subscribers
    /// then get their retained events on subscribe).
    pub fn has_configured_topics(&self) -> bool {
        !self.always.is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Events> {
        // Every critical section leaves the map consistent.
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `publication` as its topic's retained event.
    pub fn keep(&self, publication: &Publication<'_>) -> Kept {
        let event = Arc::new(StoredEvent::capture(publication));
        let size = event.size;
        let mut events = self.lock();
        let replaced = events
            .by_topic
            .remove(publication.topic)
            .map_or(0, |old| old.size);
        events.bytes -= replaced;
        let fits = events.by_topic.len() < self.max_topics && events.bytes + size <= self.max_bytes;
        if !fits {
            return Kept::Full;
        }
        events.bytes += size;
        events.by_topic.insert(publication.topic.to_owned(), event);
        Kept::Stored
    }

    /// The retained events a subscription to `uri` with `policy` covers, with their topics.
    /// A pattern subscription scans the store, which its topic bound keeps short; the realm
    /// calls this under the subscription's lock (see `Realm::subscribe`).
    pub fn matching(&self, uri: &str, policy: MatchPolicy) -> Vec<(String, Arc<StoredEvent>)> {
        let guard = self.lock();
        let events = &guard.by_topic;
        match policy {
            MatchPolicy::Exact => events
                .get(uri)
                .map(|e| vec![(uri.to_owned(), e.clone())])
                .unwrap_or_default(),
            _ => events
                .iter()
                .filter(|(topic, _)| covers(uri, policy, topic))
                .map(|(topic, e)| (topic.clone(), e.clone()))
                .collect(),
        }
    }

    /// Topics with a retained event.
    pub fn len(&self) -> usize {
        self.lock().by_topic.len()
    }

    /// Payload bytes retained.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// True when nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The retained events by topic, and the bytes they count.
#[derive(Debug, Default)]
struct Events {
    by_topic: HashMap<String, Arc<StoredEvent>>,
    bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::broker::Publisher;
    use crate::router::publish_options::PublishOptions;
    use crate::router::stored::payload_size;
    use wampd_proto::wamp::{Dict, Id, Value};

    fn keep(store: &Retained, topic: &str, n: u64) -> Kept {
        keep_with(store, topic, &[Value::UInt(n)], &Dict::new(), n)
    }

    fn keep_with(store: &Retained, topic: &str, args: &[Value], kwargs: &Dict, id: Id) -> Kept {
        let options = PublishOptions {
            retain: true,
            ..PublishOptions::default()
        };
        store.keep(&Publication {
            id,
            topic,
            args,
            kwargs,
            options: &options,
            publisher: Publisher {
                id: 7,
                authid: "a",
                authrole: "r",
            },
            v1_payload: None,
            position: None,
        })
    }

    #[test]
    fn the_last_event_per_topic_is_kept_and_the_bound_holds() {
        let store = Retained::new(2, 1 << 20, RetainTopics::default());
        assert_eq!(keep(&store, "a.b", 1), Kept::Stored);
        assert_eq!(keep(&store, "a.b", 2), Kept::Stored);
        assert_eq!(keep(&store, "a.c", 3), Kept::Stored);
        assert_eq!(keep(&store, "x.y", 4), Kept::Full);
        assert_eq!(
            keep(&store, "a.c", 5),
            Kept::Stored,
            "a held topic is replaced"
        );
        assert_eq!(store.len(), 2);
        let exact = store.matching("a.b", MatchPolicy::Exact);
        assert_eq!(exact.len(), 1);
        assert_eq!(exact[0].1.publication, 2);
        let mut prefix: Vec<u64> = store
            .matching("a.", MatchPolicy::Prefix)
            .iter()
            .map(|(_, e)| e.publication)
            .collect();
        prefix.sort_unstable();
        assert_eq!(prefix, vec![2, 5]);
        assert_eq!(store.matching("a..", MatchPolicy::Wildcard).len(), 0);
        assert_eq!(store.matching(".c", MatchPolicy::Wildcard).len(), 1);
        assert!(store.matching("x.y", MatchPolicy::Exact).is_empty());
    }

    #[test]
    fn the_byte_bound_holds_and_a_replacement_that_does_not_fit_drops_the_old_state() {
        let one = payload_size(&[Value::UInt(1)], &Dict::new());
        let store = Retained::new(100, 2 * one, RetainTopics::default());
        assert_eq!(keep(&store, "a", 1), Kept::Stored);
        assert_eq!(keep(&store, "b", 2), Kept::Stored);
        assert_eq!(keep(&store, "c", 3), Kept::Full, "over the bytes");
        assert_eq!(
            keep(&store, "a", 4),
            Kept::Stored,
            "a replacement of the same size fits"
        );
        assert_eq!(store.bytes(), 2 * one);
        let big = Retained::new(100, one, RetainTopics::default());
        assert_eq!(keep(&big, "a", 1), Kept::Stored);
        let kwargs: Dict = [("k".to_string(), Value::Str("x".repeat(100)))]
            .into_iter()
            .collect();
        let kept = keep_with(&big, "a", &[], &kwargs, 9);
        assert_eq!(kept, Kept::Full);
        assert!(
            big.matching("a", MatchPolicy::Exact).is_empty(),
            "no stale state is left"
        );
        assert_eq!(big.bytes(), 0);
    }

    #[test]
    fn configured_topics_are_exact_or_a_prefix_with_a_final_star() {
        let topics = RetainTopics::parse("oro/ping, news.*,").expect("valid");
        assert!(topics.matches("oro/ping"));
        assert!(!topics.matches("oro/ping2"));
        assert!(topics.matches("news.sport"));
        assert!(!topics.matches("new"));
        assert!(RetainTopics::parse("*").is_err());
        assert!(RetainTopics::parse("a*b").is_err());
        assert!(RetainTopics::parse("").expect("empty").is_empty());
    }
}
