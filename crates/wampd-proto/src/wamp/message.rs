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

/// The message schema, written once: each message's variant, code, spec name and elements in
/// wire order (`kind "Label"`). The macro below turns it into the [`Message`] enum, its
/// [`Message::code`], its list form for the encoders ([`Message::elements`]) and the validating
/// decoder ([`Message::from_value`]), so the two directions cannot disagree.
macro_rules! wamp_messages {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $code:ident $name:literal { $( $field:ident : $kind:ident $label:literal ),* $(,)? }
    )*) => {
        /// A WAMP v2 message. Field names follow the protocol reference §6.1.
        ///
        /// `args`/`kwargs` are the application payload: empty ones are omitted on the
        /// wire (with `[]` emitted for `args` when only `kwargs` is present) and absent
        /// ones decode as empty.
        #[allow(missing_docs)]
        #[derive(Debug, Clone, PartialEq)]
        pub enum Message {
            $( $(#[$doc])* $variant { $( $field: field_type!($kind) ),* }, )*
        }

        impl Message {
            /// The message code (`[Code, ...]`), see [`code`].
            pub fn code(&self) -> u64 {
                match self {
                    $( Message::$variant { .. } => code::$code, )*
                }
            }

            /// The borrowed list form, applying the payload omission rule.
            pub(crate) fn elements(&self) -> Elems<'_> {
                let mut e = Elems::new(self.code());
                match self {
                    $( Message::$variant { $( $field ),* } => {
                        $( encode_field!($kind, e, $field); )*
                    } )*
                }
                e
            }

            /// The fields after the code, in wire order (struct expressions evaluate their
            /// fields in the order written).
            fn decode_fields(code: u64, f: &mut Fields) -> Result<Message, DecodeError> {
                Ok(match code {
                    $( code::$code => Message::$variant {
                        $( $field: decode_field!($kind, f, $label) ),*
                    }, )*
                    other => return Err(DecodeError::UnknownCode(other)),
                })
            }
        }

        /// The spec name of a known message code.
        fn name_for_code(c: u64) -> Option<&'static str> {
            Some(match c {
                $( code::$code => $name, )*
                _ => return None,
            })
        }
    };
}

/// The Rust type of a schema element kind.
macro_rules! field_type {
    (id) => { Id };
    (uint) => { u64 };
    (string) => { String };
    (dict) => { Dict };
    (opt_dict) => { Option<Dict> };
    (args) => { Vec<Value> };
    (kwargs) => { Dict };
}

/// How an element kind is laid out for the encoders.
macro_rules! encode_field {
    (id, $e:ident, $v:ident) => {
        $e.push(Elem::UInt(*$v));
    };
    (uint, $e:ident, $v:ident) => {
        $e.push(Elem::UInt(*$v));
    };
    (string, $e:ident, $v:ident) => {
        $e.push(Elem::Str($v));
    };
    (dict, $e:ident, $v:ident) => {
        $e.push(Elem::Dict($v));
    };
    (opt_dict, $e:ident, $v:ident) => {
        if let Some(d) = $v {
            $e.push(Elem::Dict(d));
        }
    };
    (args, $e:ident, $v:ident) => {
        $e.args($v);
    };
    (kwargs, $e:ident, $v:ident) => {
        $e.kwargs($v);
    };
}

/// How an element kind is read and validated.
macro_rules! decode_field {
    (id, $f:ident, $label:literal) => {
        $f.id($label)?
    };
    (uint, $f:ident, $label:literal) => {
        $f.uint($label)?
    };
    (string, $f:ident, $label:literal) => {
        $f.string($label)?
    };
    (dict, $f:ident, $label:literal) => {
        $f.dict($label)?
    };
    (opt_dict, $f:ident, $label:literal) => {
        $f.opt_dict($label)?
    };
    (args, $f:ident, $label:literal) => {
        $f.args()?
    };
    (kwargs, $f:ident, $label:literal) => {
        $f.kwargs()?
    };
}

