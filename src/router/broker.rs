//! The broker: subscriptions and event delivery for one realm.
//!
//! A subscription is shared by every session that subscribes to the same `(topic, match policy)`,
//! as the WAMP spec requires (one subscription ID per pattern, not per subscriber). Publishing walks
//! the [`TopicIndex`] for matching subscriptions, encodes the EVENT once per subscription and wire
//! format, and pushes cheap clones of those bytes to each admitted subscriber's bounded queue
//! (DESIGN.md §3, "encode once, fan out bytes"). Nothing here blocks or awaits.
//!
//! Delivery happens outside the realm's broker lock: a publication finds its matching
//! subscriptions under the lock ([`Broker::matched`]), then delivers from them
//! ([`deliver`]) after the lock is released. Each subscription keeps its subscribers under its
//! own lock, which a subscribe takes to add a session and to queue its SUBSCRIBED, so a SUBSCRIBE
//! waits for the matching of publications in flight, not for their fan-out, and still no EVENT
//! can overtake its SUBSCRIBED.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use crate::router::handle::{SessionHandle, FORMATS};
use crate::router::outbound::{EventQueue, Frame, Pushed};
use crate::router::publish_options::PublishOptions;
use crate::router::topic_index::TopicIndex;
use wampd_proto::wamp::v1::{self, Payload};
use wampd_proto::wamp::{codec, id, Dict, Id, MatchPolicy, Message, Serializer, Value};

/// One subscription: a pattern and its subscribers.
#[derive(Debug)]
pub struct Subscription {
    /// Router-scoped subscription ID.
    pub id: Id,
    /// The subscribed topic or pattern.
    pub uri: String,
    /// How `uri` matches published topics.
    pub policy: MatchPolicy,
    subscribers: RwLock<HashMap<Id, Subscriber>>,
}

/// One subscriber of a subscription: what a delivery needs, kept beside the session ID so a
/// fan-out to many subscribers reads the session's [`SessionHandle`] only to encode the first
/// EVENT per wire format or to check a publication's black- and whitelists.
#[derive(Debug)]
struct Subscriber {
    /// [`SessionHandle::format_index`].
    format: u8,
    /// The session's queue, for EVENTs.
    queue: EventQueue,
    handle: Arc<SessionHandle>,
}

impl Subscription {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<Id, Subscriber>> {
        self.subscribers.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<Id, Subscriber>> {
        self.subscribers.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Session IDs of the subscribers.
    pub fn subscriber_ids(&self) -> Vec<Id> {
        self.read().keys().copied().collect()
    }

    /// Whether `session` subscribes to it.
    pub fn has_subscriber(&self, session: Id) -> bool {
        self.read().contains_key(&session)
    }
}

/// The subscriptions a publication matched, with their match policies, to deliver to after the
/// broker lock is released.
pub type Matched = Vec<(Arc<Subscription>, MatchPolicy)>;

/// An event to deliver, as received in PUBLISH.
#[derive(Debug, Clone, Copy)]
pub struct Publication<'a> {
    /// Publication ID, random in [1, 2^53].
    pub id: Id,
    /// The concrete topic published to.
    pub topic: &'a str,
    /// Positional payload.
    pub args: &'a [Value],
    /// Keyword payload.
    pub kwargs: &'a Dict,
    /// Parsed options.
    pub options: &'a PublishOptions,
    /// Who published: a local session, or a session on another node (cluster mode).
    pub publisher: Publisher<'a>,
    /// The original payload when a WAMP v1 session published it.
    pub v1_payload: Option<&'a Payload>,
    /// Its place in its topic's history stream ([`crate::router::history`]), if the topic
    /// keeps one: `EVENT.Details.epoch` and `offset`.
    pub position: Option<&'a Position>,
}

/// A place in a topic's history stream: the stream's epoch and the event's offset in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The stream's name for this life of it: a new stream (after a restart, or once dropped)
    /// has a new epoch, and offsets of different epochs are unrelated.
    pub epoch: Arc<str>,
    /// 1 for the stream's first event, one more for each following.
    pub offset: u64,
}

impl Position {
    /// Writes it as `epoch` and `offset`, the keys of `EVENT.Details`, of `get_events` and of a
    /// failed recovery's `ArgumentsKw`.
    pub fn insert_into(&self, dict: &mut Dict) {
        dict.insert("epoch".into(), Value::Str(self.epoch.to_string()));
        dict.insert("offset".into(), Value::UInt(self.offset));
    }
}

