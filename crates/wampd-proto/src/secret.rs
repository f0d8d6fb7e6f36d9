//! Which names carry secrets, and what stands in for their values.
//!
//! DSN parameters (`passphrase=`, `password=`) and settings (`ORO_SECRET`) are shown in error messages,
//! `config:check` output and logs. One rule decides which are secret, so the DSN's `Display`, the
//! configuration errors and the server's reports mask the same things.

/// What stands in for a secret value in messages and `config:check` output.
pub const MASK: &str = "***";

/// True when a variable (or parameter) name suggests its value is a secret: it contains `SECRET`, `PASSWORD`,
/// `PASSPHRASE` or `TOKEN`, in any case.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["SECRET", "PASSWORD", "PASSPHRASE", "TOKEN"]
        .iter()
        .any(|word| upper.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_name_detection() {
        assert!(is_secret_name("ORO_SECRET"));
        assert!(is_secret_name("password"));
        assert!(is_secret_name("authToken"));
        assert!(!is_secret_name("WEBSOCKET_SERVER_DSN"));
        assert!(!is_secret_name("WEBSOCKET_MAX_MESSAGE_SIZE"));
    }
}
