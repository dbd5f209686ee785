//! The check that `attach` with `logs=1&stream=1` to a running container with a terminal
//! gives its whole output: the logged part from the first line, then the live part, with
//! nothing lost or shown twice where they meet. Shared by the service-task and standalone
//! attach tests.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Lines the container prints before its ticks (about 130 KiB, more than a terminal's
/// replay ring keeps).
pub const PADDED: u64 = 2000;

/// A shell script printing [`PADDED`] numbered lines, then `tick-N` lines forever, one per
/// `pause` (a busybox command, as `sleep 0.1` or `usleep 1000`).
pub fn padded_then_ticks(pause: &str) -> String {
    format!(
        "i=0; while [ $i -lt {PADDED} ]; do i=$((i+1)); echo pad-$i-{}; done; \
         i=0; while true; do i=$((i+1)); echo tick-$i; busybox {pause}; done",
        "x".repeat(56)
    )
}

/// The whole lines of `text` (a partly read last line left out).
pub fn whole_lines(text: &str) -> impl Iterator<Item = &str> {
    text[..text.rfind('\n').map_or(0, |i| i + 1)]
        .lines()
        .map(str::trim_end)
}

/// The numbers of the `tick-N` lines of `text`, in order.
pub fn ticks(text: &str) -> impl Iterator<Item = u64> + '_ {
    whole_lines(text).filter_map(|l| l.strip_prefix("tick-")?.parse().ok())
}

/// The numbers of the `pad-N-…` lines of `text`, in order.
pub fn padded(text: &str) -> Vec<u64> {
    whole_lines(text)
        .filter_map(|l| l.strip_prefix("pad-")?.split('-').next()?.parse().ok())
        .collect()
}

/// Attaches to `container` on the hijacked connection with `logs=1&stream=1`, reads until
/// three ticks newer than the first tick seen have come live, and asserts that the output
/// is every padded line from the first, then every tick from 1, each once, in order.
pub fn assert_whole_output_then_live(sock: &Path, container: &str, limit: Duration) {
    let mut conn = UnixStream::connect(sock).unwrap();
    conn.set_read_timeout(Some(limit)).unwrap();
    let path = format!("/containers/{container}/attach?logs=1&stream=1&stdout=1&stderr=1");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: shoal\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).unwrap();
    let mut seen = Vec::new();
    let head_end = loop {
        if let Some(p) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let mut buf = [0u8; 4096];
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the answer: {seen:?}");
        seen.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&seen[..head_end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut output = seen[head_end..].to_vec();
    let text = |output: &[u8]| String::from_utf8_lossy(output).into_owned();
    // The replay from the start; the live ticks follow it.
    let newest = |t: &str| ticks(t).max().unwrap_or(0);
    let mut target = None;
    loop {
        let t = text(&output);
        if newest(&t) > 0 {
            let goal = *target.get_or_insert(newest(&t) + 3);
            if newest(&t) >= goal {
                break;
            }
        }
        let mut buf = [0u8; 4096];
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "the attach ended: {}", text(&output));
        output.extend_from_slice(&buf[..n]);
    }
    // Nothing lost or shown twice between the logged output and the live one.
    let t = text(&output);
    assert!(t.starts_with("pad-1-x"), "{:?}", &t[..t.len().min(200)]);
    assert_eq!(padded(&t), (1..=PADDED).collect::<Vec<u64>>());
    let shown: Vec<u64> = ticks(&t).collect();
    let expected: Vec<u64> = (1..=shown.len() as u64).collect();
    assert_eq!(shown, expected, "{t:?}");
}