/// The publisher's identity as the broker needs it: its session ID (for `exclude_me`) and, for
/// `disclose_me`, its authid and authrole. A plain borrowed struct rather than a
/// [`SessionHandle`], because in cluster mode the publisher may live on another node.
#[derive(Debug, Clone, Copy)]
pub struct Publisher<'a> {
    /// Session ID (cluster-unique: random in [1, 2^53]).
    pub id: Id,
    /// Authentication ID.
    pub authid: &'a str,
    /// Authentication role.
    pub authrole: &'a str,
}

impl<'a> From<&'a SessionHandle> for Publisher<'a> {
    fn from(session: &'a SessionHandle) -> Self {
        Publisher {
            id: session.id,
            authid: &session.authid,
            authrole: &session.authrole,
        }
    }
}

/// What one publication did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// EVENTs queued.
    pub delivered: u64,
    /// EVENTs discarded by subscribers' overflow policies (new or older ones).
    pub dropped: u64,
}

/// Result of a subscribe request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribed {
    /// The (possibly pre-existing) subscription ID.
    pub subscription: Id,
    /// True when this request created the subscription.
    pub created: bool,
}

/// Subscriptions of one realm.
#[derive(Debug, Default)]
pub struct Broker {
    index: TopicIndex<Id>,
    subscriptions: HashMap<Id, Arc<Subscription>>,
}

impl Broker {
    /// Adds `session` to the subscription for `(uri, policy)`, creating it if needed. Subscribing
    /// twice is idempotent: the same subscription ID comes back.
    pub fn subscribe(
        &mut self,
        session: &Arc<SessionHandle>,
        uri: &str,
        policy: MatchPolicy,
    ) -> Subscribed {
        self.subscribe_with(session, uri, policy, |_| None, |_| {})
    }

    /// [`Broker::subscribe`], queueing `reply` (the protocol's SUBSCRIBED) to the session while
    /// the subscription's subscriber list is locked, so that no EVENT of it comes first.
    pub fn subscribe_with(
        &mut self,
        session: &Arc<SessionHandle>,
        uri: &str,
        policy: MatchPolicy,
        reply: impl FnOnce(Subscribed) -> Option<Frame>,
        after: impl FnOnce(Subscribed),
    ) -> Subscribed {
        let (subscription, created) = match self.index.get(uri, policy) {
            Some(existing) => (existing, false),
            None => {
                let mut fresh = id::random_id();
                while self.subscriptions.contains_key(&fresh) {
                    fresh = id::random_id();
                }
                self.index.insert(uri, policy, fresh);
                self.subscriptions.insert(
                    fresh,
                    Arc::new(Subscription {
                        id: fresh,
                        uri: uri.to_owned(),
                        policy,
                        subscribers: RwLock::new(HashMap::new()),
                    }),
                );
                (fresh, true)
            }
        };
        let result = Subscribed {
            subscription,
            created,
        };
        if let Some(sub) = self.subscriptions.get(&subscription) {
            let mut subscribers = sub.write();
            subscribers.insert(
                session.id,
                Subscriber {
                    format: session.format_index() as u8,
                    queue: session.outbound.event_queue(),
                    handle: session.clone(),
                },
            );
            if let Some(frame) = reply(result) {
                let _ = session.send(frame);
            }
            // Still under the subscription's write lock: no EVENT of a publication matched
            // from now on can come before what `after` queues.
            after(result);
        }
        result
    }

    /// Removes `session` from `subscription`. Returns `None` when the session was not subscribed,
    /// otherwise whether the subscription was deleted because it became empty.
    pub fn unsubscribe(&mut self, session: Id, subscription: Id) -> Option<bool> {
        let sub = self.subscriptions.get(&subscription)?;
        let mut subscribers = sub.write();
        subscribers.remove(&session)?;
        if !subscribers.is_empty() {
            return Some(false);
        }
        drop(subscribers);
        if let Some(sub) = self.subscriptions.remove(&subscription) {
            self.index.remove(&sub.uri, sub.policy);
        }
        Some(true)
    }

    /// Looks up a subscription by ID.
    pub fn subscription(&self, id: Id) -> Option<&Subscription> {
        self.subscriptions.get(&id).map(Arc::as_ref)
    }

