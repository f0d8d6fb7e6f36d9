//! Unit tests of `ticket`, kept beside it so the module itself reads as the code.

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
