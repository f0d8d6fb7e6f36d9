//! Command-line interface of `wampd-bench` (clap).
//!
//! Lives in the library so the binary stays a thin `main` and the scenarios receive typed,
//! validated options. Every scenario takes the same connection options (URL, serializer,
//! transport, realm, duration...) flattened into its own subcommand, so they can be given in any
//! order after the scenario name.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::target::Transport;
use wampd_proto::units::{parse_duration, parse_size};
use wampd_proto::wamp::Serializer;

/// `wampd-bench`: the wampd load generator.
#[derive(Debug, Parser)]
#[command(
    name = "wampd-bench",
    version,
    about = "Load generator for wampd: fan-out throughput, publish→deliver latency, idle memory and handshake rate",
    long_about = "Load generator for wampd. Each scenario prints exactly one JSON line with its \
                  parameters and figures on stdout (progress goes to stderr) and exits non-zero with \
                  a one-line reason when the router is unreachable or the run fails."
)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The scenarios and tools.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// S subscribers on one topic, P publishers; reports deliveries/s.
    Fanout(FanoutArgs),
    /// Publish→deliver latency percentiles at a fixed rate, or sequentially.
    Latency(LatencyArgs),
    /// Memory per idle session (needs --pid of the router for RSS).
    Idle(IdleArgs),
    /// Sessions established per second (connect + HELLO/WELCOME + SUBSCRIBE).
    Handshake(HandshakeArgs),
    /// Cluster mode: publish on one node, subscribers on others; delivered events/s and
    /// publish→deliver latency across the backplane.
    CrossNode(CrossNodeArgs),
    /// C callers keep K calls each in flight to a procedure a callee echoes (on another
    /// cluster node with --callee-url); calls/s and CALL→RESULT latency.
    Rpc(RpcArgs),
    /// Draws an SVG line chart from result lines (JSONL).
    Plot(PlotArgs),
    /// Runs the ceiling: the smallest WAMP pub/sub server for these scenarios, to measure
    /// beside wampd in the same session (figures as ratios to it).
    Ceiling(CeilingArgs),
}

impl Command {
    /// The options every scenario takes; `None` for the tools (`plot`, `ceiling`).
    pub fn common(&self) -> Option<&CommonArgs> {
        match self {
            Command::Fanout(a) => Some(&a.common),
            Command::Latency(a) => Some(&a.common),
            Command::Idle(a) => Some(&a.common),
            Command::Handshake(a) => Some(&a.common),
            Command::CrossNode(a) => Some(&a.common),
            Command::Rpc(a) => Some(&a.common),
            Command::Plot(_) | Command::Ceiling(_) => None,
        }
    }

    /// [`Command::common`], to change.
    pub fn common_mut(&mut self) -> Option<&mut CommonArgs> {
        match self {
            Command::Fanout(a) => Some(&mut a.common),
            Command::Latency(a) => Some(&mut a.common),
            Command::Idle(a) => Some(&mut a.common),
            Command::Handshake(a) => Some(&mut a.common),
            Command::CrossNode(a) => Some(&mut a.common),
            Command::Rpc(a) => Some(&mut a.common),
            Command::Plot(_) | Command::Ceiling(_) => None,
        }
    }
}

/// `ceiling` options.
#[derive(Debug, Clone, Args)]
pub struct CeilingArgs {
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:18099")]
    pub listen: std::net::SocketAddr,
    /// Tokio worker threads (wampd uses one per core).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// The serializer option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SerializerArg {
    /// `wamp.2.json`.
    Json,
    /// `wamp.2.msgpack`.
    Msgpack,
    /// `wamp.2.cbor`.
    Cbor,
}

impl SerializerArg {
    /// The codec serializer.
    pub fn serializer(self) -> Serializer {
        match self {
            SerializerArg::Json => Serializer::Json,
            SerializerArg::Msgpack => Serializer::MsgPack,
            SerializerArg::Cbor => Serializer::Cbor,
        }
    }

    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SerializerArg::Json => "json",
            SerializerArg::Msgpack => "msgpack",
            SerializerArg::Cbor => "cbor",
        }
    }
}

