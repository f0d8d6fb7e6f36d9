//! The WAMP v2 session state machine, independent of any transport.
//!
//! A transport decodes frames into [`Message`]s and calls [`Session::handle`]; the session answers
//! through the connection's outbound queue and returns a [`Step`] telling the transport whether to
//! keep reading or close. States: waiting for HELLO → established (joined to a realm) → optionally
//! `GoodbyeSent` while the router shuts down. Every protocol error becomes the protocol's answer
//! (ERROR for a bad request, ABORT `wamp.error.protocol_violation` for a bad message) and never
//! affects another session.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tracing::{debug, info, warn};

use crate::auth::ticket::{self, Claims};
use crate::auth::wampcra;
use crate::metrics::SessionLabels;
use crate::router::dealer::{CallRequest, Caller, CancelMode};
use crate::router::handle::SessionHandle;
use crate::router::operations::{Actor, CallOptions, Called, SubscribeRequest};
use crate::router::outbound::{Frame, Outbound};
use crate::router::publisher::PublishRequest;
use crate::router::realm::Realm;
use crate::router::{AuthConfig, Router};
use crate::wamp::message::code;
use crate::wamp::{
    codec, error_uri, id, DecodeError, Dict, Id, MatchPolicy, Message, Serializer, Value,
};

/// WebSocket close code for a normal close.
pub const CLOSE_NORMAL: u16 = 1000;
/// WebSocket close code when the server goes away (shutdown).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// WebSocket close code for a protocol error.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;

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
    /// The ticket the session authenticated with, restricting its subscriptions.
    claims: Option<Claims>,
    /// Registrations it holds.
    registrations: usize,
}

impl Joined {
    /// The session as the operations layer sees it.
    fn actor(&self) -> Actor<'_> {
        Actor {
            realm: &self.realm,
            handle: &self.handle,
            claims: self.claims.as_ref(),
            oro_user: None,
            any_uri: false,
        }
    }
}

/// A HELLO answered with a CHALLENGE, waiting for AUTHENTICATE.
struct Challenging {
    realm: Arc<Realm>,
    realm_name: String,
    interruptible: bool,
    method: Pending,
}

/// What the CHALLENGE asked for.
enum Pending {
    /// A wampd ticket.
    Ticket,
    /// A WAMP-CRA signature.
    Cra(CraChallenge),
}

/// A WAMP-CRA challenge sent and what answering it correctly makes the session.
struct CraChallenge {
    /// The exact challenge string sent.
    challenge: String,
    /// The user's key; `None` for an unknown authid (the signature can only fail).
    key: Option<Vec<u8>>,
    /// Who the session becomes on success.
    authid: String,
    /// Its role.
    authrole: String,
    /// The session ID announced in the challenge, used in WELCOME.
    session: Id,
}

/// Who a session is once authenticated.
struct Identity {
    authid: String,
    authrole: String,
    authmethod: &'static str,
    claims: Option<Claims>,
}

impl Identity {
    fn from_ticket(claims: Claims) -> Identity {
        Identity {
            authid: claims.authid.clone(),
            authrole: claims.authrole.clone(),
            authmethod: "ticket",
            claims: Some(claims),
        }
    }
}

/// Clock skew tolerated on ticket expiry.
const TICKET_LEEWAY_SECS: i64 = 5;

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

/// One client's session over one transport connection.
pub struct Session {
    router: Arc<Router>,
    serializer: Serializer,
    outbound: Outbound,
    peer: SocketAddr,
    transport: &'static str,
    authrole: Arc<str>,
    preauth: Option<Claims>,
    state: State,
}

