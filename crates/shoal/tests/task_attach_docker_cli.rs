//! `docker attach` to a service task's container (issue 11) on a one-node oci swarm, with the
//! stock docker CLI and raw calls on the API socket: a task without a terminal streams its
//! new lines on stdout and stderr and the attach ends with the task; `logs=1&stream=0` gives
//! its earlier lines framed by stream; a `-t` task's `logs=1` gives its earlier output raw,
//! and with `stream=1` its whole log (beyond the terminal's 64 KiB) before the live output,
//! nothing lost or repeated between them; a task created with
//! `OpenStdin` reads the attached client's input; a task that stopped is refused with
//! dockerd's words. Root only.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;

#[path = "../../image/tests/common/build.rs"]
mod build;
#[path = "common/busybox.rs"]
mod busybox;
#[path = "common/oci_swarm.rs"]
mod oci_swarm;
#[path = "../../image/tests/common/registry.rs"]
mod registry;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::tty_replay::{
    PADDED, assert_whole_output_then_live, padded, padded_then_ticks, ticks, whole_lines,
};
use common::{Agent, eventually, stderr};
use oci_swarm::{OciSwarm, task_ids};

const LIMIT: Duration = Duration::from_secs(60);

/// Creates `name` running `script` under `sh -c` (with `extra` flags), never restarted;
/// returns its task's container name once the task's log shows `marker`.
fn service(node: &mut OciSwarm, name: &str, extra: &[&str], script: &str, marker: &str) -> String {
    let image = node.image();
    let mut args = vec![
        "service",
        "create",
        "--detach",
        "--name",
        name,
        "--restart-condition",
        "none",
        "--no-healthcheck",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[&image, "sh", "-c", script]);
    node.agent.docker_ok(&args);
    task_container(node, name, marker)
}

/// The container of `service`'s task once the task's log shows `marker`.
fn task_container(node: &mut OciSwarm, name: &str, marker: &str) -> String {
    let agent = &node.agent;
    let ids = eventually(&format!("a task of {name}"), LIMIT, || {
        let ids = task_ids(agent, name);
        (!ids.is_empty()).then_some(ids)
    });
    let container = format!("{name}.1.{}", ids[0]);
    node.cleanup.task_ids.extend(ids);
    eventually(&format!("{marker} in {name}'s log"), LIMIT, || {
        let out = agent.docker(&["logs", &container]);
        let text = common::stdout(&out) + &stderr(&out);
        text.lines().any(|l| l.trim_end() == marker).then_some(())
    });
    container
}

/// What a request on the API socket answered: status, headers, body (de-chunked).
struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

/// `POST /containers/{container}/attach?{query}` without an upgrade: the daemon answers
/// with the stream as the body and closes when it ends.
fn attach_api(agent: &Agent, container: &str, query: &str) -> Answer {
    call(
        &agent.sock,
        "POST",
        &format!("/containers/{container}/attach?{query}"),
    )
}

