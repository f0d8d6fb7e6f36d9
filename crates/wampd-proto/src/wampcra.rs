//! WAMP-CRA (challenge-response authentication), plain and salted, as
//! Crossbar.io and Autobahn implement it (protocol reference `wamp-v2.md`
//! §6.7).
//!
//! Why: WAMP-CRA is the one stable WAMP authentication method in which the
//! secret never travels; every Autobahn client (Python, JS, Java, C++) and
//! most others speak it. Interoperability is byte-level, so this module
//! follows Autobahn exactly and its tests use vectors computed with
//! autobahn-python 26 (`autobahn.wamp.auth.compute_wcs` and `derive_key`):
//!
//! 1. The router sends `CHALLENGE("wampcra", {challenge: <JSON string>})`
//!    where the JSON string ([`Challenge::to_json`]) holds `authid, authrole,
//!    authmethod, authprovider, nonce, timestamp, session`. For a salted
//!    secret it also sends `salt`, `iterations`, `keylen` ([`Salt`]).
//! 2. The client answers `AUTHENTICATE(signature)` with
//!    `base64(HMAC-SHA256(key, challenge))` ([`sign`]): standard alphabet,
//!    with `=` padding, no newline. `key` is the UTF-8 secret itself, or —
//!    salted — the **base64 text** returned by [`derive_key`] (Autobahn HMACs
//!    with the ASCII of the base64 string, not with the raw PBKDF2 bytes).
//! 3. The router recomputes the signature and compares ([`verify`], constant
//!    time). The client signs the challenge string byte for byte, so its JSON
//!    layout is the router's free choice; it must just be sent unchanged.
//!
//! A router that stores salted credentials (Crossbar's `secret` + `salt`
//! config) keeps the derived base64 key, or derives it once at start-up, and
//! uses its bytes as the key.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// Autobahn's default PBKDF2 iteration count for `derive_key`.
pub const DEFAULT_ITERATIONS: u32 = 1000;

/// Autobahn's default derived key length in bytes.
pub const DEFAULT_KEYLEN: u32 = 32;

/// Largest `keylen` [`derive_key`] accepts, in bytes: far above any real use
/// (Autobahn's default is 32) and small enough that a bad value in a config or
/// CHALLENGE cannot make us allocate gigabytes.
pub const MAX_KEYLEN: u32 = 1024;

/// Random bytes in a nonce: 48 bytes are exactly 64 base64 characters, the
/// length of Crossbar's `util.newid(64)` nonces.
const NONCE_BYTES: usize = 48;

/// The WAMP-CRA challenge, serialized into `CHALLENGE.Extra.challenge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// The `authid` the client announced in HELLO.
    pub authid: String,
    /// The role the router will assign on success.
    pub authrole: String,
    /// Always `"wampcra"`.
    pub authmethod: String,
    /// Where the credentials came from (Crossbar: `"static"`, `"dynamic"`).
    pub authprovider: String,
    /// 64 random base64 characters, so each challenge is unique.
    pub nonce: String,
    /// Issue time, ISO 8601 UTC with milliseconds and `Z`
    /// (`2024-05-01T12:34:56.789Z`, Autobahn's `utcnow()` format).
    pub timestamp: String,
    /// The session ID the router will assign (WELCOME.Session).
    pub session: u64,
}

impl Challenge {
    /// A fresh challenge with a random nonce (thread-local CSPRNG) and the
    /// current time.
    pub fn new(authid: &str, authrole: &str, authprovider: &str, session: u64) -> Challenge {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .unwrap_or(0);
        Challenge {
            authid: authid.to_owned(),
            authrole: authrole.to_owned(),
            authmethod: "wampcra".to_owned(),
            authprovider: authprovider.to_owned(),
            nonce: STANDARD.encode(nonce),
            timestamp: iso8601_utc_millis(now_ms),
            session,
        }
    }

