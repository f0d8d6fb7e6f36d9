//! WAMP RawSocket: the 4-byte handshake, then frames decoded from whatever arrives, in
//! arbitrary chunks, as the server's decoder sees them.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use wampd::transport::rawsocket::{negotiate, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((handshake, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let _ = negotiate(*handshake, 1 << 20);
    let mut decoder = FrameDecoder { limit: 1 << 16 };
    let mut buf = BytesMut::new();
    // The first byte of the rest picks the chunk size, so partial frames are exercised too.
    let chunk = usize::from(rest.first().copied().unwrap_or(1)).max(1);
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(buf.capacity() <= 2 * (1 << 16) + 64 * 1024 + 4096);
    }
});
