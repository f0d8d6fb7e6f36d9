//! MessagePack (`wamp.2.msgpack`) ↔ [`Value`] conversion.
//!
//! Decoding uses `rmpv` with an explicit depth limit (deeply nested input
//! must fail, not overflow the stack) and then maps the `rmpv` tree onto
//! [`Value`], enforcing WAMP's rules: string map keys, valid UTF-8 strings,
//! ext type 0 ("undefined" from JavaScript encoders, §7) as `Null`, no other
//! ext types, no trailing bytes. `rmpv` never preallocates from declared
//! lengths, so a forged 2^32-1 element header fails at end of input.
//!
//! Encoding writes MessagePack directly from borrowed values instead of
//! building an `rmpv::Value` tree first (which would clone every payload on
//! the hot path). The output is byte-for-byte what `rmpv::encode::write_value`
//! produces — most compact integer/length forms, `str8` for short strings
//! (spec v5), floats as float64 — and the tests check that equivalence.

use super::super::message::{Elem, Message};
use super::super::value::{Dict, Value};
use super::{DecodeError, MAX_NESTING};

/// rmpv spends two depth units per container level (the value and its
/// contents) and up to three on a leaf (str/bin/ext: value, body, bytes), so
/// this admits exactly [`MAX_NESTING`] container levels around any leaf.
const RMPV_MAX_DEPTH: usize = 2 * MAX_NESTING + 3;

const SYNTAX: &str = "MessagePack";

/// Serializes `msg` as a MessagePack array into `out`.
pub(super) fn encode_message(msg: &Message, out: &mut Vec<u8>) {
    let elems = msg.elements();
    let elems = elems.as_slice();
    write_array_len(out, elems.len());
    for e in elems {
        match *e {
            Elem::UInt(n) => write_uint(out, n),
            Elem::Str(s) => write_str(out, s),
            Elem::Dict(d) => write_dict(out, d),
            Elem::List(l) => write_list(out, l),
            Elem::One(v) => encode_value(v, out),
        }
    }
}

/// Serializes `v` as MessagePack into `out`.
pub(super) fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0xc0),
        Value::Bool(false) => out.push(0xc2),
        Value::Bool(true) => out.push(0xc3),
        Value::Int(n) => write_sint(out, *n),
        Value::UInt(n) => write_uint(out, *n),
        Value::Float(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => write_str(out, s),
        Value::Bin(b) => {
            write_len(out, b.len(), None, [0xc4, 0xc5, 0xc6]);
            out.extend_from_slice(b);
        }
        Value::List(l) => write_list(out, l),
        Value::Dict(d) => write_dict(out, d),
    }
}

pub(super) fn write_list(out: &mut Vec<u8>, l: &[Value]) {
    write_array_len(out, l.len());
    for v in l {
        encode_value(v, out);
    }
}

pub(super) fn write_dict(out: &mut Vec<u8>, d: &Dict) {
    write_len(out, d.len(), Some((0x80, 16)), [0xde, 0xde, 0xdf]);
    for (k, v) in d {
        write_str(out, k);
        encode_value(v, out);
    }
}

pub(super) fn write_array_len(out: &mut Vec<u8>, len: usize) {
    write_len(out, len, Some((0x90, 16)), [0xdc, 0xdc, 0xdd]);
}

pub(super) fn write_str(out: &mut Vec<u8>, s: &str) {
    write_len(out, s.len(), Some((0xa0, 32)), [0xd9, 0xda, 0xdb]);
    out.extend_from_slice(s.as_bytes());
}