/// The protocol of the subscribing clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Clients {
    /// WAMP v2 sessions.
    Wamp,
    /// Socket.IO v5 / Engine.IO v4 clients on the WebSocket transport.
    Socketio,
}

impl Clients {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Clients::Wamp => "wamp",
            Clients::Socketio => "socketio",
        }
    }
}

/// A publish rate: as fast as the router drains, or a fixed number of events per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// As fast as possible, with delivery-based backpressure.
    Max,
    /// This many events per second in total.
    PerSec(f64),
}

impl Rate {
    /// The report value: "max" or the number.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            Rate::Max => "max".into(),
            Rate::PerSec(r) => serde_json::Number::from_f64(r)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
        }
    }
}

/// Parses `max` or a non-negative number of events per second.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(Rate::PerSec(r)),
        _ => Err(format!(
            "expected \"max\" or events per second (a number >= 0), got {s:?}"
        )),
    }
}

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a whole number > 0, got {s:?}")),
    }
}

/// Options every scenario takes.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Router URL: ws://host:port/path, or rs://host:port / tcp://host:port for RawSocket.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    /// WAMP serializer.
    #[arg(long, value_enum, default_value = "json")]
    pub serializer: SerializerArg,
    /// Transport (default: from the URL scheme).
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
    /// Realm to join.
    #[arg(long, default_value = "realm1")]
    pub realm: String,
    /// Measured time (fanout, latency) or how long sessions are held (idle): 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Time run before measuring starts (fanout, latency).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Sessions set up in parallel.
    #[arg(long, default_value = "64", value_parser = positive)]
    pub concurrency: usize,
    /// Time allowed to set up one session (connect, handshake, HELLO, SUBSCRIBE).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Tokio worker threads of the generator (1 = a single-threaded runtime).
    #[arg(long, default_value = "1", value_parser = positive)]
    pub threads: usize,
    /// Topic (or topic prefix for per-session topics); default bench.SCENARIO.RANDOM.
    #[arg(long)]
    pub topic: Option<String>,
    /// Largest message accepted from the router.
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub max_message: usize,
    /// Router process ID: its CPU use is reported (and its RSS by idle).
    #[arg(long)]
    pub pid: Option<u32>,
    /// What the subscribing clients speak: wamp (WAMP sessions subscribing to the topic) or
    /// socketio (Socket.IO clients on namespace `/`, which get the WAMP publications on
    /// `socketio._.all.EVENT`); publishers are WAMP sessions either way.
    #[arg(long, value_enum, default_value = "wamp")]
    pub clients: Clients,
    /// Hold /dev/cpu_dma_latency at 0 during the run so idle CPUs poll instead of halting
    /// (machine-wide, like tuned's latency-performance profile; needs root).
    #[arg(long)]
    pub pm_qos: bool,
    /// Run the same scenario again against the ceiling server (`wampd-bench ceiling`, started on
    /// a free loopback port for the run) right after the router, and report its figures as
    /// `ceiling_*` and the router's as ratios to them (`ratio_*`). WebSocket URLs only.
    #[arg(long)]
    pub beside_ceiling: bool,
}

/// `fanout` options.
#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// Connection and run options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Subscriber sessions, all on one topic.
    #[arg(long, default_value = "100", value_parser = positive)]
    pub subscribers: usize,
    /// Publisher sessions.
    #[arg(long, default_value = "1", value_parser = positive)]
    pub publishers: usize,
    /// Total publish rate: "max" or events per second.
    #[arg(long, default_value = "max", value_parser = parse_rate)]
    pub rate: Rate,
    /// Size of the event payload (one string argument), in bytes.
    #[arg(long, default_value = "100")]
    pub payload_bytes: usize,
    /// Most events a publisher may be ahead of the slowest live subscriber.
    #[arg(long, default_value = "1000", value_parser = positive)]
    pub window: usize,
    /// PUBLISH messages per write; the last of each burst asks for an acknowledgement.
    #[arg(long, default_value = "16", value_parser = positive)]
    pub burst: usize,
    /// Read buffer per subscriber.
    #[arg(long, default_value = "64KiB", value_parser = parse_size)]
    pub read_buffer: usize,
}

