//! Messages from the python-socketio / Flask-SocketIO Redis queue: JSON or pickle, whatever an
//! emitter (or anyone who can PUBLISH to the Redis) sends. A pickle must never expand beyond the
//! reader's budget, whatever its references say.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wampd_proto::socketio::{pickle, queue};

fuzz_target!(|data: &[u8]| {
    let _ = queue::decode(data);
    let _ = pickle::decode(data);
});
