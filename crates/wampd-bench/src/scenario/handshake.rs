//! `handshake`: establish N sessions (connect, WebSocket upgrade or RawSocket handshake,
//! HELLO/WELCOME, SUBSCRIBE) as fast as K parallel clients can; measures sessions per second.
//!
//! After a deploy or a network blip every browser reconnects at once, so how fast a node
//! accepts sessions decides how long that storm lasts. Sessions are kept open until the end by
//! default (as reconnecting browsers stay), and all subscribe to one shared topic, as pages of
//! one application do.

use std::sync::Arc;

use super::{open_many, progress, CpuMeter, Env};
use crate::cli::HandshakeArgs;
use crate::error::BenchError;
use crate::report::Report;

/// Read buffer of a handshake session.
const READ_BUFFER: usize = 2048;

/// Runs the scenario.
pub async fn run(args: &HandshakeArgs) -> Result<Report, BenchError> {
    let env = Arc::new(Env::new(&args.common, "handshake", READ_BUFFER)?);
    let topic = (!args.no_subscribe).then(|| env.topic.clone());
    let cpu = CpuMeter::start(env.pid);
    let opened = open_many(&env, args.connections, !args.close, move |_| topic.clone()).await;
    let cpu = cpu.finish();
    if opened.established == 0 {
        return Err(BenchError::Failed(format!(
            "no session could be set up: {}",
            opened.first_error.unwrap_or_default()
        )));
    }
    if let Some(first) = &opened.first_error {
        progress(format!("{} sessions failed; first: {first}", opened.errors));
    }
    let elapsed = opened.elapsed.as_secs_f64().max(1e-9);
    let mut report = env.report("handshake");
    report
        .set("connections", args.connections)
        .set("concurrency", env.concurrency)
        .set("subscribe", !args.no_subscribe)
        .set("keep_open", !args.close)
        .set("sessions", opened.established)
        .set_f64("sessions_per_sec", opened.established as f64 / elapsed, 1)
        .set_f64(
            "setup_p50_ms",
            opened.setup_times.percentile(50.0) as f64 / 1e6,
            3,
        )
        .set_f64(
            "setup_p99_ms",
            opened.setup_times.percentile(99.0) as f64 / 1e6,
            3,
        )
        .set("errors", opened.errors)
        .set_f64("duration_s", elapsed, 3);
    cpu.add_to(&mut report);
    drop(opened.conns);
    Ok(report)
}
