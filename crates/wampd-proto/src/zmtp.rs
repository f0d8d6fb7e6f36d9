//! ZMTP 3.x (ZeroMQ's wire protocol, RFC 23/ZMTP and 37/ZMTP) for a PULL socket that PUSH peers
//! connect to, as pure byte work: the 64-octet greeting, the NULL mechanism's READY exchange, the
//! PING/PONG heartbeat commands, and frame reading with a size bound.
//!
//! EspoCRM's PHP backend (and any libzmq 4.x program) opens a PUSH socket, connects, sends one
//! message and disconnects. Only the receiving side of the protocol is needed for that, so wampd
//! speaks exactly this much ZMTP: every quantity a peer chooses (frame length, parts per message,
//! message size) is checked against a limit before a byte of it is buffered. Binding libzmq
//! would bring a C library and threads of its own; the pure-Rust `zeromq` crate (0.7.0) reserves
//! whatever frame length a header announces (`codec/zmq_codec.rs`) and has no message size limit,
//! so one unauthenticated peer could make the router allocate without bound. Mechanisms other than NULL (PLAIN, CURVE) and
//! ZMTP 1.0/2.0 peers (libzmq 2.x/3.x) are refused in the greeting.

use bytes::{Buf, Bytes, BytesMut};

/// Length of the greeting each side sends first.
pub const GREETING_LEN: usize = 64;
/// The only security mechanism spoken.
pub const MECHANISM_NULL: &[u8] = b"NULL";
/// Most parts one message may have; a PUSH peer's messages normally have one.
pub const MAX_PARTS: usize = 16;
/// Largest command body accepted (READY with its metadata, PING with its context).
pub const MAX_COMMAND: usize = 4096;
/// Most buffer space [`read_frame`] reserves ahead of a frame still arriving: the buffer grows
/// with the bytes that arrive, never with the length a header announces.
pub const RESERVE_STEP: usize = 64 * 1024;

/// The greeting the PULL side sends: ZMTP 3.1, mechanism NULL, `as-server` = 1 (RFC 23 §2.3).
pub fn greeting() -> [u8; GREETING_LEN] {
    let mut g = [0u8; GREETING_LEN];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 1;
    g[12..12 + MECHANISM_NULL.len()].copy_from_slice(MECHANISM_NULL);
    g[32] = 1;
    g
}

/// What a peer's greeting says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    /// ZMTP major version (3 or more).
    pub major: u8,
    /// ZMTP minor version.
    pub minor: u8,
}

/// Why a greeting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GreetingError {
    /// The first octets are not a ZMTP signature (another protocol, or garbage).
    #[error("not a ZMTP greeting")]
    NotZmtp,
    /// ZMTP 1.0 or 2.0 (libzmq before 4.0).
    #[error("ZMTP version {0} is not supported (libzmq 4.x speaks 3)")]
    Version(u8),
    /// A mechanism other than NULL.
    #[error("security mechanism {0:?} is not supported (only NULL)")]
    Mechanism(String),
}

/// Checks a peer's greeting: the signature, version 3 or later, mechanism NULL.
pub fn check_greeting(g: &[u8; GREETING_LEN]) -> Result<Greeting, GreetingError> {
    if g[0] != 0xFF || g[9] & 0x01 != 0x01 {
        return Err(GreetingError::NotZmtp);
    }
    let (major, minor) = (g[10], g[11]);
    if major < 3 {
        return Err(GreetingError::Version(major));
    }
    let mechanism = &g[12..32];
    let name_len = mechanism.iter().position(|&b| b == 0).unwrap_or(20);
    if &mechanism[..name_len] != MECHANISM_NULL || mechanism[name_len..].iter().any(|&b| b != 0) {
        let shown = String::from_utf8_lossy(&mechanism[..name_len]).into_owned();
        return Err(GreetingError::Mechanism(shown));
    }
    Ok(Greeting { major, minor })
}

