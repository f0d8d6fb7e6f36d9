//! Retained events (WAMP advanced profile, "Event Retention"): per topic, the last event published
//! with `PUBLISH.Options.retain = true`, handed to a subscriber that asks for it with
//! `SUBSCRIBE.Options.get_retained = true` right after its SUBSCRIBED, marked
//! `EVENT.Details.retained = true`.
//!
//! One store per realm, bounded by topic count (`WEBSOCKET_RETAINED_TOPICS`): a retained event for
//! a topic already held replaces the old one; one for a new topic beyond the bound is not
//! retained (the publication itself is delivered as usual) and is counted. Each event is bounded
//! by the message size limit that admitted it. Who may retain is an authorization action
//! (`retain`), checked in the operations layer with the publication's other checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use wampd_proto::wamp::{Dict, Id, MatchPolicy, Value};

use crate::router::broker::Publication;
use crate::router::publish_options::PublishOptions;

/// Default [`Retained`] bound: topics per realm.
pub const DEFAULT_RETAINED_TOPICS: usize = 10_000;

/// One retained event: what a late subscriber's EVENT is built from.
#[derive(Debug)]
pub struct RetainedEvent {
    /// The publication's ID.
    pub publication: Id,
    /// Positional payload.
    pub args: Vec<Value>,
    /// Keyword payload.
    pub kwargs: Dict,
    /// The publisher's identity when it asked for `disclose_me`: (session, authid, authrole).
    pub disclosed: Option<(Id, String, String)>,
    /// The publisher's session, for `exclude_me`.
    pub publisher: Id,
    /// The publication's options: a late subscriber gets the event only if its black- and
    /// white-lists would have let it through live.
    pub options: PublishOptions,
}

/// The realm's retained events (see the module docs).
#[derive(Debug)]
pub struct Retained {
    events: Mutex<HashMap<String, Arc<RetainedEvent>>>,
    max_topics: usize,
}

/// What keeping a publication did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Stored (replacing the topic's earlier event, if any).
    Stored,
    /// Not stored: the realm already retains events for as many topics as it may.
    Full,
}

impl Retained {
    /// A store for at most `max_topics` topics.
    pub fn new(max_topics: usize) -> Retained {
        Retained {
            events: Mutex::new(HashMap::new()),
            max_topics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<RetainedEvent>>> {
        // Every critical section leaves the map consistent.
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `publication` as its topic's retained event.
    pub fn keep(&self, publication: &Publication<'_>) -> Kept {
        let disclosed = publication.options.disclose_me.then(|| {
            let p = &publication.publisher;
            (p.id, p.authid.to_owned(), p.authrole.to_owned())
        });
        let event = Arc::new(RetainedEvent {
            publication: publication.id,
            args: publication.args.to_vec(),
            kwargs: publication.kwargs.clone(),
            disclosed,
            publisher: publication.publisher.id,
            options: publication.options.clone(),
        });
        let mut events = self.lock();
        if let Some(slot) = events.get_mut(publication.topic) {
            *slot = event;
            return Kept::Stored;
        }
        if events.len() >= self.max_topics {
            return Kept::Full;
        }
        events.insert(publication.topic.to_owned(), event);
        Kept::Stored
    }

    /// The retained events a subscription to `uri` with `policy` covers, with their topics.
    /// A pattern subscription scans the store (bounded by its topic limit), outside any
    /// broker lock.
    pub fn matching(&self, uri: &str, policy: MatchPolicy) -> Vec<(String, Arc<RetainedEvent>)> {
        let events = self.lock();
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
        self.lock().len()
    }

    /// True when nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a subscription `(pattern, policy)` receives events published to `topic`: the same
/// rule the broker's topic index applies.
fn covers(pattern: &str, policy: MatchPolicy, topic: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::broker::Publisher;

    fn keep(store: &Retained, topic: &str, n: u64) -> Kept {
        let options = PublishOptions {
            retain: true,
            ..PublishOptions::default()
        };
        let kwargs = Dict::new();
        store.keep(&Publication {
            id: n,
            topic,
            args: &[Value::UInt(n)],
            kwargs: &kwargs,
            options: &options,
            publisher: Publisher {
                id: 7,
                authid: "a",
                authrole: "r",
            },
            v1_payload: None,
        })
    }

    #[test]
    fn the_last_event_per_topic_is_kept_and_the_bound_holds() {
        let store = Retained::new(2);
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
}
