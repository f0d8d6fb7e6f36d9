//! Who may do what: the optional TOML rules file (permission rules, WAMP-CRA users, static
//! WAMP-Ticket principals, realm settings).
//!
//! The credential formats themselves (wampd's signed tickets, WAMP-CRA, Oro's tickets) are pure
//! and byte-compatible with other implementations, so they live in `wampd-proto` with their
//! cross-language test vectors; this module holds what an operator configures, and
//! `router::authorizer` makes the decisions from it.

pub mod rules;
