//! The `WEBSOCKET_*_DSN` strings, read exactly the way Oro reads them.
//!
//! wampd is a drop-in for Oro's PHP websocket server, so the same `.env-app` must mean the same thing to both.
//! Oro (`OroSyncBundle` `WebSocket/DsnBasedParameters.php`) runs PHP's `parse_url()` and `parse_str()` over the
//! DSN; both are lenient in ways no URL library copies (`//*:8080/ws` has the host `*`, `localhost:8080` has a
//! host and a port but no scheme, a missing port means 8080 rather than the scheme's default, `//h:12ab` is port
//! 12). A general URL parser such as the `url` crate would disagree with PHP on exactly the odd inputs operators
//! copy from old docs, so [`php_parse_url`] is a small, line-by-line port of PHP 8's `php_url_parse_ex2()`
//! (`ext/standard/url.c`), and [`php_parse_str`] of `php_register_variable_ex()`; the `url` crate only does the
//! `application/x-www-form-urlencoded` decoding. The tests' table was produced by running PHP 8.2 itself.

use std::collections::BTreeMap;

use crate::secret::{is_secret_name, MASK};

/// The port Oro uses when a DSN names none (not the scheme's default port).
pub const DEFAULT_PORT: u16 = 8080;

/// The phrase used after "expected" when a DSN cannot be parsed.
pub const EXPECTED_DSN: &str = "a DSN like //0.0.0.0:8080 or tcp://127.0.0.1:8080";

/// One value of a DSN's query string, as PHP's `parse_str()` builds it: a string, or a nested array for
/// `a[b]=c` keys (`a[]=x` appends with the keys `"0"`, `"1"`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// A plain value.
    Str(String),
    /// A PHP array, keyed the way PHP would key it.
    Map(BTreeMap<String, Param>),
}

/// A parsed `WEBSOCKET_*_DSN` value, with Oro's defaults applied.
///
/// `Debug` is written by hand so that logging a `Dsn` (or the `Settings` holding it) masks its secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Dsn {
    /// The scheme (transport for the PHP client: `tcp`, `ssl`, ...), `tcp` when absent.
    pub scheme: String,
    /// The host as written (`*`, `0.0.0.0`, `[::1]`, a name), `""` when absent.
    pub host: String,
    /// The port, 8080 when absent.
    pub port: u16,
    /// The path without leading and trailing `/` (`ws` for `//*:8080/ws/`).
    pub path: String,
    /// The query string as PHP's `parse_str()` decodes it.
    pub params: BTreeMap<String, Param>,
    /// The original text.
    pub raw: String,
}

impl Dsn {
    /// True when the DSN asks for TLS (`ssl://`, `tls://`, `tlsv1.2://`, `tlsv1.3://`): a
    /// property of the DSN, which the server's listener and the client both read.
    pub fn wants_tls(&self) -> bool {
        matches!(
            self.scheme.to_ascii_lowercase().as_str(),
            "ssl" | "tls" | "tlsv1.2" | "tlsv1.3"
        )
    }

    /// Parses a DSN the way Oro does. `Err` holds what was expected, for [`ConfigError::Invalid`](super::ConfigError).
    pub fn parse(s: &str) -> Result<Dsn, String> {
        let url = php_parse_url(s).ok_or_else(|| {
            format!("{EXPECTED_DSN} with a non-empty host and a port from 0 to 65535")
        })?;
        Ok(Dsn {
            scheme: url
                .scheme
                .map_or_else(|| "tcp".to_string(), php_replace_controlchars),
            host: url.host.map(php_replace_controlchars).unwrap_or_default(),
            port: if url.has_port { url.port } else { DEFAULT_PORT },
            path: php_replace_controlchars(url.path.unwrap_or_default())
                .trim_matches('/')
                .to_string(),
            params: php_parse_str(&php_replace_controlchars(url.query.unwrap_or_default())),
            raw: s.to_string(),
        })
    }

    /// Oro's `ConnectionChecker::isConfigured()`: the host is neither `""` nor `"null"`.
    pub fn is_configured(&self) -> bool {
        !self.host.is_empty() && self.host != "null"
    }

