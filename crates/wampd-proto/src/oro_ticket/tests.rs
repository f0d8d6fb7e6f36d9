//! Unit tests of `oro_ticket`, kept beside it so the module itself reads as the code.

use super::*;

const SECRET: &str = "ThisTokenIsNotSoSecretChangeIt";
const NONCE: &str = "0123456789abcdef";
const CREATED: &str = "2024-01-01T00:00:00+00:00";
const CREATED_UNIX: i64 = 1_704_067_200;
const VECTOR_DIGEST: &str =
    "weXWZAF8uDK16Q0bUwIba3MSeWr1fFlu+TCslaNbBWRqUwbAtxwqe9igsGDoC583p/jX+bowKhPstW4WWxCoJA==";
const VECTOR_TICKET: &str = "d2VYV1pBRjh1REsxNlEwYlV3SWJhM01TZVdyMWZGbHUrVENzbGFOYkJXUnFVd2JBdHh3cWU5aWdzR0RvQzU4M3AvalgrYm93S2hQc3RXNFdXeENvSkE9PTs7MDEyMzQ1Njc4OWFiY2RlZjsyMDI0LTAxLTAxVDAwOjAwOjAwKzAwOjAw";

fn rules() -> TicketCheck {
    TicketCheck::default()
}

#[test]
fn spec_vector() {
    // Confirmed with PHP 8.2 (same algorithm as Symfony's hasher).
    assert_eq!(digest(NONCE, CREATED, SECRET, SECRET), VECTOR_DIGEST);
    assert_eq!(generate(SECRET, "", SECRET, NONCE, CREATED), VECTOR_TICKET);
    assert_eq!(
        check(VECTOR_TICKET, SECRET, CREATED_UNIX + 10, &rules()),
        Ok(Ticket::Anonymous)
    );
}

#[test]
fn other_php_digests() {
    // Values printed by PHP 8.2.
    assert_eq!(
        digest("a", "b", "c", ""),
        "cP/YNac2hRJ34z1q61DRTYUh9ZXJrQSLAezc0wsC54eN3h2F04VHbVEXCq5UBYgR/zNpGkVjF2zFgDxF4DB8Zw=="
    );
    // "0" is a PHP-falsy salt: same as no salt.
    assert_eq!(digest("a", "b", "c", "0"), digest("a", "b", "c", ""));
    assert_ne!(digest("a", "b", "c", "1"), digest("a", "b", "c", ""));
}

#[test]
fn time_window() {
    let r = rules();
    assert_eq!(
        check(VECTOR_TICKET, SECRET, CREATED_UNIX, &r),
        Ok(Ticket::Anonymous)
    );
    assert_eq!(
        check(VECTOR_TICKET, SECRET, CREATED_UNIX + 300, &r),
        Ok(Ticket::Anonymous)
    );
    assert!(matches!(
        check(VECTOR_TICKET, SECRET, CREATED_UNIX + 301, &r),
        Err(TicketError::Expired { .. })
    ));
    // Within the 30 s skew.
    assert_eq!(
        check(VECTOR_TICKET, SECRET, CREATED_UNIX - 30, &r),
        Ok(Ticket::Anonymous)
    );
    assert!(matches!(
        check(VECTOR_TICKET, SECRET, CREATED_UNIX - 31, &r),
        Err(TicketError::FromTheFuture { .. })
    ));
    // Custom rules.
    let strict = TicketCheck {
        ttl: Duration::from_secs(5),
        future_skew: Duration::ZERO,
    };
    assert!(check(VECTOR_TICKET, SECRET, CREATED_UNIX + 6, &strict).is_err());
    assert!(check(VECTOR_TICKET, SECRET, CREATED_UNIX - 1, &strict).is_err());
    assert_eq!(
        check(VECTOR_TICKET, SECRET, CREATED_UNIX + 5, &strict),
        Ok(Ticket::Anonymous)
    );
    // Extreme clocks do not overflow.
    assert!(check(VECTOR_TICKET, SECRET, i64::MAX, &r).is_err());
    assert!(check(VECTOR_TICKET, SECRET, i64::MIN, &r).is_err());
    let huge = TicketCheck {
        ttl: Duration::MAX,
        future_skew: Duration::MAX,
    };
    assert_eq!(
        check(VECTOR_TICKET, SECRET, i64::MIN, &huge),
        Ok(Ticket::Anonymous)
    );
}

