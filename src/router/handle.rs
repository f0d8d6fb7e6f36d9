//! What the rest of the router knows about a live session: identity and its outbound queue.
//!
//! The broker stores `Arc<SessionHandle>` per subscriber, so delivering an event is a lookup-free
//! push; the session's own state machine (in `session.rs`) stays private to its connection task.

use crate::router::outbound::{self, Frame, Outbound, OutboundRx, QueueFull, QueueLimits};
use wampd_proto::wamp::{id, Id, Serializer};

/// How many wire formats a publication may be encoded in for one delivery: every WAMP v2
/// serializer, WAMP v1 and Socket.IO (see [`SessionHandle::format_index`]).
pub const FORMATS: usize = Serializer::ALL.len() + 2;

/// The shared, immutable part of an established session.
#[derive(Debug)]
pub struct SessionHandle {
    /// Global session ID, random in [1, 2^53].
    pub id: Id,
    /// Authentication ID (anonymous sessions get a generated one).
    pub authid: String,
    /// Authentication role.
    pub authrole: String,
    /// The session's wire format, deciding which encoded copy of an event it receives.
    pub serializer: Serializer,
    /// True for a WAMP v1 session: it receives `[8, topic, payload]` instead of EVENT.
    pub v1: bool,
    /// True for a Socket.IO socket: it receives `42<ns>,["event", …]` instead of EVENT.
    pub socketio: bool,
    /// `websocket`, `rawsocket`, or `http`/`internal` for the router's own publishers.
    pub transport: &'static str,
    /// The client's address, for the session meta API (empty for internal publishers).
    pub peer: String,
    /// Whether the session announced the callee feature `call_canceling` (may get INTERRUPT).
    pub interruptible: bool,
    /// Whether the session announced the callee feature `progressive_call_invocations` (may get
    /// INVOCATIONs with `progress: true`).
    pub progressive_invocations: bool,
    /// Whether the session announced, as callee, that it takes passthru payloads
    /// ([`crate::router::passthru`]): only such callees get INVOCATIONs carrying one.
    pub passthru: bool,
    /// Where frames for this session go.
    pub outbound: Outbound,
}

impl SessionHandle {
    /// A session for unit tests: `authid`, `authrole` and `serializer` as given, an outbound
    /// queue of 64 messages and 1 MiB.
    #[cfg(test)]
    pub(crate) fn for_test(
        id: Id,
        authid: &str,
        authrole: &str,
        serializer: Serializer,
    ) -> (SessionHandle, OutboundRx) {
        let (outbound, rx) = outbound::channel(
            QueueLimits {
                messages: 64,
                bytes: 1 << 20,
            },
            serializer,
        );
        let handle = SessionHandle {
            id,
            authid: authid.to_owned(),
            authrole: authrole.to_owned(),
            serializer,
            v1: false,
            socketio: false,
            transport: "test",
            peer: String::new(),
            interruptible: false,
            progressive_invocations: false,
            passthru: false,
            outbound,
        };
        (handle, rx)
    }

    /// The identity the router publishes under itself (meta events, `oro/ping`, the demo clock):
    /// authid `wampd`, role `router`, transport `internal`.
    pub fn internal() -> (SessionHandle, OutboundRx) {
        SessionHandle::publisher_only("wampd", "router", "internal")
    }

    /// An identity that only publishes and never receives (the router's own publishers, HTTP
    /// publishing): the returned receiver only keeps its one-slot queue open.
    pub fn publisher_only(
        authid: &str,
        authrole: &str,
        transport: &'static str,
    ) -> (SessionHandle, OutboundRx) {
        let (outbound, rx) = outbound::channel(
            QueueLimits {
                messages: 1,
                bytes: 1,
            },
            Serializer::Json,
        );
        let handle = SessionHandle {
            id: id::random_id(),
            authid: authid.to_owned(),
            authrole: authrole.to_owned(),
            serializer: Serializer::Json,
            v1: false,
            socketio: false,
            transport,
            peer: String::new(),
            interruptible: false,
            progressive_invocations: false,
            passthru: false,
            outbound,
        };
        (handle, rx)
    }

    /// Which of the broker's [`FORMATS`] encodings this session receives: 0 JSON, 1 MessagePack,
    /// 2 CBOR, 3 WAMP v1, 4 Socket.IO.
    pub fn format_index(&self) -> usize {
        if self.socketio {
            4
        } else if self.v1 {
            3
        } else {
            self.serializer.index()
        }
    }

    /// Queues a frame for this session; see [`Outbound::push`].
    pub fn send(&self, frame: Frame) -> Result<(), QueueFull> {
        self.outbound.push(frame)
    }
}
