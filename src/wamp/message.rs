//! Typed WAMP v2 messages and their list form (`[Code, ...]`).
//!
//! The router reasons about messages, not about lists of dynamic values. This
//! module is the single place that knows each message's layout (the table in
//! the protocol reference §6.1): it validates element count and element types
//! when turning a decoded list into a [`Message`], and it lays messages back
//! out as borrowed elements so the codecs can serialize them without cloning
//! payloads.

use super::decode_error::DecodeError;
use super::value::{Dict, Value};

/// A WAMP ID (session, publication, subscription, registration, request).
/// Valid IDs are in `[1, 2^53]`; `0` only appears in the revocation form of
/// UNSUBSCRIBED.
pub type Id = u64;

/// WAMP message codes (protocol reference §6.1).
pub mod code {
    /// `[1, Realm|uri, Details|dict]`
    pub const HELLO: u64 = 1;
    /// `[2, Session|id, Details|dict]`
    pub const WELCOME: u64 = 2;
    /// `[3, Details|dict, Reason|uri(, Args(, KwArgs))]`
    pub const ABORT: u64 = 3;
    /// `[4, AuthMethod|string, Extra|dict]`
    pub const CHALLENGE: u64 = 4;
    /// `[5, Signature|string, Extra|dict]`
    pub const AUTHENTICATE: u64 = 5;
    /// `[6, Details|dict, Reason|uri]`
    pub const GOODBYE: u64 = 6;
    /// `[8, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri(, Args(, KwArgs))]`
    pub const ERROR: u64 = 8;
    /// `[16, Request|id, Options|dict, Topic|uri(, Args(, KwArgs))]`
    pub const PUBLISH: u64 = 16;
    /// `[17, PUBLISH.Request|id, Publication|id]`
    pub const PUBLISHED: u64 = 17;
    /// `[32, Request|id, Options|dict, Topic|uri]`
    pub const SUBSCRIBE: u64 = 32;
    /// `[33, SUBSCRIBE.Request|id, Subscription|id]`
    pub const SUBSCRIBED: u64 = 33;
    /// `[34, Request|id, SUBSCRIBED.Subscription|id]`
    pub const UNSUBSCRIBE: u64 = 34;
    /// `[35, UNSUBSCRIBE.Request|id]` or `[35, 0, Details|dict]` (revocation)
    pub const UNSUBSCRIBED: u64 = 35;
    /// `[36, Subscription|id, Publication|id, Details|dict(, Args(, KwArgs))]`
    pub const EVENT: u64 = 36;
    /// `[48, Request|id, Options|dict, Procedure|uri(, Args(, KwArgs))]`
    pub const CALL: u64 = 48;
    /// `[49, CALL.Request|id, Options|dict]`
    pub const CANCEL: u64 = 49;
    /// `[50, CALL.Request|id, Details|dict(, Args(, KwArgs))]`
    pub const RESULT: u64 = 50;
    /// `[64, Request|id, Options|dict, Procedure|uri]`
    pub const REGISTER: u64 = 64;
    /// `[65, REGISTER.Request|id, Registration|id]`
    pub const REGISTERED: u64 = 65;
    /// `[66, Request|id, REGISTERED.Registration|id]`
    pub const UNREGISTER: u64 = 66;
    /// `[67, UNREGISTER.Request|id]`
    pub const UNREGISTERED: u64 = 67;
    /// `[68, Request|id, REGISTERED.Registration|id, Details|dict(, Args(, KwArgs))]`
    pub const INVOCATION: u64 = 68;
    /// `[69, INVOCATION.Request|id, Options|dict]`
    pub const INTERRUPT: u64 = 69;
    /// `[70, INVOCATION.Request|id, Options|dict(, Args(, KwArgs))]`
    pub const YIELD: u64 = 70;
}