#[test]
fn tampered_and_wrong_secret() {
    let r = rules();
    let now = CREATED_UNIX + 1;
    assert_eq!(
        check(VECTOR_TICKET, "other-secret", now, &r),
        Err(TicketError::BadDigest {
            username: String::new()
        })
    );
    // Same digest, different nonce.
    let forged = STANDARD.encode(format!("{VECTOR_DIGEST};;0123456789abcdee;{CREATED}"));
    assert!(matches!(
        check(&forged, SECRET, now, &r),
        Err(TicketError::BadDigest { .. })
    ));
    // Different created (still valid time): digest covers it.
    let forged = STANDARD.encode(format!(
        "{VECTOR_DIGEST};;{NONCE};2024-01-01T00:00:01+00:00"
    ));
    assert!(matches!(
        check(&forged, SECRET, now, &r),
        Err(TicketError::BadDigest { .. })
    ));
    // Truncated / altered digest.
    let forged = STANDARD.encode(format!("{};;{NONCE};{CREATED}", &VECTOR_DIGEST[..87]));
    assert!(matches!(
        check(&forged, SECRET, now, &r),
        Err(TicketError::BadDigest { .. })
    ));
    // Extra ';' pieces are ignored (explode + list).
    let extra = STANDARD.encode(format!("{VECTOR_DIGEST};;{NONCE};{CREATED};junk;more"));
    assert_eq!(check(&extra, SECRET, now, &r), Ok(Ticket::Anonymous));
    // Display never leaks the digest or the secret.
    for e in [
        check(VECTOR_TICKET, "other-secret", now, &r),
        check(VECTOR_TICKET, SECRET, now + 1000, &r),
        check(VECTOR_TICKET, SECRET, now - 1000, &r),
    ] {
        let text = e.expect_err("rejected").to_string();
        assert!(
            !text.contains(VECTOR_DIGEST) && !text.contains(SECRET),
            "{text}"
        );
        assert!(!text.contains("weXWZAF8"), "{text}");
    }
}

#[test]
fn format_errors() {
    let r = rules();
    let now = CREATED_UNIX;
    for t in [
        "",
        "!!!!",
        "MA==", // "0"
        &STANDARD.encode("a;b;c"),
        &STANDARD.encode(";;"),
        &STANDARD.encode("no separators at all"),
    ] {
        assert_eq!(
            check(t, SECRET, now, &r),
            Err(TicketError::InvalidFormat),
            "{t}"
        );
    }
    // Exactly three ';' with empty fields: format ok, then time (epoch ⇒ expired).
    assert!(matches!(
        check(&STANDARD.encode(";;;"), SECRET, now, &r),
        Err(TicketError::Expired { .. })
    ));
    assert_eq!(
        check_query("foo=bar", SECRET, now, &r),
        Err(TicketError::Missing)
    );
    assert_eq!(check_query("", SECRET, now, &r), Err(TicketError::Missing));
    assert_eq!(
        check_query("ticket=", SECRET, now, &r),
        Err(TicketError::InvalidFormat)
    );
    assert_eq!(
        check_query("ticket[]=x", SECRET, now, &r),
        Err(TicketError::InvalidFormat)
    );
    assert_eq!(
        TicketError::InvalidFormat.to_string(),
        "Authentication ticket has invalid format"
    );
    assert!(TicketError::Missing
        .to_string()
        .starts_with("Authentication ticket has invalid format"));
}

#[test]
fn malformed_base64_is_lenient() {
    let r = rules();
    let now = CREATED_UNIX;
    // Junk characters and line breaks inside the ticket are skipped.
    let noisy: String = VECTOR_TICKET
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            if i % 10 == 9 {
                vec![c, '*', '\n']
            } else {
                vec![c]
            }
        })
        .collect();
    assert_eq!(check(&noisy, SECRET, now, &r), Ok(Ticket::Anonymous));
    // Padding removed or doubled does not matter.
    let padded = format!("{VECTOR_TICKET}====");
    assert_eq!(check(&padded, SECRET, now, &r), Ok(Ticket::Anonymous));
}