wamp_messages! {
    /// Client opens a session on `realm`.
    Hello = HELLO "HELLO" { realm: string "Realm", details: dict "Details" }
    /// Router accepts the session.
    Welcome = WELCOME "WELCOME" { session: id "Session", details: dict "Details" }
    /// Either side refuses/aborts session establishment.
    Abort = ABORT "ABORT" {
        details: dict "Details", reason: string "Reason", args: args "Args", kwargs: kwargs "KwArgs"
    }
    /// Router asks the client to authenticate.
    Challenge = CHALLENGE "CHALLENGE" { authmethod: string "AuthMethod", extra: dict "Extra" }
    /// Client answers a CHALLENGE.
    Authenticate = AUTHENTICATE "AUTHENTICATE" { signature: string "Signature", extra: dict "Extra" }
    /// Either side closes the session; the other echoes it.
    Goodbye = GOODBYE "GOODBYE" { details: dict "Details", reason: string "Reason" }
    /// Error reply to a request of type `request_type` (a message code).
    Error = ERROR "ERROR" {
        request_type: uint "REQUEST.Type", request: id "REQUEST.Request", details: dict "Details",
        error: string "Error", args: args "Args", kwargs: kwargs "KwArgs"
    }
    /// Publisher publishes an event to `topic`.
    Publish = PUBLISH "PUBLISH" {
        request: id "Request", options: dict "Options", topic: string "Topic",
        args: args "Args", kwargs: kwargs "KwArgs"
    }
    /// Broker acknowledges a PUBLISH (only when `acknowledge=true`).
    Published = PUBLISHED "PUBLISHED" { request: id "PUBLISH.Request", publication: id "Publication" }
    /// Subscriber subscribes to `topic`.
    Subscribe = SUBSCRIBE "SUBSCRIBE" {
        request: id "Request", options: dict "Options", topic: string "Topic"
    }
    /// Broker confirms a SUBSCRIBE.
    Subscribed = SUBSCRIBED "SUBSCRIBED" {
        request: id "SUBSCRIBE.Request", subscription: id "Subscription"
    }
    /// Subscriber drops a subscription.
    Unsubscribe = UNSUBSCRIBE "UNSUBSCRIBE" {
        request: id "Request", subscription: id "SUBSCRIBED.Subscription"
    }
    /// Broker confirms an UNSUBSCRIBE (`details: None`, `[35, request]`), or
    /// revokes a subscription (`request: 0`, `details: Some({"subscription":
    /// id, "reason": str})`, `[35, 0, {...}]`).
    Unsubscribed = UNSUBSCRIBED "UNSUBSCRIBED" {
        request: id "UNSUBSCRIBE.Request", details: opt_dict "Details"
    }
    /// Broker delivers an event to a subscriber.
    Event = EVENT "EVENT" {
        subscription: id "Subscription", publication: id "Publication", details: dict "Details",
        args: args "Args", kwargs: kwargs "KwArgs"
    }
    /// Caller calls `procedure`.
    Call = CALL "CALL" {
        request: id "Request", options: dict "Options", procedure: string "Procedure",
        args: args "Args", kwargs: kwargs "KwArgs"
    }
    /// Caller cancels a pending CALL.
    Cancel = CANCEL "CANCEL" { request: id "CALL.Request", options: dict "Options" }
    /// Dealer delivers a call result to the caller.
    Result = RESULT "RESULT" {
        request: id "CALL.Request", details: dict "Details", args: args "Args", kwargs: kwargs "KwArgs"
    }
    /// Callee registers `procedure`.
    Register = REGISTER "REGISTER" {
        request: id "Request", options: dict "Options", procedure: string "Procedure"
    }
    /// Dealer confirms a REGISTER.
    Registered = REGISTERED "REGISTERED" {
        request: id "REGISTER.Request", registration: id "Registration"
    }
    /// Callee drops a registration.
    Unregister = UNREGISTER "UNREGISTER" {
        request: id "Request", registration: id "REGISTERED.Registration"
    }
    /// Dealer confirms an UNREGISTER.
    Unregistered = UNREGISTERED "UNREGISTERED" { request: id "UNREGISTER.Request" }
    /// Dealer invokes a registered procedure on a callee.
    Invocation = INVOCATION "INVOCATION" {
        request: id "Request", registration: id "REGISTERED.Registration", details: dict "Details",
        args: args "Args", kwargs: kwargs "KwArgs"
    }
    /// Dealer asks a callee to stop a pending INVOCATION.
    Interrupt = INTERRUPT "INTERRUPT" { request: id "INVOCATION.Request", options: dict "Options" }
    /// Callee returns the result of an INVOCATION.
    Yield = YIELD "YIELD" {
        request: id "INVOCATION.Request", options: dict "Options", args: args "Args", kwargs: kwargs "KwArgs"
    }
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
    /// A payload written in place of Args: the one binary of a message in autobahn's payload
    /// transparency form ([`TRANSPARENT_PAYLOAD`]).
    One(&'a Value),
}

/// The Options/Details key that marks autobahn's payload transparency (end-to-end encrypted
/// payloads, `enc_algo: "cryptobox"`): such a message carries its payload as one binary in
/// place of `Arguments|list`. Decoding takes that binary as the only argument; encoding a
/// message whose Options/Details have this key and whose only argument is a binary writes it
/// back in that place, so autobahn peers on both ends see the form they sent.
pub const TRANSPARENT_PAYLOAD: &str = "enc_algo";

/// Most elements any message has: ERROR with code, type, request, details,
/// error, args and kwargs.
const MAX_ELEMS: usize = 7;

/// The borrowed list form of a message (fixed capacity, no allocation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Elems<'a> {
    items: [Elem<'a>; MAX_ELEMS],
    len: usize,
    /// Args seen, written once KwArgs decide whether they are needed.
    args: &'a [Value],
    /// The message's first dict (Options or Details) marks a transparent payload.
    transparent: Option<bool>,
}

impl<'a> Elems<'a> {
    fn new(code: u64) -> Self {
        Elems {
            items: [Elem::UInt(code); MAX_ELEMS],
            len: 1,
            args: &[],
            transparent: None,
        }
    }

    fn push(&mut self, e: Elem<'a>) -> &mut Self {
        if let (Elem::Dict(d), None) = (e, self.transparent) {
            self.transparent = Some(d.contains_key(TRANSPARENT_PAYLOAD));
        }
        // Capacity is sized for the largest message; `get_mut` keeps this
        // panic-free even if that invariant were ever broken.
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = e;
            self.len += 1;
        }
        self
    }

    /// Args, laid out when [`Elems::kwargs`] (which always follows) knows whether they are
    /// needed.
    fn args(&mut self, args: &'a [Value]) {
        self.args = args;
    }

    /// The payload omission rule: Args only when either is non-empty, KwArgs only when
    /// non-empty.
    fn kwargs(&mut self, kwargs: &'a Dict) {
        if let ([one @ Value::Bin(_)], Some(true), true) =
            (self.args, self.transparent, kwargs.is_empty())
        {
            self.push(Elem::One(one));
            return;
        }
        if !self.args.is_empty() || !kwargs.is_empty() {
            self.push(Elem::List(self.args));
        }
        if !kwargs.is_empty() {
            self.push(Elem::Dict(kwargs));
        }
    }

    /// The elements, message code first.
    pub(crate) fn as_slice(&self) -> &[Elem<'a>] {
        self.items.get(..self.len).unwrap_or(&self.items)
    }
}

