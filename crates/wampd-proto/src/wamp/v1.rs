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
mod tests {
    use super::super::codec::{self, Serializer};
    use super::*;

    fn dec(s: &str) -> Result<V1Message, V1Error> {
        decode_client(s.as_bytes())
    }

    fn json(s: &str) -> Value {
        codec::decode_value(Serializer::Json, s.as_bytes()).expect("test JSON is valid")
    }

    fn sub(topic: &str) -> V1Message {
        V1Message::Subscribe {
            topic: topic.to_owned(),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn oro_publish_frame_and_event_byte_exact() {
        let frame = r#"[7,"oro\/data\/update",[{"username":"admin","tagname":"Oro_Bundle_UserBundle_Entity_User_1"}],[],[]]"#;
        let msg = dec(frame).expect("Oro's publish frame decodes");
        let V1Message::Publish {
            topic,
            event,
            exclude,
            eligible,
        } = msg.clone()
        else {
            panic!("not a PUBLISH: {msg:?}");
        };
        assert_eq!(topic, "oro/data/update");
        assert_eq!(exclude, Exclude::Sessions(vec![]));
        assert!(eligible.is_empty());
        // Re-encoding the PUBLISH reproduces the client's bytes.
        assert_eq!(encode(&msg), frame);
        let ev = V1Message::Event { topic, event };
        assert_eq!(
            encode(&ev),
            r#"[8,"oro\/data\/update",[{"username":"admin","tagname":"Oro_Bundle_UserBundle_Entity_User_1"}]]"#
        );
    }

    #[test]
    fn other_oro_frames() {
        let m = dec(r#"[7,"oro\/maintenance",{"isOn":true,"userId":null},[],[]]"#).expect("ok");
        assert_eq!(
            encode(&m),
            r#"[7,"oro\/maintenance",{"isOn":true,"userId":null},[],[]]"#
        );
        let m = dec(r#"[7,"oro\/message_queue_heartbeat","",[],[]]"#).expect("ok");
        assert_eq!(
            m,
            V1Message::Publish {
                topic: "oro/message_queue_heartbeat".into(),
                event: Payload::new(Value::Str(String::new())),
                exclude: Exclude::Sessions(vec![]),
                eligible: vec![],
            }
        );
        let ping = V1Message::Event {
            topic: "oro/ping".into(),
            event: Payload::new(Value::from("Connection keep alive")),
        };
        assert_eq!(encode(&ping), r#"[8,"oro\/ping","Connection keep alive"]"#);
        assert_eq!(dec(r#"[5,"oro/ping"]"#), Ok(sub("oro/ping")));
        assert_eq!(
            dec(r#"[6,"oro/data/update"]"#),
            Ok(V1Message::Unsubscribe {
                topic: "oro/data/update".into()
            })
        );
        let err = V1Message::CallError {
            call_id: "3k2j1".into(),
            error_uri: "oro/ping".into(),
            desc: r#"A RPC handler for the "oro_sync.ping" route has not been registered."#.into(),
            details: Some(json(r#"{"code":404,"rpc":{},"params":[],"request":{}}"#)),
        };
        assert_eq!(
            encode(&err),
            r#"[4,"3k2j1","oro\/ping","A RPC handler for the \"oro_sync.ping\" route has not been registered.",{"code":404,"params":[],"request":{},"rpc":{}}]"#
        );
    }

    #[test]
    fn welcome_encoding() {
        let w = V1Message::welcome("18936748655f1a2b3c4d5e6f712345678");
        assert_eq!(
            encode(&w),
            r#"[0,"18936748655f1a2b3c4d5e6f712345678",1,"Ratchet\/0.4.4"]"#
        );
        assert_eq!(w.code(), MSG_WELCOME);
        // A server must never accept WELCOME from a client.
        assert!(matches!(dec(&encode(&w)), Err(V1Error::InvalidType(_))));
    }

    #[test]
    fn every_message_type_encodes() {
        let cases: Vec<(V1Message, &str)> = vec![
            (
                V1Message::Prefix {
                    prefix: "event".into(),
                    uri: "http://example.com/event/".into(),
                },
                r#"[1,"event","http:\/\/example.com\/event\/"]"#,
            ),
            (
                V1Message::Call {
                    call_id: "c1".into(),
                    proc_uri: "calc:add".into(),
                    args: vec![Value::UInt(1), Value::Int(-2)],
                },
                r#"[2,"c1","calc:add",1,-2]"#,
            ),
            (
                V1Message::Call {
                    call_id: "c2".into(),
                    proc_uri: "p".into(),
                    args: vec![],
                },
                r#"[2,"c2","p"]"#,
            ),
            (
                V1Message::CallResult {
                    call_id: "c1".into(),
                    result: Value::Float(1.5),
                },
                r#"[3,"c1",1.5]"#,
            ),
            (
                V1Message::CallError {
                    call_id: "c1".into(),
                    error_uri: "err".into(),
                    desc: "d".into(),
                    details: None,
                },
                r#"[4,"c1","err","d"]"#,
            ),
            (sub("a/b"), r#"[5,"a\/b"]"#),
            (V1Message::Unsubscribe { topic: "t".into() }, r#"[6,"t"]"#),
            (
                V1Message::Publish {
                    topic: "t".into(),
                    event: Payload::new(Value::Null),
                    exclude: Exclude::None,
                    eligible: vec![],
                },
                r#"[7,"t",null,[],[]]"#,
            ),
            (
                V1Message::Publish {
                    topic: "t".into(),
                    event: Payload::new(Value::from(1u64)),
                    exclude: Exclude::Me,
                    eligible: strings(&["a"]),
                },
                r#"[7,"t",1,true,["a"]]"#,
            ),
            (
                V1Message::Publish {
                    topic: "t".into(),
                    event: Payload::new(Value::from("x")),
                    exclude: Exclude::Sessions(strings(&["1", "2"])),
                    eligible: vec![],
                },
                r#"[7,"t","x",["1","2"],[]]"#,
            ),
            (
                V1Message::Event {
                    topic: "t".into(),
                    event: Payload::new(Value::Dict(Dict::new())),
                },
                r#"[8,"t",{}]"#,
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(encode(&msg), want, "{msg:?}");
        }
    }

    #[test]
    fn client_messages_round_trip() {
        let msgs = vec![
            V1Message::Prefix {
                prefix: "p".into(),
                uri: "http://x/y#".into(),
            },
            V1Message::Call {
                call_id: "id".into(),
                proc_uri: "p:add".into(),
                args: vec![Value::UInt(1), Value::from("two"), Value::Null],
            },
            sub("oro/ping"),
            V1Message::Unsubscribe {
                topic: "oro/ping".into(),
            },
            V1Message::Publish {
                topic: "t".into(),
                event: Payload::new(json(r#"{"a":[1,2.5,"é"]}"#)),
                exclude: Exclude::Me,
                eligible: strings(&["s1", "s2"]),
            },
            V1Message::Publish {
                topic: "t".into(),
                event: Payload::new(Value::Null),
                exclude: Exclude::Sessions(strings(&["s1"])),
                eligible: vec![],
            },
        ];
        for m in msgs {
            assert_eq!(dec(&encode(&m)), Ok(m.clone()), "{m:?}");
        }
    }

    #[test]
    fn server_only_types_rejected() {
        for frame in [
            r#"[0,"s",1,"x"]"#,
            r#"[3,"c",1]"#,
            r#"[4,"c","e","d"]"#,
            r#"[8,"t",1]"#,
            r#"[9,"t"]"#,
            r#"[-1,"t"]"#,
            r#"[-0,"t"]"#,
        ] {
            assert!(
                matches!(dec(frame), Err(V1Error::InvalidType(_))),
                "{frame}"
            );
        }
        assert_eq!(dec("[]"), Err(V1Error::InvalidType("missing".into())));
    }

    #[test]
    fn loose_type_comparison() {
        // Cross-checked with PHP 8.2 (`switch` over json_decode'd values).
        let subscribe = [
            r#"["5","t"]"#,
            r#"[5.0,"t"]"#,
            r#"[" 5","t"]"#,
            r#"["5 ","t"]"#,
            r#"["\n5","t"]"#,
            r#"["5.","t"]"#,
            r#"[".5e1","t"]"#,
            r#"["+5","t"]"#,
            r#"["05","t"]"#,
            r#"["5e0","t"]"#,
            r#"[5.0000000000000001,"t"]"#,
            r#"["5.0000000000000001","t"]"#,
        ];
        for f in subscribe {
            assert_eq!(dec(f), Ok(sub("t")), "{f}");
        }
        let invalid = [
            r#"["0x5","t"]"#,
            r#"["5abc","t"]"#,
            r#"[5.5,"t"]"#,
            r#"[[5],"t"]"#,
            r#"[{"a":5},"t"]"#,
            r#"["","t"]"#,
            r#"["\u00a05","t"]"#,
            r#"["5\u0000","t"]"#,
            r#"[false,"t"]"#,
            r#"[null,"t"]"#,
            r#"["1e1","t"]"#,
            r#"["inf","t"]"#,
            r#"["NaN","t"]"#,
            r#"["5e","t"]"#,
        ];
        for f in invalid {
            assert!(matches!(dec(f), Err(V1Error::InvalidType(_))), "{f}");
        }
        // true == 1 (PREFIX is the first case); 1e0 == 1.
        let prefix = V1Message::Prefix {
            prefix: "t".into(),
            uri: "u".into(),
        };
        assert_eq!(dec(r#"[true,"t","u"]"#), Ok(prefix.clone()));
        assert_eq!(dec(r#"[1e0,"t","u"]"#), Ok(prefix.clone()));
        assert_eq!(dec(r#"["1","t","u"]"#), Ok(prefix));
        assert!(matches!(
            dec(r#"["6.0","t"]"#),
            Ok(V1Message::Unsubscribe { .. })
        ));
        assert!(matches!(dec(r#"["7","t"]"#), Ok(V1Message::Publish { .. })));
        assert!(matches!(
            dec(r#"[2.0,"c","p"]"#),
            Ok(V1Message::Call { .. })
        ));
    }

    #[test]
    fn json_and_format_errors() {
        assert_eq!(dec("null"), Err(V1Error::InvalidJson));
        assert_eq!(dec(" null "), Err(V1Error::InvalidJson));
        assert_eq!(dec(""), Err(V1Error::InvalidJson));
        assert_eq!(dec("[5,"), Err(V1Error::InvalidJson));
        assert_eq!(dec(r#"[5,"t"]x"#), Err(V1Error::InvalidJson));
        assert_eq!(decode_client(b"[5,\"\xff\"]"), Err(V1Error::InvalidJson));
        assert_eq!(dec(r#"[5,"\ud800"]"#), Err(V1Error::InvalidJson));
        assert_eq!(dec(r#"[5,"t"] "#), Ok(sub("t")));
        for f in ["5", r#""x""#, "true", "1.5", r#"{"0":5,"1":"t"}"#, "{}"] {
            assert_eq!(dec(f), Err(V1Error::NotAList), "{f}");
        }
        assert_eq!(
            V1Error::InvalidJson.to_string(),
            "Syntax error, malformed JSON"
        );
        assert_eq!(V1Error::NotAList.to_string(), "Invalid WAMP message format");
        assert_eq!(
            V1Error::InvalidTopic.to_string(),
            "Invalid Topic, must be a string"
        );
        assert!(V1Error::InvalidType("9".into())
            .to_string()
            .starts_with("Invalid WAMP message type"));
    }

    #[test]
    fn topic_must_be_string_or_number() {
        for f in [
            r#"[5,true]"#,
            r#"[5,false]"#,
            r#"[5,[]]"#,
            r#"[5,{}]"#,
            r#"[5,["t"]]"#,
            // Checked before the type, like Ratchet.
            r#"[9,true]"#,
            r#"[7,{"a":1},1]"#,
        ] {
            assert_eq!(dec(f), Err(V1Error::InvalidTopic), "{f}");
        }
        // Numbers are topics in PHP's string form.
        assert_eq!(dec("[5,5]"), Ok(sub("5")));
        assert_eq!(dec("[5,-5]"), Ok(sub("-5")));
        assert_eq!(dec("[5,5.5]"), Ok(sub("5.5")));
        assert_eq!(dec("[5,5.0]"), Ok(sub("5")));
        assert_eq!(dec("[5,1e300]"), Ok(sub("1.0E+300")));
        assert_eq!(
            dec("[5,18446744073709551615]"),
            Ok(sub("1.844674407371E+19"))
        );
        // null passes Ratchet's check but is not a usable topic.
        assert!(matches!(dec("[5,null]"), Err(V1Error::Shape(_))));
        assert!(matches!(dec("[5]"), Err(V1Error::Shape(_))));
        assert!(matches!(dec("[6]"), Err(V1Error::Shape(_))));
        assert!(matches!(dec("[7]"), Err(V1Error::Shape(_))));
        // Extra elements are ignored.
        assert_eq!(dec(r#"[5,"t",1,2]"#), Ok(sub("t")));
        // Binary-convention strings survive as strings.
        assert_eq!(dec(r#"[5,"\u0000AAEC"]"#), Ok(sub("\0AAEC")));
    }

    #[test]
    fn prefix_decoding() {
        assert_eq!(
            dec(r#"[1,"calc","http://example.com/simple/calc#"]"#),
            Ok(V1Message::Prefix {
                prefix: "calc".into(),
                uri: "http://example.com/simple/calc#".into()
            })
        );
        assert_eq!(
            dec(r#"[1,7,8]"#),
            Ok(V1Message::Prefix {
                prefix: "7".into(),
                uri: "8".into()
            })
        );
        for f in [
            r#"[1,"p"]"#,
            r#"[1,"p",null]"#,
            r#"[1,"p",[]]"#,
            r#"[1,"p",true]"#,
        ] {
            assert!(matches!(dec(f), Err(V1Error::Shape(_))), "{f}");
        }
    }

    #[test]
    fn call_decoding() {
        let call = |id: &str, p: &str, args: Vec<Value>| V1Message::Call {
            call_id: id.into(),
            proc_uri: p.into(),
            args,
        };
        assert_eq!(
            dec(r#"[2,"id","proc",1,"a"]"#),
            Ok(call("id", "proc", vec![Value::UInt(1), Value::from("a")]))
        );
        // Exactly one list argument is spread.
        assert_eq!(
            dec(r#"[2,"id","proc",[1,2]]"#),
            Ok(call("id", "proc", vec![Value::UInt(1), Value::UInt(2)]))
        );
        assert_eq!(dec(r#"[2,"id","proc",[]]"#), Ok(call("id", "proc", vec![])));
        // Two lists are two arguments.
        assert_eq!(
            dec(r#"[2,"id","proc",[1],[2]]"#),
            Ok(call("id", "proc", vec![json("[1]"), json("[2]")]))
        );
        // A single object stays one argument (deviation, see module docs).
        assert_eq!(
            dec(r#"[2,"id","proc",{"a":1}]"#),
            Ok(call("id", "proc", vec![json(r#"{"a":1}"#)]))
        );
        assert_eq!(dec(r#"[2,"id","proc"]"#), Ok(call("id", "proc", vec![])));
        assert_eq!(dec(r#"[2,12,"proc"]"#), Ok(call("12", "proc", vec![])));
        for f in [
            r#"[2]"#,
            r#"[2,"id"]"#,
            r#"[2,"id",null]"#,
            r#"[2,"id",[]]"#,
            r#"[2,null,"p"]"#,
        ] {
            assert!(matches!(dec(f), Err(V1Error::Shape(_))), "{f}");
        }
    }

    #[test]
    fn publish_exclude_and_eligible_forms() {
        let publish = |exclude: Exclude, eligible: Vec<String>| V1Message::Publish {
            topic: "t".into(),
            event: Payload::new(Value::from("e")),
            exclude,
            eligible,
        };
        let cases: Vec<(&str, V1Message)> = vec![
            (r#"[7,"t","e"]"#, publish(Exclude::None, vec![])),
            (r#"[7,"t","e",true]"#, publish(Exclude::Me, vec![])),
            (r#"[7,"t","e",false]"#, publish(Exclude::None, vec![])),
            (r#"[7,"t","e",null]"#, publish(Exclude::None, vec![])),
            (r#"[7,"t","e",0]"#, publish(Exclude::None, vec![])),
            (r#"[7,"t","e",0.0]"#, publish(Exclude::None, vec![])),
            (r#"[7,"t","e",""]"#, publish(Exclude::None, vec![])),
            (r#"[7,"t","e","0"]"#, publish(Exclude::None, vec![])),
            (r#"[7,"t","e",1]"#, publish(Exclude::Me, vec![])),
            (r#"[7,"t","e","false"]"#, publish(Exclude::Me, vec![])),
            (r#"[7,"t","e","0.0"]"#, publish(Exclude::Me, vec![])),
            (
                r#"[7,"t","e",[]]"#,
                publish(Exclude::Sessions(vec![]), vec![]),
            ),
            (
                r#"[7,"t","e",["a","b"]]"#,
                publish(Exclude::Sessions(strings(&["a", "b"])), vec![]),
            ),
            (
                r#"[7,"t","e",[12,3.0,1.5,true,null,["x"]]]"#,
                publish(Exclude::Sessions(strings(&["12", "3", "1.5"])), vec![]),
            ),
            (
                r#"[7,"t","e",{"x":"a"}]"#,
                publish(Exclude::Sessions(strings(&["a"])), vec![]),
            ),
            (
                r#"[7,"t","e",[],["a"]]"#,
                publish(Exclude::Sessions(vec![]), strings(&["a"])),
            ),
            (
                r#"[7,"t","e",false,["a","b"]]"#,
                publish(Exclude::None, strings(&["a", "b"])),
            ),
            (r#"[7,"t","e",true,[]]"#, publish(Exclude::Me, vec![])),
            (
                r#"[7,"t","e",true,{"k":"a"}]"#,
                publish(Exclude::Me, strings(&["a"])),
            ),
        ];
        for (frame, want) in cases {
            assert_eq!(dec(frame), Ok(want), "{frame}");
        }
        // Missing event: PHP reads null (with a warning).
        assert_eq!(
            dec(r#"[7,"t"]"#),
            Ok(V1Message::Publish {
                topic: "t".into(),
                event: Payload::new(Value::Null),
                exclude: Exclude::None,
                eligible: vec![]
            })
        );
        // Non-array eligible would be a PHP TypeError.
        for f in [
            r#"[7,"t","e",[],null]"#,
            r#"[7,"t","e",[],"a"]"#,
            r#"[7,"t","e",[],true]"#,
        ] {
            assert!(matches!(dec(f), Err(V1Error::Shape(_))), "{f}");
        }
    }

    #[test]
    fn delivery_filter() {
        let none: Vec<String> = vec![];
        assert!(should_deliver(&Exclude::None, &none, "p", "p"));
        assert!(should_deliver(&Exclude::None, &none, "p", "s"));
        assert!(!should_deliver(&Exclude::Me, &none, "p", "p"));
        assert!(should_deliver(&Exclude::Me, &none, "p", "s"));
        let ex = Exclude::Sessions(strings(&["s"]));
        assert!(!should_deliver(&ex, &none, "p", "s"));
        assert!(should_deliver(&ex, &none, "p", "p"));
        let el = strings(&["a"]);
        assert!(should_deliver(&Exclude::None, &el, "p", "a"));
        assert!(!should_deliver(&Exclude::None, &el, "p", "b"));
        assert!(!should_deliver(
            &Exclude::Sessions(strings(&["a"])),
            &el,
            "p",
            "a"
        ));
    }

    #[test]
    fn php_escaping_in_frames() {
        let ev = V1Message::Event {
            topic: "oro/é".into(),
            event: Payload::new(json(r#"{"k/é":"😀"}"#)),
        };
        assert_eq!(
            encode(&ev),
            r#"[8,"oro\/\u00e9",{"k\/\u00e9":"\ud83d\ude00"}]"#
        );
        let m = dec(r#"[7,"t",{"s":"a/é😀\u0001","n":[5.0,1e17,0.00001]}]"#).expect("ok");
        let V1Message::Publish { event, .. } = m else {
            panic!("not a PUBLISH");
        };
        assert_eq!(
            encode_event("t", &event),
            r#"[8,"t",{"s":"a\/\u00e9\ud83d\ude00\u0001","n":[5,1.0e+17,1.0e-5]}]"#
        );
    }

    #[test]
    fn payload_key_order_is_preserved() {
        let frame = r#"[7,"t",{"z":1,"a":{"y":2,"b":[{"k":1,"c":2}]},"z":3}]"#;
        let V1Message::Publish { topic, event, .. } = dec(frame).expect("ok") else {
            panic!("not a PUBLISH");
        };
        // PHP: a repeated key keeps its first position and its last value.
        assert_eq!(
            event.php_json(),
            r#"{"z":3,"a":{"y":2,"b":[{"k":1,"c":2}]}}"#
        );
        assert_eq!(
            encode_event(&topic, &event),
            r#"[8,"t",{"z":3,"a":{"y":2,"b":[{"k":1,"c":2}]}}]"#
        );
        assert_eq!(
            encode(&V1Message::Event {
                topic: topic.clone(),
                event: event.clone()
            }),
            encode_event(&topic, &event)
        );
        // The value model sees the same data (keys sorted).
        assert_eq!(
            event.value(),
            &json(r#"{"a":{"b":[{"c":2,"k":1}],"y":2},"z":3}"#)
        );
        assert_eq!(
            to_php_json(event.value()),
            r#"{"a":{"b":[{"c":2,"k":1}],"y":2},"z":3}"#
        );
        // Payloads built from values use sorted keys.
        let p = Payload::from(json(r#"{"b":1,"a":2}"#));
        assert_eq!(p.php_json(), r#"{"a":2,"b":1}"#);
        assert_eq!(p.clone().into_value(), json(r#"{"a":2,"b":1}"#));
        // Binary-convention strings: Bin for v2, the original string for v1.
        let V1Message::Publish { event, .. } = dec(r#"[7,"t","\u0000AQID"]"#).expect("ok") else {
            panic!("not a PUBLISH");
        };
        assert_eq!(event.value(), &Value::Bin(vec![1, 2, 3]));
        assert_eq!(event.php_json(), r#""\u0000AQID""#);
    }

    #[test]
    fn curie_resolution() {
        let mut p = Prefixes::new();
        assert!(p.is_empty());
        assert!(p.set("calc", "http://example.com/simple/calc"));
        assert!(p.set("event", "http://example.com/event"));
        assert_eq!(p.len(), 2);
        assert_eq!(
            p.resolve("calc:square"),
            "http://example.com/simple/calc#square"
        );
        assert_eq!(p.resolve("event:a:b"), "http://example.com/event#a");
        assert_eq!(p.resolve("event:"), "http://example.com/event#");
        assert_eq!(p.resolve("unknown:x"), "unknown:x");
        assert_eq!(p.resolve("oro/data/update"), "oro/data/update");
        assert_eq!(p.resolve("calc"), "calc");
        // Anything containing http(s*):// is left alone, even a known prefix.
        assert!(p.set("http", "http://evil"));
        assert_eq!(p.resolve("http://example.com/x"), "http://example.com/x");
        assert_eq!(p.resolve("https://example.com/x"), "https://example.com/x");
        assert_eq!(p.resolve("calc:httpsss://x"), "calc:httpsss://x");
        assert_eq!(p.resolve("http:x"), "http://evil#x");
        // Case-sensitive regex: HTTP:// does not match, so the CURIE applies.
        assert!(p.set("HTTP", "H"));
        assert_eq!(p.resolve("HTTP://x"), "H#//x");
        // Redefinition replaces.
        assert!(p.set("calc", "urn:c"));
        assert_eq!(p.resolve("calc:sq"), "urn:c#sq");
        // Empty prefix.
        assert!(p.set("", "urn:empty"));
        assert_eq!(p.resolve(":x"), "urn:empty#x");
    }

    #[test]
    fn prefix_bounds() {
        let mut p = Prefixes::new();
        for i in 0..MAX_PREFIXES {
            assert!(p.set(&format!("p{i}"), "u"));
        }
        assert!(!p.set("one-too-many", "u"));
        assert_eq!(p.resolve("one-too-many:x"), "one-too-many:x");
        assert!(p.set("p0", "v"), "redefinition still allowed at capacity");
        assert_eq!(p.resolve("p0:x"), "v#x");
        let mut q = Prefixes::new();
        assert!(!q.set(&"x".repeat(MAX_PREFIX_LEN + 1), "u"));
        assert!(!q.set("x", &"u".repeat(MAX_PREFIX_URI_LEN + 1)));
        assert!(q.set(&"x".repeat(MAX_PREFIX_LEN), &"u".repeat(MAX_PREFIX_URI_LEN)));
    }

    #[test]
    fn bridging_table() {
        let x = Value::from("x");
        let y = Value::UInt(2);
        let mut kw = Dict::new();
        kw.insert("k".into(), Value::Bool(true));
        let empty = Dict::new();
        assert_eq!(bridge_v2_to_v1(&[], &empty), Value::Null);
        assert_eq!(bridge_v2_to_v1(std::slice::from_ref(&x), &empty), x);
        assert_eq!(
            bridge_v2_to_v1(&[x.clone(), y.clone()], &empty),
            Value::List(vec![x.clone(), y.clone()])
        );
        assert_eq!(bridge_v2_to_v1(&[], &kw), Value::Dict(kw.clone()));
        assert_eq!(
            to_php_json(&bridge_v2_to_v1(&[x.clone(), y], &kw)),
            r#"{"args":["x",2],"kwargs":{"k":true}}"#
        );
        // A single list argument stays a list (not spread).
        let l = json("[1,2]");
        assert_eq!(bridge_v2_to_v1(std::slice::from_ref(&l), &empty), l);
        // Binary → JSON binary convention for v1 subscribers.
        let bin = bridge_v2_to_v1(&[Value::Bin(vec![1, 2, 3])], &empty);
        assert_eq!(to_php_json(&bin), r#""\u0000AQID""#);

        assert_eq!(bridge_v1_to_v2(x.clone()), (vec![x.clone()], Dict::new()));
        assert_eq!(
            bridge_v1_to_v2(Value::Null),
            (vec![Value::Null], Dict::new())
        );
        let d = json(r#"{"args":[1]}"#);
        assert_eq!(bridge_v1_to_v2(d.clone()), (vec![d], Dict::new()));
        // v1 → v2 → v1 is the identity.
        for e in [x, Value::Null, json("[1,[2]]"), json(r#"{"a":1}"#)] {
            let (args, kwargs) = bridge_v1_to_v2(e.clone());
            assert_eq!(bridge_v2_to_v1(&args, &kwargs), e);
        }
    }

    #[test]
    fn numeric_string_grammar() {
        assert_eq!(php_numeric_string("5"), Some(5.0));
        assert_eq!(php_numeric_string(" \t\n\r\u{0B}\u{0C}5 \t"), Some(5.0));
        assert_eq!(php_numeric_string("-.5"), Some(-0.5));
        assert_eq!(php_numeric_string("5.e1"), Some(50.0));
        assert_eq!(php_numeric_string("5E+1"), Some(50.0));
        assert_eq!(php_numeric_string("."), None);
        assert_eq!(php_numeric_string("+"), None);
        assert_eq!(php_numeric_string(""), None);
        assert_eq!(php_numeric_string("5 5"), None);
        assert_eq!(php_numeric_string("infinity"), None);
        assert_eq!(php_numeric_string("1_000"), None);
    }

    #[test]
    fn random_input_never_panics() {
        // Deterministic xorshift so failures are reproducible.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"[]{}\",:0123456789.-+eEtruefalsn \\/u\x00\xff";
        for round in 0..20_000 {
            let len = (next() % 48) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if round % 2 == 0 {
                        alphabet[(r % alphabet.len() as u64) as usize]
                    } else {
                        r as u8
                    }
                })
                .collect();
            if let Ok(m) = decode_client(&bytes) {
                let _ = encode(&m);
            }
        }
        // Structured near-misses around real frames.
        let base = br#"[7,"oro\/data\/update",[{"username":"admin"}],[],[]]"#;
        for i in 0..base.len() {
            for b in [b'[', b']', b'"', b'1', b'x', 0u8] {
                let mut m = base.to_vec();
                m[i] = b;
                if let Ok(msg) = decode_client(&m) {
                    let _ = encode(&msg);
                }
                let mut t = base.to_vec();
                t.truncate(i);
                let _ = decode_client(&t);
            }
        }
    }
}
