//! The meta events (`wamp.session.on_join`, `wamp.subscription.on_create`, …): their topics and
//! the details they carry. The realm publishes them as things happen; nothing here knows the
//! realm, so the realm can depend on it.

use crate::router::handle::SessionHandle;
use wampd_proto::wamp::{Dict, Id, MatchPolicy, Value};

/// Session joined / left.
pub const ON_JOIN: &str = "wamp.session.on_join";
/// See [`ON_JOIN`].
pub const ON_LEAVE: &str = "wamp.session.on_leave";
/// A subscription was created.
pub const SUB_ON_CREATE: &str = "wamp.subscription.on_create";
/// A session subscribed.
pub const SUB_ON_SUBSCRIBE: &str = "wamp.subscription.on_subscribe";
/// A session unsubscribed.
pub const SUB_ON_UNSUBSCRIBE: &str = "wamp.subscription.on_unsubscribe";
/// A subscription was deleted.
pub const SUB_ON_DELETE: &str = "wamp.subscription.on_delete";
/// A registration was created.
pub const REG_ON_CREATE: &str = "wamp.registration.on_create";
/// A session registered.
pub const REG_ON_REGISTER: &str = "wamp.registration.on_register";
/// A session unregistered.
pub const REG_ON_UNREGISTER: &str = "wamp.registration.on_unregister";
/// A registration was deleted.
pub const REG_ON_DELETE: &str = "wamp.registration.on_delete";

/// The details `wamp.session.get` and `on_join` report. The client's address (`transport.peer`,
/// the real IP behind a proxy) is personal data: only the trusted (backend) role is told it
/// (`with_peer`).
pub fn session_details(session: &SessionHandle, with_peer: bool) -> Value {
    let mut transport = Dict::new();
    transport.insert("type".into(), Value::from(session.transport));
    if with_peer {
        transport.insert("peer".into(), Value::Str(session.peer.clone()));
    }
    transport.insert(
        "protocol".into(),
        Value::from(if session.v1 {
            "wamp"
        } else {
            session.serializer.subprotocol()
        }),
    );
    let mut details = Dict::new();
    details.insert("session".into(), Value::UInt(session.id));
    details.insert("authid".into(), Value::Str(session.authid.clone()));
    details.insert("authrole".into(), Value::Str(session.authrole.clone()));
    details.insert("authmethod".into(), Value::from("anonymous"));
    details.insert("authprovider".into(), Value::from("static"));
    details.insert("transport".into(), Value::Dict(transport));
    Value::Dict(details)
}

/// Details of a subscription or registration for `…get` and `…on_create`.
pub fn entry_details(id: Id, uri: &str, policy: MatchPolicy, invoke: Option<&str>) -> Value {
    let mut details = Dict::new();
    details.insert("id".into(), Value::UInt(id));
    details.insert("uri".into(), Value::from(uri));
    details.insert("match".into(), Value::from(policy.as_str()));
    if let Some(invoke) = invoke {
        details.insert("invoke".into(), Value::from(invoke));
    }
    Value::Dict(details)
}
