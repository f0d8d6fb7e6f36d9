//! Every publishing example in docs/backend.md, run for real against a router: curl (shell),
//! PHP, Python (HTTP, signed HTTP, and WAMP over RawSocket with autobahn), and Rust.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{php, Client, TestServer};
use wampd_proto::wamp::{Serializer, Value};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples")
}

fn run(program: &Path, args: &[PathBuf], env: &[(&str, String)]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    assert!(
        output.status.success(),
        "{} {args:?} failed:\n{}\n{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The compiled Rust example; `cargo test` builds examples, a filtered run may not have.
fn rust_example() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_wampd"))
        .parent()
        .expect("target dir")
        .join("examples")
        .join("http_publish");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "http_publish"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "building the example failed"
        );
    }
    path
}

async fn expect_event(sub: &mut Client, text: &str) {
    let (_, _, args, kwargs) = sub.event().await;
    assert_eq!(args, vec![Value::from(text)]);
    if text != "signed" {
        assert_eq!(kwargs.get("level"), Some(&Value::from("info")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_example_publishes() {
    let server = TestServer::start(&[("WEBSOCKET_PUBLISH_SECRET", "s3cret")]).await;
    let mut sub = Client::join(&server, Serializer::Json).await;
    sub.subscribe("com.example.notifications").await;
    let url = format!("http://{}", server.addr);
    let http_env = vec![
        ("WAMPD_URL", url.clone()),
        ("WAMPD_SECRET", "s3cret".to_string()),
    ];
    let dir = examples_dir();

    let out = tokio::task::block_in_place(|| {
        run(Path::new("bash"), &[dir.join("publish.sh")], &http_env)
    });
    assert!(out.contains("\"id\""), "{out}");
    expect_event(&mut sub, "Build #42 passed").await;

    let php = tokio::task::block_in_place(php);
    let out = tokio::task::block_in_place(|| run(&php, &[dir.join("publish.php")], &http_env));
    assert!(out.contains("\"id\""), "{out}");
    expect_event(&mut sub, "Invoice 1001 paid").await;

    let python = tokio::task::block_in_place(common::autobahn_python);
    let out =
        tokio::task::block_in_place(|| run(&python, &[dir.join("publish_http.py")], &http_env));
    assert!(out.contains("'id'"), "{out}");
    expect_event(&mut sub, "Report ready").await;

    let out =
        tokio::task::block_in_place(|| run(&python, &[dir.join("publish_signed.py")], &http_env));
    assert!(out.contains("'id'"), "{out}");
    expect_event(&mut sub, "signed").await;

    let raw_env = vec![("WAMPD_RAWSOCKET", server.addr.to_string())];
    let out =
        tokio::task::block_in_place(|| run(&python, &[dir.join("publish_wamp.py")], &raw_env));
    assert!(out.contains("'id'"), "{out}");
    expect_event(&mut sub, "Deploy finished").await;

    let example = tokio::task::block_in_place(rust_example);
    let rust_env = vec![
        ("WAMPD_ADDR", server.addr.to_string()),
        ("WAMPD_SECRET", "s3cret".to_string()),
    ];
    let out = tokio::task::block_in_place(|| run(&example, &[], &rust_env));
    assert!(out.contains("\"id\""), "{out}");
    expect_event(&mut sub, "Order 7 shipped").await;
    server.shutdown().await;
}
