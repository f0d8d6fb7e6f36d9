//! Unit tests of `dsn`, kept beside it so the module itself reads as the code.

use super::*;

type Expected = Option<(&'static str, &'static str, u16, &'static str)>;

/// (DSN, Oro's (scheme, host, port, path) or None for "parse_url() === false"), produced by PHP 8.2 running
/// DsnBasedParameters' logic.
const PHP_TABLE: &[(&str, Expected)] = &[
    ("//0.0.0.0:8080", Some(("tcp", "0.0.0.0", 8080, ""))),
    ("//*:8080/ws", Some(("tcp", "*", 8080, "ws"))),
    ("//*:443/ws", Some(("tcp", "*", 443, "ws"))),
    ("tcp://127.0.0.1:8080", Some(("tcp", "127.0.0.1", 8080, ""))),
    (
        "ssl://ws.example.com:443/ws?context_options[verify_peer]=false&context_options[verify_peer_name]=false",
        Some(("ssl", "ws.example.com", 443, "ws")),
    ),
    ("//localhost", Some(("tcp", "localhost", 8080, ""))),
    ("tcp://[::1]:9000", Some(("tcp", "[::1]", 9000, ""))),
    ("ws/path-only", Some(("tcp", "", 8080, "ws/path-only"))),
    // Oro docs' typo: PHP reads "ssl" as the host and 443 as the port
    ("ssl//*:443/ws", Some(("tcp", "ssl", 443, "*:443/ws"))),
    ("//host:99999", None),
    ("//host:abc", None),
    ("tcp://user:pass@host:1", Some(("tcp", "host", 1, ""))),
    ("", Some(("tcp", "", 8080, ""))),
    ("//", None),
    ("///", None),
    ("//:80", None),
    ("//*:port", None),
    ("tcp://", None),
    ("tcp:", Some(("tcp", "", 8080, ""))),
    ("tcp:/host", Some(("tcp", "", 8080, "host"))),
    ("localhost:8080", Some(("tcp", "localhost", 8080, ""))),
    ("0.0.0.0:8080", Some(("tcp", "0.0.0.0", 8080, ""))),
    ("localhost", Some(("tcp", "", 8080, "localhost"))),
    ("//host:", Some(("tcp", "host", 8080, ""))),
    ("//host:0", Some(("tcp", "host", 0, ""))),
    ("//host:12ab", Some(("tcp", "host", 12, ""))),
    ("//host:123456", None),
    ("//host:-0", Some(("tcp", "host", 0, ""))),
    ("//host: 12", Some(("tcp", "host", 12, ""))),
    ("tcp://[::1]", Some(("tcp", "[::1]", 8080, ""))),
    ("//[::]:8080", Some(("tcp", "[::]", 8080, ""))),
    ("tcp://::1:9000", Some(("tcp", "::1", 9000, ""))),
    ("tcp://[::1]/ws", Some(("tcp", "[::1]", 8080, "ws"))),
    ("tcp://host:1/a/b/?x=1#frag", Some(("tcp", "host", 1, "a/b"))),
    ("//host:8080/ws/?a=1:2", Some(("tcp", "host", 8080, "ws"))),
    ("//null:8080", Some(("tcp", "null", 8080, ""))),
    ("TCP://Host:1", Some(("TCP", "Host", 1, ""))),
    ("unix:///var/run/ws.sock", None),
    ("file:///x", Some(("file", "", 8080, "x"))),
    ("//a@b@c:5", Some(("tcp", "c", 5, ""))),
    ("http://host:80?q", Some(("http", "host", 80, ""))),
    ("//host#x:1", Some(("tcp", "host", 8080, ""))),
    ("tcp://h:65535", Some(("tcp", "h", 65535, ""))),
    ("tcp://h:65536", None),
    ("mailto:x@y", Some(("mailto", "", 8080, "x@y"))),
    (":8080", None),
    (":", None),
    (
        "ssl://ws.example.com/ws?a[]=1&a[]=2",
        Some(("ssl", "ws.example.com", 8080, "ws")),
    ),
    ("//host:8080?x:1", Some(("tcp", "host", 8080, ""))),
    ("//host?x=1:2", Some(("tcp", "host", 8080, ""))),
    ("a:65536", None),
    ("a:123456", Some(("a", "", 8080, "123456"))),
    ("a:1/b", Some(("tcp", "a", 1, "b"))),
    ("1.2.3.4:80/ws", Some(("tcp", "1.2.3.4", 80, "ws"))),
    ("//h:1:2", Some(("tcp", "h:1", 2, ""))),
    ("//h/ws:1", Some(("tcp", "h", 1, "ws:1"))),
    ("tcp://h:+5", Some(("tcp", "h", 5, ""))),
    ("x//y:1", Some(("tcp", "x", 1, "y:1"))),
    ("//[::1]", Some(("tcp", "[::1]", 8080, ""))),
    ("tcp://h\u{1}x:1", Some(("tcp", "h_x", 1, ""))),
];

#[test]
fn matches_php_table() {
    for &(text, expected) in PHP_TABLE {
        let got = Dsn::parse(text);
        match expected {
            None => assert!(got.is_err(), "{text:?} should be invalid, got {got:?}"),
            Some((scheme, host, port, path)) => {
                let dsn = got.unwrap_or_else(|e| panic!("{text:?} rejected: {e}"));
                assert_eq!(
                    (
                        dsn.scheme.as_str(),
                        dsn.host.as_str(),
                        dsn.port,
                        dsn.path.as_str()
                    ),
                    (scheme, host, port, path),
                    "{text:?}"
                );
                assert_eq!(dsn.raw, text);
            }
        }
    }
}

#[test]
fn error_says_what_was_expected() {
    let e = Dsn::parse("//host:99999").unwrap_err();
    assert!(e.starts_with(EXPECTED_DSN), "{e}");
    assert!(e.contains("65535"), "{e}");
}

#[test]
fn configured_follows_oro_connection_checker() {
    let configured = |s: &str| Dsn::parse(s).map(|d| d.is_configured());
    assert_eq!(configured("//0.0.0.0:8080"), Ok(true));
    assert_eq!(configured("//*:8080/ws"), Ok(true));
    assert_eq!(configured(""), Ok(false));
    assert_eq!(configured("ws/path-only"), Ok(false));
    assert_eq!(configured("//null:8080"), Ok(false));
    assert_eq!(configured("tcp:"), Ok(false));
    // PHP takes "ssl" for the host here, so Oro would call it configured too
    assert_eq!(configured("ssl//*:443/ws"), Ok(true));
}

#[test]
fn backend_context_options_and_params() {
    let dsn = Dsn::parse(
        "ssl://ws.example.com:443/ws?context_options[verify_peer]=false&context_options[verify_peer_name]=false&context_options[peer_fingerprint][]=ab&user_agent=wampd+test%2F1",
    )
    .unwrap();
    let opts = dsn.context_options();
    assert_eq!(opts.len(), 2);
    assert_eq!(opts["verify_peer"], "false");
    assert_eq!(opts["verify_peer_name"], "false");
    assert_eq!(dsn.param("user_agent"), Some("wampd test/1"));
    assert_eq!(dsn.param("context_options"), None);
    assert_eq!(dsn.param("missing"), None);
    assert!(Dsn::parse("//h?context_options=x")
        .unwrap()
        .context_options()
        .is_empty());
    assert!(Dsn::parse("//h").unwrap().context_options().is_empty());
}

#[test]
fn bind_addresses() {
    let bind = |s: &str| {
        let d = Dsn::parse(s).unwrap();
        (d.bind_host().to_string(), d.socket_addr_string())
    };
    assert_eq!(
        bind("//0.0.0.0:8080"),
        ("0.0.0.0".into(), "0.0.0.0:8080".into())
    );
    assert_eq!(bind("//*:443/ws"), ("0.0.0.0".into(), "0.0.0.0:443".into()));
    assert_eq!(
        bind("tcp://[::1]:9000"),
        ("::1".into(), "[::1]:9000".into())
    );
    assert_eq!(bind("tcp://::1:9000"), ("::1".into(), "[::1]:9000".into()));
    assert_eq!(bind("//[::]:8080"), ("::".into(), "[::]:8080".into()));
    assert_eq!(
        bind("//localhost"),
        ("localhost".into(), "localhost:8080".into())
    );
    assert_eq!(
        bind("ws/path-only"),
        ("0.0.0.0".into(), "0.0.0.0:8080".into())
    );
}

#[test]
fn masking() {
    let masked = |s: &str| Dsn::parse(s).unwrap().display_masked();
    assert_eq!(masked("tcp://user:pass@host:1"), "tcp://user:***@host:1");
    assert_eq!(masked("tcp://user@host:1"), "tcp://user@host:1");
    assert_eq!(
        masked("ssl://h:443/ws?context_options[passphrase]=s3cr%20t&context_options[verify_peer]=false"),
        "ssl://h:443/ws?context_options[passphrase]=***&context_options[verify_peer]=false"
    );
    assert_eq!(
        masked("//h?context_options%5Bpassphrase%5D=x&Password=y&api_token=z&secret&x=1#f"),
        "//h?context_options%5Bpassphrase%5D=***&Password=***&api_token=***&secret&x=1#f"
    );
    assert_eq!(masked("//0.0.0.0:8080"), "//0.0.0.0:8080");
    // works on text that does not parse, for error messages
    assert_eq!(mask_dsn_text("//u:pw@:99999"), "//u:***@:99999");
    assert_eq!(mask_dsn_text("u:pw@h"), "u:***@h");
}

#[test]
fn debug_output_masks_secrets() {
    let dsn = Dsn::parse(
        "ssl://u:hunter2@h:443/ws?context_options[passphrase]=hunter2&token=hunter2&x=1",
    )
    .unwrap();
    let debug = format!("{dsn:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("\"x\": Str(\"1\")"), "{debug}");
    assert!(debug.contains("port: 443"), "{debug}");
}

