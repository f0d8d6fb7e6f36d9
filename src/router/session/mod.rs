//! The WAMP v2 session state machine, independent of any transport.
//!
//! A transport decodes frames into [`Message`]s and calls [`Session::handle`]; the session answers
//! through the connection's outbound queue and returns a [`Step`] telling the transport whether to
//! keep reading or close. States: waiting for HELLO → established (joined to a realm) → optionally
//! `GoodbyeSent` while the router shuts down. Every protocol error becomes the protocol's answer
//! (ERROR for a bad request, ABORT `wamp.error.protocol_violation` for a bad message) and never
//! affects another session.
//!
//! [`handshake`] holds the way in (HELLO, the authentication methods, CHALLENGE/AUTHENTICATE,
//! WELCOME); this module the established session, a thin translator of WAMP v2 requests onto
//! the operations layer ([`crate::router::operations`]).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tracing::{debug, info, warn};

use crate::router::broker::Position;
use crate::router::dealer::{Answer, CallRequest, Caller, CancelMode};
use crate::router::handle::SessionHandle;
use crate::router::operations::{Actor, Called, SubscribeRequest};
use crate::router::outbound::{Frame, Outbound};
use crate::router::passthru::Passthru;
use crate::router::publish_options::flag;
use crate::router::publisher::PublishRequest;
use crate::router::realm::Realm;
use crate::router::refusal::Refusal;
use crate::router::subscribe_gate::{
    answer_later, check_refusal, Gate, GateDone, GateSender, MAX_PENDING_CHECKS,
};
use crate::router::testament::{self, Testament};
use crate::router::Router;
use wampd_proto::ticket::Claims;
use wampd_proto::wamp::message::code;
use wampd_proto::wamp::{
    codec, error_uri, id, DecodeError, Dict, Id, MatchPolicy, Message, OptionError, Serializer,
    Value,
};

/// WebSocket close code for a normal close.
pub const CLOSE_NORMAL: u16 = 1000;
/// WebSocket close code when the server goes away (shutdown).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// WebSocket close code for a protocol error.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;

mod authenticator;
mod handshake;

use handshake::Challenging;

/// What the transport should do after a message was handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Keep reading.
    Continue,
    /// Send a close frame with this code and reason after what is queued, then end the connection.
    Close {
        /// WebSocket close code.
        code: u16,
        /// Human-readable reason.
        reason: String,
    },
}

struct Joined {
    realm: Arc<Realm>,
    handle: Arc<SessionHandle>,
    subscriptions: HashSet<Id>,
    /// The metrics gauge counting this session, decremented when it leaves.
    gauge: Gauge,
    /// The ticket the session authenticated with, restricting its subscriptions (boxed: most
    /// sessions have none, and every session's task holds this struct).
    claims: Option<Box<Claims>>,
    /// Registrations it holds.
    registrations: usize,
    /// SUBSCRIBEs waiting for the subscribe gate's check, by token.
    /// At most [`MAX_PENDING_CHECKS`], so a list (half a map's size in every session).
    pending: Vec<(u64, PendingSubscribe)>,
    /// Publications to make when the session ends ([`testament`]).
    testaments: Vec<Testament>,
}

/// A SUBSCRIBE waiting for the application's consent.
struct PendingSubscribe {
    request: Id,
    topic: String,
    options: SubscribeOptions,
}

/// Longest `recover_epoch` accepted (wampd's own are 14 characters).
const MAX_EPOCH_LENGTH: usize = 64;

/// `SUBSCRIBE.Options` as wampd reads them.
#[derive(Debug, Clone)]
struct SubscribeOptions {
    policy: MatchPolicy,
    get_retained: bool,
    /// `recover_epoch` and `recover_offset`, which come together.
    recover: Option<Position>,
}

