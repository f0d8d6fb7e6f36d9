//! The ceiling: the smallest WAMP pub/sub server that serves the benchmark's clients, to run beside
//! wampd on the same machine in the same session, so a figure can be read as a ratio to what this
//! machine does at all.
//!
//! It does only what the scenarios need and nothing a router must: HELLO → WELCOME, SUBSCRIBE →
//! SUBSCRIBED (one subscription per topic, exact match), PUBLISH → one EVENT per subscriber (and
//! PUBLISHED when asked), GOODBYE. No realms, authorization, limits, metrics or keepalive. It is
//! built like wampd's own send path, from the same framing module ([`wampd_proto::websocket`]):
//! each EVENT is encoded once per serializer as a complete frame and shared, and each
//! connection's writer copies what is queued into one buffer per batch. A full queue drops the
//! event. Client frames are parsed here, by hand (masked, never fragmented by the benchmark's
//! clients).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wampd_proto::wamp::{codec, Dict, Id, Message, Serializer, Value};
use wampd_proto::websocket::{self as framing, OP_BINARY, OP_CLOSE, OP_TEXT};

use crate::error::BenchError;

/// Frames queued per connection before events are dropped.
const QUEUE: usize = 4096;
/// Most frames one write carries.
const BATCH: usize = 512;
/// Largest request head or client frame accepted.
const MAX_INPUT: usize = 1 << 20;

struct Subscriber {
    serializer: Serializer,
    subscription: Id,
    tx: mpsc::Sender<Bytes>,
}

#[derive(Default)]
struct Topics {
    by_topic: Mutex<HashMap<String, (Id, Vec<Subscriber>)>>,
    next_id: AtomicU64,
}

impl Topics {
    fn id(&self) -> Id {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A ceiling server in a child process (`wampd-bench ceiling`) on a free loopback port, for a
/// run beside the router; killed when dropped.
pub struct Child {
    process: std::process::Child,
    addr: SocketAddr,
}

impl Child {
    /// Starts `exe ceiling` and waits until it accepts connections.
    pub fn start(exe: &std::path::Path) -> Result<Child, BenchError> {
        let failed = |what: String| BenchError::Failed(format!("ceiling: {what}"));
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| failed(format!("no free loopback port: {e}")))?;
        let process = std::process::Command::new(exe)
            .args(["ceiling", "--listen", &addr.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| failed(format!("cannot start {}: {e}", exe.display())))?;
        let mut child = Child { process, addr };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = child.process.try_wait() {
                return Err(failed(format!("exited at start-up ({status})")));
            }
            if std::time::Instant::now() > deadline {
                return Err(failed(format!("not listening on {addr} after 10 s")));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Let the probe connection's teardown pass before the scenario counts memory.
        std::thread::sleep(std::time::Duration::from_millis(200));
        Ok(child)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process ID, for CPU and memory figures.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Serves on `listen` until the process ends.
pub async fn serve(listen: SocketAddr) -> Result<(), BenchError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| BenchError::Failed(format!("cannot listen on {listen}: {e}")))?;
    eprintln!(
        "wampd-bench: ceiling listening on {}",
        listener
            .local_addr()
            .map_err(|e| BenchError::Failed(e.to_string()))?
    );
    let topics = Arc::new(Topics::default());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let topics = topics.clone();
        tokio::spawn(async move {
            let _ = connection(stream, topics).await;
        });
    }
}

fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 10);
    framing::write_server_frame(&mut out, opcode, payload);
    Bytes::from(out)
}

fn message_frame(serializer: Serializer, message: &Message) -> Bytes {
    let opcode = if serializer.is_binary() {
        OP_BINARY
    } else {
        OP_TEXT
    };
    frame(opcode, &codec::encode(serializer, message))
}

