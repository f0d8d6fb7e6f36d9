//! The Redis pub/sub backplane.
//!
//! Channel scheme: one channel per realm, `{prefix}:realm:{realm}`; every node subscribes to the
//! channels of the realms it serves and receives every publication made in them on any node.
//! This is exactly-once by construction (one PUBLISH per publication, one SUBSCRIBE per node and
//! channel, so no node can get a publication twice whatever its subscriptions' overlaps) and
//! needs no subscription bookkeeping in Redis. Its cost is that every node decodes every
//! envelope; docs/clustering.md records the measurement behind that choice.
//!
//! Two tasks own the two Redis connections:
//!
//! * the **publisher** takes envelopes from a bounded queue (the router `try_send`s into it and
//!   never waits) and sends them pipelined, many PUBLISHes per round trip; it PINGs when idle
//!   so a dead connection is noticed without a publication having to fail first;
//! * the **receiver** SUBSCRIBEs and hands each envelope not stamped with this node's ID to the
//!   realm's local delivery, PINGing periodically for the same reason.
//!
//! The publisher task also keeps the cluster-wide session count: every 2 s it writes this
//! node's per-realm session counts to a hash `{prefix}:sessions:{node}` that expires after 6 s
//! (so a SIGKILLed node drops out by itself), registers the node in the set `{prefix}:nodes`,
//! and sums the hashes of every node still there for `wampd.cluster.session.count`.
//!
//! **Calls between nodes** (issue 21): every node subscribes to its own channel
//! `{prefix}:node:{node}` too, and a call for a procedure registered on another node, its
//! results, errors and cancels are PUBLISHed to the channel of the node they are for, through
//! the same queue as publications (so they stay in order). Which node has which procedures each
//! node stores as one MessagePack list under `{prefix}:procedures:{node}` (rewritten at every
//! change and every heartbeat, expiring like the session report) and announces on
//! `{prefix}:procedures` when it changes; the others read it then, and every node re-reads the
//! lists of all live nodes at each heartbeat. A node whose report expired is forgotten: its
//! procedures go, and the calls it served fail (see [`crate::router::dealer`]).
//!
//! **History topics** (`WEBSOCKET_HISTORY_TOPICS`) take another route, so that a stream's offsets
//! are the same on every node and any node can serve a recovery: the publishing node does not
//! deliver them itself but queues them for [`SEQUENCE_SCRIPT`], which numbers the publication in
//! the topic's hash `{prefix}:history-meta:{n}:{realm}:{topic}` (epoch, last offset), appends it
//! to the Redis stream `{prefix}:history:{n}:{realm}:{topic}` with the offset as entry ID and
//! PUBLISHes it with its position, in one atomic step. Every node (the publishing one included)
//! stores it at that position in its own copy of the stream and delivers it. A node that finds
//! it missed some (a gap in the offsets, another epoch, or after its own subscription came back)
//! reads them from the Redis stream first and delivers them in order; one that meets a stream
//! for the first time copies its past without delivering it.
//!
//! Either connection failing makes the node "disconnected": one warning is logged, the
//! `wampd_cluster_connected` gauge drops to 0, local delivery continues, and both tasks
//! reconnect with exponential backoff (100 ms doubling to 5 s, with jitter) until Redis answers
//! again, which is logged once at info. Publications made meanwhile wait in the bounded queue
//! (`wampd_cluster_publications_buffered_total`) and are sent in order once the node is
//! connected again; a batch whose send failed is sent again. History topics thereby lose
//! nothing (their events reach this node's subscribers once Redis is back); a plain publication
//! reaches another node only if that node's subscription is back before it is sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use rand::Rng;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::call_envelope::{decode_call, decode_procedures, encode_call, encode_procedures};
use super::envelope::{split_sequenced, Queued, Route};
use super::Backplane;
use crate::metrics::Metrics;
use crate::router::backplane::{Incoming, Outgoing, RemoteCall};
use crate::router::broker::Position;
use crate::router::history::Missing;
use crate::router::history::StreamLimits;
use crate::router::realm::ClusterCount;
use crate::router::Router;

/// Envelopes waiting for the publisher task; past this, publications stay local (counted).
pub const QUEUE_CAPACITY: usize = 16_384;
/// Encoded bytes waiting for the publisher task, at most (large payloads reach this first).
pub const QUEUE_BYTES: usize = 64 << 20;
/// Most PUBLISHes sent in one pipelined round trip.
const BATCH: usize = 256;
/// Publications from other nodes waiting for local delivery. redis-rs buffers pub/sub messages
/// without bound, so the receiver moves them at once into this bounded queue and drops (and
/// counts) what does not fit: a node that cannot keep up loses events, not memory.
pub const RECEIVE_QUEUE_CAPACITY: usize = 16_384;
/// Bytes of envelopes the receive queue may hold.
pub const RECEIVE_QUEUE_BYTES: usize = 64 << 20;
/// Time allowed to connect (TCP, TLS, AUTH, SELECT).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time allowed for Redis to answer a command.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often an idle connection is PINGed.
const PING_EVERY: Duration = Duration::from_secs(2);
/// First reconnect delay.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often a node reports its session counts.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// How long a node's report lives without being renewed.
const HEARTBEAT_TTL_SECS: u64 = 6;