#[test]
fn unparsable_date_is_expired() {
    let d = digest(NONCE, "yesterday-ish", SECRET, SECRET);
    let t = STANDARD.encode(format!("{d};;{NONCE};yesterday-ish"));
    assert!(matches!(
        check(&t, SECRET, CREATED_UNIX, &rules()),
        Err(TicketError::Expired { .. })
    ));
    // ...unless the clock is within the TTL of the epoch (PHP does the same).
    assert_eq!(check(&t, SECRET, 100, &rules()), Ok(Ticket::Anonymous));
    // Non-UTF-8 creation date: unparsable too.
    let mut raw = format!("{d};;{NONCE};").into_bytes();
    raw.push(0xff);
    assert!(matches!(
        check(&STANDARD.encode(raw), SECRET, CREATED_UNIX, &rules()),
        Err(TicketError::Expired { .. })
    ));
}

#[test]
fn plus_versus_percent_2b() {
    // Nonce chosen so the ticket contains '+' (PHP 8.2 printed this ticket).
    let nonce = "01234567~9abcdef";
    let ticket = "UFduUHBYT3dOcFZMVVA5YTB0bHorTDFqNE1HYXMvcXIyejVJRTVVWnNxaEJLV2M2N2NZVm1wYUR5THk3MVdDWGt0aU1rYjR4R2EyUEkxeC9VV2duU3c9PTs7MDEyMzQ1Njd+OWFiY2RlZjsyMDI0LTAxLTAxVDAwOjAwOjAwKzAwOjAw";
    assert_eq!(generate(SECRET, "", SECRET, nonce, CREATED), ticket);
    let r = rules();
    // http_build_query (PHP backend) and encodeURIComponent (browser).
    let php_query = "ticket=UFduUHBYT3dOcFZMVVA5YTB0bHorTDFqNE1HYXMvcXIyejVJRTVVWnNxaEJLV2M2N2NZVm1wYUR5THk3MVdDWGt0aU1rYjR4R2EyUEkxeC9VV2duU3c9PTs7MDEyMzQ1Njd%2BOWFiY2RlZjsyMDI0LTAxLTAxVDAwOjAwOjAwKzAwOjAw";
    assert_eq!(
        check_query(php_query, SECRET, CREATED_UNIX, &r),
        Ok(Ticket::Anonymous)
    );
    let browser_query = format!("ticket={}", ticket.replace('+', "%2B").replace('=', "%3D"));
    assert_eq!(
        check_query(&browser_query, SECRET, CREATED_UNIX, &r),
        Ok(Ticket::Anonymous)
    );
    // Lowercase escapes work too.
    let lower = format!("ticket={}", ticket.replace('+', "%2b"));
    assert_eq!(
        check_query(&lower, SECRET, CREATED_UNIX, &r),
        Ok(Ticket::Anonymous)
    );
    // A raw '+' is form-decoded to ' ', which base64_decode skips: the
    // bytes shift and PHP sees only two ';' ("invalid format").
    let raw = format!("ticket={ticket}");
    assert_eq!(ticket_from_query(&raw), Some(ticket.replace('+', " ")));
    assert_eq!(
        check_query(&raw, SECRET, CREATED_UNIX, &r),
        Err(TicketError::InvalidFormat)
    );
    // The spec vector has no '+', so raw and encoded forms both work.
    let vq = format!("ticket={VECTOR_TICKET}");
    assert_eq!(
        check_query(&vq, SECRET, CREATED_UNIX, &r),
        Ok(Ticket::Anonymous)
    );
}

#[test]
fn parse_str_semantics() {
    // Each case cross-checked with PHP 8.2 parse_str.
    let cases: &[(&str, Option<&str>)] = &[
        ("ticket=a+b%2Bc", Some("a b+c")),
        ("ticket=1&ticket=2", Some("2")),
        ("ticket[]=x", Some("Array")),
        ("ticket[]=x&ticket=y", Some("y")),
        ("ticket=y&ticket[]=x", Some("Array")),
        ("ticket[a]=z", Some("Array")),
        (" ticket=lead", Some("lead")),
        ("  ticket=2sp", Some("2sp")),
        ("%20ticket=sp", Some("sp")),
        ("ticket =trail", None),
        ("\tticket=tab", None),
        ("ticke%74=enc", Some("enc")),
        ("ticket=%ZZ%4", Some("%ZZ%4")),
        ("ticket", Some("")),
        ("ticket=", Some("")),
        ("ticket=a=b", Some("a=b")),
        ("&&ticket=q&", Some("q")),
        ("ticket.x=1", None),
        ("TICKET=up", None),
        ("ticket=a;ticket=b", Some("a;ticket=b")),
        ("ticket%00x=nul", Some("nul")),
        ("ticket=x%00y", Some("x\0y")),
        ("ticket[=br", None),
        ("ticket]=br2", None),
        ("ticket=%C3%A9", Some("é")),
        ("ticket=%e9", Some("\u{FFFD}")),
        ("=v&ticket=ok", Some("ok")),
        ("ticket=%2b%2F%3d", Some("+/=")),
        ("a[=1&ticket=k", Some("k")),
        ("ticketx=1", None),
        ("xticket=1", None),
        ("", None),
    ];
    for (q, want) in cases {
        assert_eq!(ticket_from_query(q).as_deref(), *want, "{q:?}");
    }
}

