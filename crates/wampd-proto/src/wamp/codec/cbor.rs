//! CBOR (`wamp.2.cbor`, RFC 8949) ↔ [`Value`] conversion.
//!
//! Decoding uses `ciborium` with an explicit recursion limit (deeply nested
//! input must fail, not overflow the stack; tags count as a level) and then
//! maps its tree onto [`Value`], enforcing WAMP's rules: text-string map keys,
//! integers within `i64`/`u64`, no trailing bytes. `ciborium` never
//! preallocates from declared lengths, so a forged 2^64-1 element header fails
//! at end of input. `undefined` decodes as `Null` (as MessagePack's ext 0).
//! Tags are dropped and their content kept: no other wire format could carry
//! them to a JSON or MessagePack subscriber, and WAMP defines none.
//!
//! Encoding writes CBOR directly from borrowed values, in the preferred
//! (shortest) head form of RFC 8949 §4.2.1 with definite lengths; floats are
//! written as float64 so every value round-trips exactly. The tests check the
//! output decodes with `ciborium` to the same tree.

use super::super::message::{Elem, Message};
use super::super::value::{Dict, Value};
use super::{DecodeError, MAX_NESTING};

const SYNTAX: &str = "CBOR";

/// CBOR major types (RFC 8949 §3.1), already shifted into the high bits.
const UINT: u8 = 0 << 5;
const NINT: u8 = 1 << 5;
const BYTES: u8 = 2 << 5;
const TEXT: u8 = 3 << 5;
const ARRAY: u8 = 4 << 5;
const MAP: u8 = 5 << 5;

/// Serializes `msg` as a CBOR array into `out`.
pub(super) fn encode_message(msg: &Message, out: &mut Vec<u8>) {
    let elems = msg.elements();
    let elems = elems.as_slice();
    write_head(out, ARRAY, elems.len() as u64);
    for e in elems {
        match *e {
            Elem::UInt(n) => write_head(out, UINT, n),
            Elem::Str(s) => write_str(out, s),
            Elem::Dict(d) => write_dict(out, d),
            Elem::List(l) => write_list(out, l),
            Elem::One(v) => encode_value(v, out),
        }
    }
}

