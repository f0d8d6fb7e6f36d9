//! The error every WAMP v2 decoder returns: bytes or a value that do not form a message. It
//! stands on its own so that the message schema and the codecs both depend on it, not on each
//! other.

/// Why a frame could not be turned into a [`Message`](super::message::Message).
///
/// Every variant is a protocol violation by the peer; the router typically
/// answers with ABORT/GOODBYE `wamp.error.protocol_violation` carrying the
/// `Display` text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not valid for the serializer (first field: "JSON" or
    /// "MessagePack"; second: details). Also covers invalid UTF-8, non-string
    /// MessagePack map keys, unsupported ext types and excessive nesting.
    #[error("invalid {0} serialization: {1}")]
    Syntax(&'static str, String),
    /// The value decoded fine but is not a non-empty list.
    #[error("message is not a non-empty list")]
    NotAList,
    /// The list's first element is a code this router does not know.
    #[error("unknown message code {0}")]
    UnknownCode(u64),
    /// Wrong element count or element type for the message (`message` is the
    /// spec name, e.g. "SUBSCRIBE", or "message" if the code itself is bad).
    #[error("malformed {message}: {reason}")]
    Shape {
        /// Message name ("HELLO", ...), or "message" for a bad code.
        message: &'static str,
        /// Human-readable detail.
        reason: String,
    },
    /// Extra bytes after the first complete value.
    #[error("trailing bytes after message")]
    Trailing,
}
