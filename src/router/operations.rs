//! The operations layer: what a session may do, decided once for every protocol.
//!
//! WAMP v2 and WAMP v1 sessions (and any front end that follows) are thin translators: they
//! decode their protocol's request, call one function here, and turn the outcome into their
//! protocol's answer. Each function runs the same steps in the same order:
//!
//! 1. **validate**: URI length and component count ([`wampd_proto::wamp::Limits::check_uri`]), then URI syntax
//!    (WAMP v1 topics are any string, as Ratchet allowed);
//! 2. **limits**: subscriptions and registrations per session, calls in flight per caller and
//!    callee, the call timeout ceiling;
//! 3. **authorize**: Oro's user-scoped topics, the session's ticket, then the rules
//!    ([`crate::router::authorizer`]);
//! 4. **act** on the broker or dealer, queueing the protocol's reply where ordering matters
//!    (SUBSCRIBED before any EVENT);
//! 5. **meta events**.
//!
//! A policy written once cannot drift between protocols: an action refused over v2 is refused
//! over v1 because both reach it through here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::info;

use crate::auth::rules::Action;
use crate::oro::topics;
use crate::router::broker::{self, Position, PublishStats, Subscribed};
use crate::router::dealer::{CallRequest, Caller, InvokePolicy, RegisterRequest};
use crate::router::handle::SessionHandle;
use crate::router::history;
use crate::router::meta;
use crate::router::outbound::Frame;
use crate::router::publish_options::PublishOptions;
use crate::router::publisher::PublishRequest;
use crate::router::realm::Realm;
use crate::router::refusal::Refusal;
use crate::router::subscribe_gate::Gate;
use crate::router::Router;
use wampd_proto::ticket::Claims;
use wampd_proto::wamp::limits::UriTooLarge;
use wampd_proto::wamp::OptionError;
use wampd_proto::wamp::{error_uri, uri, Dict, Id, MatchPolicy, Value};

/// The session asking: who it is, where it is, and what its credentials restrict.
#[derive(Clone, Copy)]
pub struct Actor<'a> {
    /// Its realm.
    pub realm: &'a Arc<Realm>,
    /// Its handle (identity and outbound queue).
    pub handle: &'a Arc<SessionHandle>,
    /// The wampd ticket it authenticated with, restricting its subscriptions.
    pub claims: Option<&'a Claims>,
    /// The Oro back-office user it authenticated as, for Oro's user-scoped topics.
    pub oro_user: Option<u64>,
    /// WAMP v1: any string is a topic (v1 URIs such as `http://example.com/ev#a` are not WAMP
    /// v2 URIs).
    pub any_uri: bool,
}

impl<'a> Actor<'a> {
    /// A publisher without credentials of its own (HTTP publish, `POST /emit`, the ZeroMQ and
    /// Socket.IO queue consumers): its handle's role decides; `any_uri` lets WAMP v1-style topics
    /// through.
    pub fn publisher(realm: &'a Arc<Realm>, handle: &'a Arc<SessionHandle>, any_uri: bool) -> Self {
        Actor {
            realm,
            handle,
            claims: None,
            oro_user: None,
            any_uri,
        }
    }
}

/// A subscribe request.
#[derive(Debug, Clone, Copy)]
pub struct SubscribeRequest<'a> {
    /// The topic or pattern.
    pub topic: &'a str,
    /// How it matches.
    pub policy: MatchPolicy,
    /// Subscriptions the session holds now.
    pub held: usize,
    /// `SUBSCRIBE.Options.get_retained`: queue the covered retained events after SUBSCRIBED.
    pub get_retained: bool,
    /// `SUBSCRIBE.Options.recover_epoch` and `recover_offset`: the last event the subscriber
    /// saw, to receive the ones after it from the topic's history ([`history`]).
    pub recover: Option<&'a Position>,
}

/// How a call ended up.
pub enum Called {
    /// Answered by the router itself (meta procedures).
    Answered(Vec<Value>),
    /// Routed to a callee as this invocation.
    Invoked(Id),
}

impl Router {
    /// The limits step for a URI: its length and component count.
    fn check_uri_limits(&self, uri: &str, what: &str) -> Result<(), Refusal> {
        self.config().limits.check_uri(uri).map_err(|too_large| {
            self.metrics().limit_refused(match too_large {
                UriTooLarge::Length { .. } => "uri_length",
                UriTooLarge::Components { .. } => "uri_components",
            });
            Refusal::new(
                error_uri::INVALID_URI,
                format!("invalid {what}: {too_large}"),
            )
        })
    }