/// One request on the socket, read until the daemon closes the connection.
fn call(sock: &Path, method: &str, path: &str) -> Answer {
    let mut conn = UnixStream::connect(sock).unwrap();
    conn.set_read_timeout(Some(LIMIT)).unwrap();
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: shoal\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    conn.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let headers = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = headers[9..12].parse().unwrap();
    let body = if headers.contains("transfer-encoding: chunked") {
        dechunk(&raw[split..])
    } else {
        raw[split..].to_vec()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
}

/// The payloads of a multiplexed body (8-byte stdcopy headers) joined per stream: 1 and 2.
fn demux(mut body: &[u8]) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while !body.is_empty() {
        assert!(body.len() >= 8, "a torn frame header: {body:?}");
        assert_eq!(body[1..4], [0, 0, 0], "not a frame header: {body:?}");
        let size = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
        let payload = &body[8..8 + size];
        match body[0] {
            1 => out.extend_from_slice(payload),
            2 => err.extend_from_slice(payload),
            other => panic!("frame of stream {other}"),
        }
        body = &body[8 + size..];
    }
    (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

fn has_line(text: &str, line: &str) -> bool {
    whole_lines(text).any(|l| l == line)
}

/// The stock CLI's `docker attach` running, its stdout and stderr read apart.
struct Attach {
    child: std::process::Child,
    rx: mpsc::Receiver<(bool, Vec<u8>)>,
    out: String,
    err: String,
}

impl Attach {
    /// `docker attach --no-stdin <container>`.
    fn start(agent: &Agent, container: &str) -> Attach {
        Attach::with_input(agent, &["attach", "--no-stdin", container], None)
    }

    /// `docker <args>`, with `input` on its stdin and then its end (none without).
    fn with_input(agent: &Agent, args: &[&str], input: Option<&[u8]>) -> Attach {
        let mut child = Command::new("docker")
            .args(["-H", &format!("unix://{}", agent.sock.display())])
            .args(args)
            .env_remove("DOCKER_CONTEXT")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = input {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(input).unwrap();
        }
        let (tx, rx) = mpsc::channel();
        let pipes: [(bool, Box<dyn Read + Send>); 2] = [
            (false, Box::new(child.stdout.take().unwrap())),
            (true, Box::new(child.stderr.take().unwrap())),
        ];
        for (is_err, mut pipe) in pipes {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 || tx.send((is_err, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            });
        }
        Attach {
            child,
            rx,
            out: String::new(),
            err: String::new(),
        }
    }

    /// Reads until `line` is a whole line of stdout (or of stderr with `on_stderr`).
    fn read_until(&mut self, agent: &Agent, on_stderr: bool, line: &str) {
        self.read_until_seen(agent, line, |out, err| {
            has_line(if on_stderr { err } else { out }, line)
        });
    }

    /// Reads until `done(stdout, stderr)` holds (`what` names it in a failure).
    fn read_until_seen(&mut self, agent: &Agent, what: &str, done: impl Fn(&str, &str) -> bool) {
        let deadline = Instant::now() + LIMIT;
        loop {
            if done(&self.out, &self.err) {
                return;
            }
            let line = what;
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.take(chunk),
                Err(_) => panic!(
                    "the attach never showed {line:?}\nstdout: {}\nstderr: {}\n{}",
                    self.out,
                    self.err,
                    agent.log_tail()
                ),
            }
        }
    }

    fn take(&mut self, (is_err, bytes): (bool, Vec<u8>)) {
        let text = String::from_utf8_lossy(&bytes);
        if is_err {
            self.err.push_str(&text);
        } else {
            self.out.push_str(&text);
        }
    }

    /// Reads until the CLI closes both pipes, then its exit code.
    fn ends(mut self, agent: &Agent) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.take(chunk),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "the attach did not end with its task\nstdout: {}\nstderr: {}\n{}",
                        self.out,
                        self.err,
                        agent.log_tail()
                    );
                }
            }
        }
        let status = self.child.wait().unwrap();
        (status.code(), self.out, self.err)
    }
}

#[test]
fn docker_attach_follows_a_service_task_without_a_terminal() {
    let Some(mut node) = OciSwarm::start() else {
        return;
    };
    // Ticks on stdout and stderr until told to stop, then three last lines and exit 3.
    let ticker = service(
        &mut node,
        "ticker",
        &[],
        "i=0; while [ ! -e /stop ]; do i=$((i+1)); echo tick-$i; echo warn-$i >&2; \
         busybox sleep 0.1; done; for j in 1 2 3; do echo final-$j; done; exit 3",
        "tick-3",
    );
    let agent = &node.agent;

    // logs=1&stream=0: the earlier lines, each framed on its own stream, and the call ends.
    let logs = attach_api(agent, &ticker, "logs=1&stream=0&stdout=1&stderr=1");
    assert_eq!(logs.status, 200, "{}", String::from_utf8_lossy(&logs.body));
    assert!(
        logs.headers.contains("application/vnd.docker.multiplexed-stream"),
        "{}",
        logs.headers
    );
    let (out, err) = demux(&logs.body);
    for n in 1..=3 {
        assert!(has_line(&out, &format!("tick-{n}")), "stdout: {out}");
        assert!(has_line(&err, &format!("warn-{n}")), "stderr: {err}");
    }
    assert!(!out.contains("warn-"), "stderr lines on stdout: {out}");
    assert!(!err.contains("tick-"), "stdout lines on stderr: {err}");
    // Only the stream asked for.
    let only_err = attach_api(agent, &ticker, "logs=1&stream=0&stderr=1");
    let (out, err) = demux(&only_err.body);
    assert_eq!(out, "");
    assert!(has_line(&err, "warn-1"), "stderr: {err}");

    // The stock CLI: the lines from now on, stdout on its stdout and stderr on its stderr.
    let mut attach = Attach::start(agent, &ticker);
    attach.read_until_seen(agent, "a tick", |out, _| ticks(out).next().is_some());
    let live = ticks(&attach.out).next().unwrap();
    assert!(live > 3, "a tick from before the attach: {}", attach.out);
    attach.read_until(agent, false, &format!("tick-{}", live + 2));
    attach.read_until(agent, true, &format!("warn-{}", live + 2));
    assert!(
        !has_line(&attach.out, "tick-1"),
        "no logs asked for, none replayed: {}",
        attach.out
    );
    // Its end ends the attach, with its exit code.
    agent.docker_ok(&["exec", &ticker, "busybox", "touch", "/stop"]);
    let (code, out, err) = attach.ends(agent);
    assert!(has_line(&out, "final-3"), "stdout: {out}");
    assert!(!out.contains("warn-"), "stderr lines on stdout: {out}");
    assert!(err.contains("warn-"), "stderr: {err}");
    assert_eq!(code, Some(3), "stdout: {out}\nstderr: {err}");

    // Stopped: dockerd's words, from the CLI and from the API for a stream.
    let refused = agent.docker(&["attach", "--no-stdin", &ticker]);
    assert!(!refused.status.success());
    let words = "You cannot attach to a stopped container, start it first";
    assert!(stderr(&refused).contains(words), "{}", stderr(&refused));
    let stream = attach_api(agent, &ticker, "stream=1&stdout=1");
    assert_eq!(stream.status, 409);
    assert!(String::from_utf8_lossy(&stream.body).contains(words));
    // Its logs are still there to read.
    let logs = attach_api(agent, &ticker, "logs=1&stdout=1");
    let (out, _) = demux(&logs.body);
    assert!(has_line(&out, "final-3"), "stdout: {out}");
    // No such container: dockerd's words.
    let missing = agent.docker(&["attach", "--no-stdin", "nothing-here"]);
    assert!(
        stderr(&missing).contains("No such container"),
        "{}",
        stderr(&missing)
    );
    node.remove_leaving_nothing(&["ticker"]);
}

