//! WAMP RawSocket framing (`wamp-v2.md` §6.4–6.5), both sides, as pure byte work: the 4-octet
//! handshake (request, the router's negotiation, the reply), the 4-octet frame headers, and a
//! frame reader over a buffer.
//!
//! The router (`transport::rawsocket`), the client behind `wampd publish` (`client::rawsocket`)
//! and the load generator (`bench`) all frame with this one module, so the three agree on the
//! format by construction and a fix lands once.

use bytes::{Buf, Bytes, BytesMut};

use super::Serializer;

/// First octet of every RawSocket handshake; no HTTP request can start with it.
pub const MAGIC: u8 = 0x7F;
/// Handshake error: serializer unsupported.
pub const ERROR_SERIALIZER_UNSUPPORTED: u8 = 1;
/// Handshake error: maximum message length unacceptable.
pub const ERROR_MAX_LENGTH_UNACCEPTABLE: u8 = 2;
/// Handshake error: use of reserved bits.
pub const ERROR_RESERVED_BITS: u8 = 3;
/// Handshake error: maximum connection count reached.
pub const ERROR_MAX_CONNECTIONS: u8 = 4;
/// Smallest receive limit a client may announce to the router (2^12 = 4 KiB).
pub const MIN_CLIENT_LENGTH: usize = 1 << 12;

/// Frame type of a regular WAMP message.
pub const KIND_MESSAGE: u8 = 0;
/// Frame type of a PING.
pub const KIND_PING: u8 = 1;
/// Frame type of a PONG.
pub const KIND_PONG: u8 = 2;
/// Header length of every frame.
pub const HEADER_LEN: usize = 4;
/// Largest payload a frame may carry without the 25th length bit (the X bit), which older
/// peers reject: no side of wampd ever sends more.
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;
/// Most buffer space [`read_frame`] reserves ahead of the bytes of a frame still arriving.
pub const RESERVE_STEP: usize = 64 * 1024;

/// The `SSSS` serializer code of the handshake (1 JSON, 2 MessagePack, 3 CBOR).
pub fn serializer_code(serializer: Serializer) -> u8 {
    match serializer {
        Serializer::Json => 1,
        Serializer::MsgPack => 2,
        Serializer::Cbor => 3,
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

/// The largest `LLLL` whose announced length does not exceed `limit`: what a side that accepts
/// at most `limit` bytes announces.
pub fn length_exponent(limit: usize) -> u8 {
    let mut l = 0u8;
    while l < 15 && (1usize << (9 + l + 1)) <= limit {
        l += 1;
    }
    l
}

/// A client's handshake: magic, `LLLL SSSS`, two reserved zero octets.
pub fn handshake_request(serializer: Serializer, max_len_exponent: u8) -> [u8; 4] {
    [
        MAGIC,
        (max_len_exponent.min(15) << 4) | serializer_code(serializer),
        0,
        0,
    ]
}

/// A handshake error reply with `code`.
pub fn error_reply(code: u8) -> [u8; 4] {
    [MAGIC, code << 4, 0, 0]
}

/// The router's decision on a client's handshake octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// Accepted: the serializer, the client's receive limit, and the reply to send.
    Accepted {
        /// Negotiated serializer.
        serializer: Serializer,
        /// The most the client will receive in one message.
        client_max: usize,
        /// The 4 octets to answer with.
        reply: [u8; 4],
    },
    /// Refused with this error code.
    Refused(u8),
}

/// Evaluates a client handshake given the router's own receive limit.
pub fn negotiate(request: [u8; 4], own_limit: usize) -> Handshake {
    let [magic, lengths, r1, r2] = request;
    if magic != MAGIC || r1 != 0 || r2 != 0 {
        return Handshake::Refused(ERROR_RESERVED_BITS);
    }
    let serializer = match lengths & 0x0F {
        1 => Serializer::Json,
        2 => Serializer::MsgPack,
        3 => Serializer::Cbor,
        _ => return Handshake::Refused(ERROR_SERIALIZER_UNSUPPORTED),
    };
    let client_max = max_len_for_exponent(lengths >> 4);
    if client_max < MIN_CLIENT_LENGTH {
        return Handshake::Refused(ERROR_MAX_LENGTH_UNACCEPTABLE);
    }
    Handshake::Accepted {
        serializer,
        client_max,
        reply: [
            MAGIC,
            (length_exponent(own_limit) << 4) | (lengths & 0x0F),
            0,
            0,
        ],
    }
}

/// Why a router's handshake reply is not an acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The first octet is not the magic: not a RawSocket router (an HTTP reply, say).
    #[error("not a RawSocket router: the handshake reply starts with 0x{0:02X}, not 0x7F")]
    NotRawSocket(u8),
    /// Reserved octets set.
    #[error("reserved octets set in the RawSocket handshake reply")]
    Reserved,
    /// The router refused with this error code.
    #[error("the router refused the RawSocket handshake: {reason} (error {0})", reason = refusal_reason(*.0))]
    Refused(u8),
    /// The router answered another serializer than the one requested.
    #[error("the router answered serializer {answered}, not {requested}")]
    OtherSerializer {
        /// The code the router answered.
        answered: u8,
        /// The code requested.
        requested: u8,
    },
}

