//! `rpc`: C callers keep K calls each in flight to one procedure that a callee echoes; measures
//! completed calls per second and the CALL→RESULT round trip.
//!
//! With `--callee-url` the callee joins another node than the callers (`--url`), so in cluster
//! mode every call and its result cross the Redis backplane; without it both are on one node,
//! the reference for the same machine. The callee is one session (or `--callees` sessions
//! sharing the registration round-robin) answering each INVOCATION with its arguments. Each
//! caller records the time it sent each CALL and the time its RESULT arrived; only calls sent
//! after the warm-up are sampled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{progress, CpuMeter, Env};
use crate::cli::RpcArgs;
use crate::client::Conn;
use crate::error::BenchError;
use crate::report::Report;
use crate::stats::Histogram;
use wampd_proto::wamp::{Dict, Id, Message, Value};

/// Read buffer of each session.
const READ_BUFFER: usize = 16 * 1024;
/// How long a caller may take to notice the end of the run.
const STOP_WAIT: Duration = Duration::from_secs(2);
/// How long the first caller retries while the registration reaches its node.
const ROUTE_WAIT: Duration = Duration::from_secs(10);

/// Counters shared by the callers.
#[derive(Debug, Default)]
struct Shared {
    completed: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
    /// The first error a caller saw, for the report.
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(what);
        }
    }
}

/// Answers every INVOCATION with its own arguments until the connection ends.
async fn callee_loop(mut conn: Conn) {
    while let Ok(message) = conn.recv().await {
        if let Message::Invocation { request, args, .. } = message {
            let reply = Message::Yield {
                request,
                options: Dict::new(),
                args,
                kwargs: Dict::new(),
            };
            if conn.send(&reply).await.is_err() {
                return;
            }
        }
    }
}

fn call(procedure: &str, request: Id, payload: &Value) -> Message {
    Message::Call {
        request,
        options: Dict::new(),
        procedure: procedure.to_owned(),
        args: vec![payload.clone()],
        kwargs: Dict::new(),
    }
}

/// Keeps `in_flight` calls outstanding until told to stop; samples round trips of calls sent
/// at or after `measure_from`.
async fn caller_loop(
    mut conn: Conn,
    procedure: String,
    payload: Value,
    in_flight: usize,
    measure_from: Instant,
    shared: Arc<Shared>,
    histogram: Arc<Mutex<Histogram>>,
) {
    let mut sent: HashMap<Id, Instant> = HashMap::with_capacity(in_flight);
    let mut local = Histogram::new();
    for _ in 0..in_flight {
        let request = conn.request_id();
        sent.insert(request, Instant::now());
        if let Err(e) = conn.send(&call(&procedure, request, &payload)).await {
            shared.error(e.to_string());
            return;
        }
    }
    while !shared.stop.load(Ordering::Relaxed) {
        let message = match conn.recv().await {
            Ok(message) => message,
            Err(e) => {
                shared.error(e.to_string());
                break;
            }
        };
        let (request, ok) = match message {
            Message::Result { request, .. } => (request, true),
            Message::Error { request, error, .. } => {
                shared.error(error);
                (request, false)
            }
            _ => continue,
        };
        let Some(at) = sent.remove(&request) else {
            continue;
        };
        if ok {
            shared.completed.fetch_add(1, Ordering::Relaxed);
            if at >= measure_from {
                local.record(u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX));
            }
        }
        let next = conn.request_id();
        sent.insert(next, Instant::now());
        if let Err(e) = conn.send(&call(&procedure, next, &payload)).await {
            shared.error(e.to_string());
            break;
        }
    }
    if let Ok(mut all) = histogram.lock() {
        all.merge(&local);
    }
}