/// Writes a length header: the fix form `(base, limit)` if given and
/// `len < limit`, else the 8/16/32-bit marker from `markers`. Arrays and maps
/// have no 8-bit form; they say so by passing the same marker for 8 and 16
/// bits.
fn write_len(out: &mut Vec<u8>, len: usize, fix: Option<(u8, usize)>, markers: [u8; 3]) {
    let [m8, m16, m32] = markers;
    if let Some((base, limit)) = fix {
        if len < limit {
            // `len < limit <= 32` so it fits in the low bits.
            out.push(base | len as u8);
            return;
        }
    }
    if m8 != m16 && len < 256 {
        out.push(m8);
        out.push(len as u8);
    } else if len < 65_536 {
        out.push(m16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        // MessagePack cannot express more than 2^32-1 elements/bytes; such a
        // value cannot exist in a router's memory budget, so saturate rather
        // than panic.
        out.push(m32);
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    }
}

pub(super) fn write_uint(out: &mut Vec<u8>, n: u64) {
    if n < 128 {
        out.push(n as u8);
    } else if n < 256 {
        out.push(0xcc);
        out.push(n as u8);
    } else if n < 65_536 {
        out.push(0xcd);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n < 4_294_967_296 {
        out.push(0xce);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn write_sint(out: &mut Vec<u8>, n: i64) {
    if let Ok(u) = u64::try_from(n) {
        write_uint(out, u);
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.push(0xd0);
        out.push(n as i8 as u8);
    } else if n >= -32_768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Parses exactly one MessagePack value; bytes after it are an error.
pub(super) fn decode_value(data: &[u8]) -> Result<Value, DecodeError> {
    let mut rd = data;
    let v = rmpv::decode::read_value_with_max_depth(&mut rd, RMPV_MAX_DEPTH)
        .map_err(|e| DecodeError::Syntax(SYNTAX, e.to_string()))?;
    if !rd.is_empty() {
        return Err(DecodeError::Trailing);
    }
    convert(v)
}

fn syntax(reason: &str) -> DecodeError {
    DecodeError::Syntax(SYNTAX, reason.to_owned())
}

/// Maps an rmpv tree (depth already bounded by the reader) onto [`Value`].
fn convert(v: rmpv::Value) -> Result<Value, DecodeError> {
    Ok(match v {
        rmpv::Value::Nil => Value::Null,
        rmpv::Value::Boolean(b) => Value::Bool(b),
        rmpv::Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Value::UInt(u),
            (None, Some(n)) => Value::Int(n),
            (None, None) => return Err(syntax("integer out of range")),
        },
        rmpv::Value::F32(f) => Value::Float(f64::from(f)),
        rmpv::Value::F64(f) => Value::Float(f),
        rmpv::Value::String(s) => match s.into_str() {
            Some(s) => Value::Str(s),
            None => return Err(syntax("string is not valid UTF-8")),
        },
        rmpv::Value::Binary(b) => Value::Bin(b),
        rmpv::Value::Array(items) => Value::List(
            items
                .into_iter()
                .map(convert)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        rmpv::Value::Map(pairs) => {
            let mut d = Dict::new();
            for (k, v) in pairs {
                let key = match k {
                    rmpv::Value::String(s) => match s.into_str() {
                        Some(s) => s,
                        None => return Err(syntax("map key is not valid UTF-8")),
                    },
                    _ => return Err(syntax("map key is not a string")),
                };
                d.insert(key, convert(v)?);
            }
            Value::Dict(d)
        }
        rmpv::Value::Ext(0, _) => Value::Null,
        rmpv::Value::Ext(ty, _) => {
            return Err(DecodeError::Syntax(
                SYNTAX,
                format!("unsupported extension type {ty}"),
            ))
        }
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

    /// Test-only: the rmpv tree for a value, to compare against rmpv's writer.
    fn to_rmpv(v: &Value) -> rmpv::Value {
        match v {
            Value::Null => rmpv::Value::Nil,
            Value::Bool(b) => rmpv::Value::Boolean(*b),
            Value::Int(n) => rmpv::Value::from(*n),
            Value::UInt(n) => rmpv::Value::from(*n),
            Value::Float(f) => rmpv::Value::F64(*f),
            Value::Str(s) => rmpv::Value::from(s.as_str()),
            Value::Bin(b) => rmpv::Value::Binary(b.clone()),
            Value::List(l) => rmpv::Value::Array(l.iter().map(to_rmpv).collect()),
            Value::Dict(d) => rmpv::Value::Map(
                d.iter()
                    .map(|(k, v)| (rmpv::Value::from(k.as_str()), to_rmpv(v)))
                    .collect(),
            ),
        }
    }

    fn rmpv_bytes(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &to_rmpv(v)).expect("Vec write");
        out
    }

    fn random_value(rng: &mut StdRng, depth: u32) -> Value {
        let choice = if depth == 0 {
            rng.random_range(0..7)
        } else {
            rng.random_range(0..9)
        };
        let len_pick = |rng: &mut StdRng| -> usize {
            *[
                0usize, 1, 15, 16, 31, 32, 255, 256, 300, 65_535, 65_536, 70_000,
            ]
            .get(rng.random_range(0..12))
            .unwrap_or(&0)
        };
        match choice {
            0 => Value::Null,
            1 => Value::Bool(rng.random()),
            2 => {
                let shift = rng.random_range(0..64);
                Value::UInt(rng.random::<u64>() >> shift)
            }
            3 => {
                let shift = rng.random_range(0..64);
                Value::from(rng.random::<i64>() >> shift)
            }
            4 => Value::Float(rng.random::<f64>() * 1e6 - 5e5),
            5 => Value::Str("é".repeat(len_pick(rng) / 2) + &"x".repeat(len_pick(rng) % 40)),
            6 => Value::Bin(vec![7u8; len_pick(rng)]),
            7 => {
                let n = if rng.random_bool(0.1) {
                    len_pick(rng).min(300)
                } else {
                    rng.random_range(0..5)
                };
                Value::List((0..n).map(|_| random_value(rng, depth - 1)).collect())
            }
            _ => {
                let n = if rng.random_bool(0.1) {
                    len_pick(rng).min(300)
                } else {
                    rng.random_range(0..5)
                };
                Value::Dict(
                    (0..n)
                        .map(|i| (format!("k{i}"), random_value(rng, depth - 1)))
                        .collect(),
                )
            }
        }
    }

    #[test]
    fn integer_encodings_match_rmpv() {
        let ints: [i64; 20] = [
            0,
            1,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            4_294_967_295,
            4_294_967_296,
            -1,
            -32,
            -33,
            -128,
            -129,
            -32_768,
            -32_769,
            -2_147_483_648,
            -2_147_483_649,
            i64::MIN,
        ];
        for n in ints {
            // Both the canonical form and a non-normalised Int(n >= 0).
            assert_eq!(enc(&Value::from(n)), rmpv_bytes(&Value::from(n)), "{n}");
            assert_eq!(enc(&Value::Int(n)), rmpv_bytes(&Value::Int(n)), "{n}");
            assert_eq!(decode_value(&enc(&Value::Int(n))), Ok(Value::from(n)));
        }
        assert_eq!(
            enc(&Value::UInt(u64::MAX)),
            rmpv_bytes(&Value::UInt(u64::MAX))
        );
        assert_eq!(enc(&Value::UInt(5)), vec![0x05]);
        assert_eq!(enc(&Value::Int(-1)), vec![0xff]);
        assert_eq!(enc(&Value::UInt(200)), vec![0xcc, 200]);
        assert_eq!(
            enc(&Value::Float(1.0)),
            vec![0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn random_values_match_rmpv_and_round_trip() {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        for _ in 0..300 {
            let v = random_value(&mut rng, 3);
            let ours = enc(&v);
            assert_eq!(ours, rmpv_bytes(&v));
            assert_eq!(decode_value(&ours), Ok(v));
        }
    }

    #[test]
    fn length_boundaries_match_rmpv() {
        for len in [0usize, 15, 16, 31, 32, 255, 256, 65_535, 65_536] {
            let s = Value::Str("a".repeat(len));
            let b = Value::Bin(vec![1; len]);
            let l = Value::List(vec![Value::Null; len]);
            let d = Value::Dict((0..len).map(|i| (i.to_string(), Value::Null)).collect());
            for v in [s, b, l, d] {
                let bytes = enc(&v);
                assert_eq!(bytes, rmpv_bytes(&v), "len {len}");
                assert_eq!(decode_value(&bytes), Ok(v));
            }
        }
    }

    #[test]
    fn f32_decodes_as_float() {
        assert_eq!(
            decode_value(&[0xca, 0x3f, 0xc0, 0, 0]),
            Ok(Value::Float(1.5))
        );
    }

    #[test]
    fn huge_declared_lengths_fail_fast() {
        // array32 / map32 / str32 / bin32 / ext32 claiming 2^32-1 with no data.
        for header in [
            &[0xdd, 0xff, 0xff, 0xff, 0xff][..],
            &[0xdf, 0xff, 0xff, 0xff, 0xff],
            &[0xdb, 0xff, 0xff, 0xff, 0xff],
            &[0xc6, 0xff, 0xff, 0xff, 0xff],
            &[0xc9, 0xff, 0xff, 0xff, 0xff, 0x00],
            &[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02],
        ] {
            assert!(
                matches!(decode_value(header), Err(DecodeError::Syntax(SYNTAX, _))),
                "{header:02x?}"
            );
        }
    }

    #[test]
    fn depth_limit() {
        let mut ok = vec![0x91u8; 100];
        ok.push(0xc0);
        assert!(decode_value(&ok).is_ok());
        let mut limit = vec![0x91u8; MAX_NESTING];
        limit.push(0xa1);
        limit.push(b'x');
        assert!(decode_value(&limit).is_ok());
        let mut too_deep = vec![0x91u8; MAX_NESTING + 2];
        too_deep.push(0xc0);
        assert!(decode_value(&too_deep).is_err());
        let deep = vec![0x91u8; 100_000];
        assert!(matches!(
            decode_value(&deep),
            Err(DecodeError::Syntax(SYNTAX, _))
        ));
        let deep_maps: Vec<u8> = [0x81u8, 0xa1, b'a'].repeat(100_000);
        assert!(decode_value(&deep_maps).is_err());
    }

    #[test]
    fn keys_strings_ext_trailing() {
        // {1: 2}
        assert!(matches!(
            decode_value(&[0x81, 0x01, 0x02]),
            Err(DecodeError::Syntax(SYNTAX, _))
        ));
        // {bin "a": 1}
        assert!(decode_value(&[0x81, 0xc4, 0x01, b'a', 0x01]).is_err());
        // str with invalid UTF-8, as value and as key
        assert!(matches!(
            decode_value(&[0xa2, 0xff, 0xfe]),
            Err(DecodeError::Syntax(SYNTAX, _))
        ));
        assert!(decode_value(&[0x81, 0xa1, 0xff, 0x01]).is_err());
        // ext type 0 of any length is "undefined" -> Null
        assert_eq!(decode_value(&[0xd4, 0x00, 0x00]), Ok(Value::Null));
        assert_eq!(decode_value(&[0xc7, 0x00, 0x00]), Ok(Value::Null));
        assert_eq!(decode_value(&[0xd5, 0x00, 0x01, 0x02]), Ok(Value::Null));
        // other ext types are rejected (e.g. timestamp -1)
        assert!(decode_value(&[0xd6, 0xff, 0, 0, 0, 0]).is_err());
        assert!(decode_value(&[0xd4, 0x05, 0x00]).is_err());
        // trailing bytes
        assert_eq!(decode_value(&[0x90, 0x00]), Err(DecodeError::Trailing));
        assert_eq!(decode_value(&[0xc0, 0xc0]), Err(DecodeError::Trailing));
        // truncated / empty
        assert!(decode_value(&[]).is_err());
        assert!(decode_value(&[0x92, 0x01]).is_err());
        assert!(decode_value(&[0xcd, 0x01]).is_err());
    }
}
