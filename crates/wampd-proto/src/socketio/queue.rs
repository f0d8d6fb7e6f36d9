//! The python-socketio / Flask-SocketIO Redis message queue, as an emitter writes it.
//!
//! `SocketIO(message_queue="redis://…").emit(event, data, room=…, namespace=…)` publishes on the
//! channel `flask-socketio` (plain python-socketio: `socketio`) a dict `{"method": "emit", "event",
//! "data", "namespace", "room", "skip_sid", "callback", "host_id"}`. python-socketio before 5.14
//! pickles it; 5.14 and later write JSON. The shape of `data` changed too: before 5.14.2 it is the
//! one argument itself or a tuple of several; from 5.14.2 always the list of arguments, with
//! `"binary": true` when the arguments held bytes (then `data` is `[arguments with placeholders,
//! base64 of attachment 0, …]`). Both encodings and all shapes are read here; a first byte `0x80`
//! means pickle ([`super::pickle`], which never runs code).

use base64::Engine as _;

use super::pickle::{self, Tree};
use crate::wamp::codec;
use crate::wamp::{Serializer, Value};

/// Most rooms or skipped sids one message may name.
pub const MAX_TARGETS: usize = 1024;

/// A message from the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueMessage {
    /// Emit an event.
    Emit(Emit),
    /// Any other method (`disconnect`, `enter_room`, `leave_room`, `close_room`, `callback`):
    /// about sockets of another server, so a wampd node has nothing to do.
    Other(String),
}

/// An emit from the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Emit {
    /// The event name.
    pub event: String,
    /// Its arguments.
    pub args: Vec<Value>,
    /// The namespace (`/` when not given).
    pub namespace: String,
    /// The rooms it goes to; `None` = the whole namespace.
    pub rooms: Option<Vec<String>>,
    /// Socket ids that must not receive it.
    pub skip_sids: Vec<String>,
}

/// Why a queue message was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// Neither JSON nor a data-only pickle.
    #[error("not a python-socketio message: {0}")]
    Encoding(String),
    /// A field is missing or has the wrong type.
    #[error("invalid python-socketio message: {0}")]
    Field(&'static str),
}

/// Which encoding a message used, for the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// python-socketio before 5.14.
    Pickle,
    /// python-socketio 5.14 and later.
    Json,
}

/// Reads one message published on the queue channel.
pub fn decode(payload: &[u8]) -> Result<(QueueMessage, Encoding), QueueError> {
    if payload.first() == Some(&0x80) {
        let tree = pickle::decode_tree(payload).map_err(|e| QueueError::Encoding(e.to_string()))?;
        return from_tree(tree).map(|m| (m, Encoding::Pickle));
    }
    let value = codec::decode_value(Serializer::Json, payload)
        .map_err(|e| QueueError::Encoding(e.to_string()))?;
    from_json(value).map(|m| (m, Encoding::Json))
}

fn text(value: Option<&Value>, field: &'static str) -> Result<Option<String>, QueueError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(_) => Err(QueueError::Field(field)),
    }
}

/// `room` / `skip_sid`: a string, a list of strings, or nothing.
fn targets(value: Option<&Value>, field: &'static str) -> Result<Option<Vec<String>>, QueueError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::List(list)) if list.len() <= MAX_TARGETS => list
            .iter()
            .map(|v| match v {
                Value::Str(s) => Ok(s.clone()),
                _ => Err(QueueError::Field(field)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(QueueError::Field(field)),
    }
}

fn message(fields: &crate::wamp::Dict, args: Vec<Value>) -> Result<QueueMessage, QueueError> {
    let method = text(fields.get("method"), "method")?.ok_or(QueueError::Field("method"))?;
    if method != "emit" {
        return Ok(QueueMessage::Other(method));
    }
    Ok(QueueMessage::Emit(Emit {
        event: text(fields.get("event"), "event")?.ok_or(QueueError::Field("event"))?,
        args,
        namespace: text(fields.get("namespace"), "namespace")?.unwrap_or_else(|| "/".into()),
        rooms: targets(fields.get("room"), "room")?,
        skip_sids: targets(fields.get("skip_sid"), "skip_sid")?.unwrap_or_default(),
    }))
}

fn from_tree(tree: Tree) -> Result<QueueMessage, QueueError> {
    // Before 5.14.2: a tuple is several arguments, anything else the one argument.
    let args = match tree.get("data") {
        None => Vec::new(),
        Some(Tree::Tuple(items)) => items.iter().cloned().map(Tree::into_value).collect(),
        Some(other) => vec![other.clone().into_value()],
    };
    let Value::Dict(fields) = tree.into_value() else {
        return Err(QueueError::Field("message"));
    };
    message(&fields, args)
}

fn from_json(value: Value) -> Result<QueueMessage, QueueError> {
    let Value::Dict(fields) = value else {
        return Err(QueueError::Field("message"));
    };
    let binary = matches!(fields.get("binary"), Some(Value::Bool(true)));
    let args = match fields.get("data") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::List(list)) if binary => binary_args(list)?,
        // 5.14.2 and later: the list of arguments (5.14.0/5.14.1 wrote a tuple of several the
        // same way; a single list argument of those two versions reads as its elements).
        Some(Value::List(list)) => list.clone(),
        Some(other) => vec![other.clone()],
    };
    message(&fields, args)
}

