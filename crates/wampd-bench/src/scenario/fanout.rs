//! `fanout`: S subscribers on one topic, P publishers; measures deliveries per second.
//!
//! This is the router's headline figure (1 publisher → 1,000 subscribers). Subscribers count
//! events with [`skim_loop`] (no decoding). Publishers send bursts of pre-encoded PUBLISH
//! messages and keep at most `--window` events ahead of the slowest live subscriber, so at
//! `--rate max` the generator measures how fast the router delivers rather than how fast its
//! outbound queues overflow. The last PUBLISH of each burst asks for an acknowledgement, and
//! events in unacknowledged bursts count against the same window, which bounds what the router
//! has not ingested yet and surfaces PUBLISH errors.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{open_many, progress, skim_loop, CpuMeter, Disconnects, Env, PublisherLink, Slot};
use crate::cli::{FanoutArgs, Rate};
use crate::error::BenchError;
use crate::payload::{next_request, PublishTemplate, FIRST_REQUEST};
use crate::report::Report;

/// How long a publisher waits before re-checking a full window.
const WINDOW_WAIT: Duration = Duration::from_micros(500);

/// Events received so far by the slowest subscriber still connected (`u64::MAX` if none).
fn slowest(slots: &[Arc<Slot>]) -> u64 {
    slots
        .iter()
        .filter(|s| !s.gone.load(Ordering::Relaxed))
        .map(|s| s.received.load(Ordering::Relaxed))
        .min()
        .unwrap_or(u64::MAX)
}

fn delivered(slots: &[Arc<Slot>]) -> u64 {
    slots
        .iter()
        .map(|s| s.received.load(Ordering::Relaxed))
        .sum()
}

fn reads(slots: &[Arc<Slot>]) -> u64 {
    slots.iter().map(|s| s.reads.load(Ordering::Relaxed)).sum()
}

/// What one publisher task did.
struct PublisherOutcome {
    errors: u64,
    reason: Option<String>,
}

struct PublishPlan {
    templates: (PublishTemplate, PublishTemplate),
    rate: Option<f64>,
    burst: u64,
    window: u64,
}

