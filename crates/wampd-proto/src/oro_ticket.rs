//! OroSyncBundle ticket authentication, bit-for-bit (protocol reference
//! `oro-gos.md` §7).
//!
//! Why exact: every Oro client authenticates the WebSocket handshake with a
//! ticket in the query string (`?ticket=...`), produced by PHP
//! (`TicketProvider::generateTicket`). A replacement server must accept
//! exactly the tickets PHP accepts, so the PHP pieces involved are ported
//! here and were cross-checked against PHP 8.2:
//!
//! * `parse_str` form decoding of the query ([`ticket_from_query`]);
//! * non-strict `base64_decode`, which skips characters outside the alphabet
//!   ([`php_base64_decode_lenient`]) — so a raw `+` that form decoding turned
//!   into a space is *skipped*, not restored (Oro's own clients always
//!   percent-encode: the browser uses `encodeURIComponent`, PHP
//!   `http_build_query`; and Oro tickets only contain `+` when the plain text
//!   contains `>` or `~`);
//! * Symfony's `MessageDigestPasswordHasher('sha512', true, 5000)` with the
//!   kernel secret as salt ([`digest`]);
//! * `strtotime` for the ISO-8601 `date('c')` timestamps ([`parse_created`]).
//!
//! Validation order follows Oro's `WebsocketAuthenticationByTicketProvider`:
//! format → creation time (future skew, then TTL) → user → digest. Named
//! tickets (back-office browsers) need the user's stored password hash from
//! the database; [`check`] reports them as [`TicketError::NamedNotSupported`]
//! after the format and time checks, and [`verify_named`] does their digest
//! check once a lookup supplies the hash.
//!
//! Error texts follow Oro's log lines but never contain the secret or the
//! ticket digest (Oro logs the digest; we do not).
//!
//! Known, deliberate deviations: `parse_str`'s `max_input_vars` (1000) cut-off
//! is not replicated (a ticket after 1000 other parameters is still found);
//! [`parse_created`] implements the ISO-8601 subset of `strtotime` (Oro only
//! ever produces `date('c')`), other formats PHP would accept count as
//! unparsable, i.e. expired.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest as _, Sha512};
use subtle::ConstantTimeEq as _;

/// Oro's ticket lifetime (`oro_sync.security.ticket_authentication_provider.ticket_ttl`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// How far in the future a ticket's creation time may be (hard-coded `30` in Oro).
pub const DEFAULT_FUTURE_SKEW: Duration = Duration::from_secs(30);

/// Symfony `PasswordHasherInterface::MAX_PASSWORD_LENGTH`: longer plain texts
/// (`nonce|created|password`) make the hasher throw, so no such ticket exists.
pub const MAX_PASSWORD_LENGTH: usize = 4096;

/// Hash iterations of Oro's `MessageDigestPasswordHasher('sha512', true, 5000)`.
pub const DIGEST_ITERATIONS: u32 = 5000;

/// Longest username/creation date copied into a [`TicketError`] (log hygiene).
const MAX_ERROR_FIELD: usize = 64;

/// The time rules a ticket must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketCheck {
    /// Maximum age: rejected when `now - created > ttl` (Oro: 300 s).
    pub ttl: Duration,
    /// Tolerated clock skew: rejected when `created - now > future_skew`
    /// (Oro: 30 s).
    pub future_skew: Duration,
}

impl Default for TicketCheck {
    /// Oro's values: TTL 300 s, future skew 30 s.
    fn default() -> Self {
        TicketCheck {
            ttl: DEFAULT_TTL,
            future_skew: DEFAULT_FUTURE_SKEW,
        }
    }
}

/// What a valid ticket proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ticket {
    /// Signed with the kernel secret, no user (Oro's backend PHP clients).
    Anonymous,
    /// Signed with a user's stored password hash (back-office browsers).
    Named {
        /// The username (or e-mail) the ticket names.
        username: String,
    },
}

