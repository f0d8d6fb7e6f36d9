//! Unit tests of the authenticators: each method's answer to HELLO and to AUTHENTICATE, without
//! a session around them (the handshake's own transitions are tested in `session/tests.rs`).

use std::collections::HashMap;

use super::*;
use crate::auth::rules::CraUser;
use wampd_proto::wamp::Value;
use wampd_proto::{ticket as wampd_ticket, wampcra as cra};

const SECRET: &[u8] = b"ticket-secret";

fn auth() -> AuthConfig {
    let mut cra_users = HashMap::new();
    cra_users.insert(
        "joe".to_string(),
        CraUser {
            authid: "joe".into(),
            role: "user".into(),
            realm: Some("realm1".into()),
            key: b"joe-secret".to_vec(),
            salt: None,
        },
    );
    let cryptosign_principals = crate::auth::rules::AuthFile::parse(
        "[[cryptosign]]\nauthid='w'\nrole='backend'\nauthorized_keys=['d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a']",
        &|_| None,
    )
    .expect("valid")
    .cryptosign;
    AuthConfig {
        ticket_secret: Some(SECRET.to_vec()),
        anonymous: true,
        cra_users,
        cryptosign_principals,
        backend_role: "backend".into(),
        ..AuthConfig::default()
    }
}

fn hello<'a>(auth: &'a AuthConfig, realm: &'a str, details: &'a Dict) -> Hello<'a> {
    Hello {
        auth,
        realm,
        details,
        listener_role: "anonymous",
    }
}

fn challenge(answer: Answer) -> (Dict, Box<dyn Pending>) {
    match answer {
        Answer::Challenge { extra, pending } => (extra, pending),
        Answer::Welcome(_) => panic!("welcomed without a challenge"),
        Answer::Refuse(r) => panic!("refused: {r:?}"),
    }
}

#[test]
fn methods_are_found_by_name_and_offered_only_when_configured() {
    let names: Vec<&str> = AUTHENTICATORS.iter().map(|a| a.method()).collect();
    assert_eq!(names, ["anonymous", "ticket", "wampcra", "cryptosign"]);
    assert!(by_method("scram").is_none());
    let off = AuthConfig::default();
    for a in AUTHENTICATORS {
        assert!(
            !a.available(&off, "realm1"),
            "{} offered with nothing configured",
            a.method()
        );
        assert!(a.available(&auth(), "realm1"), "{} not offered", a.method());
    }
}

#[test]
fn anonymous_welcomes_with_a_random_authid() {
    let auth = auth();
    let details = Dict::new();
    let Answer::Welcome(identity) = anonymous::Anonymous.hello(&hello(&auth, "realm1", &details))
    else {
        panic!("anonymous must welcome at once");
    };
    assert!(identity.authid.starts_with("anonymous-"));
    assert_eq!(identity.authrole, "anonymous");
    assert_eq!(identity.authmethod, "anonymous");
    assert!(identity.session.is_none());
}

#[test]
fn a_ticket_is_checked_against_the_secret_and_the_clock() {
    let auth = auth();
    let details = Dict::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let claims = |expires| wampd_ticket::Claims {
        authid: "alice".into(),
        authrole: "user".into(),
        expires,
        topics: Some(vec!["news.alice".into()]),
    };
    let ask = || challenge(ticket::TicketAuthenticator.hello(&hello(&auth, "realm1", &details)));

    let (extra, pending) = ask();
    assert!(extra.is_empty());
    let identity = pending
        .verify(&wampd_ticket::mint(SECRET, &claims(now + 60)))
        .expect("a valid ticket");
    assert_eq!(
        (identity.authid.as_str(), identity.authrole.as_str()),
        ("alice", "user")
    );
    assert_eq!(identity.authmethod, "ticket");
    assert!(identity.claims.is_some_and(|c| c.topics.is_some()));

    let (_, pending) = ask();
    let expired = pending.verify(&wampd_ticket::mint(SECRET, &claims(now - 3600)));
    assert!(expired.is_err_and(|r| r.reason.starts_with("ticket refused")));
    let (_, pending) = ask();
    let forged = pending.verify(&wampd_ticket::mint(b"another-secret", &claims(now + 60)));
    assert!(forged.is_err());
}

#[test]
fn wampcra_signs_the_challenge_it_sent_and_hides_unknown_users() {
    let auth = auth();
    let mut details = Dict::new();
    details.insert("authid".into(), Value::from("joe"));
    let (extra, pending) = challenge(wampcra::WampCra.hello(&hello(&auth, "realm1", &details)));
    let sent = extra["challenge"].as_str().expect("challenge").to_owned();
    let identity = pending
        .verify(&cra::sign(b"joe-secret", &sent))
        .expect("the right signature");
    assert_eq!(
        (identity.authid.as_str(), identity.authrole.as_str()),
        ("joe", "user")
    );
    assert!(
        identity.session.is_some(),
        "the session id announced in the challenge is kept"
    );

    let (_, pending) = challenge(wampcra::WampCra.hello(&hello(&auth, "realm1", &details)));
    let wrong = pending
        .verify(&cra::sign(b"guess", &sent))
        .err()
        .expect("refused");
    assert_eq!(wrong.authid.as_deref(), Some("joe"));

    // A user outside its realm, or one that does not exist, is challenged too and always fails.
    for (realm, authid) in [("realm2", "joe"), ("realm1", "nobody")] {
        let mut details = Dict::new();
        details.insert("authid".into(), Value::from(authid));
        let (extra, pending) = challenge(wampcra::WampCra.hello(&hello(&auth, realm, &details)));
        let sent = extra["challenge"].as_str().expect("challenge").to_owned();
        assert!(pending.verify(&cra::sign(b"joe-secret", &sent)).is_err());
    }

    let no_authid = wampcra::WampCra.hello(&hello(&auth, "realm1", &Dict::new()));
    assert!(matches!(no_authid, Answer::Refuse(r) if r.reason.contains("authid")));
}
