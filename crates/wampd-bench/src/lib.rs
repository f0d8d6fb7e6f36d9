//! wampd-bench, the load generator: the scenarios behind the figures in docs/benchmarks.md.
//!
//! The router's targets (millions of deliveries per second, sub-millisecond latency, a few KiB
//! per idle session, thousands of handshakes per second) are only meaningful if something can
//! produce and absorb that load on the same two cores. So the generator is deliberately lean:
//! it speaks WebSocket and RawSocket framing itself ([`wampd_proto::websocket`], [`rawsocket`], [`reader`]),
//! counts events from frame headers without decoding them, publishes pre-encoded messages
//! ([`payload`]), spreads sockets over 127.0.0.0/8 ([`target`]), and prints one JSON line per
//! run ([`report`]) that [`plot`] turns into charts.
//!
//! Layout: [`cli`] (options), [`client`] (a lean WAMP session), [`scenario`] (fanout, latency,
//! idle, handshake), [`stats`] (percentiles), [`sys`] (rlimits, RSS, CPU).

#![warn(missing_docs)]

pub mod ceiling;
pub mod cli;
pub mod client;
pub mod error;
pub mod framing;
pub mod payload;
pub mod plot;
pub mod rawsocket;
pub mod reader;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod sys;
pub mod target;
pub mod upgrade;

use cli::{Command, PlotArgs};
pub use error::BenchError;
pub use report::Report;

/// Builds the runtime the scenario asked for and runs it; returns its report.
pub fn run_scenario(command: &Command) -> Result<Report, BenchError> {
    let threads = command.common().map_or(1, |common| common.threads);
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .map_err(|e| BenchError::Failed(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(async {
        match command {
            Command::Fanout(a) => scenario::fanout::run(a).await,
            Command::Latency(a) => scenario::latency::run(a).await,
            Command::Idle(a) => scenario::idle::run(a).await,
            Command::Handshake(a) => scenario::handshake::run(a).await,
            Command::CrossNode(a) => scenario::latency::run_cross_node(a).await,
            Command::Rpc(a) => scenario::rpc::run(a).await,
            Command::Plot(_) | Command::Ceiling(_) => {
                Err(BenchError::Usage("not a scenario".into()))
            }
        }
    });
    // Thousands of sockets and aborted tasks: do not wait for their orderly teardown.
    runtime.shutdown_background();
    result
}

/// Figures a run beside the ceiling reports for both servers, with the router's as a ratio.
const COMPARED: &[&str] = &[
    "deliveries_per_sec",
    "round_trips_per_sec",
    "sessions_per_sec",
    "p50_us",
    "p90_us",
    "p99_us",
    "p999_us",
    "kib_per_session",
    "router_cpu_pct",
    "disconnected",
];

/// Runs `command` against the router, then the same against a ceiling server that `exe` (this
/// program) starts on a free loopback port, and merges the two: the router's report plus
/// `ceiling_<figure>` and `ratio_<figure>` (router / ceiling) for each figure in both. Both runs
/// happen in one process, one after the other, so the two figures share the machine's state.
pub fn run_beside_ceiling(command: &Command, exe: &std::path::Path) -> Result<Report, BenchError> {
    let mut beside = command.clone();
    let common = match &mut beside {
        Command::CrossNode(_) | Command::Rpc(_) => None,
        other => other.common_mut(),
    }
    .ok_or_else(|| {
        BenchError::Usage(
            "--beside-ceiling: the ceiling serves fanout, latency, idle and handshake only".into(),
        )
    })?;
    if !common.url.starts_with("ws://") {
        return Err(BenchError::Usage(format!(
            "--beside-ceiling: the ceiling speaks WebSocket only, not {}",
            common.url
        )));
    }
    let router = run_scenario(command)?;
    let ceiling = ceiling::Child::start(exe)?;
    common.url = format!("ws://{}/ws", ceiling.addr());
    common.pid = Some(ceiling.pid());
    let beside_report = run_scenario(&beside)?;
    drop(ceiling);
    Ok(merge_beside(router, &beside_report))
}

/// The router's report with the ceiling's figures and the ratios added.
fn merge_beside(mut router: Report, ceiling: &Report) -> Report {
    for key in COMPARED {
        let (Some(ours), Some(theirs)) = (
            router.get(key).and_then(serde_json::Value::as_f64),
            ceiling.get(key).and_then(serde_json::Value::as_f64),
        ) else {
            continue;
        };
        router.set(
            &format!("ceiling_{key}"),
            ceiling.get(key).cloned().unwrap_or_default(),
        );
        if theirs != 0.0 {
            router.set_f64(&format!("ratio_{key}"), ours / theirs, 3);
        }
    }
    router
}

/// Runs `ceiling` until the process is stopped.
pub fn run_ceiling(args: &cli::CeilingArgs) -> Result<(), BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| BenchError::Failed(format!("cannot start the async runtime: {e}")))?
        .block_on(ceiling::serve(args.listen))
}

/// Runs `plot`: reads the result lines, writes the SVG.
pub fn run_plot(args: &PlotArgs) -> Result<(), BenchError> {
    let text = std::fs::read_to_string(&args.input)
        .map_err(|e| BenchError::Failed(format!("cannot read {}: {e}", args.input.display())))?;
    let mut filters = Vec::new();
    for f in &args.filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| BenchError::Usage(format!("--where {f:?}: expected FIELD=VALUE")))?;
        filters.push((k.to_owned(), v.to_owned()));
    }
    let mut series = plot::series_from_jsonl(&text, &args.x, &args.y, &args.group_by, &filters)
        .map_err(|e| BenchError::Failed(format!("{}: {e}", args.input.display())))?;
    for s in &mut series {
        for point in &mut s.points {
            point.1 *= args.y_scale;
        }
    }
    let chart = plot::Chart {
        title: args
            .title
            .clone()
            .unwrap_or_else(|| format!("{} vs {}", args.y, args.x)),
        x_label: args.x_label.clone().unwrap_or_else(|| args.x.clone()),
        y_label: args.y_label.clone().unwrap_or_else(|| args.y.clone()),
        log_x: args.log_x,
        series,
    };
    std::fs::write(&args.output, plot::render_svg(&chart))
        .map_err(|e| BenchError::Failed(format!("cannot write {}: {e}", args.output.display())))?;
    Ok(())
}
