//! WAMP authentication methods, one per file, behind one [`Authenticator`] interface.
//!
//! The handshake (`super::handshake`) owns what every method shares: the realm lookup, the
//! client's order of `authmethods`, the failed-attempt limiter, the metrics and log lines, the
//! ABORT on failure and the WELCOME. A method only answers two questions: what it says to a HELLO
//! (welcome at once, send a CHALLENGE, or refuse) and, if it challenged, whether the AUTHENTICATE
//! proves the identity. So adding a method (cryptosign, scram) is one file here and one
//! entry in [`AUTHENTICATORS`]; the policy around it cannot drift per method.
//!
//! * [`anonymous`]: no credentials; the realm must allow it.
//! * [`ticket`]: a static principal's ticket from the authorization file, or a wampd signed ticket
//!   (HMAC-SHA256, `wampd_proto::ticket`).
//! * [`wampcra`]: WAMP-CRA challenge-response, plain or salted (`wampd_proto::wampcra`).
//! * [`cryptosign`]: WAMP-cryptosign, Ed25519 challenge-response (`wampd_proto::cryptosign`).

pub mod anonymous;
pub mod cryptosign;
pub mod ticket;
pub mod wampcra;

#[cfg(test)]
mod tests;

use crate::router::AuthConfig;
use wampd_proto::ticket::Claims;
use wampd_proto::wamp::{Dict, Id};

/// Who a session is once authenticated.
pub struct Identity {
    /// The WAMP authid.
    pub authid: String,
    /// The WAMP authrole.
    pub authrole: String,
    /// The method that established it, as WELCOME reports it.
    pub authmethod: &'static str,
    /// A wampd ticket's claims (its topic restrictions), for the operations layer.
    pub claims: Option<Claims>,
    /// The session ID, when the method already announced it (WAMP-CRA puts it in the challenge).
    pub session: Option<Id>,
}

/// What the HELLO carried that a method may look at.
pub struct Hello<'a> {
    /// The router's authentication settings.
    pub auth: &'a AuthConfig,
    /// The realm asked for (it exists).
    pub realm: &'a str,
    /// `HELLO.Details`.
    pub details: &'a Dict,
    /// The role the listener gives unauthenticated clients (browser or backend).
    pub listener_role: &'a str,
}

/// A refused authentication: a line for the log and the reason the ABORT carries.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    /// What the log line says after "Authentication failed: ".
    pub log: String,
    /// The authid the client claimed, if any (logged as a field).
    pub authid: Option<String>,
    /// The ABORT message for the client.
    pub reason: String,
}

/// A method's answer to HELLO.
pub enum Answer {
    /// Authenticated already: WELCOME.
    Welcome(Identity),
    /// Send CHALLENGE with these extras and wait for AUTHENTICATE.
    Challenge {
        /// `CHALLENGE.Extra`.
        extra: Dict,
        /// What AUTHENTICATE will be checked against.
        pending: Box<dyn Pending>,
    },
    /// The HELLO cannot succeed with this method (for example WAMP-CRA without an authid).
    Refuse(Refused),
}

/// One authentication method.
pub trait Authenticator: Sync {
    /// The `authmethods` name clients offer.
    fn method(&self) -> &'static str;
    /// Whether this router offers the method in `realm` at all.
    fn available(&self, auth: &AuthConfig, realm: &str) -> bool;
    /// The answer to a HELLO offering this method.
    fn hello(&self, hello: &Hello<'_>) -> Answer;
}

/// A CHALLENGE sent, waiting for its AUTHENTICATE.
pub trait Pending: Send {
    /// Checks `signature` (`AUTHENTICATE.Signature`); consumes the challenge, which is good for
    /// one answer only.
    fn verify(self: Box<Self>, signature: &str) -> Result<Identity, Refused>;
}

/// Every method, by name. The client's order of preference decides among the available ones.
pub static AUTHENTICATORS: &[&dyn Authenticator] = &[
    &anonymous::Anonymous,
    &ticket::TicketAuthenticator,
    &wampcra::WampCra,
    &cryptosign::Cryptosign,
];

/// The method called `name`, if this router implements it.
pub fn by_method(name: &str) -> Option<&'static dyn Authenticator> {
    AUTHENTICATORS.iter().copied().find(|a| a.method() == name)
}
