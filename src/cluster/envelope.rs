//! The wire format of a publication crossing the backplane: one MessagePack array, encoded
//! once per publish on the publishing node and decoded once per node that receives it.
//!
//! ```text
//! [ 1,                      version: a node drops envelopes of a version it does not know
//!   node,                   the originating node's random ID (a node skips its own envelopes)
//!   realm, topic,           strings
//!   publication,            the publication ID the publisher got in PUBLISHED
//!   publisher,              the publisher's session ID (exclude_me, v1 "exclude me")
//!   authid | nil,           the publisher's authid and authrole, only when disclose_me
//!   authrole | nil,
//!   options,                PUBLISH.Options as validated on the publishing node: exclude,
//!                           eligible and their _authid/_authrole forms, exclude_me, disclose_me
//!   args, kwargs,           the payload
//!   v1 JSON text | nil ]    a WAMP v1 publisher's payload exactly as sent, so v1 subscribers on
//!                           other nodes get the same bytes (key order included)
//! ```
//!
//! The far side re-parses `options` with the same [`PublishOptions::parse`] the publishing node
//! used, so listing semantics cannot drift between the two ends. MessagePack keeps binary
//! payloads binary and integers exact.

use std::sync::Arc;

use bytes::Bytes;

use crate::router::backplane::{Incoming, Outgoing};
use crate::router::publish_options::PublishOptions;
use wampd_proto::wamp::codec::{self, msgpack_writer as w};
use wampd_proto::wamp::v1::Payload;
use wampd_proto::wamp::{Serializer, Value};

/// The only envelope version this build writes and reads.
pub const VERSION: u64 = 1;

impl Outgoing<'_> {
    /// Encodes the envelope, stamped with the sending node's ID.
    pub fn encode(&self, node: u64) -> Bytes {
        let mut out = Vec::with_capacity(128);
        w::array_len(&mut out, 12);
        w::uint(&mut out, VERSION);
        w::uint(&mut out, node);
        w::str(&mut out, self.realm);
        w::str(&mut out, self.topic);
        w::uint(&mut out, self.publication);
        w::uint(&mut out, self.publisher.id);
        if self.parsed.disclose_me {
            w::str(&mut out, self.publisher.authid);
            w::str(&mut out, self.publisher.authrole);
        } else {
            w::nil(&mut out);
            w::nil(&mut out);
        }
        // acknowledge only concerns the publishing node; every other option travels as given.
        if self.options.contains_key("acknowledge") {
            let mut options = self.options.clone();
            options.remove("acknowledge");
            w::dict(&mut out, &options);
        } else {
            w::dict(&mut out, self.options);
        }
        w::list(&mut out, self.args);
        w::dict(&mut out, self.kwargs);
        match self.v1_payload {
            Some(payload) => w::str(&mut out, payload.php_json()),
            None => w::nil(&mut out),
        }
        Bytes::from(out)
    }
}

/// Why an envelope could not be read (counted, logged at debug, never fatal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not MessagePack, or not an array of the expected shape.
    #[error("malformed cluster envelope: {0}")]
    Malformed(&'static str),
    /// Written by a build with another envelope version.
    #[error("cluster envelope version {0} is not supported (this node reads version {VERSION})")]
    Version(u64),
}

/// The elements after the version of any backplane message (publication, call or procedure
/// list): a MessagePack array whose first element is [`VERSION`].
pub(super) fn open(data: &[u8]) -> Result<std::vec::IntoIter<Value>, EnvelopeError> {
    use EnvelopeError::Malformed;
    let value =
        codec::decode_value(Serializer::MsgPack, data).map_err(|_| Malformed("not MessagePack"))?;
    let Value::List(items) = value else {
        return Err(Malformed("not an array"));
    };
    let mut items = items.into_iter();
    let version = items
        .next()
        .and_then(|v| v.as_u64())
        .ok_or(Malformed("no version"))?;
    if version != VERSION {
        return Err(EnvelopeError::Version(version));
    }
    Ok(items)
}

