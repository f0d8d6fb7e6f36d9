//! WAMP v1 (Ratchet / autobahn 0.8 / Oro's PHP client): every client message decodes or is
//! refused with a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wampd_proto::wamp::v1;

fuzz_target!(|data: &[u8]| {
    let _ = v1::decode_client(data);
});