/// Serializes `v` as CBOR into `out`.
pub(super) fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0xf6),
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        // A negative integer n is encoded as -1 - n (RFC 8949 §3.1, major type 1);
        // `!n` is exactly that for negative two's-complement values.
        Value::Int(n) if *n < 0 => write_head(out, NINT, !*n as u64),
        Value::Int(n) => write_head(out, UINT, *n as u64),
        Value::UInt(n) => write_head(out, UINT, *n),
        Value::Float(f) => {
            out.push(0xfb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => write_str(out, s),
        Value::Bin(b) => {
            write_head(out, BYTES, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::List(l) => write_list(out, l),
        Value::Dict(d) => write_dict(out, d),
    }
}

fn write_list(out: &mut Vec<u8>, l: &[Value]) {
    write_head(out, ARRAY, l.len() as u64);
    for v in l {
        encode_value(v, out);
    }
}

fn write_dict(out: &mut Vec<u8>, d: &Dict) {
    write_head(out, MAP, d.len() as u64);
    for (k, v) in d {
        write_str(out, k);
        encode_value(v, out);
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    write_head(out, TEXT, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes a data item head: the major type with its argument in the shortest
/// form (inline below 24, then 1, 2, 4 or 8 following bytes).
fn write_head(out: &mut Vec<u8>, major: u8, n: u64) {
    if n < 24 {
        out.push(major | n as u8);
    } else if n < 256 {
        out.push(major | 24);
        out.push(n as u8);
    } else if n < 65_536 {
        out.push(major | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n < 4_294_967_296 {
        out.push(major | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Parses exactly one CBOR data item; bytes after it are an error.
pub(super) fn decode_value(data: &[u8]) -> Result<Value, DecodeError> {
    let mut rd = data;
    let v: ciborium::Value = ciborium::de::from_reader_with_recursion_limit(&mut rd, MAX_NESTING)
        .map_err(|e| match e {
        ciborium::de::Error::Io(_) => syntax("unexpected end of input"),
        ciborium::de::Error::Syntax(at) => syntax(&format!("invalid data item at byte {at}")),
        ciborium::de::Error::Semantic(_, reason) => syntax(&reason),
        ciborium::de::Error::RecursionLimitExceeded => {
            syntax(&format!("nested deeper than {MAX_NESTING} levels"))
        }
    })?;
    if !rd.is_empty() {
        return Err(DecodeError::Trailing);
    }
    convert(v)
}

fn syntax(reason: &str) -> DecodeError {
    DecodeError::Syntax(SYNTAX, reason.to_owned())
}

/// Maps a ciborium tree (depth already bounded by the reader) onto [`Value`].
fn convert(v: ciborium::Value) -> Result<Value, DecodeError> {
    Ok(match v {
        ciborium::Value::Null => Value::Null,
        ciborium::Value::Bool(b) => Value::Bool(b),
        ciborium::Value::Integer(i) => {
            let n = i128::from(i);
            if let Ok(u) = u64::try_from(n) {
                Value::UInt(u)
            } else if let Ok(n) = i64::try_from(n) {
                Value::Int(n)
            } else {
                return Err(syntax("integer out of range"));
            }
        }
        ciborium::Value::Float(f) => Value::Float(f),
        ciborium::Value::Text(s) => Value::Str(s),
        ciborium::Value::Bytes(b) => Value::Bin(b),
        ciborium::Value::Array(items) => Value::List(
            items
                .into_iter()
                .map(convert)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        ciborium::Value::Map(pairs) => {
            let mut d = Dict::new();
            for (k, v) in pairs {
                let ciborium::Value::Text(key) = k else {
                    return Err(syntax("map key is not a text string"));
                };
                d.insert(key, convert(v)?);
            }
            Value::Dict(d)
        }
        ciborium::Value::Tag(_, inner) => convert(*inner)?,
        _ => return Err(syntax("unsupported data item")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(v, &mut out);
        out
    }

    fn cbor(v: &ciborium::Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(v, &mut out).expect("serialize");
        out
    }

    fn random_value(rng: &mut StdRng, depth: u32) -> Value {
        let leaf = depth == 0 || rng.random_bool(0.4);
        match rng.random_range(0..if leaf { 7 } else { 9 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.random()),
            2 => Value::Int(-rng.random_range(1..=i64::MAX)),
            3 => Value::UInt(rng.random::<u64>() >> rng.random_range(0..64)),
            4 => Value::Float(rng.random::<f64>() * 1e6),
            5 => Value::Str((0..rng.random_range(0..40)).map(|_| 'é').collect()),
            6 => Value::Bin(
                (0..rng.random_range(0..300))
                    .map(|_| rng.random())
                    .collect(),
            ),
            7 => Value::List(
                (0..rng.random_range(0..30))
                    .map(|_| random_value(rng, depth - 1))
                    .collect(),
            ),
            _ => Value::Dict(
                (0..rng.random_range(0..30))
                    .map(|i| (format!("k{i}"), random_value(rng, depth - 1)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn random_values_round_trip_and_decode_with_ciborium() {
        let mut rng = StdRng::seed_from_u64(8949);
        for _ in 0..500 {
            let v = random_value(&mut rng, 4);
            let bytes = enc(&v);
            assert_eq!(decode_value(&bytes), Ok(v.clone()));
            // An independent decoder reads the same bytes without error.
            let theirs: ciborium::Value =
                ciborium::de::from_reader(bytes.as_slice()).expect("ciborium decodes");
            assert_eq!(
                theirs.is_array() || theirs.is_map(),
                matches!(v, Value::List(_) | Value::Dict(_))
            );
        }
    }

    #[test]
    fn integer_heads_are_shortest_and_match_ciborium() {
        for n in [
            0u64,
            23,
            24,
            255,
            256,
            65_535,
            65_536,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            assert_eq!(enc(&Value::UInt(n)), cbor(&ciborium::Value::from(n)), "{n}");
        }
        for n in [-1i64, -24, -25, -256, -257, -65_536, -65_537, i64::MIN] {
            assert_eq!(enc(&Value::Int(n)), cbor(&ciborium::Value::from(n)), "{n}");
            assert_eq!(decode_value(&enc(&Value::Int(n))), Ok(Value::Int(n)));
        }
        // Lengths use the same heads: a 24-byte string takes a one-byte length.
        let s = "x".repeat(24);
        assert_eq!(enc(&Value::Str(s.clone())), cbor(&ciborium::Value::Text(s)));
    }

    #[test]
    fn foreign_encodings_decode() {
        // Half and single floats, indefinite-length strings and arrays, undefined, tags.
        assert_eq!(decode_value(&[0xf9, 0x3c, 0x00]), Ok(Value::Float(1.0)));
        assert_eq!(
            decode_value(&[0xfa, 0x3f, 0xc0, 0x00, 0x00]),
            Ok(Value::Float(1.5))
        );
        assert_eq!(
            decode_value(&[0x7f, 0x61, b'a', 0x61, b'b', 0xff]),
            Ok(Value::Str("ab".into()))
        );
        assert_eq!(
            decode_value(&[0x9f, 0x01, 0x02, 0xff]),
            Ok(Value::List(vec![Value::UInt(1), Value::UInt(2)]))
        );
        assert_eq!(decode_value(&[0xf7]), Ok(Value::Null));
        // Tag 1 (epoch time) around an integer keeps the integer.
        assert_eq!(decode_value(&[0xc1, 0x18, 0x64]), Ok(Value::UInt(100)));
        // A small bignum (tag 2) is an ordinary integer.
        assert_eq!(decode_value(&[0xc2, 0x41, 0x05]), Ok(Value::UInt(5)));
    }

    #[test]
    fn hostile_input_fails_cleanly() {
        // Declared 2^64-1 elements / bytes: end of input, no huge allocation.
        let mut forged = vec![0x9b];
        forged.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(decode_value(&forged).is_err());
        let mut forged = vec![0x5b];
        forged.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(decode_value(&forged).is_err());
        // Integer below i64::MIN, non-text key, trailing bytes, truncation, a lone break.
        let mut big_negative = vec![0x3b];
        big_negative.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(decode_value(&big_negative).is_err());
        assert!(decode_value(&[0xa1, 0x01, 0x02]).is_err());
        assert_eq!(decode_value(&[0x01, 0x02]), Err(DecodeError::Trailing));
        assert!(decode_value(&[0x82, 0x01]).is_err());
        assert!(decode_value(&[0xff]).is_err());
        assert!(decode_value(&[]).is_err());
        // Invalid UTF-8 in a text string.
        assert!(decode_value(&[0x62, 0xff, 0xfe]).is_err());
    }

    #[test]
    fn depth_limit() {
        let nested = |levels: usize, open: u8| {
            let mut v = vec![open; levels];
            v.push(0x01);
            v
        };
        assert!(decode_value(&nested(MAX_NESTING, 0x81)).is_ok());
        assert!(decode_value(&nested(MAX_NESTING + 1, 0x81)).is_err());
        // A tag chain counts too, so a million tags cannot overflow the stack.
        assert!(decode_value(&nested(1_000_000, 0xc1)).is_err());
        assert!(decode_value(&nested(1_000_000, 0x81)).is_err());
    }
}
