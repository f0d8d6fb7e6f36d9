//! Event history and recovery: per topic, the last events published (as many and as old as the
//! topic's `WEBSOCKET_HISTORY_TOPICS` entry allows), each at a position in its topic's stream:
//! an *epoch* (a random name the stream got when it was created) and an *offset* (1, 2, 3, …,
//! one per publication, never reused within the epoch).
//!
//! Every EVENT of a history topic carries both in `Details` (`epoch`, `offset`). A subscriber
//! that comes back subscribes with `recover_epoch` and `recover_offset` (the last it saw) and gets
//! the events it missed, in order, between its SUBSCRIBED and any live event; or, when the
//! stream no longer holds them (trimmed, expired, or the epoch changed: the router restarted or
//! dropped the stream), the ERROR [`RECOVERY_FAILED`] with the stream's current position in its
//! `ArgumentsKw`, so it can reload its state and subscribe from there.
//!
//! Exactly-once in order needs one rule: a history topic's publication is appended and delivered
//! under the history lock ([`Appended`]), and a recovering subscribe takes the same lock before
//! the broker's, so no event can fall between "what the stream held" and "what is delivered
//! live". Only history topics pay for it.
//!
//! `wamp.subscription.get_events` (WAMP advanced profile, "Event History") reads the same
//! streams ([`History::query`]).
//!
//! Bounded by events per stream and age (per topic pattern), by streams per realm
//! (`WEBSOCKET_HISTORY_STREAMS`) and by payload bytes per realm (`WEBSOCKET_HISTORY_BYTES`,
//! measured as MessagePack): an append that does not fit trims its own stream's oldest events
//! first; what still does not fit is not stored (its offset is still used, so a recovery across
//! it is refused rather than silently incomplete) and is counted.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::gauge::Gauge;
use wampd_proto::units::{parse_duration, parse_list, parse_usize};
use wampd_proto::wamp::{id, Dict, Id, MatchPolicy};

use crate::router::broker::{Position, Publication};
use crate::router::stored::{covers, StoredEvent, TopicPattern};

/// The meta procedure reading a subscription's history.
pub const GET_EVENTS: &str = "wamp.subscription.get_events";
/// The error of a subscribe whose recovery is impossible.
pub const RECOVERY_FAILED: &str = "wampd.error.recovery_failed";
/// Default bound: history streams (topics) per realm.
pub const DEFAULT_HISTORY_STREAMS: usize = 10_000;
/// Default bound: payload bytes of history per realm.
pub const DEFAULT_HISTORY_BYTES: usize = 64 << 20;
/// Events a stream keeps when its entry names no size.
pub const DEFAULT_STREAM_SIZE: usize = 1_000;
/// Most events one stream may be configured to keep.
pub const MAX_STREAM_SIZE: usize = 1_000_000;
/// `get_events` answers this many events when the call names no `limit`.
pub const DEFAULT_GET_EVENTS: usize = 10;
/// Most events one `get_events` call may ask for (a result is one message).
pub const MAX_GET_EVENTS: usize = 1_000;

/// The history settings: which topics keep one (`WEBSOCKET_HISTORY_TOPICS`) and the realm-wide
/// bounds (`WEBSOCKET_HISTORY_STREAMS`, `WEBSOCKET_HISTORY_BYTES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySettings {
    /// Topics with a history, and how much of it.
    pub topics: HistoryTopics,
    /// Most streams per realm.
    pub streams: usize,
    /// Most payload bytes per realm.
    pub bytes: usize,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            topics: HistoryTopics::default(),
            streams: DEFAULT_HISTORY_STREAMS,
            bytes: DEFAULT_HISTORY_BYTES,
        }
    }
}

/// What one topic pattern's streams keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Most events kept.
    pub size: usize,
    /// Events older than this are dropped; `None`: kept until trimmed by size or bytes.
    pub ttl: Option<Duration>,
}

/// `WEBSOCKET_HISTORY_TOPICS`: which topics keep a history and how much; the first entry that
/// matches a topic decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryTopics(Vec<(TopicPattern, StreamLimits)>);

impl HistoryTopics {
    /// Parses `pattern[=size[/ttl]]` entries, comma-separated: `news.*=100/10m,oro/ping=50,chat.*`.
    /// `Err` names the bad entry.
    pub fn parse(list: &str) -> Result<HistoryTopics, String> {
        parse_list(list)?
            .iter()
            .map(|entry| {
                let (pattern, limits) = match entry.rsplit_once('=') {
                    Some((pattern, limits)) => (pattern.trim(), Some(limits.trim())),
                    None => (entry.as_str(), None),
                };
                let pattern = TopicPattern::parse(pattern)?;
                let limits = match limits {
                    None => StreamLimits {
                        size: DEFAULT_STREAM_SIZE,
                        ttl: None,
                    },
                    Some(limits) => {
                        parse_limits(limits).map_err(|why| format!("{entry:?}: {why}"))?
                    }
                };
                Ok((pattern, limits))
            })
            .collect::<Result<_, String>>()
            .map(HistoryTopics)
    }