/// A WAMP v2 message. Field names follow the protocol reference §6.1.
///
/// `args`/`kwargs` are the application payload: empty ones are omitted on the
/// wire (with `[]` emitted for `args` when only `kwargs` is present) and absent
/// ones decode as empty.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Client opens a session on `realm`.
    Hello { realm: String, details: Dict },
    /// Router accepts the session.
    Welcome { session: Id, details: Dict },
    /// Either side refuses/aborts session establishment.
    Abort {
        details: Dict,
        reason: String,
        args: Vec<Value>,
        kwargs: Dict,
    },
    /// Router asks the client to authenticate.
    Challenge { authmethod: String, extra: Dict },
    /// Client answers a CHALLENGE.
    Authenticate { signature: String, extra: Dict },
    /// Either side closes the session; the other echoes it.
    Goodbye { details: Dict, reason: String },
    /// Error reply to a request of type `request_type` (a message code).
    Error {
        request_type: u64,
        request: Id,
        details: Dict,
        error: String,
        args: Vec<Value>,
        kwargs: Dict,
    },
    /// Publisher publishes an event to `topic`.
    Publish {
        request: Id,
        options: Dict,
        topic: String,
        args: Vec<Value>,
        kwargs: Dict,
    },
    /// Broker acknowledges a PUBLISH (only when `acknowledge=true`).
    Published { request: Id, publication: Id },
    /// Subscriber subscribes to `topic`.
    Subscribe {
        request: Id,
        options: Dict,
        topic: String,
    },
    /// Broker confirms a SUBSCRIBE.
    Subscribed { request: Id, subscription: Id },
    /// Subscriber drops a subscription.
    Unsubscribe { request: Id, subscription: Id },
    /// Broker confirms an UNSUBSCRIBE (`details: None`, `[35, request]`), or
    /// revokes a subscription (`request: 0`, `details: Some({"subscription":
    /// id, "reason": str})`, `[35, 0, {...}]`).
    Unsubscribed { request: Id, details: Option<Dict> },
    /// Broker delivers an event to a subscriber.
    Event {
        subscription: Id,
        publication: Id,
        details: Dict,
        args: Vec<Value>,
        kwargs: Dict,
    },
    /// Caller calls `procedure`.
    Call {
        request: Id,
        options: Dict,
        procedure: String,
        args: Vec<Value>,
        kwargs: Dict,
    },
    /// Caller cancels a pending CALL.
    Cancel { request: Id, options: Dict },
    /// Dealer delivers a call result to the caller.
    Result {
        request: Id,
        details: Dict,
        args: Vec<Value>,
        kwargs: Dict,
    },
    /// Callee registers `procedure`.
    Register {
        request: Id,
        options: Dict,
        procedure: String,
    },
    /// Dealer confirms a REGISTER.
    Registered { request: Id, registration: Id },
    /// Callee drops a registration.
    Unregister { request: Id, registration: Id },
    /// Dealer confirms an UNREGISTER.
    Unregistered { request: Id },
    /// Dealer invokes a registered procedure on a callee.
    Invocation {
        request: Id,
        registration: Id,
        details: Dict,
        args: Vec<Value>,
        kwargs: Dict,
    },
    /// Dealer asks a callee to stop a pending INVOCATION.
    Interrupt { request: Id, options: Dict },
    /// Callee returns the result of an INVOCATION.
    Yield {
        request: Id,
        options: Dict,
        args: Vec<Value>,
        kwargs: Dict,
    },
}

