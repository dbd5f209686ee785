//! Issue 14 items 1, 3 and 5, driven by the stock docker CLI and by our CLI against `shoal
//! agent --executor oci` hosts in network namespaces (`common/hosts.rs`: stack services always
//! sit on overlay networks, whose VXLAN sockets would clash with other agents' in the root
//! namespace). On three hosts: `docker stack deploy|ls|services|ps|rm` of a file with networks,
//! secrets, configs, interpolation, placement, resources, update_config and depends_on; the
//! secret readable in its task on host 1, in no file the test made on any host, and never sent
//! to hosts 0 and 2, which run no task that uses it; `docker secret rm` of it refused; `shoal
//! config rotate` rolling the task onto the next config; a redeploy that updates; `stack rm`
//! leaving nothing but the named volume db's tasks shared (as Docker's leaves it); the same file deployed by `shoal stack deploy` with no docker on PATH; and
//! a service created with lower-case JSON keys equal to one with capitalised keys. On one host:
//! `shoal stack deploy` holding a service back until the service it depends on is healthy, or
//! until it completed successfully (and failing when it exits non-zero), and
//! a DAB bundle deployed with `--bundle-file`; and two `-c` files merged as docker merges them.

#![allow(clippy::unwrap_used, clippy::disallowed_methods, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;
#[path = "common/leaks.rs"]
mod leaks;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::http::{JSON, over_unix, request};
use common::stderr;
use hosts::{Cluster, IMAGE, skip_reason};
use leaks::{contains, files_on_disk, in_memory, mounts_under};
use serde_json::{Value, json};

macro_rules! skip_unless_root {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// A stack file: `web` scaled by `${REPLICAS}` on the manager, waiting for `db`; `db` with a
/// secret and a config on the node labelled `db=yes`.
fn stack_file(replicas: u32) -> String {
    format!(
        r#"version: "3.8"
x-defaults: &defaults
  image: {IMAGE}
services:
  web:
    <<: *defaults
    command: sleep 1000
    networks: [front, back]
    depends_on: [db]
    deploy:
      replicas: ${{REPLICAS:-{replicas}}}
      labels: [tier=front]
      placement:
        constraints: [node.role == manager]
      resources:
        limits: {{cpus: "0.5", memory: 64M}}
      update_config: {{parallelism: 2, order: start-first}}
  db:
    <<: *defaults
    command: sleep 1000
    networks:
      back:
        aliases: [database]
    secrets:
      - source: db_pw
        target: password
    configs: [app_conf]
    volumes: [db_data:/data]
    deploy:
      placement:
        constraints: [node.labels.db == yes]
networks:
  front:
  back:
    attachable: true
secrets:
  db_pw:
    file: ./pw.txt
configs:
  app_conf:
    file: ./app.conf
volumes:
  db_data:
    labels: [backup=daily]
"#
    )
}

fn replicas(c: &Cluster, stack: &str) -> Vec<String> {
    lines(&c.docker_ok(
        0,
        &["stack", "services", stack, "--format", "{{.Name}} {{.Replicas}}"],
    ))
}

/// Our CLI against host 0.
fn shoal(c: &Cluster) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shoal"));
    cmd.env("DOCKER_HOST", format!("unix://{}", c.hosts[0].sock.display()));
    cmd
}

/// What both deploys must have made of the file: labels, placement, resources, update
/// config, references and aliases.
fn check_specs(c: &Cluster) {
    let web = json(&c.docker_ok(0, &["service", "inspect", "st_web"]));
    let spec = &web[0]["Spec"];
    assert_eq!(spec["Labels"]["com.docker.stack.namespace"], "st");
    assert_eq!(spec["Labels"]["tier"], "front");
    assert_eq!(
        spec["TaskTemplate"]["Placement"]["Constraints"][0],
        "node.role == manager"
    );
    assert_eq!(
        spec["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"],
        64 << 20
    );
    assert_eq!(
        spec["TaskTemplate"]["Resources"]["Limits"]["NanoCPUs"],
        500_000_000
    );
    assert_eq!(spec["UpdateConfig"]["Order"], "start-first");
    assert_eq!(spec["UpdateConfig"]["Parallelism"], 2);
    let db = json(&c.docker_ok(0, &["service", "inspect", "st_db"]));
    let cs = &db[0]["Spec"]["TaskTemplate"]["ContainerSpec"];
    assert_eq!(cs["Secrets"][0]["SecretName"], "st_db_pw", "{cs}");
    assert_eq!(cs["Secrets"][0]["File"]["Name"], "password");
    assert_eq!(cs["Configs"][0]["ConfigName"], "st_app_conf");
    let nets = &db[0]["Spec"]["TaskTemplate"]["Networks"];
    assert!(
        nets[0]["Aliases"]
            .as_array()
            .unwrap()
            .contains(&"database".into()),
        "{nets}"
    );
}