#[test]
fn lenient_base64() {
    // Each case cross-checked with PHP 8.2 base64_decode (non-strict).
    let cases: &[(&[u8], &[u8])] = &[
        (b"QUJD", b"ABC"),
        (b"QUI", b"AB"),
        (b"QQ", b"A"),
        (b"Q", b""),
        (b"QUJDRA", b"ABCD"),
        (b"QQ==", b"A"),
        (b"QQ=Q", b"A\x04"),
        (b"Q=Q=", b"A"),
        (b"QU JD", b"ABC"),
        (b"QU\nJD", b"ABC"),
        (b"QU*JD", b"ABC"),
        (b"====", b""),
        (b"", b""),
        (b"QUJD====QUJD", b"ABCABC"),
        (b"QUJD\x00QUJD", b"ABCABC"),
        (b"YWJj+ZGVm", b"abc\xf9\x91\x95"),
        (b"YWJj ZGVm", b"abcdef"),
        (b"YW-_", b"a"),
        (b"/+/+", b"\xff\xef\xfe"),
    ];
    for (input, want) in cases {
        let s = std::str::from_utf8(input).expect("ASCII test input");
        assert_eq!(php_base64_decode_lenient(s), *want, "{s:?}");
    }
    // Non-ASCII characters are skipped byte by byte.
    assert_eq!(php_base64_decode_lenient("QUJé"), b"AB");
    assert_eq!(php_base64_decode_lenient("QUJ\u{e9}D"), b"ABC");
}

