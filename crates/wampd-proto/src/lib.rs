//! wampd-proto: everything wampd knows about bytes on the wire, and nothing about sockets.
//!
//! The router, the client and the load generator must agree exactly on what a WAMP message, a
//! RawSocket frame, a DSN or a ticket is. This crate is that one definition. It has no I/O and no
//! async runtime, so every format here is tested with plain unit tests and fuzzed (`fuzz/`, one
//! target per parser) without a server around it, and a change to a format cannot reach into the
//! router's state by accident: the compiler keeps the arrows pointing one way
//! (`wampd` → `wampd-client` → `wampd-proto`, `wampd-bench` → `wampd-proto`).
//!
//! # Map
//!
//! * [`wamp`]: the WAMP v2 message schema (one `wamp_messages!` table generating the enum, its
//!   encoding and its validating decoder), the JSON and MessagePack codecs, URIs, IDs, error URIs,
//!   the per-message limits, RawSocket framing ([`wamp::rawsocket`], shared by the server, the
//!   client and the bench) and WAMP v1 with PHP's JSON quirks ([`wamp::v1`]).
//! * [`websocket`]: RFC 6455 frame headers and masked client frames, for peers that frame by hand.
//! * [`socketio`]: Socket.IO v5 packets and the Engine.IO v4 transport framing under them, for
//!   browsers and backends that speak Socket.IO (Flask-SocketIO's users).
//! * [`zmtp`]: ZeroMQ's ZMTP 3.x as a PULL socket receives it (greeting, NULL READY, frames), for
//!   backends that PUSH over ZeroMQ as EspoCRM does.
//! * [`dsn`]: the `WEBSOCKET_*_DSN` grammar, a port of PHP's `parse_url` so Oro's `.env-app` means
//!   the same to wampd; [`units`]: the spellings of durations, sizes, booleans and lists that every
//!   setting and command-line option accepts; [`secret`]: which names carry secrets.
//! * Credentials: [`ticket`] (wampd's signed tickets), [`oro_ticket`] (OroSyncBundle's tickets,
//!   bit-for-bit), [`wampcra`] (WAMP-CRA as Autobahn computes it), [`cryptosign`] (WAMP-cryptosign's
//!   Ed25519 challenge-response). Each takes the clock and the secret from its caller.
//!
//! Where a change goes: a new WAMP message is one row of the table in [`wamp::message`]; a new
//! wire format is a module beside [`wamp::codec`]; anything that needs a socket, a lock or a clock
//! of its own belongs in the `wampd` crate instead.

#![warn(missing_docs)]

pub mod cryptosign;
pub mod dsn;
pub mod oro_ticket;
pub mod secret;
pub mod socketio;
pub mod ticket;
pub mod units;
pub mod wamp;
pub mod wampcra;
pub mod websocket;
pub mod zmtp;
