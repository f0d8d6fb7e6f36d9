//! Oro tickets and the query strings that carry them: base64, the `username,nonce,created,
//! digest` fields, PHP's date formats, PHP's parse_str.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wampd_proto::dsn::php_parse_str;
use wampd_proto::oro_ticket::{parse_created, ticket_from_query, ParsedTicket, TicketCheck};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = php_parse_str(text);
    let _ = parse_created(text);
    let raw = ticket_from_query(text).unwrap_or_else(|| text.to_owned());
    if let Ok(ticket) = ParsedTicket::parse(&raw) {
        let _ = ticket.check_time(1_750_000_000, &TicketCheck::default());
        let _ = ticket.username();
        let _ = ticket.is_anonymous();
    }
});
