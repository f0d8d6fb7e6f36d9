//! PUBLISH messages encoded once and patched in place, and the send timestamp they carry.
//!
//! Encoding a message per publish through the generic codec costs allocations and a tree walk;
//! at full speed the generator instead encodes one PUBLISH per run with a fixed-width request ID
//! and a fixed-width timestamp field, then overwrites those bytes for each publish. The
//! timestamp is the last thing in the event the router forwards (`...@ts=<20 digits>` at the end
//! of the only argument), so a subscriber finds it at a fixed distance from the end of the
//! frame without decoding the message.

use wampd_proto::wamp::{codec, Dict, Message, Serializer, Value};

/// Marker that precedes the timestamp digits in the payload string.
pub const TS_MARKER: &[u8; 4] = b"@ts=";
/// Number of decimal digits of the timestamp (enough for any `u64`).
pub const TS_DIGITS: usize = 20;
/// Marker plus digits: the smallest payload a template carries.
pub const TS_FIELD: usize = TS_MARKER.len() + TS_DIGITS;

/// First request ID a template uses. IDs stay in `[FIRST_REQUEST, LAST_REQUEST)` so they have
/// the same width in both encodings (10 JSON digits, a MessagePack uint32).
pub const FIRST_REQUEST: u64 = 1_000_000_000;
/// End (exclusive) of the request ID range; IDs wrap back to [`FIRST_REQUEST`].
pub const LAST_REQUEST: u64 = 4_000_000_000;

/// The next request ID after `id`, wrapping inside the fixed-width range.
pub fn next_request(id: u64) -> u64 {
    if id + 1 >= LAST_REQUEST || id < FIRST_REQUEST {
        FIRST_REQUEST
    } else {
        id + 1
    }
}

/// A pre-encoded PUBLISH whose request ID and timestamp can be overwritten.
#[derive(Debug, Clone)]
pub struct PublishTemplate {
    message: Vec<u8>,
    serializer: Serializer,
    id_at: usize,
    ts_at: usize,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

impl PublishTemplate {
    /// A PUBLISH to `topic` whose single argument is a string of `payload_bytes` bytes (at
    /// least [`TS_FIELD`]), with `acknowledge: true` in its options if asked.
    pub fn new(
        serializer: Serializer,
        topic: &str,
        payload_bytes: usize,
        acknowledge: bool,
    ) -> Self {
        let len = payload_bytes.max(TS_FIELD);
        let mut text = "x".repeat(len - TS_FIELD);
        text.push_str("@ts=");
        text.push_str(&"0".repeat(TS_DIGITS));
        let mut options = Dict::new();
        if acknowledge {
            options.insert("acknowledge".into(), Value::Bool(true));
        }
        let message = codec::encode(
            serializer,
            &Message::Publish {
                request: FIRST_REQUEST,
                options,
                topic: topic.to_owned(),
                args: vec![Value::Str(text)],
                kwargs: Dict::new(),
            },
        )
        .to_vec();
        // The request ID is the first field after the code, before the topic.
        let id_at = match serializer {
            Serializer::Json => find(&message, b"1000000000"),
            Serializer::MsgPack => find(&message, &[0xce, 0x3b, 0x9a, 0xca, 0x00]).map(|i| i + 1),
            Serializer::Cbor => find(&message, &[0x1a, 0x3b, 0x9a, 0xca, 0x00]).map(|i| i + 1),
        }
        .unwrap_or(0);
        let ts_at = rfind(&message, TS_MARKER)
            .map(|i| i + TS_MARKER.len())
            .unwrap_or(0);
        PublishTemplate {
            message,
            serializer,
            id_at,
            ts_at,
        }
    }

    /// The encoded message with `request` (in the fixed-width range) and `timestamp` written in.
    pub fn render(&mut self, request: u64, timestamp: u64) -> &[u8] {
        match self.serializer {
            Serializer::Json => {
                if let Some(field) = self.message.get_mut(self.id_at..self.id_at + 10) {
                    write_digits(field, request);
                }
            }
            // Both write the ID as a 32-bit big-endian integer after a one-byte marker.
            Serializer::MsgPack | Serializer::Cbor => {
                if let (Some(field), Ok(id)) = (
                    self.message.get_mut(self.id_at..self.id_at + 4),
                    u32::try_from(request),
                ) {
                    field.copy_from_slice(&id.to_be_bytes());
                }
            }
        }
        if let Some(field) = self.message.get_mut(self.ts_at..self.ts_at + TS_DIGITS) {
            write_digits(field, timestamp);
        }
        &self.message
    }

