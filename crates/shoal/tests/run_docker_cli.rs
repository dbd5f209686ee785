//! Standalone containers (`docker run`, create/start/attach/wait/rm) through shoal's socket
//! with the stock docker CLI, on the oci executor, with an image from a loopback
//! `docker-registry` built from busybox-static.
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

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use busybox::skip_reason;
use common::{Agent, eventually, stderr, stdout};
use standalone_node::{Node, StandaloneCleanup};

const LIMIT: Duration = Duration::from_secs(60);

/// `docker run` with `input` on its stdin.
fn run_with_input(agent: &Agent, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{}", agent.sock.display()))
        .arg("run")
        .args(args)
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

#[test]
fn docker_run_on_the_oci_executor() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let (_rt, registry) = busybox::serve_busybox();
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start_default_executor(root.path(), "n1");
    let _cleanup = StandaloneCleanup(agent.data_dir().to_path_buf());
    let remote = format!("{}/busybox:latest", registry.addr);

    // The image is not here yet: create answers 404 "No such image", the CLI pulls and
    // creates again, and the output and exit come back.
    let first = agent.docker(&["run", "--rm", &remote, "busybox", "echo", "hi"]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&first),
        agent.log_tail()
    );
    assert_eq!(stdout(&first), "hi\n");
    assert!(
        stderr(&first).contains("Unable to find image"),
        "{}",
        stderr(&first)
    );
    agent.docker_ok(&["tag", &remote, "bb:1"]);

    // `--rm`: output, exit code 0, and the container is gone when the CLI returns.
    let started = Instant::now();
    let hi = agent.docker(&["run", "--rm", "bb:1", "busybox", "echo", "hi"]);
    let took = started.elapsed();
    assert_eq!(hi.status.code(), Some(0), "{}", stderr(&hi));
    assert_eq!(stdout(&hi), "hi\n");
    eprintln!("docker run --rm bb:1 echo hi (CLI included): {took:?}");
    assert_eq!(agent.docker_ok(&["ps", "-aq"]).trim(), "", "removed with --rm");

    // The exit code propagates, stdout and stderr stay apart.
    let three = agent.docker(&[
        "run",
        "--rm",
        "bb:1",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(three.status.code(), Some(3), "{}", stderr(&three));
    assert_eq!(
        (stdout(&three).as_str(), stderr(&three).as_str()),
        ("out\n", "err\n")
    );

    // Detached, named: ps, inspect, logs, exec, stop, rm.
    let id = agent
        .docker_ok(&[
            "run",
            "-d",
            "--name",
            "bx",
            "--no-healthcheck",
            "bb:1",
            "sh",
            "-c",
            "echo started; exec busybox sleep 60",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");
    let ps = agent.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.lines().any(|l| l.starts_with("bx Up")), "{ps}");
    assert_eq!(
        agent
            .docker_ok(&["inspect", "-f", "{{.Name}} {{.State.Running}}", "bx"])
            .trim(),
        "/bx true"
    );
    eventually("the log line", LIMIT, || {
        (agent.docker_ok(&["logs", "bx"]) == "started\n").then_some(())
    });
    assert_eq!(
        agent.docker_ok(&["exec", "bx", "busybox", "echo", "inside"]),
        "inside\n"
    );
    assert_eq!(
        agent
            .docker_ok(&["exec", &id[..12], "busybox", "hostname"])
            .trim()
            .len(),
        12
    );

    // A second container of the same name is refused as dockerd refuses it.
    let clash = agent.docker(&["run", "-d", "--name", "bx", "bb:1", "busybox", "true"]);
    assert!(!clash.status.success());
    assert!(
        stderr(&clash).contains("is already in use by container"),
        "{}",
        stderr(&clash)
    );

    agent.docker_ok(&["stop", "-t", "1", "bx"]);
    let ps = agent.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.lines().any(|l| l.starts_with("bx Exited (")), "{ps}");
    assert_eq!(agent.docker_ok(&["ps", "-q"]).trim(), "", "not running");
    assert_eq!(agent.docker_ok(&["wait", "bx"]).trim(), "137");
    agent.docker_ok(&["rm", "bx"]);
    assert_eq!(agent.docker_ok(&["ps", "-aq"]).trim(), "");

    // A running container is removed only with -f.
    agent.docker_ok(&[
        "run",
        "-d",
        "--name",
        "by",
        "--no-healthcheck",
        "bb:1",
        "busybox",
        "sleep",
        "60",
    ]);
    let busy = agent.docker(&["rm", "by"]);
    assert!(
        stderr(&busy).contains("container is running"),
        "{}",
        stderr(&busy)
    );
    agent.docker_ok(&["rm", "-f", "by"]);

    // create / start / wait, and prune of what exited.
    agent.docker_ok(&["create", "--name", "bz", "bb:1", "sh", "-c", "exit 5"]);
    let ps = agent.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains("bz Created"), "{ps}");
    agent.docker_ok(&["start", "bz"]);
    assert_eq!(agent.docker_ok(&["wait", "bz"]).trim(), "5");
    let pruned = agent.docker_ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers"), "{pruned}");
    assert_eq!(agent.docker_ok(&["ps", "-aq"]).trim(), "");

    // What shoal does not do yet is refused by name, not dropped.
    let privileged = agent.docker(&["run", "--rm", "--privileged", "bb:1", "busybox", "true"]);
    assert!(!privileged.status.success());
    assert!(
        stderr(&privileged).contains("HostConfig.Privileged"),
        "{}",
        stderr(&privileged)
    );
    let published = agent.docker(&["run", "--rm", "-p", "8080:80", "bb:1", "busybox", "true"]);
    assert!(!published.status.success());
    assert!(
        stderr(&published).contains("HostConfig.PortBindings"),
        "{}",
        stderr(&published)
    );
    let network = agent.docker(&["run", "--rm", "--network", "web", "bb:1", "busybox", "true"]);
    // Outside a swarm there is no such network.
    assert!(
        stderr(&network).contains("network web not found"),
        "{}",
        stderr(&network)
    );
    assert_eq!(
        agent.docker_ok(&["ps", "-aq"]).trim(),
        "",
        "refusals leave nothing"
    );
}

