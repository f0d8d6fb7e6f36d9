//! URI validation and match-policy parsing (protocol reference §6.2, §6.6).
//!
//! The codec only checks that URIs are strings; whether a topic or procedure
//! URI is acceptable depends on the router's policy (loose vs strict) and on
//! the subscription/registration match policy (exact, prefix, wildcard), so
//! that decision lives here. The spec's regexes are implemented by hand (no
//! regex dependency); each function documents the regex it mirrors.

use super::option_error::OptionError;
use super::value::{Dict, Value};

/// How strictly URI components are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriPolicy {
    /// Components may contain anything except whitespace, `.` and `#`
    /// (`^([^\s\.#]+\.)*([^\s\.#]+)$`). What Crossbar and most clients use.
    #[default]
    Loose,
    /// Components are `[0-9a-z_]+` (`^([0-9a-z_]+\.)*([0-9a-z_]+)$`).
    Strict,
}

/// How a subscription or registration URI is matched (`Options.match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MatchPolicy {
    /// The URI must equal the topic/procedure.
    #[default]
    Exact,
    /// The URI is a prefix of the topic/procedure.
    Prefix,
    /// Empty URI components match any single component.
    Wildcard,
}

impl MatchPolicy {
    /// Reads `options["match"]`: absent (or null) → `Exact`; `"exact"`,
    /// `"prefix"`, `"wildcard"` → that policy; anything else → `Err` with a
    /// message suitable for an `ERROR.Args`.
    pub fn from_options(options: &Dict) -> Result<MatchPolicy, OptionError> {
        match options.get("match") {
            None | Some(Value::Null) => Ok(MatchPolicy::Exact),
            Some(Value::Str(s)) => match s.as_str() {
                "exact" => Ok(MatchPolicy::Exact),
                "prefix" => Ok(MatchPolicy::Prefix),
                "wildcard" => Ok(MatchPolicy::Wildcard),
                other => Err(OptionError::UnknownMatch(other.to_owned())),
            },
            Some(_) => Err(OptionError::MatchNotString),
        }
    }

    /// The wire name: `"exact"`, `"prefix"` or `"wildcard"` (e.g. for
    /// `EVENT.Details` or meta-API results).
    pub fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }
}

fn loose_char(c: char) -> bool {
    // `char::is_whitespace` is Unicode White_Space, i.e. regex `\s`.
    !c.is_whitespace() && c != '.' && c != '#'
}

fn strict_char(c: char) -> bool {
    matches!(c, '0'..='9' | 'a'..='z' | '_')
}

/// Every `.`-separated component is made of allowed characters; empty
/// components are allowed only if `allow_empty`.
fn components_ok(uri: &str, char_ok: fn(char) -> bool, allow_empty: bool) -> bool {
    uri.split('.').all(|comp| {
        if comp.is_empty() {
            allow_empty
        } else {
            comp.chars().all(char_ok)
        }
    })
}

/// Validates a topic/procedure URI (or a subscription/registration pattern)
/// under `policy`, for use with `match_policy`. The empty string is never
/// valid.
///
/// - `Exact`: loose `^([^\s\.#]+\.)*([^\s\.#]+)$` / strict
///   `^([0-9a-z_]+\.)*([0-9a-z_]+)$` — no empty components.
/// - `Wildcard`: loose `^(([^\s\.#]+\.)|\.)*([^\s\.#]+)?$` / strict
///   `^(([0-9a-z_]+\.)|\.)*([0-9a-z_]+)?$` — empty components allowed
///   (`com.myapp..update`).
/// - `Prefix`: like `Exact`, plus one optional trailing dot (`com.myapp.` is
///   a common prefix); `"."` alone is invalid.
///
/// Use `MatchPolicy::Exact` for PUBLISH topics and CALL procedures.
pub fn is_valid_uri(uri: &str, policy: UriPolicy, match_policy: MatchPolicy) -> bool {
    if uri.is_empty() {
        return false;
    }
    let char_ok: fn(char) -> bool = match policy {
        UriPolicy::Loose => loose_char,
        UriPolicy::Strict => strict_char,
    };
    match match_policy {
        MatchPolicy::Exact => components_ok(uri, char_ok, false),
        MatchPolicy::Wildcard => components_ok(uri, char_ok, true),
        MatchPolicy::Prefix => {
            let body = uri.strip_suffix('.').unwrap_or(uri);
            !body.is_empty() && components_ok(body, char_ok, false)
        }
    }
}

