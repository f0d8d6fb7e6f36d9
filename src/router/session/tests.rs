//! Unit tests of the WAMP v2 session state machine: every state transition, driven with decoded
//! messages and read back from the session's outbound queue, without a transport.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::auth::rules::DefaultPolicy;
use crate::metrics::Metrics;
use crate::router::authorizer::Authorizer;
use crate::router::outbound::{self, OutboundRx, QueueLimits};
use crate::router::{AuthConfig, RouterConfig};
use wampd_proto::ticket::mint;
use wampd_proto::wamp::{Limits, UriPolicy};

const SECRET: &str = "session test secret";

fn router() -> Arc<Router> {
    let config = RouterConfig {
        realms: vec!["realm1".into()],
        uri_policy: UriPolicy::Loose,
        queue: QueueLimits {
            messages: 64,
            bytes: 1 << 20,
        },
        overflow: Default::default(),
        overflow_by_realm: HashMap::new(),
        auth: AuthConfig {
            ticket_secret: Some(SECRET.as_bytes().to_vec()),
            anonymous: true,
            max_failures: 0,
            cra_users: HashMap::new(),
            ticket_principals: Default::default(),
            cryptosign_principals: Default::default(),
            realms: HashMap::new(),
            backend_role: "backend".into(),
        },
        authorizer: Authorizer::new(DefaultPolicy::Open, "backend", Vec::new()),
        limits: Limits::default(),
        retained_topics: 100,
        retained_bytes: 1 << 20,
        retain_topics: Default::default(),
        history: Default::default(),
    };
    Arc::new(Router::new(config, Arc::new(Metrics::new())))
}

fn session(router: &Arc<Router>) -> (Session, OutboundRx) {
    let (outbound, rx) = outbound::channel(
        QueueLimits {
            messages: 64,
            bytes: 1 << 20,
        },
        Serializer::Json,
    );
    let peer = "192.0.2.1:4000".parse().expect("address");
    let session = Session::new(
        router.clone(),
        Serializer::Json,
        outbound,
        Arrival {
            peer,
            transport: "test",
            authrole: "anonymous".into(),
            preauth: None,
        },
        crate::router::subscribe_gate::gate_channel().0,
    );
    (session, rx)
}

/// Every message the session queued since the last call.
fn sent(rx: &mut OutboundRx) -> Vec<Message> {
    std::iter::from_fn(|| rx.try_recv())
        .filter_map(|frame| match frame {
            Frame::Text(text) => codec::decode(Serializer::Json, text.as_bytes()).ok(),
            _ => None,
        })
        .collect()
}

fn hello(realm: &str, methods: &[&str]) -> Message {
    let mut details = Dict::new();
    if !methods.is_empty() {
        details.insert(
            "authmethods".into(),
            Value::List(methods.iter().map(|m| Value::from(*m)).collect()),
        );
    }
    Message::Hello {
        realm: realm.into(),
        details,
    }
}

fn goodbye() -> Message {
    Message::Goodbye {
        details: Dict::new(),
        reason: error_uri::CLOSE_NORMAL.into(),
    }
}

fn aborted_with(messages: &[Message], reason: &str) -> bool {
    matches!(messages.last(), Some(Message::Abort { reason: r, .. }) if r == reason)
}

#[test]
fn anonymous_hello_establishes_and_goodbye_returns_to_awaiting_hello() {
    let router = router();
    let (mut s, mut rx) = session(&router);
    assert!(!s.is_established());
    assert_eq!(s.handle(hello("realm1", &[])), Step::Continue);
    assert!(s.is_established());
    assert!(matches!(
        sent(&mut rx).as_slice(),
        [Message::Welcome { .. }]
    ));
    assert_eq!(router.session_count(), 1);
    assert_eq!(s.handle(goodbye()), Step::Continue);
    assert!(!s.is_established(), "back to waiting for HELLO");
    assert!(
        matches!(sent(&mut rx).as_slice(), [Message::Goodbye { reason, .. }] if reason == error_uri::CLOSE_GOODBYE_AND_OUT)
    );
    assert_eq!(router.session_count(), 0);
    // A new HELLO on the same transport starts a new session.
    s.handle(hello("realm1", &[]));
    assert!(s.is_established());
}

#[test]
fn unknown_realms_and_unusable_methods_are_aborted() {
    let router = router();
    let (mut s, mut rx) = session(&router);
    assert!(matches!(
        s.handle(hello("no.such.realm", &[])),
        Step::Close { .. }
    ));
    assert!(aborted_with(&sent(&mut rx), error_uri::NO_SUCH_REALM));
    let (mut s, mut rx) = session(&router);
    s.handle(hello("realm1", &["cryptosign"]));
    assert!(aborted_with(
        &sent(&mut rx),
        error_uri::NO_MATCHING_AUTH_METHOD
    ));
    assert!(!s.is_established());
}

