//! The WAMP meta API: sessions, subscriptions and registrations, observable and manageable
//! over WAMP itself.
//!
//! Two halves with the dependency pointing one way: [`events`] (topics and details, which the
//! realm publishes as things happen) knows nothing of the realm; [`procedures`] (answered by the
//! router before the dealer looks for a callee) reads the realm's broker and dealer. Both use the
//! same state as everything else, so what the meta API reports is what the router does.

pub mod events;
pub mod procedures;

pub use events::*;
pub use procedures::{call, Outcome, CLUSTER_SESSION_COUNT, CLUSTER_UNAVAILABLE};
