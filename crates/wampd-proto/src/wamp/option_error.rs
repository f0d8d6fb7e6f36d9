//! The one error for a request option the router cannot use.
//!
//! SUBSCRIBE, PUBLISH, REGISTER and CANCEL options are read in several modules (the match policy
//! here in `uri`, publish options, invocation and cancel modes in the router). Whatever is wrong,
//! the client gets the same answer, `wamp.error.invalid_argument` with this error's text, so the
//! readers return this type and the answer is decided once.

/// A request's `Options` entry that has the wrong type or an unknown value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// `option` is present but is not what it must be (`expected` follows "must be").
    #[error("option {option} must be {expected}")]
    Invalid {
        /// The option's key, such as `acknowledge` or `invoke`.
        option: &'static str,
        /// What it must be, such as "a boolean" or "skip, kill or killnowait".
        expected: &'static str,
    },
    /// `match` names no policy wampd knows.
    #[error("invalid match policy {0:?}")]
    UnknownMatch(String),
    /// `match` is not a string.
    #[error("match policy must be a string")]
    MatchNotString,
}

impl OptionError {
    /// `option` must be `expected`.
    pub fn invalid(option: &'static str, expected: &'static str) -> OptionError {
        OptionError::Invalid { option, expected }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts clients have seen in `ERROR.Args` since before this type existed.
    #[test]
    fn texts_are_what_clients_have_always_seen() {
        assert_eq!(
            OptionError::invalid("acknowledge", "a boolean").to_string(),
            "option acknowledge must be a boolean"
        );
        assert_eq!(
            OptionError::UnknownMatch("glob".into()).to_string(),
            "invalid match policy \"glob\""
        );
        assert_eq!(
            OptionError::MatchNotString.to_string(),
            "match policy must be a string"
        );
    }
}