    /// What `topic`'s stream keeps, if it keeps one.
    pub fn limits_for(&self, topic: &str) -> Option<StreamLimits> {
        self.0
            .iter()
            .find(|(pattern, _)| pattern.matches(topic))
            .map(|(_, limits)| *limits)
    }

    /// True when no topic keeps a history.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same list, with `topic` keeping `limits` unless an entry already covers it.
    pub fn or(mut self, topic: &str, limits: StreamLimits) -> HistoryTopics {
        if self.limits_for(topic).is_none() {
            self.0.push((TopicPattern::Exact(topic.to_owned()), limits));
        }
        self
    }
}

fn parse_limits(limits: &str) -> Result<StreamLimits, String> {
    let (size, ttl) = match limits.split_once('/') {
        Some((size, ttl)) => (size, Some(ttl)),
        None => (limits, None),
    };
    let size = parse_usize(size).map_err(|why| format!("size: {why}"))?;
    if size > MAX_STREAM_SIZE {
        return Err(format!("size: at most {MAX_STREAM_SIZE} events"));
    }
    let ttl = ttl
        .map(|ttl| parse_duration(ttl).map_err(|why| format!("age: {why}")))
        .transpose()?;
    if ttl == Some(Duration::ZERO) {
        return Err("age: must be more than 0".into());
    }
    Ok(StreamLimits { size, ttl })
}

impl fmt::Display for HistoryTopics {
    /// As configured, with defaults spelt out (`config:check` shows it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all: Vec<String> = self
            .0
            .iter()
            .map(|(pattern, limits)| match limits.ttl {
                Some(ttl) => format!("{pattern}={}/{}s", limits.size, ttl.as_secs()),
                None => format!("{pattern}={}", limits.size),
            })
            .collect();
        f.write_str(&all.join(","))
    }
}

/// One stored event in its stream.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Arrival order across the realm's streams (merges streams for pattern subscriptions).
    arrival: u64,
    /// When the router received it.
    pub at: SystemTime,
    /// The event, with its position.
    pub event: Arc<StoredEvent>,
}

impl Entry {
    fn offset(&self) -> u64 {
        self.event.position.as_ref().map_or(0, |p| p.offset)
    }
}

#[derive(Debug)]
struct Stream {
    epoch: Arc<str>,
    /// The last offset given out (0: none yet).
    last: u64,
    events: VecDeque<Entry>,
    limits: StreamLimits,
    bytes: usize,
}

impl Stream {
    /// Drops events past the stream's age; returns the bytes freed.
    fn expire(&mut self, now: SystemTime) -> (usize, usize) {
        let Some(ttl) = self.limits.ttl else {
            return (0, 0);
        };
        let mut freed = (0, 0);
        while let Some(front) = self.events.front() {
            let age = now.duration_since(front.at).unwrap_or(Duration::ZERO);
            if age <= ttl {
                break;
            }
            freed.0 += 1;
            freed.1 += self.pop_front();
        }
        freed
    }

    fn pop_front(&mut self) -> usize {
        self.take_front().map_or(0, |e| e.event.size)
    }

    /// Takes the oldest event out, for its caller to free once the lock is released.
    fn take_front(&mut self) -> Option<Entry> {
        let entry = self.events.pop_front()?;
        self.bytes -= entry.event.size;
        Some(entry)
    }

    fn position(&self) -> Position {
        Position {
            epoch: self.epoch.clone(),
            offset: self.last,
        }
    }
}

/// The realm's history streams (see the module docs).
#[derive(Debug)]
pub struct History {
    topics: HistoryTopics,
    max_streams: usize,
    max_bytes: usize,
    streams: Mutex<Streams>,
    gauges: Gauges,
}

/// `wampd_history_events` and `wampd_history_bytes` (summed over realms).
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Events held.
    pub events: Gauge,
    /// Payload bytes held.
    pub bytes: Gauge,
}

/// Every stream of a realm, behind the history lock.
#[derive(Debug, Default)]
pub struct Streams {
    by_topic: HashMap<Arc<str>, Stream>,
    bytes: usize,
    arrivals: u64,
}