#[test]
fn attach_with_logs_to_a_service_task_with_a_terminal() {
    let Some(mut node) = OciSwarm::start() else {
        return;
    };
    // 2000 padded lines (about 130 KiB, more than the terminal's ring keeps), then ticks.
    let term = service(
        &mut node,
        "term",
        &["-t"],
        &padded_then_ticks("sleep 0.1"),
        "tick-3",
    );
    let agent = &node.agent;

    // logs=1&stream=0: the earlier output as the terminal wrote it, one raw stream.
    let logs = attach_api(agent, &term, "logs=1&stream=0&stdout=1&stderr=1");
    assert_eq!(logs.status, 200, "{}", String::from_utf8_lossy(&logs.body));
    assert!(
        logs.headers.contains("application/vnd.docker.raw-stream"),
        "{}",
        logs.headers
    );
    let text = String::from_utf8(logs.body).unwrap();
    assert!(text.starts_with("pad-1-x"), "{:?}", &text[..text.len().min(200)]);
    assert_eq!(padded(&text), (1..=PADDED).collect::<Vec<u64>>());
    assert!(text.contains("\r\ntick-1\r\ntick-2\r\ntick-3\r\n"));

    // logs=1&stream=1 on the hijacked connection: the whole log from the start (not only the
    // terminal's last 64 KiB), then live output.
    assert_whole_output_then_live(&agent.sock, &term, LIMIT);
    node.remove_leaving_nothing(&["term"]);
}

#[test]
fn docker_attach_types_into_a_service_task_with_open_stdin() {
    let Some(mut node) = OciSwarm::start() else {
        return;
    };
    // `docker service create` has no -i: OpenStdin through the API, as a stack or SDK sets it.
    let spec = serde_json::json!({
        "Name": "reader",
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": node.image(),
                "Command": ["sh", "-c",
                    "echo ready; while read l; do echo got-$l; [ \"$l\" = bye ] && exit 0; done"],
                "OpenStdin": true,
            },
            "RestartPolicy": {"Condition": "none"},
        },
        "Mode": {"Replicated": {"Replicas": 1}},
    })
    .to_string();
    let request = common::http::request(
        "POST",
        "/services/create",
        "shoal",
        &[common::http::JSON],
        Some(&spec),
    );
    let (status, body) = common::http::over_unix(&node.agent.sock, &request);
    assert_eq!(status, 201, "{body}");
    let reader = task_container(&mut node, "reader", "ready");
    let agent = &node.agent;
    let open = agent.docker_ok(&["inspect", "--format", "{{.Config.OpenStdin}}", &reader]);
    assert_eq!(open.trim(), "true");
    // The CLI attaches its stdin (the container has it open): the lines reach the task, its
    // answers come back, and its exit ends the attach.
    let attach = Attach::with_input(agent, &["attach", &reader], Some(b"hello\nbye\n"));
    let (code, out, err) = attach.ends(agent);
    assert!(has_line(&out, "got-hello"), "stdout: {out}\nstderr: {err}");
    assert!(has_line(&out, "got-bye"), "stdout: {out}\nstderr: {err}");
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    node.remove_leaving_nothing(&["reader"]);
}
