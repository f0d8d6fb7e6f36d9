//! The positive-result cache of external checks, with in-flight sharing.
//!
//! A check costs a process (Espo's console boots PHP, about 100 ms) or an HTTP round trip, and a
//! browser tab that reconnects asks the same question again. Passing results are remembered for a
//! short TTL; refusals and failures are not, so a permission granted later takes effect at once.
//! While a check runs, callers asking the same question wait for it instead of starting another:
//! a hundred tabs of one user reconnecting together run one check. The cache holds at most
//! [`MAX_ENTRIES`] answers; when it is full of live ones, further checks simply run uncached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::Outcome;

/// Most answers remembered.
pub const MAX_ENTRIES: usize = 10_000;

struct Slot {
    cell: Arc<OnceCell<Outcome>>,
    created: Instant,
}

/// See the module docs.
pub struct Cache {
    ttl: Duration,
    slots: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A cache keeping passing answers for `ttl` (zero: only in-flight sharing).
    pub fn new(ttl: Duration) -> Cache {
        Cache {
            ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key`: remembered, shared with a check already running, or computed by
    /// `run`.
    pub async fn get_or_run<F, Fut>(&self, key: String, run: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Outcome>,
    {
        let Some(cell) = self.slot(&key) else {
            return run().await;
        };
        let outcome = cell.get_or_init(run).await.clone();
        if !outcome.allowed() || self.ttl.is_zero() {
            let mut slots = self.lock();
            if slots.get(&key).is_some_and(|s| Arc::ptr_eq(&s.cell, &cell)) {
                slots.remove(&key);
            }
        }
        outcome
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cell to wait on for `key`, a fresh one when the remembered answer is stale; `None`
    /// when the cache is full.
    fn slot(&self, key: &str) -> Option<Arc<OnceCell<Outcome>>> {
        let now = Instant::now();
        let mut slots = self.lock();
        let live = |s: &Slot| !s.cell.initialized() || now.duration_since(s.created) < self.ttl;
        if let Some(slot) = slots.get(key) {
            if live(slot) {
                return Some(slot.cell.clone());
            }
        }
        if slots.len() >= MAX_ENTRIES {
            slots.retain(|_, s| live(s));
            if slots.len() >= MAX_ENTRIES {
                return None;
            }
        }
        let cell = Arc::new(OnceCell::new());
        slots.insert(
            key.to_owned(),
            Slot {
                cell: cell.clone(),
                created: now,
            },
        );
        Some(cell)
    }

    /// How many answers are held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_askers_share_one_run_and_passes_are_remembered() {
        let cache = Arc::new(Cache::new(Duration::from_secs(60)));
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, runs) = (cache.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_run("k".into(), || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Outcome::Allowed(String::new())
                    })
                    .await
            }));
        }
        for t in tasks {
            assert!(t.await.expect("task").allowed());
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let again = cache
            .get_or_run("k".into(), || async { Outcome::Denied("no".into()) })
            .await;
        assert!(again.allowed(), "remembered");
    }

    #[tokio::test]
    async fn refusals_are_not_remembered() {
        let cache = Cache::new(Duration::from_secs(60));
        let first = cache
            .get_or_run("k".into(), || async { Outcome::Denied("no".into()) })
            .await;
        assert!(!first.allowed());
        assert!(cache.is_empty());
        let second = cache
            .get_or_run("k".into(), || async { Outcome::Allowed(String::new()) })
            .await;
        assert!(second.allowed());
    }
}
