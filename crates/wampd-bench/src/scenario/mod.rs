//! The benchmark scenarios and what they share: resolved run settings, opening many sessions
//! with bounded concurrency, the counting subscriber loop, and the publisher's connection.
//!
//! Each scenario lives in its own file and returns a [`Report`]; this module holds the pieces
//! that must behave the same in all of them (how sessions are opened and spread over source
//! addresses, how pings are answered, how CPU use is sampled).

pub mod fanout;
pub mod handshake;
pub mod idle;
pub mod latency;
pub mod rpc;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use super::cli::{Clients, CommonArgs};
use super::client::{Conn, ConnConfig};
use super::error::BenchError;
use super::framing::{describe_close, FrameKind, FrameWriter};
use super::report::Report;
use super::stats::Histogram;
use super::sys;
use super::target::{SourceAddrs, Target};
use wampd_proto::wamp::{codec, Message};

/// Resolved settings of one run, shared by all its tasks.
#[derive(Debug)]
pub struct Env {
    /// Where to connect.
    pub target: Target,
    /// Source addresses for client sockets.
    pub sources: SourceAddrs,
    /// How connections are configured.
    pub config: ConnConfig,
    /// Serializer name for reports.
    pub serializer_name: &'static str,
    /// Realm to join.
    pub realm: String,
    /// Time allowed per session set-up.
    pub timeout: Duration,
    /// Sessions set up in parallel.
    pub concurrency: usize,
    /// Measured duration.
    pub duration: Duration,
    /// Warm-up before measuring.
    pub warmup: Duration,
    /// Topic (or prefix).
    pub topic: String,
    /// Router PID, if given.
    pub pid: Option<u32>,
    /// Worker threads of the generator's runtime (reported).
    pub threads: usize,
    /// Origin of the run's monotonic clock (timestamps in payloads are nanoseconds since it).
    pub origin: Instant,
    /// What the subscribing clients speak.
    pub clients: Clients,
    /// The PM QoS request held for the run (`--pm-qos`).
    pub pm_qos: Option<sys::CpuLatencyHold>,
}

impl Env {
    /// Resolves `common` for `scenario`, with `read_buffer` bytes per connection.
    pub fn new(common: &CommonArgs, scenario: &str, read_buffer: usize) -> Result<Env, BenchError> {
        let target = Target::parse(&common.url, common.transport)?;
        let sources = SourceAddrs::for_target(&target.addr);
        let run_id: u32 = rand::random();
        let pm_qos = if common.pm_qos {
            Some(sys::hold_zero_cpu_latency().map_err(|e| {
                BenchError::Failed(format!("--pm-qos: cannot hold /dev/cpu_dma_latency: {e}"))
            })?)
        } else {
            None
        };
        let default_topic = match common.clients {
            // The namespace `/` of every Socket.IO client, event `bench_<run>`.
            Clients::Socketio => format!("socketio._.all.bench_{scenario}_r{run_id:08x}"),
            Clients::Wamp => format!("bench.{scenario}.r{run_id:08x}"),
        };
        Ok(Env {
            clients: common.clients,
            pm_qos,
            sources,
            config: ConnConfig {
                serializer: common.serializer.serializer(),
                read_buffer,
                max_message: common.max_message,
            },
            serializer_name: common.serializer.as_str(),
            realm: common.realm.clone(),
            timeout: common.timeout,
            concurrency: common.concurrency,
            duration: common.duration,
            warmup: common.warmup,
            topic: common.topic.clone().unwrap_or(default_topic),
            pid: common.pid,
            threads: common.threads,
            origin: Instant::now(),
            target,
        })
    }

    /// A report with the scenario name and the connection parameters filled in.
    pub fn report(&self, scenario: &str) -> Report {
        let mut r = Report::new(scenario);
        r.set("transport", self.target.transport.as_str())
            .set("serializer", self.serializer_name)
            .set("url", self.target.url.as_str())
            .set("realm", self.realm.as_str())
            .set("threads", self.threads)
            .set("clients", self.clients.as_str());
        if self.pm_qos.is_some() {
            r.set("pm_qos", true);
        }
        r
    }

