//! The first HTTP request head of a connection (WebSocket upgrades, Oro's absolute-form
//! targets): parsed or refused, never a panic; the query and ticket extraction on top of it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wampd_proto::oro_ticket::ticket_from_query;
use wampd::transport::http_head;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(head)) = http_head::parse_bytes(data) {
        assert!(head.head_len <= data.len());
        if let Some(query) = head.query() {
            let _ = ticket_from_query(query);
        }
        let _ = head.rest();
    }
});
