//! The serializer-neutral value model for everything WAMP carries.
//!
//! WAMP messages are lists of dynamically typed elements (IDs, URIs, option
//! dicts, application payloads). JSON and MessagePack each have their own tree
//! types; decoding both into this one enum lets the router inspect options and
//! re-encode payloads for peers that negotiated a different serializer
//! (e.g. bytes published over MessagePack delivered to a JSON subscriber).

/// A WAMP dictionary (`Details`, `Options`, `KwArgs`, ...): string keys, sorted
/// so encoding is deterministic.
pub type Dict = std::collections::BTreeMap<String, Value>;

/// Largest integer a WAMP ID may take (2^53), kept local so the value model
/// does not depend on the `id` module.
const MAX_ID: u64 = 1 << 53;

/// 2^64 as an `f64`, the first float that no longer fits in a `u64`.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// A dynamically typed WAMP value.
///
/// Integer normalisation: the decoders (and `From<i64>`) produce [`Value::UInt`]
/// for every non-negative integer and [`Value::Int`] only for negative ones.
/// `PartialEq` is derived, so `Int(5) != UInt(5)`; as long as values come from
/// the decoders or the `From` impls the representation is canonical and
/// equality comparisons are stable. Likewise `Float(3.0) != UInt(3)` — use
/// [`Value::as_u64`]/[`Value::as_id`] when the numeric value is what matters.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null`, MessagePack `nil`, and MessagePack ext type 0 ("undefined").
    Null,
    /// A boolean.
    Bool(bool),
    /// A negative integer (by convention; see the type-level docs).
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// Raw bytes (MessagePack `bin`; JSON `"\u0000" + base64`).
    Bin(Vec<u8>),
    /// A list.
    List(Vec<Value>),
    /// A dictionary with string keys.
    Dict(Dict),
}

impl Value {
    /// The string, if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The dictionary, if this is a [`Value::Dict`].
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The list elements, if this is a [`Value::List`].
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Interprets the value as a WAMP ID: a non-negative integer up to 2^53
    /// inclusive. Integral floats are accepted (wampy sends big IDs as
    /// float64). `None` for non-integral, negative or out-of-range numbers and
    /// for non-numbers. `0` is accepted because the revocation form of
    /// UNSUBSCRIBED uses it; callers that need `[1, 2^53]` check for zero.
    pub fn as_id(&self) -> Option<u64> {
        self.as_u64().filter(|&n| n <= MAX_ID)
    }

    /// Interprets the value as any non-negative integer that fits in a `u64`
    /// (integral floats accepted). `None` otherwise.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::UInt(n) => Some(n),
            Value::Int(n) => u64::try_from(n).ok(),
            Value::Float(f) => {
                if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < TWO_POW_64 {
                    // Exact: `f` is integral and within the u64 range.
                    Some(f as u64)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// `true` for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl From<&str> for Value {
    /// A [`Value::Str`] holding a copy of the string.
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    /// A [`Value::Str`].
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    /// A [`Value::Bool`].
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<u64> for Value {
    /// A [`Value::UInt`].
    fn from(n: u64) -> Self {
        Value::UInt(n)
    }
}

impl From<i64> for Value {
    /// [`Value::UInt`] for non-negative numbers, [`Value::Int`] for negative
    /// ones, matching what the decoders produce.
    fn from(n: i64) -> Self {
        match u64::try_from(n) {
            Ok(u) => Value::UInt(u),
            Err(_) => Value::Int(n),
        }
    }
}

impl From<f64> for Value {
    /// A [`Value::Float`].
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<Vec<Value>> for Value {
    /// A [`Value::List`].
    fn from(l: Vec<Value>) -> Self {
        Value::List(l)
    }
}

impl From<Dict> for Value {
    /// A [`Value::Dict`].
    fn from(d: Dict) -> Self {
        Value::Dict(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        assert_eq!(Value::from("x").as_str(), Some("x"));
        assert_eq!(Value::from(1u64).as_str(), None);
        assert_eq!(Value::from(true).as_bool(), Some(true));
        assert_eq!(Value::Null.as_bool(), None);
        assert!(Value::Null.is_null());
        assert!(!Value::from(false).is_null());
        let d: Dict = [("a".to_owned(), Value::from(1u64))].into_iter().collect();
        assert_eq!(Value::from(d.clone()).as_dict(), Some(&d));
        assert_eq!(
            Value::from(vec![Value::Null]).as_list(),
            Some(&[Value::Null][..])
        );
        assert_eq!(Value::from("x").as_list(), None);
        assert_eq!(Value::from("x").as_dict(), None);
    }

    #[test]
    fn from_i64_normalises() {
        assert_eq!(Value::from(5i64), Value::UInt(5));
        assert_eq!(Value::from(0i64), Value::UInt(0));
        assert_eq!(Value::from(-5i64), Value::Int(-5));
        assert_eq!(Value::from(String::from("s")), Value::Str("s".into()));
        assert_eq!(Value::from(1.5), Value::Float(1.5));
    }

    #[test]
    fn as_id_rules() {
        assert_eq!(Value::UInt(0).as_id(), Some(0));
        assert_eq!(Value::UInt(1).as_id(), Some(1));
        assert_eq!(Value::UInt(MAX_ID).as_id(), Some(MAX_ID));
        assert_eq!(Value::UInt(MAX_ID + 1).as_id(), None);
        assert_eq!(Value::Int(-1).as_id(), None);
        assert_eq!(Value::Int(7).as_id(), Some(7));
        assert_eq!(Value::Float(3.0).as_id(), Some(3));
        assert_eq!(Value::Float(9_007_199_254_740_992.0).as_id(), Some(MAX_ID));
        assert_eq!(Value::Float(3.5).as_id(), None);
        assert_eq!(Value::Float(-1.0).as_id(), None);
        assert_eq!(Value::Float(f64::NAN).as_id(), None);
        assert_eq!(Value::Float(f64::INFINITY).as_id(), None);
        assert_eq!(Value::Float(1e300).as_id(), None);
        assert_eq!(Value::Str("1".into()).as_id(), None);
        assert_eq!(Value::Null.as_id(), None);
    }

    #[test]
    fn as_u64_rules() {
        assert_eq!(Value::UInt(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(Value::Int(-3).as_u64(), None);
        assert_eq!(
            Value::Float(1e19).as_u64(),
            Some(10_000_000_000_000_000_000)
        );
        assert_eq!(Value::Float(TWO_POW_64).as_u64(), None);
        assert_eq!(Value::Float(0.25).as_u64(), None);
        assert_eq!(Value::Bool(true).as_u64(), None);
    }
}
