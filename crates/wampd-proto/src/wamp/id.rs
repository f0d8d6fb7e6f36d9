//! WAMP ID generation (protocol reference §6.2).
//!
//! Global-scope IDs (sessions, publications) must be drawn uniformly at
//! random from `[1, 2^53]` so they are unguessable and collision-unlikely;
//! session-scope IDs (request IDs the router originates, e.g. INVOCATION)
//! count up from 1 per session and direction. Both live here so every part
//! of the router uses the same range.

use rand::Rng;

/// Largest valid WAMP ID, 2^53 (IDs must be exactly representable as IEEE
/// doubles for JavaScript peers).
pub const MAX_ID: u64 = 1 << 53;

/// A uniformly random ID in `[1, 2^53]` (for session and publication IDs).
pub fn random_id() -> u64 {
    rand::rng().random_range(1..=MAX_ID)
}

/// A session-scoped ID counter: yields 1, 2, 3, … and wraps back to 1 after
/// 2^53.
#[derive(Debug, Default)]
pub struct IdSequence {
    last: u64,
}

impl IdSequence {
    /// The next ID in the sequence (1 on first call). Infallible, hence an
    /// inherent method returning `u64` rather than `Iterator::next`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.last = if self.last >= MAX_ID {
            1
        } else {
            self.last + 1
        };
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_in_range() {
        for _ in 0..10_000 {
            let id = random_id();
            assert!((1..=MAX_ID).contains(&id));
        }
        // Not constant, and uses the high bits of the range.
        let ids: Vec<u64> = (0..64).map(|_| random_id()).collect();
        assert!(ids.windows(2).any(|w| w.first() != w.get(1)));
        assert!(ids.iter().any(|&id| id > MAX_ID / 2));
    }

    #[test]
    fn sequence_counts_from_one_and_wraps() {
        let mut seq = IdSequence::default();
        assert_eq!(seq.next(), 1);
        assert_eq!(seq.next(), 2);
        assert_eq!(seq.next(), 3);
        let mut seq = IdSequence { last: MAX_ID - 1 };
        assert_eq!(seq.next(), MAX_ID);
        assert_eq!(seq.next(), 1);
        assert_eq!(seq.next(), 2);
    }
}