impl SubscribeOptions {
    fn parse(options: &Dict) -> Result<SubscribeOptions, OptionError> {
        let policy = MatchPolicy::from_options(options)?;
        let get_retained = flag(options, "get_retained", false)?;
        let epoch = options
            .get("recover_epoch")
            .map(|v| {
                v.as_str()
                    .filter(|s| !s.is_empty() && s.len() <= MAX_EPOCH_LENGTH)
                    .ok_or(OptionError::invalid(
                        "recover_epoch",
                        "a string (an EVENT's Details.epoch)",
                    ))
            })
            .transpose()?;
        let offset = options
            .get("recover_offset")
            .map(|v| {
                v.as_u64().ok_or(OptionError::invalid(
                    "recover_offset",
                    "a whole number (an EVENT's Details.offset)",
                ))
            })
            .transpose()?;
        let recover = match (epoch, offset) {
            (Some(epoch), Some(offset)) => Some(Position {
                epoch: Arc::from(epoch),
                offset,
            }),
            (None, None) => None,
            (None, Some(_)) => {
                return Err(OptionError::invalid(
                    "recover_epoch",
                    "given with recover_offset",
                ))
            }
            (Some(_), None) => {
                return Err(OptionError::invalid(
                    "recover_offset",
                    "given with recover_epoch",
                ))
            }
        };
        Ok(SubscribeOptions {
            policy,
            get_retained,
            recover,
        })
    }
}

impl Joined {
    /// The session as the operations layer sees it.
    fn actor(&self) -> Actor<'_> {
        Actor {
            realm: &self.realm,
            handle: &self.handle,
            claims: self.claims.as_deref(),
            oro_user: None,
            any_uri: false,
        }
    }
}

enum State {
    /// Transport open, no session yet (also after a GOODBYE exchange).
    AwaitingHello,
    /// HELLO answered with CHALLENGE; AUTHENTICATE expected.
    Challenging(Challenging),
    /// Joined to a realm.
    Established(Joined),
    /// The router sent GOODBYE (shutdown) and waits for the client's reply.
    GoodbyeSent(Joined),
}

/// Who a new session's client is, as its transport saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The client's address.
    pub peer: SocketAddr,
    /// The transport, a metrics label such as `websocket`.
    pub transport: &'static str,
    /// The role anonymous authentication gives: the listener decides (`anonymous` for
    /// browsers, the backend role for the backend listener and local programs).
    pub authrole: Arc<str>,
    /// An identity the upgrade already established (a `?ticket=`, a connect check).
    pub preauth: Option<Claims>,
}

/// One client's session over one transport connection.
pub struct Session {
    router: Arc<Router>,
    serializer: Serializer,
    outbound: Outbound,
    peer: SocketAddr,
    transport: &'static str,
    authrole: Arc<str>,
    /// Boxed: taken at HELLO, and most sessions have none.
    preauth: Option<Box<Claims>>,
    state: State,
    /// Where the subscribe gate's checks answer.
    gate: GateSender,
    next_token: u64,
}

impl Session {
    /// A new, not yet established session for the client `arrival` describes, speaking
    /// `serializer`; its subscribe checks answer through `gate`.
    pub fn new(
        router: Arc<Router>,
        serializer: Serializer,
        outbound: Outbound,
        arrival: Arrival,
        gate: GateSender,
    ) -> Session {
        Session {
            router,
            serializer,
            outbound,
            peer: arrival.peer,
            transport: arrival.transport,
            authrole: arrival.authrole,
            preauth: arrival.preauth.map(Box::new),
            state: State::AwaitingHello,
            gate,
            next_token: 0,
        }
    }

    /// The session ID once established.
    pub fn id(&self) -> Option<Id> {
        match &self.state {
            State::Established(j) | State::GoodbyeSent(j) => Some(j.handle.id),
            State::AwaitingHello | State::Challenging(_) => None,
        }
    }

    /// True once HELLO was answered with WELCOME and until the session ends.
    pub fn is_established(&self) -> bool {
        self.id().is_some()
    }

    fn send(&self, msg: &Message) {
        self.router.metrics().messages_out(msg.code(), 1);
        let frame = Frame::from_encoded(self.serializer, codec::encode(self.serializer, msg));
        // A full queue has already flagged this session for disconnection; nothing more to do.
        let _ = self.outbound.push(frame);
    }

