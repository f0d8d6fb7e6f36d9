//! Log verbosity from `--env`, `-v` and `-q`, the Symfony console way.
//!
//! Operators drive wampd with the same flags they used for `bin/console gos:websocket:server`, so the flags must
//! mean what they meant there (oro-gos §3, Oro's `WebsocketServerConsoleHandler`). tracing has no NOTICE level,
//! so Symfony's NOTICE maps to INFO: in prod `-v` and `-vv` therefore both show INFO.

use tracing_subscriber::filter::LevelFilter;

use super::choices::AppEnv;

/// The most verbose level to log for the environment, the number of `-v` flags and `-q`.
///
/// | flags | prod | dev |
/// |---|---|---|
/// | `-q` | ERROR | ERROR |
/// | none | WARN | INFO |
/// | `-v` | INFO (Symfony: NOTICE) | DEBUG |
/// | `-vv` | INFO | DEBUG |
/// | `-vvv` | DEBUG | DEBUG |
/// | `-vvvv` and more | TRACE | TRACE |
///
/// `-q` wins over `-v`, as in Symfony.
pub fn level_filter(env: AppEnv, verbose: u8, quiet: bool) -> LevelFilter {
    if quiet {
        return LevelFilter::ERROR;
    }
    match (env, verbose) {
        (_, 4..) => LevelFilter::TRACE,
        (AppEnv::Prod, 0) => LevelFilter::WARN,
        (AppEnv::Prod, 1 | 2) => LevelFilter::INFO,
        (AppEnv::Prod, 3) => LevelFilter::DEBUG,
        (AppEnv::Dev, 0) => LevelFilter::INFO,
        (AppEnv::Dev, 1..=3) => LevelFilter::DEBUG,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_table() {
        use AppEnv::{Dev, Prod};
        let table = [
            (Prod, 0, LevelFilter::WARN),
            (Prod, 1, LevelFilter::INFO),
            (Prod, 2, LevelFilter::INFO),
            (Prod, 3, LevelFilter::DEBUG),
            (Prod, 4, LevelFilter::TRACE),
            (Prod, 255, LevelFilter::TRACE),
            (Dev, 0, LevelFilter::INFO),
            (Dev, 1, LevelFilter::DEBUG),
            (Dev, 2, LevelFilter::DEBUG),
            (Dev, 3, LevelFilter::DEBUG),
            (Dev, 4, LevelFilter::TRACE),
            (Dev, 255, LevelFilter::TRACE),
        ];
        for (env, verbose, expected) in table {
            assert_eq!(
                level_filter(env, verbose, false),
                expected,
                "{env:?} -{verbose}v"
            );
            assert_eq!(
                level_filter(env, verbose, true),
                LevelFilter::ERROR,
                "{env:?} -q -{verbose}v"
            );
        }
    }

    #[test]
    fn test_env_logs_like_dev() {
        let test = AppEnv::parse("test").unwrap();
        for v in 0..5 {
            assert_eq!(
                level_filter(test, v, false),
                level_filter(AppEnv::Dev, v, false)
            );
        }
    }
}