/// Why a ticket was rejected. `Display` gives the log line; it never contains
/// the secret or the ticket's digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The request had no `ticket` query parameter.
    #[error("Authentication ticket has invalid format (no ticket parameter)")]
    Missing,
    /// Empty, or fewer than three `;` after base64 decoding.
    #[error("Authentication ticket has invalid format")]
    InvalidFormat,
    /// Older than the TTL, or the creation date is unparsable.
    #[error("Ticket for {username:?} is expired (created {created:?})")]
    Expired {
        /// The ticket's username (empty for anonymous), truncated.
        username: String,
        /// The ticket's creation date as sent, truncated.
        created: String,
    },
    /// Created more than the allowed skew in the future.
    #[error("Ticket for {username:?} is not valid, because token creation date {created:?} is in future")]
    FromTheFuture {
        /// The ticket's username (empty for anonymous), truncated.
        username: String,
        /// The ticket's creation date as sent, truncated.
        created: String,
    },
    /// The digest does not match (wrong secret/password, tampered ticket).
    #[error("Ticket for {username:?} is not valid - invalid digest.")]
    BadDigest {
        /// The ticket's username (empty for anonymous), truncated.
        username: String,
    },
    /// The configured secret contains `{` or `}`, which Symfony's hasher
    /// rejects for salts: PHP can neither issue nor accept any ticket.
    #[error("the configured secret contains '{{' or '}}'; no ticket can be valid")]
    UnusableSecret,
    /// A named ticket that passed the format and time checks; validating it
    /// needs the user's password hash (see [`verify_named`]).
    #[error("Ticket for {0:?} names a user; named tickets are not supported yet")]
    NamedNotSupported(String),
}

/// A base64-decoded ticket split into Oro's four fields
/// (`digest;username;nonce;created`, extra `;` pieces ignored like PHP's
/// `explode` + `list`). Fields are raw bytes: the digest covers them as sent.
/// `Debug` hides the digest.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedTicket {
    digest: Vec<u8>,
    username: Vec<u8>,
    nonce: Vec<u8>,
    created: Vec<u8>,
}

impl fmt::Debug for ParsedTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedTicket")
            .field("digest", &"<redacted>")
            .field("username", &self.username())
            .field("nonce", &String::from_utf8_lossy(&self.nonce))
            .field("created", &self.created())
            .finish()
    }
}

impl ParsedTicket {
    /// Parses a ticket as the query carried it (still base64): lenient PHP
    /// base64 decoding, then "non-empty and at least three `;`".
    pub fn parse(ticket_b64: &str) -> Result<Self, TicketError> {
        let raw = php_base64_decode_lenient(ticket_b64);
        // `empty($ticket) || substr_count($ticket, ';') < 3` ("0" is empty in
        // PHP but has no ';' either).
        if raw.iter().filter(|&&b| b == b';').count() < 3 {
            return Err(TicketError::InvalidFormat);
        }
        let mut parts = raw.split(|&b| b == b';');
        let mut next = || parts.next().map(<[u8]>::to_vec).unwrap_or_default();
        Ok(ParsedTicket {
            digest: next(),
            username: next(),
            nonce: next(),
            created: next(),
        })
    }

    /// The username (lossy UTF-8); empty for anonymous tickets.
    pub fn username(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.username)
    }

    /// The creation date as sent (lossy UTF-8).
    pub fn created(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.created)
    }

    /// The nonce bytes as sent.
    pub fn nonce(&self) -> &[u8] {
        &self.nonce
    }

    /// `true` when the ticket names no user. PHP tests `if (!$username)`, so
    /// the username `"0"` is anonymous too.
    pub fn is_anonymous(&self) -> bool {
        self.username.is_empty() || self.username == b"0"
    }

    /// Step 3 of Oro's validation: the creation time against `now_unix`.
    /// An unparsable date counts as the Unix epoch (PHP: `strtotime` →
    /// `false` → `0`), i.e. expired.
    pub fn check_time(&self, now_unix: i64, rules: &TicketCheck) -> Result<(), TicketError> {
        let created_time = std::str::from_utf8(&self.created)
            .ok()
            .and_then(parse_created)
            .unwrap_or(0);
        let skew = i64::try_from(rules.future_skew.as_secs()).unwrap_or(i64::MAX);
        let ttl = i64::try_from(rules.ttl.as_secs()).unwrap_or(i64::MAX);
        if created_time > now_unix && created_time.saturating_sub(now_unix) > skew {
            return Err(TicketError::FromTheFuture {
                username: clip(&self.username()),
                created: clip(&self.created()),
            });
        }
        if now_unix.saturating_sub(created_time) > ttl {
            return Err(TicketError::Expired {
                username: clip(&self.username()),
                created: clip(&self.created()),
            });
        }
        Ok(())
    }

    /// Constant-time comparison of the ticket's digest with the one computed
    /// from `password` and `secret` (`false` if PHP could not have produced
    /// one: secret with braces, plain text over [`MAX_PASSWORD_LENGTH`]).
    fn digest_matches(&self, password: &[u8], secret: &[u8]) -> bool {
        match digest_bytes(&self.nonce, &self.created, password, secret) {
            Some(expected) => bool::from(expected.as_bytes().ct_eq(&self.digest)),
            None => false,
        }
    }

    fn bad_digest(&self) -> TicketError {
        TicketError::BadDigest {
            username: clip(&self.username()),
        }
    }
}