    fn abort(&mut self, reason: &str, message: String, code: u16) -> Step {
        let mut details = Dict::new();
        details.insert("message".into(), Value::Str(message.clone()));
        self.send(&Message::Abort {
            details,
            reason: reason.into(),
            args: Vec::new(),
            kwargs: Dict::new(),
        });
        self.leave();
        Step::Close {
            code,
            reason: message,
        }
    }

    /// Answers a message that could not be decoded: ABORT `wamp.error.protocol_violation`.
    pub fn handle_decode_error(&mut self, err: &DecodeError) -> Step {
        warn!(peer = %self.peer, session = ?self.id(), error = %err, "protocol violation: undecodable message");
        self.protocol_violation(err.to_string())
    }

    /// ABORTs the session for a protocol violation described by `message`.
    pub fn protocol_violation(&mut self, message: String) -> Step {
        self.abort(error_uri::PROTOCOL_VIOLATION, message, CLOSE_PROTOCOL_ERROR)
    }

    /// Processes one decoded message.
    pub fn handle(&mut self, msg: Message) -> Step {
        self.router.metrics().message_in(msg.code());
        match std::mem::replace(&mut self.state, State::AwaitingHello) {
            State::AwaitingHello => self.handle_unjoined(msg),
            State::Challenging(challenging) => match msg {
                Message::Authenticate { signature, .. } => {
                    self.authenticate(challenging, &signature)
                }
                Message::Abort { .. } => Step::Close {
                    code: CLOSE_NORMAL,
                    reason: "aborted".into(),
                },
                other => self.protocol_violation(format!(
                    "{} received while waiting for AUTHENTICATE",
                    other.name()
                )),
            },
            State::Established(joined) => {
                self.state = State::Established(joined);
                self.handle_established(msg)
            }
            State::GoodbyeSent(joined) => {
                self.state = State::GoodbyeSent(joined);
                match msg {
                    Message::Goodbye { .. } | Message::Abort { .. } => {
                        self.leave();
                        Step::Close {
                            code: CLOSE_GOING_AWAY,
                            reason: "server shutting down".into(),
                        }
                    }
                    // Requests racing with our GOODBYE are ignored; the session is ending.
                    _ => Step::Continue,
                }
            }
        }
    }

    fn handle_unjoined(&mut self, msg: Message) -> Step {
        match msg {
            Message::Hello { realm, details } => self.hello(realm, details),
            Message::Abort { reason, .. } => {
                debug!(peer = %self.peer, %reason, "client aborted before joining");
                Step::Close {
                    code: CLOSE_NORMAL,
                    reason: "aborted".into(),
                }
            }
            other => self.protocol_violation(format!(
                "{} received before the session was established",
                other.name()
            )),
        }
    }

