//! DSNs (`WEBSOCKET_SERVER_DSN` and friends), parsed as PHP's parse_url would.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wampd_proto::dsn::{mask_dsn_text, php_parse_url, Dsn};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = php_parse_url(text);
    let _ = mask_dsn_text(text);
    if let Ok(dsn) = Dsn::parse(text) {
        let _ = dsn.socket_addr_string();
        let _ = dsn.display_masked();
    }
});
