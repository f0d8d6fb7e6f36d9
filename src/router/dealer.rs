//! The dealer: remote procedure calls routed from callers to registered callees.
//!
//! Basic Profile routing: one callee per procedure (exact URIs), CALL → INVOCATION → YIELD or
//! ERROR → RESULT or ERROR. A pending call remembers its caller, so the answer goes back to the
//! right session whichever WAMP version it speaks (a WAMP v1 CALL gets CALLRESULT or CALLERROR).
//! When a callee leaves, its registrations go and its pending calls fail with
//! `wamp.error.canceled` at once, so no caller waits forever. Invocations travel through the
//! callee's bounded outbound queue, so a callee that stops reading cannot grow memory: the call
//! fails with `wamp.error.unavailable` instead. Like the broker, nothing here awaits.

use std::collections::HashMap;
use std::sync::Arc;

use crate::router::handle::SessionHandle;
use crate::router::outbound::Frame;
use crate::wamp::message::code;
use crate::wamp::v1::{self, V1Message};
use crate::wamp::{codec, error_uri, id, Dict, Id, Message, Value};

/// Who is waiting for a call's answer.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A WAMP v2 session and its CALL request ID.
    V2 {
        /// The calling session.
        session: Arc<SessionHandle>,
        /// `CALL.Request`.
        request: Id,
    },
    /// A WAMP v1 session and its call ID.
    V1 {
        /// The calling session.
        session: Arc<SessionHandle>,
        /// The v1 `callId`.
        call_id: String,
    },
}

impl Caller {
    fn session_id(&self) -> Id {
        match self {
            Caller::V2 { session, .. } | Caller::V1 { session, .. } => session.id,
        }
    }

    /// Sends the call's result.
    fn result(&self, args: Vec<Value>, kwargs: Dict) {
        match self {
            Caller::V2 { session, request } => send_v2(
                session,
                &Message::Result {
                    request: *request,
                    details: Dict::new(),
                    args,
                    kwargs,
                },
            ),
            Caller::V1 { session, call_id } => {
                let result = v1::bridge_v2_to_v1(&args, &kwargs);
                let text = v1::encode(&V1Message::CallResult {
                    call_id: call_id.clone(),
                    result,
                });
                let _ = session.send(Frame::Text(text.into()));
            }
        }
    }

    /// Sends the call's error.
    pub fn error(&self, error: &str, message: &str, args: Vec<Value>, kwargs: Dict) {
        match self {
            Caller::V2 { session, request } => {
                let args = if args.is_empty() && kwargs.is_empty() {
                    vec![Value::from(message)]
                } else {
                    args
                };
                send_v2(
                    session,
                    &Message::Error {
                        request_type: code::CALL,
                        request: *request,
                        details: Dict::new(),
                        error: error.to_owned(),
                        args,
                        kwargs,
                    },
                )
            }
            Caller::V1 { session, call_id } => {
                let details = (!args.is_empty() || !kwargs.is_empty())
                    .then(|| v1::bridge_v2_to_v1(&args, &kwargs));
                let text = v1::encode(&V1Message::CallError {
                    call_id: call_id.clone(),
                    error_uri: error.to_owned(),
                    desc: message.to_owned(),
                    details,
                });
                let _ = session.send(Frame::Text(text.into()));
            }
        }
    }
}

fn send_v2(session: &SessionHandle, message: &Message) {
    let frame = Frame::from_encoded(
        session.serializer,
        codec::encode(session.serializer, message),
    );
    let _ = session.send(frame);
}

#[derive(Debug)]
struct Registration {
    id: Id,
    procedure: String,
    callee: Arc<SessionHandle>,
}

#[derive(Debug)]
struct Pending {
    caller: Caller,
    callee: Id,
}

/// Why a request to the dealer failed: the WAMP error URI and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealerError {
    /// `wamp.error.*`.
    pub error: &'static str,
    /// What was wrong.
    pub message: String,
}

fn fail(error: &'static str, message: impl Into<String>) -> DealerError {
    DealerError {
        error,
        message: message.into(),
    }
}

/// Registrations and calls in flight for one realm.
#[derive(Debug, Default)]
pub struct Dealer {
    by_procedure: HashMap<String, Registration>,
    procedures: HashMap<Id, String>,
    pending: HashMap<Id, Pending>,
    next_invocation: Id,
}