/// A history topic's publication appended: its position, and the history lock, held while the
/// publication is delivered (see the module docs).
pub struct Appended<'a> {
    /// Held until the live delivery is queued.
    pub guard: MutexGuard<'a, Streams>,
    /// The publication's place in its stream.
    pub position: Position,
    /// Set when it could not be stored: which bound (`history_streams`, `history_bytes`).
    pub refused: Option<&'static str>,
    /// The event the append pushed out of the stream, freed after the lock is released (a
    /// field after `guard` drops after it).
    _retired: Option<Entry>,
}

/// What a node lacks of a stream before a sequenced event ([`History::missing_before`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// It holds everything before it.
    Nothing,
    /// It never held the stream: its past was published before this node knew of it.
    Stream,
    /// The events from this offset on: missed here (a gap, or another epoch from offset 1).
    From(u64),
}

/// What storing a sequenced publication did.
pub enum Stored<'a> {
    /// Kept (or counted against a bound), with the history lock held for its delivery.
    Kept(Appended<'a>),
    /// This node already holds that offset: it was delivered here before.
    Duplicate,
}

/// Why a recovery is impossible, and where the stream stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecoverable {
    /// For the client.
    pub reason: String,
    /// The stream's current position, `None` when the topic has no stream now.
    pub current: Option<Position>,
}

impl Unrecoverable {
    /// The ERROR's `ArgumentsKw`: the current `epoch` and `offset`, when there is a stream.
    pub fn kwargs(&self) -> Dict {
        let mut kwargs = Dict::new();
        if let Some(current) = &self.current {
            current.insert_into(&mut kwargs);
        }
        kwargs
    }
}

impl History {
    /// Streams as `settings` configure them, counted in `gauges`.
    pub fn new(settings: &HistorySettings, gauges: Gauges) -> History {
        History {
            topics: settings.topics.clone(),
            max_streams: settings.streams,
            max_bytes: settings.bytes,
            streams: Mutex::new(Streams::default()),
            gauges,
        }
    }

    /// Whether `topic` keeps a history.
    pub fn keeps(&self, topic: &str) -> bool {
        !self.topics.is_empty() && self.topics.limits_for(topic).is_some()
    }

    /// Takes the history lock (recovering subscribes take it before the broker's).
    pub fn lock(&self) -> MutexGuard<'_, Streams> {
        // Every critical section leaves the streams consistent.
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What `publication`'s stream keeps, if the topic keeps one and the publication may be
    /// kept: one addressed to sessions by ID (`exclude`, `eligible`) is not, since a session ID
    /// means nothing to a later session (WAMP "Event History", security aspects).
    pub fn wants(&self, publication: &Publication<'_>) -> Option<StreamLimits> {
        if self.topics.is_empty() {
            return None;
        }
        let limits = self.topics.limits_for(publication.topic)?;
        let options = publication.options;
        (options.exclude.is_empty() && options.eligible.is_none()).then_some(limits)
    }

    /// Appends `publication` to its topic's stream at the next offset, if [`History::wants`]
    /// it. `Err` names the bound (`history_streams`) when the topic has no stream and the realm
    /// has no room for one: the publication is then delivered as on a topic without history.
    pub fn append(
        &self,
        publication: &Publication<'_>,
    ) -> Result<Option<Appended<'_>>, &'static str> {
        let Some(limits) = self.wants(publication) else {
            return Ok(None);
        };
        self.store(publication, limits, None, SystemTime::now())
            .map(|stored| match stored {
                Stored::Kept(appended) => Some(appended),
                Stored::Duplicate => None,
            })
    }

    /// Stores `publication` at the position a sequencer gave it (cluster mode: Redis numbers
    /// the stream, every node keeps a copy), received `at`. Another epoch replaces the stream;
    /// an offset already held is [`Stored::Duplicate`] (not to be delivered again); an offset
    /// past the next one starts the stream over from there, so what is held is always
    /// contiguous and a recovery across the gap is refused. `Ok(None)` when the topic keeps no
    /// history here.
    pub fn insert_at(
        &self,
        publication: &Publication<'_>,
        position: &Position,
        at: SystemTime,
    ) -> Result<Option<Stored<'_>>, &'static str> {
        let Some(limits) = self.wants(publication) else {
            return Ok(None);
        };
        self.store(publication, limits, Some(position), at)
            .map(Some)
    }