/// One top-level element of a message's list form, borrowed from the message
/// so codecs can write it without cloning.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Elem<'a> {
    /// Message code, ID or request type.
    UInt(u64),
    /// URI or other string.
    Str(&'a str),
    /// Details/Options/Extra/KwArgs.
    Dict(&'a Dict),
    /// Args.
    List(&'a [Value]),
}

/// Most elements any message has: ERROR with code, type, request, details,
/// error, args and kwargs.
const MAX_ELEMS: usize = 7;

/// The borrowed list form of a message (fixed capacity, no allocation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Elems<'a> {
    items: [Elem<'a>; MAX_ELEMS],
    len: usize,
}

impl<'a> Elems<'a> {
    fn new(code: u64) -> Self {
        Elems {
            items: [Elem::UInt(code); MAX_ELEMS],
            len: 1,
        }
    }

    fn push(&mut self, e: Elem<'a>) -> &mut Self {
        // Capacity is sized for the largest message; `get_mut` keeps this
        // panic-free even if that invariant were ever broken.
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = e;
            self.len += 1;
        }
        self
    }

    fn payload(&mut self, args: &'a [Value], kwargs: &'a Dict) -> &mut Self {
        if !args.is_empty() || !kwargs.is_empty() {
            self.push(Elem::List(args));
        }
        if !kwargs.is_empty() {
            self.push(Elem::Dict(kwargs));
        }
        self
    }

    /// The elements, message code first.
    pub(crate) fn as_slice(&self) -> &[Elem<'a>] {
        self.items.get(..self.len).unwrap_or(&self.items)
    }
}

impl Message {
    /// The message code (`[Code, ...]`), see [`code`].
    pub fn code(&self) -> u64 {
        match self {
            Message::Hello { .. } => code::HELLO,
            Message::Welcome { .. } => code::WELCOME,
            Message::Abort { .. } => code::ABORT,
            Message::Challenge { .. } => code::CHALLENGE,
            Message::Authenticate { .. } => code::AUTHENTICATE,
            Message::Goodbye { .. } => code::GOODBYE,
            Message::Error { .. } => code::ERROR,
            Message::Publish { .. } => code::PUBLISH,
            Message::Published { .. } => code::PUBLISHED,
            Message::Subscribe { .. } => code::SUBSCRIBE,
            Message::Subscribed { .. } => code::SUBSCRIBED,
            Message::Unsubscribe { .. } => code::UNSUBSCRIBE,
            Message::Unsubscribed { .. } => code::UNSUBSCRIBED,
            Message::Event { .. } => code::EVENT,
            Message::Call { .. } => code::CALL,
            Message::Cancel { .. } => code::CANCEL,
            Message::Result { .. } => code::RESULT,
            Message::Register { .. } => code::REGISTER,
            Message::Registered { .. } => code::REGISTERED,
            Message::Unregister { .. } => code::UNREGISTER,
            Message::Unregistered { .. } => code::UNREGISTERED,
            Message::Invocation { .. } => code::INVOCATION,
            Message::Interrupt { .. } => code::INTERRUPT,
            Message::Yield { .. } => code::YIELD,
        }
    }

    /// The upper-case message name used by the spec ("HELLO", "EVENT", ...).
    pub fn name(&self) -> &'static str {
        // Every variant's code is known, so the fallback is unreachable.
        name_for_code(self.code()).unwrap_or("UNKNOWN")
    }

    /// The list form `[Code, ...]` as a [`Value`] (clones the contents; the
    /// codecs do not go through this).
    pub fn to_value(&self) -> Value {
        let elems = self.elements();
        Value::List(
            elems
                .as_slice()
                .iter()
                .map(|e| match *e {
                    Elem::UInt(n) => Value::UInt(n),
                    Elem::Str(s) => Value::Str(s.to_owned()),
                    Elem::Dict(d) => Value::Dict(d.clone()),
                    Elem::List(l) => Value::List(l.to_vec()),
                })
                .collect(),
        )
    }

    /// The borrowed list form, applying the payload omission rule.
    pub(crate) fn elements(&self) -> Elems<'_> {
        let mut e = Elems::new(self.code());
        match self {
            Message::Hello { realm, details } => {
                e.push(Elem::Str(realm)).push(Elem::Dict(details));
            }
            Message::Welcome { session, details } => {
                e.push(Elem::UInt(*session)).push(Elem::Dict(details));
            }
            Message::Abort {
                details,
                reason,
                args,
                kwargs,
            } => {
                e.push(Elem::Dict(details))
                    .push(Elem::Str(reason))
                    .payload(args, kwargs);
            }
            Message::Challenge { authmethod, extra } => {
                e.push(Elem::Str(authmethod)).push(Elem::Dict(extra));
            }
            Message::Authenticate { signature, extra } => {
                e.push(Elem::Str(signature)).push(Elem::Dict(extra));
            }
            Message::Goodbye { details, reason } => {
                e.push(Elem::Dict(details)).push(Elem::Str(reason));
            }
            Message::Error {
                request_type,
                request,
                details,
                error,
                args,
                kwargs,
            } => {
                e.push(Elem::UInt(*request_type))
                    .push(Elem::UInt(*request))
                    .push(Elem::Dict(details))
                    .push(Elem::Str(error))
                    .payload(args, kwargs);
            }
            Message::Publish {
                request,
                options,
                topic,
                args,
                kwargs,
            } => {
                e.push(Elem::UInt(*request))
                    .push(Elem::Dict(options))
                    .push(Elem::Str(topic))
                    .payload(args, kwargs);
            }
            Message::Published {
                request,
                publication,
            } => {
                e.push(Elem::UInt(*request)).push(Elem::UInt(*publication));
            }
            Message::Subscribe {
                request,
                options,
                topic,
            } => {
                e.push(Elem::UInt(*request))
                    .push(Elem::Dict(options))
                    .push(Elem::Str(topic));
            }
            Message::Subscribed {
                request,
                subscription,
            } => {
                e.push(Elem::UInt(*request)).push(Elem::UInt(*subscription));
            }
            Message::Unsubscribe {
                request,
                subscription,
            } => {
                e.push(Elem::UInt(*request)).push(Elem::UInt(*subscription));
            }
            Message::Unsubscribed { request, details } => {
                e.push(Elem::UInt(*request));
                if let Some(d) = details {
                    e.push(Elem::Dict(d));
                }
            }
            Message::Event {
                subscription,
                publication,
                details,
                args,
                kwargs,
            } => {
                e.push(Elem::UInt(*subscription))
                    .push(Elem::UInt(*publication))
                    .push(Elem::Dict(details))
                    .payload(args, kwargs);
            }
            Message::Call {
                request,
                options,
                procedure,
                args,
                kwargs,
            } => {
                e.push(Elem::UInt(*request))
                    .push(Elem::Dict(options))
                    .push(Elem::Str(procedure))
                    .payload(args, kwargs);
            }
            Message::Cancel { request, options } => {
                e.push(Elem::UInt(*request)).push(Elem::Dict(options));
            }
            Message::Result {
                request,
                details,
                args,
                kwargs,
            } => {
                e.push(Elem::UInt(*request))
                    .push(Elem::Dict(details))
                    .payload(args, kwargs);
            }
            Message::Register {
                request,
                options,
                procedure,
            } => {
                e.push(Elem::UInt(*request))
                    .push(Elem::Dict(options))
                    .push(Elem::Str(procedure));
            }
            Message::Registered {
                request,
                registration,
            } => {
                e.push(Elem::UInt(*request)).push(Elem::UInt(*registration));
            }
            Message::Unregister {
                request,
                registration,
            } => {
                e.push(Elem::UInt(*request)).push(Elem::UInt(*registration));
            }
            Message::Unregistered { request } => {
                e.push(Elem::UInt(*request));
            }
            Message::Invocation {
                request,
                registration,
                details,
                args,
                kwargs,
            } => {
                e.push(Elem::UInt(*request))
                    .push(Elem::UInt(*registration))
                    .push(Elem::Dict(details))
                    .payload(args, kwargs);
            }
            Message::Interrupt { request, options } => {
                e.push(Elem::UInt(*request)).push(Elem::Dict(options));
            }
            Message::Yield {
                request,
                options,
                args,
                kwargs,
            } => {
                e.push(Elem::UInt(*request))
                    .push(Elem::Dict(options))
                    .payload(args, kwargs);
            }
        }
        e
    }

    /// Parses the list form `[Code, ...]` into a message, validating element
    /// count and types.
    ///
    /// IDs must be integers in `[0, 2^53]` (integral floats accepted); URIs
    /// must be strings (syntax is checked by the router via
    /// [`super::uri`]); Details/Options/Extra must be dicts, and their
    /// top-level entries whose value is `Null` are removed (wampy encodes
    /// `undefined` options that way). Absent Args/KwArgs decode as empty.
    pub fn from_value(v: Value) -> Result<Message, DecodeError> {
        let items = match v {
            Value::List(items) => items,
            _ => return Err(DecodeError::NotAList),
        };
        let total = items.len();
        let mut it = items.into_iter();
        let code = match it.next() {
            Some(c) => c.as_u64().ok_or_else(|| DecodeError::Shape {
                message: "message",
                reason: "message code is not a non-negative integer".to_owned(),
            })?,
            None => return Err(DecodeError::NotAList),
        };
        let name = name_for_code(code).ok_or(DecodeError::UnknownCode(code))?;
        let mut f = Fields { name, total, it };
        let msg = match code {
            code::HELLO => Message::Hello {
                realm: f.string("Realm")?,
                details: f.dict("Details")?,
            },
            code::WELCOME => Message::Welcome {
                session: f.id("Session")?,
                details: f.dict("Details")?,
            },
            code::ABORT => {
                let details = f.dict("Details")?;
                let reason = f.string("Reason")?;
                let (args, kwargs) = f.payload()?;
                Message::Abort {
                    details,
                    reason,
                    args,
                    kwargs,
                }
            }
            code::CHALLENGE => Message::Challenge {
                authmethod: f.string("AuthMethod")?,
                extra: f.dict("Extra")?,
            },
            code::AUTHENTICATE => Message::Authenticate {
                signature: f.string("Signature")?,
                extra: f.dict("Extra")?,
            },
            code::GOODBYE => Message::Goodbye {
                details: f.dict("Details")?,
                reason: f.string("Reason")?,
            },
            code::ERROR => {
                let request_type = f.uint("REQUEST.Type")?;
                let request = f.id("REQUEST.Request")?;
                let details = f.dict("Details")?;
                let error = f.string("Error")?;
                let (args, kwargs) = f.payload()?;
                Message::Error {
                    request_type,
                    request,
                    details,
                    error,
                    args,
                    kwargs,
                }
            }
            code::PUBLISH => {
                let request = f.id("Request")?;
                let options = f.dict("Options")?;
                let topic = f.string("Topic")?;
                let (args, kwargs) = f.payload()?;
                Message::Publish {
                    request,
                    options,
                    topic,
                    args,
                    kwargs,
                }
            }
            code::PUBLISHED => Message::Published {
                request: f.id("PUBLISH.Request")?,
                publication: f.id("Publication")?,
            },
            code::SUBSCRIBE => Message::Subscribe {
                request: f.id("Request")?,
                options: f.dict("Options")?,
                topic: f.string("Topic")?,
            },
            code::SUBSCRIBED => Message::Subscribed {
                request: f.id("SUBSCRIBE.Request")?,
                subscription: f.id("Subscription")?,
            },
            code::UNSUBSCRIBE => Message::Unsubscribe {
                request: f.id("Request")?,
                subscription: f.id("SUBSCRIBED.Subscription")?,
            },
            code::UNSUBSCRIBED => Message::Unsubscribed {
                request: f.id("UNSUBSCRIBE.Request")?,
                details: f.opt_dict("Details")?,
            },
            code::EVENT => {
                let subscription = f.id("Subscription")?;
                let publication = f.id("Publication")?;
                let details = f.dict("Details")?;
                let (args, kwargs) = f.payload()?;
                Message::Event {
                    subscription,
                    publication,
                    details,
                    args,
                    kwargs,
                }
            }
            code::CALL => {
                let request = f.id("Request")?;
                let options = f.dict("Options")?;
                let procedure = f.string("Procedure")?;
                let (args, kwargs) = f.payload()?;
                Message::Call {
                    request,
                    options,
                    procedure,
                    args,
                    kwargs,
                }
            }
            code::CANCEL => Message::Cancel {
                request: f.id("CALL.Request")?,
                options: f.dict("Options")?,
            },
            code::RESULT => {
                let request = f.id("CALL.Request")?;
                let details = f.dict("Details")?;
                let (args, kwargs) = f.payload()?;
                Message::Result {
                    request,
                    details,
                    args,
                    kwargs,
                }
            }
            code::REGISTER => Message::Register {
                request: f.id("Request")?,
                options: f.dict("Options")?,
                procedure: f.string("Procedure")?,
            },
            code::REGISTERED => Message::Registered {
                request: f.id("REGISTER.Request")?,
                registration: f.id("Registration")?,
            },
            code::UNREGISTER => Message::Unregister {
                request: f.id("Request")?,
                registration: f.id("REGISTERED.Registration")?,
            },
            code::UNREGISTERED => Message::Unregistered {
                request: f.id("UNREGISTER.Request")?,
            },
            code::INVOCATION => {
                let request = f.id("Request")?;
                let registration = f.id("REGISTERED.Registration")?;
                let details = f.dict("Details")?;
                let (args, kwargs) = f.payload()?;
                Message::Invocation {
                    request,
                    registration,
                    details,
                    args,
                    kwargs,
                }
            }
            code::INTERRUPT => Message::Interrupt {
                request: f.id("INVOCATION.Request")?,
                options: f.dict("Options")?,
            },
            code::YIELD => {
                let request = f.id("INVOCATION.Request")?;
                let options = f.dict("Options")?;
                let (args, kwargs) = f.payload()?;
                Message::Yield {
                    request,
                    options,
                    args,
                    kwargs,
                }
            }
            other => return Err(DecodeError::UnknownCode(other)),
        };
        f.finish()?;
        Ok(msg)
    }
}

