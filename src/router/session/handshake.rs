//! The way into a WAMP v2 session: HELLO, the method chosen from the client's `authmethods`
//! (each one an [`Authenticator`](super::authenticator::Authenticator); or a ticket already
//! verified on the upgrade), CHALLENGE and AUTHENTICATE, and the WELCOME that joins the realm.
//! What every method shares lives here: the limiter, the failure log line and metric, the ABORT.
//! Once established, the session's requests are handled in the parent module.

use std::collections::HashSet;
use std::sync::Arc;

use tracing::info;

use super::authenticator::{self, Answer, Hello, Identity, Pending, Refused};
use super::{Joined, Session, State, Step, CLOSE_NORMAL};
use crate::metrics::SessionLabels;
use crate::router::handle::SessionHandle;
use crate::router::realm::Realm;
use wampd_proto::wamp::{error_uri, id, Dict, Message, Value};

/// A HELLO answered with a CHALLENGE, waiting for AUTHENTICATE.
pub(super) struct Challenging {
    realm: Arc<Realm>,
    realm_name: String,
    callee: CalleeFeatures,
    pending: Box<dyn Pending>,
}

impl Session {
    pub(super) fn hello(&mut self, realm_name: String, details: Dict) -> Step {
        let Some(realm) = self.router.realm(&realm_name).cloned() else {
            info!(peer = %self.peer, realm = %realm_name, "HELLO for an unknown realm refused");
            return self.abort(
                error_uri::NO_SUCH_REALM,
                format!("no realm \"{realm_name}\" exists on this router"),
                CLOSE_NORMAL,
            );
        };
        let callee = CalleeFeatures::of(&details);
        // A ticket presented on the WebSocket upgrade already authenticated the client.
        if let Some(claims) = self.preauth.take() {
            let identity = authenticator::ticket::from_claims(*claims);
            return self.welcome(realm, realm_name, identity, callee);
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
        if !self.router.auth_limiter().allows(self.peer.ip()) {
            info!(peer = %self.peer, "Authentication failed: too many failed attempts from this address");
            self.router.metrics().auth_failures.inc();
            return self.abort(
                error_uri::AUTHENTICATION_FAILED,
                "too many failed authentication attempts; try again later".into(),
                CLOSE_NORMAL,
            );
        }
        let router = self.router.clone();
        let auth = &router.config().auth;
        let offered = methods.iter().map(String::as_str).chain(
            // An empty list means "anything": try anonymous.
            methods.is_empty().then_some("anonymous"),
        );
        for method in offered {
            let Some(authenticator) =
                authenticator::by_method(method).filter(|a| a.available(auth, &realm_name))
            else {
                continue;
            };
            let hello = Hello {
                auth,
                realm: &realm_name,
                details: &details,
                listener_role: &self.authrole,
            };
            return match authenticator.hello(&hello) {
                Answer::Welcome(identity) => self.welcome(realm, realm_name, identity, callee),
                Answer::Challenge { extra, pending } => {
                    self.send(&Message::Challenge {
                        authmethod: authenticator.method().into(),
                        extra,
                    });
                    self.state = State::Challenging(Challenging {
                        realm,
                        realm_name,
                        callee,
                        pending,
                    });
                    Step::Continue
                }
                Answer::Refuse(refused) => self.refuse(&realm_name, refused),
            };
        }
        info!(peer = %self.peer, realm = %realm_name, offered = ?methods, "no offered authentication method is available");
        self.router.metrics().auth_failures.inc();
        self.abort(
            error_uri::NO_MATCHING_AUTH_METHOD,
            format!("none of the offered authentication methods {methods:?} is available"),
            CLOSE_NORMAL,
        )
    }

    /// AUTHENTICATE answering a CHALLENGE. A wrong answer counts against the client's address.
    pub(super) fn authenticate(&mut self, challenging: Challenging, signature: &str) -> Step {
        match challenging.pending.verify(signature) {
            Ok(identity) => self.welcome(
                challenging.realm,
                challenging.realm_name,
                identity,
                challenging.callee,
            ),
            Err(refused) => {
                self.router.auth_limiter().failed(self.peer.ip());
                self.refuse(&challenging.realm_name, refused)
            }
        }
    }

    /// Logs and counts a failed authentication and ABORTs the session.
    fn refuse(&mut self, realm: &str, refused: Refused) -> Step {
        match &refused.authid {
            Some(authid) => {
                info!(peer = %self.peer, %realm, %authid, "Authentication failed: {}", refused.log)
            }
            None => info!(peer = %self.peer, %realm, "Authentication failed: {}", refused.log),
        }
        self.router.metrics().auth_failures.inc();
        self.abort(
            error_uri::AUTHENTICATION_FAILED,
            refused.reason,
            CLOSE_NORMAL,
        )
    }

    /// Joins the realm as `identity` and sends WELCOME.
    fn welcome(
        &mut self,
        realm: Arc<Realm>,
        realm_name: String,
        identity: Identity,
        callee: CalleeFeatures,
    ) -> Step {
        let session_id = identity.session.unwrap_or_else(id::random_id);
        let handle = Arc::new(SessionHandle {
            id: session_id,
            authid: identity.authid,
            authrole: identity.authrole,
            serializer: self.serializer,
            v1: false,
            socketio: false,
            transport: self.transport,
            peer: self.peer.to_string(),
            interruptible: callee.call_canceling,
            progressive_invocations: callee.progressive_call_invocations,
            passthru: callee.passthru,
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
            claims: identity.claims.map(Box::new),
            registrations: 0,
            pending: Vec::new(),
            testaments: Vec::new(),
        });
        Step::Continue
    }
}

/// True when HELLO announced the callee feature `call_canceling`: only such callees may be sent
/// INTERRUPT (others treat it as a protocol violation; AutobahnJS closes its transport).
/// The callee features a HELLO announced that change what the dealer sends it.
#[derive(Debug, Clone, Copy)]
pub(super) struct CalleeFeatures {
    call_canceling: bool,
    progressive_call_invocations: bool,
    passthru: bool,
}

impl CalleeFeatures {
    fn of(hello: &Dict) -> CalleeFeatures {
        let features = hello
            .get("roles")
            .and_then(Value::as_dict)
            .and_then(|roles| roles.get("callee"))
            .and_then(Value::as_dict)
            .and_then(|callee| callee.get("features"))
            .and_then(Value::as_dict);
        let announced = |name: &str| {
            features
                .and_then(|f| f.get(name))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        CalleeFeatures {
            call_canceling: announced("call_canceling"),
            progressive_call_invocations: announced("progressive_call_invocations"),
            passthru: crate::router::passthru::announced(features),
        }
    }
}

fn welcome_details(handle: &SessionHandle, authmethod: &str) -> Dict {
    let mut features = Dict::new();
    for feature in [
        "publisher_exclusion",
        "publisher_identification",
        "subscriber_blackwhite_listing",
        "pattern_based_subscription",
        "event_retention",
        "event_history",
        "payload_passthru_mode",
        "payload_transparency",
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
        "progressive_call_invocations",
        "call_timeout",
        "call_canceling",
        "payload_passthru_mode",
        "payload_transparency",
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
