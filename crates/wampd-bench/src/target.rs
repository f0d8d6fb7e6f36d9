//! Where the generator connects: the router's URL, the transport, and the source addresses
//! client sockets bind to.
//!
//! One source address offers about 28,000 ephemeral ports, so tens of thousands of sessions
//! against a loopback router would run out of ports (and TIME_WAIT slots) on 127.0.0.1 alone.
//! Linux routes all of 127.0.0.0/8 to the loopback interface, so the generator binds each
//! socket to 127.0.0.x (x cycling 1..=254) when the router is on a loopback address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpSocket, TcpStream};

use super::error::BenchError;

/// The transport a scenario runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// WAMP over WebSocket (`ws://host:port/path`).
    Websocket,
    /// WAMP RawSocket over TCP (`rs://host:port` or `tcp://host:port`).
    Rawsocket,
}

impl Transport {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Websocket => "websocket",
            Transport::Rawsocket => "rawsocket",
        }
    }
}

/// A resolved router address.
#[derive(Debug, Clone)]
pub struct Target {
    /// The transport to speak.
    pub transport: Transport,
    /// The socket address connected to.
    pub addr: SocketAddr,
    /// `Host` header value (`host:port` as written in the URL).
    pub host_header: String,
    /// Request path for the WebSocket upgrade (`/` if the URL has none).
    pub path: String,
    /// The URL as given.
    pub url: String,
}

impl Target {
    /// Parses `url` (`ws://`, `rs://` or `tcp://`) and resolves its host. `transport`, when
    /// given, must agree with the scheme; when absent the scheme decides.
    pub fn parse(url: &str, transport: Option<Transport>) -> Result<Target, BenchError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| BenchError::Usage(format!("invalid URL {url:?}: {e}")))?;
        let scheme_transport = match parsed.scheme() {
            "ws" => Transport::Websocket,
            "rs" | "tcp" => Transport::Rawsocket,
            "wss" | "rss" | "tls" | "ssl" => {
                return Err(BenchError::Usage(format!(
                    "{url}: TLS is not supported by wampd-bench; benchmark the router directly"
                )))
            }
            other => {
                return Err(BenchError::Usage(format!(
                    "{url}: unsupported scheme {other:?} (use ws://, rs:// or tcp://)"
                )))
            }
        };
        let transport = transport.unwrap_or(scheme_transport);
        if transport != scheme_transport {
            return Err(BenchError::Usage(format!(
                "{url}: a {} URL does not fit --transport {}",
                scheme_transport.as_str(),
                transport.as_str()
            )));
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| BenchError::Usage(format!("{url}: the URL has no host")))?;
        let port = match (parsed.port(), transport) {
            (Some(port), _) => port,
            (None, Transport::Websocket) => 80,
            (None, Transport::Rawsocket) => {
                return Err(BenchError::Usage(format!("{url}: the URL needs a port")))
            }
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addr = (bare, port)
            .to_socket_addrs()
            .map_err(|e| BenchError::Usage(format!("{url}: cannot resolve {host}: {e}")))?
            .next()
            .ok_or_else(|| BenchError::Usage(format!("{url}: {host} has no address")))?;
        let path = match parsed.path() {
            "" => "/".to_owned(),
            p => p.to_owned(),
        };
        let path = match parsed.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        Ok(Target {
            transport,
            addr,
            host_header: format!("{host}:{port}"),
            path,
            url: url.to_owned(),
        })
    }
}

/// Hands out source addresses for client sockets: 127.0.0.1..=127.0.0.254 in turn when the
/// target is an IPv4 loopback address, nothing (the kernel chooses) otherwise.
#[derive(Debug)]
pub struct SourceAddrs {
    spread: bool,
    next: AtomicUsize,
}

impl SourceAddrs {
    /// A pool for connections to `target`.
    pub fn for_target(target: &SocketAddr) -> Self {
        SourceAddrs {
            spread: matches!(target.ip(), IpAddr::V4(v4) if v4.is_loopback()),
            next: AtomicUsize::new(0),
        }
    }

    /// Whether sockets are spread over 127.0.0.0/8.
    pub fn spreads(&self) -> bool {
        self.spread
    }

    /// The source address for the next socket.
    pub fn next_addr(&self) -> Option<IpAddr> {
        if !self.spread {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % 254;
        Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, (i + 1) as u8)))
    }
}

/// Opens a TCP connection to `addr` from `source` (port chosen by the kernel), with Nagle off:
/// the generator writes whole batches itself and latency runs must not wait for ACKs.
pub async fn connect_tcp(
    addr: SocketAddr,
    source: Option<IpAddr>,
) -> Result<TcpStream, BenchError> {
    let fail = |source: std::io::Error| BenchError::Connect { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(fail)?;
    if let Some(ip) = source {
        socket.set_reuseaddr(true).map_err(fail)?;
        socket.bind(SocketAddr::new(ip, 0)).map_err(fail)?;
    }
    let stream = socket.connect(addr).await.map_err(fail)?;
    stream.set_nodelay(true).map_err(fail)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("ws://127.0.0.1:8080/ws", None).unwrap();
        assert_eq!(t.transport, Transport::Websocket);
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.path, "/ws");
        assert_eq!(t.host_header, "127.0.0.1:8080");
        let t = Target::parse("ws://127.0.0.1:9000", Some(Transport::Websocket)).unwrap();
        assert_eq!(t.path, "/");
        let t = Target::parse("rs://127.0.0.1:8080", None).unwrap();
        assert_eq!(t.transport, Transport::Rawsocket);
        let t = Target::parse("tcp://[::1]:8080", Some(Transport::Rawsocket)).unwrap();
        assert_eq!(t.addr, "[::1]:8080".parse().unwrap());
        assert!(Target::parse("ws://127.0.0.1:8080", Some(Transport::Rawsocket)).is_err());
        assert!(Target::parse("rs://127.0.0.1", None).is_err());
        assert!(Target::parse("wss://example.com/ws", None).is_err());
        assert!(Target::parse("http://127.0.0.1:8080", None).is_err());
        assert!(Target::parse("not a url", None).is_err());
    }

    #[test]
    fn source_addresses_cycle_over_loopback() {
        let pool = SourceAddrs::for_target(&"127.0.0.1:8080".parse().unwrap());
        assert!(pool.spreads());
        let first: Vec<_> = (0..256).filter_map(|_| pool.next_addr()).collect();
        assert_eq!(first[0], IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(first[253], IpAddr::V4(Ipv4Addr::new(127, 0, 0, 254)));
        assert_eq!(first[254], IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
        let remote = SourceAddrs::for_target(&"[::1]:8080".parse().unwrap());
        assert_eq!(remote.next_addr(), None);
    }
}
