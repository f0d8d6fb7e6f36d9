//! Publishing with every check, shared by WAMP sessions and the HTTP publish endpoint.
//!
//! A publication is refused before anything is delivered when its options are malformed, its
//! topic is not a valid URI under the configured policy, or it targets the router's reserved
//! `wamp.` namespace. Keeping this in one place means a topic means the same thing whichever way
//! a backend publishes.

use std::time::Instant;

use crate::router::backplane::Outgoing;
use crate::router::broker::{Publication, PublishStats};
use crate::router::handle::SessionHandle;
use crate::router::passthru::Passthru;
use crate::router::publish_options::PublishOptions;
use crate::router::realm::Realm;
use crate::router::Router;
use wampd_proto::wamp::v1::Payload;
use wampd_proto::wamp::{error_uri, id, uri, Dict, Id, MatchPolicy, Value};

pub use crate::router::refusal::Refusal;

/// A publication to make.
#[derive(Debug, Clone, Copy)]
pub struct PublishRequest<'a> {
    /// The concrete topic.
    pub topic: &'a str,
    /// Positional payload.
    pub args: &'a [Value],
    /// Keyword payload.
    pub kwargs: &'a Dict,
    /// PUBLISH.Options as received.
    pub options: &'a Dict,
    /// True for a WAMP v1 topic: any string is a topic (v1 URIs such as
    /// `http://example.com/ev#a` are not WAMP v2 URIs and stay reachable from v1 only).
    pub any_topic: bool,
    /// The payload as a WAMP v1 publisher sent it, so v1 subscribers get its exact JSON (key
    /// order included) rather than a re-encoding of the bridged value.
    pub v1_payload: Option<&'a Payload>,
}

impl Router {
    /// Checks `request` without publishing it; returns its parsed options.
    pub fn check_publication(
        &self,
        request: PublishRequest<'_>,
    ) -> Result<PublishOptions, Refusal> {
        let options = PublishOptions::parse(request.options)?;
        if options.passthru.is_some() {
            Passthru::check_payload(request.args, request.kwargs)?;
        }
        let topic = request.topic;
        if !request.any_topic
            && !uri::is_valid_uri(topic, self.config().uri_policy, MatchPolicy::Exact)
        {
            return Err(Refusal::new(
                error_uri::INVALID_URI,
                format!("invalid topic URI \"{topic}\""),
            ));
        }
        if uri::is_reserved(topic) {
            return Err(Refusal::new(
                error_uri::INVALID_URI,
                format!("topic \"{topic}\" is reserved for the router"),
            ));
        }
        Ok(options)
    }

    /// Validates and publishes `request` in `realm` on behalf of `publisher`. Returns the
    /// publication ID and what happened to it (on this node).
    ///
    /// In cluster mode the publication is handed to the backplane after local delivery, without
    /// waiting: PUBLISHED means "delivered here and handed on", not "delivered everywhere".
    pub fn publish(
        &self,
        realm: &Realm,
        publisher: &SessionHandle,
        request: PublishRequest<'_>,
    ) -> Result<(Id, PublishStats), Refusal> {
        self.publish_with(realm, publisher, request, true)
    }

    /// Like [`Router::publish`], but never forwarded to other nodes: for what each node does
    /// on its own (the `oro/ping` keep-alive), which would otherwise reach every session once
    /// per node.
    pub fn publish_local(
        &self,
        realm: &Realm,
        publisher: &SessionHandle,
        request: PublishRequest<'_>,
    ) -> Result<(Id, PublishStats), Refusal> {
        self.publish_with(realm, publisher, request, false)
    }

    fn publish_with(
        &self,
        realm: &Realm,
        publisher: &SessionHandle,
        request: PublishRequest<'_>,
        forward: bool,
    ) -> Result<(Id, PublishStats), Refusal> {
        let started = Instant::now();
        let options = self.check_publication(request)?;
        Ok(self.publish_checked(realm, publisher, request, &options, forward, started))
    }

    /// Delivers a publication [`Router::check_publication`] accepted (with the options it
    /// parsed), and hands it to the backplane when `forward`.
    pub(crate) fn publish_checked(
        &self,
        realm: &Realm,
        publisher: &SessionHandle,
        request: PublishRequest<'_>,
        options: &PublishOptions,
        forward: bool,
        started: Instant,
    ) -> (Id, PublishStats) {
        let topic = request.topic;
        let publication = id::random_id();
        let local = Publication {
            id: publication,
            topic,
            args: request.args,
            kwargs: request.kwargs,
            options,
            publisher: publisher.into(),
            v1_payload: request.v1_payload,
            position: None,
        };
        let outgoing = Outgoing {
            realm: realm.name(),
            topic,
            publication,
            publisher: publisher.into(),
            options: request.options,
            parsed: options,
            args: request.args,
            kwargs: request.kwargs,
            v1_payload: request.v1_payload,
        };
        let backplane = self.backplane().filter(|_| forward);
        let mut stats = PublishStats::default();
        match (backplane, realm.history_wants(&local)) {
            // A history topic in cluster mode: numbered by the backplane, delivered here
            // when it comes back (like on every other node).
            (Some(backplane), Some(limits)) if backplane.sequence(&outgoing, limits) => {
                realm.count_publication();
            }
            // Not queued (the backplane's queue is full, counted): delivered here only and
            // kept out of the history, whose offsets only the backplane gives out.
            (Some(_), Some(_)) => stats = realm.publish_without_history(&local),
            (Some(backplane), None) => {
                stats = realm.publish(&local);
                backplane.forward(&outgoing);
            }
            (None, _) => stats = realm.publish(&local),
        }
        self.metrics()
            .publish_latency
            .observe(started.elapsed().as_secs_f64());
        (publication, stats)
    }
}
