//! `ticket`: a wampd signed ticket (`wampd_proto::ticket`) as the AUTHENTICATE signature, or
//! already verified on the WebSocket upgrade (`?ticket=`). Offered when
//! `WEBSOCKET_TICKET_SECRET` is set; the ticket's claims name the authid, the role and the topics
//! the session may use.

use super::{Answer, Authenticator, Hello, Identity, Pending, Refused};
use crate::router::ticket_clock;
use crate::router::AuthConfig;
use wampd_proto::ticket::Claims;
use wampd_proto::wamp::Dict;

/// The `ticket` method.
pub struct TicketAuthenticator;

impl Authenticator for TicketAuthenticator {
    fn method(&self) -> &'static str {
        "ticket"
    }

    fn available(&self, auth: &AuthConfig, _realm: &str) -> bool {
        auth.ticket_secret.is_some()
    }

    fn hello(&self, hello: &Hello<'_>) -> Answer {
        let Some(secret) = hello.auth.ticket_secret.clone() else {
            // `available` said no; the handshake never asks then.
            return Answer::Refuse(Refused {
                log: "ticket authentication is off".into(),
                authid: None,
                reason: "ticket authentication is not offered".into(),
            });
        };
        Answer::Challenge {
            extra: Dict::new(),
            pending: Box::new(TicketChallenge { secret }),
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