/// Reads the upgrade request and answers 101 with the first WAMP v2 subprotocol offered.
async fn handshake(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Serializer> {
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_INPUT || stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let key = header("sec-websocket-key")?;
    let offered = header("sec-websocket-protocol").unwrap_or_default();
    let (serializer, name) = offered
        .split(',')
        .map(str::trim)
        .find_map(|p| Some((Serializer::from_subprotocol(p)?, p)))?;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {name}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await.ok()?;
    Some(serializer)
}

/// One client frame from the front of `buf`: (opcode, unmasked payload, bytes used).
fn client_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (b0, b1) = (*buf.first()?, *buf.get(1)?);
    let (len, mut at) = match b1 & 0x7F {
        126 => (
            usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => {
            let raw: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (usize::try_from(u64::from_be_bytes(raw)).ok()?, 10)
        }
        n => (usize::from(n), 2),
    };
    let mask: [u8; 4] = if b1 & 0x80 != 0 {
        let m = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        m
    } else {
        [0; 4]
    };
    let end = at.checked_add(len)?;
    let mut payload = buf.get(at..end)?.to_vec();
    framing::apply_mask(&mut payload, mask);
    Some((b0 & 0x0F, payload, end))
}

async fn writer(mut write: tokio::net::tcp::OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.extend_from_slice(&first);
        for _ in 1..BATCH {
            match rx.try_recv() {
                Ok(next) => batch.extend_from_slice(&next),
                Err(_) => break,
            }
        }
        if write.write_all(&batch).await.is_err() {
            return;
        }
        batch.clear();
    }
}

async fn connection(mut stream: TcpStream, topics: Arc<Topics>) -> Option<()> {
    let mut buf = Vec::with_capacity(4096);
    let serializer = handshake(&mut stream, &mut buf).await?;
    let (mut read, write) = stream.into_split();
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(writer(write, rx));
    let mut mine: Vec<String> = Vec::new();
    let result = async {
        loop {
            while let Some((opcode, payload, used)) = client_frame(&buf) {
                buf.drain(..used);
                if opcode == OP_CLOSE {
                    let _ = tx.send(frame(OP_CLOSE, &payload)).await;
                    return Some(());
                }
                if opcode != OP_TEXT && opcode != OP_BINARY {
                    continue;
                }
                let message = codec::decode(serializer, &payload).ok()?;
                handle(message, serializer, &tx, &topics, &mut mine).await?;
            }
            if buf.len() > MAX_INPUT || read.read_buf(&mut buf).await.ok()? == 0 {
                return None;
            }
        }
    }
    .await;
    let mut by_topic = topics.by_topic.lock().unwrap_or_else(|p| p.into_inner());
    for topic in mine {
        if let Some((_, subscribers)) = by_topic.get_mut(&topic) {
            subscribers.retain(|s| !s.tx.same_channel(&tx));
        }
    }
    result
}

async fn handle(
    message: Message,
    serializer: Serializer,
    tx: &mpsc::Sender<Bytes>,
    topics: &Topics,
    mine: &mut Vec<String>,
) -> Option<()> {
    let reply = match message {
        Message::Hello { .. } => {
            let mut roles = Dict::new();
            roles.insert("broker".into(), Value::Dict(Dict::new()));
            let mut details = Dict::new();
            details.insert("roles".into(), Value::Dict(roles));
            Message::Welcome {
                session: topics.id(),
                details,
            }
        }
        Message::Subscribe { request, topic, .. } => {
            let mut by_topic = topics.by_topic.lock().unwrap_or_else(|p| p.into_inner());
            let entry = by_topic
                .entry(topic.clone())
                .or_insert_with(|| (topics.id(), Vec::new()));
            entry.1.push(Subscriber {
                serializer,
                subscription: entry.0,
                tx: tx.clone(),
            });
            mine.push(topic);
            Message::Subscribed {
                request,
                subscription: entry.0,
            }
        }
        Message::Publish {
            request,
            options,
            topic,
            args,
            kwargs,
        } => {
            let publication = topics.id();
            let by_topic = topics.by_topic.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, subscribers)) = by_topic.get(&topic) {
                // Encoded once per serializer, shared by every subscriber.
                let mut encoded: [Option<Bytes>; Serializer::ALL.len()] = Default::default();
                for s in subscribers {
                    let slot = &mut encoded[s.serializer.index()];
                    let frame = slot.get_or_insert_with(|| {
                        message_frame(
                            s.serializer,
                            &Message::Event {
                                subscription: s.subscription,
                                publication,
                                details: Dict::new(),
                                args: args.clone(),
                                kwargs: kwargs.clone(),
                            },
                        )
                    });
                    let _ = s.tx.try_send(frame.clone());
                }
            }
            drop(by_topic);
            if options.get("acknowledge") != Some(&Value::Bool(true)) {
                return Some(());
            }
            Message::Published {
                request,
                publication,
            }
        }
        Message::Goodbye { .. } => {
            let goodbye = Message::Goodbye {
                details: Dict::new(),
                reason: "wamp.close.goodbye_and_out".into(),
            };
            tx.send(message_frame(serializer, &goodbye)).await.ok()?;
            return None;
        }
        _ => return Some(()),
    };
    tx.send(message_frame(serializer, &reply)).await.ok()
}