/// `docker run -i`: the client's input reaches the container's stdin over the hijacked
/// connection (sent before the container starts, and more than a pipe's worth), and its end
/// closes the container's stdin (StdinOnce), so `cat` ends.
#[test]
fn docker_run_interactive_stdin() {
    let Some(node) = Node::with_busybox() else {
        return;
    };
    let agent = &node.agent;

    let echo = run_with_input(agent, &["-i", "--rm", "bb:1", "busybox", "cat"], b"abc\n");
    assert_eq!(
        echo.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&echo),
        agent.log_tail()
    );
    assert_eq!(stdout(&echo), "abc\n");

    // 1 MiB: the pipes fill and drain, nothing is lost or piles up.
    let big = vec![b'x'; 1 << 20];
    let counted = run_with_input(agent, &["-i", "--rm", "bb:1", "busybox", "wc", "-c"], &big);
    assert_eq!(counted.status.code(), Some(0), "{}", stderr(&counted));
    assert_eq!(stdout(&counted).trim(), "1048576");

    // The exit code of what read the input comes back.
    let read = run_with_input(
        agent,
        &[
            "-i",
            "--rm",
            "bb:1",
            "sh",
            "-c",
            "read line; test \"$line\" = hello && exit 4",
        ],
        b"hello\n",
    );
    assert_eq!(read.status.code(), Some(4), "{}", stderr(&read));

    // Without -i the container's stdin gives nothing: cat ends at once.
    let closed = run_with_input(agent, &["--rm", "bb:1", "busybox", "cat"], b"ignored\n");
    assert_eq!(closed.status.code(), Some(0), "{}", stderr(&closed));
    assert_eq!(stdout(&closed), "");
    assert_eq!(agent.docker_ok(&["ps", "-aq"]).trim(), "", "all removed");
}