    /// `(id, match policy)` of every subscription.
    pub fn subscription_list(&self) -> Vec<(Id, MatchPolicy)> {
        self.subscriptions
            .values()
            .map(|s| (s.id, s.policy))
            .collect()
    }

    /// The subscription for exactly `(uri, policy)`.
    pub fn lookup(&self, uri: &str, policy: MatchPolicy) -> Option<Id> {
        self.index.get(uri, policy)
    }

    /// Subscriptions whose pattern matches the concrete `topic`.
    pub fn matching(&self, topic: &str) -> Vec<Id> {
        let mut found = Vec::new();
        self.index.for_each_match(topic, |id, _| found.push(id));
        found
    }

    /// Number of live subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.len()
    }

    /// The subscriptions whose pattern matches `topic`, for [`deliver`] once the broker lock is
    /// released.
    pub fn matched(&self, topic: &str) -> Matched {
        let mut matched = Vec::new();
        self.index.for_each_match(topic, |subscription, policy| {
            if let Some(sub) = self.subscriptions.get(&subscription) {
                matched.push((sub.clone(), policy));
            }
        });
        matched
    }

    /// Delivers `publication` to every admitted subscriber of every matching subscription.
    pub fn publish(&self, publication: &Publication<'_>) -> PublishStats {
        deliver(&self.matched(publication.topic), publication)
    }
}

/// Delivers `publication` to every admitted subscriber of `matched`, encoding the EVENT once per
/// subscription and wire format.
pub fn deliver(matched: &Matched, publication: &Publication<'_>) -> PublishStats {
    let mut stats = PublishStats::default();
    let mut topic: Option<Arc<str>> = None;
    let disclosed = publication
        .options
        .disclose_me
        .then(|| publisher_details(&publication.publisher));
    let options = &publication.options;
    let publisher = publication.publisher.id;
    let lists = options.has_lists();
    for (sub, policy) in matched {
        let policy = *policy;
        let subscribers = sub.read();
        let mut encoded: [Option<Frame>; FORMATS] = Default::default();
        for (&id, subscriber) in subscribers.iter() {
            if (options.exclude_me && id == publisher)
                || (lists && !options.admits(&subscriber.handle, publisher))
            {
                continue;
            }
            let Some(slot) = encoded.get_mut(usize::from(subscriber.format)) else {
                continue;
            };
            let frame = match slot {
                Some(frame) => frame,
                slot => match encode_for(
                    &subscriber.handle,
                    sub.id,
                    &sub.uri,
                    policy,
                    publication,
                    disclosed.as_ref(),
                ) {
                    Some(frame) => slot.insert(frame),
                    None => continue,
                },
            };
            let topic = topic.get_or_insert_with(|| Arc::from(publication.topic));
            match subscriber.queue.push_event(frame.clone(), topic) {
                Pushed::Queued { dropped } => {
                    stats.delivered += 1;
                    stats.dropped += dropped;
                }
                Pushed::Discarded => stats.dropped += 1,
                // The transport disconnects the session and counts it.
                Pushed::Disconnect => {}
            }
        }
    }
    stats
}

fn publisher_details(publisher: &Publisher<'_>) -> Dict {
    let mut details = Dict::new();
    details.insert("publisher".into(), Value::UInt(publisher.id));
    details.insert(
        "publisher_authid".into(),
        Value::Str(publisher.authid.to_owned()),
    );
    details.insert(
        "publisher_authrole".into(),
        Value::Str(publisher.authrole.to_owned()),
    );
    details
}

/// The `EVENT.Details` a subscription matching with `policy` gets for `publication`: the
/// publisher when it disclosed itself, the topic on pattern subscriptions, the stream position
/// on history topics (`wamp.subscription.get_events` reports these).
pub fn event_details(publication: &Publication<'_>, policy: MatchPolicy) -> Dict {
    let mut details = if publication.options.disclose_me {
        publisher_details(&publication.publisher)
    } else {
        Dict::new()
    };
    add_routing_details(&mut details, publication, policy);
    details
}

/// The details every EVENT of `publication` on a `policy` subscription carries whoever
/// receives it: payload passthru attributes, the topic on pattern subscriptions, the stream
/// position on history topics.
fn add_routing_details(details: &mut Dict, publication: &Publication<'_>, policy: MatchPolicy) {
    if let Some(passthru) = &publication.options.passthru {
        passthru.insert_into(details);
    }
    if policy != MatchPolicy::Exact {
        details.insert("topic".into(), Value::Str(publication.topic.to_owned()));
    }
    if let Some(position) = publication.position {
        position.insert_into(details);
    }
}

