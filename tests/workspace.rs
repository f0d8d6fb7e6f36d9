//! The workspace's layering, checked from `cargo metadata`: the crates exist, their arrows point
//! one way, and the protocol core stays free of I/O.
//!
//! The compiler already refuses an import from a crate that is not a dependency; this test stops
//! the dependency itself from being added, which is how a layering erodes (one "temporary"
//! `wampd-proto → tokio` and codecs start growing sockets).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Package name → names of its normal (non-dev, non-build) dependencies.
fn workspace_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let mut graph = BTreeMap::new();
    for package in meta["packages"].as_array().expect("packages") {
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().expect("name").to_string())
            .collect();
        graph.insert(package["name"].as_str().expect("name").to_string(), deps);
    }
    graph
}

fn wampd_crates(deps: &BTreeSet<String>) -> BTreeSet<&str> {
    deps.iter()
        .map(String::as_str)
        .filter(|d| d.starts_with("wampd"))
        .collect()
}

#[test]
fn the_four_crates_depend_one_way() {
    let graph = workspace_dependencies();
    let names: BTreeSet<&str> = graph.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["wampd", "wampd-bench", "wampd-client", "wampd-proto"])
    );
    assert_eq!(wampd_crates(&graph["wampd-proto"]), BTreeSet::new());
    assert_eq!(
        wampd_crates(&graph["wampd-client"]),
        BTreeSet::from(["wampd-proto"])
    );
    assert_eq!(
        wampd_crates(&graph["wampd-bench"]),
        BTreeSet::from(["wampd-proto"])
    );
    assert_eq!(
        wampd_crates(&graph["wampd"]),
        BTreeSet::from(["wampd-client", "wampd-proto"])
    );
}

#[test]
fn the_protocol_core_has_no_io_dependencies() {
    let graph = workspace_dependencies();
    let io = [
        "tokio",
        "tokio-util",
        "tokio-tungstenite",
        "hyper",
        "hyper-util",
        "futures-util",
        "native-tls",
        "tokio-native-tls",
        "redis",
        "tokio-postgres",
        "tracing",
    ];
    let found: Vec<&str> = io
        .iter()
        .copied()
        .filter(|name| graph["wampd-proto"].contains(*name))
        .collect();
    assert!(found.is_empty(), "wampd-proto depends on {found:?}");
}