/// What the backplane needs from configuration.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://host:port/db` or `rediss://…` (validated by settings).
    pub dsn: String,
    /// Prefix of every channel name, so several clusters can share one Redis.
    pub channel_prefix: String,
}

/// The channel of `realm`'s publications.
pub fn channel(prefix: &str, realm: &str) -> String {
    format!("{prefix}:realm:{realm}")
}

/// The channel of the messages of calls for `node`.
pub fn node_channel(prefix: &str, node: u64) -> String {
    format!("{prefix}:node:{node}")
}

/// The channel on which nodes announce that their procedures changed (the message: the node).
pub fn procedures_channel(prefix: &str) -> String {
    format!("{prefix}:procedures")
}

/// The key holding `node`'s procedures.
pub fn procedures_key(prefix: &str, node: u64) -> String {
    format!("{prefix}:procedures:{node}")
}

/// The Redis stream of `topic`'s history in `realm` (the realm's length keeps names apart
/// whatever characters realm and topic contain).
pub fn history_key(prefix: &str, realm: &str, topic: &str) -> String {
    format!("{prefix}:history:{}:{realm}:{topic}", realm.len())
}

/// The hash holding that stream's `epoch` and `last` offset.
pub fn history_meta_key(prefix: &str, realm: &str, topic: &str) -> String {
    format!("{prefix}:history-meta:{}:{realm}:{topic}", realm.len())
}

/// Numbers, stores and publishes one history publication, atomically. KEYS: meta hash, stream.
/// ARGV: a fresh epoch (used when the stream has none), the stream's length bound, the
/// envelope, the channel, the time in milliseconds, the keys' idle lifetime in seconds (0:
/// none). A stream left without its hash (never by wampd) is dropped rather than mixed.
pub const SEQUENCE_SCRIPT: &str = r#"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local offset = redis.call('HINCRBY', KEYS[1], 'last', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], string.format('%d-0', offset),
  'p', epoch, 't', ARGV[5], 'e', ARGV[3])
local ttl = tonumber(ARGV[6])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
redis.call('PUBLISH', ARGV[4], 'H' .. epoch .. ':' .. string.format('%d', offset) .. ':' .. ARGV[3])
return offset
"#;

/// Entries read from a Redis stream per XRANGE.
const BACKFILL_PAGE: usize = 1_000;

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// Connection state shared by the two tasks and the router-facing handle.
#[derive(Debug)]
struct Link {
    publisher_up: AtomicBool,
    receiver_up: AtomicBool,
    /// What was last logged, so a loss and a recovery are each logged once.
    reported: AtomicU8,
    gauge: Gauge,
    losses: Counter,
}

impl Link {
    fn up(&self) -> bool {
        self.publisher_up.load(Ordering::Acquire) && self.receiver_up.load(Ordering::Acquire)
    }

    fn set(&self, flag: &AtomicBool, up: bool) {
        flag.store(up, Ordering::Release);
        let now = if self.up() { UP } else { DOWN };
        if now == DOWN && up {
            // One connection is up, the other not yet: not a change worth reporting.
            return;
        }
        let before = self.reported.swap(now, Ordering::AcqRel);
        if before == now {
            return;
        }
        self.gauge.set(i64::from(now == UP));
        match (before, now) {
            (_, UP) => info!("cluster backplane connected, delivering across nodes"),
            (UP, _) => {
                self.losses.inc();
                warn!("cluster backplane lost, delivering locally");
            }
            _ => {
                self.losses.inc();
                warn!("cluster backplane unreachable, delivering locally until it answers");
            }
        }
    }
}

/// The router-facing half: encodes and queues publications for the publisher task.
#[derive(Debug)]
pub struct RedisBackplane {
    node: u64,
    queue: mpsc::Sender<Queued>,
    /// Bytes in `queue`, bounded by `byte_limit` ([`QUEUE_BYTES`]).
    queued_bytes: Arc<AtomicUsize>,
    byte_limit: usize,
    link: Arc<Link>,
    sent_dropped: Counter,
    buffered: Counter,
    /// A [`Route::Procedures`] is queued and not yet sent: further changes ride on it.
    announce_queued: Arc<AtomicBool>,
}

/// The tasks to start once the router exists (it needs the backplane, the receiver needs it).
#[derive(Debug)]
pub struct RedisTasks {
    node: u64,
    client: Client,
    config: RedisConfig,
    queue: mpsc::Receiver<Queued>,
    queued_bytes: Arc<AtomicUsize>,
    link: Arc<Link>,
    sent: Counter,
    received: Counter,
    receive_dropped: Counter,
    dropped: Counter,
    announce_queued: Arc<AtomicBool>,
}

