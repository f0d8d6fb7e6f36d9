//! wampd's signed tickets (`?ticket=` and HELLO): verified or refused, whatever the token.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wampd_proto::ticket::verify;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = verify(b"fuzzing secret", token, 1_750_000_000, 5);
});
