//! A lean, buffered reader of server frames that can count messages without looking at them.
//!
//! This is the generator's hot path: a fan-out run delivers millions of events per second to
//! one process sharing two cores with the router. The reader reads into one large reusable
//! buffer and walks frame headers; in [`FrameReader::skim`] mode data payloads are skipped (even
//! across reads, without buffering them) and only complete messages are counted, while control
//! frames (pings to answer, a close to report) are handed out whole. [`FrameReader::next_frame`]
//! returns complete frames for the few places that decode (set-up replies, latency timestamps).
//! Nothing allocates per message.

use super::error::FrameError;
use super::framing::{FrameKind, Framing};
use super::rawsocket;
use wampd_proto::websocket as ws_frames;

/// Free space below which the buffer is compacted (or grown) before the next read.
const MIN_FREE: usize = 256;

/// A complete frame borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// What the frame is.
    pub kind: FrameKind,
    /// Its payload (a WAMP message for [`FrameKind::Data`]).
    pub payload: &'a [u8],
}

/// A frame header, normalised over both framings.
#[derive(Debug, Clone, Copy)]
struct Parsed {
    /// `None` for data frames.
    control: Option<FrameKind>,
    /// Final frame of a message (always true for RawSocket).
    fin: bool,
    /// A WebSocket continuation frame.
    continuation: bool,
    header_len: usize,
    payload_len: u64,
}

/// Reads frames of one connection out of a reusable buffer.
#[derive(Debug)]
pub struct FrameReader {
    framing: Framing,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of the current data payload still to skip (skim mode).
    skip_left: u64,
    /// Whether the payload being skipped completes a message.
    skip_counts: bool,
    /// Largest data payload [`FrameReader::next_frame`] accepts.
    max_message: usize,
}

impl FrameReader {
    /// A reader for `framing` with a `capacity`-byte buffer (grown only when a complete frame
    /// larger than it is requested) accepting messages up to `max_message` bytes.
    pub fn new(framing: Framing, capacity: usize, max_message: usize) -> Self {
        FrameReader {
            framing,
            buf: vec![0; capacity.max(2 * MIN_FREE)],
            start: 0,
            end: 0,
            skip_left: 0,
            skip_counts: false,
            max_message,
        }
    }

