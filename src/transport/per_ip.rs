//! Open connections per client address, so one host cannot take every connection slot.
//!
//! A slot is held by a guard for as long as the connection's task runs. Loopback addresses are
//! exempt: behind a local proxy (nginx) every browser arrives from 127.0.0.1, and local backends
//! are trusted. Connections from a trusted proxy (`WEBSOCKET_TRUSTED_PROXIES`) take an exempt
//! slot when accepted and a slot of the real client once the request head names it
//! ([`super::client_addr`]) on a WebSocket upgrade; their RawSocket connections and plain HTTP
//! requests (which name no client) are not counted per address, only globally.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts connections per address.
#[derive(Debug)]
pub struct PerIpLimit {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// Holds one connection slot of an address; releases it on drop.
#[derive(Debug)]
pub struct IpSlot {
    limit: Arc<PerIpLimit>,
    ip: Option<IpAddr>,
}

/// An address already holds as many connections as it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverLimit;

impl PerIpLimit {
    /// At most `max` connections per address (0 = unlimited).
    pub fn new(max: usize) -> Arc<PerIpLimit> {
        Arc::new(PerIpLimit {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot that counts nothing: for a trusted proxy's connection until its client is known.
    pub fn exempt(self: &Arc<Self>) -> IpSlot {
        IpSlot {
            limit: self.clone(),
            ip: None,
        }
    }

    /// Takes a slot for `ip`, or `None` when the address already has `max` connections.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        if self.max == 0 || ip.is_loopback() {
            return Some(IpSlot {
                limit: self.clone(),
                ip: None,
            });
        }
        let mut open = self.lock();
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            limit: self.clone(),
            ip: Some(ip),
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let Some(ip) = self.ip else {
            return;
        };
        let mut open = self.limit.lock();
        if let Some(count) = open.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_released_and_loopback_is_exempt() {
        let limit = PerIpLimit::new(2);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let a = limit.acquire(ip).expect("first");
        let _b = limit.acquire(ip).expect("second");
        assert!(limit.acquire(ip).is_none(), "third refused");
        assert!(limit.acquire("192.0.2.2".parse().expect("ip")).is_some());
        drop(a);
        assert!(limit.acquire(ip).is_some(), "a slot freed");
        let local: IpAddr = "127.0.0.1".parse().expect("ip");
        let held: Vec<_> = (0..10).filter_map(|_| limit.acquire(local)).collect();
        assert_eq!(held.len(), 10);
    }
}
