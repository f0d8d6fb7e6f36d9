//! `ticket`: WAMP-Ticket, in two kinds that share the method name.
//!
//! * A **static principal** from the authorization file (`[[ticket]]`, as Crossbar's static
//!   ticket authentication): HELLO names the authid, AUTHENTICATE carries its ticket, compared
//!   in constant time. When HELLO names a listed authid, only that principal's ticket is
//!   accepted, so a signed ticket cannot impersonate it.
//! * A **wampd signed ticket** (`wampd_proto::ticket`) as the AUTHENTICATE signature, or already
//!   verified on the WebSocket upgrade (`?ticket=`), when `WEBSOCKET_TICKET_SECRET` is set; the
//!   ticket's claims name the authid, the role and the topics the session may use.
//!
//! A HELLO whose authid is not listed, on a router without signed tickets, is challenged like any
//! other and fails the same way as a wrong ticket, so the answer does not reveal which principals
//! exist.

use super::{Answer, Authenticator, Hello, Identity, Pending, Refused};
use crate::auth::rules::TicketPrincipal;
use crate::router::ticket_clock;
use crate::router::AuthConfig;
use wampd_proto::ticket::Claims;
use wampd_proto::wamp::{Dict, Value};

/// The ABORT message of a refused static ticket: Crossbar's words, which clients written against
/// it (wampy's tests) look for.
const STATIC_REFUSED: &str = "ticket in static WAMP-Ticket authentication is invalid";

/// The `ticket` method.
pub struct TicketAuthenticator;

impl Authenticator for TicketAuthenticator {
    fn method(&self) -> &'static str {
        "ticket"
    }

    fn available(&self, auth: &AuthConfig, _realm: &str) -> bool {
        auth.ticket_secret.is_some() || !auth.ticket_principals.is_empty()
    }

    fn hello(&self, hello: &Hello<'_>) -> Answer {
        let authid = match hello.details.get("authid") {
            Some(Value::Str(authid)) if !authid.is_empty() => Some(authid.as_str()),
            _ => None,
        };
        let principals = &hello.auth.ticket_principals;
        let pending: Box<dyn Pending> = match (authid, hello.auth.ticket_secret.clone()) {
            // A listed authid, or any authid when there are no signed tickets to fall back on.
            (Some(authid), secret) if principals.knows(authid) || secret.is_none() => {
                Box::new(StaticChallenge {
                    authid: authid.to_owned(),
                    principal: principals.find(authid, hello.realm).cloned(),
                })
            }
            (_, Some(secret)) => Box::new(TicketChallenge { secret }),
            (_, None) => {
                return Answer::Refuse(Refused {
                    log: "static ticket without an authid".into(),
                    authid: None,
                    reason: "ticket authentication needs HELLO.Details.authid".into(),
                })
            }
        };
        Answer::Challenge {
            extra: Dict::new(),
            pending,
        }
    }
}

/// A ticket CHALLENGE sent to a HELLO naming `authid`; `principal` is its entry for the realm,
/// `None` when there is none (the ticket can only fail).
struct StaticChallenge {
    authid: String,
    principal: Option<TicketPrincipal>,
}

impl Pending for StaticChallenge {
    fn verify(self: Box<Self>, signature: &str) -> Result<Identity, Refused> {
        match self.principal {
            Some(principal) if principal.accepts(signature) => Ok(Identity {
                authid: self.authid,
                authrole: principal.role,
                authmethod: "ticket",
                claims: None,
                session: None,
            }),
            _ => Err(Refused {
                log: "wrong static ticket or unknown principal".into(),
                authid: Some(self.authid),
                reason: STATIC_REFUSED.into(),
            }),
        }
    }
}

/// A ticket CHALLENGE sent; the secret is the one in force when it was sent.
struct TicketChallenge {
    secret: Vec<u8>,
}

impl Pending for TicketChallenge {
    fn verify(self: Box<Self>, signature: &str) -> Result<Identity, Refused> {
        ticket_clock::verify_now(&self.secret, signature)
            .map(from_claims)
            .map_err(|err| Refused {
                log: err.to_string(),
                authid: None,
                reason: format!("ticket refused: {err}"),
            })
    }
}

/// The identity a verified ticket gives.
pub fn from_claims(claims: Claims) -> Identity {
    Identity {
        authid: claims.authid.clone(),
        authrole: claims.authrole.clone(),
        authmethod: "ticket",
        claims: Some(claims),
        session: None,
    }
}
