//! The way into a WAMP v2 session: HELLO, the method chosen from the client's `authmethods`
//! (anonymous, a wampd ticket, WAMP-CRA, or a ticket already verified on the upgrade),
//! CHALLENGE and AUTHENTICATE, and the WELCOME that joins the realm. Once established, the
//! session's requests are handled in the parent module.

use std::collections::HashSet;
use std::sync::Arc;

use tracing::info;

use super::{Joined, Session, State, Step, CLOSE_NORMAL};
use crate::metrics::SessionLabels;
use crate::router::handle::SessionHandle;
use crate::router::realm::Realm;
use crate::router::AuthConfig;
use wampd_proto::ticket::{self, Claims};
use wampd_proto::wamp::{error_uri, id, Dict, Id, Message, Value};
use wampd_proto::wampcra;

/// A HELLO answered with a CHALLENGE, waiting for AUTHENTICATE.
pub(super) struct Challenging {
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
    pub(super) fn authenticate(&mut self, challenging: Challenging, signature: &str) -> Step {
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
