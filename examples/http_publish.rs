//! Publish one event to wampd over HTTP from Rust, with nothing but the standard library and
//! serde_json: a backend does not need a WAMP client to notify browsers.
//!
//! `WAMPD_ADDR` is the router's host:port (default 127.0.0.1:8080); `WAMPD_SECRET` is
//! WEBSOCKET_PUBLISH_SECRET, if the router has one. Run: `cargo run --example http_publish`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("WAMPD_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let body = serde_json::json!({
        "topic": "com.example.notifications",
        "args": ["Order 7 shipped"],
        "kwargs": {"level": "info"},
    })
    .to_string();
    let auth = match std::env::var("WAMPD_SECRET") {
        Ok(secret) if !secret.is_empty() => format!("Authorization: Bearer {secret}\r\n"),
        _ => String::new(),
    };
    let mut stream = TcpStream::connect(&addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "POST /publish HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, answer) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("publish failed: {head} {answer}").into());
    }
    println!("{answer}");
    Ok(())
}
