//! JSON the way PHP handles it, for byte-exact WAMP v1 frames.
//!
//! Why: Ratchet `json_decode`s every frame into PHP arrays and
//! `json_encode`s what it sends, so its EVENTs differ from a generic JSON
//! writer's output in three visible ways, all replicated here (and
//! cross-checked with PHP 8.2):
//!
//! * object keys keep the order they arrived in (the shared [`Value`] model
//!   sorts dictionary keys, so payloads are parsed into the ordered [`Json`]
//!   tree; a repeated key keeps its first position and its last value, like
//!   a PHP array);
//! * strings escape `/` as `\/` and every non-ASCII character as `\uXXXX`
//!   (lowercase hex, UTF-16 surrogate pairs), control characters as `\b \f
//!   \n \r \t` or `\u00XX`, DEL unescaped;
//! * numbers: integers beyond `i64` were floats in PHP; floats are written
//!   with `serialize_precision = -1` (shortest round-trip digits, no `.0`,
//!   exponent form `1.0e+17` beyond 17 digits or below `1e-4`).
//!
//! Not replicated: `{}` → `[]` and objects with keys `"0".."n-1"` becoming
//! lists (a side effect of PHP arrays; keeping objects is semantically
//! better); PHP's 512-level depth limit (serde_json's 128 applies); the
//! integer `-0` (serde_json reads it as the float `-0.0`, written `-0`, where
//! PHP writes `0`).

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::super::value::{Dict, Value};

/// Deepest nesting the writers descend into (PHP's `json_encode` default
/// depth); deeper subtrees are written as `null`. Parsed input is limited to
/// 128 levels by serde_json, so this only affects hand-built values.
pub const MAX_ENCODE_DEPTH: usize = 512;

/// The shared codec's binary-convention decoder: padding optional.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A parsed JSON document that keeps object key order (PHP array
/// semantics for duplicate keys).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits in `i64` (PHP int).
    Int(i64),
    /// An integer in `(i64::MAX, u64::MAX]` (a float in PHP).
    BigUInt(u64),
    /// Any other number.
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    List(Vec<Json>),
    /// An object, keys in document order, unique.
    Map(Vec<(String, Json)>),
}

impl Json {
    /// Parses one JSON document (surrounding whitespace allowed, nothing
    /// after it). `None` on any syntax error, invalid UTF-8 or lone
    /// surrogate escape, nesting deeper than 127 levels or trailing data.
    pub fn parse(text: &[u8]) -> Option<Json> {
        let mut de = serde_json::Deserializer::from_slice(text);
        let json = Json::deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(json)
    }

    /// Converts to the shared value model (keys sorted; strings following
    /// the JSON binary convention become [`Value::Bin`], as in the v2 codec).
    pub fn into_value(self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            Json::Int(n) => Value::from(n),
            Json::BigUInt(n) => Value::UInt(n),
            Json::Float(f) => Value::Float(f),
            Json::Str(s) => string_value(s),
            Json::List(l) => Value::List(l.into_iter().map(Json::into_value).collect()),
            Json::Map(m) => Value::Dict(
                m.into_iter()
                    .map(|(k, v)| (k, v.into_value()))
                    .collect::<Dict>(),
            ),
        }
    }

    /// Serializes as PHP's `json_encode` would after `json_decode(…, true)`
    /// (except `{}` stays `{}`).
    pub fn to_php_json(&self) -> String {
        let mut out = String::with_capacity(32);
        self.write_php(&mut out, 0);
        out
    }

    /// Appends the PHP `json_encode` form to `out`.
    pub fn write_php(&self, out: &mut String, depth: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::BigUInt(n) => out.push_str(&php_json_float(*n as f64)),
            Json::Float(f) if f.is_finite() => out.push_str(&php_json_float(*f)),
            Json::Float(_) => out.push_str("null"),
            Json::Str(s) => write_php_str(out, s),
            Json::List(_) | Json::Map(_) if depth >= MAX_ENCODE_DEPTH => out.push_str("null"),
            Json::List(l) => {
                out.push('[');
                for (i, item) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_php(out, depth + 1);
                }
                out.push(']');
            }
            Json::Map(m) => {
                out.push('{');
                for (i, (k, item)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_php_str(out, k);
                    out.push(':');
                    item.write_php(out, depth + 1);
                }
                out.push('}');
            }
        }
    }
}

