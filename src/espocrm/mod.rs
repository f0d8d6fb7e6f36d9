//! The EspoCRM profile: what wampd does so that an Espo installation's browsers and backend talk
//! to it exactly as they talked to Espo's own Ratchet daemon (`php websocket.php`).
//!
//! Espo's pieces and where they land here (`shared/protocol/espocrm.md` has the wire details):
//!
//! * the backend's ZeroMQ PUSH messages: [`push`] reads them, the ZMQ listener
//!   (`transport::zmq_pull`) receives them, and each becomes a publication, to one user through
//!   `eligible_authid` when it names one;
//! * topic categories and their access checks: [`categories`];
//! * the `?authToken=&userId=` check on connect and the per-category check on subscribe run
//!   Espo's own console commands through the general external-check mechanism
//!   (`crate::checks`);
//! * Espo's configuration (`data/config.php`, `ESPOCRM_CONFIG_*`), read once at start-up and
//!   turned into wampd settings: [`config`].

pub mod categories;
pub mod config;
pub mod push;
