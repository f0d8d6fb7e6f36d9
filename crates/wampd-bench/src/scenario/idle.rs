//! `idle`: open C sessions that each subscribe to their own topic and then stay quiet; measures
//! the router's resident memory per session.
//!
//! An Oro-style deployment holds one mostly idle session per open browser tab, so the cost of
//! an idle session bounds how many tabs one node can serve. The router's `VmRSS` is read from
//! `/proc/<pid>/status` before the sessions are opened and again after they have been held for
//! `--duration`; the difference divided by the sessions established is the figure. Sessions
//! answer pings while held, as a browser does.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{open_many, progress, skim_loop, Disconnects, Env, Slot};
use crate::cli::IdleArgs;
use crate::error::BenchError;
use crate::report::Report;
use crate::sys;

/// Read buffer of an idle session: enough for set-up replies and control frames.
const IDLE_READ_BUFFER: usize = 1024;

/// Runs the scenario.
pub async fn run(args: &IdleArgs) -> Result<Report, BenchError> {
    let env = Arc::new(Env::new(&args.common, "idle", IDLE_READ_BUFFER)?);
    if env.pid.is_none() {
        progress("no --pid given: the router's memory is not measured");
    }
    let rss = |pid: Option<u32>| -> Result<Option<u64>, BenchError> {
        match pid {
            None => Ok(None),
            Some(pid) => sys::vm_rss(pid).map(Some).map_err(|e| {
                BenchError::Failed(format!("cannot read the memory of process {pid}: {e}"))
            }),
        }
    };
    let before = rss(env.pid)?;
    let prefix = env.topic.clone();
    let opened = open_many(&env, args.sessions, true, move |i| {
        Some(format!("{prefix}.s{i}"))
    })
    .await;
    if opened.conns.is_empty() {
        return Err(BenchError::Failed(format!(
            "no session could be set up: {}",
            opened.first_error.unwrap_or_default()
        )));
    }
    progress(format!(
        "{}/{} sessions open in {:.2} s{}; holding them for {:?}",
        opened.established,
        args.sessions,
        opened.elapsed.as_secs_f64(),
        opened
            .first_error
            .as_deref()
            .map(|e| format!(" ({} failed; first: {e})", opened.errors))
            .unwrap_or_default(),
        env.duration
    ));
    let disconnects = Arc::new(Disconnects::default());
    let mut slots = Vec::with_capacity(opened.conns.len());
    let mut tasks = Vec::with_capacity(opened.conns.len());
    for conn in opened.conns {
        let slot = Arc::new(Slot::default());
        slots.push(slot.clone());
        let d = disconnects.clone();
        tasks.push(tokio::spawn(async move {
            let reason = skim_loop(conn, slot).await;
            d.record(reason);
        }));
    }
    tokio::time::sleep(env.duration).await;
    let after = rss(env.pid)?;
    let alive = slots
        .iter()
        .filter(|s| !s.gone.load(Ordering::Relaxed))
        .count();
    for t in &tasks {
        t.abort();
    }
    for reason in disconnects.reasons() {
        progress(format!("session disconnected: {reason}"));
    }

    let mut report = env.report("idle");
    report
        .set("sessions_requested", args.sessions)
        .set("sessions", opened.established)
        .set("sessions_alive", alive)
        .set("disconnected", disconnects.count())
        .set("errors", opened.errors)
        .set_f64("setup_s", opened.elapsed.as_secs_f64(), 3)
        .set_f64("held_s", env.duration.as_secs_f64(), 3);
    if let (Some(before), Some(after)) = (before, after) {
        let per_session = after.saturating_sub(before) as f64 / opened.established as f64;
        report
            .set("rss_before_bytes", before)
            .set("rss_after_bytes", after)
            .set_f64("bytes_per_session", per_session, 0)
            .set_f64("kib_per_session", per_session / 1024.0, 2);
    }
    Ok(report)
}
