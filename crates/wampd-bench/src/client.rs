//! A lean WAMP client: connect, handshake, HELLO/WELCOME, SUBSCRIBE/SUBSCRIBED, then hand the
//! raw socket and its reader to a scenario.
//!
//! Set-up messages are few, so they go through the crate's own codec; the per-event paths
//! (counting deliveries, publishing at full speed) use the socket, [`FrameReader`] and
//! [`FrameWriter`] directly, which is why the fields are public.

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::BenchError;
use super::framing::{describe_close, FrameKind, FrameWriter, Framing};
use super::rawsocket;
use super::reader::FrameReader;
use super::target::{connect_tcp, Target, Transport};
use super::upgrade;
use wampd_proto::wamp::{codec, Dict, Id, Message, Serializer, Value};

/// How connections are set up.
#[derive(Debug, Clone, Copy)]
pub struct ConnConfig {
    /// The WAMP serializer to negotiate.
    pub serializer: Serializer,
    /// Size of each connection's read buffer.
    pub read_buffer: usize,
    /// Largest message accepted from the router (and announced over RawSocket).
    pub max_message: usize,
}

/// One client connection to the router.
#[derive(Debug)]
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    /// Buffered reader of the router's frames (may hold bytes that followed the handshake).
    pub reader: FrameReader,
    /// Encoder of our frames.
    pub writer: FrameWriter,
    /// The negotiated serializer.
    pub serializer: Serializer,
    /// Largest message the router accepts from us.
    pub peer_limit: usize,
    /// The WAMP session ID once joined (0 before).
    pub session: Id,
    out: Vec<u8>,
    next_request: Id,
}

impl Conn {
    /// A connection on `stream` before its handshake, speaking `serializer` over `framing`.
    fn new(
        stream: TcpStream,
        framing: Framing,
        serializer: Serializer,
        config: &ConnConfig,
    ) -> Conn {
        Conn {
            stream,
            reader: FrameReader::new(framing, config.read_buffer, config.max_message),
            writer: FrameWriter::new(framing, serializer),
            serializer,
            peer_limit: config.max_message,
            session: 0,
            out: Vec::with_capacity(256),
            next_request: 1,
        }
    }

    /// Connects to `target` from `source` and completes the transport handshake (WebSocket
    /// upgrade or RawSocket handshake).
    pub async fn open(
        target: &Target,
        source: Option<IpAddr>,
        config: &ConnConfig,
    ) -> Result<Conn, BenchError> {
        let stream = connect_tcp(target.addr, source).await?;
        let framing = match target.transport {
            Transport::Websocket => Framing::WebSocket,
            Transport::Rawsocket => Framing::RawSocket {
                limit: rawsocket::max_len_for_exponent(rawsocket::exponent_for_max_len(
                    config.max_message,
                )),
            },
        };
        let mut conn = Conn::new(stream, framing, config.serializer, config);
        match target.transport {
            Transport::Websocket => conn.websocket_handshake(target).await?,
            Transport::Rawsocket => conn.rawsocket_handshake(config.max_message).await?,
        }
        Ok(conn)
    }

    /// Opens a Socket.IO client as socket.io-client does on its WebSocket transport: the
    /// upgrade of `/socket.io/?EIO=4&transport=websocket`, the Engine.IO open packet, and
    /// namespace `/` connected, which puts it in the namespace and in the room of its own id.
    /// Its frames are text (Engine.IO message packets); within `timeout`.
    pub async fn establish_socketio(
        target: &Target,
        source: Option<IpAddr>,
        config: &ConnConfig,
        timeout: Duration,
    ) -> Result<Conn, BenchError> {
        let setup = async {
            let stream = connect_tcp(target.addr, source).await?;
            let mut conn = Conn::new(stream, Framing::WebSocket, Serializer::Json, config);
            conn.upgrade(target, "/socket.io/?EIO=4&transport=websocket", None)
                .await?;
            let open = conn.recv_data().await?;
            if !open.starts_with(b"0{") {
                return Err(BenchError::Protocol(format!(
                    "expected the Engine.IO open packet, got {:?}",
                    String::from_utf8_lossy(&open)
                )));
            }
            conn.send_data(b"40").await?;
            let connected = conn.recv_data().await?;
            if !connected.starts_with(b"40") {
                return Err(BenchError::Refused(format!(
                    "namespace / refused: {:?}",
                    String::from_utf8_lossy(&connected)
                )));
            }
            Ok(conn)
        };
        tokio::time::timeout(timeout, setup)
            .await
            .map_err(|_| BenchError::Timeout(format!("setting up a session after {timeout:?}")))?
    }