/// Whether the URI is in the reserved `wamp` namespace (first component is
/// exactly `wamp`), which clients must not register or publish to.
pub fn is_reserved(uri: &str) -> bool {
    uri.split('.').next() == Some("wamp")
}

/// The text every URI matched by wildcard pattern `uri` starts with: the components before the
/// first empty one, each followed by `.` (`a.b..d` → `a.b.`; `.b.c` → empty). `None` when no
/// component is empty (the pattern matches `uri` only). Permission checks use it to tell whether
/// a wildcard subscription stays inside an allowed prefix.
pub fn wildcard_fixed_prefix(uri: &str) -> Option<&str> {
    let mut end = 0;
    for component in uri.split('.') {
        if component.is_empty() {
            return uri.get(..end);
        }
        end += component.len() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use MatchPolicy::{Exact, Prefix, Wildcard};
    use UriPolicy::{Loose, Strict};

    /// (uri, loose exact, strict exact, loose prefix, strict prefix,
    ///  loose wildcard, strict wildcard)
    const TABLE: &[(&str, [bool; 6])] = &[
        ("com.myapp.topic1", [true, true, true, true, true, true]),
        ("a", [true, true, true, true, true, true]),
        (
            "com.myapp..update",
            [false, false, false, false, true, true],
        ),
        ("..update", [false, false, false, false, true, true]),
        ("com.myapp.", [false, false, true, true, true, true]),
        ("com.myapp..", [false, false, false, false, true, true]),
        (".com", [false, false, false, false, true, true]),
        (".", [false, false, false, false, true, true]),
        ("..", [false, false, false, false, true, true]),
        ("", [false, false, false, false, false, false]),
        ("a b", [false, false, false, false, false, false]),
        ("a\tb", [false, false, false, false, false, false]),
        ("a\u{00a0}b", [false, false, false, false, false, false]),
        ("a\u{3000}.b", [false, false, false, false, false, false]),
        ("com.my#app", [false, false, false, false, false, false]),
        ("oro/data/update", [true, false, true, false, true, false]),
        ("com.MyApp", [true, false, true, false, true, false]),
        ("com.myapp-x", [true, false, true, false, true, false]),
        ("com.myapp_x.v2", [true, true, true, true, true, true]),
        ("ünïcode.topic", [true, false, true, false, true, false]),
        ("wamp.session.count", [true, true, true, true, true, true]),
        ("com..", [false, false, false, false, true, true]),
    ];

    #[test]
    fn validity_table() {
        let combos = [
            (Loose, Exact),
            (Strict, Exact),
            (Loose, Prefix),
            (Strict, Prefix),
            (Loose, Wildcard),
            (Strict, Wildcard),
        ];
        for (uri, expected) in TABLE {
            for ((policy, mp), want) in combos.iter().zip(expected.iter()) {
                assert_eq!(
                    is_valid_uri(uri, *policy, *mp),
                    *want,
                    "{uri:?} {policy:?} {mp:?}"
                );
            }
        }
    }

    #[test]
    fn reserved() {
        assert!(is_reserved("wamp.session.count"));
        assert!(is_reserved("wamp"));
        assert!(is_reserved("wamp."));
        assert!(!is_reserved("wampy.session"));
        assert!(!is_reserved("com.wamp.x"));
        assert!(!is_reserved(""));
    }

    #[test]
    fn match_policy_from_options() {
        let mut o = Dict::new();
        assert_eq!(MatchPolicy::from_options(&o), Ok(Exact));
        for (s, mp) in [("exact", Exact), ("prefix", Prefix), ("wildcard", Wildcard)] {
            o.insert("match".into(), Value::from(s));
            assert_eq!(MatchPolicy::from_options(&o), Ok(mp));
            assert_eq!(mp.as_str(), s);
        }
        o.insert("match".into(), Value::Null);
        assert_eq!(MatchPolicy::from_options(&o), Ok(Exact));
        o.insert("match".into(), Value::from("regex"));
        assert!(MatchPolicy::from_options(&o).is_err());
        o.insert("match".into(), Value::from("Prefix"));
        assert!(MatchPolicy::from_options(&o).is_err());
        o.insert("match".into(), Value::UInt(1));
        assert!(MatchPolicy::from_options(&o).is_err());
        assert_eq!(MatchPolicy::default(), Exact);
        assert_eq!(UriPolicy::default(), Loose);
    }
}