    /// The framing this reader parses.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Switches framing once a handshake is done (bytes already buffered stay).
    pub fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
    }

    /// Current buffer size in bytes.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Bytes received but not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Marks `n` buffered bytes as consumed (e.g. an HTTP response head).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Free space to read into, compacting or growing the buffer when little is left.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < MIN_FREE {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < MIN_FREE {
                let grown = (self.buf.len() * 2).max(self.end + MIN_FREE);
                self.buf.resize(grown, 0);
            }
        }
        self.buf.get_mut(self.end..).unwrap_or_default()
    }

    /// Records that `n` bytes were read into [`FrameReader::spare`].
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    fn parse(&self, avail: &[u8]) -> Result<Option<Parsed>, FrameError> {
        match self.framing {
            Framing::WebSocket => {
                let Some(h) = ws_frames::parse_server_header(avail)? else {
                    return Ok(None);
                };
                let control = match h.opcode {
                    ws_frames::OP_CLOSE => Some(FrameKind::Close),
                    ws_frames::OP_PING => Some(FrameKind::Ping),
                    ws_frames::OP_PONG => Some(FrameKind::Pong),
                    _ => None,
                };
                Ok(Some(Parsed {
                    control,
                    fin: h.fin,
                    continuation: h.opcode == ws_frames::OP_CONTINUATION,
                    header_len: h.header_len,
                    payload_len: h.payload_len,
                }))
            }
            Framing::RawSocket { limit } => {
                // Skimmed payloads are never buffered, so only complete frames are limited.
                let Some(h) = rawsocket::parse_header(avail, limit.max(1 << 24))? else {
                    return Ok(None);
                };
                if h.len > limit {
                    return Err(FrameError::new(format!(
                        "RawSocket frame of {} bytes exceeds our announced limit of {limit}",
                        h.len
                    )));
                }
                let control = match h.kind {
                    rawsocket::KIND_PING => Some(FrameKind::Ping),
                    rawsocket::KIND_PONG => Some(FrameKind::Pong),
                    _ => None,
                };
                Ok(Some(Parsed {
                    control,
                    fin: true,
                    continuation: false,
                    header_len: rawsocket::HEADER_LEN,
                    payload_len: h.len as u64,
                }))
            }
        }
    }

    /// The next complete frame, or `Ok(None)` when more bytes must be read first. Fragmented
    /// WebSocket messages are refused (routers send each WAMP message as one frame).
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, FrameError> {
        let Some(p) = self.parse(self.buffered())? else {
            return Ok(None);
        };
        if p.control.is_none() && (!p.fin || p.continuation) {
            return Err(FrameError::new(
                "fragmented WebSocket messages are not supported",
            ));
        }
        if p.payload_len > self.max_message as u64 {
            return Err(FrameError::new(format!(
                "a {}-byte message exceeds the {}-byte limit",
                p.payload_len, self.max_message
            )));
        }
        // Bounded by max_message above, so this fits in usize.
        let total = p.header_len + p.payload_len as usize;
        if self.end - self.start < total {
            return Ok(None);
        }
        let from = self.start + p.header_len;
        let to = self.start + total;
        self.start = to;
        Ok(Some(Frame {
            kind: p.control.unwrap_or(FrameKind::Data),
            payload: self.buf.get(from..to).unwrap_or_default(),
        }))
    }

    /// Consumes everything buffered: counts complete data messages without looking at their
    /// payloads (skipping the rest of a payload on later calls) and hands each complete control
    /// frame to `on_control`. A one-byte data message `2` (Engine.IO's ping, which a Socket.IO
    /// client must answer) goes to `on_control` as `Data` instead of being counted. Returns the
    /// number of messages completed by this call.
    pub fn skim<F>(&mut self, mut on_control: F) -> Result<u64, FrameError>
    where
        F: FnMut(FrameKind, &[u8]),
    {
        let mut messages = 0;
        loop {
            if self.skip_left > 0 {
                let avail = (self.end - self.start) as u64;
                let n = self.skip_left.min(avail);
                // n <= avail, which is a usize.
                self.start += n as usize;
                self.skip_left -= n;
                if self.skip_left > 0 {
                    break;
                }
                if self.skip_counts {
                    messages += 1;
                }
                continue;
            }
            let Some(p) = self.parse(self.buffered())? else {
                break;
            };
            match p.control {
                None if p.fin && p.payload_len == 1 && self.end - self.start > p.header_len => {
                    let byte = self.buf.get(self.start + p.header_len).copied();
                    self.start += p.header_len + 1;
                    if byte == Some(b'2') {
                        on_control(FrameKind::Data, b"2");
                    } else {
                        messages += 1;
                    }
                }
                None => {
                    self.start += p.header_len;
                    if p.payload_len == 0 {
                        if p.fin {
                            messages += 1;
                        }
                    } else {
                        self.skip_left = p.payload_len;
                        self.skip_counts = p.fin;
                    }
                }
                Some(kind) => {
                    // Control payloads are small (WebSocket <= 125 bytes); RawSocket pings are
                    // bounded by our announced limit. Wait until the whole frame is here.
                    let total = p.header_len + p.payload_len as usize;
                    if self.end - self.start < total {
                        break;
                    }
                    let from = self.start + p.header_len;
                    let to = self.start + total;
                    self.start = to;
                    on_control(kind, self.buf.get(from..to).unwrap_or_default());
                }
            }
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(out: &mut Vec<u8>, b0: u8, payload: &[u8]) {
        out.push(b0);
        let len = payload.len();
        if len < 126 {
            out.push(len as u8);
        } else if len <= 0xFFFF {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(payload);
    }

    /// A stream with short, 16-bit and 64-bit lengths, an empty message, a ping and a
    /// fragmented message (two frames, one message).
    fn sample_stream() -> (Vec<u8>, u64) {
        let mut s = Vec::new();
        server_frame(&mut s, 0x81, b"[36,1,2,{},[\"hello\"]]");
        server_frame(&mut s, 0x82, &[7u8; 300]);
        server_frame(&mut s, 0x89, b"ping!");
        server_frame(&mut s, 0x82, &[9u8; 70_000]);
        server_frame(&mut s, 0x81, b"");
        server_frame(&mut s, 0x01, b"[36,1,");
        server_frame(&mut s, 0x80, b"2,{}]");
        server_frame(&mut s, 0x8A, b"");
        (s, 5)
    }

    fn skim_in_chunks(stream: &[u8], chunk: usize, capacity: usize) -> (u64, Vec<Vec<u8>>, usize) {
        let mut reader = FrameReader::new(Framing::WebSocket, capacity, 1 << 20);
        let mut pings = Vec::new();
        let mut count = 0;
        let mut pos = 0;
        while pos < stream.len() {
            let spare = reader.spare();
            let n = chunk.min(spare.len()).min(stream.len() - pos);
            spare[..n].copy_from_slice(&stream[pos..pos + n]);
            reader.commit(n);
            pos += n;
            count += reader
                .skim(|kind, payload| {
                    if kind == FrameKind::Ping {
                        pings.push(payload.to_vec());
                    }
                })
                .unwrap();
        }
        assert!(reader.buffered().is_empty());
        (count, pings, reader.capacity())
    }

    #[test]
    fn skim_counts_messages_across_every_split() {
        let (stream, expected) = sample_stream();
        for chunk in [1, 2, 3, 5, 9, 13, 100, 1000, 4096, 100_000] {
            let (count, pings, capacity) = skim_in_chunks(&stream, chunk, 1024);
            assert_eq!(count, expected, "chunk {chunk}");
            assert_eq!(pings, vec![b"ping!".to_vec()], "chunk {chunk}");
            // Skipped payloads are never buffered: the buffer did not grow.
            assert_eq!(capacity, 1024, "chunk {chunk}");
        }
    }

    #[test]
    fn next_frame_returns_whole_payloads_across_reads() {
        let mut s = Vec::new();
        server_frame(&mut s, 0x81, b"[2,1,{}]");
        server_frame(&mut s, 0x82, &[5u8; 300]);
        server_frame(&mut s, 0x89, b"p");
        server_frame(&mut s, 0x82, &[6u8; 70_000]);
        server_frame(&mut s, 0x88, &1000u16.to_be_bytes());
        for chunk in [1, 7, 512, 100_000] {
            let mut reader = FrameReader::new(Framing::WebSocket, 512, 1 << 20);
            let mut got: Vec<(FrameKind, Vec<u8>)> = Vec::new();
            let mut pos = 0;
            while pos < s.len() {
                let spare = reader.spare();
                let n = chunk.min(spare.len()).min(s.len() - pos);
                spare[..n].copy_from_slice(&s[pos..pos + n]);
                reader.commit(n);
                pos += n;
                while let Some(f) = reader.next_frame().unwrap() {
                    got.push((f.kind, f.payload.to_vec()));
                }
            }
            assert_eq!(got.len(), 5, "chunk {chunk}");
            assert_eq!(got[0], (FrameKind::Data, b"[2,1,{}]".to_vec()));
            assert_eq!(got[1], (FrameKind::Data, vec![5u8; 300]));
            assert_eq!(got[2], (FrameKind::Ping, b"p".to_vec()));
            assert_eq!(got[3], (FrameKind::Data, vec![6u8; 70_000]));
            assert_eq!(got[4].0, FrameKind::Close);
        }
    }

    #[test]
    fn next_frame_limits_and_fragments() {
        let mut reader = FrameReader::new(Framing::WebSocket, 512, 100);
        let mut s = Vec::new();
        server_frame(&mut s, 0x82, &[0u8; 101]);
        reader.spare()[..s.len().min(300)].copy_from_slice(&s[..s.len().min(300)]);
        reader.commit(s.len().min(300));
        assert!(reader.next_frame().is_err());

        let mut reader = FrameReader::new(Framing::WebSocket, 512, 100);
        reader.spare()[..3].copy_from_slice(&[0x01, 0x01, b'x']);
        reader.commit(3);
        assert!(reader.next_frame().is_err());
    }

    #[test]
    fn rawsocket_frames_skim_and_read() {
        let mut s = Vec::new();
        for (kind, payload) in [
            (rawsocket::KIND_MESSAGE, &b"[36,1,2,{}]"[..]),
            (rawsocket::KIND_PING, &b"12345678"[..]),
            (rawsocket::KIND_MESSAGE, &[1u8; 5000][..]),
            (rawsocket::KIND_PONG, &b""[..]),
            (rawsocket::KIND_MESSAGE, &b""[..]),
        ] {
            rawsocket::write_frame(&mut s, kind, payload).unwrap();
        }
        let framing = Framing::RawSocket { limit: 1 << 16 };
        for chunk in [1, 3, 4, 6, 1000, 10_000] {
            let mut reader = FrameReader::new(framing, 512, 1 << 16);
            let mut count = 0;
            let mut pings = Vec::new();
            let mut pos = 0;
            while pos < s.len() {
                let spare = reader.spare();
                let n = chunk.min(spare.len()).min(s.len() - pos);
                spare[..n].copy_from_slice(&s[pos..pos + n]);
                reader.commit(n);
                pos += n;
                count += reader
                    .skim(|kind, p| {
                        if kind == FrameKind::Ping {
                            pings.push(p.to_vec())
                        }
                    })
                    .unwrap();
            }
            assert_eq!(count, 3, "chunk {chunk}");
            assert_eq!(pings, vec![b"12345678".to_vec()]);
        }
        let mut reader = FrameReader::new(framing, 512, 1 << 16);
        let n = s.len();
        let mut got = Vec::new();
        let mut pos = 0;
        while pos < n {
            let spare = reader.spare();
            let k = spare.len().min(n - pos);
            spare[..k].copy_from_slice(&s[pos..pos + k]);
            reader.commit(k);
            pos += k;
            while let Some(f) = reader.next_frame().unwrap() {
                got.push((f.kind, f.payload.len()));
            }
        }
        assert_eq!(
            got,
            vec![
                (FrameKind::Data, 11),
                (FrameKind::Ping, 8),
                (FrameKind::Data, 5000),
                (FrameKind::Pong, 0),
                (FrameKind::Data, 0)
            ]
        );
        // A frame above our announced limit fails the connection.
        let mut reader = FrameReader::new(Framing::RawSocket { limit: 512 }, 512, 1 << 16);
        reader.spare()[..4].copy_from_slice(&[0, 0, 2, 1]);
        reader.commit(4);
        assert!(reader.next_frame().is_err());
        assert!(reader.skim(|_, _| {}).is_err());
    }

    #[test]
    fn consume_and_buffered() {
        let mut reader = FrameReader::new(Framing::WebSocket, 512, 1024);
        reader.spare()[..6].copy_from_slice(b"ab\r\n\x81\x00");
        reader.commit(6);
        assert_eq!(reader.buffered(), b"ab\r\n\x81\x00");
        reader.consume(4);
        assert_eq!(reader.skim(|_, _| {}).unwrap(), 1);
        assert!(reader.buffered().is_empty());
        reader.consume(10);
        assert!(reader.buffered().is_empty());
    }
}
