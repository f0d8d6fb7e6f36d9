//! RPC interoperability with clients written by others: autobahn-python and AutobahnJS (Node).
//!
//! Each test starts its own in-process server and runs `tests/interop/autobahn_rpc.py` and/or
//! `tests/interop/autobahn_js_rpc.mjs` against it: one library as callee and caller (every
//! serializer pairing, WebSocket and RawSocket), and the two libraries calling each other. The
//! scripts print `OK` when all their checks passed. autobahn-python is installed into
//! `target/interop-venv` and AutobahnJS into `target/interop-node` on first use (CI starts from a
//! clean clone); node and npm must be installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

use common::TestServer;

/// Backstop for one script run; the scripts time out each step after 10 s themselves.
const RUN_LIMIT: Duration = Duration::from_secs(60);

static PYTHON: OnceLock<PathBuf> = OnceLock::new();
static NODE_PACKAGES: OnceLock<PathBuf> = OnceLock::new();

/// The client library a script drives.
#[derive(Debug, Clone, Copy)]
enum Lib {
    Python,
    Node,
}

impl Lib {
    /// Installs the library on first use (once per test binary, whichever test asks first).
    async fn ensure(self) {
        tokio::task::spawn_blocking(move || match self {
            Lib::Python => {
                PYTHON.get_or_init(common::autobahn_python);
            }
            Lib::Node => {
                NODE_PACKAGES.get_or_init(common::autobahn_node);
            }
        })
        .await
        .expect("interop client setup");
    }

    /// The script's command line with `args` (call [`Lib::ensure`] first).
    fn command(self, args: &[&str]) -> Command {
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
        let mut command = match self {
            Lib::Python => {
                let mut c = Command::new(PYTHON.get().expect("venv ready"));
                c.arg(scripts.join("autobahn_rpc.py"));
                c
            }
            Lib::Node => {
                let mut c = Command::new("node");
                c.env(
                    "WAMPD_INTEROP_NODE",
                    NODE_PACKAGES.get().expect("node packages ready"),
                );
                c.arg(scripts.join("autobahn_js_rpc.mjs"));
                c
            }
        };
        command.args(args).kill_on_drop(true);
        command
    }
}

