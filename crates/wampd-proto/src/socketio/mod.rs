//! Socket.IO v5 over Engine.IO v4, as bytes: what socket.io-client 3.x/4.x and python-socketio 5
//! send and expect. [`engineio`] is the transport framing (packet types, the open handshake, the
//! polling payload); [`packet`] the Socket.IO packets inside its messages (namespaces, events,
//! acks, binary attachments); [`queue`] the python-socketio / Flask-SocketIO Redis queue's messages,
//! with [`pickle`] for the ones older emitters pickle. The server's sessions, its polling endpoint and the mapping onto
//! wampd's topics live in the `wampd` crate.

pub mod engineio;
pub mod packet;
pub mod pickle;
pub mod queue;
