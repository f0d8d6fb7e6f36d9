//! Stateless signed tickets for WAMP `ticket` authentication and the
//! WebSocket `?ticket=` query parameter.
//!
//! Why: a backend (PHP, Python, a shell script) must be able to let a browser
//! into the router as a given user, for a short time, optionally confined to
//! the topics it may subscribe to (the "room secret" model of ws-emit) —
//! without a shared session store between the backend and the router. Both
//! sides know one secret (`WEBSOCKET_TICKET_SECRET`); the backend signs the
//! claims with HMAC-SHA256 and the router checks the signature and the expiry.
//! Everything here is pure (the caller supplies the clock), so it is tested
//! with plain unit tests and cross-checked against tokens minted by real
//! Python, PHP and `openssl`.
//!
//! # Token format
//!
//! ```text
//! token  = body "." sig
//! body   = B64URL(claims JSON, UTF-8)
//! sig    = B64URL(HMAC-SHA256(key = secret bytes, message = ASCII bytes of body))
//! B64URL = RFC 4648 §5 alphabet (A-Z a-z 0-9 - _), no "=" padding
//! ```
//!
//! The MAC covers the `body` text *exactly as it appears in the token* (as
//! in JWS), so the JSON need not be canonical: key order, spacing and
//! escapes are the minter's choice. The secret is the raw bytes of the
//! configured string (not hex- or base64-decoded).
//!
//! Claims (a JSON object; unknown members are ignored, duplicate members are
//! rejected):
//!
//! | member   | type                | required | meaning |
//! |----------|---------------------|----------|---------|
//! | `sub`    | non-empty string    | yes      | WAMP `authid` (a number must be sent as a string: `"42"`) |
//! | `role`   | non-empty string    | yes      | WAMP `authrole` |
//! | `exp`    | integer, Unix s     | yes      | rejected once `now - leeway >= exp` |
//! | `topics` | array of strings    | no       | topic patterns the holder may subscribe to; absent = no restriction, `[]` = none |
//! | `nbf`    | integer, Unix s     | no       | rejected while `now + leeway < nbf` |
//! | `iat`    | integer, Unix s     | no       | informational only (type-checked) |
//!
//! Integers must be JSON integers (`1700000300`, not `1700000300.0`).
//! Tokens longer than [`MAX_TOKEN_LEN`] bytes are rejected before any work.
//!
//! # Topic patterns
//!
//! A pattern ending in `.` is a *prefix* pattern: it matches every topic that
//! starts with it (`com.app.user.42.` matches `com.app.user.42.inbox` but not
//! `com.app.user.42` nor `com.app.user.420.inbox` — the trailing dot keeps a
//! room from leaking into its neighbours). Any other pattern matches only the
//! identical topic. To allow a room and everything under it, list both
//! (`["com.app.room.7", "com.app.room.7."]`). For SUBSCRIBE requests that
//! themselves use `match: prefix | wildcard`, see [`Claims::may_subscribe_match`].
//!
//! # Minting in other languages
//!
//! These exact snippets produced the cross-language test vectors below
//! (`exp` is absolute; pass `time() + ttl`):
//!
//! PHP (`hash_hmac`, PHP ≥ 7.3):
//!
//! ```php
//! function b64url(string $data): string {
//!     return rtrim(strtr(base64_encode($data), '+/', '-_'), '=');
//! }
//!
//! function wampd_ticket(string $secret, string $authid, string $role, int $exp, ?array $topics = null): string {
//!     $claims = ['sub' => $authid, 'role' => $role, 'exp' => $exp];
//!     if ($topics !== null) {
//!         $claims['topics'] = array_values($topics);
//!     }
//!     $body = b64url(json_encode($claims, JSON_THROW_ON_ERROR));
//!     return $body . '.' . b64url(hash_hmac('sha256', $body, $secret, true));
//! }
//!
//! // $ticket = wampd_ticket(getenv('WEBSOCKET_TICKET_SECRET'), (string) $userId, 'user',
//! //                        time() + 300, ["com.app.user.$userId."]);
//! ```
//!
//! Python (`hmac`):
//!
//! ```python
//! import base64, hashlib, hmac, json
//!
//! def b64url(data: bytes) -> str:
//!     return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
//!
//! def wampd_ticket(secret: str, authid: str, role: str, exp: int, topics=None) -> str:
//!     claims = {"sub": str(authid), "role": role, "exp": int(exp)}
//!     if topics is not None:
//!         claims["topics"] = list(topics)
//!     body = b64url(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
//!     sig = hmac.new(secret.encode("utf-8"), body.encode("ascii"), hashlib.sha256).digest()
//!     return body + "." + b64url(sig)
//!
//! # ticket = wampd_ticket(os.environ["WEBSOCKET_TICKET_SECRET"], "42", "user", int(time.time()) + 300)
//! ```
//!
//! Shell (`openssl dgst -hmac`; no `topics`, and AUTHID/ROLE must not contain
//! `"` or `\`):
//!
//! ```sh
//! b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
//!
//! # wampd_ticket SECRET AUTHID ROLE EXP
//! wampd_ticket() {
//!     body=$(printf '{"sub":"%s","role":"%s","exp":%s}' "$2" "$3" "$4" | b64url)
//!     sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$1" -binary | b64url)
//!     printf '%s.%s\n' "$body" "$sig"
//! }
//!
//! # wampd_ticket "$WEBSOCKET_TICKET_SECRET" 42 user $(( $(date +%s) + 300 ))
//! ```