    /// The next data frame's payload, as bytes (WebSocket pings answered on the way).
    async fn recv_data(&mut self) -> Result<Vec<u8>, BenchError> {
        loop {
            let ping = match self.reader.next_frame()? {
                Some(frame) => match frame.kind {
                    FrameKind::Data => return Ok(frame.payload.to_vec()),
                    FrameKind::Ping => frame.payload.to_vec(),
                    FrameKind::Pong => continue,
                    FrameKind::Close => {
                        return Err(BenchError::Closed(describe_close(frame.payload)));
                    }
                },
                None => {
                    self.fill().await?;
                    continue;
                }
            };
            self.out.clear();
            self.writer.pong(&mut self.out, &ping)?;
            self.stream.write_all(&self.out).await?;
        }
    }

    /// Sends `bytes` as one data frame.
    async fn send_data(&mut self, bytes: &[u8]) -> Result<(), BenchError> {
        self.out.clear();
        self.writer.data(&mut self.out, bytes)?;
        self.stream.write_all(&self.out).await?;
        Ok(())
    }

    /// Opens a connection, joins `realm` and, if `topic` is given, subscribes to it, all
    /// within `timeout`.
    pub async fn establish(
        target: &Target,
        source: Option<IpAddr>,
        config: &ConnConfig,
        realm: &str,
        topic: Option<&str>,
        timeout: Duration,
    ) -> Result<Conn, BenchError> {
        let setup = async {
            let mut conn = Conn::open(target, source, config).await?;
            conn.join(realm).await?;
            if let Some(topic) = topic {
                conn.subscribe(topic).await?;
            }
            Ok(conn)
        };
        tokio::time::timeout(timeout, setup)
            .await
            .map_err(|_| BenchError::Timeout(format!("setting up a session after {timeout:?}")))?
    }

    /// Reads more bytes into the reader; fails when the router closed the connection.
    pub async fn fill(&mut self) -> Result<(), BenchError> {
        let n = self.stream.read(self.reader.spare()).await?;
        if n == 0 {
            return Err(BenchError::Closed(
                "the router closed the connection".into(),
            ));
        }
        self.reader.commit(n);
        Ok(())
    }

    async fn websocket_handshake(&mut self, target: &Target) -> Result<(), BenchError> {
        self.upgrade(target, &target.path, Some(self.serializer.subprotocol()))
            .await
    }

    /// The WebSocket upgrade of `path`, offering `protocol`.
    async fn upgrade(
        &mut self,
        target: &Target,
        path: &str,
        protocol: Option<&str>,
    ) -> Result<(), BenchError> {
        let key = upgrade::new_key();
        let request = upgrade::request(&target.host_header, path, protocol, &key);
        self.stream.write_all(request.as_bytes()).await?;
        loop {
            if let Some(n) = upgrade::head_len(self.reader.buffered()) {
                let head = self.reader.buffered().get(..n).unwrap_or_default();
                upgrade::check_response(head, &key, protocol).map_err(BenchError::Handshake)?;
                self.reader.consume(n);
                return Ok(());
            }
            if self.reader.buffered().len() > upgrade::MAX_RESPONSE_HEAD {
                return Err(BenchError::Handshake("response head too long".into()));
            }
            self.fill().await.map_err(|e| match e {
                BenchError::Closed(_) => BenchError::Handshake(
                    "the server closed the connection before answering".into(),
                ),
                other => other,
            })?;
        }
    }