impl Message {
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
                    Elem::One(v) => v.clone(),
                })
                .collect(),
        )
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
        let mut f = Fields {
            name,
            total,
            it,
            transparent: None,
        };
        let msg = Message::decode_fields(code, &mut f)?;
        f.finish()?;
        Ok(msg)
    }
}

/// Sequential, typed access to the elements after the message code.
struct Fields {
    name: &'static str,
    total: usize,
    it: std::vec::IntoIter<Value>,
    /// Set by the first dict read (Options or Details): see [`TRANSPARENT_PAYLOAD`].
    transparent: Option<bool>,
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
            Value::Dict(d) => {
                let d = strip_nulls(d);
                self.transparent
                    .get_or_insert(d.contains_key(TRANSPARENT_PAYLOAD));
                Ok(d)
            }
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

    /// Args: absent means empty.
    fn args(&mut self) -> Result<Vec<Value>, DecodeError> {
        match self.it.next() {
            None => Ok(Vec::new()),
            Some(Value::List(l)) => Ok(l),
            Some(bin @ Value::Bin(_)) if self.transparent == Some(true) => Ok(vec![bin]),
            Some(_) => Err(self.err("Args must be a list".to_owned())),
        }
    }

    /// KwArgs (after Args): absent means empty.
    fn kwargs(&mut self) -> Result<Dict, DecodeError> {
        match self.it.next() {
            None => Ok(Dict::new()),
            Some(Value::Dict(d)) => Ok(d),
            Some(_) => Err(self.err("KwArgs must be a dict".to_owned())),
        }
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