    fn handle_established(&mut self, msg: Message) -> Step {
        if let Some(request) = client_request_id(&msg) {
            if request == 0 || request > id::MAX_ID {
                return self.protocol_violation(format!(
                    "{} request ID {request} is outside [1, 2^53]",
                    msg.name()
                ));
            }
        }
        match msg {
            Message::Subscribe {
                request,
                options,
                topic,
            } => self.subscribe(request, &options, &topic),
            Message::Unsubscribe {
                request,
                subscription,
            } => self.unsubscribe(request, subscription),
            Message::Publish {
                request,
                options,
                topic,
                args,
                kwargs,
            } => self.publish(request, &options, &topic, &args, &kwargs),
            Message::Goodbye { reason, .. } => {
                debug!(session = ?self.id(), %reason, "client said GOODBYE");
                self.leave();
                self.send(&Message::Goodbye {
                    details: Dict::new(),
                    reason: error_uri::CLOSE_GOODBYE_AND_OUT.into(),
                });
                Step::Continue
            }
            Message::Abort { reason, .. } => {
                debug!(session = ?self.id(), %reason, "client aborted the session");
                self.leave();
                Step::Close {
                    code: CLOSE_NORMAL,
                    reason: "aborted".into(),
                }
            }
            Message::Call {
                request,
                options,
                procedure,
                args,
                kwargs,
            } => self.call(request, &options, procedure, args, kwargs),
            Message::Cancel { request, options } => {
                match CancelMode::from_options(&options) {
                    Ok(mode) => {
                        if let Some(joined) = self.joined() {
                            joined
                                .realm
                                .dealer()
                                .cancel(joined.handle.id, request, mode);
                        }
                    }
                    Err(why) => self.error(
                        code::CANCEL,
                        request,
                        error_uri::INVALID_ARGUMENT,
                        &why.to_string(),
                    ),
                }
                Step::Continue
            }
            Message::Register {
                request,
                options,
                procedure,
            } => {
                self.register(request, &options, &procedure);
                Step::Continue
            }
            Message::Unregister {
                request,
                registration,
            } => {
                if let Some(joined) = self.joined() {
                    let outcome = joined
                        .realm
                        .dealer()
                        .unregister(joined.handle.id, registration);
                    match outcome {
                        Ok(deleted) => {
                            self.send(&Message::Unregistered { request });
                            joined.realm.registration_events(
                                joined.handle.id,
                                registration,
                                false,
                                deleted,
                            );
                            if let State::Established(joined) = &mut self.state {
                                joined.registrations = joined.registrations.saturating_sub(1);
                            }
                        }
                        Err(e) => self.error(code::UNREGISTER, request, e.error, &e.message),
                    }
                }
                Step::Continue
            }
            Message::Yield {
                request,
                options,
                args,
                kwargs,
            } => {
                let progress = options
                    .get("progress")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let passthru = match Passthru::parse(&options, &args, &kwargs) {
                    Ok(passthru) => passthru,
                    Err(refusal) => {
                        self.error(code::YIELD, request, refusal.error, &refusal.message);
                        return Step::Continue;
                    }
                };
                if let Some(joined) = self.joined() {
                    joined.realm.dealer().yield_result(
                        joined.handle.id,
                        request,
                        Answer {
                            args,
                            kwargs,
                            passthru,
                        },
                        progress,
                    );
                }
                Step::Continue
            }
            Message::Error {
                request_type,
                request,
                details,
                error,
                args,
                kwargs,
            } if request_type == code::INVOCATION => {
                // A malformed passthru ERROR still ends the call; its attributes are dropped.
                let passthru = Passthru::parse(&details, &args, &kwargs).unwrap_or(None);
                if let Some(joined) = self.joined() {
                    joined.realm.dealer().yield_error(
                        joined.handle.id,
                        request,
                        &error,
                        "the callee reported an error",
                        Answer {
                            args,
                            kwargs,
                            passthru,
                        },
                    );
                }
                Step::Continue
            }
            // Errors for anything but an INVOCATION: nothing to route them to.
            Message::Error { .. } => {
                debug!(session = ?self.id(), "ignoring an ERROR that matches no invocation");
                Step::Continue
            }
            Message::Hello { .. } => {
                self.protocol_violation("HELLO received on an established session".into())
            }
            other => {
                self.protocol_violation(format!("{} may not be sent by a client", other.name()))
            }
        }
    }

    fn joined(&self) -> Option<&Joined> {
        match &self.state {
            State::Established(j) | State::GoodbyeSent(j) => Some(j),
            State::AwaitingHello | State::Challenging(_) => None,
        }
    }

    fn error(&self, request_type: u64, request: Id, error: &str, message: &str) {
        self.send(&Message::Error {
            request_type,
            request,
            details: Dict::new(),
            error: error.into(),
            args: vec![Value::Str(message.into())],
            kwargs: Dict::new(),
        });
    }

    /// ERROR for a refused request, with what the refusal tells the client in `ArgumentsKw`.
    fn error_for(&self, request_type: u64, request: Id, refusal: Refusal) {
        self.send(&Message::Error {
            request_type,
            request,
            details: Dict::new(),
            error: refusal.error.into(),
            args: vec![Value::Str(refusal.message)],
            kwargs: refusal.kwargs,
        });
    }

