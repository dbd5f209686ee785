//! Pulls from a hostile registry on loopback: a server in this test that answers a pull with
//! bodies that never end (chunked), that say they are huge, or that say they are short and go
//! on. Each pull fails with an error naming the bound, and the bytes the server got out before
//! the client hung up stay within the bound plus what the sockets' buffers hold.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;

use image::{Credentials, Error, ImageStore};

/// The manifest bound (`MAX_SMALL_BLOB`).
const MANIFEST_BOUND: u64 = 8 << 20;
/// The token and error-body bound.
const SMALL_BOUND: u64 = 64 << 10;
/// What loopback sockets can hold between the server's writes and the client's reads (the
/// server's send buffer, made small, and the client's receive window), which the server counts
/// as sent: up to about 0.5 MiB seen.
const SOCKET_SLACK: u64 = 2 << 20;
/// Where the server gives up on a client that keeps reading: far past every bound.
const SERVER_CAP: u64 = 256 << 20;

/// How the server answers the request that matters.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hostile {
    /// The manifest as a chunked body that never ends.
    EndlessManifest,
    /// The manifest with `Content-Length` of a TiB, and bytes without end.
    HugeLengthManifest,
    /// The manifest with a short `Content-Length` (under the bound), and bytes without end.
    ShortLengthManifest,
    /// A Bearer challenge whose token endpoint sends a chunked body that never ends.
    EndlessToken,
    /// A 404 for the manifest with a chunked body that never ends.
    EndlessError,
}

/// A registry on loopback that serves `how`; each hostile body's byte count (what the server
/// wrote before the client hung up, or the cap) is sent on the returned channel.
fn serve(how: Hostile) -> (String, mpsc::Receiver<u64>) {
    // A small send buffer, so what the server counts as sent is close to what the client took.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(64 << 10).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(16).unwrap().into_std().unwrap();
    listener.set_nonblocking(false).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    let realm = format!("http://{addr}/token");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (tx, realm) = (tx.clone(), realm.clone());
            std::thread::spawn(move || connection(conn, how, &realm, &tx));
        }
    });
    (addr, rx)
}

/// Answers requests on one connection until the client leaves or a hostile body ends it.
fn connection(conn: TcpStream, how: Hostile, realm: &str, sent: &mpsc::Sender<u64>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        // The rest of the head; requests here have no bodies.
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
        }
        let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
        let manifest = path.contains("/manifests/");
        let head = match (how, path.as_str()) {
            (Hostile::EndlessToken, "/v2/") => {
                let challenge = format!("Bearer realm=\"{realm}\",service=\"hostile\"");
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\n\r\n"
                )
            }
            (_, "/v2/") => "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_owned(),
            (Hostile::EndlessToken, p) if p.starts_with("/token") => chunked("200 OK", "application/json"),
            (Hostile::EndlessManifest, _) if manifest => {
                chunked("200 OK", "application/vnd.oci.image.manifest.v1+json")
            }
            (Hostile::HugeLengthManifest, _) if manifest => {
                length("application/vnd.oci.image.manifest.v1+json", 1 << 40)
            }
            (Hostile::ShortLengthManifest, _) if manifest => {
                length("application/vnd.oci.image.manifest.v1+json", 1000)
            }
            (Hostile::EndlessError, _) if manifest => chunked("404 Not Found", "application/json"),
            _ => {
                let _ = out.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
                continue;
            }
        };
        if out.write_all(head.as_bytes()).is_err() {
            return;
        }
        if head.contains("Content-Length: 0\r\n") {
            continue;
        }
        let chunked = head.contains("chunked");
        let _ = sent.send(endless_body(&mut out, chunked));
        return;
    }
}

fn chunked(status: &str, content_type: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n")
}

fn length(content_type: &str, n: u64) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {n}\r\n\r\n")
}

/// Writes `{` and spaces (JSON never closed) until a write fails or the cap; the body bytes
/// written.
fn endless_body(out: &mut TcpStream, chunked: bool) -> u64 {
    const PIECE: usize = 64 << 10;
    let mut piece = vec![b' '; PIECE];
    piece[0] = b'{';
    let mut sent = 0u64;
    while sent < SERVER_CAP {
        let written = if chunked {
            out.write_all(format!("{PIECE:x}\r\n").as_bytes())
                .and_then(|()| out.write_all(&piece))
                .and_then(|()| out.write_all(b"\r\n"))
        } else {
            out.write_all(&piece)
        };
        if written.is_err() {
            break;
        }
        sent += PIECE as u64;
        piece[0] = b' ';
    }
    sent
}

/// Pulls from a registry serving `how`; the error and the hostile body's bytes sent.
async fn pull(how: Hostile) -> (Error, u64) {
    let (addr, sent) = serve(how);
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let err = store
        .pull(
            &format!("{addr}/hostile:latest"),
            &Credentials::default(),
            None,
            &mut |_| {},
        )
        .await
        .unwrap_err();
    drop(store);
    // The client has hung up: the server's write fails and it reports what it got out.
    let sent = tokio::task::spawn_blocking(move || sent.recv().unwrap())
        .await
        .unwrap();
    eprintln!("{how:?}: {err}; {sent} bytes sent");
    (err, sent)
}

#[tokio::test]
async fn an_endless_chunked_manifest_is_cut_at_the_bound() {
    let (err, sent) = pull(Hostile::EndlessManifest).await;
    assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("over 8388608 bytes"), "{err}");
    assert!(sent <= MANIFEST_BOUND + SOCKET_SLACK, "{sent} bytes sent");
}

#[tokio::test]
async fn a_manifest_that_says_it_is_huge_is_refused_unread() {
    let (err, sent) = pull(Hostile::HugeLengthManifest).await;
    assert!(err.to_string().contains("over 8388608 bytes"), "{err}");
    assert!(sent <= SOCKET_SLACK, "{sent} bytes sent");
}

#[tokio::test]
async fn a_manifest_longer_than_its_length_is_read_to_its_length_only() {
    let (err, sent) = pull(Hostile::ShortLengthManifest).await;
    // 1000 bytes of an unclosed JSON object.
    assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
    assert!(sent <= SOCKET_SLACK, "{sent} bytes sent");
}

#[tokio::test]
async fn an_endless_token_response_is_cut_at_its_bound() {
    let (err, sent) = pull(Hostile::EndlessToken).await;
    assert!(err.to_string().contains("token"), "{err}");
    assert!(err.to_string().contains("over 65536 bytes"), "{err}");
    assert!(sent <= SMALL_BOUND + SOCKET_SLACK, "{sent} bytes sent");
}

#[tokio::test]
async fn an_endless_error_body_is_cut_at_its_bound() {
    let (err, sent) = pull(Hostile::EndlessError).await;
    assert!(matches!(err, Error::ManifestUnknown(_)), "{err:?}");
    assert!(sent <= SMALL_BOUND + SOCKET_SLACK, "{sent} bytes sent");
}