use crate::wamp::uri::wildcard_fixed_prefix;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// Largest token [`verify`] looks at, in bytes (4 KiB): a ticket travels in a
/// URL query string and a HELLO/AUTHENTICATE frame, and anything bigger is
/// either a mistake or an attempt to make the router do work.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Length of an HMAC-SHA256 tag in bytes.
const TAG_LEN: usize = 32;

/// What a verified ticket says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// WAMP `authid` (claim `sub`).
    pub authid: String,
    /// WAMP `authrole` (claim `role`).
    pub authrole: String,
    /// Expiry as Unix seconds (claim `exp`).
    pub expires: i64,
    /// Topic patterns the holder may subscribe to (claim `topics`); `None`
    /// means unrestricted, `Some(vec![])` means no subscription at all.
    pub topics: Option<Vec<String>>,
}

pub use crate::wamp::MatchPolicy;

impl Claims {
    /// Whether the holder may subscribe to `topic` (an exact subscription):
    /// always when the ticket has no `topics`; otherwise when some pattern
    /// matches — a pattern ending in `.` matches topics starting with it,
    /// any other pattern only the identical topic.
    pub fn may_subscribe(&self, topic: &str) -> bool {
        let Some(patterns) = &self.topics else {
            return true;
        };
        patterns.iter().any(|p| pattern_matches(p, topic))
    }

    /// Whether the holder may make a subscription `uri` with match policy
    /// `policy`, i.e. whether *every* topic that subscription could receive
    /// is allowed:
    ///
    /// * `Exact`: as [`Claims::may_subscribe`].
    /// * `Prefix`: some prefix pattern `q` with `uri.starts_with(q)`
    ///   (`com.app.user.42.chat.` inside `com.app.user.42.`); a prefix
    ///   subscription to `com.app.` under `com.app.user.42.` is refused.
    /// * `Wildcard`: the components before the first empty one, each followed
    ///   by `.`, must start with some prefix pattern (`com.app.user.42..x`
    ///   inside `com.app.user.42.`); a leading empty component never passes.
    ///
    /// Conservative: a subscription whose topics are covered only by the union
    /// of several patterns is refused. Unrestricted tickets allow everything.
    pub fn may_subscribe_match(&self, uri: &str, policy: MatchPolicy) -> bool {
        let Some(patterns) = &self.topics else {
            return true;
        };
        match policy {
            MatchPolicy::Exact => self.may_subscribe(uri),
            MatchPolicy::Prefix => patterns
                .iter()
                .any(|q| q.ends_with('.') && uri.starts_with(q.as_str())),
            MatchPolicy::Wildcard => match wildcard_fixed_prefix(uri) {
                // No empty component: the subscription matches `uri` alone.
                None => self.may_subscribe(uri),
                Some(fixed) => {
                    !fixed.is_empty()
                        && patterns
                            .iter()
                            .any(|q| q.ends_with('.') && fixed.starts_with(q.as_str()))
                }
            },
        }
    }
}

/// Does topic pattern `pattern` allow `topic`? (See the module docs.)
fn pattern_matches(pattern: &str, topic: &str) -> bool {
    if pattern.ends_with('.') {
        topic.starts_with(pattern)
    } else {
        topic == pattern
    }
}

