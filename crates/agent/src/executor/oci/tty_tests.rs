//! Containers with a terminal (`TTY`): the supervisor serves the pty (`console.rs`), the
//! agent reads and types into it and resizes it (`terminal.rs`), and its output is logged.
//! Needs root and busybox-static, as `tests.rs`.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::terminal::Want;
use super::tests::{harness, log_lines};
use crate::executor::Executor;
use crate::executor::conformance::{Harness, run_task_spec, within};

/// Reads `from` into `seen` until it holds `needle`.
async fn read_until(from: &mut (dyn AsyncRead + Send + Unpin), seen: &mut String, needle: &str) {
    let mut buf = [0u8; 1024];
    within(needle, async {
        while !seen.contains(needle) {
            let n = from.read(&mut buf).await.unwrap();
            assert!(n > 0, "output ended before {needle:?}: {seen:?}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tty_container_has_a_terminal_that_is_typed_into_resized_and_logged() {
    let Some(h) = harness() else { return };
    let ex = h.executor();
    let mut spec = h.shell("tty; stty size; echo term=$TERM; read x; echo got=$x; read y; stty size; exit 3");
    spec.container.tty = true;
    spec.container.open_stdin = true;
    spec.container.extra = r#"{"ConsoleSize":[20,70]}"#.into();
    run_task_spec(&*ex, "tty1", spec).await;
    assert!(ex.has_terminal("tty1"));

    // Attached after the start: the output so far comes first.
    let mut console = ex.console("tty1", Want::Replay).await.unwrap();
    let mut seen = String::new();
    read_until(&mut *console.output, &mut seen, "term=xterm").await;
    assert!(seen.contains("/dev/pts/0\r\n"), "{seen:?}");
    assert!(seen.contains("20 70\r\n"), "the first size applies: {seen:?}");
    console.input.write_all(b"yes\n").await.unwrap();
    read_until(&mut *console.output, &mut seen, "got=yes").await;

    ex.resize("tty1", 33, 101).await.unwrap();
    console.input.write_all(b"\n").await.unwrap();
    read_until(&mut *console.output, &mut seen, "33 101").await;
    let exit = within("exit", ex.wait("tty1")).await.unwrap();
    assert_eq!(exit.code, 3);
    // The terminal's output ends with the container.
    let mut rest = Vec::new();
    within("end of output", console.output.read_to_end(&mut rest))
        .await
        .unwrap();

    // The log holds the terminal's lines as the terminal wrote them (`\r` included).
    let lines = log_lines(&ex, "tty1").await;
    assert_eq!(
        lines.first().map(String::as_str),
        Some("/dev/pts/0\r"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l == "got=yes\r"), "{lines:?}");
    assert!(
        ex.resize("tty1", 10, 10).await.is_err(),
        "no terminal once exited"
    );
    ex.remove("tty1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_without_tty_has_no_terminal() {
    let Some(h) = harness() else { return };
    let ex = h.executor();
    let mut spec = h.shell("tty; sleep 1000 & wait $!");
    spec.container.stop_grace_period = Some(100_000_000);
    run_task_spec(&*ex, "notty", spec).await;
    assert!(!ex.has_terminal("notty"));
    assert!(ex.resize("notty", 10, 10).await.is_err());
    assert!(ex.console("notty", Want::Live).await.is_err());
    ex.remove("notty").await.unwrap();
}