    fn subscribe(&mut self, request: Id, options: &Dict, topic: &str) -> Step {
        let parsed = SubscribeOptions::parse(options);
        let options = match parsed {
            Ok(parsed) => parsed,
            Err(why) => {
                self.error(
                    code::SUBSCRIBE,
                    request,
                    error_uri::INVALID_ARGUMENT,
                    &why.to_string(),
                );
                return Step::Continue;
            }
        };
        let Some(joined) = self.joined() else {
            return Step::Continue;
        };
        let policy = options.policy;
        let ask = SubscribeRequest {
            topic,
            policy,
            held: joined.subscriptions.len() + joined.pending.len(),
            get_retained: options.get_retained,
            recover: options.recover.as_ref(),
        };
        match self.router.op_subscribe_gate(&joined.actor(), ask) {
            Ok(Gate::Open) => {
                self.finish_subscribe(request, topic, &options);
            }
            Ok(Gate::Refused(why)) => {
                self.router.metrics().authorization_denied("subscribe");
                self.error(code::SUBSCRIBE, request, error_uri::NOT_AUTHORIZED, &why);
            }
            Ok(Gate::Check(check)) => {
                if joined.pending.len() >= MAX_PENDING_CHECKS {
                    self.router.metrics().limit_refused("pending_checks");
                    let why = format!(
                        "{MAX_PENDING_CHECKS} subscriptions are already waiting for the subscribe check"
                    );
                    self.error(code::SUBSCRIBE, request, error_uri::LIMIT_EXCEEDED, &why);
                    return Step::Continue;
                }
                let token = self.next_token;
                self.next_token += 1;
                if let State::Established(joined) = &mut self.state {
                    joined.pending.push((
                        token,
                        PendingSubscribe {
                            request,
                            topic: topic.to_owned(),
                            options: options.clone(),
                        },
                    ));
                }
                answer_later(&self.gate, token, check);
            }
            Err(refusal) => self.error(code::SUBSCRIBE, request, refusal.error, &refusal.message),
        }
        Step::Continue
    }

    /// A subscribe check answered: SUBSCRIBED when it passed, ERROR otherwise.
    pub fn on_gate_done(&mut self, done: GateDone) -> Step {
        self.router
            .metrics()
            .external_check("subscribe", done.outcome.label());
        let State::Established(joined) = &mut self.state else {
            return Step::Continue;
        };
        let Some(index) = joined.pending.iter().position(|(t, _)| *t == done.token) else {
            return Step::Continue;
        };
        let (_, pending) = joined.pending.swap_remove(index);
        let Some(message) = check_refusal(&done.outcome) else {
            self.finish_subscribe(pending.request, &pending.topic, &pending.options);
            return Step::Continue;
        };
        match &done.outcome {
            crate::checks::Outcome::Failed(why) => {
                info!(topic = pending.topic, "subscribe check failed: {why}");
            }
            crate::checks::Outcome::Denied(why) => {
                debug!(topic = pending.topic, "subscribe check refused: {why}");
                self.router.metrics().authorization_denied("subscribe");
            }
            crate::checks::Outcome::Allowed(_) => {}
        }
        self.error(
            code::SUBSCRIBE,
            pending.request,
            error_uri::NOT_AUTHORIZED,
            message,
        );
        Step::Continue
    }

    /// Subscribes after the checks passed: SUBSCRIBED, then (with `get_retained`) the retained
    /// events the subscription covers.
    fn finish_subscribe(&mut self, request: Id, topic: &str, options: &SubscribeOptions) {
        let policy = options.policy;
        let Some(joined) = self.joined() else {
            return;
        };
        let serializer = self.serializer;
        let metrics = self.router.metrics();
        let outcome = self.router.op_subscribe(
            joined.actor(),
            SubscribeRequest {
                topic,
                policy,
                held: joined.subscriptions.len(),
                get_retained: options.get_retained,
                recover: options.recover.as_ref(),
            },
            |result| {
                metrics.messages_out(code::SUBSCRIBED, 1);
                let reply = Message::Subscribed {
                    request,
                    subscription: result.subscription,
                };
                Some(Frame::from_encoded(
                    serializer,
                    codec::encode(serializer, &reply),
                ))
            },
        );
        match outcome {
            Ok(result) => {
                if let State::Established(joined) = &mut self.state {
                    joined.subscriptions.insert(result.subscription);
                    info!(
                        session = joined.handle.id,
                        topic,
                        r#match = policy.as_str(),
                        "subscribed"
                    );
                }
            }
            Err(refusal) => self.error_for(code::SUBSCRIBE, request, refusal),
        }
    }

