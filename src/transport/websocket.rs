//! The WebSocket opening handshake: validation and subprotocol negotiation.
//!
//! This module decides whether a request is an acceptable WebSocket upgrade and which WAMP
//! version and serializer it gets (`protocol/bridging.md`): the first offer the router speaks
//! wins in the client's order, `wamp.2.json`/`.msgpack`/`.cbor` (and their `.batched` variants)
//! meaning WAMP v2 and `wamp` meaning
//! WAMP v1; a client offering no subprotocol, or only ones that are not WAMP (Ratchet-era tools,
//! Oro's backend), gets WAMP v1 without a subprotocol header, as Ratchet answers it. A client that
//! offers only WAMP v2 subprotocols wampd does not speak (`wamp.2.ubjson`, `wamp.2.flatbuffers`) is
//! refused with 400 and the list wampd speaks: a WAMP v1 session would only make it fail later
//! and retry. Any request path is accepted, because
//! proxies forward `/ws`, `/` or anything else (nginx `location /ws`).

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use wampd_proto::wamp::Serializer;

/// The WAMP version and wire format a WebSocket session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// WAMP v2 with this serializer.
    V2(Serializer),
    /// WAMP v2 with this serializer over a batched subprotocol (`wamp.2.json.batched`, …).
    V2Batched(Serializer),
    /// WAMP v1 (JSON text frames), as Ratchet and autobahn 0.8 speak it.
    V1,
    /// Socket.IO v5 over Engine.IO v4 (a request to the Socket.IO path; no subprotocol).
    SocketIo,
}

/// An acceptable upgrade: what to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The negotiated protocol.
    pub protocol: Protocol,
    /// The subprotocol to echo in `Sec-WebSocket-Protocol`, if the client offered it.
    pub subprotocol: Option<&'static str>,
    /// Value of `Sec-WebSocket-Accept`.
    pub accept_key: String,
}

/// A refused upgrade: status and a one-line explanation for the body and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// HTTP status to answer with.
    pub status: StatusCode,
    /// Why, in words an operator understands.
    pub reason: &'static str,
    /// Short reason for the `handshake_failures` metric.
    pub label: &'static str,
}

fn refuse(status: StatusCode, label: &'static str, reason: &'static str) -> Refused {
    Refused {
        status,
        reason,
        label,
    }
}

/// True when the request asks for a WebSocket upgrade at all.
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
        })
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// Whether the client offers some WAMP v2 subprotocol (`wamp.2.…`), spoken by wampd or not.
fn offers_wamp_v2(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|offer| offer.trim().starts_with("wamp.2."))
}

/// Picks the first subprotocol in the client's offer that wampd speaks (the client's preference
/// order wins); `None` when it offers none of them.
pub fn negotiate_subprotocol(headers: &HeaderMap) -> Option<(Protocol, &'static str)> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|offer| {
            let offer = offer.trim();
            if offer == "wamp" {
                return Some((Protocol::V1, "wamp"));
            }
            if let Some(s) = Serializer::from_batched_subprotocol(offer) {
                return Some((Protocol::V2Batched(s), s.batched_subprotocol()));
            }
            Serializer::from_subprotocol(offer).map(|s| (Protocol::V2(s), s.subprotocol()))
        })
}

/// Validates an upgrade request (RFC 6455 §4.2.1) and negotiates the protocol; `v1` says whether
/// WAMP v1 may be chosen, `socketio` that the request is for the Socket.IO path (which speaks
/// Socket.IO whatever subprotocols are offered).
pub fn accept(
    method: &Method,
    headers: &HeaderMap,
    v1: bool,
    socketio: bool,
) -> Result<Accepted, Refused> {
    if method != Method::GET {
        return Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "bad_method",
            "a WebSocket upgrade must use GET",
        ));
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Connection: Upgrade must be requested",
        ));
    }
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    if !version_ok {
        return Err(refuse(
            StatusCode::UPGRADE_REQUIRED,
            "bad_version",
            "Sec-WebSocket-Version must be 13",
        ));
    }
    let key = match headers
        .get_all(header::SEC_WEBSOCKET_KEY)
        .iter()
        .collect::<Vec<_>>()[..]
    {
        [key] if is_valid_key(key) => key,
        _ => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "invalid Sec-WebSocket-Key",
            ))
        }
    };
    if socketio {
        return Ok(Accepted {
            protocol: Protocol::SocketIo,
            subprotocol: None,
            accept_key: derive_accept_key(key.as_bytes()),
        });
    }
    let (protocol, subprotocol) = match negotiate_subprotocol(headers) {
        Some((Protocol::V1, _)) if !v1 => None,
        Some((protocol, name)) => Some((protocol, Some(name))),
        None if offers_wamp_v2(headers) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "bad_subprotocol",
                "none of the WAMP v2 subprotocols offered is spoken here: use wamp.2.json or wamp.2.msgpack",
            ))
        }
        None if v1 => Some((Protocol::V1, None)),
        None => None,
    }
    .ok_or_else(|| {
        refuse(
            StatusCode::BAD_REQUEST,
            "bad_subprotocol",
            "no supported WebSocket subprotocol offered: use wamp.2.json or wamp.2.msgpack",
        )
    })?;
    Ok(Accepted {
        protocol,
        subprotocol,
        accept_key: derive_accept_key(key.as_bytes()),
    })
}