/// Waits until nothing labelled with stack `stack` is left, nor any of its tasks.
fn nothing_left(c: &Cluster, stack: &str) {
    let label = format!("label=com.docker.stack.namespace={stack}");
    c.wait(&format!("{stack} removed"), || {
        ["service", "network", "secret", "config"]
            .iter()
            .all(|kind| {
                c.docker_ok(0, &[kind, "ls", "-q", "--filter", &label])
                    .trim()
                    .is_empty()
            })
            .then_some(())
    });
    c.wait("the stack's tasks gone", || {
        let ps = c.docker(0, &["stack", "ps", stack]);
        (!ps.status.success() && stderr(&ps).contains("nothing found in stack")).then_some(())
    });
}

/// The db task on host 1 (the node labelled for it), once it runs.
fn db_task(c: &Cluster) -> hosts::Task {
    let db = c.wait_running("st_db", 1).remove(0);
    assert_eq!(db.host, 1, "db runs on the node labelled db=yes");
    db
}

#[test]
fn docker_cli_deploys_lists_updates_and_removes_a_stack() {
    skip_unless_root!();
    let c = Cluster::new("stkd", 3);
    // db, the one service with the secret, runs on host 1; web on the manager (host 0); host 2
    // runs nothing of the stack.
    c.docker_ok(
        0,
        &["node", "update", "--label-add", "db=yes", &c.hosts[1].node_id],
    );
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    // Distinctive bytes, so finding them anywhere but where they belong is a leak.
    let secret = format!("stack-secret-{}", u64::from(std::process::id()) * 7919);
    std::fs::write(dir.join("pw.txt"), &secret).unwrap();
    std::fs::write(dir.join("app.conf"), "debug=1\n").unwrap();
    let file = dir.join("stack.yml");
    std::fs::write(&file, stack_file(2)).unwrap();
    let file = file.to_str().unwrap();
    // A service outside the stack, which no stack command may show or touch.
    c.docker_ok(
        0,
        &[
            "service", "create", "--detach", "--name", "other", IMAGE, "sleep", "1000",
        ],
    );

    let out = c.docker_ok(0, &["stack", "deploy", "--detach=true", "-c", file, "st"]);
    assert!(out.contains("Creating network st_back"), "{out}");
    assert!(out.contains("Creating secret st_db_pw"), "{out}");
    assert!(out.contains("Creating config st_app_conf"), "{out}");
    assert!(out.contains("Creating service st_web"), "{out}");

    c.wait("web 2/2, db 1/1", || {
        (replicas(&c, "st") == ["st_db 1/1", "st_web 2/2"]).then_some(())
    });
    assert_eq!(
        c.docker_ok(0, &["stack", "ls", "--format", "{{.Name}} {{.Services}}"])
            .trim(),
        "st 2"
    );

    // Tasks are selected by their service's namespace label: "other" is not among them.
    let tasks = c.docker_ok(0, &["stack", "ps", "st", "--format", "{{.Name}}"]);
    assert!(tasks.lines().all(|t| t.starts_with("st_")), "{tasks}");
    assert!(
        tasks.lines().filter(|t| t.starts_with("st_web.")).count() >= 2,
        "{tasks}"
    );
    let running = c.docker_ok(
        0,
        &["stack", "ps", "st", "--filter", "desired-state=running", "-q"],
    );
    assert!(running.lines().count() >= 3, "{running}");
    check_specs(&c);
    let listed = c.docker_ok(
        0,
        &[
            "secret",
            "ls",
            "--filter",
            "label=com.docker.stack.namespace=st",
            "--format",
            "{{.Name}}",
        ],
    );
    assert_eq!(listed.trim(), "st_db_pw");

    // The secret and the config in db's task.
    let db = db_task(&c);
    assert_eq!(
        c.exec_ok(1, &db.container, &["cat", "/run/secrets/password"]),
        secret
    );
    assert_eq!(c.exec_ok(1, &db.container, &["cat", "/app_conf"]), "debug=1\n");
    // Its named volume, made on host 1 by its task with the labels the stock CLI set on the
    // mount (the file's and the stack's).
    let labels = c.docker_ok(
        1,
        &["volume", "inspect", "--format", "{{json .Labels}}", "st_db_data"],
    );
    assert_eq!(
        labels.trim(),
        r#"{"backup":"daily","com.docker.stack.namespace":"st"}"#
    );
    c.exec_ok(1, &db.container, &["sh", "-c", "echo kept > /data/f"]);
    let rm = c.docker(0, &["secret", "rm", "st_db_pw"]);
    assert!(!rm.status.success(), "an in-use secret is removed");
    assert!(
        stderr(&rm).contains("secret 'st_db_pw' is in use by the following service: st_db"),
        "{}",
        stderr(&rm)
    );

    // On no disk: every file the test made (the hosts' data dirs, logs, sockets' dir, the
    // image, and the stack's own directory once its source file is gone) is searched.
    std::fs::remove_file(dir.join("pw.txt")).unwrap();
    for top in [c.dir(), dir] {
        for file in files_on_disk(top) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "the secret is on disk in {}",
                file.display()
            );
        }
    }
    // Never sent to a node without a task that uses it. The agent's log records the ID of
    // every payload it receives (the one way in: `Payloads::apply`); host 1's record shows the
    // record is kept, hosts 0 and 2 have none for it, and nothing was ever mounted for a task
    // there. Host 2's agent (a worker: no store) does not hold the bytes in its memory either,
    // while host 1's does.
    let secret_id = c
        .docker_ok(0, &["secret", "inspect", "--format", "{{.ID}}", "st_db_pw"])
        .trim()
        .to_string();
    let received = |i: usize| {
        c.hosts[i]
            .log_text()
            .lines()
            .any(|l| l.contains("payloads applied") && l.contains(&secret_id))
    };
    assert!(received(1), "host 1 records the secret it got");
    for i in [0, 2] {
        assert!(!received(i), "host {i} got the secret");
        let payloads = c.hosts[i].data_dir.join("payloads");
        let entries: Vec<_> = std::fs::read_dir(&payloads)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(entries.is_empty(), "host {i}: {entries:?}");
        assert!(mounts_under(&payloads).is_empty(), "host {i}");
    }
    assert!(
        in_memory(c.hosts[1].pid().unwrap(), secret.as_bytes()),
        "host 1's agent holds the secret (the search finds what is there)"
    );
    assert!(
        !in_memory(c.hosts[2].pid().unwrap(), secret.as_bytes()),
        "host 2's agent holds the secret"
    );

    // Config rotation (shoal's): the next version, and db rolls onto it with the same target.
    let conf2 = dir.join("app2.conf");
    std::fs::write(&conf2, "debug=2\n").unwrap();
    let rotated = shoal(&c)
        .args([
            "config",
            "rotate",
            "st_app_conf",
            "--file",
            conf2.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let cs = json(&c.docker_ok(0, &["service", "inspect", "st_db"]));
    assert_eq!(
        cs[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["Configs"][0]["ConfigName"],
        "st_app_conf.v2"
    );
    let db2 = c.wait("db's task replaced", || {
        let now = c.running_tasks("st_db");
        now.first().filter(|t| t.id != db.id).cloned()
    });
    assert_eq!(db2.host, 1);
    assert_eq!(c.exec_ok(1, &db2.container, &["cat", "/app_conf"]), "debug=2\n");
    assert_eq!(
        c.exec_ok(1, &db2.container, &["cat", "/data/f"]),
        "kept\n",
        "the replacement task's volume"
    );
    assert_eq!(
        c.exec_ok(1, &db2.container, &["cat", "/run/secrets/password"]),
        secret
    );

    // Our CLI sees the same stack.
    let ours = shoal(&c).args(["stack", "ls"]).output().unwrap();
    let ours = String::from_utf8_lossy(&ours.stdout);
    assert!(
        ours.lines().any(|l| l.split_whitespace().eq(["st", "2"])),
        "{ours}"
    );

    // A redeploy updates in place.
    std::fs::write(dir.join("pw.txt"), &secret).unwrap();
    std::fs::write(dir.join("stack.yml"), stack_file(3)).unwrap();
    let out = c.docker_ok(0, &["stack", "deploy", "--detach=true", "-c", file, "st"]);
    assert!(out.contains("Updating service st_web"), "{out}");
    c.wait("web 3/3", || {
        replicas(&c, "st")
            .contains(&"st_web 3/3".to_string())
            .then_some(())
    });

    // rm leaves nothing of the stack (the rotated config too: it keeps the stack's label),
    // no tmpfs on host 1, and the other service alone.
    let rm = c.docker(0, &["stack", "rm", "st"]);
    assert!(rm.status.success(), "{}\n{}", stderr(&rm), c.hosts[0].log_tail());
    nothing_left(&c, "st");
    assert_eq!(
        c.docker_ok(0, &["stack", "ls", "--format", "{{.Name}}"]).trim(),
        ""
    );
    assert_eq!(
        c.docker_ok(0, &["service", "ls", "--format", "{{.Name}}"]).trim(),
        "other"
    );
    let payloads = c.hosts[1].data_dir.join("payloads");
    c.wait("host 1's tmpfs unmounted", || {
        mounts_under(&payloads).is_empty().then_some(())
    });
    // Volumes stay, as Docker's `stack rm` leaves them.
    assert_eq!(
        c.docker_ok(
            1,
            &[
                "volume",
                "ls",
                "-q",
                "--filter",
                "label=com.docker.stack.namespace=st"
            ]
        )
        .trim(),
        "st_db_data"
    );

    // Our CLI deploys the same file on a machine without the docker CLI: a PATH with no
    // `docker` on it. depends_on holds web back until db runs.
    let bare = tempfile::tempdir().unwrap();
    std::fs::write(dir.join("stack.yml"), stack_file(2)).unwrap();
    let out = shoal(&c)
        .env("PATH", bare.path())
        .args(["stack", "deploy", "-c", file, "st"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}{}", stderr(&out));
    let (db_at, web_at) = (
        said.find("Creating service st_db"),
        said.find("Creating service st_web"),
    );
    assert!(db_at.is_some() && db_at < web_at, "{said}");
    c.wait("web 2/2, db 1/1 (our CLI)", || {
        (replicas(&c, "st") == ["st_db 1/1", "st_web 2/2"]).then_some(())
    });
    check_specs(&c);
    let db = db_task(&c);
    assert_eq!(
        c.exec_ok(1, &db.container, &["cat", "/run/secrets/password"]),
        secret
    );
    let rm = shoal(&c)
        .env("PATH", bare.path())
        .args(["stack", "rm", "st"])
        .output()
        .unwrap();
    assert!(rm.status.success(), "{}", stderr(&rm));
    nothing_left(&c, "st");

    // Lower-case JSON keys (Go's decoder ignores case; the docker SDKs send what they like)
    // give the same service as the capitalised ones.
    let capitalised = json!({
        "Name": "upper",
        "Labels": {"Team": "A"},
        "TaskTemplate": {
            "ContainerSpec": {"Image": IMAGE, "Command": ["sleep", "1000"], "Env": ["K=V"]},
            "Placement": {"Constraints": ["node.labels.nowhere == here"]},
            "Resources": {"Limits": {"MemoryBytes": 67108864}},
            "RestartPolicy": {"Condition": "on-failure", "MaxAttempts": 3}
        },
        "Mode": {"Global": {}},
        "UpdateConfig": {"Parallelism": 2, "Order": "start-first", "FailureAction": "pause"}
    });
    let lower = json!({
        "name": "lower",
        "labels": {"Team": "A"},
        "taskTemplate": {
            "containerspec": {"image": IMAGE, "command": ["sleep", "1000"], "env": ["K=V"]},
            "placement": {"constraints": ["node.labels.nowhere == here"]},
            "resources": {"limits": {"memorybytes": 67108864}},
            "restartPolicy": {"condition": "on-failure", "maxAttempts": 3}
        },
        "mode": {"global": {}},
        "updateconfig": {"parallelism": 2, "order": "start-first", "failureAction": "pause"}
    });
    let mut specs = Vec::new();
    for (name, body) in [("upper", capitalised), ("lower", lower)] {
        let body = body.to_string();
        let req = request(
            "POST",
            "/v1.47/services/create",
            "localhost",
            &[JSON],
            Some(&body),
        );
        let (status, answer) = over_unix(&c.hosts[0].sock, &req);
        assert_eq!(status, 201, "{name}: {answer}");
        let mut spec = json(&c.docker_ok(0, &["service", "inspect", name]))[0]["Spec"].clone();
        spec.as_object_mut().unwrap().remove("Name");
        specs.push(spec);
    }
    assert_eq!(specs[0], specs[1], "lower-case keys made another service");
    assert!(specs[0]["Mode"].get("Global").is_some(), "{}", specs[0]);
    assert_eq!(specs[0]["UpdateConfig"]["Order"], "start-first");
    assert_eq!(specs[0]["Labels"]["Team"], "A", "map keys keep their case");
    c.docker_ok(0, &["service", "rm", "upper", "lower", "other"]);
}

#[test]
fn our_cli_waits_for_a_healthy_dependency() {
    skip_unless_root!();
    let c = Cluster::new("stks", 1);
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("stack.yml");
    // db is healthy once /tmp/ready exists in its container, which the test makes only
    // after the deploy said it waits.
    std::fs::write(
        &file,
        format!(
            r#"services:
  db:
    image: {IMAGE}
    command: sleep 100000
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
  web:
    image: {IMAGE}
    command: sleep 100000
    depends_on:
      db: {{condition: service_healthy}}
"#
        ),
    )
    .unwrap();

    let mut deploy = shoal(&c)
        .args(["stack", "deploy", "-c", file.to_str().unwrap(), "dep"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(deploy.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "deploy ended early: {seen}"
        );
        seen.push_str(&line);
        if line.starts_with("Waiting for dep_db to be healthy before dep_web") {
            break;
        }
    }
    // Held back: db runs but is not healthy, and web does not exist yet.
    let names = c.docker_ok(0, &["service", "ls", "--format", "{{.Name}}"]);
    assert_eq!(names.trim(), "dep_db", "{seen}");
    // Its container, by name (a task ID names the task, not its container).
    let db = c.docker_ok(
        0,
        &[
            "service",
            "ps",
            "--no-trunc",
            "--format",
            "{{.Name}}.{{.ID}}",
            "dep_db",
        ],
    );
    let db = db.lines().next().unwrap().trim().to_string();
    c.wait("db's container", || {
        c.exec(0, &db, &["touch", "/tmp/ready"])
            .status
            .success()
            .then_some(())
    });
    let status = deploy.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(status.success(), "{seen}{rest}");
    assert!(rest.contains("Creating service dep_web"), "{rest}");
    let ps = c.docker_ok(0, &["stack", "services", "dep", "--format", "{{.Name}}"]);
    assert_eq!(lines(&ps), ["dep_db", "dep_web"]);
    assert!(shoal(&c).args(["stack", "rm", "dep"]).status().unwrap().success());
    assert_eq!(c.docker_ok(0, &["service", "ls", "-q"]).trim(), "");
    assert_eq!(
        c.docker_ok(
            0,
            &[
                "network",
                "ls",
                "-q",
                "--filter",
                "label=com.docker.stack.namespace=dep"
            ]
        )
        .trim(),
        ""
    );

    // A bundle (the book's DAB format) deploys the same way.
    let dab = root.path().join("app.dab");
    std::fs::write(
        &dab,
        format!(r#"{{"Version": "0.1", "Services": {{"cache": {{"Image": "{IMAGE}", "Command": ["sleep", "100000"], "Networks": ["back"]}}}}}}"#),
    )
    .unwrap();
    let out = shoal(&c)
        .args(["stack", "deploy", "--bundle-file", dab.to_str().unwrap(), "dab"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    c.wait_running("dab_cache", 1);
    let nets = c.docker_ok(
        0,
        &[
            "network",
            "ls",
            "--filter",
            "label=com.docker.stack.namespace=dab",
            "--format",
            "{{.Name}}",
        ],
    );
    assert_eq!(nets.trim(), "dab_back");
    assert!(shoal(&c).args(["stack", "rm", "dab"]).status().unwrap().success());
    assert_eq!(c.docker_ok(0, &["service", "ls", "-q"]).trim(), "");

    // Two files merged as docker merges them: the later one overrides, and its relative
    // paths are the first file's directory's (pw.txt is only there).
    let base = root.path().join("base.yml");
    std::fs::write(
        &base,
        format!(
            "services:\n  app:\n    image: {IMAGE}\n    command: sleep 1\n    environment: [A=1, B=1]\n    deploy: {{replicas: 1, labels: [tier=a]}}\n"
        ),
    )
    .unwrap();
    std::fs::write(root.path().join("pw.txt"), "merged").unwrap();
    let prod = root.path().join("prod");
    std::fs::create_dir(&prod).unwrap();
    let over = prod.join("override.yml");
    std::fs::write(
        &over,
        "services:\n  app:\n    command: sleep 100000\n    environment: {B: 2}\n    secrets: [pw]\n    deploy: {replicas: 2}\nsecrets:\n  pw: {file: ./pw.txt}\n",
    )
    .unwrap();
    let out = shoal(&c)
        .args([
            "stack",
            "deploy",
            "-c",
            base.to_str().unwrap(),
            "-c",
            over.to_str().unwrap(),
            "mrg",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let app = json(&c.docker_ok(0, &["service", "inspect", "mrg_app"]));
    let spec = &app[0]["Spec"];
    assert_eq!(spec["Mode"]["Replicated"]["Replicas"], 2);
    assert_eq!(spec["Labels"]["tier"], "a");
    let cs = &spec["TaskTemplate"]["ContainerSpec"];
    assert_eq!(cs["Args"], serde_json::json!(["sleep", "100000"]), "{cs}");
    let mut env: Vec<&str> = cs["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    env.sort_unstable();
    assert_eq!(env, ["A=1", "B=2"]);
    assert_eq!(cs["Secrets"][0]["SecretName"], "mrg_pw");
    assert!(shoal(&c).args(["stack", "rm", "mrg"]).status().unwrap().success());
    assert_eq!(c.docker_ok(0, &["service", "ls", "-q"]).trim(), "");
}

#[test]
fn our_cli_waits_for_a_dependency_to_complete_successfully() {
    skip_unless_root!();
    let c = Cluster::new("stkc", 1);
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("stack.yml");
    // init completes once /tmp/go exists in its container, which the test makes only after
    // the deploy said it waits.
    std::fs::write(
        &file,
        format!(
            r#"services:
  init:
    image: {IMAGE}
    command: ["sh", "-c", "until [ -f /tmp/go ]; do sleep 0.1; done"]
    deploy:
      restart_policy: {{condition: none}}
  web:
    image: {IMAGE}
    command: sleep 100000
    depends_on:
      init: {{condition: service_completed_successfully}}
"#
        ),
    )
    .unwrap();
    let mut deploy = shoal(&c)
        .args(["stack", "deploy", "-c", file.to_str().unwrap(), "cmp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(deploy.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "deploy ended early: {seen}"
        );
        seen.push_str(&line);
        if line.starts_with("Waiting for cmp_init to complete successfully before cmp_web") {
            break;
        }
    }
    // Held back while init runs.
    let names = c.docker_ok(0, &["service", "ls", "--format", "{{.Name}}"]);
    assert_eq!(names.trim(), "cmp_init", "{seen}");
    // Its container, by name (a task ID names the task, not its container).
    let init = c.docker_ok(
        0,
        &[
            "service",
            "ps",
            "--no-trunc",
            "--format",
            "{{.Name}}.{{.ID}}",
            "cmp_init",
        ],
    );
    let init = init.lines().next().unwrap().trim().to_string();
    c.wait("init's container", || {
        c.exec(0, &init, &["touch", "/tmp/go"])
            .status
            .success()
            .then_some(())
    });
    let status = deploy.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(status.success(), "{seen}{rest}");
    assert!(rest.contains("Creating service cmp_web"), "{rest}");
    let state = c.docker_ok(0, &["service", "ps", "--format", "{{.CurrentState}}", "cmp_init"]);
    assert!(state.starts_with("Complete"), "{state}");
    assert!(shoal(&c).args(["stack", "rm", "cmp"]).status().unwrap().success());

    // A dependency that exits non-zero, never to run again, fails the deploy with compose's
    // words, and what depends on it is never created.
    let failing = root.path().join("failing.yml");
    std::fs::write(
        &failing,
        format!(
            r#"services:
  init:
    image: {IMAGE}
    command: ["sh", "-c", "exit 3"]
    deploy:
      restart_policy: {{condition: none}}
  web:
    image: {IMAGE}
    command: sleep 100000
    depends_on:
      init: {{condition: service_completed_successfully}}
"#
        ),
    )
    .unwrap();
    let out = shoal(&c)
        .args(["stack", "deploy", "-c", failing.to_str().unwrap(), "bad"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("bad_web depends on bad_init completing successfully: service \"bad_init\" didn't complete successfully: exit 3"),
        "{}",
        stderr(&out)
    );
    let names = c.docker_ok(0, &["service", "ls", "--format", "{{.Name}}"]);
    assert_eq!(names.trim(), "bad_init");
    assert!(shoal(&c).args(["stack", "rm", "bad"]).status().unwrap().success());
}
