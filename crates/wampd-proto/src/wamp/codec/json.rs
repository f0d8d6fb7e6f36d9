//! JSON (`wamp.2.json`) ↔ [`Value`] conversion.
//!
//! Encoding is on the router's hot path (every EVENT/RESULT is encoded once
//! per serializer), so values and messages are serialized straight into the
//! output buffer through borrowing `Serialize` wrappers — no intermediate
//! `serde_json::Value` tree. Decoding goes through a small `Deserialize`
//! visitor so serde_json's recursion limit protects against deep nesting.
//!
//! Binary convention (protocol reference §6.2): bytes travel as a string made
//! of a NUL character followed by standard, padded base64.

use std::fmt;

use base64::display::Base64Display;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::super::message::{Elem, Message};
use super::super::value::{Dict, Value};
use super::DecodeError;

/// Decoding accepts base64 with or without padding; encoding always pads.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Serializes `msg` as a JSON array into `out`.
pub(super) fn encode_message(msg: &Message, out: &mut Vec<u8>) {
    let elems = msg.elements();
    write(out, &ElemsSer(elems.as_slice()));
}

/// Serializes `v` as JSON into `out`.
pub(super) fn encode_value(v: &Value, out: &mut Vec<u8>) {
    write(out, &ValueSer(v));
}

fn write<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    let start = out.len();
    // Writing into a Vec cannot fail with io errors, all map keys are
    // strings and floats are pre-filtered, so serde_json has no error to
    // report. Should that ever change, emit `null` rather than a fragment.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

/// Parses one JSON document (surrounding whitespace allowed).
pub(super) fn decode_value(data: &[u8]) -> Result<Value, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(data);
    let ValueDe(v) =
        ValueDe::deserialize(&mut de).map_err(|e| DecodeError::Syntax("JSON", e.to_string()))?;
    de.end().map_err(|_| DecodeError::Trailing)?;
    Ok(v)
}

struct ValueSer<'a>(&'a Value);

impl Serialize for ValueSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(n) => s.serialize_i64(*n),
            Value::UInt(n) => s.serialize_u64(*n),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::Str(st) => s.serialize_str(st),
            Value::Bin(b) => serialize_bin(b, s),
            Value::List(l) => serialize_list(l, s),
            Value::Dict(d) => serialize_dict(d, s),
        }
    }
}

fn serialize_bin<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    // Streams "\0" + base64 through serde_json's string escaper (NUL is
    // written as \u0000) without allocating the base64 text.
    s.collect_str(&format_args!("\0{}", Base64Display::new(b, &STANDARD)))
}

fn serialize_list<S: Serializer>(l: &[Value], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(l.len()))?;
    for v in l {
        seq.serialize_element(&ValueSer(v))?;
    }
    seq.end()
}

fn serialize_dict<S: Serializer>(d: &Dict, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(d.len()))?;
    for (k, v) in d {
        map.serialize_entry(k, &ValueSer(v))?;
    }
    map.end()
}

struct ElemsSer<'a, 'b>(&'b [Elem<'a>]);

impl Serialize for ElemsSer<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for e in self.0 {
            seq.serialize_element(&ElemSer(*e))?;
        }
        seq.end()
    }
}

struct ElemSer<'a>(Elem<'a>);

impl Serialize for ElemSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Elem::UInt(n) => s.serialize_u64(n),
            Elem::Str(st) => s.serialize_str(st),
            Elem::Dict(d) => serialize_dict(d, s),
            Elem::List(l) => serialize_list(l, s),
            Elem::One(v) => ValueSer(v).serialize(s),
        }
    }
}

struct ValueDe(Value);

impl<'de> Deserialize<'de> for ValueDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(ValueDe)
    }
}

struct ValueVisitor;