impl RedisBackplane {
    /// Prepares a backplane for `config`. Fails only when the DSN cannot be used at all
    /// (settings validate it first); connecting happens in the tasks, so a node starts even
    /// while Redis is down.
    pub fn new(
        config: RedisConfig,
        metrics: &Metrics,
    ) -> Result<(Arc<RedisBackplane>, RedisTasks), String> {
        let client = Client::open(config.dsn.as_str()).map_err(|err| err.to_string())?;
        let node = wampd_proto::wamp::id::random_id();
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let announce_queued = Arc::new(AtomicBool::new(false));
        let link = Arc::new(Link {
            publisher_up: AtomicBool::new(false),
            receiver_up: AtomicBool::new(false),
            reported: AtomicU8::new(UNKNOWN),
            gauge: metrics.cluster_connected.clone(),
            losses: metrics.cluster_disconnects.clone(),
        });
        let backplane = Arc::new(RedisBackplane {
            node,
            queue: tx,
            queued_bytes: queued_bytes.clone(),
            byte_limit: QUEUE_BYTES,
            link: link.clone(),
            sent_dropped: metrics.cluster_dropped.clone(),
            buffered: metrics.cluster_buffered.clone(),
            announce_queued: announce_queued.clone(),
        });
        let tasks = RedisTasks {
            node,
            client,
            config,
            queue: rx,
            queued_bytes,
            link,
            sent: metrics.cluster_sent.clone(),
            received: metrics.cluster_received.clone(),
            receive_dropped: metrics.cluster_receive_dropped.clone(),
            dropped: metrics.cluster_dropped.clone(),
            announce_queued,
        };
        Ok((backplane, tasks))
    }
}

impl RedisBackplane {
    /// Queues an envelope for the publisher task, within the queue's bounds; while Redis is
    /// away it waits there (counted as buffered). False (counted as dropped) when it does not fit.
    fn enqueue(&self, queued: Queued) -> bool {
        let len = queued.bytes.len();
        if self.queued_bytes.fetch_add(len, Ordering::AcqRel) + len > self.byte_limit {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.sent_dropped.inc();
            return false;
        }
        if self.queue.try_send(queued).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.sent_dropped.inc();
            return false;
        }
        if !self.link.up() {
            self.buffered.inc();
        }
        true
    }
}

impl Backplane for RedisBackplane {
    fn forward(&self, publication: &Outgoing<'_>) {
        self.enqueue(Queued {
            realm: Arc::from(publication.realm),
            bytes: publication.encode(self.node),
            route: Route::Publish,
        });
    }

    fn sequence(&self, publication: &Outgoing<'_>, limits: StreamLimits) -> bool {
        self.enqueue(Queued {
            realm: Arc::from(publication.realm),
            bytes: publication.encode(self.node),
            route: Route::Sequence {
                topic: Arc::from(publication.topic),
                size: limits.size,
                ttl_secs: limits.ttl.map_or(0, |ttl| ttl.as_secs().max(1)),
            },
        })
    }

    fn connected(&self) -> bool {
        self.link.up()
    }

    /// This node's random ID, stamped on every envelope it sends.
    fn node(&self) -> u64 {
        self.node
    }

    fn send_call(&self, node: u64, realm: &str, message: &RemoteCall) -> bool {
        self.enqueue(Queued {
            realm: Arc::from(realm),
            bytes: encode_call(self.node, realm, message),
            route: Route::Node(node),
        })
    }

    fn procedures_changed(&self) {
        if self.announce_queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let queued = self.enqueue(Queued {
            realm: Arc::from(""),
            bytes: bytes::Bytes::new(),
            route: Route::Procedures,
        });
        if !queued {
            // The next heartbeat stores the set anyway.
            self.announce_queued.store(false, Ordering::Release);
        }
    }
}

impl RedisTasks {
    /// Starts the publisher and receiver tasks; they run until `stop` is cancelled.
    pub fn spawn(self, router: Arc<Router>, stop: CancellationToken) {
        let RedisTasks {
            node,
            client,
            config,
            queue,
            queued_bytes,
            link,
            sent,
            received,
            receive_dropped,
            dropped,
            announce_queued,
        } = self;
        let mut channels: Vec<String> = router
            .realms()
            .map(|realm| channel(&config.channel_prefix, realm.name()))
            .collect();
        channels.push(node_channel(&config.channel_prefix, node));
        channels.push(procedures_channel(&config.channel_prefix));
        for realm in router.realms() {
            realm.set_cluster_sessions(ClusterCount::Unknown);
        }
        tokio::spawn(publisher(PublisherTask {
            node,
            router: router.clone(),
            client: client.clone(),
            prefix: config.channel_prefix.clone(),
            queue,
            queued_bytes,
            link: link.clone(),
            sent,
            refused: dropped,
            stop: stop.clone(),
            unsent: Vec::new(),
            announce_queued,
        }));
        tokio::spawn(receiver(ReceiverTask {
            node,
            node_channel: node_channel(&config.channel_prefix, node),
            procedures_channel: procedures_channel(&config.channel_prefix),
            prefix: config.channel_prefix.clone(),
            client,
            channels,
            router,
            link,
            received,
            receive_dropped,
            stop,
        }));
    }
}