/// `latency` options.
#[derive(Debug, Clone, Args)]
pub struct LatencyArgs {
    /// Connection and run options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Subscriber sessions.
    #[arg(long, default_value = "10", value_parser = positive)]
    pub subscribers: usize,
    /// Events per second from the one publisher; 0 means --sequential.
    #[arg(long, default_value = "1000", value_parser = parse_rate)]
    pub rate: Rate,
    /// Publish the next event only once every subscriber received the previous one.
    #[arg(long)]
    pub sequential: bool,
    /// Size of the event payload (at least 24 bytes: it carries the timestamp).
    #[arg(long, default_value = "100")]
    pub payload_bytes: usize,
    /// Read buffer per subscriber.
    #[arg(long, default_value = "16KiB", value_parser = parse_size)]
    pub read_buffer: usize,
}

/// `cross-node` options: the `latency` measurement with the publisher on one cluster node
/// (`--publish-url`, or `--url`) and the subscribers spread over others.
#[derive(Debug, Clone, Args)]
pub struct CrossNodeArgs {
    /// Connection and run options (`--url` is the publishing node unless --publish-url is given).
    #[command(flatten)]
    pub common: CommonArgs,
    /// The node the publisher connects to.
    #[arg(long)]
    pub publish_url: Option<String>,
    /// Nodes the subscribers connect to (repeatable or comma-separated); --subscribers sessions
    /// on each.
    #[arg(long, required = true, value_delimiter = ',')]
    pub subscribe_url: Vec<String>,
    /// Subscriber sessions per subscribing node.
    #[arg(long, default_value = "10", value_parser = positive)]
    pub subscribers: usize,
    /// Events per second from the one publisher.
    #[arg(long, default_value = "1000", value_parser = parse_rate)]
    pub rate: Rate,
    /// Size of the event payload (at least 24 bytes: it carries the timestamp).
    #[arg(long, default_value = "100")]
    pub payload_bytes: usize,
    /// Read buffer per subscriber.
    #[arg(long, default_value = "16KiB", value_parser = parse_size)]
    pub read_buffer: usize,
}

/// `rpc` options.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    /// Connection and run options (`--url` is the callers' node).
    #[command(flatten)]
    pub common: CommonArgs,
    /// The node the callee joins (default: --url, one node).
    #[arg(long)]
    pub callee_url: Option<String>,
    /// Caller sessions.
    #[arg(long, default_value = "1", value_parser = positive)]
    pub callers: usize,
    /// Calls each caller keeps in flight (1: one call at a time, the round trip unloaded).
    #[arg(long, default_value = "1", value_parser = positive)]
    pub in_flight: usize,
    /// Callee sessions sharing the registration (round-robin when more than one).
    #[arg(long, default_value = "1", value_parser = positive)]
    pub callees: usize,
    /// Size of the call's one string argument, echoed back.
    #[arg(long, default_value = "100")]
    pub payload_bytes: usize,
}

/// `idle` options.
#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    /// Connection and run options (--pid names the router whose RSS is measured).
    #[command(flatten)]
    pub common: CommonArgs,
    /// Sessions to open, each subscribed to its own topic.
    #[arg(long, default_value = "1000", value_parser = positive)]
    pub sessions: usize,
}

