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
//! What is not shared: RPC registrations, the session/subscription meta API, idempotency keys
//! of `POST /publish`; see docs/clustering.md.
//!
//! The single-node default has no backplane at all (`Router` holds `None`), so it pays nothing.

pub mod envelope;
pub mod redis;

use std::fmt;

pub use envelope::{Incoming, Outgoing};

/// A way to hand publications to the other nodes of a cluster. The router holds one behind an
/// `Arc<dyn Backplane>`, so other transports (NATS, …) can follow without touching the router.
pub trait Backplane: Send + Sync + fmt::Debug {
    /// Hands a publication already delivered locally to the other nodes. Must not block or
    /// await: when the backplane is down or its queue is full, the publication is counted as
    /// dropped and stays local.
    fn forward(&self, publication: &Outgoing<'_>);

    /// Whether cross-node delivery currently works (for `/ready` and logs).
    fn connected(&self) -> bool;
}
