//! The Socket.IO endpoint's HTTP side: which requests are Engine.IO's, and the checks of their
//! query before a session exists.
//!
//! socket.io-client connects to `/socket.io/?EIO=4&transport=polling` (then upgrades with
//! `transport=websocket&sid=…`), or straight to `transport=websocket`. The WebSocket requests are
//! checked here; polling and the upgrade are [`super::socketio_polling`]'s. A session, once open,
//! is the ordinary session driver's ([`super::connection`]) with a
//! [`crate::socketio::session::SioSession`].

/// The path Engine.IO requests use (socket.io-client's default).
pub const PATH: &str = "/socket.io/";

/// Whether a request target (path and query) is an Engine.IO request.
pub fn is_engineio(path: &str) -> bool {
    path == PATH.trim_end_matches('/') || path.starts_with(PATH)
}

/// A refused Engine.IO request: the JSON body clients expect (`{"code": n, "message": …}`,
/// with HTTP 400) and the `handshake_failures` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineRefusal {
    /// The body.
    pub body: &'static str,
    /// The metric label.
    pub label: &'static str,
}

const UNSUPPORTED_VERSION: EngineRefusal = EngineRefusal {
    body: r#"{"code":5,"message":"Unsupported protocol version"}"#,
    label: "socketio_version",
};
const TRANSPORT_UNKNOWN: EngineRefusal = EngineRefusal {
    body: r#"{"code":0,"message":"Transport unknown"}"#,
    label: "socketio_transport",
};
/// A `sid` that names no live polling session.
pub const UNKNOWN_SID: EngineRefusal = EngineRefusal {
    body: r#"{"code":1,"message":"Session ID unknown"}"#,
    label: "socketio_sid",
};

/// Checks the query of an Engine.IO WebSocket request: protocol 4 and transport websocket. A
/// `sid` (the upgrade of a polling session) is checked by [`super::socketio_polling`].
pub fn check_websocket_query(query: Option<&str>) -> Result<(), EngineRefusal> {
    let mut eio = None;
    let mut transport = None;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "EIO" => eio = Some(v.into_owned()),
            "transport" => transport = Some(v.into_owned()),
            _ => {}
        }
    }
    if eio.as_deref() != Some("4") {
        return Err(UNSUPPORTED_VERSION);
    }
    if transport.as_deref() != Some("websocket") {
        return Err(TRANSPORT_UNKNOWN);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engineio_queries_are_checked_like_the_reference_server() {
        assert!(is_engineio("/socket.io/"));
        assert!(is_engineio("/socket.io"));
        assert!(!is_engineio("/ws"));
        assert!(check_websocket_query(Some("EIO=4&transport=websocket")).is_ok());
        let old = check_websocket_query(Some("EIO=3&transport=websocket")).expect_err("EIO 3");
        assert!(old.body.contains("\"code\":5"));
        let polling = check_websocket_query(Some("EIO=4&transport=polling")).expect_err("polling");
        assert!(polling.body.contains("Transport unknown"));
        assert!(check_websocket_query(Some("EIO=4&transport=websocket&sid=abc")).is_ok());
    }
}