/// Why a ticket was refused. `Display` texts are meant for logs and never
/// contain the secret, the signature or the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The token is not `body.sig` in unpadded base64url, or its claims are
    /// not the documented JSON; the text says which part is wrong.
    #[error("malformed ticket: {0}")]
    Malformed(&'static str),
    /// The signature does not match the claims under the configured secret
    /// (wrong secret, tampered claims or signature, or an empty secret).
    #[error("ticket signature mismatch")]
    BadSignature,
    /// The ticket's `exp` has passed (beyond the leeway).
    #[error("ticket expired")]
    Expired,
    /// The ticket's `nbf` lies in the future (beyond the leeway).
    #[error("ticket not yet valid")]
    NotYetValid,
    /// The token is longer than [`MAX_TOKEN_LEN`] bytes.
    #[error("ticket longer than 4096 bytes")]
    TooLarge,
}

/// Claims as they are written to the token by [`mint`]; the member order
/// (`sub, role, exp, topics`) matches the Python snippet, so both produce
/// byte-identical tokens.
#[derive(Serialize)]
struct WireOut<'a> {
    sub: &'a str,
    role: &'a str,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    topics: Option<&'a [String]>,
}

/// Claims as [`verify`] reads them (unknown members ignored, duplicates and
/// `null` optional members refused).
#[derive(Deserialize)]
struct WireIn {
    sub: String,
    role: String,
    exp: i64,
    #[serde(default, deserialize_with = "present")]
    topics: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    nbf: Option<i64>,
    #[serde(default, deserialize_with = "present", rename = "iat")]
    _iat: Option<i64>,
}

/// An optional claim that, when present, must have its type: `null` is
/// refused rather than read as "absent", so a minter bug such as
/// `"topics": null` fails closed instead of granting every topic.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// HMAC-SHA256 of `message` under `secret`; `None` only if the MAC rejects
/// the key, which HMAC never does.
fn tag(secret: &[u8], message: &[u8]) -> Option<[u8; TAG_LEN]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(message);
    mac.finalize().into_bytes().as_slice().try_into().ok()
}

