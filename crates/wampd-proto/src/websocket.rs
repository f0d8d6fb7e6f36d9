//! WebSocket framing (RFC 6455 §5.2) without I/O: parse server frame headers without touching
//! payloads, write unmasked server frames, and write masked client frames.
//!
//! Its users are the router's server-to-client path (`wampd`'s `transport::websocket_wire`,
//! which writes every frame a session receives) and the load generator (`wampd-bench`), which
//! must count millions of events per second on a core it shares with the router, so neither hands
//! frames to a general WebSocket library: a 2–10 byte header tells the reader where the next frame
//! starts, and the writer puts a header before a payload that was encoded once for all
//! subscribers. Server frames are unmasked (§5.1), which is what makes skipping a payload free.
//! Client frames must be masked, so the client writer masks with a key per frame.

/// A frame header that a server must not send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// RSV1-3 set although no extension was negotiated.
    #[error("reserved bits set in a WebSocket frame")]
    ReservedBits,
    /// Opcodes 3-7 and 11-15.
    #[error("reserved WebSocket opcode")]
    ReservedOpcode,
    /// Server frames are never masked (§5.1).
    #[error("the server sent a masked WebSocket frame")]
    Masked,
    /// The 64-bit length's most significant bit must be 0 (§5.2).
    #[error("64-bit WebSocket length with the top bit set")]
    LengthTopBit,
    /// Control frames are never fragmented and carry at most 125 bytes (§5.5).
    #[error("fragmented or oversized WebSocket control frame")]
    BadControlFrame,
}

/// Opcode of a continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// Opcode of a text frame (`wamp.2.json`).
pub const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame (`wamp.2.msgpack`).
pub const OP_BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const OP_PONG: u8 = 0xA;

/// Largest payload a control frame may carry (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Longest possible frame header: 2 bytes, 8 bytes of extended length, 4 bytes of mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// FIN bit: last frame of a message.
    pub fin: bool,
    /// The opcode (low 4 bits of the first byte).
    pub opcode: u8,
    /// Payload length in bytes.
    pub payload_len: u64,
    /// Header length in bytes (2, 4 or 10 for unmasked server frames).
    pub header_len: usize,
}

impl Header {
    /// True for close, ping and pong.
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// Parses the header of a server-to-client frame at the start of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of the header (read more and try again), and an
/// error for anything a server must not send: reserved bits (no extension is negotiated), a
/// masked frame, a reserved opcode, a fragmented or oversized control frame, or a 64-bit length
/// with the top bit set.
pub fn parse_server_header(buf: &[u8]) -> Result<Option<Header>, HeaderError> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(HeaderError::ReservedBits);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG => {}
        _ => return Err(HeaderError::ReservedOpcode),
    }
    if b1 & 0x80 != 0 {
        return Err(HeaderError::Masked);
    }
    let (payload_len, header_len) = match b1 & 0x7F {
        126 => {
            let Some(ext) = buf.get(2..4) else {
                return Ok(None);
            };
            (u64::from(u16::from_be_bytes([ext[0], ext[1]])), 4)
        }
        127 => {
            let Some(ext) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut raw = [0u8; 8];
            raw.copy_from_slice(ext);
            let len = u64::from_be_bytes(raw);
            if len >> 63 != 0 {
                return Err(HeaderError::LengthTopBit);
            }
            (len, 10)
        }
        short => (u64::from(short), 2),
    };
    let header = Header {
        fin,
        opcode,
        payload_len,
        header_len,
    };
    if header.is_control() && (!fin || payload_len > MAX_CONTROL_PAYLOAD as u64) {
        return Err(HeaderError::BadControlFrame);
    }
    Ok(Some(header))
}

/// XORs `data` with the 4-byte `mask`, starting at mask offset 0 (§5.3). Applying it twice
/// restores the input.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word) ^ wide;
        chunk.copy_from_slice(&x.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

/// FIN, the opcode and the payload length (§5.2); `mask_bit` is `0x80` for client frames.
fn push_header(out: &mut Vec<u8>, opcode: u8, len: usize, mask_bit: u8) {
    out.push(0x80 | (opcode & 0x0F));
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Appends the header of an unmasked server frame (FIN set) whose payload is `len` bytes; the
/// payload follows it, copied or written separately.
pub fn write_server_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    push_header(out, opcode, len, 0);
}

/// Appends one complete, unmasked server frame (FIN set) carrying `payload` to `out`.
pub fn write_server_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    push_header(out, opcode, payload.len(), 0);
    out.extend_from_slice(payload);
}

/// Appends one complete, unmasked server frame whose payload is `parts` back to back (a batched
/// WAMP transport's length prefix or separator around shared encoder output, without a copy
/// into a joined buffer first).
pub fn write_server_frame_parts(out: &mut Vec<u8>, opcode: u8, parts: &[&[u8]]) {
    push_header(out, opcode, parts.iter().map(|p| p.len()).sum(), 0);
    for part in parts {
        out.extend_from_slice(part);
    }
}

/// The payload of a close frame: the code, then `reason` cut at a character boundary so the
/// payload fits a control frame (§5.5).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

/// Appends one complete, masked client frame (FIN set) carrying `payload` to `out`.
pub fn write_client_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    push_header(out, opcode, payload.len(), 0x80);
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(body) = out.get_mut(start..) {
        apply_mask(body, mask);
    }
}

