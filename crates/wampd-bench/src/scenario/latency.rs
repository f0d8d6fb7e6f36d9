//! `latency`: one publisher at a fixed rate (or one event at a time), S subscribers; measures
//! publish→deliver latency percentiles.
//!
//! `cross-node` is the same measurement for cluster mode: the publisher on one node, S
//! subscribers on each of the other nodes, so every event crosses the Redis backplane. All
//! sessions share one clock origin and one topic, so timestamps compare across connections.
//!
//! Each PUBLISH carries its send time (nanoseconds on the run's monotonic clock, written into a
//! fixed-width field of the payload just before the write). Subscribers read complete frames,
//! take the clock once per read, and pull the timestamp from the end of each event without
//! decoding it, recording the difference in a per-subscriber histogram. In sequential mode the
//! next event is published only once every live subscriber has received the previous one,
//! which measures the router's unloaded round trip.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use super::{open_many, progress, CpuMeter, Disconnects, Env, PublisherLink, Slot};
use crate::cli::{CrossNodeArgs, LatencyArgs, Rate};
use crate::client::Conn;
use crate::error::BenchError;
use crate::framing::{describe_close, FrameKind};
use crate::payload::{extract_timestamp, next_request, PublishTemplate, FIRST_REQUEST};
use crate::stats::Histogram;

/// How long a sequential round waits for every subscriber before giving up on it.
const ROUND_TIMEOUT: Duration = Duration::from_secs(1);
/// How long to wait after the last publish for in-flight events.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// State shared by the publisher and the subscribers.
#[derive(Debug)]
struct Shared {
    /// Events received by all subscribers so far.
    received: AtomicU64,
    /// Events received without a readable timestamp.
    malformed: AtomicU64,
    /// Signalled after each read that delivered events (sequential mode).
    notify: Notify,
    /// Only events sent at or after this time (ns since the run's origin) are sampled.
    measure_from: u64,
    sequential: bool,
}

async fn subscriber_loop(
    mut conn: Conn,
    env: Arc<Env>,
    shared: Arc<Shared>,
    histogram: Arc<Mutex<Histogram>>,
    slot: Arc<Slot>,
) -> String {
    let serializer = conn.serializer;
    let mut out = Vec::new();
    let reason = loop {
        let now = env.now_ns();
        let mut events = 0u64;
        let mut malformed = 0u64;
        let mut ping = None;
        let mut end = None;
        {
            let mut h = match histogram.lock() {
                Ok(h) => h,
                Err(poisoned) => poisoned.into_inner(),
            };
            loop {
                match conn.reader.next_frame() {
                    Ok(Some(frame)) => match frame.kind {
                        FrameKind::Data => {
                            events += 1;
                            match extract_timestamp(serializer, frame.payload) {
                                Some(ts) if ts >= shared.measure_from => {
                                    h.record(now.saturating_sub(ts));
                                }
                                Some(_) => {}
                                None => malformed += 1,
                            }
                        }
                        FrameKind::Ping => ping = Some(frame.payload.to_vec()),
                        FrameKind::Pong => {}
                        FrameKind::Close => {
                            end = Some(format!(
                                "the router closed the session ({})",
                                describe_close(frame.payload)
                            ));
                            break;
                        }
                    },
                    Ok(None) => break,
                    Err(err) => {
                        end = Some(format!("framing error: {err}"));
                        break;
                    }
                }
            }
        }
        if events > 0 {
            slot.received.fetch_add(events, Ordering::Relaxed);
            shared.received.fetch_add(events, Ordering::Relaxed);
            if shared.sequential {
                shared.notify.notify_one();
            }
        }
        if malformed > 0 {
            shared.malformed.fetch_add(malformed, Ordering::Relaxed);
        }
        if let Some(end) = end {
            break end;
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
                slot.reads.fetch_add(1, Ordering::Relaxed);
                conn.reader.commit(n);
            }
            Err(err) => break format!("read failed: {err}"),
        }
    };
    slot.gone.store(true, Ordering::Relaxed);
    reason
}

fn alive(slots: &[Arc<Slot>]) -> u64 {
    slots
        .iter()
        .filter(|s| !s.gone.load(Ordering::Relaxed))
        .count() as u64
}