async fn publish_loop(
    mut link: PublisherLink,
    mut plan: PublishPlan,
    slots: Arc<Vec<Arc<Slot>>>,
    published: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> PublisherOutcome {
    let mut out = Vec::with_capacity(plan.burst as usize * (plan.templates.1.len() + 16));
    let mut request = FIRST_REQUEST;
    let mut sent = 0u64;
    let mut bursts = 0u64;
    let start = Instant::now();
    let mut failure = None;
    while !stop.load(Ordering::Relaxed) && !link.is_closed() {
        let mut n = plan.burst;
        if let Some(rate) = plan.rate {
            let due = (start.elapsed().as_secs_f64() * rate).floor() as u64 + 1;
            if due <= sent {
                let next = start + Duration::from_secs_f64(sent as f64 / rate);
                tokio::time::sleep_until(next.into()).await;
                continue;
            }
            n = n.min(due - sent);
        }
        let lag = published
            .load(Ordering::Relaxed)
            .saturating_sub(slowest(&slots));
        // Events in bursts the router has not acknowledged yet: not ingested, or the ack is
        // still queued behind the events it fanned out.
        let unacked = bursts.saturating_sub(link.state.acks.load(Ordering::Relaxed)) * plan.burst;
        if lag + n > plan.window || unacked + n > plan.window {
            tokio::time::sleep(WINDOW_WAIT).await;
            continue;
        }
        out.clear();
        let mut encoded = Ok(());
        for k in 0..n {
            request = next_request(request);
            let template = if k + 1 == n {
                &mut plan.templates.1
            } else {
                &mut plan.templates.0
            };
            encoded = encoded.and(link.writer.data(&mut out, template.render(request, 0)));
        }
        if let Err(err) = encoded {
            failure = Some(err.to_string());
            break;
        }
        if let Err(err) = link.write(&out).await {
            failure = Some(format!("publish failed: {err}"));
            break;
        }
        published.fetch_add(n, Ordering::Relaxed);
        sent += n;
        bursts += 1;
    }
    let mut errors = link.state.errors.load(Ordering::Relaxed);
    if failure.is_some() || (link.is_closed() && !stop.load(Ordering::Relaxed)) {
        errors += 1;
    }
    PublisherOutcome {
        errors,
        reason: failure.or_else(|| link.state.reason()),
    }
}

/// Runs the scenario.
pub async fn run(args: &FanoutArgs) -> Result<Report, BenchError> {
    if matches!(args.rate, Rate::PerSec(r) if r <= 0.0) {
        return Err(BenchError::Usage(
            "fanout needs --rate max or a rate above 0 events/s".into(),
        ));
    }
    let env = Arc::new(Env::new(&args.common, "fanout", args.read_buffer)?);
    let serializer = env.config.serializer;

    // Publishers first: the first connection doubles as the reachability check.
    let mut links = Vec::with_capacity(args.publishers);
    for i in 0..args.publishers {
        let conn = env
            .establish(None)
            .await
            .map_err(|e| BenchError::Failed(format!("publisher {i}: {e}")))?;
        links.push(PublisherLink::start(conn));
    }

    let topic = env.topic.clone();
    let opened = open_many(&env, args.subscribers, true, move |_| Some(topic.clone())).await;
    if opened.conns.is_empty() {
        return Err(BenchError::Failed(format!(
            "no subscriber session could be set up: {}",
            opened.first_error.unwrap_or_default()
        )));
    }
    progress(format!(
        "{}/{} subscribers ready in {:.2} s{}",
        opened.established,
        args.subscribers,
        opened.elapsed.as_secs_f64(),
        opened
            .first_error
            .as_deref()
            .map(|e| format!(" ({} failed; first: {e})", opened.errors))
            .unwrap_or_default()
    ));

    let disconnects = Arc::new(Disconnects::default());
    let mut slots = Vec::with_capacity(opened.conns.len());
    let mut subscribers = Vec::with_capacity(opened.conns.len());
    for conn in opened.conns {
        let slot = Arc::new(Slot::default());
        slots.push(slot.clone());
        let d = disconnects.clone();
        subscribers.push(tokio::spawn(async move {
            let reason = skim_loop(conn, slot).await;
            d.record(reason);
        }));
    }
    let slots = Arc::new(slots);

    let published = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let per_publisher = match args.rate {
        Rate::Max => None,
        Rate::PerSec(r) => Some((r / args.publishers as f64).max(1e-3)),
    };
    let publishers: Vec<_> = links
        .into_iter()
        .map(|link| {
            let plan = PublishPlan {
                templates: (
                    PublishTemplate::new(serializer, &env.topic, args.payload_bytes, false),
                    PublishTemplate::new(serializer, &env.topic, args.payload_bytes, true),
                ),
                rate: per_publisher,
                burst: args.burst as u64,
                window: args.window as u64,
            };
            tokio::spawn(publish_loop(
                link,
                plan,
                slots.clone(),
                published.clone(),
                stop.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(env.warmup).await;
    let d0 = delivered(&slots);
    let r0 = reads(&slots);
    let p0 = published.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let cpu = CpuMeter::start(env.pid);
    // One progress line per second: throughput, how far publishers are ahead, who is gone.
    let end = t0 + env.duration;
    let mut last = (d0, t0);
    while Instant::now() < end {
        let next = (last.1 + Duration::from_secs(1)).min(end);
        tokio::time::sleep_until(next.into()).await;
        let d = delivered(&slots);
        let now = Instant::now();
        let rate = (d - last.0) as f64 / (now - last.1).as_secs_f64().max(1e-9);
        let p = published.load(Ordering::Relaxed);
        progress(format!(
            "{:>5.1} s: {:>10.0} deliveries/s, {} published, slowest subscriber {} behind, {} disconnected",
            (now - t0).as_secs_f64(),
            rate,
            p,
            p.saturating_sub(slowest(&slots).min(p)),
            disconnects.count()
        ));
        last = (d, now);
    }
    let d1 = delivered(&slots);
    let r1 = reads(&slots);
    let p1 = published.load(Ordering::Relaxed);
    let window = t0.elapsed().as_secs_f64();
    let cpu = cpu.finish();
    stop.store(true, Ordering::Relaxed);

    let mut errors = opened.errors as u64;
    let mut publisher_reason = None;
    for p in publishers {
        match tokio::time::timeout(Duration::from_secs(5), p).await {
            Ok(Ok(outcome)) => {
                errors += outcome.errors;
                if outcome.errors > 0 {
                    publisher_reason = publisher_reason.or(outcome.reason);
                }
            }
            _ => errors += 1,
        }
    }
    for s in &subscribers {
        s.abort();
    }
    let disconnected = disconnects.count();
    for reason in disconnects.reasons() {
        progress(format!("subscriber disconnected: {reason}"));
    }
    if let Some(reason) = publisher_reason {
        progress(format!("publisher error: {reason}"));
    }

    let deliveries = d1.saturating_sub(d0);
    let publishes = p1.saturating_sub(p0);
    let mut report = env.report("fanout");
    report
        .set("subscribers", args.subscribers)
        .set("subscribers_connected", opened.established)
        .set("publishers", args.publishers)
        .set("rate", args.rate.to_json())
        .set("payload_bytes", args.payload_bytes)
        .set("deliveries", deliveries)
        .set_f64("deliveries_per_sec", deliveries as f64 / window, 0)
        .set("publishes", publishes)
        .set_f64("publishes_per_sec", publishes as f64 / window, 1)
        .set_f64(
            "deliveries_per_read",
            deliveries as f64 / r1.saturating_sub(r0).max(1) as f64,
            1,
        )
        .set("disconnected", disconnected)
        .set("errors", errors)
        .set_f64("duration_s", window, 3);
    cpu.add_to(&mut report);
    Ok(report)
}