    /// The exact string to send as `CHALLENGE.Extra.challenge` (and to pass to
    /// [`verify`]): a compact JSON object with the members in the order
    /// `authid, authrole, authmethod, authprovider, nonce, timestamp, session`.
    ///
    /// Built by hand from JSON string literals so it cannot fail (an empty
    /// challenge on a serializer error would be a replayable one).
    pub fn to_json(&self) -> String {
        format!(
            "{{\"authid\":{},\"authrole\":{},\"authmethod\":{},\"authprovider\":{},\"nonce\":{},\"timestamp\":{},\"session\":{}}}",
            json_string(&self.authid),
            json_string(&self.authrole),
            json_string(&self.authmethod),
            json_string(&self.authprovider),
            json_string(&self.nonce),
            json_string(&self.timestamp),
            self.session,
        )
    }
}

/// `s` as a JSON string literal (quotes and escapes); infallible.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Formats Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic
/// Gregorian, UTC), without a date library.
fn iso8601_utc_millis(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's
/// `civil_from_days` algorithm.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// PBKDF2 parameters sent in `CHALLENGE.Extra` (`salt`, `iterations`,
/// `keylen`) when the user's secret is salted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Salt {
    /// The salt, used as its UTF-8 bytes.
    pub salt: String,
    /// PBKDF2 iteration count (Autobahn default 1000).
    pub iterations: u32,
    /// Derived key length in bytes (Autobahn default 32).
    pub keylen: u32,
}

impl Salt {
    /// `salt` with Autobahn's defaults: 1000 iterations, 32-byte key.
    pub fn new(salt: &str) -> Salt {
        Salt {
            salt: salt.to_owned(),
            iterations: DEFAULT_ITERATIONS,
            keylen: DEFAULT_KEYLEN,
        }
    }

    /// Whether [`derive_key`] can use these parameters: at least one
    /// iteration and `1..=MAX_KEYLEN` key bytes. Check configs with this so a
    /// bad value is reported at start-up rather than as failed logins.
    pub fn is_valid(&self) -> bool {
        self.iterations >= 1 && (1..=MAX_KEYLEN).contains(&self.keylen)
    }

    /// [`derive_key`] with these parameters.
    pub fn derive_key(&self, secret: &str) -> String {
        derive_key(secret, &self.salt, self.iterations, self.keylen)
    }
}

/// Autobahn's `derive_key`: `base64(PBKDF2-HMAC-SHA256(secret, salt,
/// iterations, keylen))`, standard alphabet with padding, secret and salt as
/// UTF-8. Use the **returned string's bytes** as the key for [`sign`] and
/// [`verify`], as Autobahn does.
///
/// Returns an empty string when `iterations` is 0 (Autobahn raises) or
/// `keylen` is 0 or above [`MAX_KEYLEN`]; [`verify`] never accepts an empty
/// key, so such a configuration fails closed.
pub fn derive_key(secret: &str, salt: &str, iterations: u32, keylen: u32) -> String {
    let params = Salt {
        salt: String::new(),
        iterations,
        keylen,
    };
    if !params.is_valid() {
        return String::new();
    }
    let Ok(len) = usize::try_from(keylen) else {
        return String::new();
    };
    let mut out = vec![0u8; len];
    if pbkdf2::pbkdf2::<Hmac<Sha256>>(secret.as_bytes(), salt.as_bytes(), iterations, &mut out)
        .is_err()
    {
        return String::new();
    }
    STANDARD.encode(out)
}