/// The health status `docker inspect` shows for container `name`.
fn health_of(agent: &Agent, name: &str) -> String {
    agent
        .docker_ok(&["inspect", "--format", "{{.State.Health.Status}}", name])
        .trim()
        .to_owned()
}

/// A plain container's health check, as dockerd runs it: `docker run -d` returns once the
/// process runs (not after the first verdict), an unhealthy container keeps running, and a
/// passing check makes it healthy again. (A Swarm task waits for healthy and is stopped when
/// unhealthy; `oci_service.rs`.)
#[test]
fn a_containers_health_is_reported_and_stops_nothing() {
    let Some(node) = Node::with_busybox() else {
        return;
    };
    let agent = &node.agent;

    // The first check is 30 s away: the run returns long before it, still starting.
    agent.docker_ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "true",
        "--health-interval",
        "30s",
        "bb:1",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(health_of(agent, "slow"), "starting");

    // Healthy while /ok exists (checks every 100 ms, unhealthy after 2 failures).
    agent.docker_ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--health-cmd",
        "busybox test -e /ok",
        "--health-interval",
        "100ms",
        "--health-retries",
        "2",
        "bb:1",
        "busybox",
        "sleep",
        "60",
    ]);
    eventually("flaky unhealthy", LIMIT, || {
        (health_of(agent, "flaky") == "unhealthy").then_some(())
    });
    let running = agent.docker_ok(&["inspect", "--format", "{{.State.Running}}", "flaky"]);
    assert_eq!(running.trim(), "true", "an unhealthy container runs on");
    agent.docker_ok(&["exec", "flaky", "busybox", "touch", "/ok"]);
    eventually("flaky healthy again", LIMIT, || {
        (health_of(agent, "flaky") == "healthy").then_some(())
    });
    let ps = agent.docker_ok(&["ps", "--filter", "name=flaky", "--format", "{{.Status}}"]);
    assert!(ps.contains("(healthy)"), "{ps}");
    agent.docker_ok(&["rm", "-f", "slow", "flaky"]);
}

/// `docker start` of an exited container and `docker restart` of a running one run it
/// again on the same writable layer, and its logs go on where they were, as on dockerd.
#[test]
fn restart_keeps_the_writable_layer_and_logs() {
    let Some(node) = Node::with_busybox() else {
        return;
    };
    let agent = &node.agent;
    // Each run adds a line to a file of the container's own layer and prints the count.
    let count = "echo run >> /runs; busybox wc -l < /runs";

    let first = agent.docker(&["run", "--name", "again", "bb:1", "sh", "-c", count]);
    assert_eq!(stdout(&first).trim(), "1", "{}", stderr(&first));
    agent.docker_ok(&["start", "again"]);
    assert_eq!(agent.docker_ok(&["wait", "again"]).trim(), "0");
    assert_eq!(
        agent.docker_ok(&["logs", "again"]),
        "1\n2\n",
        "layer and logs kept"
    );
    agent.docker_ok(&["rm", "again"]);

    let id = agent
        .docker_ok(&[
            "run",
            "-d",
            "--name",
            "up",
            "--no-healthcheck",
            "bb:1",
            "sh",
            "-c",
            &format!("{count}; exec busybox sleep 60"),
        ])
        .trim()
        .to_string();
    eventually("the first run's line", LIMIT, || {
        (agent.docker_ok(&["logs", "up"]) == "1\n").then_some(())
    });
    agent.docker_ok(&["restart", "-t", "1", "up"]);
    eventually("the second run's line", LIMIT, || {
        (agent.docker_ok(&["logs", "up"]) == "1\n2\n").then_some(())
    });
    assert_eq!(
        agent
            .docker_ok(&["inspect", "-f", "{{.Id}} {{.State.Running}}", "up"])
            .trim(),
        format!("{id} true"),
        "the same container, running again"
    );
    agent.docker_ok(&["rm", "-f", "up"]);
    assert_eq!(agent.docker_ok(&["ps", "-aq"]).trim(), "");
}

