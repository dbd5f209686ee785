//! Issue 9 (items 2, 7, 8): our CLI against the stock docker CLI on the same dev daemon — the
//! same `--format` templates give the same bytes, `--args`/`--entrypoint` split into the same
//! words, usage errors exit 125 — plus what only ours does: the docker wording for an
//! ambiguous ID prefix, a convergence wait that returns for 0 replicas, quiet closed pipes.
//! Every test starts its own agent and names its services uniquely.

#![allow(clippy::unwrap_used)]
// Waits on real processes use the real clock.
#![allow(clippy::disallowed_methods)]

mod common;

use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Agent, eventually, stderr, stdout};

/// A one-node swarm and a random tag for this test's service names.
fn dev_swarm(root: &std::path::Path, name: &str) -> (Agent, String) {
    let agent = Agent::start(root, name);
    agent.swarm_init();
    let tag = format!("{:08x}", rand::random::<u32>());
    eprintln!("service names carry the tag {tag}");
    (agent, tag)
}

/// Runs the same arguments through both CLIs; both must succeed with the same stdout.
fn same_output(agent: &Agent, args: &[&str]) -> String {
    let theirs = agent.docker_ok(args);
    let ours = agent.shoal_ok(args);
    assert_eq!(ours, theirs, "shoal and docker differ for {args:?}");
    ours
}

#[test]
fn format_templates_print_what_docker_prints() {
    let root = tempfile::tempdir().unwrap();
    let (agent, tag) = dev_swarm(root.path(), "fmt");
    let (web, idle) = (format!("web-{tag}"), format!("idle-{tag}"));
    agent.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        &web,
        "--replicas",
        "1",
        "--label",
        "tier=front",
        "--label",
        "a=1",
        "busybox",
        "sleep",
        "1000",
    ]);
    agent.shoal_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        &idle,
        "--replicas",
        "0",
        "busybox",
    ]);
    // Replica counts move until the task runs: compare once docker shows it running.
    eventually(&format!("{web} at 1/1"), Duration::from_secs(60), || {
        let out = agent.docker_ok(&[
            "service",
            "ls",
            "--filter",
            &format!("name={web}"),
            "--format",
            "{{.Replicas}}",
        ]);
        eprintln!("docker service ls: {out:?}");
        (out.trim() == "1/1").then_some(())
    });
    for format in [
        "{{.Name}} {{.Replicas}}",
        "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}",
        "table {{.Name}}\\t{{.Ports}}",
        "json",
        "{{json .}}",
        "{{.Name}}|{{upper .Mode}}|{{.Image}}|{{.Ports}}",
    ] {
        let out = same_output(&agent, &["service", "ls", "--format", format]);
        assert!(out.contains(&web), "{format}: {out}");
    }
    let out = same_output(&agent, &["service", "ls", "--format", "{{.Name}} {{.Replicas}}"]);
    assert_eq!(out, format!("{idle} 0/0\n{web} 1/1\n"));
    for format in [
        "{{.Spec.Name}} {{json .Spec.Labels}} {{.Spec.Labels.tier}}",
        "{{.ID}}",
        "{{json .Spec.Mode}}",
        "{{index .Spec.Labels \"a\"}}",
    ] {
        same_output(&agent, &["service", "inspect", "--format", format, &web]);
        same_output(&agent, &["service", "inspect", "-f", format, &web, &idle]);
    }
    for format in [
        "{{.Name}} {{.DesiredState}} {{.Node}} {{.Image}}",
        "table {{.Name}}\t{{.Node}}",
        "{{json .Name}}",
    ] {
        same_output(&agent, &["service", "ps", "--format", format, &web]);
    }
    for format in [
        "{{.Hostname}} {{.Status}} {{.Availability}} {{.Self}}",
        "table {{.Hostname}}\t{{.ManagerStatus}}",
    ] {
        same_output(&agent, &["node", "ls", "--format", format]);
    }
    same_output(
        &agent,
        &[
            "node",
            "inspect",
            "--format",
            "{{.Description.Hostname}} {{.Spec.Role}}",
            "self",
        ],
    );
    same_output(&agent, &["node", "ps", "--format", "{{.Name}} {{.DesiredState}}"]);
    same_output(
        &agent,
        &[
            "version",
            "--format",
            "{{.Server.Version}} {{.Server.Os}}/{{.Server.Arch}}",
        ],
    );
    same_output(
        &agent,
        &[
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
        ],
    );
    // -H before the command group, as docker's global flag.
    let host = format!("unix://{}", agent.sock.display());
    let before = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["-H", &host, "service", "ls", "--format", "{{.Name}}"])
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert!(before.status.success(), "{}", stderr(&before));
    assert_eq!(stdout(&before), format!("{idle}\n{web}\n"));
    // A template that does not parse is an error, not output.
    let bad = agent.shoal(&["service", "ls", "--format", "{{.Name"]);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("template"), "{}", stderr(&bad));
}

