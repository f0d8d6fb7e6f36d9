//! wampd-client: a small WAMP v2 client for backends: connect to a router by its
//! `WEBSOCKET_BACKEND_DSN`, join a realm, publish, say GOODBYE.
//!
//! Oro's PHP backend publishes through its own socket client; `wampd publish` (the server
//! crate's `publish_cmd`) gives shell scripts, cron jobs and deploy hooks the same ability without
//! PHP, and tools such as health probes can reuse it. It is a client, so it is its own crate
//! beside the router rather than a module inside it, and it shares only the pure pieces: the codec ([`wampd_proto::wamp`]),
//! the DSN grammar ([`wampd_proto::dsn::Dsn`]) and the RawSocket framing
//! ([`wampd_proto::wamp::rawsocket`]). The crate depends on `wampd-proto` only, so
//! the compiler keeps it from reaching into the router or the server's transport.
//!
//! One concept per module, each layer using only the ones above it:
//!
//! * [`error`]: [`ClientError`], every failure as one line an operator can act on.
//! * [`tls`]: the DSN's PHP `context_options` turned into a native-tls connector, with PHP's
//!   meaning for `verify_peer`, `verify_peer_name`, `allow_self_signed`, `cafile`, `peer_name`.
//! * [`endpoint`]: where to connect, read from a DSN (host, port, WebSocket path, TLS).
//! * [`rawsocket`] and [`websocket`]: the two wires, each carrying serialized WAMP messages.
//! * [`connection`]: either wire behind one interface of [`wampd_proto::wamp::Message`]s.
//! * [`connect`]: dialling: TCP, TLS (with the `allow_self_signed` retry), the wire's handshake.
//! * [`auth`]: what HELLO offers and how a CHALLENGE is answered.
//! * [`session`]: HELLO/WELCOME, PUBLISH (acknowledged or not) and GOODBYE.
//!
//! Everything that waits on the network is bounded by a timeout chosen by the caller, and nothing
//! received from the network can panic the client: malformed input becomes a [`ClientError`].

pub mod auth;
pub mod connect;
pub mod connection;
pub mod endpoint;
pub mod error;
pub mod rawsocket;
pub mod session;
pub mod tls;
pub mod websocket;

pub use auth::Credentials;
pub use connect::{connect, TransportKind};
pub use connection::Connection;
pub use endpoint::Endpoint;
pub use error::ClientError;
pub use session::{Publication, Session};

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream a wire can run over: plain TCP or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The stream type every connection uses, so plain and TLS connections share one code path.
pub type BoxedStream = Box<dyn Stream>;
