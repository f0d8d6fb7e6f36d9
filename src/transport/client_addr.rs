//! The real client address of a request that may have come through a proxy.
//!
//! Behind nginx every browser's TCP connection comes from the proxy, so logs, the per-address
//! connection limit and the failed-authentication limiter would all see one address. Proxies
//! name the client in `X-Forwarded-For`, `X-Real-IP` or RFC 7239 `Forwarded`, but anyone can send
//! those headers: they are believed only when the TCP peer is one of `WEBSOCKET_TRUSTED_PROXIES`,
//! and a chain of hops is read from the right, skipping trusted proxies, so a client cannot
//! choose its address by prepending one (the "rightmost untrusted hop" rule, as nginx's
//! `real_ip_recursive`).
//!
//! Separately, any request that carries a forwarding header is marked `forwarded`: it came
//! through a proxy, so it must not enjoy the privileges of a local client (HTTP publish without
//! a secret) merely because the proxy runs on this machine, whether or not the proxy is trusted.

use std::net::{IpAddr, SocketAddr};

use hyper::header::HeaderMap;

use crate::config::ip_net::IpNet;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// Who a request is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client: the TCP peer, or the address a trusted proxy named (port 0 when it named
    /// none).
    pub addr: SocketAddr,
    /// The TCP peer when it is a trusted proxy that named another client.
    pub via: Option<SocketAddr>,
    /// Whether the request carried any forwarding header, trusted or not.
    pub forwarded: bool,
}

impl ClientAddr {
    /// A client that connected directly (RawSocket, or before headers are read).
    pub fn direct(peer: SocketAddr) -> ClientAddr {
        ClientAddr {
            addr: peer,
            via: None,
            forwarded: false,
        }
    }

