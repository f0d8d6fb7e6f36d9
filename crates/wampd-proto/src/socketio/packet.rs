//! Socket.IO protocol 5 packets (socket.io-client 3.x and 4.x, python-socketio 5), as bytes.
//!
//! A packet is `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`: `2["chat","hi"]` is an
//! EVENT on the main namespace, `2/ws,7["echo",1]` one on `/ws` that wants ACK 7, and
//! `51-["file",{"_placeholder":true,"num":0}]` a BINARY_EVENT whose one attachment follows as a
//! binary Engine.IO message. Decoding checks what socket.io-parser checks (the payload's shape for
//! each type) and bounds what a client chooses: the namespace and event name lengths, the
//! attachment count, and (through the JSON decoder) nesting depth.

use crate::wamp::codec;
use crate::wamp::{Serializer, Value};

/// Longest namespace accepted, in bytes.
pub const MAX_NAMESPACE: usize = 256;
/// Longest event name accepted, in bytes.
pub const MAX_EVENT_NAME: usize = 256;
/// Most binary attachments one packet may announce.
pub const MAX_ATTACHMENTS: usize = 16;

/// The packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `0`: join a namespace (client) / joined (server, with the socket id).
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2`: an event.
    Event,
    /// `3`: the answer to an event that asked for one.
    Ack,
    /// `4`: a refused CONNECT (server only).
    ConnectError,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an ACK with binary attachments.
    BinaryAck,
}

impl Kind {
    fn from_digit(c: char) -> Option<Kind> {
        Some(match c {
            '0' => Kind::Connect,
            '1' => Kind::Disconnect,
            '2' => Kind::Event,
            '3' => Kind::Ack,
            '4' => Kind::ConnectError,
            '5' => Kind::BinaryEvent,
            '6' => Kind::BinaryAck,
            _ => return None,
        })
    }

    fn is_binary(self) -> bool {
        matches!(self, Kind::BinaryEvent | Kind::BinaryAck)
    }
}

/// A decoded packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Its type.
    pub kind: Kind,
    /// Its namespace (`/` when none was written).
    pub namespace: String,
    /// The ack id, when the sender wants an answer (EVENT) or answers (ACK).
    pub id: Option<u64>,
    /// How many binary attachments follow (binary types only).
    pub attachments: usize,
    /// The JSON payload, if any.
    pub data: Option<Value>,
}

/// Why a packet was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Not a packet type digit.
    #[error("unknown Socket.IO packet type")]
    Type,
    /// A namespace, event name, ack id or attachment count out of bounds or malformed.
    #[error("malformed Socket.IO packet: {0}")]
    Malformed(&'static str),
    /// The JSON payload does not decode.
    #[error("invalid JSON in a Socket.IO packet: {0}")]
    Json(String),
    /// The payload's shape is wrong for the type (an EVENT that is not `["name", …]`).
    #[error("invalid payload for a Socket.IO {0:?} packet")]
    Payload(Kind),
}

/// Reads one packet from a text message.
pub fn decode(text: &str) -> Result<Packet, PacketError> {
    let mut rest = text;
    let kind = rest
        .chars()
        .next()
        .and_then(Kind::from_digit)
        .ok_or(PacketError::Type)?;
    rest = &rest[1..];
    let mut attachments = 0;
    if kind.is_binary() {
        let dash = rest
            .find('-')
            .ok_or(PacketError::Malformed("no attachment count"))?;
        attachments = rest[..dash]
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_ATTACHMENTS)
            .ok_or(PacketError::Malformed("attachment count"))?;
        rest = &rest[dash + 1..];
    }
    let mut namespace = String::from("/");
    if rest.starts_with('/') {
        let end = rest.find(',').unwrap_or(rest.len());
        if end > MAX_NAMESPACE {
            return Err(PacketError::Malformed("namespace too long"));
        }
        namespace = rest[..end].to_string();
        rest = rest.get(end + 1..).unwrap_or("");
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id = if digits == 0 {
        None
    } else {
        Some(
            rest[..digits]
                .parse::<u64>()
                .ok()
                .filter(|id| *id < 1 << 53)
                .ok_or(PacketError::Malformed("ack id"))?,
        )
    };
    rest = &rest[digits..];
    let data = if rest.is_empty() {
        None
    } else {
        Some(
            codec::decode_value(Serializer::Json, rest.as_bytes())
                .map_err(|e| PacketError::Json(e.to_string()))?,
        )
    };
    let valid = match (kind, &data) {
        (Kind::Connect, None | Some(Value::Dict(_))) => true,
        (Kind::Disconnect, None) => true,
        (Kind::ConnectError, Some(Value::Str(_) | Value::Dict(_))) => true,
        (Kind::Event | Kind::BinaryEvent, Some(Value::List(list))) => match list.first() {
            Some(Value::Str(name)) => name.len() <= MAX_EVENT_NAME,
            _ => false,
        },
        (Kind::Ack | Kind::BinaryAck, Some(Value::List(_))) => id.is_some(),
        _ => false,
    };
    if !valid {
        return Err(PacketError::Payload(kind));
    }
    Ok(Packet {
        kind,
        namespace,
        id,
        attachments,
        data,
    })
}

impl Packet {
    /// The event name and arguments of an EVENT (`None` for other types).
    pub fn event(&self) -> Option<(&str, &[Value])> {
        match (&self.kind, &self.data) {
            (Kind::Event | Kind::BinaryEvent, Some(Value::List(list))) => {
                match list.split_first() {
                    Some((Value::Str(name), args)) => Some((name, args)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Replaces the `{"_placeholder":true,"num":i}` objects with the attachments, once they all
    /// arrived. `Err` when a placeholder names an attachment that does not exist.
    pub fn fill_attachments(&mut self, attachments: &[Vec<u8>]) -> Result<(), PacketError> {
        if let Some(data) = &mut self.data {
            fill(data, attachments, 0)?;
        }
        Ok(())
    }
}

fn fill(value: &mut Value, attachments: &[Vec<u8>], depth: usize) -> Result<(), PacketError> {
    if depth > 64 {
        return Err(PacketError::Malformed("nesting"));
    }
    match value {
        Value::Dict(d) if d.get("_placeholder") == Some(&Value::Bool(true)) => {
            let num = match d.get("num") {
                Some(Value::UInt(n)) => usize::try_from(*n).ok(),
                _ => None,
            };
            let bytes = num
                .and_then(|n| attachments.get(n))
                .ok_or(PacketError::Malformed("placeholder"))?;
            *value = Value::Bin(bytes.clone());
        }
        Value::Dict(d) => {
            for v in d.values_mut() {
                fill(v, attachments, depth + 1)?;
            }
        }
        Value::List(l) => {
            for v in l {
                fill(v, attachments, depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// An encoded packet: its text and the binary attachments that follow it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoded {
    /// The text message.
    pub text: String,
    /// Attachments, each sent as its own binary message after the text.
    pub attachments: Vec<Vec<u8>>,
}

fn namespace_prefix(out: &mut String, namespace: &str) {
    if namespace != "/" {
        out.push_str(namespace);
        out.push(',');
    }
}

/// Moves every binary value of `value` into `attachments`, leaving placeholders.
fn deconstruct(value: &Value, attachments: &mut Vec<Vec<u8>>) -> Value {
    match value {
        Value::Bin(bytes) => {
            let mut d = crate::wamp::Dict::new();
            d.insert("_placeholder".into(), Value::Bool(true));
            d.insert("num".into(), Value::UInt(attachments.len() as u64));
            attachments.push(bytes.clone());
            Value::Dict(d)
        }
        Value::List(l) => Value::List(l.iter().map(|v| deconstruct(v, attachments)).collect()),
        Value::Dict(d) => Value::Dict(
            d.iter()
                .map(|(k, v)| (k.clone(), deconstruct(v, attachments)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn has_binary(value: &Value) -> bool {
    match value {
        Value::Bin(_) => true,
        Value::List(l) => l.iter().any(has_binary),
        Value::Dict(d) => d.values().any(has_binary),
        _ => false,
    }
}

/// An EVENT (or ACK, with `ack`) whose payload is `list`, binary values sent as attachments.
fn with_payload(
    kind: char,
    binary_kind: char,
    namespace: &str,
    id: Option<u64>,
    list: Value,
) -> Encoded {
    let mut attachments = Vec::new();
    let payload = if has_binary(&list) {
        deconstruct(&list, &mut attachments)
    } else {
        list
    };
    let json = codec::encode_value(Serializer::Json, &payload);
    let mut text = String::with_capacity(json.len() + namespace.len() + 8);
    if attachments.is_empty() {
        text.push(kind);
    } else {
        text.push(binary_kind);
        text.push_str(&attachments.len().to_string());
        text.push('-');
    }
    namespace_prefix(&mut text, namespace);
    if let Some(id) = id {
        text.push_str(&id.to_string());
    }
    text.push_str(&String::from_utf8_lossy(&json));
    Encoded { text, attachments }
}

/// An EVENT `name(args…)` on `namespace`.
pub fn event(namespace: &str, name: &str, args: &[Value]) -> Encoded {
    let mut list = Vec::with_capacity(args.len() + 1);
    list.push(Value::Str(name.to_owned()));
    list.extend_from_slice(args);
    with_payload('2', '5', namespace, None, Value::List(list))
}

/// The ACK `id` with `args`.
pub fn ack(namespace: &str, id: u64, args: &[Value]) -> Encoded {
    with_payload('3', '6', namespace, Some(id), Value::List(args.to_vec()))
}

/// The server's answer to a CONNECT: the socket id.
pub fn connected(namespace: &str, sid: &str) -> String {
    let mut text = String::from("0");
    namespace_prefix(&mut text, namespace);
    text.push_str(&serde_json::json!({ "sid": sid }).to_string());
    text
}

/// A refused CONNECT.
pub fn connect_error(namespace: &str, message: &str) -> String {
    let mut text = String::from("4");
    namespace_prefix(&mut text, namespace);
    text.push_str(&serde_json::json!({ "message": message }).to_string());
    text
}

/// The server leaving a namespace.
pub fn disconnect(namespace: &str) -> String {
    let mut text = String::from("1");
    namespace_prefix(&mut text, namespace);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_of_every_shape_decode() {
        let p = decode(r#"2["join",{"room":"r1"}]"#).expect("event");
        assert_eq!(p.namespace, "/");
        assert_eq!(p.event().map(|(n, a)| (n, a.len())), Some(("join", 1)));
        let p = decode(r#"2/ws,7["echo",1]"#).expect("event with ack");
        assert_eq!((p.namespace.as_str(), p.id), ("/ws", Some(7)));
        let p = decode("0/ws,").expect("connect");
        assert_eq!(
            (p.kind, p.namespace.as_str(), p.data),
            (Kind::Connect, "/ws", None)
        );
        let p = decode(r#"0{"token":"x"}"#).expect("connect with auth");
        assert!(matches!(p.data, Some(Value::Dict(_))));
        assert_eq!(decode("1/ws,").expect("disconnect").kind, Kind::Disconnect);
        assert_eq!(
            decode("0/ws").expect("namespace to the end").namespace,
            "/ws"
        );
        let p = decode(r#"3/ws,12["ok"]"#).expect("ack");
        assert_eq!((p.kind, p.id), (Kind::Ack, Some(12)));
    }

    #[test]
    fn binary_events_are_filled_from_their_attachments() {
        let mut p = decode(r#"51-["file",{"_placeholder":true,"num":0}]"#).expect("binary");
        assert_eq!(p.attachments, 1);
        p.fill_attachments(&[vec![1, 2, 3]]).expect("filled");
        assert_eq!(
            p.event().map(|(_, a)| a.to_vec()),
            Some(vec![Value::Bin(vec![1, 2, 3])])
        );
        let mut bad = decode(r#"51-["file",{"_placeholder":true,"num":3}]"#).expect("binary");
        assert!(bad.fill_attachments(&[vec![1]]).is_err());
    }

    #[test]
    fn malformed_packets_are_refused() {
        for text in [
            "",
            "9",
            "2",
            "2{}",
            "2[]",
            "2[1]",
            "2\"x\"",
            "1{}",
            "0[1]",
            "3[]",
            "5[\"a\"]",
            "599-[\"a\"]",
            "2[\"a\"",
            "29999999999999999999[\"a\"]",
        ] {
            assert!(decode(text).is_err(), "{text:?} accepted");
        }
        let long = format!("2/{},[\"a\"]", "n".repeat(MAX_NAMESPACE + 1));
        assert!(decode(&long).is_err());
        let name = format!("2[\"{}\"]", "e".repeat(MAX_EVENT_NAME + 1));
        assert!(decode(&name).is_err());
    }

    #[test]
    fn events_encode_as_socket_io_clients_read_them() {
        assert_eq!(
            event("/", "update", &[Value::UInt(1)]).text,
            r#"2["update",1]"#
        );
        assert_eq!(
            event("/ws", "backup_running", &[Value::Bool(true)]).text,
            r#"2/ws,["backup_running",true]"#
        );
        let binary = event("/", "file", &[Value::Bin(vec![9, 8])]);
        assert_eq!(binary.text, r#"51-["file",{"_placeholder":true,"num":0}]"#);
        assert_eq!(binary.attachments, vec![vec![9, 8]]);
        assert_eq!(ack("/ws", 7, &[]).text, "3/ws,7[]");
        assert_eq!(connected("/", "abc"), r#"0{"sid":"abc"}"#);
        assert_eq!(connected("/ws", "abc"), r#"0/ws,{"sid":"abc"}"#);
        assert_eq!(
            connect_error("/x", "no such namespace"),
            r#"4/x,{"message":"no such namespace"}"#
        );
        assert_eq!(disconnect("/ws"), "1/ws,");
    }

    #[test]
    fn encoded_events_decode_to_themselves() {
        let args = vec![Value::Str("a".into()), Value::Bin(vec![1])];
        let encoded = event("/ns", "e", &args);
        let mut decoded = decode(&encoded.text).expect("decodes");
        decoded
            .fill_attachments(&encoded.attachments)
            .expect("fills");
        assert_eq!(
            decoded.event().map(|(n, a)| (n.to_owned(), a.to_vec())),
            Some(("e".into(), args))
        );
    }
}
