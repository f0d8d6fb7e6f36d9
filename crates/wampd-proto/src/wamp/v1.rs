//! WAMP v1 messages exactly as Ratchet 0.4.4 (under GosWebSocketBundle)
//! parses and emits them, so Oro's PHP backend client and autobahn 0.8
//! browsers see no difference when wampd replaces the PHP server.
//!
//! Why this is its own module instead of part of the v2 codec: WAMP v1 is not
//! a dialect of v2. Ratchet's parser (`Wamp/ServerProtocol.php::onMessage`)
//! has PHP semantics that clients may depend on, and they are replicated here
//! (protocol reference `oro-gos.md` §5, cross-checked with PHP 8.2):
//!
//! * invalid JSON **and** the literal `null` are JSON errors; anything that is
//!   not a JSON array is "Invalid WAMP message format";
//! * element 1, when present and not `null`, must be a string or a number
//!   ("Invalid Topic, must be a string") — checked *before* the type;
//! * the type is compared with PHP's loose `==`, so `"5"`, `5.0`, `" 5 "` and
//!   `"5e0"` mean SUBSCRIBE and `true` means PREFIX (the first `case`);
//! * a client may send only PREFIX, CALL, SUBSCRIBE, UNSUBSCRIBE, PUBLISH;
//! * CALL with exactly one list argument spreads that list;
//! * PUBLISH's `exclude` is a list, else truthy ⇒ "me", falsy/absent ⇒ none;
//!   `eligible` defaults to `[]`, which means "everybody".
//!
//! Output is what PHP's `json_encode` (default flags) produces — `/` as `\/`,
//! non-ASCII as `\uXXXX`, PHP float formatting, and for PUBLISH payloads the
//! object key order as received (see [`php_json`] and [`Payload`]) — so
//! EVENTs are byte-identical to Ratchet's, e.g.
//! `[8,"oro\/data\/update",[{"username":"admin","tagname":"..."}]]`.
//!
//! Deliberate deviations from Ratchet (all invisible to Oro's clients):
//!
//! * Ratchet decodes payloads into PHP arrays and re-encodes them, so `{}`
//!   becomes `[]` and objects with keys `"0".."n-1"` become lists. We keep
//!   objects (semantically equal or better for every consumer).
//! * A JSON *object* whose keys are `"0".."n-1"` in order is accepted by PHP
//!   as a message envelope; we reject every non-array envelope.
//! * JSON nesting is limited to 127 levels (serde_json; PHP: 512).
//! * Where Ratchet would pass `null` or a wrong type on and fail later (PHP
//!   `TypeError`, which can kill the PHP server), we return
//!   [`V1Error::Shape`] up front: missing or `null` topic/call ID/procedure,
//!   missing or non-scalar PREFIX URI (PHP would store `null`, silently
//!   undefining the prefix), non-list `eligible`.
//! * A single JSON *object* argument of CALL stays one argument (PHP would
//!   turn it into named parameters).
//! * `exclude`/`eligible` entries are normalised to strings (integral numbers
//!   in decimal); entries that are not strings or numbers are dropped (PHP's
//!   loose `in_array` would let `true` match every session).
//! * Values built by the server (CALLRESULT, CALLERROR details, payloads
//!   bridged from v2) are written from the shared [`Value`] model: keys
//!   sorted, integers beyond `i64` exact, NaN/±INF as `null` (PHP fails).
//!
//! Decoding is stateless: topics and procedure URIs are returned verbatim;
//! the session resolves CURIEs with its [`Prefixes`].

pub mod php_json;

use std::collections::HashMap;
use std::fmt::Write as _;

use self::php_json::{php_float_string, write_php_str, write_value, Json};
use super::value::{Dict, Value};

pub use self::php_json::to_php_json;

