//! Pure, sans-I/O WAMP v2 building blocks: the dynamic value model, the typed
//! message enum, the JSON/MessagePack codecs, URI validation, ID generation and
//! the well-known error URIs.
//!
//! Nothing in here touches sockets or async runtimes, so the router's transport
//! and session layers can share one tested definition of "what is on the wire"
//! and the codecs can be exercised exhaustively with plain unit tests.

pub mod codec;
pub mod decode_error;
pub mod error_uri;
pub mod id;
pub mod limits;
pub mod message;
pub mod option_error;
pub mod rawsocket;
pub mod uri;
pub mod v1;
pub mod value;

#[cfg(test)]
mod samples;

pub use codec::{decode, encode, DecodeError, Serializer};
pub use limits::Limits;
pub use message::{Id, Message};
pub use option_error::OptionError;
pub use uri::{MatchPolicy, UriPolicy};
pub use value::{Dict, Value};
