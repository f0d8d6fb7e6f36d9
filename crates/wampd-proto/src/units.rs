//! Typed parsers for setting and option values: durations, sizes, booleans, counts, lists.
//!
//! Every knob is a string in the environment. Parsing them in one place keeps the accepted spellings consistent
//! across knobs (`25s` means the same everywhere) and gives every rejection the same shape: the `Err` is the
//! phrase that follows "expected" in the server's `ConfigError::Invalid`, so the caller only adds the
//! variable name and the value. Input is trimmed first; deciding what an empty value means (usually "use the
//! default") is the caller's job.

use std::time::Duration;

/// The longest duration any knob accepts. Far beyond any sane timeout, and small enough that adding it to
/// `Instant::now()` or to another knob can never overflow (which would panic).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

const EXPECTED_BOOL: &str = "a boolean: true/false, 1/0, yes/no or on/off";
const EXPECTED_DURATION: &str =
    "a duration such as 25 (seconds), 25s, 500ms, 2m or 1h, at most 365 days";
const EXPECTED_SIZE: &str = "a size in bytes such as 1048576, 512K, 64KiB or 1MiB";
const EXPECTED_POSITIVE: &str = "a positive whole number";

/// Parses a boolean: `true/false`, `1/0`, `yes/no`, `on/off`, in any case.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(EXPECTED_BOOL.to_string()),
    }
}

/// Parses a duration: a whole number with an optional unit, `ms`, `s` (the default), `m`/`min` or `h`, in any
/// case, optionally separated by spaces (`25`, `25s`, `500ms`, `2m`, `1h`). At most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || EXPECTED_DURATION.to_string();
    let (number, unit) = split_number(s).ok_or_else(err)?;
    let millis_per_unit: u64 = match unit.as_str() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return Err(err()),
    };
    let millis = number.checked_mul(millis_per_unit).ok_or_else(err)?;
    let duration = Duration::from_millis(millis);
    if duration > MAX_DURATION {
        return Err(err());
    }
    Ok(duration)
}

/// Parses a size in bytes: a whole number with an optional binary unit, in any case, optionally separated by
/// spaces: `B`, `K`/`KB`/`KiB` (1024), `M`/`MB`/`MiB` (1024²), `G`/`GB`/`GiB` (1024³). `KB` and `MB` are
/// binary too, as in PHP's `memory_limit`, so `1M` and `1MiB` are the same.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let err = || EXPECTED_SIZE.to_string();
    let (number, unit) = split_number(s).ok_or_else(err)?;
    let multiplier: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(err()),
    };
    let bytes = number.checked_mul(multiplier).ok_or_else(err)?;
    usize::try_from(bytes).map_err(|_| err())
}

/// Parses a positive (non-zero) whole number that fits in a `u32`; digits only.
pub fn parse_u32(s: &str) -> Result<u32, String> {
    let n = parse_positive(s)?;
    u32::try_from(n).map_err(|_| format!("{EXPECTED_POSITIVE} up to {}", u32::MAX))
}

/// Parses a positive (non-zero) whole number that fits in a `usize`; digits only.
pub fn parse_usize(s: &str) -> Result<usize, String> {
    let n = parse_positive(s)?;
    usize::try_from(n).map_err(|_| format!("{EXPECTED_POSITIVE} up to {}", usize::MAX))
}

/// Splits a comma-separated list: items are trimmed and empty items dropped. Never fails today; it returns a
/// `Result` like its siblings so callers can treat all parsers alike.
pub fn parse_list(s: &str) -> Result<Vec<String>, String> {
    Ok(s.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect())
}

/// A positive integer as `u64`, digits only (no sign, no separators).
fn parse_positive(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(EXPECTED_POSITIVE.to_string());
    }
    match s.parse::<u64>() {
        Ok(0) => Err(EXPECTED_POSITIVE.to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{EXPECTED_POSITIVE} up to {}", u64::MAX)),
    }
}