/// `WELCOME` type code (server → client).
pub const MSG_WELCOME: u64 = 0;
/// `PREFIX` type code.
pub const MSG_PREFIX: u64 = 1;
/// `CALL` type code (client → server).
pub const MSG_CALL: u64 = 2;
/// `CALLRESULT` type code (server → client).
pub const MSG_CALL_RESULT: u64 = 3;
/// `CALLERROR` type code (server → client).
pub const MSG_CALL_ERROR: u64 = 4;
/// `SUBSCRIBE` type code (client → server).
pub const MSG_SUBSCRIBE: u64 = 5;
/// `UNSUBSCRIBE` type code (client → server).
pub const MSG_UNSUBSCRIBE: u64 = 6;
/// `PUBLISH` type code (client → server).
pub const MSG_PUBLISH: u64 = 7;
/// `EVENT` type code (server → client).
pub const MSG_EVENT: u64 = 8;

/// The WAMP protocol version a v1 WELCOME announces.
pub const PROTOCOL_VERSION: u64 = 1;

/// The server ident Ratchet puts in WELCOME (`\Ratchet\VERSION`); encoded as
/// `"Ratchet\/0.4.4"`.
pub const RATCHET_IDENT: &str = "Ratchet/0.4.4";

/// Maximum number of CURIE prefixes one session may define; further new
/// prefixes are refused (existing ones can still be redefined). Ratchet has no
/// limit; Oro never sends PREFIX and autobahn defines a handful at most.
pub const MAX_PREFIXES: usize = 256;

/// Maximum length in bytes of a CURIE prefix name.
pub const MAX_PREFIX_LEN: usize = 256;

/// Maximum length in bytes of the URI a CURIE prefix expands to.
pub const MAX_PREFIX_URI_LEN: usize = 2048;

/// Longest rendering of an offending value kept in an error message.
const MAX_ERROR_DETAIL: usize = 64;

/// An event payload: the value (for v2 peers and routing logic) together with
/// its PHP `json_encode` text (for v1 peers).
///
/// Payloads decoded from a v1 PUBLISH keep the publisher's object key order
/// in [`Payload::php_json`] (PHP arrays are ordered), which the shared
/// [`Value`] model cannot represent; that is what makes EVENTs byte-identical
/// to Ratchet's. Payloads built from a [`Value`] (e.g. bridged from a v2
/// PUBLISH) use the value's sorted key order.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    value: Value,
    php_json: String,
}

impl Payload {
    /// A payload for `value`, its JSON text written from the value.
    pub fn new(value: Value) -> Self {
        let php_json = to_php_json(&value);
        Payload { value, php_json }
    }

    /// Builds both forms from a parsed, order-preserving JSON tree.
    fn from_json(json: Json) -> Self {
        let php_json = json.to_php_json();
        Payload {
            value: json.into_value(),
            php_json,
        }
    }

    /// Parses a payload from its JSON text (as [`Payload::php_json`] wrote it), keeping its key
    /// order, so a payload that crossed the cluster backplane is byte-identical on every node.
    /// `None` when `text` is not JSON.
    pub fn from_php_json(text: &str) -> Option<Self> {
        Json::parse(text.as_bytes()).map(Payload::from_json)
    }

    /// The payload as a value (dict keys sorted; binary-convention strings
    /// as [`Value::Bin`], like the v2 JSON codec).
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The value, consuming the payload.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The payload exactly as Ratchet would write it inside a frame.
    pub fn php_json(&self) -> &str {
        &self.php_json
    }
}

impl From<Value> for Payload {
    /// Same as [`Payload::new`].
    fn from(value: Value) -> Self {
        Payload::new(value)
    }
}

