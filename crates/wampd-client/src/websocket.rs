//! The client side of WAMP over WebSocket (`wamp-v2.md` §6.3).
//!
//! For routers reached through an HTTP reverse proxy that only forwards WebSocket upgrades (nginx
//! `location /ws`), where RawSocket cannot pass. The handshake offers exactly one subprotocol,
//! `wamp.2.json` or `wamp.2.msgpack`, on the DSN's path; JSON travels in text frames and
//! MessagePack in binary frames. tungstenite answers pings itself and keeps partial frames in
//! its own buffers, so [`WebSocket::recv`] is cancel-safe.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use wampd_proto::wamp::Serializer;

use super::endpoint::Endpoint;
use super::error::ClientError;

/// The `User-Agent` sent when the DSN names none.
const USER_AGENT: &str = concat!("wampd/", env!("CARGO_PKG_VERSION"));

/// An established WebSocket connection carrying WAMP messages.
pub struct WebSocket<S> {
    ws: WebSocketStream<S>,
    serializer: Serializer,
}

/// Turns a tungstenite error into the client's vocabulary.
fn ws_error(err: WsError) -> ClientError {
    match err {
        WsError::Io(err) => ClientError::Io(err),
        WsError::ConnectionClosed | WsError::AlreadyClosed => ClientError::Closed,
        other => ClientError::Protocol(format!("WebSocket: {other}")),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Performs the opening handshake for `endpoint`'s URL on a fresh (possibly TLS) stream.
    pub async fn handshake(
        stream: S,
        endpoint: &Endpoint,
        serializer: Serializer,
    ) -> Result<Self, ClientError> {
        let url = endpoint.websocket_url();
        let mut request = url.as_str().into_client_request().map_err(|err| {
            ClientError::Config(format!("cannot build a WebSocket request for {url}: {err}"))
        })?;
        let user_agent = endpoint.user_agent.as_deref().unwrap_or(USER_AGENT);
        let user_agent = HeaderValue::from_str(user_agent).map_err(|_| {
            ClientError::Config(format!(
                "user_agent {user_agent:?} is not a valid header value"
            ))
        })?;
        let headers = request.headers_mut();
        headers.insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(serializer.subprotocol()),
        );
        headers.insert("User-Agent", user_agent);
        let (ws, _response) = tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(|err| match err {
                WsError::Http(response) => ClientError::Handshake(format!(
                    "the WebSocket upgrade at {url} was refused with HTTP {}",
                    response.status()
                )),
                other => ClientError::Handshake(format!(
                    "the WebSocket handshake at {url} failed: {other}"
                )),
            })?;
        Ok(WebSocket { ws, serializer })
    }

    /// The negotiated serializer.
    pub fn serializer(&self) -> Serializer {
        self.serializer
    }

    /// Buffers one serialized message in the frame type its serializer uses.
    pub async fn feed(&mut self, payload: Bytes) -> Result<(), ClientError> {
        let frame = if self.serializer.is_binary() {
            WsMessage::Binary(payload)
        } else {
            let text = Utf8Bytes::try_from(payload).map_err(|_| {
                ClientError::Protocol("a JSON message is not valid UTF-8".to_string())
            })?;
            WsMessage::Text(text)
        };
        self.ws.feed(frame).await.map_err(ws_error)
    }

    /// Writes everything buffered.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        self.ws.flush().await.map_err(ws_error)
    }

    /// The next message's payload, `None` when the router closed the connection normally.
    /// A Close frame with an error code (1009 message too big, 1008 policy, ...) is an error
    /// naming it. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            match self.ws.next().await {
                Some(Ok(WsMessage::Close(Some(frame))))
                    if !matches!(frame.code, CloseCode::Normal | CloseCode::Away) =>
                {
                    return Err(ClientError::ClosedWith {
                        code: u16::from(frame.code),
                        reason: Some(frame.reason.to_string()),
                    });
                }
                None | Some(Ok(WsMessage::Close(_))) => return Ok(None),
                Some(Ok(WsMessage::Text(text))) => return Ok(Some(Bytes::from(text))),
                Some(Ok(WsMessage::Binary(data))) => return Ok(Some(data)),
                Some(Ok(_)) => continue,
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => return Ok(None),
                Some(Err(err)) => return Err(ws_error(err)),
            }
        }
    }

    /// Sends a Close frame (the router's answer is not awaited).
    pub async fn shutdown(&mut self) -> Result<(), ClientError> {
        match self.ws.close(None).await {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Ok(()),
            Err(err) => Err(ws_error(err)),
        }
    }
}