impl Incoming {
    /// Decodes an envelope.
    pub fn decode(data: &[u8]) -> Result<Incoming, EnvelopeError> {
        use EnvelopeError::Malformed;
        let mut items = open(data)?;
        let mut next = || items.next().ok_or(Malformed("too few elements"));
        let uint = |v: Value, what| v.as_u64().ok_or(Malformed(what));
        let string = |v: Value, what| match v {
            Value::Str(s) => Ok(s),
            _ => Err(Malformed(what)),
        };
        let optional = |v: Value, what| match v {
            Value::Null => Ok(None),
            Value::Str(s) => Ok(Some(s)),
            _ => Err(Malformed(what)),
        };
        let node = uint(next()?, "node")?;
        let realm = string(next()?, "realm")?;
        let topic = string(next()?, "topic")?;
        let publication = uint(next()?, "publication")?;
        let publisher = uint(next()?, "publisher")?;
        let authid = optional(next()?, "authid")?;
        let authrole = optional(next()?, "authrole")?;
        let Value::Dict(options) = next()? else {
            return Err(Malformed("options"));
        };
        let options = PublishOptions::parse(&options).map_err(|_| Malformed("options"))?;
        let Value::List(args) = next()? else {
            return Err(Malformed("args"));
        };
        let Value::Dict(kwargs) = next()? else {
            return Err(Malformed("kwargs"));
        };
        let v1_payload = match optional(next()?, "v1 payload")? {
            None => None,
            Some(text) => Some(Payload::from_php_json(&text).ok_or(Malformed("v1 payload"))?),
        };
        Ok(Incoming {
            node,
            realm,
            topic,
            publication,
            publisher,
            authid,
            authrole,
            options,
            args,
            kwargs,
            v1_payload,
            sequenced: None,
        })
    }
}

/// A sequenced publication as the sequencing script PUBLISHes it: `H<epoch>:<offset>:` and the
/// envelope. `H` (0x48) is a MessagePack integer, so it can never start a plain envelope.
pub fn split_sequenced(message: &[u8]) -> Option<(&str, u64, &[u8])> {
    let rest = message.strip_prefix(b"H")?;
    let colon = rest.iter().position(|&b| b == b':')?;
    let epoch = std::str::from_utf8(&rest[..colon]).ok()?;
    let rest = &rest[colon + 1..];
    let colon = rest.iter().position(|&b| b == b':')?;
    let offset = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
    Some((epoch, offset, &rest[colon + 1..]))
}

/// How a queued envelope is to be sent.
#[derive(Debug, Clone)]
pub enum Route {
    /// PUBLISHed to the realm's channel as it is.
    Publish,
    /// Numbered in `topic`'s shared history stream (at most `size` entries, the keys expiring
    /// `ttl_secs` after the last publication, 0: never), then PUBLISHed with its position.
    Sequence {
        /// The concrete topic.
        topic: Arc<str>,
        /// The stream's length bound.
        size: usize,
        /// The stream's idle lifetime, 0 for none.
        ttl_secs: u64,
    },
    /// A message of a call between nodes, PUBLISHed to the channel of the node it is for.
    Node(u64),
    /// This node's procedures changed: stored and announced (the bytes are empty; the
    /// publisher reads the current set when it sends).
    Procedures,
}

