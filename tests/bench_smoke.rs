//! CI smoke mode of the load generator: start the real `wampd` binary on an ephemeral port and
//! run every `wampd-bench` scenario against it with tiny sizes, over WebSocket with both
//! serializers (fan-out and handshakes over RawSocket, fan-out and idle with Socket.IO clients). Each run must exit 0 and print exactly one JSON line with sane figures; an
//! unreachable router must make it fail with a one-line reason. Real figures come from release
//! builds (docs/benchmarks.md); this only proves the tool works end to end.

mod common;

use std::path::Path;
use std::process::{Child, Command};

use serde_json::Value;

/// The router process; killed and reaped on drop, even when an assertion fails.
struct Router {
    child: Child,
    addr: String,
}

impl Router {
    /// Starts `wampd websocket:server -vv` on 127.0.0.1 with an ephemeral port and reads the
    /// bound address from its "Launching wampd on ADDR:" line (as tests/cli.rs does).
    fn start(dir: &Path) -> Router {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wampd"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("WEBSOCKET_SERVER_DSN", "//127.0.0.1:0")
            .current_dir(dir)
            .args(["websocket:server", "-vv"]);
        let (child, addr, _logs) = common::spawn_wampd(command);
        Router { child, addr }
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs wampd-bench, asserts exit 0 and exactly one JSON line on stdout, returns it.
fn bench(args: &[&str]) -> Value {
    let out = Command::new(common::wampd_bench_binary())
        .args(args)
        .output()
        .expect("wampd-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{args:?} failed: {stderr}\nstdout: {stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one line: {stdout}");
    let report: Value = serde_json::from_str(lines[0]).expect("the line is JSON");
    eprintln!("{}", lines[0]);
    report
}

fn num(report: &Value, key: &str) -> f64 {
    report[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing or not a number in {report}"))
}

#[test]
fn every_scenario_prints_one_sane_json_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let router = Router::start(dir.path());
    let url = router.url();
    let pid = router.pid();
    for serializer in ["json", "msgpack"] {
        let common = ["--url", &url, "--serializer", serializer];

        let r = bench(
            &[
                &["fanout"],
                &common[..],
                &["--subscribers", "20", "--duration", "1s", "--pid", &pid],
            ]
            .concat(),
        );
        assert_eq!(r["scenario"], "fanout");
        assert_eq!(r["serializer"], serializer);
        assert_eq!(num(&r, "subscribers_connected"), 20.0);
        assert!(num(&r, "deliveries") > 0.0, "{r}");
        assert!(num(&r, "deliveries_per_sec") > 0.0, "{r}");
        assert!(num(&r, "publishes_per_sec") > 0.0, "{r}");
        assert_eq!(num(&r, "disconnected"), 0.0, "{r}");
        assert_eq!(num(&r, "errors"), 0.0, "{r}");
        assert!(num(&r, "router_cpu_pct") >= 0.0, "{r}");

        for mode in [&["--rate", "200"][..], &["--sequential"][..]] {
            let r = bench(
                &[
                    &["latency"],
                    &common[..],
                    &["--subscribers", "10", "--duration", "1s"],
                    mode,
                ]
                .concat(),
            );
            assert_eq!(r["scenario"], "latency");
            assert!(num(&r, "samples") > 0.0, "{r}");
            let (p50, p99) = (num(&r, "p50_us"), num(&r, "p99_us"));
            assert!(p50 > 0.0 && p99 >= p50, "{r}");
            assert!(num(&r, "max_us") >= p99, "{r}");
            assert_eq!(num(&r, "errors"), 0.0, "{r}");
        }

        let r = bench(&[&["handshake"], &common[..], &["--connections", "100"]].concat());
        assert_eq!(r["scenario"], "handshake");
        assert_eq!(num(&r, "sessions"), 100.0, "{r}");
        assert!(num(&r, "sessions_per_sec") > 0.0, "{r}");
    }
    // RawSocket on the same port (the router sniffs the 0x7F handshake byte).
    let rs = format!("rs://{}", router.addr);
    let r = bench(&[
        "fanout",
        "--url",
        &rs,
        "--subscribers",
        "20",
        "--duration",
        "1s",
    ]);
    assert_eq!(r["transport"], "rawsocket");
    assert!(num(&r, "deliveries") > 0.0, "{r}");
    let r = bench(&["handshake", "--url", &rs, "--connections", "100"]);
    assert_eq!(num(&r, "sessions"), 100.0, "{r}");
    // Socket.IO subscribers (namespace /) of a WAMP publisher.
    let r = bench(&[
        "fanout",
        "--url",
        &url,
        "--clients",
        "socketio",
        "--subscribers",
        "20",
        "--duration",
        "1s",
    ]);
    assert_eq!(r["clients"], "socketio");
    assert_eq!(num(&r, "subscribers_connected"), 20.0, "{r}");
    assert!(num(&r, "deliveries") > 0.0, "{r}");
    assert_eq!(num(&r, "disconnected"), 0.0, "{r}");
    drop(router);

    // Idle memory on a fresh router each time, so earlier runs' freed memory cannot hide growth:
    // WAMP sessions of each serializer, then Socket.IO clients.
    for clients in [
        ["--serializer", "json"],
        ["--serializer", "msgpack"],
        ["--clients", "socketio"],
    ] {
        let router = Router::start(dir.path());
        let (url, pid) = (router.url(), router.pid());
        let common = [
            "idle",
            "--url",
            &url,
            "--sessions",
            "50",
            "--duration",
            "1s",
        ];
        let r = bench(&[&common[..], &clients[..], &["--pid", &pid]].concat());
        assert_eq!(r["scenario"], "idle");
        assert_eq!(num(&r, "sessions"), 50.0, "{r}");
        assert!(num(&r, "bytes_per_session") > 0.0, "{r}");
    }
}

/// The ceiling server serves the scenarios it exists for: fan-out and latency, both
/// serializers, one line each, every subscriber getting events.
#[test]
fn the_ceiling_serves_fanout_and_latency() {
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(common::wampd_bench_binary())
        .args(["ceiling", "--listen", &listen])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the ceiling starts");
    let _ceiling = common::KillOnDrop(child);
    let url = format!("ws://{listen}/ws");
    for _ in 0..100 {
        if std::net::TcpStream::connect(&listen).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for serializer in ["json", "msgpack"] {
        let common = ["--url", &url, "--serializer", serializer];
        let r = bench(
            &[
                &["fanout"],
                &common[..],
                &["--subscribers", "20", "--duration", "1s"],
            ]
            .concat(),
        );
        assert_eq!(num(&r, "subscribers_connected"), 20.0, "{r}");
        assert!(num(&r, "deliveries") > 0.0, "{r}");
        assert_eq!(num(&r, "disconnected"), 0.0, "{r}");
        let r = bench(
            &[
                &["latency"],
                &common[..],
                &["--subscribers", "10", "--duration", "1s", "--rate", "200"],
            ]
            .concat(),
        );
        assert!(num(&r, "samples") > 0.0, "{r}");
        assert_eq!(num(&r, "lost"), 0.0, "{r}");
    }
}

/// `--beside-ceiling` runs the scenario against wampd, then against a ceiling it starts itself,
/// and reports both in one line: the ceiling's figures and wampd's as ratios to them.
#[test]
fn a_run_beside_the_ceiling_reports_both_and_their_ratio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let router = Router::start(dir.path());
    let url = router.url();
    let pid = router.pid();
    let r = bench(&[
        "fanout",
        "--url",
        &url,
        "--pid",
        &pid,
        "--subscribers",
        "20",
        "--duration",
        "1s",
        "--beside-ceiling",
    ]);
    let (ours, theirs) = (
        num(&r, "deliveries_per_sec"),
        num(&r, "ceiling_deliveries_per_sec"),
    );
    assert!(ours > 0.0 && theirs > 0.0, "{r}");
    let ratio = num(&r, "ratio_deliveries_per_sec");
    assert!((ratio - ours / theirs).abs() < 0.01, "{r}");
    assert_eq!(
        r["url"],
        url.as_str(),
        "the line describes the router's run: {r}"
    );
    assert!(r.get("ceiling_router_cpu_pct").is_some(), "{r}");
    let r = bench(&[
        "latency",
        "--url",
        &url,
        "--subscribers",
        "5",
        "--rate",
        "200",
        "--duration",
        "1s",
        "--beside-ceiling",
    ]);
    assert!(num(&r, "ceiling_p99_us") > 0.0, "{r}");
    assert!(num(&r, "ratio_p99_us") > 0.0, "{r}");
    // The ceiling speaks only WebSocket: refused with a reason, not a hang.
    let out = Command::new(common::wampd_bench_binary())
        .args(["fanout", "--url", "rs://127.0.0.1:1", "--beside-ceiling"])
        .output()
        .expect("wampd-bench runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("WebSocket only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unreachable_router_fails_with_a_one_line_reason() {
    // A port nobody listens on: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    for scenario in ["fanout", "latency", "idle", "handshake"] {
        let out = Command::new(common::wampd_bench_binary())
            .args([scenario, "--url", &url, "--duration", "1s"])
            .output()
            .expect("wampd-bench runs");
        assert!(!out.status.success(), "{scenario} succeeded");
        assert!(out.stdout.is_empty(), "{scenario} printed a report");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("wampd-bench: ") && last.contains("cannot connect"),
            "{scenario}: {stderr}"
        );
    }
}

#[test]
fn plot_draws_an_svg_from_result_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("results.jsonl");
    let output = dir.path().join("chart.svg");
    std::fs::write(
        &input,
        concat!(
            r#"{"scenario":"fanout","serializer":"json","subscribers":10,"deliveries_per_sec":1000}"#,
            "\n",
            r#"{"scenario":"fanout","serializer":"json","subscribers":100,"deliveries_per_sec":5000}"#,
            "\n",
            r#"{"scenario":"fanout","serializer":"msgpack","subscribers":100,"deliveries_per_sec":6000}"#,
            "\n",
        ),
    )
    .expect("write input");
    let out = Command::new(common::wampd_bench_binary())
        .args(["plot", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .args(["--x", "subscribers", "--y", "deliveries_per_sec", "--log-x"])
        .args(["--where", "scenario=fanout"])
        .output()
        .expect("plot runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&output).expect("svg written");
    assert!(svg.starts_with("<svg"), "{svg}");
    assert_eq!(svg.matches("<polyline").count(), 2);
}
