//! The transport framing a connection uses, and the writer of client frames for it.
//!
//! Scenarios are written once and run over WebSocket or RawSocket; the differences (masking, a
//! text or binary opcode, 4-byte headers, PING/PONG encodings) are confined to this enum and to
//! [`super::reader::FrameReader`].

use super::error::FrameError;
use super::rawsocket;
use wampd_proto::wamp::Serializer;
use wampd_proto::websocket::{self as ws_frames, MaskKeys};

/// How WAMP messages are framed on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// RFC 6455 frames; client frames masked, server frames not.
    WebSocket,
    /// WAMP RawSocket frames; `limit` is the largest message this side announced it accepts.
    RawSocket {
        /// Largest inbound payload, as announced in our handshake.
        limit: usize,
    },
}

/// What a received frame is, independent of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A WAMP message (WebSocket text/binary, RawSocket type 0).
    Data,
    /// A ping the client must answer with a pong echoing its payload.
    Ping,
    /// A pong (ignored).
    Pong,
    /// A WebSocket close frame (payload: 2-byte code and a reason).
    Close,
}

/// Describes a WebSocket close frame's payload as "code 1008: reason" for diagnostics.
pub fn describe_close(payload: &[u8]) -> String {
    match payload {
        [hi, lo, reason @ ..] => format!(
            "close code {}{}{}",
            u16::from_be_bytes([*hi, *lo]),
            if reason.is_empty() { "" } else { ": " },
            String::from_utf8_lossy(reason)
        ),
        _ => "close frame without a code".to_owned(),
    }
}

/// Encodes client frames for one connection.
#[derive(Debug, Clone)]
pub struct FrameWriter {
    framing: Framing,
    data_opcode: u8,
    keys: MaskKeys,
}

impl FrameWriter {
    /// A writer for `framing` carrying `serializer` messages (text frames for JSON, binary for
    /// MessagePack over WebSocket).
    pub fn new(framing: Framing, serializer: Serializer) -> Self {
        FrameWriter {
            framing,
            data_opcode: if serializer.is_binary() {
                ws_frames::OP_BINARY
            } else {
                ws_frames::OP_TEXT
            },
            keys: MaskKeys::new(),
        }
    }

    /// The framing this writer produces.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Appends a frame carrying one WAMP message.
    pub fn data(&mut self, out: &mut Vec<u8>, message: &[u8]) -> Result<(), FrameError> {
        match self.framing {
            Framing::WebSocket => {
                let key = self.keys.next_key();
                ws_frames::write_client_frame(out, self.data_opcode, message, key);
                Ok(())
            }
            Framing::RawSocket { .. } => {
                rawsocket::write_frame(out, rawsocket::KIND_MESSAGE, message)
            }
        }
    }

    /// Appends the pong answering a ping with `payload`.
    pub fn pong(&mut self, out: &mut Vec<u8>, payload: &[u8]) -> Result<(), FrameError> {
        match self.framing {
            Framing::WebSocket => {
                let key = self.keys.next_key();
                let body = payload
                    .get(..payload.len().min(ws_frames::MAX_CONTROL_PAYLOAD))
                    .unwrap_or_default();
                ws_frames::write_client_frame(out, ws_frames::OP_PONG, body, key);
                Ok(())
            }
            Framing::RawSocket { .. } => rawsocket::write_frame(out, rawsocket::KIND_PONG, payload),
        }
    }

    /// Appends a normal-closure close frame (WebSocket only; RawSocket has none).
    pub fn close(&mut self, out: &mut Vec<u8>) {
        if self.framing == Framing::WebSocket {
            let key = self.keys.next_key();
            ws_frames::write_client_frame(out, ws_frames::OP_CLOSE, &1000u16.to_be_bytes(), key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_descriptions() {
        let mut payload = 1008u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"slow consumer");
        assert_eq!(describe_close(&payload), "close code 1008: slow consumer");
        assert_eq!(describe_close(&1000u16.to_be_bytes()), "close code 1000");
        assert_eq!(describe_close(&[]), "close frame without a code");
    }

    #[test]
    fn writer_uses_the_serializer_opcode_and_transport() {
        let mut out = Vec::new();
        FrameWriter::new(Framing::WebSocket, Serializer::Json)
            .data(&mut out, b"[1]")
            .unwrap();
        assert_eq!(out[0], 0x81);
        out.clear();
        FrameWriter::new(Framing::WebSocket, Serializer::MsgPack)
            .data(&mut out, b"\x91\x01")
            .unwrap();
        assert_eq!(out[0], 0x82);
        out.clear();
        let mut raw = FrameWriter::new(Framing::RawSocket { limit: 1 << 20 }, Serializer::Json);
        raw.data(&mut out, b"[1]").unwrap();
        assert_eq!(out, [0, 0, 0, 3, b'[', b'1', b']']);
        out.clear();
        raw.pong(&mut out, b"abc").unwrap();
        assert_eq!(out, [2, 0, 0, 3, b'a', b'b', b'c']);
        out.clear();
        raw.close(&mut out);
        assert!(out.is_empty());
    }
}