    /// The client's IP address.
    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }

    /// Whether the request comes from this machine itself and not through a proxy: the loopback
    /// rules (HTTP publish without a secret) apply only then.
    pub fn is_local(&self) -> bool {
        self.addr.ip().is_loopback() && !self.forwarded
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.via {
            Some(proxy) => write!(f, "{} (via {proxy})", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// Header names that say a request was forwarded.
const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_REAL_IP: &str = "x-real-ip";
const FORWARDED: &str = "forwarded";

impl TrustedProxies {
    /// Trusts the given networks (none: every forwarding header is ignored).
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies { nets }
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(ip))
    }

    /// The client of a request from TCP peer `peer` with `headers`.
    ///
    /// The hop list comes from `X-Forwarded-For` when present, else `X-Real-IP`, else
    /// `Forwarded`; it is walked from the right while the current address is a trusted proxy. A
    /// hop that is not an address (`unknown`, an obfuscated name, garbage) stops the walk at the
    /// proxy that reported it.
    ///
    /// `X-Forwarded-For` comes first because nginx and Apache append to it (so the rightmost
    /// entries are theirs) but pass a client's own `Forwarded` header through untouched: reading
    /// `Forwarded` first would let a browser name any address.
    pub fn resolve(&self, peer: SocketAddr, headers: &HeaderMap) -> ClientAddr {
        let forwarded = [FORWARDED, X_FORWARDED_FOR, X_REAL_IP]
            .iter()
            .any(|name| headers.contains_key(*name));
        let mut client = ClientAddr {
            addr: peer,
            via: None,
            forwarded,
        };
        if !forwarded || !self.trusts(peer.ip()) {
            return client;
        }
        let hops = hops(headers);
        let mut current = peer;
        for hop in hops.iter().rev() {
            if !self.trusts(current.ip()) {
                break;
            }
            match hop {
                Some(addr) => current = *addr,
                None => break,
            }
        }
        if current != peer {
            client.addr = current;
            client.via = Some(peer);
        }
        client
    }
}

/// Every hop the headers name, leftmost (the original client) first; `None` for a hop that is
/// not an address.
fn hops(headers: &HeaderMap) -> Vec<Option<SocketAddr>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    };
    let xff = values(X_FORWARDED_FOR);
    if !xff.is_empty() {
        return xff
            .iter()
            .flat_map(|value| value.split(','))
            .map(|hop| parse_node(hop.trim()))
            .collect();
    }
    let real_ip = values(X_REAL_IP);
    if !real_ip.is_empty() {
        return real_ip
            .iter()
            .map(|value| parse_node(value.trim()))
            .collect();
    }
    values(FORWARDED)
        .iter()
        .flat_map(|value| value.split(','))
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, value)| parse_node(value.trim().trim_matches('"')))
        })
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or
/// `[2001:db8::1]:4711`; port 0 when none is given.
fn parse_node(text: &str) -> Option<SocketAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    // "[2001:db8::1]" without a port
    text.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ip_net::parse_ip_nets;

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::new(parse_ip_nets(list).expect("nets"))
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("header value"));
        }
        map
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    const PEER: &str = "127.0.0.1:50000";

    #[test]
    fn untrusted_peers_are_taken_at_their_word_but_marked_forwarded() {
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        let client = trusted("").resolve(addr(PEER), &h);
        assert_eq!(client.addr, addr(PEER));
        assert_eq!(client.via, None);
        assert!(client.forwarded);
        assert!(!client.is_local(), "forwarded requests are never local");
        let client = trusted("10.0.0.0/8").resolve(addr(PEER), &h);
        assert_eq!(client.addr, addr(PEER));

        let plain = trusted("127.0.0.1").resolve(addr(PEER), &HeaderMap::new());
        assert_eq!(plain, ClientAddr::direct(addr(PEER)));
        assert!(plain.is_local());
    }

    #[test]
    fn x_forwarded_for_rightmost_untrusted_hop() {
        let t = trusted("127.0.0.1,10.0.0.0/8");
        // nginx appended the browser's address to what the browser claimed
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7")]);
        let client = t.resolve(addr(PEER), &h);
        assert_eq!(client.addr, addr("203.0.113.7:0"));
        assert_eq!(client.via, Some(addr(PEER)));
        assert_eq!(client.to_string(), "203.0.113.7:0 (via 127.0.0.1:50000)");
        // two proxies: a load balancer in 10/8 in front of the local nginx
        let h = headers(&[("x-forwarded-for", "203.0.113.7, 10.1.2.3")]);
        assert_eq!(t.resolve(addr(PEER), &h).addr, addr("203.0.113.7:0"));
        // several headers are one list
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "203.0.113.8"),
        ]);
        assert_eq!(t.resolve(addr(PEER), &h).addr, addr("203.0.113.8:0"));
        // every hop trusted: the leftmost
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.2.3")]);
        assert_eq!(t.resolve(addr(PEER), &h).addr, addr("10.9.9.9:0"));
        // garbage stops at the proxy that reported it
        let h = headers(&[("x-forwarded-for", "203.0.113.7, nonsense")]);
        assert_eq!(t.resolve(addr(PEER), &h).addr, addr(PEER));
        let h = headers(&[("x-forwarded-for", "nonsense, 10.1.2.3")]);
        assert_eq!(t.resolve(addr(PEER), &h).addr, addr("10.1.2.3:0"));
        // IPv6 and ports
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:4711")]);
        assert_eq!(t.resolve(addr(PEER), &h).addr, addr("[2001:db8::1]:4711"));
        let h = headers(&[("x-forwarded-for", "2001:db8::2")]);
        assert_eq!(t.resolve(addr(PEER), &h).addr, addr("[2001:db8::2]:0"));
    }

    #[test]
    fn a_spoofed_loopback_hop_is_not_local() {
        let t = trusted("127.0.0.1");
        let h = headers(&[("x-forwarded-for", "127.0.0.1")]);
        let client = t.resolve(addr(PEER), &h);
        assert_eq!(client.addr.ip(), addr(PEER).ip());
        assert!(!client.is_local());
    }

    #[test]
    fn forwarded_and_x_real_ip() {
        let t = trusted("127.0.0.1");
        let h = headers(&[(
            "forwarded",
            "for=198.51.100.9;proto=https, For=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(
            t.resolve(addr(PEER), &h).addr,
            addr("[2001:db8:cafe::17]:4711")
        );
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(t.resolve(addr(PEER), &h).addr, addr(PEER));
        // X-Forwarded-For wins: nginx appends to it but passes a client's Forwarded through
        let h = headers(&[
            ("forwarded", "for=198.51.100.9"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        assert_eq!(t.resolve(addr(PEER), &h).addr, addr("203.0.113.7:0"));
        let h = headers(&[
            ("forwarded", "for=198.51.100.9"),
            ("x-real-ip", "203.0.113.5"),
        ]);
        assert_eq!(t.resolve(addr(PEER), &h).addr, addr("203.0.113.5:0"));
        let h = headers(&[("x-real-ip", "203.0.113.5")]);
        assert_eq!(t.resolve(addr(PEER), &h).addr, addr("203.0.113.5:0"));
    }

    #[test]
    fn ipv4_mapped_peers_are_trusted_by_their_ipv4_network() {
        let t = trusted("127.0.0.1");
        let h = headers(&[("x-real-ip", "203.0.113.5")]);
        let client = t.resolve(addr("[::ffff:127.0.0.1]:1234"), &h);
        assert_eq!(client.addr, addr("203.0.113.5:0"));
    }
}
