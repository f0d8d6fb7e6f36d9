//! ZMTP 3.x as the ZeroMQ PULL socket reads it: a greeting check, then frames decoded from
//! whatever arrives, in arbitrary chunks, with a backend's 16 MiB message limit, each command
//! parsed and each message assembled. The buffer must grow with the bytes that arrived, never
//! with a length a header announces.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use wampd_proto::zmtp::{self, Assembler, Frame};

fuzz_target!(|data: &[u8]| {
    let Some((greeting, rest)) = data.split_first_chunk::<{ zmtp::GREETING_LEN }>() else {
        return;
    };
    let _ = zmtp::check_greeting(greeting);
    let limit = 1 << 24;
    let mut buf = BytesMut::new();
    let mut assembler = Assembler::default();
    // The first byte of the rest picks the chunk size, so partial frames are exercised too.
    let chunk = usize::from(rest.first().copied().unwrap_or(1)).max(1);
    let mut fed = 0usize;
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            match zmtp::read_frame(&mut buf, limit) {
                Ok(Some(Frame::Command(body))) => {
                    let _ = zmtp::parse_command(&body);
                }
                Ok(Some(Frame::Part { body, more })) => {
                    if assembler.push(body, more, limit).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(
            buf.capacity() <= 2 * (fed + zmtp::RESERVE_STEP) + 4096,
            "capacity {} after {fed} bytes",
            buf.capacity()
        );
    }
});
