//! Serializer selection and the bytes ↔ [`Message`] entry points.
//!
//! Transports only know "a frame arrived with these bytes, on a connection
//! that negotiated this subprotocol". This module maps the subprotocol to a
//! [`Serializer`] and turns frames into validated messages (and back), so the
//! transport and session layers never touch JSON, MessagePack or CBOR
//! directly. Encoding is infallible: every [`Message`] has a representation in
//! every format.

mod cbor;
mod json;
mod msgpack;

use bytes::Bytes;

use super::message::Message;
use super::value::Value;

/// Deepest container nesting the MessagePack and CBOR decoders accept, so hostile
/// input fails with an error instead of exhausting the stack. JSON relies on
/// serde_json's built-in recursion limit, which is equivalent (127 levels).
const MAX_NESTING: usize = 128;

/// A WAMP serialization format, negotiated per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Serializer {
    /// `wamp.2.json`: UTF-8 JSON, sent in WebSocket text frames.
    Json,
    /// `wamp.2.msgpack`: MessagePack (spec v5), sent in binary frames.
    MsgPack,
    /// `wamp.2.cbor`: CBOR (RFC 8949), sent in binary frames.
    Cbor,
}

impl Serializer {
    /// Every supported serializer, in [`Serializer::index`] order (also the
    /// router's subprotocol preference order).
    pub const ALL: [Serializer; 3] = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

    /// The WebSocket subprotocol name (`"wamp.2.json"`, `"wamp.2.msgpack"`, `"wamp.2.cbor"`).
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    /// The serializer for a WebSocket subprotocol name (exact, case-sensitive
    /// match); `None` for unsupported ones such as the `.batched` variants.
    pub fn from_subprotocol(s: &str) -> Option<Self> {
        Serializer::ALL
            .into_iter()
            .find(|ser| ser.subprotocol() == s)
    }

    /// The batched variant's subprotocol name (`"wamp.2.json.batched"`, …): several messages per
    /// WebSocket message, split by [`split_batch`].
    pub fn batched_subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json.batched",
            Serializer::MsgPack => "wamp.2.msgpack.batched",
            Serializer::Cbor => "wamp.2.cbor.batched",
        }
    }

    /// The serializer for a batched subprotocol name (exact match).
    pub fn from_batched_subprotocol(s: &str) -> Option<Self> {
        Serializer::ALL
            .into_iter()
            .find(|ser| ser.batched_subprotocol() == s)
    }

    /// Whether frames are binary (`true` for MessagePack and CBOR) or text (JSON).
    pub fn is_binary(self) -> bool {
        matches!(self, Serializer::MsgPack | Serializer::Cbor)
    }

    /// Dense index (`0` JSON, `1` MessagePack, `2` CBOR) so callers can cache one
    /// encoding per format in a `[Option<Bytes>; 3]`.
    pub fn index(self) -> usize {
        match self {
            Serializer::Json => 0,
            Serializer::MsgPack => 1,
            Serializer::Cbor => 2,
        }
    }
}

pub use super::decode_error::DecodeError;

/// Encodes a message for the given serializer (JSON text is valid UTF-8).
pub fn encode(ser: Serializer, msg: &Message) -> Bytes {
    let mut out = Vec::with_capacity(64);
    match ser {
        Serializer::Json => json::encode_message(msg, &mut out),
        Serializer::MsgPack => msgpack::encode_message(msg, &mut out),
        Serializer::Cbor => cbor::encode_message(msg, &mut out),
    }
    Bytes::from(out)
}

/// Decodes and validates one message from a frame's payload.
pub fn decode(ser: Serializer, data: &[u8]) -> Result<Message, DecodeError> {
    Message::from_value(decode_value(ser, data)?)
}

/// Encodes an arbitrary value (e.g. a payload, or a message list built by
/// hand for a code this module does not model).
pub fn encode_value(ser: Serializer, v: &Value) -> Bytes {
    let mut out = Vec::with_capacity(64);
    match ser {
        Serializer::Json => json::encode_value(v, &mut out),
        Serializer::MsgPack => msgpack::encode_value(v, &mut out),
        Serializer::Cbor => cbor::encode_value(v, &mut out),
    }
    Bytes::from(out)
}

/// Appends MessagePack pieces of a hand-built array to a buffer without building a [`Value`]
/// tree first, for other wire formats that embed WAMP payloads (the cluster backplane's
/// envelope): payloads are written from borrowed values, never cloned.
pub mod msgpack_writer {
    use super::msgpack;
    use crate::wamp::{Dict, Value};

    /// An array header for `len` elements.
    pub fn array_len(out: &mut Vec<u8>, len: usize) {
        msgpack::write_array_len(out, len);
    }

    /// An unsigned integer.
    pub fn uint(out: &mut Vec<u8>, n: u64) {
        msgpack::write_uint(out, n);
    }

    /// A string.
    pub fn str(out: &mut Vec<u8>, s: &str) {
        msgpack::write_str(out, s);
    }

    /// `nil`.
    pub fn nil(out: &mut Vec<u8>) {
        out.push(0xc0);
    }

    /// A boolean.
    pub fn bool(out: &mut Vec<u8>, b: bool) {
        out.push(if b { 0xc3 } else { 0xc2 });
    }

    /// A list of values.
    pub fn list(out: &mut Vec<u8>, items: &[Value]) {
        msgpack::write_list(out, items);
    }

    /// A dictionary.
    pub fn dict(out: &mut Vec<u8>, dict: &Dict) {
        msgpack::write_dict(out, dict);
    }
}

/// The messages of one WebSocket message of a batched transport (WAMP spec, "Batched
/// WebSocket transport"): JSON messages each end with the record separator `0x1E`; binary
/// serializers prefix each message with its length as a 32-bit big-endian integer. A message
/// that claims more bytes than follow is an error, so a malformed batch is refused as a whole
/// before any of it is dispatched; so is a batch of no messages, which the spec forbids.
/// (autobahn-python ends JSON messages with `0x18`, a typo of the spec's `0x1E`; wampd follows
/// the spec.)
pub fn split_batch(ser: Serializer, data: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    if data.is_empty() {
        return Err(DecodeError::Syntax(
            "batch",
            "a batch of no messages".into(),
        ));
    }
    let mut messages = Vec::new();
    if !ser.is_binary() {
        let mut rest = data;
        while let Some(end) = rest.iter().position(|&b| b == JSON_BATCH_SEPARATOR) {
            messages.push(&rest[..end]);
            rest = &rest[end + 1..];
        }
        if !rest.is_empty() {
            messages.push(rest);
        }
        return Ok(messages);
    }
    let mut rest = data;
    while !rest.is_empty() {
        let (len, body) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| DecodeError::Syntax("batch", "truncated length prefix".into()))?;
        let len = u32::from_be_bytes(*len) as usize;
        if body.len() < len {
            return Err(DecodeError::Syntax(
                "batch",
                format!("message of {len} bytes with {} left", body.len()),
            ));
        }
        messages.push(&body[..len]);
        rest = &body[len..];
    }
    Ok(messages)
}

/// The record separator that ends each JSON message of a batch.
pub const JSON_BATCH_SEPARATOR: u8 = 0x1E;

/// Decodes one value without interpreting it as a message.
pub fn decode_value(ser: Serializer, data: &[u8]) -> Result<Value, DecodeError> {
    match ser {
        Serializer::Json => json::decode_value(data),
        Serializer::MsgPack => msgpack::decode_value(data),
        Serializer::Cbor => cbor::decode_value(data),
    }
}

#[cfg(test)]
mod tests;