    /// Validation steps shared by every URI a client names: limits, then syntax.
    fn validate_uri(
        &self,
        actor: &Actor<'_>,
        uri: &str,
        policy: MatchPolicy,
        what: &str,
    ) -> Result<(), Refusal> {
        self.check_uri_limits(uri, what)?;
        if !actor.any_uri && !uri::is_valid_uri(uri, self.config().uri_policy, policy) {
            return Err(Refusal::new(
                error_uri::INVALID_URI,
                format!(
                    "invalid {what} URI \"{uri}\" for match \"{}\"",
                    policy.as_str()
                ),
            ));
        }
        Ok(())
    }

    fn over_limit(&self, limit: &'static str, message: String) -> Refusal {
        self.metrics().limit_refused(limit);
        Refusal::new(error_uri::LIMIT_EXCEEDED, message)
    }

    /// The authorization step: Oro's user-scoped topics, the ticket's topic limits, the rules.
    fn authorize_actor(
        &self,
        actor: &Actor<'_>,
        action: Action,
        uri: &str,
        policy: MatchPolicy,
    ) -> Result<(), Refusal> {
        let handle = actor.handle;
        if action == Action::Subscribe && handle.authrole != self.config().auth.backend_role {
            if let Some(kind) = topics::route(uri) {
                if !topics::may_subscribe(&kind, actor.oro_user) {
                    info!(session = handle.id, authid = %handle.authid, topic = uri, "subscription to a user-scoped Oro topic refused");
                    self.metrics().authorization_denied(action.as_str());
                    return Err(Refusal::new(
                        error_uri::NOT_AUTHORIZED,
                        topics::refusal_text(uri),
                    ));
                }
            }
        }
        if let (Some(claims), Action::Subscribe) = (actor.claims, action) {
            if !claims.may_subscribe_match(uri, policy) {
                info!(session = handle.id, authid = %handle.authid, action = "subscribe", uri, "not authorized by the session's ticket");
                self.metrics().authorization_denied(action.as_str());
                return Err(Refusal::new(
                    error_uri::NOT_AUTHORIZED,
                    format!("the session's ticket does not allow subscribing to \"{uri}\""),
                ));
            }
        }
        if !self.authorize(actor.realm.name(), handle, action, uri, policy) {
            return Err(Refusal::new(error_uri::NOT_AUTHORIZED, action.refusal(uri)));
        }
        Ok(())
    }

    /// Subscribes `actor` to `request.topic`. `reply` builds the protocol's acknowledgement from
    /// the result; it is queued before any EVENT of the subscription can be.
    pub fn op_subscribe(
        &self,
        actor: Actor<'_>,
        request: SubscribeRequest<'_>,
        reply: impl FnOnce(Subscribed) -> Option<Frame>,
    ) -> Result<Subscribed, Refusal> {
        let SubscribeRequest {
            topic,
            policy,
            get_retained,
            recover,
            ..
        } = request;
        self.op_check_subscribe(&actor, request)?;
        let result = actor
            .realm
            .subscribe(actor.handle, topic, policy, get_retained, recover, reply)
            .map_err(|failed| {
                info!(
                    session = actor.handle.id,
                    topic, "recovery refused: {}", failed.reason
                );
                Refusal::new(history::RECOVERY_FAILED, failed.reason.clone())
                    .with_kwargs(failed.kwargs())
            })?;
        actor
            .realm
            .subscribed(actor.handle.id, result, topic, policy);
        Ok(result)
    }

    /// The local checks of a subscription, without making it: URI, the subscription limit and
    /// the authorization rules.
    pub fn op_check_subscribe(
        &self,
        actor: &Actor<'_>,
        request: SubscribeRequest<'_>,
    ) -> Result<(), Refusal> {
        let SubscribeRequest {
            topic,
            policy,
            held,
            ..
        } = request;
        self.validate_uri(actor, topic, policy, "topic")?;
        if request.recover.is_some() {
            if policy != MatchPolicy::Exact {
                return Err(Refusal::new(
                    error_uri::INVALID_ARGUMENT,
                    "recover_epoch and recover_offset need an exact-match subscription (a history stream is one topic)",
                ));
            }
            if !actor.realm.keeps_history(topic) {
                return Err(Refusal::new(
                    error_uri::INVALID_ARGUMENT,
                    format!("topic \"{topic}\" keeps no history to recover from (WEBSOCKET_HISTORY_TOPICS)"),
                ));
            }
        }
        let max = self.config().limits.max_subscriptions;
        if held >= max && !actor.realm.is_subscribed(actor.handle.id, topic, policy) {
            return Err(self.over_limit(
                "subscriptions",
                format!("this session already holds {max} subscriptions (the limit)"),
            ));
        }
        self.authorize_actor(actor, Action::Subscribe, topic, policy)
    }