/// Signs `claims` with `secret` into a token (format in the module docs).
///
/// Cannot fail in practice; should serialization ever fail, the result is an
/// empty string, which [`verify`] rejects. An empty `secret` yields a token
/// no [`verify`] accepts.
pub fn mint(secret: &[u8], claims: &Claims) -> String {
    let wire = WireOut {
        sub: &claims.authid,
        role: &claims.authrole,
        exp: claims.expires,
        topics: claims.topics.as_deref(),
    };
    let Ok(json) = serde_json::to_vec(&wire) else {
        return String::new();
    };
    let body = URL_SAFE_NO_PAD.encode(json);
    let Some(sig) = tag(secret, body.as_bytes()) else {
        return String::new();
    };
    format!("{body}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Checks `token` against `secret` at time `now_unix` (Unix seconds) and
/// returns its claims.
///
/// Order: size, shape, signature (constant-time), claims, time. `leeway_secs`
/// (negative counts as 0) tolerates clock skew on both `exp` and `nbf`. An
/// empty `secret` accepts nothing ([`TicketError::BadSignature`]): tokens
/// signed with it would be forgeable by anyone.
pub fn verify(
    secret: &[u8],
    token: &str,
    now_unix: i64,
    leeway_secs: i64,
) -> Result<Claims, TicketError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TicketError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(body), Some(sig), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TicketError::Malformed("expected exactly one '.'"));
    };
    if body.is_empty() {
        return Err(TicketError::Malformed("empty claims"));
    }
    // Before the MAC, so stray whitespace or a standard-alphabet encoder is
    // reported as such rather than as a signature mismatch.
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(TicketError::Malformed("claims are not unpadded base64url"));
    }
    let given = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| TicketError::Malformed("signature is not unpadded base64url"))?;
    if given.len() != TAG_LEN {
        return Err(TicketError::Malformed("signature is not 32 bytes"));
    }
    if secret.is_empty() {
        return Err(TicketError::BadSignature);
    }
    let expected = tag(secret, body.as_bytes()).ok_or(TicketError::BadSignature)?;
    if !bool::from(expected.ct_eq(given.as_slice())) {
        return Err(TicketError::BadSignature);
    }

    let json = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| TicketError::Malformed("claims are not unpadded base64url"))?;
    // serde's derived struct visitor would also take a JSON array in field order.
    if json.trim_ascii_start().first() != Some(&b'{') {
        return Err(TicketError::Malformed("claims are not a JSON object"));
    }
    let wire: WireIn = serde_json::from_slice(&json).map_err(|_| {
        TicketError::Malformed(
            "claims are not a JSON object with string sub, string role, integer exp",
        )
    })?;
    if wire.sub.is_empty() {
        return Err(TicketError::Malformed("empty sub"));
    }
    if wire.role.is_empty() {
        return Err(TicketError::Malformed("empty role"));
    }

    let leeway = leeway_secs.max(0);
    if now_unix.saturating_sub(leeway) >= wire.exp {
        return Err(TicketError::Expired);
    }
    if let Some(nbf) = wire.nbf {
        if now_unix.saturating_add(leeway) < nbf {
            return Err(TicketError::NotYetValid);
        }
    }
    Ok(Claims {
        authid: wire.sub,
        authrole: wire.role,
        expires: wire.exp,
        topics: wire.topics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"wampd-test-secret";
    /// Far-future expiry used by the cross-language vectors (2100-01-01).
    const EXP: i64 = 4_102_444_800;
    const NOW: i64 = 1_700_000_000;

    fn claims(topics: Option<&[&str]>) -> Claims {
        Claims {
            authid: "42".into(),
            authrole: "user".into(),
            expires: NOW + 300,
            topics: topics.map(|t| t.iter().map(|s| s.to_string()).collect()),
        }
    }

    /// Signs an arbitrary claims text, to reach the checks after the MAC.
    fn sign_json(json: &str) -> String {
        sign_body(&URL_SAFE_NO_PAD.encode(json))
    }

    /// Signs an arbitrary (possibly non-base64url) body segment.
    fn sign_body(body: &str) -> String {
        let sig = tag(SECRET, body.as_bytes()).map(|t| URL_SAFE_NO_PAD.encode(t));
        format!("{body}.{}", sig.unwrap_or_default())
    }

    fn malformed(token: &str) -> bool {
        matches!(
            verify(SECRET, token, NOW, 0),
            Err(TicketError::Malformed(_))
        )
    }

    // --- cross-language vectors (snippets in the module docs / TICKETS.md) ---

    /// Python: `wampd_ticket('wampd-test-secret', '42', 'user', 4102444800,
    /// ['com.app.user.42.', 'com.app.news'])`.
    const PY_TOPICS: &str = "eyJzdWIiOiI0MiIsInJvbGUiOiJ1c2VyIiwiZXhwIjo0MTAyNDQ0ODAwLCJ0b3BpY3MiOlsiY29tLmFwcC51c2VyLjQyLiIsImNvbS5hcHAubmV3cyJdfQ.8BbHW4KIYSXYOyGL0NX8nadOE4OfoOW9rnneBmiC9MI";
    /// Python: `wampd_ticket('wampd-test-secret', '42', 'user', 4102444800)`.
    const PY_PLAIN: &str = "eyJzdWIiOiI0MiIsInJvbGUiOiJ1c2VyIiwiZXhwIjo0MTAyNDQ0ODAwfQ.lvB_YESbcDe4GxDwer2YnvSHxgk33XjG1sZhpYCRX7c";
    /// Python: `wampd_ticket('wampd-test-secret', 'jérôme', 'admin', 4102444800, [])`
    /// (`json.dumps` escapes non-ASCII as `\u00e9`).
    const PY_UNICODE: &str = "eyJzdWIiOiJqXHUwMGU5clx1MDBmNG1lIiwicm9sZSI6ImFkbWluIiwiZXhwIjo0MTAyNDQ0ODAwLCJ0b3BpY3MiOltdfQ.CNkCE9l1ytN7duJjxPq11z-M4ITUUOOAwmk0P0Ei77U";
    /// PHP 8.2: `wampd_ticket('wampd-test-secret', '42', 'user', 4102444800,
    /// ['com.app.user.42.', 'com.app/news'])` (`json_encode` writes `\/`).
    const PHP_TOPICS: &str = "eyJzdWIiOiI0MiIsInJvbGUiOiJ1c2VyIiwiZXhwIjo0MTAyNDQ0ODAwLCJ0b3BpY3MiOlsiY29tLmFwcC51c2VyLjQyLiIsImNvbS5hcHBcL25ld3MiXX0.3G6tjhIlR832TTzmiRtyT_hNiKIgmQgxSD2VoIeciYw";
    /// PHP 8.2: `wampd_ticket('wampd-test-secret', 'jérôme', 'admin', 4102444800)`.
    const PHP_UNICODE: &str = "eyJzdWIiOiJqXHUwMGU5clx1MDBmNG1lIiwicm9sZSI6ImFkbWluIiwiZXhwIjo0MTAyNDQ0ODAwfQ.2OIZ-mtZwz9-0z98akhIzF_b7qxtw4k12tZVVawZHKw";
    /// bash and dash with OpenSSL 3.0: `wampd_ticket wampd-test-secret 42 user 4102444800`
    /// (byte-identical to `PY_PLAIN`).
    const SHELL_PLAIN: &str = "eyJzdWIiOiI0MiIsInJvbGUiOiJ1c2VyIiwiZXhwIjo0MTAyNDQ0ODAwfQ.lvB_YESbcDe4GxDwer2YnvSHxgk33XjG1sZhpYCRX7c";

    fn expect(token: &str, authid: &str, role: &str, topics: Option<&[&str]>) {
        let got = verify(SECRET, token, NOW, 0);
        let want = Claims {
            authid: authid.into(),
            authrole: role.into(),
            expires: EXP,
            topics: topics.map(|t| t.iter().map(|s| s.to_string()).collect()),
        };
        assert_eq!(got, Ok(want), "token {token}");
    }

    #[test]
    fn accepts_python_tokens() {
        expect(
            PY_TOPICS,
            "42",
            "user",
            Some(&["com.app.user.42.", "com.app.news"]),
        );
        expect(PY_PLAIN, "42", "user", None);
        expect(PY_UNICODE, "jérôme", "admin", Some(&[]));
    }

    #[test]
    fn accepts_php_tokens() {
        expect(
            PHP_TOPICS,
            "42",
            "user",
            Some(&["com.app.user.42.", "com.app/news"]),
        );
        expect(PHP_UNICODE, "jérôme", "admin", None);
    }

    #[test]
    fn accepts_shell_token() {
        expect(SHELL_PLAIN, "42", "user", None);
    }

    #[test]
    fn mint_is_byte_identical_to_python() {
        let mut c = claims(Some(&["com.app.user.42.", "com.app.news"]));
        c.expires = EXP;
        assert_eq!(mint(SECRET, &c), PY_TOPICS);
        c.topics = None;
        assert_eq!(mint(SECRET, &c), PY_PLAIN);
    }

    // --- round trip, signature ---

    #[test]
    fn round_trip() {
        for c in [
            claims(None),
            claims(Some(&[])),
            claims(Some(&["a.b.", "c"])),
        ] {
            let token = mint(SECRET, &c);
            assert!(token.len() < MAX_TOKEN_LEN);
            assert_eq!(verify(SECRET, &token, NOW, 0), Ok(c));
        }
    }

    #[test]
    fn round_trip_escapes_awkward_strings() {
        let c = Claims {
            authid: "a\"b\\c\u{0}é😀".into(),
            authrole: "r.o/le".into(),
            expires: NOW + 1,
            topics: Some(vec!["x\"y.".into()]),
        };
        assert_eq!(verify(SECRET, &mint(SECRET, &c), NOW, 0), Ok(c));
    }

    #[test]
    fn tampered_claims_are_rejected() {
        let token = mint(SECRET, &claims(None));
        let (_, sig) = token.split_once('.').unwrap_or_default();
        // Same signature, claims for someone else.
        let other = mint(
            SECRET,
            &Claims {
                authid: "1".into(),
                ..claims(None)
            },
        );
        let (other_body, _) = other.split_once('.').unwrap_or_default();
        assert_eq!(
            verify(SECRET, &format!("{other_body}.{sig}"), NOW, 0),
            Err(TicketError::BadSignature)
        );
        // One character of the body changed.
        let mut bytes = token.into_bytes();
        bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap_or_default();
        assert_eq!(
            verify(SECRET, &tampered, NOW, 0),
            Err(TicketError::BadSignature)
        );
    }

    #[test]
    fn tampered_signature_is_rejected() {
        let token = mint(SECRET, &claims(None));
        let dot = token.find('.').unwrap_or_default();
        let mut bytes = token.into_bytes();
        bytes[dot + 1] = if bytes[dot + 1] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap_or_default();
        assert_eq!(
            verify(SECRET, &tampered, NOW, 0),
            Err(TicketError::BadSignature)
        );
    }

    #[test]
    fn wrong_secret_is_rejected() {
        let token = mint(SECRET, &claims(None));
        assert_eq!(
            verify(b"another-secret", &token, NOW, 0),
            Err(TicketError::BadSignature)
        );
        assert_eq!(
            verify(b"wampd-test-secreT", PY_PLAIN, NOW, 0),
            Err(TicketError::BadSignature)
        );
    }

    #[test]
    fn empty_secret_accepts_nothing() {
        let token = mint(b"", &claims(None));
        assert_eq!(verify(b"", &token, NOW, 0), Err(TicketError::BadSignature));
    }

    // --- time ---

    #[test]
    fn expiry_is_exclusive() {
        let token = mint(SECRET, &claims(None)); // exp = NOW + 300
        assert!(verify(SECRET, &token, NOW + 299, 0).is_ok());
        assert_eq!(
            verify(SECRET, &token, NOW + 300, 0),
            Err(TicketError::Expired)
        );
        assert_eq!(
            verify(SECRET, &token, i64::MAX, 0),
            Err(TicketError::Expired)
        );
    }

    #[test]
    fn leeway_tolerates_skew() {
        let token = mint(SECRET, &claims(None)); // exp = NOW + 300
        assert!(verify(SECRET, &token, NOW + 305, 10).is_ok());
        assert!(verify(SECRET, &token, NOW + 309, 10).is_ok());
        assert_eq!(
            verify(SECRET, &token, NOW + 310, 10),
            Err(TicketError::Expired)
        );
        // Negative leeway counts as none; huge leeway does not overflow.
        assert_eq!(
            verify(SECRET, &token, NOW + 300, -100),
            Err(TicketError::Expired)
        );
        assert!(verify(SECRET, &token, i64::MIN, i64::MAX).is_ok());
    }

    #[test]
    fn not_before_is_honoured() {
        let token = sign_json(&format!(
            r#"{{"sub":"42","role":"user","exp":{},"nbf":{}}}"#,
            NOW + 300,
            NOW + 10
        ));
        assert_eq!(
            verify(SECRET, &token, NOW, 0),
            Err(TicketError::NotYetValid)
        );
        assert_eq!(
            verify(SECRET, &token, NOW, 9),
            Err(TicketError::NotYetValid)
        );
        assert!(verify(SECRET, &token, NOW, 10).is_ok());
        assert!(verify(SECRET, &token, NOW + 10, 0).is_ok());
    }

    #[test]
    fn iat_is_informational_but_typed() {
        let ok = sign_json(&format!(
            r#"{{"sub":"42","role":"user","exp":{},"iat":{}}}"#,
            NOW + 300,
            NOW + 1000
        ));
        assert!(verify(SECRET, &ok, NOW, 0).is_ok());
        let bad = sign_json(&format!(
            r#"{{"sub":"42","role":"user","exp":{},"iat":"now"}}"#,
            NOW + 300
        ));
        assert!(malformed(&bad));
    }

    // --- malformed ---

    #[test]
    fn malformed_shapes() {
        let token = mint(SECRET, &claims(None));
        let (body, sig) = token.split_once('.').unwrap_or_default();
        for bad in [
            String::new(),
            "no-dot-at-all".into(),
            body.to_string(),
            format!("{body}."),
            format!(".{sig}"),
            format!("{token}.{sig}"),
            format!("{body}.{sig}="),         // padded signature
            format!("{body}.!{sig}"),         // not base64
            format!("{body}.{}", &sig[..22]), // 16 bytes
            format!("{body}.{sig}AAAA"),      // 35 bytes
            format!(" {token}"),
            format!("{token}\n"),
        ] {
            assert!(malformed(&bad), "{bad:?} should be malformed");
        }
    }

    #[test]
    fn signature_must_be_strict_base64url() {
        let token = mint(SECRET, &claims(None));
        let (body, sig) = token.split_once('.').unwrap_or_default();
        // Standard alphabet instead of URL-safe.
        let std_sig = sig.replace('-', "+").replace('_', "/");
        if std_sig != sig {
            assert!(malformed(&format!("{body}.{std_sig}")));
        }
        // Non-canonical trailing bits in the last character.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = sig.as_bytes()[sig.len() - 1];
        let index = ALPHABET.iter().position(|&c| c == last).unwrap_or_default();
        let noncanonical = ALPHABET[index | 1] as char;
        let bad = format!("{body}.{}{noncanonical}", &sig[..sig.len() - 1]);
        assert!(malformed(&bad), "{bad}");
    }

    #[test]
    fn claims_segment_must_be_strict_base64url() {
        // Correctly signed, but the body is not unpadded base64url.
        let padded = format!(
            "{}=",
            URL_SAFE_NO_PAD.encode(r#"{"sub":"42","role":"user","exp":4102444800}x"#)
        );
        assert!(malformed(&sign_body(&padded)));
        assert!(malformed(&sign_body("eyJ+")));
        assert!(malformed(&sign_body("")));
    }

    #[test]
    fn claims_must_be_the_documented_json() {
        let exp = NOW + 300;
        for json in [
            "not json".to_string(),
            "[]".into(),
            "null".into(),
            format!(r#"["42","user",{exp}]"#),
            format!(r#"{{"role":"user","exp":{exp}}}"#),
            format!(r#"{{"sub":"42","exp":{exp}}}"#),
            r#"{"sub":"42","role":"user"}"#.into(),
            format!(r#"{{"sub":42,"role":"user","exp":{exp}}}"#),
            format!(r#"{{"sub":"42","role":["user"],"exp":{exp}}}"#),
            format!(r#"{{"sub":"42","role":"user","exp":"{exp}"}}"#),
            format!(r#"{{"sub":"42","role":"user","exp":{exp}.0}}"#),
            r#"{"sub":"42","role":"user","exp":1e10}"#.into(),
            r#"{"sub":"42","role":"user","exp":99999999999999999999}"#.into(),
            format!(r#"{{"sub":"42","role":"user","exp":{exp},"topics":"com.app."}}"#),
            format!(r#"{{"sub":"42","role":"user","exp":{exp},"topics":[1]}}"#),
            format!(r#"{{"sub":"42","role":"user","exp":{exp},"topics":null}}"#),
            format!(r#"{{"sub":"42","role":"user","exp":{exp},"nbf":null}}"#),
            format!(r#"{{"sub":"42","role":"user","exp":{exp},"nbf":"soon"}}"#),
            format!(r#"{{"sub":"","role":"user","exp":{exp}}}"#),
            format!(r#"{{"sub":"42","role":"","exp":{exp}}}"#),
            format!(r#"{{"sub":"42","sub":"1","role":"user","exp":{exp}}}"#),
            format!(r#"{{"sub":"42","role":"user","exp":{exp}}} trailing"#),
        ] {
            assert!(malformed(&sign_json(&json)), "{json} should be malformed");
        }
    }

    #[test]
    fn unknown_claims_are_ignored() {
        let token = sign_json(&format!(
            r#"{{"sub":"42","role":"user","exp":{},"aud":"x","extra":{{"a":[1,2]}}}}"#,
            NOW + 300
        ));
        assert_eq!(verify(SECRET, &token, NOW, 0), Ok(claims(None)));
    }

    #[test]
    fn oversized_tokens_are_rejected_first() {
        assert_eq!(
            verify(SECRET, &"A".repeat(MAX_TOKEN_LEN + 1), NOW, 0),
            Err(TicketError::TooLarge)
        );
        // A validly signed token just over the limit is still refused...
        let many: Vec<String> = (0..200).map(|i| format!("com.app.room.{i}.")).collect();
        let big = Claims {
            topics: Some(many),
            ..claims(None)
        };
        let token = mint(SECRET, &big);
        assert!(token.len() > MAX_TOKEN_LEN);
        assert_eq!(verify(SECRET, &token, NOW, 0), Err(TicketError::TooLarge));
        // ...and one exactly at the limit is accepted.
        let mut c = claims(Some(&[]));
        let base = mint(SECRET, &c).len();
        // Each base64 character carries 3/4 byte: pad the authid until the token is 4096 bytes.
        let mut n = (MAX_TOKEN_LEN - base) * 3 / 4;
        loop {
            c.authid = "x".repeat(n);
            let len = mint(SECRET, &c).len();
            if len >= MAX_TOKEN_LEN {
                break;
            }
            n += 1;
        }
        let token = mint(SECRET, &c);
        assert_eq!(token.len(), MAX_TOKEN_LEN);
        assert_eq!(verify(SECRET, &token, NOW, 0), Ok(c));
    }

    #[test]
    fn errors_never_echo_secret_or_signature() {
        let token = mint(SECRET, &claims(None));
        let (_, sig) = token.split_once('.').unwrap_or_default();
        for err in [
            TicketError::Malformed("x"),
            TicketError::BadSignature,
            TicketError::Expired,
            TicketError::NotYetValid,
            TicketError::TooLarge,
        ] {
            let text = err.to_string();
            assert!(!text.contains("wampd-test-secret") && !text.contains(sig));
            assert!(text.contains("ticket"), "{text}");
        }
        assert_eq!(
            TicketError::Malformed("empty sub").to_string(),
            "malformed ticket: empty sub"
        );
    }

    // --- topics ---

    #[test]
    fn unrestricted_ticket_may_subscribe_anywhere() {
        let c = claims(None);
        assert!(c.may_subscribe("com.anything"));
        assert!(c.may_subscribe_match("com.", MatchPolicy::Prefix));
        assert!(c.may_subscribe_match("..x", MatchPolicy::Wildcard));
    }

    #[test]
    fn empty_topic_list_allows_nothing() {
        let c = claims(Some(&[]));
        assert!(!c.may_subscribe("com.app.user.42"));
        assert!(!c.may_subscribe_match("com.", MatchPolicy::Prefix));
        assert!(!c.may_subscribe_match("com..x", MatchPolicy::Wildcard));
    }

    #[test]
    fn exact_and_prefix_patterns() {
        let c = claims(Some(&["com.app.user.42.", "com.app.news"]));
        assert!(c.may_subscribe("com.app.user.42.inbox"));
        assert!(c.may_subscribe("com.app.user.42.a.b.c"));
        assert!(!c.may_subscribe("com.app.user.42"));
        assert!(!c.may_subscribe("com.app.user.420.inbox"));
        assert!(!c.may_subscribe("com.app.user.4"));
        assert!(c.may_subscribe("com.app.news"));
        assert!(!c.may_subscribe("com.app.news.sport"));
        assert!(!c.may_subscribe("com.app.new"));
        assert!(!c.may_subscribe("com.app.newsx"));
        assert!(!c.may_subscribe(""));
    }

    #[test]
    fn pattern_subscriptions_must_stay_inside_a_prefix() {
        let c = claims(Some(&["com.app.user.42.", "com.app.news"]));
        // Exact policy = may_subscribe.
        assert!(c.may_subscribe_match("com.app.user.42.inbox", MatchPolicy::Exact));
        assert!(!c.may_subscribe_match("com.app.user", MatchPolicy::Exact));
        // Prefix subscriptions: only inside a prefix pattern.
        assert!(c.may_subscribe_match("com.app.user.42.", MatchPolicy::Prefix));
        assert!(c.may_subscribe_match("com.app.user.42.chat", MatchPolicy::Prefix));
        assert!(!c.may_subscribe_match("com.app.user.42", MatchPolicy::Prefix));
        assert!(!c.may_subscribe_match("com.app.", MatchPolicy::Prefix));
        assert!(!c.may_subscribe_match("com.app.news", MatchPolicy::Prefix));
        assert!(!c.may_subscribe_match("", MatchPolicy::Prefix));
        // Wildcard subscriptions: the fixed leading components must be inside.
        assert!(c.may_subscribe_match("com.app.user.42..x", MatchPolicy::Wildcard));
        assert!(c.may_subscribe_match("com.app.user.42.", MatchPolicy::Wildcard));
        assert!(!c.may_subscribe_match("com.app.user..inbox", MatchPolicy::Wildcard));
        assert!(!c.may_subscribe_match(".app.user.42.x", MatchPolicy::Wildcard));
        assert!(!c.may_subscribe_match("com.app.user.4..x", MatchPolicy::Wildcard));
        // No empty component: behaves like an exact subscription.
        assert!(c.may_subscribe_match("com.app.news", MatchPolicy::Wildcard));
        assert!(c.may_subscribe_match("com.app.user.42.x", MatchPolicy::Wildcard));
        assert!(!c.may_subscribe_match("com.app.other", MatchPolicy::Wildcard));
    }

    #[test]
    fn wildcard_fixed_prefix_cases() {
        assert_eq!(wildcard_fixed_prefix("a.b..d"), Some("a.b."));
        assert_eq!(wildcard_fixed_prefix("a.b."), Some("a.b."));
        assert_eq!(wildcard_fixed_prefix(".b.c"), Some(""));
        assert_eq!(wildcard_fixed_prefix(""), Some(""));
        assert_eq!(wildcard_fixed_prefix("a.b.c"), None);
    }
}
