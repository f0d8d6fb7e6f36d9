//! WAMP RawSocket for the generator: the shared framing of [`wampd_proto::wamp::rawsocket`], with its
//! errors turned into the generator's [`FrameError`] so scenarios report them like any other
//! wire failure. Backends that do not want HTTP talk to a router over RawSocket; the generator
//! speaks it so the same scenarios measure both transports.

use super::error::FrameError;
use wampd_proto::wamp::rawsocket as framing;
use wampd_proto::wamp::Serializer;

pub use framing::{
    exponent_for_max_len, handshake_request, max_len_for_exponent, Header, HEADER_LEN,
    KIND_MESSAGE, KIND_PING, KIND_PONG, MAGIC,
};

/// Checks the router's handshake reply to a request for `serializer`; returns the largest
/// message the router accepts from us.
pub fn parse_handshake_reply(reply: [u8; 4], serializer: Serializer) -> Result<usize, FrameError> {
    framing::parse_handshake_reply(reply, serializer).map_err(|e| FrameError::new(e.to_string()))
}

/// See [`framing::parse_header`].
pub fn parse_header(buf: &[u8], limit: usize) -> Result<Option<Header>, FrameError> {
    framing::parse_header(buf, limit).map_err(|e| FrameError::new(e.to_string()))
}

/// See [`framing::write_frame`].
pub fn write_frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) -> Result<(), FrameError> {
    framing::write_frame(out, kind, payload).map_err(|e| FrameError::new(e.to_string()))
}