impl Session {
    /// A new, not yet established session for a client at `peer` speaking `serializer` over
    /// `transport` (a metrics label such as `websocket`); anonymous authentication gives it
    /// `authrole` (the listener decides: `anonymous` for browsers, the backend role for the
    /// backend listener).
    pub fn new(
        router: Arc<Router>,
        serializer: Serializer,
        outbound: Outbound,
        peer: SocketAddr,
        transport: &'static str,
        authrole: Arc<str>,
        preauth: Option<Claims>,
    ) -> Session {
        Session {
            router,
            serializer,
            outbound,
            peer,
            transport,
            authrole,
            preauth,
            state: State::AwaitingHello,
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

    fn hello(&mut self, realm_name: String, details: Dict) -> Step {
        let Some(realm) = self.router.realm(&realm_name).cloned() else {
            info!(peer = %self.peer, realm = %realm_name, "HELLO for an unknown realm refused");
            return self.abort(
                error_uri::NO_SUCH_REALM,
                format!("no realm \"{realm_name}\" exists on this router"),
                CLOSE_NORMAL,
            );
        };
        let interruptible = callee_cancels(&details);
        // A ticket presented on the WebSocket upgrade already authenticated the client.
        if let Some(claims) = self.preauth.take() {
            let identity = Identity::from_ticket(claims);
            return self.welcome(realm, realm_name, identity, interruptible);
        }
        let methods: Vec<String> = match details.get("authmethods") {
            None => vec!["anonymous".into()],
            Some(Value::List(list)) => list
                .iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect(),
            Some(_) => {
                return self.protocol_violation("HELLO.Details.authmethods must be a list".into())
            }
        };
        let auth = &self.router.config().auth;
        if !self.router.auth_limiter().allows(self.peer.ip()) {
            info!(peer = %self.peer, "Authentication failed: too many failed attempts from this address");
            self.router.metrics().auth_failures.inc();
            return self.abort(
                error_uri::AUTHENTICATION_FAILED,
                "too many failed authentication attempts; try again later".into(),
                CLOSE_NORMAL,
            );
        }
        for method in methods.iter().map(String::as_str).chain(
            // An empty list means "anything": try anonymous.
            methods.is_empty().then_some("anonymous"),
        ) {
            match method {
                "ticket" if auth.ticket_secret.is_some() => {
                    self.send(&Message::Challenge {
                        authmethod: "ticket".into(),
                        extra: Dict::new(),
                    });
                    self.state = State::Challenging(Challenging {
                        realm,
                        realm_name,
                        interruptible,
                        method: Pending::Ticket,
                    });
                    return Step::Continue;
                }
                "wampcra" if !auth.cra_users.is_empty() => {
                    let authid = match details.get("authid") {
                        Some(Value::Str(authid)) if !authid.is_empty() => authid.clone(),
                        _ => {
                            info!(peer = %self.peer, realm = %realm_name, "Authentication failed: wampcra without an authid");
                            self.router.metrics().auth_failures.inc();
                            return self.abort(
                                error_uri::AUTHENTICATION_FAILED,
                                "wampcra needs HELLO.Details.authid".into(),
                                CLOSE_NORMAL,
                            );
                        }
                    };
                    let cra = cra_challenge(auth, &realm_name, authid);
                    let mut extra = Dict::new();
                    extra.insert("challenge".into(), Value::from(cra.challenge.as_str()));
                    if let Some(salt) = cra_salt(auth, &cra.authid) {
                        extra.insert("salt".into(), Value::from(salt.salt.as_str()));
                        extra.insert("iterations".into(), Value::UInt(salt.iterations.into()));
                        extra.insert("keylen".into(), Value::UInt(salt.keylen.into()));
                    }
                    self.send(&Message::Challenge {
                        authmethod: "wampcra".into(),
                        extra,
                    });
                    self.state = State::Challenging(Challenging {
                        realm,
                        realm_name,
                        interruptible,
                        method: Pending::Cra(cra),
                    });
                    return Step::Continue;
                }
                "anonymous" if auth.anonymous_in(&realm_name) => {
                    let identity = Identity {
                        authid: format!("anonymous-{:012x}", id::random_id()),
                        authrole: auth.anonymous_role(&realm_name, &self.authrole).to_owned(),
                        authmethod: "anonymous",
                        claims: None,
                    };
                    return self.welcome(realm, realm_name, identity, interruptible);
                }
                _ => {}
            }
        }
        info!(peer = %self.peer, realm = %realm_name, offered = ?methods, "no offered authentication method is available");
        self.router.metrics().auth_failures.inc();
        self.abort(
            error_uri::NO_MATCHING_AUTH_METHOD,
            format!("none of the offered authentication methods {methods:?} is available"),
            CLOSE_NORMAL,
        )
    }

    /// AUTHENTICATE answering a CHALLENGE.
    fn authenticate(&mut self, challenging: Challenging, signature: &str) -> Step {
        let Pending::Cra(CraChallenge {
            challenge,
            key,
            authid,
            authrole,
            session,
        }) = challenging.method
        else {
            return self.authenticate_ticket(challenging, signature);
        };
        let valid = key
            .as_deref()
            .is_some_and(|key| wampcra::verify(key, &challenge, signature));
        if !valid {
            info!(peer = %self.peer, realm = %challenging.realm_name, %authid, "Authentication failed: wrong WAMP-CRA signature or unknown user");
            self.router.metrics().auth_failures.inc();
            self.router.auth_limiter().failed(self.peer.ip());
            return self.abort(
                error_uri::AUTHENTICATION_FAILED,
                "WAMP-CRA signature invalid".into(),
                CLOSE_NORMAL,
            );
        }
        let identity = Identity {
            authid,
            authrole,
            authmethod: "wampcra",
            claims: None,
        };
        self.welcome_as(
            session,
            challenging.realm,
            challenging.realm_name,
            identity,
            challenging.interruptible,
        )
    }

    /// AUTHENTICATE answering a ticket CHALLENGE.
    fn authenticate_ticket(&mut self, challenging: Challenging, signature: &str) -> Step {
        let Some(secret) = self.router.config().auth.ticket_secret.clone() else {
            return self.protocol_violation("AUTHENTICATE without a CHALLENGE".into());
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        match ticket::verify(&secret, signature, now, TICKET_LEEWAY_SECS) {
            Ok(claims) => {
                let identity = Identity::from_ticket(claims);
                self.welcome(
                    challenging.realm,
                    challenging.realm_name,
                    identity,
                    challenging.interruptible,
                )
            }
            Err(err) => {
                info!(peer = %self.peer, realm = %challenging.realm_name, "Authentication failed: {err}");
                self.router.metrics().auth_failures.inc();
                self.router.auth_limiter().failed(self.peer.ip());
                self.abort(
                    error_uri::AUTHENTICATION_FAILED,
                    format!("ticket refused: {err}"),
                    CLOSE_NORMAL,
                )
            }
        }
    }

    fn welcome(
        &mut self,
        realm: Arc<Realm>,
        realm_name: String,
        identity: Identity,
        interruptible: bool,
    ) -> Step {
        self.welcome_as(id::random_id(), realm, realm_name, identity, interruptible)
    }

    fn welcome_as(
        &mut self,
        session_id: Id,
        realm: Arc<Realm>,
        realm_name: String,
        identity: Identity,
        interruptible: bool,
    ) -> Step {
        let handle = Arc::new(SessionHandle {
            id: session_id,
            authid: identity.authid,
            authrole: identity.authrole,
            serializer: self.serializer,
            v1: false,
            transport: self.transport,
            peer: self.peer.to_string(),
            interruptible,
            outbound: self.outbound.clone(),
        });
        realm.join(handle.clone());
        self.outbound.set_policy(realm.policy());
        let gauge = self.router.metrics().session_gauge(&SessionLabels {
            transport: self.transport.to_owned(),
            protocol: self.serializer.subprotocol().to_owned(),
            realm: realm_name.clone(),
        });
        gauge.inc();
        self.send(&Message::Welcome {
            session: session_id,
            details: welcome_details(&handle, identity.authmethod),
        });
        info!(
            session = session_id,
            realm = %realm_name,
            authid = %handle.authid,
            authrole = %handle.authrole,
            authmethod = identity.authmethod,
            peer = %self.peer,
            serializer = self.serializer.subprotocol(),
            "session joined"
        );
        self.state = State::Established(Joined {
            realm,
            handle,
            subscriptions: HashSet::new(),
            gauge,
            claims: identity.claims,
            registrations: 0,
        });
        Step::Continue
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
                    Err(why) => {
                        self.error(code::CANCEL, request, error_uri::INVALID_ARGUMENT, &why)
                    }
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
                if let Some(joined) = self.joined() {
                    joined.realm.dealer().yield_result(
                        joined.handle.id,
                        request,
                        args,
                        kwargs,
                        progress,
                    );
                }
                Step::Continue
            }
            Message::Error {
                request_type,
                request,
                error,
                args,
                kwargs,
                ..
            } if request_type == code::INVOCATION => {
                if let Some(joined) = self.joined() {
                    joined.realm.dealer().yield_error(
                        joined.handle.id,
                        request,
                        &error,
                        args,
                        kwargs,
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

    fn subscribe(&mut self, request: Id, options: &Dict, topic: &str) -> Step {
        let policy = match MatchPolicy::from_options(options) {
            Ok(policy) => policy,
            Err(why) => {
                self.error(code::SUBSCRIBE, request, error_uri::INVALID_ARGUMENT, &why);
                return Step::Continue;
            }
        };
        let Some(joined) = self.joined() else {
            return Step::Continue;
        };
        let serializer = self.serializer;
        let metrics = self.router.metrics();
        let outcome = self.router.op_subscribe(
            joined.actor(),
            SubscribeRequest {
                topic,
                policy,
                held: joined.subscriptions.len(),
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
                }
            }
            Err(refusal) => self.error(code::SUBSCRIBE, request, refusal.error, &refusal.message),
        }
        Step::Continue
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
        let caller = Caller::V2 {
            session: joined.handle.clone(),
            request,
        };
        let call = CallRequest {
            procedure,
            args,
            kwargs,
            receive_progress: false,
            disclose_me: false,
        };
        let options = CallOptions {
            timeout,
            receive_progress: flag("receive_progress"),
            disclose_me: flag("disclose_me"),
        };
        match self.router.op_call(joined.actor(), caller, call, options) {
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

    /// Leaves the realm (if joined). Idempotent; also run on drop.
    pub fn leave(&mut self) {
        if let State::Established(joined) | State::GoodbyeSent(joined) =
            std::mem::replace(&mut self.state, State::AwaitingHello)
        {
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

/// The WAMP-CRA challenge for `authid` in `realm`. An unknown authid (or one not allowed in this
/// realm) gets a challenge too, so the answer does not reveal which users exist; it can only fail.
fn cra_challenge(auth: &AuthConfig, realm: &str, authid: String) -> CraChallenge {
    let user = auth
        .cra_users
        .get(&authid)
        .filter(|u| u.realm.as_deref().is_none_or(|r| r == realm));
    let session = id::random_id();
    let authrole = user.map_or("anonymous", |u| u.role.as_str()).to_owned();
    let challenge = wampcra::Challenge::new(&authid, &authrole, "static", session).to_json();
    CraChallenge {
        challenge,
        key: user.map(|u| u.key.clone()),
        authid,
        authrole,
        session,
    }
}

/// The salt to announce for `authid`: the user's, or for an unknown authid a stable made-up one
/// when any user is salted (so salted and unknown users look alike).
fn cra_salt(auth: &AuthConfig, authid: &str) -> Option<wampcra::Salt> {
    match auth.cra_users.get(authid) {
        Some(user) => user.salt.clone(),
        None => auth.cra_users.values().any(|u| u.salt.is_some()).then(|| {
            // Keyed by a per-process random value, so nobody can precompute it.
            static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let key = KEY.get_or_init(|| format!("{:x}{:x}", id::random_id(), id::random_id()));
            let fake = wampcra::sign(key.as_bytes(), authid);
            wampcra::Salt::new(&fake[..16.min(fake.len())])
        }),
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

/// True when HELLO announced the callee feature `call_canceling`: only such callees may be sent
/// INTERRUPT (others treat it as a protocol violation; AutobahnJS closes its transport).
fn callee_cancels(hello: &Dict) -> bool {
    hello
        .get("roles")
        .and_then(Value::as_dict)
        .and_then(|roles| roles.get("callee"))
        .and_then(Value::as_dict)
        .and_then(|callee| callee.get("features"))
        .and_then(Value::as_dict)
        .and_then(|features| features.get("call_canceling"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn welcome_details(handle: &SessionHandle, authmethod: &str) -> Dict {
    let mut features = Dict::new();
    for feature in [
        "publisher_exclusion",
        "publisher_identification",
        "subscriber_blackwhite_listing",
        "pattern_based_subscription",
    ] {
        features.insert(feature.into(), Value::Bool(true));
    }
    let mut broker = Dict::new();
    broker.insert("features".into(), Value::Dict(features));
    let mut roles = Dict::new();
    roles.insert("broker".into(), Value::Dict(broker));
    let mut dealer_features = Dict::new();
    for feature in [
        "pattern_based_registration",
        "shared_registration",
        "caller_identification",
        "progressive_call_results",
        "call_timeout",
        "call_canceling",
    ] {
        dealer_features.insert(feature.into(), Value::Bool(true));
    }
    let mut dealer = Dict::new();
    dealer.insert("features".into(), Value::Dict(dealer_features));
    roles.insert("dealer".into(), Value::Dict(dealer));

    let mut details = Dict::new();
    details.insert("roles".into(), Value::Dict(roles));
    details.insert("authid".into(), Value::Str(handle.authid.clone()));
    details.insert("authrole".into(), Value::Str(handle.authrole.clone()));
    details.insert("authmethod".into(), Value::from(authmethod));
    details.insert("authprovider".into(), Value::from("static"));
    details.insert(
        "agent".into(),
        Value::Str(format!("wampd/{}", env!("CARGO_PKG_VERSION"))),
    );
    details
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
