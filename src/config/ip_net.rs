//! IP networks (`10.0.0.0/8`, `::1`, `fd00::/8`) for `WEBSOCKET_TRUSTED_PROXIES`.
//!
//! Only membership is needed ("is this TCP peer one of our proxies?"), so this is a dozen lines
//! instead of a dependency. A bare address is a network of one. IPv4-mapped IPv6 peers
//! (`::ffff:127.0.0.1`, what a dual-stack socket reports for an IPv4 client) match the IPv4
//! networks, so `127.0.0.1` trusts a local nginx whichever way the listener was bound.

use std::fmt;
use std::net::IpAddr;

/// One network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// What a `WEBSOCKET_TRUSTED_PROXIES` entry must look like.
pub const EXPECTED_IP_NET: &str =
    "comma-separated IP addresses or CIDR networks such as 127.0.0.1,10.0.0.0/8,::1";

impl IpNet {
    /// Parses `ADDR` or `ADDR/PREFIX`; the prefix is at most 32 (IPv4) or 128 (IPv6).
    pub fn parse(s: &str) -> Result<IpNet, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| EXPECTED_IP_NET.to_string())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(EXPECTED_IP_NET.to_string()),
            },
        };
        Ok(IpNet { addr, prefix })
    }

    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == max {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// Parses a comma-separated list of networks (empty entries are skipped).
pub fn parse_ip_nets(s: &str) -> Result<Vec<IpNet>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(IpNet::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn membership() {
        let net = IpNet::parse("10.1.0.0/16").expect("net");
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(!net.contains(ip("::1")));
        let one = IpNet::parse(" 127.0.0.1 ").expect("net");
        assert!(one.contains(ip("127.0.0.1")));
        assert!(one.contains(ip("::ffff:127.0.0.1")), "IPv4-mapped");
        assert!(!one.contains(ip("127.0.0.2")));
        let all = IpNet::parse("0.0.0.0/0").expect("net");
        assert!(all.contains(ip("203.0.113.9")));
        let v6 = IpNet::parse("fd00::/8").expect("net");
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(IpNet::parse("::/0")
            .expect("net")
            .contains(ip("2001:db8::1")));
    }

    #[test]
    fn parsing() {
        for bad in ["", "10.0.0.0/33", "::/129", "host", "10.0.0.0/x", "1.2.3/8"] {
            assert!(IpNet::parse(bad).is_err(), "{bad:?}");
        }
        let list = parse_ip_nets("127.0.0.1, 10.0.0.0/8,,::1").expect("list");
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["127.0.0.1", "10.0.0.0/8", "::1"]);
        assert_eq!(parse_ip_nets(" ").expect("empty"), vec![]);
    }
}
