//! Engine.IO protocol 4 (the transport under Socket.IO v5, socket.io-client 3.x and 4.x), as
//! bytes: the packet types, the open handshake, and the HTTP long-polling payload in which
//! packets are joined by the record separator `\x1e`.
//!
//! A text packet is its type digit followed by its data (`4hello` is a message, `2probe` the
//! upgrade probe). Over WebSocket each frame is one packet and a binary frame is a binary message
//! as it is; over polling a binary message is `b` followed by its base64.

use base64::Engine as _;

/// Packets of one polling payload are separated by this character.
pub const SEPARATOR: char = '\u{1e}';

/// An Engine.IO packet received from a client (the server never receives OPEN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `1`: the client closes the session.
    Close,
    /// `2…`: only clients probing an upgrade send it (`2probe`); answered with PONG.
    Ping(&'a str),
    /// `3`: the answer to the server's ping.
    Pong(&'a str),
    /// `4…`: a text message (a Socket.IO packet).
    Message(&'a str),
    /// A binary message (a Socket.IO attachment).
    Binary(Vec<u8>),
    /// `5`: the client switches to the WebSocket it probed.
    Upgrade,
    /// `6`: nothing.
    Noop,
}

/// Why a packet could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// An empty packet.
    #[error("empty Engine.IO packet")]
    Empty,
    /// An unknown type digit (or OPEN, which only servers send).
    #[error("unknown Engine.IO packet type {0:?}")]
    Type(char),
    /// A `b…` polling packet whose base64 is broken.
    #[error("invalid base64 in a binary packet")]
    Base64,
}

/// Reads one text packet (a WebSocket text frame, or one packet of a polling payload).
pub fn decode(text: &str) -> Result<Packet<'_>, PacketError> {
    let mut chars = text.chars();
    let kind = chars.next().ok_or(PacketError::Empty)?;
    let data = chars.as_str();
    Ok(match kind {
        '1' => Packet::Close,
        '2' => Packet::Ping(data),
        '3' => Packet::Pong(data),
        '4' => Packet::Message(data),
        '5' => Packet::Upgrade,
        '6' => Packet::Noop,
        'b' => Packet::Binary(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|_| PacketError::Base64)?,
        ),
        other => return Err(PacketError::Type(other)),
    })
}

/// The packets of a polling POST body, at most `max` of them (`Err` on the first bad one, or when
/// there are more).
pub fn decode_payload(body: &str, max: usize) -> Result<Vec<Packet<'_>>, PacketError> {
    let mut packets = Vec::new();
    for (i, part) in body.split(SEPARATOR).enumerate() {
        if i == max {
            return Err(PacketError::Type(SEPARATOR));
        }
        packets.push(decode(part)?);
    }
    Ok(packets)
}

/// The OPEN packet's JSON: the session id, the transports it may upgrade to, the heartbeat
/// (milliseconds) and the largest payload the server accepts.
pub fn open(
    sid: &str,
    upgrades: &[&str],
    ping_interval_ms: u64,
    ping_timeout_ms: u64,
    max_payload: usize,
) -> String {
    let value = serde_json::json!({
        "sid": sid,
        "upgrades": upgrades,
        "pingInterval": ping_interval_ms,
        "pingTimeout": ping_timeout_ms,
        "maxPayload": max_payload,
    });
    format!("0{value}")
}

/// The server's PING.
pub const PING: &str = "2";
/// The answer to the upgrade probe.
pub const PONG_PROBE: &str = "3probe";
/// NOOP, which ends a pending poll when the client upgrades.
pub const NOOP: &str = "6";
/// CLOSE.
pub const CLOSE: &str = "1";

/// A text message packet: `4` + `message`.
pub fn message(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 1);
    out.push('4');
    out.push_str(message);
    out
}

/// A binary message as a polling packet: `b` + base64.
pub fn binary_for_polling(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 4);
    out.push('b');
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut out);
    out
}

/// An Engine.IO error answer to an HTTP request: the `code` and `message` python-engineio and
/// the Node server send (`{"code":1,"message":"Session ID unknown"}`).
pub fn error_body(code: u8, message: &str) -> String {
    serde_json::json!({ "code": code, "message": message }).to_string()
}

/// Engine.IO's error codes.
pub mod error_code {
    /// Unknown transport.
    pub const TRANSPORT_UNKNOWN: u8 = 0;
    /// Unknown session id.
    pub const UNKNOWN_SID: u8 = 1;
    /// Bad handshake method.
    pub const BAD_HANDSHAKE_METHOD: u8 = 2;
    /// Bad request.
    pub const BAD_REQUEST: u8 = 3;
    /// Forbidden.
    pub const FORBIDDEN: u8 = 4;
    /// Unsupported protocol version.
    pub const UNSUPPORTED_PROTOCOL_VERSION: u8 = 5;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_a_type_digit_and_their_data() {
        assert_eq!(decode("2probe"), Ok(Packet::Ping("probe")));
        assert_eq!(decode("3"), Ok(Packet::Pong("")));
        assert_eq!(decode("42[\"a\"]"), Ok(Packet::Message("2[\"a\"]")));
        assert_eq!(decode("5"), Ok(Packet::Upgrade));
        assert_eq!(decode("6"), Ok(Packet::Noop));
        assert_eq!(decode("1"), Ok(Packet::Close));
        assert_eq!(decode("bAQI="), Ok(Packet::Binary(vec![1, 2])));
        assert_eq!(decode(""), Err(PacketError::Empty));
        assert_eq!(decode("0{}"), Err(PacketError::Type('0')));
        assert_eq!(decode("b!!"), Err(PacketError::Base64));
        assert_eq!(decode("é"), Err(PacketError::Type('é')));
    }

    #[test]
    fn polling_payloads_split_on_the_record_separator_within_a_bound() {
        let body = "4hello\u{1e}2\u{1e}bAQI=";
        assert_eq!(
            decode_payload(body, 10),
            Ok(vec![
                Packet::Message("hello"),
                Packet::Ping(""),
                Packet::Binary(vec![1, 2])
            ])
        );
        assert!(decode_payload(body, 2).is_err());
        assert_eq!(binary_for_polling(&[1, 2]), "bAQI=");
    }

    #[test]
    fn the_open_packet_is_what_socket_io_clients_expect() {
        let open = open("abc", &["websocket"], 25_000, 20_000, 1_000_000);
        assert!(open.starts_with("0{"));
        let json: serde_json::Value = serde_json::from_str(&open[1..]).expect("JSON");
        assert_eq!(json["sid"], "abc");
        assert_eq!(json["upgrades"][0], "websocket");
        assert_eq!(json["pingInterval"], 25_000);
        assert_eq!(json["pingTimeout"], 20_000);
        assert_eq!(json["maxPayload"], 1_000_000);
    }
}