#[test]
fn strtotime_subset() {
    // Each value printed by PHP 8.2 strtotime (date.timezone = UTC).
    let cases: &[(&str, Option<i64>)] = &[
        ("2024-01-01T00:00:00+00:00", Some(1_704_067_200)),
        ("2024-01-01T00:00:00Z", Some(1_704_067_200)),
        ("2024-01-01T00:00:00z", Some(1_704_067_200)),
        ("2024-01-01T00:00:00+0000", Some(1_704_067_200)),
        ("2024-01-01T00:00:00+05:30", Some(1_704_047_400)),
        ("2024-01-01T00:00:00-0800", Some(1_704_096_000)),
        ("2024-01-01T00:00:00+05", Some(1_704_049_200)),
        ("2024-01-01T00:00:00.123456+00:00", Some(1_704_067_200)),
        ("2024-01-01T00:00:00.+00:00", Some(1_704_067_200)),
        ("2024-01-01t00:00:00+00:00", Some(1_704_067_200)),
        ("2024-01-01 00:00:00+00:00", Some(1_704_067_200)),
        ("2024-01-01T00:00:00", Some(1_704_067_200)),
        ("2024-01-01", Some(1_704_067_200)),
        ("2024-01-01T24:00:00+00:00", Some(1_704_153_600)),
        ("2024-01-01T24:30:00+00:00", Some(1_704_155_400)),
        ("2024-02-30T00:00:00+00:00", Some(1_709_251_200)),
        ("2024-04-31T00:00:00Z", Some(1_714_521_600)),
        ("2023-02-29T00:00:00+00:00", Some(1_677_628_800)),
        ("2024-02-29T00:00:00+00:00", Some(1_709_164_800)),
        ("2024-00-01T00:00:00+00:00", Some(1_701_388_800)),
        ("2024-01-00T00:00:00+00:00", Some(1_703_980_800)),
        ("2024-13-01T00:00:00+00:00", None),
        ("2024-01-32T00:00:00+00:00", None),
        ("2024-01-01T25:00:00+00:00", None),
        ("2024-01-01T00:60:00+00:00", None),
        ("2024-01-01T00:00:60+00:00", Some(1_704_067_260)),
        ("2024-01-01T00:00:61+00:00", None),
        (" 2024-01-01T00:00:00+00:00", Some(1_704_067_200)),
        ("\t2024-01-01T00:00:00+00:00\n", Some(1_704_067_200)),
        ("2024-01-01T00:00:00+00:00 ", Some(1_704_067_200)),
        ("2024-01-01T00:00:00 +00:00", Some(1_704_067_200)),
        ("2024-01-01T00:00:00  +00:00", Some(1_704_067_200)),
        ("2024-01-01T00:00:00\t+00:00", Some(1_704_067_200)),
        ("2024-01-01T00:00:00 Z", Some(1_704_067_200)),
        ("2024-01-01T00:00:00GMT", Some(1_704_067_200)),
        ("2024-01-01T00:00:00UTC", Some(1_704_067_200)),
        ("2024-01-01T00:00:00 utc", Some(1_704_067_200)),
        ("2024-01-01T00:00:00 gmt", Some(1_704_067_200)),
        ("garbage", None),
        ("", None),
        ("2024-01-01T00:00+00:00", Some(1_704_067_200)),
        ("2024-1-1T0:0:0+00:00", Some(1_704_067_200)),
        ("2024-01-01T1:2:3Z", Some(1_704_070_923)),
        ("2024-01-01T00:00:00+14:00", Some(1_704_016_800)),
        ("2024-01-01T00:00:00+15:00", Some(1_704_013_200)),
        ("2024-01-01T00:00:00+24:00", Some(1_703_980_800)),
        ("2024-01-01T00:00:00-24:00", Some(1_704_153_600)),
        ("2024-01-01T00:00:00+23:59", Some(1_703_980_860)),
        ("2024-01-01T00:00:00+25:00", None),
        ("2024-01-01T00:00:00+99:99", None),
        ("2024-01-01T00:00:00+12:60", None),
        ("2024-01-01T00:00:00+2500", None),
        ("2024-01-01T00:00:00+00000", None),
        ("2024-01-01T00:00:00+1:00", Some(1_704_063_600)),
        ("2024-01-01T00:00:00+100", Some(1_704_063_600)),
        ("2024-01-01T00:00:00+930", Some(1_704_033_000)),
        ("2024-01-01T00:00:00+9", Some(1_704_034_800)),
        ("2024-01-01T00:00:00+0", Some(1_704_067_200)),
        ("2024-01-01T00:00:00+0:0", Some(1_704_067_200)),
        ("2024-01-01T00:00:00-0:30", Some(1_704_069_000)),
        ("2024-01-01T00:00:00+12:5", Some(1_704_023_700)),
        ("2024-01-01T00:00:00-00:00", Some(1_704_067_200)),
        ("2024-01-01T12:00:00+12:00", Some(1_704_067_200)),
        ("2024-01-01T00:00:00.5Z", Some(1_704_067_200)),
        ("2024-01-01T00:00:00.Z", Some(1_704_067_200)),
        ("2024-01-01T00:00:00,5+00:00", None),
        ("2024-01-01T00:00:00+48:00", None),
        ("12024-01-01T00:00:00Z", None),
        ("2024-01-001T00:00:00Z", None),
        ("2024-01-01T001:00:00Z", None),
        ("2024-01-01T00:00:00+001:00", None),
        ("0000-01-01T00:00:00+00:00", Some(-62_167_219_200)),
        ("9999-12-31T23:59:59+00:00", Some(253_402_300_799)),
        ("1970-01-01T00:00:00+00:00", Some(0)),
    ];
    for (s, want) in cases {
        assert_eq!(parse_created(s), *want, "{s:?}");
    }
}