    /// What this node lacks of `topic`'s stream before an event a sequencer placed at
    /// `position`.
    pub fn missing_before(&self, topic: &str, position: &Position) -> Missing {
        let streams = self.lock();
        match streams.by_topic.get(topic) {
            None => Missing::Stream,
            Some(stream) if *stream.epoch == *position.epoch => {
                if position.offset > stream.last.saturating_add(1) {
                    Missing::From(stream.last.saturating_add(1))
                } else {
                    Missing::Nothing
                }
            }
            Some(_) => Missing::From(1),
        }
    }

    /// `(topic, epoch, last offset)` of every stream held.
    pub fn positions(&self) -> Vec<(Arc<str>, Position)> {
        let streams = self.lock();
        streams
            .by_topic
            .iter()
            .map(|(topic, stream)| (topic.clone(), stream.position()))
            .collect()
    }

    fn store(
        &self,
        publication: &Publication<'_>,
        limits: StreamLimits,
        given: Option<&Position>,
        at: SystemTime,
    ) -> Result<Stored<'_>, &'static str> {
        // Copied before the lock is taken: only the bookkeeping runs under it.
        let mut event = StoredEvent::capture(publication);
        let now = SystemTime::now();
        let mut guard = self.lock();
        let streams = &mut *guard;
        let (mut freed_events, mut freed_bytes) = (0usize, 0usize);
        if let (Some(given), Some(stream)) = (given, streams.by_topic.get_mut(publication.topic)) {
            if *stream.epoch == *given.epoch && given.offset <= stream.last {
                return Ok(Stored::Duplicate);
            }
            if *stream.epoch != *given.epoch || given.offset > stream.last.saturating_add(1) {
                // Another life of the stream, or a gap: start over from the given position.
                freed_events += stream.events.len();
                freed_bytes += stream.bytes;
                streams.bytes -= stream.bytes;
                stream.events.clear();
                stream.bytes = 0;
                stream.epoch = given.epoch.clone();
                stream.last = given.offset.saturating_sub(1);
            }
        }
        if !streams.by_topic.contains_key(publication.topic) {
            if streams.by_topic.len() >= self.max_streams {
                // Make room from streams whose every event has expired.
                streams.by_topic.retain(|_, stream| {
                    let freed = stream.expire(now);
                    freed_events += freed.0;
                    freed_bytes += freed.1;
                    !stream.events.is_empty()
                });
                streams.bytes -= freed_bytes;
            }
            if streams.by_topic.len() >= self.max_streams {
                self.account(-(freed_events as i64), -(freed_bytes as i64));
                return Err("history_streams");
            }
            let (epoch, last) = match given {
                Some(given) => (given.epoch.clone(), given.offset.saturating_sub(1)),
                None => (Arc::from(format!("{:x}", id::random_id())), 0),
            };
            streams.by_topic.insert(
                Arc::from(publication.topic),
                Stream {
                    epoch,
                    last,
                    events: VecDeque::new(),
                    limits,
                    bytes: 0,
                },
            );
        }
        streams.arrivals += 1;
        let arrival = streams.arrivals;
        let mut bytes = streams.bytes;
        let Some(stream) = streams.by_topic.get_mut(publication.topic) else {
            return Err("history_streams");
        };
        let freed = stream.expire(now);
        freed_events += freed.0;
        freed_bytes += freed.1;
        bytes -= freed.1;
        stream.last = stream.last.saturating_add(1);
        let position = stream.position();
        event.position = Some(position.clone());
        let size = event.size;
        let mut retired = None;
        while stream.events.len() >= stream.limits.size
            || (bytes + size > self.max_bytes && !stream.events.is_empty())
        {
            let Some(old) = stream.take_front() else {
                break;
            };
            bytes -= old.event.size;
            freed_events += 1;
            freed_bytes += old.event.size;
            // One is kept to be freed outside the lock (the usual case); more are rare.
            retired.get_or_insert(old);
        }
        let refused = if bytes + size > self.max_bytes {
            Some("history_bytes")
        } else {
            stream.events.push_back(Entry {
                arrival,
                at,
                event: Arc::new(event),
            });
            stream.bytes += size;
            bytes += size;
            None
        };
        streams.bytes = bytes;
        let (added_events, added_bytes) = if refused.is_none() { (1, size) } else { (0, 0) };
        self.account(
            added_events - freed_events as i64,
            added_bytes as i64 - freed_bytes as i64,
        );
        Ok(Stored::Kept(Appended {
            guard,
            position,
            refused,
            _retired: retired,
        }))
    }

    fn account(&self, events: i64, bytes: i64) {
        if events != 0 {
            self.gauges.events.inc_by(events);
        }
        if bytes != 0 {
            self.gauges.bytes.inc_by(bytes);
        }
    }

