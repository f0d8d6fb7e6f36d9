//! Failed-authentication rate limiting per client IP address.
//!
//! Ticket and digest checks are cheap to attempt and expensive to brute-force only if attempts
//! are bounded: after `max_failures` failures within `window`, an address is refused further
//! authentication attempts until the window passes. Loopback addresses are exempt, because
//! behind a local proxy every browser would share 127.0.0.1 (and local backends are trusted).
//! The table is bounded: when full, expired entries are swept, then the oldest ones dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses tracked at once.
const MAX_TRACKED: usize = 65_536;

/// Counts authentication failures per address.
#[derive(Debug)]
pub struct AuthLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl AuthLimiter {
    /// Allows `max_failures` failures per `window` and address; 0 disables the limit.
    pub fn new(max_failures: u32, window: Duration) -> AuthLimiter {
        AuthLimiter {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when `ip` may attempt to authenticate now.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.max_failures == 0 || ip.is_loopback() {
            return true;
        }
        match self.lock().get(&ip) {
            Some((count, since)) => *count < self.max_failures || since.elapsed() >= self.window,
            None => true,
        }
    }

    /// Records a failed attempt from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        if self.max_failures == 0 || ip.is_loopback() {
            return;
        }
        let window = self.window;
        let mut table = self.lock();
        if table.len() >= MAX_TRACKED && !table.contains_key(&ip) {
            table.retain(|_, (_, since)| since.elapsed() < window);
            while table.len() >= MAX_TRACKED {
                let oldest = table
                    .iter()
                    .min_by_key(|(_, (_, since))| *since)
                    .map(|(ip, _)| *ip);
                match oldest {
                    Some(oldest) => {
                        table.remove(&oldest);
                    }
                    None => break,
                }
            }
        }
        let entry = table.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_exempts_loopback() {
        let limiter = AuthLimiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        for _ in 0..3 {
            assert!(limiter.allows(ip));
            limiter.failed(ip);
        }
        assert!(!limiter.allows(ip));
        let other: IpAddr = "192.0.2.8".parse().expect("ip");
        assert!(limiter.allows(other));
        let local: IpAddr = "127.0.0.1".parse().expect("ip");
        for _ in 0..10 {
            limiter.failed(local);
        }
        assert!(limiter.allows(local));
    }

    #[test]
    fn the_window_expires() {
        let limiter = AuthLimiter::new(1, Duration::from_millis(20));
        let ip: IpAddr = "192.0.2.9".parse().expect("ip");
        limiter.failed(ip);
        assert!(!limiter.allows(ip));
        std::thread::sleep(Duration::from_millis(30));
        assert!(limiter.allows(ip));
    }
}