/// `handshake` options.
#[derive(Debug, Clone, Args)]
pub struct HandshakeArgs {
    /// Connection and run options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Sessions to establish.
    #[arg(long, default_value = "1000", value_parser = positive)]
    pub connections: usize,
    /// Skip the SUBSCRIBE after WELCOME.
    #[arg(long)]
    pub no_subscribe: bool,
    /// Close each session as soon as it is established (default: keep all open until the end).
    #[arg(long)]
    pub close: bool,
}

/// `plot` options.
#[derive(Debug, Clone, Args)]
pub struct PlotArgs {
    /// Result lines (JSONL) as printed by the scenarios.
    #[arg(long)]
    pub input: PathBuf,
    /// SVG file to write.
    #[arg(long)]
    pub output: PathBuf,
    /// Field for the x axis.
    #[arg(long, default_value = "subscribers")]
    pub x: String,
    /// Field for the y axis.
    #[arg(long, default_value = "deliveries_per_sec")]
    pub y: String,
    /// Field whose values make separate lines.
    #[arg(long, default_value = "serializer")]
    pub group_by: String,
    /// Only lines with FIELD=VALUE (repeatable), e.g. --where scenario=fanout.
    #[arg(long = "where", value_name = "FIELD=VALUE")]
    pub filters: Vec<String>,
    /// Chart title (default: "Y vs X").
    #[arg(long)]
    pub title: Option<String>,
    /// X axis label (default: the x field).
    #[arg(long)]
    pub x_label: Option<String>,
    /// Y axis label (default: the y field).
    #[arg(long)]
    pub y_label: Option<String>,
    /// Logarithmic x axis.
    #[arg(long)]
    pub log_x: bool,
    /// Multiply y values by this factor (e.g. 0.001 to plot microseconds as milliseconds).
    #[arg(long, default_value_t = 1.0)]
    pub y_scale: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        assert_eq!(parse_rate("MAX"), Ok(Rate::Max));
        assert_eq!(parse_rate("1000"), Ok(Rate::PerSec(1000.0)));
        assert_eq!(parse_rate("0"), Ok(Rate::PerSec(0.0)));
        assert!(parse_rate("-1").is_err());
        assert!(parse_rate("fast").is_err());
        assert_eq!(Rate::Max.to_json(), serde_json::json!("max"));
    }

    #[test]
    fn parses_a_scenario_command_line() {
        let cli = Cli::try_parse_from([
            "wampd-bench",
            "fanout",
            "--url",
            "ws://127.0.0.1:9000/ws",
            "--subscribers",
            "1000",
            "--serializer",
            "msgpack",
            "--duration",
            "1s",
            "--rate",
            "max",
        ])
        .unwrap();
        let Command::Fanout(args) = cli.command else {
            panic!("fanout expected");
        };
        assert_eq!(args.subscribers, 1000);
        assert_eq!(args.common.serializer, SerializerArg::Msgpack);
        assert_eq!(args.common.duration, Duration::from_secs(1));
        assert_eq!(args.rate, Rate::Max);
        assert!(Cli::try_parse_from(["wampd-bench", "fanout", "--subscribers", "0"]).is_err());
        assert!(Cli::try_parse_from(["wampd-bench", "nope"]).is_err());
    }

    #[test]
    fn parses_a_cross_node_command_line() {
        let cli = Cli::try_parse_from([
            "wampd-bench",
            "cross-node",
            "--publish-url",
            "ws://127.0.0.1:9001/ws",
            "--subscribe-url",
            "ws://127.0.0.1:9002/ws,ws://127.0.0.1:9003/ws",
            "--rate",
            "5000",
        ])
        .unwrap();
        let Command::CrossNode(args) = cli.command else {
            panic!("cross-node expected");
        };
        assert_eq!(args.publish_url.as_deref(), Some("ws://127.0.0.1:9001/ws"));
        assert_eq!(args.subscribe_url.len(), 2);
        assert_eq!(args.rate, Rate::PerSec(5000.0));
        assert!(Cli::try_parse_from(["wampd-bench", "cross-node"]).is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