/// A string as the v2 JSON codec reads it: NUL + base64 is binary.
fn string_value(s: String) -> Value {
    match s.strip_prefix('\0').map(|rest| LENIENT_BASE64.decode(rest)) {
        Some(Ok(bytes)) => Value::Bin(bytes),
        _ => Value::Str(s),
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Int(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Json, E> {
        Ok(match i64::try_from(n) {
            Ok(i) => Json::Int(i),
            Err(_) => Json::BigUInt(n),
        })
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Json, E> {
        Ok(Json::Float(f))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Json, E> {
        Ok(Json::Str(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Json, E> {
        Ok(Json::Str(s))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        Json::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element::<Json>()? {
            out.push(v);
        }
        Ok(Json::List(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            match index.get(&k) {
                // PHP: `$a[$k] = $v` on an existing key keeps its position.
                Some(&i) => {
                    if let Some(slot) = entries.get_mut(i) {
                        slot.1 = v;
                    }
                }
                None => {
                    index.insert(k.clone(), entries.len());
                    entries.push((k, v));
                }
            }
        }
        Ok(Json::Map(entries))
    }
}

/// Serializes a value as compact JSON with PHP `json_encode` escaping and
/// number formatting: [`Value::Bin`] as the (escaped) binary convention
/// string, non-finite floats as `null` (PHP would fail), dict keys in the
/// value model's sorted order, integers beyond `i64` kept exact.
pub fn to_php_json(v: &Value) -> String {
    let mut out = String::with_capacity(32);
    write_value(&mut out, v, 0);
    out
}

/// Appends the PHP `json_encode` form of `v` to `out`.
pub fn write_value(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::UInt(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) if f.is_finite() => out.push_str(&php_json_float(*f)),
        Value::Float(_) => out.push_str("null"),
        Value::Str(s) => write_php_str(out, s),
        Value::Bin(b) => write_php_str(out, &binary_convention_string(b)),
        Value::List(_) | Value::Dict(_) if depth >= MAX_ENCODE_DEPTH => out.push_str("null"),
        Value::List(l) => {
            out.push('[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, depth + 1);
            }
            out.push(']');
        }
        Value::Dict(d) => {
            out.push('{');
            for (i, (k, item)) in d.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_php_str(out, k);
                out.push(':');
                write_value(out, item, depth + 1);
            }
            out.push('}');
        }
    }
}

/// The JSON binary convention string for `b` (`"\0"` + padded base64).
pub fn binary_convention_string(b: &[u8]) -> String {
    let mut s = String::with_capacity(1 + b.len().div_ceil(3) * 4);
    s.push('\0');
    STANDARD.encode_string(b, &mut s);
    s
}

/// Appends a JSON string literal with PHP `json_encode` default escaping.
pub fn write_php_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii() && (c as u32) >= 0x20 => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// How PHP renders a float; see [`php_gcvt`].
#[derive(Clone, Copy)]
enum FloatStyle {
    /// `json_encode` with `serialize_precision = -1`: shortest round-trip
    /// digits, exponent form when the decimal point is beyond 17 digits,
    /// lowercase `e`.
    Json,
    /// `(string)$float` with `precision = 14`: 14 significant digits,
    /// exponent form beyond 14 digits, uppercase `E`.
    Cast,
}

/// PHP `json_encode` of a finite float (`5.0` → `5`, `1e17` → `1.0e+17`).
pub fn php_json_float(f: f64) -> String {
    php_gcvt(f, FloatStyle::Json)
}

/// PHP `(string)` of a float (`0.1 + 0.2` → `0.3`, `1e15` → `1.0E+15`,
/// NaN → `NAN`, infinities → `INF`/`-INF`).
pub fn php_float_string(f: f64) -> String {
    if f.is_nan() {
        return "NAN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "INF" } else { "-INF" }.to_owned();
    }
    php_gcvt(f, FloatStyle::Cast)
}

/// Port of PHP's `php_gcvt`/`zend_gcvt` for finite values: the significant
/// digits as a plain decimal or in exponent form.
fn php_gcvt(f: f64, style: FloatStyle) -> String {
    let (sci, ndigit, exp_char) = match style {
        FloatStyle::Json => (format!("{f:e}"), 17i64, 'e'),
        FloatStyle::Cast => (format!("{f:.13e}"), 14i64, 'E'),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    // PHP's `decpt`: value = 0.DIGITS × 10^decpt.
    let decpt = exp + 1;
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if digits == "0" {
        out.push('0');
        return out;
    }
    if decpt < -3 || decpt > ndigit {
        let mut chars = digits.chars();
        if let Some(first) = chars.next() {
            out.push(first);
        }
        out.push('.');
        let rest = chars.as_str();
        out.push_str(if rest.is_empty() { "0" } else { rest });
        out.push(exp_char);
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{}", exp.unsigned_abs());
    } else if decpt <= 0 {
        out.push_str("0.");
        for _ in 0..decpt.unsigned_abs() {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let point = usize::try_from(decpt).unwrap_or(usize::MAX);
        if digits.len() <= point {
            out.push_str(&digits);
            for _ in digits.len()..point {
                out.push('0');
            }
        } else {
            let (int_part, frac) = digits.split_at(point);
            out.push_str(int_part);
            out.push('.');
            out.push_str(frac);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn php(text: &str) -> String {
        Json::parse(text.as_bytes())
            .expect("test JSON is valid")
            .to_php_json()
    }

    #[test]
    fn keeps_key_order_like_php() {
        // Outputs printed by PHP 8.2: json_encode(json_decode($x, true)).
        assert_eq!(php(r#"{"a":1,"b":2,"a":3}"#), r#"{"a":3,"b":2}"#);
        assert_eq!(
            php(r#"{"b":{"z":1,"y":[{"k":1,"a":2}]},"a":"\u0000AAEC"}"#),
            r#"{"b":{"z":1,"y":[{"k":1,"a":2}]},"a":"\u0000AAEC"}"#
        );
        assert_eq!(
            php(r#"[{"username":"admin","tagname":"Oro_Bundle_UserBundle_Entity_User_1"}]"#),
            r#"[{"username":"admin","tagname":"Oro_Bundle_UserBundle_Entity_User_1"}]"#
        );
        assert_eq!(
            php("[-0.0, 1.0, 1E2, 18446744073709551615, 9223372036854775807, 9223372036854775808, -9223372036854775809, 0.1e1]"),
            "[-0,1,100,1.8446744073709552e+19,9223372036854775807,9.223372036854776e+18,-9.223372036854776e+18,1]"
        );
        // Known deviation: serde_json reads the integer `-0` as the float
        // -0.0, so we write `-0` where PHP (int 0) writes `0`.
        assert_eq!(php("-0"), "-0");
        assert_eq!(php(r#" "a\/b" "#), r#""a\/b""#);
        // Not replicated: PHP writes [] for {}.
        assert_eq!(php("{}"), "{}");
    }

    #[test]
    fn parse_errors() {
        for bad in [
            &b""[..],
            b"[1,",
            b"[1] [2]",
            b"[1]x",
            b"\"\xff\"",
            br#""\ud800""#,
            b"{1:2}",
            b"nul",
        ] {
            assert_eq!(Json::parse(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(Json::parse(deep.as_bytes()), None);
        assert_eq!(Json::parse(b" null "), Some(Json::Null));
    }

    #[test]
    fn into_value() {
        let j = Json::parse(
            br#"{"b":[1,-2,2.5,18446744073709551615,"\u0000AQID","\u0000!"],"a":null}"#,
        )
        .expect("valid");
        let mut d = Dict::new();
        d.insert("a".into(), Value::Null);
        d.insert(
            "b".into(),
            Value::List(vec![
                Value::UInt(1),
                Value::Int(-2),
                Value::Float(2.5),
                Value::UInt(u64::MAX),
                Value::Bin(vec![1, 2, 3]),
                Value::Str("\0!".into()),
            ]),
        );
        assert_eq!(j.into_value(), Value::Dict(d));
    }

    #[test]
    fn string_escaping_byte_exact() {
        // Expected strings printed by PHP 8.2 json_encode.
        let cases: &[(&str, &str)] = &[
            ("a/b", r#""a\/b""#),
            ("é", r#""\u00e9""#),
            ("😀", r#""\ud83d\ude00""#),
            ("\u{0}\u{1}\u{1f}", r#""\u0000\u0001\u001f""#),
            // DEL (0x7f) is not escaped by PHP.
            ("\u{7f}", "\"\u{7f}\""),
            ("\u{8}\u{c}\n\r\t", r#""\b\f\n\r\t""#),
            ("\"\\", r#""\"\\""#),
            ("\u{2028}\u{2029}", r#""\u2028\u2029""#),
            ("\u{ffff}\u{10ffff}", r#""\uffff\udbff\udfff""#),
            ("<>&'", r#""<>&'""#),
            ("Ünïcödé ✓", r#""\u00dcn\u00efc\u00f6d\u00e9 \u2713""#),
        ];
        for (input, want) in cases {
            assert_eq!(to_php_json(&Value::from(*input)), *want, "{input:?}");
            assert_eq!(Json::Str((*input).to_owned()).to_php_json(), *want);
        }
    }

    #[test]
    fn number_formatting() {
        // Expected strings printed by PHP 8.2 json_encode (serialize_precision=-1).
        let cases: &[(f64, &str)] = &[
            (5.0, "5"),
            (1.5, "1.5"),
            (-1.5, "-1.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (0.0001, "0.0001"),
            (0.00001, "1.0e-5"),
            (2.5e-5, "2.5e-5"),
            (1e14, "100000000000000"),
            (1e15, "1000000000000000"),
            (1e16, "10000000000000000"),
            (1e17, "1.0e+17"),
            (1e20, "1.0e+20"),
            (-1e20, "-1.0e+20"),
            (1e100, "1.0e+100"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0, "0"),
            (-0.0, "-0"),
            (0.5, "0.5"),
            (123.456, "123.456"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5.0e-324"),
        ];
        for (f, want) in cases {
            assert_eq!(to_php_json(&Value::Float(*f)), *want, "{f:e}");
            assert_eq!(Json::Float(*f).to_php_json(), *want, "{f:e}");
        }
        assert_eq!(to_php_json(&Value::Float(f64::NAN)), "null");
        assert_eq!(to_php_json(&Value::Float(f64::INFINITY)), "null");
        assert_eq!(Json::Float(f64::NEG_INFINITY).to_php_json(), "null");
        // Exact integers stay exact in the value model.
        assert_eq!(to_php_json(&Value::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(to_php_json(&Value::Int(i64::MIN)), "-9223372036854775808");
        // `(string)$float`, precision 14 (printed by PHP 8.2).
        let cast: &[(f64, &str)] = &[
            (1e15, "1.0E+15"),
            (1e14, "1.0E+14"),
            (999999999999999.0, "1.0E+15"),
            (123456789012345678.0, "1.2345678901235E+17"),
            (0.1 + 0.2, "0.3"),
            (0.00001, "1.0E-5"),
            (0.0001, "0.0001"),
            (-0.0, "-0"),
            (5.0, "5"),
            (1.5, "1.5"),
            (1e100, "1.0E+100"),
        ];
        for (f, want) in cast {
            assert_eq!(php_float_string(*f), *want, "{f:e}");
        }
        assert_eq!(php_float_string(f64::NAN), "NAN");
        assert_eq!(php_float_string(f64::INFINITY), "INF");
        assert_eq!(php_float_string(f64::NEG_INFINITY), "-INF");
    }

    #[test]
    fn value_encoding() {
        let v = Json::parse(br#"{"b":[],"a":{}}"#)
            .expect("valid")
            .into_value();
        assert_eq!(to_php_json(&v), r#"{"a":{},"b":[]}"#);
        assert_eq!(
            to_php_json(&Value::Bin(vec![0, 1, 2, 0xff])),
            r#""\u0000AAEC\/w==""#
        );
        let mut deep = Value::Null;
        let mut deep_json = Json::Null;
        for _ in 0..600 {
            deep = Value::List(vec![deep]);
            deep_json = Json::List(vec![deep_json]);
        }
        assert_eq!(to_php_json(&deep).matches('[').count(), MAX_ENCODE_DEPTH);
        assert_eq!(
            deep_json.to_php_json().matches('[').count(),
            MAX_ENCODE_DEPTH
        );
        // Output parses back to the same value.
        let v = Json::parse(r#"{"a":[1,-2,3.25,"x\/y",null,true,{"é":"😀"}]}"#.as_bytes())
            .expect("valid")
            .into_value();
        let again = Json::parse(to_php_json(&v).as_bytes())
            .expect("own output is valid")
            .into_value();
        assert_eq!(again, v);
    }
}