    /// The flat string values of `context_options[...]` (the PHP client's SSL stream context); nested arrays
    /// such as `peer_fingerprint[]` are left out.
    pub fn context_options(&self) -> BTreeMap<String, String> {
        match self.params.get("context_options") {
            Some(Param::Map(map)) => map
                .iter()
                .filter_map(|(k, v)| match v {
                    Param::Str(s) => Some((k.clone(), s.clone())),
                    Param::Map(_) => None,
                })
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// A top-level string parameter such as `user_agent`; `None` when absent or an array.
    pub fn param(&self, name: &str) -> Option<&str> {
        match self.params.get(name) {
            Some(Param::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The address to bind: `*` and `""` mean every IPv4 interface (`0.0.0.0`); brackets around an IPv6
    /// address are removed.
    pub fn bind_host(&self) -> &str {
        let host = self.host.as_str();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || host == "*" {
            "0.0.0.0"
        } else {
            host
        }
    }

    /// `host:port` for binding (what `TcpListener::bind` takes), with an IPv6 address in brackets.
    pub fn socket_addr_string(&self) -> String {
        let host = self.bind_host();
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The DSN text with secrets replaced by `***`: the password of `user:password@`, and the values of
    /// parameters whose name mentions a passphrase, password, secret or token.
    pub fn display_masked(&self) -> String {
        mask_dsn_text(&self.raw)
    }
}

impl std::fmt::Debug for Dsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dsn")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("params", &mask_params(&self.params))
            .field("raw", &self.display_masked())
            .finish()
    }
}

/// A copy of `params` with the values under secret-looking keys (at any depth) replaced by `***`.
fn mask_params(params: &BTreeMap<String, Param>) -> BTreeMap<String, Param> {
    params
        .iter()
        .map(|(k, v)| {
            let v = match v {
                _ if is_secret_name(k) => Param::Str(MASK.to_string()),
                Param::Map(map) => Param::Map(mask_params(map)),
                Param::Str(_) => v.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// Masks the secrets in DSN text without needing it to parse (used for error messages about bad DSNs too):
/// the password of `user:password@host`, and the values of query parameters whose decoded name mentions a
/// passphrase, password, secret or token (`context_options[passphrase]=...`).
pub fn mask_dsn_text(text: &str) -> String {
    let (before_fragment, fragment) = match text.find('#') {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let (head, query) = match before_fragment.find('?') {
        Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
        None => (before_fragment, None),
    };
    let mut out = mask_userinfo(head);
    if let Some(query) = query {
        out.push('?');
        let pieces: Vec<String> = query.split('&').map(mask_query_piece).collect();
        out.push_str(&pieces.join("&"));
    }
    out.push_str(fragment);
    out
}

/// Replaces the password in `user:password@` with `***`. The authority is taken after the first `//`, or from the
/// start when there is none, up to the next `/`; that errs on the side of masking odd inputs too.
fn mask_userinfo(head: &str) -> String {
    let start = head.find("//").map_or(0, |i| i + 2);
    let end = head[start..].find('/').map_or(head.len(), |i| start + i);
    let Some(at) = head[start..end].rfind('@').map(|i| start + i) else {
        return head.to_string();
    };
    match head[start..at].find(':').map(|i| start + i) {
        Some(colon) => format!("{}:{MASK}{}", &head[..colon], &head[at..]),
        None => head.to_string(),
    }
}

/// Masks the value of one `name=value` query piece when the decoded name looks secret.
fn mask_query_piece(piece: &str) -> String {
    let Some(eq) = piece.find('=') else {
        return piece.to_string();
    };
    let secret = url::form_urlencoded::parse(piece.as_bytes())
        .next()
        .is_some_and(|(name, _)| is_secret_name(&name));
    if secret {
        format!("{}={MASK}", &piece[..eq])
    } else {
        piece.to_string()
    }
}

/// The parts of PHP's `parse_url()` result that Oro reads (user, password and fragment are parsed past but
/// dropped).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PhpUrl<'a> {
    /// `scheme`, if PHP found one.
    pub scheme: Option<&'a str>,
    /// `host`, if PHP found one.
    pub host: Option<&'a str>,
    /// `port` (meaningful when `has_port`).
    pub port: u16,
    /// Whether PHP would return a `port` key.
    pub has_port: bool,
    /// `path`, if any.
    pub path: Option<&'a str>,
    /// `query` (without `?`), if there was a `?`.
    pub query: Option<&'a str>,
}

/// Where PHP's parser goes after the scheme step (its `goto parse_host` / `goto just_path`).
enum Next {
    Host(usize),
    Path(usize),
}

/// PHP 8's `parse_url()` (`php_url_parse_ex2`); `None` is PHP's `false`. Control characters are not replaced
/// here (see [`php_replace_controlchars`]). All positions are of ASCII bytes, so slicing stays on char boundaries.
pub fn php_parse_url(text: &str) -> Option<PhpUrl<'_>> {
    let b = text.as_bytes();
    let ue = b.len();
    let mut url = PhpUrl::default();
    let next = match b.iter().position(|&c| c == b':') {
        Some(e) if e != 0 => {
            if !b[..e].iter().all(|&c| is_scheme_char(c)) {
                // Not a scheme: maybe "host:port", maybe "//host...", else a path.
                if e + 1 < ue && e < strcspn(b, 0, b"?#") {
                    parse_port(b, e, &mut url)?
                } else if b.starts_with(b"//") {
                    Next::Host(2)
                } else {
                    Next::Path(0)
                }
            } else if e + 1 == ue {
                url.scheme = Some(&text[..e]);
                return Some(url);
            } else if b[e + 1] != b'/' {
                // "a.com:80" is a host and a port, "mailto:x" a scheme and a path.
                let digits = b[e + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                let p = e + 1 + digits;
                if (p == ue || b[p] == b'/') && p - e < 7 {
                    parse_port(b, e, &mut url)?
                } else {
                    url.scheme = Some(&text[..e]);
                    Next::Path(e + 1)
                }
            } else {
                url.scheme = Some(&text[..e]);
                if e + 2 < ue && b[e + 2] == b'/' {
                    if text[..e].eq_ignore_ascii_case("file") && e + 3 < ue && b[e + 3] == b'/' {
                        // file:///c:/dir keeps the drive letter in the path
                        Next::Path(if e + 5 < ue && b[e + 5] == b':' {
                            e + 4
                        } else {
                            e + 3
                        })
                    } else {
                        Next::Host(e + 3)
                    }
                } else {
                    Next::Path(e + 1)
                }
            }
        }
        Some(e) => parse_port(b, e, &mut url)?,
        None if b.starts_with(b"//") => Next::Host(2),
        None => Next::Path(0),
    };
    match next {
        Next::Host(s) => {
            let host_end = parse_host(text, s, &mut url)?;
            if host_end < ue {
                just_path(text, host_end, &mut url);
            }
        }
        Next::Path(s) => just_path(text, s, &mut url),
    }
    Some(url)
}

/// PHP's `parse_port:` label: a port right after the first colon (the text before it is then the host).
fn parse_port(b: &[u8], e: usize, url: &mut PhpUrl<'_>) -> Option<Next> {
    let ue = b.len();
    let p = e + 1;
    let digits = b[p..]
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_digit())
        .count();
    let pp = p + digits;
    let after_double_slash = if b.starts_with(b"//") { 2 } else { 0 };
    if digits > 0 && digits < 6 && (pp == ue || b[pp] == b'/') {
        url.port = php_strtol_port(&b[p..pp])?;
        url.has_port = true;
        Some(Next::Host(after_double_slash))
    } else if digits == 0 && pp == ue {
        None
    } else if after_double_slash == 2 {
        Some(Next::Host(2))
    } else {
        Some(Next::Path(0))
    }
}

/// PHP's `parse_host:` label. Returns where the host part ends (where a path, query or fragment starts).
fn parse_host<'a>(text: &'a str, s: usize, url: &mut PhpUrl<'a>) -> Option<usize> {
    let b = text.as_bytes();
    let e = strcspn(b, s, b"/?#");
    // user[:password]@ is skipped: Oro never reads it
    let s = b[s..e]
        .iter()
        .rposition(|&c| c == b'@')
        .map_or(s, |at| s + at + 1);
    let bracketed_ipv6 = s < b.len() && b[s] == b'[' && b[e - 1] == b']';
    let colon = if bracketed_ipv6 {
        None
    } else {
        b[s..e].iter().rposition(|&c| c == b':').map(|i| s + i)
    };
    let host_end = match colon {
        Some(colon) => {
            if url.port == 0 {
                let digits = &b[colon + 1..e];
                if digits.len() > 5 {
                    return None;
                }
                if !digits.is_empty() {
                    url.port = php_strtol_port(digits)?;
                    url.has_port = true;
                }
            }
            colon
        }
        None => e,
    };
    if host_end <= s {
        return None;
    }
    url.host = Some(&text[s..host_end]);
    Some(e)
}

/// PHP's `just_path:` label: fragment (dropped), query and path from `s` on.
fn just_path<'a>(text: &'a str, s: usize, url: &mut PhpUrl<'a>) {
    let mut e = text[s..].find('#').map_or(text.len(), |i| s + i);
    if let Some(q) = text[s..e].find('?') {
        url.query = Some(&text[s + q + 1..e]);
        e = s + q;
    }
    if s < e || s == text.len() {
        url.path = Some(&text[s..e]);
    }
}

/// RFC 3986 scheme characters, as PHP checks them.
fn is_scheme_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'.' || c == b'-'
}

/// Index of the first byte from `start` that is one of `chars`, or the length.
fn strcspn(b: &[u8], start: usize, chars: &[u8]) -> usize {
    b[start..]
        .iter()
        .position(|c| chars.contains(c))
        .map_or(b.len(), |i| start + i)
}

/// C `strtol(port, &end, 10)` as PHP uses it on at most 5 bytes: leading whitespace and a sign are allowed,
/// trailing junk is ignored, at least one digit is required, and the result must be in 0..=65535.
fn php_strtol_port(bytes: &[u8]) -> Option<u16> {
    let mut rest = bytes;
    while let [c, tail @ ..] = rest {
        if matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            rest = tail;
        } else {
            break;
        }
    }
    let (negative, rest) = match rest {
        [b'-', tail @ ..] => (true, tail),
        [b'+', tail @ ..] => (false, tail),
        _ => (false, rest),
    };
    let digits: Vec<u8> = rest
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .copied()
        .collect();
    if digits.is_empty() {
        return None;
    }
    let value = digits
        .iter()
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
    let value = if negative { -value } else { value };
    u16::try_from(value).ok()
}

/// PHP replaces ASCII control characters in every `parse_url()` component with `_`.
pub fn php_replace_controlchars(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_control() { '_' } else { c })
        .collect()
}

/// PHP's `max_input_nesting_level` default: deeper `a[b][c]...` names are dropped.
const MAX_NESTING: usize = 64;

/// PHP's `parse_str()`: form decoding (`+` is a space, `%XX` a byte), `a[b]=c` nesting, `a[]=x` appending,
/// later keys overwriting earlier ones, and PHP's name mangling (` ` and `.` become `_` in the base name).
pub fn php_parse_str(query: &str) -> BTreeMap<String, Param> {
    let mut out = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        // PHP works on C strings: a decoded NUL ends the name
        let name = name.split('\0').next().unwrap_or_default();
        if let Some((base, indices)) = split_variable_name(name) {
            insert_path(&mut out, Some(base), &indices, value.into_owned());
        }
    }
    out
}

/// Splits `a[b][]` into `("a", [Some("b"), None])` the way `php_register_variable_ex()` does; `None` when PHP
/// would drop the variable (empty name, too deep).
fn split_variable_name(name: &str) -> Option<(String, Vec<Option<String>>)> {
    let name = name.trim_start_matches(' ');
    let bracket = name.find('[');
    let base_raw = &name[..bracket.unwrap_or(name.len())];
    let mut base: String = base_raw
        .chars()
        .map(|c| if c == ' ' || c == '.' { '_' } else { c })
        .collect();
    if base.is_empty() {
        return None;
    }
    let mut indices = Vec::new();
    let Some(bracket) = bracket else {
        return Some((base, indices));
    };
    let mut rest = &name[bracket..]; // always starts with '['
    loop {
        if indices.len() >= MAX_NESTING {
            return None;
        }
        let inner = &rest[1..];
        let probe = inner.strip_prefix(' ').unwrap_or(inner);
        if let Some(after) = probe.strip_prefix(']') {
            indices.push(None);
            rest = after;
        } else if let Some(close) = inner.find(']') {
            indices.push(Some(inner[..close].to_string()));
            rest = &inner[close + 1..];
        } else {
            if indices.is_empty() {
                // "a[b" is not an array: the name becomes "a_b" (with ' ', '.', '[' mangled too)
                base.push('_');
                base.extend(inner.chars().map(
                    |c| {
                        if matches!(c, ' ' | '.' | '[') {
                            '_'
                        } else {
                            c
                        }
                    },
                ));
            }
            break;
        }
        if !rest.starts_with('[') {
            break;
        }
    }
    Some((base, indices))
}

/// Stores `value` under `key` then `path` (`None` = PHP's `[]`, the next integer key), turning any string in
/// the way into an array, as PHP does.
fn insert_path(
    table: &mut BTreeMap<String, Param>,
    key: Option<String>,
    path: &[Option<String>],
    value: String,
) {
    let key = key.unwrap_or_else(|| next_index(table).to_string());
    match path.split_first() {
        None => {
            table.insert(key, Param::Str(value));
        }
        Some((next, rest)) => {
            let mut child = match table.remove(&key) {
                Some(Param::Map(map)) => map,
                _ => BTreeMap::new(),
            };
            insert_path(&mut child, next.clone(), rest, value);
            table.insert(key, Param::Map(child));
        }
    }
}

/// PHP's next free integer key: one past the largest non-negative integer key, or 0.
fn next_index(table: &BTreeMap<String, Param>) -> i64 {
    table
        .keys()
        .filter_map(|k| php_integer_key(k))
        .filter(|&n| n >= 0)
        .max()
        .map_or(0, |n| n.saturating_add(1))
}

/// Whether PHP would store this array key as an integer (`"5"` yes, `"05"`, `"-0"` and `"+5"` no).
fn php_integer_key(k: &str) -> Option<i64> {
    let digits = k.strip_prefix('-').unwrap_or(k);
    let canonical = digits == "0" && k == "0"
        || (!digits.is_empty()
            && !digits.starts_with('0')
            && digits.bytes().all(|c| c.is_ascii_digit()));
    if canonical {
        k.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