/// One WAMP v1 message.
#[derive(Debug, Clone, PartialEq)]
pub enum V1Message {
    /// `[0, sessionId, 1, serverIdent]`, the first frame a server sends.
    Welcome {
        /// The session ID as a string (wampd: the decimal v2 session ID).
        session: String,
        /// Protocol version, always [`PROTOCOL_VERSION`].
        version: u64,
        /// Server ident, e.g. [`RATCHET_IDENT`].
        server: String,
    },
    /// `[1, prefix, uri]`: defines a CURIE prefix for this session.
    Prefix {
        /// The CURIE prefix (`"event"` in `"event:foo"`).
        prefix: String,
        /// What the prefix expands to.
        uri: String,
    },
    /// `[2, callId, procUri, arg1, arg2, ...]`.
    Call {
        /// The caller's correlation ID (numbers are converted to strings).
        call_id: String,
        /// The procedure URI, not yet CURIE-resolved.
        proc_uri: String,
        /// Positional arguments; a single list argument is spread (Ratchet).
        args: Vec<Value>,
    },
    /// `[3, callId, result]`.
    CallResult {
        /// The call's correlation ID.
        call_id: String,
        /// The result value.
        result: Value,
    },
    /// `[4, callId, errorUri, desc]` or `[4, callId, errorUri, desc, details]`.
    CallError {
        /// The call's correlation ID.
        call_id: String,
        /// The error URI.
        error_uri: String,
        /// Human-readable description.
        desc: String,
        /// Optional details, appended only when present.
        details: Option<Value>,
    },
    /// `[5, topicUri]`.
    Subscribe {
        /// The topic, not yet CURIE-resolved.
        topic: String,
    },
    /// `[6, topicUri]`.
    Unsubscribe {
        /// The topic, not yet CURIE-resolved.
        topic: String,
    },
    /// `[7, topicUri, event, exclude, eligible]` (the last two optional).
    Publish {
        /// The topic, not yet CURIE-resolved.
        topic: String,
        /// The payload (`null` when the client omitted it, as in PHP).
        event: Payload,
        /// Which sessions must not receive the event.
        exclude: Exclude,
        /// If non-empty, only these sessions receive the event; empty means
        /// everybody (Oro always sends `[]`).
        eligible: Vec<String>,
    },
    /// `[8, topicUri, event]`.
    Event {
        /// The topic as the subscriber subscribed to it.
        topic: String,
        /// The payload.
        event: Payload,
    },
}

impl V1Message {
    /// The WELCOME Ratchet 0.4.4 sends: `[0, session, 1, "Ratchet/0.4.4"]`.
    pub fn welcome(session: impl Into<String>) -> Self {
        V1Message::Welcome {
            session: session.into(),
            version: PROTOCOL_VERSION,
            server: RATCHET_IDENT.to_owned(),
        }
    }

    /// The message's type code (`0`..=`8`).
    pub fn code(&self) -> u64 {
        match self {
            V1Message::Welcome { .. } => MSG_WELCOME,
            V1Message::Prefix { .. } => MSG_PREFIX,
            V1Message::Call { .. } => MSG_CALL,
            V1Message::CallResult { .. } => MSG_CALL_RESULT,
            V1Message::CallError { .. } => MSG_CALL_ERROR,
            V1Message::Subscribe { .. } => MSG_SUBSCRIBE,
            V1Message::Unsubscribe { .. } => MSG_UNSUBSCRIBE,
            V1Message::Publish { .. } => MSG_PUBLISH,
            V1Message::Event { .. } => MSG_EVENT,
        }
    }
}

/// PUBLISH's `exclude` element, as Ratchet interprets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclude {
    /// Absent or PHP-falsy (`false`, `null`, `0`, `""`, `"0"`): nobody.
    None,
    /// Any other non-list value (`true`, `1`, `"x"`): the publisher itself.
    Me,
    /// A list (or object: its values) of session IDs, possibly empty.
    Sessions(Vec<String>),
}

impl Exclude {
    /// Whether `subscriber` is excluded when `publisher` published.
    pub fn excludes(&self, publisher: &str, subscriber: &str) -> bool {
        match self {
            Exclude::None => false,
            Exclude::Me => publisher == subscriber,
            Exclude::Sessions(ids) => ids.iter().any(|id| id == subscriber),
        }
    }
}