/// The WAMP-CRA signature of `challenge_json` under `key`:
/// `base64(HMAC-SHA256(key, challenge_json))`, standard alphabet with `=`
/// padding (Autobahn's `compute_wcs`).
pub fn sign(key: &[u8], challenge_json: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(challenge_json.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` (the AUTHENTICATE signature) is [`sign`]`(key,
/// challenge_json)`, compared in constant time.
///
/// The comparison is on the exact text, as Crossbar does: padding is
/// required and surrounding whitespace is not stripped. An empty `key` never
/// verifies (anyone could compute its signatures), nor does an empty
/// `signature`.
pub fn verify(key: &[u8], challenge_json: &str, signature: &str) -> bool {
    if key.is_empty() || signature.is_empty() {
        return false;
    }
    let expected = sign(key, challenge_json);
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // All expected values below were computed with autobahn-python 26.10.2
    // (`autobahn.wamp.auth.compute_wcs`, `derive_key`) unless marked RFC.

    /// A challenge as Crossbar writes it (`json.dumps`, with spaces).
    const CROSSBAR_CHALLENGE: &str = r#"{"authid": "peter", "authrole": "user", "authmethod": "wampcra", "authprovider": "static", "session": 3251278072152162, "nonce": "Ew4HhNbSUrUIm/6JJQT/Jx4HQD9QHgRM8mQ9OU3bAYaNFvMDX4u5mz1j5tgg0rIl", "timestamp": "2024-05-01T12:34:56.789Z"}"#;

    /// The same challenge as [`Challenge::to_json`] writes it.
    const OUR_CHALLENGE: &str = r#"{"authid":"peter","authrole":"user","authmethod":"wampcra","authprovider":"static","nonce":"Ew4HhNbSUrUIm/6JJQT/Jx4HQD9QHgRM8mQ9OU3bAYaNFvMDX4u5mz1j5tgg0rIl","timestamp":"2024-05-01T12:34:56.789Z","session":3251278072152162}"#;

    fn fixed_challenge() -> Challenge {
        Challenge {
            authid: "peter".into(),
            authrole: "user".into(),
            authmethod: "wampcra".into(),
            authprovider: "static".into(),
            nonce: "Ew4HhNbSUrUIm/6JJQT/Jx4HQD9QHgRM8mQ9OU3bAYaNFvMDX4u5mz1j5tgg0rIl".into(),
            timestamp: "2024-05-01T12:34:56.789Z".into(),
            session: 3_251_278_072_152_162,
        }
    }

    #[test]
    fn plain_signature_matches_autobahn() {
        // compute_wcs(b"secret123", CROSSBAR_CHALLENGE)
        assert_eq!(
            sign(b"secret123", CROSSBAR_CHALLENGE),
            "hZcBe5FtM4sGGI94dq1XRmgtDWMJdIZiE9D+2b8Pu7s="
        );
        // compute_wcs("secret123", OUR_CHALLENGE)
        assert_eq!(
            sign(b"secret123", OUR_CHALLENGE),
            "z3tnBQlPFjX4WKEmNLqEK7KLCJX102jDAZ3YSKXAGwc="
        );
        // compute_wcs(b"secret123", b"")
        assert_eq!(
            sign(b"secret123", ""),
            "D0slhoOjphA4+VVyCiRYlPPvVGL1BFsic19frxWUBT0="
        );
        // Non-ASCII secret and challenge, both as UTF-8.
        let challenge = r#"{"authid": "jürgen", "authrole": "admin", "authmethod": "wampcra", "authprovider": "dynamic", "nonce": "abc", "timestamp": "2024-01-01T00:00:00.000Z", "session": 1}"#;
        assert_eq!(
            sign("pässwörd".as_bytes(), challenge),
            "LSHxKSTFI32XR4iEJNs7yzsBoHcDUWJoMGjMghIlGpE="
        );
    }

    #[test]
    fn derived_keys_match_autobahn() {
        assert_eq!(
            derive_key("secret123", "salt123", 1000, 32),
            "Eu7CQLfR+/Ffb+275A4s9/6H/RGKYxM4s6IMrsNKzC8="
        );
        assert_eq!(
            derive_key("secret2", "salt123", 100, 16),
            "LG5/FwnS5WvgmlEyLPk/pQ=="
        );
        // Non-ASCII secret and salt; 48 bytes = two PBKDF2 blocks.
        assert_eq!(
            derive_key("pässwörd", "NaCl/ü", 10, 48),
            "wSmgd7+QtrUSfUn7EYHKp6MitC7fPHGPNAk8obk1VXm0dboBi9Dom3ooMvbFwF0e"
        );
        assert_eq!(
            Salt::new("salt123").derive_key("secret123"),
            "Eu7CQLfR+/Ffb+275A4s9/6H/RGKYxM4s6IMrsNKzC8="
        );
    }

    #[test]
    fn pbkdf2_matches_rfc_7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256(P="passwd", S="salt", c=1, dkLen=64)
        // = 55ac046e…d3a19783, here base64-encoded.
        assert_eq!(
            derive_key("passwd", "salt", 1, 64),
            "VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLxJypzM8Xm2RZkWZLOdd+8xfHG4RbHjC9UJESBB06GXgw=="
        );
        // RFC 7914 §11: P="Password", S="NaCl", c=80000, dkLen=64 = 4ddcd8f6…b397f33c8d.
        assert_eq!(
            derive_key("Password", "NaCl", 80_000, 64),
            "TdzY9guYviGDDO5e8icB+WQaRBjQTAQUrv8Ih2s0q1ah1CWhIlgzVJrbhBtRybMXaicr3ruh0HhHj2Kzl/M8jQ=="
        );
    }

    #[test]
    fn salted_signature_matches_autobahn() {
        // The key is the base64 *text* of the derived key.
        let key = derive_key("secret123", "salt123", 1000, 32);
        assert_eq!(
            sign(key.as_bytes(), CROSSBAR_CHALLENGE),
            "rPEsdnzNbsITw9+bAUH0J6oNrXjJfQ4xQBRvJg/nbk0="
        );
        assert_eq!(
            sign(key.as_bytes(), OUR_CHALLENGE),
            "V2twQt8cBQbzGxvsCHhOLSfq566KlxrKqFjR0LHz5Zo="
        );
        assert_eq!(
            sign(
                derive_key("secret2", "salt123", 100, 16).as_bytes(),
                CROSSBAR_CHALLENGE
            ),
            "zb7CXEl+jOlV4AysmDtafvM/kSdZ160AmBLJ18OMnqA="
        );
        assert_eq!(
            sign(
                derive_key("pässwörd", "NaCl/ü", 10, 48).as_bytes(),
                CROSSBAR_CHALLENGE
            ),
            "G42xj/HCkHl6elVLtzt6pMC42Uf3ShtcyBNOfhrl0UI="
        );
        assert!(verify(
            key.as_bytes(),
            OUR_CHALLENGE,
            "V2twQt8cBQbzGxvsCHhOLSfq566KlxrKqFjR0LHz5Zo="
        ));
    }

    #[test]
    fn verify_accepts_only_the_exact_signature() {
        let good = "hZcBe5FtM4sGGI94dq1XRmgtDWMJdIZiE9D+2b8Pu7s=";
        assert!(verify(b"secret123", CROSSBAR_CHALLENGE, good));
        for bad in [
            "",
            "=",
            "hZcBe5FtM4sGGI94dq1XRmgtDWMJdIZiE9D+2b8Pu7s",   // no padding
            "hZcBe5FtM4sGGI94dq1XRmgtDWMJdIZiE9D-2b8Pu7s=",  // URL-safe alphabet
            "hZcBe5FtM4sGGI94dq1XRmgtDWMJdIZiE9D+2b8Pu7t=",  // last char changed
            "iZcBe5FtM4sGGI94dq1XRmgtDWMJdIZiE9D+2b8Pu7s=",  // first char changed
            "hZcBe5FtM4sGGI94dq1XRmgtDWMJdIZiE9D+2b8Pu7s=\n", // trailing newline
            " hZcBe5FtM4sGGI94dq1XRmgtDWMJdIZiE9D+2b8Pu7s=",
            "hZcBe5FtM4sGGI94dq1XRmgtDWMJdIZiE9D+2b8Pu7s=hZcBe5FtM4sGGI94dq1XRmgtDWMJdIZiE9D+2b8Pu7s=",
            "not base64 at all!",
            "\u{0}\u{0}\u{0}",
            "857701797b916d338b06188f7876ad5746682d0d6309748662",
        ] {
            assert!(
                !verify(b"secret123", CROSSBAR_CHALLENGE, bad),
                "{bad:?} must not verify"
            );
        }
        // Wrong key, wrong challenge.
        assert!(!verify(b"secret124", CROSSBAR_CHALLENGE, good));
        assert!(!verify(b"secret123", OUR_CHALLENGE, good));
    }

    #[test]
    fn empty_key_never_verifies() {
        let sig = sign(b"", OUR_CHALLENGE);
        assert!(!sig.is_empty());
        assert!(!verify(b"", OUR_CHALLENGE, &sig));
        // A derive_key refusal (empty string) therefore fails closed too.
        let key = derive_key("secret", "salt", 0, 32);
        assert_eq!(key, "");
        assert!(!verify(key.as_bytes(), OUR_CHALLENGE, &sig));
    }

    #[test]
    fn derive_key_refuses_out_of_range_parameters() {
        assert_eq!(derive_key("secret", "salt", 0, 32), ""); // Autobahn raises
        assert_eq!(derive_key("secret", "salt", 1000, 0), ""); // Autobahn returns b""
        assert_eq!(derive_key("secret", "salt", 1, MAX_KEYLEN + 1), "");
        assert_eq!(derive_key("secret", "salt", 1, u32::MAX), "");
        assert_eq!(derive_key("secret", "salt", 1, MAX_KEYLEN).len(), 1368);
        assert!(Salt::new("s").is_valid());
        for (iterations, keylen) in [(0, 32), (1, 0), (1, MAX_KEYLEN + 1)] {
            let salt = Salt {
                salt: "s".into(),
                iterations,
                keylen,
            };
            assert!(!salt.is_valid(), "{salt:?}");
        }
    }

    #[test]
    fn salt_serializes_as_challenge_extra_members() {
        let salt = Salt::new("salt123");
        let v = serde_json::to_value(&salt).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"salt": "salt123", "iterations": 1000, "keylen": 32})
        );
    }

    #[test]
    fn challenge_json_is_exact() {
        assert_eq!(fixed_challenge().to_json(), OUR_CHALLENGE);
    }

    #[test]
    fn challenge_json_escapes_and_parses_back() {
        let c = Challenge {
            authid: "a\"b\\c\n\u{1}é😀".into(),
            authprovider: "</script>".into(),
            session: u64::MAX,
            ..fixed_challenge()
        };
        let json = c.to_json();
        let back: Result<Challenge, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(c));
    }

    #[test]
    fn new_challenge_has_the_crossbar_shape() {
        let c = Challenge::new("peter", "user", "static", 42);
        let json = c.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let obj = v.as_object().cloned().unwrap_or_default();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "authid",
                "authmethod",
                "authprovider",
                "authrole",
                "nonce",
                "session",
                "timestamp"
            ]
        );
        assert_eq!(obj["authid"], "peter");
        assert_eq!(obj["authrole"], "user");
        assert_eq!(obj["authmethod"], "wampcra");
        assert_eq!(obj["authprovider"], "static");
        assert_eq!(obj["session"], 42);

        let nonce = obj["nonce"].as_str().unwrap_or_default();
        assert_eq!(nonce.len(), 64);
        assert_eq!(STANDARD.decode(nonce).map(|b| b.len()), Ok(NONCE_BYTES));

        // YYYY-MM-DDTHH:MM:SS.mmmZ, and after 2024.
        let ts = obj["timestamp"].as_str().unwrap_or_default();
        assert_eq!(ts.len(), 24, "{ts}");
        for (i, ch) in ts.char_indices() {
            match i {
                4 | 7 => assert_eq!(ch, '-'),
                10 => assert_eq!(ch, 'T'),
                13 | 16 => assert_eq!(ch, ':'),
                19 => assert_eq!(ch, '.'),
                23 => assert_eq!(ch, 'Z'),
                _ => assert!(ch.is_ascii_digit(), "{ts}"),
            }
        }
        assert!(ts.as_bytes() > b"2024".as_slice());

        // Round trip through the client side.
        let sig = sign(b"secret", &json);
        assert!(verify(b"secret", &json, &sig));
    }

    #[test]
    fn nonces_differ() {
        let a = Challenge::new("a", "r", "static", 1);
        let b = Challenge::new("a", "r", "static", 1);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.to_json(), b.to_json());
    }

    #[test]
    fn timestamps_match_autobahn_utcstr() {
        // autobahn.util.utcstr(datetime.fromtimestamp(ms / 1000, timezone.utc))
        for (ms, want) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (1, "1970-01-01T00:00:00.001Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
            (1_714_566_896_789, "2024-05-01T12:34:56.789Z"),
            (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ] {
            assert_eq!(iso8601_utc_millis(ms), want, "{ms}");
        }
    }
}
