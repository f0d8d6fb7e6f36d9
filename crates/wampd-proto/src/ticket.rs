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
mod tests;