/// The spec name of a known message code.
fn name_for_code(c: u64) -> Option<&'static str> {
    Some(match c {
        code::HELLO => "HELLO",
        code::WELCOME => "WELCOME",
        code::ABORT => "ABORT",
        code::CHALLENGE => "CHALLENGE",
        code::AUTHENTICATE => "AUTHENTICATE",
        code::GOODBYE => "GOODBYE",
        code::ERROR => "ERROR",
        code::PUBLISH => "PUBLISH",
        code::PUBLISHED => "PUBLISHED",
        code::SUBSCRIBE => "SUBSCRIBE",
        code::SUBSCRIBED => "SUBSCRIBED",
        code::UNSUBSCRIBE => "UNSUBSCRIBE",
        code::UNSUBSCRIBED => "UNSUBSCRIBED",
        code::EVENT => "EVENT",
        code::CALL => "CALL",
        code::CANCEL => "CANCEL",
        code::RESULT => "RESULT",
        code::REGISTER => "REGISTER",
        code::REGISTERED => "REGISTERED",
        code::UNREGISTER => "UNREGISTER",
        code::UNREGISTERED => "UNREGISTERED",
        code::INVOCATION => "INVOCATION",
        code::INTERRUPT => "INTERRUPT",
        code::YIELD => "YIELD",
        _ => return None,
    })
}

