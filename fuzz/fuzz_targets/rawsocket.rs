//! WAMP RawSocket: the 4-byte handshake, then frames decoded from whatever arrives, in
//! arbitrary chunks, as the server's decoder sees them with a backend's 16 MiB limit. The
//! buffer must grow with the bytes that arrived, never with a length a header announces.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use wampd::transport::rawsocket::{negotiate, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((handshake, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let _ = negotiate(*handshake, 1 << 24);
    let mut decoder = FrameDecoder { limit: 1 << 24 };
    let mut buf = BytesMut::new();
    // The first byte of the rest picks the chunk size, so partial frames are exercised too.
    let chunk = usize::from(rest.first().copied().unwrap_or(1)).max(1);
    let mut fed = 0usize;
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
        // Vec-style doubling may at most double what was needed: what arrived plus one step.
        assert!(
            buf.capacity() <= 2 * (fed + 64 * 1024) + 4096,
            "capacity {} after {fed} bytes",
            buf.capacity()
        );
    }
});
