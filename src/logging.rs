//! Process-wide logging to stdout.
//!
//! Oro's server logs to the console and supervisord captures stdout (`redirect_stderr=true`), so wampd writes
//! every log line to stdout too. Operators read the text format in a terminal or `supervisorctl tail`: one line
//! per event with a timestamp, colours only on a terminal, and the Rust module path only at debug verbosity,
//! where it helps more than it clutters. Log shippers get the JSON format: one flat object per line. The level
//! comes from `--env`/`-v`/`-q` (see [`crate::config::verbosity`]); `RUST_LOG`, when set, replaces it, so a
//! developer can turn up one module without touching the flags.
//!
//! The server's life-cycle lines (starting, the addresses it listens on, stopping) carry the target
//! [`LIFECYCLE`] and are shown at the default verbosity too (warnings only, `--env=prod` without `-v`):
//! an operator starting the service must see where it listens. Only `-q` hides them.

use std::io::IsTerminal;

use tracing_subscriber::filter::{EnvFilter, LevelFilter};

use crate::config::LogFormat;

/// Installs the global logger: `format` lines on stdout, at most `level` (unless `RUST_LOG` is set).
/// Fails, rather than panicking, when `RUST_LOG` is malformed or a logger is already installed.
pub fn init(format: LogFormat, level: LevelFilter) -> Result<(), String> {
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let filter = build_filter(level, rust_log.as_deref())?;
    let show_target = rust_log.is_some() || level >= LevelFilter::DEBUG;
    let installed = match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_writer(std::io::stdout)
            .with_env_filter(filter)
            .with_target(show_target)
            .with_ansi(std::io::stdout().is_terminal())
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stdout)
            .with_env_filter(filter)
            .try_init(),
    };
    installed.map_err(|e| format!("cannot install the logger: {e}"))
}

/// The target of the life-cycle lines, shown whenever warnings are (see the module docs).
pub const LIFECYCLE: &str = "wampd::lifecycle";

/// The filter: `rust_log`'s directives when given, else everything up to `level`, and the
/// life-cycle lines whenever warnings are shown.
fn build_filter(level: LevelFilter, rust_log: Option<&str>) -> Result<EnvFilter, String> {
    let builder = EnvFilter::builder().with_default_directive(level.into());
    match rust_log {
        Some(directives) => builder
            .parse(directives)
            .map_err(|e| format!("invalid RUST_LOG {directives:?}: {e}")),
        None if level == LevelFilter::WARN => Ok(builder.parse_lossy(format!("{LIFECYCLE}=info"))),
        None => Ok(builder.parse_lossy("")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_is_used_without_rust_log() {
        for level in [LevelFilter::ERROR, LevelFilter::INFO, LevelFilter::DEBUG] {
            let filter = build_filter(level, None).unwrap();
            assert_eq!(filter.max_level_hint(), Some(level));
        }
        // At the default (warnings), the life-cycle lines' info level is let through too, and
        // only for their target.
        let filter = build_filter(LevelFilter::WARN, None).unwrap();
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::INFO));
        assert!(
            filter.to_string().contains("wampd::lifecycle=info"),
            "{filter}"
        );
    }

    #[test]
    fn rust_log_overrides_the_level() {
        let filter = build_filter(LevelFilter::WARN, Some("trace")).unwrap();
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::TRACE));
        let filter = build_filter(LevelFilter::WARN, Some("wampd=debug")).unwrap();
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::DEBUG));
    }

    #[test]
    fn bad_rust_log_is_an_error() {
        let err = build_filter(LevelFilter::INFO, Some("wampd=loud")).unwrap_err();
        assert!(err.contains("RUST_LOG"), "{err}");
    }

    #[test]
    fn second_init_fails_without_panicking() {
        // The first call may fail too if the test runner's RUST_LOG is malformed; the second always must.
        let _ = init(LogFormat::Text, LevelFilter::INFO);
        assert!(init(LogFormat::Json, LevelFilter::INFO).is_err());
        tracing::info!(check = "logger", "still logging after a failed init");
    }
}
