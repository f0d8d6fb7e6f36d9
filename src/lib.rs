//! wampd: a WAMP pub/sub + RPC router for real-time web applications.
//!
//! The crate is layered as DESIGN.md §2 describes, arrows pointing one way
//! (`transport → router → wamp`):
//!
//! * [`wamp`]: messages, URIs, IDs, limits and codecs; pure, no I/O.
//! * [`router`]: realms, the broker and dealer, the meta API, and the operations layer every
//!   protocol's session calls (validate → limits → authorize → act → meta events); never
//!   touches a socket.
//! * [`transport`]: listeners, HTTP, the one admission function for WebSocket upgrades,
//!   WebSocket and RawSocket wires, the per-connection reader and writer.
//! * [`config`]: DSN grammar, `.env-app*` files, typed settings.
//! * [`server`]: wiring and graceful shutdown; [`shutdown`]: the stop signal.
//! * [`metrics`]: the Prometheus registry behind `/metrics`.
//! * [`cluster`]: the Redis implementation of the router's backplane, which shares publications
//!   between nodes; off by default.
//! * [`oro`]: Oro's ticket algorithm and topic routes (pure), for the WAMP v1 drop-in.
//!
//! docs/architecture.md says where a change goes and follows one PUBLISH from the socket read
//! to the subscriber's write through the files it touches.

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
