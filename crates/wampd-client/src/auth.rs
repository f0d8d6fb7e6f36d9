//! What a backend offers in HELLO, and how it answers a CHALLENGE.
//!
//! A backend that holds `WEBSOCKET_PUBLISH_SECRET` offers WAMP-Ticket (`wamp-v2.md` §6.7) with
//! that secret as the ticket, and anonymous as a fallback, so the same command works against a
//! router that requires backends to authenticate and against one that lets them in anonymously
//! (today's wampd never challenges and WELCOMEs the fallback). Without a secret, nothing is
//! offered and the router decides. The ticket travels as is, so it belongs on a loopback or TLS
//! connection; the secret never appears in `Debug` output or error messages.

use wampd_proto::wamp::{Dict, Message, Value};

use super::error::ClientError;

/// The identity a session presents.
#[derive(Clone, Default)]
pub struct Credentials {
    /// `HELLO.Details.authid`, sent only together with a ticket.
    pub authid: String,
    /// The WAMP-Ticket secret, `None` for anonymous sessions.
    pub ticket: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("authid", &self.authid)
            .field("ticket", &self.ticket.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Credentials {
    /// No authentication offered.
    pub fn anonymous() -> Credentials {
        Credentials::default()
    }

    /// WAMP-Ticket as `authid` with `ticket`, anonymous as the fallback.
    pub fn ticket(authid: impl Into<String>, ticket: impl Into<String>) -> Credentials {
        Credentials {
            authid: authid.into(),
            ticket: Some(ticket.into()),
        }
    }

    /// Adds `authmethods` and `authid` to HELLO.Details when there is something to offer.
    pub fn add_to_hello(&self, details: &mut Dict) {
        if self.ticket.is_some() {
            details.insert(
                "authmethods".into(),
                Value::List(vec![Value::from("ticket"), Value::from("anonymous")]),
            );
            details.insert("authid".into(), Value::Str(self.authid.clone()));
        }
    }

    /// The AUTHENTICATE answering a CHALLENGE for `authmethod`.
    pub fn answer(&self, authmethod: &str) -> Result<Message, ClientError> {
        match (authmethod, &self.ticket) {
            ("ticket", Some(ticket)) => Ok(Message::Authenticate {
                signature: ticket.clone(),
                extra: Dict::new(),
            }),
            ("ticket", None) => Err(ClientError::Auth(
                "the router asks for a ticket; set WEBSOCKET_PUBLISH_SECRET".to_string(),
            )),
            (other, _) => Err(ClientError::Auth(format!(
                "the router challenged with \"{other}\", which this client does not offer (only ticket)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_offers_nothing() {
        let mut details = Dict::new();
        Credentials::anonymous().add_to_hello(&mut details);
        assert!(details.is_empty());
        assert!(Credentials::anonymous()
            .answer("ticket")
            .unwrap_err()
            .to_string()
            .contains("WEBSOCKET_PUBLISH_SECRET"));
    }

    #[test]
    fn a_ticket_is_offered_with_an_anonymous_fallback_and_answers_its_challenge() {
        let credentials = Credentials::ticket("backend", "s3cret");
        let mut details = Dict::new();
        credentials.add_to_hello(&mut details);
        assert_eq!(
            details.get("authmethods"),
            Some(&Value::List(vec![
                Value::from("ticket"),
                Value::from("anonymous")
            ]))
        );
        assert_eq!(details.get("authid"), Some(&Value::from("backend")));
        assert_eq!(
            credentials.answer("ticket").expect("answer"),
            Message::Authenticate {
                signature: "s3cret".into(),
                extra: Dict::new()
            }
        );
        let err = credentials.answer("wampcra").unwrap_err().to_string();
        assert!(err.contains("wampcra") && !err.contains("s3cret"), "{err}");
        assert!(!format!("{credentials:?}").contains("s3cret"));
    }
}
