//! Raw HTTP/1.1 over the API socket or TCP, and the docker CLI against a TCP address:
//! what browser-like and oversize requests need (the docker CLI never sends them).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

/// One HTTP/1.1 exchange over `stream`, the request written whole; returns the status (0
/// when the answer is not HTTP) and the body.
pub fn exchange(mut stream: impl Read + Write, request: &[u8]) -> (u16, String) {
    stream.write_all(request).unwrap();
    let mut raw = Vec::new();
    // A refused request may close the connection before we read everything: what was read
    // so far is the answer.
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A request with `Connection: close`; `headers` are extra lines (`Name: value`).
pub fn request(method: &str, path: &str, host: &str, headers: &[&str], body: Option<&str>) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    let body = body.unwrap_or("");
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text.into_bytes()
}

/// One request over the unix socket at `sock`.
pub fn over_unix(sock: &Path, req: &[u8]) -> (u16, String) {
    let stream = std::os::unix::net::UnixStream::connect(sock).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    exchange(stream, req)
}

/// One request over TCP to `addr`.
pub fn over_tcp(addr: &str, req: &[u8]) -> (u16, String) {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    exchange(stream, req)
}

/// The header line of a JSON body.
pub const JSON: &str = "Content-Type: application/json";

/// A body as JSON (panics with the body if it is not).
pub fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The docker CLI against a TCP address, with its own empty config.
pub fn docker_tcp(config: &Path, args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .output()
        .expect("run docker")
}