/// Ratchet's `Topic::broadcast` filter: deliver unless excluded, and, when
/// `eligible` is non-empty, only to listed sessions. The publisher receives
/// its own event if subscribed and not excluded.
pub fn should_deliver(
    exclude: &Exclude,
    eligible: &[String],
    publisher: &str,
    subscriber: &str,
) -> bool {
    !exclude.excludes(publisher, subscriber)
        && (eligible.is_empty() || eligible.iter().any(|id| id == subscriber))
}

/// Why a client frame was rejected. Ratchet answers every one of these by
/// closing the connection with status 1007 (GOS `WampServer::onMessage`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum V1Error {
    /// Not JSON, or the literal `null` (Ratchet's `JsonException`).
    #[error("Syntax error, malformed JSON")]
    InvalidJson,
    /// Valid JSON but not an array.
    #[error("Invalid WAMP message format")]
    NotAList,
    /// Element 1 is present, not `null`, and neither a string nor a number.
    #[error("Invalid Topic, must be a string")]
    InvalidTopic,
    /// The type is not one a client may send; carries a short rendering of
    /// the offending type element (`"missing"` for `[]`).
    #[error("Invalid WAMP message type: {0}")]
    InvalidType(String),
    /// The type is valid but a required element is missing or has the wrong
    /// type (where Ratchet would fail later with a PHP `TypeError`).
    #[error("Malformed WAMP message: {0}")]
    Shape(String),
}

/// Decodes one frame from a client the way Ratchet's server does; only
/// PREFIX, CALL, SUBSCRIBE, UNSUBSCRIBE and PUBLISH are accepted.
pub fn decode_client(text: &[u8]) -> Result<V1Message, V1Error> {
    let items = match Json::parse(text) {
        None | Some(Json::Null) => return Err(V1Error::InvalidJson),
        Some(Json::List(items)) => items,
        Some(_) => return Err(V1Error::NotAList),
    };
    // `isset($json[1]) && !(is_string($json[1]) || is_numeric($json[1]))`
    if let Some(second) = items.get(1) {
        if *second != Json::Null && php_scalar_string(second).is_none() {
            return Err(V1Error::InvalidTopic);
        }
    }
    match items.first().and_then(loose_type_code) {
        Some(MSG_PREFIX) => Ok(V1Message::Prefix {
            prefix: required_string(&items, 1, "PREFIX", "prefix")?,
            uri: required_string(&items, 2, "PREFIX", "URI")?,
        }),
        Some(MSG_CALL) => decode_call(items),
        Some(MSG_SUBSCRIBE) => Ok(V1Message::Subscribe {
            topic: required_string(&items, 1, "SUBSCRIBE", "topic")?,
        }),
        Some(MSG_UNSUBSCRIBE) => Ok(V1Message::Unsubscribe {
            topic: required_string(&items, 1, "UNSUBSCRIBE", "topic")?,
        }),
        Some(MSG_PUBLISH) => decode_publish(items),
        _ => Err(V1Error::InvalidType(
            items.first().map_or_else(|| "missing".to_owned(), describe),
        )),
    }
}

fn decode_call(items: Vec<Json>) -> Result<V1Message, V1Error> {
    let call_id = required_string(&items, 1, "CALL", "call ID")?;
    let proc_uri = required_string(&items, 2, "CALL", "procedure URI")?;
    let mut args: Vec<Json> = items.into_iter().skip(3).collect();
    // `if (count($json) == 1 && is_array($json[0])) $json = $json[0];`
    // (a single JSON object stays one argument: see the module docs)
    if args.len() == 1 && matches!(args.first(), Some(Json::List(_))) {
        if let Some(Json::List(inner)) = args.pop() {
            args = inner;
        }
    }
    Ok(V1Message::Call {
        call_id,
        proc_uri,
        args: args.into_iter().map(Json::into_value).collect(),
    })
}