/// The default seccomp profile denies what reaches past the container (a user namespace
/// here: no capability is needed for one, so only the filter stops it), docker exec runs
/// under the same filter, `--security-opt seccomp=unconfined` lifts it, and the options
/// shoal cannot honour are refused by name.
#[test]
fn seccomp_default_profile_and_unconfined() {
    let Some(node) = Node::with_busybox() else {
        return;
    };
    let agent = &node.agent;
    let probe = "grep Seccomp: /proc/self/status; busybox unshare -U true; echo unshare=$?";

    let confined = agent.docker(&["run", "--rm", "bb:1", "sh", "-c", probe]);
    assert_eq!(confined.status.code(), Some(0), "{}", stderr(&confined));
    let out = stdout(&confined);
    assert!(out.contains("Seccomp:\t2"), "a filter is loaded: {out}");
    assert!(out.contains("unshare=1"), "unshare is denied: {out}");
    assert!(
        stderr(&confined).contains("Operation not permitted"),
        "{}",
        stderr(&confined)
    );

    let free = agent.docker(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "bb:1",
        "sh",
        "-c",
        probe,
    ]);
    let out = stdout(&free);
    assert!(out.contains("Seccomp:\t0"), "no filter: {out}");
    assert!(out.contains("unshare=0"), "{out}\n{}", stderr(&free));

    // An exec gets the container's filter.
    agent.docker_ok(&[
        "run",
        "-d",
        "--name",
        "sc",
        "--no-healthcheck",
        "bb:1",
        "busybox",
        "sleep",
        "60",
    ]);
    let exec = agent.docker(&["exec", "sc", "sh", "-c", probe]);
    let out = stdout(&exec);
    assert!(out.contains("Seccomp:\t2") && out.contains("unshare=1"), "{out}");
    agent.docker_ok(&["rm", "-f", "sc"]);
    // So does a health check: it passes only under the filter.
    agent.docker_ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "grep -q 'Seccomp:.*2' /proc/self/status",
        "--health-interval",
        "100ms",
        "bb:1",
        "busybox",
        "sleep",
        "60",
    ]);
    eventually("hc healthy", LIMIT, || {
        (health_of(agent, "hc") == "healthy").then_some(())
    });
    agent.docker_ok(&["rm", "-f", "hc"]);

    for (opt, says) in [
        ("apparmor=unconfined", "apparmor=unconfined"),
        ("seccomp=/nonexistent.json", "seccomp"),
    ] {
        let refused = agent.docker(&["run", "--rm", "--security-opt", opt, "bb:1", "busybox", "true"]);
        assert!(!refused.status.success(), "{opt}");
        assert!(stderr(&refused).contains(says), "{opt}: {}", stderr(&refused));
    }
    let custom = std::env::temp_dir().join(format!("shoal-seccomp-{}.json", std::process::id()));
    std::fs::write(&custom, r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).unwrap();
    let refused = agent.docker(&[
        "run",
        "--rm",
        "--security-opt",
        &format!("seccomp={}", custom.display()),
        "bb:1",
        "busybox",
        "true",
    ]);
    let _ = std::fs::remove_file(&custom);
    assert!(
        stderr(&refused).contains("custom seccomp profiles are not supported"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        agent.docker_ok(&["ps", "-aq"]).trim(),
        "",
        "refusals leave nothing"
    );
}

