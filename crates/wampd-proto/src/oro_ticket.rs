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
mod tests;