/// A stored event `publication` (retained, or recovered from history) as `session` receives it
/// on its new subscription `(subscription, uri, policy)`: in its protocol's form (WAMP v2 EVENT,
/// with `Details.retained` when `retained`; WAMP v1 `[8, topic, payload]`; Socket.IO
/// `42<ns>,[…]`), encoded the same way as a live delivery. `None` when the session's listing
/// options exclude it or (Socket.IO) the topic is not one event below the subscription's prefix.
pub fn replay_frame(
    session: &SessionHandle,
    subscription: Id,
    uri: &str,
    policy: MatchPolicy,
    publication: &Publication<'_>,
    retained: bool,
) -> Option<Frame> {
    if !publication
        .options
        .admits(session, publication.publisher.id)
    {
        return None;
    }
    let mut details = if publication.options.disclose_me {
        publisher_details(&publication.publisher)
    } else {
        Dict::new()
    };
    if retained {
        details.insert("retained".into(), Value::Bool(true));
    }
    encode_for(
        session,
        subscription,
        uri,
        policy,
        publication,
        Some(&details),
    )
}

/// `publication` in the form `session` receives on its subscription `(subscription, uri,
/// policy)`: Socket.IO `42<ns>,[…]`, WAMP v1 `[8, topic, payload]`, or a WAMP v2 EVENT whose
/// details start from `details` (v2 only). `None` when a Socket.IO topic is not one event below
/// the subscription's prefix.
fn encode_for(
    session: &SessionHandle,
    subscription: Id,
    uri: &str,
    policy: MatchPolicy,
    publication: &Publication<'_>,
    details: Option<&Dict>,
) -> Option<Frame> {
    if session.socketio {
        socketio_event(uri, publication)
    } else if session.v1 {
        Some(encode_v1_event(publication))
    } else {
        Some(encode_event(
            session.serializer,
            subscription,
            policy,
            publication,
            details,
        ))
    }
}

fn encode_event(
    serializer: Serializer,
    subscription: Id,
    policy: MatchPolicy,
    publication: &Publication<'_>,
    disclosed: Option<&Dict>,
) -> Frame {
    let mut details = disclosed.cloned().unwrap_or_default();
    add_routing_details(&mut details, publication, policy);
    let event = Message::Event {
        subscription,
        publication: publication.id,
        details,
        args: publication.args.to_vec(),
        kwargs: publication.kwargs.clone(),
    };
    Frame::from_encoded(serializer, codec::encode(serializer, &event))
}

/// `42<ns>,["event", args…]` for Socket.IO sockets: the namespace and event come from the
/// subscription's prefix and the topic ([`crate::socketio::mapping`]); non-empty kwargs are one
/// more, last argument. `None` when the topic is not one event below the prefix.
fn socketio_event(prefix: &str, publication: &Publication<'_>) -> Option<Frame> {
    let (namespace, event) = crate::socketio::mapping::delivery(prefix, publication.topic)?;
    let mut args = publication.args.to_vec();
    if !publication.kwargs.is_empty() {
        args.push(Value::Dict(publication.kwargs.clone()));
    }
    let packet = wampd_proto::socketio::packet::event(&namespace, &event, &args);
    let text = wampd_proto::socketio::engineio::message(&packet.text).into();
    if packet.attachments.is_empty() {
        return Some(Frame::Text(text));
    }
    let attachments = packet.attachments.into_iter().map(Bytes::from).collect();
    Some(Frame::Attached(text, attachments))
}