    /// Length of the encoded message.
    pub fn len(&self) -> usize {
        self.message.len()
    }

    /// Always false (a PUBLISH is never empty); present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.message.is_empty()
    }
}

/// Writes `value` as zero-padded decimal digits filling `field` (high digits dropped if any).
pub fn write_digits(field: &mut [u8], mut value: u64) {
    for b in field.iter_mut().rev() {
        *b = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

fn parse_digits(field: &[u8]) -> Option<u64> {
    field.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The timestamp an EVENT built from a [`PublishTemplate`] carries, found at the end of the
/// message (JSON ends with `"]]`), or anywhere as a fallback; `None` if there is none.
pub fn extract_timestamp(serializer: Serializer, message: &[u8]) -> Option<u64> {
    let tail = match serializer {
        Serializer::Json => message.strip_suffix(b"\"]]"),
        Serializer::MsgPack | Serializer::Cbor => Some(message),
    };
    if let Some(tail) = tail {
        if tail.len() >= TS_FIELD {
            let field = tail.get(tail.len() - TS_FIELD..).unwrap_or_default();
            if field.starts_with(TS_MARKER) {
                if let Some(ts) = field.get(TS_MARKER.len()..).and_then(parse_digits) {
                    return Some(ts);
                }
            }
        }
    }
    let at = rfind(message, TS_MARKER)? + TS_MARKER.len();
    message.get(at..at + TS_DIGITS).and_then(parse_digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_from(serializer: Serializer, publish: &[u8], details: Dict) -> Vec<u8> {
        let Ok(Message::Publish { args, kwargs, .. }) = codec::decode(serializer, publish) else {
            panic!("not a PUBLISH");
        };
        codec::encode(
            serializer,
            &Message::Event {
                subscription: 5_512_315_355,
                publication: 4_429_313_566,
                details,
                args,
                kwargs,
            },
        )
        .to_vec()
    }

    #[test]
    fn rendered_publishes_decode_and_carry_the_timestamp() {
        for serializer in Serializer::ALL {
            for (payload, ack) in [(100, false), (100, true), (10, false), (1000, true)] {
                let mut t = PublishTemplate::new(serializer, "bench.topic", payload, ack);
                let mut request = FIRST_REQUEST;
                for ts in [0u64, 1, 123_456_789, u64::MAX] {
                    request = next_request(request);
                    let bytes = t.render(request, ts).to_vec();
                    let Ok(Message::Publish {
                        request: r,
                        options,
                        topic,
                        args,
                        ..
                    }) = codec::decode(serializer, &bytes)
                    else {
                        panic!("{serializer:?}: not a PUBLISH");
                    };
                    assert_eq!(r, request);
                    assert_eq!(topic, "bench.topic");
                    assert_eq!(options.contains_key("acknowledge"), ack);
                    let text = args[0].as_str().unwrap();
                    assert_eq!(text.len(), payload.max(TS_FIELD));
                    let event = event_from(serializer, &bytes, Dict::new());
                    assert_eq!(extract_timestamp(serializer, &event), Some(ts));
                    // With details the router may add, the fallback still finds it.
                    let mut details = Dict::new();
                    details.insert("topic".into(), Value::from("bench.topic"));
                    let event = event_from(serializer, &bytes, details);
                    assert_eq!(extract_timestamp(serializer, &event), Some(ts));
                }
            }
        }
    }

    #[test]
    fn request_ids_wrap_in_range() {
        assert_eq!(next_request(0), FIRST_REQUEST);
        assert_eq!(next_request(FIRST_REQUEST), FIRST_REQUEST + 1);
        assert_eq!(next_request(LAST_REQUEST - 1), FIRST_REQUEST);
        let mut t = PublishTemplate::new(Serializer::MsgPack, "t", 30, false);
        let bytes = t.render(LAST_REQUEST - 1, 7).to_vec();
        assert!(matches!(
            codec::decode(Serializer::MsgPack, &bytes),
            Ok(Message::Publish { request, .. }) if request == LAST_REQUEST - 1
        ));
    }

    #[test]
    fn timestamps_are_not_invented() {
        assert_eq!(extract_timestamp(Serializer::Json, b"[36,1,2,{}]"), None);
        assert_eq!(
            extract_timestamp(
                Serializer::Json,
                b"[36,1,2,{},[\"@ts=0000000000000000000x\"]]"
            ),
            None
        );
        assert_eq!(extract_timestamp(Serializer::MsgPack, b"@ts="), None);
        let mut field = [0u8; 5];
        write_digits(&mut field, 42);
        assert_eq!(&field, b"00042");
    }
}