fn is_valid_key(key: &HeaderValue) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(key.as_bytes())
        .is_ok_and(|raw| raw.len() == 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    const GOOD: &[(&str, &str)] = &[
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        (
            "sec-websocket-protocol",
            "wamp.2.cbor, wamp.2.msgpack, wamp.2.json",
        ),
    ];

    #[test]
    fn accepts_a_valid_upgrade_preferring_the_client_order() {
        let accepted = accept(&Method::GET, &headers(GOOD), true, false).expect("valid");
        assert_eq!(accepted.protocol, Protocol::V2(Serializer::Cbor));
        assert_eq!(accepted.subprotocol, Some("wamp.2.cbor"));
        // RFC 6455 §1.3 example.
        assert_eq!(accepted.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn wamp_v1_is_negotiated_like_ratchet() {
        let mut offer: Vec<_> = GOOD.to_vec();
        offer[4] = ("sec-websocket-protocol", "wamp");
        let a = accept(&Method::GET, &headers(&offer), true, false).expect("v1");
        assert_eq!((a.protocol, a.subprotocol), (Protocol::V1, Some("wamp")));
        offer[4] = ("sec-websocket-protocol", "wamp, wamp.2.json");
        let a = accept(&Method::GET, &headers(&offer), true, false).expect("client order");
        assert_eq!(a.protocol, Protocol::V1);
        offer.pop();
        let a = accept(&Method::GET, &headers(&offer), true, false).expect("no offer");
        assert_eq!((a.protocol, a.subprotocol), (Protocol::V1, None));
        assert!(accept(&Method::GET, &headers(&offer), false, false).is_err());
    }

    #[test]
    fn only_unspoken_wamp_v2_subprotocols_are_refused_not_answered_with_wamp_v1() {
        for offer in [
            "wamp.2.ubjson",
            "wamp.2.ubjson.batched, wamp.2.flatbuffers",
            "wamp.2.ubjson, chat",
        ] {
            let mut offered: Vec<_> = GOOD.to_vec();
            offered[4] = ("sec-websocket-protocol", offer);
            let err = accept(&Method::GET, &headers(&offered), true, false).expect_err(offer);
            assert_eq!(
                (err.status, err.label),
                (StatusCode::BAD_REQUEST, "bad_subprotocol")
            );
            assert!(err.reason.contains("wamp.2.json"), "{}", err.reason);
        }
        // A spoken one among them wins; a non-WAMP offer still gets Ratchet's lenient WAMP v1.
        let mut offered: Vec<_> = GOOD.to_vec();
        offered[4] = ("sec-websocket-protocol", "wamp.2.ubjson, wamp.2.json");
        let a = accept(&Method::GET, &headers(&offered), true, false).expect("json");
        assert_eq!(a.protocol, Protocol::V2(Serializer::Json));
        offered[4] = ("sec-websocket-protocol", "chat");
        let a = accept(&Method::GET, &headers(&offered), true, false).expect("v1");
        assert_eq!((a.protocol, a.subprotocol), (Protocol::V1, None));
    }

    #[test]
    fn refuses_bad_requests_with_the_right_status() {
        let mut no_proto: Vec<_> = GOOD.to_vec();
        no_proto.pop();
        let err =
            accept(&Method::GET, &headers(&no_proto), false, false).expect_err("no subprotocol");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);

        let err = accept(&Method::POST, &headers(GOOD), true, false).expect_err("POST");
        assert_eq!(err.status, StatusCode::METHOD_NOT_ALLOWED);

        let mut bad_key: Vec<_> = GOOD.to_vec();
        bad_key[3] = ("sec-websocket-key", "short");
        let err = accept(&Method::GET, &headers(&bad_key), true, false).expect_err("key");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);

        let mut old: Vec<_> = GOOD.to_vec();
        old[2] = ("sec-websocket-version", "8");
        let err = accept(&Method::GET, &headers(&old), true, false).expect_err("version");
        assert_eq!(err.status, StatusCode::UPGRADE_REQUIRED);
    }
}
