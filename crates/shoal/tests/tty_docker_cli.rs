//! Standalone containers with a terminal (`docker run -it`, `-dit`, `docker attach`, resize,
//! `docker logs`) through shoal's socket with the stock docker CLI on the oci executor. The
//! CLI gets a terminal of its own from script(1), as a user's shell gives it one.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;

#[path = "../../image/tests/common/build.rs"]
mod build;
#[path = "common/busybox.rs"]
mod busybox;
#[path = "../../image/tests/common/registry.rs"]
mod registry;
#[path = "common/standalone_node.rs"]
mod standalone_node;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tty_replay::{assert_whole_output_then_live, padded_then_ticks};
use common::{Agent, eventually, stderr, stdout};
use standalone_node::Node;

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `docker <args>` in a 40x100 terminal made by script(1), typing `input` into it;
/// its exit code and everything the terminal showed.
fn in_terminal(agent: &Agent, args: &str, input: &[u8]) -> (Option<i32>, String) {
    interact(agent, args, &[(input, "")])
}

/// [`in_terminal`] in steps: each one's input is typed once the terminal shows the previous
/// step's text (so keys the CLI reads itself, as ctrl-p ctrl-q, reach it in raw mode).
fn interact(agent: &Agent, args: &str, steps: &[(&[u8], &str)]) -> (Option<i32>, String) {
    let cli = format!(
        "stty rows 40 cols 100; docker -H unix://{} {args}",
        agent.sock.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cli, "/dev/null"])
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = String::new();
    let deadline = Instant::now() + LIMIT;
    for (input, then) in steps {
        stdin.write_all(input).unwrap();
        while !shown.contains(then) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(chunk) => shown.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "the terminal never showed {then:?}: {shown}\n{}",
                        agent.log_tail()
                    );
                }
            }
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    shown.extend(rx.try_iter().map(|c| String::from_utf8_lossy(&c).into_owned()));
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status.code(), shown + &err)
}

#[test]
fn docker_run_it_gives_the_container_a_terminal() {
    let Some(node) = Node::with_busybox() else {
        return;
    };
    let agent = &node.agent;

    // (`--no-healthcheck`: the test image's check runs a `true` it does not have.)
    // `-it`: the shell's stdin is the terminal the CLI relays; its size is the CLI's; what
    // is typed runs and the exit code comes back.
    let (code, shown) = in_terminal(
        agent,
        "run -it --name t1 --no-healthcheck bb:1 sh",
        b"tty; stty size; echo hi-$((6*7)); exit 5\n",
    );
    assert_eq!(code, Some(5), "{shown}\n{}", agent.log_tail());
    assert!(shown.contains("/dev/pts/0"), "{shown}");
    assert!(shown.contains("40 100"), "the CLI's size: {shown}");
    assert!(shown.contains("hi-42"), "{shown}");
    // Its logs are the terminal's output (raw: the terminal's \r\n).
    let logs = agent.docker_ok(&["logs", "t1"]);
    assert!(logs.contains("hi-42\r\n"), "{logs:?}");

    // `-t` alone: output raw on one stream, no input.
    let (code, shown) = in_terminal(
        agent,
        "run --rm -t --no-healthcheck bb:1 sh -c 'tty; echo out; echo err >&2'",
        b"",
    );
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("/dev/pts/0") && shown.contains("out") && shown.contains("err"),
        "{shown}"
    );
    // Without a terminal in the CLI, `-t` still makes one in the container.
    let piped = agent.docker(&["run", "--rm", "-t", "--no-healthcheck", "bb:1", "busybox", "tty"]);
    assert_eq!(stdout(&piped), "/dev/pts/0\r\n", "{}", stderr(&piped));

    // Detached with a terminal: resize reaches it, `docker attach` types into it, and
    // ctrl-p ctrl-q leaves it running.
    agent.docker_ok(&["run", "-dit", "--name", "t2", "--no-healthcheck", "bb:1", "sh"]);
    let size = || agent.docker_ok(&["exec", "t2", "sh", "-c", "stty size < /proc/1/fd/0"]);
    assert_eq!(agent.resize("t2", 33, 101), 200);
    assert_eq!(size().trim(), "33 101");
    let (code, shown) = interact(
        agent,
        "attach t2",
        &[(b"echo attached-$((6*7))\n", "attached-42"), (b"\x10\x11", "")],
    );
    // The CLI's own words and status for a detach (as against dockerd).
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("read escape sequence"), "{shown}");
    assert!(shown.contains("attached-42"), "{shown}");
    assert_eq!(
        agent
            .docker_ok(&["inspect", "--format", "{{.State.Running}}", "t2"])
            .trim(),
        "true",
        "detaching leaves it running"
    );
    // Detach keys of the user's choice.
    let (code, shown) = interact(
        agent,
        "attach --detach-keys ctrl-a t2",
        &[(b"echo again-$((6*7))\n", "again-42"), (b"\x01", "")],
    );
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("read escape sequence"), "{shown}");
    let logs = agent.docker_ok(&["logs", "t2"]);
    assert!(
        logs.contains("attached-42") && logs.contains("again-42"),
        "{logs:?}"
    );

    // No terminal: resize is refused (409), as on dockerd.
    agent.docker_ok(&[
        "run",
        "-d",
        "--name",
        "t3",
        "--no-healthcheck",
        "bb:1",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(agent.resize("t3", 10, 10), 409);
    agent.docker_ok(&["rm", "-f", "t1", "t2", "t3"]);
}

/// `attach` with `logs=1` to a running `-t` container: its whole log from the first line, then
/// the live terminal, with nothing lost or repeated where they meet (ticks every millisecond,
/// so a gap between copying the log and joining the terminal would show).
#[test]
fn attach_with_logs_to_a_running_container_with_a_terminal_misses_nothing() {
    let Some(node) = Node::with_busybox() else {
        return;
    };
    let agent = &node.agent;
    let script = padded_then_ticks("usleep 1000");
    agent.docker_ok(&[
        "run",
        "-d",
        "-t",
        "--name",
        "t4",
        "--no-healthcheck",
        "bb:1",
        "sh",
        "-c",
        &script,
    ]);
    eventually("t4 ticking", LIMIT, || {
        agent.docker_ok(&["logs", "t4"]).contains("tick-3").then_some(())
    });
    assert_whole_output_then_live(&agent.sock, "t4", LIMIT);
    agent.docker_ok(&["rm", "-f", "t4"]);
}

#[test]
fn docker_exec_it_detaches_with_the_detach_keys_and_the_exec_runs_on() {
    let Some(node) = Node::with_busybox() else {
        return;
    };
    let agent = &node.agent;
    agent.docker_ok(&[
        "run",
        "-d",
        "--name",
        "e1",
        "--no-healthcheck",
        "bb:1",
        "busybox",
        "sleep",
        "1000",
    ]);
    // The exec's shell starts a job that writes far more than a terminal holds, once told
    // to (after the detach): it finishes only if the exec's output is still read.
    let (code, shown) = interact(
        agent,
        "exec -it e1 sh",
        &[
            (
                b"busybox mkfifo /go; (busybox cat /go; busybox yes | busybox head -c 300000; busybox touch /done) & echo exec-$((6*7))\n",
                "exec-42",
            ),
            (b"\x10\x11", ""),
        ],
    );
    // The CLI's own words and status for a detach, as against dockerd.
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("read escape sequence"), "{shown}");
    agent.docker_ok(&["exec", "e1", "sh", "-c", "echo go > /go"]);
    let deadline = Instant::now() + LIMIT;
    while !agent
        .docker(&["exec", "e1", "busybox", "ls", "/done"])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "the detached exec's output stalled\n{}",
            agent.log_tail()
        );
        std::thread::yield_now();
    }
    // The detached shell still runs (the container's init is `sleep`).
    let ps = agent.docker_ok(&["exec", "e1", "busybox", "ps"]);
    assert!(
        ps.lines().any(|l| l.trim_end().ends_with(" sh")),
        "the exec's shell runs on: {ps}"
    );

    // Keys of the user's choice reach the daemon with the exec (dockerd's ExecConfig).
    let (code, shown) = interact(
        agent,
        "exec -it --detach-keys ctrl-a e1 sh",
        &[(b"echo again-$((6*7))\n", "again-42"), (b"\x01", "")],
    );
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("read escape sequence"), "{shown}");
    agent.docker_ok(&["rm", "-f", "e1"]);
}