    /// The events of `topic` after `from`, for a subscriber recovering from there; refused
    /// when the stream cannot prove it holds every one of them. Called with the history lock
    /// held ([`History::lock`]) until the events are queued.
    pub fn recover(
        &self,
        streams: &mut Streams,
        topic: &str,
        from: &Position,
    ) -> Result<Vec<Arc<StoredEvent>>, Unrecoverable> {
        let Some(stream) = streams.by_topic.get_mut(topic) else {
            return Err(Unrecoverable {
                reason: format!("the history of \"{topic}\" has no epoch {} (the router restarted or dropped the stream)", from.epoch),
                current: None,
            });
        };
        let current = stream.position();
        if *stream.epoch != *from.epoch {
            return Err(Unrecoverable {
                reason: format!(
                    "the history of \"{topic}\" is at epoch {}, not {} (the router restarted or dropped the stream)",
                    stream.epoch, from.epoch
                ),
                current: Some(current),
            });
        }
        if from.offset > stream.last {
            return Err(Unrecoverable {
                reason: format!(
                    "offset {} is past the last one of \"{topic}\" ({})",
                    from.offset, stream.last
                ),
                current: Some(current),
            });
        }
        let (expired_events, expired_bytes) = stream.expire(SystemTime::now());
        streams.bytes -= expired_bytes;
        self.account(-(expired_events as i64), -(expired_bytes as i64));
        let first = stream
            .events
            .front()
            .map_or(stream.last.saturating_add(1), Entry::offset);
        if from.offset.saturating_add(1) < first {
            return Err(Unrecoverable {
                reason: format!(
                    "the history of \"{topic}\" no longer holds offsets {} to {}",
                    from.offset.saturating_add(1),
                    first - 1
                ),
                current: Some(current),
            });
        }
        Ok(stream
            .events
            .iter()
            .filter(|e| e.offset() > from.offset)
            .map(|e| e.event.clone())
            .collect())
    }

    /// The events a subscription `(uri, policy)` would have received, with their topics,
    /// filtered by `query` (`wamp.subscription.get_events`): oldest first, the newest `limit` of
    /// them, or the first `limit` from a `from_`/`after_` bound on; newest first with `reverse`.
    pub fn query(
        &self,
        uri: &str,
        policy: MatchPolicy,
        query: &Query,
    ) -> Result<Vec<(Arc<str>, Entry)>, String> {
        let mut guard = self.lock();
        let streams = &mut *guard;
        let now = SystemTime::now();
        let mut expired = (0, 0);
        let mut found: Vec<(Arc<str>, Entry)> = Vec::new();
        for (topic, stream) in streams.by_topic.iter_mut() {
            if !covers(uri, policy, topic) || query.topic.as_deref().is_some_and(|t| t != &**topic)
            {
                continue;
            }
            let freed = stream.expire(now);
            expired.0 += freed.0;
            expired.1 += freed.1;
            found.extend(stream.events.iter().map(|e| (topic.clone(), e.clone())));
        }
        streams.bytes -= expired.1;
        drop(guard);
        self.account(-(expired.0 as i64), -(expired.1 as i64));
        found.sort_by_key(|(_, e)| e.arrival);
        let position_of = |id: Id| {
            found
                .iter()
                .position(|(_, e)| e.event.publication == id)
                .ok_or_else(|| format!("publication {id} is not in the history"))
        };
        let mut range = 0..found.len();
        if let Some(id) = query.from_publication {
            range.start = range.start.max(position_of(id)?);
        }
        if let Some(id) = query.after_publication {
            range.start = range.start.max(position_of(id)? + 1);
        }
        if let Some(id) = query.before_publication {
            range.end = range.end.min(position_of(id)?);
        }
        if let Some(id) = query.until_publication {
            range.end = range.end.min(position_of(id)? + 1);
        }
        let in_time = |e: &Entry| {
            query.from_time.is_none_or(|t| e.at >= t)
                && query.after_time.is_none_or(|t| e.at > t)
                && query.before_time.is_none_or(|t| e.at < t)
                && query.until_time.is_none_or(|t| e.at <= t)
        };
        let selected = found
            .drain(range.start..range.end.max(range.start))
            .filter(|(_, e)| in_time(e));
        let anchored = query.from_publication.is_some()
            || query.after_publication.is_some()
            || query.from_time.is_some()
            || query.after_time.is_some();
        let mut all: Vec<_> = selected.collect();
        Ok(if query.reverse {
            all.reverse();
            all.truncate(query.limit);
            all
        } else if anchored {
            all.truncate(query.limit);
            all
        } else {
            // No lower bound: the newest `limit`, oldest first.
            all.split_off(all.len().saturating_sub(query.limit))
        })
    }