/// A JSON string is binary if it starts with NUL and the rest is base64.
fn string_value(s: &str) -> Option<Value> {
    let rest = s.strip_prefix('\0')?;
    LENIENT_BASE64.decode(rest).ok().map(Value::Bin)
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        Ok(Value::UInt(n))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(string_value(s).unwrap_or_else(|| Value::Str(s.to_owned())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(string_value(&s).unwrap_or(Value::Str(s)))
    }

    fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<Value, E> {
        Ok(Value::Bin(b.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, b: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bin(b))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        ValueDe::deserialize(d).map(|ValueDe(v)| v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(ValueDe(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::List(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Dict::new();
        while let Some((k, ValueDe(v))) = map.next_entry::<String, ValueDe>()? {
            out.insert(k, v);
        }
        Ok(Value::Dict(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value) -> String {
        let mut out = Vec::new();
        encode_value(v, &mut out);
        String::from_utf8(out).expect("JSON output is UTF-8")
    }

    #[test]
    fn scalars() {
        assert_eq!(enc(&Value::Null), "null");
        assert_eq!(enc(&Value::Bool(true)), "true");
        assert_eq!(enc(&Value::Int(-5)), "-5");
        assert_eq!(enc(&Value::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(enc(&Value::Float(1.5)), "1.5");
        assert_eq!(enc(&Value::Float(f64::NAN)), "null");
        assert_eq!(enc(&Value::Float(f64::INFINITY)), "null");
        assert_eq!(enc(&Value::Float(f64::NEG_INFINITY)), "null");
        assert_eq!(enc(&Value::from("a\"\n")), r#""a\"\n""#);
        assert_eq!(decode_value(b"-5"), Ok(Value::Int(-5)));
        assert_eq!(decode_value(b"5"), Ok(Value::UInt(5)));
        assert_eq!(decode_value(b"5.0"), Ok(Value::Float(5.0)));
        assert_eq!(
            decode_value(b"18446744073709551615"),
            Ok(Value::UInt(u64::MAX))
        );
        assert_eq!(
            decode_value(b"18446744073709551616"),
            Ok(Value::Float(18446744073709551616.0))
        );
        assert_eq!(decode_value(b" null "), Ok(Value::Null));
    }

    #[test]
    fn binary_convention() {
        let v = Value::Bin(vec![0, 1, 2, 0xff]);
        assert_eq!(enc(&v), r#""\u0000AAEC/w==""#);
        assert_eq!(decode_value(br#""\u0000AAEC/w==""#), Ok(v.clone()));
        // Unpadded base64 is tolerated on input.
        assert_eq!(decode_value(br#""\u0000AAEC/w""#), Ok(v));
        assert_eq!(enc(&Value::Bin(vec![])), r#""\u0000""#);
        assert_eq!(decode_value(br#""\u0000""#), Ok(Value::Bin(vec![])));
        // A NUL-prefixed string that is not base64 stays a string.
        assert_eq!(
            decode_value(br#""\u0000not base64!""#),
            Ok(Value::Str("\0not base64!".into()))
        );
        // NUL elsewhere is just a string.
        assert_eq!(
            decode_value(br#""AAEC\u0000""#),
            Ok(Value::Str("AAEC\0".into()))
        );
        let big: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let text = enc(&Value::Bin(big.clone()));
        assert_eq!(decode_value(text.as_bytes()), Ok(Value::Bin(big)));
    }

    #[test]
    fn nested_round_trip_and_key_order() {
        let v =
            decode_value(br#"{"b":[1,-2,3.5,"x",null,true,{"z":{}}],"a":[]}"#).expect("valid JSON");
        assert_eq!(enc(&v), r#"{"a":[],"b":[1,-2,3.5,"x",null,true,{"z":{}}]}"#);
    }

    #[test]
    fn syntax_and_trailing() {
        assert!(matches!(
            decode_value(b"[1,"),
            Err(DecodeError::Syntax("JSON", _))
        ));
        assert!(matches!(
            decode_value(b""),
            Err(DecodeError::Syntax("JSON", _))
        ));
        assert!(matches!(
            decode_value(b"\"\xff\xfe\""),
            Err(DecodeError::Syntax("JSON", _))
        ));
        assert!(matches!(
            decode_value(b"{1:2}"),
            Err(DecodeError::Syntax("JSON", _))
        ));
        assert_eq!(decode_value(b"[1] [2]"), Err(DecodeError::Trailing));
        assert_eq!(decode_value(b"[1] x"), Err(DecodeError::Trailing));
        assert_eq!(
            decode_value(b"[1]\n"),
            Ok(Value::List(vec![Value::UInt(1)]))
        );
    }

    #[test]
    fn depth_limit() {
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(decode_value(ok.as_bytes()).is_ok());
        let deep = "[".repeat(100_000);
        assert!(matches!(
            decode_value(deep.as_bytes()),
            Err(DecodeError::Syntax("JSON", _))
        ));
        let deep_closed = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(decode_value(deep_closed.as_bytes()).is_err());
        let deep_obj = r#"{"a":"#.repeat(100_000);
        assert!(decode_value(deep_obj.as_bytes()).is_err());
    }
}