    fn unsubscribe(&mut self, request: Id, subscription: Id) -> Step {
        let State::Established(joined) = &mut self.state else {
            return Step::Continue;
        };
        if !joined.subscriptions.remove(&subscription) {
            self.error(
                code::UNSUBSCRIBE,
                request,
                error_uri::NO_SUCH_SUBSCRIPTION,
                "this session has no such subscription",
            );
            return Step::Continue;
        }
        self.router.op_unsubscribe(joined.actor(), subscription);
        info!(session = joined.handle.id, subscription, "unsubscribed");
        self.send(&Message::Unsubscribed {
            request,
            details: None,
        });
        Step::Continue
    }

    fn publish(
        &mut self,
        request: Id,
        options: &Dict,
        topic: &str,
        args: &[Value],
        kwargs: &Dict,
    ) -> Step {
        let acknowledge = options
            .get("acknowledge")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let Some(joined) = self.joined() else {
            return Step::Continue;
        };
        let outcome = self.router.op_publish(
            joined.actor(),
            PublishRequest {
                topic,
                args,
                kwargs,
                options,
                any_topic: false,
                v1_payload: None,
            },
        );
        match outcome {
            Ok((publication, stats)) => {
                debug!(
                    session = joined.handle.id,
                    topic,
                    publication,
                    delivered = stats.delivered,
                    dropped = stats.dropped,
                    "published"
                );
                if acknowledge {
                    self.send(&Message::Published {
                        request,
                        publication,
                    });
                }
            }
            Err(refusal) => {
                debug!(session = joined.handle.id, topic, error = refusal.error, message = %refusal.message, "publish refused");
                if acknowledge {
                    self.error(code::PUBLISH, request, refusal.error, &refusal.message);
                }
            }
        }
        Step::Continue
    }

    fn register(&mut self, request: Id, options: &Dict, procedure: &str) {
        let Some(joined) = self.joined() else {
            return;
        };
        let serializer = self.serializer;
        let metrics = self.router.metrics();
        let outcome = self.router.op_register(
            joined.actor(),
            procedure,
            options,
            joined.registrations,
            |registration| {
                metrics.messages_out(code::REGISTERED, 1);
                let reply = Message::Registered {
                    request,
                    registration,
                };
                Frame::from_encoded(serializer, codec::encode(serializer, &reply))
            },
        );
        match outcome {
            Ok(_) => {
                if let State::Established(joined) = &mut self.state {
                    joined.registrations += 1;
                }
            }
            Err(e) => self.error(code::REGISTER, request, e.error, &e.message),
        }
    }