    async fn rawsocket_handshake(&mut self, max_message: usize) -> Result<(), BenchError> {
        let exponent = rawsocket::exponent_for_max_len(max_message);
        let request = rawsocket::handshake_request(self.serializer, exponent);
        self.stream.write_all(&request).await?;
        while self.reader.buffered().len() < 4 {
            self.fill().await.map_err(|e| match e {
                BenchError::Closed(_) => BenchError::Handshake(
                    "the router closed the connection during the RawSocket handshake \
                     (does it speak RawSocket?)"
                        .into(),
                ),
                other => other,
            })?;
        }
        let mut reply = [0u8; 4];
        reply.copy_from_slice(self.reader.buffered().get(..4).unwrap_or(&[0; 4]));
        self.reader.consume(4);
        self.peer_limit = rawsocket::parse_handshake_reply(reply, self.serializer)
            .map_err(|e| BenchError::Handshake(e.to_string()))?;
        Ok(())
    }

    /// The next request ID of this session (1, 2, ...).
    pub fn request_id(&mut self) -> Id {
        let id = self.next_request;
        self.next_request += 1;
        id
    }

    /// Encodes and sends one message.
    pub async fn send(&mut self, message: &Message) -> Result<(), BenchError> {
        let bytes = codec::encode(self.serializer, message);
        if bytes.len() > self.peer_limit {
            return Err(BenchError::Failed(format!(
                "a {}-byte message exceeds the router's limit of {} bytes",
                bytes.len(),
                self.peer_limit
            )));
        }
        self.out.clear();
        self.writer.data(&mut self.out, &bytes)?;
        self.stream.write_all(&self.out).await?;
        Ok(())
    }

    /// Receives and decodes the next WAMP message, answering pings on the way.
    pub async fn recv(&mut self) -> Result<Message, BenchError> {
        let payload = self.recv_data().await?;
        codec::decode(self.serializer, &payload).map_err(|e| BenchError::Protocol(e.to_string()))
    }

    /// Sends HELLO for `realm` and waits for WELCOME; returns the session ID.
    pub async fn join(&mut self, realm: &str) -> Result<Id, BenchError> {
        let mut roles = Dict::new();
        roles.insert("publisher".into(), Value::Dict(Dict::new()));
        roles.insert("subscriber".into(), Value::Dict(Dict::new()));
        let mut details = Dict::new();
        details.insert("roles".into(), Value::Dict(roles));
        details.insert("agent".into(), Value::from("wampd-bench"));
        self.send(&Message::Hello {
            realm: realm.to_owned(),
            details,
        })
        .await?;
        match self.recv().await? {
            Message::Welcome { session, .. } => {
                self.session = session;
                Ok(session)
            }
            Message::Abort {
                reason, details, ..
            } => Err(BenchError::Refused(
                match details.get("message").and_then(Value::as_str) {
                    Some(message) => format!("ABORT {reason}: {message}"),
                    None => format!("ABORT {reason}"),
                },
            )),
            other => Err(BenchError::Protocol(format!(
                "expected WELCOME, got {}",
                other.name()
            ))),
        }
    }

    /// Subscribes to `topic` (exact match) and waits for SUBSCRIBED; returns the subscription.
    pub async fn subscribe(&mut self, topic: &str) -> Result<Id, BenchError> {
        let request = self.request_id();
        self.send(&Message::Subscribe {
            request,
            options: Dict::new(),
            topic: topic.to_owned(),
        })
        .await?;
        match self.recv().await? {
            Message::Subscribed {
                request: r,
                subscription,
            } if r == request => Ok(subscription),
            Message::Error { error, .. } => Err(BenchError::Refused(format!(
                "SUBSCRIBE to {topic}: {error}"
            ))),
            other => Err(BenchError::Protocol(format!(
                "expected SUBSCRIBED, got {}",
                other.name()
            ))),
        }
    }

    /// Writes pre-encoded frames as they are.
    pub async fn write_raw(&mut self, frames: &[u8]) -> Result<(), BenchError> {
        self.stream.write_all(frames).await?;
        Ok(())
    }
}