/// Waits until `shared.received` reaches `target` or `limit` passes; false on timeout.
async fn wait_for(shared: &Shared, target: u64, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if shared.received.load(Ordering::Relaxed) >= target {
            return true;
        }
        tokio::select! {
            _ = shared.notify.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {
                return shared.received.load(Ordering::Relaxed) >= target;
            }
        }
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Runs the `latency` scenario.
pub async fn run(args: &LatencyArgs) -> Result<crate::report::Report, BenchError> {
    measure(args, "latency", &[]).await
}

/// Runs the `cross-node` scenario: the publisher on `--publish-url`, `--subscribers` sessions
/// on each `--subscribe-url`.
pub async fn run_cross_node(args: &CrossNodeArgs) -> Result<crate::report::Report, BenchError> {
    if args.rate == Rate::Max {
        return Err(BenchError::Usage(
            "cross-node needs --rate N (events/s), or --rate 0 for one event at a time".into(),
        ));
    }
    let mut common = args.common.clone();
    if let Some(url) = &args.publish_url {
        common.url = url.clone();
    }
    let latency = LatencyArgs {
        common,
        subscribers: args.subscribers,
        rate: args.rate,
        sequential: args.rate == Rate::PerSec(0.0),
        payload_bytes: args.payload_bytes,
        read_buffer: args.read_buffer,
    };
    let mut report = measure(&latency, "cross-node", &args.subscribe_url).await?;
    report
        .set("subscribe_urls", args.subscribe_url.join(","))
        .set("subscribers_per_node", args.subscribers);
    Ok(report)
}

/// The measurement; subscribers connect to `subscribe_urls` (S on each) when given, else to
/// the publisher's URL.
async fn measure(
    args: &LatencyArgs,
    scenario: &str,
    subscribe_urls: &[String],
) -> Result<crate::report::Report, BenchError> {
    let sequential = args.sequential || args.rate == Rate::PerSec(0.0);
    let rate = match args.rate {
        _ if sequential => 0.0,
        Rate::PerSec(r) => r,
        Rate::Max => {
            return Err(BenchError::Usage(
                "latency needs --rate N (events/s), or --rate 0 / --sequential".into(),
            ))
        }
    };
    let env = Arc::new(Env::new(&args.common, scenario, args.read_buffer)?);
    let serializer = env.config.serializer;
    let publisher = env
        .establish(None)
        .await
        .map_err(|e| BenchError::Failed(format!("publisher: {e}")))?;
    // One Env per subscribing node, sharing the publisher's clock origin and topic.
    let mut sub_envs = Vec::new();
    for url in subscribe_urls {
        let mut common = args.common.clone();
        common.url = url.clone();
        let mut sub_env = Env::new(&common, scenario, args.read_buffer)?;
        sub_env.origin = env.origin;
        sub_env.topic = env.topic.clone();
        sub_envs.push(Arc::new(sub_env));
    }
    if sub_envs.is_empty() {
        sub_envs.push(env.clone());
    }
    let wanted = args.subscribers * sub_envs.len();
    let mut conns = Vec::new();
    let mut established = 0;
    let mut open_errors = 0;
    for sub_env in &sub_envs {
        let topic = env.topic.clone();
        let opened = open_many(sub_env, args.subscribers, true, move |_| {
            Some(topic.clone())
        })
        .await;
        if opened.conns.is_empty() {
            return Err(BenchError::Failed(format!(
                "no subscriber session could be set up on {}: {}",
                sub_env.target.url,
                opened.first_error.unwrap_or_default()
            )));
        }
        progress(format!(
            "{}/{} subscribers ready on {} in {:.2} s",
            opened.established,
            args.subscribers,
            sub_env.target.url,
            opened.elapsed.as_secs_f64()
        ));
        established += opened.established;
        open_errors += opened.errors;
        conns.extend(opened.conns.into_iter().map(|c| (c, sub_env.clone())));
    }
    // Cluster delivery needs no per-subscription set-up between nodes (every node receives its
    // realms' channels), so a SUBSCRIBED on node B means B's sessions get A's next event.

    let start = Instant::now();
    let measure_start = start + env.warmup;
    let end = measure_start + env.duration;
    let shared = Arc::new(Shared {
        received: AtomicU64::new(0),
        malformed: AtomicU64::new(0),
        notify: Notify::new(),
        measure_from: u64::try_from((measure_start - env.origin).as_nanos()).unwrap_or(u64::MAX),
        sequential,
    });
    let disconnects = Arc::new(Disconnects::default());
    let mut slots = Vec::new();
    let mut histograms = Vec::new();
    let mut tasks = Vec::new();
    for (conn, sub_env) in conns {
        let slot = Arc::new(Slot::default());
        let histogram = Arc::new(Mutex::new(Histogram::new()));
        slots.push(slot.clone());
        histograms.push(histogram.clone());
        let (shared, d) = (shared.clone(), disconnects.clone());
        tasks.push(tokio::spawn(async move {
            let reason = subscriber_loop(conn, sub_env, shared, histogram, slot).await;
            d.record(reason);
        }));
    }

    let mut link = PublisherLink::start(publisher);
    let mut template = PublishTemplate::new(serializer, &env.topic, args.payload_bytes, false);
    let mut request = FIRST_REQUEST;
    let mut out = Vec::with_capacity(template.len() + 16);
    let mut published = 0u64;
    let mut measured = 0u64;
    let mut expected = 0u64;
    let mut timeouts = 0u64;
    let mut cpu = None;
    let mut failure = None;
    loop {
        if !sequential {
            let next = start + Duration::from_secs_f64(published as f64 / rate);
            if next >= end {
                break;
            }
            if next > Instant::now() {
                tokio::time::sleep_until(next.into()).await;
            }
        } else if Instant::now() >= end {
            break;
        }
        if cpu.is_none() && Instant::now() >= measure_start {
            cpu = Some(CpuMeter::start(env.pid));
        }
        let live = alive(&slots);
        if live == 0 || link.is_closed() {
            break;
        }
        let base = shared.received.load(Ordering::Relaxed);
        out.clear();
        request = next_request(request);
        let ts = env.now_ns();
        if let Err(err) = link.writer.data(&mut out, template.render(request, ts)) {
            failure = Some(err.to_string());
            break;
        }
        if let Err(err) = link.write(&out).await {
            failure = Some(format!("publish failed: {err}"));
            break;
        }
        published += 1;
        expected += live;
        if ts >= shared.measure_from {
            measured += live;
        }
        if sequential && !wait_for(&shared, base + live, ROUND_TIMEOUT).await {
            timeouts += 1;
        }
    }
    let publishing = start.elapsed().as_secs_f64().max(1e-9);
    let cpu = cpu.unwrap_or_else(|| CpuMeter::start(env.pid));
    let window = (Instant::now().min(end) - measure_start)
        .as_secs_f64()
        .max(1e-9);
    if !wait_for(&shared, expected, DRAIN_TIMEOUT).await {
        progress(format!(
            "{} of {expected} expected deliveries arrived",
            shared.received.load(Ordering::Relaxed)
        ));
    }
    let cpu = cpu.finish();
    for t in &tasks {
        t.abort();
    }
    let mut all = Histogram::new();
    for h in &histograms {
        match h.lock() {
            Ok(h) => all.merge(&h),
            Err(poisoned) => all.merge(&poisoned.into_inner()),
        }
    }
    for reason in disconnects.reasons() {
        progress(format!("subscriber disconnected: {reason}"));
    }
    let publisher_errors = link.state.errors.load(Ordering::Relaxed);
    if let Some(reason) = failure.clone().or_else(|| link.state.reason()) {
        progress(format!("publisher: {reason}"));
    }
    let errors = open_errors as u64
        + publisher_errors
        + shared.malformed.load(Ordering::Relaxed)
        + timeouts
        + u64::from(failure.is_some());

    let mut report = env.report(scenario);
    if !subscribe_urls.is_empty() {
        // Events delivered in the measured window (the sampled ones), per second.
        report.set_f64("deliveries_per_sec", all.count() as f64 / window, 1);
    }
    report
        .set("subscribers", wanted)
        .set("subscribers_connected", established)
        .set(
            "rate",
            if sequential {
                0.into()
            } else {
                args.rate.to_json()
            },
        )
        .set("sequential", sequential)
        .set("payload_bytes", args.payload_bytes)
        .set("publishes", published)
        .set("samples", all.count())
        .set("lost", measured.saturating_sub(all.count()))
        .set_f64(
            "deliveries_per_read",
            slots
                .iter()
                .map(|s| s.received.load(Ordering::Relaxed))
                .sum::<u64>() as f64
                / slots
                    .iter()
                    .map(|s| s.reads.load(Ordering::Relaxed))
                    .sum::<u64>()
                    .max(1) as f64,
            1,
        )
        .set_f64("p50_us", us(all.percentile(50.0)), 1)
        .set_f64("p90_us", us(all.percentile(90.0)), 1)
        .set_f64("p99_us", us(all.percentile(99.0)), 1)
        .set_f64("p999_us", us(all.percentile(99.9)), 1)
        .set_f64("max_us", us(all.max()), 1)
        .set_f64("mean_us", all.mean() / 1000.0, 1)
        .set_f64("min_us", us(all.min()), 1)
        .set("disconnected", disconnects.count())
        .set("errors", errors)
        .set_f64("duration_s", window, 3);
    if sequential {
        report.set_f64("round_trips_per_sec", published as f64 / publishing, 1);
    }
    cpu.add_to(&mut report);
    Ok(report)
}