/// The agent killed with SIGKILL and started again over the same data dir: the container
/// that ran on is listed and removable, and new containers run.
#[test]
fn docker_run_after_the_agent_was_killed() {
    let Some(mut node) = Node::with_busybox() else {
        return;
    };
    let agent = &mut node.agent;
    agent.docker_ok(&["run", "--rm", "bb:1", "busybox", "true"]);
    agent.docker_ok(&[
        "run",
        "-d",
        "--name",
        "kept",
        "--no-healthcheck",
        "bb:1",
        "busybox",
        "sleep",
        "60",
    ]);

    let pid = agent.pid().unwrap();
    agent.restart();
    assert_ne!(agent.pid(), Some(pid));

    let ps = agent.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.lines().any(|l| l.starts_with("kept Up")), "{ps}");
    let after = agent.docker(&["run", "--rm", "bb:1", "busybox", "echo", "after"]);
    assert_eq!(
        after.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&after),
        agent.log_tail()
    );
    assert_eq!(stdout(&after), "after\n");
    agent.docker_ok(&["rm", "-f", "kept"]);
    assert_eq!(agent.docker_ok(&["ps", "-aq"]).trim(), "");
}

/// `docker start -a` of an exited container shows the output of the run it starts, again
/// and again, and after a `docker restart` too.
#[test]
fn docker_start_attach_shows_each_run() {
    let Some(node) = Node::with_busybox() else {
        return;
    };
    let agent = &node.agent;

    // Each run prints a line of its own.
    let script = "cat /proc/sys/kernel/random/uuid";
    agent.docker_ok(&["create", "--name", "again", "bb:1", "sh", "-c", script]);
    let mut seen = Vec::new();
    for run in 0..3 {
        if run == 2 {
            agent.docker_ok(&["restart", "-t", "1", "again"]);
            assert_eq!(agent.docker_ok(&["wait", "again"]).trim(), "0");
        }
        let out = agent.docker_ok(&["start", "-a", "again"]);
        let line = out.trim().to_owned();
        assert_eq!(line.len(), 36, "run {run}: {out:?}\n{}", agent.log_tail());
        assert!(
            !seen.contains(&line),
            "run {run} shows an old run's output: {out:?}"
        );
        seen.push(line);
    }
    agent.docker_ok(&["rm", "again"]);
}

/// `docker ps --size`, `docker inspect --size` and `docker system df` count what a container
/// wrote over its image (the overlay's upper directory).
#[test]
fn container_sizes_count_the_writable_layer() {
    let Some(node) = Node::with_busybox() else {
        return;
    };
    let agent = &node.agent;
    agent.docker_ok(&[
        "run",
        "-d",
        "--name",
        "writer",
        "--no-healthcheck",
        "bb:1",
        "sh",
        "-c",
        "head -c 3000000 /dev/zero > /big && touch /done && exec sleep 1000",
    ]);
    eventually("the file written", Duration::from_secs(60), || {
        agent
            .docker(&["exec", "writer", "sh", "-c", "test -e /done"])
            .status
            .success()
            .then_some(())
    });
    let inspect = agent.docker_ok(&[
        "inspect",
        "--size",
        "--format",
        "{{.SizeRw}} {{.SizeRootFs}}",
        "writer",
    ]);
    let sizes: Vec<i64> = inspect.split_whitespace().map(|n| n.parse().unwrap()).collect();
    // The 3 MB file and little else (the shell's own files: /done, /root's history at most).
    assert!((3_000_000..3_100_000).contains(&sizes[0]), "SizeRw {}", sizes[0]);
    assert!(sizes[1] > sizes[0], "SizeRootFs {} adds the image's", sizes[1]);
    let ps = agent.docker_ok(&["ps", "--size", "--filter", "name=writer", "--format", "{{.Size}}"]);
    assert!(ps.starts_with("3MB (virtual "), "{ps}");
    let df = agent.docker_ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}}",
    ]);
    assert!(df.lines().any(|l| l == "Containers 1 1 3MB"), "{df}");
    agent.docker_ok(&["rm", "-f", "writer"]);
}