/// Truncates a log field to [`MAX_ERROR_FIELD`] characters.
fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_ERROR_FIELD) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The `ticket` parameter of a request URI's query string, decoded like PHP's
/// `parse_str`: pairs split on `&`, `+` → space, `%XX` decoded (invalid
/// escapes kept literally), names with leading spaces stripped and cut at NUL,
/// the last `ticket` wins. `ticket[...]` makes it an array, which Oro casts
/// to the string `"Array"` (returned as such; it then fails the format
/// check). Bytes that are not UTF-8 become U+FFFD, which the lenient base64
/// decoder skips just as it skips the original bytes. `None` if absent.
pub fn ticket_from_query(query: &str) -> Option<String> {
    enum Found {
        Scalar(Vec<u8>),
        Array,
    }
    let mut found = None;
    for pair in query.split('&') {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let mut key = url_decode(raw_key);
        if let Some(nul) = key.iter().position(|&b| b == 0) {
            key.truncate(nul);
        }
        let start = key.iter().take_while(|&&b| b == b' ').count();
        let key = &key[start..];
        match key.iter().position(|&b| b == b'[') {
            None if key == b"ticket" => found = Some(Found::Scalar(url_decode(raw_value))),
            // `ticket[...]` with a closing bracket is an array; an unclosed
            // `[` is turned into `_` by PHP (`ticket_...`), another name.
            Some(6) if key.starts_with(b"ticket") && key[6..].contains(&b']') => {
                found = Some(Found::Array);
            }
            _ => {}
        }
    }
    match found? {
        Found::Scalar(v) => Some(String::from_utf8_lossy(&v).into_owned()),
        Found::Array => Some("Array".to_owned()),
    }
}

/// PHP `urldecode`: `+` → space, `%XX` (two hex digits) → byte, anything
/// else (including a malformed `%`) verbatim.
fn url_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = b.get(i + 1).and_then(|&h| (h as char).to_digit(16));
                let lo = b.get(i + 2).and_then(|&l| (l as char).to_digit(16));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// PHP's non-strict `base64_decode`: every character outside `A-Za-z0-9+/`
