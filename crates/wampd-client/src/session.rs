//! A publisher's WAMP session: HELLO → (CHALLENGE → AUTHENTICATE) → WELCOME, PUBLISH, GOODBYE.
//!
//! Only the publisher role is implemented, because that is what backends do. Two ways to
//! publish, matching WAMP's two guarantees:
//!
//! * [`Session::publish`] buffers an unacknowledged PUBLISH; the router answers nothing, not even
//!   an ERROR, so many can be written in one go (a stream of events costs one write per batch).
//! * [`Session::publish_acked`] sets `acknowledge` and waits for PUBLISHED (returning the
//!   publication ID) or ERROR (returning its URI).
//!
//! [`Session::close`] sends GOODBYE and waits briefly for the echo. A router handles a session's
//! messages in order, so once the echo arrives every earlier unacknowledged PUBLISH has been
//! dispatched; a router that just closes the connection instead is tolerated.
//!
//! Every wait is bounded by the session's timeout; waiting for the router while idle
//! ([`Session::next_message`]) is not, and is cancel-safe so it can sit in a `tokio::select!`.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use wampd_proto::wamp::error_uri;
use wampd_proto::wamp::id::IdSequence;
use wampd_proto::wamp::message::code;
use wampd_proto::wamp::{Dict, Id, Message, Value};

use super::auth::Credentials;
use super::connection::Connection;
use super::error::ClientError;

/// One event to publish.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Publication {
    /// The topic URI.
    pub topic: String,
    /// Positional payload.
    pub args: Vec<Value>,
    /// Keyword payload.
    pub kwargs: Dict,
    /// `PUBLISH.Options` (`exclude_me`, `eligible_authrole`, ...); `acknowledge` is set by the
    /// method used to publish.
    pub options: Dict,
}

/// An established session.
#[derive(Debug)]
pub struct Session {
    conn: Connection,
    id: Id,
    welcome: Dict,
    requests: IdSequence,
    timeout: Duration,
}

/// `HELLO.Details` for a publisher: the role, the features it may use, and who is calling.
fn hello_details() -> Dict {
    let features: Dict = [
        "publisher_exclusion",
        "subscriber_blackwhite_listing",
        "publisher_identification",
    ]
    .into_iter()
    .map(|feature| (feature.to_string(), Value::Bool(true)))
    .collect();
    let mut publisher = Dict::new();
    publisher.insert("features".into(), Value::Dict(features));
    let mut roles = Dict::new();
    roles.insert("publisher".into(), Value::Dict(publisher));
    let mut details = Dict::new();
    details.insert("roles".into(), Value::Dict(roles));
    details.insert(
        "agent".into(),
        Value::from(concat!("wampd/", env!("CARGO_PKG_VERSION"))),
    );
    details
}

/// The explanation a router attached to ABORT or ERROR: `Details.message`, else the first
/// positional argument when it is a string.
fn explanation(details: &Dict, args: &[Value]) -> Option<String> {
    details
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| args.first().and_then(Value::as_str))
        .map(str::to_string)
}

/// Runs `future` within `timeout`, reporting what was being waited for.
async fn within<T>(
    timeout: Duration,
    waiting: &'static str,
    future: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(timeout, future)
        .await
        .map_err(|_| ClientError::Timeout {
            waiting,
            after: timeout,
        })?
}

impl Session {
    /// Joins `realm` over `conn`, answering a CHALLENGE with `credentials`. `timeout` bounds
    /// this and every later wait of the session.
    pub async fn join(
        mut conn: Connection,
        realm: &str,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<Session, ClientError> {
        let mut details = hello_details();
        credentials.add_to_hello(&mut details);
        let hello = Message::Hello {
            realm: realm.to_string(),
            details,
        };
        within(timeout, "sending HELLO", conn.send(&hello)).await?;
        let deadline = Instant::now() + timeout;
        let mut challenged = false;
        loop {
            let message = tokio::time::timeout_at(deadline, conn.recv())
                .await
                .map_err(|_| ClientError::Timeout {
                    waiting: "waiting for WELCOME",
                    after: timeout,
                })??;
            match message {
                Message::Welcome { session, details } => {
                    return Ok(Session {
                        conn,
                        id: session,
                        welcome: details,
                        requests: IdSequence::default(),
                        timeout,
                    })
                }
                Message::Challenge { authmethod, .. } if !challenged => {
                    challenged = true;
                    let answer = credentials.answer(&authmethod)?;
                    within(timeout, "sending AUTHENTICATE", conn.send(&answer)).await?;
                }
                Message::Abort {
                    details,
                    reason,
                    args,
                    ..
                } => {
                    return Err(ClientError::Abort {
                        message: explanation(&details, &args),
                        reason,
                    })
                }
                Message::Goodbye { reason, .. } => return Err(ClientError::Goodbye { reason }),
                other => {
                    return Err(ClientError::Protocol(format!(
                        "expected WELCOME, got {}",
                        other.name()
                    )))
                }
            }
        }
    }

    /// The session ID the router assigned.
    pub fn id(&self) -> Id {
        self.id
    }

    /// `WELCOME.Details` (authid, authrole, the router's roles).
    pub fn welcome(&self) -> &Dict {
        &self.welcome
    }

    /// The connection's serializer.
    pub fn serializer(&self) -> wampd_proto::wamp::Serializer {
        self.conn.serializer()
    }

    /// Buffers an unacknowledged PUBLISH (any `acknowledge` option is removed); it is written by
    /// [`Session::flush`], or earlier when the buffer fills. Returns the request ID.
    pub async fn publish(&mut self, publication: Publication) -> Result<Id, ClientError> {
        let Publication {
            topic,
            args,
            kwargs,
            mut options,
        } = publication;
        options.remove("acknowledge");
        let request = self.requests.next();
        let message = Message::Publish {
            request,
            options,
            topic,
            args,
            kwargs,
        };
        within(self.timeout, "sending PUBLISH", self.conn.feed(&message)).await?;
        Ok(request)
    }

    /// Writes everything buffered.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        within(self.timeout, "sending", self.conn.flush()).await
    }