    /// Whether a subscription the local checks allow also needs the application's consent
    /// ([`crate::router::subscribe_gate`]). Front ends call this before
    /// [`Router::op_subscribe`] and, for [`Gate::Check`], subscribe once the check passed (the
    /// local checks run again then, so a limit reached meanwhile still holds).
    pub fn op_subscribe_gate(
        &self,
        actor: &Actor<'_>,
        request: SubscribeRequest<'_>,
    ) -> Result<Gate, Refusal> {
        self.op_check_subscribe(actor, request)?;
        Ok(match self.subscribe_gate() {
            None => Gate::Open,
            Some(gate) => gate.decide(actor.handle, request.topic, request.policy),
        })
    }

    /// `wamp.subscription.get_events(subscription, limit=…, reverse=…, …)`: the subscription's
    /// stored events, oldest first, each `{timestamp, subscription, publication, details, args,
    /// kwargs}` as the WAMP "Event History" section describes. The caller must be allowed to
    /// subscribe to the subscription's topic; publications whose black- or white-lists would
    /// have kept them from it live are left out.
    fn op_get_events(
        &self,
        actor: &Actor<'_>,
        args: &[Value],
        kwargs: &Dict,
    ) -> Result<Vec<Value>, Refusal> {
        let subscription = args.first().and_then(Value::as_id).ok_or_else(|| {
            Refusal::new(
                error_uri::INVALID_ARGUMENT,
                "expected the subscription ID as the first argument",
            )
        })?;
        let (uri, policy, _) = actor
            .realm
            .subscription_details(subscription)
            .ok_or_else(|| {
                Refusal::new(
                    error_uri::NO_SUCH_SUBSCRIPTION,
                    format!("no subscription {subscription}"),
                )
            })?;
        self.authorize_actor(actor, Action::Subscribe, &uri, policy)?;
        let query = history::Query::parse(kwargs)
            .map_err(|why| Refusal::new(error_uri::INVALID_ARGUMENT, why))?;
        let found = actor
            .realm
            .history()
            .query(&uri, policy, &query)
            .map_err(|why| Refusal::new(error_uri::INVALID_ARGUMENT, why))?;
        let events = found
            .into_iter()
            .filter(|(_, entry)| {
                let event = &entry.event;
                event.options.admits(actor.handle, event.publisher.0)
            })
            .map(|(topic, entry)| {
                let event = &entry.event;
                let details = broker::event_details(&event.publication(&topic), policy);
                let mut out = Dict::new();
                out.insert("timestamp".into(), Value::Str(history::timestamp(entry.at)));
                out.insert("subscription".into(), Value::UInt(subscription));
                out.insert("publication".into(), Value::UInt(event.publication));
                out.insert("details".into(), Value::Dict(details));
                out.insert("args".into(), Value::List(event.args.clone()));
                out.insert("kwargs".into(), Value::Dict(event.kwargs.clone()));
                Value::Dict(out)
            })
            .collect();
        Ok(vec![Value::List(events)])
    }

    /// Ends `actor`'s subscription `subscription`, which the session checked it holds. The
    /// front ends log subscribe and unsubscribe in their protocol's words (WAMP v1 as Gos does).
    pub fn op_unsubscribe(&self, actor: Actor<'_>, subscription: Id) {
        actor.realm.unsubscribe(actor.handle.id, subscription);
    }

    /// Every check of a publication without making it: URI limits, authorization, then
    /// [`Router::check_publication`] (options, URI syntax, the reserved namespace). Returns the
    /// parsed options. HTTP publishing checks a whole batch this way before publishing any of it.
    pub fn op_check_publish(
        &self,
        actor: Actor<'_>,
        request: PublishRequest<'_>,
    ) -> Result<PublishOptions, Refusal> {
        self.check_uri_limits(request.topic, "topic")?;
        self.authorize_actor(&actor, Action::Publish, request.topic, MatchPolicy::Exact)?;
        let options = self.check_publication(PublishRequest {
            any_topic: actor.any_uri,
            ..request
        })?;
        if options.retain {
            self.authorize_actor(&actor, Action::Retain, request.topic, MatchPolicy::Exact)?;
        }
        Ok(options)
    }

    /// Publishes for `actor` after [`Router::op_check_publish`]; in cluster mode the
    /// publication also goes to the other nodes.
    pub fn op_publish(
        &self,
        actor: Actor<'_>,
        request: PublishRequest<'_>,
    ) -> Result<(Id, PublishStats), Refusal> {
        let started = Instant::now();
        let options = self.op_check_publish(actor, request)?;
        Ok(self.op_publish_checked(actor, request, &options, started))
    }