/// `[8, topic, payload]` for WAMP v1 subscribers, the payload bridged per `protocol/bridging.md`.
fn encode_v1_event(publication: &Publication<'_>) -> Frame {
    let text = match publication.v1_payload {
        Some(payload) => v1::encode_event(publication.topic, payload),
        None => {
            let bridged = Payload::new(v1::bridge_v2_to_v1(publication.args, publication.kwargs));
            v1::encode_event(publication.topic, &bridged)
        }
    };
    Frame::Text(text.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::outbound::OutboundRx;

    fn session(id: Id, serializer: Serializer) -> (Arc<SessionHandle>, OutboundRx) {
        let (handle, rx) =
            SessionHandle::for_test(id, &format!("user{id}"), "anonymous", serializer);
        (Arc::new(handle), rx)
    }

    fn publish(broker: &Broker, publisher: &SessionHandle, topic: &str, options: &PublishOptions) {
        let kwargs = Dict::new();
        broker.publish(&Publication {
            id: 7,
            topic,
            args: &[Value::from("hi")],
            kwargs: &kwargs,
            options,
            publisher: publisher.into(),
            v1_payload: None,
            position: None,
        });
    }

    fn received(rx: &mut OutboundRx) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(frame) = rx.try_recv() {
            let msg = match frame {
                Frame::Text(t) => codec::decode(Serializer::Json, t.as_bytes()),
                Frame::Binary(b) => codec::decode(Serializer::MsgPack, &b),
                Frame::Attached(..) | Frame::Close(..) => continue,
            };
            out.extend(msg.ok());
        }
        out
    }

    #[test]
    fn resubscribe_is_idempotent_and_shared() {
        let mut broker = Broker::default();
        let (a, _ra) = session(1, Serializer::Json);
        let (b, _rb) = session(2, Serializer::Json);
        let first = broker.subscribe(&a, "t.x", MatchPolicy::Exact);
        let again = broker.subscribe(&a, "t.x", MatchPolicy::Exact);
        let other = broker.subscribe(&b, "t.x", MatchPolicy::Exact);
        let prefix = broker.subscribe(&b, "t.x", MatchPolicy::Prefix);
        assert!(first.created && !again.created && !other.created && prefix.created);
        assert_eq!(first.subscription, again.subscription);
        assert_eq!(first.subscription, other.subscription);
        assert_ne!(first.subscription, prefix.subscription);
        assert_eq!(broker.unsubscribe(1, first.subscription), Some(false));
        assert_eq!(broker.unsubscribe(1, first.subscription), None);
        assert_eq!(broker.unsubscribe(2, first.subscription), Some(true));
        assert_eq!(broker.subscription_count(), 1);
    }

    #[test]
    fn events_reach_each_format_and_carry_topic_for_patterns() {
        let mut broker = Broker::default();
        let (publisher, _rp) = session(1, Serializer::Json);
        let (json, mut rj) = session(2, Serializer::Json);
        let (pack, mut rm) = session(3, Serializer::MsgPack);
        let exact = broker.subscribe(&json, "a.b", MatchPolicy::Exact);
        broker.subscribe(&pack, "a.b", MatchPolicy::Exact);
        let wild = broker.subscribe(&pack, "a.", MatchPolicy::Wildcard);
        publish(&broker, &publisher, "a.b", &PublishOptions::default());

        let got = received(&mut rj);
        assert_eq!(got.len(), 1);
        match &got[0] {
            Message::Event {
                subscription,
                details,
                args,
                ..
            } => {
                assert_eq!(*subscription, exact.subscription);
                assert!(details.is_empty());
                assert_eq!(args, &vec![Value::from("hi")]);
            }
            other => panic!("unexpected {other:?}"),
        }
        let got = received(&mut rm);
        assert_eq!(got.len(), 2);
        let topics: Vec<Option<&Value>> = got
            .iter()
            .filter_map(|m| match m {
                Message::Event {
                    subscription,
                    details,
                    ..
                } if *subscription == wild.subscription => Some(details.get("topic")),
                _ => None,
            })
            .collect();
        assert_eq!(topics, vec![Some(&Value::from("a.b"))]);
    }

    #[test]
    fn publisher_is_excluded_by_default_and_disclosed_on_request() {
        let mut broker = Broker::default();
        let (me, mut rme) = session(1, Serializer::Json);
        broker.subscribe(&me, "t", MatchPolicy::Exact);
        publish(&broker, &me, "t", &PublishOptions::default());
        assert!(received(&mut rme).is_empty());
        let options = PublishOptions {
            exclude_me: false,
            disclose_me: true,
            ..PublishOptions::default()
        };
        publish(&broker, &me, "t", &options);
        let got = received(&mut rme);
        match got.first() {
            Some(Message::Event { details, .. }) => {
                assert_eq!(details.get("publisher"), Some(&Value::UInt(1)));
                assert_eq!(details.get("publisher_authid"), Some(&Value::from("user1")));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