fn s(v: &str) -> Param {
    Param::Str(v.to_string())
}

fn map(items: &[(&str, Param)]) -> Param {
    Param::Map(
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn parsed(q: &str) -> Param {
    Param::Map(php_parse_str(q))
}

/// Expected values taken from PHP 8.2's parse_str().
#[test]
fn parse_str_matches_php() {
    assert_eq!(
        parsed("a[b]=c&a[d][e]=f"),
        map(&[("a", map(&[("b", s("c")), ("d", map(&[("e", s("f"))]))]))])
    );
    assert_eq!(
        parsed("a[]=1&a[]=2"),
        map(&[("a", map(&[("0", s("1")), ("1", s("2"))]))])
    );
    assert_eq!(
        parsed("a[5]=x&a[]=y"),
        map(&[("a", map(&[("5", s("x")), ("6", s("y"))]))])
    );
    assert_eq!(parsed("a.b c=1"), map(&[("a_b_c", s("1"))]));
    assert_eq!(parsed("a[b=1"), map(&[("a_b", s("1"))]));
    assert_eq!(parsed("a[b.c=1"), map(&[("a_b_c", s("1"))]));
    assert_eq!(parsed("a[b.c]=1"), map(&[("a", map(&[("b.c", s("1"))]))]));
    assert_eq!(parsed("a[b]c=1"), map(&[("a", map(&[("b", s("1"))]))]));
    assert_eq!(parsed(" x=1"), map(&[("x", s("1"))]));
    assert_eq!(parsed("a=1&a=2"), map(&[("a", s("2"))]));
    assert_eq!(parsed("a=1&a[b]=2"), map(&[("a", map(&[("b", s("2"))]))]));
    assert_eq!(parsed("a[b]=2&a=1"), map(&[("a", s("1"))]));
    assert_eq!(
        parsed("a[ ]=1&a[ ]=2"),
        map(&[("a", map(&[("0", s("1")), ("1", s("2"))]))])
    );
    assert_eq!(parsed("a%5Bb%5D=1"), map(&[("a", map(&[("b", s("1"))]))]));
    assert_eq!(parsed("x+y=a+b%20c"), map(&[("x_y", s("a b c"))]));
    assert_eq!(parsed("=1&b"), map(&[("b", s(""))]));
    assert_eq!(parsed("a[b][=1"), map(&[("a", map(&[("b", s("1"))]))]));
    assert_eq!(parsed("a[x]]=1"), map(&[("a", map(&[("x", s("1"))]))]));
    assert_eq!(
        parsed("a[-1]=x&a[]=y"),
        map(&[("a", map(&[("-1", s("x")), ("0", s("y"))]))])
    );
    assert_eq!(
        parsed("a[05]=x&a[]=y"),
        map(&[("a", map(&[("05", s("x")), ("0", s("y"))]))])
    );
    assert_eq!(parsed("a[b[c]=1"), map(&[("a", map(&[("b[c", s("1"))]))]));
    assert_eq!(parsed("%=%zz"), map(&[("%", s("%zz"))]));
    assert_eq!(
        parsed("a[][b]=1&a[][b]=2"),
        map(&[(
            "a",
            map(&[("0", map(&[("b", s("1"))])), ("1", map(&[("b", s("2"))]))])
        )])
    );
    assert_eq!(parsed("[a]=1"), map(&[]));
    assert_eq!(parsed("a.[b]=1"), map(&[("a_", map(&[("b", s("1"))]))]));
    assert_eq!(
        parsed("a[b]=1&a[b][c]=2"),
        map(&[("a", map(&[("b", map(&[("c", s("2"))]))]))])
    );
    assert_eq!(parsed("&&a=1&&"), map(&[("a", s("1"))]));
    assert_eq!(parsed(""), map(&[]));
}

#[test]
fn parse_str_nesting_limit() {
    let deep_ok = format!("a{}=1", "[x]".repeat(MAX_NESTING));
    assert!(php_parse_str(&deep_ok).contains_key("a"));
    let too_deep = format!("a{}=1", "[x]".repeat(MAX_NESTING + 1));
    assert!(php_parse_str(&too_deep).is_empty());
}

#[test]
fn integer_keys() {
    assert_eq!(php_integer_key("0"), Some(0));
    assert_eq!(php_integer_key("12"), Some(12));
    assert_eq!(php_integer_key("-3"), Some(-3));
    for k in ["", "-", "-0", "05", "+5", "1a", "99999999999999999999"] {
        assert_eq!(php_integer_key(k), None, "{k:?}");
    }
}

#[test]
fn strtol_port() {
    assert_eq!(php_strtol_port(b"8080"), Some(8080));
    assert_eq!(php_strtol_port(b" +12x"), Some(12));
    assert_eq!(php_strtol_port(b"-0"), Some(0));
    assert_eq!(php_strtol_port(b"-1"), None);
    assert_eq!(php_strtol_port(b"65536"), None);
    assert_eq!(php_strtol_port(b"abc"), None);
    assert_eq!(php_strtol_port(b""), None);
}