fn decode_publish(items: Vec<Json>) -> Result<V1Message, V1Error> {
    let topic = required_string(&items, 1, "PUBLISH", "topic")?;
    let mut rest = items.into_iter().skip(2);
    let event = Payload::from_json(rest.next().unwrap_or(Json::Null));
    let exclude = match rest.next() {
        None => Exclude::None,
        Some(v @ (Json::List(_) | Json::Map(_))) => Exclude::Sessions(session_list(v)),
        Some(v) if php_truthy(&v) => Exclude::Me,
        Some(_) => Exclude::None,
    };
    let eligible = match rest.next() {
        None => Vec::new(),
        Some(v @ (Json::List(_) | Json::Map(_))) => session_list(v),
        Some(_) => {
            return Err(V1Error::Shape(
                "PUBLISH eligible must be a list of session IDs".to_owned(),
            ))
        }
    };
    Ok(V1Message::Publish {
        topic,
        event,
        exclude,
        eligible,
    })
}

/// Element `idx` as a string: strings verbatim, numbers in PHP's string form;
/// missing, `null` or other types are a [`V1Error::Shape`].
fn required_string(
    items: &[Json],
    idx: usize,
    message: &str,
    what: &str,
) -> Result<String, V1Error> {
    items
        .get(idx)
        .and_then(php_scalar_string)
        .ok_or_else(|| V1Error::Shape(format!("{message} requires a string {what}")))
}

/// The values of a list or object, as session ID strings (entries that are
/// not strings or numbers are dropped).
fn session_list(v: Json) -> Vec<String> {
    let values: Vec<Json> = match v {
        Json::List(l) => l,
        Json::Map(m) => m.into_iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    };
    values.iter().filter_map(session_id_string).collect()
}

/// A session ID given as a JSON value: strings verbatim, integral numbers in
/// decimal (PHP's loose `in_array` matches `123` and `123.0` with `"123"`).
fn session_id_string(v: &Json) -> Option<String> {
    match v {
        Json::BigUInt(n) => Some(n.to_string()),
        Json::Float(f) => match Value::Float(*f).as_u64() {
            Some(n) => Some(n.to_string()),
            None => php_scalar_string(v),
        },
        _ => php_scalar_string(v),
    }
}

/// PHP's `(string)` of a JSON string or number (`is_string || is_numeric`);
/// `None` for everything else.
fn php_scalar_string(v: &Json) -> Option<String> {
    match v {
        Json::Str(s) => Some(s.clone()),
        Json::Int(n) => Some(n.to_string()),
        // json_decode turns integers beyond PHP_INT_MAX into floats.
        Json::BigUInt(n) => Some(php_float_string(*n as f64)),
        Json::Float(f) => Some(php_float_string(*f)),
        Json::Null | Json::Bool(_) | Json::List(_) | Json::Map(_) => None,
    }
}

/// PHP truthiness of a decoded JSON scalar (`(boolean)$x`).
fn php_truthy(v: &Json) -> bool {
    match v {
        Json::Null => false,
        Json::Bool(b) => *b,
        Json::Int(n) => *n != 0,
        Json::BigUInt(_) => true,
        Json::Float(f) => *f != 0.0,
        Json::Str(s) => !(s.is_empty() || s == "0"),
        Json::List(l) => !l.is_empty(),
        Json::Map(m) => !m.is_empty(),
    }
}

/// Which client message type `v` equals under PHP 8 loose `==`, in Ratchet's
/// `switch` order (PREFIX first, so `true` is PREFIX). `None` if none.
fn loose_type_code(v: &Json) -> Option<u64> {
    const CASES: [u64; 5] = [
        MSG_PREFIX,
        MSG_CALL,
        MSG_SUBSCRIBE,
        MSG_UNSUBSCRIBE,
        MSG_PUBLISH,
    ];
    let num = match v {
        Json::Bool(true) => return Some(MSG_PREFIX),
        Json::Int(n) => return CASES.into_iter().find(|&c| i64::try_from(c) == Ok(*n)),
        Json::Float(f) => *f,
        Json::Str(s) => php_numeric_string(s)?,
        _ => return None,
    };
    CASES.into_iter().find(|&c| num == c as f64)
}

