//! The client side of the WebSocket opening handshake (RFC 6455 §4.1), by hand.
//!
//! The generator opens tens of thousands of connections and then reads them with its own
//! frame reader, so it writes the HTTP upgrade request itself and parses just enough of the
//! response: the status, `Sec-WebSocket-Accept` and the negotiated subprotocol. Bytes the
//! router sends right after the response head stay in the reader's buffer.

use base64::Engine;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Longest response head accepted.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, Base64-encoded.
pub fn new_key() -> String {
    let raw: [u8; 16] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The upgrade request for `path` on `host` (the `Host` header value) offering `subprotocol`
/// (none for Engine.IO, which has no subprotocol).
pub fn request(host: &str, path: &str, subprotocol: Option<&str>, key: &str) -> String {
    let protocol = subprotocol
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         {protocol}User-Agent: wampd-bench\r\n\r\n"
    )
}

/// Length of the response head including the final blank line, once it is complete in `buf`.
pub fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Checks a complete response head: status 101, the accept key derived from `key`, and
/// `subprotocol` as the negotiated protocol. The error names what was wrong (for a refusal, the
/// status line).
pub fn check_response(head: &[u8], key: &str, subprotocol: Option<&str>) -> Result<(), String> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP response: {status_line:?}"));
    }
    if status != "101" {
        return Err(format!(
            "the server answered {status_line:?} instead of 101"
        ));
    }
    let mut accept = None;
    let mut protocol = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("sec-websocket-accept") {
            accept = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            protocol = Some(value.to_owned());
        }
    }
    let expected = derive_accept_key(key.as_bytes());
    if accept.as_deref() != Some(expected.as_str()) {
        return Err(format!(
            "wrong Sec-WebSocket-Accept {accept:?} (expected {expected:?})"
        ));
    }
    if protocol.as_deref() != subprotocol {
        return Err(format!(
            "the server negotiated subprotocol {protocol:?}, not {subprotocol:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn request_shape() {
        let r = request("127.0.0.1:8080", "/ws", Some("wamp.2.json"), KEY);
        assert!(r.starts_with("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(r.contains("Sec-WebSocket-Protocol: wamp.2.json\r\n"));
        assert!(r.contains(&format!("Sec-WebSocket-Key: {KEY}\r\n")));
        assert!(r.ends_with("\r\n\r\n"));
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(new_key())
                .unwrap()
                .len(),
            16
        );
    }

    #[test]
    fn responses() {
        let good =
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
                    sec-websocket-protocol: wamp.2.json\r\n\
                    sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x00";
        let n = head_len(good).unwrap();
        assert_eq!(&good[n..], b"\x81\x00");
        assert_eq!(check_response(&good[..n], KEY, Some("wamp.2.json")), Ok(()));
        assert!(check_response(&good[..n], KEY, Some("wamp.2.msgpack")).is_err());
        assert!(
            check_response(&good[..n], "AAAAAAAAAAAAAAAAAAAAAA==", Some("wamp.2.json")).is_err()
        );
        let refused = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
        let err = check_response(refused, KEY, Some("wamp.2.json")).unwrap_err();
        assert!(err.contains("503"), "{err}");
        assert!(check_response(b"\x7F\xF1\x00\x00\r\n\r\n", KEY, Some("wamp.2.json")).is_err());
        assert_eq!(head_len(b"HTTP/1.1 101\r\n"), None);
    }
}
