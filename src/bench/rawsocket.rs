//! WAMP RawSocket, client side (protocol reference §6.4–6.5): the 4-octet handshake and the
//! 4-octet frame headers.
//!
//! Backends that do not want HTTP talk to a router over RawSocket; the generator speaks it so
//! the same scenarios measure both transports. Everything here is pure byte work so the
//! handshake and framing can be checked against the spec's examples without a socket.

use super::error::FrameError;
use crate::wamp::Serializer;

/// First octet of every RawSocket handshake (it cannot start an HTTP request).
pub const MAGIC: u8 = 0x7F;

/// Frame type of a regular WAMP message.
pub const KIND_MESSAGE: u8 = 0;
/// Frame type of a PING.
pub const KIND_PING: u8 = 1;
/// Frame type of a PONG.
pub const KIND_PONG: u8 = 2;

/// Header length of every RawSocket frame.
pub const HEADER_LEN: usize = 4;

/// Largest payload a frame may carry with the X bit clear; the generator never sends more
/// (older routers do not understand the X bit).
pub const MAX_OUTBOUND_LEN: usize = (1 << 24) - 1;

/// The `SSSS` serializer code of the handshake (1 JSON, 2 MessagePack).
pub fn serializer_code(serializer: Serializer) -> u8 {
    match serializer {
        Serializer::Json => 1,
        Serializer::MsgPack => 2,
    }
}

/// The maximum message length `2^(9+exponent)` an `LLLL` value announces.
pub fn max_len_for_exponent(exponent: u8) -> usize {
    1usize << (9 + u32::from(exponent.min(15)))
}

/// The smallest `LLLL` whose announced length is at least `max_len` (capped at 15 = 16 MiB).
pub fn exponent_for_max_len(max_len: usize) -> u8 {
    (0u8..15)
        .find(|&e| max_len_for_exponent(e) >= max_len)
        .unwrap_or(15)
}

/// The client's handshake: magic, `LLLL SSSS`, two reserved zero octets.
pub fn handshake_request(serializer: Serializer, max_len_exponent: u8) -> [u8; 4] {
    [
        MAGIC,
        (max_len_exponent.min(15) << 4) | serializer_code(serializer),
        0,
        0,
    ]
}

/// Checks the router's handshake reply to a request for `serializer`; returns the largest
/// message the router accepts from us.
pub fn parse_handshake_reply(reply: [u8; 4], serializer: Serializer) -> Result<usize, FrameError> {
    if reply[0] != MAGIC {
        return Err(FrameError::new(format!(
            "not a RawSocket router: handshake reply starts with 0x{:02X}",
            reply[0]
        )));
    }
    if reply[2] != 0 || reply[3] != 0 {
        return Err(FrameError::new(
            "reserved octets set in the RawSocket handshake reply",
        ));
    }
    let high = reply[1] >> 4;
    let low = reply[1] & 0x0F;
    if low == 0 {
        let why = match high {
            1 => "serializer unsupported",
            2 => "maximum message length unacceptable",
            3 => "use of reserved bits",
            4 => "maximum connection count reached",
            _ => "unknown error code",
        };
        return Err(FrameError::new(format!(
            "the router refused the RawSocket handshake: {why} (0x{:02X})",
            reply[1]
        )));
    }
    if low != serializer_code(serializer) {
        return Err(FrameError::new(format!(
            "the router answered serializer {low}, not {}",
            serializer_code(serializer)
        )));
    }
    Ok(max_len_for_exponent(high))
}

/// A parsed RawSocket frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Frame type: [`KIND_MESSAGE`], [`KIND_PING`] or [`KIND_PONG`].
    pub kind: u8,
    /// Payload length (up to 2^24 with the X bit).
    pub len: usize,
}

/// Parses the 4-octet header at the start of `buf`; `Ok(None)` when fewer than 4 octets are
/// there. Fails on reserved bits or types, an X bit with a non-zero length, and a length above
/// `limit` (the length this side announced in its handshake).
pub fn parse_header(buf: &[u8], limit: usize) -> Result<Option<Header>, FrameError> {
    let Some(&[b0, b1, b2, b3]) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    if b0 & 0xF0 != 0 {
        return Err(FrameError::new("reserved bits set in a RawSocket frame"));
    }
    let kind = b0 & 0x07;
    if kind > KIND_PONG {
        return Err(FrameError::new("reserved RawSocket frame type"));
    }
    let x = usize::from((b0 >> 3) & 1);
    let low = (usize::from(b1) << 16) | (usize::from(b2) << 8) | usize::from(b3);
    if x == 1 && low != 0 {
        return Err(FrameError::new(
            "RawSocket X bit set with a non-zero length",
        ));
    }
    let len = (x << 24) | low;
    if len > limit {
        return Err(FrameError::new(format!(
            "RawSocket frame of {len} bytes exceeds the announced limit of {limit}"
        )));
    }
    Ok(Some(Header { kind, len }))
}