#[test]
fn named_tickets() {
    // A bcrypt-looking stored hash; digest and ticket printed by PHP 8.2.
    let hash = "$2y$13$abcdefghijklmnopqrstuuJ2a7Tqz5Vd6WkJ3F0m0G3Yq9i1yXnqS";
    let nonce = "fedcba9876543210";
    let want_digest =
        "WhcyfhctEuIuxxN7UFrlrkDCQCz0+Ue8FtRxMJdsHN3pQ3C6YF7WXHkjD0hMq0Kp150o6ojL8ObrL9e3DNdWXA==";
    let want_ticket = "V2hjeWZoY3RFdUl1eHhON1VGcmxya0RDUUN6MCtVZThGdFJ4TUpkc0hOM3BRM0M2WUY3V1hIa2pEMGhNcTBLcDE1MG82b2pMOE9ickw5ZTNETmRXWEE9PTthZG1pbjtmZWRjYmE5ODc2NTQzMjEwOzIwMjQtMDEtMDFUMDA6MDA6MDArMDA6MDA=";
    assert_eq!(digest(nonce, CREATED, hash, SECRET), want_digest);
    assert_eq!(generate(SECRET, "admin", hash, nonce, CREATED), want_ticket);

    let r = rules();
    assert_eq!(
        check(want_ticket, SECRET, CREATED_UNIX, &r),
        Err(TicketError::NamedNotSupported("admin".into()))
    );
    // Time checks come first, as in Oro.
    assert!(matches!(
        check(want_ticket, SECRET, CREATED_UNIX + 301, &r),
        Err(TicketError::Expired { ref username, .. }) if username == "admin"
    ));
    let parsed = ParsedTicket::parse(want_ticket).expect("well-formed");
    assert_eq!(parsed.username(), "admin");
    assert_eq!(parsed.created(), CREATED);
    assert_eq!(parsed.nonce(), nonce.as_bytes());
    assert!(!parsed.is_anonymous());
    assert_eq!(parsed.check_time(CREATED_UNIX, &r), Ok(()));
    assert!(verify_named(&parsed, hash, SECRET));
    assert!(!verify_named(&parsed, "$2y$13$other", SECRET));
    assert!(!verify_named(&parsed, hash, "other-secret"));
    assert!(!verify_named(&parsed, hash, "bad{secret"));
    let dbg = format!("{parsed:?}");
    assert!(
        !dbg.contains("WhcyfhctEu") && dbg.contains("admin"),
        "{dbg}"
    );

    // Username "0" is anonymous in PHP (`if ($username)`).
    let zero = generate(SECRET, "0", SECRET, NONCE, CREATED);
    assert_eq!(
        check(&zero, SECRET, CREATED_UNIX, &r),
        Ok(Ticket::Anonymous)
    );
}

#[test]
fn php_refusals() {
    let r = rules();
    // A secret with braces: Symfony throws for every ticket.
    let t = generate("a{b", "", "a{b", NONCE, CREATED);
    assert_eq!(
        check(&t, "a{b", CREATED_UNIX, &r),
        Err(TicketError::UnusableSecret)
    );
    assert!(!secret_is_usable("x}"));
    assert!(secret_is_usable(SECRET));
    // Plain text longer than 4096 bytes: the hasher throws.
    let long_nonce = "n".repeat(MAX_PASSWORD_LENGTH);
    let t = generate(SECRET, "", SECRET, &long_nonce, CREATED);
    assert!(matches!(
        check(&t, SECRET, CREATED_UNIX, &r),
        Err(TicketError::BadDigest { .. })
    ));
    // Exactly at the limit still works.
    let fill = MAX_PASSWORD_LENGTH - CREATED.len() - SECRET.len() - 2;
    let ok_nonce = "n".repeat(fill);
    let t = generate(SECRET, "", SECRET, &ok_nonce, CREATED);
    assert_eq!(check(&t, SECRET, CREATED_UNIX, &r), Ok(Ticket::Anonymous));
}

#[test]
fn error_fields_are_clipped() {
    let long_user = "u".repeat(500);
    let t = generate(SECRET, &long_user, "pw", NONCE, CREATED);
    match check(&t, SECRET, CREATED_UNIX, &rules()) {
        Err(TicketError::NamedNotSupported(u)) => {
            assert_eq!(u.chars().count(), MAX_ERROR_FIELD + 1);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn random_input_never_panics() {
    let mut state: u64 = 0xDEAD_BEEF_CAFE_F00D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"ticket=&%+2BZz;[]0123456789-:T. \x00";
    for _ in 0..5_000 {
        let len = (next() % 64) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
            .collect();
        let _ = ticket_from_query(&s);
        let _ = php_base64_decode_lenient(&s);
        let _ = parse_created(&s);
        let _ = ParsedTicket::parse(&s).map(|p| p.check_time(CREATED_UNIX, &rules()));
        let semis = STANDARD.encode(format!(";;;{s}"));
        let _ = check(&semis, SECRET, CREATED_UNIX, &rules());
    }
}
