//! Where a client connects, read from a `WEBSOCKET_BACKEND_DSN`-style DSN.
//!
//! The backend DSN is the PHP client's connection target (oro-gos §2): the scheme is the PHP
//! stream transport (`tcp`, or `ssl`/`tls` for TLS), host and port are dialled, the path is the
//! WebSocket request path, `context_options[...]` configure TLS and `user_agent` is sent as the
//! WebSocket handshake's `User-Agent`. Checking all of it here, before dialling, turns a bad DSN
//! into a message that names the variable instead of a confusing network error.

use wampd_proto::dsn::Dsn;

use super::error::ClientError;
use super::tls::TlsOptions;

/// A connection target.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or IP address to dial (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// WebSocket request path, starting with `/`.
    pub path: String,
    /// TLS settings, `None` for plain TCP.
    pub tls: Option<TlsOptions>,
    /// `User-Agent` for the WebSocket handshake (the DSN's `user_agent` parameter).
    pub user_agent: Option<String>,
}

impl Endpoint {
    /// Reads a DSN; `source` names where it came from (`WEBSOCKET_BACKEND_DSN`, `--dsn`, ...) in
    /// errors.
    pub fn from_dsn(dsn: &Dsn, source: &str) -> Result<Endpoint, ClientError> {
        let config = |what: String| ClientError::Config(format!("{source}: {what}"));
        let scheme = dsn.scheme.to_ascii_lowercase();
        let tls = if dsn.wants_tls() {
            Some(TlsOptions::from_dsn(dsn, source)?)
        } else if scheme == "tcp" {
            None
        } else {
            return Err(config(format!(
                "the scheme \"{}\" is not supported: use tcp:// or ssl:// (tls://)",
                dsn.scheme
            )));
        };
        if !dsn.is_configured() {
            return Err(config(format!(
                "{:?} names no host to connect to",
                dsn.display_masked()
            )));
        }
        if dsn.host == "*" {
            return Err(config(
                "the host * cannot be dialled; name the router's host, e.g. tcp://127.0.0.1:8080"
                    .to_string(),
            ));
        }
        if dsn.port == 0 {
            return Err(config("port 0 cannot be dialled".to_string()));
        }
        let host = dsn
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&dsn.host)
            .to_string();
        Ok(Endpoint {
            host,
            port: dsn.port,
            path: format!("/{}", dsn.path),
            tls,
            user_agent: dsn.param("user_agent").map(str::to_string),
        })
    }

    /// `host:port`, with an IPv6 address in brackets (for messages and URLs).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The WebSocket URL: `ws://` or `wss://`, the address and the path.
    pub fn websocket_url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.address(), self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(dsn: &str) -> Result<Endpoint, ClientError> {
        Endpoint::from_dsn(&Dsn::parse(dsn).expect("dsn"), "WEBSOCKET_BACKEND_DSN")
    }

    #[test]
    fn plain_and_tls_dsns() {
        let e = endpoint("tcp://127.0.0.1:8080").expect("ok");
        assert_eq!(e.address(), "127.0.0.1:8080");
        assert_eq!(e.websocket_url(), "ws://127.0.0.1:8080/");
        assert!(e.tls.is_none());

        let e = endpoint(
            "ssl://ws.example.com:443/ws/?context_options[verify_peer]=false&user_agent=deploy%2F1",
        )
        .expect("ok");
        assert_eq!(e.websocket_url(), "wss://ws.example.com:443/ws");
        assert!(!e.tls.as_ref().expect("tls").verify_peer);
        assert_eq!(e.user_agent.as_deref(), Some("deploy/1"));

        let e = endpoint("tcp://[::1]:9000").expect("ok");
        assert_eq!(e.host, "::1");
        assert_eq!(e.address(), "[::1]:9000");
        // Oro's default port when none is given
        assert_eq!(endpoint("//localhost").expect("ok").port, 8080);
    }

    #[test]
    fn unusable_dsns_name_the_source() {
        for (dsn, expected) in [
            ("unix:/run/ws.sock", "scheme"),
            ("//*:8080/ws", "host *"),
            ("tcp://null:8080", "no host"),
            ("//h:0", "port 0"),
        ] {
            let err = endpoint(dsn).expect_err(dsn).to_string();
            assert!(
                err.starts_with("WEBSOCKET_BACKEND_DSN: ") && err.contains(expected),
                "{dsn}: {err}"
            );
        }
    }
}