    /// `(streams, events, bytes)` held now.
    pub fn usage(&self) -> (usize, usize, usize) {
        let streams = self.lock();
        let events = streams.by_topic.values().map(|s| s.events.len()).sum();
        (streams.by_topic.len(), events, streams.bytes)
    }
}

/// The filters of `wamp.subscription.get_events` (its `ArgumentsKw`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Most events answered.
    pub limit: usize,
    /// Newest first.
    pub reverse: bool,
    /// Only this topic (for a pattern subscription).
    pub topic: Option<String>,
    /// From this publication on (included).
    pub from_publication: Option<Id>,
    /// After this publication.
    pub after_publication: Option<Id>,
    /// Before this publication.
    pub before_publication: Option<Id>,
    /// Up to this publication (included).
    pub until_publication: Option<Id>,
    /// Received at or after.
    pub from_time: Option<SystemTime>,
    /// Received after.
    pub after_time: Option<SystemTime>,
    /// Received before.
    pub before_time: Option<SystemTime>,
    /// Received at or before.
    pub until_time: Option<SystemTime>,
}

impl Query {
    /// Reads the call's `ArgumentsKw`; `Err` names the bad one. Unknown keys are refused, so a
    /// filter wampd does not apply is never silently ignored.
    pub fn parse(kwargs: &Dict) -> Result<Query, String> {
        let mut query = Query {
            limit: DEFAULT_GET_EVENTS,
            reverse: false,
            topic: None,
            from_publication: None,
            after_publication: None,
            before_publication: None,
            until_publication: None,
            from_time: None,
            after_time: None,
            before_time: None,
            until_time: None,
        };
        for (key, value) in kwargs {
            let id = || {
                value
                    .as_id()
                    .ok_or_else(|| format!("{key} must be a publication ID"))
            };
            let time = || {
                value
                    .as_str()
                    .and_then(|s| humantime::parse_rfc3339_weak(s).ok())
                    .ok_or_else(|| format!("{key} must be an RFC 3339 timestamp"))
            };
            match key.as_str() {
                "limit" => {
                    let limit = value
                        .as_u64()
                        .filter(|n| (1..=MAX_GET_EVENTS as u64).contains(n))
                        .ok_or_else(|| {
                            format!("limit must be a whole number from 1 to {MAX_GET_EVENTS}")
                        })?;
                    query.limit = limit as usize;
                }
                "reverse" => {
                    query.reverse = value.as_bool().ok_or("reverse must be a boolean")?;
                }
                "topic" => {
                    query.topic = Some(value.as_str().ok_or("topic must be a string")?.to_owned());
                }
                "from_publication" => query.from_publication = Some(id()?),
                "after_publication" => query.after_publication = Some(id()?),
                "before_publication" => query.before_publication = Some(id()?),
                "until_publication" => query.until_publication = Some(id()?),
                "from_time" => query.from_time = Some(time()?),
                "after_time" => query.after_time = Some(time()?),
                "before_time" => query.before_time = Some(time()?),
                "until_time" => query.until_time = Some(time()?),
                other => return Err(format!("unknown get_events argument {other:?}")),
            }
        }
        Ok(query)
    }
}