/// What an SDK does (the stock CLI catches the keys itself and only hangs up): the keys go
/// to the daemon, which ends the stream and leaves the exec running.
#[test]
fn the_daemon_detaches_an_exec_on_its_detach_keys() {
    use common::http::{json_of, over_unix, request};
    let Some(node) = Node::with_busybox() else {
        return;
    };
    let agent = &node.agent;
    agent.docker_ok(&[
        "run",
        "-d",
        "--name",
        "e2",
        "--no-healthcheck",
        "bb:1",
        "busybox",
        "sleep",
        "1000",
    ]);
    let json = ["Content-Type: application/json"];
    let body = r#"{"Cmd":["sh"],"Tty":true,"AttachStdin":true,"AttachStdout":true,"DetachKeys":"ctrl-a"}"#;
    let (code, created) = over_unix(
        &agent.sock,
        &request("POST", "/containers/e2/exec", "shoal", &json, Some(body)),
    );
    assert_eq!(code, 201, "{created}");
    let id = json_of(&created)["Id"].as_str().unwrap().to_owned();

    let mut conn = std::os::unix::net::UnixStream::connect(&agent.sock).unwrap();
    conn.set_read_timeout(Some(LIMIT)).unwrap();
    let start = r#"{"Detach":false,"Tty":true}"#;
    write!(
        conn,
        "POST /exec/{id}/start HTTP/1.1\r\nHost: shoal\r\nContent-Type: application/json\r\n\
         Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n\r\n{start}",
        start.len()
    )
    .unwrap();
    fn read_until(conn: &mut std::os::unix::net::UnixStream, needle: &str, seen: &mut String) {
        let mut buf = [0u8; 4096];
        while !seen.contains(needle) {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "the stream ended before {needle:?}: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    let mut seen = String::new();
    read_until(&mut conn, "\r\n\r\n", &mut seen);
    assert!(seen.starts_with("HTTP/1.1 101"), "{seen}");
    conn.write_all(b"echo in-$((6*7))\n").unwrap();
    read_until(&mut conn, "in-42", &mut seen);
    // The keys: the daemon hangs up, and what follows them never reaches the shell.
    conn.write_all(b"\x01echo never\n").unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(!rest.contains("never"), "nothing after the keys is typed: {rest}");
    let (code, shown) = over_unix(
        &agent.sock,
        &request("GET", &format!("/exec/{id}/json"), "shoal", &[], None),
    );
    assert_eq!(code, 200, "{shown}");
    let inspect = json_of(&shown);
    assert_eq!(inspect["Running"], true, "{shown}");
    assert_eq!(inspect["DetachKeys"], "ctrl-a", "{shown}");
    agent.docker_ok(&["rm", "-f", "e2"]);
}
