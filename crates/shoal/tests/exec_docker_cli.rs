//! `docker exec` through shoal's socket with the stock docker CLI: into a container of the
//! oci executor (image from a loopback `docker-registry`, built from busybox-static) and
//! beside a task of the process executor.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;

#[path = "../../image/tests/common/build.rs"]
mod build;
#[path = "common/busybox.rs"]
mod busybox;
#[path = "../../image/tests/common/registry.rs"]
mod registry;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use busybox::{Cleanup, skip_reason};
use common::{Agent, eventually, http, stderr, stdout};

const LIMIT: Duration = Duration::from_secs(60);

/// The one task of `service` once it runs: (ID, Swarm container name).
fn running_task(agent: &Agent, service: &str) -> (String, String) {
    eventually(&format!("{service} at 1/1"), LIMIT, || {
        let replicas = agent.docker_ok(&[
            "service",
            "ls",
            "--filter",
            &format!("name={service}"),
            "--format",
            "{{.Replicas}}",
        ]);
        (replicas.trim() == "1/1").then_some(())
    });
    let id = agent
        .docker_ok(&["service", "ps", "-q", "--no-trunc", service])
        .trim()
        .to_string();
    (id.clone(), format!("{service}.1.{id}"))
}

/// `docker exec` with `input` on its stdin.
fn exec_with_input(agent: &Agent, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{}", agent.sock.display()))
        .arg("exec")
        .args(args)
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Written from a thread: the output must be read meanwhile, or both sides fill their
    // pipes and wait for each other.
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output
}