    /// Nanoseconds since the run started (monotonic).
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Opens one session (joined, subscribed to `topic` if given) from the next source address.
    /// With `--clients socketio`, subscribers (a `topic` given) are Socket.IO clients instead,
    /// in namespace `/` and their own room (the topic is not theirs to choose).
    pub async fn establish(&self, topic: Option<&str>) -> Result<Conn, BenchError> {
        if self.clients == Clients::Socketio && topic.is_some() {
            return Conn::establish_socketio(
                &self.target,
                self.sources.next_addr(),
                &self.config,
                self.timeout,
            )
            .await;
        }
        Conn::establish(
            &self.target,
            self.sources.next_addr(),
            &self.config,
            &self.realm,
            topic,
            self.timeout,
        )
        .await
    }
}

/// What [`open_many`] achieved.
#[derive(Debug, Default)]
pub struct Opened {
    /// The sessions kept open, in no particular order.
    pub conns: Vec<Conn>,
    /// Sessions established (kept or not).
    pub established: usize,
    /// Sessions that failed.
    pub errors: usize,
    /// The first failure, for diagnostics.
    pub first_error: Option<String>,
    /// Set-up time per established session (ns).
    pub setup_times: Histogram,
    /// Wall time of the whole batch.
    pub elapsed: Duration,
}

/// Opens `count` sessions with at most `env.concurrency` set-ups in flight. `topic_of(i)` names
/// what session `i` subscribes to (`None`: no SUBSCRIBE). With `keep` false each session is
/// dropped (its connection closed) as soon as it is established.
pub async fn open_many<F>(env: &Arc<Env>, count: usize, keep: bool, topic_of: F) -> Opened
where
    F: Fn(usize) -> Option<String> + Send + Sync + 'static,
{
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let topic_of = Arc::new(topic_of);
    let workers = env.concurrency.min(count).max(1);
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let env = env.clone();
        let next = next.clone();
        let topic_of = topic_of.clone();
        handles.push(tokio::spawn(async move {
            let mut part = Opened::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let topic = topic_of(i);
                let t0 = Instant::now();
                match env.establish(topic.as_deref()).await {
                    Ok(conn) => {
                        part.setup_times
                            .record(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
                        part.established += 1;
                        if keep {
                            part.conns.push(conn);
                        }
                    }
                    Err(err) => {
                        part.errors += 1;
                        if part.first_error.is_none() {
                            part.first_error = Some(err.to_string());
                        }
                    }
                }
            }
            part
        }));
    }
    let mut all = Opened::default();
    for handle in handles {
        match handle.await {
            Ok(part) => {
                all.conns.extend(part.conns);
                all.established += part.established;
                all.errors += part.errors;
                all.setup_times.merge(&part.setup_times);
                if all.first_error.is_none() {
                    all.first_error = part.first_error;
                }
            }
            Err(err) => {
                all.errors += 1;
                all.first_error.get_or_insert_with(|| err.to_string());
            }
        }
    }
    all.elapsed = started.elapsed();
    all
}

/// Per-subscriber counters, padded to a cache line so threads do not share lines.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Slot {
    /// WAMP messages received since the subscription.
    pub received: AtomicU64,
    /// Socket reads that returned data (to judge the generator's cost per delivery).
    pub reads: AtomicU64,
    /// Set once the connection ended.
    pub gone: AtomicBool,
}

/// Reads `conn` until it ends, counting messages into `slot` without decoding them and
/// answering pings. Returns why the connection ended.
pub async fn skim_loop(mut conn: Conn, slot: Arc<Slot>) -> String {
    let mut count = 0u64;
    let mut reads = 0u64;
    let mut out = Vec::new();
    let reason = loop {
        let mut ping: Option<Vec<u8>> = None;
        let mut close: Option<String> = None;
        // Engine.IO's heartbeat (a `2` message), answered with `3` and not counted.
        let mut eio_pings = 0u64;
        let skimmed = conn.reader.skim(|kind, payload| match kind {
            FrameKind::Ping => ping = Some(payload.to_vec()),
            FrameKind::Close => close = Some(describe_close(payload)),
            FrameKind::Data if payload == b"2" => eio_pings += 1,
            FrameKind::Data | FrameKind::Pong => {}
        });
        match skimmed {
            Ok(n) => {
                if n > 0 {
                    count += n;
                    slot.received.store(count, Ordering::Relaxed);
                    slot.reads.store(reads, Ordering::Relaxed);
                }
            }
            Err(err) => break format!("framing error: {err}"),
        }
        if let Some(close) = close {
            break format!("the router closed the session ({close})");
        }
        if eio_pings > 0 {
            out.clear();
            if conn.writer.data(&mut out, b"3").is_ok() {
                if let Err(err) = conn.stream.write_all(&out).await {
                    break format!("write failed: {err}");
                }
            }
        }
        if let Some(ping) = ping {
            out.clear();
            if conn.writer.pong(&mut out, &ping).is_ok() {
                if let Err(err) = conn.stream.write_all(&out).await {
                    break format!("write failed: {err}");
                }
            }
        }
        match conn.stream.read(conn.reader.spare()).await {
            Ok(0) => break "the router closed the connection".to_owned(),
            Ok(n) => {
                reads += 1;
                conn.reader.commit(n);
            }
            Err(err) => break format!("read failed: {err}"),
        }
    };
    slot.gone.store(true, Ordering::Relaxed);
    reason
}