/// A cheap source of masking keys (xorshift64*, seeded randomly per connection).
///
/// RFC 6455 asks for unpredictable keys so that a browser's traffic cannot be shaped into
/// something a proxy misreads; a load generator only needs keys that vary, and this costs a few
/// nanoseconds per frame instead of a cryptographic generator's call.
#[derive(Debug, Clone)]
pub struct MaskKeys {
    state: u64,
}

impl MaskKeys {
    /// A generator with a random seed.
    pub fn new() -> Self {
        MaskKeys::with_seed(rand::random())
    }

    /// A generator with a fixed seed (tests).
    pub fn with_seed(seed: u64) -> Self {
        MaskKeys {
            state: seed | 1, // xorshift must not start at 0
        }
    }

    /// The next masking key.
    pub fn next_key(&mut self) -> [u8; 4] {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        let out = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let bytes = (out >> 32) as u32;
        bytes.to_ne_bytes()
    }
}

impl Default for MaskKeys {
    fn default() -> Self {
        MaskKeys::new()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn server_frames_are_unmasked_with_the_shortest_length() {
        let mut out = Vec::new();
        write_server_frame(&mut out, OP_TEXT, b"[1]");
        assert_eq!(out, b"\x81\x03[1]");
        for (len, head) in [
            (200usize, vec![0x82, 126, 0, 200]),
            (70_000, vec![0x82, 127]),
        ] {
            let mut out = Vec::new();
            write_server_frame(&mut out, OP_BINARY, &vec![b'a'; len]);
            assert_eq!(&out[..head.len()], &head[..]);
            let header = parse_server_header(&out).expect("valid").expect("complete");
            assert_eq!(header.payload_len as usize, len);
        }
    }

    #[test]
    fn close_payloads_fit_a_control_frame_at_a_char_boundary() {
        assert_eq!(close_payload(1008, "slow"), b"\x03\xF0slow");
        let long = "é".repeat(100);
        let payload = close_payload(1000, &long);
        assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
    }

    use super::*;

    #[test]
    fn short_medium_and_long_lengths() {
        assert_eq!(
            parse_server_header(&[0x81, 0x05]).unwrap(),
            Some(Header {
                fin: true,
                opcode: OP_TEXT,
                payload_len: 5,
                header_len: 2
            })
        );
        // 16-bit length: 300
        assert_eq!(
            parse_server_header(&[0x82, 126, 0x01, 0x2C]).unwrap(),
            Some(Header {
                fin: true,
                opcode: OP_BINARY,
                payload_len: 300,
                header_len: 4
            })
        );
        // 64-bit length: 70_000
        let mut long = vec![0x02, 127];
        long.extend_from_slice(&70_000u64.to_be_bytes());
        assert_eq!(
            parse_server_header(&long).unwrap(),
            Some(Header {
                fin: false,
                opcode: OP_BINARY,
                payload_len: 70_000,
                header_len: 10
            })
        );
    }

    #[test]
    fn split_headers_need_more_bytes() {
        assert_eq!(parse_server_header(&[]).unwrap(), None);
        assert_eq!(parse_server_header(&[0x81]).unwrap(), None);
        assert_eq!(parse_server_header(&[0x81, 126, 0x01]).unwrap(), None);
        let mut long = vec![0x82, 127];
        long.extend_from_slice(&70_000u64.to_be_bytes());
        for cut in 0..long.len() {
            assert_eq!(parse_server_header(&long[..cut]).unwrap(), None, "{cut}");
        }
    }

    #[test]
    fn invalid_server_frames_are_errors() {
        assert!(parse_server_header(&[0xC1, 0x00]).is_err()); // RSV1
        assert!(parse_server_header(&[0x83, 0x00]).is_err()); // reserved opcode
        assert!(parse_server_header(&[0x81, 0x80]).is_err()); // masked
        assert!(parse_server_header(&[0x09, 0x00]).is_err()); // fragmented ping
        assert!(parse_server_header(&[0x89, 126, 0x00, 0x7E]).is_err()); // ping of 126 bytes
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert!(parse_server_header(&huge).is_err());
    }

    #[test]
    fn client_frames_are_masked() {
        // RFC 6455 §5.7: a masked "Hello" text frame.
        let mut out = Vec::new();
        write_client_frame(&mut out, OP_TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn client_frame_lengths_and_unmasking() {
        let mask = [1, 2, 3, 4];
        for len in [0usize, 1, 7, 8, 9, 125, 126, 127, 65_535, 65_536, 100_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut out = Vec::new();
            write_client_frame(&mut out, OP_BINARY, &payload, mask);
            let header_len = match len {
                0..=125 => 2,
                126..=65_535 => 4,
                _ => 10,
            };
            assert_eq!(out[0], 0x82);
            assert_eq!(out[1] & 0x80, 0x80, "mask bit");
            assert_eq!(&out[header_len..header_len + 4], &mask);
            let mut body = out[header_len + 4..].to_vec();
            assert_eq!(body.len(), len);
            apply_mask(&mut body, mask);
            assert_eq!(body, payload, "{len}");
            // The length field, read with the mask bit cleared, matches.
            let mut unmasked_header = out[..header_len].to_vec();
            unmasked_header[1] &= 0x7F;
            let h = parse_server_header(&unmasked_header).unwrap().unwrap();
            assert_eq!(h.payload_len, len as u64);
        }
    }

    #[test]
    fn mask_keys_vary() {
        let mut keys = MaskKeys::with_seed(42);
        let a = keys.next_key();
        let b = keys.next_key();
        assert_ne!(a, b);
        let mut zero = MaskKeys::with_seed(0);
        assert_ne!(zero.next_key(), [0, 0, 0, 0]);
    }
}