/// is skipped, `=` included and wherever it appears (data after padding is
/// still decoded); missing padding is fine; trailing bits that do not fill a
/// byte (including a lone final character) are dropped. Never fails.
pub fn php_base64_decode_lenient(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut n = 0u32;
    for &c in s.as_bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

/// Oro's ticket digest: Symfony `MessageDigestPasswordHasher` (sha512, 5000
/// iterations, base64) of `nonce|created|password` salted with `secret`:
/// `salted = plain + "{" + secret + "}"` (just `plain` when the secret is
/// PHP-falsy, i.e. `""` or `"0"`), `d = sha512(salted)`, 4999 × `d =
/// sha512(d ‖ salted)`, result `base64(d)` (88 characters).
///
/// PHP throws instead of hashing when the secret contains `{`/`}` or the
/// plain text exceeds [`MAX_PASSWORD_LENGTH`]; this function hashes anyway
/// (for tests and tools) and [`check`]/[`verify_named`] reject those cases.
pub fn digest(nonce: &str, created: &str, password: &str, secret: &str) -> String {
    digest_unchecked(
        nonce.as_bytes(),
        created.as_bytes(),
        password.as_bytes(),
        secret.as_bytes(),
    )
}

/// [`digest`] with PHP's refusals: `None` for a secret containing braces or
/// an over-long plain text.
fn digest_bytes(nonce: &[u8], created: &[u8], password: &[u8], secret: &[u8]) -> Option<String> {
    let plain_len = nonce.len() + created.len() + password.len() + 2;
    if !secret_is_usable_bytes(secret) || plain_len > MAX_PASSWORD_LENGTH {
        return None;
    }
    Some(digest_unchecked(nonce, created, password, secret))
}

fn digest_unchecked(nonce: &[u8], created: &[u8], password: &[u8], secret: &[u8]) -> String {
    let mut salted =
        Vec::with_capacity(nonce.len() + created.len() + password.len() + secret.len() + 4);
    salted.extend_from_slice(nonce);
    salted.push(b'|');
    salted.extend_from_slice(created);
    salted.push(b'|');
    salted.extend_from_slice(password);
    // Symfony: `if (!$salt) return $password;` — "" and "0" are falsy.
    if !(secret.is_empty() || secret == b"0") {
        salted.push(b'{');
        salted.extend_from_slice(secret);
        salted.push(b'}');
    }
    let mut d = Sha512::digest(&salted);
    for _ in 1..DIGEST_ITERATIONS {
        let mut h = Sha512::new();
        h.update(d);
        h.update(&salted);
        d = h.finalize();
    }
    STANDARD.encode(d)
}

/// `false` if Symfony would refuse `secret` as a salt (contains `{` or `}`):
/// then PHP can issue no ticket at all. Worth a warning at startup.
pub fn secret_is_usable(secret: &str) -> bool {
    secret_is_usable_bytes(secret.as_bytes())
}

fn secret_is_usable_bytes(secret: &[u8]) -> bool {
    !secret.iter().any(|&b| b == b'{' || b == b'}')
}

/// PHP `strtotime` for ISO-8601 timestamps as `date('c')` writes them
/// (`2024-01-01T00:00:00+00:00`), with the variations `strtotime` accepts
/// for that shape (all cross-checked with PHP 8.2):
///
/// * surrounding ASCII whitespace;
/// * `YYYY-M-D` (4-digit year, 1–2 digit month `0..=12` and day `0..=31`,
///   overflow normalised like PHP: `02-30` → March 1st, month 0 → previous
///   December, day 0 → last day of the previous month);
/// * optional time after `T`, `t` or a space: `H:MM[:SS[.fraction]]` with
///   1–2 digit fields, hour `0..=24`, minute `0..=59`, second `0..=60`
///   (fraction ignored);
/// * optional zone, possibly after spaces/tabs: `Z`/`z`, `UTC`/`GMT` (any
///   case), `±H`, `±HH`, `±HMM`, `±HHMM`, `±H:M`, `±HH:MM` with hours
///   `0..=24` and minutes `0..=59`; no zone means UTC (PHP uses the server's
///   default timezone, UTC unless configured; Oro always writes an offset).
///
/// Anything else is `None` (PHP accepts many more formats, e.g. `now`;
/// Oro never produces them).
pub fn parse_created(created: &str) -> Option<i64> {
    const WS: &[char] = &[' ', '\t', '\n', '\r', '\u{0B}', '\u{0C}'];
    let mut p = Cursor::new(created.trim_matches(WS));
    let year = p.digits(4, 4)?;
    p.eat(b'-')?;
    let month = p.digits(1, 2)?;
    p.eat(b'-')?;
    let day = p.digits(1, 2)?;
    if month > 12 || day > 31 {
        return None;
    }
    let mut seconds = 0i64;
    if matches!(p.peek(), Some(b'T' | b't' | b' ')) {
        p.pos += 1;
        let hour = p.digits(1, 2)?;
        p.eat(b':')?;
        let minute = p.digits(1, 2)?;
        let mut second = 0;
        if p.peek() == Some(b':') {
            p.pos += 1;
            second = p.digits(1, 2)?;
            if p.peek() == Some(b'.') {
                p.pos += 1;
                while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                    p.pos += 1;
                }
            }
        }
        if hour > 24 || minute > 59 || second > 60 {
            return None;
        }
        seconds = hour * 3600 + minute * 60 + second;
    }
    while matches!(p.peek(), Some(b' ' | b'\t')) {
        p.pos += 1;
    }
    let offset = p.zone()?;
    if !p.at_end() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + seconds - offset)
}

