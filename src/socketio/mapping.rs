//! Where Socket.IO's namespaces, rooms and events live in wampd's topic space, so that a WAMP
//! publisher, `POST /publish`, the Flask-SocketIO queue and a Socket.IO client all meet on one
//! broker:
//!
//! | Socket.IO | WAMP topic |
//! |---|---|
//! | emit `event` to every socket of namespace `ns` | `socketio.<ns>.all.<event>` |
//! | emit `event` to room `room` of `ns` (a socket's own id is a room too) | `socketio.<ns>.room.<room>.<event>` |
//! | a client emits `event` (not `join`/`leave`) | `socketio.<ns>.client.<event>` |
//!
//! The event's arguments are the publication's `args`; non-empty `kwargs` arrive as one more,
//! last argument. A client's emit is published with its arguments as `args` and `{"sid": …}` as
//! `kwargs`. `<ns>` is the namespace without its leading `/`, `_` for the main namespace `/`.
//! Names are kept as they are except for what a WAMP URI component cannot hold: `.`, `#`, `~`,
//! whitespace and control characters become `~XX` (hex), so `dir::a.txt` is `dir::a~2Etxt`, and a
//! namespace literally named `/_` is `~5F`.

use std::fmt::Write as _;

/// The first component of every Socket.IO topic.
pub const ROOT: &str = "socketio";

/// Escapes one name into a URI component.
pub fn component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '.' | '#' | '~') || c.is_whitespace() || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "~{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The inverse of [`component`]; `None` for a malformed escape.
pub fn name(component: &str) -> Option<String> {
    let bytes = component.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'~' {
            let hex = component.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The component of namespace `ns` (`/` → `_`).
pub fn namespace(ns: &str) -> String {
    let bare = ns.strip_prefix('/').unwrap_or(ns);
    match bare {
        "" => "_".to_string(),
        "_" => "~5F".to_string(),
        other => component(other),
    }
}

/// The namespace a component names (`_` → `/`).
pub fn namespace_of(component: &str) -> Option<String> {
    if component == "_" {
        return Some("/".into());
    }
    name(component).map(|n| format!("/{n}"))
}

/// The prefix every socket of `ns` subscribes to for broadcasts.
pub fn all_prefix(ns: &str) -> String {
    format!("{ROOT}.{}.all.", namespace(ns))
}

/// The prefix the sockets in `room` of `ns` subscribe to.
pub fn room_prefix(ns: &str, room: &str) -> String {
    format!("{ROOT}.{}.room.{}.", namespace(ns), component(room))
}

/// The topic of `event` emitted to `room` of `ns`, or to all of `ns` when `room` is `None`.
pub fn emit_topic(ns: &str, room: Option<&str>, event: &str) -> String {
    match room {
        Some(room) => format!("{}{}", room_prefix(ns, room), component(event)),
        None => format!("{}{}", all_prefix(ns), component(event)),
    }
}

/// The topic a client's emit of `event` on `ns` is published to.
pub fn client_topic(ns: &str, event: &str) -> String {
    format!("{ROOT}.{}.client.{}", namespace(ns), component(event))
}

/// For a publication to `topic` delivered through the subscription `prefix` (one of the
/// prefixes above): the namespace and the event name, `None` when `topic` is not one event
/// below it.
pub fn delivery(prefix: &str, topic: &str) -> Option<(String, String)> {
    let event = topic.strip_prefix(prefix)?;
    if event.is_empty() || event.contains('.') {
        return None;
    }
    let ns = prefix
        .strip_prefix(ROOT)?
        .strip_prefix('.')?
        .split('.')
        .next()?;
    Some((namespace_of(ns)?, name(event)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_become_uri_components() {
        for n in [
            "update",
            "backup_running",
            "dir::a.txt",
            "a b#c~d",
            "ünï.cödé",
            "",
        ] {
            let c = component(n);
            assert!(!c.contains(['.', '#', ' ']), "{c}");
            assert_eq!(name(&c).as_deref(), Some(n));
        }
        assert_eq!(component("dir::a.txt"), "dir::a~2Etxt");
        assert_eq!(name("~Z1"), None);
        assert_eq!(name("~4"), None);
    }

    #[test]
    fn namespaces_and_topics_follow_the_table() {
        assert_eq!(namespace("/"), "_");
        assert_eq!(namespace("/ws"), "ws");
        assert_eq!(namespace("/_"), "~5F");
        assert_eq!(namespace_of("~5F").as_deref(), Some("/_"));
        assert_eq!(namespace_of("_").as_deref(), Some("/"));
        assert_eq!(
            emit_topic("/ws", None, "backup_running"),
            "socketio.ws.all.backup_running"
        );
        assert_eq!(
            emit_topic("/", Some("news"), "update"),
            "socketio._.room.news.update"
        );
        assert_eq!(client_topic("/", "chat"), "socketio._.client.chat");
    }

    #[test]
    fn deliveries_name_the_namespace_and_event() {
        assert_eq!(
            delivery("socketio.ws.all.", "socketio.ws.all.backup_running"),
            Some(("/ws".into(), "backup_running".into()))
        );
        assert_eq!(
            delivery(
                "socketio._.room.dir::a~2Etxt.",
                "socketio._.room.dir::a~2Etxt.update"
            ),
            Some(("/".into(), "update".into()))
        );
        assert_eq!(delivery("socketio._.all.", "socketio._.all.a.b"), None);
        assert_eq!(delivery("socketio._.all.", "socketio._.all."), None);
    }
}
