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
//! Either connection failing makes the node "disconnected": one warning is logged, the
//! `wampd_cluster_connected` gauge drops to 0, publications stay local (counted as dropped, no
//! replay), and both tasks reconnect with exponential backoff (100 ms doubling to 5 s, with
//! jitter) until Redis answers again, which is logged once at info.

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

use super::envelope::Queued;
use super::Backplane;
use crate::metrics::Metrics;
use crate::router::backplane::{Incoming, Outgoing};
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
        };
        Ok((backplane, tasks))
    }

    /// This node's random ID, stamped on every envelope it sends.
    pub fn node(&self) -> u64 {
        self.node
    }
}

impl Backplane for RedisBackplane {
    fn forward(&self, publication: &Outgoing<'_>) {
        if !self.link.up() {
            // No replay: a publication made while Redis is away stays local.
            self.sent_dropped.inc();
            return;
        }
        let queued = Queued {
            realm: Arc::from(publication.realm),
            bytes: publication.encode(self.node),
        };
        let len = queued.bytes.len();
        if self.queued_bytes.fetch_add(len, Ordering::AcqRel) + len > self.byte_limit {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.sent_dropped.inc();
            return;
        }
        if self.queue.try_send(queued).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.sent_dropped.inc();
        }
    }

    fn connected(&self) -> bool {
        self.link.up()
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
        } = self;
        let channels: Vec<String> = router
            .realms()
            .map(|realm| channel(&config.channel_prefix, realm.name()))
            .collect();
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
            dropped,
            stop: stop.clone(),
        }));
        tokio::spawn(receiver(ReceiverTask {
            node,
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
    dropped: Counter,
    stop: CancellationToken,
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
        // What waited in the queue during the outage is stale: drop it rather than replay it.
        let mut stale = 0u64;
        while task.take().is_some() {
            stale += 1;
        }
        task.dropped.inc_by(stale);
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
                let mut pipe = redis::pipe();
                for queued in &batch {
                    pipe.cmd("PUBLISH")
                        .arg(channel(&task.prefix, &queued.realm))
                        .arg(queued.bytes.as_ref())
                        .ignore();
                }
                let n = batch.len() as u64;
                batch.clear();
                match pipe.query_async::<()>(connection).await {
                    Ok(()) => {
                        task.sent.inc_by(n);
                    }
                    Err(err) => {
                        task.dropped.inc_by(n);
                        debug!(error = %err, "cluster backplane: PUBLISH failed");
                        return false;
                    }
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
                    deliver(task, message.get_payload_bytes());
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

fn deliver(task: &ReceiverTask, bytes: &[u8]) {
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
    fn the_queue_is_bounded_in_bytes_and_refuses_while_disconnected() {
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
        // Down: nothing is queued.
        backplane.forward(&publication);
        assert_eq!(metrics.cluster_dropped.get(), 1);
        assert!(tasks.queue.try_recv().is_err());
        // Up: the first fits, the second would exceed 1000 bytes.
        backplane.link.publisher_up.store(true, Ordering::Release);
        backplane.link.receiver_up.store(true, Ordering::Release);
        backplane.forward(&publication);
        backplane.forward(&publication);
        assert_eq!(metrics.cluster_dropped.get(), 2);
        let queued = tasks.queue.try_recv().map(|q| q.bytes.len()).unwrap_or(0);
        assert!(queued > 600, "{queued}");
        assert!(tasks.queue.try_recv().is_err());
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
