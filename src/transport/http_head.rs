//! Reads a connection's first HTTP request head before anything answers it.
//!
//! WebSocket upgrades are answered here rather than through hyper because Oro's PHP backend
//! client reads the 101 response and the WAMP v1 WELCOME with a single read and fails if they
//! arrive in two writes (`oro-gos.md` §8): the upgrade response and the WELCOME must leave in one
//! write, which hyper cannot do. Everything else (health, metrics, publish) is replayed to hyper.
//! Like Ratchet, a head larger than 4096 bytes is refused with 413.

use bytes::{Bytes, BytesMut};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::Method;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest request head accepted (Ratchet's limit).
pub const MAX_HEAD: usize = 4096;

/// A parsed request head and every byte read so far.
#[derive(Debug)]
pub struct RequestHead {
    /// Request method.
    pub method: Method,
    /// The request target as sent: origin-form (`/ws?ticket=…`) or absolute-form
    /// (`ws://host:port/ws?ticket=…`, as Oro ≤ 4.2 and the Gos client send it).
    pub target: String,
    /// True for HTTP/1.1.
    pub http11: bool,
    /// Request headers.
    pub headers: HeaderMap,
    /// Length of the head within `bytes`.
    pub head_len: usize,
    /// Everything read: the head and any bytes after it.
    pub bytes: Bytes,
}

impl RequestHead {
    /// The query string of the target, if any (without `?`).
    pub fn query(&self) -> Option<&str> {
        self.target
            .split_once('?')
            .map(|(_, q)| q.split('#').next().unwrap_or(q))
    }

    /// The path of the target, without query and (for absolute-form) scheme and authority.
    pub fn path(&self) -> &str {
        let target = self.target.split(['?', '#']).next().unwrap_or("");
        match target.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => target,
        }
    }

    /// Bytes received after the head (the start of the WebSocket stream, if the client did not
    /// wait for the 101).
    pub fn rest(&self) -> Bytes {
        self.bytes.slice(self.head_len..)
    }
}

/// Why no head could be read.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// More than [`MAX_HEAD`] bytes without the end of the head.
    #[error("request head larger than {MAX_HEAD} bytes")]
    TooLarge,
    /// Not HTTP.
    #[error("malformed HTTP request: {0}")]
    Malformed(String),
    /// The peer closed before sending a whole head.
    #[error("connection closed during the request head")]
    Closed,
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads until a complete request head is buffered.
pub async fn read<S: AsyncRead + Unpin>(stream: &mut S) -> Result<RequestHead, HeadError> {
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if let Some(head) = parse_bytes(&buf)? {
            return Ok(head);
        }
        if buf.len() >= MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        buf.reserve(1024);
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(HeadError::Closed);
        }
    }
}

/// Parses a request head from bytes already read: `Ok(None)` while it is incomplete. Pure, so
/// the fuzz target `http_head` drives it directly.
pub fn parse_bytes(buf: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(HeadError::Malformed(err.to_string())),
    };
    if head_len > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let method = request
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or_else(|| HeadError::Malformed("bad method".into()))?;
    let target = request.path.unwrap_or("/").to_owned();
    let mut map = HeaderMap::new();
    for header in request.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_bytes(header.value),
        ) else {
            return Err(HeadError::Malformed(format!(
                "bad header {:?}",
                header.name
            )));
        };
        map.append(name, value);
    }
    Ok(Some(RequestHead {
        method,
        target,
        http11: request.version == Some(1),
        headers: map,
        head_len,
        bytes: Bytes::copy_from_slice(buf),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_origin_and_absolute_form_heads_and_keeps_the_rest() {
        let raw: &[u8] = b"GET ws://127.0.0.1:8080/ws?ticket=abc%3D HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: WebSocket\r\n\r\n\x81\x05";
        let mut stream = raw;
        let head = read(&mut stream).await.expect("head");
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.target, "ws://127.0.0.1:8080/ws?ticket=abc%3D");
        assert_eq!(head.query(), Some("ticket=abc%3D"));
        assert!(head.http11);
        assert_eq!(
            head.headers.get("upgrade").map(|v| v.as_bytes()),
            Some(&b"WebSocket"[..])
        );
        assert_eq!(&head.rest()[..], b"\x81\x05");
    }

    #[tokio::test]
    async fn oversized_and_garbage_heads_are_errors() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(5000));
        let mut stream = big.as_bytes();
        assert!(matches!(read(&mut stream).await, Err(HeadError::TooLarge)));
        let mut garbage: &[u8] = b"\x00\x01\x02 nonsense\r\n\r\n";
        assert!(matches!(
            read(&mut garbage).await,
            Err(HeadError::Malformed(_))
        ));
        let mut short: &[u8] = b"GET / HTTP/1.1\r\nHost";
        assert!(matches!(read(&mut short).await, Err(HeadError::Closed)));
    }
}
