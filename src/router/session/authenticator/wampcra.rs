//! `wampcra`: WAMP-CRA challenge-response (`wampd_proto::wampcra`), as Crossbar and Autobahn do
//! it. Offered when the rules file lists WAMP-CRA users. An unknown authid (or a user not allowed
//! in the realm) gets a challenge like any other, salted when any user is salted, so the answer
//! does not reveal which users exist; its signature can only fail.

use super::{Answer, Authenticator, Hello, Identity, Pending, Refused};
use crate::router::AuthConfig;
use wampd_proto::wamp::{id, Dict, Id, Value};
use wampd_proto::wampcra as cra;

/// The `wampcra` method.
pub struct WampCra;

impl Authenticator for WampCra {
    fn method(&self) -> &'static str {
        "wampcra"
    }

    fn available(&self, auth: &AuthConfig, _realm: &str) -> bool {
        !auth.cra_users.is_empty()
    }

    fn hello(&self, hello: &Hello<'_>) -> Answer {
        let authid = match hello.details.get("authid") {
            Some(Value::Str(authid)) if !authid.is_empty() => authid.clone(),
            _ => {
                return Answer::Refuse(Refused {
                    log: "wampcra without an authid".into(),
                    authid: None,
                    reason: "wampcra needs HELLO.Details.authid".into(),
                })
            }
        };
        let challenge = challenge_for(hello.auth, hello.realm, authid);
        let mut extra = Dict::new();
        extra.insert(
            "challenge".into(),
            Value::from(challenge.challenge.as_str()),
        );
        if let Some(salt) = salt_for(hello.auth, &challenge.authid) {
            extra.insert("salt".into(), Value::from(salt.salt.as_str()));
            extra.insert("iterations".into(), Value::UInt(salt.iterations.into()));
            extra.insert("keylen".into(), Value::UInt(salt.keylen.into()));
        }
        Answer::Challenge {
            extra,
            pending: Box::new(challenge),
        }
    }
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

impl Pending for CraChallenge {
    fn verify(self: Box<Self>, signature: &str) -> Result<Identity, Refused> {
        let valid = self
            .key
            .as_deref()
            .is_some_and(|key| cra::verify(key, &self.challenge, signature));
        if !valid {
            return Err(Refused {
                log: "wrong WAMP-CRA signature or unknown user".into(),
                authid: Some(self.authid),
                reason: "WAMP-CRA signature invalid".into(),
            });
        }
        Ok(Identity {
            authid: self.authid,
            authrole: self.authrole,
            authmethod: "wampcra",
            claims: None,
            session: Some(self.session),
        })
    }
}

/// The WAMP-CRA challenge for `authid` in `realm`.
fn challenge_for(auth: &AuthConfig, realm: &str, authid: String) -> CraChallenge {
    let user = auth
        .cra_users
        .get(&authid)
        .filter(|u| u.realm.as_deref().is_none_or(|r| r == realm));
    let session = id::random_id();
    let authrole = user.map_or("anonymous", |u| u.role.as_str()).to_owned();
    let challenge = cra::Challenge::new(&authid, &authrole, "static", session).to_json();
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
fn salt_for(auth: &AuthConfig, authid: &str) -> Option<cra::Salt> {
    match auth.cra_users.get(authid) {
        Some(user) => user.salt.clone(),
        None => auth.cra_users.values().any(|u| u.salt.is_some()).then(|| {
            // Keyed by a per-process random value, so nobody can precompute it.
            static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let key = KEY.get_or_init(|| format!("{:x}{:x}", id::random_id(), id::random_id()));
            let fake = cra::sign(key.as_bytes(), authid);
            cra::Salt::new(&fake[..16.min(fake.len())])
        }),
    }
}