/// A tiny byte cursor for [`parse_created`].
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor {
            b: s.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.pos += 1)
    }

    /// `min..=max` ASCII digits (greedy, at most `max`).
    fn digits(&mut self, min: usize, max: usize) -> Option<i64> {
        let start = self.pos;
        let mut v = 0i64;
        while self.pos - start < max {
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    v = v * 10 + i64::from(c - b'0');
                    self.pos += 1;
                }
                _ => break,
            }
        }
        // A following digit means the field is too long (e.g. `001`).
        if self.pos - start < min || self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return None;
        }
        Some(v)
    }

    /// The zone suffix as seconds east of UTC (`0` if absent).
    fn zone(&mut self) -> Option<i64> {
        let rest = &self.b[self.pos..];
        let sign = match rest.first() {
            None => return Some(0),
            Some(b'Z' | b'z') => {
                self.pos += 1;
                return Some(0);
            }
            Some(b'+') => 1,
            Some(b'-') => -1,
            Some(_) => {
                let name = rest.get(..3)?;
                if name.eq_ignore_ascii_case(b"UTC") || name.eq_ignore_ascii_case(b"GMT") {
                    self.pos += 3;
                    return Some(0);
                }
                return None;
            }
        };
        self.pos += 1;
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) && self.pos - start < 4 {
            self.pos += 1;
        }
        let run = &self.b[start..self.pos];
        if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return None;
        }
        let num = |d: &[u8]| d.iter().fold(0i64, |a, &c| a * 10 + i64::from(c - b'0'));
        let (hours, minutes) = match run.len() {
            1 | 2 if self.peek() == Some(b':') => {
                self.pos += 1;
                let m = self.digits(1, 2)?;
                (num(run), m)
            }
            1 | 2 => (num(run), 0),
            3 => (num(&run[..1]), num(&run[1..])),
            4 => (num(&run[..2]), num(&run[2..])),
            _ => return None,
        };
        if hours > 24 || minutes > 59 {
            return None;
        }
        Some(sign * (hours * 3600 + minutes * 60))
    }
}

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d`, where
/// `m` may be `0..=12` and `d` `0..=31` (overflow carries like PHP).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    // Month 0 is December of the previous year; day overflow is linear.
    let (y, m) = if m == 0 { (y - 1, 12) } else { (y, m) };
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5; // day-of-year of the 1st of the month
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 + (d - 1)
}

/// Full Oro validation of a ticket (the `ticket` query value, still base64)
/// for **anonymous** tickets: format, creation time, then the digest with
/// `secret` as password, compared in constant time. A ticket naming a user
/// yields [`TicketError::NamedNotSupported`] once format and time are fine
/// (Oro looks the user up at that point; see [`verify_named`]).
pub fn check(
    ticket_b64: &str,
    secret: &str,
    now_unix: i64,
    rules: &TicketCheck,
) -> Result<Ticket, TicketError> {
    let parsed = ParsedTicket::parse(ticket_b64)?;
    parsed.check_time(now_unix, rules)?;
    if !parsed.is_anonymous() {
        return Err(TicketError::NamedNotSupported(clip(&parsed.username())));
    }
    verify_anonymous(&parsed, secret).map(|()| Ticket::Anonymous)
}

/// The digest check of an anonymous ticket already parsed and checked for time: the digest with
/// `secret` as password, compared in constant time. The part of [`check`] that costs 5000
/// SHA-512 rounds, for callers that parsed the ticket themselves to tell anonymous from named.
pub fn verify_anonymous(ticket: &ParsedTicket, secret: &str) -> Result<(), TicketError> {
    if !secret_is_usable(secret) {
        return Err(TicketError::UnusableSecret);
    }
    if ticket.digest_matches(secret.as_bytes(), secret.as_bytes()) {
        Ok(())
    } else {
        Err(ticket.bad_digest())
    }
}

/// [`check`] on a raw query string: [`TicketError::Missing`] when it has no
/// `ticket` parameter (Oro reports that as an invalid format too).
pub fn check_query(
    query: &str,
    secret: &str,
    now_unix: i64,
    rules: &TicketCheck,
) -> Result<Ticket, TicketError> {
    let ticket = ticket_from_query(query).ok_or(TicketError::Missing)?;
    check(&ticket, secret, now_unix, rules)
}

/// The digest check of a named ticket, given the user's stored password
/// hash (`oro_user.password`, used verbatim as the "password") and the
/// kernel secret (the salt); constant-time. Only the digest is checked:
/// callers first run [`ParsedTicket::parse`] and [`ParsedTicket::check_time`],
/// look the user up by [`ParsedTicket::username`], and on success treat the
/// connection as [`Ticket::Named`]. `false` also
/// when PHP could not have produced the digest (secret with braces, plain
/// text over [`MAX_PASSWORD_LENGTH`]).
pub fn verify_named(ticket: &ParsedTicket, password_hash: &str, secret: &str) -> bool {
    ticket.digest_matches(password_hash.as_bytes(), secret.as_bytes())
}

/// The ticket a PHP backend would produce: `base64(digest;username;nonce;created)`
/// with `password` = the secret for anonymous tickets (empty `username`) or
/// the user's stored hash. Oro uses a 16-hex-digit nonce and `date('c')`.
pub fn generate(
    secret: &str,
    username: &str,
    password: &str,
    nonce: &str,
    created: &str,
) -> String {
    let d = digest(nonce, created, password, secret);
    STANDARD.encode(format!("{d};{username};{nonce};{created}"))
}

#[cfg(test)]
mod tests {
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
}