#[test]
fn docker_exec_runs_in_an_oci_container() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let (_rt, registry) = busybox::serve_busybox();
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start_default_executor(root.path(), "n1");
    agent.swarm_init();
    let image = format!("{}/busybox:latest", registry.addr);
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "web",
        "--no-healthcheck",
        "--ulimit",
        "nofile=777:888",
        "--env",
        "GREETING=hello",
        &image,
        "busybox",
        "sleep",
        "100000",
    ]);
    let (id, name) = running_task(&agent, "web");
    let _cleanup = Cleanup {
        data_dir: agent.data_dir().to_path_buf(),
        task_ids: vec![id.clone()],
    };

    // The image's root, not the host's.
    let ls = agent.docker_ok(&["exec", &name, "ls", "/"]);
    let entries: Vec<&str> = ls.split_whitespace().collect();
    for expected in ["bin", "dir", "etc"] {
        assert!(entries.contains(&expected), "{ls}");
    }
    assert!(!entries.contains(&"usr") && !entries.contains(&"boot"), "{ls}");

    // The task's PID namespace: PID 1 is the task's process, and the exec has a PID in it.
    let cmdline = agent.docker_ok(&["exec", &name, "busybox", "cat", "/proc/1/cmdline"]);
    assert_eq!(
        cmdline.split('\0').collect::<Vec<_>>(),
        ["busybox", "sleep", "100000", ""]
    );
    // A container ID prefix names the container too (its ID is the task ID's SHA-256).
    let container = api::containers::container_id(&id);
    let own = agent.docker_ok(&["exec", &container[..10], "busybox", "readlink", "/proc/self"]);
    let own: u32 = own
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("own pid in the container: {own:?}"));
    assert!(own > 1);
    // Its host name and environment (the task's, plus the exec's own).
    assert_eq!(
        agent.docker_ok(&["exec", &name, "busybox", "hostname"]).trim(),
        &id[..12]
    );
    // A task ID names the task, not its container, as in dockerd: `docker inspect` finds the
    // task (the CLI asks for a container first), and `docker exec` has no such container.
    let inspected = agent.docker_ok(&["inspect", "--format", "{{.ID}} {{.Status.State}}", &id]);
    assert_eq!(inspected.trim(), format!("{id} running"));
    let refused = agent.docker(&["exec", &id, "busybox", "true"]);
    assert!(
        stderr(&refused).contains(&format!("No such container: {id}")),
        "{}",
        stderr(&refused)
    );
    let env = agent.docker_ok(&[
        "exec",
        "-e",
        "EXTRA=1",
        "-w",
        "/dir",
        &name,
        "sh",
        "-c",
        "echo $GREETING $EXTRA $(busybox pwd)",
    ]);
    assert_eq!(env.trim(), "hello 1 /dir");
    // Its resource limits.
    let nofile = agent.docker_ok(&["exec", &name, "sh", "-c", "ulimit -Sn; ulimit -Hn"]);
    assert_eq!(
        nofile.split_whitespace().collect::<Vec<_>>(),
        ["777", "888"],
        "{nofile}"
    );
    // The user: the image's root by default, another on request.
    assert_eq!(
        agent
            .docker_ok(&["exec", "-u", "1000:1000", &name, "busybox", "id", "-u"])
            .trim(),
        "1000"
    );
    assert_eq!(
        agent.docker_ok(&["exec", &name, "busybox", "id", "-u"]).trim(),
        "0"
    );

    // What an exec costs end to end (CLI included), for the record.
    let mut took: Vec<Duration> = (0..10)
        .map(|_| {
            let started = Instant::now();
            agent.docker_ok(&["exec", &name, "busybox", "true"]);
            started.elapsed()
        })
        .collect();
    took.sort();
    eprintln!(
        "docker exec <oci container> busybox true: p50 {:?}, max {:?}",
        took[5], took[9]
    );

    // The exit code reaches the CLI.
    let exit = agent.docker(&["exec", &name, "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(exit.status.code(), Some(3), "{}", stderr(&exit));
    assert_eq!(
        (stdout(&exit).as_str(), stderr(&exit).as_str()),
        ("out\n", "err\n")
    );
    let missing = agent.docker(&["exec", &name, "no-such-program"]);
    assert_eq!(missing.status.code(), Some(127), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("executable file not found"),
        "{}",
        stderr(&missing)
    );

    // Stdin round-trips, larger than any one buffer.
    let big: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let echoed = exec_with_input(&agent, &["-i", &name, "busybox", "cat"], &big);
    assert!(echoed.status.success(), "{}", stderr(&echoed));
    assert!(
        echoed.stdout == big,
        "stdin came back with {} of {} bytes",
        echoed.stdout.len(),
        big.len()
    );
    let hi = exec_with_input(&agent, &["-i", &name, "busybox", "cat"], b"hi\n");
    assert_eq!(stdout(&hi), "hi\n");

    // A TTY: the command's terminal is a pty (output raw, newlines as the terminal writes them).
    let tty = agent.docker_ok(&["exec", "-t", &name, "busybox", "tty"]);
    assert!(tty.starts_with("/dev/pts/") && tty.ends_with("\r\n"), "{tty:?}");
    let piped = agent.docker_ok(&["exec", &name, "sh", "-c", "busybox tty || true"]);
    assert_eq!(piped.trim(), "not a tty");

    // `-it` from a terminal (script(1) gives the CLI one): input typed into the shell runs,
    // and its exit code comes back.
    if std::path::Path::new("/usr/bin/script").exists() {
        let cli = format!("docker -H unix://{} exec -it {name} sh", agent.sock.display());
        let mut child = Command::new("script")
            .args(["-qec", &cli, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(b"echo hi-$((6*7)); exit 7\n"));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert_eq!(out.status.code(), Some(7), "{}{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains("hi-42"), "{}", stdout(&out));
    }

    // Detached: returns while the command keeps running — it waits for a file only the test
    // makes after the CLI returned, so a slow machine cannot make it finish first.
    agent.docker_ok(&[
        "exec",
        "-d",
        &name,
        "sh",
        "-c",
        "until [ -e /dir/go ]; do busybox sleep 0.05; done; echo done > /dir/detached",
    ]);
    assert!(
        agent
            .docker(&["exec", &name, "busybox", "cat", "/dir/detached"])
            .status
            .code()
            != Some(0)
    );
    agent.docker_ok(&["exec", &name, "busybox", "touch", "/dir/go"]);
    eventually("the detached exec's file", LIMIT, || {
        let out = agent.docker(&["exec", &name, "busybox", "cat", "/dir/detached"]);
        (stdout(&out).trim() == "done").then_some(())
    });

    // The API itself: a start without upgrade streams the output (the TTY sized by
    // ConsoleSize); a resize reaches the pty of a running exec; inspect shows the exit.
    let sock = &agent.sock;
    let post = |path: &str, body: &str| {
        http::over_unix(
            sock,
            &http::request("POST", path, "localhost", &[http::JSON], Some(body)),
        )
    };
    let create = |body: &str| {
        let (status, answer) = post(&format!("/containers/{name}/exec"), body);
        assert_eq!(status, 201, "{answer}");
        http::json_of(&answer)["Id"].as_str().unwrap().to_string()
    };
    let sized = create(r#"{"Cmd":["busybox","stty","size"],"Tty":true,"AttachStdout":true}"#);
    let (status, out) = post(&format!("/exec/{sized}/start"), r#"{"ConsoleSize":[40,100]}"#);
    assert_eq!(status, 200, "{out}");
    assert!(out.contains("40 100"), "{out:?}");
    let waiting = create(
        r#"{"Cmd":["sh","-c","while [ ! -e /dir/go ]; do busybox sleep 0.05; done; busybox stty size > /dir/size"],"Tty":true}"#,
    );
    let (status, out) = post(&format!("/exec/{waiting}/start"), r#"{"Detach":true}"#);
    assert_eq!(status, 200, "{out}");
    let inspect = || {
        let (status, body) = http::over_unix(
            sock,
            &http::request("GET", &format!("/exec/{waiting}/json"), "localhost", &[], None),
        );
        assert_eq!(status, 200, "{body}");
        http::json_of(&body)
    };
    assert_eq!(inspect()["Running"], true);
    assert!(inspect()["ExitCode"].is_null());
    let (status, out) = post(&format!("/exec/{waiting}/resize?h=20&w=70"), "");
    assert_eq!(status, 200, "{out}");
    agent.docker_ok(&["exec", &name, "busybox", "touch", "/dir/go"]);
    eventually("the resized exec's size", LIMIT, || {
        let out = agent.docker(&["exec", &name, "busybox", "cat", "/dir/size"]);
        (stdout(&out).trim() == "20 70").then_some(())
    });
    eventually("the exec's exit in its inspect", LIMIT, || {
        let view = inspect();
        (view["Running"] == false && view["ExitCode"] == 0).then_some(())
    });
    let (status, out) = post(&format!("/exec/{waiting}/start"), "{}");
    assert_eq!(
        (
            status,
            http::json_of(&out)["message"]
                .as_str()
                .unwrap()
                .contains("has already run")
        ),
        (409, true),
        "{out}"
    );

    // Unknown containers and refused options, in dockerd's words.
    let unknown = agent.docker(&["exec", "nope", "ls"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("No such container: nope"),
        "{}",
        stderr(&unknown)
    );
    let privileged = agent.docker(&["exec", "--privileged", &name, "ls"]);
    assert!(
        stderr(&privileged).contains("privileged"),
        "{}",
        stderr(&privileged)
    );

    agent.docker_ok(&["service", "rm", "web"]);
}

#[test]
fn docker_exec_runs_beside_a_process_task() {
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start(root.path(), "n1");
    agent.swarm_init();
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "job",
        "--env",
        "GREETING=hi",
        "--workdir",
        "/tmp",
        "busybox",
        "sleep",
        "100000",
    ]);
    let (_, name) = running_task(&agent, "job");
    let out = agent.docker_ok(&[
        "exec",
        "-e",
        "EXTRA=2",
        &name,
        "sh",
        "-c",
        "echo $GREETING $EXTRA $(pwd)",
    ]);
    assert_eq!(out.trim(), "hi 2 /tmp");
    let mut took: Vec<Duration> = (0..10)
        .map(|_| {
            let started = Instant::now();
            agent.docker_ok(&["exec", &name, "true"]);
            started.elapsed()
        })
        .collect();
    took.sort();
    eprintln!(
        "docker exec <process task> true: p50 {:?}, max {:?}",
        took[5], took[9]
    );
    let exit = agent.docker(&["exec", &name, "sh", "-c", "exit 4"]);
    assert_eq!(exit.status.code(), Some(4));
    let hi = exec_with_input(&agent, &["-i", &name, "cat"], b"hi\n");
    assert_eq!(stdout(&hi), "hi\n");
    let tty = agent.docker_ok(&["exec", "-t", &name, "tty"]);
    assert!(tty.starts_with("/dev/pts/"), "{tty:?}");
    agent.docker_ok(&["service", "rm", "job"]);
    common::kill_tasks(agent.data_dir());
}