/// Counts the first few disconnection reasons for stderr, and all of them.
#[derive(Debug, Default)]
pub struct Disconnects {
    count: AtomicU64,
    reasons: Mutex<Vec<String>>,
}

impl Disconnects {
    /// Records one disconnection (the first five reasons are kept).
    pub fn record(&self, reason: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut reasons) = self.reasons.lock() {
            if reasons.len() < 5 {
                reasons.push(reason);
            }
        }
    }

    /// Disconnections so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The first reasons recorded.
    pub fn reasons(&self) -> Vec<String> {
        self.reasons.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// State the publisher's reader task shares with the publishing loop.
#[derive(Debug, Default)]
pub struct PublisherState {
    /// PUBLISHED acknowledgements received.
    pub acks: AtomicU64,
    /// ERROR replies and unexpected messages.
    pub errors: AtomicU64,
    /// Set when the connection ended.
    pub closed: AtomicBool,
    /// Why the connection ended, or the first ERROR.
    pub reason: Mutex<Option<String>>,
}

impl PublisherState {
    fn note(&self, reason: String) {
        if let Ok(mut r) = self.reason.lock() {
            r.get_or_insert(reason);
        }
    }

    /// The first error or the reason the connection ended.
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().ok().and_then(|r| r.clone())
    }
}

/// A publisher's connection split in two: this half writes; a spawned task reads, counting
/// acknowledgements and errors and passing pings back to be answered.
#[derive(Debug)]
pub struct PublisherLink {
    write: OwnedWriteHalf,
    /// Encoder of our frames.
    pub writer: FrameWriter,
    /// What the reader task saw.
    pub state: Arc<PublisherState>,
    pings: mpsc::UnboundedReceiver<Vec<u8>>,
    pong_buf: Vec<u8>,
}

impl PublisherLink {
    /// Splits `conn` and starts its reader task.
    pub fn start(conn: Conn) -> PublisherLink {
        let Conn {
            stream,
            mut reader,
            writer,
            serializer,
            ..
        } = conn;
        let (mut read, write) = stream.into_split();
        let state = Arc::new(PublisherState::default());
        let (ping_tx, pings) = mpsc::unbounded_channel();
        let shared = state.clone();
        tokio::spawn(async move {
            let reason = loop {
                let mut failed = None;
                loop {
                    match reader.next_frame() {
                        Ok(Some(frame)) => match frame.kind {
                            FrameKind::Data => match codec::decode(serializer, frame.payload) {
                                Ok(Message::Published { .. }) => {
                                    shared.acks.fetch_add(1, Ordering::Relaxed);
                                }
                                Ok(Message::Error { error, .. }) => {
                                    shared.errors.fetch_add(1, Ordering::Relaxed);
                                    shared.note(format!("PUBLISH refused: {error}"));
                                }
                                Ok(other) => {
                                    shared.errors.fetch_add(1, Ordering::Relaxed);
                                    shared.note(format!("unexpected {}", other.name()));
                                }
                                Err(err) => {
                                    shared.errors.fetch_add(1, Ordering::Relaxed);
                                    shared.note(format!("undecodable message: {err}"));
                                }
                            },
                            FrameKind::Ping => {
                                let _ = ping_tx.send(frame.payload.to_vec());
                            }
                            FrameKind::Pong => {}
                            FrameKind::Close => {
                                failed = Some(format!(
                                    "the router closed the publisher ({})",
                                    describe_close(frame.payload)
                                ));
                                break;
                            }
                        },
                        Ok(None) => break,
                        Err(err) => {
                            failed = Some(format!("framing error: {err}"));
                            break;
                        }
                    }
                }
                if let Some(reason) = failed {
                    break reason;
                }
                match read.read(reader.spare()).await {
                    Ok(0) => break "the router closed the publisher's connection".to_owned(),
                    Ok(n) => reader.commit(n),
                    Err(err) => break format!("publisher read failed: {err}"),
                }
            };
            shared.note(reason);
            shared.closed.store(true, Ordering::Relaxed);
        });
        PublisherLink {
            write,
            writer,
            state,
            pings,
            pong_buf: Vec::new(),
        }
    }

