//! Budgets for warnings peers can cause, so no client can flood the log.
//!
//! Each session may cause [`LINES_PER_WINDOW`] warnings per [`WINDOW`]; the rest are counted
//! (in the session and in `wampd_suppressed_log_lines_total`) and summarised in the next line
//! that is logged and when the session ends. 200,000 bad messages cost a dozen log lines.
//! Warnings about connections rather than sessions (refused origins, over-limit connections,
//! oversized frames), which a flood of new connections could multiply, share one process-wide
//! budget of [`CONNECTION_LINES_PER_WINDOW`] through [`connection_warning`].

use std::time::{Duration, Instant};

/// Warnings one session may cause per window.
pub const LINES_PER_WINDOW: u32 = 10;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Connection-level warnings logged per [`WINDOW`], across all peers.
pub const CONNECTION_LINES_PER_WINDOW: u32 = 60;

static CONNECTION_BUDGET: std::sync::Mutex<Option<LogBudget>> = std::sync::Mutex::new(None);

/// Logs a connection-level warning through `emit` (given how many were suppressed since the
/// last one logged) when the process-wide budget allows; returns false when it was suppressed.
pub fn connection_warning(emit: impl FnOnce(u64)) -> bool {
    let verdict = {
        let mut guard = CONNECTION_BUDGET
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let budget = guard.get_or_insert_with(|| LogBudget {
            limit: CONNECTION_LINES_PER_WINDOW,
            ..LogBudget::default()
        });
        budget.admit(Instant::now())
    };
    match verdict {
        Verdict::Log { suppressed } => {
            emit(suppressed);
            true
        }
        Verdict::Suppress => false,
    }
}

/// What to do with one warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `suppressed` lines were dropped since the last one logged.
    Log {
        /// Lines dropped before this one.
        suppressed: u64,
    },
    /// Count it, don't log it.
    Suppress,
}

/// One session's warning budget.
#[derive(Debug)]
pub struct LogBudget {
    window_start: Instant,
    limit: u32,
    used: u32,
    suppressed: u64,
    suppressed_total: u64,
}

impl Default for LogBudget {
    fn default() -> Self {
        LogBudget {
            window_start: Instant::now(),
            limit: LINES_PER_WINDOW,
            used: 0,
            suppressed: 0,
            suppressed_total: 0,
        }
    }
}

impl LogBudget {
    /// Decides about one warning at `now`.
    pub fn admit(&mut self, now: Instant) -> Verdict {
        if now.duration_since(self.window_start) >= WINDOW {
            self.window_start = now;
            self.used = 0;
        }
        if self.used < self.limit {
            self.used += 1;
            Verdict::Log {
                suppressed: std::mem::take(&mut self.suppressed),
            }
        } else {
            self.suppressed += 1;
            self.suppressed_total += 1;
            Verdict::Suppress
        }
    }

    /// Warnings suppressed over the session's life.
    pub fn suppressed_total(&self) -> u64 {
        self.suppressed_total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_costs_a_few_lines_and_is_summarised() {
        let mut budget = LogBudget::default();
        let start = Instant::now();
        let logged = (0..200_000)
            .filter(|_| budget.admit(start) != Verdict::Suppress)
            .count();
        assert_eq!(logged, LINES_PER_WINDOW as usize);
        assert_eq!(budget.suppressed_total(), 200_000 - 10);
        assert_eq!(
            budget.admit(start + WINDOW),
            Verdict::Log {
                suppressed: 200_000 - 10
            }
        );
        assert_eq!(budget.admit(start + WINDOW), Verdict::Log { suppressed: 0 });
    }
}