/// A command frame with `body`, short or long as its length needs.
fn command_frame(body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(body.len() + 9);
    match u8::try_from(body.len()) {
        Ok(n) => {
            frame.push(0x04);
            frame.push(n);
        }
        Err(_) => {
            frame.push(0x06);
            frame.extend_from_slice(&(body.len() as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(body);
    frame
}

/// The READY command announcing `socket_type` (RFC 23 §2.5.1: `Socket-Type` metadata).
pub fn ready(socket_type: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(32);
    body.push(5);
    body.extend_from_slice(b"READY");
    let name = b"Socket-Type";
    body.push(name.len() as u8);
    body.extend_from_slice(name);
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type.as_bytes());
    command_frame(&body)
}

/// The ERROR command with `reason` (at most 255 octets), sent before closing on a handshake
/// failure so the peer's log says why.
pub fn error(reason: &str) -> Vec<u8> {
    let reason = &reason.as_bytes()[..reason.len().min(255)];
    let mut body = Vec::with_capacity(reason.len() + 7);
    body.push(5);
    body.extend_from_slice(b"ERROR");
    body.push(reason.len() as u8);
    body.extend_from_slice(reason);
    command_frame(&body)
}

/// The PONG answering a PING with `context` (RFC 37 §3.3.3).
pub fn pong(context: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(context.len() + 5);
    body.push(4);
    body.extend_from_slice(b"PONG");
    body.extend_from_slice(&context[..context.len().min(16)]);
    command_frame(&body)
}

/// One frame off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A command (READY, PING, ERROR, …); parse it with [`parse_command`].
    Command(Bytes),
    /// A message part; `more` says whether further parts of the same message follow.
    Part {
        /// The part's bytes.
        body: Bytes,
        /// The MORE flag.
        more: bool,
    },
}

/// Why the frame stream is unusable (the connection must be closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Reserved flag bits set, or a command flagged MORE.
    #[error("invalid frame flags {0:#04x}")]
    Flags(u8),
    /// A frame (or the message it belongs to) larger than the limit.
    #[error("message of more than {limit} bytes refused")]
    TooLarge {
        /// The limit it exceeded.
        limit: usize,
    },
    /// More than [`MAX_PARTS`] parts in one message.
    #[error("message of more than {MAX_PARTS} parts refused")]
    TooManyParts,
    /// A command that cannot be parsed.
    #[error("malformed {0} command")]
    Command(&'static str),
}

/// Reads one frame from the front of `buf`, `Ok(None)` until it is complete. A frame longer than
/// `limit` (commands: [`MAX_COMMAND`]) is refused from its header, before its body arrives.
pub fn read_frame(buf: &mut BytesMut, limit: usize) -> Result<Option<Frame>, FrameError> {
    let Some(&flags) = buf.first() else {
        return Ok(None);
    };
    if flags & !0x07 != 0 || flags & 0x05 == 0x05 {
        return Err(FrameError::Flags(flags));
    }
    let long = flags & 0x02 != 0;
    let header = if long { 9 } else { 2 };
    if buf.len() < header {
        return Ok(None);
    }
    let size = if long {
        let mut octets = [0u8; 8];
        octets.copy_from_slice(&buf[1..9]);
        u64::from_be_bytes(octets)
    } else {
        u64::from(buf[1])
    };
    let command = flags & 0x04 != 0;
    let bound = if command { MAX_COMMAND } else { limit };
    let size = match usize::try_from(size) {
        Ok(n) if n <= bound => n,
        _ => return Err(FrameError::TooLarge { limit: bound }),
    };
    if buf.len() < header + size {
        buf.reserve((header + size - buf.len()).min(RESERVE_STEP));
        return Ok(None);
    }
    buf.advance(header);
    let body = buf.split_to(size).freeze();
    Ok(Some(if command {
        Frame::Command(body)
    } else {
        Frame::Part {
            body,
            more: flags & 0x01 != 0,
        }
    }))
}

/// Collects message parts into whole messages, holding the message size bound across parts.
#[derive(Debug, Default)]
pub struct Assembler {
    parts: Vec<Bytes>,
    size: usize,
}

impl Assembler {
    /// Adds one part; returns the message when it was the last. `limit` bounds the sum of the
    /// parts.
    pub fn push(
        &mut self,
        body: Bytes,
        more: bool,
        limit: usize,
    ) -> Result<Option<Vec<Bytes>>, FrameError> {
        self.size += body.len();
        if self.size > limit {
            return Err(FrameError::TooLarge { limit });
        }
        if self.parts.len() == MAX_PARTS {
            return Err(FrameError::TooManyParts);
        }
        self.parts.push(body);
        if more {
            return Ok(None);
        }
        self.size = 0;
        Ok(Some(std::mem::take(&mut self.parts)))
    }
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// READY (NULL mechanism) with the peer's `Socket-Type`, if it sent one.
    Ready {
        /// The `Socket-Type` property, upper-cased.
        socket_type: Option<String>,
    },
    /// PING: answer with PONG and this context.
    Ping {
        /// Up to 16 octets to echo.
        context: Bytes,
    },
    /// PONG (wampd sends no PINGs, so it is only read).
    Pong,
    /// ERROR with the peer's reason.
    Error(String),
    /// Any other command (SUBSCRIBE, CANCEL, …): ignored.
    Other(String),
}

/// Parses a command body (RFC 23 §2.5, RFC 37 §3.3).
pub fn parse_command(body: &Bytes) -> Result<Command, FrameError> {
    let (&name_len, rest) = body.split_first().ok_or(FrameError::Command("empty"))?;
    let name_len = usize::from(name_len);
    if name_len == 0 || rest.len() < name_len {
        return Err(FrameError::Command("unnamed"));
    }
    let (name, data) = rest.split_at(name_len);
    Ok(match name {
        b"READY" => Command::Ready {
            socket_type: parse_metadata(data)?
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("Socket-Type"))
                .map(|(_, v)| String::from_utf8_lossy(&v).to_ascii_uppercase()),
        },
        b"PING" => {
            if data.len() < 2 || data.len() > 18 {
                return Err(FrameError::Command("PING"));
            }
            let start = body.len() - (data.len() - 2);
            Command::Ping {
                context: body.slice(start..),
            }
        }
        b"PONG" => Command::Pong,
        b"ERROR" => {
            let (&len, reason) = data.split_first().ok_or(FrameError::Command("ERROR"))?;
            let reason = reason
                .get(..usize::from(len))
                .ok_or(FrameError::Command("ERROR"))?;
            Command::Error(String::from_utf8_lossy(reason).into_owned())
        }
        other => Command::Other(String::from_utf8_lossy(other).into_owned()),
    })
}

/// Parses READY's metadata: `name-length name value-length(4) value` repeated.
fn parse_metadata(mut data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, FrameError> {
    let mut properties = Vec::new();
    while let Some((&name_len, rest)) = data.split_first() {
        let name_len = usize::from(name_len);
        let malformed = FrameError::Command("READY");
        let name = rest.get(..name_len).ok_or(malformed.clone())?;
        let rest = &rest[name_len..];
        let len_octets: [u8; 4] = rest
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .ok_or(malformed.clone())?;
        let value_len =
            usize::try_from(u32::from_be_bytes(len_octets)).map_err(|_| malformed.clone())?;
        let value = rest.get(4..4 + value_len).ok_or(malformed)?;
        properties.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
        data = &rest[4 + value_len..];
    }
    Ok(properties)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A greeting as libzmq 4.3 sends it (version 3.1, NULL, as-server 0).
    fn libzmq_greeting() -> [u8; GREETING_LEN] {
        let mut g = [0u8; GREETING_LEN];
        g[0] = 0xFF;
        g[8] = 0x01; // libzmq puts a 1 in the last padding octet
        g[9] = 0x7F;
        g[10] = 3;
        g[11] = 1;
        g[12..16].copy_from_slice(b"NULL");
        g
    }

    #[test]
    fn our_greeting_is_zmtp_3_1_null_as_server() {
        let g = greeting();
        assert_eq!(check_greeting(&g), Ok(Greeting { major: 3, minor: 1 }));
        assert_eq!(g[32], 1);
        assert!(g[33..].iter().all(|&b| b == 0));
    }

    #[test]
    fn greetings_of_other_versions_and_mechanisms_are_refused() {
        assert!(check_greeting(&libzmq_greeting()).is_ok());
        let mut old = libzmq_greeting();
        old[10] = 1;
        assert_eq!(check_greeting(&old), Err(GreetingError::Version(1)));
        let mut curve = libzmq_greeting();
        curve[12..17].copy_from_slice(b"CURVE");
        assert_eq!(
            check_greeting(&curve),
            Err(GreetingError::Mechanism("CURVE".into()))
        );
        let mut http = [0u8; GREETING_LEN];
        http[..4].copy_from_slice(b"GET ");
        assert_eq!(check_greeting(&http), Err(GreetingError::NotZmtp));
    }

    #[test]
    fn ready_round_trips_its_socket_type() {
        let mut buf = BytesMut::from(&ready("PULL")[..]);
        let Some(Frame::Command(body)) = read_frame(&mut buf, 100).expect("frame") else {
            panic!("not a command");
        };
        assert!(buf.is_empty());
        assert_eq!(
            parse_command(&body),
            Ok(Command::Ready {
                socket_type: Some("PULL".into())
            })
        );
    }

    #[test]
    fn short_and_long_message_frames_are_read_whole() {
        let mut wire = vec![0x01, 3];
        wire.extend_from_slice(b"abc");
        wire.push(0x02);
        wire.extend_from_slice(&300u64.to_be_bytes());
        wire.extend_from_slice(&[b'x'; 300]);
        let mut buf = BytesMut::new();
        let mut assembler = Assembler::default();
        let mut messages = Vec::new();
        // Byte by byte: every prefix is "not yet", never an error.
        for &b in &wire {
            buf.extend_from_slice(&[b]);
            while let Some(frame) = read_frame(&mut buf, 1000).expect("frame") {
                let Frame::Part { body, more } = frame else {
                    panic!("command")
                };
                if let Some(m) = assembler.push(body, more, 1000).expect("part") {
                    messages.push(m);
                }
            }
        }
        assert_eq!(messages.len(), 1);
        assert_eq!(&messages[0][0][..], b"abc");
        assert_eq!(messages[0][1].len(), 300);
    }

    #[test]
    fn oversized_frames_are_refused_from_the_header() {
        let mut buf = BytesMut::from(&[0x02u8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF][..]);
        assert_eq!(
            read_frame(&mut buf, 1 << 20),
            Err(FrameError::TooLarge { limit: 1 << 20 })
        );
        let mut command = BytesMut::from(&[0x06u8, 0, 0, 0, 0, 0, 0x10, 0, 0][..]);
        assert_eq!(
            read_frame(&mut command, 1 << 30),
            Err(FrameError::TooLarge { limit: MAX_COMMAND })
        );
        let mut assembler = Assembler::default();
        assert!(assembler
            .push(Bytes::from_static(&[0; 60]), true, 100)
            .is_ok());
        assert_eq!(
            assembler.push(Bytes::from_static(&[0; 60]), false, 100),
            Err(FrameError::TooLarge { limit: 100 })
        );
    }

    #[test]
    fn reserved_flags_and_more_commands_are_refused() {
        for flags in [0x08u8, 0x05, 0x80] {
            let mut buf = BytesMut::from(&[flags, 0][..]);
            assert_eq!(read_frame(&mut buf, 100), Err(FrameError::Flags(flags)));
        }
    }

    #[test]
    fn too_many_parts_are_refused() {
        let mut assembler = Assembler::default();
        for _ in 0..MAX_PARTS {
            assert_eq!(assembler.push(Bytes::new(), true, 100), Ok(None));
        }
        assert_eq!(
            assembler.push(Bytes::new(), false, 100),
            Err(FrameError::TooManyParts)
        );
    }

    #[test]
    fn ping_is_answered_with_its_context() {
        let body = Bytes::from_static(b"\x04PING\x00\x0actx");
        assert_eq!(
            parse_command(&body),
            Ok(Command::Ping {
                context: Bytes::from_static(b"ctx")
            })
        );
        assert_eq!(pong(b"ctx"), b"\x04\x08\x04PONGctx".to_vec());
    }

    #[test]
    fn malformed_commands_are_errors_not_panics() {
        for body in [
            &b""[..],
            b"\x00",
            b"\x09READY",
            b"\x05READY\x0bSocket-Type\x00\x00",
            b"\x05READY\x0bSocket-Type\x00\x00\x00\x09PUSH",
            b"\x05ERROR",
            b"\x05ERROR\x09short",
            b"\x04PING",
        ] {
            assert!(
                parse_command(&Bytes::copy_from_slice(body)).is_err(),
                "{body:?}"
            );
        }
        assert_eq!(
            parse_command(&Bytes::from_static(b"\x05ERROR\x03bad")),
            Ok(Command::Error("bad".into()))
        );
    }
}