    /// Writes `frames` (pre-encoded), preceded by pongs for any pings received.
    pub async fn write(&mut self, frames: &[u8]) -> Result<(), BenchError> {
        self.pong_buf.clear();
        while let Ok(ping) = self.pings.try_recv() {
            self.writer.pong(&mut self.pong_buf, &ping)?;
        }
        if !self.pong_buf.is_empty() {
            self.write.write_all(&self.pong_buf).await?;
        }
        self.write.write_all(frames).await?;
        Ok(())
    }

    /// True once the connection ended.
    pub fn is_closed(&self) -> bool {
        self.state.closed.load(Ordering::Relaxed)
    }
}

/// Samples the CPU time of the generator and (if known) the router over a window.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    at: Instant,
    own: Option<f64>,
    router: Option<f64>,
    machine: Option<f64>,
    router_pid: Option<u32>,
}

impl CpuMeter {
    /// Starts a window now.
    pub fn start(router_pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            at: Instant::now(),
            own: sys::cpu_seconds(std::process::id()).ok(),
            router: router_pid.and_then(|pid| sys::cpu_seconds(pid).ok()),
            machine: sys::machine_busy_seconds().ok(),
            router_pid,
        }
    }

    /// CPU use since [`CpuMeter::start`], in percent of one core (so up to 100 × cores).
    pub fn finish(&self) -> CpuUse {
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        let pct = |before: Option<f64>, pid: Option<u32>| {
            let after = sys::cpu_seconds(pid?).ok()?;
            Some((after - before?) / wall * 100.0)
        };
        let machine = match (self.machine, sys::machine_busy_seconds()) {
            (Some(before), Ok(after)) => Some((after - before) / wall * 100.0),
            _ => None,
        };
        CpuUse {
            bench: pct(self.own, Some(std::process::id())),
            router: pct(self.router, self.router_pid),
            machine,
        }
    }
}

/// CPU use over a measured window.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    /// The generator's CPU, percent of one core.
    pub bench: Option<f64>,
    /// The router's CPU, percent of one core (needs `--pid`).
    pub router: Option<f64>,
    /// All CPU use on the machine (kernel included), percent of one core.
    pub machine: Option<f64>,
}

impl CpuUse {
    /// Adds `bench_cpu_pct`, `router_cpu_pct` (with `--pid`) and `other_cpu_pct` (what else
    /// ran on the machine meanwhile, e.g. a build: a warning sign for the figures) to `report`.
    pub fn add_to(&self, report: &mut Report) {
        if let Some(v) = self.bench {
            report.set_f64("bench_cpu_pct", v, 0);
        }
        if let Some(v) = self.router {
            report.set_f64("router_cpu_pct", v, 0);
        }
        if let Some(machine) = self.machine {
            let other = machine - self.bench.unwrap_or(0.0) - self.router.unwrap_or(0.0);
            report.set_f64("machine_cpu_pct", machine, 0);
            if self.router.is_some() {
                report.set_f64("other_cpu_pct", other.max(0.0), 0);
            }
        }
    }
}