#[test]
fn ticket_hello_challenges_then_welcomes_or_aborts() {
    let router = router();
    let token = mint(
        SECRET.as_bytes(),
        &Claims {
            authid: "alice".into(),
            authrole: "user".into(),
            expires: i64::MAX / 2,
            topics: None,
        },
    );
    let (mut s, mut rx) = session(&router);
    s.handle(hello("realm1", &["ticket"]));
    assert!(
        matches!(sent(&mut rx).as_slice(), [Message::Challenge { authmethod, .. }] if authmethod == "ticket")
    );
    assert!(!s.is_established(), "challenging is not established");
    s.handle(Message::Authenticate {
        signature: token,
        extra: Dict::new(),
    });
    assert!(s.is_established());
    match sent(&mut rx).as_slice() {
        [Message::Welcome { details, .. }] => {
            assert_eq!(details.get("authid"), Some(&Value::from("alice")));
            assert_eq!(details.get("authmethod"), Some(&Value::from("ticket")));
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
    let (mut s, mut rx) = session(&router);
    s.handle(hello("realm1", &["ticket"]));
    let _ = sent(&mut rx);
    let step = s.handle(Message::Authenticate {
        signature: "forged".into(),
        extra: Dict::new(),
    });
    assert!(matches!(step, Step::Close { .. }));
    assert!(aborted_with(
        &sent(&mut rx),
        error_uri::AUTHENTICATION_FAILED
    ));
    // Anything but AUTHENTICATE while challenging is a protocol violation.
    let (mut s, mut rx) = session(&router);
    s.handle(hello("realm1", &["ticket"]));
    let _ = sent(&mut rx);
    s.handle(goodbye());
    assert!(aborted_with(&sent(&mut rx), error_uri::PROTOCOL_VIOLATION));
}

#[test]
fn requests_before_hello_and_hello_after_it_are_violations() {
    let router = router();
    let (mut s, mut rx) = session(&router);
    let step = s.handle(Message::Subscribe {
        request: 1,
        options: Dict::new(),
        topic: "com.x".into(),
    });
    assert!(matches!(
        step,
        Step::Close {
            code: CLOSE_PROTOCOL_ERROR,
            ..
        }
    ));
    assert!(aborted_with(&sent(&mut rx), error_uri::PROTOCOL_VIOLATION));
    let (mut s, mut rx) = session(&router);
    s.handle(hello("realm1", &[]));
    let _ = sent(&mut rx);
    s.handle(hello("realm1", &[]));
    assert!(aborted_with(&sent(&mut rx), error_uri::PROTOCOL_VIOLATION));
    assert!(!s.is_established());
    assert_eq!(router.session_count(), 0, "the violating session left");
}

#[test]
fn an_established_session_answers_requests_and_enforces_request_ids() {
    let router = router();
    let (mut s, mut rx) = session(&router);
    s.handle(hello("realm1", &[]));
    let _ = sent(&mut rx);
    s.handle(Message::Subscribe {
        request: 7,
        options: Dict::new(),
        topic: "com.x".into(),
    });
    let subscription = match sent(&mut rx).as_slice() {
        [Message::Subscribed {
            request: 7,
            subscription,
        }] => *subscription,
        other => panic!("expected SUBSCRIBED, got {other:?}"),
    };
    s.handle(Message::Unsubscribe {
        request: 8,
        subscription,
    });
    assert!(matches!(
        sent(&mut rx).as_slice(),
        [Message::Unsubscribed { request: 8, .. }]
    ));
    s.handle(Message::Unsubscribe {
        request: 9,
        subscription,
    });
    assert!(
        matches!(sent(&mut rx).as_slice(), [Message::Error { error, .. }] if error == error_uri::NO_SUCH_SUBSCRIPTION)
    );
    let step = s.handle(Message::Subscribe {
        request: 0,
        options: Dict::new(),
        topic: "com.x".into(),
    });
    assert!(matches!(step, Step::Close { .. }));
    assert!(aborted_with(&sent(&mut rx), error_uri::PROTOCOL_VIOLATION));
}

#[test]
fn shutdown_sends_goodbye_and_waits_for_the_reply() {
    let router = router();
    let (mut s, mut rx) = session(&router);
    assert!(!s.begin_shutdown(), "nothing to say before HELLO");
    s.handle(hello("realm1", &[]));
    let _ = sent(&mut rx);
    assert!(s.begin_shutdown());
    assert!(
        matches!(sent(&mut rx).as_slice(), [Message::Goodbye { reason, .. }] if reason == error_uri::CLOSE_SYSTEM_SHUTDOWN)
    );
    // Requests racing with the GOODBYE are ignored; the client's GOODBYE ends it.
    assert_eq!(
        s.handle(Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: "com.x".into(),
        }),
        Step::Continue
    );
    assert!(sent(&mut rx).is_empty());
    assert!(matches!(
        s.handle(goodbye()),
        Step::Close {
            code: CLOSE_GOING_AWAY,
            ..
        }
    ));
    assert_eq!(router.session_count(), 0);
}

#[test]
fn a_get_retained_that_is_not_a_boolean_is_an_invalid_argument() {
    let router = router();
    let (mut s, mut rx) = session(&router);
    s.handle(hello("realm1", &[]));
    let _ = sent(&mut rx);
    let mut options = Dict::new();
    options.insert("get_retained".into(), Value::Str("yes".into()));
    s.handle(Message::Subscribe {
        request: 3,
        options,
        topic: "com.x".into(),
    });
    match sent(&mut rx).as_slice() {
        [Message::Error {
            request: 3,
            error,
            args,
            ..
        }] => {
            assert_eq!(error, error_uri::INVALID_ARGUMENT);
            assert_eq!(
                args,
                &vec![Value::Str("option get_retained must be a boolean".into())]
            );
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
}
