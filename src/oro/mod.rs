//! Oro-specific rules a drop-in replacement of Oro's PHP WebSocket server must
//! follow (protocol reference `oro-gos.md` §6 and §7).
//!
//! Kept apart from the generic WAMP code because none of it is WAMP: it is
//! what OroSyncBundle adds on top (the topic route table and who may
//! subscribe to which topic; Oro's ticket format is `wampd_proto::oro_ticket`).
//! Everything here but [`user_store`] is pure and deterministic (the caller supplies the clock),
//! so it is unit-tested against values cross-checked with real PHP;
//! `user_store` reads Oro's users from the application's PostgreSQL database.

pub mod topics;
pub mod user_store;
pub mod verified_tickets;