fn report(label: &str, output: &Output) -> String {
    format!(
        "--- {label}: {}\n{}\n--- {label} stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn passed(output: &Output) -> bool {
    output.status.success() && String::from_utf8_lossy(&output.stdout).lines().last() == Some("OK")
}

/// Runs a script to completion.
async fn run(label: &str, mut command: Command) -> Output {
    command.stdin(Stdio::null());
    tokio::time::timeout(RUN_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{label} did not finish within {RUN_LIMIT:?}"))
        .unwrap_or_else(|e| panic!("{label} could not start: {e}"))
}

/// One library as callee and caller of itself.
async fn alone(lib: Lib, rawsocket: bool, serializers: &[&str]) {
    lib.ensure().await;
    let server = TestServer::start(&[]).await;
    let url = if rawsocket {
        format!("rs://{}", server.addr)
    } else {
        server.url()
    };
    let mut args = vec![url.as_str()];
    args.extend_from_slice(serializers);
    let label = format!("{lib:?} {}", args.join(" "));
    let output = run(&label, lib.command(&args)).await;
    assert!(passed(&output), "{}", report(&label, &output));
    assert!(server.shutdown().await);
}

/// A callee script running in the background until its stdin closes.
struct Callee {
    label: String,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    stdout: String,
    stderr: JoinHandle<String>,
}

impl Callee {
    /// Starts `command` and waits until it printed READY (its procedures are registered).
    async fn start(label: String, mut command: Command) -> Callee {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{label} could not start: {e}"));
        let mut stderr = child.stderr.take().expect("stderr");
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut callee = Callee {
            label,
            child,
            lines,
            stdout: String::new(),
            stderr,
        };
        let ready = tokio::time::timeout(RUN_LIMIT, async {
            while let Ok(Some(line)) = callee.lines.next_line().await {
                callee.stdout.push_str(&line);
                callee.stdout.push('\n');
                if line == "READY" {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        if !ready {
            let _ = callee.child.start_kill();
            let label = callee.label.clone();
            let (status, stdout, stderr) = callee.finish().await;
            panic!(
                "--- {label}: {status}, never READY\n{stdout}\n--- {label} stderr:\n{stderr}",
                status = status.map_or("killed".into(), |s| s.to_string())
            );
        }
        callee
    }

    /// Closes the callee's stdin (it leaves and exits) and returns its exit status and output.
    async fn finish(mut self) -> (Option<std::process::ExitStatus>, String, String) {
        drop(self.child.stdin.take());
        let status = tokio::time::timeout(RUN_LIMIT, async {
            while let Ok(Some(line)) = self.lines.next_line().await {
                self.stdout.push_str(&line);
                self.stdout.push('\n');
            }
            self.child.wait().await.ok()
        })
        .await
        .ok()
        .flatten();
        let _ = self.child.start_kill();
        let stderr = self.stderr.await.unwrap_or_default();
        (status, self.stdout, stderr)
    }
}

/// `callee` serves, `caller` calls: two client libraries interoperating through the router.
async fn mixed(callee: (Lib, bool, &str), caller: (Lib, bool, &str)) {
    let server = TestServer::start(&[]).await;
    mixed_on(callee, &server, caller, &server, false).await;
    assert!(server.shutdown().await);
}

/// `callee` serves on `callee_at`, `caller` calls on `caller_at` (another node of a cluster,
/// or the same server); with `vanish`, the caller's vanishing callee joins `callee_at` too.
async fn mixed_on(
    callee: (Lib, bool, &str),
    callee_at: &TestServer,
    caller: (Lib, bool, &str),
    caller_at: &TestServer,
    vanish: bool,
) {
    callee.0.ensure().await;
    caller.0.ensure().await;
    let url = |server: &TestServer, rawsocket: bool| {
        if rawsocket {
            format!("rs://{}", server.addr)
        } else {
            server.url()
        }
    };
    let (callee_url, caller_url) = (url(callee_at, callee.1), url(caller_at, caller.1));
    let callee_label = format!("{:?} callee {callee_url} {}", callee.0, callee.2);
    let caller_label = format!("{:?} caller {caller_url} {}", caller.0, caller.2);
    let serving = Callee::start(
        callee_label.clone(),
        callee.0.command(&["--callee", &callee_url, callee.2]),
    )
    .await;
    if callee_at.addr != caller_at.addr {
        // A registration reaches the other nodes a moment after REGISTERED.
        common::wait_callable(
            caller_at.addr,
            "com.example.rpc.add",
            vec![
                wampd_proto::wamp::Value::UInt(1),
                wampd_proto::wamp::Value::UInt(2),
            ],
        )
        .await;
    }
    let mut args = vec!["--caller", caller_url.as_str(), caller.2];
    let vanish_url = url(callee_at, false);
    if vanish {
        args.push(&vanish_url);
    }
    let output = run(&caller_label, caller.0.command(&args)).await;
    let (status, callee_stdout, callee_stderr) = serving.finish().await;
    let callee_ok = status.is_some_and(|s| s.success());
    assert!(
        passed(&output) && callee_ok,
        "{}\n--- {callee_label}: {}\n{callee_stdout}\n--- {callee_label} stderr:\n{callee_stderr}",
        report(&caller_label, &output),
        status.map_or("did not exit".into(), |s| s.to_string()),
    );
}

/// Two nodes of a cluster over a private Redis, both connected to it.
async fn two_nodes(redis: &common::Redis) -> (TestServer, TestServer) {
    let dsn = redis.dsn();
    let vars = [("WEBSOCKET_CLUSTER_DSN", dsn.as_str())];
    let a = TestServer::start(&vars).await;
    let b = TestServer::start(&vars).await;
    common::wait_backplane(a.addr, true).await;
    common::wait_backplane(b.addr, true).await;
    (a, b)
}

/// Issue 21: an autobahn-python callee on node A, autobahn-python callers on node B, over a
/// real Redis: results, errors, progressive results, patterns, timeouts, cancel and a callee
/// lost mid-call behave as on one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_python_callee_on_one_cluster_node_serves_callers_on_another() {
    let redis = common::Redis::start().await;
    let (a, b) = two_nodes(&redis).await;
    mixed_on(
        (Lib::Python, false, "json"),
        &a,
        (Lib::Python, false, "msgpack"),
        &b,
        true,
    )
    .await;
    assert!(b.shutdown().await);
    assert!(a.shutdown().await);
}

/// The same across nodes between the two libraries: an AutobahnJS callee on A (WebSocket,
/// CBOR), an autobahn-python caller on B (RawSocket, JSON).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_js_callee_on_one_cluster_node_autobahn_python_caller_on_another() {
    let redis = common::Redis::start().await;
    let (a, b) = two_nodes(&redis).await;
    mixed_on(
        (Lib::Node, false, "cbor"),
        &a,
        (Lib::Python, true, "json"),
        &b,
        false,
    )
    .await;
    assert!(b.shutdown().await);
    assert!(a.shutdown().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_python_json_caller_json_callee() {
    alone(Lib::Python, false, &["json", "json"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_python_msgpack_caller_msgpack_callee() {
    alone(Lib::Python, false, &["msgpack", "msgpack"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_python_json_caller_msgpack_callee() {
    alone(Lib::Python, false, &["json", "msgpack"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_python_cbor_caller_json_callee() {
    alone(Lib::Python, false, &["cbor", "json"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_python_over_rawsocket() {
    alone(Lib::Python, true, &["msgpack", "json"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_js_json() {
    alone(Lib::Node, false, &["json"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_js_msgpack() {
    alone(Lib::Node, false, &["msgpack"]).await;
}

/// AutobahnJS's CBOR serializer (its `test_serialization_cbor` scenarios among the checks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_js_cbor() {
    alone(Lib::Node, false, &["cbor"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_js_over_rawsocket() {
    // AutobahnJS speaks JSON only over RawSocket.
    alone(Lib::Node, true, &["json"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_js_calls_autobahn_python() {
    // The Python callee handles INTERRUPT, so the JS caller also checks timeout and canceling.
    mixed((Lib::Python, false, "msgpack"), (Lib::Node, false, "json")).await;
    // The same with CBOR on both sides.
    mixed((Lib::Python, false, "cbor"), (Lib::Node, false, "cbor")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_python_calls_autobahn_js() {
    // The JS callee registers with disclose_caller, which autobahn-python cannot; the Python
    // caller comes over RawSocket.
    mixed((Lib::Node, false, "json"), (Lib::Python, true, "msgpack")).await;
}
