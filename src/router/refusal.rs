//! The one answer to a refused request: a WAMP error URI and a message for the client.
//!
//! The operations layer, the dealer, the meta procedures and HTTP publishing all refuse with
//! this type; each front end turns it into its protocol's answer (v2 ERROR, or ABORT for
//! [`wampd_proto::wamp::error_uri::PROTOCOL_VIOLATION`]; v1 CALLERROR or Oro's refusal text; an HTTP
//! status with a JSON body).

use wampd_proto::wamp::{error_uri, Dict, OptionError};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// `wamp.error.invalid_uri`, `wamp.error.not_authorized`, `wampd.error.limit_exceeded`, …
    pub error: &'static str,
    /// What was wrong, for the client.
    pub message: String,
    /// What the client can act on, as the ERROR's `ArgumentsKw` (a failed recovery's current
    /// stream position); empty for most refusals.
    pub kwargs: Dict,
}

impl Refusal {
    /// A refusal with `error` and `message`.
    pub fn new(error: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            error,
            message: message.into(),
            kwargs: Dict::new(),
        }
    }

    /// The same refusal, telling the client `kwargs` too.
    pub fn with_kwargs(mut self, kwargs: Dict) -> Refusal {
        self.kwargs = kwargs;
        self
    }
}

/// A bad request option is always `wamp.error.invalid_argument`, whichever request carried it.
impl From<OptionError> for Refusal {
    fn from(err: OptionError) -> Refusal {
        Refusal::new(error_uri::INVALID_ARGUMENT, err.to_string())
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}