/// Exponential backoff with jitter: each delay is drawn from [d/2, d], d doubling up to the cap.
/// Shared with the other Redis consumers (the Socket.IO queue).
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    /// Starts at the shortest delay.
    pub(crate) fn new() -> Backoff {
        Backoff { next: BACKOFF_MIN }
    }

    /// Back to the shortest delay (after a success).
    pub(crate) fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }

    /// The next delay.
    pub(crate) fn delay(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

/// Sleeps `delay` unless `stop` comes first; false when stopping.
pub(crate) async fn pause(delay: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

fn connection_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

struct PublisherTask {
    node: u64,
    router: Arc<Router>,
    client: Client,
    prefix: String,
    queue: mpsc::Receiver<Queued>,
    queued_bytes: Arc<AtomicUsize>,
    link: Arc<Link>,
    sent: Counter,
    /// Envelopes Redis refused (an error reply, not a lost connection).
    refused: Counter,
    stop: CancellationToken,
    /// A batch whose send failed: sent again, first, on the next connection.
    unsent: Vec<Queued>,
    /// Cleared when a queued [`Route::Procedures`] is sent.
    announce_queued: Arc<AtomicBool>,
}

impl PublisherTask {
    /// Takes one envelope off the queue without waiting, releasing its bytes.
    fn take(&mut self) -> Option<Queued> {
        let queued = self.queue.try_recv().ok()?;
        self.release(&queued);
        Some(queued)
    }

    fn release(&self, queued: &Queued) {
        self.queued_bytes
            .fetch_sub(queued.bytes.len(), Ordering::AcqRel);
    }
}

async fn publisher(mut task: PublisherTask) {
    let mut backoff = Backoff::new();
    let config = connection_config();
    loop {
        let connecting = tokio::select! {
            _ = task.stop.cancelled() => return,
            c = task.client.get_multiplexed_async_connection_with_config(&config) => c,
        };
        match connecting {
            Ok(mut connection) => {
                backoff.reset();
                task.link.set(&task.link.publisher_up, true);
                let stopped = serve_publications(&mut task, &mut connection).await;
                forget_counts(&task.router);
                task.link.set(&task.link.publisher_up, false);
                if stopped {
                    return;
                }
            }
            Err(err) => {
                debug!(error = %err, "cluster backplane: publisher cannot connect");
                task.link.set(&task.link.publisher_up, false);
            }
        }
        // What waits in the queue (and a failed batch) is sent once connected again.
        if !pause(backoff.delay(), &task.stop).await {
            return;
        }
    }
}

/// Sends queued envelopes until the connection fails (false) or the node stops (true).
async fn serve_publications(
    task: &mut PublisherTask,
    connection: &mut MultiplexedConnection,
) -> bool {
    let mut batch: Vec<Queued> = Vec::with_capacity(BATCH);
    let mut idle = tokio::time::interval(PING_EVERY);
    idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    idle.reset();
    let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Give this node's own subscription a moment to come back first (it delivers the sequenced
    // publications here), then send what the outage left behind.
    let deadline = Instant::now() + RESPONSE_TIMEOUT;
    while !task.link.up() && Instant::now() < deadline {
        if !pause(Duration::from_millis(20), &task.stop).await {
            return true;
        }
    }
    if !task.unsent.is_empty() {
        let batch = std::mem::take(&mut task.unsent);
        if !send_batch(task, connection, batch).await {
            return false;
        }
    }
    loop {
        tokio::select! {
            _ = task.stop.cancelled() => return true,
            _ = beat.tick() => {
                if let Err(err) = heartbeat(task, connection).await {
                    debug!(error = %err, "cluster backplane: heartbeat failed");
                    return false;
                }
            }
            first = task.queue.recv() => {
                let Some(first) = first else { return true };
                task.release(&first);
                batch.push(first);
                while batch.len() < BATCH {
                    match task.take() {
                        Some(more) => batch.push(more),
                        None => break,
                    }
                }
                if !send_batch(task, connection, std::mem::take(&mut batch)).await {
                    return false;
                }
                idle.reset();
            }
            _ = idle.tick() => {
                if let Err(err) = redis::cmd("PING").query_async::<()>(connection).await {
                    debug!(error = %err, "cluster backplane: publisher PING failed");
                    return false;
                }
            }
        }
    }
}

/// Sends one pipelined batch: PUBLISH for plain envelopes, [`SEQUENCE_SCRIPT`] for history
/// ones, in queue order. On failure the batch is kept for the next connection (false). A batch
/// Redis executed only in part before the connection broke is sent again whole, so a
/// publication may then reach other nodes twice; sequenced ones get a second offset.
async fn send_batch(
    task: &mut PublisherTask,
    connection: &mut MultiplexedConnection,
    batch: Vec<Queued>,
) -> bool {
    let mut pipe = redis::pipe();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    for queued in &batch {
        let channel = channel(&task.prefix, &queued.realm);
        match &queued.route {
            Route::Node(node) => {
                pipe.cmd("PUBLISH")
                    .arg(node_channel(&task.prefix, *node))
                    .arg(queued.bytes.as_ref())
                    .ignore();
            }
            Route::Procedures => {
                // Cleared first: a change made while this is sent queues another announcement.
                task.announce_queued.store(false, Ordering::Release);
                store_procedures(&mut pipe, task);
                pipe.cmd("PUBLISH")
                    .arg(procedures_channel(&task.prefix))
                    .arg(task.node)
                    .ignore();
            }
            Route::Publish => {
                pipe.cmd("PUBLISH")
                    .arg(channel)
                    .arg(queued.bytes.as_ref())
                    .ignore();
            }
            Route::Sequence {
                topic,
                size,
                ttl_secs,
            } => {
                pipe.cmd("EVAL")
                    .arg(SEQUENCE_SCRIPT)
                    .arg(2)
                    .arg(history_meta_key(&task.prefix, &queued.realm, topic))
                    .arg(history_key(&task.prefix, &queued.realm, topic))
                    .arg(format!("{:x}", wampd_proto::wamp::id::random_id()))
                    .arg(*size)
                    .arg(queued.bytes.as_ref())
                    .arg(channel)
                    .arg(now_ms)
                    .arg(*ttl_secs)
                    .ignore();
            }
        }
    }
    match pipe.query_async::<()>(connection).await {
        Ok(()) => {
            task.sent.inc_by(batch.len() as u64);
            true
        }
        Err(err) if err.is_io_error() || err.is_connection_dropped() || err.is_timeout() => {
            debug!(error = %err, "cluster backplane: PUBLISH failed, kept for the next connection");
            task.unsent = batch;
            false
        }
        Err(err) => {
            // Redis answered with an error (out of memory, a key of the wrong type): sending the
            // batch again would fail the same way and hold up everything behind it.
            task.refused.inc_by(batch.len() as u64);
            crate::router::log_budget::connection_warning(|suppressed| {
                warn!(error = %err, suppressed, "cluster backplane: Redis refused a batch of publications; they stayed on this node");
            });
            true
        }
    }
}

/// Adds the commands storing this node's procedures (or deleting the key when it has none).
fn store_procedures(pipe: &mut redis::Pipeline, task: &PublisherTask) {
    let key = procedures_key(&task.prefix, task.node);
    let procedures = task.router.announced_procedures();
    if procedures.is_empty() {
        pipe.cmd("DEL").arg(key).ignore();
    } else {
        pipe.cmd("SET")
            .arg(key)
            .arg(encode_procedures(&procedures).as_ref())
            .arg("EX")
            .arg(HEARTBEAT_TTL_SECS)
            .ignore();
    }
}

/// What `node` announced, as stored (nothing when the key is absent or unreadable).
fn read_procedures(node: u64, stored: Option<Vec<u8>>) -> Vec<crate::router::backplane::Announced> {
    match stored.map(|bytes| decode_procedures(&bytes)) {
        None => Vec::new(),
        Some(Ok(procedures)) => procedures,
        Some(Err(err)) => {
            debug!(node, error = %err, "cluster backplane: a node's procedures ignored");
            Vec::new()
        }
    }
}

/// Reports this node's session counts and sums every live node's, per realm.
async fn heartbeat(
    task: &PublisherTask,
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<()> {
    let key = |node: u64| format!("{}:sessions:{node}", task.prefix);
    let nodes = format!("{}:nodes", task.prefix);
    let mut pipe = redis::pipe();
    let hset = pipe.cmd("HSET").arg(key(task.node));
    for realm in task.router.realms() {
        hset.arg(realm.name()).arg(realm.session_count());
    }
    hset.ignore();
    pipe.cmd("EXPIRE")
        .arg(key(task.node))
        .arg(HEARTBEAT_TTL_SECS)
        .ignore();
    pipe.cmd("SADD").arg(&nodes).arg(task.node).ignore();
    store_procedures(&mut pipe, task);
    pipe.cmd("SMEMBERS").arg(&nodes);
    let (members,): (Vec<u64>,) = pipe.query_async(connection).await?;
    let mut pipe = redis::pipe();
    for member in &members {
        pipe.cmd("HGETALL").arg(key(*member));
    }
    let reports: Vec<HashMap<String, u64>> = pipe.query_async(connection).await?;
    let mut totals: HashMap<String, u64> = HashMap::new();
    let mut gone = Vec::new();
    for (member, report) in members.iter().zip(reports) {
        if report.is_empty() {
            gone.push(*member);
        }
        for (realm, count) in report {
            *totals.entry(realm).or_default() += count;
        }
    }
    if !gone.is_empty() {
        // Expired reports: nodes that stopped (or were killed) without saying so.
        redis::cmd("SREM")
            .arg(&nodes)
            .arg(&gone)
            .query_async::<()>(connection)
            .await?;
    }
    let now = Instant::now();
    for realm in task.router.realms() {
        let count = totals.get(realm.name()).copied().unwrap_or(0);
        realm.set_cluster_sessions(ClusterCount::Known(count, now));
    }
    // Calls: every live node's procedures, read again; nodes that are gone are forgotten.
    let live: Vec<u64> = members
        .iter()
        .copied()
        .filter(|m| *m != task.node && !gone.contains(m))
        .collect();
    if !live.is_empty() {
        let mut pipe = redis::pipe();
        for member in &live {
            pipe.cmd("GET").arg(procedures_key(&task.prefix, *member));
        }
        let stored: Vec<Option<Vec<u8>>> = pipe.query_async(connection).await?;
        for (member, stored) in live.iter().zip(stored) {
            task.router
                .set_remote_procedures(*member, read_procedures(*member, stored));
        }
    }
    for peer in task.router.call_peers() {
        if !live.contains(&peer) {
            info!(
                node = peer,
                "cluster node left: its procedures are forgotten and its calls end"
            );
            task.router.forget_node(peer);
        }
    }
    Ok(())
}

/// Marks every realm's cluster-wide count unknown (the backplane is down).
fn forget_counts(router: &Router) {
    for realm in router.realms() {
        realm.set_cluster_sessions(ClusterCount::Unknown);
    }
}

struct ReceiverTask {
    node: u64,
    prefix: String,
    /// This node's own channel (calls between nodes) and the procedure announcements.
    node_channel: String,
    procedures_channel: String,
    client: Client,
    channels: Vec<String>,
    router: Arc<Router>,
    link: Arc<Link>,
    received: Counter,
    receive_dropped: Counter,
    stop: CancellationToken,
}

async fn receiver(task: ReceiverTask) {
    let mut backoff = Backoff::new();
    loop {
        let stopped = tokio::select! {
            _ = task.stop.cancelled() => return,
            outcome = receive(&task, &mut backoff) => outcome,
        };
        // Other nodes' reports can no longer be trusted to be current (forgotten before the
        // gauge says so, so nobody reads a stale count after seeing the backplane down).
        forget_counts(&task.router);
        task.link.set(&task.link.receiver_up, false);
        if stopped || !pause(backoff.delay(), &task.stop).await {
            return;
        }
    }
}

/// One connection's life: subscribe, deliver until it fails. True when the node stops.
async fn receive(task: &ReceiverTask, backoff: &mut Backoff) -> bool {
    let pubsub = match tokio::time::timeout(CONNECT_TIMEOUT, task.client.get_async_pubsub()).await {
        Ok(Ok(pubsub)) => pubsub,
        Ok(Err(err)) => {
            debug!(error = %err, "cluster backplane: receiver cannot connect");
            return false;
        }
        Err(_) => {
            debug!("cluster backplane: receiver connect timed out");
            return false;
        }
    };
    let (mut sink, mut stream) = pubsub.split();
    match tokio::time::timeout(RESPONSE_TIMEOUT, sink.subscribe(&task.channels)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            debug!(error = %err, "cluster backplane: SUBSCRIBE failed");
            return false;
        }
        Err(_) => return false,
    }
    // A second connection reads the history streams (a subscribed connection cannot).
    let config = connection_config();
    let mut reader = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        task.client
            .get_multiplexed_async_connection_with_config(&config),
    )
    .await
    {
        Ok(Ok(reader)) => reader,
        _ => {
            debug!("cluster backplane: receiver cannot open its stream reader");
            return false;
        }
    };
    if let Err(err) = catch_up(task, &mut reader).await {
        debug!(error = %err, "cluster backplane: catching up on the history streams failed");
        return false;
    }
    backoff.reset();
    task.link.set(&task.link.receiver_up, true);
    let mut idle = tokio::time::interval(PING_EVERY);
    idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    idle.reset();
    let mut backlog: std::collections::VecDeque<redis::Msg> = std::collections::VecDeque::new();
    let mut backlog_bytes = 0usize;
    loop {
        tokio::select! {
            biased;
            message = stream.next() => {
                let Some(message) = message else { return false };
                let size = message.get_payload_bytes().len();
                if backlog.len() >= RECEIVE_QUEUE_CAPACITY
                    || backlog_bytes + size > RECEIVE_QUEUE_BYTES
                {
                    task.receive_dropped.inc();
                } else {
                    backlog_bytes += size;
                    backlog.push_back(message);
                }
            }
            _ = std::future::ready(()), if !backlog.is_empty() => {
                if let Some(message) = backlog.pop_front() {
                    backlog_bytes -= message.get_payload_bytes().len();
                    let channel = message.get_channel_name();
                    let bytes = message.get_payload_bytes();
                    if channel == task.node_channel {
                        deliver_call(task, bytes);
                        continue;
                    }
                    if channel == task.procedures_channel {
                        if let Err(err) = refresh_procedures(task, &mut reader, bytes).await {
                            debug!(error = %err, "cluster backplane: reading a node's procedures failed");
                            return false;
                        }
                        continue;
                    }
                    if let Err(err) = deliver(task, &mut reader, bytes).await {
                        debug!(error = %err, "cluster backplane: reading a history stream failed");
                        return false;
                    }
                }
            }
            _ = idle.tick() => {
                match tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<()>()).await {
                    Ok(Ok(())) => {}
                    _ => {
                        debug!("cluster backplane: receiver PING failed");
                        return false;
                    }
                }
            }
        }
    }
}