impl Dealer {
    /// Registers `callee` for `procedure`.
    pub fn register(
        &mut self,
        callee: &Arc<SessionHandle>,
        procedure: &str,
    ) -> Result<Id, DealerError> {
        if self.by_procedure.contains_key(procedure) {
            return Err(fail(
                error_uri::PROCEDURE_ALREADY_EXISTS,
                format!("procedure \"{procedure}\" is already registered"),
            ));
        }
        let mut registration = id::random_id();
        while self.procedures.contains_key(&registration) {
            registration = id::random_id();
        }
        self.procedures.insert(registration, procedure.to_owned());
        self.by_procedure.insert(
            procedure.to_owned(),
            Registration {
                id: registration,
                procedure: procedure.to_owned(),
                callee: callee.clone(),
            },
        );
        Ok(registration)
    }

    /// Removes `callee`'s registration `registration`.
    pub fn unregister(&mut self, callee: Id, registration: Id) -> Result<(), DealerError> {
        let owned = self
            .procedures
            .get(&registration)
            .and_then(|p| self.by_procedure.get(p))
            .is_some_and(|r| r.callee.id == callee);
        if !owned {
            return Err(fail(
                error_uri::NO_SUCH_REGISTRATION,
                "this session has no such registration",
            ));
        }
        if let Some(procedure) = self.procedures.remove(&registration) {
            self.by_procedure.remove(&procedure);
        }
        Ok(())
    }

    /// Routes a call to the procedure's callee as an INVOCATION.
    pub fn call(
        &mut self,
        caller: Caller,
        procedure: &str,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> Result<(), DealerError> {
        let Some(registration) = self.by_procedure.get(procedure) else {
            return Err(fail(
                error_uri::NO_SUCH_PROCEDURE,
                format!("no callee registered for procedure \"{procedure}\""),
            ));
        };
        self.next_invocation = if self.next_invocation >= id::MAX_ID {
            1
        } else {
            self.next_invocation + 1
        };
        let invocation = self.next_invocation;
        let callee = &registration.callee;
        let message = Message::Invocation {
            request: invocation,
            registration: registration.id,
            details: Dict::new(),
            args,
            kwargs,
        };
        let frame = Frame::from_encoded(
            callee.serializer,
            codec::encode(callee.serializer, &message),
        );
        if callee.send(frame).is_err() {
            return Err(fail(
                error_uri::UNAVAILABLE,
                format!(
                    "the callee of \"{}\" is not keeping up",
                    registration.procedure
                ),
            ));
        }
        self.pending.insert(
            invocation,
            Pending {
                caller,
                callee: callee.id,
            },
        );
        Ok(())
    }

    /// A callee's YIELD: the result goes to the caller. Unknown invocations (the caller left, or
    /// a confused callee) are ignored.
    pub fn yield_result(&mut self, callee: Id, invocation: Id, args: Vec<Value>, kwargs: Dict) {
        if let Some(pending) = self.take(callee, invocation) {
            pending.caller.result(args, kwargs);
        }
    }

    /// A callee's ERROR for an INVOCATION: the error goes to the caller.
    pub fn yield_error(
        &mut self,
        callee: Id,
        invocation: Id,
        error: &str,
        args: Vec<Value>,
        kwargs: Dict,
    ) {
        if let Some(pending) = self.take(callee, invocation) {
            pending
                .caller
                .error(error, "the callee reported an error", args, kwargs);
        }
    }

    fn take(&mut self, callee: Id, invocation: Id) -> Option<Pending> {
        match self.pending.get(&invocation) {
            Some(p) if p.callee == callee => self.pending.remove(&invocation),
            _ => None,
        }
    }

    /// A session left: its registrations go, calls it was serving fail with
    /// `wamp.error.canceled`, and calls it was waiting for are forgotten.
    pub fn remove_session(&mut self, session: Id) {
        let gone: Vec<Id> = self
            .by_procedure
            .values()
            .filter(|r| r.callee.id == session)
            .map(|r| r.id)
            .collect();
        for registration in gone {
            if let Some(procedure) = self.procedures.remove(&registration) {
                self.by_procedure.remove(&procedure);
            }
        }
        let orphaned: Vec<Id> = self
            .pending
            .iter()
            .filter(|(_, p)| p.callee == session || p.caller.session_id() == session)
            .map(|(id, _)| *id)
            .collect();
        for invocation in orphaned {
            if let Some(pending) = self.pending.remove(&invocation) {
                if pending.callee == session && pending.caller.session_id() != session {
                    pending.caller.error(
                        error_uri::CANCELED,
                        "the callee left before answering",
                        Vec::new(),
                        Dict::new(),
                    );
                }
            }
        }
    }

    /// Number of registrations.
    pub fn registration_count(&self) -> usize {
        self.by_procedure.len()
    }
}
