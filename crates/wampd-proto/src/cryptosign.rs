//! WAMP-cryptosign: Ed25519 challenge-response (WAMP spec §"Cryptosign-based Authentication"),
//! byte-compatible with Autobahn and Crossbar.
//!
//! The router sends 32 random bytes, hex-encoded, as `CHALLENGE.Extra.challenge`; the client
//! signs those bytes with its Ed25519 key and answers with the hex signature (64 bytes), which
//! Autobahn follows with the signed bytes themselves (96 bytes in all). The client names its key
//! in `HELLO.Details.authextra.pubkey` (hex), which the router looks up among the keys it was
//! configured with. Pure functions; the caller supplies the randomness.
//!
//! Channel binding (`tls-unique`) is not offered: the TLS stack wampd uses does not expose the
//! TLS Finished message it would be computed from, so a client that asks for it is refused
//! rather than silently authenticated without it.

use ed25519_dalek::{Signature, VerifyingKey};

/// Bytes of a challenge (and of the signed message without channel binding).
pub const CHALLENGE_LEN: usize = 32;

/// A configured or presented public key: 32 bytes, given as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Parses 64 hex digits (either case) into a valid Ed25519 point; `None` for anything else.
    pub fn from_hex(text: &str) -> Option<PublicKey> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
        VerifyingKey::from_bytes(&bytes).ok()?;
        Some(PublicKey(bytes))
    }

    /// The key as lowercase hex, as Autobahn prints it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// A challenge sent: the raw bytes and their hex form for `CHALLENGE.Extra.challenge`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    raw: [u8; CHALLENGE_LEN],
}

impl Challenge {
    /// A challenge from 32 random bytes.
    pub fn new(raw: [u8; CHALLENGE_LEN]) -> Challenge {
        Challenge { raw }
    }

    /// The hex string the CHALLENGE carries.
    pub fn to_hex(&self) -> String {
        hex::encode(self.raw)
    }

    /// Whether `signature` (AUTHENTICATE's hex string: the 64-byte signature, optionally followed
    /// by the 32 signed bytes) is `key`'s signature of this challenge. Strict verification: no
    /// malleable or small-order signatures. When the signed bytes are appended they must be this
    /// challenge's.
    pub fn verify(&self, key: &PublicKey, signature: &str) -> bool {
        let mut buf = [0u8; 64 + CHALLENGE_LEN];
        let signature = signature.trim();
        let len = signature.len() / 2;
        if !(len == 64 || len == 64 + CHALLENGE_LEN)
            || !signature.len().is_multiple_of(2)
            || hex::decode_to_slice(signature, &mut buf[..len]).is_err()
        {
            return false;
        }
        if len == 64 + CHALLENGE_LEN && buf[64..] != self.raw {
            return false;
        }
        let Ok(key) = VerifyingKey::from_bytes(&key.0) else {
            return false;
        };
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&buf[..64]);
        key.verify_strict(&self.raw, &Signature::from_bytes(&sig))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn key(seed: u8) -> (SigningKey, PublicKey) {
        let signing = SigningKey::from_bytes(&[seed; 32]);
        let public = PublicKey::from_hex(&hex::encode(signing.verifying_key().as_bytes()))
            .expect("valid key");
        (signing, public)
    }

    #[test]
    fn a_signature_by_the_key_verifies_in_both_of_autobahns_forms() {
        let (signing, public) = key(7);
        let challenge = Challenge::new([9; 32]);
        assert_eq!(challenge.to_hex().len(), 64);
        let sig = hex::encode(signing.sign(&[9; 32]).to_bytes());
        assert!(challenge.verify(&public, &sig));
        assert!(challenge.verify(&public, &format!("{sig}{}", challenge.to_hex())));
        assert!(challenge.verify(&public, &sig.to_uppercase()));
    }

    #[test]
    fn anything_else_fails() {
        let (signing, public) = key(7);
        let (_, other) = key(8);
        let challenge = Challenge::new([9; 32]);
        let sig = hex::encode(signing.sign(&[9; 32]).to_bytes());
        assert!(!challenge.verify(&other, &sig), "another key");
        let wrong_message = hex::encode(signing.sign(&[1; 32]).to_bytes());
        assert!(
            !challenge.verify(&public, &wrong_message),
            "another challenge"
        );
        assert!(
            !challenge.verify(&public, &format!("{sig}{}", hex::encode([1u8; 32]))),
            "appended bytes of another challenge"
        );
        for bad in [
            "",
            "zz",
            &sig[..126],
            &format!("{sig}0"),
            &format!("{sig}00"),
        ] {
            assert!(!challenge.verify(&public, bad), "{bad}");
        }
    }

    #[test]
    fn public_keys_parse_only_from_64_hex_digits_of_a_curve_point() {
        let (_, public) = key(3);
        assert_eq!(PublicKey::from_hex(&public.to_hex()), Some(public));
        assert_eq!(
            PublicKey::from_hex(&public.to_hex().to_uppercase()),
            Some(public)
        );
        assert!(PublicKey::from_hex("").is_none());
        assert!(PublicKey::from_hex(&"0".repeat(63)).is_none());
        assert!(PublicKey::from_hex(&"g".repeat(64)).is_none());
    }
}