    /// Publishes with `acknowledge: true` and waits for the router's answer: the publication ID,
    /// or [`ClientError::Refused`] with the ERROR's URI.
    pub async fn publish_acked(&mut self, publication: Publication) -> Result<Id, ClientError> {
        let Publication {
            topic,
            args,
            kwargs,
            mut options,
        } = publication;
        options.insert("acknowledge".into(), Value::Bool(true));
        let request = self.requests.next();
        let message = Message::Publish {
            request,
            options,
            topic,
            args,
            kwargs,
        };
        within(self.timeout, "sending PUBLISH", self.conn.send(&message)).await?;
        let answer = within(self.timeout, "waiting for PUBLISHED", self.next_message()).await?;
        match answer {
            Message::Published {
                request: answered,
                publication,
            } if answered == request => Ok(publication),
            Message::Error {
                request_type: code::PUBLISH,
                request: answered,
                details,
                error,
                args,
                ..
            } if answered == request => Err(ClientError::Refused {
                uri: error,
                message: explanation(&details, &args),
            }),
            other => Err(ClientError::Protocol(format!(
                "expected PUBLISHED or ERROR for request {request}, got {}",
                other.name()
            ))),
        }
    }

    /// The next message from the router, for callers that wait while idle (answering keepalive
    /// pings meanwhile). GOODBYE (echoed) and ABORT end the session and come back as errors.
    /// Not bounded by the timeout; cancel-safe.
    pub async fn next_message(&mut self) -> Result<Message, ClientError> {
        match self.conn.recv().await? {
            Message::Goodbye { reason, .. } => {
                let echo = Message::Goodbye {
                    details: Dict::new(),
                    reason: error_uri::CLOSE_GOODBYE_AND_OUT.to_string(),
                };
                let _ = within(self.timeout, "sending GOODBYE", self.conn.send(&echo)).await;
                Err(ClientError::Goodbye { reason })
            }
            Message::Abort {
                details,
                reason,
                args,
                ..
            } => Err(ClientError::Abort {
                message: explanation(&details, &args),
                reason,
            }),
            other => Ok(other),
        }
    }

    /// Sends GOODBYE, waits up to `wait` for the echo, and closes the connection. Fails when the
    /// GOODBYE cannot be sent (so earlier unacknowledged events may be lost), or when instead of
    /// the echo the router answers with ABORT or breaks the connection off with an error (a
    /// WebSocket close code such as 1009 for a message that was too big).
    pub async fn close(mut self, wait: Duration) -> Result<(), ClientError> {
        let goodbye = Message::Goodbye {
            details: Dict::new(),
            reason: error_uri::CLOSE_CLOSE_REALM.to_string(),
        };
        within(self.timeout, "sending GOODBYE", self.conn.send(&goodbye)).await?;
        let deadline = Instant::now() + wait;
        let outcome = loop {
            match tokio::time::timeout_at(deadline, self.conn.recv()).await {
                // No echo in time, or the router simply closed: the session is over either way.
                Err(_)
                | Ok(Err(ClientError::Closed | ClientError::Io(_)))
                | Ok(Ok(Message::Goodbye { .. })) => break Ok(()),
                Ok(Err(err)) => break Err(err),
                Ok(Ok(Message::Abort {
                    details,
                    reason,
                    args,
                    ..
                })) => {
                    break Err(ClientError::Abort {
                        message: explanation(&details, &args),
                        reason,
                    })
                }
                Ok(Ok(_)) => continue,
            }
        };
        let _ = tokio::time::timeout(wait, self.conn.shutdown()).await;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_announces_the_publisher_role() {
        let details = hello_details();
        let features = details
            .get("roles")
            .and_then(Value::as_dict)
            .and_then(|roles| roles.get("publisher"))
            .and_then(Value::as_dict)
            .and_then(|publisher| publisher.get("features"))
            .and_then(Value::as_dict)
            .expect("publisher features");
        assert_eq!(
            features.get("publisher_exclusion"),
            Some(&Value::Bool(true))
        );
        assert!(details.get("agent").and_then(Value::as_str).is_some());
    }

    #[test]
    fn explanations_come_from_details_or_args() {
        let mut details = Dict::new();
        assert_eq!(explanation(&details, &[]), None);
        assert_eq!(
            explanation(&details, &[Value::from("from args")]).as_deref(),
            Some("from args")
        );
        details.insert("message".into(), Value::from("from details"));
        assert_eq!(
            explanation(&details, &[Value::from("from args")]).as_deref(),
            Some("from details")
        );
    }
}