/// `[arguments with placeholders, base64 attachment 0, …]` back into the arguments.
fn binary_args(list: &[Value]) -> Result<Vec<Value>, QueueError> {
    let (first, attachments) = list.split_first().ok_or(QueueError::Field("data"))?;
    let attachments = attachments
        .iter()
        .map(|a| match a {
            Value::Str(s) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| QueueError::Field("data")),
            Value::Bin(b) => Ok(b.clone()),
            _ => Err(QueueError::Field("data")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut packet = super::packet::Packet {
        kind: super::packet::Kind::Event,
        namespace: "/".into(),
        id: None,
        attachments: attachments.len(),
        data: Some(first.clone()),
    };
    packet
        .fill_attachments(&attachments)
        .map_err(|_| QueueError::Field("data"))?;
    match packet.data {
        Some(Value::List(args)) => Ok(args),
        _ => Err(QueueError::Field("data")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_emits_of_5_14_and_later_read_with_their_targets() {
        let (m, enc) = decode(
            br#"{"method":"emit","event":"update","data":[{"time":1},2],"namespace":"/ws","room":"r1","skip_sid":["s1","s2"],"callback":null,"host_id":"ab","binary":false}"#,
        )
        .expect("valid");
        assert_eq!(enc, Encoding::Json);
        let QueueMessage::Emit(e) = m else {
            panic!("emit")
        };
        assert_eq!(e.event, "update");
        assert_eq!(e.args.len(), 2);
        assert_eq!(e.namespace, "/ws");
        assert_eq!(e.rooms, Some(vec!["r1".to_string()]));
        assert_eq!(e.skip_sids, vec!["s1".to_string(), "s2".to_string()]);
    }

    #[test]
    fn binary_json_emits_get_their_attachments_back() {
        let (m, _) = decode(
            br#"{"method":"emit","event":"file","data":[[{"_placeholder":true,"num":0}],"AQI="],"binary":true,"namespace":"/","room":null,"skip_sid":null}"#,
        )
        .expect("valid");
        let QueueMessage::Emit(e) = m else {
            panic!("emit")
        };
        assert_eq!(e.args, vec![Value::Bin(vec![1, 2])]);
        assert_eq!(e.rooms, None);
    }

    #[test]
    fn pickled_emits_tell_one_argument_from_several() {
        // pickle.dumps({'method':'emit','event':'e','data':(1, 'x'),'namespace':'/','room':None,
        //               'skip_sid':None,'callback':None,'host_id':'h'}, protocol=2)
        let several = b"\x80\x02}q\x00(X\x06\x00\x00\x00methodq\x01X\x04\x00\x00\x00emitq\x02X\x05\x00\x00\x00eventq\x03X\x01\x00\x00\x00eq\x04X\x04\x00\x00\x00dataq\x05K\x01X\x01\x00\x00\x00xq\x06\x86q\x07X\t\x00\x00\x00namespaceq\x08X\x01\x00\x00\x00/q\tX\x04\x00\x00\x00roomq\nNX\x08\x00\x00\x00skip_sidq\x0bNX\x08\x00\x00\x00callbackq\x0cNX\x07\x00\x00\x00host_idq\rX\x01\x00\x00\x00hq\x0eu.";
        let (m, enc) = decode(several).expect("valid");
        assert_eq!(enc, Encoding::Pickle);
        let QueueMessage::Emit(e) = m else {
            panic!("emit")
        };
        assert_eq!(e.args, vec![Value::UInt(1), Value::Str("x".into())]);
        // The same with 'data': [1, 'x'] (one list argument).
        let one = b"\x80\x02}q\x00(X\x06\x00\x00\x00methodq\x01X\x04\x00\x00\x00emitq\x02X\x05\x00\x00\x00eventq\x03X\x01\x00\x00\x00eq\x04X\x04\x00\x00\x00dataq\x05]q\x06(K\x01X\x01\x00\x00\x00xq\x07eX\t\x00\x00\x00namespaceq\x08X\x01\x00\x00\x00/q\tX\x04\x00\x00\x00roomq\nNX\x08\x00\x00\x00skip_sidq\x0bNX\x08\x00\x00\x00callbackq\x0cNX\x07\x00\x00\x00host_idq\rX\x01\x00\x00\x00hq\x0eu.";
        let (m, _) = decode(one).expect("valid");
        let QueueMessage::Emit(e) = m else {
            panic!("emit")
        };
        assert_eq!(
            e.args,
            vec![Value::List(vec![Value::UInt(1), Value::Str("x".into())])]
        );
    }

    #[test]
    fn other_methods_and_bad_messages() {
        let (m, _) = decode(br#"{"method":"enter_room","sid":"s","room":"r","namespace":"/"}"#)
            .expect("valid");
        assert_eq!(m, QueueMessage::Other("enter_room".into()));
        for bad in [
            &b"not json"[..],
            b"[1]",
            br#"{"event":"e"}"#,
            br#"{"method":"emit"}"#,
            br#"{"method":"emit","event":"e","room":5}"#,
            b"\x80\x04cos\nsystem\n.",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
