//! `cryptosign`: WAMP-cryptosign, Ed25519 challenge-response (`wampd_proto::cryptosign`), as
//! Crossbar and Autobahn do it, for machine identities without shared secrets. Offered when the
//! authorization file lists `[[cryptosign]]` principals.
//!
//! The client names its public key in `HELLO.Details.authextra.pubkey`; the principal is the
//! entry listing that key for the realm (limited to `HELLO.Details.authid` when given). An
//! unknown key gets a challenge like a known one, so the answer does not reveal which keys are
//! configured; its signature can only fail. Channel binding is refused (see the proto module).

use super::{Answer, Authenticator, Hello, Identity, Pending, Refused};
use crate::auth::rules::CryptosignPrincipal;
use crate::router::AuthConfig;
use wampd_proto::cryptosign::{Challenge, PublicKey};
use wampd_proto::wamp::{Dict, Value};

/// The `cryptosign` method.
pub struct Cryptosign;

impl Authenticator for Cryptosign {
    fn method(&self) -> &'static str {
        "cryptosign"
    }

    fn available(&self, auth: &AuthConfig, _realm: &str) -> bool {
        !auth.cryptosign_principals.is_empty()
    }

    fn hello(&self, hello: &Hello<'_>) -> Answer {
        let authextra = hello.details.get("authextra").and_then(Value::as_dict);
        let refuse = |log: &str, reason: &str| {
            Answer::Refuse(Refused {
                log: log.into(),
                authid: None,
                reason: reason.into(),
            })
        };
        let Some(pubkey) = authextra
            .and_then(|e| e.get("pubkey"))
            .and_then(Value::as_str)
        else {
            return refuse(
                "cryptosign without a public key",
                "cryptosign needs HELLO.Details.authextra.pubkey",
            );
        };
        let Some(key) = PublicKey::from_hex(pubkey) else {
            return refuse(
                "cryptosign with a malformed public key",
                "HELLO.Details.authextra.pubkey is not an Ed25519 public key (64 hex digits)",
            );
        };
        match authextra.and_then(|e| e.get("channel_binding")) {
            None | Some(Value::Null) => {}
            Some(_) => {
                return refuse(
                    "cryptosign with channel binding, which wampd does not offer",
                    "channel binding is not supported by this router; connect without it",
                )
            }
        }
        let authid = match hello.details.get("authid") {
            Some(Value::Str(authid)) if !authid.is_empty() => Some(authid.as_str()),
            _ => None,
        };
        let principal = hello
            .auth
            .cryptosign_principals
            .find(&key, hello.realm, authid)
            .cloned();
        let challenge = Challenge::new(rand::random());
        let mut extra = Dict::new();
        extra.insert("challenge".into(), Value::from(challenge.to_hex().as_str()));
        extra.insert("channel_binding".into(), Value::Null);
        Answer::Challenge {
            extra,
            pending: Box::new(CryptosignChallenge {
                challenge,
                key,
                claimed: authid.map(str::to_owned),
                principal,
            }),
        }
    }
}

/// A cryptosign CHALLENGE sent; `principal` is who `key` authenticates as, `None` when nobody.
struct CryptosignChallenge {
    challenge: Challenge,
    key: PublicKey,
    claimed: Option<String>,
    principal: Option<CryptosignPrincipal>,
}

impl Pending for CryptosignChallenge {
    fn verify(self: Box<Self>, signature: &str) -> Result<Identity, Refused> {
        match self.principal {
            Some(p) if self.challenge.verify(&self.key, signature) => Ok(Identity {
                authid: p.authid,
                authrole: p.role,
                authmethod: "cryptosign",
                claims: None,
                session: None,
            }),
            _ => Err(Refused {
                log: format!(
                    "wrong cryptosign signature or unknown key {}",
                    self.key.to_hex()
                ),
                authid: self.claimed,
                reason: "cryptosign signature invalid or key not authorized".into(),
            }),
        }
    }
}
