//! WAMP v2 CBOR: any bytes a client sends decode to a message or a typed error, and whatever
//! decodes re-encodes to something that decodes again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wampd_proto::wamp::{codec, Serializer};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = codec::decode(Serializer::Cbor, data) {
        let again = codec::encode(Serializer::Cbor, &message);
        assert!(codec::decode(Serializer::Cbor, &again).is_ok());
    }
});
