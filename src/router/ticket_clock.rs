//! The clock and the leeway wampd checks tickets with, wherever they arrive.
//!
//! A wampd ticket can come in AUTHENTICATE or in the upgrade's `?ticket=`, an Oro ticket on a
//! WAMP v1 upgrade, and `wampd ticket` mints them. All of them read the same wall clock
//! and tolerate the same skew, so a ticket valid on one path is valid on the other.

use std::time::{SystemTime, UNIX_EPOCH};

use wampd_proto::ticket::{self, Claims, TicketError};

/// Clock skew tolerated on a wampd ticket's expiry.
pub const TICKET_LEEWAY_SECS: i64 = 5;

/// Now, as Unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Verifies a wampd ticket against `secret` now.
pub fn verify_now(secret: &[u8], token: &str) -> Result<Claims, TicketError> {
    ticket::verify(secret, token, unix_now(), TICKET_LEEWAY_SECS)
}