/// What a handshake error code means.
pub fn refusal_reason(code: u8) -> &'static str {
    match code {
        ERROR_SERIALIZER_UNSUPPORTED => "serializer unsupported",
        ERROR_MAX_LENGTH_UNACCEPTABLE => "maximum message length unacceptable",
        ERROR_RESERVED_BITS => "use of reserved bits",
        ERROR_MAX_CONNECTIONS => "maximum connection count reached",
        _ => "unknown error code",
    }
}

/// Checks the router's handshake reply to a request for `serializer`; returns the largest
/// message the router accepts.
pub fn parse_handshake_reply(reply: [u8; 4], serializer: Serializer) -> Result<usize, ReplyError> {
    let [magic, lengths, r1, r2] = reply;
    if magic != MAGIC {
        return Err(ReplyError::NotRawSocket(magic));
    }
    if r1 != 0 || r2 != 0 {
        return Err(ReplyError::Reserved);
    }
    let code = lengths & 0x0F;
    if code == 0 {
        return Err(ReplyError::Refused(lengths >> 4));
    }
    if code != serializer_code(serializer) {
        return Err(ReplyError::OtherSerializer {
            answered: code,
            requested: serializer_code(serializer),
        });
    }
    Ok(max_len_for_exponent(lengths >> 4))
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Reserved header bits set, an unknown frame type, or the X bit with a non-zero length.
    #[error("invalid RawSocket frame header: {0}")]
    Header(&'static str),
    /// A frame longer than this side announced.
    #[error("RawSocket message of {size} bytes exceeds the announced limit of {limit}")]
    TooLong {
        /// Declared length.
        size: usize,
        /// The announced limit.
        limit: usize,
    },
    /// A payload too large for any frame this side sends.
    #[error("a {0}-byte message does not fit a RawSocket frame")]
    Unframeable(usize),
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Frame type: [`KIND_MESSAGE`], [`KIND_PING`] or [`KIND_PONG`].
    pub kind: u8,
    /// Payload length (up to 2^24 with the X bit).
    pub len: usize,
}

/// Parses the header at the start of `buf`; `Ok(None)` when fewer than 4 octets are there.
/// Fails on reserved bits or types, an X bit with a non-zero length, and a length above `limit`
/// (the length this side announced in its handshake).
pub fn parse_header(buf: &[u8], limit: usize) -> Result<Option<Header>, FrameError> {
    let Some(&[b0, b1, b2, b3]) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    if b0 & 0xF0 != 0 {
        return Err(FrameError::Header("reserved bits set"));
    }
    let kind = b0 & 0x07;
    if kind > KIND_PONG {
        return Err(FrameError::Header("reserved frame type"));
    }
    let low = (usize::from(b1) << 16) | (usize::from(b2) << 8) | usize::from(b3);
    let len = if b0 & 0x08 != 0 {
        if low != 0 {
            return Err(FrameError::Header("25th length bit with a non-zero length"));
        }
        1 << 24
    } else {
        low
    };
    if len > limit {
        return Err(FrameError::TooLong { size: len, limit });
    }
    Ok(Some(Header { kind, len }))
}

/// The header of a frame of `kind` carrying `len` (≤ [`MAX_PAYLOAD`]) bytes.
pub fn header(kind: u8, len: usize) -> [u8; 4] {
    [kind & 0x07, (len >> 16) as u8, (len >> 8) as u8, len as u8]
}

/// Appends one frame of `kind` carrying `payload` to `out`; refuses payloads over
/// [`MAX_PAYLOAD`] (the X bit is never emitted).
pub fn write_frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) -> Result<(), FrameError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(FrameError::Unframeable(payload.len()));
    }
    out.extend_from_slice(&header(kind, payload.len()));
    out.extend_from_slice(payload);
    Ok(())
}