    /// A publication for this node's subscribers only, never forwarded to the cluster: for
    /// channels every node consumes itself (the Socket.IO Redis queue).
    pub fn op_publish_local(
        &self,
        actor: Actor<'_>,
        request: PublishRequest<'_>,
    ) -> Result<(Id, PublishStats), Refusal> {
        let started = Instant::now();
        let options = self.op_check_publish(actor, request)?;
        Ok(self.publish_checked(actor.realm, actor.handle, request, &options, false, started))
    }

    /// The act step of a publication [`Router::op_check_publish`] accepted.
    pub fn op_publish_checked(
        &self,
        actor: Actor<'_>,
        request: PublishRequest<'_>,
        options: &PublishOptions,
        started: Instant,
    ) -> (Id, PublishStats) {
        self.publish_checked(actor.realm, actor.handle, request, options, true, started)
    }

    /// Calls `call.procedure` for `actor`, answering `caller` when the callee does. `timeout` is
    /// `CALL.Options.timeout` (zero: none), cut to the configured ceiling.
    pub fn op_call(
        &self,
        actor: Actor<'_>,
        caller: Caller,
        call: CallRequest,
        timeout: Duration,
    ) -> Result<Called, Refusal> {
        self.validate_uri(&actor, &call.procedure, MatchPolicy::Exact, "procedure")?;
        if call.procedure == history::GET_EVENTS {
            // Whoever may subscribe to a subscription's topic may read its history (WAMP
            // "Event History", security aspects): authorized as that subscription, not as a call.
            return self
                .op_get_events(&actor, &call.args, &call.kwargs)
                .map(Called::Answered);
        }
        self.authorize_actor(&actor, Action::Call, &call.procedure, MatchPolicy::Exact)?;
        if let Some(outcome) = meta::call(
            actor.realm,
            actor.handle,
            &call.procedure,
            &call.args,
            &call.kwargs,
        ) {
            return outcome.map(Called::Answered);
        }
        let limits = &self.config().limits;
        let mut call = call;
        call.timeout = limits.call_timeout(timeout);
        let deadline = call.timeout.map(|timeout| Instant::now() + timeout);
        let invocation = actor
            .realm
            .dealer()
            .call(caller, call, limits, deadline)
            .inspect_err(|e| {
                if e.error == error_uri::LIMIT_EXCEEDED {
                    self.metrics().limit_refused("pending_calls");
                }
            })?;
        if deadline.is_some() {
            actor.realm.arm_call_timer();
        }
        Ok(Called::Invoked(invocation))
    }

    /// Registers `procedure` for `actor`, which holds `held` registrations, and returns the
    /// registration ID. `reply` builds the REGISTERED, queued while the dealer is locked so no
    /// INVOCATION can overtake it; the meta events follow.
    pub fn op_register(
        &self,
        actor: Actor<'_>,
        procedure: &str,
        options: &Dict,
        held: usize,
        reply: impl FnOnce(Id) -> Frame,
    ) -> Result<Id, Refusal> {
        let (policy, invoke, disclose_caller, forward_timeout) =
            register_options(options).map_err(Refusal::from)?;
        self.validate_uri(&actor, procedure, policy, "procedure")?;
        if uri::is_reserved(procedure) {
            return Err(Refusal::new(
                error_uri::INVALID_URI,
                format!("procedure \"{procedure}\" is reserved for the router"),
            ));
        }
        let max = self.config().limits.max_registrations;
        if held >= max {
            return Err(self.over_limit(
                "registrations",
                format!("this session already holds {max} registrations (the limit)"),
            ));
        }
        self.authorize_actor(&actor, Action::Register, procedure, policy)?;
        let (registration, created) = {
            let mut dealer = actor.realm.dealer();
            let outcome = dealer.register(
                actor.handle,
                RegisterRequest {
                    procedure,
                    policy,
                    invoke,
                    disclose_caller,
                    forward_timeout,
                },
            )?;
            let _ = actor.handle.send(reply(outcome.0));
            outcome
        };
        let session = actor.handle.id;
        info!(session, procedure, registration, "registered");
        if created {
            let details = meta::entry_details(registration, procedure, policy, None);
            actor.realm.registration_created(session, details);
        }
        actor
            .realm
            .registration_events(session, registration, true, false);
        Ok(registration)
    }
}

/// `REGISTER.Options`: match policy, invocation policy and `disclose_caller`.
fn register_options(
    options: &Dict,
) -> Result<(MatchPolicy, InvokePolicy, bool, bool), OptionError> {
    let policy = MatchPolicy::from_options(options)?;
    let invoke = InvokePolicy::from_options(options)?;
    let flag = |name: &'static str| match options.get(name) {
        None => Ok(false),
        Some(v) => v.as_bool().ok_or(OptionError::invalid(name, "a boolean")),
    };
    Ok((
        policy,
        invoke,
        flag("disclose_caller")?,
        flag("forward_timeout")?,
    ))
}
