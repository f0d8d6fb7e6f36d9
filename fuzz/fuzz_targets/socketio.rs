//! Socket.IO v5 over Engine.IO v4 as a client sends it: a polling payload split into Engine.IO
//! packets, each message read as a Socket.IO packet. An EVENT that decodes must re-encode to a
//! packet that decodes to the same event.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wampd_proto::socketio::{engineio, packet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(packets) = engineio::decode_payload(text, 64) else {
        return;
    };
    for p in packets {
        let engineio::Packet::Message(message) = p else {
            continue;
        };
        let Ok(decoded) = packet::decode(message) else {
            continue;
        };
        if let Some((name, args)) = decoded.event() {
            let encoded = packet::event(&decoded.namespace, name, args);
            let mut again = packet::decode(&encoded.text).expect("re-encoded event decodes");
            again
                .fill_attachments(&encoded.attachments)
                .expect("attachments fill");
            let (name2, args2) = again.event().expect("still an event");
            assert_eq!(name, name2);
            assert_eq!(args.len(), args2.len());
        }
    }
});