/// Sequential, typed access to the elements after the message code.
struct Fields {
    name: &'static str,
    total: usize,
    it: std::vec::IntoIter<Value>,
}

impl Fields {
    fn err(&self, reason: String) -> DecodeError {
        DecodeError::Shape {
            message: self.name,
            reason,
        }
    }

    fn next(&mut self, what: &str) -> Result<Value, DecodeError> {
        match self.it.next() {
            Some(v) => Ok(v),
            None => Err(self.err(format!(
                "missing {what} (message has only {} elements)",
                self.total
            ))),
        }
    }

    fn id(&mut self, what: &str) -> Result<Id, DecodeError> {
        let v = self.next(what)?;
        v.as_id()
            .ok_or_else(|| self.err(format!("{what} must be an integer ID in [0, 2^53]")))
    }

    fn uint(&mut self, what: &str) -> Result<u64, DecodeError> {
        let v = self.next(what)?;
        v.as_u64()
            .ok_or_else(|| self.err(format!("{what} must be a non-negative integer")))
    }

    fn string(&mut self, what: &str) -> Result<String, DecodeError> {
        match self.next(what)? {
            Value::Str(s) => Ok(s),
            _ => Err(self.err(format!("{what} must be a string"))),
        }
    }

    fn dict(&mut self, what: &str) -> Result<Dict, DecodeError> {
        match self.next(what)? {
            Value::Dict(d) => Ok(strip_nulls(d)),
            _ => Err(self.err(format!("{what} must be a dict"))),
        }
    }

