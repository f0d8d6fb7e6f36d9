//! `POST /publish` bodies: one item or a batch, parsed or refused with a 4xx status.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wampd::transport::http_publish::check_body;

fuzz_target!(|data: &[u8]| {
    if let Err(status) = check_body(data) {
        assert!((400..500).contains(&status), "{status}");
    }
});