/// PHP 8 numeric-string test and value: optional leading and trailing
/// whitespace (` \t\n\r\v\f`), optional sign, decimal digits with optional
/// fraction and exponent. Hex, `inf`, `nan` and empty strings are not numeric.
fn php_numeric_string(s: &str) -> Option<f64> {
    const WS: &[char] = &[' ', '\t', '\n', '\r', '\u{0B}', '\u{0C}'];
    let t = s.trim_matches(WS);
    let b = t.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_start = j;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    if i != b.len() {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Short JSON rendering of an offending element for error messages.
fn describe(v: &Json) -> String {
    let mut s = v.to_php_json();
    if s.len() > MAX_ERROR_DETAIL {
        let mut cut = MAX_ERROR_DETAIL;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Encodes a message as compact JSON exactly as PHP's `json_encode` would
/// (see the module docs). PUBLISH is always written in the five-element form
/// Oro's client uses: `[7, topic, event, exclude, eligible]`, with `[]` for
/// [`Exclude::None`] and `true` for [`Exclude::Me`].
pub fn encode(msg: &V1Message) -> String {
    let mut out = String::with_capacity(64);
    out.push('[');
    let _ = write!(out, "{}", msg.code());
    match msg {
        V1Message::Welcome {
            session,
            version,
            server,
        } => {
            sep_str(&mut out, session);
            let _ = write!(out, ",{version}");
            sep_str(&mut out, server);
        }
        V1Message::Prefix { prefix, uri } => {
            sep_str(&mut out, prefix);
            sep_str(&mut out, uri);
        }
        V1Message::Call {
            call_id,
            proc_uri,
            args,
        } => {
            sep_str(&mut out, call_id);
            sep_str(&mut out, proc_uri);
            for a in args {
                sep_value(&mut out, a);
            }
        }
        V1Message::CallResult { call_id, result } => {
            sep_str(&mut out, call_id);
            sep_value(&mut out, result);
        }
        V1Message::CallError {
            call_id,
            error_uri,
            desc,
            details,
        } => {
            sep_str(&mut out, call_id);
            sep_str(&mut out, error_uri);
            sep_str(&mut out, desc);
            if let Some(d) = details {
                sep_value(&mut out, d);
            }
        }
        V1Message::Subscribe { topic } | V1Message::Unsubscribe { topic } => {
            sep_str(&mut out, topic);
        }
        V1Message::Publish {
            topic,
            event,
            exclude,
            eligible,
        } => {
            sep_str(&mut out, topic);
            out.push(',');
            out.push_str(event.php_json());
            out.push(',');
            match exclude {
                Exclude::None => out.push_str("[]"),
                Exclude::Me => out.push_str("true"),
                Exclude::Sessions(ids) => write_str_list(&mut out, ids),
            }
            out.push(',');
            write_str_list(&mut out, eligible);
        }
        V1Message::Event { topic, event } => {
            sep_str(&mut out, topic);
            out.push(',');
            out.push_str(event.php_json());
        }
    }
    out.push(']');
    out
}

/// `[8, topic, payload]` without building a message (the fan-out hot path:
/// encode once per topic, send to every v1 subscriber).
pub fn encode_event(topic: &str, event: &Payload) -> String {
    let mut out = String::with_capacity(8 + topic.len() + event.php_json().len());
    out.push_str("[8,");
    write_php_str(&mut out, topic);
    out.push(',');
    out.push_str(event.php_json());
    out.push(']');
    out
}

fn sep_str(out: &mut String, s: &str) {
    out.push(',');
    write_php_str(out, s);
}

fn sep_value(out: &mut String, v: &Value) {
    out.push(',');
    write_value(out, v, 0);
}

fn write_str_list(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_php_str(out, s);
    }
    out.push(']');
}

/// A session's CURIE prefixes (Ratchet `WampConnection::getUri`).
///
/// Bounded: at most [`MAX_PREFIXES`] prefixes, names up to
/// [`MAX_PREFIX_LEN`] bytes, URIs up to [`MAX_PREFIX_URI_LEN`] bytes, so a
/// client cannot grow a session's memory without limit (Ratchet has no
/// bounds). Refused definitions are simply not stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefixes {
    map: HashMap<String, String>,
}

impl Prefixes {
    /// An empty prefix table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Defines or redefines `prefix` → `uri` (PREFIX message). Returns
    /// `false`, storing nothing, when a bound would be exceeded.
    pub fn set(&mut self, prefix: &str, uri: &str) -> bool {
        if prefix.len() > MAX_PREFIX_LEN || uri.len() > MAX_PREFIX_URI_LEN {
            return false;
        }
        if let Some(existing) = self.map.get_mut(prefix) {
            uri.clone_into(existing);
            return true;
        }
        if self.map.len() >= MAX_PREFIXES {
            return false;
        }
        self.map.insert(prefix.to_owned(), uri.to_owned());
        true
    }

    /// Expands a CURIE exactly like Ratchet: if `uri` contains no match of
    /// `/http(s*)\:\/\//` (anywhere, case-sensitive) and contains `:`, the
    /// part before the first `:` is looked up; if known, the result is
    /// `prefix_uri + "#" + part between the first and second ':'` (PHP's
    /// `list($p, $a) = explode(':', $uri)` drops anything after a second
    /// `:`). Otherwise `uri` is returned unchanged.
    pub fn resolve(&self, uri: &str) -> String {
        if !contains_http_scheme(uri) {
            let mut parts = uri.split(':');
            if let (Some(prefix), Some(action)) = (parts.next(), parts.next()) {
                if let Some(base) = self.map.get(prefix) {
                    let mut out = String::with_capacity(base.len() + 1 + action.len());
                    out.push_str(base);
                    out.push('#');
                    out.push_str(action);
                    return out;
                }
            }
        }
        uri.to_owned()
    }

    /// Number of defined prefixes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` if no prefix is defined.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Unanchored `/http(s*)\:\/\//`: `"http"`, any number of `s`, `"://"`.
fn contains_http_scheme(uri: &str) -> bool {
    uri.match_indices("http").any(|(i, _)| {
        uri.get(i + 4..)
            .is_some_and(|rest| rest.trim_start_matches('s').starts_with("://"))
    })
}

/// The payload a v1 subscriber receives for a v2 PUBLISH (bridging table):
/// `Args=[x]` → `x`; `Args=[x, y, …]` → the list; KwArgs only → the dict;
/// both → `{"args": [...], "kwargs": {...}}`; neither → `null` (a v1 EVENT
/// must carry a payload; `null` is what PHP sends for "nothing").
/// Wrap it in a [`Payload`] to send it.
pub fn bridge_v2_to_v1(args: &[Value], kwargs: &Dict) -> Value {
    match (args, kwargs.is_empty()) {
        ([], true) => Value::Null,
        ([x], true) => x.clone(),
        (_, true) => Value::List(args.to_vec()),
        ([], false) => Value::Dict(kwargs.clone()),
        (_, false) => {
            let mut both = Dict::new();
            both.insert("args".to_owned(), Value::List(args.to_vec()));
            both.insert("kwargs".to_owned(), Value::Dict(kwargs.clone()));
            Value::Dict(both)
        }
    }
}

/// The v2 EVENT payload for a v1 PUBLISH: always `Args = [E]`, no KwArgs
/// (even when `E` is `null`, a list or a dict), so a v2 subscriber can tell
/// exactly what the v1 publisher sent (use [`Payload::into_value`]).
pub fn bridge_v1_to_v2(event: Value) -> (Vec<Value>, Dict) {
    (vec![event], Dict::new())
}

#[cfg(test)]
mod tests;
