//! Socket.IO on wampd's broker: browsers running socket.io-client (and python-socketio clients)
//! connect to `/socket.io/` and meet WAMP sessions, `POST /publish` and the Flask-SocketIO queue on
//! the same topics.
//!
//! The wire format (Engine.IO v4 packets, Socket.IO v5 packets) is `wampd_proto::socketio`'s;
//! here are the topic [`mapping`] and the [`session`], a third kind of session beside WAMP v2
//! and v1 that joins the realm, subscribes with prefix subscriptions for its namespaces and rooms,
//! and receives events the broker encodes once per subscription as `42<ns>,["event", …]`. The
//! transport side (the WebSocket at `/socket.io/?EIO=4&transport=websocket`) is
//! `transport::socketio`; it uses the same admission, outbound queues, slow-consumer policy and
//! metrics as WAMP connections. Why not socketioxide: it keeps its own socket registry, buffers and
//! room adapter beside the broker, so an event would be encoded and queued twice over, outside the
//! bounded queues and the slow-consumer policies (`docs/protocol.md`).

pub mod mapping;
pub mod queue_consumer;
pub mod registry;
pub mod room_secrets;
pub mod session;
pub mod ws_emit;
