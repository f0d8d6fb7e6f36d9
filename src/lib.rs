//! wampd: a WAMP pub/sub + RPC router for real-time web applications.
//!
//! The crate is layered as DESIGN.md §2 describes, arrows pointing one way
//! (`transport → router → wamp`):
//!
//! * [`wamp`]: messages, URIs, IDs and codecs; pure, no I/O.
//! * [`router`]: realms, sessions and the broker; never touches a socket.
//! * [`transport`]: listeners, HTTP, WebSocket, per-connection reader and writer.
//! * [`config`]: DSN grammar, `.env-app*` files, typed settings.
//! * [`server`]: wiring and graceful shutdown; [`shutdown`]: the stop signal.
//! * [`metrics`]: the Prometheus registry behind `/metrics`.
//! * [`cluster`]: the backplane that shares publications between nodes (Redis), off by default.
//! * [`oro`]: Oro's ticket algorithm and topic routes (pure), for the WAMP v1 drop-in.

pub mod auth;
pub mod client;
pub mod cluster;
pub mod config;
pub mod logging;
pub mod metrics;
pub mod oro;
pub mod publish_cmd;
pub mod router;
pub mod server;
pub mod shutdown;
pub mod transport;
pub mod wamp;

pub mod bench;