    fn opt_dict(&mut self, what: &str) -> Result<Option<Dict>, DecodeError> {
        match self.it.next() {
            None => Ok(None),
            Some(Value::Dict(d)) => Ok(Some(strip_nulls(d))),
            Some(_) => Err(self.err(format!("{what} must be a dict"))),
        }
    }

    fn payload(&mut self) -> Result<(Vec<Value>, Dict), DecodeError> {
        let args = match self.it.next() {
            None => return Ok((Vec::new(), Dict::new())),
            Some(Value::List(l)) => l,
            Some(_) => return Err(self.err("Args must be a list".to_owned())),
        };
        let kwargs = match self.it.next() {
            None => Dict::new(),
            Some(Value::Dict(d)) => d,
            Some(_) => return Err(self.err("KwArgs must be a dict".to_owned())),
        };
        Ok((args, kwargs))
    }

    fn finish(mut self) -> Result<(), DecodeError> {
        if self.it.next().is_some() {
            return Err(self.err(format!("too many elements ({})", self.total)));
        }
        Ok(())
    }
}

/// Removes top-level entries whose value is `Null` ("option not set").
fn strip_nulls(mut d: Dict) -> Dict {
    d.retain(|_, v| !v.is_null());
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(pairs: &[(&str, Value)]) -> Dict {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn list(items: Vec<Value>) -> Value {
        Value::List(items)
    }

    #[test]
    fn codes_and_names_agree() {
        for m in super::super::samples::all_messages() {
            assert_eq!(name_for_code(m.code()), Some(m.name()));
            let back = Message::from_value(m.to_value()).expect("round trip");
            assert_eq!(back, m);
        }
    }

    #[test]
    fn payload_omission_in_list_form() {
        let m = Message::Event {
            subscription: 1,
            publication: 2,
            details: Dict::new(),
            args: vec![],
            kwargs: dict(&[("a", Value::UInt(1))]),
        };
        assert_eq!(
            m.to_value(),
            list(vec![
                Value::UInt(36),
                Value::UInt(1),
                Value::UInt(2),
                Value::Dict(Dict::new()),
                list(vec![]),
                Value::Dict(dict(&[("a", Value::UInt(1))])),
            ])
        );
        let m = Message::Result {
            request: 7,
            details: Dict::new(),
            args: vec![],
            kwargs: Dict::new(),
        };
        assert_eq!(
            m.to_value(),
            list(vec![
                Value::UInt(50),
                Value::UInt(7),
                Value::Dict(Dict::new())
            ])
        );
    }

    #[test]
    fn null_options_removed_nested_kept() {
        let v = list(vec![
            Value::UInt(32),
            Value::UInt(1),
            Value::Dict(dict(&[
                ("match", Value::Null),
                ("get_retained", Value::Null),
                ("x", Value::Dict(dict(&[("y", Value::Null)]))),
            ])),
            Value::from("a.b"),
        ]);
        let m = Message::from_value(v).expect("decodes");
        assert_eq!(
            m,
            Message::Subscribe {
                request: 1,
                options: dict(&[("x", Value::Dict(dict(&[("y", Value::Null)])))]),
                topic: "a.b".into(),
            }
        );
    }

    #[test]
    fn kwargs_nulls_are_payload_and_kept() {
        let v = list(vec![
            Value::UInt(16),
            Value::UInt(1),
            Value::Dict(Dict::new()),
            Value::from("t"),
            list(vec![Value::Null]),
            Value::Dict(dict(&[("k", Value::Null)])),
        ]);
        match Message::from_value(v) {
            Ok(Message::Publish { args, kwargs, .. }) => {
                assert_eq!(args, vec![Value::Null]);
                assert_eq!(kwargs, dict(&[("k", Value::Null)]));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn shape_errors() {
        assert_eq!(Message::from_value(Value::Null), Err(DecodeError::NotAList));
        assert_eq!(
            Message::from_value(list(vec![])),
            Err(DecodeError::NotAList)
        );
        assert_eq!(
            Message::from_value(list(vec![Value::UInt(99)])),
            Err(DecodeError::UnknownCode(99))
        );
        assert!(matches!(
            Message::from_value(list(vec![Value::from("HELLO")])),
            Err(DecodeError::Shape { .. })
        ));
        assert!(matches!(
            Message::from_value(list(vec![Value::Int(-1)])),
            Err(DecodeError::Shape { .. })
        ));
        // Unsubscribed details must be a dict when present.
        assert!(matches!(
            Message::from_value(list(vec![Value::UInt(35), Value::UInt(0), Value::UInt(1)])),
            Err(DecodeError::Shape {
                message: "UNSUBSCRIBED",
                ..
            })
        ));
        // ERROR's request type must be an integer.
        assert!(matches!(
            Message::from_value(list(vec![
                Value::UInt(8),
                Value::from("x"),
                Value::UInt(1),
                Value::Dict(Dict::new()),
                Value::from("e"),
            ])),
            Err(DecodeError::Shape {
                message: "ERROR",
                ..
            })
        ));
    }

    #[test]
    fn float_code_accepted() {
        let m = Message::from_value(list(vec![Value::Float(67.0), Value::Float(4.0)]));
        assert_eq!(m, Ok(Message::Unregistered { request: 4 }));
    }
}