/// Calls `procedure` until it answers: in cluster mode a registration reaches the callers'
/// node a moment after REGISTERED.
async fn until_routed(conn: &mut Conn, procedure: &str) -> Result<(), BenchError> {
    let deadline = Instant::now() + ROUTE_WAIT;
    loop {
        let request = conn.request_id();
        conn.send(&call(procedure, request, &Value::from("probe")))
            .await?;
        match conn.recv().await? {
            Message::Result { request: r, .. } if r == request => return Ok(()),
            Message::Error {
                request: r, error, ..
            } if r == request && error == "wamp.error.no_such_procedure" => {
                if Instant::now() > deadline {
                    return Err(BenchError::Failed(format!(
                        "{procedure} was not callable on the callers' node within {ROUTE_WAIT:?}"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => {
                return Err(BenchError::Failed(format!(
                    "unexpected answer to the first call: {other:?}"
                )))
            }
        }
    }
}

/// Runs the scenario.
pub async fn run(args: &RpcArgs) -> Result<Report, BenchError> {
    let env = Arc::new(Env::new(&args.common, "rpc", READ_BUFFER)?);
    let callee_env = match &args.callee_url {
        Some(url) => {
            let mut common = args.common.clone();
            common.url = url.clone();
            Arc::new(Env::new(&common, "rpc", READ_BUFFER)?)
        }
        None => env.clone(),
    };
    let procedure = format!("{}.echo", env.topic);
    let mut register = Dict::new();
    if args.callees > 1 {
        register.insert("invoke".into(), Value::from("roundrobin"));
    }
    let mut callees = Vec::new();
    for _ in 0..args.callees {
        let mut conn = callee_env
            .establish(None)
            .await
            .map_err(|e| BenchError::Failed(format!("callee: {e}")))?;
        let request = conn.request_id();
        conn.send(&Message::Register {
            request,
            options: register.clone(),
            procedure: procedure.clone(),
        })
        .await?;
        match conn.recv().await? {
            Message::Registered { .. } => {}
            other => {
                return Err(BenchError::Failed(format!(
                    "callee: REGISTER {procedure} answered {other:?}"
                )))
            }
        }
        callees.push(tokio::spawn(callee_loop(conn)));
    }
    let mut callers = Vec::new();
    for i in 0..args.callers {
        let mut conn = env
            .establish(None)
            .await
            .map_err(|e| BenchError::Failed(format!("caller: {e}")))?;
        if i == 0 {
            until_routed(&mut conn, &procedure).await?;
        }
        callers.push(conn);
    }
    progress(format!(
        "{} callers on {}, {} callee(s) on {}, {} calls in flight each",
        args.callers, env.target.url, args.callees, callee_env.target.url, args.in_flight
    ));
    let payload = Value::Str("x".repeat(args.payload_bytes));
    let shared = Arc::new(Shared::default());
    let histogram = Arc::new(Mutex::new(Histogram::new()));
    let measure_from = Instant::now() + env.warmup;
    let tasks: Vec<_> = callers
        .into_iter()
        .map(|conn| {
            tokio::spawn(caller_loop(
                conn,
                procedure.clone(),
                payload.clone(),
                args.in_flight,
                measure_from,
                shared.clone(),
                histogram.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(env.warmup).await;
    let completed_before = shared.completed.load(Ordering::Relaxed);
    let cpu = CpuMeter::start(env.pid);
    let started = Instant::now();
    tokio::time::sleep(env.duration).await;
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let completed = shared.completed.load(Ordering::Relaxed) - completed_before;
    let cpu = cpu.finish();
    shared.stop.store(true, Ordering::Relaxed);
    // Each caller stops at its next RESULT and hands in its samples; one waiting for a RESULT
    // that does not come is cut off (its samples lost, which the `samples` count shows).
    for task in tasks {
        let abort = task.abort_handle();
        if tokio::time::timeout(STOP_WAIT, task).await.is_err() {
            abort.abort();
        }
    }
    for callee in callees {
        callee.abort();
    }
    let all = histogram.lock().map(|h| h.clone()).unwrap_or_default();
    let us = |ns: u64| ns as f64 / 1e3;
    let mut report = env.report("rpc");
    report
        .set("callee_url", callee_env.target.url.as_str())
        .set("callers", args.callers)
        .set("callees", args.callees)
        .set("in_flight", args.in_flight)
        .set("payload_bytes", args.payload_bytes)
        .set("calls", completed)
        .set_f64("calls_per_sec", completed as f64 / elapsed, 1)
        .set("samples", all.count())
        .set_f64("p50_us", us(all.percentile(50.0)), 1)
        .set_f64("p90_us", us(all.percentile(90.0)), 1)
        .set_f64("p99_us", us(all.percentile(99.0)), 1)
        .set_f64("p999_us", us(all.percentile(99.9)), 1)
        .set_f64("max_us", us(all.max()), 1)
        .set("errors", shared.errors.load(Ordering::Relaxed))
        .set_f64("duration_s", elapsed, 3);
    if let Ok(Some(first)) = shared.first_error.lock().map(|f| f.clone()) {
        report.set("first_error", first);
    }
    cpu.add_to(&mut report);
    Ok(report)
}