/// An encoded envelope and the realm channel it goes to, as queued for the publisher task.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The realm (the channel is derived from it).
    pub realm: Arc<str>,
    /// The encoded envelope.
    pub bytes: Bytes,
    /// Published as is, or sequenced first.
    pub route: Route,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequenced_message_carries_its_position_before_the_envelope() {
        assert_eq!(
            split_sequenced(b"H1f3a:42:\x9c\x01"),
            Some(("1f3a", 42, &b"\x9c\x01"[..]))
        );
        assert_eq!(split_sequenced(b"\x9c\x01"), None, "a plain envelope");
        assert_eq!(split_sequenced(b"Hepoch:x:"), None, "offset not a number");
        assert_eq!(split_sequenced(b"Hepoch"), None);
    }
    use crate::router::broker::Publisher;
    use wampd_proto::wamp::Dict;

    fn options(pairs: Vec<(&str, Value)>) -> Dict {
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let raw = options(vec![
            ("acknowledge", Value::Bool(true)),
            ("exclude_me", Value::Bool(false)),
            ("disclose_me", Value::Bool(true)),
            ("exclude", Value::List(vec![Value::UInt(5)])),
            ("eligible_authid", Value::List(vec![Value::from("alice")])),
        ]);
        let parsed = PublishOptions::parse(&raw).expect("valid options");
        let args = vec![
            Value::from("hi"),
            Value::Bin(vec![0, 1, 255]),
            Value::Int(-3),
        ];
        let mut kwargs = Dict::new();
        kwargs.insert("n".into(), Value::Float(1.5));
        let v1 = Payload::from_php_json(r#"{"b":1,"a":[true,null]}"#).expect("json");
        let out = Outgoing {
            realm: "realm1",
            topic: "com.example.t",
            publication: 42,
            publisher: Publisher {
                id: 7,
                authid: "bob",
                authrole: "backend",
            },
            options: &raw,
            parsed: &parsed,
            args: &args,
            kwargs: &kwargs,
            v1_payload: Some(&v1),
        };
        let got = Incoming::decode(&out.encode(99)).expect("decodes");
        assert_eq!(got.node, 99);
        assert_eq!(got.realm, "realm1");
        assert_eq!(got.topic, "com.example.t");
        assert_eq!(got.publication, 42);
        assert_eq!(got.publisher, 7);
        assert_eq!(got.authid.as_deref(), Some("bob"));
        assert_eq!(got.authrole.as_deref(), Some("backend"));
        assert!(
            !got.options.acknowledge,
            "acknowledge stays on the publishing node"
        );
        assert!(!got.options.exclude_me);
        assert!(got.options.exclude.contains(&5));
        assert_eq!(
            got.options.eligible_authid.as_ref().map(|s| s.len()),
            Some(1)
        );
        assert_eq!(got.args, args);
        assert_eq!(got.kwargs, kwargs);
        assert_eq!(
            got.v1_payload.as_ref().map(|p| p.php_json()),
            Some(r#"{"b":1,"a":[true,null]}"#)
        );
    }

    #[test]
    fn identity_travels_only_when_disclosed() {
        let raw = Dict::new();
        let parsed = PublishOptions::parse(&raw).expect("valid options");
        let out = Outgoing {
            realm: "r",
            topic: "t",
            publication: 1,
            publisher: Publisher {
                id: 3,
                authid: "secret-user",
                authrole: "user",
            },
            options: &raw,
            parsed: &parsed,
            args: &[],
            kwargs: &Dict::new(),
            v1_payload: None,
        };
        let bytes = out.encode(1);
        assert!(!bytes.windows(11).any(|w| w == b"secret-user"));
        let got = Incoming::decode(&bytes).expect("decodes");
        assert_eq!(got.authid, None);
        assert!(got.options.exclude_me);
        assert_eq!(got.v1_payload, None);
    }

    #[test]
    fn garbage_and_other_versions_are_refused() {
        assert!(matches!(
            Incoming::decode(b"\xc1"),
            Err(EnvelopeError::Malformed(_))
        ));
        let mut two = Vec::new();
        w::array_len(&mut two, 2);
        w::uint(&mut two, 2);
        w::uint(&mut two, 1);
        assert_eq!(Incoming::decode(&two), Err(EnvelopeError::Version(2)));
        let mut short = Vec::new();
        w::array_len(&mut short, 3);
        w::uint(&mut short, VERSION);
        w::uint(&mut short, 1);
        w::str(&mut short, "realm1");
        assert!(matches!(
            Incoming::decode(&short),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}