/// Appends one frame of type `kind` carrying `payload` to `out`. Payloads of 2^24 bytes or more
/// are refused (the X bit is never emitted).
pub fn write_frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) -> Result<(), FrameError> {
    let len = payload.len();
    if len > MAX_OUTBOUND_LEN {
        return Err(FrameError::new(format!(
            "a {len}-byte message does not fit a RawSocket frame"
        )));
    }
    out.push(kind & 0x07);
    out.push((len >> 16) as u8);
    out.push((len >> 8) as u8);
    out.push(len as u8);
    out.extend_from_slice(payload);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_bytes_match_the_spec_examples() {
        // JSON / 16 MiB: 7F F1 00 00
        assert_eq!(handshake_request(Serializer::Json, 15), [0x7F, 0xF1, 0, 0]);
        // MsgPack / 1 MiB: 7F B2 00 00
        assert_eq!(
            handshake_request(Serializer::MsgPack, 11),
            [0x7F, 0xB2, 0, 0]
        );
        assert_eq!(exponent_for_max_len(1 << 20), 11);
        assert_eq!(exponent_for_max_len(16 << 20), 15);
        assert_eq!(exponent_for_max_len(100 << 20), 15);
        assert_eq!(exponent_for_max_len(1), 0);
        assert_eq!(exponent_for_max_len(513), 1);
        assert_eq!(max_len_for_exponent(0), 512);
        assert_eq!(max_len_for_exponent(7), 64 * 1024);
        assert_eq!(max_len_for_exponent(15), 16 << 20);
    }

    #[test]
    fn handshake_replies() {
        assert_eq!(
            parse_handshake_reply([0x7F, 0xF1, 0, 0], Serializer::Json).unwrap(),
            16 << 20
        );
        assert_eq!(
            parse_handshake_reply([0x7F, 0x72, 0, 0], Serializer::MsgPack).unwrap(),
            64 * 1024
        );
        let err = parse_handshake_reply([0x7F, 0x10, 0, 0], Serializer::Json).unwrap_err();
        assert!(err.to_string().contains("serializer unsupported"), "{err}");
        let err = parse_handshake_reply([0x7F, 0x40, 0, 0], Serializer::Json).unwrap_err();
        assert!(err.to_string().contains("connection count"), "{err}");
        // wrong serializer echoed, bad magic (an HTTP reply), reserved octets
        assert!(parse_handshake_reply([0x7F, 0xF2, 0, 0], Serializer::Json).is_err());
        assert!(parse_handshake_reply(*b"HTTP", Serializer::Json).is_err());
        assert!(parse_handshake_reply([0x7F, 0xF1, 0, 1], Serializer::Json).is_err());
    }

    #[test]
    fn frame_headers() {
        // 300-byte WAMP message: 00 00 01 2C
        let mut out = Vec::new();
        write_frame(&mut out, KIND_MESSAGE, &[b'x'; 300]).unwrap();
        assert_eq!(&out[..4], &[0x00, 0x00, 0x01, 0x2C]);
        assert_eq!(out.len(), 304);
        assert_eq!(
            parse_header(&out, 1 << 20).unwrap(),
            Some(Header {
                kind: KIND_MESSAGE,
                len: 300
            })
        );
        // PING of 8 bytes and the matching PONG
        let mut ping = Vec::new();
        write_frame(&mut ping, KIND_PING, b"12345678").unwrap();
        assert_eq!(&ping[..4], &[0x01, 0x00, 0x00, 0x08]);
        let mut pong = Vec::new();
        write_frame(&mut pong, KIND_PONG, &ping[4..]).unwrap();
        assert_eq!(&pong[..4], &[0x02, 0x00, 0x00, 0x08]);
        assert_eq!(&pong[4..], b"12345678");
        // Partial headers need more bytes.
        for cut in 0..4 {
            assert_eq!(parse_header(&out[..cut], 1 << 20).unwrap(), None);
        }
    }

    #[test]
    fn frame_header_errors_and_the_x_bit() {
        // X bit: exactly 2^24
        assert_eq!(
            parse_header(&[0x08, 0, 0, 0], 16 << 20).unwrap(),
            Some(Header {
                kind: KIND_MESSAGE,
                len: 1 << 24
            })
        );
        assert!(parse_header(&[0x08, 0, 0, 1], 32 << 20).is_err());
        assert!(parse_header(&[0x10, 0, 0, 1], 1 << 20).is_err()); // reserved bits
        assert!(parse_header(&[0x03, 0, 0, 1], 1 << 20).is_err()); // reserved type
        assert!(parse_header(&[0x00, 0, 2, 1], 512).is_err()); // over the limit
        assert!(parse_header(&[0x00, 0, 2, 0], 512).is_ok());
        let mut out = Vec::new();
        assert!(write_frame(&mut out, KIND_MESSAGE, &vec![0; 1 << 24]).is_err());
        assert!(out.is_empty());
    }
}