/// Writes a progress line to stderr.
pub fn progress(message: impl AsRef<str>) {
    eprintln!("wampd-bench: {}", message.as_ref());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rawsocket;
    use tokio::net::{TcpListener, TcpStream};
    use wampd_proto::wamp::{Dict, Serializer, Value};

    async fn read_raw_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
        let mut h = [0u8; 4];
        s.read_exact(&mut h).await.expect("frame header");
        let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
        let mut payload = vec![0; len];
        s.read_exact(&mut payload).await.expect("frame payload");
        (h[0], payload)
    }

    async fn send_raw(s: &mut TcpStream, m: &Message) {
        let mut out = Vec::new();
        rawsocket::write_frame(
            &mut out,
            rawsocket::KIND_MESSAGE,
            &codec::encode(Serializer::Json, m),
        )
        .expect("frame");
        s.write_all(&out).await.expect("write");
    }

    /// A RawSocket router stand-in: handshake, WELCOME, SUBSCRIBED, then a PING and three
    /// EVENTs in one write; returns the PONG payload it got back.
    async fn mock_rawsocket_router(listener: TcpListener) -> Vec<u8> {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut hs = [0u8; 4];
        s.read_exact(&mut hs).await.expect("handshake");
        assert_eq!(hs[0], rawsocket::MAGIC);
        assert_eq!(hs[1] & 0x0F, 1, "JSON requested");
        assert_eq!(&hs[2..], &[0, 0]);
        s.write_all(&[0x7F, 0xF1, 0, 0]).await.expect("reply");
        let (kind, hello) = read_raw_frame(&mut s).await;
        assert_eq!(kind, rawsocket::KIND_MESSAGE);
        assert!(matches!(
            codec::decode(Serializer::Json, &hello),
            Ok(Message::Hello { realm, .. }) if realm == "realm1"
        ));
        send_raw(
            &mut s,
            &Message::Welcome {
                session: 42,
                details: Dict::new(),
            },
        )
        .await;
        let (_, subscribe) = read_raw_frame(&mut s).await;
        let Ok(Message::Subscribe { request, topic, .. }) =
            codec::decode(Serializer::Json, &subscribe)
        else {
            panic!("SUBSCRIBE expected");
        };
        assert_eq!(topic, "bench.topic");
        send_raw(
            &mut s,
            &Message::Subscribed {
                request,
                subscription: 7,
            },
        )
        .await;
        let mut out = Vec::new();
        rawsocket::write_frame(&mut out, rawsocket::KIND_PING, b"pingpong").expect("ping");
        for publication in 1..=3 {
            let event = Message::Event {
                subscription: 7,
                publication,
                details: Dict::new(),
                args: vec![Value::from("x")],
                kwargs: Dict::new(),
            };
            rawsocket::write_frame(
                &mut out,
                rawsocket::KIND_MESSAGE,
                &codec::encode(Serializer::Json, &event),
            )
            .expect("event");
        }
        s.write_all(&out).await.expect("events");
        let (kind, pong) = read_raw_frame(&mut s).await;
        assert_eq!(kind, rawsocket::KIND_PONG);
        pong
    }

    #[tokio::test]
    async fn a_rawsocket_session_joins_subscribes_counts_and_answers_pings() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = tokio::spawn(mock_rawsocket_router(listener));
        let target = Target::parse(&format!("rs://{addr}"), None).expect("target");
        let config = ConnConfig {
            serializer: Serializer::Json,
            read_buffer: 4096,
            max_message: 1 << 20,
        };
        let conn = Conn::establish(
            &target,
            None,
            &config,
            "realm1",
            Some("bench.topic"),
            Duration::from_secs(5),
        )
        .await
        .expect("session over RawSocket");
        assert_eq!(conn.session, 42);
        assert_eq!(conn.peer_limit, 16 << 20);
        let slot = Arc::new(Slot::default());
        let counter = tokio::spawn(skim_loop(conn, slot.clone()));
        let pong = tokio::time::timeout(Duration::from_secs(5), router)
            .await
            .expect("the mock router finishes")
            .expect("mock router task");
        assert_eq!(pong, b"pingpong");
        let deadline = Instant::now() + Duration::from_secs(5);
        while slot.received.load(Ordering::Relaxed) < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(slot.received.load(Ordering::Relaxed), 3);
        // The mock router is gone: the loop ends and says why.
        let reason = tokio::time::timeout(Duration::from_secs(5), counter)
            .await
            .expect("the loop ends")
            .expect("skim task");
        assert!(reason.contains("closed"), "{reason}");
        assert!(slot.gone.load(Ordering::Relaxed));
    }
}