/// Splits `"  64 KiB "` into `(64, "kib")`: leading ASCII digits, then the lower-cased, trimmed rest.
fn split_number(s: &str) -> Option<(u64, String)> {
    let s = s.trim();
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let number = s[..digits_end].parse().ok()?;
    Some((number, s[digits_end..].trim().to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools() {
        for yes in ["true", "TRUE", "1", "yes", "Yes", "on", " ON "] {
            assert_eq!(parse_bool(yes), Ok(true), "{yes}");
        }
        for no in ["false", "False", "0", "no", "NO", "off", "Off"] {
            assert_eq!(parse_bool(no), Ok(false), "{no}");
        }
        for bad in ["", "2", "y", "n", "enabled", "truee", "-1"] {
            assert_eq!(parse_bool(bad), Err(EXPECTED_BOOL.to_string()), "{bad}");
        }
    }

    #[test]
    fn durations() {
        let ok = [
            ("25", Duration::from_secs(25)),
            ("25s", Duration::from_secs(25)),
            ("25S", Duration::from_secs(25)),
            (" 25 s ", Duration::from_secs(25)),
            ("500ms", Duration::from_millis(500)),
            ("500MS", Duration::from_millis(500)),
            ("2m", Duration::from_secs(120)),
            ("2min", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("8760h", MAX_DURATION),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
        for bad in [
            "",
            "s",
            "-1",
            "1.5s",
            "10 seconds",
            "1d",
            "5us",
            "abc",
            "1h30m",
            "8761h",
            "99999999999999999999",
            "18446744073709551615h",
        ] {
            assert_eq!(
                parse_duration(bad),
                Err(EXPECTED_DURATION.to_string()),
                "{bad}"
            );
        }
    }

    #[test]
    fn sizes() {
        let ok = [
            ("1048576", 1_048_576),
            ("0", 0),
            ("512b", 512),
            ("64KiB", 65_536),
            ("64kib", 65_536),
            ("1k", 1024),
            ("512K", 524_288),
            ("1KB", 1024),
            ("1MiB", 1_048_576),
            ("1M", 1_048_576),
            ("1mb", 1_048_576),
            (" 16 MiB ", 16 << 20),
            ("1G", 1 << 30),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_size(text), Ok(expected), "{text}");
        }
        for bad in [
            "",
            "M",
            "-1",
            "1.5M",
            "1T",
            "1 megabyte",
            "abc",
            "18446744073709551615G",
        ] {
            assert_eq!(parse_size(bad), Err(EXPECTED_SIZE.to_string()), "{bad}");
        }
    }

    #[test]
    fn positive_integers() {
        assert_eq!(parse_u32("1"), Ok(1));
        assert_eq!(parse_u32(" 4096 "), Ok(4096));
        assert_eq!(parse_u32("4294967295"), Ok(u32::MAX));
        assert!(parse_u32("4294967296").is_err_and(|e| e.contains("4294967295")));
        assert_eq!(parse_usize("10000"), Ok(10_000));
        for bad in ["", "0", "00", "-1", "+1", "1.0", "1e3", "10_000", "ten"] {
            assert_eq!(parse_u32(bad), Err(EXPECTED_POSITIVE.to_string()), "{bad}");
            assert_eq!(
                parse_usize(bad),
                Err(EXPECTED_POSITIVE.to_string()),
                "{bad}"
            );
        }
        assert!(parse_usize("99999999999999999999999").is_err());
    }

    #[test]
    fn lists() {
        assert_eq!(
            parse_list(" realm1 , com.example ,, ,x"),
            Ok(vec!["realm1".to_string(), "com.example".into(), "x".into()])
        );
        assert_eq!(parse_list(""), Ok(Vec::<String>::new()));
        assert_eq!(parse_list(" , ,"), Ok(Vec::<String>::new()));
        assert_eq!(parse_list("one"), Ok(vec!["one".to_string()]));
    }
}
