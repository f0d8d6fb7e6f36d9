//! wampd: a WAMP pub/sub + RPC router for real-time web applications; the server crate of the
//! workspace.
//!
//! What is on the wire (WAMP messages and codecs, RawSocket and WebSocket framing, DSNs, tickets)
//! lives in the `wampd-proto` crate, which has no I/O; the client behind `wampd publish` is the
//! `wampd-client` crate; the load generator is `wampd-bench`. This crate is everything that holds
//! a socket, a lock or a clock. Inside it the layers of DESIGN.md §2 point one way
//! (`transport → router → wampd-proto`):
//!
//! * [`router`]: realms, the broker and dealer, the meta API, and the operations layer every
//!   protocol's session calls (validate → limits → authorize → act → meta events); never
//!   touches a socket.
//! * [`transport`]: listeners, HTTP, the one admission function for WebSocket upgrades,
//!   WebSocket and RawSocket wires, the per-connection reader and writer.
//! * [`config`]: `.env-app*` files, typed settings, unknown-variable warnings.
//! * [`auth`]: the rules file (permissions, WAMP-CRA users, static tickets, realm settings).
//! * [`oro`]: Oro's topic routes and its user store, for the WAMP v1 drop-in.
//! * [`cluster`]: the Redis implementation of the router's backplane, which shares publications
//!   between nodes; off by default.
//! * [`server`]: wiring and graceful shutdown; [`shutdown`]: the stop signal.
//! * [`metrics`]: the Prometheus registry behind `/metrics`; [`logging`]: `-v`/`-vv`/`-vvv`.
//! * [`publish_cmd`]: `wampd publish`, on top of `wampd-client`.
//!
//! docs/architecture.md draws the crates and modules, says where a change goes and follows one
//! PUBLISH from the socket read to the subscriber's write through the files it touches.

pub mod auth;
pub mod checks;
pub mod cluster;
pub mod config;
pub mod database;
pub mod espocrm;
pub mod logging;
pub mod metrics;
pub mod oro;
pub mod publish_cmd;
pub mod router;
pub mod server;
pub mod shutdown;
pub mod socketio;
pub mod transport;
