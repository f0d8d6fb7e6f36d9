//! Cluster mode: several identical wampd nodes share publications through a backplane.
//!
//! Why: one node is a single point of failure and has one machine's ceiling. With a backplane,
//! users run N nodes behind any load balancer and a publication made on any node (WebSocket,
//! RawSocket, HTTP, WAMP v1 or v2) reaches every matching subscriber on every node exactly once
//! (DESIGN.md §6).
//!
//! How: the publishing node delivers to its own subscribers first (exactly as in single-node
//! mode), then hands the publication to the [`Backplane`], which must never block or await: the
//! Redis implementation encodes one [`envelope`] and `try_send`s it into a bounded queue owned
//! by a publisher task. Every other node's receiver task decodes the envelope and runs the same
//! broker delivery for its local sessions. Because each node delivers only to its own sessions,
//! and each envelope reaches each node once, every subscriber gets the event exactly once.
//!
//! History topics are the exception: their publications go through Redis first, which numbers
//! them in a shared stream, and every node (the publishing one included) delivers them with
//! their position (see [`redis`]), so recovery works on any node.
//!
//! Calls cross nodes too: each node announces its procedures, and a call for a procedure only
//! another node has is sent to that node, its answers back ([`call_envelope`], and the dealer's
//! module docs for the routing).
//!
//! What is not shared: the session/subscription/registration meta API, idempotency keys of
//! `POST /publish`; see docs/clustering.md.
//!
//! The single-node default has no backplane at all (`Router` holds `None`), so it pays nothing.

pub mod call_envelope;
pub mod envelope;
pub mod redis;

pub use crate::router::backplane::{Backplane, Incoming, Outgoing};