    fn call(
        &mut self,
        request: Id,
        options: &Dict,
        procedure: String,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> Step {
        if procedure == testament::ADD || procedure == testament::FLUSH {
            self.testament_call(request, &procedure, &args, &kwargs);
            return Step::Continue;
        }
        let Some(joined) = self.joined() else {
            return Step::Continue;
        };
        let flag = |key: &str| options.get(key).and_then(Value::as_bool).unwrap_or(false);
        let timeout = match options.get("timeout") {
            None => Duration::ZERO,
            Some(v) => match v.as_u64() {
                Some(ms) => Duration::from_millis(ms),
                None => {
                    self.error(
                        code::CALL,
                        request,
                        error_uri::INVALID_ARGUMENT,
                        "option timeout must be a non-negative integer (milliseconds)",
                    );
                    return Step::Continue;
                }
            },
        };
        let passthru = match Passthru::parse(options, &args, &kwargs) {
            Ok(passthru) => passthru,
            Err(refusal) => {
                self.error(code::CALL, request, refusal.error, &refusal.message);
                return Step::Continue;
            }
        };
        let caller = Caller::V2 {
            session: joined.handle.clone(),
            request,
        };
        let call = CallRequest {
            procedure,
            args,
            kwargs,
            receive_progress: flag("receive_progress"),
            disclose_me: flag("disclose_me"),
            progress: flag("progress"),
            timeout: None,
            passthru,
        };
        match self.router.op_call(joined.actor(), caller, call, timeout) {
            Ok(Called::Answered(args)) => self.send(&Message::Result {
                request,
                details: Dict::new(),
                args,
                kwargs: Dict::new(),
            }),
            Ok(Called::Invoked(_)) => {}
            Err(refusal) if refusal.error == error_uri::PROTOCOL_VIOLATION => {
                return self.protocol_violation(refusal.message);
            }
            Err(refusal) => self.error(code::CALL, request, refusal.error, &refusal.message),
        }
        Step::Continue
    }

    /// Starts a graceful end of the session because the router shuts down. Returns true when a
    /// GOODBYE was sent and the client's reply is worth waiting for.
    pub fn begin_shutdown(&mut self) -> bool {
        match std::mem::replace(&mut self.state, State::AwaitingHello) {
            State::Established(joined) => {
                let mut details = Dict::new();
                details.insert("message".into(), Value::from("the router is shutting down"));
                self.state = State::GoodbyeSent(joined);
                self.send(&Message::Goodbye {
                    details,
                    reason: error_uri::CLOSE_SYSTEM_SHUTDOWN.into(),
                });
                true
            }
            other => {
                self.state = other;
                false
            }
        }
    }

    /// `wamp.session.add_testament` and `flush_testaments`: the session's own business, so any
    /// session may call them; what a testament will publish is checked now as a publication
    /// by this session.
    fn testament_call(&mut self, request: Id, procedure: &str, args: &[Value], kwargs: &Dict) {
        let State::Established(joined) = &mut self.state else {
            return;
        };
        let invalid = |why: String| Refusal::new(error_uri::INVALID_ARGUMENT, why);
        let answer = if procedure == testament::FLUSH {
            testament::Scope::parse(kwargs.get("scope"))
                .map_err(invalid)
                .map(|scope| {
                    let before = joined.testaments.len();
                    joined.testaments.retain(|t| t.scope != scope);
                    vec![Value::UInt((before - joined.testaments.len()) as u64)]
                })
        } else {
            testament::parse_add(args, kwargs)
                .map_err(invalid)
                .and_then(|t| {
                    if joined.testaments.len() >= testament::MAX_TESTAMENTS {
                        return Err(Refusal::new(
                            error_uri::LIMIT_EXCEEDED,
                            format!(
                                "a session may hold {} testaments",
                                testament::MAX_TESTAMENTS
                            ),
                        ));
                    }
                    self.router.op_check_publish(joined.actor(), t.request())?;
                    joined.testaments.push(t);
                    Ok(Vec::new())
                })
        };
        match answer {
            Ok(args) => self.send(&Message::Result {
                request,
                details: Dict::new(),
                args,
                kwargs: Dict::new(),
            }),
            Err(refusal) => self.error(code::CALL, request, refusal.error, &refusal.message),
        }
    }

    /// Leaves the realm (if joined), publishing its testaments first. Idempotent; also run on
    /// drop.
    pub fn leave(&mut self) {
        if let State::Established(joined) | State::GoodbyeSent(joined) =
            std::mem::replace(&mut self.state, State::AwaitingHello)
        {
            for t in &joined.testaments {
                let published = self.router.op_publish(joined.actor(), t.request());
                if let Err(refusal) = published {
                    debug!(
                        topic = t.topic,
                        "testament not published: {}", refusal.message
                    );
                }
            }
            joined
                .realm
                .leave(joined.handle.id, joined.subscriptions.iter().copied());
            joined.gauge.dec();
            info!(
                session = joined.handle.id,
                realm = joined.realm.name(),
                dropped_events = joined.handle.outbound.dropped_total(),
                "session left"
            );
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.leave();
    }
}

/// The request ID a client chose for a request it expects an answer to (the spec's
/// session-scope IDs, which must be in [1, 2^53]).
fn client_request_id(msg: &Message) -> Option<Id> {
    match msg {
        Message::Subscribe { request, .. }
        | Message::Unsubscribe { request, .. }
        | Message::Publish { request, .. }
        | Message::Call { request, .. }
        | Message::Cancel { request, .. }
        | Message::Register { request, .. }
        | Message::Unregister { request, .. } => Some(*request),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