/// Takes the next whole frame out of `src`: its kind and payload, or `Ok(None)` while it is
/// incomplete. The buffer grows with the bytes that arrive, at most [`RESERVE_STEP`] ahead,
/// never by the length a header announces: a header alone must not make a peer allocate
/// 16 MiB.
pub fn read_frame(src: &mut BytesMut, limit: usize) -> Result<Option<(u8, Bytes)>, FrameError> {
    let Some(head) = parse_header(src, limit)? else {
        return Ok(None);
    };
    if src.len() < HEADER_LEN + head.len {
        src.reserve((HEADER_LEN + head.len - src.len()).min(RESERVE_STEP));
        return Ok(None);
    }
    src.advance(HEADER_LEN);
    Ok(Some((head.kind, src.split_to(head.len).freeze())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_bytes_match_the_spec_examples() {
        // JSON / 16 MiB: 7F F1 00 00; MsgPack / 1 MiB: 7F B2 00 00
        assert_eq!(handshake_request(Serializer::Json, 15), [0x7F, 0xF1, 0, 0]);
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
        assert_eq!(length_exponent(512), 0);
        assert_eq!(length_exponent(1000), 0);
        assert_eq!(length_exponent(1 << 20), 11);
        assert_eq!(length_exponent(16 << 20), 15);
        assert_eq!(length_exponent(usize::MAX), 15);
    }

    #[test]
    fn the_router_negotiates_as_the_spec_says() {
        assert_eq!(
            negotiate([0x7F, 0xF1, 0, 0], 1 << 20),
            Handshake::Accepted {
                serializer: Serializer::Json,
                client_max: 1 << 24,
                reply: [0x7F, 0xB1, 0, 0],
            }
        );
        assert!(matches!(
            negotiate([0x7F, 0xB2, 0, 0], 1 << 20),
            Handshake::Accepted { serializer: Serializer::MsgPack, client_max, .. } if client_max == 1 << 20
        ));
        assert!(matches!(
            negotiate([0x7F, 0x73, 0, 0], 1 << 20),
            Handshake::Accepted {
                serializer: Serializer::Cbor,
                reply: [0x7F, 0xB3, 0, 0],
                ..
            }
        ));
        assert_eq!(
            negotiate([0x7F, 0x74, 0, 0], 1 << 20),
            Handshake::Refused(1)
        ); // 4 is FlatBuffers, not spoken
        assert_eq!(
            negotiate([0x7F, 0xF0, 0, 0], 1 << 20),
            Handshake::Refused(1)
        );
        assert_eq!(
            negotiate([0x7F, 0xF1, 1, 0], 1 << 20),
            Handshake::Refused(3)
        );
        assert_eq!(
            negotiate([0x7F, 0x01, 0, 0], 1 << 20),
            Handshake::Refused(2)
        ); // 512 B
        assert_eq!(error_reply(1), [0x7F, 0x10, 0, 0]);
        assert_eq!(error_reply(4), [0x7F, 0x40, 0, 0]);
    }

    #[test]
    fn handshake_replies() {
        assert_eq!(
            parse_handshake_reply([0x7F, 0xF1, 0, 0], Serializer::Json),
            Ok(16 << 20)
        );
        assert_eq!(
            parse_handshake_reply([0x7F, 0x72, 0, 0], Serializer::MsgPack),
            Ok(64 * 1024)
        );
        let err = parse_handshake_reply([0x7F, 0x10, 0, 0], Serializer::Json).unwrap_err();
        assert!(err.to_string().contains("serializer unsupported"), "{err}");
        let err = parse_handshake_reply([0x7F, 0x40, 0, 0], Serializer::Json).unwrap_err();
        assert!(err.to_string().contains("connection count"), "{err}");
        assert_eq!(
            parse_handshake_reply([0x7F, 0xF2, 0, 0], Serializer::Json),
            Err(ReplyError::OtherSerializer {
                answered: 2,
                requested: 1
            })
        );
        assert_eq!(
            parse_handshake_reply(*b"HTTP", Serializer::Json),
            Err(ReplyError::NotRawSocket(b'H'))
        );
        assert_eq!(
            parse_handshake_reply([0x7F, 0xF1, 0, 1], Serializer::Json),
            Err(ReplyError::Reserved)
        );
    }

    #[test]
    fn frame_headers() {
        let mut out = Vec::new();
        write_frame(&mut out, KIND_MESSAGE, &[b'x'; 300]).expect("fits");
        assert_eq!(&out[..4], &[0x00, 0x00, 0x01, 0x2C]);
        assert_eq!(out.len(), 304);
        assert_eq!(
            parse_header(&out, 1 << 20),
            Ok(Some(Header {
                kind: KIND_MESSAGE,
                len: 300
            }))
        );
        assert_eq!(header(KIND_PONG, 8), [2, 0, 0, 8]);
        for cut in 0..4 {
            assert_eq!(parse_header(&out[..cut], 1 << 20), Ok(None));
        }
        assert_eq!(
            parse_header(&[0x08, 0, 0, 0], 16 << 20),
            Ok(Some(Header {
                kind: KIND_MESSAGE,
                len: 1 << 24
            }))
        );
        assert!(matches!(
            parse_header(&[0x08, 0, 0, 1], 32 << 20),
            Err(FrameError::Header(_))
        ));
        assert!(matches!(
            parse_header(&[0x10, 0, 0, 1], 1 << 20),
            Err(FrameError::Header(_))
        ));
        assert!(matches!(
            parse_header(&[0x03, 0, 0, 1], 1 << 20),
            Err(FrameError::Header(_))
        ));
        assert_eq!(
            parse_header(&[0x00, 0, 2, 1], 512),
            Err(FrameError::TooLong {
                size: 513,
                limit: 512
            })
        );
        let mut out = Vec::new();
        assert!(write_frame(&mut out, KIND_MESSAGE, &vec![0; 1 << 24]).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn frames_are_read_whole_and_a_header_alone_reserves_one_step() {
        let mut buf = BytesMut::from(&[0u8, 0xFF, 0xFF, 0xFF][..]);
        assert_eq!(read_frame(&mut buf, 1 << 24), Ok(None));
        assert!(buf.capacity() <= 2 * RESERVE_STEP, "{}", buf.capacity());
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, b'[', b'1', b']', 1, 0, 0, 1, 9, 2][..]);
        assert_eq!(
            read_frame(&mut buf, 1024),
            Ok(Some((KIND_MESSAGE, Bytes::from_static(b"[1]"))))
        );
        assert_eq!(
            read_frame(&mut buf, 1024),
            Ok(Some((KIND_PING, Bytes::from_static(&[9]))))
        );
        assert_eq!(read_frame(&mut buf, 1024), Ok(None), "a partial header");
    }
}