/// Delivers one message from the realm channels. A sequenced one that shows this node missed
/// part of its stream is preceded by what it missed, read from the Redis stream.
async fn deliver(
    task: &ReceiverTask,
    reader: &mut MultiplexedConnection,
    bytes: &[u8],
) -> redis::RedisResult<()> {
    let Some((epoch, offset, envelope)) = split_sequenced(bytes).filter(|(_, o, _)| *o > 0) else {
        deliver_plain(task, bytes);
        return Ok(());
    };
    let mut incoming = match Incoming::decode(envelope) {
        Ok(incoming) => incoming,
        Err(err) => {
            debug!(error = %err, "cluster backplane: sequenced envelope ignored");
            return Ok(());
        }
    };
    let position = Position {
        epoch: Arc::from(epoch),
        offset,
    };
    incoming.sequenced = Some((position.clone(), std::time::SystemTime::now()));
    if incoming.node != task.node {
        task.received.inc();
    }
    let Some(realm) = task.router.realm(&incoming.realm) else {
        return Ok(());
    };
    let key = history_key(&task.prefix, realm.name(), &incoming.topic);
    match realm.history().missing_before(&incoming.topic, &position) {
        Missing::Nothing => {}
        Missing::Stream => {
            for past in read_stream(reader, &key, epoch, 1, offset - 1).await? {
                realm.remember(&past);
            }
        }
        Missing::From(first) => {
            for past in read_stream(reader, &key, epoch, first, offset - 1).await? {
                realm.deliver_remote(&past);
            }
        }
    }
    realm.deliver_remote(&incoming);
    Ok(())
}