/// The container spec field both CLIs wrote, as JSON.
fn spec_field(agent: &Agent, service: &str, field: &str) -> String {
    agent.docker_ok(&[
        "service",
        "inspect",
        "--format",
        &format!("{{{{json .Spec.TaskTemplate.ContainerSpec.{field}}}}}"),
        service,
    ])
}

#[test]
fn arguments_parse_as_dockers_and_errors_read_as_dockers() {
    let root = tempfile::tempdir().unwrap();
    let (agent, tag) = dev_swarm(root.path(), "args");
    let (theirs, ours) = (format!("theirs-{tag}"), format!("ours-{tag}"));
    for name in [&theirs, &ours] {
        agent.docker_ok(&[
            "service",
            "create",
            "-d",
            "--name",
            name,
            "--replicas",
            "0",
            "busybox",
        ]);
    }
    let update = [
        "service",
        "update",
        "--detach=true",
        "--args",
        "sh -c 'echo a b'",
        "--entrypoint",
        "/bin/env \"X=1 2\"",
    ];
    let mut with_theirs = update.to_vec();
    with_theirs.push(&theirs);
    agent.docker_ok(&with_theirs);
    let mut with_ours = update.to_vec();
    with_ours.push(&ours);
    agent.shoal_ok(&with_ours);
    for field in ["Args", "Command"] {
        let (d, s) = (
            spec_field(&agent, &theirs, field),
            spec_field(&agent, &ours, field),
        );
        assert_eq!(s, d, "{field}");
    }
    assert_eq!(
        spec_field(&agent, &ours, "Args").trim(),
        r#"["sh","-c","echo a b"]"#
    );

    // Usage errors exit 125 in both; a failure exits 1 with the message on one line.
    for args in [
        &["service", "ls", "--bogus"][..],
        &["service", "update", "--detach=maybe", &ours][..],
    ] {
        let (d, s) = (agent.docker(args), agent.shoal(args));
        assert_eq!(
            (s.status.code(), d.status.code()),
            (Some(125), Some(125)),
            "{args:?}: {}",
            stderr(&s)
        );
    }
    let missing = agent.shoal(&["service", "inspect", &format!("missing-{tag}")]);
    assert_eq!(missing.status.code(), Some(1));
    let backtraced = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .env("DOCKER_HOST", format!("unix://{}", agent.sock.display()))
        .env("RUST_BACKTRACE", "1")
        .args(["service", "rm", &format!("missing-{tag}")])
        .output()
        .unwrap();
    assert_eq!(backtraced.status.code(), Some(1));
    let message = stderr(&backtraced);
    assert!(
        !message.contains("Stack backtrace") && message.lines().count() == 1,
        "{message}"
    );

    // Services until two IDs share a first character (at most 37 by pigeonhole; names never
    // are one character long, so the prefix cannot be a name).
    let mut ids: Vec<String> = agent
        .docker_ok(&["service", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect();
    let mut n = 0;
    let prefix = loop {
        let shared = ids.iter().enumerate().find_map(|(i, a)| {
            ids[i + 1..]
                .iter()
                .any(|b| b[..1] == a[..1])
                .then(|| a[..1].to_string())
        });
        if let Some(prefix) = shared {
            break prefix;
        }
        n += 1;
        assert!(n <= 40, "no shared prefix among {ids:?}");
        let id = agent.shoal_ok(&[
            "service",
            "create",
            "-d",
            "--name",
            &format!("amb{n}-{tag}"),
            "--replicas",
            "0",
            "busybox",
        ]);
        ids.push(id.trim().to_string());
    };
    eprintln!("IDs {ids:?} share the prefix {prefix}");
    for args in [
        &["service", "inspect", &prefix][..],
        &["service", "ps", &prefix][..],
        &["service", "update", "-d", "--label-add", "x=1", &prefix][..],
        &["service", "scale", "-d", &format!("{prefix}=1")][..],
        &["service", "rm", &prefix][..],
    ] {
        let out = agent.shoal(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains(&format!("multiple services found with provided prefix: {prefix}")),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn waits_return_for_zero_replicas_and_closed_pipes_end_quietly() {
    let root = tempfile::tempdir().unwrap();
    let (agent, tag) = dev_swarm(root.path(), "wait");
    let zero = format!("zero-{tag}");
    // Not detached: the wait must end (0 out of 0 after the 1 s window), not hang.
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .env("DOCKER_HOST", format!("unix://{}", agent.sock.display()))
        .args([
            "service",
            "create",
            "--detach=false",
            "--update-monitor",
            "1s",
            "--name",
            &zero,
            "--replicas",
            "0",
            "busybox",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = eventually("create --replicas 0 to return", Duration::from_secs(60), || {
        child.try_wait().unwrap()
    });
    let out = child.wait_with_output().unwrap();
    eprintln!(
        "create returned after {:?}:\n{}{}",
        started.elapsed(),
        stdout(&out),
        stderr(&out)
    );
    assert!(status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("overall progress: 0 out of 0 tasks"), "{text}");
    assert!(
        text.contains("verify: Waiting 2 seconds to verify that tasks are stable..."),
        "{text}"
    );
    assert!(
        text.contains("verify: Service ") && text.contains(" converged"),
        "{text}"
    );

    // A reader that is gone before we write: no "Broken pipe" message, killed by SIGPIPE as
    // a Go program (and any Unix filter) is.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .env("DOCKER_HOST", format!("unix://{}", agent.sock.display()))
        .args(["service", "ls"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
    assert_eq!(stderr(&out), "");
}

#[test]
fn container_flags_reach_the_spec_as_dockers_do() {
    let root = tempfile::tempdir().unwrap();
    let (agent, tag) = dev_swarm(root.path(), "flags");
    let env_file = root.path().join(format!("env-{tag}"));
    std::fs::write(&env_file, "# settings\nA=1\nB=two words\n").unwrap();
    let (theirs, ours) = (format!("theirs-{tag}"), format!("ours-{tag}"));
    let create = [
        "service",
        "create",
        "-d",
        "--replicas",
        "0",
        "--env-file",
        env_file.to_str().unwrap(),
        "-e",
        "B=cli",
        "--mount",
        "type=bind,source=/tmp,target=/data,readonly",
        "--mount",
        "type=tmpfs,target=/scratch,tmpfs-size=1m",
        "--group",
        "wheel",
        "--ulimit",
        "nofile=100:200",
        "--sysctl",
        "net.core.somaxconn=1024",
        "--dns",
        "192.0.2.1",
        "--dns-option",
        "ndots:2",
        "--dns-search",
        "example.org",
        "--host",
        "cache:192.0.2.8",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "MKNOD",
        "--init",
        "--read-only",
        "--no-resolve-image",
    ];
    let update = [
        "service",
        "update",
        "-d",
        "--mount-rm",
        "/data",
        "--group-add",
        "audio",
        "--host-add",
        "db:192.0.2.9",
        "--dns-rm",
        "192.0.2.1",
        "--ulimit-rm",
        "nofile",
        "--sysctl-add",
        "net.ipv4.ip_forward=1",
        "--init=false",
    ];
    let fields = [
        "Env",
        "Mounts",
        "Groups",
        "Ulimits",
        "Sysctls",
        "DNSConfig",
        "Hosts",
        "Init",
        "ReadOnly",
        "CapabilityAdd",
        "CapabilityDrop",
    ];
    for (args, stage) in [(&create[..], "create"), (&update[..], "update")] {
        // Create names the service with --name before the image; update names it last.
        let with = |name: &str| -> Vec<String> {
            let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            if stage == "create" {
                all.extend(["--name".to_string(), name.to_string(), "busybox".to_string()]);
            } else {
                all.push(name.to_string());
            }
            all
        };
        let (theirs_args, ours_args) = (with(&theirs), with(&ours));
        agent.docker_ok(&theirs_args.iter().map(String::as_str).collect::<Vec<_>>());
        agent.shoal_ok(&ours_args.iter().map(String::as_str).collect::<Vec<_>>());
        for field in fields {
            let (d, s) = (
                spec_field(&agent, &theirs, field),
                spec_field(&agent, &ours, field),
            );
            assert_eq!(s, d, "{stage}: {field}");
        }
    }
    let hosts = spec_field(&agent, &ours, "Hosts");
    assert!(
        hosts.contains("192.0.2.8 cache") && hosts.contains("192.0.2.9 db"),
        "{hosts}"
    );
    // Objects shoal does not have yet are refused, not dropped.
    let secret = agent.shoal(&["service", "update", "-d", "--secret-add", "s", &ours]);
    assert_eq!(secret.status.code(), Some(1));
    assert!(
        stderr(&secret).contains("--secret-add is not supported"),
        "{}",
        stderr(&secret)
    );
}

/// Runs our CLI with stdout into a file, so that a test can watch it while it runs.
fn spawn_shoal(
    agent: &Agent,
    dir: &std::path::Path,
    name: &str,
    args: &[&str],
) -> (std::process::Child, std::path::PathBuf) {
    let path = dir.join(format!("{name}.out"));
    let out = std::fs::File::create(&path).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .env("DOCKER_HOST", format!("unix://{}", agent.sock.display()))
        .args(args)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    (child, path)
}

#[test]
fn paused_updates_fail_and_ctrl_c_leaves_the_service_converging() {
    let root = tempfile::tempdir().unwrap();
    let (agent, tag) = dev_swarm(root.path(), "pause");
    let (failing, never) = (format!("failing-{tag}"), format!("never-{tag}"));
    agent.shoal_ok(&[
        "service", "create", "-d", "--name", &failing, "busybox", "sleep", "1000",
    ]);
    // Updated once running, so the update replaces a running task with a failing one.
    eventually(&format!("{failing} at 1/1"), Duration::from_secs(60), || {
        let filter = format!("name={failing}");
        let out = agent.shoal_ok(&["service", "ls", "--filter", &filter, "--format", "{{.Replicas}}"]);
        (out.trim() == "1/1").then_some(())
    });
    // The new command exits 3: the daemon pauses the update, and the wait says so and fails.
    let (mut child, out) = spawn_shoal(
        &agent,
        root.path(),
        "update",
        &[
            "service",
            "update",
            "--update-failure-action",
            "pause",
            "--update-monitor",
            "3s",
            "--args",
            "sh -c 'exit 3'",
            &failing,
        ],
    );
    let status = eventually(
        "the paused update to end the wait",
        Duration::from_secs(60),
        || child.try_wait().unwrap(),
    );
    let text = std::fs::read_to_string(&out).unwrap();
    eprintln!("update ended with {status:?}:\n{text}");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("service update paused: "), "{text}");

    // A service that cannot be placed never converges; Ctrl-C ends the wait, not the service.
    let (mut child, out) = spawn_shoal(
        &agent,
        root.path(),
        "never",
        &[
            "service",
            "create",
            "--name",
            &never,
            "--constraint",
            "node.labels.absent==1",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    eventually(
        "the wait to show the unplaceable slot",
        Duration::from_secs(60),
        || {
            let text = std::fs::read_to_string(&out).unwrap();
            text.contains("1/1: no suitable node").then_some(())
        },
    );
    // SAFETY: kill(2) on the child we spawned and have not reaped.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = eventually("the wait to end on SIGINT", Duration::from_secs(30), || {
        child.try_wait().unwrap()
    });
    let text = std::fs::read_to_string(&out).unwrap();
    eprintln!("create ended with {status:?}:\n{text}");
    assert!(status.success(), "{text}");
    assert!(
        text.contains("Operation continuing in background.\nUse `shoal service ps "),
        "{text}"
    );
    let listed = agent.shoal_ok(&[
        "service",
        "ls",
        "--filter",
        &format!("name={never}"),
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(listed, format!("{never}\n"));
}
