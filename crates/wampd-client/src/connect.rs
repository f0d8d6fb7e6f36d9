//! Dialling a router: TCP, TLS when the DSN asks for it, then the chosen wire's handshake.
//!
//! `allow_self_signed` needs care: PHP lets a self-signed leaf certificate through while still
//! rejecting, say, one signed by an unknown CA, and native-tls has no switch for exactly that. So
//! when a verified handshake fails and `allow_self_signed` is on, a second connection fetches the
//! certificate the server presents without verifying it, and a third verifies normally with that
//! certificate added as a trusted root. A self-signed certificate then verifies (it is its own
//! root, and its name and dates are still checked); any other one still fails, as in PHP. Servers
//! with a properly signed certificate cost one connection, as always.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_native_tls::TlsStream;

use wampd_proto::wamp::Serializer;

use super::connection::Connection;
use super::endpoint::Endpoint;
use super::error::ClientError;
use super::rawsocket::RawSocket;
use super::tls::TlsOptions;
use super::websocket::WebSocket;
use super::BoxedStream;

/// Which wire to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// WAMP RawSocket: the backend's choice (no HTTP upgrade, 4-byte framing).
    RawSocket,
    /// WAMP over WebSocket: for routers behind a proxy that only forwards WebSocket upgrades.
    WebSocket,
}

impl TransportKind {
    /// The serializer used when none is asked for: MessagePack on RawSocket (compact, what
    /// backends use), JSON on WebSocket (what proxies and browsers' tooling show readably).
    pub fn default_serializer(self) -> Serializer {
        match self {
            TransportKind::RawSocket => Serializer::MsgPack,
            TransportKind::WebSocket => Serializer::Json,
        }
    }

    /// `"rawsocket"` or `"websocket"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::RawSocket => "rawsocket",
            TransportKind::WebSocket => "websocket",
        }
    }
}

/// Connects to `endpoint` and completes the transport handshake, all within `timeout`.
pub async fn connect(
    endpoint: &Endpoint,
    kind: TransportKind,
    serializer: Serializer,
    timeout: Duration,
) -> Result<Connection, ClientError> {
    let dial = async {
        let stream = open_stream(endpoint).await?;
        Ok(match kind {
            TransportKind::RawSocket => {
                Connection::RawSocket(RawSocket::handshake(stream, serializer).await?)
            }
            TransportKind::WebSocket => Connection::WebSocket(Box::new(
                WebSocket::handshake(stream, endpoint, serializer).await?,
            )),
        })
    };
    tokio::time::timeout(timeout, dial)
        .await
        .map_err(|_| ClientError::Timeout {
            waiting: "connecting",
            after: timeout,
        })?
}

/// A TCP connection to `endpoint`, wrapped in TLS when its DSN asks for it.
pub async fn open_stream(endpoint: &Endpoint) -> Result<BoxedStream, ClientError> {
    match &endpoint.tls {
        None => Ok(Box::new(tcp(endpoint).await?)),
        Some(tls) => Ok(Box::new(tls_stream(endpoint, tls).await?)),
    }
}

async fn tcp(endpoint: &Endpoint) -> Result<TcpStream, ClientError> {
    let stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|source| ClientError::Connect {
            address: endpoint.address(),
            source,
        })?;
    // Small WAMP messages should leave at once; batching is done by the wire's own buffer.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn handshake(
    endpoint: &Endpoint,
    connector: native_tls::TlsConnector,
    domain: &str,
) -> Result<TlsStream<TcpStream>, ClientError> {
    let stream = tcp(endpoint).await?;
    tokio_native_tls::TlsConnector::from(connector)
        .connect(domain, stream)
        .await
        .map_err(|err| ClientError::Tls {
            address: endpoint.address(),
            reason: err.to_string(),
        })
}

async fn tls_stream(
    endpoint: &Endpoint,
    tls: &TlsOptions,
) -> Result<TlsStream<TcpStream>, ClientError> {
    let domain = tls.domain(&endpoint.host);
    let first = handshake(endpoint, tls.connector(None)?, domain).await;
    let refused = match first {
        Err(ClientError::Tls { .. }) if tls.allow_self_signed && tls.verify_peer => first,
        other => return other,
    };
    // allow_self_signed: trust the leaf the server presents, if it is self-signed (see above).
    let Ok(probe) = handshake(endpoint, tls.probe_connector()?, domain).await else {
        return refused;
    };
    let leaf = probe.get_ref().peer_certificate().ok().flatten();
    drop(probe);
    let Some(leaf) = leaf else {
        return refused;
    };
    handshake(endpoint, tls.connector(Some(&leaf))?, domain).await
}