/// Once subscribed again: every stream this node holds is compared with Redis, and what was
/// published meanwhile (while this node's subscription was down) is delivered in order.
async fn catch_up(
    task: &ReceiverTask,
    reader: &mut MultiplexedConnection,
) -> redis::RedisResult<()> {
    for realm in task.router.realms() {
        let held = realm.history().positions();
        if held.is_empty() {
            continue;
        }
        let mut pipe = redis::pipe();
        for (topic, _) in &held {
            pipe.cmd("HMGET")
                .arg(history_meta_key(&task.prefix, realm.name(), topic))
                .arg("epoch")
                .arg("last");
        }
        let heads: Vec<(Option<String>, Option<u64>)> = pipe.query_async(reader).await?;
        for ((topic, local), head) in held.iter().zip(heads) {
            let (Some(epoch), Some(last)) = head else {
                continue;
            };
            let from = if *local.epoch == *epoch {
                local.offset.saturating_add(1)
            } else {
                1
            };
            if from > last {
                continue;
            }
            let key = history_key(&task.prefix, realm.name(), topic);
            for past in read_stream(reader, &key, &epoch, from, last).await? {
                realm.deliver_remote(&past);
            }
        }
    }
    Ok(())
}

/// The entries of `epoch` in the Redis stream `key` with offsets `from..=to`, in order (at most
/// the stream's length bound, read a page at a time).
async fn read_stream(
    reader: &mut MultiplexedConnection,
    key: &str,
    epoch: &str,
    from: u64,
    to: u64,
) -> redis::RedisResult<Vec<Incoming>> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to && out.len() < crate::router::history::MAX_STREAM_SIZE {
        let page: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
            .arg(key)
            .arg(format!("{start}-0"))
            .arg(format!("{to}-0"))
            .arg("COUNT")
            .arg(BACKFILL_PAGE)
            .query_async(reader)
            .await?;
        let full = page.len() == BACKFILL_PAGE;
        for (id, fields) in page {
            if let Some(incoming) = stream_entry(&id, &fields) {
                if let Some((position, _)) = &incoming.sequenced {
                    start = position.offset.saturating_add(1);
                    if *position.epoch == *epoch {
                        out.push(incoming);
                    }
                }
            }
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

/// One stream entry (`<offset>-0`, fields `p` epoch, `t` milliseconds, `e` envelope) as the
/// sequenced publication it holds; `None` (skipped) when it is not one.
fn stream_entry(id: &str, fields: &[Vec<u8>]) -> Option<Incoming> {
    let offset: u64 = id.split('-').next()?.parse().ok().filter(|&o| o > 0)?;
    let (mut epoch, mut at, mut envelope) = (None, None, None);
    for pair in fields.chunks(2) {
        let [name, value] = pair else { continue };
        match name.as_slice() {
            b"p" => epoch = std::str::from_utf8(value).ok(),
            b"t" => at = std::str::from_utf8(value).ok()?.parse::<u64>().ok(),
            b"e" => envelope = Some(value.as_slice()),
            _ => {}
        }
    }
    let mut incoming = Incoming::decode(envelope?).ok()?;
    incoming.sequenced = Some((
        Position {
            epoch: Arc::from(epoch?),
            offset,
        },
        std::time::UNIX_EPOCH + Duration::from_millis(at?),
    ));
    Some(incoming)
}

/// Hands one message of a call between nodes to the router.
fn deliver_call(task: &ReceiverTask, bytes: &[u8]) {
    match decode_call(bytes) {
        Ok(envelope) => {
            task.received.inc();
            task.router
                .remote_call(envelope.from, &envelope.realm, envelope.message);
        }
        Err(err) => debug!(error = %err, "cluster backplane: call message ignored"),
    }
}

/// Another node announced that its procedures changed (`bytes`: its ID): reads them.
async fn refresh_procedures(
    task: &ReceiverTask,
    reader: &mut MultiplexedConnection,
    bytes: &[u8],
) -> redis::RedisResult<()> {
    let Some(node) = std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        debug!("cluster backplane: malformed procedure announcement ignored");
        return Ok(());
    };
    if node == task.node {
        return Ok(());
    }
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg(procedures_key(&task.prefix, node))
        .query_async(reader)
        .await?;
    task.router
        .set_remote_procedures(node, read_procedures(node, stored));
    Ok(())
}

fn deliver_plain(task: &ReceiverTask, bytes: &[u8]) {
    let incoming = match Incoming::decode(bytes) {
        Ok(incoming) => incoming,
        Err(err) => {
            debug!(error = %err, "cluster backplane: envelope ignored");
            return;
        }
    };
    if incoming.node == task.node {
        return;
    }
    task.received.inc();
    match task.router.realm(&incoming.realm) {
        Some(realm) => {
            realm.deliver_remote(&incoming);
        }
        None => {
            debug!(realm = %incoming.realm, "cluster backplane: publication for a realm this node does not serve")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        let mut backoff = Backoff::new();
        let delays: Vec<Duration> = (0..10).map(|_| backoff.delay()).collect();
        assert!(delays[0] >= BACKOFF_MIN / 2 && delays[0] <= BACKOFF_MIN);
        assert!(delays.iter().all(|d| *d <= BACKOFF_MAX));
        assert!(delays[9] >= BACKOFF_MAX / 2);
        backoff.reset();
        assert!(backoff.delay() <= BACKOFF_MIN);
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_and_buffers_while_disconnected() {
        use crate::router::broker::Publisher;
        use crate::router::publish_options::PublishOptions;
        use wampd_proto::wamp::{Dict, Value};

        let metrics = Metrics::new();
        let config = RedisConfig {
            dsn: "redis://127.0.0.1:1/0".into(),
            channel_prefix: "wampd".into(),
        };
        let (backplane, mut tasks) = match RedisBackplane::new(config, &metrics) {
            Ok(made) => made,
            Err(err) => panic!("{err}"),
        };
        let mut backplane = match Arc::try_unwrap(backplane) {
            Ok(b) => b,
            Err(_) => panic!("one owner"),
        };
        backplane.byte_limit = 1000;
        let options = Dict::new();
        let parsed = PublishOptions::default();
        let args = [Value::Bin(vec![7; 600])];
        let kwargs = Dict::new();
        let publication = Outgoing {
            realm: "realm1",
            topic: "t",
            publication: 1,
            publisher: Publisher {
                id: 1,
                authid: "a",
                authrole: "r",
            },
            options: &options,
            parsed: &parsed,
            args: &args,
            kwargs: &kwargs,
            v1_payload: None,
        };
        // Down: queued all the same (buffered until Redis is back); the second would exceed
        // 1000 bytes and is dropped.
        backplane.forward(&publication);
        assert_eq!(metrics.cluster_buffered.get(), 1);
        backplane.forward(&publication);
        assert_eq!(metrics.cluster_dropped.get(), 1);
        let queued = tasks.queue.try_recv().map(|q| q.bytes.len()).unwrap_or(0);
        assert!(queued > 600, "{queued}");
        assert!(tasks.queue.try_recv().is_err());
        assert_eq!(tasks.queued_bytes.load(Ordering::Acquire), queued);
        tasks.queued_bytes.fetch_sub(queued, Ordering::AcqRel);
        // Up: queued, not counted as buffered.
        backplane.link.publisher_up.store(true, Ordering::Release);
        backplane.link.receiver_up.store(true, Ordering::Release);
        backplane.forward(&publication);
        assert_eq!(metrics.cluster_buffered.get(), 1);
        let queued = tasks.queue.try_recv().map(|q| q.bytes.len()).unwrap_or(0);
        assert_eq!(tasks.queued_bytes.load(Ordering::Acquire), queued);
    }

    #[test]
    fn channels_are_prefixed_per_realm() {
        assert_eq!(channel("wampd", "realm1"), "wampd:realm:realm1");
    }

    #[test]
    fn loss_and_recovery_are_reported_once() {
        let metrics = Metrics::new();
        let link = Link {
            publisher_up: AtomicBool::new(false),
            receiver_up: AtomicBool::new(false),
            reported: AtomicU8::new(UNKNOWN),
            gauge: metrics.cluster_connected.clone(),
            losses: metrics.cluster_disconnects.clone(),
        };
        link.set(&link.publisher_up, true);
        assert_eq!(link.gauge.get(), 0);
        link.set(&link.receiver_up, true);
        assert_eq!(link.gauge.get(), 1);
        link.set(&link.receiver_up, false);
        link.set(&link.publisher_up, false);
        link.set(&link.receiver_up, false);
        assert_eq!(link.gauge.get(), 0);
        assert_eq!(
            link.losses.get(),
            1,
            "one loss, however many failures report it"
        );
        link.set(&link.publisher_up, true);
        link.set(&link.receiver_up, true);
        assert_eq!(link.gauge.get(), 1);

        let fresh = Link {
            publisher_up: AtomicBool::new(false),
            receiver_up: AtomicBool::new(false),
            reported: AtomicU8::new(UNKNOWN),
            gauge: Gauge::default(),
            losses: Counter::default(),
        };
        fresh.set(&fresh.receiver_up, false);
        fresh.set(&fresh.publisher_up, false);
        assert_eq!(
            fresh.losses.get(),
            1,
            "unreachable at start-up is reported once"
        );
    }
}