/// An RFC 3339 timestamp with milliseconds, as `get_events` reports when an event arrived.
pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::broker::Publisher;
    use crate::router::publish_options::PublishOptions;
    use std::collections::HashSet;
    use wampd_proto::wamp::Value;

    fn history(topics: &str, streams: usize, bytes: usize) -> History {
        let settings = HistorySettings {
            topics: HistoryTopics::parse(topics).expect("valid topics"),
            streams,
            bytes,
        };
        History::new(&settings, Gauges::default())
    }

    fn publication<'a>(
        topic: &'a str,
        id: u64,
        args: &'a [Value],
        options: &'a PublishOptions,
    ) -> Publication<'a> {
        static EMPTY: std::sync::OnceLock<Dict> = std::sync::OnceLock::new();
        Publication {
            id,
            topic,
            args,
            kwargs: EMPTY.get_or_init(Dict::new),
            options,
            publisher: Publisher {
                id: 7,
                authid: "a",
                authrole: "r",
            },
            v1_payload: None,
            position: None,
        }
    }

    fn publish_with(
        h: &History,
        topic: &str,
        n: u64,
        options: &PublishOptions,
    ) -> Option<Position> {
        let args = [Value::UInt(n)];
        h.append(&publication(topic, n, &args, options))
            .expect("room for the stream")
            .map(|appended| appended.position)
    }

    fn publish(h: &History, topic: &str, n: u64) -> Option<Position> {
        publish_with(h, topic, n, &PublishOptions::default())
    }

    fn recover(h: &History, topic: &str, from: &Position) -> Result<Vec<u64>, Unrecoverable> {
        let mut streams = h.lock();
        h.recover(&mut streams, topic, from)
            .map(|events| events.iter().map(|e| e.publication).collect())
    }

    fn query(h: &History, uri: &str, policy: MatchPolicy, kwargs: Vec<(&str, Value)>) -> Vec<u64> {
        let kwargs: Dict = kwargs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let query = Query::parse(&kwargs).expect("valid query");
        h.query(uri, policy, &query)
            .expect("answered")
            .iter()
            .map(|(_, e)| e.event.publication)
            .collect()
    }

    #[test]
    fn entries_name_a_pattern_and_optionally_a_size_and_an_age() {
        let topics = HistoryTopics::parse("news.*=100/10m, oro/ping=5,chat.*").expect("valid");
        assert_eq!(
            topics.limits_for("news.sport"),
            Some(StreamLimits {
                size: 100,
                ttl: Some(Duration::from_secs(600))
            })
        );
        assert_eq!(topics.limits_for("oro/ping").map(|l| l.size), Some(5));
        assert_eq!(
            topics.limits_for("chat.x").map(|l| l.size),
            Some(DEFAULT_STREAM_SIZE)
        );
        assert_eq!(topics.limits_for("other"), None);
        assert_eq!(topics.to_string(), "news.*=100/600s,oro/ping=5,chat.*=1000");
        for bad in [
            "*",
            "a=0",
            "a=x",
            "a=10/0",
            "a=10/soon",
            "a=2000000",
            "a*b=1",
        ] {
            assert!(HistoryTopics::parse(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn offsets_follow_each_other_in_one_epoch_and_recovery_returns_what_was_missed() {
        let h = history("news.*=10", 10, 1 << 20);
        let first = publish(&h, "news.a", 1).expect("kept");
        assert_eq!(first.offset, 1);
        let second = publish(&h, "news.a", 2).expect("kept");
        assert_eq!((second.offset, &second.epoch), (2, &first.epoch));
        assert!(publish(&h, "other", 3).is_none(), "no history configured");
        let b = publish(&h, "news.b", 4).expect("kept");
        assert_eq!(b.offset, 1, "each topic is its own stream");
        assert_ne!(b.epoch, first.epoch);
        for n in 5..=8 {
            publish(&h, "news.a", n);
        }
        assert_eq!(recover(&h, "news.a", &first), Ok(vec![2, 5, 6, 7, 8]));
        let last = Position {
            epoch: first.epoch.clone(),
            offset: 6,
        };
        assert_eq!(recover(&h, "news.a", &last), Ok(vec![]), "nothing missed");
        let ahead = Position {
            epoch: first.epoch.clone(),
            offset: 7,
        };
        let refused = recover(&h, "news.a", &ahead).expect_err("ahead of the stream");
        assert_eq!(refused.current.map(|p| p.offset), Some(6));
        let stranger = Position {
            epoch: Arc::from("other"),
            offset: 1,
        };
        let refused = recover(&h, "news.a", &stranger).expect_err("another epoch");
        assert!(refused.reason.contains("epoch"), "{}", refused.reason);
        assert_eq!(refused.kwargs().get("offset"), Some(&Value::UInt(6)));
        assert!(recover(&h, "news.c", &first).is_err(), "no stream");
    }

    #[test]
    fn a_trimmed_stream_refuses_a_recovery_across_the_gap() {
        let h = history("t=3", 10, 1 << 20);
        let first = publish(&h, "t", 1).expect("kept");
        for n in 2..=5 {
            publish(&h, "t", n);
        }
        let refused = recover(&h, "t", &first).expect_err("offset 2 was trimmed");
        assert!(
            refused.reason.contains("offsets 2 to 2"),
            "{}",
            refused.reason
        );
        let from = Position {
            epoch: first.epoch.clone(),
            offset: 2,
        };
        assert_eq!(recover(&h, "t", &from), Ok(vec![3, 4, 5]));
        assert_eq!(h.usage(), (1, 3, h.usage().2));
    }

    #[test]
    fn events_past_their_age_are_dropped() {
        let h = history("t=10/1ms", 10, 1 << 20);
        let first = publish(&h, "t", 1).expect("kept");
        std::thread::sleep(Duration::from_millis(20));
        let refused = recover(
            &h,
            "t",
            &Position {
                offset: 0,
                ..first.clone()
            },
        );
        assert!(refused.is_err(), "offset 1 expired");
        assert_eq!(recover(&h, "t", &first), Ok(vec![]), "nothing after it");
        assert_eq!(h.usage().1, 0);
    }

    #[test]
    fn the_byte_and_stream_bounds_hold_and_a_gap_is_never_hidden() {
        let one = crate::router::stored::payload_size(&[Value::UInt(1)], &Dict::new());
        let h = history("t*", 2, 3 * one);
        let a = publish(&h, "ta", 1).expect("kept");
        publish(&h, "ta", 2);
        publish(&h, "tb", 3);
        assert_eq!(h.usage(), (2, 3, 3 * one));
        // Over the bytes: the appending stream gives up its own oldest event.
        publish(&h, "tb", 4);
        assert_eq!(h.usage(), (2, 3, 3 * one));
        assert_eq!(recover(&h, "ta", &a), Ok(vec![2]));
        // A third stream does not fit.
        let options = PublishOptions::default();
        let args = [Value::UInt(5)];
        let refused = h.append(&publication("tc", 5, &args, &options));
        assert_eq!(refused.err(), Some("history_streams"));
        // An event bigger than the whole bound is not kept, but its offset is used.
        let big = history("t", 10, one);
        let first = publish(&big, "t", 1).expect("kept");
        let args = [Value::Str("x".repeat(100))];
        let appended = big
            .append(&publication("t", 2, &args, &options))
            .expect("stream exists")
            .expect("history topic");
        assert_eq!(appended.refused, Some("history_bytes"));
        assert_eq!(appended.position.offset, 2);
        drop(appended);
        publish(&big, "t", 3);
        assert!(recover(&big, "t", &first).is_err(), "offset 2 is missing");
    }

    #[test]
    fn publications_addressed_to_session_ids_are_not_kept() {
        let h = history("t", 10, 1 << 20);
        let options = PublishOptions {
            exclude: HashSet::from([5]),
            ..PublishOptions::default()
        };
        assert!(publish_with(&h, "t", 1, &options).is_none());
        let options = PublishOptions {
            eligible: Some(HashSet::from([5])),
            ..PublishOptions::default()
        };
        assert!(publish_with(&h, "t", 2, &options).is_none());
        assert_eq!(h.usage().1, 0);
    }

    #[test]
    fn get_events_answers_the_newest_in_order_and_pages_by_publication() {
        let h = history("a.*", 10, 1 << 20);
        for n in 1..=6 {
            publish(&h, if n % 2 == 0 { "a.even" } else { "a.odd" }, n);
        }
        let exact = MatchPolicy::Exact;
        let prefix = MatchPolicy::Prefix;
        assert_eq!(query(&h, "a.", prefix, vec![]), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(
            query(&h, "a.", prefix, vec![("limit", 2u64.into())]),
            vec![5, 6]
        );
        assert_eq!(query(&h, "a.even", exact, vec![]), vec![2, 4, 6]);
        assert_eq!(
            query(&h, "a.", prefix, vec![("topic", "a.odd".into())]),
            vec![1, 3, 5]
        );
        assert_eq!(
            query(
                &h,
                "a.",
                prefix,
                vec![("after_publication", 2u64.into()), ("limit", 2u64.into())]
            ),
            vec![3, 4]
        );
        assert_eq!(
            query(
                &h,
                "a.",
                prefix,
                vec![
                    ("reverse", true.into()),
                    ("before_publication", 5u64.into()),
                    ("limit", 2u64.into())
                ]
            ),
            vec![4, 3]
        );
        assert_eq!(
            query(&h, "a.", prefix, vec![("until_publication", 2u64.into())]),
            vec![1, 2]
        );
        let far_future = "2999-01-01T00:00:00Z";
        assert_eq!(
            query(&h, "a.", prefix, vec![("before_time", far_future.into())]).len(),
            6
        );
        assert!(query(&h, "a.", prefix, vec![("from_time", far_future.into())]).is_empty());
        for bad in [
            vec![("limit", Value::UInt(0))],
            vec![("limit", Value::UInt(1001))],
            vec![("from_time", Value::from("yesterday"))],
            vec![("colour", Value::from("red"))],
        ] {
            let kwargs: Dict = bad.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            assert!(Query::parse(&kwargs).is_err());
        }
        let unknown = Query::parse(&Dict::from([(
            "after_publication".to_owned(),
            Value::UInt(99),
        )]))
        .expect("parses");
        assert!(
            h.query("a.", prefix, &unknown).is_err(),
            "not in the history"
        );
    }
}
