//! WAMP v2 MessagePack: any bytes a client sends decode to a message or a typed error, and whatever
//! decodes re-encodes to something that decodes again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wampd_proto::wamp::{codec, Serializer};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = codec::decode(Serializer::MsgPack, data) {
        let again = codec::encode(Serializer::MsgPack, &message);
        assert!(codec::decode(Serializer::MsgPack, &again).is_ok());
    }
});
